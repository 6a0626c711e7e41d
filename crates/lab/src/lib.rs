//! A disposable mail-domain world for testing mail clients: authoritative DNS (UDP and TCP), HTTP
//! and HTTPS with a private CA, every autoconfig format, on ephemeral loopback ports, with every
//! request captured.
//!
//! ```
//! let lab = mailbeacon_lab::Lab::builder().domain("example.net").start().unwrap();
//! // Point a client at lab.info().dns / .https, trust lab.info().ca_pem …
//! assert!(lab.info().domains.iter().any(|d| d == "example.net"));
//! assert!(lab.info().ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! // … then assert on what it asked:
//! assert!(lab.requests().is_empty());
//! drop(lab); // stops every listener and removes the temporary CA
//! ```

pub mod capture;
pub mod generation;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use mailbeacon_dns::dnssec::SignatureCache;
use mailbeacon_dns::{DnsServer, Responder};
use mailbeacon_http::{HttpServer, Shared};
use mailbeacon_model::{Model, SerialBook, TlsMode, ZoneSet, name};
use serde::Serialize;

pub use capture::{Capture, Captured, Exchange};
pub use generation::{Generation, GenerationError, Serving};
/// The built-in default configuration (`example.test`), e.g. for [`Lab::reload_with`].
pub use mailbeacon_model::DEFAULT_CONFIG;

/// Why a lab could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The configuration is invalid (the message names file, line and key).
    #[error("{0}")]
    Config(String),
    /// A file or directory could not be read or created.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("{0}")]
    Bind(String),
    /// HTTPS or DNSSEC could not be set up.
    #[error("{0}")]
    Generation(#[from] GenerationError),
}

/// Where the configuration comes from.
#[derive(Debug, Clone)]
enum Source {
    Default,
    File(PathBuf),
    Text(String),
}

/// The service an exact lab gives every domain it was asked for: IMAP, POP3 and SMTP submission
/// on `mail.<domain>` with implicit TLS (and STARTTLS on 587), the address as username.
pub const LAB_SERVICE: &str = r#"[service.mail]
display_name = "{domain} mail"
username = "address"
incoming = [
  { protocol = "imap", host = "mail.{domain}", port = 993, security = "tls" },
  { protocol = "pop3", host = "mail.{domain}", port = 995, security = "tls" },
]
outgoing = [
  { protocol = "smtp", host = "mail.{domain}", port = 465, security = "tls" },
  { protocol = "smtp", host = "mail.{domain}", port = 587, security = "starttls" },
]
"#;

/// The rest of an exact lab's configuration: this box on loopback, TLS in lab mode.
const LAB_SERVER: &str = r#"[server]
ipv4 = ["127.0.0.1"]
ipv6 = ["::1"]
[tls]
mode = "lab"
"#;

/// Sets up a [`Lab`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    source: Source,
    domains: Vec<String>,
    service: Option<String>,
    state_dir: Option<PathBuf>,
    dns: Vec<SocketAddr>,
    http: Vec<SocketAddr>,
    https: Vec<SocketAddr>,
    loopback: bool,
    certificate_names: Vec<String>,
}

/// What a running lab offers, as written to the ready file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabInfo {
    /// DNS listeners (UDP and TCP on each).
    pub dns: Vec<SocketAddr>,
    /// HTTP listeners.
    pub http: Vec<SocketAddr>,
    /// HTTPS listeners.
    pub https: Vec<SocketAddr>,
    /// The CA certificate's path.
    pub ca: PathBuf,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The served mail domains (primaries and aliases).
    pub domains: Vec<String>,
    /// Every host name with a certificate (what clients connect to).
    pub names: Vec<String>,
}

/// A running lab; dropping it stops everything and removes temporaries.
pub struct Lab {
    info: LabInfo,
    capture: Arc<Capture>,
    dns: Arc<ArcSwap<Responder>>,
    http: Arc<Shared>,
    source: Source,
    domains: Vec<String>,
    state_dir: PathBuf,
    loopback: bool,
    certificate_names: Vec<String>,
    signatures: SignatureCache,
    https_port: Option<u16>,
    /// Set on drop, so background work stops early.
    stopped: Arc<AtomicBool>,
    // Dropped in this order: the runtime (and with it every listener) first, then the temp dir.
    runtime: Option<tokio::runtime::Runtime>,
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// A builder serving the built-in default configuration (`example.test`).
    pub fn builder() -> LabBuilder {
        LabBuilder {
            source: Source::Default,
            domains: Vec::new(),
            service: None,
            state_dir: None,
            dns: Vec::new(),
            http: Vec::new(),
            https: Vec::new(),
            loopback: false,
            certificate_names: Vec::new(),
        }
    }

    /// The listeners, CA and names.
    pub fn info(&self) -> &LabInfo {
        &self.info
    }

    /// The first DNS listener.
    pub fn dns_addr(&self) -> SocketAddr {
        self.info.dns[0]
    }

    /// The first HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.info.http[0]
    }

    /// The first HTTPS listener.
    pub fn https_addr(&self) -> SocketAddr {
        self.info.https[0]
    }

    /// The CA certificate in DER form (what rustls, native-tls and most TLS stacks take).
    pub fn ca_der(&self) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        CertificateDer::from_pem_slice(self.info.ca_pem.as_bytes())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default()
    }

    /// A rustls root store that trusts the lab CA and nothing else.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        // The lab made this certificate itself; a failure would leave the store empty, which any
        // TLS test then reports as an unknown issuer.
        let _ = store.add(rustls::pki_types::CertificateDer::from(self.ca_der()));
        store
    }

    /// Where a client that connects to `host` on `port` by name should really connect: port 443
    /// goes to the lab's HTTPS listener, 80 to HTTP and 53 to DNS, for every name the lab serves
    /// (`None` for other names and ports). Install it as the client's resolver override (e.g. a
    /// hyper connector or a resolver that maps host names) when the client cannot be told ports.
    pub fn address_of(&self, host: &str, port: u16) -> Option<SocketAddr> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let served = self.info.names.contains(&host) || self.info.domains.contains(&host);
        if !served {
            return None;
        }
        match port {
            443 => self.info.https.first().copied(),
            80 => self.info.http.first().copied(),
            53 => self.info.dns.first().copied(),
            _ => None,
        }
    }

    /// Every (host, port) → listener pair [`Lab::address_of`] knows, e.g. for
    /// `reqwest::ClientBuilder::resolve` (HTTPS names) or an `/etc/hosts`-style map.
    pub fn address_map(&self) -> Vec<((String, u16), SocketAddr)> {
        let mut names: Vec<&String> = self.info.names.iter().chain(&self.info.domains).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .flat_map(|n| {
                [443, 80, 53]
                    .into_iter()
                    .filter_map(move |p| self.address_of(n, p).map(|a| ((n.clone(), p), a)))
            })
            .collect()
    }

    /// Every DNS query and HTTP request answered so far, oldest first.
    pub fn requests(&self) -> Vec<Captured> {
        self.capture.entries()
    }

    /// Forgets the captured requests.
    pub fn clear_requests(&self) {
        self.capture.clear();
    }

    /// Reads the configuration file again (or the built-in default) and swaps it in; on error the
    /// running configuration stays.
    pub fn reload(&self) -> Result<(), LabError> {
        let text = read_source(&self.source)?.0;
        self.swap(&text)
    }

    /// Replaces the configuration with `text` (the builder's extra domains are added again).
    pub fn reload_with(&self, text: &str) -> Result<(), LabError> {
        self.swap(text)
    }

    fn swap(&self, text: &str) -> Result<(), LabError> {
        let model = lab_model(
            text,
            &source_path(&self.source),
            &self.domains,
            &self.state_dir,
            self.loopback,
            &self.certificate_names,
        )?;
        lab_generation(&model, self.https_port, &self.signatures)?.install(&self.dns, &self.http);
        if let Some(rt) = &self.runtime {
            prepare_in_background(rt, &self.dns, &self.stopped);
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        if let Some(rt) = self.runtime.take() {
            // Drops every task: listeners close, UDP workers see their stop flag.
            rt.shutdown_background();
        }
    }
}

impl LabBuilder {
    /// Serves this configuration file instead of the built-in default.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Source::File(path.into());
        self
    }

    /// Serves this configuration text instead of the built-in default.
    pub fn config_text(mut self, text: impl Into<String>) -> Self {
        self.source = Source::Text(text.into());
        self
    }

    /// Adds a mail domain (MX `mail.<domain>`). Without a configuration file or text, the lab
    /// then serves exactly the domains named this way, each with [`LAB_SERVICE`] (or the one
    /// given to [`LabBuilder::service`]); with one, the domain is added to it and served by its
    /// service.
    pub fn domain(mut self, name: impl Into<String>) -> Self {
        self.domains.push(name.into());
        self
    }

    /// The service of an exact lab: a `[service.NAME]` table in configuration syntax (hosts may
    /// use `{domain}`), replacing [`LAB_SERVICE`].
    pub fn service(mut self, toml: impl Into<String>) -> Self {
        self.service = Some(toml.into());
        self
    }

    /// Keeps the CA (and serials) in `dir`, so it is reused by the next lab; by default a
    /// temporary directory is used and removed on drop.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The lab CA also issues a certificate for `name` (repeatable): a host of the test's own,
    /// such as the IMAP server it starts, that should be trusted through [`Lab::root_store`].
    pub fn certificate_for(mut self, name: impl Into<String>) -> Self {
        self.certificate_names
            .push(name.into().trim_end_matches('.').to_ascii_lowercase());
        self
    }

    /// Every address the lab publishes becomes 127.0.0.1 (no IPv6): `[server]` addresses, `cname`
    /// and `[hosts]`. A configuration written for the internet (public addresses, a CNAME to a
    /// provider) then sends clients, and `mailbeacon probe`, to the lab's own listeners.
    pub fn loopback(mut self, on: bool) -> Self {
        self.loopback = on;
        self
    }

    /// DNS listen addresses (default: the configuration's if it names them, else 127.0.0.1:0).
    pub fn dns(mut self, addrs: Vec<SocketAddr>) -> Self {
        self.dns = addrs;
        self
    }

    /// HTTP listen addresses (same defaulting as [`LabBuilder::dns`]).
    pub fn http(mut self, addrs: Vec<SocketAddr>) -> Self {
        self.http = addrs;
        self
    }

    /// HTTPS listen addresses (same defaulting as [`LabBuilder::dns`]).
    pub fn https(mut self, addrs: Vec<SocketAddr>) -> Self {
        self.https = addrs;
        self
    }

    /// Binds every listener, generates the CA if needed, and starts serving.
    pub fn start(mut self) -> Result<Lab, LabError> {
        // Domains asked for without a configuration: exactly those, nothing of the default's.
        if matches!(self.source, Source::Default) && !self.domains.is_empty() {
            let service = self
                .service
                .take()
                .unwrap_or_else(|| LAB_SERVICE.to_owned());
            self.source = Source::Text(format!("{LAB_SERVER}\n{service}"));
        }
        let (text, pinned) = read_source(&self.source)?;
        let (temp, state_dir) = match &self.state_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("mailbeacon-lab-")
                    .tempdir()
                    .map_err(|source| LabError::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                let path = t.path().to_owned();
                (Some(t), path)
            }
        };
        let model = lab_model(
            &text,
            &source_path(&self.source),
            &self.domains,
            &state_dir,
            self.loopback,
            &self.certificate_names,
        )?;
        let ephemeral = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)];
        let choose = |given: &[SocketAddr], configured: &[SocketAddr], key: &str| {
            if !given.is_empty() {
                given.to_vec()
            } else if pinned.iter().any(|k| k == key) {
                configured.to_vec()
            } else {
                ephemeral.clone()
            }
        };
        let dns_addrs = choose(&self.dns, &model.server.dns, "dns");
        let http_addrs = choose(&self.http, &model.server.http, "http");
        let https_addrs = choose(&self.https, &model.server.https, "https");

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mailbeacon-lab")
            .enable_all()
            .build()
            .map_err(|source| LabError::Io {
                path: PathBuf::from("<runtime>"),
                source,
            })?;
        let (dns_server, http_server) = runtime.block_on(async {
            let dns = DnsServer::bind(&dns_addrs)
                .await
                .map_err(|e| LabError::Bind(e.to_string()))?;
            let http = HttpServer::bind(&http_addrs, &https_addrs)
                .await
                .map_err(|e| LabError::Bind(e.to_string()))?;
            Ok::<_, LabError>((dns, http))
        })?;
        let https = http_server.https_addrs();
        let https_port = https.first().map(SocketAddr::port);
        let signatures = SignatureCache::default();
        let generation = lab_generation(&model, https_port, &signatures)?;
        let tls = generation
            .tls
            .as_ref()
            .ok_or_else(|| LabError::Config("lab mode needs TLS (it is forced to `lab`)".into()))?;
        let info = LabInfo {
            dns: dns_server.local_addrs(),
            http: http_server.http_addrs(),
            https,
            ca: tls.ca_path.clone().unwrap_or_default(),
            ca_pem: tls.ca_pem.clone().unwrap_or_default(),
            domains: model
                .domains
                .iter()
                .map(|d| name::display(&d.name))
                .collect(),
            names: served_names(&model),
        };
        let capture = Arc::new(Capture::default());
        let dns = Arc::new(ArcSwap::from_pointee(generation.responder));
        let http = Shared::observed(
            generation.site,
            generation.tls.map(|t| t.config),
            Some(capture.clone() as Arc<dyn mailbeacon_http::RequestObserver>),
        );
        runtime.spawn(dns_server.run(
            dns.clone(),
            Some(capture.clone() as Arc<dyn mailbeacon_dns::QueryObserver>),
        ));
        runtime.spawn(http_server.run(http.clone()));
        let stopped = Arc::new(AtomicBool::new(false));
        prepare_in_background(&runtime, &dns, &stopped);
        Ok(Lab {
            stopped,
            info,
            capture,
            dns,
            http,
            source: self.source,
            domains: self.domains,
            loopback: self.loopback,
            certificate_names: self.certificate_names,
            signatures,
            state_dir,
            https_port,
            runtime: Some(runtime),
            _temp: temp,
        })
    }
}

/// What the lab serves for `model`, with serials from the clock: a lab keeps no serial book.
/// DNSSEC keys live in its state directory (a temporary one unless the builder names one).
fn lab_generation(
    model: &Model,
    https_port: Option<u16>,
    signatures: &SignatureCache,
) -> Result<Generation, GenerationError> {
    let now = unix_now();
    Generation::build(
        model,
        ZoneSet::derive(model),
        now,
        |mut zones| {
            zones.assign_serials(&mut SerialBook::default(), now);
            zones
        },
        https_port,
        signatures,
        None,
    )
}

/// Precomputes the DNS fast path off the serving threads and swaps it in, unless a reload has
/// replaced the responder meanwhile (its own background build then wins).
fn prepare_in_background(
    runtime: &tokio::runtime::Runtime,
    dns: &Arc<ArcSwap<Responder>>,
    stopped: &Arc<AtomicBool>,
) {
    let dns = dns.clone();
    let stopped = stopped.clone();
    runtime.spawn_blocking(move || {
        let current = dns.load_full();
        // A stopped lab or a newer configuration makes this work pointless: give up early.
        let cancelled = || stopped.load(Ordering::Relaxed) || !Arc::ptr_eq(&dns.load(), &current);
        if let Some(full) = current.with_prepared_unless(&cancelled) {
            dns.compare_and_swap(&current, Arc::new(full));
        }
    });
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// The configuration text, and which `[server]` listener keys it sets explicitly.
fn read_source(source: &Source) -> Result<(String, Vec<String>), LabError> {
    let text = match source {
        // The built-in default names its listeners only as documentation: a lab uses free ports.
        Source::Default => return Ok((mailbeacon_model::DEFAULT_CONFIG.to_owned(), Vec::new())),
        Source::Text(t) => t.clone(),
        Source::File(p) => std::fs::read_to_string(p).map_err(|source| LabError::Io {
            path: p.clone(),
            source,
        })?,
    };
    let pinned = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("server").and_then(|s| s.as_table()).cloned())
        .map(|server| {
            ["dns", "http", "https"]
                .into_iter()
                .filter(|k| server.contains_key(*k))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok((text, pinned))
}

fn source_path(source: &Source) -> PathBuf {
    match source {
        Source::Default => PathBuf::from("<built-in default>"),
        Source::Text(_) => PathBuf::from("<lab configuration>"),
        Source::File(p) => p.clone(),
    }
}

/// Loads `text` with `domains` appended, state in `state_dir` and TLS in lab mode.
fn lab_model(
    text: &str,
    path: &Path,
    domains: &[String],
    state_dir: &Path,
    loopback: bool,
    certificate_names: &[String],
) -> Result<Model, LabError> {
    let mut full = text.to_owned();
    for d in domains {
        // Names are quoted as TOML strings; validation judges them like any other.
        full.push_str(&format!(
            "\n[[domain]]\nname = {}\nmx = [\"10 mail.{{domain}}\"]\n",
            toml::Value::String(d.clone())
        ));
    }
    let mut model =
        mailbeacon_model::load_str(&full, path).map_err(|e| LabError::Config(e.to_string()))?;
    model.server.state_dir = state_dir.to_owned();
    model.tls.mode = TlsMode::Lab;
    model.tls.extra_names = certificate_names.to_vec();
    if loopback {
        model.server.ipv4 = vec![Ipv4Addr::LOCALHOST];
        model.server.ipv6.clear();
        model.server.cname = None;
        for h in &mut model.hosts {
            h.addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        }
    }
    Ok(model)
}

fn served_names(model: &Model) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    mailbeacon_http::lab::served_names(model)
        .into_iter()
        .flatten()
        .filter(|n| seen.insert(n.clone()))
        .collect()
}
