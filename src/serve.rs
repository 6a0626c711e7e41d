//! `mailbeacon serve`: the DNS server (and, with issue #4, HTTP) on the configuration's listeners,
//! with reload on SIGHUP and a clean stop on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use mailbeacon_dns::{DnsServer, Responder};
use mailbeacon_model::Model;
use tokio::signal::unix::{SignalKind, signal};

/// Listener overrides and the ready file, from the command line.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// DNS listeners replacing `[server] dns`.
    pub dns: Vec<SocketAddr>,
    /// HTTP listeners replacing `[server] http`.
    pub http: Vec<SocketAddr>,
    /// HTTPS listeners replacing `[server] https`.
    pub https: Vec<SocketAddr>,
    /// Where to write the JSON description of the bound listeners once all are bound.
    pub ready_file: Option<PathBuf>,
}

/// Runs until stopped.
pub fn serve(config: Option<&Path>, options: ServeOptions) -> ExitCode {
    let (model, path) = match crate::load(config) {
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
        model,
        path,
        config.is_some() || Path::new(crate::DEFAULT_PATH).exists(),
        options,
    ))
}

/// The responder for `model`: zones with their serials, indexed and precomputed.
fn responder(model: &Model) -> Responder {
    let zones = crate::zones_with_serials(model);
    Responder::new(&zones)
}

async fn run(model: Model, path: PathBuf, reloadable: bool, options: ServeOptions) -> ExitCode {
    let dns_addrs = if options.dns.is_empty() {
        model.server.dns.clone()
    } else {
        options.dns.clone()
    };
    if !(options.http.is_empty() && options.https.is_empty()) {
        tracing::warn!(
            "--http/--https ignored: the HTTP responder is not part of this build yet (issue #4)"
        );
    }
    let started = std::time::Instant::now();
    let shared = Arc::new(ArcSwap::from_pointee(responder(&model)));
    let dns = match DnsServer::bind(&dns_addrs).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let bound = dns.local_addrs();
    tracing::info!(
        "serving {} zones on {} ({} answers precomputed, ready in {:?})",
        model.domains.len(),
        bound
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        shared.load().prepared_len(),
        started.elapsed()
    );
    if let Some(file) = &options.ready_file
        && let Err(e) = write_ready_file(file, &bound)
    {
        eprintln!("error: cannot write ready file {}: {e}", file.display());
        return ExitCode::from(1);
    }
    let server = tokio::spawn(dns.run(shared.clone()));
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("error: cannot install signal handlers");
        return ExitCode::from(1);
    };
    loop {
        tokio::select! {
            _ = hup.recv() => reload(&path, reloadable, &shared),
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    server.abort();
    if let Some(file) = &options.ready_file {
        let _ = std::fs::remove_file(file);
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Reads the configuration again; a broken one is reported and the running zones stay.
fn reload(path: &Path, reloadable: bool, shared: &ArcSwap<Responder>) {
    if !reloadable {
        tracing::warn!("reload: serving the built-in default configuration, nothing to reload");
        return;
    }
    match mailbeacon_model::load_file(path) {
        Ok(model) => {
            shared.store(Arc::new(responder(&model)));
            tracing::info!("reloaded {}: {} zones", path.display(), model.domains.len());
        }
        Err(e) => tracing::error!("reload failed, still serving the previous configuration:\n{e}"),
    }
}

/// Writes the ready file atomically (temporary file, then rename), so a reader never sees half.
fn write_ready_file(file: &Path, dns: &[SocketAddr]) -> std::io::Result<()> {
    let json = serde_json::json!({
        "dns": dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "http": [],
        "https": [],
        "ca": null,
    });
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{json}\n"))?;
    std::fs::rename(&tmp, file)
}
