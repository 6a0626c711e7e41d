//! `mailbeacon ds` and `mailbeacon rollover`: the DNSSEC commands an operator runs by hand.

use std::path::Path;
use std::process::ExitCode;

use hickory_proto::dnssec::PublicKey as _;
use mailbeacon_dns::dnssec::{KeyState, KeyStore, Rollover, ZoneKey, ZoneKeys};
use mailbeacon_model::{Zone, name};

/// A `rollover` step as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// Pre-publish a new key (DNSKEY and CDS/CDNSKEY beside the old one).
    Start,
    /// Sign with the new key; CDS/CDNSKEY name only it.
    Switch,
    /// Remove the old key.
    Finish,
    /// Show the keys and the next step.
    Status,
}

/// `ds`: the records that link each signed zone (or one) to its parent.
pub fn ds(path: Option<&Path>, only: Option<&str>, create: bool) -> ExitCode {
    let (checked, _) = match crate::load_checked(path, true) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let model = checked.model;
    let wanted = match only {
        Some(d) => match model.find_domain(d) {
            Some(d) if d.dns.dnssec.is_none() => {
                eprintln!("{}: not signed (set dnssec = true)", name::display(&d.name));
                return ExitCode::from(1);
            }
            Some(d) => Some(d.name.clone()),
            None => {
                eprintln!("{d}: not a domain of this configuration");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let store = KeyStore::in_state_dir(&model.server.state_dir);
    let mut status = ExitCode::SUCCESS;
    let mut printed = 0;
    for z in checked.zones.zones() {
        if z.dnssec.is_none() || wanted.as_ref().is_some_and(|w| *w != z.origin) {
            continue;
        }
        let Some(keys) = keys_of(&store, z, create) else {
            status = ExitCode::from(1);
            continue;
        };
        for k in keys.all() {
            if k.state == KeyState::Outgoing {
                continue;
            }
            if printed > 0 {
                line(format_args!(""));
            }
            printed += 1;
            print_key(z, &k.key, k.state, &store);
        }
    }
    if printed == 0 && status == ExitCode::SUCCESS {
        eprintln!(
            "no zone of this configuration is signed (set dnssec = true in a [[domain]] or [defaults])"
        );
        return ExitCode::from(1);
    }
    status
}

/// The keys of `z` from `store` (created when `create`); `None` after saying why not.
fn keys_of(store: &KeyStore, z: &Zone, create: bool) -> Option<ZoneKeys> {
    let algorithm = z.dnssec?;
    let file = store.file_for(&z.origin);
    let loaded = if create {
        store
            .load_or_create(&z.origin, algorithm, u64::from(crate::unix_now()))
            .map(|(k, new)| {
                if new {
                    eprintln!("created {}", file.display());
                }
                Some(k)
            })
    } else {
        store.load(&z.origin, algorithm)
    };
    match loaded {
        Ok(Some(k)) => Some(k),
        Ok(None) => {
            eprintln!(
                "{}: no key yet ({} does not exist): start `mailbeacon serve`, which creates it, \
                 or run `mailbeacon ds --create` as the user the server runs as",
                name::display(&z.origin),
                file.display()
            );
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// The DS and DNSKEY lines of one key, with a comment saying which key it is.
fn print_key(z: &Zone, key: &ZoneKey, state: KeyState, store: &KeyStore) {
    let Some(algorithm) = z.dnssec else { return };
    let Ok(ds) = key.ds(&z.origin) else { return };
    let hex: String = ds.digest().iter().map(|b| format!("{b:02X}")).collect();
    let public = key.dnskey().public_key().public_bytes();
    let role = match state {
        KeyState::Active => "",
        KeyState::Incoming => " (incoming: add this DS beside the current one)",
        KeyState::Outgoing => " (outgoing)",
    };
    line(format_args!(
        "; {}: key tag {}, algorithm {} ({}), {}{role}",
        name::display(&z.origin),
        key.tag(),
        algorithm.number(),
        algorithm.mnemonic(),
        store.file_for(&z.origin).display()
    ));
    line(format_args!(
        "{} IN DS {} {} 2 {hex}",
        z.origin,
        key.tag(),
        algorithm.number()
    ));
    line(format_args!(
        "{} IN DNSKEY 257 3 {} {}",
        z.origin,
        algorithm.number(),
        data_encoding::BASE64.encode(public)
    ));
}

/// One line on standard output (a closed pipe ends the command quietly).
fn line(args: std::fmt::Arguments<'_>) {
    crate::write_stdout(format_args!("{args}\n"));
}

/// `rollover DOMAIN STEP`.
pub fn rollover(path: Option<&Path>, domain: &str, step: Step, force: bool) -> ExitCode {
    let (checked, _) = match crate::load_checked(path, false) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let model = checked.model;
    let Some(d) = model.find_domain(domain) else {
        eprintln!("{domain}: not a domain of this configuration");
        return ExitCode::from(1);
    };
    let Some(z) = checked.zones.get(&d.name) else {
        eprintln!("{domain}: no zone");
        return ExitCode::from(1);
    };
    let Some(algorithm) = z.dnssec else {
        eprintln!("{domain}: not signed (set dnssec = true)");
        return ExitCode::from(1);
    };
    let store = KeyStore::in_state_dir(&model.server.state_dir);
    let Some(mut keys) = keys_of(&store, z, false) else {
        return ExitCode::from(1);
    };
    // The longest TTL a resolver may cache from this zone: its records' (DNSKEY included).
    let max_ttl = z.records().map(|r| r.ttl).max().unwrap_or(3600);
    let now = u64::from(crate::unix_now());
    let origin = name::display(&z.origin);
    let next = keys.next_step();
    let step = match step {
        Step::Status => {
            for k in keys.all() {
                println!(
                    "{origin}: key {} {} since {}",
                    k.key.tag(),
                    k.state.name(),
                    k.since
                );
            }
            let at = keys.earliest(next, max_ttl);
            let when = if at <= now {
                "now".to_owned()
            } else {
                format!("in {} s", at - now)
            };
            println!("next step: {} ({when})", step_name(next));
            return ExitCode::SUCCESS;
        }
        Step::Start => Rollover::Start,
        Step::Switch => Rollover::Switch,
        Step::Finish => Rollover::Finish,
    };
    let new_key = if step == Rollover::Start {
        match ZoneKey::generate(algorithm) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    if let Err(e) = keys.step(step, new_key, now, max_ttl, force, &z.origin) {
        eprintln!("{origin}: {} not taken: {e}", step_name(step));
        return ExitCode::from(1);
    }
    if let Err(e) = store.store(&z.origin, &keys) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let wait = 2 * u64::from(max_ttl);
    match step {
        Rollover::Start => {
            let incoming = keys.all().iter().find(|k| k.state == KeyState::Incoming);
            println!(
                "{origin}: new key {} pre-published beside {}; its CDS/CDNSKEY are published too.",
                incoming.map_or(0, |k| k.key.tag()),
                keys.active().tag()
            );
            println!(
                "Next: give the registrar the new DS (below; parents that scan CDS take it \
                 themselves), check that `dig DS {origin}` at the parent shows it, and after \
                 {wait} s run `mailbeacon rollover {origin} switch`."
            );
            if let Some(k) = incoming {
                print_key(z, &k.key, k.state, &store);
            }
        }
        Rollover::Switch => println!(
            "{origin}: key {} now signs the zone; CDS/CDNSKEY name only it. Next: remove the old \
             DS at the registrar, and after {wait} s run `mailbeacon rollover {origin} finish`.",
            keys.active().tag()
        ),
        Rollover::Finish => println!(
            "{origin}: the old key is removed; key {} alone signs the zone.",
            keys.active().tag()
        ),
    }
    reload_running(path)
}

fn step_name(step: Rollover) -> &'static str {
    match step {
        Rollover::Start => "start",
        Rollover::Switch => "switch",
        Rollover::Finish => "finish",
    }
}

/// Makes a running server pick up the changed key file; without one, says the change waits for
/// the next start.
fn reload_running(path: Option<&Path>) -> ExitCode {
    let Ok((model, _)) = crate::load(path, false) else {
        return ExitCode::from(1);
    };
    let pid = crate::control::ControlFiles::of(&model).pid;
    if !pid.exists() {
        println!(
            "No server is running for this configuration: the keys take effect at its next start."
        );
        return ExitCode::SUCCESS;
    }
    crate::control::reload(path)
}
