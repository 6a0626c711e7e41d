//! What registries check before they accept a delegation, applied to the zones mailbeacon will
//! publish: at least two name servers, IPv6 where the box has it, more than one network.
//!
//! These are warnings, not errors: a lab or a zone served behind another primary may know
//! better. Zonemaster (the checker .se, .fr and other registries run) calls the same findings
//! `NOT_ENOUGH_NS`, `NO_IPV6_NS` and `NAMESERVERS_IPV4_SAME_PREFIX`.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, RecordType};

use crate::model::Model;
use crate::name;
use crate::zone::{ZoneIssue, ZoneSet};

/// One finding per domain and kind; aliases share their primary's name servers and are skipped.
pub fn advice(model: &Model, zones: &ZoneSet) -> Vec<ZoneIssue> {
    // Addresses of every name the served zones hold: only those can be judged.
    let mut addresses: HashMap<&Name, Vec<IpAddr>> = HashMap::new();
    for r in zones.zones().iter().flat_map(|z| z.records()) {
        match &r.data {
            RData::A(a) => addresses.entry(&r.name).or_default().push(IpAddr::V4(a.0)),
            RData::AAAA(a) => addresses.entry(&r.name).or_default().push(IpAddr::V6(a.0)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (d, z) in model.domains.iter().zip(zones.zones()) {
        if d.alias_of.is_some() {
            continue;
        }
        let ns: Vec<&Name> = z
            .records()
            .filter(|r| r.record_type() == RecordType::NS && r.name == z.origin)
            .filter_map(|r| match &r.data {
                RData::NS(n) => Some(&n.0),
                _ => None,
            })
            .collect();
        let warn = |message: String| ZoneIssue {
            domain: d.name.clone(),
            key: "name_servers",
            message,
        };
        if ns.len() < 2 {
            out.push(warn(format!(
                "{} publishes {} name server{}; registries refuse delegations with fewer than two \
                 (RFC 1034 §4.1, Zonemaster NOT_ENOUGH_NS): add a secondary to `name_servers` (and \
                 its address to `axfr` and `notify`)",
                name::display(&d.name),
                ns.len(),
                if ns.len() == 1 { "" } else { "s" }
            )));
        }
        let known: Vec<(&Name, &Vec<IpAddr>)> = ns
            .iter()
            .filter_map(|n| addresses.get(n).map(|a| (*n, a)))
            .collect();
        if !model.server.ipv6.is_empty() {
            for (n, addrs) in &known {
                if !addrs.iter().any(IpAddr::is_ipv6) {
                    out.push(warn(format!(
                        "name server {} has no IPv6 address although this box has one ([server] \
                         ipv6); registries expect name servers reachable over IPv6 (Zonemaster \
                         NO_IPV6_NS): give it an AAAA in [hosts]",
                        name::display(n)
                    )));
                }
            }
        }
        let prefixes: Vec<[u8; 3]> = known
            .iter()
            .flat_map(|(_, a)| a.iter())
            .filter_map(|a| match a {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    Some([o[0], o[1], o[2]])
                }
                IpAddr::V6(_) => None,
            })
            .collect();
        let all_known = known.len() == ns.len();
        if ns.len() >= 2
            && all_known
            && !prefixes.is_empty()
            && prefixes.iter().all(|p| *p == prefixes[0])
        {
            out.push(warn(format!(
                "all name servers of {} sit in {}.{}.{}.0/24; registries expect them on different \
                 networks so that one outage does not take the domain down (Zonemaster \
                 NAMESERVERS_IPV4_SAME_PREFIX)",
                name::display(&d.name),
                prefixes[0][0],
                prefixes[0][1],
                prefixes[0][2]
            )));
        }
    }
    out
}
