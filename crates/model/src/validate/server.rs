//! `[server]`, `[tls]` and `[hosts]`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use toml::Spanned;

use super::Diagnostics;
use crate::config::{ServerSection, TlsSection};
use crate::model::{CertificateFiles, HostAddresses, Server, Tls, TlsMode};

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
    }
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
            "off" => TlsMode::Off,
            other => {
                diags.push(
                    Some(m.span()),
                    "tls.mode",
                    super::wording::unknown("mode", other, &["lab", "files", "off"]),
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
    Tls { mode, certificates }
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
