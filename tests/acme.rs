//! ACME against Pebble (Let's Encrypt's test CA, Debian package `pebble`), which resolves every
//! challenge name through mailbeacon's own DNS and fetches HTTP-01 answers from mailbeacon's own
//! port-80 stand-in: several domains get certificates that curl verifies against Pebble's root,
//! a restart reuses account and certificates, an unreachable CA keeps the old certificates with a
//! clear log line, and short-lived certificates are renewed.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Pebble, killed on drop.
struct Pebble {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    management: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pebble {
    /// Pebble validating HTTP-01 on `http_port` through the DNS server `dns`, issuing
    /// certificates valid for `validity` seconds.
    fn start(http_port: u16, dns: u16, validity: u32) -> Pebble {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        // Pebble's own HTTPS needs a certificate from a CA that the ACME client trusts.
        openssl(
            &self_signed_args("ca.key", "ca.pem", "/CN=pebble test CA"),
            d,
        );
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
            d,
        );
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
            d,
        );
        let (port, management) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": d.join("cert.pem"), "privateKey": d.join("key.pem"),
            "httpPort": http_port, "tlsPort": free_port(), "ocspResponderURL": "",
            "externalAccountBindingRequired": false, "certificateValidityPeriod": validity,
        }});
        std::fs::write(d.join("pebble.json"), config.to_string()).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(d.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble runs (Debian package pebble)");
        let p = Pebble {
            child,
            dir,
            port,
            management,
        };
        assert!(
            eventually(Duration::from_secs(10), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "pebble did not start"
        );
        p
    }

    /// The root that signs what this Pebble issues (new per run), saved in `dir`.
    fn root(&self, dir: &Path) -> PathBuf {
        let path = dir.join("issuing-root.pem");
        let out = Command::new("curl")
            .args([
                "-sk",
                &format!("https://127.0.0.1:{}/roots/0", self.management),
            ])
            .output()
            .expect("curl runs");
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }
}

/// mailbeacon serving `domains` with ACME from `pebble`, on fixed free ports.
struct Setup {
    dns: u16,
    http: u16,
    https: u16,
    state: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dns: free_port(),
            http: free_port(),
            https: free_port(),
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, pebble: &Pebble, domains: &[&str]) -> String {
        let mut text = format!(
            "[server]\nipv4 = [\"127.0.0.1\"]\nstate_dir = \"{}\"\n\
             dns = [\"127.0.0.1:{}\"]\nhttp = [\"127.0.0.1:{}\"]\nhttps = [\"127.0.0.1:{}\"]\n\n\
             [tls]\nmode = \"acme\"\nacme_directory = \"https://127.0.0.1:{}/dir\"\n\
             acme_server_ca = \"{}\"\nacme_contact = [\"admin@example.net\"]\n\n\
             [service.mail]\nincoming = [{{ protocol = \"imap\", host = \"mail.{{domain}}\" }}]\n\
             outgoing = [{{ host = \"mail.{{domain}}\" }}]\n",
            self.state.path().display(),
            self.dns,
            self.http,
            self.https,
            pebble.port,
            pebble.dir.path().join("ca.pem").display()
        );
        for d in domains {
            text.push_str(&format!(
                "\n[[domain]]\nname = \"{d}\"\nmx = [\"10 mail.{{domain}}\"]\n"
            ));
        }
        text
    }

    /// Starts `serve` on `config` (its log in `log`).
    fn serve(&self, config: &ScratchConfig, log: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_mailbeacon"))
            .args(["serve", "--config", &config.arg()])
            .env("MAILBEACON_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("serve starts")
    }

    /// The HTTP status of `https://NAME/…` verified by curl against `root`.
    fn https_status(&self, name: &str, root: &Path) -> String {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(root)
            .args(["--resolve", &format!("{name}:{}:127.0.0.1", self.https)])
            .arg(format!(
                "https://{name}:{}/mail/config-v1.1.xml",
                self.https
            ))
            .output()
            .expect("curl runs");
        stdout(&out)
    }

    fn chain(&self, domain: &str) -> Option<String> {
        std::fs::read_to_string(
            self.state
                .path()
                .join("acme")
                .join(domain)
                .join("chain.pem"),
        )
        .ok()
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn certificates_for_every_domain_survive_restarts_and_a_missing_ca() {
    let setup = Setup::new();
    let pebble = Pebble::start(setup.http, setup.dns, 3600);
    let domains = ["example.net", "example.org"];
    let config = ScratchConfig::new(&setup.config(&pebble, &domains));
    let log = config.dir.path().join("serve.log");
    let server = setup.serve(&config, &log);
    let names = [
        "autoconfig.example.net",
        "autodiscover.example.net",
        "mta-sts.example.net",
        "autoconfig.example.org",
        "mta-sts.example.org",
    ];
    let root = pebble.root(config.dir.path());
    for name in names {
        let mut status = String::new();
        let ok = eventually(Duration::from_secs(60), || {
            status = setup.https_status(name, &root);
            status == "200"
        });
        assert!(
            ok,
            "{name}: {status}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // The Apple profile is signed with the ACME certificate: it verifies against Pebble's root.
    let profile = config.dir.path().join("profile.mobileconfig");
    let fetched = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&profile)
        .arg("--cacert")
        .arg(&root)
        .args([
            "--resolve",
            &format!("autoconfig.example.net:{}:127.0.0.1", setup.https),
        ])
        .arg(format!(
            "https://autoconfig.example.net:{}/email.mobileconfig?emailaddress=a%40example.net",
            setup.https
        ))
        .status()
        .expect("curl runs");
    assert!(fetched.success());
    let verified = Command::new("openssl")
        .args(["cms", "-verify", "-inform", "DER", "-purpose", "any", "-in"])
        .arg(&profile)
        .arg("-CAfile")
        .arg(&root)
        .output()
        .expect("openssl runs");
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("a@example.net"));
    // The key is the server's alone.
    use std::os::unix::fs::PermissionsExt as _;
    let key = setup.state.path().join("acme/example.net/key.pem");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let account = setup.state.path().join("acme/account.json");
    assert_eq!(
        std::fs::metadata(&account).unwrap().permissions().mode() & 0o777,
        0o600
    );
    stop(server);

    // A restart reuses account and certificates: nothing is ordered again.
    let before = (
        setup.chain("example.net"),
        std::fs::read_to_string(&account).unwrap(),
    );
    let log2 = config.dir.path().join("serve2.log");
    let server = setup.serve(&config, &log2);
    assert!(eventually(Duration::from_secs(10), || setup
        .https_status("autoconfig.example.net", &root)
        == "200"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        before,
        (
            setup.chain("example.net"),
            std::fs::read_to_string(&account).unwrap()
        )
    );
    assert!(!std::fs::read_to_string(&log2).unwrap().contains("issued"));

    // The CA goes away and a domain is added: a clear log line, the old certificates still served.
    drop(pebble);
    std::fs::write(
        config.path(),
        setup.config_with_extra(&config, "example.com"),
    )
    .unwrap();
    let ok = run(&["reload", "--config", &config.arg()]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let mut text = String::new();
    assert!(
        eventually(Duration::from_secs(20), || {
            text = std::fs::read_to_string(&log2).unwrap_or_default();
            text.contains("ACME: cannot use the account")
        }),
        "{text}"
    );
    assert_eq!(setup.https_status("autoconfig.example.net", &root), "200");
    stop(server);
}

impl Setup {
    fn config_with_extra(&self, config: &ScratchConfig, domain: &str) -> String {
        let text = std::fs::read_to_string(config.path()).unwrap();
        format!("{text}\n[[domain]]\nname = \"{domain}\"\nmx = [\"10 mail.{{domain}}\"]\n")
    }
}

#[test]
fn short_lived_certificates_are_renewed() {
    let setup = Setup::new();
    // 24 s certificates: renewal is due two thirds in, 16 s after issuance.
    let pebble = Pebble::start(setup.http, setup.dns, 24);
    let config = ScratchConfig::new(&setup.config(&pebble, &["example.net"]));
    let log = config.dir.path().join("serve.log");
    let server = setup.serve(&config, &log);
    assert!(eventually(Duration::from_secs(60), || setup
        .chain("example.net")
        .is_some()));
    let first = setup.chain("example.net");
    let renewed = eventually(Duration::from_secs(60), || {
        setup.chain("example.net") != first
    });
    assert!(
        renewed,
        "no renewal:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let root = pebble.root(config.dir.path());
    assert!(eventually(Duration::from_secs(10), || setup
        .https_status("autoconfig.example.net", &root)
        == "200"));
    stop(server);
}

#[test]
fn dns01_proves_names_that_do_not_point_here() {
    let setup = Setup::new();
    let pebble = Pebble::start(setup.http, setup.dns, 3600);
    // The names point at another box: HTTP-01 could never succeed, DNS-01 from our zones does.
    let text = setup
        .config(&pebble, &["example.net"])
        .replace("ipv4 = [\"127.0.0.1\"]", "ipv4 = [\"192.0.2.1\"]")
        .replace(
            "mode = \"acme\"\n",
            "mode = \"acme\"\nacme_challenge = \"dns-01\"\n",
        );
    let config = ScratchConfig::new(&text);
    let log = config.dir.path().join("serve.log");
    let server = setup.serve(&config, &log);
    let root = pebble.root(config.dir.path());
    for name in ["example.net", "autoconfig.example.net", "mail.example.net"] {
        let mut status = String::new();
        let ok = eventually(Duration::from_secs(60), || {
            status = setup.https_status(name, &root);
            status == "200" || status == "404"
        });
        assert!(
            ok,
            "{name}: {status}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // The challenge records are withdrawn once the order is done.
    let dns: std::net::SocketAddr = ([127, 0, 0, 1], setup.dns).into();
    let gone = eventually(Duration::from_secs(10), || {
        kdig(dns, &["_acme-challenge.autoconfig.example.net", "TXT"]).contains("NXDOMAIN")
    });
    assert!(
        gone,
        "{}",
        kdig(dns, &["_acme-challenge.autoconfig.example.net", "TXT"])
    );
    stop(server);
}
