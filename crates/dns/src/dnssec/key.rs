//! A zone's signing key: the private half for signing, and the records that publish the public
//! half (DNSKEY, CDS, CDNSKEY) and hand it to the parent (DS).

use hickory_proto::dnssec::crypto::signing_key_from_der;
use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{CDNSKEY, CDS, DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey as _, SigningKey, TBS};
use hickory_proto::rr::Name;
use mailbeacon_model::DnssecAlgorithm;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// DNSKEY flags of a combined signing key: Zone Key and Secure Entry Point (RFC 4034 §2.1.1).
const CSK_FLAGS: u16 = 257;

/// Why a key cannot be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The private key bytes are not a PKCS#8 key of the expected algorithm.
    #[error("not a PKCS#8 {algorithm} private key: {reason}")]
    Malformed {
        /// The algorithm the key should be.
        algorithm: &'static str,
        /// What the crypto library said.
        reason: String,
    },
    /// The system random generator or the crypto library failed.
    #[error("cannot {what}: {reason}")]
    Crypto {
        /// What was attempted.
        what: &'static str,
        /// What the crypto library said.
        reason: String,
    },
}

/// A combined signing key (CSK): one key signs every RRset of the zone, DNSKEY included. One key
/// instead of a KSK/ZSK pair halves the DNSKEY answer and the work of a rollover; with online
/// signing the ZSK's usual reason (cheap frequent rollovers while the KSK stays in a safe) does
/// not apply, and Knot's and PowerDNS's defaults are CSKs as well.
pub struct ZoneKey {
    algorithm: DnssecAlgorithm,
    signing: Box<dyn SigningKey>,
    dnskey: DNSKEY,
    tag: u16,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("ZoneKey")
            .field("algorithm", &self.algorithm.mnemonic())
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl ZoneKey {
    /// A new key from the system's random generator.
    pub fn generate(algorithm: DnssecAlgorithm) -> Result<ZoneKey, KeyError> {
        let der = match algorithm {
            DnssecAlgorithm::EcdsaP256Sha256 => {
                EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256)
            }
            DnssecAlgorithm::Ed25519 => Ed25519SigningKey::generate_pkcs8(),
        }
        .map_err(|e| KeyError::Crypto {
            what: "generate a key",
            reason: e.to_string(),
        })?;
        ZoneKey::from_pkcs8(algorithm, der.secret_pkcs8_der())
    }

    /// The key stored as PKCS#8 DER.
    pub fn from_pkcs8(algorithm: DnssecAlgorithm, der: &[u8]) -> Result<ZoneKey, KeyError> {
        let malformed = |reason: String| KeyError::Malformed {
            algorithm: algorithm.mnemonic(),
            reason,
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec()));
        let signing = signing_key_from_der(&key, hickory_algorithm(algorithm))
            .map_err(|e| malformed(e.to_string()))?;
        let public = signing
            .to_public_key()
            .map_err(|e| malformed(e.to_string()))?;
        let dnskey = DNSKEY::with_flags(CSK_FLAGS, public);
        let tag = dnskey
            .calculate_key_tag()
            .map_err(|e| malformed(e.to_string()))?;
        Ok(ZoneKey {
            algorithm,
            signing,
            dnskey,
            tag,
            pkcs8: der.to_vec(),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DnssecAlgorithm {
        self.algorithm
    }

    /// The key tag (RFC 4034 Appendix B), which RRSIG and DS records name the key by.
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// The private key as PKCS#8 DER, for storing.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The DNSKEY record data published at the apex.
    pub fn dnskey(&self) -> &DNSKEY {
        &self.dnskey
    }

    /// The DS record data for the parent zone, with a SHA-256 digest (RFC 4509; the digest type
    /// RFC 8624 says every validator implements and registries accept).
    pub fn ds(&self, origin: &Name) -> Result<DS, KeyError> {
        let digest = self
            .dnskey
            .to_digest(origin, DigestType::SHA256)
            .map_err(|e| KeyError::Crypto {
                what: "compute the DS digest",
                reason: e.to_string(),
            })?;
        Ok(DS::new(
            self.tag,
            hickory_algorithm(self.algorithm),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        ))
    }

    /// The CDS record data (RFC 7344): the DS the parent should hold, published in the child.
    pub fn cds(&self, origin: &Name) -> Result<CDS, KeyError> {
        let ds = self.ds(origin)?;
        Ok(CDS::new(
            ds.key_tag(),
            Some(ds.algorithm()),
            ds.digest_type(),
            ds.digest().to_vec(),
        ))
    }

    /// The CDNSKEY record data (RFC 7344): the DNSKEY the parent should make a DS of.
    pub fn cdnskey(&self) -> CDNSKEY {
        CDNSKEY::new(
            true,
            true,
            false,
            Some(hickory_algorithm(self.algorithm)),
            self.dnskey.public_key().public_bytes().to_vec(),
        )
    }

    /// Signs the canonical form of an RRset (RFC 4034 §3.1.8.1).
    pub fn sign(&self, tbs: &TBS) -> Result<Vec<u8>, KeyError> {
        self.signing.sign(tbs).map_err(|e| KeyError::Crypto {
            what: "sign",
            reason: e.to_string(),
        })
    }
}

/// hickory-proto's name for `algorithm`.
pub fn hickory_algorithm(algorithm: DnssecAlgorithm) -> Algorithm {
    match algorithm {
        DnssecAlgorithm::EcdsaP256Sha256 => Algorithm::ECDSAP256SHA256,
        DnssecAlgorithm::Ed25519 => Algorithm::ED25519,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_comes_back_with_the_same_public_half() {
        for alg in [DnssecAlgorithm::EcdsaP256Sha256, DnssecAlgorithm::Ed25519] {
            let key = ZoneKey::generate(alg).unwrap();
            let again = ZoneKey::from_pkcs8(alg, key.pkcs8()).unwrap();
            assert_eq!(key.dnskey(), again.dnskey());
            assert_eq!(key.tag(), again.tag());
            assert_eq!(key.dnskey().flags(), 257);
            assert_eq!(
                u8::from(key.dnskey().public_key().algorithm()),
                alg.number()
            );
        }
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        let ed = ZoneKey::generate(DnssecAlgorithm::Ed25519).unwrap();
        let err = ZoneKey::from_pkcs8(DnssecAlgorithm::EcdsaP256Sha256, ed.pkcs8()).unwrap_err();
        assert!(err.to_string().contains("ECDSAP256SHA256"), "{err}");
        assert!(ZoneKey::from_pkcs8(DnssecAlgorithm::Ed25519, b"garbage").is_err());
    }

    #[test]
    fn cds_and_ds_agree() {
        let key = ZoneKey::generate(DnssecAlgorithm::EcdsaP256Sha256).unwrap();
        let origin = Name::from_ascii("example.com.").unwrap();
        let ds = key.ds(&origin).unwrap();
        let cds = key.cds(&origin).unwrap();
        assert_eq!(ds.key_tag(), key.tag());
        assert_eq!(cds.digest(), ds.digest());
        assert_eq!(ds.digest().len(), 32);
        assert!(ds.covers(&origin, key.dnskey()).unwrap());
    }
}
