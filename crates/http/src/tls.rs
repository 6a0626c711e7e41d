//! HTTPS certificates: chosen per connection by SNI among the configured or generated ones, with a
//! fallback for clients that send no SNI (connections to an IP address never do).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailbeacon_model::{Model, TlsMode};
use rustls::ServerConfig;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::lab::LabCa;
use mailbeacon_formats::profile_signing::ProfileSigner;

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The lab CA's directory or files could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Certificates by the names they serve.
#[derive(Debug, Default)]
pub struct CertificateSet {
    exact: HashMap<String, Entry>,
    /// `*.example.net` certificates, keyed by `example.net`.
    wildcard: HashMap<String, Entry>,
    fallback: Option<Arc<CertifiedKey>>,
}

/// A certificate in a [`CertificateSet`]: loaded, or a lab certificate issued on first use.
#[derive(Debug, Clone)]
enum Entry {
    Ready(Arc<CertifiedKey>),
    Lazy(Arc<LazyLabCertificate>),
}

impl Entry {
    fn key(&self) -> Option<Arc<CertifiedKey>> {
        match self {
            Entry::Ready(k) => Some(k.clone()),
            Entry::Lazy(l) => l.issued().map(|(k, _)| k.clone()),
        }
    }
}

/// A lab certificate issued the first time it is needed (a handshake naming one of its names, or
/// a profile to sign), then kept: a lab or `serve` of 10,000 domains is ready without 10,000 key
/// generations and signatures first. Its validity is fixed when it is planned, so expiry is
/// known (for metrics) without issuing it.
pub struct LazyLabCertificate {
    ca: Arc<LabCa>,
    names: Vec<String>,
    validity: (time::OffsetDateTime, time::OffsetDateTime),
    issued: std::sync::OnceLock<Option<IssuedLabCertificate>>,
}

/// An issued lab certificate and the profile signer made from it.
type IssuedLabCertificate = (Arc<CertifiedKey>, Option<Arc<ProfileSigner>>);

impl std::fmt::Debug for LazyLabCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyLabCertificate")
            .field("names", &self.names)
            .field("issued", &self.issued.get().is_some())
            .finish_non_exhaustive()
    }
}

impl LazyLabCertificate {
    /// Plans a certificate for `names`, from `ca`, valid over `validity`.
    pub(crate) fn new(
        ca: Arc<LabCa>,
        names: Vec<String>,
        validity: (time::OffsetDateTime, time::OffsetDateTime),
    ) -> LazyLabCertificate {
        LazyLabCertificate {
            ca,
            names,
            validity,
            issued: std::sync::OnceLock::new(),
        }
    }

    /// The certificate and its profile signer, issued now if not yet. `None` only if issuing
    /// failed (logged once; handshakes for these names then fall back like unknown names).
    fn issued(&self) -> Option<&IssuedLabCertificate> {
        self.issued
            .get_or_init(
                || match self.ca.issue_for_domain(&self.names, self.validity) {
                    Ok(issued) => Some(issued),
                    Err(e) => {
                        tracing::error!("lab certificate for {}: {e}", self.names.join(", "));
                        None
                    }
                },
            )
            .as_ref()
    }
}

/// What signs one domain's Apple profiles: a loaded certificate's key, or a lab certificate's,
/// issued on first use.
#[derive(Debug, Clone)]
pub enum ProfileSignerSource {
    /// A signer ready to use.
    Ready(Arc<ProfileSigner>),
    /// The signer of a lab certificate not issued yet.
    Lazy(Arc<LazyLabCertificate>),
}

impl ProfileSignerSource {
    /// The signer (issuing a lazy lab certificate if needed).
    pub fn signer(&self) -> Option<Arc<ProfileSigner>> {
        match self {
            ProfileSignerSource::Ready(s) => Some(s.clone()),
            ProfileSignerSource::Lazy(l) => l.issued().and_then(|(_, s)| s.clone()),
        }
    }
}

impl CertificateSet {
    /// Adds `key` for `names`; earlier entries win for a name listed twice. The first
    /// certificate added is the fallback unless [`CertificateSet::set_fallback`] is called.
    pub fn insert(&mut self, names: &[String], key: Arc<CertifiedKey>) {
        self.insert_entry(names, &Entry::Ready(key.clone()));
        self.fallback.get_or_insert(key);
    }

    /// Adds a lab certificate for `names` that is issued the first time it is asked for.
    pub fn insert_lazy(&mut self, names: &[String], planned: Arc<LazyLabCertificate>) {
        self.insert_entry(names, &Entry::Lazy(planned));
    }

    fn insert_entry(&mut self, names: &[String], entry: &Entry) {
        for n in names {
            let n = n.to_ascii_lowercase();
            match n.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_owned()),
                None => self.exact.entry(n),
            }
            .or_insert_with(|| entry.clone());
        }
    }

    /// Uses `key` when no name matches.
    pub fn set_fallback(&mut self, key: Arc<CertifiedKey>) {
        self.fallback = Some(key);
    }

    /// The certificate for a server name (exact, then wildcard, then the fallback).
    pub fn find(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        self.entry(server_name)
            .and_then(Entry::key)
            .or_else(|| self.fallback.clone())
    }

    fn entry(&self, server_name: Option<&str>) -> Option<&Entry> {
        let name = server_name?.trim_end_matches('.').to_ascii_lowercase();
        self.exact.get(&name).or_else(|| {
            name.split_once('.')
                .and_then(|(_, parent)| self.wildcard.get(parent))
        })
    }

    /// When the certificate for `server_name` expires (seconds since the epoch), without issuing
    /// a lab certificate that has not been asked for yet.
    pub fn not_after(&self, server_name: Option<&str>) -> Option<i64> {
        let from_der = |k: &CertifiedKey| {
            k.cert.first().and_then(|c| {
                x509_parser::parse_x509_certificate(c.as_ref())
                    .ok()
                    .map(|(_, parsed)| parsed.validity().not_after.timestamp())
            })
        };
        match self.entry(server_name) {
            Some(Entry::Ready(k)) => from_der(k),
            Some(Entry::Lazy(l)) => Some(l.validity.1.unix_timestamp()),
            None => self.fallback.as_deref().and_then(from_der),
        }
    }
}

impl ResolvesServerCert for CertificateSet {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.find(hello.server_name())
    }
}

/// Per domain (as displayed, lower case), what signs its Apple profiles.
pub type ProfileSigners = std::collections::HashMap<String, ProfileSignerSource>;

/// A ready HTTPS configuration.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    /// The rustls configuration (HTTP/2 and HTTP/1.1 offered by ALPN).
    pub config: Arc<ServerConfig>,
    /// In lab mode, the CA certificate's path.
    pub ca_path: Option<PathBuf>,
    /// In lab mode, the CA certificate (PEM).
    pub ca_pem: Option<String>,
    /// The certificates that sign each domain's Apple profiles (ECDSA P-256 keys only).
    pub profile_signers: ProfileSigners,
    /// When the certificate served for each domain's `autoconfig.` name (else the domain) expires
    /// (seconds since the epoch); domains without a certificate are absent.
    pub expiry: Vec<(String, i64)>,
}

/// Builds the HTTPS configuration for `model`; `None` when TLS is off.
pub fn setup(model: &Model) -> Result<Option<TlsSetup>, TlsError> {
    let (set, ca, profile_signers) = match model.tls.mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files => {
            let (set, signers) = from_files(model)?;
            (set, None, signers)
        }
        TlsMode::Acme => {
            let (set, signers) = from_acme(model)?;
            (set, None, signers)
        }
        TlsMode::Lab => {
            let ca = Arc::new(LabCa::load_or_create(&model.server.state_dir.join("tls"))?);
            let (set, signers) = LabCa::certificates(&ca, model)?;
            (set, Some(ca), signers)
        }
    };
    let expiry = expiry_by_domain(model, &set);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(set));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(TlsSetup {
        config: Arc::new(config),
        ca_path: ca.as_ref().map(|c| c.cert_path().to_owned()),
        ca_pem: ca.map(|c| c.cert_pem().to_owned()),
        profile_signers,
        expiry,
    }))
}

/// Loads and checks every configured certificate and key exactly as serving does, without
/// building a TLS configuration; what `mailbeacon check` runs in `files` mode.
pub fn check_files(model: &Model) -> Result<(), TlsError> {
    from_files(model).map(|_| ())
}

/// For each domain, when the certificate that serves it expires.
fn expiry_by_domain(model: &Model, set: &CertificateSet) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for d in &model.domains {
        let domain = mailbeacon_model::name::display(&d.name);
        let not_after = set
            .not_after(Some(&format!("autoconfig.{domain}")))
            .or_else(|| set.not_after(Some(&domain)));
        if let Some(t) = not_after {
            out.push((domain, t));
        }
    }
    out
}

/// For each domain, the first of `candidates` (names, signer) that names `autoconfig.<d>` or
/// `<d>` (exactly, or by a `*.` wildcard).
fn signers_by_domain(
    model: &Model,
    candidates: &[(Vec<String>, Arc<ProfileSigner>)],
) -> ProfileSigners {
    let covers = |names: &[String], host: &str| {
        names.iter().any(|n| {
            n == host
                || n.strip_prefix("*.")
                    .is_some_and(|rest| host.split_once('.').is_some_and(|(_, h)| h == rest))
        })
    };
    let mut out = ProfileSigners::new();
    for d in &model.domains {
        let domain = mailbeacon_model::name::display(&d.name);
        let wanted = [format!("autoconfig.{domain}"), domain.clone()];
        if let Some((_, s)) = candidates
            .iter()
            .find(|(names, _)| wanted.iter().any(|w| covers(names, w)))
        {
            out.insert(domain, ProfileSignerSource::Ready(s.clone()));
        }
    }
    out
}

/// A profile signer from a chain and key as DER, when the key can sign profiles.
fn profile_signer(
    chain: &[CertificateDer<'_>],
    key: &PrivateKeyDer<'_>,
) -> Option<Arc<ProfileSigner>> {
    let PrivateKeyDer::Pkcs8(pkcs8) = key else {
        return None;
    };
    let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
    ProfileSigner::from_der(&chain, pkcs8.secret_pkcs8_der())
        .ok()
        .map(Arc::new)
}

/// The certificates ACME issued so far (`state_dir/acme/`); names still waiting for theirs get no
/// certificate (their handshakes fail) until the order completes and the set is rebuilt.
fn from_acme(model: &Model) -> Result<(CertificateSet, ProfileSigners), TlsError> {
    let store = mailbeacon_certs::IssuedStore::in_state_dir(&model.server.state_dir);
    let mut set = CertificateSet::default();
    let mut candidates = Vec::new();
    for issued in store.all() {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(issued.chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::File {
                    path: store.account_file().with_file_name(&issued.domain),
                    message: e.to_string(),
                })?;
        let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).map_err(|e| {
            TlsError::File {
                path: store.account_file().with_file_name(&issued.domain),
                message: e.to_string(),
            }
        })?;
        let signer = any_supported_type(&key).map_err(|e| TlsError::File {
            path: store.account_file().with_file_name(&issued.domain),
            message: e.to_string(),
        })?;
        if let Some(p) = profile_signer(&chain, &key) {
            candidates.push((issued.names.clone(), p));
        }
        set.insert(&issued.names, Arc::new(CertifiedKey::new(chain, signer)));
    }
    Ok((set, signers_by_domain(model, &candidates)))
}

fn from_files(model: &Model) -> Result<(CertificateSet, ProfileSigners), TlsError> {
    let mut set = CertificateSet::default();
    let mut candidates = Vec::new();
    for files in &model.tls.certificates {
        let cert_pem = read_pem(&files.cert)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(&files.cert, e))?;
        if chain.is_empty() {
            return Err(TlsError::File {
                path: files.cert.clone(),
                message: "no CERTIFICATE block found".into(),
            });
        }
        let key_pem = read_pem(&files.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| file_error(&files.key, e))?;
        let signer = any_supported_type(&key).map_err(|e| TlsError::File {
            path: files.key.clone(),
            message: e.to_string(),
        })?;
        if let Some(p) = profile_signer(&chain, &key) {
            candidates.push((files.names.clone(), p));
        }
        let certified = CertifiedKey::new(chain, signer);
        certified.keys_match().map_err(|e| TlsError::File {
            path: files.key.clone(),
            message: format!("key does not belong to {}: {e}", files.cert.display()),
        })?;
        set.insert(&files.names, Arc::new(certified));
    }
    Ok((set, signers_by_domain(model, &candidates)))
}

/// Largest certificate chain or key file read; real ones are a few KiB.
const MAX_PEM_FILE: u64 = 1024 * 1024;

/// Reads a PEM file that must be a regular file of sane size. Opened non-blocking and checked
/// after opening, so that a FIFO or device in its place (`/dev/zero`) can neither block the
/// server nor make it read forever.
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let refuse = |message: String| TlsError::File {
        path: path.to_owned(),
        message,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| refuse(format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| refuse(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > MAX_PEM_FILE {
        return Err(refuse(format!(
            "{} bytes; a certificate or key file is at most {MAX_PEM_FILE}",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(refuse(format!("more than {MAX_PEM_FILE} bytes")));
    }
    Ok(bytes)
}

fn file_error(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}
