//! Lab mode: the in-process API used exactly as a downstream test suite would, and the
//! `mailbeacon lab` command with its ready file and request capture.

mod common;
use common::*;

use std::process::{Command, Stdio};
use std::time::Duration;

use mailbeacon_lab::{Exchange, Lab};

fn kdig_at(addr: std::net::SocketAddr, args: &[&str]) -> String {
    let out = Command::new("kdig")
        .arg(format!("@{}", addr.ip()))
        .args([
            "-p",
            &addr.port().to_string(),
            "+timeout=2",
            "+retry=0",
            "+short",
        ])
        .args(args)
        .output()
        .expect("kdig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn https_get(
    lab_https: std::net::SocketAddr,
    ca: &std::path::Path,
    host: &str,
    path: &str,
) -> Fetched {
    curl(&[
        "--resolve".into(),
        format!("{host}:{}:127.0.0.1", lab_https.port()),
        "--cacert".into(),
        ca.display().to_string(),
        format!("https://{host}:{}{path}", lab_https.port()),
    ])
}

#[test]
fn in_process_lab_serves_captures_reloads_and_stops() {
    let lab = Lab::builder().domain("shop.test").start().unwrap();
    let info = lab.info().clone();
    assert!(info.domains.contains(&"shop.test".to_owned()));
    assert!(info.names.contains(&"autoconfig.shop.test".to_owned()));
    // A client that trusts only the PEM it was handed.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &info.ca_pem).unwrap();

    assert_eq!(
        kdig_at(lab.dns_addr(), &["_imaps._tcp.shop.test", "SRV"]),
        "0 1 993 mail.shop.test.\n"
    );
    let r = https_get(
        lab.https_addr(),
        &ca,
        "autoconfig.shop.test",
        "/mail/config-v1.1.xml?emailaddress=eve%40shop.test",
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<domain>shop.test</domain>"));

    let seen = lab.requests();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    match &seen[0].exchange {
        Exchange::Dns {
            transport,
            name,
            qtype,
            rcode,
            ..
        } => {
            assert_eq!(
                (*transport, name.as_str(), qtype.as_str(), rcode.as_str()),
                ("udp", "_imaps._tcp.shop.test", "SRV", "NOERROR")
            );
        }
        other => panic!("expected the SRV query first: {other:?}"),
    }
    match &seen[1].exchange {
        Exchange::Http {
            scheme,
            path,
            query,
            status,
            domain,
            ..
        } => {
            assert_eq!(*scheme, "https");
            assert_eq!(path, "/mail/config-v1.1.xml");
            assert_eq!(query.as_deref(), Some("emailaddress=eve%40shop.test"));
            assert_eq!(*status, 200);
            assert_eq!(domain.as_deref(), Some("shop.test"));
        }
        other => panic!("expected the HTTPS fetch second: {other:?}"),
    }
    // The same list over HTTP, and DELETE clears it.
    let r = curl(&[format!("http://{}/_lab/requests", lab.http_addr())]);
    let listed: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(listed[0]["protocol"], "dns");
    assert_eq!(listed[1]["protocol"], "http");
    curl(&[
        "-X".into(),
        "DELETE".into(),
        format!("http://{}/_lab/requests", lab.http_addr()),
    ]);
    assert!(lab.requests().is_empty());

    // NXDOMAIN and REFUSED are captured with their codes.
    kdig_at(lab.dns_addr(), &["nothing.shop.test", "A"]);
    kdig_at(lab.dns_addr(), &["example.org", "A"]);
    let codes: Vec<String> = lab
        .requests()
        .iter()
        .filter_map(|c| match &c.exchange {
            Exchange::Dns { rcode, .. } => Some(rcode.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(codes, ["NXDOMAIN", "REFUSED"]);

    // Reload with another configuration: a new domain, with its certificate.
    let text = format!(
        "{}\n[[domain]]\nname = \"later.test\"\nmx = [\"10 mail.{{domain}}\"]\n",
        mailbeacon_model::DEFAULT_CONFIG
    );
    lab.reload_with(&text).unwrap();
    let r = https_get(
        lab.https_addr(),
        &ca,
        "autoconfig.later.test",
        "/mail/config-v1.1.xml",
    );
    assert_eq!(r.status, 200);
    assert!(lab.reload_with("[[domain]]\nname = 5\n").is_err());
    assert_eq!(
        kdig_at(lab.dns_addr(), &["_imaps._tcp.later.test", "SRV"]),
        "0 1 993 mail.later.test.\n"
    );

    // Dropping the handle closes the listeners and removes the temporary CA.
    let (http, ca_dir) = (lab.http_addr(), info.ca.parent().unwrap().to_owned());
    drop(lab);
    // The runtime shuts down in the background: the listener is gone within moments, not at once.
    assert!(
        eventually(std::time::Duration::from_secs(5), || {
            std::net::TcpStream::connect(http).is_err()
        }),
        "listener closed"
    );
    assert!(!ca_dir.exists(), "temporary state removed");
}

#[test]
fn a_persistent_state_dir_keeps_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = Lab::builder()
        .state_dir(dir.path())
        .start()
        .unwrap()
        .info()
        .ca_pem
        .clone();
    let second = Lab::builder()
        .state_dir(dir.path())
        .start()
        .unwrap()
        .info()
        .ca_pem
        .clone();
    assert_eq!(first, second);
}

#[test]
fn bad_domains_are_configuration_errors() {
    let err = Lab::builder().domain("not a domain").start().unwrap_err();
    assert!(err.to_string().contains("domain["), "{err}");
}

#[test]
fn lab_command_writes_ready_file_captures_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("lab.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailbeacon"))
        .args(["lab", "--domain", "cli.test", "--ready-file"])
        .arg(&ready)
        .env("MAILBEACON_LOG", "warn")
        .env_remove("MAILBEACON_CONFIG")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(20), || ready.exists()),
        "lab did not become ready"
    );
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    for key in ["dns", "http", "https"] {
        assert!(
            info[key][0].as_str().unwrap().starts_with("127.0.0.1:"),
            "{info}"
        );
    }
    assert!(
        info["ca_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        info["domains"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "cli.test")
    );
    let ca = std::path::PathBuf::from(info["ca"].as_str().unwrap());
    assert!(ca.exists());
    let https: std::net::SocketAddr = info["https"][0].as_str().unwrap().parse().unwrap();
    let r = https_get(
        https,
        &ca,
        "autodiscover.cli.test",
        "/autodiscover/autodiscover.xml",
    );
    assert_eq!(r.status, 200);
    let r = https_get(https, &ca, "cli.test", "/_lab/requests");
    let listed: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(listed[0]["host"], "autodiscover.cli.test");
    assert_eq!(listed[0]["status"], 200);

    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = child.wait().unwrap();
    assert!(status.success());
    // It printed the same description it wrote.
    let mut printed = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut printed).unwrap();
    let printed: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(printed, info);
    assert!(!ready.exists(), "ready file removed");
    assert!(!ca.exists(), "temporary CA removed");
}

#[test]
fn serve_has_no_lab_routes() {
    let s = Served::start(mailbeacon_model::DEFAULT_CONFIG);
    let r = s.http("example.test", "/_lab/requests", &[]);
    assert_eq!(r.status, 404);
}

/// Whether this process may create network and mount namespaces (root with CAP_SYS_ADMIN).
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn unmodified_clients_find_everything_by_name_in_a_network_namespace() {
    if !can_unshare() {
        eprintln!("skipped: cannot create namespaces here (needs root)");
        return;
    }
    let script = r#"
set -e
curl -sS https://autoconfig.ns.test/mail/config-v1.1.xml | grep -q '<domain>ns.test</domain>'
curl -sS -o /dev/null -w '%{http_code}\n' http://autodiscover.ns.test/autodiscover/autodiscover.xml
kdig +short _imaps._tcp.ns.test SRV
python3 -c 'import dns.resolver; print(dns.resolver.resolve("ns.test", "MX")[0].to_text())'
curl -sS https://mta-sts.ns.test/.well-known/mta-sts.txt | head -1
"#;
    let out = Command::new(root().join("scripts/lab-netns.sh"))
        .args(["--domain", "ns.test", "--", "sh", "-c", script])
        .env("MAILBEACON_BIN", env!("CARGO_BIN_EXE_mailbeacon"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "302\n0 1 993 mail.ns.test.\n10 mail.ns.test.\nversion: STSv1\r\n"
    );
}

#[test]
fn an_exact_lab_serves_only_the_named_domains_and_captures_what_it_answered() {
    let lab = Lab::builder()
        .domain("shop.test")
        .service(
            r#"[service.mail]
username = "localpart"
incoming = [{ protocol = "imap", host = "imap.{domain}", port = 143, security = "starttls" }]
outgoing = [{ host = "smtp.{domain}", port = 587, security = "starttls" }]
"#,
        )
        .start()
        .unwrap();
    assert_eq!(
        lab.info().domains,
        ["shop.test"],
        "nothing but the domain asked for"
    );
    assert_eq!(kdig_at(lab.dns_addr(), &["example.test", "SOA"]), "");
    assert_eq!(
        kdig_at(lab.dns_addr(), &["_imap._tcp.shop.test", "SRV"]),
        "0 1 143 imap.shop.test.\n"
    );
    lab.clear_requests();
    kdig_at(lab.dns_addr(), &["shop.test", "MX"]);
    kdig_at(lab.dns_addr(), &["nothing.shop.test", "A"]);

    // An in-process client: rustls with the lab's root store, connecting by name through the
    // lab's address map.
    let addr = lab.address_of("autoconfig.shop.test", 443).unwrap();
    assert_eq!(addr, lab.https_addr());
    assert_eq!(
        lab.address_of("autoconfig.shop.test", 80),
        Some(lab.http_addr())
    );
    assert_eq!(lab.address_of("elsewhere.test", 443), None);
    assert!(
        lab.address_map()
            .contains(&(("mta-sts.shop.test".to_owned(), 443), lab.https_addr()))
    );
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(lab.root_store())
    .with_no_client_auth();
    let server_name = rustls::pki_types::ServerName::try_from("autoconfig.shop.test").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), server_name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    use std::io::{Read as _, Write as _};
    tls.write_all(
        b"GET /mail/config-v1.1.xml?emailaddress=eve%40shop.test HTTP/1.1\r\nHost: autoconfig.shop.test\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("<username>%EMAILLOCALPART%</username>"),
        "{response}"
    );
    assert!(!lab.ca_der().is_empty());

    // The capture holds what was answered, not only that something was.
    let seen = lab.requests();
    match &seen[0].exchange {
        Exchange::Dns { answers, .. } => {
            assert_eq!(
                answers,
                &["shop.test. 3600 IN MX 10 mail.shop.test."],
                "{seen:#?}"
            );
        }
        other => panic!("{other:?}"),
    }
    match &seen[1].exchange {
        Exchange::Dns {
            rcode, authority, ..
        } => {
            assert_eq!(rcode, "NXDOMAIN");
            assert!(
                authority[0].starts_with("shop.test. 300 IN SOA "),
                "{authority:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    match &seen[2].exchange {
        Exchange::Http {
            headers,
            body,
            body_truncated,
            ..
        } => {
            assert!(
                headers
                    .iter()
                    .any(|(k, v)| k == "content-type" && v.contains("xml"))
            );
            assert!(
                body.contains("<hostname>imap.shop.test</hostname>"),
                "{body}"
            );
            assert!(!body_truncated);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_lab_ca_issues_for_extra_names_the_test_asks_for() {
    let lab = Lab::builder()
        .domain("shop.test")
        .certificate_for("imap.provider.example")
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &lab.info().ca_pem).unwrap();
    // The handshake for the extra name verifies against the lab CA (the path itself is not served).
    let r = https_get(lab.https_addr(), &ca, "imap.provider.example", "/healthz");
    assert_eq!(r.status, 200, "{}", r.text());
    // A name nobody asked for gets the fallback certificate, which does not name it: refused.
    let port = lab.https_addr().port();
    let other = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--cacert"])
        .arg(&ca)
        .args([
            "--resolve",
            &format!("pop.provider.example:{port}:127.0.0.1"),
        ])
        .arg(format!("https://pop.provider.example:{port}/healthz"))
        .output()
        .unwrap();
    assert_eq!(
        other.status.code(),
        Some(60),
        "curl refuses a certificate for another name"
    );
}
