//! Authoritative lookup over the served zones (RFC 1034 §4.3.2, RFC 2308, RFC 8482), with the
//! RRSIGs and NSEC proofs of signed zones for queries with the DO bit (RFC 4035 §3.1).

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mailbeacon_model::{Zone, ZoneSet};
use rayon::prelude::*;

use crate::tsig::TsigKeys;

/// How many CNAMEs are followed inside our zones before giving up (a loop guard).
const MAX_CNAME_CHAIN: usize = 8;

/// Every served zone, indexed for lookup.
#[derive(Debug, Default)]
pub struct Authority {
    /// Zones, the longest origin first. Shared, so that a reload keeps the index of a zone that
    /// did not change.
    zones: Vec<Arc<ZoneIndex>>,
    /// Origin → index into `zones` (`Name`'s `Hash`/`Eq` ignore letter case): finding a name's
    /// zone costs one probe per label instead of a comparison with every zone.
    by_origin: Arc<HashMap<Name, usize>>,
    /// TSIG keys that may sign transfer requests.
    tsig: TsigKeys,
}

/// One zone, indexed: the records stay in the (shared) [`Zone`], and the index lists their
/// positions sorted by owner and type, so that each name's records, and within them each RRset,
/// are one contiguous run. (A map of names to per-type vectors held every record a second time and
/// cost ~1 KB per RRset in vector slack: most of the memory of a hosting provider's 100,000 zones.)
#[derive(Debug)]
struct ZoneIndex {
    /// The zone the records (and origin, and transfer rules) are read from.
    zone: Arc<Zone>,
    /// The records signing added (RRSIG, NSEC, DNSKEY…); empty for an unsigned zone. Position
    /// `zone.records().len() + i` is `signed[i]`.
    signed: Vec<Record>,
    /// Every record's position, grouped by owner name, and by type number within a name.
    sorted: Vec<u32>,
    /// Every name that exists in the zone, including empty non-terminals (an empty range), with
    /// where its records are in `sorted`. `Name`'s `Hash`/`Eq` ignore letter case.
    nodes: HashMap<Name, Range<u32>>,
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
        Authority::signed_reusing(zones, signed, None)
    }

    /// As [`Authority::signed`], keeping the index of every unsigned zone that `earlier` indexed
    /// from the very same [`Zone`] (one a reload took over unchanged).
    pub fn signed_reusing(
        zones: &ZoneSet,
        signed: &HashMap<Name, Vec<Record>>,
        earlier: Option<&Authority>,
    ) -> Authority {
        // Zones are kept longest origin first (a stable order): when the origins are those of
        // `earlier`, in the same order, each zone's earlier index is at the same position and
        // the origin map is the same. Otherwise they are looked up by origin.
        let mut order: Vec<&Arc<Zone>> = zones.zones().iter().collect();
        order.sort_by_key(|z| std::cmp::Reverse(z.origin.num_labels()));
        let aligned = earlier.filter(|e| {
            e.zones.len() == order.len()
                && e.zones
                    .iter()
                    .zip(&order)
                    .all(|(index, z)| Arc::ptr_eq(&index.zone, z) || index.origin() == &z.origin)
        });
        let kept = |k: usize, z: &Arc<Zone>| -> Option<Arc<ZoneIndex>> {
            let index = match (aligned, earlier) {
                (Some(e), _) => &e.zones[k],
                (None, Some(e)) => &e.zones[*e.by_origin.get(&z.origin)?],
                (None, None) => return None,
            };
            (Arc::ptr_eq(&index.zone, z)
                && index.signed.is_empty()
                && !signed.contains_key(&z.origin))
            .then(|| Arc::clone(index))
        };
        // Each zone is indexed on its own: in parallel, collected in order.
        let zones: Vec<Arc<ZoneIndex>> = order
            .par_iter()
            .enumerate()
            .map(|(k, z)| {
                kept(k, z).unwrap_or_else(|| {
                    Arc::new(ZoneIndex::new(
                        Arc::clone(z),
                        signed.get(&z.origin).cloned().unwrap_or_default(),
                    ))
                })
            })
            .collect();
        let by_origin = match aligned {
            Some(e) => Arc::clone(&e.by_origin),
            None => Arc::new(
                zones
                    .iter()
                    .enumerate()
                    .map(|(i, z)| (z.origin().clone(), i))
                    .collect(),
            ),
        };
        Authority {
            zones,
            by_origin,
            tsig: TsigKeys::default(),
        }
    }

    /// How many zones' indexes are shared with `other` (taken over by a reload).
    pub fn shared_with(&self, other: &Authority) -> usize {
        if Arc::ptr_eq(&self.by_origin, &other.by_origin) {
            // The same origins at the same positions.
            return self
                .zones
                .iter()
                .zip(&other.zones)
                .filter(|(a, b)| Arc::ptr_eq(a, b))
                .count();
        }
        self.zones
            .iter()
            .filter(|z| {
                other
                    .by_origin
                    .get(z.origin())
                    .is_some_and(|&i| Arc::ptr_eq(z, &other.zones[i]))
            })
            .count()
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

    /// Number of zones served.
    pub fn zone_count(&self) -> usize {
        self.zones.len()
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
                let Some(RData::CNAME(target)) = cname.first().map(|r| &r.data) else {
                    break;
                };
                // Follow the alias only inside the same zone, like Knot and NSD: data from another
                // zone is out of bailiwick and resolvers would discard it anyway.
                if !zone.origin().zone_of(&target.0) {
                    return answer;
                }
                name = target.0.clone();
                continue;
            }
            let found: Option<Vec<Record>> = match qtype {
                // RFC 8482: answer ANY with one RRset rather than everything.
                RecordType::ANY => node.first_rrset().map(RrSet::to_vec),
                // Likewise RRSIG, like Knot: the signatures of the RRset with the lowest type.
                RecordType::RRSIG => {
                    let set = first_signature_set(node);
                    (!set.is_empty()).then_some(set)
                }
                t => node.get(t).map(RrSet::to_vec),
            };
            match found {
                Some(rrset) => {
                    let first_type = rrset.first().map(Record::record_type);
                    answer.answers.extend(rrset);
                    if dnssec && let Some(t) = first_type {
                        push_signatures(node, t, &mut answer.answers);
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
        let zone = self.zones.iter().find(|z| z.origin() == origin)?;
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        if !zone.zone.axfr.iter().any(|rule| rule.allows(peer, key)) {
            return None;
        }
        // Zone-file order, a signed zone's DNSSEC records last.
        let mut out = Vec::with_capacity(zone.sorted.len() + 1);
        out.extend(zone.zone.records().chain(&zone.signed).cloned());
        out.push(zone.zone.soa().clone());
        Some(out)
    }
}

impl ZoneIndex {
    fn new(zone: Arc<Zone>, signed: Vec<Record>) -> ZoneIndex {
        let in_file_order: Vec<&Record> = zone.records().chain(&signed).collect();
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
        let mut sorted: Vec<u32> = (0..in_file_order.len() as u32).collect();
        sorted.sort_by_key(|&i| (owners[i as usize], in_file_order[i as usize].record_type()));

        let mut nodes: HashMap<Name, Range<u32>> = HashMap::with_capacity(owner_of.len() + 4);
        let mut start = 0;
        while start < sorted.len() {
            let owner = owners[sorted[start] as usize];
            let end = start
                + sorted[start..]
                    .iter()
                    .take_while(|&&i| owners[i as usize] == owner)
                    .count();
            let name = &in_file_order[sorted[start] as usize].name;
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
        let mut nsec_owners: Vec<Name> = signed
            .iter()
            .filter(|r| r.record_type() == RecordType::NSEC)
            .map(|r| r.name.to_lowercase())
            .collect();
        nsec_owners.sort();
        nsec_owners.shrink_to_fit();
        ZoneIndex {
            zone,
            signed,
            sorted,
            nodes,
            nsec_owners,
        }
    }

    /// The zone's apex.
    fn origin(&self) -> &Name {
        &self.zone.origin
    }

    /// The record at position `at` (see [`ZoneIndex::signed`]).
    fn record(&self, at: u32) -> &Record {
        let own = self.zone.record_slice();
        let at = at as usize;
        match own.get(at) {
            Some(r) => r,
            None => &self.signed[at - own.len()],
        }
    }

    /// The records of the name whose records are at `span`.
    fn node(&self, span: &Range<u32>) -> Node<'_> {
        Node {
            zone: self,
            at: &self.sorted[span.start as usize..span.end as usize],
        }
    }

    fn is_signed(&self) -> bool {
        !self.nsec_owners.is_empty()
    }

    /// The SOA for a negative answer, with the TTL RFC 2308 §3 asks for: min(SOA TTL, MINIMUM),
    /// followed by its RRSIG (at the same TTL) when `dnssec`.
    fn push_negative_soa(&self, out: &mut Vec<Record>, dnssec: bool) {
        let apex_soa = self.zone.soa();
        let RData::SOA(s) = &apex_soa.data else {
            return;
        };
        let ttl = apex_soa.ttl.min(s.minimum);
        let mut soa = apex_soa.clone();
        soa.ttl = ttl;
        out.push(soa);
        if dnssec && let Some(apex) = self.nodes.get(self.origin()).map(|span| self.node(span)) {
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
        while !self.nodes.contains_key(&encloser) && encloser != *self.origin() {
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

/// The records of one name, by type number (positions into its zone).
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    zone: &'a ZoneIndex,
    at: &'a [u32],
}

/// One RRset of a [`Node`].
#[derive(Debug, Clone, Copy)]
struct RrSet<'a> {
    zone: &'a ZoneIndex,
    at: &'a [u32],
}

impl<'a> RrSet<'a> {
    /// Its records, in configured order.
    fn iter(self) -> impl Iterator<Item = &'a Record> + 'a {
        self.at.iter().map(move |&i| self.zone.record(i))
    }

    /// Its first record (an RRset is never empty).
    fn first(self) -> Option<&'a Record> {
        self.at.first().map(|&i| self.zone.record(i))
    }

    /// Its records, copied.
    fn to_vec(self) -> Vec<Record> {
        self.iter().cloned().collect()
    }
}

impl<'a> Node<'a> {
    fn rtype(self, i: usize) -> RecordType {
        self.zone.record(self.at[i]).record_type()
    }

    /// The RRset of type `rtype`, if the name has one.
    fn get(self, rtype: RecordType) -> Option<RrSet<'a>> {
        let start = (0..self.at.len()).find(|&i| self.rtype(i) == rtype)?;
        let len = (start..self.at.len())
            .take_while(|&i| self.rtype(i) == rtype)
            .count();
        Some(RrSet {
            zone: self.zone,
            at: &self.at[start..start + len],
        })
    }

    /// The RRset with the lowest type number.
    fn first_rrset(self) -> Option<RrSet<'a>> {
        (!self.at.is_empty())
            .then(|| self.get(self.rtype(0)))
            .flatten()
    }

    /// The types present, each once, lowest first.
    fn types(self) -> impl Iterator<Item = RecordType> + 'a {
        (0..self.at.len())
            .filter(move |&i| i == 0 || self.rtype(i - 1) != self.rtype(i))
            .map(move |i| self.rtype(i))
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
