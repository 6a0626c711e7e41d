//! `mailbeacon probe`: a mail domain seen the way each mail client will see it.
//!
//! For each client ([`clients`]) its discovery chain is walked as the client walks it — over the
//! resolver and the HTTP(S) stack a client would use ([`dns`], [`fetch`]) — and the settings it
//! ends with are read by its own rules ([`settings`]). The domain's hygiene ([`hygiene`]) and, given
//! a configuration, its drift from what is live ([`drift`]) are checked in the same run; the
//! [`report`] says what each client did and what is wrong, with an exit status for scripts.
//!
//! Harnesses call [`probe`] in-process; the `mailbeacon probe` command is a thin shell over it.

pub mod clients;
pub mod dns;
pub mod drift;
pub mod fetch;
pub mod hygiene;
pub mod report;
pub mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use clients::{Client, ClientReport};
pub use report::{Finding, Level, Report};
pub use settings::{Server, Settings};

/// Told what the probe is doing (for a progress line on a terminal).
pub type Progress = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// What to probe and how.
#[derive(Clone)]
pub struct Options {
    /// The address a user would type.
    pub address: String,
    /// The recursive resolver to ask (default: the system's first `nameserver`).
    pub resolver: Option<SocketAddr>,
    /// Extra trusted CA certificates (PEM), e.g. a lab's; without any, the web's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The clients to walk (empty: all).
    pub clients: Vec<Client>,
    /// Where `https:` URLs without a port are reached (443 unless behind a port map, as a lab).
    pub https_port: u16,
    /// Where `http:` URLs without a port are reached.
    pub http_port: u16,
    /// A configuration to compare the live zone with.
    pub config: Option<PathBuf>,
    /// Called before each client's walk and each check.
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("address", &self.address)
            .field("resolver", &self.resolver)
            .field("clients", &self.clients)
            .field("https_port", &self.https_port)
            .field("http_port", &self.http_port)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Defaults for `address`: the system resolver, the web's roots, every client, ports 443/80.
    pub fn new(address: &str) -> Options {
        Options {
            address: address.to_owned(),
            resolver: None,
            ca_pem: None,
            clients: Vec::new(),
            https_port: 443,
            http_port: 80,
            config: None,
            progress: None,
        }
    }
}

/// Why a probe could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The address is not `local@domain`.
    #[error("{0:?} is not an email address (local@domain)")]
    Address(String),
    /// The CA file holds no usable certificate.
    #[error("the CA certificates: {0}")]
    Ca(String),
}

/// Walks every chosen client's chain and checks the domain; the report has every step.
pub async fn probe(options: &Options) -> Result<Report, ProbeError> {
    let address = settings::Address::parse(&options.address)
        .ok_or_else(|| ProbeError::Address(options.address.clone()))?;
    let resolver = match options.resolver {
        Some(a) => dns::Resolver::new(a),
        None => dns::Resolver::system(),
    };
    let mut roots = rustls::RootCertStore::empty();
    match &options.ca_pem {
        Some(pem) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| ProbeError::Ca(e.to_string()))?;
                roots.add(cert).map_err(|e| ProbeError::Ca(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(ProbeError::Ca("no PEM certificate found".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let mut fetcher = fetch::Fetcher::new(resolver.clone(), roots);
    fetcher.https_port = options.https_port;
    fetcher.http_port = options.http_port;
    let ctx = clients::Context {
        fetcher: fetcher.clone(),
        resolver: resolver.clone(),
        address: address.clone(),
    };
    let chosen: Vec<Client> = if options.clients.is_empty() {
        Client::ALL.to_vec()
    } else {
        options.clients.clone()
    };
    let say = |what: &str| {
        if let Some(p) = &options.progress {
            p(what);
        }
    };
    let mut reports = Vec::new();
    for c in chosen {
        say(&format!("walking {}'s chain", c.name()));
        reports.push(clients::walk(c, &ctx).await);
    }
    let mut findings = compare_clients(&reports);
    say("checking the domain's hygiene");
    findings.extend(hygiene::check(&address.domain, &resolver, &fetcher).await);
    if let Some(config) = &options.config {
        say("comparing with the configuration");
        findings.extend(drift::compare(config, &address.domain, &resolver).await);
    }
    say("");
    Ok(Report {
        address: address.full.clone(),
        resolver: resolver.server().to_string(),
        clients: reports,
        findings,
    })
}

/// Findings about the clients' results: who found nothing, who relies on something fragile, and
/// whether they all end with the same servers.
fn compare_clients(reports: &[ClientReport]) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in reports {
        match &r.settings {
            None => out.push(Finding::new(
                Level::Error,
                "clients",
                format!(
                    "{} finds no settings: its user has to enter them by hand",
                    r.client.name()
                ),
            )),
            Some(s) if !s.complete() => out.push(Finding::new(
                Level::Error,
                "clients",
                format!("{} finds only half the settings", r.client.name()),
            )),
            Some(_) => {}
        }
        for f in &r.fragile {
            out.push(Finding::new(
                Level::Warning,
                "clients",
                format!("{}: {f}", r.client.name()),
            ));
        }
    }
    let found: Vec<(&ClientReport, &Settings)> = reports
        .iter()
        .filter_map(|r| r.settings.as_ref().map(|s| (r, s)))
        .collect();
    if let Some((first, reference)) = found.first() {
        let mut all_same = true;
        for (r, s) in &found[1..] {
            for (dir, a, b) in [
                ("incoming", &reference.incoming, &s.incoming),
                ("outgoing", &reference.outgoing, &s.outgoing),
            ] {
                if a != b {
                    all_same = false;
                    let show = |x: &Option<Server>| {
                        x.as_ref().map_or("nothing".into(), ToString::to_string)
                    };
                    out.push(Finding::new(
                        Level::Warning,
                        "clients",
                        format!(
                            "{} {dir}: {}, but {} {dir}: {}",
                            r.client.name(),
                            show(b),
                            first.client.name(),
                            show(a)
                        ),
                    ));
                }
            }
        }
        if all_same {
            out.push(Finding::new(
                Level::Ok,
                "clients",
                format!("all {} clients end with the same servers", found.len()),
            ));
        }
    }
    out
}
