//! `[tls] mode = "acme"` in `serve`: a background task that keeps one certificate per domain
//! issued and renewed, and swaps each new certificate into the running HTTPS listeners.
//!
//! With HTTP-01 only names whose records point at this box are ordered (the challenge is answered
//! by this box's port-80 listener, so a name served elsewhere could never validate). With DNS-01
//! every name inside our zones can be ordered: the task asks the main loop to serve the
//! `_acme-challenge` TXT records in the live zones ([`ChallengeRequest`]), the zones are rebuilt
//! (their serial moves, secondaries get a NOTIFY) and the CA is told once every secondary serves
//! the records too. A failed order keeps the old certificate and is retried with a doubling wait (one
//! minute up to an hour), far inside Let's Encrypt's failed-validation limit (5 per hour).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mailbeacon_certs::{AcmeIssuer, Dns01Publisher, Http01Tokens, IssuedStore};
use mailbeacon_http::Shared;
use mailbeacon_model::{AcmeChallenge, Model, TlsMode, ZoneSet, name};
use tokio::sync::{mpsc, oneshot, watch};

/// How often certificates are looked at when nothing is due sooner.
const CHECK_EVERY: Duration = Duration::from_secs(12 * 3600);
/// First wait after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Shortest wait between rounds (seconds), so that a CA issuing very short-lived certificates
/// (a test CA) cannot make the task spin.
const MIN_WAIT: i64 = 10;

/// The ACME task asks the main loop to serve these DNS-01 records (an empty list withdraws them),
/// and hears back once they are served everywhere.
pub struct ChallengeRequest {
    /// (owner name, TXT value) pairs.
    pub records: Vec<(String, String)>,
    /// Where the outcome goes.
    pub done: oneshot::Sender<Result<(), String>>,
}

/// What [`start`] returns: the channel for each new configuration, and the DNS-01 requests.
pub type Started = (
    watch::Sender<(Model, ZoneSet)>,
    mpsc::Receiver<ChallengeRequest>,
);

/// Starts the task when `model` asks for ACME; it follows the configurations sent on the returned
/// channel (one per reload) and sends its DNS-01 requests on the other.
pub fn start(model: &Model, zones: &ZoneSet, http: Arc<Shared>) -> Option<Started> {
    if model.tls.mode != TlsMode::Acme {
        return None;
    }
    let tokens = Arc::new(Http01Tokens::default());
    http.acme.store(Some(tokens.clone()));
    let (tx, rx) = watch::channel((model.clone(), zones.clone()));
    let (requests_tx, requests_rx) = mpsc::channel(4);
    let publisher = Arc::new(Dns01Channel { tx: requests_tx });
    tokio::spawn(run(rx, tokens, publisher, http));
    Some((tx, requests_rx))
}

/// The next DNS-01 request, or never when there is no ACME task.
pub async fn next_request(
    rx: &mut Option<mpsc::Receiver<ChallengeRequest>>,
) -> Option<ChallengeRequest> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// [`Dns01Publisher`] through the main loop, which owns the zones.
struct Dns01Channel {
    tx: mpsc::Sender<ChallengeRequest>,
}

impl Dns01Publisher for Dns01Channel {
    fn publish(
        &self,
        records: Vec<(String, String)>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let (done, outcome) = oneshot::channel();
            self.tx
                .send(ChallengeRequest { records, done })
                .await
                .map_err(|_| "the server is stopping".to_owned())?;
            outcome
                .await
                .map_err(|_| "the server is stopping".to_owned())?
        })
    }
}

/// The name `text` as an absolute DNS name.
fn absolute(text: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", text.trim_end_matches('.'))).ok()
}

/// `zones` with the DNS-01 `challenges` added to the zones that hold their names (TTL 60); the
/// zones unchanged when there are none.
pub fn with_challenges(model: &Model, zones: ZoneSet, challenges: &[(String, String)]) -> ZoneSet {
    if challenges.is_empty() {
        return zones;
    }
    let mut model = model.clone();
    for (owner, value) in challenges {
        let Some(owner) = absolute(owner) else {
            continue;
        };
        // The deepest served zone that holds the name.
        let Some(d) = model
            .domains
            .iter_mut()
            .filter(|d| d.name.zone_of(&owner))
            .max_by_key(|d| d.name.num_labels())
        else {
            continue;
        };
        let txt = RData::TXT(TXT::new(vec![value.clone()]));
        std::sync::Arc::make_mut(d)
            .dns
            .extra
            .push(Record::from_rdata(owner, 60, txt));
    }
    ZoneSet::derive(&model)
}

/// The NOTIFY targets of the zones that hold `challenges`.
pub fn secondaries(zones: &ZoneSet, challenges: &[(String, String)]) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for z in zones.zones() {
        let holds = challenges
            .iter()
            .any(|(owner, _)| absolute(owner).is_some_and(|n| z.origin.zone_of(&n)));
        if holds {
            out.extend(z.notify.iter().map(|t| t.addr));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Waits (up to a minute) until every secondary in `targets` serves every record; logs those
/// that do not (the CA may then fail the challenge, and the order is retried later).
pub async fn await_secondaries(targets: &[SocketAddr], records: &[(String, String)]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for target in targets {
        let server = mailbeacon_probe::dns::Resolver::authoritative(*target);
        for (owner, value) in records {
            let Some(name) = absolute(owner) else {
                continue;
            };
            loop {
                if let Ok(a) = server.ask(&name, RecordType::TXT).await
                    && a.texts().iter().any(|t| t == value)
                {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    tracing::warn!(
                        "ACME: secondary {target} does not serve {owner} yet; telling the CA anyway"
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn run(
    mut rx: watch::Receiver<(Model, ZoneSet)>,
    tokens: Arc<Http01Tokens>,
    publisher: Arc<Dns01Channel>,
    http: Arc<Shared>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let (model, zones) = rx.borrow_and_update().clone();
        let wait = match round(&model, &zones, &tokens, &publisher, &http).await {
            Ok(next) => {
                backoff = FIRST_BACKOFF;
                next
            }
            Err(()) => {
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// One look at every domain: orders what is missing or due. `Ok(wait)` until the next renewal is
/// due; `Err` when something failed (already logged).
async fn round(
    model: &Model,
    zones: &ZoneSet,
    tokens: &Arc<Http01Tokens>,
    publisher: &Arc<Dns01Channel>,
    http: &Shared,
) -> Result<Duration, ()> {
    let Some(settings) = &model.tls.acme else {
        return Ok(CHECK_EVERY);
    };
    let store = IssuedStore::in_state_dir(&model.server.state_dir);
    let now = crate::unix_now() as i64;
    let mut due = Vec::new();
    let mut next = now + CHECK_EVERY.as_secs() as i64;
    for (domain, names) in orders(model, zones, settings.challenge) {
        match store.load(&domain) {
            Some(issued) if issued.covers(&names) && now < issued.renew_at() => {
                next = next.min(issued.renew_at());
            }
            _ => due.push((domain, names)),
        }
    }
    if due.is_empty() {
        return Ok(Duration::from_secs((next - now).max(MIN_WAIT) as u64));
    }
    let issuer = match AcmeIssuer::connect(settings, store, tokens.clone()).await {
        Ok(i) if settings.challenge == AcmeChallenge::Dns01 => i.with_dns01(publisher.clone()),
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(
                "ACME: cannot use the account at {}: {e}; the current certificates stay",
                settings.directory
            );
            return Err(());
        }
    };
    let mut failed = false;
    for (domain, names) in due {
        match issuer.issue(&domain, &names).await {
            Ok(issued) => {
                tracing::info!(
                    "ACME: certificate for {domain} issued ({}), valid until {}",
                    names.join(", "),
                    issued.not_after
                );
                next = next.min(issued.renew_at());
                // Swapped in at once; connections already open keep their handshake.
                match mailbeacon_http::tls::setup(model) {
                    Ok(Some(t)) => {
                        http.site
                            .load()
                            .set_profile_signers(t.profile_signers.clone());
                        http.tls.store(Some(t.config));
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("ACME: the new certificate cannot be served: {e}"),
                }
            }
            Err(e) => {
                failed = true;
                tracing::warn!("ACME: {e}; {domain} keeps its current certificate, retrying later");
            }
        }
    }
    if failed {
        return Err(());
    }
    Ok(Duration::from_secs((next - now).max(MIN_WAIT) as u64))
}

/// For each domain, the HTTPS names to order: those of the lab's set whose records in our zones
/// point at this box ([`Model`]'s `[server]` addresses, or its CNAME target) for HTTP-01; those
/// inside our zones for DNS-01.
fn orders(model: &Model, zones: &ZoneSet, challenge: AcmeChallenge) -> Vec<(String, Vec<String>)> {
    let ours: Vec<IpAddr> = model
        .server
        .ipv4
        .iter()
        .map(|a| IpAddr::V4(*a))
        .chain(model.server.ipv6.iter().map(|a| IpAddr::V6(*a)))
        .collect();
    let served = Served::new(zones);
    let mut out = Vec::new();
    for (d, candidates) in model
        .domains
        .iter()
        .zip(mailbeacon_http::lab::served_names(model))
    {
        let mut names = Vec::new();
        let mut elsewhere = Vec::new();
        for n in candidates {
            let usable = match challenge {
                AcmeChallenge::Http01 => served.points_here(&n, &ours, model.server.cname.as_ref()),
                AcmeChallenge::Dns01 => served.holds(&n),
            };
            if usable {
                names.push(n);
            } else {
                elsewhere.push(n);
            }
        }
        if !elsewhere.is_empty() {
            tracing::debug!(
                "ACME: {} leaves out {} (not served from this box)",
                name::display(&d.name),
                elsewhere.join(", ")
            );
        }
        if !names.is_empty() {
            out.push((name::display(&d.name), names));
        }
    }
    out
}

/// What deciding a name needs from the zones, built once per round: the address and alias
/// records by owner, and the zones' origins, so that each name costs a lookup rather than a pass
/// over every record of every zone.
struct Served<'a> {
    targets: HashMap<&'a Name, Vec<&'a RData>>,
    origins: HashSet<&'a Name>,
}

impl<'a> Served<'a> {
    fn new(zones: &'a ZoneSet) -> Served<'a> {
        let mut targets: HashMap<&Name, Vec<&RData>> = HashMap::new();
        for r in zones.zones().iter().flat_map(|z| z.records()) {
            if matches!(
                r.record_type(),
                RecordType::A | RecordType::AAAA | RecordType::CNAME
            ) {
                targets.entry(&r.name).or_default().push(&r.data);
            }
        }
        Served {
            targets,
            origins: zones.zones().iter().map(|z| &z.origin).collect(),
        }
    }

    /// Whether `host` is inside one of our zones (so that we can publish its `_acme-challenge`).
    fn holds(&self, host: &str) -> bool {
        let Some(mut n) = absolute(host) else {
            return false;
        };
        loop {
            if self.origins.contains(&n) {
                return true;
            }
            if n.is_root() {
                return false;
            }
            n = n.base_name();
        }
    }

    /// Whether the zones give `host` only addresses of this box (or a CNAME to its name).
    fn points_here(&self, host: &str, ours: &[IpAddr], cname: Option<&Name>) -> bool {
        let Some(wanted) = absolute(host) else {
            return false;
        };
        let Some(data) = self.targets.get(&wanted) else {
            return false;
        };
        data.iter().all(|d| match d {
            RData::A(a) => ours.contains(&IpAddr::V4(a.0)),
            RData::AAAA(a) => ours.contains(&IpAddr::V6(a.0)),
            RData::CNAME(c) => cname.is_some_and(|ours| *ours == c.0),
            _ => false,
        })
    }
}
