//! `mailbeacon records`: master files that real name servers load, and that say what the seeds say.

mod common;
use common::*;

use std::collections::BTreeMap;

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;

/// Every record of `records` output for one zone, parsed by hickory's (independent) master-file
/// parser, as `owner type` → presentation of each value.
fn zone(config: &str, domain: &str) -> BTreeMap<(String, RecordType), Vec<RData>> {
    let out = run(&["records", "--config", config, "--domain", domain]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("$ORIGIN {domain}.\n")), "{text}");
    let origin = Name::from_ascii(format!("{domain}.")).unwrap();
    let (_, sets) = Parser::new(text, None, Some(origin))
        .parse()
        .expect("output parses");
    let mut map = BTreeMap::new();
    for set in sets.values() {
        for r in set.records_without_rrsigs() {
            let owner = r.name.to_ascii().trim_end_matches('.').to_owned();
            map.entry((owner, r.record_type()))
                .or_insert_with(Vec::new)
                .push(r.data.clone());
        }
    }
    map
}

fn get(z: &BTreeMap<(String, RecordType), Vec<RData>>, owner: &str, t: RecordType) -> Vec<String> {
    z.get(&(owner.to_owned(), t))
        .map(|v| v.iter().map(|d| d.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn every_example_zone_loads_in_bind_knot_and_nsd() {
    for tool in ["named-checkzone", "kzonecheck", "nsd-checkzone"] {
        assert!(
            have(tool),
            "{tool} is needed (scripts/test.sh installs bind9-utils, knot-dnssecutils, nsd)"
        );
    }
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/check-zones.sh"))
        .arg(env!("CARGO_BIN_EXE_mailbeacon"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn seed_000_parked_domains_have_no_autodiscover() {
    let cfg = "config/examples/000-main-and-parked.toml";
    let main = zone(cfg, "main-domain.example");
    assert_eq!(
        get(&main, "autodiscover.main-domain.example", RecordType::A),
        ["192.0.2.25"]
    );
    assert_eq!(
        get(
            &main,
            "_autodiscover._tcp.main-domain.example",
            RecordType::SRV
        ),
        ["0 0 443 autodiscover.main-domain.example."]
    );
    assert_eq!(
        get(&main, "_imaps._tcp.main-domain.example", RecordType::SRV),
        ["0 1 993 mail.main-domain.example."]
    );
    assert_eq!(
        get(
            &main,
            "_submissions._tcp.main-domain.example",
            RecordType::SRV
        ),
        ["0 1 465 mail.main-domain.example."]
    );
    assert_eq!(
        get(&main, "_pop3s._tcp.main-domain.example", RecordType::SRV),
        ["0 0 0 ."]
    );
    for parked in ["parked-one.example", "parked-two.example"] {
        let z = zone(cfg, parked);
        assert_eq!(
            get(&z, &format!("autoconfig.{parked}"), RecordType::A),
            ["192.0.2.25"]
        );
        assert!(get(&z, &format!("autodiscover.{parked}"), RecordType::A).is_empty());
        assert!(get(&z, &format!("_autodiscover._tcp.{parked}"), RecordType::SRV).is_empty());
        // Parked domains are answered like the main one: same servers.
        assert_eq!(
            get(&z, &format!("_imaps._tcp.{parked}"), RecordType::SRV),
            ["0 1 993 mail.main-domain.example."]
        );
    }
}

#[test]
fn seed_001_plesk_uses_the_domain_as_server() {
    let z = zone("config/examples/001-plesk.toml", "plesk-customer.example");
    assert_eq!(
        get(&z, "_imap._tcp.plesk-customer.example", RecordType::SRV),
        ["0 1 143 plesk-customer.example."]
    );
    assert_eq!(
        get(&z, "_pop3._tcp.plesk-customer.example", RecordType::SRV),
        ["1 1 110 plesk-customer.example."]
    );
    assert_eq!(
        get(
            &z,
            "_submission._tcp.plesk-customer.example",
            RecordType::SRV
        ),
        ["0 1 25 plesk-customer.example."]
    );
    assert_eq!(
        get(&z, "plesk-customer.example", RecordType::A),
        ["198.51.100.7"]
    );
}

#[test]
fn seed_002_cloudmail_records() {
    let z = zone(
        "config/examples/002-vshosting-cloudmail.toml",
        "vasedomena.example",
    );
    assert_eq!(
        get(&z, "vasedomena.example", RecordType::MX),
        ["10 mx.vshosting.cloud.", "20 mx.vshosting.eu."]
    );
    assert_eq!(
        get(&z, "autoconfig.vasedomena.example", RecordType::CNAME),
        ["webmail.vshosting.cloud."]
    );
    assert_eq!(
        get(&z, "autodiscover.vasedomena.example", RecordType::CNAME),
        ["webmail.vshosting.cloud."]
    );
    assert_eq!(
        get(&z, "_autodiscover._tcp.vasedomena.example", RecordType::SRV),
        ["10 10 443 webmail.vshosting.cloud."]
    );
    assert_eq!(
        get(&z, "vasedomena.example", RecordType::TXT),
        ["v=spf1 mx a include:_spf.vshosting.cloud ~all"]
    );
    assert_eq!(
        get(&z, "_imap._tcp.vasedomena.example", RecordType::SRV),
        ["0 1 143 mda.vshosting.cloud."]
    );
    assert_eq!(
        get(&z, "_pop3._tcp.vasedomena.example", RecordType::SRV),
        ["1 1 110 mda.vshosting.cloud."]
    );
    assert_eq!(
        get(&z, "_submission._tcp.vasedomena.example", RecordType::SRV),
        ["0 1 587 msa.vshosting.cloud."]
    );
}

#[test]
fn seed_004_publishes_everything_a_domain_part_guess_needs() {
    let z = zone(
        "config/examples/004-domain-part-only.toml",
        "organizer.example",
    );
    assert_eq!(
        get(&z, "_imaps._tcp.organizer.example", RecordType::SRV),
        ["0 1 993 imap.organizer.example."]
    );
    assert_eq!(
        get(&z, "_submissions._tcp.organizer.example", RecordType::SRV),
        ["0 1 465 smtp.organizer.example."]
    );
    for host in ["autoconfig", "imap", "smtp", "pop", "mx"] {
        assert_eq!(
            get(&z, &format!("{host}.organizer.example"), RecordType::AAAA),
            ["2001:db8::44"],
            "{host}"
        );
    }
    assert_eq!(
        get(&z, "_smtp._tls.organizer.example", RecordType::TXT),
        ["v=TLSRPTv1; rua=mailto:tlsrpt@organizer.example"]
    );
    assert_eq!(
        get(&z, "organizer.example", RecordType::CAA),
        ["0 issue \"letsencrypt.org\""]
    );
    let sts = get(&z, "_mta-sts.organizer.example", RecordType::TXT);
    assert_eq!(sts.len(), 1);
    assert!(sts[0].starts_with("v=STSv1; id="), "{sts:?}");
}

#[test]
fn records_never_writes_state_and_prints_the_serials_serve_keeps() {
    let text =
        std::fs::read_to_string(root().join("config/examples/004-domain-part-only.toml")).unwrap();
    let served = Served::start(&text);
    let soa = |answer: &str| -> u32 {
        answer
            .lines()
            .find(|l| l.contains("\tSOA\t"))
            .and_then(|l| l.split_whitespace().nth(6))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no SOA in {answer}"))
    };
    let live = soa(&served.kdig(&["+norec", "organizer.example", "SOA"]));
    let records = |cfg: &ScratchConfig| soa(&stdout(&run(&["records", "--config", &cfg.arg()])));
    assert_eq!(
        records(&served.config),
        live,
        "records shows the serial serve publishes"
    );

    // Another configuration directory: `records` prints but leaves no state behind.
    let bare = ScratchConfig::new(&text);
    let out = run(&["records", "--config", &bare.arg()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(bare.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["mailbeacon.toml"], "records wrote state");
    assert!(stderr(&out).contains(&format!("configuration: {}", bare.arg())));

    // Edited content: the served serial moves on after a reload, and records agrees.
    std::fs::write(
        served.config.path(),
        text.replace("p=quarantine", "p=reject"),
    )
    .unwrap();
    // Serials are unix seconds: make sure the new one can differ from the old.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    served.hup();
    let mut now = live;
    assert!(
        eventually(std::time::Duration::from_secs(10), || {
            now = soa(&served.kdig(&["+norec", "organizer.example", "SOA"]));
            now > live
        }),
        "serial did not move on after a content change"
    );
    assert_eq!(records(&served.config), now);
}

#[test]
fn unknown_domain_is_refused() {
    let out = run(&["records", "--domain", "nope.example"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.example: not a domain of this configuration"));
}
