//! `mailbeacon import` over the whole ISPDB corpus, and seed 003 reproduced server by server.

mod common;
use common::*;

use mailbeacon_formats::provider::{self, ProviderDocument, ServerEntry};
use mailbeacon_formats::{autoconfig, import};
use mailbeacon_http::Site;
use mailbeacon_http::routes::{Request, respond};
use mailbeacon_model::AuthMethod;

/// A server reduced to what a client acts on, with spellings normalised.
fn norm(s: &ServerEntry, domain: &str) -> (String, String, u16, String, Vec<String>, String) {
    let socket = match s.socket_type.to_ascii_lowercase().as_str() {
        "ssl" | "tls" => "SSL",
        "starttls" => "STARTTLS",
        _ => "plain",
    };
    let mut auth: Vec<String> = Vec::new();
    for a in &s.authentication {
        let m = AuthMethod::parse(a)
            .expect("known method")
            .as_str()
            .to_owned();
        if !auth.contains(&m) {
            auth.push(m);
        }
    }
    if auth.is_empty() {
        auth.push("password-cleartext".into());
    }
    (
        s.kind.to_ascii_lowercase(),
        s.hostname
            .replace("%EMAILDOMAIN%", domain)
            .to_ascii_lowercase(),
        s.port.trim().parse().unwrap(),
        socket.to_owned(),
        auth,
        s.username
            .clone()
            .unwrap_or_else(|| "%EMAILADDRESS%".into()),
    )
}

fn servers(
    doc: &ProviderDocument,
    domain: &str,
) -> Vec<(String, String, u16, String, Vec<String>, String)> {
    doc.incoming
        .iter()
        .chain(&doc.outgoing)
        .filter(|s| matches!(s.kind.as_str(), "imap" | "pop3" | "smtp"))
        .map(|s| norm(s, domain))
        .collect()
}

#[test]
fn every_ispdb_file_imports_and_is_served_with_the_same_servers() {
    let dir = data().join("ispdb");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(files.len() >= 160, "corpus has {} files", files.len());
    let (mut imported, mut refused) = (0, Vec::new());
    // Every served document also goes to Python's xml.etree, a parser that is not ours.
    let served_dir = tempfile::tempdir().unwrap();
    let mut expected = String::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let doc = provider::read(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let result = match import::import(&doc, false) {
            Ok(r) => r,
            Err(e @ import::ImportError::Unsupported { .. }) => {
                refused.push(format!("{}: {e}", file.display()));
                // Refused with a reason; leaving the unsupported servers out must then work.
                import::import(&doc, true).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            }
            Err(e) => panic!(
                "{}: refused without an accepted reason: {e}",
                file.display()
            ),
        };
        let toml = import::to_toml(&result, &file.display().to_string());
        let model = mailbeacon_model::load_str(&toml, "imported.toml".as_ref())
            .unwrap_or_else(|e| panic!("{}:\n{e}\n{toml}", file.display()));
        let site = Site::new(&model, Some(443));
        for domain in &doc.domains {
            let d = model
                .find_domain(domain)
                .unwrap_or_else(|| panic!("{}: {domain} not served", file.display()));
            // Served through the HTTP routing core, exactly as a client would receive it.
            let host = format!("autoconfig.{}", mailbeacon_model::name::display(&d.name));
            let response = respond(
                &site,
                &Request {
                    method: &http::Method::GET,
                    secure: true,
                    host: Some(&host),
                    path: "/mail/config-v1.1.xml",
                    query: None,
                    content_type: None,
                    body: b"",
                    accept_language: None,
                    user_agent: None,
                },
            );
            assert_eq!(response.status, 200, "{}: {domain}", file.display());
            let rendered = String::from_utf8(response.body.to_vec()).unwrap();
            let served_file = served_dir.path().join(format!("{domain}.xml"));
            std::fs::write(&served_file, &rendered).unwrap();
            expected.push_str(&format!(
                "{domain}.xml {}\n",
                servers(&doc, &domain.to_ascii_lowercase()).len()
            ));
            let back = provider::read(&rendered).unwrap_or_else(|e| {
                panic!("{}: own output unreadable: {e}\n{rendered}", file.display())
            });
            let domain = domain.to_ascii_lowercase();
            assert_eq!(
                servers(&back, &domain),
                servers(&doc, &domain),
                "{}: {domain}",
                file.display()
            );
        }
        imported += 1;
    }
    assert_eq!(imported, files.len());
    let parsed = python(
        r#"
import os, sys, xml.etree.ElementTree as ET
d = sys.stdin.read().strip()
for f in sorted(os.listdir(d)):
    root = ET.parse(os.path.join(d, f)).getroot()
    p = root.find("emailProvider")
    assert root.tag == "clientConfig" and p is not None and p.get("id"), f
    assert p.find("domain") is not None and p.find("displayName") is not None, f
    n = 0
    for s in list(p.findall("incomingServer")) + list(p.findall("outgoingServer")):
        assert all(s.findtext(k) for k in ("hostname", "port", "socketType", "username")), f
        n += 1
    print(f, n)
"#,
        served_dir.path().display().to_string().as_bytes(),
    );
    let want: std::collections::BTreeSet<&str> = expected.lines().collect();
    let got: std::collections::BTreeSet<&str> = parsed.lines().collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not parsed as served: {missing:?}; unexpected: {extra:?}"
    );
    // Only providers with Exchange-type servers are refused (office365.com in this corpus).
    assert!(
        refused
            .iter()
            .all(|r| r.contains("which mailbeacon does not describe")),
        "{refused:#?}"
    );
}

#[test]
fn the_cli_refuses_with_the_reason_and_skips_on_request() {
    let file = data().join("ispdb/office365.com.xml");
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("incomingServer #3 is of type `ews`"),
        "{}",
        stderr(&out)
    );
    let out = run(&["import", "--skip-unsupported", file.to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("# Left out: incomingServer #6 of type `exchange`"),
        "{text}"
    );
    // What the CLI prints is a valid configuration.
    let cfg = ScratchConfig::new(&text);
    let out = run(&["check", "--config", &cfg.arg()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn hostile_or_broken_xml_is_refused() {
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><clientConfig><emailProvider id="x"><domain>&a;</domain></emailProvider></clientConfig>"#;
    assert_eq!(provider::read(bomb), Err(provider::ReadError::Entity));
    assert!(provider::read("<clientConfig><emailProvider>").is_err());
    assert_eq!(
        provider::read("<html/>"),
        Err(provider::ReadError::NotAutoconfig)
    );
    let incomplete = r#"<clientConfig><emailProvider id="x"><incomingServer type="imap"><hostname>h</hostname></incomingServer></emailProvider></clientConfig>"#;
    assert_eq!(
        provider::read(incomplete).unwrap_err().to_string(),
        "incomingServer #1 has no <port>"
    );
}

#[test]
fn seed_003_config_serves_exactly_the_seed_servers() {
    let seed = provider::read(&seed_003_xml()).unwrap();
    assert_eq!(seed.incoming.len() + seed.outgoing.len(), 6);
    let model =
        mailbeacon_model::load_file(&root().join("config/examples/003-mailbox-org.toml")).unwrap();
    let d = model.find_domain("mailbox.org").unwrap();
    let ours = provider::read(&autoconfig::write(&model.client_settings(d))).unwrap();
    assert_eq!(servers(&ours, "mailbox.org"), servers(&seed, "mailbox.org"));
    assert_eq!(ours.id, seed.id);
    assert_eq!(ours.domains, seed.domains);
    assert_eq!(ours.display_name, seed.display_name);
    assert_eq!(ours.short_name, seed.short_name);
    assert_eq!(ours.documentation, seed.documentation);
}

#[test]
fn seed_003_imports_to_an_equivalent_config() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("seed.xml");
    std::fs::write(&xml, seed_003_xml()).unwrap();
    let out = run(&["import", xml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let model = mailbeacon_model::load_str(&stdout(&out), "imported.toml".as_ref()).unwrap();
    let example =
        mailbeacon_model::load_file(&root().join("config/examples/003-mailbox-org.toml")).unwrap();
    let a = model.client_settings(model.find_domain("mailbox.org").unwrap());
    let b = example.client_settings(example.find_domain("mailbox.org").unwrap());
    assert_eq!(a.incoming, b.incoming);
    assert_eq!(a.outgoing, b.outgoing);
    assert_eq!(a.documentation, b.documentation);
}
