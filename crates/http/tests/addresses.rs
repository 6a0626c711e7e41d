//! Whatever an address holds, the documents written for it stay well-formed: over generated
//! addresses (quotes, ampersands, angle brackets, control and non-characters, Unicode of every
//! width), each one the router accepts yields XML that parses, a plist that parses, JSON that
//! parses and HTML in which the address appears only escaped; each one it refuses gets a 400 (or
//! Autodiscover's error 600), never a broken document.

mod common;
use common::XorShift;

use http::{Method, StatusCode};
use mailbeacon_http::Site;
use mailbeacon_http::routes::{Request, Response, respond};

const CONFIG: &str = r#"
[server]
ipv4 = ["192.0.2.1"]
[service.mail]
username = "%EMAILLOCALPART%+x@%EMAILDOMAIN%"
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
[[domain]]
name = "example.test"
"#;

const PIECES: &[&str] = &[
    "a", "Z", "0", ".", "-", "_", "+", "&", "'", "\"", "<", ">", "&amp;", "]]>", "%", "%40", "\\",
    "\u{0}", "\u{1}", "\t", "\u{7f}", "\u{85}", "\u{fffe}", "\u{ffff}", "\u{fdd0}", "\u{200b}",
    "é", "ß", "Ω", "я", "中", "😀", "\u{202e}", "\u{301}", "@", " ", "=", "?", "#", "/",
];

fn address(rng: &mut XorShift) -> String {
    let n = 1 + rng.below(12);
    let local: String = (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect();
    format!("{local}@example.test")
}

fn ask(site: &Site, method: Method, path: &str, query: Option<&str>, body: &[u8]) -> Response {
    respond(
        site,
        &Request {
            method: &method,
            secure: true,
            host: Some("autoconfig.example.test"),
            path,
            query,
            content_type: Some("text/xml"),
            body,
            accept_language: None,
            user_agent: None,
        },
    )
}

fn well_formed_xml(bytes: &[u8]) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            Ok(quick_xml::events::Event::Text(t)) => {
                let raw: &str = &t[..];
                quick_xml::escape::unescape(raw).map_err(|e| e.to_string())?;
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        buf.clear();
    }
}

/// No character XML 1.0 forbids, anywhere in the document.
fn only_xml_chars(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{d7ff}').contains(&c)
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}'
    })
}

#[test]
fn every_accepted_address_yields_well_formed_documents() {
    let model = mailbeacon_model::load_str(CONFIG, "t.toml".as_ref()).unwrap();
    let site = Site::new(&model, Some(443));
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..3000 {
        let a = address(&mut rng);
        let q: String = url::form_urlencoded::byte_serialize(a.as_bytes()).collect();
        let query = format!("emailaddress={q}");

        let r = ask(
            &site,
            Method::GET,
            "/mail/config-v1.1.xml",
            Some(&query),
            b"",
        );
        if r.status != StatusCode::OK {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{a:?}");
            refused += 1;
            continue;
        }
        accepted += 1;
        let text = String::from_utf8(r.body.to_vec()).expect("UTF-8");
        assert!(only_xml_chars(&text), "{a:?}: {text}");
        well_formed_xml(&r.body).unwrap_or_else(|e| panic!("{a:?}: autoconfig: {e}\n{text}"));

        let r = ask(&site, Method::GET, "/mobileconfig", Some(&query), b"");
        assert_eq!(r.status, StatusCode::OK, "{a:?}");
        plist::Value::from_reader_xml(&r.body[..])
            .unwrap_or_else(|e| panic!("{a:?}: profile: {e}"));
        assert!(only_xml_chars(&String::from_utf8_lossy(&r.body)), "{a:?}");

        let escaped = quick_xml::escape::escape(a.as_str());
        let pox = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover \
             xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
             <Request><EMailAddress>{escaped}</EMailAddress><AcceptableResponseSchema>\
             http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\
             </AcceptableResponseSchema></Request></Autodiscover>"
        );
        let r = ask(
            &site,
            Method::POST,
            "/autodiscover/autodiscover.xml",
            None,
            pox.as_bytes(),
        );
        assert_eq!(r.status, StatusCode::OK, "{a:?}");
        well_formed_xml(&r.body).unwrap_or_else(|e| {
            panic!(
                "{a:?}: autodiscover: {e}\n{}",
                String::from_utf8_lossy(&r.body)
            )
        });
        assert!(only_xml_chars(&String::from_utf8_lossy(&r.body)), "{a:?}");

        let path = format!(
            "/autodiscover/autodiscover.json/v1.0/{}",
            percent_encode(&a)
        );
        let r = ask(
            &site,
            Method::GET,
            &path,
            Some("Protocol=AutodiscoverV1"),
            b"",
        );
        serde_json::from_slice::<serde_json::Value>(&r.body)
            .unwrap_or_else(|e| panic!("{a:?}: json: {e}"));

        let r = ask(&site, Method::GET, "/setup", Some(&query), b"");
        assert_eq!(r.status, StatusCode::OK, "{a:?}");
        let page = String::from_utf8(r.body.to_vec()).expect("UTF-8");
        let local = a.rsplit_once('@').map_or("", |(l, _)| l);
        // `<`, `>` and `"` never survive escaping; (`&` does, inside `&amp;`).
        if local.contains(['<', '>', '"']) {
            assert!(
                !page.contains(local),
                "{a:?} appears unescaped in the setup page"
            );
        }
    }
    // The generator must exercise both sides.
    assert!(
        accepted > 100 && refused > 100,
        "{accepted} accepted, {refused} refused"
    );
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
