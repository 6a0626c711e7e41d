//! `mailbeacon check`: every problem reported with file, line, column and key; exit 2.

mod common;
use common::*;

const GOOD: &str = r#"
[server]
ipv4 = ["192.0.2.1"]

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]

[[domain]]
name = "example.net"
mx = ["10 mail.{domain}"]
"#;

/// Runs `check` on `text` and returns (exit code, stdout, stderr, config path).
fn check(text: &str) -> (i32, String, String, String) {
    let cfg = ScratchConfig::new(text);
    let out = run(&["check", "--config", &cfg.arg()]);
    (
        out.status.code().unwrap_or(-1),
        stdout(&out),
        stderr(&out),
        cfg.arg(),
    )
}

/// Runs `check` on `text`, asserts it is refused (exit 2), and returns (stderr, config path).
fn refused(text: &str) -> (String, String) {
    let (code, _, err, path) = check(text);
    assert_eq!(code, 2, "{err}");
    (err, path)
}

#[test]
fn default_config_is_valid_and_summarised() {
    let out = run(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("example.test: domain; 2 incoming, 2 outgoing"),
        "{text}"
    );
    assert!(
        text.contains("example-alias.test: alias of example.test"),
        "{text}"
    );
}

#[test]
fn config_path_comes_from_the_environment() {
    let cfg = ScratchConfig::new(GOOD);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailbeacon"))
        .arg("check")
        .env("MAILBEACON_CONFIG", cfg.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("example.net: domain; 1 incoming, 1 outgoing"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_error_is_reported_with_its_position() {
    let text = r#"[server]
ipv4 = ["192.0.2.1", "not-an-ip"]

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}", port = 99999 }]
outgoing = [{ host = "mail.{domain}", security = "ssl-ish" }]

[[domain]]
name = "example.net"
services = ["mail", "missing"]

[[domain]]
name = "Example.NET"
"#;
    let (err, path) = refused(text);
    let lines: Vec<&str> = err.lines().collect();
    let expect = [
        format!("{path}:2:22: server.ipv4[1]: `not-an-ip` is not an IPv4 address"),
        format!(
            "{path}:5:65: service.mail.incoming[0].port: port must be between 1 and 65535, not 99999"
        ),
        format!("{path}:6:50: service.mail.outgoing[0].security: unknown security `ssl-ish`"),
        format!("{path}:10:21: domain[0].services[1]: service `missing` is not defined"),
        format!(
            "{path}:13:8: domain[1].name: `example.net` is already configured at domain[0].name"
        ),
    ];
    for e in &expect {
        assert!(
            lines.iter().any(|l| l.starts_with(e.as_str())),
            "missing {e:?} in:\n{err}"
        );
    }
}

#[test]
fn unknown_keys_and_syntax_errors_name_the_line() {
    let (err, path) = refused("[server]\nipv4 = [\"192.0.2.1\"]\nlisten = 1\n");
    assert!(
        err.starts_with(&format!(
            "{path}:3:1: server.listen: unknown key `listen`; accepted: ipv4, ipv6"
        )),
        "{err}"
    );

    let (err, path) = refused("[server\nipv4 = 1\n");
    assert!(err.starts_with(&format!("{path}:1:")), "{err}");
}

#[test]
fn an_alias_that_is_also_a_domain_is_refused() {
    let text = format!("{GOOD}aliases = [\"other.net\"]\n\n[[domain]]\nname = \"other.net\"\n");
    let (err, _) = refused(&text);
    assert!(
        err.contains("domain[1].name: `other.net` is already configured at domain[0].aliases[0]"),
        "{err}"
    );
}

#[test]
fn zone_inconsistencies_point_at_the_key() {
    // An MX that is a CNAME, and a CNAME beside other data, both written in `records`.
    let text = r#"[server]
ipv4 = ["192.0.2.1"]

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]

[[domain]]
name = "example.net"
mx = ["10 mx.{domain}"]
records = '''
mx    CNAME mail
www   CNAME mail
www   TXT   "hello"
'''
"#;
    let (err, path) = refused(text);
    assert!(
        err.contains(&format!(
            "{path}:10:7: domain[0].mx: MX target mx.example.net is a CNAME"
        )),
        "{err}"
    );
    assert!(
        err.contains("domain[0].records: www.example.net has a CNAME and other records"),
        "{err}"
    );
}

#[test]
fn a_bad_record_line_is_located_inside_the_string() {
    let text = format!("{GOOD}records = '''\nwww A 192.0.2.8\nftp A 300.1.1.1\n'''\n");
    let (err, path) = refused(&text);
    // The string starts on line 12; its second record line is line 14 of the file.
    assert!(
        err.starts_with(&format!(
            "{path}:14:1: domain[0].records: line 2 of the records:"
        )),
        "{err}"
    );
}

#[test]
fn generated_names_cannot_be_redefined() {
    let text = format!("{GOOD}records = \"autoconfig A 192.0.2.9\"\n");
    let (err, _) = refused(&text);
    assert!(
        err.contains("autoconfig.example.net A is generated by mailbeacon"),
        "{err}"
    );
}

#[test]
fn helper_names_need_an_address_or_a_cname() {
    let text = GOOD.replace("ipv4 = [\"192.0.2.1\"]", "");
    let (err, _) = refused(&text);
    assert!(
        err.contains("autoconfig.example.net needs an address"),
        "{err}"
    );
}

#[test]
fn invalid_names_and_values_are_refused() {
    let text = GOOD
        .replace("name = \"example.net\"", "name = \"exa_mple.net\"")
        .replace(
            "mx = [\"10 mail.{domain}\"]",
            "mx = [\"ten mail.{domain}\"]\nspf = \"include:x\"\ncaa = [\"0 issue\"]",
        );
    let (err, _) = refused(&text);
    assert!(
        err.contains("domain[0].name: `exa_mple.net` is not a valid host name"),
        "{err}"
    );
    let text = GOOD.replace(
        "mx = [\"10 mail.{domain}\"]",
        "mx = [\"ten mail.{domain}\"]\nspf = \"include:x\"\nsoa = { refresh = -1 }",
    );
    let (_, _, err, _) = check(&text);
    assert!(err.contains("domain[0].mx[0]: MX priority `ten`"), "{err}");
    assert!(
        err.contains("domain[0].spf: must start with `v=spf1`"),
        "{err}"
    );
    assert!(
        err.contains("domain[0].soa.refresh: refresh must be between 0 and 2147483647, not -1"),
        "{err}"
    );
}

#[test]
fn unreadable_file_is_a_clear_error() {
    let out = run(&["check", "--config", "/nonexistent/mailbeacon.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/mailbeacon.toml: cannot read configuration"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn names_too_long_for_generated_records_are_refused() {
    let long = format!(
        "{}.{}.{}.{}.net",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(50)
    );
    let text = GOOD.replace("name = \"example.net\"", &format!("name = \"{long}\""));
    let (err, _) = refused(&text);
    assert!(err.contains("cannot hold the generated records"), "{err}");
}

#[test]
fn wrong_value_types_name_the_key_as_written() {
    let (err, path) = refused("[[domain]]\nname = 5\n");
    assert!(
        err.contains(&format!(
            "{path}:2:8: domain[0].name: expected text in quotes, not the number 5"
        )),
        "{err}"
    );
    assert!(!err.contains("serde_spanned"), "{err}");
}

#[test]
fn transfer_and_notify_addresses_are_checked() {
    let text = GOOD.replace(
        "mx = [\"10 mail.{domain}\"]",
        "mx = [\"10 mail.{domain}\"]\naxfr = [\"192.0.2.0/33\"]\nnotify = [\"192.0.2.53\", \"ns2.example.org\", \"192.0.2.54:0\"]",
    );
    let (err, path) = refused(&text);
    assert!(
        err.contains("domain[0].axfr[0]: `192.0.2.0/33` is not an IP address or network"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}:"))
            && err.contains("domain[0].notify[1]: `ns2.example.org` is not an address"),
        "{err}"
    );
    assert!(err.contains("domain[0].notify[2]: `192.0.2.54:0`"), "{err}");
    assert!(!err.contains("notify[0]"), "{err}");
    let good = GOOD.replace(
        "mx = [\"10 mail.{domain}\"]",
        "mx = [\"10 mail.{domain}\"]\naxfr = [\"192.0.2.53\"]\nnotify = [\"192.0.2.53\", \"[2001:db8::53]:5300\"]",
    );
    let (code, _, err, _) = check(&good);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn unknown_placeholders_are_refused_where_they_are_written() {
    let text = GOOD.replace(
        "outgoing = [{ host = \"mail.{domain}\" }]",
        "outgoing = [{ host = \"mail.{domain}\" }]\ncarddav = \"https://dav.{domian}/card/\"",
    );
    let (err, path) = refused(&text);
    assert!(
        err.contains(&format!(
            "{path}:8:11: service.mail.carddav: unknown placeholder `{{domian}}`; did you mean `{{domain}}`?"
        )),
        "{err}"
    );
    let text = GOOD.replace("mx = [", "spf = \"v=spf1 include:{zone} -all\"\nmx = [");
    let (err, _) = refused(&text);
    assert!(
        err.contains("domain[0].spf: unknown placeholder `{zone}`"),
        "{err}"
    );
    let text = GOOD.replace(
        "[[domain]]",
        "username = \"%EMAILLOCALPART%@{domain}\"\n\n[[domain]]",
    );
    let (err, _) = refused(&text);
    assert!(err.contains("use %EMAILDOMAIN%"), "{err}");
}

#[test]
fn port_and_security_that_clients_misread_are_warnings() {
    let text = GOOD.replace(
        "outgoing = [{ host = \"mail.{domain}\" }]",
        "outgoing = [{ host = \"mail.{domain}\", port = 587, security = \"tls\" }]",
    );
    let (code, out, err, path) = check(&text);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "{path}:7:46: warning: service.mail.outgoing[0].port: port 587 is the SMTP STARTTLS port"
        )),
        "{err}"
    );
    assert!(out.contains(": ok, 1 domain\n"), "{out}");
}

#[test]
fn plain_words_and_suggestions() {
    let text = GOOD.replace(
        "host = \"mail.{domain}\" }]\noutgoing",
        "host = \"mail.{domain}\", port = \"993\" }]\noutgoing",
    );
    let (err, _) = refused(&text);
    assert!(
        err.contains("port: expected a number, not the text \"993\""),
        "{err}"
    );
    let text = GOOD.replace("mx = [", "nameservers = [\"ns1.{domain}\"]\nmx = [");
    let (err, _) = refused(&text);
    assert!(
        err.contains("unknown key `nameservers`; did you mean `name_servers`?"),
        "{err}"
    );
    let text = GOOD.replace(
        "{ protocol = \"imap\",",
        "{ protocol = \"imap\", security = \"starttsl\",",
    );
    let (err, _) = refused(&text);
    assert!(
        err.contains("unknown security `starttsl`; did you mean `starttls`?"),
        "{err}"
    );
}

#[test]
fn records_too_large_for_a_dns_message_are_refused() {
    let long = format!("\"{}\" ", "a".repeat(255)).repeat(280);
    let text = GOOD.replace(
        "mx = [",
        &format!("records = '''\nbig TXT {long}\n'''\nmx = ["),
    );
    let (err, _) = refused(&text);
    assert!(
        err.contains("domain[0].records: the TXT records of big.example.net take"),
        "{err}"
    );
    let spf = format!("v=spf1 {} -all", "ip4:192.0.2.1 ".repeat(7000));
    let text = GOOD.replace("mx = [", &format!("spf = \"{spf}\"\nmx = ["));
    let (err, _) = refused(&text);
    assert!(
        err.contains("domain[0].spf: the TXT records of example.net take"),
        "{err}"
    );
    // A long but possible SPF is split into 255-octet strings, as zone files write them.
    let spf = format!("v=spf1 {} -all", "ip4:192.0.2.1 ".repeat(70));
    let cfg = ScratchConfig::new(&GOOD.replace("mx = [", &format!("spf = \"{spf}\"\nmx = [")));
    let out = run(&["records", "--config", &cfg.arg()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains("v=spf1"))
        .unwrap()
        .to_owned();
    let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    assert!(strings.len() >= 4, "{line}");
    assert!(strings.iter().all(|s| s.len() <= 255), "{line}");
    assert_eq!(strings.concat(), spf);
}

#[test]
fn cname_loops_are_refused() {
    let text = GOOD.replace(
        "mx = [",
        "records = '''\na CNAME b\nb CNAME c\nc CNAME a\nd CNAME a\n'''\nmx = [",
    );
    let (err, _) = refused(&text);
    assert!(
        err.contains("CNAME loop: a.example.net → b.example.net → c.example.net → a.example.net"),
        "{err}"
    );
    // A chain that ends is fine.
    let text = GOOD.replace(
        "mx = [",
        "records = '''\na CNAME b\nb CNAME c\nc A 192.0.2.9\n'''\nmx = [",
    );
    let (code, _, err, _) = check(&text);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn included_files_are_validated_where_they_are_and_reloaded() {
    let main = GOOD.replace("[server]", "include = [\"domains.d/*.toml\"]\n[server]");
    let cfg = ScratchConfig::new(&main);
    let dir = cfg.dir.path().join("domains.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.toml"), "[[domain]]\nname = \"a.example\"\n").unwrap();
    std::fs::write(
        dir.join("b.toml"),
        "# b\n[[domain]]\nname = \"b.example\"\nspf = \"spf1\"\n",
    )
    .unwrap();
    let out = run(&["check", "--config", &cfg.arg()]);
    assert_eq!(out.status.code(), Some(2));
    let b = dir.join("b.toml");
    assert!(
        stderr(&out).contains(&format!(
            "{}:4:7: domain[2].spf: must start with `v=spf1`",
            b.display()
        )),
        "{}",
        stderr(&out)
    );
    std::fs::write(&b, "[[domain]]\nname = \"a.example\"\n").unwrap();
    let out = run(&["check", "--config", &cfg.arg()]);
    assert!(
        stderr(&out).contains(&format!(
            "{}:2:8: domain[2].name: `a.example` is already configured",
            b.display()
        )),
        "{}",
        stderr(&out)
    );
    std::fs::write(&b, "[[domain]]\nname = \"b.example\"\n").unwrap();
    let out = run(&["check", "--config", &cfg.arg()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok, 3 domains"), "{}", stdout(&out));
    // Includes do not nest, and a pattern must match something.
    std::fs::write(dir.join("c.toml"), "include = [\"x.toml\"]\n").unwrap();
    let out = run(&["check", "--config", &cfg.arg()]);
    assert!(
        stderr(&out).contains("starts with a bare key"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(dir.join("c.toml")).unwrap();
    let none =
        ScratchConfig::new(&GOOD.replace("[server]", "include = [\"none/*.toml\"]\n[server]"));
    let out = run(&["check", "--config", &none.arg()]);
    assert!(
        stderr(&out).contains(":2:12: include[0]: `none/*.toml` matches no file"),
        "{}",
        stderr(&out)
    );

    // A running server picks up included files on reload.
    let served = Served::start(GOOD);
    let added = served.config.dir.path().join("domains.d");
    std::fs::create_dir(&added).unwrap();
    std::fs::write(added.join("z.toml"), "[[domain]]\nname = \"z.example\"\n").unwrap();
    std::fs::write(served.config.path(), &main).unwrap();
    let out = run(&["reload", "--config", &served.config.arg()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(served.kdig(&["z.example", "SOA"]).contains("NOERROR"));
}

#[test]
fn tsig_and_dnssec_mistakes_name_file_line_and_key() {
    let cases = [
        (
            "[tsig.xfr]\nsecret = \"not base64!\"\n",
            "tsig.xfr.secret: the secret is not base64",
        ),
        ("[tsig.xfr]\nsecret = \"c2hvcnQ=\"\n", "use at least 32"),
        (
            "[tsig.xfr]\nalgorithm = \"hmac-sha265\"\nsecret = \"c2VjcmV0LXNoYXJlZC13aXRoLXRoZS1zZWNvbmRhcnk=\"\n",
            "did you mean `hmac-sha256`",
        ),
        ("[tsig.xfr]\n", "needs `secret` (base64) or `secret_file`"),
        (
            "[tsig.xfr]\nsecret_file = \"missing.secret\"\n",
            "tsig.xfr.secret_file: cannot read",
        ),
    ];
    for (extra, expected) in cases {
        let (err, path) = refused(&format!("{GOOD}\n{extra}"));
        assert!(err.contains(expected), "{extra}: {err}");
        assert!(err.contains(&format!("{path}:")), "{err}");
    }
    let key = "\n[tsig.xfr]\nsecret = \"c2VjcmV0LXNoYXJlZC13aXRoLXRoZS1zZWNvbmRhcnk=\"\n";
    let with = |line: &str| GOOD.replace("mx = [", &format!("{line}\nmx = [")) + key;
    for (line, expected) in [
        ("axfr = [\"192.0.2.1 key xrf\"]", "did you mean `xfr`"),
        (
            "axfr = [\"192.0.2.1 xfr\"]",
            "is not `ADDRESS`, `key NAME` or `ADDRESS key NAME`",
        ),
        (
            "notify = [\"key xfr\"]",
            "is not an address with an optional port",
        ),
        (
            "dnssec_algorithm = \"RSASHA1\"",
            "unknown dnssec_algorithm `RSASHA1`",
        ),
    ] {
        let (err, _) = refused(&with(line));
        assert!(err.contains(expected), "{line}: {err}");
        assert!(err.contains("domain[0]."), "{line}: {err}");
    }
    let (code, _, err, _) = check(&with(
        "axfr = [\"key xfr\", \"192.0.2.0/24 key xfr\"]\nnotify = [\"192.0.2.53:5300 key xfr\"]\ndnssec = true",
    ));
    assert_eq!(code, 0, "{err}");
}
