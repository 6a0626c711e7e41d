//! The `mailbeacon` command line: validate a configuration, print its zones, import provider files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod acme;
mod control;
mod dnssec;
mod lab;
mod logwriter;
mod metrics;
mod privileges;
mod probe;
mod serve;
mod systemd;
use mailbeacon_model::{LoadError, Model, SerialBook, ZoneSet, check_file, check_str, zonefile};

/// Autoconfiguration DNS and HTTP server for small mail hosts.
#[derive(Debug, Parser)]
#[command(name = "mailbeacon", version, about)]
struct Cli {
    /// Configuration file (default: config/mailbeacon.toml, or the built-in default when absent).
    #[arg(long, short, global = true, env = "MAILBEACON_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Listener overrides and the ready file, shared by `serve` and `lab`.
#[derive(Debug, Default, clap::Args)]
pub struct Listeners {
    /// DNS listen address (UDP and TCP on one port; port 0 picks one), replacing the configuration's.
    #[arg(long, value_name = "ADDR")]
    pub dns: Vec<std::net::SocketAddr>,
    /// HTTP listen address, replacing the configuration's (port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    pub http: Vec<std::net::SocketAddr>,
    /// HTTPS listen address, replacing the configuration's (port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    pub https: Vec<std::net::SocketAddr>,
    /// Write the bound listeners as JSON here (atomically) once all are bound.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve DNS and HTTP(S) for every domain of the configuration (reload: SIGHUP; stop: SIGINT/SIGTERM).
    Serve {
        #[command(flatten)]
        listeners: Listeners,
    },
    /// Start a disposable lab: DNS, HTTP and HTTPS (lab CA) on free loopback ports unless the
    /// configuration or flags name them, requests captured at /_lab/requests; prints the listeners
    /// as JSON (reload: SIGHUP; stop: SIGINT/SIGTERM).
    Lab {
        /// Add a mail domain served by the configuration's service (repeatable).
        #[arg(long, value_name = "NAME")]
        domain: Vec<String>,
        /// Keep the CA here and reuse it (default: a temporary directory, removed at exit).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Publish 127.0.0.1 for every name (`[server]` addresses, `cname`, `[hosts]`), so that a
        /// configuration written for the internet sends clients to this lab.
        #[arg(long)]
        loopback: bool,
        /// Also issue a lab certificate for NAME (repeatable), e.g. a test IMAP server's host.
        #[arg(long, value_name = "NAME")]
        certificate_for: Vec<String>,
        #[command(flatten)]
        listeners: Listeners,
    },
    /// Make the running `serve` of this configuration reload it: validates it first (errors are
    /// shown and nothing is sent), then sends SIGHUP and waits for the server's verdict.
    Reload,
    /// Validate the configuration: one summary line per domain, or every error with its line.
    Check,
    /// Print RFC 1035 master files for every zone (or one).
    Records {
        /// Only this zone.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Print the DS (and DNSKEY) records of each signed zone, to give the registrar. Reads the
    /// keys `serve` keeps in the state directory; `--create` makes missing ones first.
    Ds {
        /// Only this zone.
        #[arg(long)]
        domain: Option<String>,
        /// Create the keys of signed zones that have none yet (as `serve` would at start).
        #[arg(long)]
        create: bool,
    },
    /// Roll a signed zone's key, one step at a time: `start` pre-publishes a new key (and its
    /// CDS), `switch` signs with it, `finish` removes the old one. Each step refuses to run before
    /// the zone's TTLs allow (unless --force) and reloads the running server.
    Rollover {
        /// The zone.
        domain: String,
        /// The step: start, switch, finish, or status.
        #[arg(value_enum)]
        step: dnssec::Step,
        /// Take the step even if caches may still need the old state.
        #[arg(long)]
        force: bool,
    },
    /// See ADDRESS's domain the way each mail client will: walk every client's discovery chain
    /// (autoconfig, Autodiscover, SRV, MX fallbacks), report each step and the settings each client
    /// ends with, and check the domain's hygiene. With --config, also compare what is live with
    /// what that configuration publishes. Exit status: 0 all well, 1 warnings, 2 errors.
    Probe {
        /// The address a user would type.
        address: String,
        /// The recursive resolver to ask (IP or IP:PORT; default: the system's).
        #[arg(long, value_name = "ADDR")]
        resolver: Option<String>,
        /// Trust these CA certificates (PEM) instead of the web's roots, e.g. a lab's CA.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Only this client (repeatable): thunderbird, thunderbird-android, evolution, kmail,
        /// delta-chat, outlook.
        #[arg(long, value_name = "NAME")]
        client: Vec<String>,
        /// Where HTTPS is reached for URLs without a port (443; a lab's listener port).
        #[arg(long, value_name = "PORT", default_value_t = 443)]
        https_port: u16,
        /// Where HTTP is reached for URLs without a port (80).
        #[arg(long, value_name = "PORT", default_value_t = 80)]
        http_port: u16,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the manual page (roff) to standard output: `mailbeacon man | man -l -`.
    Man,
    /// Print shell completions for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Convert a Thunderbird config-v1.1.xml into mailbeacon TOML.
    Import {
        /// The XML file (`-` for standard input).
        file: PathBuf,
        /// Leave out servers mailbeacon cannot describe (Exchange, EWS, …) instead of refusing.
        #[arg(long)]
        skip_unsupported: bool,
    },
}

/// Exit status for configuration errors (2, like most validators).
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = init_logging();
    match cli.command {
        Command::Serve { listeners } => serve::serve(cli.config.as_deref(), listeners),
        Command::Lab {
            domain,
            state,
            loopback,
            certificate_for,
            listeners,
        } => lab::lab(
            cli.config.as_deref(),
            lab::LabArgs {
                domains: domain,
                state,
                loopback,
                certificate_for,
            },
            listeners,
        ),
        Command::Reload => control::reload(cli.config.as_deref()),
        Command::Check => check(cli.config.as_deref()),
        Command::Records { domain } => records(cli.config.as_deref(), domain.as_deref()),
        Command::Import {
            file,
            skip_unsupported,
        } => import(&file, skip_unsupported),
        Command::Ds { domain, create } => {
            dnssec::ds(cli.config.as_deref(), domain.as_deref(), create)
        }
        Command::Rollover {
            domain,
            step,
            force,
        } => dnssec::rollover(cli.config.as_deref(), &domain, step, force),
        Command::Probe {
            address,
            resolver,
            ca,
            client,
            https_port,
            http_port,
            json,
        } => probe::probe(probe::ProbeArgs {
            config: cli.config,
            address,
            resolver,
            ca,
            clients: client,
            https_port,
            http_port,
            json,
        }),
        Command::Man => man(),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mailbeacon", &mut out);
            write_stdout(format_args!("{}", String::from_utf8_lossy(&out)));
            ExitCode::SUCCESS
        }
    }
}

/// Logs to standard error; `MAILBEACON_LOG` (tracing's filter syntax) overrides the default `info`,
/// and `MAILBEACON_LOG_FORMAT=json` writes one JSON object per line for log shippers. Nothing is
/// logged per DNS query unless `mailbeacon::query=info` is asked for.
///
/// Lines gather in a bounded buffer that a background thread writes every few milliseconds
/// (dropping lines rather than stalling requests if standard error cannot keep up; see
/// `logwriter`); the returned guard writes what is pending when `main` returns.
fn init_logging() -> logwriter::FlushGuard {
    let level = std::env::var("MAILBEACON_LOG").unwrap_or_else(|_| "info".into());
    // rustls warns on every handshake whose SNI is an IP address (wrk, some scanners): a client's
    // mistake that is not worth a log line per connection. The query log is opt-in.
    let filter = |level: &str| {
        tracing_subscriber::EnvFilter::try_new(format!(
            "rustls=error,mailbeacon::query=off,{level}"
        ))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rustls=error"))
    };
    let json = std::env::var("MAILBEACON_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let (writer, guard) = logwriter::batched_stderr();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&level))
        .with_writer(writer);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
    guard
}

const DEFAULT_PATH: &str = "config/mailbeacon.toml";

/// Loads the configuration: `--config`/`MAILBEACON_CONFIG`, else `config/mailbeacon.toml`, else the
/// built-in default (so the binary works from any directory). Warnings go to standard error; so
/// does the name of the file read when `announce` is set, so that nobody validates one file while
/// believing it is another.
fn load(path: Option<&Path>, announce: bool) -> Result<(Model, PathBuf), ExitCode> {
    load_checked(path, announce).map(|(c, p)| (c.model, p))
}

/// As [`load`], keeping the zones validation derived.
fn load_checked(
    path: Option<&Path>,
    announce: bool,
) -> Result<(mailbeacon_model::Checked, PathBuf), ExitCode> {
    let result = match path {
        Some(p) => check_file(p).map(|m| (m, p.to_owned())),
        None if Path::new(DEFAULT_PATH).exists() => {
            check_file(Path::new(DEFAULT_PATH)).map(|m| (m, DEFAULT_PATH.into()))
        }
        None => check_str(mailbeacon_model::DEFAULT_CONFIG, Path::new(BUILT_IN))
            .map(|m| (m, BUILT_IN.into()))
            .map_err(LoadError::from),
    };
    match result {
        Ok((checked, path)) => {
            if announce {
                if path == Path::new(BUILT_IN) {
                    eprintln!(
                        "configuration: the built-in default (example.test); there is no {DEFAULT_PATH} \
                         here, so pass --config FILE or set MAILBEACON_CONFIG for your own"
                    );
                } else {
                    eprintln!("configuration: {}", path.display());
                }
            }
            if !checked.warnings.is_empty() {
                eprintln!("{}", checked.warnings);
            }
            Ok((checked, path))
        }
        Err(e) => {
            eprintln!("{e}");
            Err(match e {
                LoadError::Read { .. } => ExitCode::from(1),
                LoadError::Invalid(_) => ExitCode::from(EXIT_INVALID),
            })
        }
    }
}

/// Writes to standard output. A reader that went away (`records | head -1`) ends the command
/// quietly with status 0, as for any Unix filter, instead of the panic `print!` gives.
fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `print!` through [`write_stdout`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!($($arg)*)) };
}

/// `println!` through [`write_stdout`].
macro_rules! outln {
    () => { $crate::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// How the built-in configuration is named in messages.
const BUILT_IN: &str = "<built-in default>";

/// `n thing` or `n things`.
pub fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

fn check(path: Option<&Path>) -> ExitCode {
    use std::fmt::Write as _;
    let (checked, path) = match load_checked(path, true) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let (model, zones) = (checked.model, checked.zones);
    // Certificates and keys are loaded exactly as `serve` loads them (lab certificates are made
    // at start and need nothing on disk).
    if model.tls.mode == mailbeacon_model::TlsMode::Files
        && let Err(e) = mailbeacon_http::tls::check_files(&model)
    {
        eprintln!("{}: [tls] certificate: {e}", path.display());
        return ExitCode::from(EXIT_INVALID);
    }
    // One write for the whole report: a write (and a flush) per domain was 20,000 system calls
    // for a hosting provider's file.
    let mut report = String::new();
    for (d, z) in model.domains.iter().zip(zones.zones()) {
        let settings = model.client_settings(d);
        let kind = match &d.alias_of {
            Some(p) => format!("alias of {}", mailbeacon_model::name::display(p)),
            None => "domain".to_owned(),
        };
        let on: Vec<&str> = [
            (d.features.autoconfig, "autoconfig"),
            (d.features.autodiscover, "autodiscover"),
            (d.features.mobileconfig, "mobileconfig"),
            (d.dns.mta_sts.is_some(), "mta-sts"),
            (d.features.srv, "srv"),
        ]
        .into_iter()
        .filter_map(|(b, n)| b.then_some(n))
        .collect();
        let _ = writeln!(
            report,
            "{}: {kind}; {} incoming, {} outgoing; {}; serves {}",
            settings.domain,
            settings.incoming.len(),
            settings.outgoing.len(),
            count(z.records().count(), "record"),
            if on.is_empty() {
                "DNS only".to_owned()
            } else {
                on.join(", ")
            }
        );
    }
    out!("{report}");
    outln!(
        "{}: ok, {}",
        path.display(),
        count(model.domains.len(), "domain")
    );
    // The process ends here: freeing every zone and domain one by one would only delay the exit
    // (a twentieth of `check` for 10,000 domains).
    std::mem::forget((model, zones, checked.entries));
    ExitCode::SUCCESS
}

fn records(path: Option<&Path>, only: Option<&str>) -> ExitCode {
    let (checked, _) = match load_checked(path, true) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let (model, mut zones) = (checked.model, checked.zones);
    // The serials `serve` would publish, without writing them: only a server keeps state.
    zones.assign_serials(&mut read_serials(&model), unix_now());
    let wanted = match only {
        Some(d) => match model.find_domain(d) {
            Some(d) => Some(d.name.clone()),
            None => {
                eprintln!("{d}: not a domain of this configuration");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let mut first = true;
    for z in zones.zones() {
        if wanted.as_ref().is_some_and(|w| *w != z.origin) {
            continue;
        }
        if !first {
            outln!();
        }
        first = false;
        out!("{}", zonefile::zone_file(z));
    }
    ExitCode::SUCCESS
}

/// The state directory's serial book, read once per directory and then kept in memory (a running
/// server is the directory's only writer: it holds the directory's lock); reading 20,000 zones'
/// lines again was a tenth of a reload.
static SERIAL_BOOK: std::sync::Mutex<Option<(PathBuf, SerialBook)>> = std::sync::Mutex::new(None);

/// `zones` (as validation derived them) with SOA serials from the state directory's serial book;
/// [`save_serials`] writes the book once the zones are served.
fn with_serials(model: &Model, mut zones: ZoneSet) -> ZoneSet {
    let mut kept = SERIAL_BOOK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = &model.server.state_dir;
    if kept.as_ref().is_some_and(|(at, _)| at != dir) {
        *kept = None;
    }
    let (_, book) = kept.get_or_insert_with(|| (dir.clone(), read_serials(model)));
    zones.assign_serials(book, unix_now());
    zones
}

/// Writes the serial book when serials moved since it was last written. Called after the new
/// answers are out, because writing 200,000 zones' lines takes a tenth of a second. (Should the
/// process die in between, the next start gives the changed zones a serial at least as large:
/// serials follow the clock and the last saved one.)
pub(crate) fn save_serials(model: &Model) {
    let mut kept = SERIAL_BOOK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((dir, book)) = kept.as_mut()
        && *dir == model.server.state_dir
        && book.changed()
        && write_serials(model, book)
    {
        book.mark_saved();
    }
}

pub(crate) fn unix_now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

const SERIALS_FILE: &str = "serials";

fn read_serials(model: &Model) -> SerialBook {
    let path = model.server.state_dir.join(SERIALS_FILE);
    std::fs::read_to_string(path)
        .map(|t| SerialBook::parse(&t))
        .unwrap_or_default()
}

/// Whether the book was saved. Best effort: without a writable state directory serials still increase with time.
fn write_serials(model: &Model, book: &SerialBook) -> bool {
    let dir = &model.server.state_dir;
    let tmp = dir.join(format!("{SERIALS_FILE}.tmp"));
    let result = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, book.render()))
        .and_then(|()| std::fs::rename(&tmp, dir.join(SERIALS_FILE)));
    if let Err(e) = &result {
        eprintln!("warning: cannot save SOA serials in {}: {e}", dir.display());
    }
    result.is_ok()
}

/// The manual page, generated from the same definitions as `--help`.
fn man() -> ExitCode {
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    write_stdout(format_args!("{}", String::from_utf8_lossy(&out)));
    ExitCode::SUCCESS
}

fn import(file: &Path, skip_unsupported: bool) -> ExitCode {
    use std::io::Read as _;
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|t| text = t)
    };
    if let Err(e) = read {
        eprintln!("{}: cannot read: {e}", file.display());
        return ExitCode::from(1);
    }
    let result = mailbeacon_formats::provider::read(&text)
        .map_err(|e| e.to_string())
        .and_then(|doc| {
            mailbeacon_formats::import::import(&doc, skip_unsupported).map_err(|e| e.to_string())
        });
    match result {
        Ok(imported) => {
            out!(
                "{}",
                mailbeacon_formats::import::to_toml(&imported, &file.display().to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: cannot import: {e}", file.display());
            ExitCode::from(EXIT_INVALID)
        }
    }
}
