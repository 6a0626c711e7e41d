//! `mailbeacon serve`: the DNS and HTTP(S) servers on the configuration's listeners, with reload
//! on SIGHUP (both swapped together) and a clean stop on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use mailbeacon_dns::{DnsServer, QueryObserver, RateLimiter, Responder, SharedObserver, notify};
use mailbeacon_http::{HttpServer, RequestObserver, Shared};
use mailbeacon_lab::{Generation, GenerationError, Serving};
use mailbeacon_model::{DomainEntries, Earlier, Model, TlsMode, ZoneSet};
use tokio::signal::unix::{SignalKind, signal};

use crate::Listeners;
use crate::control::ControlFiles;
use crate::metrics::Metrics;

/// Runs until stopped.
pub fn serve(config: Option<&Path>, options: Listeners) -> ExitCode {
    let (checked, path) = match crate::load_checked(config, false) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(
        checked.model,
        checked.zones,
        checked.entries,
        path,
        config.is_some() || Path::new(crate::DEFAULT_PATH).exists(),
        options,
    ))
}

/// What `serve` answers for `model`: its `zones` (derived by validation) with the serials from the
/// state directory, signed where asked, and the DNS fast path precomputed before it is swapped
/// in. The generation keeps the zones, so that the next reload can tell which serials changed
/// (and whom to NOTIFY).
fn generation(
    model: &Model,
    zones: ZoneSet,
    challenges: &[(String, String)],
    https_port: Option<u16>,
    earlier: Option<Serving<'_>>,
) -> Result<Generation, GenerationError> {
    // Signatures of zones that did not change are reused across reloads (see SignatureCache).
    static SIGNATURES: std::sync::LazyLock<mailbeacon_dns::dnssec::SignatureCache> =
        std::sync::LazyLock::new(Default::default);
    let zones = crate::acme::with_challenges(model, zones, challenges);
    let mut generation = Generation::build(
        model,
        zones,
        crate::unix_now(),
        |zones| crate::with_serials(model, zones),
        https_port,
        &SIGNATURES,
        earlier,
    )?;
    for file in &generation.new_key_files {
        tracing::warn!(
            "created DNSSEC key {}: give the registrar the DS record from `mailbeacon ds`",
            file.display()
        );
    }
    generation.responder = generation.responder.with_prepared();
    Ok(generation)
}

async fn run(
    model: Model,
    zones: ZoneSet,
    entries: DomainEntries,
    path: PathBuf,
    reloadable: bool,
    options: Listeners,
) -> ExitCode {
    // Connection caps follow the descriptor limit: take all the system allows.
    let fds = mailbeacon_limits::raise_fd_limit();
    tracing::debug!("file-descriptor limit: {fds}");
    let pick = |cli: &[SocketAddr], config: &[SocketAddr]| {
        if cli.is_empty() {
            config.to_vec()
        } else {
            cli.to_vec()
        }
    };
    let dns_addrs = pick(&options.dns, &model.server.dns);
    let http_addrs = pick(&options.http, &model.server.http);
    let mut https_addrs = pick(&options.https, &model.server.https);
    if model.tls.mode == TlsMode::Off && !https_addrs.is_empty() {
        tracing::warn!("[tls] mode is \"off\": not listening for HTTPS");
        https_addrs.clear();
    }
    let started = std::time::Instant::now();
    let Ok(signals) = Signals::install() else {
        return ExitCode::from(1);
    };
    let control = ControlFiles::of(&model);
    let _lock = match control.lock() {
        Ok(lock) => lock,
        Err(why) => {
            eprintln!("error: {why}");
            return ExitCode::from(1);
        }
    };
    let rrl = Arc::new(RateLimiter::new(model.server.rrl.clone()));
    let dns = match DnsServer::bind(&dns_addrs).await {
        Ok(s) => s.with_rate_limit(rrl.clone()),
        Err(e) => {
            eprintln!("error: {e}{}", bind_hint(&e));
            return ExitCode::from(1);
        }
    };
    let http = match HttpServer::bind(&http_addrs, &https_addrs).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}{}", bind_hint(&e));
            return ExitCode::from(1);
        }
    };
    // Metrics: bound with the other listeners (before leaving root), served once ready.
    let metrics = Arc::new(Metrics::new(model.server.metrics.is_some(), rrl.clone()));
    let metrics_listener = match model.server.metrics {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                let e = std::io::Error::new(
                    e.kind(),
                    format!("cannot listen for metrics on {addr}: {e}"),
                );
                eprintln!("error: {e}{}", bind_hint(&e));
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let bound = Bound {
        dns: dns.local_addrs(),
        http: http.http_addrs(),
        https: http.https_addrs(),
        metrics: metrics_listener.as_ref().and_then(|l| l.local_addr().ok()),
    };
    if let Some(run_as) = &model.server.run_as
        && let Err(why) = crate::privileges::drop_to(run_as, &model.server.state_dir)
    {
        eprintln!("error: {why}");
        return ExitCode::from(1);
    }
    // URLs handed to clients name the port they reach: 443 (behind a port forward or not)
    // unless the configuration says otherwise; never the listener's own port.
    let https_port =
        (!bound.https.is_empty()).then(|| model.server.public_https_port.unwrap_or(443));
    let generation = match generation(&model, zones, &[], https_port, None) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    crate::save_serials(&model);
    let mut resign_at = generation.resign_at;
    let ca = generation.tls.as_ref().and_then(|t| t.ca_path.clone());
    let zones = generation.zones;
    let dns_shared = Arc::new(ArcSwap::from_pointee(generation.responder));
    let observes = metrics.observes();
    let http_observer: Option<Arc<dyn RequestObserver>> =
        observes.then(|| metrics.clone() as Arc<dyn RequestObserver>);
    let dns_observer: SharedObserver = observes.then(|| metrics.clone() as Arc<dyn QueryObserver>);
    let expiry = generation
        .tls
        .as_ref()
        .map(|t| t.expiry.clone())
        .unwrap_or_default();
    let http_shared = Shared::observed(
        generation.site,
        generation.tls.map(|t| t.config),
        http_observer,
    );
    http_shared.certificate_expiry.store(Arc::new(expiry));
    metrics.watch_certificates(http_shared.clone());
    warn_if_public_on_lab_ca(&model, &bound);
    let fast_path = if dns_shared.load().prepared_lazily() {
        "DNS answers built on first use".to_owned()
    } else {
        format!(
            "{} DNS answers precomputed",
            dns_shared.load().prepared_len()
        )
    };
    tracing::info!(
        "serving {}: DNS on {}, HTTP on {}, HTTPS on {} ({fast_path}, ready in {:?})",
        crate::count(model.domains.len(), "domain"),
        list(&bound.dns),
        list(&bound.http),
        list(&bound.https),
        started.elapsed()
    );
    if let Some(ca) = &ca {
        tracing::info!("lab CA certificate: {}", ca.display());
    }
    if let Some(file) = &options.ready_file
        && let Err(e) = write_ready_file(file, &bound, ca.as_deref())
    {
        eprintln!("error: cannot write ready file {}: {e}", file.display());
        return ExitCode::from(1);
    }
    let dns_task = tokio::spawn(dns.run(dns_shared.clone(), dns_observer));
    let metrics_task =
        metrics_listener.map(|l| tokio::spawn(crate::metrics::serve(l, metrics.clone())));
    let http_task = tokio::spawn(http.run(http_shared.clone()));
    notify::send(
        notify::notices(None, &zones),
        dns_shared.load().authority().tsig(),
        metrics.notify_outcomes(),
    );
    control.announce();
    let status = |n: usize| format!("serving {}", crate::count(n, "domain"));
    crate::systemd::ready(&status(model.domains.len()));
    let (acme, mut challenge_requests) =
        match crate::acme::start(&model, &zones, http_shared.clone()) {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
    // ACME DNS-01 records currently served (they survive reloads and re-signing).
    let mut challenges: Vec<(String, String)> = Vec::new();
    let mut pending_ack = None;
    let mut serving = Served {
        model,
        zones,
        entries,
        challenges: false,
    };
    release_freed_memory();
    let mut signals = signals;
    loop {
        let event = tokio::select! {
            e = signals.next(resign_at) => e,
            Some(request) = crate::acme::next_request(&mut challenge_requests) => {
                challenges = request.records;
                pending_ack = Some(request.done);
                Event::Challenges
            }
        };
        let result = match event {
            Event::Stop => break,
            Event::Hangup => {
                crate::systemd::reloading();
                reload(
                    &path,
                    reloadable,
                    &serving,
                    https_port,
                    &challenges,
                    &dns_shared,
                    &http_shared,
                    &rrl,
                )
            }
            // Signatures of the ending period are renewed from the configuration being served,
            // not from a file that may have been edited since (that waits for a reload).
            Event::Deadline | Event::Challenges => resign(
                &serving.model,
                https_port,
                &challenges,
                &dns_shared,
                &http_shared,
            ),
        };
        match result {
            Ok(applied) => {
                if event == Event::Hangup {
                    metrics.reloaded(true);
                }
                // The earlier serials are collected only when some zone has secondaries (with
                // none, there is nothing to notify either way).
                let before = (applied.zones.zones().iter())
                    .any(|z| !z.notify.is_empty())
                    .then(|| serving.zones.serials());
                notify::send(
                    notify::notices(before.as_ref(), &applied.zones),
                    dns_shared.load().authority().tsig(),
                    metrics.notify_outcomes(),
                );
                crate::systemd::ready(&status(applied.zones.zones().len()));
                if let Some(acme) = &acme {
                    acme.send_replace((applied.model.clone(), applied.zones.clone()));
                }
                if let Some(done) = pending_ack.take() {
                    // The ACME task tells the CA once secondaries serve the records too.
                    let targets = crate::acme::secondaries(&applied.zones, &challenges);
                    let records = challenges.clone();
                    tokio::spawn(async move {
                        crate::acme::await_secondaries(&targets, &records).await;
                        let _ = done.send(Ok(()));
                    });
                }
                serving = Served {
                    model: applied.model,
                    zones: applied.zones,
                    entries: applied.entries.unwrap_or(serving.entries),
                    challenges: !challenges.is_empty(),
                };
                crate::save_serials(&serving.model);
                release_freed_memory();
                resign_at = applied.resign_at;
                if event == Event::Hangup {
                    control.report(Ok(()));
                }
            }
            Err(why) => {
                if let Some(done) = pending_ack.take() {
                    let _ = done.send(Err(why.clone()));
                }
                if event == Event::Hangup {
                    metrics.reloaded(false);
                    crate::systemd::ready("serving; the last reload failed, see the log");
                    control.report(Err(why));
                } else {
                    // Try again in a minute; the old signatures still have a week to live.
                    resign_at = Some(crate::unix_now().saturating_add(60));
                }
            }
        }
    }
    crate::systemd::stopping();
    control.withdraw();
    dns_task.abort();
    http_task.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    if let Some(file) = &options.ready_file {
        let _ = std::fs::remove_file(file);
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// The signals a server answers, installed before it says it is ready: a SIGHUP that arrives
/// between "ready" and the first wait must reload, not kill (its default action).
pub struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (within a tokio runtime). `Err` (already reported) when they cannot
    /// be installed.
    pub fn install() -> Result<Signals, ()> {
        match (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(hup), Ok(term), Ok(int)) => Ok(Signals { hup, term, int }),
            _ => {
                eprintln!("error: cannot install signal handlers");
                Err(())
            }
        }
    }

    /// The next thing to act on: a signal, or `deadline` (seconds since the epoch) passing.
    pub async fn next(&mut self, deadline: Option<u32>) -> Event {
        let sleep = async {
            match deadline {
                Some(at) => {
                    let wait = u64::from(at.saturating_sub(crate::unix_now()));
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = self.hup.recv() => Event::Hangup,
            _ = self.term.recv() => Event::Stop,
            _ = self.int.recv() => Event::Stop,
            () = sleep => Event::Deadline,
        }
    }

    /// Waits for SIGINT or SIGTERM, calling `on_hangup` for every SIGHUP meanwhile.
    pub async fn until_stopped(mut self, mut on_hangup: impl FnMut()) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => on_hangup(),
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
            }
        }
    }
}

/// What [`Signals::next`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGHUP: reload.
    Hangup,
    /// SIGINT or SIGTERM: stop.
    Stop,
    /// The deadline passed.
    Deadline,
    /// The ACME task asks for other DNS-01 records (not a signal: from [`crate::acme`]).
    Challenges,
}

/// A configuration now being served.
struct Applied {
    model: Model,
    zones: ZoneSet,
    /// The configuration's `[[domain]]` entries, when it was read again (`None`: the same).
    entries: Option<DomainEntries>,
    resign_at: Option<u32>,
}

/// What is being served, kept for the next reload: the zones are shared with the DNS index (not
/// a second copy); they tell which serials changed (whom to NOTIFY) and, with the model and the
/// entries, what a reload can take over unchanged.
struct Served {
    model: Model,
    zones: ZoneSet,
    entries: DomainEntries,
    /// Whether the zones hold ACME DNS-01 records beyond what the configuration says (then they
    /// are not taken over).
    challenges: bool,
}

/// The addresses actually bound.
struct Bound {
    dns: Vec<SocketAddr>,
    http: Vec<SocketAddr>,
    https: Vec<SocketAddr>,
    metrics: Option<SocketAddr>,
}

fn list(addrs: &[SocketAddr]) -> String {
    if addrs.is_empty() {
        return "nothing".into();
    }
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A lab CA on listeners others can reach means every visitor sees a certificate error (and may
/// learn to click through them): say so, loudly, at every start.
fn warn_if_public_on_lab_ca(model: &Model, bound: &Bound) {
    let public = bound
        .https
        .iter()
        .chain(&bound.http)
        .chain(&bound.dns)
        .any(|a| !a.ip().is_loopback());
    if model.tls.mode == TlsMode::Lab && public && !bound.https.is_empty() {
        tracing::warn!(
            "HTTPS on public listeners uses the lab CA, which no client trusts: every visitor gets \
             a certificate error. Configure [tls] mode = \"files\" with real certificates."
        );
    }
}

/// What to do about a listener that could not be bound, for the two causes people meet.
fn bind_hint(e: &(dyn std::error::Error + 'static)) -> &'static str {
    let io = std::iter::successors(Some(e), |e| e.source())
        .find_map(|e| e.downcast_ref::<std::io::Error>());
    match io.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::PermissionDenied) => {
            "\n  ports below 1024 (53, 80, 443) need privilege: run mailbeacon from its systemd unit \
             (contrib/mailbeacon.service grants CAP_NET_BIND_SERVICE), or allow this binary once with \
             `sudo setcap cap_net_bind_service=+ep $(command -v mailbeacon)`, or start it as root with \
             [server] user/group to drop privileges after binding, or use unprivileged ports \
             (e.g. --dns 127.0.0.1:5353)"
        }
        Some(std::io::ErrorKind::AddrInUse) => {
            "\n  another program holds that address (on port 53 often a local resolver such as \
             systemd-resolved or dnsmasq; see `ss -lunp 'sport = 53'`): stop it, or listen on a \
             specific address instead of the wildcard"
        }
        _ => "",
    }
}

/// Reads the configuration again and swaps it in, returning what is now served; a broken one
/// is logged, everything running stays, and the reason comes back.
/// `serving`: what is served now, whose unchanged parts the new configuration takes over.
#[allow(clippy::too_many_arguments)]
fn reload(
    path: &Path,
    reloadable: bool,
    serving: &Served,
    https_port: Option<u16>,
    challenges: &[(String, String)],
    dns: &ArcSwap<Responder>,
    http: &Shared,
    rrl: &RateLimiter,
) -> Result<Applied, String> {
    if !reloadable {
        let why = "serving the built-in default configuration, nothing to reload";
        tracing::warn!("reload: {why}");
        return Err(why.into());
    }
    let started = std::time::Instant::now();
    // Zones holding ACME records are not what the configuration alone derives.
    let earlier = (!serving.challenges).then_some(Earlier {
        model: &serving.model,
        zones: &serving.zones,
        entries: Some(&serving.entries),
    });
    let (model, zones, entries) = match mailbeacon_model::check_file_reusing(path, earlier) {
        Ok(checked) => {
            if !checked.warnings.is_empty() {
                tracing::warn!("{}", checked.warnings);
            }
            (checked.model, checked.zones, checked.entries)
        }
        Err(e) => {
            tracing::error!("reload failed, still serving the previous configuration:\n{e}");
            return Err(e.to_string());
        }
    };
    // HTTPS is listening or not as at start; the port named in URLs follows the new file.
    let https_port = https_port.map(|_| model.server.public_https_port.unwrap_or(443));
    let checked_in = started.elapsed();
    let (responder, site) = (dns.load_full(), http.site.load_full());
    let earlier = Serving {
        model: &serving.model,
        responder: &responder,
        site: &site,
    };
    match generation(&model, zones, challenges, https_port, Some(earlier)) {
        Ok(g) => {
            let resign_at = g.resign_at;
            let (zones, _) = g.install(dns, http);
            let installed_in = started.elapsed();
            // Counted once the new answers are out.
            let kept = dns.load().authority().shared_with(responder.authority());
            drop((responder, site));
            rrl.reconfigure(model.server.rrl.clone());
            tracing::info!(
                "reloaded {}: {}, {} unchanged, in {:?} ({:?} reading and checking)",
                path.display(),
                crate::count(model.domains.len(), "domain"),
                crate::count(kept, "zone"),
                installed_in,
                checked_in,
            );
            Ok(Applied {
                model,
                zones,
                entries: Some(entries),
                resign_at,
            })
        }
        Err(e) => {
            tracing::error!("reload failed ({e}), still serving the previous configuration");
            Err(e.to_string())
        }
    }
}

/// Signs the served configuration's zones again for the signing period that has begun.
fn resign(
    model: &Model,
    https_port: Option<u16>,
    challenges: &[(String, String)],
    dns: &ArcSwap<Responder>,
    http: &Shared,
) -> Result<Applied, String> {
    let zones = ZoneSet::derive(model);
    match generation(model, zones, challenges, https_port, None) {
        Ok(g) => {
            let resign_at = g.resign_at;
            let (zones, _) = g.install(dns, http);
            tracing::info!("zones rebuilt (new signing period or ACME DNS-01 records)");
            Ok(Applied {
                model: model.clone(),
                zones,
                entries: None,
                resign_at,
            })
        }
        Err(e) => {
            tracing::error!("renewing DNSSEC signatures failed ({e}); retrying in a minute");
            Err(e.to_string())
        }
    }
}

/// Writes the ready file (temporary file, then rename), so a reader never sees half.
fn write_ready_file(file: &Path, bound: &Bound, ca: Option<&Path>) -> std::io::Result<()> {
    let strings = |a: &[SocketAddr]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
    let json = serde_json::json!({
        "dns": strings(&bound.dns),
        "http": strings(&bound.http),
        "https": strings(&bound.https),
        "metrics": bound.metrics.map(|a| a.to_string()),
        "ca": ca.map(|p| p.display().to_string()),
    });
    write_atomically(file, &format!("{json}\n"))
}

/// Writes `text` to `file` through a temporary file in the same directory and a rename.
pub fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

/// Hands memory freed after building a generation back to the system. glibc keeps freed heap
/// in its arenas, so the transient copies made while validating and indexing 100,000 zones
/// would otherwise stay in the resident set for good (about a third of it at 10,000 domains).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists; it takes no
    // pointers and is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}
