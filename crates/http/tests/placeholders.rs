//! `{domain}` never reaches a client: over generated configurations that put the placeholder in
//! every value that may hold it, no served byte — zone, autoconfig, Autodiscover POX and JSON,
//! profile, setup page, MTA-STS — contains it, and each domain's documents and zone name the
//! domain's own hosts.

mod common;
use common::XorShift;

use http::{Method, StatusCode};
use mailbeacon_http::Site;
use mailbeacon_http::routes::{Request, respond};
use mailbeacon_model::{ZoneSet, zonefile};

/// One generated configuration: every optional text either uses `{domain}` or a fixed value.
fn config(rng: &mut XorShift) -> (String, Vec<String>) {
    let t = |rng: &mut XorShift, templ: &str, fixed: &str| {
        if rng.coin() {
            templ.to_owned()
        } else {
            fixed.to_owned()
        }
    };
    let mut c = String::from("[server]\nipv4 = [\"192.0.2.1\"]\n\n[service.mail]\n");
    c += &format!(
        "display_name = \"{}\"\n",
        t(rng, "Mail for {domain}", "Plain mail")
    );
    c += &format!("short_name = \"{}\"\n", t(rng, "{domain}", "short"));
    c += &format!(
        "incoming = [{{ protocol = \"imap\", host = \"{}\" }}, {{ protocol = \"pop3\", host = \"pop.{{domain}}\" }}]\n",
        t(rng, "imap.{domain}", "imap.provider.test")
    );
    c += &format!(
        "outgoing = [{{ host = \"{}\", port = 587, security = \"starttls\" }}]\n",
        t(rng, "smtp.{domain}", "smtp.provider.test")
    );
    c += &format!(
        "webmail = \"{}\"\n",
        t(
            rng,
            "https://webmail.{domain}/",
            "https://webmail.provider.test/"
        )
    );
    c += &format!(
        "caldav = \"{}\"\n",
        t(
            rng,
            "https://dav.{domain}/cal/{domain}/",
            "https://dav.provider.test/cal/"
        )
    );
    c += &format!(
        "carddav = \"{}\"\n",
        t(
            rng,
            "https://dav.{domain}/card/",
            "https://dav.provider.test:8443/card/"
        )
    );
    c += &format!(
        "documentation = [{{ url = \"{}\", description = {{ en = \"{}\" }} }}]\n",
        t(
            rng,
            "https://help.{domain}/mail",
            "https://help.provider.test/"
        ),
        t(rng, "Help for {domain}", "Help")
    );
    if rng.coin() {
        c += "oauth2 = { issuer = \"{domain}\", scope = \"mail {domain}\", auth_url = \"https://login.{domain}/auth\", token_url = \"https://login.{domain}/token\" }\n";
    }
    c += "\n[defaults]\n";
    c += &format!(
        "spf = \"{}\"\n",
        t(
            rng,
            "v=spf1 mx include:_spf.{domain} -all",
            "v=spf1 mx -all"
        )
    );
    c += &format!(
        "dmarc = \"{}\"\n",
        t(
            rng,
            "v=DMARC1; p=none; rua=mailto:dmarc@{domain}",
            "v=DMARC1; p=none"
        )
    );
    c += &format!(
        "tls_rpt = [\"{}\"]\n",
        t(rng, "mailto:tlsrpt@{domain}", "mailto:tlsrpt@provider.test")
    );
    c += &format!(
        "caa = ['{}']\n",
        t(
            rng,
            "0 iodef \"mailto:security@{domain}\"",
            "0 issue \"letsencrypt.org\""
        )
    );
    c += &format!(
        "dkim = [{{ selector = \"s1\", value = \"{}\" }}]\n",
        t(rng, "v=DKIM1; n={domain}; p=MIIB", "v=DKIM1; p=MIIB")
    );
    c += &format!(
        "records = '''\n{}\n'''\n",
        t(
            rng,
            "www CNAME web.{domain}.\nweb A 192.0.2.7",
            "www A 192.0.2.8"
        )
    );
    let policy_mx = t(rng, "mx.{domain}", "*.provider.test");
    c += &format!(
        "mx = [\"10 mx.{{domain}}\"]\nmta_sts_policy = {{ mode = \"enforce\", max_age = 86400, mx = [\"{policy_mx}\"] }}\n"
    );
    let mut domains = Vec::new();
    let n = 1 + rng.below(3);
    for i in 0..n {
        let name = format!("d{i}-{}.test", rng.below(1000));
        c += &format!("\n[[domain]]\nname = \"{name}\"\n");
        domains.push(name.clone());
        if rng.coin() {
            let alias = format!("alias-{i}.test");
            c += &format!("aliases = [\"{alias}\"]\n");
            domains.push(alias);
        }
    }
    c += "\n[hosts]\n\"mx.{domain}\" = [\"192.0.2.2\"]\n";
    (c, domains)
}

/// Method, host, path, query, body.
type Ask<'a> = (Method, &'a str, &'a str, Option<&'a str>, &'a [u8]);

const POX: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>ann@DOMAIN</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

fn leaks(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    text.contains("{domain}") || text.contains("%7bdomain%7d")
}

#[test]
fn no_served_byte_ever_carries_a_placeholder() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..60 {
        let (text, domains) = config(&mut rng);
        let model = mailbeacon_model::load_str(&text, "gen.toml".as_ref())
            .unwrap_or_else(|e| panic!("round {round}: generated config refused:\n{e}\n{text}"));
        let zones = ZoneSet::derive(&model);
        for z in zones.zones() {
            let file = zonefile::zone_file(z);
            assert!(
                !leaks(file.as_bytes()),
                "round {round} zone:\n{file}\n{text}"
            );
        }
        let site = Site::new(&model, Some(443));
        for d in &domains {
            let address = format!("ann%40{d}");
            let body = POX.replace("DOMAIN", d);
            let autoconfig_host = format!("autoconfig.{d}");
            let mta_sts_host = format!("mta-sts.{d}");
            let query = format!("emailaddress={address}");
            let json_path = format!("/autodiscover/autodiscover.json/v1.0/ann@{d}");
            let asks: [Ask<'_>; 7] = [
                (
                    Method::GET,
                    &autoconfig_host,
                    "/mail/config-v1.1.xml",
                    Some(&query),
                    b"",
                ),
                (
                    Method::POST,
                    &autoconfig_host,
                    "/autodiscover/autodiscover.xml",
                    None,
                    body.as_bytes(),
                ),
                (
                    Method::GET,
                    &autoconfig_host,
                    &json_path,
                    Some("Protocol=AutodiscoverV1"),
                    b"",
                ),
                (
                    Method::GET,
                    &autoconfig_host,
                    "/mobileconfig",
                    Some(&query),
                    b"",
                ),
                (Method::GET, &autoconfig_host, "/setup", Some(&query), b""),
                (Method::GET, &autoconfig_host, "/", None, b""),
                (
                    Method::GET,
                    &mta_sts_host,
                    "/.well-known/mta-sts.txt",
                    None,
                    b"",
                ),
            ];
            for (method, host, path, query, body) in asks {
                let r = respond(
                    &site,
                    &Request {
                        method: &method,
                        secure: true,
                        host: Some(host),
                        path,
                        query,
                        content_type: Some("text/xml"),
                        body,
                        accept_language: None,
                        user_agent: None,
                    },
                );
                assert!(
                    r.status == StatusCode::OK || r.status == StatusCode::FOUND,
                    "round {round}: {method} {host}{path} → {}\n{text}",
                    r.status
                );
                assert!(
                    !leaks(&r.body),
                    "round {round}: {host}{path}:\n{}\n{text}",
                    String::from_utf8_lossy(&r.body)
                );
                let headers: String = r.headers.iter().map(|(_, v)| v.as_str()).collect();
                assert!(!leaks(headers.as_bytes()), "round {round}: {headers}");
            }
        }
    }
}

#[test]
fn dav_urls_with_the_placeholder_are_published_per_domain() {
    let text = r#"
[server]
ipv4 = ["192.0.2.1"]
[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
caldav = "https://dav.{domain}/cal/"
carddav = "https://dav.{domain}/card/"
[[domain]]
name = "one.test"
aliases = ["parked.test"]
[[domain]]
name = "two.test"
"#;
    let model =
        mailbeacon_model::load_str(text, "t.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let zones = ZoneSet::derive(&model);
    let file = |origin: &str| {
        zones
            .zones()
            .iter()
            .find(|z| mailbeacon_model::name::display(&z.origin) == origin)
            .map(|z| zonefile::zone_file(z))
            .unwrap_or_else(|| panic!("no zone {origin}"))
    };
    let one = file("one.test");
    assert!(
        one.contains("_caldavs._tcp\t3600\tIN\tSRV\t0 1 443 dav.one.test."),
        "{one}"
    );
    assert!(
        one.contains("_caldavs._tcp\t3600\tIN\tTXT\t\"path=/cal/\""),
        "{one}"
    );
    assert!(
        one.contains("_carddavs._tcp\t3600\tIN\tSRV\t0 1 443 dav.one.test."),
        "{one}"
    );
    let two = file("two.test");
    assert!(two.contains("SRV\t0 1 443 dav.two.test."), "{two}");
    // An alias is answered like its primary: the primary's DAV host.
    let parked = file("parked.test");
    assert!(parked.contains("SRV\t0 1 443 dav.one.test."), "{parked}");

    let site = Site::new(&model, Some(443));
    let r = respond(
        &site,
        &Request {
            method: &Method::GET,
            secure: true,
            host: Some("autoconfig.two.test"),
            path: "/mobileconfig",
            query: Some("emailaddress=ann%40two.test"),
            content_type: None,
            body: b"",
            accept_language: None,
            user_agent: None,
        },
    );
    let profile = String::from_utf8_lossy(&r.body);
    assert!(
        profile.contains("<string>dav.two.test</string>"),
        "{profile}"
    );
}
