//! What registries check before they accept a delegation, applied to the zones mailbeacon will
//! publish: at least two name servers, IPv6 where the box has it, more than one network.
//!
//! These are warnings, not errors: a lab or a zone served behind another primary may know
//! better. Zonemaster (the checker .se, .fr and other registries run) calls the same findings
//! `NOT_ENOUGH_NS`, `NO_IPV6_NS` and `NAMESERVERS_IPV4_SAME_PREFIX`.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, RecordType};
use rayon::prelude::*;

use crate::model::Model;
use crate::name;
use crate::zone::{Zone, ZoneIssue, ZoneSet};

/// One finding per domain and kind; aliases share their primary's name servers and are skipped.
pub fn advice(model: &Model, zones: &ZoneSet) -> Vec<ZoneIssue> {
    advice_for(model, zones, |_| true)
}

/// As [`advice`], for the domains at the indexes `wanted` accepts (those whose zones were
/// derived anew: the others were judged when they were).
pub(crate) fn advice_for(
    model: &Model,
    zones: &ZoneSet,
    wanted: impl Fn(usize) -> bool + Sync,
) -> Vec<ZoneIssue> {
    // Only addresses the served zones hold can be judged: a name server's are looked up in the
    // zone that holds its name, when one is served here.
    let by_origin: HashMap<&Name, &Zone> =
        zones.zones().iter().map(|z| (&z.origin, &**z)).collect();
    let addresses_of = |host: &Name| -> Option<Vec<IpAddr>> {
        let mut origin = host.clone();
        let zone = loop {
            if let Some(z) = by_origin.get(&origin) {
                break *z;
            }
            if origin.is_root() {
                return None;
            }
            origin = origin.base_name();
        };
        // The type first: comparing names (case-insensitively, label by label) is the dearer test.
        let found: Vec<IpAddr> = zone
            .records()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some((r, IpAddr::V4(a.0))),
                RData::AAAA(a) => Some((r, IpAddr::V6(a.0))),
                _ => None,
            })
            .filter(|(r, _)| r.name == *host)
            .map(|(_, ip)| ip)
            .collect();
        (!found.is_empty()).then_some(found)
    };
    // Each domain is judged on its own: in parallel, collected in order.
    let judge = |(i, (d, z)): (
        usize,
        (&std::sync::Arc<crate::model::Domain>, &std::sync::Arc<Zone>),
    )| {
        let mut out = Vec::new();
        if d.alias_of.is_some() || !wanted(i) {
            return out;
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
        let known: Vec<(&Name, Vec<IpAddr>)> = ns
            .iter()
            .filter_map(|n| addresses_of(n).map(|a| (*n, a)))
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
        out
    };
    model
        .domains
        .par_iter()
        .zip(zones.zones().par_iter())
        .enumerate()
        .flat_map_iter(judge)
        .collect()
}
