//! `{domain}`: the one placeholder a configuration may use, and the one place it is expanded.
//!
//! Any text value that can differ per domain — host names, URLs (web mail, documentation, DAV,
//! OAuth2), display names, record texts — may say `{domain}`; it becomes the name of the domain
//! being served (for an alias, its primary's, because an alias is answered exactly like its
//! target). Any other `{word}` is a typo, refused by validation, so that no document or zone ever
//! carries a placeholder.

use hickory_proto::rr::Name;

/// The placeholder.
pub const DOMAIN: &str = "{domain}";

/// `text` with every `{domain}` replaced by `domain`.
pub fn expand(text: &str, domain: &Name) -> String {
    if text.contains(DOMAIN) {
        text.replace(DOMAIN, &crate::name::display(domain))
    } else {
        text.to_owned()
    }
}

/// The host name `template` names for `domain` (a validated domain name): what
/// `parse_hostname(expand(template, domain))` gives, errors included. Templates written
/// `{domain}` or `LABELS.{domain}` in lower-case letters, digits and `-` (nearly all of them) are
/// built from labels instead, without the round trip through text and IDNA that made each zone's
/// host names a fifth of deriving it.
pub fn host_name(template: &str, domain: &Name) -> Result<Name, String> {
    match host_under(template, domain) {
        Some(name) => Ok(name),
        None => crate::name::parse_hostname(&expand(template, domain)),
    }
}

/// [`host_name`]'s direct path; `None` hands anything else to the general one. An all-digit
/// result (`1.{domain}` under `2.3.4`) is left to it too, since it may read as an IP address.
pub(crate) fn host_under(template: &str, domain: &Name) -> Option<Name> {
    let name = if template == DOMAIN {
        domain.clone()
    } else {
        let prefix = template.strip_suffix(DOMAIN)?.strip_suffix('.')?;
        // `parse_hostname` would lower-case these; the general path does it.
        if prefix.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        // Empty or over-long labels fail here, anything else `check_ldh` refuses below.
        crate::name::under(domain, prefix)?
    };
    crate::name::check_ldh(&name).ok()?;
    let digits = |label: &[u8]| label.iter().all(u8::is_ascii_digit);
    (!name.iter().all(digits)).then_some(name)
}

/// The placeholders in `text` other than `{domain}`: every `{word}` where `word` is made of
/// letters, digits, `_` and `-` (so JSON or other braces in record texts are left alone).
pub fn unknown(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let word = &after[..close];
        let is_word = !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if is_word && word != "domain" {
            found.push(&rest[open..open + close + 2]);
        }
        rest = &rest[open + 1..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_domain_and_finds_the_others() {
        let d = Name::from_ascii("example.net.").unwrap();
        assert_eq!(
            expand("https://dav.{domain}/x/{domain}", &d),
            "https://dav.example.net/x/example.net"
        );
        assert_eq!(
            unknown("a {domian} b {domain} {x_y-1}"),
            ["{domian}", "{x_y-1}"]
        );
        assert!(unknown(r#"v=1 {"json": 1} {} { spaced }"#).is_empty());
        assert!(unknown("{domain").is_empty());
    }

    #[test]
    fn host_names_built_from_labels_are_the_parsed_ones() {
        let long = format!("{}.example", "a".repeat(63));
        let domains = ["example.net", "xn--mnchen-3ya.de", "2.3.4", long.as_str()];
        let long_prefix = format!(
            "{}.{}.{}.{{domain}}",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(50)
        );
        let templates = [
            "{domain}",
            "mail.{domain}",
            "_x.{domain}",
            "a-b.c9.{domain}",
            "1.{domain}",
            "Mail.{domain}",
            "-x.{domain}",
            "x-.{domain}",
            "a..{domain}",
            ".{domain}",
            "mail.{domain}.",
            " mail.{domain}",
            "mail.example.org",
            "192.0.2.1",
            "m\u{e4}il.{domain}",
            long_prefix.as_str(),
        ];
        for d in domains {
            let d = crate::name::parse_hostname(d).unwrap();
            for t in templates {
                let general = crate::name::parse_hostname(&expand(t, &d));
                assert_eq!(host_name(t, &d), general, "{t} under {d}");
                if let Some(n) = host_under(t, &d) {
                    // Same labels, same letter case, same FQDN flag.
                    assert_eq!(n.to_ascii(), general.unwrap().to_ascii(), "{t} under {d}");
                }
            }
        }
        let d = crate::name::parse_hostname("example.net").unwrap();
        assert!(host_under("mail.{domain}", &d).is_some());
        assert!(host_under("{domain}", &d).is_some());
        let digits = crate::name::parse_hostname("2.3.4").unwrap();
        assert!(host_under("1.{domain}", &digits).is_none());
    }
}
