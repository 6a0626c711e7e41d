//! `[server]`, `[tls]` and `[hosts]`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use toml::Spanned;

use super::{Diagnostics, int_in};
use crate::config::{RrlSection, ServerSection, TlsSection};
use crate::model::{
    AcmeChallenge, AcmeSettings, CertificateFiles, HostAddresses, LETS_ENCRYPT,
    LETS_ENCRYPT_STAGING, Rrl, RunAs, Server, Tls, TlsMode,
};

/// Listen addresses used when `[server]` does not name any: loopback, unprivileged ports, so that
/// a first run needs no root and touches no network.
pub const DEFAULT_DNS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5353);
/// Default HTTP listener.
pub const DEFAULT_HTTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default HTTPS listener.
pub const DEFAULT_HTTPS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);

pub(super) fn server(s: Option<&ServerSection>, base: &Path, diags: &mut Diagnostics) -> Server {
    let empty = ServerSection::default();
    let s = s.unwrap_or(&empty);
    let ipv4 = addresses::<Ipv4Addr>(&s.ipv4, "server.ipv4", "IPv4", diags);
    let ipv6 = addresses::<Ipv6Addr>(&s.ipv6, "server.ipv6", "IPv6", diags);
    let cname = s
        .cname
        .as_ref()
        .and_then(|c| match crate::name::parse_hostname(c.get_ref()) {
            Ok(n) => Some(n),
            Err(e) => {
                diags.push(Some(c.span()), "server.cname", e);
                None
            }
        });
    if let Some(c) = &s.cname
        && !(s.ipv4.is_empty() && s.ipv6.is_empty())
    {
        diags.push(
            Some(c.span()),
            "server.cname",
            "set either `cname` or `ipv4`/`ipv6`, not both",
        );
    }
    Server {
        ipv4,
        ipv6,
        cname,
        dns: listeners(s.dns.as_deref(), DEFAULT_DNS, "server.dns", diags),
        http: listeners(s.http.as_deref(), DEFAULT_HTTP, "server.http", diags),
        https: listeners(s.https.as_deref(), DEFAULT_HTTPS, "server.https", diags),
        state_dir: base.join(s.state_dir.as_deref().unwrap_or("state")),
        rrl: rrl(s.rrl.as_ref(), diags),
        run_as: run_as(s, diags),
        metrics: s.metrics.as_ref().and_then(|m| {
            let parsed = m.get_ref().trim().parse::<SocketAddr>();
            if parsed.is_err() {
                diags.push(
                    Some(m.span()),
                    "server.metrics",
                    format!(
                        "`{}` is not an address:port (e.g. 127.0.0.1:9153)",
                        m.get_ref()
                    ),
                );
            }
            parsed.ok()
        }),
        public_https_port: s
            .public_https_port
            .as_ref()
            .and_then(|p| int_in::<u16>(p, 1, 65535, "server.public_https_port", "port", diags)),
    }
}

/// `user`/`group`: account names, checked for shape here; whether they exist is known only on
/// the machine that serves.
fn run_as(s: &ServerSection, diags: &mut Diagnostics) -> Option<RunAs> {
    let valid = |v: &Spanned<String>, key: &str, diags: &mut Diagnostics| {
        let name = v.get_ref().trim();
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok {
            diags.push(
                Some(v.span()),
                key,
                format!("`{name}` is not a user or group name"),
            );
        }
        ok.then(|| name.to_owned())
    };
    let group = s
        .group
        .as_ref()
        .and_then(|g| valid(g, "server.group", diags));
    match &s.user {
        Some(u) => valid(u, "server.user", diags).map(|user| RunAs { user, group }),
        None => {
            if let Some(g) = &s.group {
                diags.push(
                    Some(g.span()),
                    "server.group",
                    "`group` needs `user` as well",
                );
            }
            None
        }
    }
}

fn rrl(section: Option<&Spanned<RrlSection>>, diags: &mut Diagnostics) -> Rrl {
    let mut r = Rrl::default();
    let Some(section) = section else { return r };
    let s = section.get_ref();
    let mut int = |v: &Option<Spanned<i64>>, key: &str, hi: i64, into: &mut u32| {
        if let Some(v) = v {
            *into =
                int_in::<u32>(v, 0, hi, &format!("server.rrl.{key}"), key, diags).unwrap_or(*into);
        }
    };
    int(&s.rate, "rate", 1_000_000, &mut r.rate);
    int(&s.slip, "slip", 100, &mut r.slip);
    let (mut v4, mut v6) = (u32::from(r.ipv4_prefix), u32::from(r.ipv6_prefix));
    int(&s.ipv4_prefix, "ipv4_prefix", 32, &mut v4);
    int(&s.ipv6_prefix, "ipv6_prefix", 128, &mut v6);
    // Both are at most 128 by the checks above.
    r.ipv4_prefix = u8::try_from(v4).unwrap_or(24);
    r.ipv6_prefix = u8::try_from(v6).unwrap_or(56);
    if let Some(list) = &s.exempt {
        r.exempt = list
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let raw = v.get_ref().trim();
                let net = raw
                    .parse::<ipnet::IpNet>()
                    .ok()
                    .or_else(|| raw.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
                    .map(|n| n.trunc());
                if net.is_none() {
                    diags.push(
                        Some(v.span()),
                        format!("server.rrl.exempt[{i}]"),
                        format!("`{raw}` is not an IP address or network (192.0.2.0/24)"),
                    );
                }
                net
            })
            .collect();
    }
    r
}

fn addresses<T: std::str::FromStr>(
    list: &[Spanned<String>],
    key: &str,
    what: &str,
    diags: &mut Diagnostics,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        match a.get_ref().trim().parse::<T>() {
            Ok(ip) => out.push(ip),
            Err(_) => diags.push(
                Some(a.span()),
                format!("{key}[{i}]"),
                format!("`{}` is not an {what} address", a.get_ref()),
            ),
        }
    }
    out
}

fn listeners(
    list: Option<&[Spanned<String>]>,
    default: SocketAddr,
    key: &str,
    diags: &mut Diagnostics,
) -> Vec<SocketAddr> {
    let Some(list) = list else {
        return vec![default];
    };
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        match a.get_ref().trim().parse::<SocketAddr>() {
            Ok(sa) => out.push(sa),
            Err(_) => diags.push(
                Some(a.span()),
                format!("{key}[{i}]"),
                format!(
                    "`{}` is not an address:port (use [::1]:53 for IPv6)",
                    a.get_ref()
                ),
            ),
        }
    }
    out
}

pub(super) fn tls(t: Option<&TlsSection>, base: &Path, diags: &mut Diagnostics) -> Tls {
    let empty = TlsSection::default();
    let t = t.unwrap_or(&empty);
    let mode = match &t.mode {
        None if t.certificate.is_empty() => TlsMode::Lab,
        None => TlsMode::Files,
        Some(m) => match m.get_ref().as_str() {
            "lab" => TlsMode::Lab,
            "files" => TlsMode::Files,
            "acme" => TlsMode::Acme,
            "off" => TlsMode::Off,
            other => {
                diags.push(
                    Some(m.span()),
                    "tls.mode",
                    super::wording::unknown("mode", other, &["lab", "files", "acme", "off"]),
                );
                TlsMode::Off
            }
        },
    };
    let mut certificates = Vec::new();
    for (i, c) in t.certificate.iter().enumerate() {
        let key = format!("tls.certificate[{i}]");
        let mut names = Vec::new();
        for n in &c.names {
            let raw = n.get_ref().trim().to_ascii_lowercase();
            let host = raw.strip_prefix("*.").unwrap_or(&raw);
            match crate::name::parse_hostname(host) {
                Ok(_) => names.push(raw),
                Err(e) => diags.push(Some(n.span()), format!("{key}.names"), e),
            }
        }
        if c.names.is_empty() {
            diags.push(
                Some(c.cert.span()),
                format!("{key}.names"),
                "a certificate needs at least one name",
            );
        }
        certificates.push(CertificateFiles {
            names,
            cert: base.join(c.cert.get_ref()),
            key: base.join(c.key.get_ref()),
        });
    }
    if mode == TlsMode::Files && certificates.is_empty() {
        let span = t.mode.as_ref().map(|m| m.span());
        diags.push(
            span,
            "tls.mode",
            "mode `files` needs at least one [[tls.certificate]]",
        );
    }
    let acme = (mode == TlsMode::Acme).then(|| acme(t, base, diags));
    Tls {
        mode,
        certificates,
        acme,
        extra_names: Vec::new(),
    }
}

/// The `acme_*` keys of `[tls]`.
fn acme(t: &TlsSection, base: &Path, diags: &mut Diagnostics) -> AcmeSettings {
    let directory = match &t.acme_directory {
        None => LETS_ENCRYPT.to_owned(),
        Some(d) => {
            match d.get_ref().as_str() {
                "letsencrypt" => LETS_ENCRYPT.to_owned(),
                "letsencrypt-staging" => LETS_ENCRYPT_STAGING.to_owned(),
                url => {
                    if !url.starts_with("https://") {
                        diags.push(
                        Some(d.span()),
                        "tls.acme_directory",
                        format!("`{url}` is not an https:// URL, `letsencrypt` or `letsencrypt-staging`"),
                    );
                    }
                    url.to_owned()
                }
            }
        }
    };
    let mut contact = Vec::new();
    for (i, c) in t.acme_contact.iter().flatten().enumerate() {
        let v = c.get_ref().trim();
        let v = if v.contains(':') {
            v.to_owned()
        } else {
            format!("mailto:{v}")
        };
        if !v.starts_with("mailto:") || !v.contains('@') {
            diags.push(
                Some(c.span()),
                format!("tls.acme_contact[{i}]"),
                format!(
                    "`{v}` is not a mail address (admin@example.net or mailto:admin@example.net)"
                ),
            );
        }
        contact.push(v);
    }
    let eab = match (&t.acme_eab_kid, &t.acme_eab_hmac) {
        (None, None) => None,
        (Some(kid), Some(hmac)) => {
            let raw = hmac.get_ref().trim().trim_end_matches('=');
            match data_encoding::BASE64URL_NOPAD.decode(raw.as_bytes()) {
                Ok(key) => Some((kid.get_ref().clone(), key)),
                Err(e) => {
                    diags.push(
                        Some(hmac.span()),
                        "tls.acme_eab_hmac",
                        format!("not base64url ({e}); copy it as the CA shows it"),
                    );
                    None
                }
            }
        }
        (Some(k), None) | (None, Some(k)) => {
            diags.push(
                Some(k.span()),
                "tls",
                "external account binding needs both `acme_eab_kid` and `acme_eab_hmac`",
            );
            None
        }
    };
    let challenge = match t.acme_challenge.as_ref() {
        None => AcmeChallenge::Http01,
        Some(c) => match c.get_ref().to_ascii_lowercase().as_str() {
            "http-01" => AcmeChallenge::Http01,
            "dns-01" => AcmeChallenge::Dns01,
            other => {
                diags.push(
                    Some(c.span()),
                    "tls.acme_challenge",
                    super::wording::unknown("challenge", other, &["http-01", "dns-01"]),
                );
                AcmeChallenge::Http01
            }
        },
    };
    AcmeSettings {
        challenge,
        directory,
        contact,
        server_ca: t.acme_server_ca.as_ref().map(|p| base.join(p.get_ref())),
        eab,
    }
}

/// `[hosts]`: templated names and their addresses.
pub(super) fn hosts(
    hosts: &BTreeMap<String, Vec<Spanned<String>>>,
    diags: &mut Diagnostics,
) -> Vec<HostAddresses> {
    let mut out = Vec::new();
    for (name, addrs) in hosts {
        let key = format!("hosts.\"{name}\"");
        let span = addrs.first().map(|a| a.span());
        let Some(template) = super::service::host_template(name, span.clone(), &key, diags) else {
            continue;
        };
        if addrs.is_empty() {
            diags.push(span, &key, "list at least one address");
        }
        let ips = addresses::<IpAddr>(addrs, &key, "IP", diags);
        out.push(HostAddresses {
            name: template,
            addresses: ips,
        });
    }
    out
}
