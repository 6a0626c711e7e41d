//! Every zone's records, derived from the model by pure functions.
//!
//! A [`ZoneSet`] is what the DNS server answers from and what `mailbeacon records` prints, so the
//! two cannot disagree. [`check`] runs the same derivation and reports what would make a zone
//! inconsistent (a CNAME beside other data, an MX pointing at a CNAME, …); validation refuses a
//! configuration with any such issue, so [`ZoneSet::derive`] only ever sees consistent models.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::model::{
    DavUrl, DnssecAlgorithm, Domain, Model, NotifyTarget, Protocol, Security, TransferRule,
};
use crate::name;
use crate::serial::SerialBook;

/// The zones of every served domain (primaries and aliases), in configuration order.
///
/// Zones are shared (`Arc`): the DNS server indexes them without copying their records, and a
/// reload hands unchanged zones over from the previous set instead of deriving them again.
#[derive(Debug, Clone, Default)]
pub struct ZoneSet {
    zones: Vec<Arc<Zone>>,
}

/// Each zone's SOA serial by origin: what a server keeps of the zones it served, to tell at the
/// next reload which zones changed (and need a NOTIFY) without keeping their records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneSerials(HashMap<Name, u32>);

impl ZoneSerials {
    /// The serial of the zone with apex `origin`, if there was one.
    pub fn get(&self, origin: &Name) -> Option<u32> {
        self.0.get(origin).copied()
    }
}

/// One zone: its origin, its records in commented groups, and who may transfer it.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex (lower case, absolute).
    pub origin: Name,
    /// Every record, SOA first, group after group.
    records: Vec<Record>,
    /// The groups `records` is made of: what each is for, and where it ends in `records`.
    groups: Vec<(Cow<'static, str>, u32)>,
    /// Who may AXFR (any rule that matches allows).
    pub axfr: Vec<TransferRule>,
    /// Secondaries to send a NOTIFY when the zone's serial changes.
    pub notify: Vec<NotifyTarget>,
    /// How the zone is signed (`None`: unsigned); signing itself happens in the DNS server.
    pub dnssec: Option<DnssecAlgorithm>,
    content_hash: String,
    /// Every record's uncompressed wire size, summed: no RRset can be larger, so a zone below
    /// [`MAX_RRSET_OCTETS`] needs no per-RRset count.
    wire_octets: usize,
    /// Whether the zone holds a CNAME (most hold none: whole-set CNAME rules skip them).
    has_cname: bool,
}

/// Records published for one purpose, with the comment printed above them (while a zone is
/// being derived).
struct RecordGroup {
    comment: Cow<'static, str>,
    records: Vec<Record>,
}

/// A problem in a derived zone, reported against the domain's configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneIssue {
    /// The domain whose zone it is.
    pub domain: Name,
    /// The configuration key responsible (`records`, `mx`, `name_servers`, `name`, …).
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ZoneSet {
    /// Derives every zone; serials are 0 until [`ZoneSet::assign_serials`].
    pub fn derive(model: &Model) -> ZoneSet {
        // Zones are independent of each other: derived in parallel, collected in order.
        let zones = model
            .domains
            .par_iter()
            .map(|d| Arc::new(derive_zone(model, d, &mut Vec::new())))
            .collect();
        ZoneSet { zones }
    }

    /// The zones in configuration order.
    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }

    /// The zone with apex `origin`.
    pub fn get(&self, origin: &Name) -> Option<&Zone> {
        self.zones
            .iter()
            .find(|z| &z.origin == origin)
            .map(|z| &**z)
    }

    /// Each zone's serial, by origin.
    pub fn serials(&self) -> ZoneSerials {
        ZoneSerials(
            self.zones
                .iter()
                .map(|z| (z.origin.clone(), z.serial()))
                .collect(),
        )
    }

    /// Mixes `extra(zone)` (when it returns something) into each zone's content hash: content
    /// that is served but not derived here, such as DNSSEC signatures, so that the serial moves
    /// when it does. Call before [`ZoneSet::assign_serials`].
    pub fn stamp_content(&mut self, extra: impl Fn(&Zone) -> Option<String>) {
        for z in &mut self.zones {
            if let Some(extra) = extra(z) {
                let z = Arc::make_mut(z);
                let mut h = Sha256::new();
                h.update(z.content_hash.as_bytes());
                h.update(b"\n");
                h.update(extra.as_bytes());
                z.content_hash = h
                    .finalize()
                    .iter()
                    .take(16)
                    .map(|b| format!("{b:02x}"))
                    .collect();
            }
        }
    }

    /// Sets each zone's SOA serial from `book`, which remembers the last serial and content hash
    /// of every zone: unchanged content keeps its serial, changed content gets a new, larger one.
    pub fn assign_serials(&mut self, book: &mut SerialBook, now: u32) {
        for z in &mut self.zones {
            let serial = book.serial_for(&name::display(&z.origin), &z.content_hash, now);
            // A zone taken over from the previous set usually keeps its serial: not copied.
            if z.serial() != serial {
                Arc::make_mut(z).set_serial(serial);
            }
        }
    }
}

impl Zone {
    /// Every record, SOA first.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.iter()
    }

    /// Every record, SOA first, as one slice.
    pub fn record_slice(&self) -> &[Record] {
        &self.records
    }

    /// The records in groups by purpose, each with the comment that says what it is for; the
    /// first group holds the SOA alone.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &[Record])> {
        let mut start = 0usize;
        self.groups.iter().map(move |(comment, end)| {
            let end = *end as usize;
            let records = &self.records[start..end];
            start = end;
            (comment.as_ref(), records)
        })
    }

    /// The SOA record.
    pub fn soa(&self) -> &Record {
        &self.records[0]
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        match &self.soa().data {
            RData::SOA(s) => s.serial,
            _ => 0,
        }
    }

    /// A hash of the zone's content, SOA serial excluded.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    fn set_serial(&mut self, serial: u32) {
        if let RData::SOA(s) = &mut self.records[0].data {
            s.serial = serial;
        }
    }
}

/// Runs the derivation and returns every inconsistency it finds.
pub fn check(model: &Model) -> Vec<ZoneIssue> {
    derive_checked(model).1
}

/// Derives every zone and checks them in one pass: the zones (serials 0) and the issues found.
pub fn derive_checked(model: &Model) -> (ZoneSet, Vec<ZoneIssue>) {
    derive_checked_reusing(model, None)
}

/// A configuration being served and its zones (as served, with their serials): a new
/// derivation takes over the zones whose inputs did not change.
#[derive(Debug, Clone, Copy)]
pub struct Earlier<'a> {
    /// The configuration served.
    pub model: &'a Model,
    /// Its zones, in the order of `model.domains`.
    pub zones: &'a ZoneSet,
    /// The `[[domain]]` entries that became `model` (from [`crate::Checked::entries`]), so that
    /// unchanged entries are not validated again; `None`: every entry is.
    pub entries: Option<&'a crate::validate::DomainEntries>,
}

/// As [`derive_checked`], taking over from `earlier` every zone whose domain and shared inputs
/// (this box's addresses, services, `[hosts]`) are unchanged: such a zone keeps its records, its
/// serial and, in the DNS server, its index. Signed zones are always derived again (their
/// content hash carries the signing period). Whole-set rules (CNAME targets and loops) are
/// checked over every zone either way.
pub fn derive_checked_reusing(
    model: &Model,
    earlier: Option<Earlier<'_>>,
) -> (ZoneSet, Vec<ZoneIssue>) {
    let earlier = earlier.filter(|e| {
        e.model.domains.len() == e.zones.zones.len() && same_shared_inputs(e.model, model)
    });
    let unchanged = earlier.map(|e| model.unchanged_since(e.model));
    // Zones are independent of each other: derived in parallel, collected (with each one's
    // issues) in configuration order.
    let derived: Vec<(Arc<Zone>, Vec<ZoneIssue>)> = model
        .domains
        .par_iter()
        .enumerate()
        .map(|(i, d)| {
            if d.dns.dnssec.is_none() {
                let reused = earlier.zip(unchanged.as_ref()).and_then(|(e, unchanged)| {
                    let j = unchanged[i]?;
                    e.zones.zones.get(j)
                });
                if let Some(zone) = reused {
                    // It passed every check when it was derived.
                    return (Arc::clone(zone), Vec::new());
                }
            }
            let mut issues = Vec::new();
            let zone = derive_zone(model, d, &mut issues);
            (Arc::new(zone), issues)
        })
        .collect();
    let mut issues = Vec::new();
    let zones: Vec<Arc<Zone>> = derived
        .into_iter()
        .map(|(zone, mut found)| {
            issues.append(&mut found);
            zone
        })
        .collect();
    // Targets of MX, SRV and NS must not be aliases (RFC 2181 §10.3, RFC 2782): check against the
    // CNAMEs of every zone served here.
    let cnames: HashSet<&Name> = zones
        .iter()
        .filter(|z| z.has_cname)
        .flat_map(|z| z.records())
        .filter(|r| r.record_type() == RecordType::CNAME)
        .map(|r| &r.name)
        .collect();
    // CNAME chains among the served zones must end: a loop answers every query with a chain
    // that resolvers give up on (SERVFAIL).
    let targets: HashMap<&Name, &Name> = zones
        .iter()
        .filter(|z| z.has_cname)
        .flat_map(|z| z.records())
        .filter_map(|r| match &r.data {
            RData::CNAME(c) => Some((&r.name, &c.0)),
            _ => None,
        })
        .collect();
    for (z, d) in zones.iter().zip(&model.domains) {
        if !z.has_cname {
            continue;
        }
        for r in z.records() {
            let RData::CNAME(_) = &r.data else { continue };
            let mut at = &r.name;
            let mut seen = vec![at];
            while let Some(next) = targets.get(at) {
                if seen.contains(next) {
                    // Reported once, from the loop's smallest name (chains into it need no word).
                    let in_loop = *next == seen[0];
                    if !in_loop || seen.iter().any(|n| *n < seen[0]) {
                        break;
                    }
                    issues.push(ZoneIssue {
                        domain: d.name.clone(),
                        key: "records",
                        message: format!(
                            "CNAME loop: {} → {}; a chain of aliases must end at a name with data",
                            seen.iter()
                                .map(|n| name::display(n))
                                .collect::<Vec<_>>()
                                .join(" → "),
                            name::display(next)
                        ),
                    });
                    break;
                }
                seen.push(next);
                at = next;
            }
        }
    }
    for (z, d) in zones.iter().zip(&model.domains) {
        let oversized = if z.wire_octets > MAX_RRSET_OCTETS {
            oversized_rrsets(z, d)
        } else {
            Vec::new()
        };
        for (owner, rtype, size, from_extra) in oversized {
            let key = match (from_extra, rtype) {
                (true, _) => "records",
                (false, RecordType::TXT) if owner == z.origin => "spf",
                (false, RecordType::TXT) if owner.iter().any(|l| l == b"_domainkey") => "dkim",
                (false, RecordType::TXT) if owner.iter().next() == Some(b"_dmarc") => "dmarc",
                _ => "name",
            };
            issues.push(ZoneIssue {
                domain: d.name.clone(),
                key,
                message: format!(
                    "the {rtype} records of {} take {size} octets; a DNS message holds at most \
                     {MAX_RRSET_OCTETS} for one answer (RFC 1035 §4.2.2's 65535 less room for the \
                     header, question and EDNS): shorten them",
                    name::display(&owner)
                ),
            });
        }
        if cnames.is_empty() {
            continue;
        }
        for r in z.records() {
            let (target, what, key) = match &r.data {
                RData::MX(mx) => (&mx.exchange, "MX", "mx"),
                RData::SRV(srv) => (
                    &srv.target,
                    "SRV",
                    if r.name.iter().next() == Some(b"_autodiscover") {
                        "autodiscover_srv"
                    } else {
                        "services"
                    },
                ),
                RData::NS(ns) => (&ns.0, "NS", "name_servers"),
                _ => continue,
            };
            if cnames.contains(target) {
                let key = if d.dns.extra.contains(r) {
                    "records"
                } else {
                    key
                };
                issues.push(ZoneIssue {
                    domain: d.name.clone(),
                    key,
                    message: format!(
                        "{what} target {} is a CNAME; {what} records must point at a name with addresses",
                        name::display(target)
                    ),
                });
            }
        }
    }
    (ZoneSet { zones }, issues)
}

/// The most octets one RRset may take on the wire: a TCP message is at most 65535 octets, and the
/// header, the question (a name of up to 255 octets) and an OPT record need their room.
const MAX_RRSET_OCTETS: usize = 65_535 - 12 - 259 - 11 - 512;

/// RRsets too large for one DNS message: (owner, type, octets, whether they come from `records`).
fn oversized_rrsets(z: &Zone, d: &Domain) -> Vec<(Name, RecordType, usize, bool)> {
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
    let mut sizes: BTreeMap<(Name, RecordType), (usize, bool)> = BTreeMap::new();
    for r in z.records() {
        let mut buf = Vec::new();
        let mut enc = BinEncoder::new(&mut buf);
        enc.set_name_encoding(NameEncoding::Uncompressed);
        // Owner (uncompressed, the worst case), type, class, TTL, RDLENGTH, then the RDATA.
        let rdata = match (r.data.emit(&mut enc), &r.data) {
            (Ok(()), _) => buf.len(),
            // Too long to encode at all: count its character strings instead.
            (Err(_), RData::TXT(t)) => t.txt_data.iter().map(|s| s.len() + 1).sum(),
            (Err(_), _) => 65_536,
        };
        let entry = sizes
            .entry((r.name.clone(), r.record_type()))
            .or_insert((0, false));
        entry.0 += r.name.len() + 10 + rdata;
        entry.1 |= d.dns.extra.contains(r);
    }
    sizes
        .into_iter()
        .filter(|(_, (size, _))| *size > MAX_RRSET_OCTETS)
        .map(|((n, t), (size, extra))| (n, t, size, extra))
        .collect()
}

/// Whether the parts of the configuration every zone is derived from (beside its own domain)
/// are the same in `a` and `b`.
fn same_shared_inputs(a: &Model, b: &Model) -> bool {
    a.server.cname == b.server.cname
        && a.server.ipv4 == b.server.ipv4
        && a.server.ipv6 == b.server.ipv6
        && a.services == b.services
        && a.hosts == b.hosts
}

/// `[hosts]` expanded for `d`: host → addresses (the first entry naming a host wins). Each zone
/// takes addresses only from its own domain's expansion, so that it depends on nothing but its
/// domain and the shared sections.
fn host_addresses(model: &Model, d: &Domain) -> HashMap<Name, Vec<IpAddr>> {
    let mut map: HashMap<Name, Vec<IpAddr>> = HashMap::new();
    for h in &model.hosts {
        if let Ok(n) = h.name.expand_name(d.template_domain()) {
            map.entry(n).or_insert_with(|| h.addresses.clone());
        }
    }
    map
}

fn derive_zone(model: &Model, d: &Domain, issues: &mut Vec<ZoneIssue>) -> Zone {
    let z = &d.name;
    let ttl = d.dns.ttl;
    let mut issue = |key: &'static str, message: String| {
        issues.push(ZoneIssue {
            domain: z.clone(),
            key,
            message,
        })
    };
    let mut groups = Vec::new();
    let rec = |owner: &Name, data: RData| Record::from_rdata(owner.clone(), ttl, data);

    let soa = &d.dns.soa;
    let mname = d
        .dns
        .name_servers
        .first()
        .cloned()
        .unwrap_or_else(|| name::child(z, "ns1"));
    groups.push(group(
        "Start of authority. The serial changes exactly when the zone's content does.",
        vec![rec(
            z,
            RData::SOA(SOA::new(
                mname,
                soa.contact.clone(),
                0,
                to_i32(soa.refresh),
                to_i32(soa.retry),
                to_i32(soa.expire),
                soa.minimum,
            )),
        )],
    ));
    groups.push(group(
        "Name servers of the zone.",
        d.dns
            .name_servers
            .iter()
            .map(|n| rec(z, RData::NS(NS(n.clone()))))
            .collect(),
    ));
    if !d.dns.mx.is_empty() {
        groups.push(group(
            "Mail exchangers (lowest preference first; more than one means a backup MX).",
            d.dns
                .mx
                .iter()
                .map(|m| rec(z, RData::MX(MX::new(m.priority, m.host.clone()))))
                .collect(),
        ));
    }

    // The names this box answers HTTP(S) for.
    let helpers = [
        (
            d.features.autoconfig,
            "autoconfig",
            "Thunderbird autoconfig: http(s)://autoconfig.<domain>/mail/config-v1.1.xml.",
        ),
        (
            d.features.autodiscover,
            "autodiscover",
            "Outlook Autodiscover: https://autodiscover.<domain>/autodiscover/autodiscover.xml.",
        ),
        (
            d.dns.mta_sts.is_some(),
            "mta-sts",
            "MTA-STS policy host: https://mta-sts.<domain>/.well-known/mta-sts.txt.",
        ),
    ];
    for (on, label, comment) in helpers {
        if !on {
            continue;
        }
        let owner = name::child(z, label);
        let records = helper_records(model, &owner, ttl);
        if records.is_empty() {
            issue(
                "name",
                format!(
                    "{} needs an address: set [server] ipv4/ipv6 (this box's addresses) or cname",
                    name::display(&owner)
                ),
            );
        }
        groups.push(group(comment, records));
    }

    let services: Vec<_> = d.services.iter().map(|&i| &model.services[i]).collect();
    if d.features.srv {
        groups.push(group(
            "RFC 6186/8314 service records: where clients find IMAP, POP3 and submission.\n\
             Priorities follow the configured order; a \".\" target means \"not offered here\".",
            mail_srv_records(d, &services, ttl),
        ));
    }
    if d.features.autodiscover {
        let p = &d.dns.autodiscover_srv;
        // The SRV target must not be an alias, so with a CNAME'd autodiscover name point at its target.
        let target = p
            .target
            .clone()
            .or_else(|| model.server.cname.clone())
            .unwrap_or_else(|| name::child(z, "autodiscover"));
        groups.push(group(
            "Outlook's fallback when autodiscover.<domain> does not answer.",
            vec![rec(
                &name::child(z, "_autodiscover._tcp"),
                RData::SRV(SRV::new(p.priority, p.weight, p.port, target)),
            )],
        ));
    }
    for (kind, pick) in [("caldav", 0usize), ("carddav", 1)] {
        let dav = services
            .iter()
            .find_map(|s| {
                if pick == 0 {
                    s.caldav.as_deref()
                } else {
                    s.carddav.as_deref()
                }
            })
            .and_then(|u| DavUrl::parse(&crate::placeholder::expand(u, d.template_domain())));
        let Some(dav) = dav else { continue };
        let label = if dav.https {
            format!("_{kind}s._tcp")
        } else {
            format!("_{kind}._tcp")
        };
        let owner = name::child(z, &label);
        let mut records = Vec::new();
        if let Ok(target) = name::parse_hostname(&dav.host) {
            records.push(rec(&owner, RData::SRV(SRV::new(0, 1, dav.port, target))));
            records.push(rec(&owner, txt(&format!("path={}", dav.path))));
        }
        groups.push(group(
            if pick == 0 {
                "RFC 6764 CalDAV discovery."
            } else {
                "RFC 6764 CardDAV discovery."
            },
            records,
        ));
    }
    if let Some(spf) = &d.dns.spf {
        groups.push(group(
            "SPF: who may send mail for the domain.",
            vec![rec(z, txt(spf))],
        ));
    }
    if let Some(dmarc) = &d.dns.dmarc {
        groups.push(group(
            "DMARC policy.",
            vec![rec(&name::child(z, "_dmarc"), txt(dmarc))],
        ));
    }
    if !d.dns.dkim.is_empty() {
        let records = d
            .dns
            .dkim
            .iter()
            .filter_map(|k| {
                let owner = name::child(z, "_domainkey");
                let owner = k.selector.clone().append_domain(&owner).ok()?;
                Some(rec(&owner, txt(&k.value)))
            })
            .collect();
        groups.push(group("DKIM public keys.", records));
    }
    if let Some(policy) = &d.dns.mta_sts {
        groups.push(group(
            "MTA-STS: the id is a hash of the served policy, so it changes exactly when the policy does.",
            vec![rec(&name::child(z, "_mta-sts"), txt(&policy.txt_record()))],
        ));
    }
    if !d.dns.tls_rpt.is_empty() {
        let text = format!("v=TLSRPTv1; rua={}", d.dns.tls_rpt.join(","));
        groups.push(group(
            "SMTP TLS reporting (RFC 8460).",
            vec![rec(&name::child(z, "_smtp._tls"), txt(&text))],
        ));
    }
    if !d.dns.caa.is_empty() {
        groups.push(group(
            "CAA: which certificate authorities may issue for the domain.",
            d.dns
                .caa
                .iter()
                .map(|c| rec(z, RData::CAA(c.clone())))
                .collect(),
        ));
    }

    let extra = &d.dns.extra;
    check_extra(z, &groups, extra, d, &mut issue);

    // Host names inside the zone that generated records point at need addresses.
    let mut defined: HashSet<Name> = groups
        .iter()
        .flat_map(|g| &g.records)
        .chain(extra)
        .filter(|r| {
            matches!(
                r.record_type(),
                RecordType::A | RecordType::AAAA | RecordType::CNAME
            )
        })
        .map(|r| r.name.clone())
        .collect();
    let mut wanted: Vec<(Name, &'static str)> = Vec::new();
    for r in groups.iter().flat_map(|g| &g.records) {
        match &r.data {
            RData::NS(n) => wanted.push((n.0.clone(), "name_servers")),
            RData::MX(m) => wanted.push((m.exchange.clone(), "mx")),
            RData::SRV(s) => wanted.push((s.target.clone(), "services")),
            _ => {}
        }
    }
    for s in &services {
        for e in s.incoming.iter().chain(&s.outgoing) {
            if let Ok(n) = e.host.expand_name(d.template_domain()) {
                wanted.push((n, "services"));
            }
        }
    }
    let hosts = if wanted.is_empty() {
        HashMap::new()
    } else {
        host_addresses(model, d)
    };
    let mut host_records = Vec::new();
    for (host, key) in wanted {
        if !z.zone_of(&host)
            || host == *z && defined.contains(&host)
            || defined.contains(&host)
            || host.is_root()
        {
            continue;
        }
        let addresses = hosts
            .get(&host)
            .cloned()
            .unwrap_or_else(|| model.server.addresses());
        if addresses.is_empty() {
            issue(
                key,
                format!(
                    "{} is inside the zone but has no address: add it to [hosts], to `records`, or give [server] addresses",
                    name::display(&host)
                ),
            );
            defined.insert(host);
            continue;
        }
        for ip in addresses {
            host_records.push(rec(&host, address(ip)));
        }
        defined.insert(host);
    }
    if !host_records.is_empty() {
        groups.push(group(
            "Addresses of mail hosts inside the zone ([hosts], else this box's addresses).",
            host_records,
        ));
    }
    if !d.dns.tlsa.is_empty() {
        groups.push(group(
            "DANE (RFC 7672): TLSA 3 1 1 of the mail hosts' certificates (`tlsa`).",
            d.dns.tlsa.clone(),
        ));
    }
    if !extra.is_empty() {
        let mut extra = extra.clone();
        extra.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(u16::from(a.record_type()).cmp(&u16::from(b.record_type())))
        });
        groups.push(group(
            "Extra records from the configuration (`records`).",
            extra,
        ));
    }
    for g in &mut groups {
        g.records.dedup();
    }
    groups.retain(|g| !g.records.is_empty());
    let (content_hash, wire_octets) =
        crate::fingerprint::fingerprint(z, groups.iter().flat_map(|g| &g.records));
    let mut records = Vec::with_capacity(groups.iter().map(|g| g.records.len()).sum());
    let mut spans = Vec::with_capacity(groups.len());
    for g in groups {
        records.extend(g.records);
        spans.push((g.comment, records.len() as u32));
    }
    Zone {
        has_cname: records.iter().any(|r| r.record_type() == RecordType::CNAME),
        origin: z.clone(),
        records,
        groups: spans,
        axfr: d.dns.axfr.clone(),
        notify: d.dns.notify.clone(),
        dnssec: d.dns.dnssec,
        content_hash,
        wire_octets,
    }
}

fn group(comment: &'static str, records: Vec<Record>) -> RecordGroup {
    RecordGroup {
        comment: Cow::Borrowed(comment),
        records,
    }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn address(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

/// A TXT record, split into 255-octet character strings (DKIM keys are longer than one).
fn txt(text: &str) -> RData {
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(255).collect();
    RData::TXT(TXT::from_bytes(chunks))
}

fn helper_records(model: &Model, owner: &Name, ttl: u32) -> Vec<Record> {
    if let Some(target) = &model.server.cname {
        return vec![Record::from_rdata(
            owner.clone(),
            ttl,
            RData::CNAME(CNAME(target.clone())),
        )];
    }
    model
        .server
        .addresses()
        .into_iter()
        .map(|ip| Record::from_rdata(owner.clone(), ttl, address(ip)))
        .collect()
}

/// `_imap(s)`, `_pop3(s)`, `_submission(s)` SRV records. The priority of an endpoint is its index
/// among the incoming (or outgoing) servers, so clients comparing `_imaps` with `_imap` (RFC 6186
/// §3.4, RFC 8314 §5.1) and IMAP with POP3 pick what the configuration lists first.
fn mail_srv_records(d: &Domain, services: &[&crate::model::Service], ttl: u32) -> Vec<Record> {
    let incoming: Vec<_> = services.iter().flat_map(|s| &s.incoming).collect();
    let outgoing: Vec<_> = services.iter().flat_map(|s| &s.outgoing).collect();
    let labels = [
        ("_imap._tcp", Protocol::Imap, false),
        ("_imaps._tcp", Protocol::Imap, true),
        ("_pop3._tcp", Protocol::Pop3, false),
        ("_pop3s._tcp", Protocol::Pop3, true),
        ("_submission._tcp", Protocol::Smtp, false),
        ("_submissions._tcp", Protocol::Smtp, true),
    ];
    let mut out = Vec::new();
    for (label, protocol, implicit) in labels {
        let owner = name::child(&d.name, label);
        let list = if protocol == Protocol::Smtp {
            &outgoing
        } else {
            &incoming
        };
        let mut records = Vec::new();
        for (priority, e) in list.iter().enumerate() {
            if e.protocol != protocol || (e.security == Security::Tls) != implicit {
                continue;
            }
            let Ok(target) = e.host.expand_name(d.template_domain()) else {
                continue;
            };
            let priority = u16::try_from(priority).unwrap_or(u16::MAX);
            let srv = RData::SRV(SRV::new(priority, 1, e.port, target));
            let r = Record::from_rdata(owner.clone(), ttl, srv);
            if !records.contains(&r) {
                records.push(r);
            }
        }
        if records.is_empty() {
            records.push(Record::from_rdata(
                owner,
                ttl,
                RData::SRV(SRV::new(0, 0, 0, Name::root())),
            ));
        }
        out.extend(records);
    }
    out
}

/// Refuses extra records that would make the zone inconsistent.
fn check_extra(
    z: &Name,
    groups: &[RecordGroup],
    extra: &[Record],
    d: &Domain,
    issue: &mut impl FnMut(&'static str, String),
) {
    if extra.is_empty() {
        return;
    }
    let generated: BTreeSet<(String, u16)> = groups
        .iter()
        .flat_map(|g| &g.records)
        .map(|r| {
            (
                name::absolute(&r.name).to_ascii_lowercase(),
                u16::from(r.record_type()),
            )
        })
        .collect();
    let mut types: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for (n, t) in &generated {
        types.entry(n.clone()).or_default().insert(*t);
    }
    for r in extra {
        let owner = name::display(&r.name);
        let rt = r.record_type();
        if !z.zone_of(&r.name) {
            issue(
                "records",
                format!("{owner} is outside the zone {}", name::display(z)),
            );
            continue;
        }
        if r.name.is_wildcard() {
            issue(
                "records",
                format!(
                    "{owner}: wildcards are not served (they would answer for autoconfig names too)"
                ),
            );
            continue;
        }
        match rt {
            RecordType::SOA => {
                issue(
                    "records",
                    "SOA is generated; set `soa` and `name_servers` instead".into(),
                );
                continue;
            }
            RecordType::NS => {
                issue(
                    "records",
                    format!(
                        "{owner}: NS records are generated from `name_servers`; delegations are not supported"
                    ),
                );
                continue;
            }
            RecordType::DNAME => {
                issue("records", format!("{owner}: DNAME is not supported"));
                continue;
            }
            _ => {}
        }
        let key = (name::absolute(&r.name).to_ascii_lowercase(), u16::from(rt));
        let mergeable = matches!(rt, RecordType::TXT | RecordType::CAA);
        if generated.contains(&key) && !mergeable {
            issue(
                "records",
                format!(
                    "{owner} {rt} is generated by mailbeacon; remove it from `records` or switch the feature off"
                ),
            );
        }
        if rt == RecordType::TXT && r.name == *z && d.dns.spf.is_some() && is_spf(&r.data) {
            issue(
                "records",
                "a second SPF record (v=spf1) at the apex; keep it in `spf` only".into(),
            );
        }
        types.entry(key.0).or_default().insert(key.1);
    }
    // CNAME and other data at one name (RFC 1034 §3.6.2).
    for (owner, t) in &types {
        if t.contains(&u16::from(RecordType::CNAME)) && t.len() > 1 {
            issue(
                "records",
                format!(
                    "{} has a CNAME and other records; a CNAME must stand alone",
                    owner.trim_end_matches('.')
                ),
            );
        }
    }
    let apex_cname = extra
        .iter()
        .any(|r| r.name == *z && r.record_type() == RecordType::CNAME);
    if apex_cname {
        issue("records", "the zone apex cannot be a CNAME".into());
    }
}

fn is_spf(data: &RData) -> bool {
    match data {
        RData::TXT(t) => {
            let joined: Vec<u8> = t.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
            joined.len() >= 6 && joined[..6].eq_ignore_ascii_case(b"v=spf1")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(extra: &str) -> Model {
        let text = format!(
            r#"
[server]
ipv4 = ["192.0.2.1"]
[service.m]
incoming = [{{ protocol = "imap", host = "mail.{{domain}}", security = "starttls" }}, {{ protocol = "imap", host = "mail.{{domain}}" }}]
outgoing = [{{ host = "smtp.example.org" }}]
[[domain]]
name = "example.net"
aliases = ["alias.example"]
{extra}
"#
        );
        crate::load_str(&text, "t.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn lines(z: &Zone) -> Vec<String> {
        z.records()
            .map(|r| crate::zonefile::record_line(r, &z.origin))
            .collect()
    }

    #[test]
    fn srv_priorities_follow_configured_order_and_absent_services_are_dot() {
        let zones = ZoneSet::derive(&model(""));
        let l = lines(&zones.zones()[0]);
        assert!(
            l.contains(&"_imap._tcp\t3600\tIN\tSRV\t0 1 143 mail.example.net.".to_owned()),
            "{l:#?}"
        );
        assert!(l.contains(&"_imaps._tcp\t3600\tIN\tSRV\t1 1 993 mail.example.net.".to_owned()));
        assert!(l.contains(&"_pop3s._tcp\t3600\tIN\tSRV\t0 0 0 .".to_owned()));
        assert!(
            l.contains(&"_submissions._tcp\t3600\tIN\tSRV\t0 1 465 smtp.example.org.".to_owned())
        );
    }

    #[test]
    fn aliases_point_at_the_primary_servers_and_get_their_own_helpers() {
        let zones = ZoneSet::derive(&model("records = \"www A 192.0.2.80\""));
        let alias = zones
            .get(&Name::from_ascii("alias.example.").unwrap())
            .unwrap();
        let l = lines(alias);
        assert!(
            l.contains(&"_imap._tcp\t3600\tIN\tSRV\t0 1 143 mail.example.net.".to_owned()),
            "{l:#?}"
        );
        assert!(l.contains(&"autoconfig\t3600\tIN\tA\t192.0.2.1".to_owned()));
        assert!(
            l.contains(&"www\t3600\tIN\tA\t192.0.2.80".to_owned()),
            "extra records move to the alias zone"
        );
        // mail.example.net is out of the alias zone: no address record for it there.
        assert!(!l.iter().any(|x| x.starts_with("mail")));
    }

    #[test]
    fn long_txt_values_are_split_into_255_octet_strings() {
        let key = "p=".to_owned() + &"A".repeat(400);
        let m = model(&format!(
            "dkim = [{{ selector = \"s1\", value = \"v=DKIM1; k=rsa; {key}\" }}]"
        ));
        let zones = ZoneSet::derive(&m);
        let r = zones.zones()[0]
            .records()
            .find(|r| r.name.to_ascii() == "s1._domainkey.example.net.")
            .unwrap();
        let RData::TXT(t) = &r.data else { panic!() };
        assert_eq!(t.txt_data.len(), 2);
        assert_eq!(t.txt_data[0].len(), 255);
    }

    #[test]
    fn content_hash_ignores_serial_and_tracks_content() {
        let a = ZoneSet::derive(&model(""));
        let b = ZoneSet::derive(&model("spf = \"v=spf1 -all\""));
        assert_ne!(a.zones()[0].content_hash(), b.zones()[0].content_hash());
        let mut c = ZoneSet::derive(&model(""));
        c.assign_serials(&mut SerialBook::default(), 77);
        assert_eq!(c.zones()[0].serial(), 77);
        assert_eq!(a.zones()[0].content_hash(), c.zones()[0].content_hash());
    }

    #[test]
    fn null_mx_means_no_mta_sts_policy() {
        let m = model("mx = [\"0 .\"]");
        assert!(m.domains[0].dns.mta_sts.is_none());
        let l = lines(&ZoneSet::derive(&m).zones()[0]);
        assert!(l.contains(&"@\t3600\tIN\tMX\t0 .".to_owned()));
        assert!(
            !l.iter()
                .any(|x| x.starts_with("mta-sts") || x.starts_with("_mta-sts"))
        );
    }

    /// `model("")` with a second domain, `other.test`, configured by `other`.
    fn two_domains(other: &str) -> Model {
        model(&format!("[[domain]]\nname = \"other.test\"\n{other}"))
    }

    #[test]
    fn a_reload_takes_over_exactly_the_zones_whose_inputs_did_not_change() {
        let first = two_domains("");
        let (mut zones, issues) = derive_checked(&first);
        assert!(issues.is_empty(), "{issues:?}");
        zones.assign_serials(&mut SerialBook::default(), 1_000);
        let earlier = Earlier {
            model: &first,
            zones: &zones,
            entries: None,
        };
        let same = |a: &ZoneSet, b: &ZoneSet| -> Vec<bool> {
            a.zones()
                .iter()
                .zip(b.zones())
                .map(|(x, y)| Arc::ptr_eq(x, y))
                .collect()
        };

        // other.test changes: example.net and its alias are taken over, other.test is derived.
        let second = two_domains("spf = \"v=spf1 -all\"");
        let (again, issues) = derive_checked_reusing(&second, Some(earlier));
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(same(&zones, &again), [true, true, false]);
        assert_eq!(again.zones()[0].serial(), zones.zones()[0].serial());
        assert!(again.zones()[2].records().any(|r| {
            crate::zonefile::record_line(r, &again.zones()[2].origin).contains("v=spf1 -all")
        }));

        // Taken over or derived, the zones are the same as a derivation from scratch.
        let fresh = ZoneSet::derive(&second);
        for (a, b) in again.zones().iter().zip(fresh.zones()) {
            assert_eq!(a.content_hash(), b.content_hash());
            assert_eq!(lines(a)[1..], lines(b)[1..]);
        }

        // A shared input (this box's address) changes: nothing is taken over.
        let moved = Model {
            server: crate::model::Server {
                ipv4: vec!["192.0.2.99".parse().unwrap()],
                ..first.server.clone()
            },
            ..first.clone()
        };
        let (all_new, _) = derive_checked_reusing(&moved, Some(earlier));
        assert_eq!(same(&zones, &all_new), [false, false, false]);
    }

    #[test]
    fn signed_zones_are_always_derived_again() {
        let first = two_domains("dnssec = true");
        let zones = ZoneSet::derive(&first);
        let earlier = Earlier {
            model: &first,
            zones: &zones,
            entries: None,
        };
        let (again, _) = derive_checked_reusing(&first, Some(earlier));
        assert!(Arc::ptr_eq(&zones.zones()[0], &again.zones()[0]));
        assert!(!Arc::ptr_eq(&zones.zones()[2], &again.zones()[2]));
    }
}
