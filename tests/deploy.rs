//! Running for real: the systemd unit, readiness notification, one server per state directory,
//! leaving root after binding port 53, and quiet pipes.

mod common;
use common::*;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

const CONFIG: &str = r#"
[server]
ipv4 = ["127.0.0.1"]
[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
[[domain]]
name = "example.test"
name_servers = ["ns1.{domain}", "ns2.{domain}"]
[hosts]
"ns2.{domain}" = ["127.0.1.53"]
"#;

#[test]
fn the_unit_file_passes_systemd_analyze() {
    if !have("systemd-analyze") {
        eprintln!("skipped: no systemd-analyze");
        return;
    }
    let unit = std::fs::read_to_string(root().join("contrib/mailbeacon.service")).unwrap();
    for needed in [
        "Type=notify",
        "ExecReload=/usr/bin/mailbeacon reload",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=mailbeacon",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed}");
    }
    // Verified with the binary under test in place of /usr/bin/mailbeacon.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mailbeacon.service");
    std::fs::write(
        &file,
        unit.replace("/usr/bin/mailbeacon", env!("CARGO_BIN_EXE_mailbeacon")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readiness_reload_and_stop_are_told_to_systemd() {
    let config = ScratchConfig::new(CONFIG);
    let socket_path = config.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let ready = config.dir.path().join("ready.json");
    let mut child = serve_command(&config, &ready)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("MAILBEACON_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let next = || {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next();
    assert!(first.contains("READY=1"), "{first}");
    assert!(first.contains("STATUS=serving 1 domain"), "{first}");
    assert!(
        ready.exists(),
        "READY=1 came before the listeners were announced"
    );
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let reloading = next();
    assert!(reloading.contains("RELOADING=1"), "{reloading}");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    assert!(next().contains("READY=1"));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(next().contains("STOPPING=1"));
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_second_server_on_the_same_state_directory_refuses() {
    let first = Served::start(CONFIG);
    let ready = first.config.dir.path().join("second-ready.json");
    let out = serve_command(&first.config, &ready).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another mailbeacon serve")
            && err.contains(&format!("process {}", first.child.id())),
        "{err}"
    );
    // The first one's pid file is untouched, so `reload` still finds it.
    let out = run(&["reload", "--config", &first.config.arg()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("process {}", first.child.id())));
}

#[test]
fn started_as_root_it_binds_port_53_then_becomes_the_configured_user() {
    if !nix::unistd::Uid::effective().is_root() || !have("unshare") {
        eprintln!("skipped: needs root (and unshare) to bind port 53 in a network namespace");
        return;
    }
    let config = ScratchConfig::new(&format!("{CONFIG}\n"));
    let text = CONFIG.replace(
        "ipv4 = [\"127.0.0.1\"]",
        "ipv4 = [\"127.0.0.1\"]\nuser = \"nobody\"",
    );
    std::fs::write(config.path(), text).unwrap();
    // The ready file is written once it has left root: `nobody` must be able to write there.
    let mut perms = std::fs::metadata(config.dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o1777);
    std::fs::set_permissions(config.dir.path(), perms).unwrap();
    let ready = config.dir.path().join("ready.json");
    let script = format!(
        "ip link set lo up && exec {} serve --config {} --dns 127.0.0.1:53 --http 127.0.0.1:0 --https 127.0.0.1:0 --ready-file {}",
        env!("CARGO_BIN_EXE_mailbeacon"),
        config.arg(),
        ready.display()
    );
    let mut child = Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .env("MAILBEACON_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let up = eventually(Duration::from_secs(20), || ready.exists());
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "the server did not become ready on port 53");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
    let uids = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or_default()
        .to_owned();
    let expected = nobody.as_raw().to_string();
    assert!(
        uids.split_whitespace().skip(1).all(|u| u == expected),
        "still running as {uids} (nobody is {expected})"
    );
    // The state it keeps now belongs to that user.
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(config.dir.path().join("state/serials")).unwrap(),
    );
    assert_eq!(owner, nobody.as_raw());
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    for _ in 0..100 {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{} records --config {} | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}",
                env!("CARGO_BIN_EXE_mailbeacon"),
                root().join("config/mailbeacon.toml").display()
            ))
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            status == "0" || status == "141",
            "records | head -1: exit {status}"
        );
    }
    for command in ["records", "check"] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{} {command} --config {} | true; echo ${{PIPESTATUS[0]}}",
                env!("CARGO_BIN_EXE_mailbeacon"),
                root().join("config/mailbeacon.toml").display()
            ))
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            status == "0" || status == "141",
            "{command} | true: exit {status}"
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn metrics_move_as_queries_and_requests_arrive() {
    let config = CONFIG.replace(
        "ipv4 = [\"127.0.0.1\"]",
        "ipv4 = [\"127.0.0.1\"]\nmetrics = \"127.0.0.1:0\"",
    );
    let served = Served::start(&config);
    let addr = served.ready["metrics"]
        .as_str()
        .expect("metrics address")
        .to_owned();
    let scrape = || {
        let out = Command::new("curl")
            .args(["-sS", &format!("http://{addr}/metrics")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for _ in 0..3 {
        served.kdig(&["example.test", "MX"]);
    }
    served.kdig(&["nx.example.test", "A"]);
    let r = served.http(
        "autoconfig.example.test",
        "/mail/config-v1.1.xml",
        &["-A", "Thunderbird/153.0"],
    );
    assert_eq!(r.status, 200);
    // One handshake that succeeds, one that the client abandons (it does not trust the lab CA).
    let ok = served.https("autoconfig.example.test", "/mail/config-v1.1.xml", &[]);
    assert_eq!(ok.status, 200);
    let https = served.addr("https");
    let _ = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--resolve"])
        .arg(format!(
            "autoconfig.example.test:{}:127.0.0.1",
            https.port()
        ))
        .arg(format!("https://autoconfig.example.test:{}/", https.port()))
        .status();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let text = scrape();
    // An independent parser: Python's prometheus_client.
    let parsed = python(
        r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#,
        text.as_bytes(),
    );
    let value = |line_start: &str| -> f64 {
        parsed
            .lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in\n{parsed}"))
    };
    assert_eq!(
        value("mailbeacon_dns_queries_total{qtype=MX,rcode=NOERROR,transport=udp}"),
        3.0
    );
    assert_eq!(
        value("mailbeacon_dns_queries_total{qtype=A,rcode=NXDOMAIN,transport=udp}"),
        1.0
    );
    assert_eq!(
        value(
            "mailbeacon_http_requests_total{client=thunderbird,endpoint=autoconfig,scheme=http,status=200}"
        ),
        1.0
    );
    assert_eq!(value("mailbeacon_build_info{version="), 1.0);
    // The three MX answers were precomputed; the name that does not exist takes the general path.
    assert_eq!(
        value("mailbeacon_dns_udp_answers_total{path=precomputed}"),
        3.0
    );
    assert_eq!(value("mailbeacon_dns_udp_answers_total{path=general}"), 1.0);
    assert_eq!(value("mailbeacon_tls_handshakes_total{outcome=ok}"), 1.0);
    assert_eq!(
        value("mailbeacon_tls_handshakes_total{outcome=failed}"),
        1.0
    );
    let days = value("mailbeacon_certificate_expiry_seconds{domain=example.test}") / 86_400.0;
    assert!(
        days > 300.0 && days < 400.0,
        "lab certificates live 397 days: {days}"
    );
    assert_eq!(value("mailbeacon_dns_rate_limited_total{"), 0.0);
    if have("promtool") {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Counters move: one more MX query.
    served.kdig(&["example.test", "MX"]);
    assert!(
        scrape().contains(
            r#"mailbeacon_dns_queries_total{transport="udp",qtype="MX",rcode="NOERROR"} 4"#
        )
    );
}
