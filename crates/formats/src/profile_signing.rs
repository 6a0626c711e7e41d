//! Signed Apple configuration profiles: the `.mobileconfig` wrapped in a CMS SignedData envelope
//! (RFC 5652) made with the domain's TLS certificate and key, so that iOS and macOS show the
//! profile as signed by that name (and "Verified" when the chain is trusted) instead of
//! "Unsigned".
//!
//! ECDSA P-256 keys only (what the lab CA, ACME orders and most modern certificates use); for any
//! other key the profile is served unsigned.

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::{Any, Decode as _, Encode as _, Tag};
use p256::pkcs8::DecodePrivateKey as _;
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// Why a profile cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The key is not a PKCS#8 ECDSA P-256 key.
    #[error("the key is not an ECDSA P-256 PKCS#8 key: {0}")]
    Key(String),
    /// A certificate of the chain does not parse.
    #[error("a certificate of the chain does not parse: {0}")]
    Certificate(String),
    /// The chain is empty.
    #[error("no certificate")]
    NoCertificate,
    /// Building the envelope failed.
    #[error("cannot build the CMS envelope: {0}")]
    Cms(String),
}

/// A certificate chain (leaf first) and its key, ready to sign profiles.
pub struct ProfileSigner {
    key: p256::ecdsa::SigningKey,
    chain: Vec<Certificate>,
}

impl std::fmt::Debug for ProfileSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSigner")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ProfileSigner {
    /// From DER certificates (leaf first) and a PKCS#8 DER key.
    pub fn from_der(chain: &[Vec<u8>], key_pkcs8: &[u8]) -> Result<ProfileSigner, SigningError> {
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(key_pkcs8)
            .map_err(|e| SigningError::Key(e.to_string()))?;
        let chain = chain
            .iter()
            .map(|c| Certificate::from_der(c).map_err(|e| SigningError::Certificate(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if chain.is_empty() {
            return Err(SigningError::NoCertificate);
        }
        Ok(ProfileSigner { key, chain })
    }

    /// `profile` in a SignedData envelope (DER), with the chain included and SHA-256 digests.
    pub fn sign(&self, profile: &[u8]) -> Result<Vec<u8>, SigningError> {
        fn cms(e: impl std::fmt::Display) -> SigningError {
            SigningError::Cms(e.to_string())
        }
        let content = EncapsulatedContentInfo {
            econtent_type: const_oid::db::rfc5911::ID_DATA,
            // The OCTET STRING's value is the profile itself (what the digest covers).
            econtent: Some(Any::new(Tag::OctetString, profile.to_vec()).map_err(cms)?),
        };
        let leaf = &self.chain[0].tbs_certificate;
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: leaf.issuer.clone(),
            serial_number: leaf.serial_number.clone(),
        });
        let digest = AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_256,
            parameters: None,
        };
        let signer_info =
            SignerInfoBuilder::new(&self.key, sid, digest.clone(), &content, None).map_err(cms)?;
        let mut builder = SignedDataBuilder::new(&content);
        builder.add_digest_algorithm(digest).map_err(cms)?;
        for c in &self.chain {
            builder
                .add_certificate(CertificateChoices::Certificate(c.clone()))
                .map_err(cms)?;
        }
        builder
            .add_signer_info::<p256::ecdsa::SigningKey, p256::ecdsa::DerSignature>(signer_info)
            .map_err(cms)?;
        builder.build().map_err(cms)?.to_der().map_err(cms)
    }
}
