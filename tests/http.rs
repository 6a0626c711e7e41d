//! The HTTP(S) responder through real sockets: `mailbeacon serve` on port 0, `curl` as the client,
//! Python's `xml.etree` and `plistlib` as independent parsers.

mod common;
use common::*;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mailbeacon_formats::provider;

const CONFIG: &str = r#"
[server]
ipv4 = ["127.0.0.1"]
[service.mail]
display_name = "Example mail"
incoming = [
  { protocol = "imap", host = "mail.{domain}", port = 993, security = "tls" },
  { protocol = "pop3", host = "mail.{domain}", port = 995, security = "tls" },
]
outgoing = [
  { protocol = "smtp", host = "mail.{domain}", port = 465, security = "tls" },
  { protocol = "smtp", host = "mail.{domain}", port = 587, security = "starttls" },
]
[[domain]]
name = "example.test"
services = ["mail"]
aliases = ["example-alias.test"]
mx = ["10 mail.{domain}"]
"#;

/// Servers of an autoconfig document, as Python's `xml.etree` reads them.
const ETREE_SERVERS: &str = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "clientConfig", root.tag
p = root.find("emailProvider")
print("id", p.get("id"))
for d in p.findall("domain"):
    print("domain", d.text)
for s in list(p.findall("incomingServer")) + list(p.findall("outgoingServer")):
    print(s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"), s.findtext("username"))
"#;

#[test]
fn autoconfig_over_https_on_every_name_with_its_own_certificate() {
    let s = Served::start(CONFIG);
    for (host, path, domain) in [
        (
            "autoconfig.example.test",
            "/mail/config-v1.1.xml?emailaddress=alice%40example.test",
            "example.test",
        ),
        (
            "example.test",
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            "example.test",
        ),
        (
            "autoconfig.example-alias.test",
            "/mail/config-v1.1.xml",
            "example-alias.test",
        ),
        (
            "mail.example.test",
            "/mail/config-v1.1.xml?emailaddress=a%40example.test&emailmd5=00ff",
            "example.test",
        ),
    ] {
        // curl verifies the certificate against the lab CA and the name: a wrong one fails here.
        let r = s.https(host, path, &[]);
        assert_eq!(r.status, 200, "{host}{path}: {}", r.text());
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/xml; charset=utf-8")
        );
        let parsed = python(ETREE_SERVERS, &r.body);
        assert!(parsed.contains(&format!("domain {domain}\n")), "{parsed}");
        assert!(
            parsed.contains("imap mail.example.test 993 SSL %EMAILADDRESS%\n"),
            "{parsed}"
        );
        assert!(
            parsed.contains("smtp mail.example.test 587 STARTTLS %EMAILADDRESS%\n"),
            "{parsed}"
        );
    }
    // Plain HTTP, the same document.
    let r = s.http("autoconfig.example.test", "/mail/config-v1.1.xml", &[]);
    assert_eq!(r.status, 200);
    // Unknown domain: 404, never a 2xx.
    let r = s.http("autoconfig.unknown.test", "/mail/config-v1.1.xml", &[]);
    assert_eq!(r.status, 404);
}

#[test]
fn http2_and_http1_are_both_spoken() {
    let s = Served::start(CONFIG);
    let r = s.https(
        "autoconfig.example.test",
        "/mail/config-v1.1.xml",
        &["--http2"],
    );
    assert!(r.head.starts_with("http/2 200"), "{}", r.head);
    let r = s.https(
        "autoconfig.example.test",
        "/mail/config-v1.1.xml",
        &["--http1.1"],
    );
    assert!(r.head.starts_with("http/1.1 200"), "{}", r.head);
    let r = s.http(
        "autoconfig.example.test",
        "/healthz",
        &["--http2-prior-knowledge"],
    );
    assert!(r.head.starts_with("http/2 200"), "{}", r.head);
    // No SNI (an IP address): the fallback certificate covers the loopback addresses.
    let r = curl(&[
        "--cacert".into(),
        s.ca(),
        format!("https://{}/healthz", s.addr("https")),
    ]);
    assert_eq!(r.status, 200);
}

const POX: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>bob@example-alias.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

#[test]
fn autodiscover_post_redirect_and_errors() {
    let s = Served::start(CONFIG);
    let r = s.https(
        "autodiscover.example.test",
        "/Autodiscover/Autodiscover.xml",
        &[
            "-H",
            "Content-Type: text/xml; charset=utf-8",
            "--data-binary",
            POX,
        ],
    );
    assert_eq!(r.status, 200);
    let got = python(
        r#"
import sys, xml.etree.ElementTree as ET
ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
root = ET.fromstring(sys.stdin.buffer.read())
for p in root.iterfind(".//a:Protocol", ns):
    print(*(p.findtext("a:" + k, namespaces=ns) for k in ("Type", "Server", "Port", "LoginName", "SPA", "SSL", "Encryption")))
"#,
        &r.body,
    );
    assert_eq!(
        got,
        "IMAP mail.example.test 993 bob@example-alias.test off on SSL\n\
         POP3 mail.example.test 995 bob@example-alias.test off on SSL\n\
         SMTP mail.example.test 465 bob@example-alias.test off on SSL\n\
         SMTP mail.example.test 587 bob@example-alias.test off on TLS\n"
    );
    // Outlook's HTTP redirect method.
    let r = s.http(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
        &[],
    );
    assert_eq!(r.status, 302);
    // Clients reach HTTPS on 443 (this listener's port is behind a port forward): no URL names
    // the internal port.
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://autodiscover.example.test/autodiscover/autodiscover.xml")
    );
    // An entity bomb is a 600 document, and the server keeps serving.
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Autodiscover><Request><EMailAddress>&b;</EMailAddress></Request></Autodiscover>"#;
    let r = s.https(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
        &["-H", "Content-Type: text/xml", "--data-binary", bomb],
    );
    assert!(
        r.text().contains("<ErrorCode>600</ErrorCode>"),
        "{}",
        r.text()
    );
    // ActiveSync clients learn there is no ActiveSync here.
    let mobile = POX.replace(
        "outlook/responseschema/2006a",
        "mobilesync/responseschema/2006",
    );
    let r = s.https(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
        &["-H", "Content-Type: text/xml", "--data-binary", &mobile],
    );
    assert!(
        r.text().contains("<ErrorCode>601</ErrorCode>"),
        "{}",
        r.text()
    );
    // v2 JSON.
    let r = s.https(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.json/v1.0/bob@example.test?Protocol=AutodiscoverV1",
        &[],
    );
    assert_eq!(r.status, 200);
    let r = s.https(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.json?Email=bob%40example.test&Protocol=Ews",
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("InvalidProtocol"));
}

#[test]
fn a_ten_megabyte_body_is_refused_before_it_is_read() {
    let s = Served::start(CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.xml");
    std::fs::write(&big, vec![b'<'; 10 * 1024 * 1024]).unwrap();
    let started = Instant::now();
    let r = s.https(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
        &[
            "--http1.1",
            "-H",
            "Content-Type: text/xml",
            "--data-binary",
            &format!("@{}", big.display()),
        ],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Without a declared length (chunked), the cap still holds.
    let chunked = dir.path().join("chunked.xml");
    std::fs::write(&chunked, vec![b'<'; 300 * 1024]).unwrap();
    let r = s.https(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
        &[
            "--http1.1",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: text/xml",
            "--data-binary",
            &format!("@{}", chunked.display()),
        ],
    );
    assert_eq!(r.status, 413);
    assert_eq!(s.http("example.test", "/healthz", &[]).status, 200);
}

#[test]
fn apple_profile_parses_with_plistlib() {
    let s = Served::start(CONFIG);
    let r = s.https(
        "autoconfig.example.test",
        "/email.mobileconfig?emailaddress=carol%40example.test",
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-apple-aspen-config")
    );
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment;")
    );
    // Signed (CMS SignedData) with the domain's certificate: openssl verifies the signature and
    // the chain up to the lab CA, and gives back the profile; a changed byte breaks the signature.
    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("profile.mobileconfig");
    std::fs::write(&signed, &r.body).unwrap();
    let verify = |file: &std::path::Path| {
        std::process::Command::new("openssl")
            .args(["cms", "-verify", "-inform", "DER", "-purpose", "any", "-in"])
            .arg(file)
            .args(["-CAfile", &s.ca()])
            .output()
            .expect("openssl runs")
    };
    let verified = verify(&signed);
    assert!(verified.status.success(), "{}", stderr(&verified));
    let mut tampered = r.body.clone();
    let at = tampered
        .windows(9)
        .position(|w| w == b"carol@exa")
        .expect("the address is in the signed content");
    tampered[at] = b'k';
    let bad = dir.path().join("tampered.mobileconfig");
    std::fs::write(&bad, &tampered).unwrap();
    assert!(!verify(&bad).status.success(), "tampering is detected");
    let got = python(
        r#"
import sys, plistlib
p = plistlib.loads(sys.stdin.buffer.read())
assert p["PayloadType"] == "Configuration" and p["PayloadVersion"] == 1
m = p["PayloadContent"][0]
assert m["PayloadType"] == "com.apple.mail.managed"
assert not any("Password" in k and k != "OutgoingPasswordSameAsIncomingPassword" for k in m)
print(p["PayloadIdentifier"], m["EmailAddress"], m["IncomingMailServerHostName"], m["IncomingMailServerPortNumber"], m["OutgoingMailServerPortNumber"], m["IncomingMailServerUseSSL"])
"#,
        &verified.stdout,
    );
    let again = s.https(
        "autoconfig.example.test",
        "/email.mobileconfig?emailaddress=carol%40example.test",
        &[],
    );
    assert_eq!(
        again.body, r.body,
        "byte-stable: a re-download replaces the profile"
    );
    assert!(got.starts_with("test.example.mailbeacon."), "{got}");
    assert!(
        got.ends_with(" carol@example.test mail.example.test 993 465 True\n"),
        "{got}"
    );
}

#[test]
fn mta_sts_policy_is_what_the_txt_id_hashes() {
    use sha2::Digest as _;
    let s = Served::start(CONFIG);
    let r = s.https("mta-sts.example.test", "/.well-known/mta-sts.txt", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(r.text().starts_with("version: STSv1\r\n"), "{}", r.text());
    let id: String = sha2::Sha256::digest(&r.body)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    if have("kdig") {
        let txt = s.kdig(&["+short", "_mta-sts.example.test", "TXT"]);
        assert_eq!(txt.trim(), format!("\"v=STSv1; id={id}\""));
    }
}

#[test]
fn setup_page_is_plain_html() {
    let s = Served::start(CONFIG);
    let r = s.https("autoconfig.example.test", "/", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let text = r.text();
    assert!(
        text.contains(
            "<td data-label=\"Server\">mail.example.test</td><td data-label=\"Port\">993</td>"
        ),
        "{text}"
    );
    assert!(!text.contains("<script"));
    let r = s.http(
        "anything",
        "/setup?emailaddress=dan%40example-alias.test",
        &[],
    );
    assert!(
        r.text()
            .contains("<td data-label=\"Username\">dan@example-alias.test</td>")
    );
}

#[test]
fn methods_paths_and_hostile_bytes() {
    let s = Served::start(CONFIG);
    let r = s.http(
        "autoconfig.example.test",
        "/mail/config-v1.1.xml",
        &["-X", "PUT"],
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("get, head"));
    let r = s.http("autoconfig.example.test", "/wp-login.php", &[]);
    assert_eq!(r.status, 404);
    let r = s.http("autoconfig.example.test", "/mail/config-v1.1.xml", &["-I"]);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    // A header far beyond the limit.
    let huge = format!("X-Junk: {}", "a".repeat(64 * 1024));
    let r = s.http("autoconfig.example.test", "/healthz", &["-H", &huge]);
    assert_eq!(r.status, 431);
    // Garbage on both ports; the server answers 400 or hangs up, and keeps serving.
    for addr in [s.addr("http"), s.addr("https")] {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(b"\x16\x03\x01\x00\x05hello\r\n\r\nGET / HTTP/9.9\r\n\r\n\x00\xff");
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
    }
    assert_eq!(s.http("example.test", "/healthz", &[]).status, 200);
    assert_eq!(s.https("example.test", "/healthz", &[]).status, 200);
}

#[test]
fn slow_clients_neither_block_others_nor_stay_forever() {
    let s = Served::start(CONFIG);
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr("http")).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: exa").unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    assert_eq!(s.http("example.test", "/healthz", &[]).status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The unfinished request head is cut off after the read timeout (10 s).
    let c = &mut slow[0];
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(19),
        "connection still open after {waited:?}"
    );
}

#[test]
fn reload_swaps_http_answers_and_certificates_together() {
    let s = Served::start(CONFIG);
    assert_eq!(
        s.http("autoconfig.second.test", "/mail/config-v1.1.xml", &[])
            .status,
        404
    );
    let bigger = format!(
        "{CONFIG}\n[[domain]]\nname = \"second.test\"\nservices = [\"mail\"]\nmx = [\"10 mail.{{domain}}\"]\n"
    );
    std::fs::write(s.config.path(), bigger).unwrap();
    s.hup();
    assert!(
        eventually(Duration::from_secs(10), || s
            .http("autoconfig.second.test", "/mail/config-v1.1.xml", &[])
            .status
            == 200),
        "reload not applied"
    );
    // The new domain has its certificate too.
    let r = s.https("autoconfig.second.test", "/mail/config-v1.1.xml", &[]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<domain>second.test</domain>"));
    // A broken configuration keeps everything as it was.
    std::fs::write(s.config.path(), "[[domain]]\nname = 5\n").unwrap();
    s.hup();
    std::thread::sleep(Duration::from_millis(300));
    let r = s.https("autoconfig.second.test", "/mail/config-v1.1.xml", &[]);
    assert_eq!(r.status, 200);
}

#[test]
fn seed_003_is_served_with_exactly_the_seed_servers() {
    let text =
        std::fs::read_to_string(root().join("config/examples/003-mailbox-org.toml")).unwrap();
    let s = Served::start(&text);
    let r = s.http(
        "autoconfig.mailbox.org",
        "/mail/config-v1.1.xml?emailaddress=x%40mailbox.org",
        &[],
    );
    assert_eq!(r.status, 200);
    let ours = provider::read(&r.text()).unwrap();
    let seed = seed_003();
    let key = |d: &provider::ProviderDocument| {
        d.incoming
            .iter()
            .chain(&d.outgoing)
            .map(|s| {
                (
                    s.kind.clone(),
                    s.hostname.clone(),
                    s.port.clone(),
                    s.socket_type.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&ours), key(&seed));
    assert_eq!(ours.documentation, seed.documentation);
}

fn seed_003() -> provider::ProviderDocument {
    provider::read(&seed_003_xml()).unwrap()
}

/// A self-signed certificate for `names` made with the `openssl` command: (cert, key) paths.
fn openssl_cert(dir: &std::path::Path, stem: &str, names: &[&str]) -> (String, String) {
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}-key.pem"));
    let san = names
        .iter()
        .map(|n| format!("DNS:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", &format!("/CN={}", names[0])])
        .args(["-addext", &format!("subjectAltName={san}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn configured_certificates_are_chosen_by_sni() {
    let dir = tempfile::tempdir().unwrap();
    let (a_cert, a_key) = openssl_cert(
        dir.path(),
        "a",
        &["autoconfig.example.test", "*.example.test"],
    );
    let (b_cert, b_key) = openssl_cert(dir.path(), "b", &["autoconfig.example-alias.test"]);
    let config = format!(
        "{CONFIG}\n[tls]\nmode = \"files\"\n\
         [[tls.certificate]]\nnames = [\"autoconfig.example.test\", \"*.example.test\"]\ncert = \"{a_cert}\"\nkey = \"{a_key}\"\n\
         [[tls.certificate]]\nnames = [\"autoconfig.example-alias.test\"]\ncert = \"{b_cert}\"\nkey = \"{b_key}\"\n"
    );
    let s = Served::start(&config);
    assert!(s.ready["ca"].is_null(), "no lab CA in files mode");
    let port = s.addr("https").port();
    let get = |host: &str, ca: &str| {
        curl(&[
            "--resolve".into(),
            format!("{host}:{port}:127.0.0.1"),
            "--cacert".into(),
            ca.into(),
            format!("https://{host}:{port}/mail/config-v1.1.xml"),
        ])
    };
    assert_eq!(get("autoconfig.example.test", &a_cert).status, 200);
    // The wildcard covers mta-sts.example.test (a name of the domain, so autoconfig answers there).
    assert_eq!(get("mta-sts.example.test", &a_cert).status, 200);
    let alias = get("autoconfig.example-alias.test", &b_cert);
    assert!(alias.text().contains("<domain>example-alias.test</domain>"));
}

#[test]
fn a_key_that_does_not_match_its_certificate_stops_the_start_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let (a_cert, _) = openssl_cert(dir.path(), "a", &["autoconfig.example.test"]);
    let (_, b_key) = openssl_cert(dir.path(), "b", &["other.test"]);
    let config = ScratchConfig::new(&format!(
        "{CONFIG}\n[[tls.certificate]]\nnames = [\"autoconfig.example.test\"]\ncert = \"{a_cert}\"\nkey = \"{b_key}\"\n"
    ));
    let out = run(&[
        "serve",
        "--config",
        &config.arg(),
        "--dns",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--https",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&b_key) && err.contains("does not belong"),
        "{err}"
    );
}

#[test]
fn access_log_has_one_line_per_request_without_queries_or_bodies() {
    let config = ScratchConfig::new(CONFIG);
    let ready = config.dir.path().join("ready.json");
    let child = serve_command(&config, &ready)
        .env("MAILBEACON_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(20), || ready.exists()),
        "not ready"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let http = v["http"][0].as_str().unwrap().to_owned();
    for _ in 0..3 {
        curl(&[
            "-A".into(),
            "Thunderbird/153.0 \"quoted\"".into(),
            "-H".into(),
            "Host: autoconfig.example.test".into(),
            format!("http://{http}/mail/config-v1.1.xml?emailaddress=secret.person%40example.test"),
        ]);
    }
    curl(&[
        "-H".into(),
        "Host: autodiscover.example.test".into(),
        "--data-binary".into(),
        POX.into(),
        format!("http://{http}/autodiscover/autodiscover.xml"),
    ]);
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("mailbeacon::access"))
        .collect();
    assert_eq!(access.len(), 4, "{log}");
    assert!(
        access[0].contains("GET autoconfig.example.test /mail/config-v1.1.xml 200"),
        "{log}"
    );
    assert!(
        access[0].ends_with(r#""Thunderbird/153.0 \"quoted\"""#),
        "the user agent ends the line, quoted: {log}"
    );
    assert!(
        access[3].contains("POST autodiscover.example.test /autodiscover/autodiscover.xml 302"),
        "{log}"
    );
    assert!(
        !log.contains("secret.person"),
        "addresses never reach the log: {log}"
    );
    assert!(!log.contains("bob@"), "bodies never reach the log: {log}");
}

#[test]
fn handed_out_urls_name_the_public_https_port_not_the_listener() {
    let config = CONFIG.replace(
        "ipv4 = [\"127.0.0.1\"]",
        "ipv4 = [\"127.0.0.1\"]\npublic_https_port = 4443",
    );
    let s = Served::start(&config);
    let internal = s.addr("https").port();
    assert_ne!(internal, 4443);
    let r = s.http(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
        &[],
    );
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://autodiscover.example.test:4443/autodiscover/autodiscover.xml")
    );
    let r = s.https(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.json/v1.0/ann@example.test?Protocol=AutodiscoverV1",
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(
        json["Url"],
        "https://autodiscover.example.test:4443/autodiscover/autodiscover.xml"
    );
    let page = s.https("autoconfig.example.test", "/setup", &[]).text();
    assert!(!page.contains(&format!(":{internal}")), "{page}");
}

#[test]
fn lab_certificates_cover_the_srv_target_clients_are_sent_to() {
    // Seed 002: `_autodiscover._tcp SRV … webmail.vshosting.cloud` and CNAMEs to it.
    let text = std::fs::read_to_string(root().join("config/examples/002-vshosting-cloudmail.toml"))
        .unwrap();
    let s = Served::start(&text);
    let srv = s.kdig(&["+short", "_autodiscover._tcp.vasedomena.example", "SRV"]);
    assert!(srv.contains("webmail.vshosting.cloud."), "{srv}");
    // curl verifies the certificate for that name against the lab CA.
    let r = s.https("webmail.vshosting.cloud", "/healthz", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
}
