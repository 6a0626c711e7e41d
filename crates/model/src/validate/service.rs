//! `[service.NAME]`: a provider's servers.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{Diagnostics, http_url, int_in, known_placeholders, template, wording};
use crate::config::{EndpointSection, ServiceSection};
use crate::model::{
    AuthMethod, DavUrl, Documentation, Endpoint, HostTemplate, OAuth2, Protocol, Security, Service,
    Username,
};
use crate::placeholder;

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
        let dkey = format!("{key}.documentation[{i}]");
        let texts_ok = d.description.iter().all(|(lang, text)| {
            known_placeholders(
                text,
                Some(d.url.span()),
                &format!("{dkey}.description.{lang}"),
                diags,
            )
        });
        if let Some(url) = url_template(&d.url, &format!("{dkey}.url"), diags)
            && texts_ok
        {
            documentation.push(Documentation {
                url,
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
        .and_then(|w| url_template(w, &format!("{key}.webmail"), diags));
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
        let auth_url = url_template(&o.auth_url, &format!("{okey}.auth_url"), diags);
        let token_url = url_template(&o.token_url, &format!("{okey}.token_url"), diags);
        let issuer = template(&o.issuer, &format!("{okey}.issuer"), diags);
        let scope = template(&o.scope, &format!("{okey}.scope"), diags);
        if issuer.as_ref().is_some_and(String::is_empty) {
            diags.push(
                Some(o.issuer.span()),
                format!("{okey}.issuer"),
                "must not be empty",
            );
        }
        if scope.as_ref().is_some_and(|s| s.trim().is_empty()) {
            diags.push(
                Some(o.scope.span()),
                format!("{okey}.scope"),
                "must list at least one scope",
            );
        }
        OAuth2 {
            issuer: issuer.unwrap_or_default(),
            scope: scope
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            auth_url: auth_url.unwrap_or_default(),
            token_url: token_url.unwrap_or_default(),
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
            .and_then(|v| template(v, &format!("{key}.display_name"), diags)),
        short_name: s
            .short_name
            .as_ref()
            .and_then(|v| template(v, &format!("{key}.short_name"), diags)),
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
    if !known_placeholders(&t, span.clone(), key, diags) {
        return None;
    }
    let without = t.replace(placeholder::DOMAIN, "");
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

/// Checks a URL that may contain `{domain}` (expanded per domain like host names): no other
/// placeholder, and a valid `http(s)` URL once expanded. Returns the template.
fn url_template(v: &Spanned<String>, key: &str, diags: &mut Diagnostics) -> Option<String> {
    let template = template(v, key, diags)?;
    let sample = Spanned::new(
        v.span(),
        template.replace(placeholder::DOMAIN, "example.test"),
    );
    http_url(&sample, key, diags).map(|_| template)
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
    if rest.contains(placeholder::DOMAIN) {
        diags.push(
            Some(u.span()),
            key,
            format!("`{raw}`: a username cannot use {{domain}}; use %EMAILDOMAIN% (the domain of the address)"),
        );
        return None;
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

/// A CalDAV/CardDAV URL template; its parts are split per domain by [`DavUrl::parse`].
fn dav_url(u: &Spanned<String>, key: &str, diags: &mut Diagnostics) -> Option<String> {
    let template = url_template(u, key, diags)?;
    DavUrl::parse(&template.replace(placeholder::DOMAIN, "example.test")).map(|_| template)
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
