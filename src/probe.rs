//! `mailbeacon probe`: the command-line shell over `mailbeacon-probe`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use mailbeacon_probe::{Client, Options};

/// The command's arguments.
pub struct ProbeArgs {
    pub config: Option<PathBuf>,
    pub address: String,
    pub resolver: Option<String>,
    pub ca: Option<PathBuf>,
    pub clients: Vec<String>,
    pub https_port: u16,
    pub http_port: u16,
    pub json: bool,
}

/// Runs the probe and prints the report; the exit status is the report's (0, 1, 2), or 3 when
/// the probe could not run at all.
pub fn probe(args: ProbeArgs) -> ExitCode {
    let mut options = Options::new(&args.address);
    if let Some(r) = &args.resolver {
        let parsed = r
            .parse::<SocketAddr>()
            .or_else(|_| r.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
        match parsed {
            Ok(a) => options.resolver = Some(a),
            Err(_) => {
                eprintln!("--resolver {r}: not an address (192.0.2.53 or 127.0.0.1:5353)");
                return ExitCode::from(3);
            }
        }
    }
    if let Some(ca) = &args.ca {
        match std::fs::read(ca) {
            Ok(pem) => options.ca_pem = Some(pem),
            Err(e) => {
                eprintln!("--ca {}: {e}", ca.display());
                return ExitCode::from(3);
            }
        }
    }
    for c in &args.clients {
        match Client::parse(c) {
            Some(c) => options.clients.push(c),
            None => {
                let names: Vec<&str> = Client::ALL.iter().map(|c| c.name()).collect();
                eprintln!("--client {c}: unknown; one of {}", names.join(", "));
                return ExitCode::from(3);
            }
        }
    }
    // On a terminal, one line that says what is being asked (cleared at the end).
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        options.progress = Some(std::sync::Arc::new(|what: &str| {
            use std::io::Write as _;
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K{what}");
            let _ = err.flush();
        }));
    }
    options.https_port = args.https_port;
    options.http_port = args.http_port;
    options.config = args.config;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let report = match runtime.block_on(mailbeacon_probe::probe(&options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(j) => crate::write_stdout(format_args!("{j}\n")),
            Err(e) => {
                eprintln!("cannot write the report: {e}");
                return ExitCode::from(3);
            }
        }
    } else {
        crate::write_stdout(format_args!("{}", report.to_text()));
    }
    ExitCode::from(report.exit_status())
}
