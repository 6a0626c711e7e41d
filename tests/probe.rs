//! `mailbeacon probe` against `mailbeacon lab --loopback` for the default configuration and every
//! example: each client's chain ends with the settings the configuration gives that client (with
//! its documented quirks: Evolution keeps the last server of a type, Thunderbird for Android and
//! Delta Chat take IMAP only), the report's JSON is complete, the exit status follows the worst
//! finding, and `--config` reports drift between what is live and a configuration.

mod common;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mailbeacon_model::{EmailAddress, Protocol, Security, ServerSettings};

/// A running `mailbeacon lab`, killed on drop, with its ready file's contents.
struct Lab {
    child: Child,
    ready: serde_json::Value,
    _dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lab {
    fn start(config: &std::path::Path, loopback: bool) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let ready = dir.path().join("ready.json");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailbeacon"));
        cmd.arg("lab")
            .arg("--config")
            .arg(config)
            .arg("--ready-file")
            .arg(&ready)
            // The default configuration names fixed ports; tests run side by side.
            .args([
                "--dns",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--https",
                "127.0.0.1:0",
            ]);
        if loopback {
            cmd.arg("--loopback");
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("lab starts");
        assert!(
            eventually(Duration::from_secs(20), || ready.exists()),
            "the lab did not become ready"
        );
        let ready = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
        Lab {
            child,
            ready,
            _dir: dir,
        }
    }

    fn port(&self, kind: &str) -> String {
        self.ready[kind][0]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .to_owned()
    }

    /// `mailbeacon probe ADDRESS --json` pointed at this lab, plus `extra` arguments.
    fn probe(&self, address: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
        let dns = self.ready["dns"][0].as_str().unwrap().to_owned();
        let ca = self.ready["ca"].as_str().unwrap().to_owned();
        let mut args = vec!["probe", address, "--json", "--resolver", &dns, "--ca", &ca];
        let (https, http) = (self.port("https"), self.port("http"));
        args.extend(["--https-port", &https, "--http-port", &http]);
        args.extend_from_slice(extra);
        let out = run(&args);
        let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), json, stderr(&out))
    }
}

/// `(protocol, host, port, security, username)` as the report writes a server.
fn expected(s: &ServerSettings, address: &EmailAddress) -> serde_json::Value {
    let protocol = match s.protocol {
        Protocol::Imap => "imap",
        Protocol::Pop3 => "pop3",
        Protocol::Smtp => "smtp",
    };
    let security = match s.security {
        Security::Tls => "tls",
        Security::StartTls => "starttls",
        Security::Plain => "plain",
    };
    serde_json::json!({
        "protocol": protocol,
        "host": s.host.to_ascii_lowercase(),
        "port": s.port,
        "security": security,
        "username": s.username.for_address(address),
    })
}

#[test]
fn every_client_gets_what_the_configuration_gives_it() {
    let mut configs = vec![root().join("config/mailbeacon.toml")];
    let mut examples: Vec<_> = std::fs::read_dir(root().join("config/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    examples.sort();
    configs.extend(examples);
    for config in configs {
        let model = mailbeacon_model::load_file(&config).expect("the example is valid");
        let domain = &model.domains[0];
        let address = EmailAddress::parse(&format!(
            "alice@{}",
            domain.name.to_ascii().trim_end_matches('.')
        ))
        .unwrap();
        let settings = model.client_settings(domain);
        let lab = Lab::start(&config, true);
        let (code, report, err) = lab.probe(address.as_str(), &[]);
        let what = config.display();
        assert!(
            code == 0 || code == 1 || code == 2,
            "{what}: exit {code}: {err}"
        );

        let of = |p: Protocol| settings.incoming.iter().filter(move |s| s.protocol == p);
        let first_imap_or_pop = of(Protocol::Imap)
            .next()
            .or_else(|| of(Protocol::Pop3).next());
        let smtp_first = settings.outgoing.first();
        let want = |client: &str| -> (Option<&ServerSettings>, Option<&ServerSettings>) {
            match client {
                "thunderbird" => (settings.incoming.first(), smtp_first),
                "thunderbird-android" | "delta-chat" => (of(Protocol::Imap).next(), smtp_first),
                "evolution" => (
                    of(Protocol::Imap)
                        .next_back()
                        .or_else(|| of(Protocol::Pop3).next_back()),
                    settings.outgoing.last(),
                ),
                _ => (first_imap_or_pop, smtp_first),
            }
        };
        let clients = report["clients"].as_array().expect("clients in the report");
        assert_eq!(clients.len(), 6, "{what}");
        for c in clients {
            let name = c["client"].as_str().unwrap();
            let (incoming, outgoing) = want(name);
            let got = &c["settings"];
            assert!(!got.is_null(), "{what}: {name} found nothing: {c:#}");
            assert_eq!(
                got["incoming"],
                incoming.map_or(serde_json::Value::Null, |s| expected(s, &address)),
                "{what}: {name} incoming"
            );
            assert_eq!(
                got["outgoing"],
                outgoing.map_or(serde_json::Value::Null, |s| expected(s, &address)),
                "{what}: {name} outgoing"
            );
            assert!(
                c["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["used"] == true),
                "{what}: {name} marks its source step"
            );
        }
        // Errors only about names the lab cannot serve (another provider's hosts).
        let lab_domains: Vec<String> = lab.ready["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        for f in report["findings"].as_array().unwrap() {
            if f["level"] != "error" {
                continue;
            }
            let message = f["message"].as_str().unwrap();
            let outside = ["ns", "mx", "srv"].contains(&f["check"].as_str().unwrap())
                && message.split_whitespace().any(|w| {
                    w.contains('.')
                        && !lab_domains
                            .iter()
                            .any(|d| w.trim_end_matches('.').ends_with(d.as_str()))
                });
            assert!(outside, "{what}: unexpected error: {f}");
        }
        let worst = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| match f["level"].as_str() {
                Some("error") => 2,
                Some("warning") => 1,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        assert_eq!(
            code, worst,
            "{what}: the exit status follows the worst finding"
        );
    }
}

#[test]
fn drift_from_a_configuration_is_reported() {
    let config = root().join("config/mailbeacon.toml");
    let lab = Lab::start(&config, false);
    let (_, report, err) = lab.probe("alice@example.test", &["--client", "thunderbird"]);
    assert_eq!(report["clients"].as_array().map(Vec::len), Some(1), "{err}");
    // The configuration the lab serves: no drift.
    let config_arg = config.display().to_string();
    let (_, json, _) = lab.probe(
        "alice@example.test",
        &["--config", &config_arg, "--client", "kmail"],
    );
    let drift: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "drift")
        .collect();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["level"], "ok", "{drift:?}");
    // An edited configuration not yet reloaded: its SPF differs from what is live.
    let edited = ScratchConfig::new(
        &std::fs::read_to_string(&config)
            .unwrap()
            .replace("v=spf1 mx -all", "v=spf1 mx a -all"),
    );
    let edited_arg = edited.arg();
    let (code, json, _) = lab.probe(
        "alice@example.test",
        &["--config", &edited_arg, "--client", "kmail"],
    );
    assert_eq!(code, 2);
    let messages: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "drift" && f["level"] == "error")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("v=spf1 mx a -all")),
        "{messages:?}"
    );
    // The text form names each client and step.
    let text = run(&[
        "probe",
        "alice@example.test",
        "--resolver",
        lab.ready["dns"][0].as_str().unwrap(),
        "--ca",
        lab.ready["ca"].as_str().unwrap(),
        "--https-port",
        &lab.port("https"),
        "--http-port",
        &lab.port("http"),
        "--client",
        "outlook",
    ]);
    let shown = stdout(&text);
    assert!(
        shown.contains("== outlook")
            && shown
                .contains("POST https://autodiscover.example.test/autodiscover/autodiscover.xml"),
        "{shown}"
    );
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    for (args, expected) in [
        (vec!["probe", "not-an-address"], "is not an email address"),
        (
            vec!["probe", "a@example.test", "--client", "mutt"],
            "unknown; one of thunderbird",
        ),
        (
            vec!["probe", "a@example.test", "--resolver", "nowhere"],
            "not an address",
        ),
        (
            vec!["probe", "a@example.test", "--ca", "/nonexistent/ca.pem"],
            "--ca /nonexistent/ca.pem",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
