//! Authoritative lookup over the served zones (RFC 1034 §4.3.2, RFC 2308, RFC 8482), with the
//! RRSIGs and NSEC proofs of signed zones for queries with the DO bit (RFC 4035 §3.1).

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mailbeacon_model::{TransferRule, Zone, ZoneSet};
use rayon::prelude::*;

use crate::tsig::TsigKeys;

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
    /// TSIG keys that may sign transfer requests.
    tsig: TsigKeys,
}

/// One zone's records, held once: sorted by owner and type so that each name's records, and
/// within them each RRset, are one contiguous slice. (A map of names to per-type vectors held
/// every record a second time and cost ~1 KB per RRset in vector slack: most of the memory of a
/// hosting provider's 100,000 zones.)
#[derive(Debug)]
struct ZoneIndex {
    origin: Name,
    soa: Record,
    /// Every record, grouped by owner name, and by type number within a name.
    records: Vec<Record>,
    /// Every name that exists in the zone, including empty non-terminals (an empty range), with
    /// where its records are in `records`. `Name`'s `Hash`/`Eq` ignore letter case.
    nodes: HashMap<Name, Range<u32>>,
    /// Zone-file order for AXFR (a signed zone's DNSSEC records last), as indexes into `records`.
    transfer_order: Vec<u32>,
    axfr: Vec<TransferRule>,
    /// For a signed zone: the owners of its NSEC records in canonical order, to find the one
    /// that covers a name that does not exist. Empty for an unsigned zone.
    nsec_owners: Vec<Name>,
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
        Authority::signed(zones, &HashMap::new())
    }

    /// Indexes every zone of `zones`; a zone with an entry in `signed` (origin → the records
    /// [`crate::dnssec::sign_zone`] added) is served signed.
    pub fn signed(zones: &ZoneSet, signed: &HashMap<Name, Vec<Record>>) -> Authority {
        // Each zone is indexed on its own: in parallel, collected in order.
        let mut zones: Vec<ZoneIndex> = zones
            .zones()
            .par_iter()
            .map(|z| ZoneIndex::new(z, signed.get(&z.origin).map(Vec::as_slice)))
            .collect();
        zones.sort_by_key(|z| std::cmp::Reverse(z.origin.num_labels()));
        let by_origin = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.origin.clone(), i))
            .collect();
        Authority {
            zones,
            by_origin,
            tsig: TsigKeys::default(),
        }
    }

    /// The same zones, with `tsig` the keys that may sign requests.
    pub fn with_tsig(mut self, tsig: TsigKeys) -> Authority {
        self.tsig = tsig;
        self
    }

    /// The TSIG keys.
    pub fn tsig(&self) -> &TsigKeys {
        &self.tsig
    }

    /// Every `(name, types present)` of every zone, for precomputing answers.
    pub fn names(&self) -> impl Iterator<Item = (&Name, Vec<RecordType>)> {
        self.zones.iter().flat_map(|z| {
            z.nodes
                .iter()
                .map(|(n, span)| (n, z.node(span).types().collect()))
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

    /// Whether the zone holding `name` is signed.
    pub fn is_signed(&self, name: &Name) -> bool {
        self.zone_for(name).is_some_and(ZoneIndex::is_signed)
    }

    /// Answers `qtype` at `qname` (class IN). Names outside our zones are refused. With
    /// `dnssec_ok` (the query's DO bit) a signed zone's answer carries RRSIGs and, when
    /// negative, the NSEC records that prove it.
    pub fn lookup(&self, qname: &Name, qtype: RecordType, dnssec_ok: bool) -> Answer {
        let Some(zone) = self.zone_for(qname) else {
            return Answer::refused();
        };
        let dnssec = dnssec_ok && zone.is_signed();
        let mut answer = Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers: vec![],
            authorities: vec![],
            additionals: vec![],
        };
        let mut name = qname.clone();
        for _ in 0..MAX_CNAME_CHAIN {
            let Some(node) = zone.nodes.get(&name).map(|span| zone.node(span)) else {
                answer.rcode = ResponseCode::NXDomain;
                zone.push_negative_soa(&mut answer.authorities, dnssec);
                if dnssec {
                    zone.deny_name(&name, &mut answer.authorities);
                }
                return answer;
            };
            // RRSIG and NSEC live beside a CNAME (RFC 4035 §2.5): asked for, they are answered
            // at the alias itself.
            if !matches!(
                qtype,
                RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC
            ) && let Some(cname) = node.get(RecordType::CNAME)
            {
                answer.answers.extend(cname.iter().cloned());
                if dnssec {
                    push_signatures(node, RecordType::CNAME, &mut answer.answers);
                }
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
            let one_signature_set: Vec<Record>;
            let found: Option<&[Record]> = match qtype {
                // RFC 8482: answer ANY with one RRset rather than everything.
                RecordType::ANY => node.first_rrset(),
                // Likewise RRSIG, like Knot: the signatures of the RRset with the lowest type.
                RecordType::RRSIG => {
                    one_signature_set = first_signature_set(node);
                    (!one_signature_set.is_empty()).then_some(one_signature_set.as_slice())
                }
                t => node.get(t),
            };
            match found {
                Some(rrset) => {
                    answer.answers.extend(rrset.iter().cloned());
                    if dnssec && let Some(first) = rrset.first() {
                        push_signatures(node, first.record_type(), &mut answer.answers);
                    }
                    self.add_target_addresses(&mut answer, dnssec);
                }
                None => {
                    zone.push_negative_soa(&mut answer.authorities, dnssec);
                    if dnssec {
                        zone.deny_type(&name, node, &mut answer.authorities);
                    }
                }
            }
            return answer;
        }
        answer
    }

    /// Addresses of MX/SRV/NS targets that live in our zones (RFC 1035 §3.3.9 additional processing).
    fn add_target_addresses(&self, answer: &mut Answer, dnssec_ok: bool) {
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
            let Some(node) = zone.nodes.get(t).map(|span| zone.node(span)) else {
                continue;
            };
            for rt in [RecordType::A, RecordType::AAAA] {
                if let Some(set) = node.get(rt) {
                    extra.extend(set.iter().cloned());
                    if dnssec_ok && zone.is_signed() {
                        push_signatures(node, rt, &mut extra);
                    }
                }
            }
        }
        answer.additionals = extra;
    }

    /// The records of the zone `origin` for a transfer to `peer` whose request was signed with
    /// `key` (already verified): SOA, everything else, SOA again; `None` when the zone is not
    /// ours or no transfer rule of the zone allows it.
    pub fn transfer(&self, origin: &Name, peer: IpAddr, key: Option<&Name>) -> Option<Vec<Record>> {
        let zone = self.zones.iter().find(|z| &z.origin == origin)?;
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        if !zone.axfr.iter().any(|rule| rule.allows(peer, key)) {
            return None;
        }
        let mut out = Vec::with_capacity(zone.records.len() + 1);
        out.extend(
            zone.transfer_order
                .iter()
                .map(|&i| zone.records[i as usize].clone()),
        );
        out.push(zone.soa.clone());
        Some(out)
    }
}

impl ZoneIndex {
    fn new(zone: &Zone, signed: Option<&[Record]>) -> ZoneIndex {
        let in_file_order: Vec<&Record> =
            zone.records().chain(signed.unwrap_or_default()).collect();
        // Each owner gets a number in order of first appearance (`Name`'s `Hash`/`Eq` ignore
        // letter case); sorting by (owner number, type number) groups names and RRsets with
        // integer comparisons only. Stable, so an RRset keeps its configured order.
        let mut owner_of: HashMap<&Name, u32> = HashMap::with_capacity(in_file_order.len());
        let owners: Vec<u32> = in_file_order
            .iter()
            .map(|r| {
                let next = owner_of.len() as u32;
                *owner_of.entry(&r.name).or_insert(next)
            })
            .collect();
        let mut order: Vec<u32> = (0..in_file_order.len() as u32).collect();
        order.sort_by_key(|&i| (owners[i as usize], in_file_order[i as usize].record_type()));
        let mut transfer_order = vec![0u32; order.len()];
        for (sorted_at, &file_at) in order.iter().enumerate() {
            transfer_order[file_at as usize] = sorted_at as u32;
        }
        let records: Vec<Record> = order
            .iter()
            .map(|&i| in_file_order[i as usize].clone())
            .collect();

        let mut nodes: HashMap<Name, Range<u32>> = HashMap::with_capacity(owner_of.len() + 4);
        let mut start = 0;
        while start < records.len() {
            let owner = owners[order[start] as usize];
            let end = start
                + order[start..]
                    .iter()
                    .take_while(|&&i| owners[i as usize] == owner)
                    .count();
            let name = &records[start].name;
            nodes.insert(name.to_lowercase(), start as u32..end as u32);
            // Empty non-terminals: every ancestor up to the apex exists (NODATA, never NXDOMAIN).
            let mut parent = name.base_name();
            while zone.origin.zone_of(&parent) && parent != zone.origin {
                let empty = end as u32..end as u32;
                nodes.entry(parent.to_lowercase()).or_insert(empty);
                parent = parent.base_name();
            }
            start = end;
        }
        nodes.shrink_to_fit();
        let mut nsec_owners: Vec<Name> = records
            .iter()
            .filter(|r| r.record_type() == RecordType::NSEC)
            .map(|r| r.name.to_lowercase())
            .collect();
        nsec_owners.sort();
        ZoneIndex {
            origin: zone.origin.clone(),
            soa: zone.soa().clone(),
            records,
            nodes,
            transfer_order,
            axfr: zone.axfr.clone(),
            nsec_owners,
        }
    }

    /// The records of the name whose records are at `span`.
    fn node(&self, span: &Range<u32>) -> Node<'_> {
        Node(&self.records[span.start as usize..span.end as usize])
    }

    fn is_signed(&self) -> bool {
        !self.nsec_owners.is_empty()
    }

    /// The SOA for a negative answer, with the TTL RFC 2308 §3 asks for: min(SOA TTL, MINIMUM),
    /// followed by its RRSIG (at the same TTL) when `dnssec`.
    fn push_negative_soa(&self, out: &mut Vec<Record>, dnssec: bool) {
        let RData::SOA(s) = &self.soa.data else {
            return;
        };
        let ttl = self.soa.ttl.min(s.minimum);
        let mut soa = self.soa.clone();
        soa.ttl = ttl;
        out.push(soa);
        if dnssec && let Some(apex) = self.nodes.get(&self.origin).map(|span| self.node(span)) {
            let from = out.len();
            push_signatures(apex, RecordType::SOA, out);
            for sig in &mut out[from..] {
                sig.ttl = ttl;
            }
        }
    }

    /// NODATA proof (RFC 4035 §3.1.3.1): the NSEC at `name` shows which types exist there. An
    /// empty non-terminal has no NSEC of its own; the NSEC that covers it (whose next name lies
    /// below it) proves it holds no data (§3.1.3.2 of the same, as validators read it).
    fn deny_type(&self, name: &Name, node: Node<'_>, out: &mut Vec<Record>) {
        if node.get(RecordType::NSEC).is_some() {
            self.push_nsec(name, out);
        } else {
            self.push_nsec(self.covering(name), out);
        }
    }

    /// NXDOMAIN proof (RFC 4035 §3.1.3.2): the NSEC covering `name`, and the one covering the
    /// wildcard at its closest encloser (our zones have no wildcards, so one always exists).
    fn deny_name(&self, name: &Name, out: &mut Vec<Record>) {
        let covering = self.covering(name);
        self.push_nsec(covering, out);
        let mut encloser = name.base_name();
        while !self.nodes.contains_key(&encloser) && encloser != self.origin {
            encloser = encloser.base_name();
        }
        let Ok(wildcard) = Name::from_labels([&b"*"[..]]).and_then(|w| w.append_domain(&encloser))
        else {
            return;
        };
        let wildcard_cover = self.covering(&wildcard);
        if wildcard_cover != covering {
            self.push_nsec(wildcard_cover, out);
        }
    }

    /// The NSEC owner that precedes `name` in canonical order (`name` itself has no NSEC).
    fn covering(&self, name: &Name) -> &Name {
        let lower = name.to_lowercase();
        let i = self.nsec_owners.partition_point(|o| *o < lower);
        // The apex sorts before every name of the zone, so `i` is at least 1 for names in it.
        &self.nsec_owners[i.saturating_sub(1)]
    }

    /// The NSEC record at `owner` and its RRSIG.
    fn push_nsec(&self, owner: &Name, out: &mut Vec<Record>) {
        if let Some(node) = self.nodes.get(owner).map(|span| self.node(span))
            && let Some(nsec) = node.get(RecordType::NSEC)
        {
            out.extend(nsec.iter().cloned());
            push_signatures(node, RecordType::NSEC, out);
        }
    }
}

/// The records of one name, by type number.
#[derive(Debug, Clone, Copy)]
struct Node<'a>(&'a [Record]);

impl<'a> Node<'a> {
    /// The RRset of type `rtype`, if the name has one.
    fn get(self, rtype: RecordType) -> Option<&'a [Record]> {
        let start = self.0.iter().position(|r| r.record_type() == rtype)?;
        let len = self.0[start..]
            .iter()
            .take_while(|r| r.record_type() == rtype)
            .count();
        Some(&self.0[start..start + len])
    }

    /// The RRset with the lowest type number.
    fn first_rrset(self) -> Option<&'a [Record]> {
        self.0.first().and_then(|r| self.get(r.record_type()))
    }

    /// The types present, each once, lowest first.
    fn types(self) -> impl Iterator<Item = RecordType> + 'a {
        let records = self.0;
        records
            .iter()
            .enumerate()
            .filter(move |(i, r)| *i == 0 || records[i - 1].record_type() != r.record_type())
            .map(|(_, r)| r.record_type())
    }
}

/// The RRSIGs at `node` that cover the RRset with the lowest type number.
fn first_signature_set(node: Node<'_>) -> Vec<Record> {
    let first = node.types().find(|t| *t != RecordType::RRSIG);
    let mut out = Vec::new();
    if let Some(t) = first {
        push_signatures(node, t, &mut out);
    }
    out
}

/// The RRSIGs at `node` that cover its `rtype` RRset.
fn push_signatures(node: Node<'_>, rtype: RecordType, out: &mut Vec<Record>) {
    let Some(sigs) = node.get(RecordType::RRSIG) else {
        return;
    };
    out.extend(
        sigs.iter()
            .filter(|r| matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == rtype))
            .cloned(),
    );
}
