//! Lab TLS: a private CA kept in the state directory, and a certificate per served domain issued
//! from it the first time a client asks for one of the domain's names (or its profile is signed),
//! so a test harness trusts one file and every name just works, and 10,000 domains cost nothing
//! before they are asked for.
//!
//! Only the CA is stored (`ca.pem`, and `ca-key.pem` readable by the owner only); leaf certificates
//! are cheap to issue (ECDSA P-256, about a millisecond) and always match the configuration being
//! served, so they live in memory. Leaves are valid for 397 days, under Apple's limit for TLS server certificates.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailbeacon_model::{Model, name};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::tls::{
    CertificateSet, LazyLabCertificate, ProfileSignerSource, ProfileSigners, TlsError,
};
use mailbeacon_formats::profile_signing::ProfileSigner;

/// The lab certificate authority.
pub struct LabCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    cert_path: PathBuf,
}

impl std::fmt::Debug for LabCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabCa")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl LabCa {
    /// Loads the CA from `dir`, or creates it there on first use.
    pub fn load_or_create(dir: &Path) -> Result<LabCa, TlsError> {
        // Absolute, because the path is handed to other programs (ready file, log).
        let dir = &std::path::absolute(dir).map_err(|source| TlsError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca-key.pem");
        if cert_path.exists() && key_path.exists() {
            let cert_pem = read(&cert_path)?;
            let key = KeyPair::from_pem(&read(&key_path)?).map_err(|e| TlsError::File {
                path: key_path.clone(),
                message: e.to_string(),
            })?;
            let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| TlsError::File {
                path: cert_path.clone(),
                message: e.to_string(),
            })?;
            let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
                TlsError::File {
                    path: cert_path.clone(),
                    message: e.to_string(),
                }
            })?;
            return Ok(LabCa {
                issuer,
                cert_der,
                cert_pem,
                cert_path,
            });
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        // A distinct name per CA, so two labs' CAs are never confused in a trust store.
        let tag: String = key.public_key_raw()[1..5]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("mailbeacon lab CA {tag}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "mailbeacon lab");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let cert = params.self_signed(&key)?;
        fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            path: dir.to_owned(),
            source,
        })?;
        write_private(&key_path, &key.serialize_pem())?;
        fs::write(&cert_path, cert.pem()).map_err(|source| TlsError::Io {
            path: cert_path.clone(),
            source,
        })?;
        Ok(LabCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            cert_path,
        })
    }

    /// The CA certificate's path.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA certificate in PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses), with the CA in its
    /// chain.
    pub fn issue(&self, names: &[String]) -> Result<CertifiedKey, TlsError> {
        let (chain, key) = self.issue_der(names)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
        let signer = any_supported_type(&der)?;
        Ok(CertifiedKey::new(chain, signer))
    }

    /// As [`LabCa::issue`], as DER: the chain (leaf, CA) and the PKCS#8 key.
    fn issue_der(
        &self,
        names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, Vec<u8>), TlsError> {
        self.issue_der_valid(names, validity_from_now())
    }

    /// As [`LabCa::issue_der`], valid from `validity.0` to `validity.1`.
    fn issue_der_valid(
        &self,
        names: &[String],
        validity: (OffsetDateTime, OffsetDateTime),
    ) -> Result<(Vec<CertificateDer<'static>>, Vec<u8>), TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.clone());
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        (params.not_before, params.not_after) = validity;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((
            vec![cert.der().clone(), self.cert_der.clone()],
            key.serialize_der(),
        ))
    }

    /// A certificate per served domain (covering the names clients connect to for it), issued
    /// the first time a client asks for one of its names or its profile is signed, and a
    /// fallback for `localhost` and the box's addresses for clients that send no SNI. Each
    /// domain's certificate also signs its Apple profiles (the returned map, by domain).
    pub fn certificates(
        ca: &Arc<LabCa>,
        model: &Model,
    ) -> Result<(CertificateSet, ProfileSigners), TlsError> {
        let mut set = CertificateSet::default();
        let mut signers = ProfileSigners::new();
        let mut fallback = vec!["localhost".to_owned()];
        fallback.extend(model.server.addresses().iter().map(ToString::to_string));
        for loopback in ["127.0.0.1", "::1"] {
            if !fallback.iter().any(|n| n == loopback) {
                fallback.push(loopback.to_owned());
            }
        }
        let validity = validity_from_now();
        for (d, names) in model.domains.iter().zip(served_names(model)) {
            let planned = Arc::new(LazyLabCertificate::new(ca.clone(), names.clone(), validity));
            signers.insert(
                name::display(&d.name),
                ProfileSignerSource::Lazy(planned.clone()),
            );
            set.insert_lazy(&names, planned);
        }
        if !model.tls.extra_names.is_empty() {
            let names = model.tls.extra_names.clone();
            set.insert(&names, Arc::new(ca.issue(&names)?));
        }
        set.set_fallback(Arc::new(ca.issue(&fallback)?));
        Ok((set, signers))
    }

    /// A certificate for one domain's `names`, valid over `validity`, and the profile signer
    /// made from it (when its key can sign profiles).
    pub(crate) fn issue_for_domain(
        &self,
        names: &[String],
        validity: (OffsetDateTime, OffsetDateTime),
    ) -> Result<(Arc<CertifiedKey>, Option<Arc<ProfileSigner>>), TlsError> {
        let (chain, key) = self.issue_der_valid(names, validity)?;
        let chain_der: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
        let signer = ProfileSigner::from_der(&chain_der, &key).ok().map(Arc::new);
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
        let certified = Arc::new(CertifiedKey::new(chain, any_supported_type(&der)?));
        Ok((certified, signer))
    }
}

/// A leaf's validity from now: an hour back (clocks differ), 397 days ahead (Apple's limit).
fn validity_from_now() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - Duration::hours(1), now + Duration::days(397))
}

/// For each served domain, the names its certificate covers: the domain, its `autoconfig.`,
/// `autodiscover.` and `mta-sts.` names, every other HTTPS name its records send clients to
/// (the `_autodiscover._tcp` SRV target, the box's CNAME target), and the service hosts it uses.
pub fn served_names(model: &Model) -> Vec<Vec<String>> {
    model
        .domains
        .iter()
        .map(|d| {
            let domain = name::display(&d.name);
            let mut names: Vec<String> = std::iter::once("")
                .chain(crate::site::HELPER_PREFIXES)
                .map(|p| format!("{p}{domain}"))
                .collect();
            names.extend(mailbeacon_model::https_names::advertised(model, d));
            let settings = model.client_settings(d);
            for s in settings.incoming.iter().chain(&settings.outgoing) {
                names.push(s.host.clone());
            }
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| seen.insert(n.clone()));
            names
        })
        .collect()
}

fn read(path: &Path) -> Result<String, TlsError> {
    fs::read_to_string(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(state: &Path) -> Model {
        let text = format!(
            r#"
[server]
ipv4 = ["127.0.0.1"]
state_dir = "{}"
[tls]
mode = "lab"
[service.mail]
incoming = [{{ protocol = "imap", host = "mail.{{domain}}" }}]
outgoing = [{{ host = "mail.{{domain}}" }}]
[[domain]]
name = "one.test"
[[domain]]
name = "two.test"
"#,
            state.display()
        );
        mailbeacon_model::load_str(&text, "t.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn names_in(key: &CertifiedKey) -> Vec<String> {
        let (_, cert) = x509_parser::parse_x509_certificate(key.cert[0].as_ref()).expect("DER");
        let san = cert
            .subject_alternative_name()
            .expect("parses")
            .expect("present");
        san.value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect()
    }

    #[test]
    fn domain_certificates_are_issued_on_first_use_then_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = model(dir.path());
        let ca = Arc::new(LabCa::load_or_create(dir.path()).expect("CA"));
        let (set, signers) = LabCa::certificates(&ca, &model).expect("planned");

        // Expiry is known before anything is issued; nothing was issued to know it.
        let planned = set.not_after(Some("autoconfig.two.test")).expect("planned");
        let lazy = |domain: &str| match signers.get(domain) {
            Some(ProfileSignerSource::Lazy(l)) => l.clone(),
            other => panic!("{domain}: {other:?}"),
        };
        assert!(format!("{:?}", lazy("one.test")).contains("issued: false"));
        assert!(format!("{:?}", lazy("two.test")).contains("issued: false"));

        // A handshake for a name of two.test issues its certificate, for all of its names.
        let first = set.find(Some("autoconfig.two.test")).expect("issued");
        let names = names_in(&first);
        assert!(
            names.iter().any(|n| n.contains("autoconfig.two.test")),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n.contains("mail.two.test")),
            "{names:?}"
        );
        assert!(format!("{:?}", lazy("two.test")).contains("issued: true"));
        assert!(format!("{:?}", lazy("one.test")).contains("issued: false"));
        // … once: the same certificate for its other names and later handshakes.
        let again = set.find(Some("MTA-STS.two.test.")).expect("issued");
        assert!(Arc::ptr_eq(&first, &again));
        let (_, parsed) = x509_parser::parse_x509_certificate(first.cert[0].as_ref()).expect("DER");
        assert_eq!(parsed.validity().not_after.timestamp(), planned);

        // Signing a profile issues the domain's certificate too.
        assert!(signers["one.test"].signer().is_some());
        assert!(format!("{:?}", lazy("one.test")).contains("issued: true"));

        // Unknown names get the fallback (localhost and the addresses), issued at once.
        let fallback = set.find(Some("unknown.example")).expect("fallback");
        assert!(names_in(&fallback).iter().any(|n| n.contains("localhost")));
    }
}
