//! Authoritative lookup over the served zones (RFC 1034 §4.3.2, RFC 2308, RFC 8482).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipnet::IpNet;
use mailbeacon_model::{Zone, ZoneSet};

/// How many CNAMEs are followed inside our zones before giving up (a loop guard).
const MAX_CNAME_CHAIN: usize = 8;

/// Every served zone, indexed for lookup.
#[derive(Debug, Default)]
pub struct Authority {
    /// Zones, the longest origin first.
    zones: Vec<ZoneIndex>,
    /// Origin → index into `zones` (`Name`'s `Hash`/`Eq` ignore letter case): finding a name's
    /// zone costs one probe per label instead of a comparison with every zone.
    by_origin: HashMap<Name, usize>,
}

#[derive(Debug)]
struct ZoneIndex {
    origin: Name,
    soa: Record,
    /// Every name that exists in the zone (lower case), including empty non-terminals, with its
    /// RRsets by type. `Name`'s `Hash`/`Eq` ignore letter case.
    nodes: HashMap<Name, BTreeMap<RecordType, Vec<Record>>>,
    /// Every record in zone-file order, for AXFR.
    records: Vec<Record>,
    axfr: Vec<IpNet>,
}

/// The sections of an answer, before it becomes a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Response code.
    pub rcode: ResponseCode,
    /// Whether the data comes from one of our zones (sets AA).
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section (the SOA of negative answers).
    pub authorities: Vec<Record>,
    /// Additional section (addresses of in-zone targets).
    pub additionals: Vec<Record>,
}

impl Answer {
    fn refused() -> Answer {
        Answer {
            rcode: ResponseCode::Refused,
            authoritative: false,
            answers: vec![],
            authorities: vec![],
            additionals: vec![],
        }
    }
}

impl Authority {
    /// Indexes every zone of `zones`.
    pub fn new(zones: &ZoneSet) -> Authority {
        let mut zones: Vec<ZoneIndex> = zones.zones().iter().map(ZoneIndex::new).collect();
        zones.sort_by_key(|z| std::cmp::Reverse(z.origin.num_labels()));
        let by_origin = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.origin.clone(), i))
            .collect();
        Authority { zones, by_origin }
    }

    /// Every `(name, types present)` of every zone, for precomputing answers.
    pub fn names(&self) -> impl Iterator<Item = (&Name, Vec<RecordType>)> {
        self.zones.iter().flat_map(|z| {
            z.nodes
                .iter()
                .map(|(n, sets)| (n, sets.keys().copied().collect()))
        })
    }

    /// The closest enclosing zone: the name itself, then each parent, probed in turn.
    fn zone_for(&self, name: &Name) -> Option<&ZoneIndex> {
        let mut candidate = name.clone();
        loop {
            if let Some(&i) = self.by_origin.get(&candidate) {
                return Some(&self.zones[i]);
            }
            if candidate.is_root() {
                return None;
            }
            candidate = candidate.base_name();
        }
    }

    /// Answers `qtype` at `qname` (class IN). Names outside our zones are refused.
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Answer {
        let Some(zone) = self.zone_for(qname) else {
            return Answer::refused();
        };
        let mut answer = Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers: vec![],
            authorities: vec![],
            additionals: vec![],
        };
        let mut name = qname.clone();
        for _ in 0..MAX_CNAME_CHAIN {
            let Some(node) = zone.nodes.get(&name) else {
                answer.rcode = ResponseCode::NXDomain;
                answer.authorities.push(zone.negative_soa());
                return answer;
            };
            if qtype != RecordType::CNAME
                && let Some(cname) = node.get(&RecordType::CNAME)
            {
                answer.answers.extend(cname.iter().cloned());
                let RData::CNAME(target) = &cname[0].data else {
                    break;
                };
                // Follow the alias only inside the same zone, like Knot and NSD: data from another
                // zone is out of bailiwick and resolvers would discard it anyway.
                if !zone.origin.zone_of(&target.0) {
                    return answer;
                }
                name = target.0.clone();
                continue;
            }
            let found: Option<&Vec<Record>> = match qtype {
                // RFC 8482: answer ANY with one RRset rather than everything.
                RecordType::ANY => node.values().next(),
                t => node.get(&t),
            };
            match found {
                Some(rrset) => {
                    answer.answers.extend(rrset.iter().cloned());
                    self.add_target_addresses(&mut answer);
                }
                None => answer.authorities.push(zone.negative_soa()),
            }
            return answer;
        }
        answer
    }

    /// Addresses of MX/SRV/NS targets that live in our zones (RFC 1035 §3.3.9 additional processing).
    fn add_target_addresses(&self, answer: &mut Answer) {
        let mut targets: Vec<&Name> = Vec::new();
        for r in &answer.answers {
            let t = match &r.data {
                RData::MX(mx) => &mx.exchange,
                RData::SRV(srv) => &srv.target,
                RData::NS(ns) => &ns.0,
                _ => continue,
            };
            if !t.is_root() && !targets.contains(&t) {
                targets.push(t);
            }
        }
        let mut extra = Vec::new();
        for t in targets {
            let Some(zone) = self.zone_for(t) else {
                continue;
            };
            let Some(node) = zone.nodes.get(t) else {
                continue;
            };
            for rt in [RecordType::A, RecordType::AAAA] {
                if let Some(set) = node.get(&rt) {
                    extra.extend(set.iter().cloned());
                }
            }
        }
        answer.additionals = extra;
    }

    /// The records of the zone `origin` for a transfer to `peer`: SOA, everything else, SOA again;
    /// `None` when the zone is not ours or `peer` is not allowed.
    pub fn transfer(&self, origin: &Name, peer: IpAddr) -> Option<Vec<Record>> {
        let zone = self.zones.iter().find(|z| &z.origin == origin)?;
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        if !zone.axfr.iter().any(|net| net.contains(&peer)) {
            return None;
        }
        let mut out = Vec::with_capacity(zone.records.len() + 1);
        out.extend(zone.records.iter().cloned());
        out.push(zone.soa.clone());
        Some(out)
    }
}

impl ZoneIndex {
    fn new(zone: &Zone) -> ZoneIndex {
        let mut nodes: HashMap<Name, BTreeMap<RecordType, Vec<Record>>> = HashMap::new();
        let records: Vec<Record> = zone.records().cloned().collect();
        for r in &records {
            nodes
                .entry(r.name.to_lowercase())
                .or_default()
                .entry(r.record_type())
                .or_default()
                .push(r.clone());
            // Empty non-terminals: every ancestor up to the apex exists (NODATA, never NXDOMAIN).
            let mut parent = r.name.base_name();
            while zone.origin.zone_of(&parent) && parent != zone.origin {
                nodes.entry(parent.to_lowercase()).or_default();
                parent = parent.base_name();
            }
        }
        ZoneIndex {
            origin: zone.origin.clone(),
            soa: zone.soa().clone(),
            nodes,
            records,
            axfr: zone.axfr.clone(),
        }
    }

    /// The SOA for a negative answer, with the TTL RFC 2308 §3 asks for: min(SOA TTL, MINIMUM).
    fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        if let RData::SOA(s) = &soa.data {
            soa.ttl = soa.ttl.min(s.minimum);
        }
        soa
    }
}
