//! pimalaya's `email-lib` discovers a lab domain with its own transports: the system resolver and
//! trust store for HTTP(S), Google's resolver addresses for DNS. Each test re-executes itself in a
//! private network and mount namespace where those reach the in-process lab (see README.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use email::autoconfig::config::{AutoConfig, SecurityType, Server, ServerType};
use mailbeacon_lab::{Captured, Exchange, Lab};

/// Set in the re-executed test process, inside the namespace.
const INSIDE: &str = "MAILBEACON_DOWNSTREAM_INSIDE";

/// Google's public resolvers: what hickory's default `ResolverConfig` (and so email-lib's
/// `DnsClient`) asks.
const GOOGLE_V4: [Ipv4Addr; 2] = [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];
const GOOGLE_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
    Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8844),
];

#[test]
fn from_addr_finds_the_lab_domain_by_name() {
    let Some(world) = World::enter("from_addr_finds_the_lab_domain_by_name") else {
        return;
    };
    let config = runtime()
        .block_on(email::autoconfig::from_addr("alice@example.net"))
        .expect("email-lib discovers alice@example.net");

    // What the library made of the lab's Thunderbird autoconfig.
    assert_eq!(config.email_provider().id(), "example.net");
    let imap = only(&config, |t| matches!(t, ServerType::Imap));
    assert_eq!(imap.hostname(), Some("mail.example.net"));
    assert_eq!(imap.port(), Some(&993));
    assert!(matches!(imap.security_type(), Some(SecurityType::Tls)));
    assert_eq!(imap.username(), Some("%EMAILADDRESS%"));
    // POP3 is not a type email-lib knows: it reads it as `Unknown`, still with its port.
    let other: Vec<_> = servers(&config, |t| matches!(t, ServerType::Unknown))
        .iter()
        .map(|s| s.port().copied())
        .collect();
    assert_eq!(other, [Some(995)]);
    let smtp = servers(&config, |t| matches!(t, ServerType::Smtp));
    assert_eq!(smtp.len(), 2, "{config:#?}");
    assert_eq!(smtp[0].port(), Some(&465));
    assert!(matches!(smtp[0].security_type(), Some(SecurityType::Tls)));
    assert_eq!(smtp[1].port(), Some(&587));
    assert!(matches!(
        smtp[1].security_type(),
        Some(SecurityType::Starttls)
    ));

    // What the lab told it: the name through the system resolver, then the document.
    let requests = world.lab.requests();
    let lookup = dns(&requests, "autoconfig.example.net", "A")
        .expect("the system resolver asked the lab for autoconfig.example.net");
    assert_eq!(lookup.0, "NOERROR");
    assert!(
        lookup.1.iter().any(|r| r.ends_with("A 127.0.0.1")),
        "{lookup:?}"
    );
    let served = requests
        .iter()
        .find_map(|c| match &c.exchange {
            Exchange::Http {
                host: Some(host),
                path,
                query: Some(query),
                status,
                body,
                ..
            } if host == "autoconfig.example.net" && path == "/mail/config-v1.1.xml" => {
                Some((query.clone(), *status, body.clone()))
            }
            _ => None,
        })
        .expect("the library fetched config-v1.1.xml from autoconfig.example.net");
    assert_eq!(served.0, "emailaddress=alice@example.net");
    assert_eq!(served.1, 200);
    assert!(served.2.contains("<hostname>mail.example.net</hostname>"));
}

#[test]
fn https_is_trusted_through_the_system_store() {
    let Some(world) = World::enter("https_is_trusted_through_the_system_store") else {
        return;
    };
    let uri: http::ureq::http::Uri =
        "https://autoconfig.example.net/mail/config-v1.1.xml?emailaddress=bob%40example.net"
            .parse()
            .expect("a valid URI");
    let config = runtime()
        .block_on(email::autoconfig::get_config(&http::Client::new(), uri))
        .expect("the lab's certificate verifies against the system trust store");
    assert_eq!(
        only(&config, |t| matches!(t, ServerType::Imap)).hostname(),
        Some("mail.example.net")
    );
    assert!(world.lab.requests().iter().any(|c| matches!(
        &c.exchange,
        Exchange::Http { scheme: "https", status: 200, path, .. } if path == "/mail/config-v1.1.xml"
    )));
}

#[test]
fn its_dns_client_reaches_the_lab_at_googles_addresses() {
    let Some(world) = World::enter("its_dns_client_reaches_the_lab_at_googles_addresses") else {
        return;
    };
    let dns_client = email::autoconfig::dns::DnsClient::new();
    let rt = runtime();
    // The MX host, trimmed to two labels, is where email-lib looks for a provider's config.
    let mx = rt
        .block_on(dns_client.get_mx_domain("example.net"))
        .expect("MX");
    assert_eq!(mx, "example.net.");
    let imaps = rt
        .block_on(dns_client.get_srv("example.net", "imaps"))
        .expect("_imaps._tcp SRV");
    assert_eq!(imaps.target().to_ascii(), "mail.example.net.");
    assert_eq!(imaps.port(), 993);
    let submission = rt
        .block_on(dns_client.get_srv("example.net", "submission"))
        .expect("_submission._tcp SRV");
    assert_eq!(submission.port(), 587);

    let requests = world.lab.requests();
    let mx_answer = dns(&requests, "example.net", "MX").expect("MX asked");
    assert!(
        mx_answer
            .1
            .iter()
            .any(|r| r.ends_with("MX 10 mail.example.net.")),
        "{mx_answer:?}"
    );
    assert!(dns(&requests, "_imaps._tcp.example.net", "SRV").is_some());
}

#[test]
fn a_domain_the_lab_does_not_serve_is_refused() {
    let Some(world) = World::enter("a_domain_the_lab_does_not_serve_is_refused") else {
        return;
    };
    let result = runtime().block_on(email::autoconfig::from_addr("carol@example.org"));
    // email-lib ends with its SRV step, which returns an empty provider rather than an error.
    if let Ok(config) = &result {
        assert!(config.email_provider().servers().is_empty(), "{config:#?}");
    }
    let requests = world.lab.requests();
    let (rcode, answers) = dns(&requests, "autoconfig.example.org", "A")
        .expect("the system resolver asked the lab for autoconfig.example.org");
    assert_eq!(rcode, "REFUSED");
    assert!(answers.is_empty());
    assert!(
        !requests
            .iter()
            .any(|c| matches!(c.exchange, Exchange::Http { .. }))
    );
}

/// The namespace, seen from inside: the lab and the mounts that make the system reach it.
struct World {
    lab: Lab,
    _dir: TempDir,
}

impl World {
    /// Outside: runs this test again inside a fresh namespace, checks it passed, and returns
    /// `None`. Inside: sets the namespace up around a started lab.
    fn enter(test: &str) -> Option<World> {
        if std::env::var_os(INSIDE).is_none() {
            run_inside(test);
            return None;
        }
        run(&["ip", "link", "set", "lo", "up"]);
        for addr in GOOGLE_V4 {
            run(&["ip", "addr", "add", &format!("{addr}/32"), "dev", "lo"]);
        }
        // IPv6 may be disabled in the namespace; the lab then answers on IPv4 only.
        let v6: Vec<Ipv6Addr> = GOOGLE_V6
            .into_iter()
            .filter(|addr| {
                try_run(&[
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    &format!("{addr}/128"),
                    "dev",
                    "lo",
                ])
            })
            .collect();
        let at = |ip: IpAddr, port: u16| SocketAddr::new(ip, port);
        let mut dns = vec![at(Ipv4Addr::LOCALHOST.into(), 53)];
        dns.extend(GOOGLE_V4.iter().map(|a| at((*a).into(), 53)));
        dns.extend(v6.iter().map(|a| at((*a).into(), 53)));

        let lab = Lab::builder()
            .domain("example.net")
            .dns(dns)
            .http(vec![at(Ipv4Addr::LOCALHOST.into(), 80)])
            .https(vec![at(Ipv4Addr::LOCALHOST.into(), 443)])
            .start()
            .expect("the lab starts on 53/80/443 inside the namespace");
        let dir = TempDir::new();

        // The system resolver asks the lab (the mount is private to this namespace).
        let resolv = dir.0.join("resolv.conf");
        std::fs::write(
            &resolv,
            "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n",
        )
        .expect("write resolv.conf");
        bind_over(&resolv, Path::new("/etc/resolv.conf"));

        // The system trust store also holds the lab CA.
        let system = Path::new("/etc/ssl/certs/ca-certificates.crt");
        let mut bundle = std::fs::read_to_string(system).unwrap_or_default();
        bundle.push_str(&lab.info().ca_pem);
        let bundle_path = dir.0.join("ca-certificates.crt");
        std::fs::write(&bundle_path, bundle).expect("write CA bundle");
        if system.exists() {
            bind_over(&bundle_path, system);
        } else {
            panic!("{} is missing: install ca-certificates", system.display());
        }
        Some(World { lab, _dir: dir })
    }
}

/// Runs `test` alone in a new network and mount namespace and fails if it failed there.
fn run_inside(test: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--fork"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare runs (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{test} inside a network namespace (needs root: unshare --net --mount) failed:\n{text}"
    );
    // libtest prints "running 0 tests" when the filter matched nothing: that must not pass.
    assert!(
        text.contains("1 passed"),
        "{test} did not run inside:\n{text}"
    );
}

fn only(config: &AutoConfig, kind: fn(&ServerType) -> bool) -> &Server {
    let found = servers(config, kind);
    found
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no server of that type in {config:#?}"))
}

fn servers(config: &AutoConfig, kind: fn(&ServerType) -> bool) -> Vec<&Server> {
    config
        .email_provider()
        .servers()
        .into_iter()
        .filter(|s| kind(s.server_type()))
        .collect()
}

/// The rcode and answer records of the first captured DNS exchange for `name`/`qtype`.
fn dns(requests: &[Captured], name: &str, qtype: &str) -> Option<(String, Vec<String>)> {
    requests.iter().find_map(|c| match &c.exchange {
        Exchange::Dns {
            name: n,
            qtype: t,
            rcode,
            answers,
            ..
        } if n == name && t == qtype => Some((rcode.clone(), answers.clone())),
        _ => None,
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn bind_over(file: &Path, target: &Path) {
    // /etc/resolv.conf is often a symlink: mount over what it points to.
    let target = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_owned());
    run(&[
        "mount",
        "--bind",
        &file.to_string_lossy(),
        &target.to_string_lossy(),
    ]);
}

fn try_run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private temporary directory, removed on drop (no tempfile dependency needed here).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path =
            std::env::temp_dir().join(format!("mailbeacon-downstream-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
