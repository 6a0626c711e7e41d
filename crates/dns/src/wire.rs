//! Reading the question of a DNS message straight from its bytes, for the places that look at a
//! message without decoding it (rate limiting, metrics, the query log, lab capture): one
//! implementation, bounds-checked, allocation only where a name is printed.

/// Where the first question of `message` ends (after QTYPE and QCLASS), when it is well formed
/// and its name is uncompressed (as in every query).
pub fn question_end(message: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = usize::from(*message.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        at += 1 + len;
    }
    let end = at + 4;
    (end <= message.len()).then_some(end)
}

/// The first question's name (lower case, absolute, non-printable octets as `\DDD`) and type.
pub fn question(message: &[u8]) -> Option<(String, u16)> {
    let end = question_end(message)?;
    let mut name = String::new();
    let mut at = 12;
    while message[at] != 0 {
        let len = usize::from(message[at]);
        for &b in &message[at + 1..at + 1 + len] {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                name.push(char::from(b.to_ascii_lowercase()));
            } else {
                name.push_str(&format!("\\{b:03}"));
            }
        }
        name.push('.');
        at += 1 + len;
    }
    if name.is_empty() {
        name.push('.');
    }
    Some((
        name,
        u16::from_be_bytes([message[end - 4], message[end - 3]]),
    ))
}

/// The conventional mnemonic of a response code (RFC 6895 §2.3), for the codes this server
/// sends; `None` for others.
pub fn rcode_name(code: u16) -> Option<&'static str> {
    Some(match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        9 => "NOTAUTH",
        16 => "BADVERS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_read_from_the_wire() {
        let q = [
            0u8, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b'M', b'a', b'i', b'l', 4, b't', b'e', b's',
            b't', 0, 0, 33, 0, 1,
        ];
        assert_eq!(question(&q), Some(("mail.test.".to_owned(), 33)));
        assert_eq!(question_end(&q), Some(q.len()));
        assert_eq!(question(&q[..20]), None);
        assert_eq!(question(&[0; 11]), None);
        let root = [0u8, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1];
        assert_eq!(question(&root), Some((".".to_owned(), 2)));
    }
}
