//! Signed zones checked by validators and zone checkers nobody here wrote: unbound (with the DS
//! from `mailbeacon ds` as its trust anchor) sets AD on positive answers, NXDOMAIN, NODATA and an
//! empty non-terminal, and answers SERVFAIL when the anchor does not match; `delv` validates the
//! same chain itself; `dnssec-verify` and `kzonecheck --dnssec on` accept the zone as transferred
//! by AXFR. Keys survive a restart, and a key file that is not right stops the start with a
//! message naming the file.

mod common;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CONFIG: &str = r#"
[server]
ipv4 = ["192.0.2.1"]
ipv6 = ["2001:db8::1"]
state_dir = "STATE"

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]

[defaults]
dnssec = true
axfr = ["127.0.0.1"]

[[domain]]
name = "example.net"
aliases = ["alias.example"]
mx = ["10 mail.{domain}"]
spf = "v=spf1 mx -all"
records = '''
www  IN CNAME mail
'''

[[domain]]
name = "edwards.example"
dnssec_algorithm = "ED25519"
"#;

/// A private unbound on a free port, stubbing our zones to mailbeacon with `anchors` trusted.
struct Unbound {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Unbound {
    fn start(primary: std::net::SocketAddr, zones: &[&str], anchors: &[String]) -> Unbound {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let d = dir.path().display();
        let mut conf = format!(
            "server:\n  interface: 127.0.0.1@{port}\n  do-not-query-localhost: no\n  username: \"\"\n\
             \x20 chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n\
             \x20 logfile: \"{d}/unbound.log\"\n  verbosity: 1\n  val-log-level: 2\n\
             \x20 local-zone: \"test.\" nodefault\n  local-zone: \"example.\" nodefault\n\
             \x20 module-config: \"validator iterator\"\n"
        );
        for a in anchors {
            conf.push_str(&format!("  trust-anchor: \"{a}\"\n"));
        }
        for z in zones {
            conf.push_str(&format!(
                "stub-zone:\n  name: \"{z}.\"\n  stub-addr: {}@{}\n",
                primary.ip(),
                primary.port()
            ));
        }
        conf.push_str("remote-control:\n  control-enable: no\n");
        let path = dir.path().join("unbound.conf");
        std::fs::write(&path, conf).expect("write unbound.conf");
        let child = Command::new("unbound")
            .args(["-d", "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound runs (Debian package unbound)");
        let u = Unbound { child, port, dir };
        assert!(
            eventually(Duration::from_secs(10), || u
                .ask("version.bind CH TXT")
                .contains("status")),
            "unbound did not start: {}",
            u.log()
        );
        u
    }

    /// `kdig +dnssec` through the validator.
    fn ask(&self, question: &str) -> String {
        let args: Vec<&str> = question.split_whitespace().chain(["+dnssec"]).collect();
        kdig((std::net::Ipv4Addr::LOCALHOST, self.port).into(), &args)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn flags(answer: &str) -> String {
    answer
        .lines()
        .find(|l| l.starts_with(";; Flags:"))
        .unwrap_or_default()
        .to_owned()
}

fn status(answer: &str) -> String {
    answer
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(';').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// The DS lines `mailbeacon ds` prints for `config`.
fn ds_lines(config: &ScratchConfig) -> Vec<String> {
    let out = run(&["ds", "--config", &config.arg()]);
    assert!(out.status.success(), "ds failed: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter(|l| l.contains(" IN DS "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn validators_trust_the_signed_zones() {
    let state = tempfile::tempdir().expect("state dir");
    let served = Served::start(&CONFIG.replace("STATE", &state.path().display().to_string()));
    let anchors = ds_lines(&served.config);
    assert_eq!(anchors.len(), 3, "{anchors:?}");
    assert!(
        anchors
            .iter()
            .any(|l| l.starts_with("edwards.example. IN DS ") && l.contains(" 15 2 "))
    );
    let zones = ["example.net", "alias.example", "edwards.example"];
    let unbound = Unbound::start(served.dns, &zones, &anchors);
    let cases = [
        ("example.net MX", "NOERROR", "positive"),
        ("alias.example MX", "NOERROR", "positive, alias zone"),
        ("edwards.example SOA", "NOERROR", "positive, Ed25519"),
        ("www.example.net A", "NOERROR", "CNAME inside the zone"),
        (
            "nothing.example.net A",
            "NXDOMAIN",
            "name that does not exist",
        ),
        (
            "a.b.nothing.example.net AAAA",
            "NXDOMAIN",
            "deeper name that does not exist",
        ),
        ("example.net CAA", "NOERROR", "NODATA at the apex"),
        ("_tcp.example.net TXT", "NOERROR", "empty non-terminal"),
        ("nothing.edwards.example A", "NXDOMAIN", "NXDOMAIN, Ed25519"),
    ];
    for (question, rcode, what) in cases {
        let answer = unbound.ask(question);
        assert_eq!(
            status(&answer),
            rcode,
            "{what}: {answer}\n{}",
            unbound.log()
        );
        assert!(
            flags(&answer).contains(" ad"),
            "{what} ({question}) not validated: {answer}\nunbound log:\n{}",
            unbound.log()
        );
    }
    // The answer through the validator is the real one.
    assert!(
        unbound
            .ask("example.net MX")
            .contains("10 mail.example.net.")
    );

    // An anchor that does not match the key: the chain is bogus, and unbound refuses the data.
    let wrong: Vec<String> = anchors
        .iter()
        .map(|l| {
            let (head, digest) = l.rsplit_once(' ').unwrap();
            let flipped: String = digest.chars().rev().collect();
            format!("{head} {flipped}")
        })
        .collect();
    let bogus = Unbound::start(served.dns, &zones, &wrong);
    let answer = bogus.ask("example.net MX");
    assert_eq!(status(&answer), "SERVFAIL", "{answer}");

    // delv validates the chain itself, from the DNSKEY the DS names.
    if have("delv") {
        let anchor_file = state.path().join("anchors.conf");
        let mut text = String::from("trust-anchors {\n");
        for l in &anchors {
            let f: Vec<&str> = l.split_whitespace().collect();
            text.push_str(&format!(
                "  {} static-ds {} {} {} \"{}\";\n",
                f[0], f[3], f[4], f[5], f[6]
            ));
        }
        text.push_str("};\n");
        std::fs::write(&anchor_file, text).unwrap();
        for (zone, question) in [
            ("example.net", "example.net MX"),
            ("edwards.example", "nothing.edwards.example A"),
        ] {
            let mut args = vec![
                format!("@{}", served.dns.ip()),
                "-p".into(),
                served.dns.port().to_string(),
                "-a".into(),
                anchor_file.display().to_string(),
                format!("+root={zone}"),
            ];
            args.extend(question.split_whitespace().map(str::to_owned));
            let out = Command::new("delv")
                .args(&args)
                .output()
                .expect("delv runs");
            let text = format!("{}{}", stdout(&out), stderr(&out));
            assert!(
                text.contains("fully validated") && !text.contains("bogus"),
                "delv {question}: {text}"
            );
        }
    }
}

#[test]
fn zone_checkers_accept_the_transferred_signed_zone() {
    let state = tempfile::tempdir().expect("state dir");
    let served = Served::start(&CONFIG.replace("STATE", &state.path().display().to_string()));
    for zone in ["example.net", "edwards.example"] {
        let axfr = served.kdig(&["AXFR", zone, "+nocomments", "+nostats", "+noquestion"]);
        assert!(
            axfr.contains("RRSIG") && axfr.contains("NSEC") && axfr.contains("CDS"),
            "{axfr}"
        );
        let file = state.path().join(format!("{zone}.zone"));
        std::fs::write(&file, &axfr).unwrap();
        let verify = Command::new("dnssec-verify")
            .args(["-z", "-o", zone])
            .arg(&file)
            .output()
            .expect("dnssec-verify runs (bind9-utils)");
        assert!(
            verify.status.success(),
            "dnssec-verify {zone}: {}{}",
            stdout(&verify),
            stderr(&verify)
        );
        let check = Command::new("kzonecheck")
            .args(["--dnssec", "on", "-o", zone])
            .arg(&file)
            .output()
            .expect("kzonecheck runs (knot-dnssecutils)");
        assert!(
            check.status.success(),
            "kzonecheck {zone}: {}{}",
            stdout(&check),
            stderr(&check)
        );
    }
    // Answers without DO are unchanged; with DO they carry signatures.
    let plain = served.kdig(&["example.net", "MX"]);
    assert!(!plain.contains("RRSIG"), "{plain}");
    let signed = served.kdig(&["example.net", "MX", "+dnssec"]);
    assert!(signed.contains("RRSIG"), "{signed}");
}

#[test]
fn keys_survive_a_restart_and_bad_key_files_stop_the_start() {
    let state = tempfile::tempdir().expect("state dir");
    let text = CONFIG.replace("STATE", &state.path().display().to_string());
    let first = {
        let served = Served::start(&text);
        ds_lines(&served.config)
    };
    let served = Served::start(&text);
    assert_eq!(ds_lines(&served.config), first, "a restart keeps the keys");
    let config = ScratchConfig::new(&text);
    drop(served);

    // `ds` without keys says where they would be; the key file of one zone copied over another's
    // is refused, naming the file.
    let empty = tempfile::tempdir().unwrap();
    let fresh = ScratchConfig::new(&CONFIG.replace("STATE", &empty.path().display().to_string()));
    let out = run(&["ds", "--config", &fresh.arg()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no key yet"), "{}", stderr(&out));

    let dir = state.path().join("dnssec");
    std::fs::copy(dir.join("alias.example.key"), dir.join("example.net.key")).unwrap();
    let ready = config.dir.path().join("ready.json");
    let out = serve_command(&config, &ready).output().expect("serve runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("example.net.key") && err.contains("holds the key of zone alias.example."),
        "{err}"
    );
}

/// A new EC key and self-signed certificate at `dir/name`; returns the SHA-256 of its public key
/// as openssl computes it (the `3 1 1` TLSA data).
fn certificate(dir: &std::path::Path, name: &str) -> String {
    let cert = dir.join(name);
    let key = format!("{name}.key");
    openssl(&self_signed_args(&key, name, "/CN=mail.example.net"), dir);
    let script = format!(
        "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum",
        cert.display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh runs");
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn tlsa_records_follow_the_certificate_file() {
    let certs = tempfile::tempdir().expect("temp dir");
    let first = certificate(certs.path(), "mail.pem");
    let text = format!(
        "[server]\nipv4 = [\"192.0.2.1\"]\n\n[service.mail]\n\
         incoming = [{{ protocol = \"imap\", host = \"mail.{{domain}}\" }}]\n\
         outgoing = [{{ host = \"mail.{{domain}}\" }}]\n\n[[domain]]\nname = \"example.net\"\n\
         mx = [\"10 mail.{{domain}}\"]\ndnssec = true\n\
         tlsa = [{{ host = \"mail.{{domain}}\", cert = \"{}\", ports = [25, 465] }}]\n",
        certs.path().join("mail.pem").display()
    );
    let served = Served::start(&text);
    let tlsa = |port: u16| {
        served
            .kdig(&[&format!("_{port}._tcp.mail.example.net"), "TLSA", "+short"])
            .trim()
            .to_lowercase()
    };
    assert_eq!(tlsa(25), format!("3 1 1 {first}"));
    assert_eq!(tlsa(465), format!("3 1 1 {first}"));
    let signed = served.kdig(&["_25._tcp.mail.example.net", "TLSA", "+dnssec"]);
    assert!(signed.contains("RRSIG"), "{signed}");

    // The certificate is renewed with a new key; a reload publishes the new record.
    let second = certificate(certs.path(), "mail.pem");
    assert_ne!(first, second);
    served.hup();
    assert!(
        eventually(Duration::from_secs(10), || tlsa(25)
            == format!("3 1 1 {second}")),
        "TLSA did not follow the new certificate: {}",
        tlsa(25)
    );

    // Without DNSSEC, or with a file that is not a certificate: refused, naming the key.
    let unsigned = ScratchConfig::new(&text.replace("dnssec = true\n", ""));
    let out = run(&["check", "--config", &unsigned.arg()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("domain[0].tlsa[0]: TLSA records need dnssec = true"),
        "{}",
        stderr(&out)
    );
    std::fs::write(certs.path().join("mail.pem"), "not a certificate").unwrap();
    let broken = ScratchConfig::new(&text);
    let out = run(&["check", "--config", &broken.arg()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("domain[0].tlsa[0].cert:")
            && stderr(&out).contains("holds no PEM certificate"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_key_rollover_keeps_the_zone_valid_at_every_step() {
    let state = tempfile::tempdir().expect("state dir");
    let served = Served::start(&CONFIG.replace("STATE", &state.path().display().to_string()));
    let config = served.config.arg();
    let zone = "example.net";
    let ds_of = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("example.net. "))
            .cloned()
            .collect()
    };
    let old = ds_of(&ds_lines(&served.config));
    assert_eq!(old.len(), 1);
    let step = |args: &[&str]| {
        let mut full = vec!["rollover", "--config", &config, zone];
        full.extend_from_slice(args);
        run(&full)
    };
    let validates = |anchor: &[String]| {
        let unbound = Unbound::start(served.dns, &[zone], anchor);
        let answer = unbound.ask("example.net MX");
        (flags(&answer).contains(" ad"), status(&answer))
    };

    // Start: the new key is pre-published; `ds` lists both; either DS validates.
    let out = step(&["start"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let both = ds_of(&ds_lines(&served.config));
    assert_eq!(both.len(), 2, "{both:?}");
    let new: Vec<String> = both.iter().filter(|l| !old.contains(l)).cloned().collect();
    assert_eq!(new.len(), 1);
    let cds = served.kdig(&["example.net", "CDS", "+short"]);
    assert_eq!(cds.lines().count(), 2, "{cds}");
    assert_eq!(
        validates(&old),
        (true, "NOERROR".into()),
        "old DS after start"
    );
    assert_eq!(
        validates(&new),
        (true, "NOERROR".into()),
        "new DS after start"
    );

    // Switch: refused before the caches can have the new key, then forced.
    let early = step(&["switch"]);
    assert!(!early.status.success());
    assert!(stderr(&early).contains("too early"), "{}", stderr(&early));
    let out = step(&["switch", "--force"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let cds = served.kdig(&["example.net", "CDS", "+short"]);
    assert_eq!(cds.lines().count(), 1, "only the new key's CDS: {cds}");
    assert_eq!(
        validates(&old),
        (true, "NOERROR".into()),
        "old DS after switch"
    );
    assert_eq!(
        validates(&new),
        (true, "NOERROR".into()),
        "new DS after switch"
    );

    // Finish: the old key is gone; only the new DS validates.
    let out = step(&["finish", "--force"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(ds_of(&ds_lines(&served.config)), new);
    assert_eq!(
        validates(&new),
        (true, "NOERROR".into()),
        "new DS after finish"
    );
    assert_eq!(validates(&old).1, "SERVFAIL", "old DS after finish");
    // Out of order: there is nothing to finish.
    let out = step(&["finish"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no rollover is in progress"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_reload_re_signs_only_zones_that_changed() {
    let state = tempfile::tempdir().expect("state dir");
    let text = CONFIG.replace("STATE", &state.path().display().to_string());
    let served = Served::start(&text);
    let rrsig = |name: &str| {
        served
            .kdig(&[name, "MX", "+dnssec", "+short"])
            .lines()
            .find(|l| l.starts_with("MX "))
            .unwrap_or_default()
            .to_owned()
    };
    let (net, alias) = (rrsig("example.net"), rrsig("alias.example"));
    assert!(!net.is_empty() && !alias.is_empty());
    // ECDSA signatures differ each time they are made: equal ones were reused, not remade.
    served.hup();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        rrsig("example.net"),
        net,
        "nothing changed: same signatures"
    );
    // A change in one zone only: the others keep their signatures.
    let edited = text.replace(
        "name = \"edwards.example\"",
        "name = \"edwards.example\"\nspf = \"v=spf1 -all\"",
    );
    std::fs::write(served.config.path(), edited).unwrap();
    served.hup();
    assert!(
        eventually(Duration::from_secs(5), || {
            served
                .kdig(&["edwards.example", "TXT", "+short"])
                .contains("v=spf1 -all")
        }),
        "the reload applied"
    );
    assert_eq!(
        rrsig("example.net"),
        net,
        "an unchanged zone keeps its signatures"
    );
    assert_eq!(rrsig("alias.example"), alias);
}
