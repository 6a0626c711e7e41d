//! The DNS server through real sockets: kdig (Knot's client) and raw datagrams.

mod common;
use common::*;

use std::net::UdpSocket;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};

const CONFIG: &str = r#"
[server]
ipv4 = ["192.0.2.1"]

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]

[[domain]]
name = "example.net"
aliases = ["alias.example"]
mx = ["10 mail.{domain}"]
spf = "v=spf1 mx -all"
dkim = [{ selector = "s1", value = "v=DKIM1; k=rsa; p=AAAABBBBCCCC" }]
axfr = ["127.0.0.1"]
records = '''
www   CNAME  mail
big   TXT    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
big   TXT    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
big   TXT    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
big   TXT    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
big   TXT    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
'''
"#;

/// kdig pads columns with spaces and tabs; compare with single spaces.
fn squash(out: &str) -> String {
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn status(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.split("status: ").nth(1))
        .and_then(|s| s.split(';').next())
        .unwrap_or("")
}

fn flags(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(";; Flags: "))
        .map(|f| f.split(';').next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

#[test]
fn positive_negative_and_refused_answers() {
    let s = Served::start(CONFIG);
    let srv = s.kdig(&["_imaps._tcp.example.net", "SRV"]);
    assert_eq!(status(&srv), "NOERROR", "{srv}");
    assert!(flags(&srv).contains("aa"), "{srv}");
    assert!(
        srv.contains("_imaps._tcp.example.net.\t3600\tIN\tSRV\t0 1 993 mail.example.net."),
        "{srv}"
    );
    // The target's address rides along in the additional section.
    assert!(
        squash(&srv).contains("mail.example.net. 3600 IN A 192.0.2.1"),
        "{srv}"
    );

    let nx = s.kdig(&["nothing.example.net", "A"]);
    assert_eq!(status(&nx), "NXDOMAIN", "{nx}");
    assert!(nx.contains("SOA"), "negative answers carry the SOA: {nx}");
    assert!(
        nx.contains("\t300\tIN\tSOA"),
        "negative TTL is min(SOA TTL, MINIMUM): {nx}"
    );

    let nodata = s.kdig(&["mail.example.net", "TXT"]);
    assert_eq!(status(&nodata), "NOERROR");
    assert!(
        nodata.contains("ANSWER: 0") && nodata.contains("SOA"),
        "{nodata}"
    );

    // Empty non-terminals exist: NODATA, not NXDOMAIN.
    for ent in ["_tcp.example.net", "_domainkey.example.net"] {
        let out = s.kdig(&[ent, "A"]);
        assert_eq!(status(&out), "NOERROR", "{ent}: {out}");
    }

    let refused = s.kdig(&["example.org", "A"]);
    assert_eq!(status(&refused), "REFUSED", "{refused}");
    assert!(!flags(&refused).contains("aa"));
    assert!(refused.contains("ANSWER: 0"));

    let chaos = s.kdig(&["version.bind", "TXT", "-c", "CH"]);
    assert_eq!(status(&chaos), "REFUSED", "{chaos}");
}

#[test]
fn cnames_are_followed_and_case_is_preserved() {
    let s = Served::start(CONFIG);
    // dig prints the question as the server echoed it (kdig would lower-case it).
    for transport in ["+notcp", "+tcp"] {
        let out = std::process::Command::new("dig")
            .args([
                format!("@{}", s.dns.ip()),
                "-p".into(),
                s.dns.port().to_string(),
                "WwW.ExAmPlE.NeT".into(),
                "A".into(),
            ])
            .args([transport, "+noall", "+question"])
            .output()
            .expect("dig runs (dnsutils)");
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.contains(";WwW.ExAmPlE.NeT."),
            "question echoed as asked over {transport}: {out}"
        );
    }
    let out = s.kdig(&["WwW.ExAmPlE.NeT", "A"]);
    assert!(
        squash(&out).contains("www.example.net. 3600 IN CNAME mail.example.net."),
        "{out}"
    );
    assert!(
        squash(&out).contains("mail.example.net. 3600 IN A 192.0.2.1"),
        "{out}"
    );
}

#[test]
fn aliases_are_served_and_any_is_minimal() {
    let s = Served::start(CONFIG);
    let out = s.kdig(&["_imaps._tcp.alias.example", "SRV"]);
    assert!(out.contains("0 1 993 mail.example.net."), "{out}");
    let any = s.kdig(&["example.net", "ANY"]);
    assert_eq!(status(&any), "NOERROR");
    let answers = any
        .lines()
        .find_map(|l| l.split("ANSWER: ").nth(1))
        .and_then(|x| x.split(';').next())
        .unwrap_or("");
    assert_eq!(answers, "1", "RFC 8482: one RRset for ANY: {any}");
}

#[test]
fn edns_is_echoed_and_bad_versions_refused() {
    let s = Served::start(CONFIG);
    let out = s.kdig(&["example.net", "MX", "+edns=0", "+bufsize=4096"]);
    assert!(
        out.contains("EDNS PSEUDOSECTION") && out.contains("UDP size: 1232"),
        "{out}"
    );
    let bad = s.kdig(&["example.net", "MX", "+edns=1"]);
    assert_eq!(status(&bad), "BADVERS", "{bad}");
    let plain = s.kdig(&["example.net", "MX", "+noedns"]);
    assert!(!plain.contains("EDNS PSEUDOSECTION"), "{plain}");
}

#[test]
fn large_answers_truncate_over_udp_and_complete_over_tcp() {
    let s = Served::start(CONFIG);
    let udp = s.kdig(&["big.example.net", "TXT", "+noedns", "+ignore"]);
    assert!(flags(&udp).contains("tc"), "{udp}");
    let tcp = s.kdig(&["big.example.net", "TXT", "+tcp"]);
    assert!(!flags(&tcp).contains("tc"), "{tcp}");
    assert_eq!(tcp.matches("\tTXT\t").count(), 5, "{tcp}");
}

#[test]
fn axfr_for_allowed_peers_only() {
    let s = Served::start(CONFIG);
    let axfr = s.kdig(&["example.net", "AXFR"]);
    assert_eq!(
        axfr.matches("\tSOA\t").count(),
        2,
        "SOA opens and closes the transfer: {axfr}"
    );
    assert!(axfr.contains("_imaps._tcp.example.net."), "{axfr}");
    // The alias zone allows the same peers (settings are shared).
    let records = run(&[
        "records",
        "--config",
        &s.config.arg(),
        "--domain",
        "example.net",
    ]);
    let expected = stdout(&records)
        .lines()
        .filter(|l| !l.starts_with(';') && !l.starts_with('$') && !l.is_empty())
        .count();
    let got = axfr
        .lines()
        .filter(|l| !l.starts_with(';') && !l.is_empty())
        .count();
    assert_eq!(
        got,
        expected + 1,
        "AXFR carries exactly the records `records` prints (+ closing SOA)"
    );

    let refused = s.kdig(&["example.org", "AXFR"]);
    assert!(refused.contains("REFUSED"), "{refused}");
}

#[test]
fn tsig_signed_requests_get_notauth_badkey_unsigned() {
    let s = Served::start(CONFIG);
    let key = "hmac-sha256:transfer-key:c2VjcmV0c2VjcmV0c2VjcmV0";
    // Knot's client checks the reply: it names the TSIG error it got.
    let query = s.kdig(&["-y", key, "example.net", "SOA"]);
    assert!(query.contains("status: BADKEY"), "{query}");
    assert!(
        query.contains("transfer-key.") && query.contains("TSIG"),
        "{query}"
    );
    // Even from an address allowed to transfer: a key we do not hold authorises nothing, and no
    // record leaks.
    let axfr = s.kdig(&["-y", key, "example.net", "AXFR"]);
    assert!(axfr.contains("BADKEY"), "{axfr}");
    assert!(!axfr.contains("\tSOA\t"), "{axfr}");
    // BIND's dig reports the plain RCODE.
    let dig = std::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &s.dns.port().to_string(), "-y", key])
        .args(["example.net", "SOA", "+time=2", "+tries=1"])
        .output()
        .expect("dig runs");
    let dig = String::from_utf8_lossy(&dig.stdout);
    assert!(dig.contains("status: NOTAUTH"), "{dig}");
}

#[test]
fn axfr_refused_without_permission() {
    let s = Served::start(&CONFIG.replace("axfr = [\"127.0.0.1\"]\n", ""));
    let out = s.kdig(&["example.net", "AXFR"]);
    assert!(out.contains("REFUSED"), "{out}");
}

fn raw(s: &Served, packet: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    sock.send_to(packet, s.dns).unwrap();
    let mut buf = [0u8; 2048];
    sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

#[test]
fn malformed_packets_get_formerr_or_silence_and_serving_continues() {
    let s = Served::start(CONFIG);
    // A header claiming a question that is not there.
    let reply = raw(
        &s,
        &[0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x05, b'a'],
    )
    .expect("FORMERR reply");
    assert_eq!(&reply[..2], &[0xAB, 0xCD]);
    assert_eq!(reply[2] & 0x80, 0x80, "QR set");
    assert_eq!(reply[3] & 0x0F, 1, "FORMERR");
    // Shorter than a header: dropped.
    assert_eq!(raw(&s, &[1, 2, 3]), None);
    // A response (QR set) is never answered.
    assert_eq!(raw(&s, &[0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    // Unknown opcode: NOTIMP.
    let mut q = Message::query();
    q.metadata.op_code = hickory_proto::op::OpCode::Update;
    let reply = raw(&s, &q.to_vec().unwrap()).expect("reply");
    assert_eq!(
        Message::from_vec(&reply).unwrap().metadata.response_code,
        ResponseCode::NotImp
    );
    // Still serving.
    assert_eq!(status(&s.kdig(&["example.net", "SOA"])), "NOERROR");
}

#[test]
fn reload_swaps_zones_and_a_broken_config_keeps_the_old_ones() {
    let s = Served::start(CONFIG);
    let before = s.kdig(&["example.net", "TXT", "+short"]);
    assert!(before.contains("v=spf1 mx -all"), "{before}");
    std::fs::write(
        s.config.path(),
        CONFIG.replace("v=spf1 mx -all", "v=spf1 -all"),
    )
    .unwrap();
    s.hup();
    let mut after = String::new();
    eventually(Duration::from_secs(5), || {
        after = s.kdig(&["example.net", "TXT", "+short"]);
        after.contains("\"v=spf1 -all\"")
    });
    assert!(after.contains("\"v=spf1 -all\""), "{after}");
    std::fs::write(s.config.path(), "this is not toml [").unwrap();
    s.hup();
    std::thread::sleep(Duration::from_millis(300));
    let still = s.kdig(&["example.net", "TXT", "+short"]);
    assert!(
        still.contains("\"v=spf1 -all\""),
        "old zones keep serving: {still}"
    );
}

/// Three unrelated domains; a reload edits one, so that the other two are taken over unchanged.
const THREE: &str = r#"
[server]
ipv4 = ["192.0.2.1"]

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]

[defaults]
spf = "v=spf1 mx -all"
name_servers = ["ns1.{domain}", "ns2.{domain}"]

[hosts]
"ns2.{domain}" = ["198.51.100.53"]

[[domain]]
name = "one.test"
aliases = ["one-parked.test"]

[[domain]]
name = "two.test"

[[domain]]
name = "three.test"
"#;

fn soa_serial(s: &Served, zone: &str) -> u64 {
    let out = s.kdig(&[zone, "SOA", "+short"]);
    out.split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no SOA serial for {zone}: {out}"))
}

#[test]
fn reload_rebuilds_what_changed_and_leaves_the_rest_as_it_was() {
    let s = Served::start(THREE);
    let before: Vec<u64> = ["one.test", "two.test", "three.test", "one-parked.test"]
        .iter()
        .map(|z| soa_serial(&s, z))
        .collect();
    let addresses_before = squash(&s.kdig(&["ns2.two.test", "A", "+short"]));
    // Serials are seconds-based: a changed zone must get a larger one even within the second.
    std::thread::sleep(Duration::from_millis(1100));
    // one.test (and so its alias) changes; a new domain appears; three.test goes away.
    let edited = THREE
        .replace(
            "name = \"one.test\"\n",
            "name = \"one.test\"\nspf = \"v=spf1 a mx -all\"\n",
        )
        .replace("name = \"three.test\"", "name = \"four.test\"");
    std::fs::write(s.config.path(), &edited).unwrap();
    s.hup();
    assert!(
        eventually(Duration::from_secs(10), || {
            s.kdig(&["one.test", "TXT", "+short"])
                .contains("v=spf1 a mx -all")
        }),
        "the edited domain answers its new record"
    );
    assert!(
        s.kdig(&["one-parked.test", "TXT", "+short"])
            .contains("v=spf1 a mx -all"),
        "the alias follows its primary"
    );
    assert!(
        soa_serial(&s, "one.test") > before[0],
        "a changed zone gets a new serial"
    );
    assert!(soa_serial(&s, "one-parked.test") > before[3]);
    assert_eq!(
        soa_serial(&s, "two.test"),
        before[1],
        "an unchanged zone keeps its serial"
    );
    assert!(
        s.kdig(&["two.test", "TXT", "+short"])
            .contains("v=spf1 mx -all")
    );
    assert_eq!(
        squash(&s.kdig(&["ns2.two.test", "A", "+short"])),
        addresses_before
    );
    assert_eq!(
        status(&s.kdig(&["four.test", "SOA"])),
        "NOERROR",
        "an added domain is served"
    );
    assert_eq!(
        status(&s.kdig(&["three.test", "SOA"])),
        "REFUSED",
        "a removed one is not"
    );
    // HTTP follows too: the added domain has its autoconfig document, the removed one none.
    let added = s.http("autoconfig.four.test", "/mail/config-v1.1.xml", &[]);
    assert_eq!(added.status, 200, "{}", added.text());
    assert!(added.text().contains("mail.four.test"), "{}", added.text());
    let kept = s.http("autoconfig.two.test", "/mail/config-v1.1.xml", &[]);
    assert!(kept.text().contains("mail.two.test"), "{}", kept.text());
    let removed = s.http("autoconfig.three.test", "/mail/config-v1.1.xml", &[]);
    assert_eq!(removed.status, 404, "{}", removed.text());

    // A second reload of an unchanged file changes nothing at all.
    let serials: Vec<u64> = ["one.test", "two.test", "four.test"]
        .iter()
        .map(|z| soa_serial(&s, z))
        .collect();
    s.hup();
    std::thread::sleep(Duration::from_millis(500));
    let again: Vec<u64> = ["one.test", "two.test", "four.test"]
        .iter()
        .map(|z| soa_serial(&s, z))
        .collect();
    assert_eq!(again, serials);
}

#[test]
fn the_reload_command_validates_first_then_waits_for_the_servers_verdict() {
    let s = Served::start(CONFIG);
    let config = s.config.arg();

    // Broken: refused here with the position, nothing sent, the server keeps serving.
    std::fs::write(
        s.config.path(),
        CONFIG.replace("spf = \"v=spf1 mx -all\"", "spf = 7"),
    )
    .unwrap();
    let out = run(&["reload", "--config", &config]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{config}:13:7: domain[0].spf")),
        "{err}"
    );
    assert!(err.contains("not reloaded"), "{err}");
    assert!(
        s.kdig(&["example.net", "TXT", "+short"])
            .contains("v=spf1 mx -all")
    );

    // Good: the command returns once the server has swapped, so the new answer is there at once.
    std::fs::write(
        s.config.path(),
        CONFIG.replace("v=spf1 mx -all", "v=spf1 -all"),
    )
    .unwrap();
    let out = run(&["reload", "--config", &config]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("reloaded"), "{}", stdout(&out));
    assert!(
        s.kdig(&["example.net", "TXT", "+short"])
            .contains("\"v=spf1 -all\"")
    );

    // Valid as a model but failing in the server: certificate files that are not there. The
    // server says why, and keeps serving what it had.
    let missing = format!(
        "{}\n[tls]\nmode = \"files\"\n\n[[tls.certificate]]\nnames = [\"example.net\"]\ncert = \"missing.pem\"\nkey = \"missing-key.pem\"\n",
        CONFIG.replace("v=spf1 mx -all", "v=spf1 ?all")
    );
    std::fs::write(s.config.path(), missing).unwrap();
    let out = run(&["reload", "--config", &config]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("did not reload") && err.contains("tls") && err.contains("missing.pem"),
        "{err}"
    );
    assert!(
        s.kdig(&["example.net", "TXT", "+short"])
            .contains("\"v=spf1 -all\"")
    );
    std::fs::write(
        s.config.path(),
        CONFIG.replace("v=spf1 mx -all", "v=spf1 -all"),
    )
    .unwrap();

    // Again, then with a pid file that names a process that is not mailbeacon (a stale file
    // after a crash): never signalled.
    let out = run(&["reload", "--config", &config]);
    assert!(
        out.status.success(),
        "a second reload works too: {}",
        stderr(&out)
    );
    let pid_file = s.config.dir.path().join("state/serve.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        s.child.id().to_string()
    );
    std::fs::write(&pid_file, "1\n").unwrap();
    let out = run(&["reload", "--config", &config]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a running mailbeacon"),
        "{}",
        stderr(&out)
    );

    // No server for this configuration at all.
    let elsewhere = ScratchConfig::new(CONFIG);
    let out = run(&["reload", "--config", &elsewhere.arg()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no running server"),
        "{}",
        stderr(&out)
    );
}
