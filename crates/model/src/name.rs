//! DNS name rules used by validation and by the zone-file writer.
//!
//! Host names (MX/SRV/NS targets, service hosts, served domains) must follow the letter-digit-hyphen
//! rule (RFC 952/1123) after IDNA conversion; owner names of generated records may use underscores
//! (`_imaps._tcp`), which is why those are built with [`Name::prepend_label`], never parsed as hosts.

use hickory_proto::rr::Name;

/// Parses a host name, accepting Unicode (converted to `xn--` A-labels) and an optional trailing dot.
/// The result is lower case and absolute.
pub fn parse_hostname(s: &str) -> Result<Name, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty host name".into());
    }
    if s == "." {
        return Err("the root is not a host name".into());
    }
    // Check ASCII names ourselves: the IDNA library's messages do not say what is wrong.
    if s.is_ascii() {
        let trimmed = s.strip_suffix('.').unwrap_or(s);
        if let Some(bad) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
        {
            return Err(format!(
                "`{s}` is not a valid host name: `{bad}` is not allowed (letters, digits and `-` only)"
            ));
        }
    }
    let mut name =
        Name::from_utf8(s).map_err(|e| format!("`{s}` is not a valid domain name: {e}"))?;
    name.set_fqdn(true);
    check_ldh(&name).map_err(|why| format!("`{s}` is not a valid host name: {why}"))?;
    Ok(name.to_lowercase())
}

/// Checks every label of `name` against the letter-digit-hyphen rule.
pub fn check_ldh(name: &Name) -> Result<(), String> {
    if name.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    for label in name.iter() {
        if label.is_empty() || label.len() > 63 {
            return Err("labels must have 1 to 63 characters".into());
        }
        if label.first() == Some(&b'-') || label.last() == Some(&b'-') {
            return Err("a label starts or ends with `-`".into());
        }
        if let Some(bad) = label
            .iter()
            .find(|b| !(b.is_ascii_alphanumeric() || **b == b'-'))
        {
            return Err(format!(
                "`{}` is not allowed (letters, digits and `-` only)",
                char::from(*bad)
            ));
        }
    }
    Ok(())
}

/// The name in ASCII without the trailing dot (`example.net`), as used in URLs, XML and messages.
pub fn display(name: &Name) -> String {
    let mut s = name.to_ascii();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

/// The name in ASCII with the trailing dot (`example.net.`), as used in zone files.
pub fn absolute(name: &Name) -> String {
    let mut s = name.to_ascii();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// The owner name relative to `origin` for a zone file: `@` for the apex, the leading labels for
/// names inside the zone, the absolute name otherwise.
pub fn relative(name: &Name, origin: &Name) -> String {
    if name == origin {
        return "@".into();
    }
    if origin.zone_of(name) {
        let keep = usize::from(name.num_labels() - origin.num_labels());
        let labels: Vec<String> = name
            .iter()
            .take(keep)
            .map(|l| {
                Name::from_labels([l])
                    .map(|n| display(&n))
                    .unwrap_or_default()
            })
            .collect();
        return labels.join(".");
    }
    absolute(name)
}

/// `label.zone`, for generated owner names such as `_imaps._tcp` or `autoconfig`.
///
/// Only called with this crate's fixed, valid labels on served domain names, which validation caps
/// at 220 octets (`validate::domain::MAX_DOMAIN_LEN`): the result always fits DNS's 255.
pub(crate) fn child(zone: &Name, labels: &str) -> Name {
    under(zone, labels).expect("fixed label on a length-capped domain name")
}

/// `labels.zone` from raw ASCII labels, which the caller has checked (`None` only when the name
/// would pass DNS's 255 octets). Label by label onto an empty name, then the zone's labels
/// copied as they are: `Name::from_labels` collects and re-checks every label through several
/// vectors, and `from_utf8` runs IDNA, which made this a tenth of deriving a zone.
pub(crate) fn under(zone: &Name, labels: &str) -> Option<Name> {
    let mut name = Name::new();
    for label in labels.split('.') {
        name = name.append_label(label.as_bytes()).ok()?;
    }
    let mut name = name.append_name(zone).ok()?;
    name.set_fqdn(zone.is_fqdn());
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_lowercased_and_idna_converted() {
        assert_eq!(
            display(&parse_hostname("Mail.Example.NET.").unwrap()),
            "mail.example.net"
        );
        assert_eq!(
            display(&parse_hostname("münchen.de").unwrap()),
            "xn--mnchen-3ya.de"
        );
        assert!(parse_hostname("bad_name.example").is_err());
        assert!(parse_hostname("-x.example").is_err());
        assert!(parse_hostname("a..b").is_err());
        assert!(parse_hostname("").is_err());
        assert!(parse_hostname(".").is_err());
        assert!(parse_hostname(&format!("{}.net", "a".repeat(64))).is_err());
    }

    #[test]
    fn relative_names_for_zone_files() {
        let origin = parse_hostname("example.net").unwrap();
        assert_eq!(relative(&origin, &origin), "@");
        assert_eq!(
            relative(&child(&origin, "_imaps._tcp"), &origin),
            "_imaps._tcp"
        );
        assert_eq!(
            relative(&parse_hostname("mx.example.org").unwrap(), &origin),
            "mx.example.org."
        );
        assert_eq!(absolute(&Name::root()), ".");
    }
}
