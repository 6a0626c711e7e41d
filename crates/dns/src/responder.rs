//! DNS messages in, DNS messages out: the general path for every query.
//!
//! Header checks, EDNS(0) (RFC 6891), truncation (RFC 1035 §4.2.1, RFC 2181 §9), zone transfers
//! (RFC 5936) and error codes live here; which records answer is [`Authority`]'s job. The UDP fast
//! path ([`crate::prepared`]) answers the common queries with bytes this module produced.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::TSIG;
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use mailbeacon_model::ZoneSet;

use crate::authority::Authority;
use crate::prepared::Prepared;
use crate::tsig::{Signing, TsigKeys, Verdict};

/// The UDP payload size we advertise and never exceed (the DNS flag day 2020 value, which avoids
/// IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Largest DNS message over TCP.
const MAX_TCP_MESSAGE: usize = 65_535;

/// How a query arrived; decides size limits and whether transfers are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: size limited, no transfers.
    Udp,
    /// TCP: up to 64 KiB per message, transfers allowed to permitted peers.
    Tcp,
}

/// Everything needed to answer queries for one configuration generation.
#[derive(Debug)]
pub struct Responder {
    authority: Arc<Authority>,
    prepared: Prepared,
}

impl Responder {
    /// Builds the lookup index and precomputes the fast-path answers for `zones`.
    pub fn new(zones: &ZoneSet) -> Responder {
        Responder::general_only(zones).with_prepared()
    }

    /// Builds only the lookup index: every query takes the general path. Answers are the same,
    /// only slower; use it to start serving at once and swap in [`Responder::with_prepared`]'s
    /// result when that is ready (precomputing takes ~1.5 ms per domain).
    pub fn general_only(zones: &ZoneSet) -> Responder {
        Responder {
            authority: Arc::new(Authority::new(zones)),
            prepared: Prepared::default(),
        }
    }

    /// As [`Responder::general_only`], with the zones in `signed` (origin → the records signing
    /// added, from [`crate::dnssec::Keyring::sign`]) served signed, and `tsig` the keys that may
    /// sign requests. Zones that `earlier` indexed from the very same [`mailbeacon_model::Zone`]
    /// keep that index (a reload that took them over unchanged).
    pub fn general_only_signed(
        zones: &ZoneSet,
        signed: &std::collections::HashMap<hickory_proto::rr::Name, Vec<Record>>,
        tsig: TsigKeys,
        earlier: Option<&Responder>,
    ) -> Responder {
        let earlier = earlier.map(|e| &*e.authority);
        Responder {
            authority: Arc::new(Authority::signed_reusing(zones, signed, earlier).with_tsig(tsig)),
            prepared: Prepared::default(),
        }
    }

    /// The same zones with the fast-path answers precomputed.
    pub fn with_prepared(&self) -> Responder {
        Responder {
            authority: self.authority.clone(),
            prepared: Prepared::build(&self.authority),
        }
    }

    /// The same zones with fast-path answers built on first use and kept in a cache of at most
    /// `capacity` answers (what [`Responder::with_prepared`] chooses for large configurations).
    pub fn with_lazy_prepared(&self, capacity: usize) -> Responder {
        Responder {
            authority: self.authority.clone(),
            prepared: Prepared::lazy(capacity),
        }
    }

    /// Whether fast-path answers are built on first use.
    pub fn prepared_lazily(&self) -> bool {
        self.prepared.is_lazy()
    }

    /// As [`Responder::with_prepared`], abandoned (`None`) once `cancelled` returns true.
    pub fn with_prepared_unless(&self, cancelled: &dyn Fn() -> bool) -> Option<Responder> {
        Some(Responder {
            authority: self.authority.clone(),
            prepared: Prepared::build_unless(&self.authority, cancelled)?,
        })
    }

    /// The lookup index.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// How many answers are precomputed.
    pub fn prepared_len(&self) -> usize {
        self.prepared.len()
    }

    /// Answers a UDP datagram into `out`; `false` means send nothing (not a query, or not even a
    /// header). Tries the precomputed answers first.
    pub fn respond_udp(&self, query: &[u8], peer: IpAddr, out: &mut Vec<u8>) -> bool {
        self.respond_udp_from(query, peer, out).is_some()
    }

    /// As [`Responder::respond_udp`]; `Some(true)` when the answer was precomputed, `Some(false)`
    /// when the general path made it, `None` when nothing is sent.
    pub fn respond_udp_from(&self, query: &[u8], peer: IpAddr, out: &mut Vec<u8>) -> Option<bool> {
        if self.prepared.answer(&self.authority, query, out) {
            return Some(true);
        }
        let reply = respond_general(&self.authority, query, Transport::Udp, peer)
            .into_iter()
            .next()?;
        *out = reply;
        Some(false)
    }

    /// Answers one message on the general path: zero messages (drop), one, or several (a zone
    /// transfer over TCP).
    pub fn respond(&self, query: &[u8], transport: Transport, peer: IpAddr) -> Vec<Vec<u8>> {
        respond_general(&self.authority, query, transport, peer)
    }
}

/// The general path over `authority` (see [`Responder::respond`]).
pub fn respond_general(
    authority: &Authority,
    query: &[u8],
    transport: Transport,
    peer: IpAddr,
) -> Vec<Vec<u8>> {
    // Fewer than 12 octets is not a DNS message; a set QR bit is a response. Neither is answered
    // (answering responses invites loops between servers).
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return vec![];
    }
    let request = match Message::from_vec(query) {
        Ok(m) => m,
        Err(_) => return vec![format_error(query)],
    };
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.queries = request.queries.clone();
    let limit = match transport {
        Transport::Tcp => MAX_TCP_MESSAGE,
        Transport::Udp => usize::from(request.max_payload().clamp(512, MAX_UDP_PAYLOAD)),
    };
    let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    if let Some(edns) = &request.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(MAX_UDP_PAYLOAD);
        ours.set_dnssec_ok(edns.flags().dnssec_ok);
        response.edns = Some(ours);
        if edns.version() > 0 {
            return vec![finish(response, ResponseCode::BADVERS, limit)];
        }
    }
    // A signed request (RFC 8945 §5.2): checked before anything else; the answer is signed too.
    let signing = match &request.signature {
        None => None,
        Some(signed) => {
            let now = crate::tsig::unix_now();
            match authority
                .tsig()
                .verify(query, &signed.name, request.metadata.id, now)
            {
                Verdict::Valid(s) => Some(s),
                Verdict::UnknownKey => {
                    return vec![unsigned_error(
                        response,
                        &signed.name,
                        &signed.data,
                        now,
                        TsigError::BadKey,
                        limit,
                    )];
                }
                Verdict::BadSignature(_) => {
                    return vec![unsigned_error(
                        response,
                        &signed.name,
                        &signed.data,
                        now,
                        TsigError::BadSig,
                        limit,
                    )];
                }
                Verdict::BadTime(s) => {
                    let mut out = vec![finish(response, ResponseCode::NotAuth, limit)];
                    s.sign(&mut out, Some(TsigError::BadTime));
                    return out;
                }
            }
        }
    };
    let mut out = answer_request(
        authority,
        &request,
        response,
        transport,
        peer,
        limit,
        dnssec_ok,
        signing.as_ref(),
    );
    if let Some(s) = &signing {
        s.sign(&mut out, None);
    }
    out
}

/// The answer to a request whose header, EDNS and signature have been checked.
#[allow(clippy::too_many_arguments)]
fn answer_request(
    authority: &Authority,
    request: &Message,
    mut response: Message,
    transport: Transport,
    peer: IpAddr,
    limit: usize,
    dnssec_ok: bool,
    signing: Option<&Signing>,
) -> Vec<Vec<u8>> {
    if request.metadata.op_code != OpCode::Query {
        return vec![finish(response, ResponseCode::NotImp, limit)];
    }
    let [question] = request.queries.as_slice() else {
        response.queries.clear();
        return vec![finish(response, ResponseCode::FormErr, limit)];
    };
    if question.query_class() != DNSClass::IN {
        return vec![finish(response, ResponseCode::Refused, limit)];
    }
    match question.query_type() {
        RecordType::AXFR | RecordType::IXFR if transport == Transport::Tcp => {
            return transfer(
                authority,
                response,
                question,
                peer,
                signing.map(Signing::key_name),
            );
        }
        RecordType::AXFR => return vec![finish(response, ResponseCode::FormErr, limit)],
        // RFC 1995 §2: an IXFR over UDP that cannot be answered incrementally gets the SOA.
        RecordType::IXFR => {
            let answer = authority.lookup(question.name(), RecordType::SOA, dnssec_ok);
            response.metadata.authoritative = answer.authoritative;
            response.answers = answer.answers;
            return vec![finish(response, answer.rcode, limit)];
        }
        _ => {}
    }
    let answer = authority.lookup(question.name(), question.query_type(), dnssec_ok);
    response.metadata.authoritative = answer.authoritative;
    response.answers = answer.answers;
    response.authorities = answer.authorities;
    response.additionals = answer.additionals;
    vec![finish(response, answer.rcode, limit)]
}

/// NOTAUTH with an unsigned TSIG record naming the client's key and `error` (BADKEY for a key we
/// do not hold, BADSIG for a MAC that does not verify; RFC 8945 §5.2.1–2), so that a secondary
/// logs why its transfer failed instead of rejecting an unsigned answer.
fn unsigned_error(
    response: Message,
    key: &Name,
    signature: &TSIG,
    now: u64,
    error: TsigError,
    limit: usize,
) -> Vec<u8> {
    let mut out = finish(response, ResponseCode::NotAuth, limit);
    // RFC 8945 §4.2: the Original ID of the request's TSIG, echoed.
    crate::tsig::append_unsigned(
        &mut out,
        key,
        signature.algorithm.clone(),
        signature.oid,
        now,
        error,
    );
    out
}

fn transfer(
    authority: &Authority,
    mut response: Message,
    question: &Query,
    peer: IpAddr,
    key: Option<&Name>,
) -> Vec<Vec<u8>> {
    let Some(records) = authority.transfer(question.name(), peer, key) else {
        return vec![finish(response, ResponseCode::Refused, MAX_TCP_MESSAGE)];
    };
    response.metadata.authoritative = true;
    // Several messages when the zone is large; each well under 64 KiB.
    let mut out = Vec::new();
    for chunk in records.chunks(200) {
        let mut m = response.clone();
        m.answers = chunk.to_vec();
        if !out.is_empty() {
            m.queries.clear();
        }
        out.push(finish(m, ResponseCode::NoError, MAX_TCP_MESSAGE));
    }
    out
}

/// Sets the response code and encodes, fitting `limit`: first the additional section goes (RFC 2181
/// §9 lets it), then the whole answer is replaced by an empty, truncated one so that the client
/// retries over TCP.
fn finish(mut response: Message, rcode: ResponseCode, limit: usize) -> Vec<u8> {
    response.metadata.response_code = rcode;
    if let Some(bytes) = encode(&response, limit) {
        return bytes;
    }
    response.additionals.clear();
    if let Some(bytes) = encode(&response, limit) {
        return bytes;
    }
    response.answers.clear();
    response.authorities.clear();
    response.metadata.truncation = true;
    encode(&response, usize::MAX).unwrap_or_else(|| server_failure(&response))
}

fn encode(m: &Message, limit: usize) -> Option<Vec<u8>> {
    m.to_vec().ok().filter(|b| b.len() <= limit)
}

fn server_failure(m: &Message) -> Vec<u8> {
    let mut header = vec![0u8; 12];
    header[..2].copy_from_slice(&m.metadata.id.to_be_bytes());
    header[2] = 0x80 | (u8::from(m.metadata.op_code) << 3);
    header[3] = ResponseCode::ServFail.low();
    header
}

/// FORMERR for a message whose header parsed but whose body did not: the header echoed with QR
/// set, the original opcode and RD, and no sections (RFC 1035 §4.1.1).
fn format_error(query: &[u8]) -> Vec<u8> {
    let mut reply = query[..12].to_vec();
    reply[2] = 0x80 | (query[2] & 0x79); // QR, opcode, RD
    reply[3] = ResponseCode::FormErr.low();
    reply[4..12].fill(0);
    reply
}
