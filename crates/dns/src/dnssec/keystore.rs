//! Signing keys on disk: one file per zone in `state_dir/dnssec/`, created on first use (mode
//! 0600 in a 0700 directory) and read back at every start and reload, so a zone keeps its key —
//! and the DS at the registrar stays right — across restarts.
//!
//! The file is TOML, readable and diffable by an admin:
//!
//! ```toml
//! # mailbeacon DNSSEC signing key. Keep it secret; losing it means a new DS at the registrar.
//! zone = "example.com."
//!
//! [[key]]
//! algorithm = "ECDSAP256SHA256"
//! tag = 40516
//! state = "active"
//! since = 1796198400
//! created = 1796198400
//! private_key = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg…"
//! ```
//!
//! During a rollover a second `[[key]]` is `incoming` or `outgoing` ([`super::rollover`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use mailbeacon_model::DnssecAlgorithm;
use serde::{Deserialize, Serialize};

use super::key::ZoneKey;
use super::rollover::{KeyState, StateKey, ZoneKeys};

/// Why a zone's key file cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading, creating or writing failed.
    #[error("{file}: {reason}")]
    Io {
        /// The file.
        file: PathBuf,
        /// What the system said.
        reason: std::io::Error,
    },
    /// The file is not a key file, or a key in it is unusable.
    #[error("{file}: {reason}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The on-disk form of a zone's keys.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    zone: String,
    key: Vec<StoredKey>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    algorithm: String,
    tag: u16,
    #[serde(default = "active")]
    state: String,
    #[serde(default)]
    since: u64,
    created: u64,
    private_key: String,
}

fn active() -> String {
    KeyState::Active.name().to_owned()
}

/// The directory of key files.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The key files under `state_dir` (`state_dir/dnssec/`).
    pub fn in_state_dir(state_dir: &Path) -> KeyStore {
        KeyStore {
            dir: state_dir.join("dnssec"),
        }
    }

    /// Where the keys of `origin` are kept.
    pub fn file_for(&self, origin: &Name) -> PathBuf {
        let name = origin.to_lowercase().to_ascii();
        let name = name.trim_end_matches('.');
        self.dir.join(format!("{name}.key"))
    }

    /// The keys of `origin` as stored; `Ok(None)` when it has none yet.
    pub fn load(
        &self,
        origin: &Name,
        algorithm: DnssecAlgorithm,
    ) -> Result<Option<ZoneKeys>, KeyFileError> {
        let file = self.file_for(origin);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(reason) => return Err(KeyFileError::Io { file, reason }),
        };
        let invalid = |reason: String| KeyFileError::Invalid {
            file: file.clone(),
            reason,
        };
        let parsed: KeyFile = toml::from_str(&text)
            .map_err(|e| invalid(format!("not a mailbeacon key file: {}", e.message())))?;
        let zone = Name::from_ascii(&parsed.zone)
            .map_err(|_| invalid(format!("zone {:?} is not a domain name", parsed.zone)))?;
        if zone.to_lowercase() != origin.to_lowercase() || !zone.is_fqdn() {
            return Err(invalid(format!(
                "holds the key of zone {}, not of {origin} (a file copied or renamed?)",
                parsed.zone
            )));
        }
        let mut keys = Vec::new();
        for stored in &parsed.key {
            let stored_algorithm = DnssecAlgorithm::parse(&stored.algorithm)
                .ok_or_else(|| invalid(format!("unknown algorithm {:?}", stored.algorithm)))?;
            if stored_algorithm != algorithm {
                return Err(invalid(format!(
                    "the key is {}, the configuration asks for {}: changing the algorithm of a \
                     signed zone needs an algorithm rollover with the registrar, which this \
                     version does not do; keep dnssec_algorithm = \"{}\"",
                    stored_algorithm.mnemonic(),
                    algorithm.mnemonic(),
                    stored_algorithm.mnemonic()
                )));
            }
            let state = KeyState::parse(&stored.state).ok_or_else(|| {
                invalid(format!(
                    "unknown key state {:?} (active, incoming or outgoing)",
                    stored.state
                ))
            })?;
            let der = data_encoding::BASE64
                .decode(stored.private_key.as_bytes())
                .map_err(|e| invalid(format!("private_key is not base64: {e}")))?;
            let key = ZoneKey::from_pkcs8(algorithm, &der).map_err(|e| invalid(e.to_string()))?;
            if key.tag() != stored.tag {
                return Err(invalid(format!(
                    "the private key has tag {}, the file says {}: the file was edited or is corrupt",
                    key.tag(),
                    stored.tag
                )));
            }
            keys.push(StateKey {
                key,
                state,
                since: stored.since,
                created: stored.created,
            });
        }
        ZoneKeys::from_parts(keys).map(Some).map_err(invalid)
    }

    /// The keys of `origin`: as stored, or one generated and stored now.
    pub fn load_or_create(
        &self,
        origin: &Name,
        algorithm: DnssecAlgorithm,
        now: u64,
    ) -> Result<(ZoneKeys, bool), KeyFileError> {
        if let Some(keys) = self.load(origin, algorithm)? {
            return Ok((keys, false));
        }
        let key = ZoneKey::generate(algorithm).map_err(|e| KeyFileError::Invalid {
            file: self.file_for(origin),
            reason: e.to_string(),
        })?;
        let keys = ZoneKeys::single(key, now);
        self.store(origin, &keys)?;
        Ok((keys, true))
    }

    /// Writes `keys` as the keys of `origin`: a temporary file created 0600, then a rename, so a
    /// reader never sees half a key and the secret is never readable by others.
    pub fn store(&self, origin: &Name, keys: &ZoneKeys) -> Result<(), KeyFileError> {
        let file = self.file_for(origin);
        let io = |reason: std::io::Error| KeyFileError::Io {
            file: file.clone(),
            reason,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io)?;
        let contents = KeyFile {
            zone: origin.to_lowercase().to_ascii(),
            key: keys
                .all()
                .iter()
                .map(|k| StoredKey {
                    algorithm: k.key.algorithm().mnemonic().to_owned(),
                    tag: k.key.tag(),
                    state: k.state.name().to_owned(),
                    since: k.since,
                    created: k.created,
                    private_key: data_encoding::BASE64.encode(k.key.pkcs8()),
                })
                .collect(),
        };
        let body = toml::to_string(&contents).map_err(|e| KeyFileError::Invalid {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# mailbeacon DNSSEC signing keys. Keep them secret; losing the active one means a new \
             DS at the registrar.\n{body}"
        );
        let tmp = file.with_extension("key.tmp");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        out.write_all(text.as_bytes()).map_err(io)?;
        out.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &file).map_err(io)
    }
}

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    #[test]
    fn a_created_key_is_found_again_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::in_state_dir(dir.path());
        let alg = DnssecAlgorithm::EcdsaP256Sha256;
        let (key, created) = store.load_or_create(&origin(), alg, 1).unwrap();
        assert!(created);
        let (again, created) = store.load_or_create(&origin(), alg, 2).unwrap();
        assert!(!created);
        assert_eq!(key.active().dnskey(), again.active().dnskey());
        let file = store.file_for(&origin());
        assert!(file.ends_with("dnssec/example.com.key"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(file.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn bad_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::in_state_dir(dir.path());
        let alg = DnssecAlgorithm::EcdsaP256Sha256;
        store.load_or_create(&origin(), alg, 1).unwrap();
        let file = store.file_for(&origin());
        let good = std::fs::read_to_string(&file).unwrap();
        let other = Name::from_ascii("example.net.").unwrap();
        std::fs::write(store.file_for(&other), &good).unwrap();
        let cases: Vec<(Name, String, DnssecAlgorithm, &str)> = vec![
            (
                other,
                good.clone(),
                alg,
                "holds the key of zone example.com.",
            ),
            (
                origin(),
                "zone = 1".into(),
                alg,
                "not a mailbeacon key file",
            ),
            (
                origin(),
                good.replace("private_key = \"", "private_key = \"!"),
                alg,
                "not base64",
            ),
            (
                origin(),
                good.replace("private_key = \"", "private_key = \"AAAA"),
                alg,
                "not a PKCS#8",
            ),
            (
                origin(),
                good.clone(),
                DnssecAlgorithm::Ed25519,
                "needs an algorithm rollover",
            ),
            (
                origin(),
                good.replace("state = \"active\"", "state = \"incoming\""),
                alg,
                "exactly one active key",
            ),
        ];
        for (zone, text, alg, expected) in cases {
            std::fs::write(store.file_for(&zone), &text).unwrap();
            let err = store.load(&zone, alg).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(err.contains(".key:"), "{err}");
        }
    }
}
