//! The host names clients reach over HTTPS because of what a domain publishes: its
//! `autoconfig.`/`autodiscover.`/`mta-sts.` names, the `_autodiscover._tcp` SRV target (Outlook
//! and Thunderbird follow it) and the box's CNAME target when the helper names are CNAMEs.
//! Every one of them needs a certificate valid for it, or the client shows a certificate error
//! (seed 001's complaint) or gives up (`SSL_ERROR_BAD_CERT_DOMAIN`).

use crate::model::{Domain, Model, TlsMode};
use crate::name;

/// The HTTPS names `domain`'s records send clients to, without repeats.
pub fn advertised(model: &Model, domain: &Domain) -> Vec<String> {
    let d = name::display(&domain.name);
    let mut out = Vec::new();
    let f = domain.features;
    for (on, prefix) in [
        (f.autoconfig, "autoconfig."),
        (f.autodiscover, "autodiscover."),
        (domain.dns.mta_sts.is_some(), "mta-sts."),
    ] {
        if on {
            out.push(format!("{prefix}{d}"));
        }
    }
    if f.autodiscover
        && let Some(target) = &domain.dns.autodiscover_srv.target
    {
        out.push(name::display(target));
    }
    if let Some(cname) = &model.server.cname {
        out.push(name::display(cname));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|n| seen.insert(n.clone()));
    out
}

/// Whether a certificate for `names` (exact names and `*.` wildcards of one label) is valid for
/// `host`.
pub fn covers(names: &[String], host: &str) -> bool {
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(base) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(base)),
        None => n.eq_ignore_ascii_case(host),
    })
}

/// In `files` mode, each (domain, name) whose advertised HTTPS name no configured certificate
/// covers.
pub fn uncovered(model: &Model) -> Vec<(&Domain, String)> {
    if model.tls.mode != TlsMode::Files {
        return Vec::new();
    }
    let mut out = Vec::new();
    for d in &model.domains {
        for host in advertised(model, d) {
            if !model
                .tls
                .certificates
                .iter()
                .any(|c| covers(&c.names, &host))
            {
                out.push((&**d, host));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        let names = vec!["*.example.net".to_owned(), "example.org".to_owned()];
        assert!(covers(&names, "autoconfig.example.net"));
        assert!(!covers(&names, "a.b.example.net"));
        assert!(!covers(&names, "example.net"));
        assert!(covers(&names, "EXAMPLE.org"));
    }

    #[test]
    fn srv_targets_and_cnames_are_advertised() {
        let text = r#"
[server]
cname = "web.provider.test"
[service.mail]
incoming = [{ protocol = "imap", host = "mail.provider.test" }]
outgoing = [{ host = "mail.provider.test" }]
[[domain]]
name = "example.net"
mx = ["10 mail.provider.test"]
autodiscover_srv = { target = "webmail.provider.test" }
name_servers = ["ns1.provider.test", "ns2.provider.test"]
"#;
        let model = crate::load_str(text, "t.toml".as_ref()).unwrap();
        let names = advertised(&model, &model.domains[0]);
        assert_eq!(
            names,
            [
                "autoconfig.example.net",
                "autodiscover.example.net",
                "mta-sts.example.net",
                "webmail.provider.test",
                "web.provider.test"
            ]
        );
    }

    #[test]
    fn check_warns_about_advertised_names_no_certificate_covers() {
        let text = r#"
[server]
ipv4 = ["192.0.2.1"]
[tls]
mode = "files"
[[tls.certificate]]
names = ["autoconfig.example.net", "mta-sts.example.net"]
cert = "c.pem"
key = "k.pem"
[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
[[domain]]
name = "example.net"
mx = ["10 mail.{domain}"]
name_servers = ["ns1.{domain}", "ns2.{domain}"]
[hosts]
"ns2.{domain}" = ["198.51.100.2"]
"#;
        let checked = crate::check_str(text, "t.toml".as_ref()).unwrap();
        let warnings = checked.warnings.to_string();
        assert!(
            warnings.contains("send clients to https://autodiscover.example.net/, but no [[tls.certificate]] names it"),
            "{warnings}"
        );
        assert!(
            !warnings.contains("https://autoconfig.example.net/"),
            "{warnings}"
        );
        assert!(
            !warnings.contains("https://mta-sts.example.net/"),
            "{warnings}"
        );
    }
}
