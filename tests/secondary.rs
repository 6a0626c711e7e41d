//! Knot DNS and NSD as real secondaries of mailbeacon: each bootstraps every zone by AXFR, ends up
//! with exactly the records mailbeacon serves, and after a reload picks up the change at once
//! because mailbeacon sends it a NOTIFY (its SOA refresh timer alone would wait three hours).

mod common;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CONFIG: &str = r#"
[server]
ipv4 = ["192.0.2.1"]
metrics = "127.0.0.1:0"

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]

[[domain]]
name = "example.net"
aliases = ["alias.example"]
mx = ["10 mail.{domain}"]
spf = "v=spf1 mx -all"
axfr = ["127.0.0.1"]
notify = ["127.0.0.1:SECONDARY_PORT"]
"#;

/// The TSIG key of the signed variants: name, secret (32 octets, base64).
const KEY: (&str, &str) = ("xfr", "c2VjcmV0LXNoYXJlZC13aXRoLXRoZS1zZWNvbmRhcnk=");

/// The configuration with transfers and NOTIFY authorised by `KEY` instead of by address alone;
/// `example.net` is DNSSEC-signed and has 300 more records, so that its transfer takes several
/// messages and the secondaries check the chained TSIG of each.
fn signed_config(port: u16) -> String {
    let extra: String = (0..300)
        .map(|i| format!("h{i} IN TXT \"filler {i}\"\n"))
        .collect();
    CONFIG
        .replacen(
            "axfr = [\"127.0.0.1\"]",
            &format!("axfr = [\"127.0.0.1 key xfr\"]\ndnssec = true\nrecords = '''\n{extra}'''"),
            1,
        )
        .replace(
            "notify = [\"127.0.0.1:SECONDARY_PORT\"]",
            &format!("notify = [\"127.0.0.1:{port} key xfr\"]"),
        )
        + &format!("\n[tsig.{}]\nsecret = \"{}\"\n", KEY.0, KEY.1)
}

/// kdig's `-y` argument for `KEY`, or for a secret of our choosing.
fn kdig_key(secret: &str) -> String {
    format!("hmac-sha256:{}:{secret}", KEY.0)
}

/// A secondary name server process (knotd or nsd), killed on drop.
struct Secondary {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Secondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Secondary {
    /// Starts knotd as a secondary for `zones`, transferring from `primary`.
    fn knot(port: u16, primary: std::net::SocketAddr, zones: &[&str], signed: bool) -> Secondary {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let (keys, key_ref) = if signed {
            (
                format!(
                    "key:\n  - id: {}\n    algorithm: hmac-sha256\n    secret: {}\n",
                    KEY.0, KEY.1
                ),
                format!("\n    key: {}", KEY.0),
            )
        } else {
            (String::new(), String::new())
        };
        let mut conf = format!(
            "server:\n  listen: 127.0.0.1@{port}\n  rundir: {d}\n\
             database:\n  storage: {d}/db\n{keys}\
             remote:\n  - id: primary\n    address: {}@{}{key_ref}\n\
             acl:\n  - id: from_primary\n    address: 127.0.0.1{key_ref}\n    action: [notify, transfer]\n\
             template:\n  - id: default\n    storage: {d}/zones\n    zonefile-load: none\n    journal-content: none\n\
             zone:\n",
            primary.ip(),
            primary.port()
        );
        for z in zones {
            conf.push_str(&format!(
                "  - domain: {z}\n    master: primary\n    acl: from_primary\n"
            ));
        }
        Secondary::spawn(dir, port, "knotd", &["-c"], &conf)
    }

    /// Starts NSD as a secondary for `zones`, transferring from `primary`.
    fn nsd(port: u16, primary: std::net::SocketAddr, zones: &[&str], signed: bool) -> Secondary {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let mut conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  server-count: 1\n  zonesdir: \"{d}\"\n\
             \x20 database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  pidfile: \"{d}/nsd.pid\"\n\
             \x20 xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  username: \"\"\n  verbosity: 1\n\
             remote-control:\n  control-enable: no\n"
        );
        let key = if signed {
            conf.push_str(&format!(
                "key:\n  name: {}\n  algorithm: hmac-sha256\n  secret: \"{}\"\n",
                KEY.0, KEY.1
            ));
            KEY.0
        } else {
            "NOKEY"
        };
        for z in zones {
            conf.push_str(&format!(
                "zone:\n  name: {z}\n  zonefile: {z}.zone\n  request-xfr: AXFR {}@{} {key}\n  allow-notify: 127.0.0.1 {key}\n  provide-xfr: 127.0.0.1 {key}\n",
                primary.ip(),
                primary.port()
            ));
        }
        Secondary::spawn(dir, port, "nsd", &["-d", "-c"], &conf)
    }

    /// Writes `conf` into `dir` and runs `program ARGS… CONF_PATH` (Debian packages knot, nsd).
    fn spawn(
        dir: tempfile::TempDir,
        port: u16,
        program: &str,
        args: &[&str],
        conf: &str,
    ) -> Secondary {
        let path = dir.path().join(format!("{program}.conf"));
        std::fs::write(&path, conf).expect("write the secondary's configuration");
        let child = Command::new(program)
            .args(args)
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        Secondary {
            child,
            port,
            _dir: dir,
        }
    }

    fn kdig(&self, args: &[&str]) -> String {
        kdig((std::net::Ipv4Addr::LOCALHOST, self.port).into(), args)
    }
}

/// The records of an AXFR as sorted lines (`name ttl class type data`), SOA included once.
fn records(axfr: &str) -> Vec<String> {
    let mut lines: Vec<String> = axfr
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        // The TSIG of a signed transfer is not zone content.
        .filter(|l| !l.contains("\tTSIG\t"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

#[test]
fn knot_transfers_every_zone_and_follows_a_reload_by_notify() {
    follows(Secondary::knot, false);
}

#[test]
fn nsd_transfers_every_zone_and_follows_a_reload_by_notify() {
    follows(Secondary::nsd, false);
}

#[test]
fn knot_transfers_and_follows_with_tsig() {
    follows(Secondary::knot, true);
}

#[test]
fn nsd_transfers_and_follows_with_tsig() {
    follows(Secondary::nsd, true);
}

/// The whole story against one kind of secondary; with `signed`, transfers need the TSIG key and
/// NOTIFY is signed with it (the secondary accepts only signed ones).
fn follows(start: fn(u16, std::net::SocketAddr, &[&str], bool) -> Secondary, signed: bool) {
    let port = free_port();
    let config = if signed {
        signed_config(port)
    } else {
        CONFIG.replace("SECONDARY_PORT", &port.to_string())
    };
    let s = Served::start(&config);
    let secondary = start(port, s.dns, &["example.net", "alias.example"], signed);
    let key = kdig_key(KEY.1);
    let with_key: &[&str] = if signed { &["-y", &key] } else { &[] };

    if signed {
        // Unsigned, with a wrong secret, with a key we do not hold: no zone.
        let unsigned = s.kdig(&["example.net", "AXFR"]);
        assert!(unsigned.contains("REFUSED"), "{unsigned}");
        let wrong = s.kdig(&[
            "example.net",
            "AXFR",
            "-y",
            &kdig_key("d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw=="),
        ]);
        assert!(
            wrong.contains("BADSIG") && !wrong.contains("SOA\t"),
            "{wrong}"
        );
        let unknown = s.kdig(&[
            "example.net",
            "AXFR",
            "-y",
            &format!("hmac-sha256:other:{}", KEY.1),
        ]);
        assert!(
            unknown.contains("BADKEY") && !unknown.contains("SOA\t"),
            "{unknown}"
        );
    }

    for zone in ["example.net", "alias.example"] {
        let primary = records(&s.kdig(&[&[zone, "AXFR"][..], with_key].concat()));
        assert!(primary.len() > 5, "{primary:?}");
        let mut copy = Vec::new();
        let same = eventually(Duration::from_secs(15), || {
            copy = records(&secondary.kdig(&[&[zone, "AXFR"][..], with_key].concat()));
            copy == primary
        });
        assert!(
            same,
            "the secondary's copy of {zone} differs:\nprimary {primary:#?}\nsecondary {copy:#?}"
        );
    }

    // A change, a reload, and the secondary has it within seconds: only a NOTIFY can do that, the SOA
    // refresh timer is 10800 s.
    let serial_before = s.kdig(&["example.net", "SOA", "+short"]);
    std::fs::write(
        s.config.path(),
        config.replace("v=spf1 mx -all", "v=spf1 -all"),
    )
    .expect("write config");
    s.hup();
    let mut seen = String::new();
    let followed = eventually(Duration::from_secs(15), || {
        seen = secondary.kdig(&["example.net", "TXT", "+short"]);
        seen.contains("\"v=spf1 -all\"")
    });
    assert!(followed, "the secondary did not pick up the reload: {seen}");
    let serial_after = secondary.kdig(&["example.net", "SOA", "+short"]);
    assert_ne!(serial_before, serial_after, "the serial moved");
    assert_eq!(
        serial_after,
        s.kdig(&["example.net", "SOA", "+short"]),
        "the secondary serves mailbeacon's new serial"
    );
    // The alias zone carries the same SPF record, so it changed and was announced too.
    let alias_followed = eventually(Duration::from_secs(15), || {
        seen = secondary.kdig(&["alias.example", "TXT", "+short"]);
        seen.contains("\"v=spf1 -all\"")
    });
    assert!(alias_followed, "alias.example not followed: {seen}");

    // Every NOTIFY was acknowledged, and the metrics say so.
    let addr = s.ready["metrics"]
        .as_str()
        .expect("metrics address")
        .to_owned();
    let acknowledged = eventually(Duration::from_secs(10), || {
        let out = Command::new("curl")
            .args(["-sS", &format!("http://{addr}/metrics")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("mailbeacon_dns_notify_total{outcome=\"acknowledged\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .is_some_and(|n| n >= 4.0)
    });
    assert!(
        acknowledged,
        "two zones announced at start and after the reload"
    );
}
