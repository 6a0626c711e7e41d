//! Clients that try to hold the server's connection slots: each case is the attack, then a check
//! that the server let go of it (and that a polite client is still served).

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A DNS query for `name` `TXT`, framed for TCP.
fn framed_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = vec![
        (id >> 8) as u8,
        id as u8,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]); // root, TXT, IN
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    framed
}

/// Whether the server has closed `s` (EOF within `limit`), reading and discarding what comes.
fn closed_within(s: &mut TcpStream, limit: Duration) -> (bool, usize) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + limit;
    let mut buf = vec![0u8; 65536];
    let mut total = 0;
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return (true, total),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (true, total),
        }
    }
    (false, total)
}

const CONFIG: &str = r#"
[server]
ipv4 = ["127.0.0.1"]
[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
[[domain]]
name = "example.test"
spf = "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ip4:203.0.113.0/24 mx a -all"
records = '''
big TXT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
'''
"#;

#[test]
fn dns_tcp_client_that_never_reads_is_let_go() {
    let served = Served::start(CONFIG);
    let mut s = TcpStream::connect(served.dns).unwrap();
    // Far more replies than socket buffers hold: the server's writes stall.
    let sent = 40_000;
    let mut batch = Vec::new();
    for i in 0..sent {
        batch.extend_from_slice(&framed_query(i as u16, "big.example.test"));
    }
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(&batch); // may stop part-way once the server hangs up
    std::thread::sleep(Duration::from_secs(4));
    let (closed, bytes) = closed_within(&mut s, Duration::from_secs(10));
    assert!(closed, "the server still holds a client that does not read");
    // Each reply is over 500 bytes: had the server kept writing, all would have arrived.
    assert!(
        bytes < sent * 500,
        "all {bytes} bytes were delivered: the server never gave up on the client"
    );
    // And a polite client is answered.
    let out = served.kdig(&["+tcp", "example.test", "SOA"]);
    assert!(out.contains("NOERROR"), "{out}");
}

#[test]
fn dns_tcp_connections_per_client_are_capped() {
    let served = Served::start(CONFIG);
    let held: Vec<TcpStream> = (0..32)
        .map(|_| TcpStream::connect(served.dns).unwrap())
        .collect();
    // Let the server accept them all before the one over the cap.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(served.dns).unwrap();
    let (closed, _) = closed_within(&mut extra, Duration::from_secs(2));
    assert!(closed, "a 33rd connection from one address was kept");
    drop(held);
    assert!(
        eventually(Duration::from_secs(5), || served
            .kdig(&["+tcp", "example.test", "SOA"])
            .contains("NOERROR")),
        "freed slots are not given back"
    );
}

#[test]
fn http_connections_per_client_are_capped() {
    let served = Served::start(CONFIG);
    let addr: SocketAddr = served.addr("http");
    let held: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(addr).unwrap();
    let (closed, _) = closed_within(&mut extra, Duration::from_secs(2));
    assert!(closed, "a 65th connection from one address was kept");
    drop(held);
    let ok = eventually(Duration::from_secs(5), || {
        served
            .http("autoconfig.example.test", "/healthz", &[])
            .status
            == 200
    });
    assert!(ok, "freed slots are not given back");
}

#[test]
fn certificate_paths_that_are_not_files_never_block_check_or_reload() {
    let scratch = ScratchConfig::new("");
    let fifo = scratch.dir.path().join("cert.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let with_cert = |cert: &str| {
        format!(
            "{CONFIG}\n[tls]\nmode = \"files\"\n\n[[tls.certificate]]\nnames = [\"example.test\"]\n\
             cert = \"{cert}\"\nkey = \"{cert}\"\n"
        )
    };
    for (cert, why) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        ("missing.pem", "cannot open"),
    ] {
        let cfg = ScratchConfig::new(&with_cert(cert));
        let started = Instant::now();
        let out = run(&["check", "--config", &cfg.arg()]);
        assert_eq!(out.status.code(), Some(2), "{cert}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{cert}: {}", stderr(&out));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{cert}: check hung"
        );
    }

    // A running server told to reload onto a FIFO: refuses it, keeps serving, reloads later.
    let mut served = Served::start(CONFIG);
    std::fs::write(served.config.path(), with_cert(fifo.to_str().unwrap())).unwrap();
    served.hup();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        served.kdig(&["example.test", "SOA"]).contains("NOERROR"),
        "the server stopped answering"
    );
    let spf = "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ip4:203.0.113.0/24 mx a -all";
    std::fs::write(served.config.path(), CONFIG.replace(spf, "v=spf1 -all")).unwrap();
    let out = run(&["reload", "--config", &served.config.arg()]);
    assert!(out.status.success(), "a later reload: {}", stderr(&out));
    assert!(
        served
            .kdig(&["example.test", "TXT", "+short"])
            .contains("\"v=spf1 -all\"")
    );
    // And SIGTERM still stops it.
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let gone = eventually(Duration::from_secs(10), || {
        matches!(served.child.try_wait(), Ok(Some(_)))
    });
    assert!(gone, "SIGTERM did not stop the server");
}

/// A DNS query for `name` `TXT` over UDP.
fn udp_query(id: u16, name: &str) -> Vec<u8> {
    framed_query(id, name)[2..].to_vec()
}

#[test]
fn udp_answers_are_rate_limited_per_client_network_and_slip_to_tcp() {
    let config = CONFIG.replace(
        "ipv4 = [\"127.0.0.1\"]",
        "ipv4 = [\"127.0.0.1\"]\nrrl = { rate = 5, slip = 2, exempt = [] }",
    );
    let served = Served::start(&config);
    // A flood "from" 40 addresses of one /24 (all loopback here), 20 queries each.
    let sockets: Vec<std::net::UdpSocket> = (2..42)
        .map(|i| std::net::UdpSocket::bind(format!("127.0.0.{i}:0")).unwrap())
        .collect();
    let query = udp_query(7, "example.test");
    let mut sent_bytes = 0;
    for s in &sockets {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        for _ in 0..20 {
            s.send_to(&query, served.dns).unwrap();
            sent_bytes += query.len();
        }
    }
    let (mut full, mut truncated, mut received_bytes) = (0, 0, 0);
    let mut buf = [0u8; 4096];
    for s in &sockets {
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            received_bytes += n;
            if buf[2] & 0x02 != 0 {
                truncated += 1;
            } else {
                full += 1;
            }
        }
    }
    eprintln!(
        "rrl: 800 queries ({sent_bytes} B) from one /24 → {full} full and {truncated} truncated \
         answers ({received_bytes} B)"
    );
    // 800 queries: at 5 per second (a window boundary may let a second 5 through) the rest is
    // dropped or slipped (every second one); nothing over the rate is amplified.
    assert!(full <= 15, "{full} full answers went out");
    // (The kernel drops part of such a burst before the server reads it.)
    assert!(
        truncated >= 100,
        "only {truncated} truncated answers (slip 2)"
    );
    assert!(
        received_bytes <= sent_bytes + 15 * 600,
        "{received_bytes} bytes answered {sent_bytes} bytes of queries"
    );
    // A real client behind that network retries over TCP and is answered in full.
    let out = served.kdig(&["+tcp", "example.test", "TXT"]);
    assert!(out.contains("NOERROR") && out.contains("v=spf1"), "{out}");
}

#[test]
fn loopback_is_exempt_from_rate_limiting_by_default() {
    let served = Served::start(CONFIG);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let query = udp_query(9, "example.test");
    let mut answered = 0;
    for _ in 0..400 {
        s.send_to(&query, served.dns).unwrap();
        let mut buf = [0u8; 4096];
        if let Ok((_, _)) = s.recv_from(&mut buf)
            && buf[2] & 0x02 == 0
        {
            answered += 1;
        }
    }
    assert_eq!(answered, 400);
}
