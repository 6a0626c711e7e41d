//! Every configuration `check` accepts yields `records` that BIND, Knot and NSD all load: over
//! generated configurations with long SPF and DKIM texts, quotes and backslashes, CAA, TLS-RPT,
//! null MX, aliases and extra records of many types (`scripts/check-zones.sh` runs the three
//! checkers).

mod common;
use common::*;

impl XorShift {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const EXTRA: &[&str] = &[
    "www A 192.0.2.80",
    "www6 AAAA 2001:db8::80",
    "blog CNAME www",
    r#"note TXT "a \"quoted\" word" "back\\slash" "semi;colon""#,
    "_sip._tcp SRV 10 5 5060 sip",
    "sip A 192.0.2.81",
    "_25._tcp.mail TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "host SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    r#"tags CAA 0 issuewild ";""#,
    "deep.er.name A 192.0.2.82",
];

fn config(rng: &mut XorShift, round: usize) -> String {
    let mut c = String::from(
        "[server]\nipv4 = [\"192.0.2.10\"]\nipv6 = [\"2001:db8::10\"]\n\n[service.mail]\n\
         incoming = [{ protocol = \"imap\", host = \"mail.{domain}\" }]\n\
         outgoing = [{ host = \"mail.{domain}\" }]\n",
    );
    if rng.coin() {
        c += "caldav = \"https://dav.{domain}/cal/\"\n";
    }
    c += &format!("\n[[domain]]\nname = \"gen{round}.example\"\n");
    if rng.coin() {
        c += "aliases = [\"gen-parked.example\"]\n";
    }
    c += &format!(
        "mx = [\"{}\"]\n",
        rng.pick(&["10 mail.{domain}", "0 .", "10 mx.provider.test"])
    );
    let includes = 1 + rng.next() % 120;
    let spf: Vec<String> = (0..includes)
        .map(|i| format!("ip4:198.51.{}.0/24", i % 250))
        .collect();
    c += &format!("spf = \"v=spf1 {} -all\"\n", spf.join(" "));
    c += "dmarc = \"v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}\"\n";
    let key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".repeat(1 + (rng.next() % 12) as usize);
    c += &format!("dkim = [{{ selector = \"s{round}\", value = \"v=DKIM1; k=rsa; p={key}\" }}]\n");
    if rng.coin() {
        c += "tls_rpt = [\"mailto:tlsrpt@{domain}\"]\n";
    }
    c += &format!(
        "caa = ['0 issue \"{}\"']\n",
        rng.pick(&["letsencrypt.org", "ca.example; account=1"])
    );
    let lines: Vec<&str> = EXTRA.iter().copied().filter(|_| rng.coin()).collect();
    if !lines.is_empty() {
        c += &format!("records = '''\n{}\n'''\n", lines.join("\n"));
    }
    c += "name_servers = [\"ns1.{domain}\", \"ns2.{domain}\"]\n\n[hosts]\n\"ns2.{domain}\" = [\"198.51.100.53\"]\n";
    c
}

#[test]
fn records_of_every_accepted_configuration_load_in_bind_knot_and_nsd() {
    if !(have("named-checkzone") && have("kzonecheck") && have("nsd-checkzone")) {
        eprintln!(
            "skipped: named-checkzone, kzonecheck and nsd-checkzone are needed (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift(0x51f1_e05b_0613_71a5);
    let mut paths = Vec::new();
    for round in 0..25 {
        let path = dir.path().join(format!("gen{round}.toml"));
        let text = config(&mut rng, round);
        std::fs::write(&path, &text).unwrap();
        let out = run(&["check", "--config", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "round {round}: refused\n{}\n{text}",
            stderr(&out)
        );
        paths.push(path.display().to_string());
    }
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/check-zones.sh"))
        .arg(env!("CARGO_BIN_EXE_mailbeacon"))
        .args(&paths)
        .output()
        .unwrap();
    let report = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{report}");
    assert_eq!(
        report.matches("\nok   ").count() + usize::from(report.starts_with("ok   ")),
        25,
        "{report}"
    );
}
