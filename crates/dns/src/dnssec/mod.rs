//! DNSSEC: zone signing keys, their files, and the signed form of a zone.
//!
//! - [`key`]: a zone's combined signing key and the records that publish it (DNSKEY, CDS,
//!   CDNSKEY, DS);
//! - [`keystore`]: key files in the state directory, created on first use;
//! - [`rollover`]: a zone's keys in their states, and the steps from one key to the next;
//! - [`sign`]: the records a zone gains when signed (pure: zone + key + time in, records out).
//!
//! Crypto is hickory-proto's (ring underneath): this module only decides what is signed, when,
//! and how it is stored.

pub mod key;
pub mod keystore;
pub mod rollover;
pub mod sign;

pub use key::{KeyError, ZoneKey};
pub use keystore::{KeyFileError, KeyStore};
pub use rollover::{KeyState, Rollover, RolloverError, ZoneKeys};
pub use sign::{SignError, Validity, sign_zone};

use std::collections::HashMap;
use std::path::PathBuf;

use hickory_proto::rr::{Name, Record};
use mailbeacon_model::ZoneSet;

/// The signing key of every signed zone, by origin.
#[derive(Debug, Default)]
pub struct Keyring {
    keys: HashMap<Name, ZoneKeys>,
}

impl Keyring {
    /// Keys held in memory only, made now for every zone of `zones` that asks to be signed: for
    /// the lab, whose zones live as long as the process.
    pub fn ephemeral(zones: &ZoneSet) -> Result<Keyring, KeyError> {
        let mut ring = Keyring::default();
        for z in zones.zones() {
            if let Some(algorithm) = z.dnssec {
                ring.insert(
                    z.origin.clone(),
                    ZoneKeys::single(ZoneKey::generate(algorithm)?, 0),
                );
            }
        }
        Ok(ring)
    }

    /// The stored key of every zone of `zones` that asks to be signed, created (and stored) for
    /// zones that have none yet; also returns the files created.
    pub fn from_store(
        store: &KeyStore,
        zones: &ZoneSet,
        now: u64,
    ) -> Result<(Keyring, Vec<PathBuf>), KeyFileError> {
        let mut ring = Keyring::default();
        let mut created = Vec::new();
        for z in zones.zones() {
            if let Some(algorithm) = z.dnssec {
                let (key, new) = store.load_or_create(&z.origin, algorithm, now)?;
                if new {
                    created.push(store.file_for(&z.origin));
                }
                ring.insert(z.origin.clone(), key);
            }
        }
        Ok((ring, created))
    }

    /// Adds (or replaces) the keys of `origin`.
    pub fn insert(&mut self, origin: Name, keys: ZoneKeys) {
        self.keys.insert(origin.to_lowercase(), keys);
    }

    /// The keys of `origin`.
    pub fn get(&self, origin: &Name) -> Option<&ZoneKeys> {
        self.keys.get(origin)
    }

    /// Whether no zone is signed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Marks every zone with a key as signed with it for `validity`, in its content hash: new
    /// signatures (a new period, a new key) are new content, so the SOA serial moves and
    /// secondaries transfer them. Call before assigning serials.
    pub fn stamp(&self, zones: &mut ZoneSet, validity: Validity) {
        zones.stamp_content(|z| {
            self.get(&z.origin).map(|keys| {
                let states: Vec<String> = keys
                    .all()
                    .iter()
                    .map(|k| format!("{} {}", k.key.tag(), k.state.name()))
                    .collect();
                format!("{} keys {}", validity.stamp(), states.join(", "))
            })
        });
    }

    /// The records each zone with a key gains when signed (origin → records), for
    /// [`crate::Authority::signed`]. Zones whose content, serial, keys and signing window are
    /// those of a zone signed before take their records from `cache` instead of being signed
    /// again: a reload re-signs only what changed.
    pub fn sign(
        &self,
        zones: &ZoneSet,
        validity: Validity,
        cache: &SignatureCache,
    ) -> Result<HashMap<Name, Vec<Record>>, SignError> {
        let mut out = HashMap::new();
        let mut fresh = HashMap::new();
        let mut previous = cache.entries.lock().unwrap_or_else(|p| p.into_inner());
        for z in zones.zones() {
            let Some(keys) = self.get(&z.origin) else {
                continue;
            };
            let id = SignedZoneId::new(z, keys, validity);
            let records = match previous.remove(&id) {
                Some(r) => r,
                None => std::sync::Arc::new(sign_zone(z, keys, validity)?),
            };
            out.insert(z.origin.clone(), records.as_ref().clone());
            fresh.insert(id, records);
        }
        // Only what this generation serves is kept: the cache never outgrows the zones.
        *previous = fresh;
        Ok(out)
    }
}

/// Signed zones of the previous generation, by everything their signatures depend on.
#[derive(Debug, Default)]
pub struct SignatureCache {
    entries: std::sync::Mutex<HashMap<SignedZoneId, std::sync::Arc<Vec<Record>>>>,
}

/// What a zone's signatures depend on: its origin, content (the hash also covers the signing
/// window and key states, see [`Keyring::stamp`]), its serial (in the signed SOA), and the keys'
/// public halves (two keyrings can share a key tag, never a key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SignedZoneId {
    origin: Name,
    content: String,
    serial: u32,
    validity: (u32, u32),
    keys: Vec<Vec<u8>>,
}

impl SignedZoneId {
    fn new(z: &mailbeacon_model::Zone, keys: &ZoneKeys, validity: Validity) -> SignedZoneId {
        use hickory_proto::dnssec::PublicKey as _;
        SignedZoneId {
            origin: z.origin.clone(),
            content: z.content_hash().to_owned(),
            serial: z.serial(),
            validity: (validity.inception, validity.expiration),
            keys: keys
                .all()
                .iter()
                .map(|k| {
                    let mut v = k.key.dnskey().public_key().public_bytes().to_vec();
                    v.push(k.state as u8);
                    v
                })
                .collect(),
        }
    }
}
