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
}
