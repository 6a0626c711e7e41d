//! `[tls] mode = "acme"` in `serve`: a background task that keeps one certificate per domain
//! issued and renewed, and swaps each new certificate into the running HTTPS listeners.
//!
//! Only names whose records point at this box are ordered (HTTP-01 is answered by this box's
//! port-80 listener, so a name served elsewhere could never validate); the others are logged once
//! per order. A failed order keeps the old certificate and is retried with a doubling wait (one
//! minute up to an hour), far inside Let's Encrypt's failed-validation limit (5 per hour).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{RData, RecordType};
use mailbeacon_certs::{AcmeIssuer, Http01Tokens, IssuedStore};
use mailbeacon_http::Shared;
use mailbeacon_model::{Model, TlsMode, ZoneSet, name};
use tokio::sync::watch;

/// How often certificates are looked at when nothing is due sooner.
const CHECK_EVERY: Duration = Duration::from_secs(12 * 3600);
/// First wait after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Shortest wait between rounds (seconds), so that a CA issuing very short-lived certificates
/// (a test CA) cannot make the task spin.
const MIN_WAIT: i64 = 10;

/// Starts the task when `model` asks for ACME; it follows the configurations sent on the returned
/// channel (one per reload).
pub fn start(
    model: &Model,
    zones: &ZoneSet,
    http: Arc<Shared>,
) -> Option<watch::Sender<(Model, ZoneSet)>> {
    if model.tls.mode != TlsMode::Acme {
        return None;
    }
    let tokens = Arc::new(Http01Tokens::default());
    http.acme.store(Some(tokens.clone()));
    let (tx, rx) = watch::channel((model.clone(), zones.clone()));
    tokio::spawn(run(rx, tokens, http));
    Some(tx)
}

async fn run(
    mut rx: watch::Receiver<(Model, ZoneSet)>,
    tokens: Arc<Http01Tokens>,
    http: Arc<Shared>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let (model, zones) = rx.borrow_and_update().clone();
        let wait = match round(&model, &zones, &tokens, &http).await {
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
    http: &Shared,
) -> Result<Duration, ()> {
    let Some(settings) = &model.tls.acme else {
        return Ok(CHECK_EVERY);
    };
    let store = IssuedStore::in_state_dir(&model.server.state_dir);
    let now = crate::unix_now() as i64;
    let mut due = Vec::new();
    let mut next = now + CHECK_EVERY.as_secs() as i64;
    for (domain, names) in orders(model, zones) {
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
/// point at this box ([`Model`]'s `[server]` addresses, or its CNAME target).
fn orders(model: &Model, zones: &ZoneSet) -> Vec<(String, Vec<String>)> {
    let ours: Vec<IpAddr> = model
        .server
        .ipv4
        .iter()
        .map(|a| IpAddr::V4(*a))
        .chain(model.server.ipv6.iter().map(|a| IpAddr::V6(*a)))
        .collect();
    let mut out = Vec::new();
    for (d, candidates) in model
        .domains
        .iter()
        .zip(mailbeacon_http::lab::served_names(model))
    {
        let mut names = Vec::new();
        let mut elsewhere = Vec::new();
        for n in candidates {
            if points_here(zones, &n, &ours, model.server.cname.as_ref()) {
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

/// Whether the zones give `host` only addresses of this box (or a CNAME to its name).
fn points_here(
    zones: &ZoneSet,
    host: &str,
    ours: &[IpAddr],
    cname: Option<&hickory_proto::rr::Name>,
) -> bool {
    let Ok(wanted) = hickory_proto::rr::Name::from_ascii(format!("{host}.")) else {
        return false;
    };
    let mut any = false;
    for r in zones.zones().iter().flat_map(|z| z.records()) {
        if r.name != wanted {
            continue;
        }
        match (&r.data, r.record_type()) {
            (RData::A(a), RecordType::A) => {
                any = true;
                if !ours.contains(&IpAddr::V4(a.0)) {
                    return false;
                }
            }
            (RData::AAAA(a), RecordType::AAAA) => {
                any = true;
                if !ours.contains(&IpAddr::V6(a.0)) {
                    return false;
                }
            }
            (RData::CNAME(c), _) => return cname.is_some_and(|ours| *ours == c.0),
            _ => {}
        }
    }
    any
}
