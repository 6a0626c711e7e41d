//! The UDP fast path: every answer the zones can give, precomputed as wire bytes.
//!
//! The zones change only on reload, so for every existing name and every commonly asked type the
//! general path ([`crate::responder`]) is run once, ahead of time, and its bytes are kept. A query
//! is then answered by parsing only its header and question, one hash lookup on the lower-cased
//! name and type, a copy, and three patches: the ID, the RD/CD flags, and the question name in the
//! client's letter case, plus the DO bit of our OPT record. Queries as recursive resolvers send them
//! (EDNS with the DO bit, a cookie, padding) take this path too: the zones are unsigned and the
//! general path ignores those options, so the answer is the same bytes. Anything unusual (other
//! opcodes, EDNS options the general path does parse — NSID, client subnet, DNSSEC algorithm lists —
//! compression in the question, a name we do not have, an answer larger than the client accepts) is
//! declined and goes to the general path, which produced these bytes in the first place, so both
//! paths agree.
//!
//! Small configurations are precomputed whole at start (the lab and benchmarks: every answer is
//! ready). Past [`EAGER_LIMIT`] (name, type) pairs — a hosting provider's thousands of zones — the
//! answers are built on first use instead and kept in a bounded cache ([`LAZY_CAPACITY`]), so that
//! memory and start-up follow the answers that are asked, not every answer that could be.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use crate::authority::Authority;
use crate::responder::{MAX_UDP_PAYLOAD, Transport, respond_general};

/// Types precomputed for every name, whether present (positive answer) or not (NODATA); types
/// actually present at a name are added to these.
const COMMON_TYPES: [RecordType; 12] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::NS,
    RecordType::SOA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::HTTPS,
    RecordType::SVCB,
    RecordType::ANY,
];

/// Beyond this many (name, type) pairs answers are built on first use, not at start.
pub const EAGER_LIMIT: usize = 20_000;
/// Fewest answers the on-first-use cache keeps (each encoding counts once).
pub const LAZY_CAPACITY: usize = 65_536;
/// Answers the on-first-use cache may keep per zone, past [`LAZY_CAPACITY`]: a zone's usual
/// questions (MX, TXT, an SRV, an address) stay cached when queries spread over every zone, at a
/// few hundred octets per zone, which is memory a name server spends per zone anyway. (With a
/// fixed 65,536, 200,000 zones asked evenly cost 1.3× NSD's CPU per query: most answers were
/// built, evicted and built again.)
pub const LAZY_PER_ZONE: usize = 4;
/// Independently locked parts of the cache, so that UDP workers rarely wait for each other.
const SHARDS: usize = 64;

/// Precomputed answers keyed on the lower-cased wire name followed by the big-endian type.
#[derive(Debug, Default)]
pub struct Prepared {
    map: HashMap<Box<[u8]>, Entry>,
    /// For large configurations: answers built on first use.
    lazy: Option<LazyCache>,
}

/// One independently locked part of the cache.
type Shard = hashbrown::HashTable<Cached>;

/// Answers built on first use: key (as in `map`) plus one octet (0: no EDNS, 1: EDNS) → the
/// canonical answer, or a mark that it cannot be used (truncated, or not a plain OPT).
#[derive(Debug)]
struct LazyCache {
    shards: Box<[std::sync::Mutex<Shard>]>,
    per_shard: usize,
    hasher: std::hash::RandomState,
}

/// One answer of the on-first-use cache. Key and answer share one allocation and the table
/// keeps the hash beside it, so that a lookup hashes the key once (for the shard and the table
/// alike) and reads one block of memory past the table: with thousands of zones these are cache
/// misses, and each was a visible part of a query's cost.
#[derive(Debug)]
struct Cached {
    hash: u64,
    /// The key, then the answer (nothing after the key when it cannot be used).
    bytes: Box<[u8]>,
    key_len: u16,
}

impl Cached {
    fn key(&self) -> &[u8] {
        &self.bytes[..usize::from(self.key_len)]
    }

    /// The canonical answer, `None` when it cannot be used.
    fn answer(&self) -> Option<&[u8]> {
        let answer = &self.bytes[usize::from(self.key_len)..];
        (!answer.is_empty()).then_some(answer)
    }
}

#[derive(Debug)]
struct Entry {
    /// The answer to a query without EDNS (absent when it exceeds 512 octets).
    plain: Option<Box<[u8]>>,
    /// The answer to a query with an EDNS(0) OPT record; our OPT (no options) is its last
    /// [`OPT_LEN`] octets, so that the DO bit can be patched.
    edns: Option<Box<[u8]>>,
    /// In a signed zone, the answer to a query with the DO bit: with RRSIGs and NSEC proofs.
    dnssec: Option<Box<[u8]>>,
    /// Whether the name is in a signed zone (else DO changes nothing and `edns` serves).
    signed: bool,
}

/// The three forms a query can take that change the answer's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// No OPT record: at most 512 octets, no OPT in the answer.
    Plain,
    /// An OPT record without the DO bit.
    Edns,
    /// An OPT record with the DO bit: signed zones add their DNSSEC records.
    DnssecOk,
}

impl Encoding {
    fn of(edns: Option<QueryEdns>) -> Encoding {
        match edns {
            None => Encoding::Plain,
            Some(e) if e.dnssec_ok => Encoding::DnssecOk,
            Some(_) => Encoding::Edns,
        }
    }
}

/// Longest wire name (RFC 1035 §2.3.4) plus the two type octets.
const MAX_KEY: usize = 255 + 2;

/// An OPT record without options: root name, type, class, TTL (ext-rcode, version, flags), RDLENGTH.
const OPT_LEN: usize = 11;
/// Where the DO bit sits, counted back from the end of an answer that ends with our OPT record.
const DO_FROM_END: usize = 4;

/// EDNS options that hickory-proto decodes (and may refuse as malformed) rather than carrying as
/// opaque bytes: NSID, DAU, DHU, N3U, client subnet. A query with one goes to the general path, so
/// that a malformed one gets the same FORMERR there.
const PARSED_OPTIONS: [u16; 5] = [3, 5, 6, 7, 8];

impl Prepared {
    /// Runs the general path for every (name, type) of `authority`.
    pub fn build(authority: &Authority) -> Prepared {
        Prepared::build_unless(authority, &|| false).unwrap_or_default()
    }

    /// Answers built on first use and kept in a cache of at most `capacity` answers, whatever
    /// the size of `authority`.
    pub fn lazy(capacity: usize) -> Prepared {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Prepared {
            map: HashMap::new(),
            lazy: Some(LazyCache {
                shards: (0..SHARDS)
                    .map(|_| std::sync::Mutex::new(Shard::new()))
                    .collect(),
                per_shard,
                hasher: std::hash::RandomState::new(),
            }),
        }
    }

    /// As [`Prepared::build`], but gives up (`None`) as soon as `cancelled` says so, checked
    /// before each name: the answers may no longer be wanted. Past [`EAGER_LIMIT`] pairs the
    /// answers are left to be built on first use.
    pub fn build_unless(authority: &Authority, cancelled: &dyn Fn() -> bool) -> Option<Prepared> {
        let pairs: usize = authority
            .names()
            .map(|(_, present)| COMMON_TYPES.len() + present.len())
            .take(EAGER_LIMIT + 1)
            .sum();
        if pairs > EAGER_LIMIT {
            let capacity = LAZY_CAPACITY.max(LAZY_PER_ZONE * authority.zone_count());
            return Some(Prepared::lazy(capacity));
        }
        let mut map = HashMap::new();
        let peer = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        for (name, present) in authority.names() {
            if cancelled() {
                return None;
            }
            let mut types: Vec<RecordType> = COMMON_TYPES.to_vec();
            types.extend(present.into_iter().filter(|t| !COMMON_TYPES.contains(t)));
            let signed = authority.is_signed(name);
            for qtype in types {
                let Some(key) = key_for(name, qtype) else {
                    continue;
                };
                let answer = |encoding| {
                    respond_general(
                        authority,
                        &query_bytes(name, qtype, encoding),
                        Transport::Udp,
                        peer,
                    )
                    .into_iter()
                    .next()
                    .filter(|b| b[2] & 0x02 == 0)
                    .map(Vec::into_boxed_slice)
                };
                map.insert(
                    key,
                    Entry {
                        plain: answer(Encoding::Plain),
                        edns: answer(Encoding::Edns).filter(|b| ends_with_plain_opt(b)),
                        dnssec: if signed {
                            answer(Encoding::DnssecOk).filter(|b| ends_with_plain_opt(b))
                        } else {
                            None
                        },
                        signed,
                    },
                );
            }
        }
        Some(Prepared { map, lazy: None })
    }

    /// Number of precomputed (name, type) pairs (for the on-first-use cache: answers cached now).
    pub fn len(&self) -> usize {
        match &self.lazy {
            None => self.map.len(),
            Some(cache) => cache
                .shards
                .iter()
                .map(|s| s.lock().map_or(0, |m| m.len()))
                .sum(),
        }
    }

    /// Whether answers are built on first use rather than all at start.
    pub fn is_lazy(&self) -> bool {
        self.lazy.is_some()
    }

    /// Whether nothing is precomputed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Writes the answer to `query` into `out` if it is precomputed (or, on first use, can be
    /// built from `authority`); `false` to decline.
    pub fn answer(&self, authority: &Authority, query: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(q) = SimpleQuery::parse(query) else {
            return false;
        };
        if let Some(cache) = &self.lazy {
            return cache.answer(authority, &q, |prepared| patch(prepared, &q, query, out));
        }
        let Some(entry) = self.map.get(&q.key[..q.key_len]) else {
            return false;
        };
        let prepared = match q.edns {
            None => entry.plain.as_deref(),
            Some(e) if e.dnssec_ok && entry.signed => entry.dnssec.as_deref(),
            Some(_) => entry.edns.as_deref(),
        };
        let Some(prepared) = prepared else {
            return false;
        };
        patch(prepared, &q, query, out)
    }
}

/// Copies the canonical `prepared` answer into `out`, made the answer to `query`: its ID, RD and
/// CD flags, its question's letter case and its DO bit. `false` when it is larger than the
/// client accepts.
fn patch(prepared: &[u8], q: &SimpleQuery, query: &[u8], out: &mut Vec<u8>) -> bool {
    if let Some(edns) = q.edns
        && prepared.len() > usize::from(edns.payload.clamp(512, MAX_UDP_PAYLOAD))
    {
        return false;
    }
    out.clear();
    out.extend_from_slice(prepared);
    out[..2].copy_from_slice(&query[..2]);
    out[2] = (out[2] & !0x01) | (query[2] & 0x01); // RD
    out[3] = (out[3] & !0x10) | (query[3] & 0x10); // CD
    // The question in the client's letter case (the name has the same length in any case).
    out[12..12 + q.name_len].copy_from_slice(&query[12..12 + q.name_len]);
    if let Some(edns) = q.edns {
        // RFC 3225 §3: the DO bit is copied into the response.
        let flags = out.len() - DO_FROM_END;
        out[flags] = (out[flags] & !0x80) | if edns.dnssec_ok { 0x80 } else { 0 };
    }
    true
}

impl LazyCache {
    /// Runs `with` on the canonical answer for `q`'s name, type and encoding: cached (`with`
    /// runs under the shard's lock, which costs less than sharing the bytes out), or built now by
    /// the general path. `false` when there is no usable answer. Only positive and NODATA answers
    /// are kept: names that do not exist (a random-name flood) must not push the asked-for
    /// answers out.
    fn answer(
        &self,
        authority: &Authority,
        q: &SimpleQuery,
        with: impl FnOnce(&[u8]) -> bool,
    ) -> bool {
        use std::hash::BuildHasher as _;
        let mut key = [0u8; MAX_KEY + 1];
        key[..q.key_len].copy_from_slice(&q.key[..q.key_len]);
        let encoding = Encoding::of(q.edns);
        key[q.key_len] = encoding as u8;
        let key = &key[..=q.key_len];
        let hash = self.hasher.hash_one(key);
        // The table places entries by the hash's low bits and tags them with its top seven; the
        // shard is picked by bits in between, so that the entries of one shard do not share either
        // (shared tag bits would make every probe compare keys).
        let shard = &self.shards[(hash >> 32) as usize % self.shards.len()];
        let same = |c: &Cached| c.hash == hash && c.key() == key;
        {
            // A poisoned shard only means a worker panicked while holding it; the table is intact.
            let table = shard.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(found) = table.find(hash, same) {
                return found.answer().is_some_and(with);
            }
        }
        let canonical = canonical_query(
            &q.key[..q.name_len],
            &q.key[q.name_len..q.key_len],
            encoding,
        );
        let Some(reply) = respond_general(
            authority,
            &canonical,
            Transport::Udp,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        )
        .into_iter()
        .next() else {
            return false;
        };
        if reply.len() < 12 || reply[3] & 0x0f != 0 {
            return false;
        }
        let usable = reply[2] & 0x02 == 0 && (q.edns.is_none() || ends_with_plain_opt(&reply));
        let mut bytes = Vec::with_capacity(key.len() + if usable { reply.len() } else { 0 });
        bytes.extend_from_slice(key);
        if usable {
            bytes.extend_from_slice(&reply);
        }
        let cached = Cached {
            hash,
            bytes: bytes.into_boxed_slice(),
            key_len: u16::try_from(key.len()).unwrap_or(u16::MAX),
        };
        let answered = cached.answer().is_some_and(with);
        let mut table = shard.lock().unwrap_or_else(|p| p.into_inner());
        if table.find(hash, same).is_none() {
            if table.len() >= self.per_shard {
                // Full: drop one entry (the first in the table's arbitrary order) to stay bounded.
                let first = table.iter().next().map(|c| (c.hash, c.key().to_vec()));
                if let Some((h, k)) = first
                    && let Ok(entry) = table.find_entry(h, |c| c.hash == h && c.key() == k)
                {
                    entry.remove();
                }
            }
            table.insert_unique(hash, cached, |c| c.hash);
        }
        answered
    }
}

/// The query [`query_bytes`] writes, from a lower-case wire name and type: ID 0, no flags,
/// class IN, and unless `Plain` an OPT record with our payload size, no options, and the DO bit
/// for `DnssecOk`.
fn canonical_query(wire_name: &[u8], qtype: &[u8], encoding: Encoding) -> Vec<u8> {
    let edns = encoding != Encoding::Plain;
    let mut q = Vec::with_capacity(12 + wire_name.len() + 4 + OPT_LEN);
    q.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    q.extend_from_slice(wire_name);
    q.extend_from_slice(qtype);
    q.extend_from_slice(&[0, 1]);
    if edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
        let flags = if encoding == Encoding::DnssecOk {
            0x80
        } else {
            0
        };
        q.extend_from_slice(&[0, 0, flags, 0, 0, 0]);
    }
    q
}

/// Whether `answer` ends with an OPT record without options (checked once per prepared answer,
/// so that patching the DO bit can never touch anything else).
fn ends_with_plain_opt(answer: &[u8]) -> bool {
    answer.len() >= 12 + OPT_LEN && {
        let opt = &answer[answer.len() - OPT_LEN..];
        opt[0] == 0 && be(opt, 1) == 41 && be(opt, 9) == 0
    }
}

/// The fields of a query the fast path can take, parsed without allocating.
struct SimpleQuery {
    key: [u8; MAX_KEY],
    key_len: usize,
    name_len: usize,
    /// Present when the query carries an EDNS(0) OPT record.
    edns: Option<QueryEdns>,
}

/// What the fast path uses of a query's OPT record.
#[derive(Clone, Copy)]
struct QueryEdns {
    /// The advertised UDP payload size.
    payload: u16,
    /// The DO bit.
    dnssec_ok: bool,
}

impl SimpleQuery {
    fn parse(q: &[u8]) -> Option<SimpleQuery> {
        if q.len() < 17 || q.len() > 512 {
            return None;
        }
        // QR=0, opcode QUERY, TC=0 (AA/RD ignored); Z must be 0.
        if q[2] & 0xFA != 0 || q[3] & 0x40 != 0 {
            return None;
        }
        let (qd, an, ns, ar) = (be(q, 4), be(q, 6), be(q, 8), be(q, 10));
        if qd != 1 || an != 0 || ns != 0 || ar > 1 {
            return None;
        }
        let mut key = [0u8; MAX_KEY];
        let mut i = 12;
        loop {
            let len = usize::from(*q.get(i)?);
            if len & 0xC0 != 0 || len > 63 {
                return None;
            }
            if i - 12 + len + 1 > 255 {
                return None;
            }
            key[i - 12] = q[i];
            if len == 0 {
                i += 1;
                break;
            }
            let label = q.get(i + 1..i + 1 + len)?;
            for (k, b) in key[i - 12 + 1..i - 12 + 1 + len].iter_mut().zip(label) {
                *k = b.to_ascii_lowercase();
            }
            i += 1 + len;
        }
        let name_len = i - 12;
        let qtype = q.get(i..i + 2)?;
        if be(q, i + 2) != 1 {
            return None; // class IN only
        }
        key[name_len..name_len + 2].copy_from_slice(qtype);
        let mut end = i + 4;
        let mut edns = None;
        if ar == 1 {
            // OPT: root name, type 41, class = payload, ext-rcode 0, version 0, then options.
            let opt = q.get(end..end + OPT_LEN)?;
            if opt[0] != 0 || be(opt, 1) != 41 || opt[5] != 0 || opt[6] != 0 {
                return None;
            }
            edns = Some(QueryEdns {
                payload: be(opt, 3),
                dnssec_ok: opt[7] & 0x80 != 0,
            });
            end += OPT_LEN;
            let options = q.get(end..end + usize::from(be(opt, 9)))?;
            if !opaque_options(options) {
                return None;
            }
            end += options.len();
        }
        if end != q.len() {
            return None;
        }
        Some(SimpleQuery {
            key,
            key_len: name_len + 2,
            name_len,
            edns,
        })
    }
}

/// Whether `options` (an OPT record's RDATA) is a well-formed list of options that the general
/// path carries without interpreting (cookies, padding, keepalive, anything unknown).
fn opaque_options(mut options: &[u8]) -> bool {
    while !options.is_empty() {
        if options.len() < 4 {
            return false;
        }
        let (code, len) = (be(options, 0), usize::from(be(options, 2)));
        if PARSED_OPTIONS.contains(&code) || options.len() < 4 + len {
            return false;
        }
        options = &options[4 + len..];
    }
    true
}

fn be(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([
        b.get(i).copied().unwrap_or(0),
        b.get(i + 1).copied().unwrap_or(0),
    ])
}

fn key_for(name: &Name, qtype: RecordType) -> Option<Box<[u8]>> {
    let mut key = name.to_lowercase().to_bytes().ok()?;
    key.extend_from_slice(&u16::from(qtype).to_be_bytes());
    Some(key.into_boxed_slice())
}

/// A query as a typical client sends it: ID 0, no RD, lower-case name, EDNS(0) as `encoding` says.
fn query_bytes(name: &Name, qtype: RecordType, encoding: Encoding) -> Vec<u8> {
    let mut m = Message::new(0, MessageType::Query, OpCode::Query);
    let mut q = Query::query(name.to_lowercase(), qtype);
    q.set_query_class(DNSClass::IN);
    m.queries.push(q);
    if encoding != Encoding::Plain {
        let mut e = Edns::new();
        e.set_max_payload(MAX_UDP_PAYLOAD);
        e.set_dnssec_ok(encoding == Encoding::DnssecOk);
        m.edns = Some(e);
    }
    m.to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
    use mailbeacon_model::{DEFAULT_CONFIG, ZoneSet, load_str};

    fn authority() -> Authority {
        let model =
            load_str(DEFAULT_CONFIG, "default.toml".as_ref()).expect("default config is valid");
        Authority::new(&ZoneSet::derive(&model))
    }

    /// The default configuration's zones, every one signed.
    fn signed_authority() -> Authority {
        let model =
            load_str(DEFAULT_CONFIG, "default.toml".as_ref()).expect("default config is valid");
        let zones = ZoneSet::derive(&model);
        let mut keys = crate::dnssec::Keyring::default();
        for z in zones.zones() {
            let key = crate::dnssec::ZoneKey::generate(
                mailbeacon_model::DnssecAlgorithm::EcdsaP256Sha256,
            )
            .expect("key");
            keys.insert(z.origin.clone(), crate::dnssec::ZoneKeys::single(key, 0));
        }
        let signed = keys
            .sign(
                &zones,
                crate::dnssec::Validity::at(1_800_000_000),
                &Default::default(),
            )
            .expect("signs");
        Authority::signed(&zones, &signed)
    }

    #[test]
    fn fast_and_general_paths_agree_on_signed_zones() {
        let authority = signed_authority();
        let eager = Prepared::build(&authority);
        same_answers(&authority, &eager);
        let lazy = Prepared::lazy(64);
        same_answers(&authority, &lazy);
        same_answers(&authority, &lazy);
        // A DO query gets the signatures; one without DO does not.
        let name = Name::from_ascii("example.test.").unwrap();
        let mut out = Vec::new();
        for prepared in [&eager, &lazy] {
            let resolver = mixed_case_query(&name, RecordType::MX, 1, Dress::ResolverLike);
            assert!(prepared.answer(&authority, &resolver, &mut out));
            let m = Message::from_vec(&out).unwrap();
            assert!(
                m.answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::RRSIG)
            );
            let edns = mixed_case_query(&name, RecordType::MX, 1, Dress::Edns);
            assert!(prepared.answer(&authority, &edns, &mut out));
            let m = Message::from_vec(&out).unwrap();
            assert!(m.answers.iter().all(|r| r.record_type() == RecordType::MX));
        }
    }

    /// How a client may dress a query: the fast path must answer all but the last as the general
    /// path does, and decline the last.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Dress {
        Plain,
        Edns,
        /// As a validating resolver asks: DO set, a client cookie, padding, an unknown option.
        ResolverLike,
        /// Client subnet: an option hickory-proto decodes.
        Subnet,
    }

    /// A query for `name` in mixed letter case with a given ID and RD, as raw bytes.
    fn mixed_case_query(name: &Name, qtype: RecordType, id: u16, dress: Dress) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        let mixed: String = name
            .to_ascii()
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        m.queries
            .push(Query::query(Name::from_ascii(&mixed).expect("name"), qtype));
        if dress != Dress::Plain {
            let mut e = Edns::new();
            e.set_max_payload(MAX_UDP_PAYLOAD);
            match dress {
                Dress::ResolverLike => {
                    e.set_dnssec_ok(true);
                    let options = e.options_mut();
                    options.insert(EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
                    options.insert(EdnsOption::Unknown(12, vec![0; 7]));
                    options.insert(EdnsOption::Unknown(65001, vec![9]));
                }
                Dress::Subnet => {
                    let subnet = ClientSubnet::new(Ipv4Addr::new(192, 0, 2, 0).into(), 24, 0);
                    e.options_mut().insert(EdnsOption::Subnet(subnet));
                }
                _ => {}
            }
            m.edns = Some(e);
        }
        m.to_vec().expect("query encodes")
    }

    /// Same header, question bytes (letter case included) and sections. Bytes may differ elsewhere:
    /// hickory compresses names case-sensitively, so a mixed-case question changes compression.
    #[test]
    fn fast_and_general_paths_give_the_same_answers() {
        let authority = authority();
        let eager = Prepared::build(&authority);
        assert!(eager.len() > 100 && !eager.is_lazy());
        same_answers(&authority, &eager);
        // Built on first use, in a cache so small that entries are evicted all the time.
        let lazy = Prepared::lazy(64);
        same_answers(&authority, &lazy);
        assert!(lazy.is_lazy() && lazy.len() <= 64, "{} cached", lazy.len());
        // And a second round from a warm cache.
        same_answers(&authority, &lazy);
    }

    #[test]
    fn canonical_queries_are_the_bytes_hickory_writes() {
        for (name, t) in [
            ("example.test.", RecordType::MX),
            ("_imaps._tcp.example.test.", RecordType::SRV),
        ] {
            let name = Name::from_ascii(name).unwrap();
            let key = key_for(&name, t).unwrap();
            let n = key.len() - 2;
            for encoding in [Encoding::Plain, Encoding::Edns, Encoding::DnssecOk] {
                assert_eq!(
                    canonical_query(&key[..n], &key[n..], encoding),
                    query_bytes(&name, t, encoding)
                );
            }
        }
    }

    fn same_answers(authority: &Authority, prepared: &Prepared) {
        let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut out = Vec::new();
        let mut checked = 0;
        for (name, present) in authority.names() {
            for qtype in COMMON_TYPES.iter().copied().chain(present) {
                for dress in [
                    Dress::Plain,
                    Dress::Edns,
                    Dress::ResolverLike,
                    Dress::Subnet,
                ] {
                    let q = mixed_case_query(name, qtype, 0xBEEF, dress);
                    let general = respond_general(authority, &q, Transport::Udp, peer);
                    let what = format!("{name} {qtype} {dress:?}");
                    if !prepared.answer(authority, &q, &mut out) {
                        assert_ne!(
                            (dress, qtype),
                            (Dress::ResolverLike, RecordType::SOA),
                            "{what} declined"
                        );
                        continue;
                    }
                    assert_ne!(dress, Dress::Subnet, "{what}: a parsed option is declined");
                    let question_end = 12 + q[12..].iter().position(|&b| b == 0).unwrap() + 5;
                    assert_eq!(out[..question_end], general[0][..question_end], "{what}");
                    let fast = Message::from_vec(&out).expect("fast answer parses");
                    let slow = Message::from_vec(&general[0]).expect("general answer parses");
                    assert_eq!(fast, slow, "{what}");
                    if dress == Dress::ResolverLike {
                        assert!(
                            fast.edns.expect("OPT").flags().dnssec_ok,
                            "{what}: DO echoed"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 600, "fast path answered {checked} queries");
    }

    #[test]
    fn the_do_bit_is_echoed_both_ways_from_one_prepared_answer() {
        let authority = authority();
        let prepared = Prepared::build(&authority);
        let name = Name::from_ascii("example.test.").unwrap();
        let mut out = Vec::new();
        let resolver = mixed_case_query(&name, RecordType::MX, 1, Dress::ResolverLike);
        assert!(prepared.answer(&authority, &resolver, &mut out));
        assert!(
            Message::from_vec(&out)
                .unwrap()
                .edns
                .unwrap()
                .flags()
                .dnssec_ok
        );
        let edns = mixed_case_query(&name, RecordType::MX, 1, Dress::Edns);
        assert!(prepared.answer(&authority, &edns, &mut out));
        assert!(
            !Message::from_vec(&out)
                .unwrap()
                .edns
                .unwrap()
                .flags()
                .dnssec_ok
        );
    }

    #[test]
    fn unusual_queries_are_declined() {
        let authority = authority();
        let prepared = Prepared::build(&authority);
        let name = Name::from_ascii("example.test.").unwrap();
        let mut out = Vec::new();
        let good = query_bytes(&name, RecordType::SOA, Encoding::Edns);
        assert!(prepared.answer(&authority, &good, &mut out));
        // EDNS version 1 (BADVERS on the general path) and an extended rcode.
        let n = good.len();
        let mut v1 = good.clone();
        v1[n - 5] = 1;
        assert!(!prepared.answer(&authority, &v1, &mut out));
        let mut ext = good.clone();
        ext[n - 6] = 1;
        assert!(!prepared.answer(&authority, &ext, &mut out));
        // An option whose length runs past the record, and an option cut short.
        let mut overrun = good.clone();
        overrun[n - 1] = 4;
        overrun.extend_from_slice(&[0, 10, 0, 9]);
        assert!(!prepared.answer(&authority, &overrun, &mut out));
        let mut short = good.clone();
        short[n - 1] = 2;
        short.extend_from_slice(&[0, 10]);
        assert!(!prepared.answer(&authority, &short, &mut out));
        // Unknown name, other opcode, truncated packet, trailing garbage.
        assert!(!prepared.answer(
            &authority,
            &query_bytes(
                &Name::from_ascii("nx.example.test.").unwrap(),
                RecordType::A,
                Encoding::Plain
            ),
            &mut out
        ));
        let mut notify = good.clone();
        notify[2] |= 4 << 3;
        assert!(!prepared.answer(&authority, &notify, &mut out));
        assert!(!prepared.answer(&authority, &good[..good.len() - 1], &mut out));
        let mut long = good.clone();
        long.push(0);
        assert!(!prepared.answer(&authority, &long, &mut out));
    }
}
