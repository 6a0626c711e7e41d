//! The domain's hygiene, as resolvers and senders see it: name servers, MX and SRV targets, SPF,
//! DMARC, MTA-STS, certificates of the HTTPS names clients are sent to, DNSSEC and DANE.

use std::net::SocketAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use url::Url;

use crate::dns::Resolver;
use crate::fetch::{Fetcher, Request};
use crate::report::{Finding, Level};

/// Days of certificate validity below which a renewal is overdue.
const CERT_WARN_DAYS: i64 = 14;

/// Every hygiene finding for `domain`.
pub async fn check(domain: &str, resolver: &Resolver, fetcher: &Fetcher) -> Vec<Finding> {
    let mut out = Vec::new();
    let Ok(apex) = Name::from_ascii(format!("{domain}.")) else {
        out.push(Finding::new(
            Level::Error,
            "domain",
            format!("{domain} is not a domain name"),
        ));
        return out;
    };
    name_servers(&apex, resolver, &mut out).await;
    delegation(&apex, resolver, &mut out).await;
    let mx_hosts = mx(&apex, resolver, &mut out).await;
    srv_targets(domain, resolver, &mut out).await;
    spf_dmarc(&apex, resolver, &mut out).await;
    mta_sts(domain, &mx_hosts, resolver, fetcher, &mut out).await;
    certificates(domain, resolver, fetcher, &mut out).await;
    dane(&mx_hosts, resolver, &mut out).await;
    out
}

fn ascii(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

async fn name_servers(apex: &Name, resolver: &Resolver, out: &mut Vec<Finding>) {
    let check = "ns";
    let (soa, ns) = (
        resolver.ask(apex, RecordType::SOA).await,
        resolver.ask(apex, RecordType::NS).await,
    );
    match &soa {
        Ok(a) if a.has(RecordType::SOA) => {
            let level = if a.authenticated {
                Level::Ok
            } else {
                Level::Info
            };
            let how = if a.authenticated {
                "validated by the resolver (DNSSEC, AD)"
            } else {
                "not validated (no AD): unsigned, or the resolver does not validate"
            };
            out.push(Finding::new(
                level,
                "dnssec",
                format!("SOA of {}: {how}", ascii(apex)),
            ));
        }
        Ok(a) => out.push(Finding::new(
            Level::Error,
            check,
            format!(
                "no SOA for {} ({}): the zone is not served",
                ascii(apex),
                a.rcode
            ),
        )),
        Err(e) => {
            out.push(Finding::new(
                Level::Error,
                check,
                format!("SOA of {}: {e}", ascii(apex)),
            ));
            return;
        }
    }
    let hosts: Vec<Name> = ns
        .map(|a| {
            a.records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::NS(n) => Some(n.0.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if hosts.len() < 2 {
        out.push(Finding::new(
            Level::Warning,
            check,
            format!(
                "{} name server(s): registries want at least two",
                hosts.len()
            ),
        ));
    }
    let mut serials = Vec::new();
    for host in &hosts {
        let addrs = resolver.addresses(host).await;
        if addrs.is_empty() {
            out.push(Finding::new(
                Level::Error,
                check,
                format!("name server {} has no address", ascii(host)),
            ));
            continue;
        }
        for ip in addrs {
            let server = Resolver::authoritative(SocketAddr::new(ip, resolver_port(resolver, ip)));
            match server.ask(apex, RecordType::SOA).await {
                Ok(a) if a.authoritative && a.has(RecordType::SOA) => {
                    let serial = a.records.iter().find_map(|r| match &r.data {
                        RData::SOA(s) => Some(s.serial),
                        _ => None,
                    });
                    serials.push((format!("{} ({ip})", ascii(host)), serial.unwrap_or(0)));
                }
                Ok(a) => out.push(Finding::new(
                    Level::Error,
                    check,
                    format!(
                        "{} ({ip}) is not authoritative for the zone ({}): a lame delegation",
                        ascii(host),
                        a.rcode
                    ),
                )),
                Err(e) => out.push(Finding::new(
                    Level::Warning,
                    check,
                    format!("{} ({ip}) does not answer: {e}", ascii(host)),
                )),
            }
        }
    }
    if let Some((_, first)) = serials.first() {
        if serials.iter().all(|(_, s)| s == first) {
            out.push(Finding::new(
                Level::Ok,
                check,
                format!(
                    "{} name server address(es) answer with serial {first}",
                    serials.len()
                ),
            ));
        } else {
            let list: Vec<String> = serials.iter().map(|(h, s)| format!("{h}: {s}")).collect();
            out.push(Finding::new(
                Level::Error,
                check,
                format!(
                    "name servers disagree on the SOA serial: {}",
                    list.join(", ")
                ),
            ));
        }
    }
}

/// The parent's delegation (the NS records its servers hand out in a referral) against the NS
/// records the zone itself publishes; skipped, with a note, when no parent server answers (a
/// lab's `.test` has no parent).
async fn delegation(apex: &Name, resolver: &Resolver, out: &mut Vec<Finding>) {
    let check = "delegation";
    let ns_of = |records: &[hickory_proto::rr::Record]| -> Vec<String> {
        let mut v: Vec<String> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(n) if r.name == *apex => Some(ascii(&n.0)),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let own = match resolver.ask(apex, RecordType::NS).await {
        Ok(a) => ns_of(&a.records),
        Err(_) => return,
    };
    let parent = apex.base_name();
    let parent_servers: Vec<Name> = match resolver.ask(&parent, RecordType::NS).await {
        Ok(a) => a
            .records
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(n) => Some(n.0.clone()),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    for server in parent_servers.iter().take(3) {
        for ip in resolver.addresses(server).await.into_iter().take(1) {
            let asked = Resolver::authoritative(SocketAddr::new(ip, 53));
            let Ok(referral) = asked.ask(apex, RecordType::NS).await else {
                continue;
            };
            let delegated = if referral.authority.is_empty() {
                ns_of(&referral.records)
            } else {
                ns_of(&referral.authority)
            };
            if delegated.is_empty() {
                continue;
            }
            if delegated == own {
                out.push(Finding::new(
                    Level::Ok,
                    check,
                    format!(
                        "{} delegates to {} as the zone says",
                        ascii(&parent),
                        own.join(", ")
                    ),
                ));
            } else {
                out.push(Finding::new(
                    Level::Error,
                    check,
                    format!(
                        "{} delegates to [{}], the zone publishes [{}]: update one to match the other",
                        ascii(&parent),
                        delegated.join(", "),
                        own.join(", ")
                    ),
                ));
            }
            return;
        }
    }
    out.push(Finding::new(
        Level::Info,
        check,
        format!(
            "the delegation from {} was not checked (no parent server answered)",
            ascii(&parent)
        ),
    ));
}

/// Name servers are asked on port 53, except when the probe's resolver is on the same address
/// (a lab on loopback, where the authority listens on the resolver's port).
fn resolver_port(resolver: &Resolver, ip: std::net::IpAddr) -> u16 {
    if resolver.server().ip() == ip {
        resolver.server().port()
    } else {
        53
    }
}

async fn mx(apex: &Name, resolver: &Resolver, out: &mut Vec<Finding>) -> Vec<String> {
    let check = "mx";
    let Ok(a) = resolver.ask(apex, RecordType::MX).await else {
        out.push(Finding::new(
            Level::Error,
            check,
            "no answer to the MX question",
        ));
        return Vec::new();
    };
    let hosts: Vec<(u16, Name)> = a
        .records
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(m) => Some((m.preference, m.exchange.clone())),
            _ => None,
        })
        .collect();
    if hosts.is_empty() {
        out.push(Finding::new(
            Level::Warning,
            check,
            "no MX records: mail goes to the domain's address (RFC 5321 §5.1), and Thunderbird's and Thunderbird for Android's MX fallback find nothing",
        ));
        return Vec::new();
    }
    if hosts.len() == 1 && hosts[0].1.is_root() {
        out.push(Finding::new(
            Level::Info,
            check,
            "null MX (RFC 7505): the domain receives no mail",
        ));
        return Vec::new();
    }
    let mut names = Vec::new();
    for (_, host) in &hosts {
        target(host, resolver, check, "MX", out).await;
        names.push(ascii(host));
    }
    names
}

/// A target of MX or SRV: it must have an address and must not be a CNAME (RFC 2181 §10.3).
async fn target(host: &Name, resolver: &Resolver, check: &str, what: &str, out: &mut Vec<Finding>) {
    if let Ok(a) = resolver.ask(host, RecordType::A).await
        && a.of_type(RecordType::CNAME).next().is_some()
    {
        out.push(Finding::new(
            Level::Error,
            check,
            format!(
                "{what} target {} is a CNAME (RFC 2181 §10.3 forbids it)",
                ascii(host)
            ),
        ));
    }
    if resolver.addresses(host).await.is_empty() {
        out.push(Finding::new(
            Level::Error,
            check,
            format!("{what} target {} has no address", ascii(host)),
        ));
    } else {
        out.push(Finding::new(
            Level::Ok,
            check,
            format!("{what} target {} resolves", ascii(host)),
        ));
    }
}

async fn srv_targets(domain: &str, resolver: &Resolver, out: &mut Vec<Finding>) {
    for service in [
        "_imaps",
        "_imap",
        "_pop3s",
        "_pop3",
        "_submissions",
        "_submission",
        "_autodiscover",
    ] {
        let Ok(owner) = Name::from_ascii(format!("{service}._tcp.{domain}.")) else {
            continue;
        };
        let Ok(a) = resolver.ask(&owner, RecordType::SRV).await else {
            continue;
        };
        for r in &a.records {
            if let RData::SRV(s) = &r.data
                && !s.target.is_root()
            {
                target(
                    &s.target,
                    resolver,
                    "srv",
                    &format!("{service}._tcp SRV"),
                    out,
                )
                .await;
            }
        }
    }
}

async fn spf_dmarc(apex: &Name, resolver: &Resolver, out: &mut Vec<Finding>) {
    let spf: Vec<String> = match resolver.ask(apex, RecordType::TXT).await {
        Ok(a) => a
            .texts()
            .into_iter()
            .filter(|t| t.to_ascii_lowercase().starts_with("v=spf1"))
            .collect(),
        Err(_) => Vec::new(),
    };
    match spf.as_slice() {
        [] => out.push(Finding::new(
            Level::Warning,
            "spf",
            "no SPF record: receivers cannot tell forged mail from yours",
        )),
        [one] => {
            let last = one
                .split_whitespace()
                .last()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if last.ends_with("all") || last.starts_with("redirect=") {
                out.push(Finding::new(Level::Ok, "spf", format!("\"{one}\"")));
            } else {
                out.push(Finding::new(
                    Level::Warning,
                    "spf",
                    format!("\"{one}\" ends without an `all` mechanism or redirect: mail from elsewhere is neutral"),
                ));
            }
        }
        many => out.push(Finding::new(
            Level::Error,
            "spf",
            format!(
                "{} SPF records: RFC 7208 §3.2 makes that a permanent error",
                many.len()
            ),
        )),
    }
    let Ok(dmarc) = Name::from_ascii("_dmarc").and_then(|n| n.append_domain(apex)) else {
        return;
    };
    let records: Vec<String> = match resolver.ask(&dmarc, RecordType::TXT).await {
        Ok(a) => a
            .texts()
            .into_iter()
            .filter(|t| t.to_ascii_lowercase().starts_with("v=dmarc1"))
            .collect(),
        Err(_) => Vec::new(),
    };
    match records.as_slice() {
        [] => out.push(Finding::new(
            Level::Warning,
            "dmarc",
            "no DMARC record at _dmarc",
        )),
        [one] => {
            let has_policy = one
                .split(';')
                .any(|tag| tag.trim().to_ascii_lowercase().starts_with("p="));
            let level = if has_policy { Level::Ok } else { Level::Error };
            let note = if has_policy {
                ""
            } else {
                " has no p= tag (RFC 7489 §6.3 requires it)"
            };
            out.push(Finding::new(level, "dmarc", format!("\"{one}\"{note}")));
        }
        many => out.push(Finding::new(
            Level::Error,
            "dmarc",
            format!("{} DMARC records: receivers ignore them all", many.len()),
        )),
    }
}

async fn mta_sts(
    domain: &str,
    mx_hosts: &[String],
    resolver: &Resolver,
    fetcher: &Fetcher,
    out: &mut Vec<Finding>,
) {
    let check = "mta-sts";
    let Ok(owner) = Name::from_ascii(format!("_mta-sts.{domain}.")) else {
        return;
    };
    let txt: Vec<String> = match resolver.ask(&owner, RecordType::TXT).await {
        Ok(a) => a
            .texts()
            .into_iter()
            .filter(|t| t.starts_with("v=STSv1"))
            .collect(),
        Err(_) => Vec::new(),
    };
    if txt.is_empty() {
        out.push(Finding::new(
            Level::Info,
            check,
            "no MTA-STS (no _mta-sts TXT)",
        ));
        return;
    }
    let Ok(url) = Url::parse(&format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")) else {
        return;
    };
    let policy = match fetcher
        .fetch(&Request {
            method: "GET",
            url: url.clone(),
            body: None,
        })
        .await
    {
        Ok(f) if f.status == 200 => String::from_utf8_lossy(&f.body).into_owned(),
        Ok(f) => {
            out.push(Finding::new(
                Level::Error,
                check,
                format!("{url} answers {}: senders find no policy", f.status),
            ));
            return;
        }
        Err(e) => {
            out.push(Finding::new(Level::Error, check, format!("{url}: {e}")));
            return;
        }
    };
    let patterns: Vec<String> = policy
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim() == "mx")
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .collect();
    let mode = policy
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "mode")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let uncovered: Vec<&String> = mx_hosts
        .iter()
        .filter(|h| !patterns.iter().any(|p| matches_pattern(p, h)))
        .collect();
    if uncovered.is_empty() {
        out.push(Finding::new(
            Level::Ok,
            check,
            format!("policy (mode {mode}) covers every MX host; TXT {}", txt[0]),
        ));
    } else {
        let level = if mode == "enforce" {
            Level::Error
        } else {
            Level::Warning
        };
        out.push(Finding::new(
            level,
            check,
            format!("the policy's mx lines do not cover {uncovered:?}: senders refuse (enforce) or report them"),
        ));
    }
}

/// RFC 8461 §4.1: an exact name, or `*.` matching exactly one label.
fn matches_pattern(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => host.split_once('.').is_some_and(|(_, h)| h == rest),
        None => pattern == host,
    }
}

async fn certificates(
    domain: &str,
    resolver: &Resolver,
    fetcher: &Fetcher,
    out: &mut Vec<Finding>,
) {
    for host in [
        format!("autoconfig.{domain}"),
        format!("autodiscover.{domain}"),
        format!("mta-sts.{domain}"),
        domain.to_owned(),
    ] {
        let Ok(name) = Name::from_ascii(format!("{host}.")) else {
            continue;
        };
        if resolver.addresses(&name).await.is_empty() {
            continue;
        }
        match fetcher.certificate_days(&host).await {
            Ok(days) if days < 0 => out.push(Finding::new(
                Level::Error,
                "certificate",
                format!("{host}: expired"),
            )),
            Ok(days) if days < CERT_WARN_DAYS => out.push(Finding::new(
                Level::Warning,
                "certificate",
                format!("{host}: valid, but expires in {days} days"),
            )),
            Ok(days) => out.push(Finding::new(
                Level::Ok,
                "certificate",
                format!("{host}: valid for this name, {days} days left"),
            )),
            Err(e) if e.contains("connect") => out.push(Finding::new(
                Level::Info,
                "certificate",
                format!("{host}: no HTTPS ({e})"),
            )),
            Err(e) => out.push(Finding::new(
                Level::Error,
                "certificate",
                format!("{host}: {e}"),
            )),
        }
    }
}

async fn dane(mx_hosts: &[String], resolver: &Resolver, out: &mut Vec<Finding>) {
    for host in mx_hosts {
        let Ok(owner) = Name::from_ascii(format!("_25._tcp.{host}.")) else {
            continue;
        };
        if let Ok(a) = resolver.ask(&owner, RecordType::TLSA).await
            && a.rcode == ResponseCode::NoError
            && a.has(RecordType::TLSA)
        {
            let level = if a.authenticated {
                Level::Ok
            } else {
                Level::Warning
            };
            let note = if a.authenticated {
                "validated"
            } else {
                "but not validated (senders ignore DANE without DNSSEC)"
            };
            out.push(Finding::new(
                level,
                "dane",
                format!("TLSA at _25._tcp.{host}, {note}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches_pattern;

    #[test]
    fn mta_sts_patterns_match_one_label() {
        assert!(matches_pattern("mail.example.net", "mail.example.net"));
        assert!(matches_pattern("*.example.net", "mx1.example.net"));
        assert!(!matches_pattern("*.example.net", "a.mx1.example.net"));
        assert!(!matches_pattern("*.example.net", "example.net"));
    }
}
