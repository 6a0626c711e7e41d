//! The HTTP shell under clients that misbehave: silent connections, missing or doubled Host
//! headers, keep-alive connections reaching their age limit. Real sockets, raw bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mailbeacon_http::{HttpServer, Shared, Site};

const CONFIG: &str = r#"
[server]
ipv4 = ["192.0.2.1"]
[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
[[domain]]
name = "example.test"
"#;

/// An HTTP server on a free port, on its own runtime thread; stops when the runtime is dropped.
fn start(lifetime: Option<Duration>) -> (SocketAddr, tokio::runtime::Runtime) {
    let model = mailbeacon_model::load_str(CONFIG, "t.toml".as_ref()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(HttpServer::bind(&["127.0.0.1:0".parse().unwrap()], &[]))
        .unwrap();
    let server = match lifetime {
        Some(l) => server.with_max_connection_time(l),
        None => server,
    };
    let addr = server.http_addrs()[0];
    let shared = Shared::new(Site::new(&model, None), None);
    rt.spawn(server.run(shared));
    (addr, rt)
}

/// Sends `request` and reads until the server closes or `limit` passes.
fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn host_header_missing_or_doubled_is_400() {
    let (addr, _rt) = start(None);
    let wait = Duration::from_secs(5);
    let r = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
        wait,
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n",
        wait,
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // HTTP/1.0 had no Host header; one Host is the normal case.
    let r = exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n", wait);
    assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    let r = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        wait,
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[test]
fn a_connection_that_never_sends_is_closed_at_the_head_timeout() {
    let (addr, _rt) = start(None);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server sent something to a silent client");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "a silent connection was held {waited:?}"
    );
}

#[test]
fn busy_keep_alive_connections_end_between_requests_at_their_age_limit() {
    let (addr, _rt) = start(Some(Duration::from_millis(800)));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut answered = 0;
    let mut closed_politely = false;
    while started.elapsed() < Duration::from_secs(4) {
        if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a.test\r\n\r\n")
            .is_err()
        {
            break;
        }
        // One whole response: head, then the 3-byte body "ok\n".
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\nok\n") {
            match s.read(&mut byte) {
                Ok(1) => response.push(byte[0]),
                _ => break,
            }
        }
        let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
        if response.is_empty() {
            break; // closed between requests: what the fix promises
        }
        assert!(
            text.ends_with("\r\n\r\nok\n"),
            "a response was cut: {text:?}"
        );
        answered += 1;
        if text.contains("connection: close") {
            closed_politely = true;
            break;
        }
    }
    assert!(answered > 10, "only {answered} requests answered");
    assert!(
        closed_politely,
        "the connection was not closed with `Connection: close` after its age limit"
    );
}
