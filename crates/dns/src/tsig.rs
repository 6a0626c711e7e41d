//! TSIG (RFC 8945): checking signed requests, and signing our answers to them.
//!
//! hickory-proto computes and verifies the MACs; this module decides what a request's signature
//! means (RFC 8945 §5.2: unknown key, bad signature, time outside the fudge, a replay) and signs
//! every message of an answer, chaining a transfer's messages as §5.3.1 describes.

use std::collections::HashMap;
use std::sync::Mutex;

use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError};
use hickory_proto::rr::{Name, Record, TSigResponseContext, TSigner};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use mailbeacon_model::TsigKey;

/// The time a signature may differ from ours, both ways (RFC 8945 §10 recommends 300 s).
pub const FUDGE: u16 = 300;

/// The clock TSIG signatures are made and judged by (seconds since the epoch).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Most request MACs remembered for replay detection; the oldest go first when full.
const SEEN_LIMIT: usize = 4096;

/// The configured keys, and the MACs of requests recently accepted (a replay is refused).
#[derive(Default)]
pub struct TsigKeys {
    signers: HashMap<Name, TSigner>,
    /// MAC → the time its request was signed.
    seen: Mutex<HashMap<Vec<u8>, u64>>,
}

impl std::fmt::Debug for TsigKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeys")
            .field("keys", &self.signers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What a signed request's TSIG record says, once checked.
pub enum Verdict {
    /// Signed with a key we hold, in time, not seen before: answer, and sign the answer.
    Valid(Signing),
    /// A key we do not hold (or hold for another algorithm): NOTAUTH, unsigned BADKEY.
    UnknownKey,
    /// The MAC does not verify: NOTAUTH, unsigned BADSIG.
    BadSignature(TSigner),
    /// Signed too long ago or in the future, or the same request seen before: NOTAUTH, a signed
    /// BADTIME.
    BadTime(Signing),
}

/// How to sign the answer to one verified request.
pub struct Signing {
    signer: TSigner,
    request_mac: Vec<u8>,
    request_id: u16,
    now: u64,
}

impl TsigKeys {
    /// Signers for every configured key.
    pub fn new(keys: &[TsigKey]) -> TsigKeys {
        let signers = keys
            .iter()
            .filter_map(|k| {
                let algorithm = match k.algorithm {
                    mailbeacon_model::TsigAlgorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
                    mailbeacon_model::TsigAlgorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
                };
                let signer =
                    TSigner::new(k.secret.clone(), algorithm, k.name.clone(), FUDGE).ok()?;
                Some((k.name.clone(), signer))
            })
            .collect();
        TsigKeys {
            signers,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.signers.is_empty()
    }

    /// The signer of key `name`.
    pub fn signer(&self, name: &Name) -> Option<&TSigner> {
        self.signers.get(&name.to_lowercase())
    }

    /// Checks `request` (raw bytes, its TSIG record last) signed with key `key_name`, at `now`
    /// (seconds since the epoch).
    pub fn verify(&self, request: &[u8], key_name: &Name, request_id: u16, now: u64) -> Verdict {
        let Some(signer) = self.signer(key_name) else {
            return Verdict::UnknownKey;
        };
        let (mac, _signed_at, window) = match signer.verify_message_byte(request, None, true) {
            Ok(v) => v,
            Err(hickory_proto::dnssec::DnsSecError::TsigWrongKey) => return Verdict::UnknownKey,
            Err(_) => return Verdict::BadSignature(signer.clone()),
        };
        let signing = Signing {
            signer: signer.clone(),
            request_mac: mac.clone(),
            request_id,
            now,
        };
        if !window.contains(&now) && window.end != now {
            return Verdict::BadTime(signing);
        }
        // A replay carries a MAC already accepted within the window: refuse it like a stale one.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| at.saturating_add(u64::from(FUDGE) * 2) >= now);
        if seen.contains_key(&mac) {
            return Verdict::BadTime(signing);
        }
        if seen.len() >= SEEN_LIMIT
            && let Some(oldest) = seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(m, _)| m.clone())
        {
            seen.remove(&oldest);
        }
        seen.insert(mac, now);
        Verdict::Valid(signing)
    }
}

impl Signing {
    /// The key the request was signed with.
    pub fn key_name(&self) -> &Name {
        self.signer.signer_name()
    }

    /// Appends a TSIG record to each of `messages` (the answer, or a transfer's messages in
    /// order): the first MAC covers the request's MAC and the whole first message, each later one
    /// the previous MAC, its message and the timers (RFC 8945 §5.3.1).
    pub fn sign(&self, messages: &mut [Vec<u8>], error: Option<TsigError>) {
        let mut previous: Option<Vec<u8>> = None;
        for message in messages.iter_mut() {
            let record = match &previous {
                None => TSigResponseContext::new(
                    self.request_id,
                    self.now,
                    self.signer.clone(),
                    self.request_mac.clone(),
                    error,
                )
                .sign(message)
                .ok()
                .map(|r| *r),
                Some(prev) => self.chained(prev, message),
            };
            let Some(record) = record else {
                continue;
            };
            previous = Some(record.data.mac.clone());
            append(message, &record);
        }
    }

    /// The TSIG of a later message of a transfer: MAC over the previous MAC, the message and the
    /// timers only.
    fn chained(&self, previous_mac: &[u8], message: &[u8]) -> Option<Record<TSIG>> {
        let mut tbs = Vec::with_capacity(previous_mac.len() + message.len() + 10);
        tbs.extend_from_slice(&u16::try_from(previous_mac.len()).ok()?.to_be_bytes());
        tbs.extend_from_slice(previous_mac);
        tbs.extend_from_slice(message);
        tbs.extend_from_slice(&((self.now >> 32) as u16).to_be_bytes());
        tbs.extend_from_slice(&(self.now as u32).to_be_bytes());
        tbs.extend_from_slice(&FUDGE.to_be_bytes());
        let mac = self.signer.sign(&tbs).ok()?;
        let tsig = TSIG::new(
            self.signer.algorithm().clone(),
            self.now,
            FUDGE,
            mac,
            self.request_id,
            None,
            Vec::new(),
        );
        Some(hickory_proto::rr::rdata::tsig::make_tsig_record(
            self.signer.signer_name().clone(),
            tsig,
        ))
    }
}

/// The unsigned TSIG record of an error answer (BADKEY, BADSIG: RFC 8945 §5.3.2 says unsigned),
/// appended to `message`.
pub fn append_unsigned(
    message: &mut Vec<u8>,
    key_name: &Name,
    algorithm: TsigAlgorithm,
    oid: u16,
    now: u64,
    error: TsigError,
) {
    let tsig = TSIG::new(
        algorithm,
        now,
        FUDGE,
        Vec::new(),
        oid,
        Some(error),
        Vec::new(),
    );
    let record = hickory_proto::rr::rdata::tsig::make_tsig_record(key_name.clone(), tsig);
    append(message, &record);
}

/// Appends `record` to the additional section of the encoded `message`.
fn append(message: &mut Vec<u8>, record: &Record<TSIG>) {
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    if record.emit(&mut encoder).is_err() || message.len() < 12 {
        return;
    }
    let count = u16::from_be_bytes([message[10], message[11]]).saturating_add(1);
    message[10..12].copy_from_slice(&count.to_be_bytes());
    message.extend_from_slice(&bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::RecordType;

    fn key(secret: &[u8]) -> TsigKey {
        TsigKey {
            name: Name::from_ascii("xfr.").unwrap(),
            algorithm: mailbeacon_model::TsigAlgorithm::HmacSha256,
            secret: secret.to_vec(),
        }
    }

    /// An AXFR request signed at `time` with `secret` under key name `name`.
    fn request(name: &str, secret: &[u8], time: u64) -> Vec<u8> {
        let signer = TSigner::new(
            secret.to_vec(),
            TsigAlgorithm::HmacSha256,
            Name::from_ascii(name).unwrap(),
            FUDGE,
        )
        .unwrap();
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii("example.net.").unwrap(),
            RecordType::AXFR,
        ));
        let (tsig, _) = signer.sign_message(&m, time).unwrap();
        m.signature = Some(tsig);
        m.to_vec().unwrap()
    }

    #[test]
    fn requests_are_judged_as_rfc_8945_says() {
        let secret = [7u8; 32];
        let keys = TsigKeys::new(&[key(&secret)]);
        let name = Name::from_ascii("xfr.").unwrap();
        let now = 1_800_000_000;
        let good = request("xfr.", &secret, now);
        assert!(matches!(
            keys.verify(&good, &name, 7, now + 10),
            Verdict::Valid(_)
        ));
        // The same request again: a replay.
        assert!(matches!(
            keys.verify(&good, &name, 7, now + 11),
            Verdict::BadTime(_)
        ));
        // Signed too long ago, or in the future.
        let old = request("xfr.", &secret, now - 1000);
        assert!(matches!(
            keys.verify(&old, &name, 7, now),
            Verdict::BadTime(_)
        ));
        let future = request("xfr.", &secret, now + 1000);
        assert!(matches!(
            keys.verify(&future, &name, 7, now),
            Verdict::BadTime(_)
        ));
        // Another secret, another key name.
        let forged = request("xfr.", &[8u8; 32], now);
        assert!(matches!(
            keys.verify(&forged, &name, 7, now),
            Verdict::BadSignature(_)
        ));
        let other = Name::from_ascii("other.").unwrap();
        let unknown = request("other.", &secret, now);
        assert!(matches!(
            keys.verify(&unknown, &other, 7, now),
            Verdict::UnknownKey
        ));
    }
}
