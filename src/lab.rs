//! `mailbeacon lab`: a disposable mail-domain world on free loopback ports, for testing clients.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mailbeacon_lab::{Lab, LabError};

use crate::Listeners;

/// Runs until SIGINT/SIGTERM; SIGHUP reloads the configuration file.
/// What `lab` takes besides the configuration and listeners.
pub struct LabArgs {
    /// `--domain`.
    pub domains: Vec<String>,
    /// `--state`.
    pub state: Option<PathBuf>,
    /// `--loopback`.
    pub loopback: bool,
    /// `--certificate-for`.
    pub certificate_for: Vec<String>,
}

pub fn lab(config: Option<&Path>, args: LabArgs, options: Listeners) -> ExitCode {
    let LabArgs {
        domains,
        state,
        loopback,
        certificate_for,
    } = args;
    mailbeacon_limits::raise_fd_limit();
    let mut builder = Lab::builder()
        .dns(options.dns)
        .http(options.http)
        .https(options.https)
        .loopback(loopback);
    for name in certificate_for {
        builder = builder.certificate_for(name);
    }
    if let Some(c) = config {
        builder = builder.config_file(c);
    }
    for d in domains {
        builder = builder.domain(d);
    }
    if let Some(s) = state {
        builder = builder.state_dir(s);
    }
    let lab = match builder.start() {
        Ok(l) => l,
        Err(e @ LabError::Config(_)) => {
            eprintln!("{e}");
            return ExitCode::from(crate::EXIT_INVALID);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let json = match serde_json::to_string(lab.info()) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // Signals are caught before anyone is told the lab is ready (see `Signals`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let signals = {
        let _entered = runtime.enter();
        match crate::serve::Signals::install() {
            Ok(s) => s,
            Err(()) => return ExitCode::from(1),
        }
    };
    if let Some(file) = &options.ready_file
        && let Err(e) = crate::serve::write_atomically(file, &format!("{json}\n"))
    {
        eprintln!("error: cannot write ready file {}: {e}", file.display());
        return ExitCode::from(1);
    }
    crate::write_stdout(format_args!("{json}\n"));
    runtime.block_on(signals.until_stopped(|| match lab.reload() {
        Ok(()) => tracing::info!("lab reloaded"),
        Err(e) => tracing::error!("reload failed, still serving the previous configuration:\n{e}"),
    }));
    drop(lab);
    if let Some(file) = &options.ready_file {
        let _ = std::fs::remove_file(file);
    }
    ExitCode::SUCCESS
}
