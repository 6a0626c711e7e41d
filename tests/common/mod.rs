//! Helpers shared by the end-to-end tests: run the real binary, write scratch configs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `kdig @ADDR -p PORT ARGS…` output (standard output, then standard error, where kdig reports
/// transfer errors).
pub fn kdig(server: std::net::SocketAddr, args: &[&str]) -> String {
    let out = Command::new("kdig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+timeout=2", "+retry=0"])
        .args(args)
        .output()
        .expect("kdig runs (knot-dnsutils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `check` every 50 ms for up to `limit`; whether it ever held.
pub fn eventually(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Test data kept in the repository (`tests/data/`): the ISPDB corpus (MPL-2.0, see its README)
/// and fixtures taken from the seed documents.
pub fn data() -> PathBuf {
    root().join("tests/data")
}

/// Runs `mailbeacon ARGS…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailbeacon"))
        .args(args)
        .env_remove("MAILBEACON_CONFIG")
        .current_dir(root())
        .output()
        .expect("the mailbeacon binary runs")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory holding `mailbeacon.toml` with `text`.
pub struct ScratchConfig {
    pub dir: tempfile::TempDir,
}

impl ScratchConfig {
    pub fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("mailbeacon.toml"), text).expect("write config");
        ScratchConfig { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("mailbeacon.toml")
    }

    pub fn arg(&self) -> String {
        self.path().display().to_string()
    }
}

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| Path::new(&d).join(program).is_file())
    })
}

/// `mailbeacon serve --config … --ready-file …` with every listener on an ephemeral loopback port.
pub fn serve_command(config: &ScratchConfig, ready: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailbeacon"));
    command
        .args(["serve", "--config", &config.arg()])
        .args([
            "--dns",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
        ])
        .arg("--ready-file")
        .arg(ready);
    command
}

/// A running `mailbeacon serve` on ephemeral loopback ports; killed on drop.
pub struct Served {
    pub child: std::process::Child,
    pub dns: std::net::SocketAddr,
    pub config: ScratchConfig,
    /// The ready file's contents.
    pub ready: serde_json::Value,
}

impl Served {
    /// Starts the server on `text` and waits for its ready file.
    pub fn start(text: &str) -> Served {
        let config = ScratchConfig::new(text);
        let ready = config.dir.path().join("ready.json");
        let child = serve_command(&config, &ready)
            .env("MAILBEACON_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("server starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let ready = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break serde_json::from_str::<serde_json::Value>(&text)
                    .expect("ready file is JSON");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not become ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let dns = ready["dns"][0]
            .as_str()
            .expect("dns address")
            .parse()
            .expect("socket address");
        Served {
            child,
            dns,
            config,
            ready,
        }
    }

    /// The first bound address of listener kind `kind` (`"http"` or `"https"`).
    pub fn addr(&self, kind: &str) -> std::net::SocketAddr {
        self.ready[kind][0]
            .as_str()
            .unwrap_or_else(|| panic!("no {kind} listener in {}", self.ready))
            .parse()
            .expect("socket address")
    }

    /// `kdig @server -p PORT ARGS…` output.
    pub fn kdig(&self, args: &[&str]) -> String {
        kdig(self.dns, args)
    }

    /// Sends SIGHUP (reload).
    pub fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `curl` got back.
pub struct Fetched {
    pub status: u16,
    /// The response head, lower-cased.
    pub head: String,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_owned())
        })
    }
}

impl Served {
    /// The lab CA certificate the server reported.
    pub fn ca(&self) -> String {
        self.ready["ca"]
            .as_str()
            .expect("lab CA in ready file")
            .to_owned()
    }

    /// `curl` over HTTPS to `host` (resolved to the loopback listener, verified with the lab CA).
    pub fn https(&self, host: &str, path: &str, extra: &[&str]) -> Fetched {
        let port = self.addr("https").port();
        let mut args = vec![
            "--resolve".to_owned(),
            format!("{host}:{port}:127.0.0.1"),
            "--cacert".to_owned(),
            self.ca(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(format!("https://{host}:{port}{path}"));
        curl(&args)
    }

    /// `curl` over plain HTTP with `Host: host`.
    pub fn http(&self, host: &str, path: &str, extra: &[&str]) -> Fetched {
        let mut args = vec!["-H".to_owned(), format!("Host: {host}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(format!("http://{}{path}", self.addr("http")));
        curl(&args)
    }
}

/// Runs `curl -sS -i ARGS…` and splits status, head and body.
pub fn curl(args: &[String]) -> Fetched {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut raw = out.stdout;
    // Interim responses (100 Continue) come before the real one.
    while raw.starts_with(b"HTTP/1.1 1") || raw.starts_with(b"HTTP/2 1") {
        match raw.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => raw.drain(..end + 4),
            None => break,
        };
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    Fetched {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// Runs a Python snippet with `data` on standard input and returns its standard output.
pub fn python(code: &str, data: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("python3")
        .args(["-c", code])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `<?xml … </clientConfig>` document quoted in seed 003 (mailbox.org's configuration).
pub fn seed_003_xml() -> String {
    std::fs::read_to_string(data().join("seed-003-mailbox.org.xml"))
        .expect("tests/data/seed-003-mailbox.org.xml")
        .trim_end()
        .to_owned()
}

/// A small deterministic generator, so a failure reproduces exactly.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Heads or tails.
    pub fn coin(&mut self) -> bool {
        self.next().is_multiple_of(2)
    }
}

/// A loopback port free for UDP and TCP right now (name servers bind both).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Runs `openssl ARGS…` in `dir` and asserts it succeeded.
pub fn openssl(args: &[&str], dir: &Path) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs")
        .success();
    assert!(ok, "openssl {args:?}");
}

/// `openssl req -x509` arguments for a new P-256 key and self-signed certificate for `cn`, with
/// the key written to `key` and the certificate to `cert` (paths relative to the directory run in).
pub fn self_signed_args<'a>(key: &'a str, cert: &'a str, cn: &'a str) -> Vec<&'a str> {
    vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        cn,
    ]
}
