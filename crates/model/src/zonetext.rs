//! Records written by users in zone-file syntax (the `records` and `caa` keys), parsed with
//! hickory-proto's master-file parser so that every record type it knows is accepted as written.

use hickory_proto::rr::{DNSClass, Name, Record};
use hickory_proto::serialize::txt::Parser;

/// A record text that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsError {
    /// 1-based line within the text where the problem is.
    pub line: usize,
    /// The parser's message.
    pub message: String,
}

/// Parses `text` as master-file lines relative to `origin`, with `ttl` for records without one.
/// `$INCLUDE` is refused (the configuration is the only input).
pub fn parse_records(text: &str, origin: &Name, ttl: u32) -> Result<Vec<Record>, RecordsError> {
    match parse_whole(text, origin, ttl) {
        Ok(records) => Ok(records),
        Err(message) => Err(RecordsError {
            line: failing_line(text, origin, ttl),
            message,
        }),
    }
}

fn parse_whole(text: &str, origin: &Name, ttl: u32) -> Result<Vec<Record>, String> {
    if text
        .lines()
        .any(|l| l.trim_start().to_ascii_uppercase().starts_with("$INCLUDE"))
    {
        return Err("$INCLUDE is not allowed in configuration records".into());
    }
    // A trailing newline matters: the lexer only completes a record at end of line.
    let input = format!("$TTL {ttl}\n{text}\n");
    let (_, sets) = Parser::new(input, None, Some(origin.clone()))
        .parse()
        .map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for set in sets.values() {
        for record in set.records_without_rrsigs() {
            if record.dns_class != DNSClass::IN {
                return Err(format!("class {} is not served; only IN", record.dns_class));
            }
            records.push(record.clone());
        }
    }
    Ok(records)
}

/// The first line at which a prefix of `text` stops parsing. Prefixes that end inside parentheses
/// are skipped, since a multi-line record is only complete at its closing parenthesis.
fn failing_line(text: &str, origin: &Name, ttl: u32) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut depth = 0i32;
    for k in 1..=lines.len() {
        depth += paren_balance(lines[k - 1]);
        if depth > 0 {
            continue;
        }
        if parse_whole(&lines[..k].join("\n"), origin, ttl).is_err() {
            return k;
        }
    }
    lines.len().max(1)
}

/// `(` minus `)` on a line, ignoring quoted text and comments.
fn paren_balance(line: &str) -> i32 {
    let (mut n, mut quoted, mut escaped) = (0, false, false);
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => break,
            '(' if !quoted => n += 1,
            ')' if !quoted => n -= 1,
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RecordType;

    fn origin() -> Name {
        crate::name::parse_hostname("example.net").unwrap()
    }

    #[test]
    fn parses_relative_and_absolute_names_with_default_ttl() {
        let recs = parse_records(
            "www A 192.0.2.1\nwebmail.example.net. 60 CNAME www\n",
            &origin(),
            300,
        )
        .unwrap();
        assert_eq!(recs.len(), 2);
        let www = recs
            .iter()
            .find(|r| r.record_type() == RecordType::A)
            .unwrap();
        assert_eq!(crate::name::display(&www.name), "www.example.net");
        assert_eq!(www.ttl, 300);
        let cname = recs
            .iter()
            .find(|r| r.record_type() == RecordType::CNAME)
            .unwrap();
        assert_eq!(cname.ttl, 60);
    }

    #[test]
    fn reports_the_failing_line() {
        let err = parse_records(
            "www A 192.0.2.1\n\nbad A not-an-ip\nok A 192.0.2.2\n",
            &origin(),
            300,
        )
        .unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
        let err =
            parse_records("txt TXT ( \"a\"\n \"b\" )\nx BOGUS 1\n", &origin(), 300).unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
    }

    #[test]
    fn refuses_include_and_other_classes() {
        assert!(parse_records("$INCLUDE /etc/passwd\n", &origin(), 300).is_err());
        assert!(parse_records("x CH TXT \"a\"\n", &origin(), 300).is_err());
    }
}
