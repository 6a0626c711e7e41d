//! `[service.NAME]`: a provider's servers.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{Diagnostics, http_url, int_in, wording};
use crate::config::{EndpointSection, ServiceSection};
use crate::model::{
    AuthMethod, DavUrl, Documentation, Endpoint, HostTemplate, OAuth2, Protocol, Security, Service,
    Username,
};

pub(super) fn services(
    sections: &BTreeMap<String, ServiceSection>,
    diags: &mut Diagnostics,
) -> Vec<Service> {
    sections
        .iter()
        .map(|(id, s)| service(id, s, diags))
        .collect()
}

fn service(id: &str, s: &ServiceSection, diags: &mut Diagnostics) -> Service {
    let key = format!("service.{id}");
    let default_username = match &s.username {
        Some(u) => username(u, &format!("{key}.username"), diags).unwrap_or(Username::Address),
        None => Username::Address,
    };
    let mut incoming = Vec::new();
    for (i, e) in s.incoming.iter().enumerate() {
        let ekey = format!("{key}.incoming[{i}]");
        if let Some(ep) = endpoint(
            e,
            &ekey,
            &[Protocol::Imap, Protocol::Pop3],
            &default_username,
            diags,
        ) {
            incoming.push(ep);
        }
    }
    let mut outgoing = Vec::new();
    for (i, e) in s.outgoing.iter().enumerate() {
        let ekey = format!("{key}.outgoing[{i}]");
        if let Some(ep) = endpoint(e, &ekey, &[Protocol::Smtp], &default_username, diags) {
            outgoing.push(ep);
        }
    }
    let mut documentation = Vec::new();
    for (i, d) in s.documentation.iter().enumerate() {
        if url_template(&d.url, &format!("{key}.documentation[{i}].url"), diags) {
            documentation.push(Documentation {
                url: d.url.get_ref().clone(),
                descriptions: d
                    .description
                    .iter()
                    .map(|(l, t)| (l.clone(), t.clone()))
                    .collect(),
            });
        }
    }
    let webmail = s
        .webmail
        .as_ref()
        .and_then(|w| http_url(w, &format!("{key}.webmail"), diags))
        .map(|_| {
            s.webmail
                .as_ref()
                .map(|w| w.get_ref().clone())
                .unwrap_or_default()
        });
    let caldav = s
        .caldav
        .as_ref()
        .and_then(|u| dav_url(u, &format!("{key}.caldav"), diags));
    let carddav = s
        .carddav
        .as_ref()
        .and_then(|u| dav_url(u, &format!("{key}.carddav"), diags));
    let oauth2 = s.oauth2.as_ref().map(|o| {
        let okey = format!("{key}.oauth2");
        http_url(&o.auth_url, &format!("{okey}.auth_url"), diags);
        http_url(&o.token_url, &format!("{okey}.token_url"), diags);
        if o.issuer.get_ref().trim().is_empty() {
            diags.push(
                Some(o.issuer.span()),
                format!("{okey}.issuer"),
                "must not be empty",
            );
        }
        if o.scope.get_ref().trim().is_empty() {
            diags.push(
                Some(o.scope.span()),
                format!("{okey}.scope"),
                "must list at least one scope",
            );
        }
        OAuth2 {
            issuer: o.issuer.get_ref().trim().to_owned(),
            scope: o
                .scope
                .get_ref()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            auth_url: o.auth_url.get_ref().clone(),
            token_url: o.token_url.get_ref().clone(),
        }
    });
    if s.incoming.is_empty() && s.outgoing.is_empty() {
        diags.push(
            None,
            &key,
            "a service needs at least one `incoming` or `outgoing` server",
        );
    }
    Service {
        id: id.to_owned(),
        display_name: s
            .display_name
            .as_ref()
            .map(|v| v.get_ref().trim().to_owned()),
        short_name: s.short_name.as_ref().map(|v| v.get_ref().trim().to_owned()),
        incoming,
        outgoing,
        documentation,
        webmail,
        caldav,
        carddav,
        oauth2,
    }
}

fn endpoint(
    e: &Spanned<EndpointSection>,
    key: &str,
    allowed: &[Protocol],
    default_username: &Username,
    diags: &mut Diagnostics,
) -> Option<Endpoint> {
    let span = e.span();
    let e = e.get_ref();
    let before = diags.len();
    let protocol = match &e.protocol {
        None if allowed.len() == 1 => Some(allowed[0]),
        None => {
            diags.push(
                Some(span.clone()),
                format!("{key}.protocol"),
                "say which protocol: `imap` or `pop3`",
            );
            None
        }
        Some(p) => {
            let found = allowed
                .iter()
                .copied()
                .find(|a| a.as_str() == p.get_ref().to_ascii_lowercase());
            if found.is_none() {
                let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
                diags.push(
                    Some(p.span()),
                    format!("{key}.protocol"),
                    format!(
                        "`{}` is not allowed here, expected {}",
                        p.get_ref(),
                        names.join(" or ")
                    ),
                );
            }
            found
        }
    };
    let host = host_template(
        e.host.get_ref(),
        Some(e.host.span()),
        &format!("{key}.host"),
        diags,
    );
    let security = match &e.security {
        None => Some(Security::Tls),
        Some(s) => match s.get_ref().to_ascii_lowercase().as_str() {
            "tls" | "ssl" => Some(Security::Tls),
            "starttls" => Some(Security::StartTls),
            "plain" | "none" => Some(Security::Plain),
            other => {
                diags.push(
                    Some(s.span()),
                    format!("{key}.security"),
                    wording::unknown(
                        "security",
                        other,
                        &["tls", "starttls", "plain", "ssl", "none"],
                    ),
                );
                None
            }
        },
    };
    let port = match (&e.port, protocol, security) {
        (Some(p), _, _) => int_in::<u16>(p, 1, 65535, &format!("{key}.port"), "port", diags),
        (None, Some(p), Some(s)) => Some(p.default_port(s)),
        _ => None,
    };
    if let (Some(p), Some(s), Some(n)) = (protocol, security, port)
        && let Some(w) = port_security_mismatch(p, s, n)
    {
        let span = e.port.as_ref().map(|p| p.span()).or(Some(span.clone()));
        diags.warn(span, format!("{key}.port"), w);
    }
    let auth = match &e.auth {
        None => vec![AuthMethod::PasswordCleartext],
        Some(list) => {
            let mut out = Vec::new();
            for (i, a) in list.iter().enumerate() {
                match AuthMethod::parse(a.get_ref()) {
                    Some(m) if !out.contains(&m) => out.push(m),
                    Some(_) => {}
                    None => {
                        let all: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
                        diags.push(
                            Some(a.span()),
                            format!("{key}.auth[{i}]"),
                            wording::unknown("authentication", a.get_ref(), &all),
                        );
                    }
                }
            }
            if list.is_empty() {
                diags.push(
                    Some(span.clone()),
                    format!("{key}.auth"),
                    "list at least one method",
                );
            }
            out
        }
    };
    let username = match &e.username {
        Some(u) => username(u, &format!("{key}.username"), diags),
        None => Some(default_username.clone()),
    };
    if diags.len() != before {
        return None;
    }
    Some(Endpoint {
        protocol: protocol?,
        host: host?,
        port: port?,
        security: security?,
        auth,
        username: username?,
    })
}

/// Validates a host name that may contain `{domain}` (checked with a sample domain substituted).
/// IP literals are accepted as they are, for labs without names.
pub(crate) fn host_template(
    raw: &str,
    span: Option<Range<usize>>,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<HostTemplate> {
    let t = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if t.parse::<std::net::IpAddr>().is_ok() {
        return Some(HostTemplate::new(t));
    }
    let without = t.replace("{domain}", "");
    if without.contains('{') || without.contains('}') {
        diags.push(
            span,
            key,
            format!("`{raw}`: the only placeholder allowed in a host name is {{domain}}"),
        );
        return None;
    }
    match crate::name::parse_hostname(&t.replace("{domain}", "example.test")) {
        Ok(_) => Some(HostTemplate::new(t)),
        Err(e) => {
            diags.push(span, key, e);
            None
        }
    }
}

/// Checks a URL that may contain `{domain}` (expanded per domain like host names).
fn url_template(v: &Spanned<String>, key: &str, diags: &mut Diagnostics) -> bool {
    let sample = Spanned::new(v.span(), v.get_ref().replace("{domain}", "example.test"));
    http_url(&sample, key, diags).is_some()
}

const PLACEHOLDERS: [&str; 3] = ["%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%"];

fn username(u: &Spanned<String>, key: &str, diags: &mut Diagnostics) -> Option<Username> {
    let raw = u.get_ref().trim();
    match raw {
        "address" | "%EMAILADDRESS%" => return Some(Username::Address),
        "localpart" | "local-part" | "%EMAILLOCALPART%" => return Some(Username::LocalPart),
        _ => {}
    }
    let mut rest = raw.to_owned();
    for p in PLACEHOLDERS {
        rest = rest.replace(p, "");
    }
    if rest.contains('%') {
        diags.push(
            Some(u.span()),
            key,
            format!(
                "`{raw}`: use `address`, `localpart` or a template with {} only",
                PLACEHOLDERS.join(", ")
            ),
        );
        return None;
    }
    if raw.is_empty() || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        diags.push(
            Some(u.span()),
            key,
            "a username template must be non-empty and without spaces",
        );
        return None;
    }
    Some(Username::Template(raw.to_owned()))
}

fn dav_url(u: &Spanned<String>, key: &str, diags: &mut Diagnostics) -> Option<DavUrl> {
    let parsed = http_url(u, key, diags)?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    Some(DavUrl {
        url: u.get_ref().clone(),
        https: parsed.scheme() == "https",
        port: parsed.port_or_known_default().unwrap_or(443),
        path: if parsed.path().is_empty() {
            "/".into()
        } else {
            parsed.path().to_owned()
        },
        host,
    })
}

/// The well-known port of the other security mode, when `port` is it: clients that guess from the
/// port (Thunderbird's manual setup, Outlook, K-9) then try the wrong handshake.
fn port_security_mismatch(protocol: Protocol, security: Security, port: u16) -> Option<String> {
    let other = match security {
        Security::Tls => Security::StartTls,
        Security::StartTls | Security::Plain => Security::Tls,
    };
    if port != protocol.default_port(other) || port == protocol.default_port(security) {
        return None;
    }
    let (said, usual) = match security {
        Security::Tls => ("implicit TLS (`tls`)", "STARTTLS"),
        Security::StartTls => ("STARTTLS", "implicit TLS"),
        Security::Plain => ("no TLS (`plain`)", "implicit TLS"),
    };
    Some(format!(
        "port {port} is the {} {usual} port, but this endpoint says {said}; clients that go by the \
         port will try the other handshake and fail (use port {} or security = \"{}\")",
        protocol.as_str().to_ascii_uppercase(),
        protocol.default_port(security),
        match other {
            Security::Tls => "tls",
            _ => "starttls",
        }
    ))
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn mismatched_well_known_ports_are_named() {
        let w = port_security_mismatch(Protocol::Smtp, Security::Tls, 587).unwrap();
        assert!(w.contains("port 587 is the SMTP STARTTLS port"), "{w}");
        assert!(w.contains("use port 465"), "{w}");
        assert!(port_security_mismatch(Protocol::Smtp, Security::StartTls, 465).is_some());
        assert!(port_security_mismatch(Protocol::Imap, Security::StartTls, 993).is_some());
        assert!(port_security_mismatch(Protocol::Pop3, Security::Tls, 110).is_some());
        assert!(port_security_mismatch(Protocol::Smtp, Security::StartTls, 587).is_none());
        assert!(port_security_mismatch(Protocol::Smtp, Security::Tls, 465).is_none());
        assert!(port_security_mismatch(Protocol::Smtp, Security::StartTls, 2525).is_none());
        assert!(port_security_mismatch(Protocol::Imap, Security::Plain, 143).is_none());
    }
}
