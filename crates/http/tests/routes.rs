//! The routing core without sockets: every endpoint, host variant, letter case, method and error.

mod common;
use common::XorShift;

use http::{Method, StatusCode};
use mailbeacon_http::Site;
use mailbeacon_http::routes::{Request, Response, respond};

const CONFIG: &str = r#"
[server]
ipv4 = ["192.0.2.1"]
[service.mail]
display_name = "Example <Mail> & Co"
incoming = [
  { protocol = "imap", host = "imap.{domain}", port = 993, security = "tls" },
  { protocol = "imap", host = "imap.{domain}", port = 143, security = "starttls" },
]
outgoing = [{ protocol = "smtp", host = "smtp.{domain}", port = 465, security = "tls" }]
[service.plain]
incoming = [{ protocol = "pop3", host = "pop.shared.test", port = 995, security = "tls" }]
outgoing = [{ protocol = "smtp", host = "smtp.shared.test", port = 587, security = "starttls" }]
username = "localpart"
[[domain]]
name = "example.test"
services = ["mail"]
aliases = ["alias.test"]
mx = ["10 mx.example.test"]
[hosts]
"mx.example.test" = ["192.0.2.2"]
[[domain]]
name = "quiet.test"
services = ["plain"]
mx = ["10 mx.example.test"]
autodiscover = false
mobileconfig = false
mta_sts = false
"#;

fn site() -> Site {
    let model =
        mailbeacon_model::load_str(CONFIG, "t.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"));
    Site::new(&model, Some(8443))
}

struct Ask<'a> {
    method: Method,
    secure: bool,
    host: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    content_type: Option<&'a str>,
    body: &'a [u8],
    accept_language: Option<&'a str>,
}

impl<'a> Ask<'a> {
    fn get(host: &'a str, path: &'a str) -> Ask<'a> {
        Ask {
            method: Method::GET,
            secure: true,
            host: Some(host),
            path,
            query: None,
            content_type: None,
            body: b"",
            accept_language: None,
        }
    }
    fn language(mut self, l: &'a str) -> Self {
        self.accept_language = Some(l);
        self
    }
    fn query(mut self, q: &'a str) -> Self {
        self.query = Some(q);
        self
    }
    fn method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }
    fn plain(mut self) -> Self {
        self.secure = false;
        self
    }
    fn body(mut self, b: &'a [u8]) -> Self {
        self.body = b;
        self
    }
    fn send(&self, site: &Site) -> Response {
        respond(
            site,
            &Request {
                method: &self.method,
                secure: self.secure,
                host: self.host,
                path: self.path,
                query: self.query,
                content_type: self.content_type,
                body: self.body,
                accept_language: self.accept_language,
                user_agent: None,
            },
        )
    }
}

fn body(r: &Response) -> String {
    String::from_utf8(r.body.to_vec()).unwrap()
}

fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn autoconfig_on_every_url_and_host_clients_use() {
    let site = site();
    for (host, path) in [
        ("autoconfig.example.test", "/mail/config-v1.1.xml"),
        (
            "example.test",
            "/.well-known/autoconfig/mail/config-v1.1.xml",
        ),
        ("autoconfig.example.test", "/.well-known/mail-v1.xml"),
        ("imap.example.test", "/mail/config-v1.1.xml"),
    ] {
        for query in [
            None,
            Some("emailaddress=alice%40example.test"),
            Some("emailaddress=alice%40example.test&emailmd5=0123abcd"),
        ] {
            let mut ask = Ask::get(host, path);
            ask.query = query;
            let r = ask.send(&site);
            assert_eq!(r.status, StatusCode::OK, "{host}{path} {query:?}");
            assert_eq!(r.content_type, "application/xml; charset=utf-8");
            assert!(body(&r).contains("<domain>example.test</domain>"));
            assert_eq!(r.domain.as_deref(), Some("example.test"));
        }
    }
    // Plain HTTP serves it too (clients follow no redirect here and some only try HTTP).
    let r = Ask::get("autoconfig.example.test", "/mail/config-v1.1.xml")
        .plain()
        .send(&site);
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn the_address_decides_the_domain_and_reveals_nothing_about_the_user() {
    let site = site();
    let a = Ask::get("autoconfig.example.test", "/mail/config-v1.1.xml")
        .query("emailaddress=bob%40quiet.test")
        .send(&site);
    assert!(body(&a).contains("<domain>quiet.test</domain>"));
    assert!(body(&a).contains("<username>%EMAILLOCALPART%</username>"));
    let b = Ask::get("autoconfig.example.test", "/mail/config-v1.1.xml")
        .query("emailaddress=nobody-here%40quiet.test")
        .send(&site);
    assert_eq!(
        a, b,
        "existing or not, every local part gets the same answer"
    );
}

#[test]
fn aliases_are_answered_with_their_own_domain() {
    let r = Ask::get("autoconfig.alias.test", "/mail/config-v1.1.xml").send(&site());
    let text = body(&r);
    assert!(text.contains("<domain>alias.test</domain>"), "{text}");
    assert!(
        text.contains("<hostname>imap.example.test</hostname>"),
        "{text}"
    );
}

#[test]
fn unknown_domains_and_paths_are_404_never_2xx() {
    let site = site();
    let r = Ask::get("autoconfig.elsewhere.test", "/mail/config-v1.1.xml").send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = Ask::get("autoconfig.example.test", "/nothing").send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let mut no_host = Ask::get("x", "/mail/config-v1.1.xml");
    no_host.host = None;
    assert_eq!(no_host.send(&site).status, StatusCode::NOT_FOUND);
    // An address in an unknown domain at an unknown host: nothing to say.
    let r = Ask::get("127.0.0.1", "/mail/config-v1.1.xml")
        .query("emailaddress=a%40elsewhere.test")
        .send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[test]
fn malformed_addresses_are_400_with_the_reason() {
    for bad in ["a%40b%40c.test", "%40example.test", "a%20b%40example.test"] {
        let r = Ask::get("autoconfig.example.test", "/mail/config-v1.1.xml")
            .query(&format!("emailaddress={bad}"))
            .send(&site());
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body(&r).starts_with("emailaddress: "), "{}", body(&r));
    }
    let long = format!("emailaddress={}%40example.test", "a".repeat(300));
    let r = Ask::get("autoconfig.example.test", "/mail/config-v1.1.xml")
        .query(&long)
        .send(&site());
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[test]
fn wrong_methods_get_405_with_allow() {
    let site = site();
    let r = Ask::get("autoconfig.example.test", "/mail/config-v1.1.xml")
        .method(Method::POST)
        .send(&site);
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&r, "allow"), Some("GET, HEAD"));
    let r = Ask::get(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
    )
    .method(Method::DELETE)
    .send(&site);
    assert_eq!(header(&r, "allow"), Some("GET, HEAD, POST"));
    let r = Ask::get("example.test", "/healthz")
        .method(Method::HEAD)
        .send(&site);
    assert_eq!(r.status, StatusCode::OK);
}

const POX: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>carol@alias.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

#[test]
fn autodiscover_post_in_any_letter_case() {
    let site = site();
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
        "/AutoDiscover/AutoDiscover.XML",
    ] {
        for ct in [
            Some("text/xml; charset=utf-8"),
            Some("application/xml"),
            None,
        ] {
            let mut ask = Ask::get("example.test", path)
                .method(Method::POST)
                .body(POX.as_bytes());
            ask.content_type = ct;
            let r = ask.send(&site);
            assert_eq!(r.status, StatusCode::OK, "{path} {ct:?}");
            let text = body(&r);
            assert!(
                text.contains("<LoginName>carol@alias.test</LoginName>"),
                "{text}"
            );
            assert!(
                text.contains("<Encryption>TLS</Encryption>"),
                "STARTTLS 143: {text}"
            );
            assert_eq!(r.domain.as_deref(), Some("alias.test"));
        }
    }
    let mut ask = Ask::get("example.test", "/autodiscover/autodiscover.xml")
        .method(Method::POST)
        .body(POX.as_bytes());
    ask.content_type = Some("application/x-www-form-urlencoded");
    assert_eq!(ask.send(&site).status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn autodiscover_errors_are_documents_with_codes() {
    let site = site();
    let post = |b: &[u8]| {
        Ask::get(
            "autodiscover.example.test",
            "/autodiscover/autodiscover.xml",
        )
        .method(Method::POST)
        .body(b)
        .send(&site)
    };
    for bad in [
        &b"<Autodiscover><Request>"[..],
        b"",
        b"<Autodiscover><Request></Request></Autodiscover>",
        br#"<!DOCTYPE a [<!ENTITY x "y">]><Autodiscover/>"#,
    ] {
        let r = post(bad);
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            body(&r).contains("<ErrorCode>600</ErrorCode>"),
            "{}",
            body(&r)
        );
    }
    let mobile = POX.replace(
        "outlook/responseschema/2006a",
        "mobilesync/responseschema/2006",
    );
    let r = post(mobile.as_bytes());
    assert!(body(&r).contains("<ErrorCode>601</ErrorCode>"));
    let stranger = POX.replace("carol@alias.test", "carol@elsewhere.test");
    let r = Ask::get("127.0.0.1", "/autodiscover/autodiscover.xml")
        .method(Method::POST)
        .body(stranger.as_bytes())
        .send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Autodiscover switched off for a domain: 404.
    let quiet = POX.replace("carol@alias.test", "carol@quiet.test");
    assert_eq!(post(quiet.as_bytes()).status, StatusCode::NOT_FOUND);
}

#[test]
fn autodiscover_get_gives_generic_settings_and_http_redirects() {
    let site = site();
    let r = Ask::get(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
    )
    .send(&site);
    assert_eq!(r.status, StatusCode::OK);
    assert!(body(&r).contains("<Server>imap.example.test</Server>"));
    assert!(!body(&r).contains("LoginName"));
    let r = Ask::get(
        "autodiscover.example.test",
        "/autodiscover/autodiscover.xml",
    )
    .plain()
    .send(&site);
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        header(&r, "location"),
        Some("https://autodiscover.example.test:8443/autodiscover/autodiscover.xml")
    );
}

#[test]
fn autodiscover_json_both_forms() {
    let site = site();
    let want = r#"{"Protocol":"AutodiscoverV1","Url":"https://autodiscover.example.test:8443/autodiscover/autodiscover.xml"}"#;
    let r = Ask::get("example.test", "/autodiscover/autodiscover.json")
        .query("Email=a%40example.test&Protocol=AutodiscoverV1&RedirectCount=1")
        .send(&site);
    assert_eq!((r.status, body(&r).as_str()), (StatusCode::OK, want));
    let r = Ask::get(
        "127.0.0.1",
        "/Autodiscover/Autodiscover.json/v1.0/a%40example.test",
    )
    .query("protocol=autodiscoverv1")
    .send(&site);
    assert_eq!((r.status, body(&r).as_str()), (StatusCode::OK, want));
    let r = Ask::get(
        "example.test",
        "/autodiscover/autodiscover.json/v1.0/a@example.test",
    )
    .query("Protocol=ActiveSync%3Cb%3E")
    .send(&site);
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(body(&r).contains("'ActiveSyncb'"), "{}", body(&r));
    assert_eq!(r.content_type, "application/json; charset=utf-8");
}

#[test]
fn mobileconfig_is_an_attachment_and_per_feature() {
    let site = site();
    for path in [
        "/mobileconfig",
        "/apple/mobileconfig",
        "/email.mobileconfig",
    ] {
        let r = Ask::get("autoconfig.example.test", path)
            .query("emailaddress=dave%40example.test")
            .send(&site);
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.content_type, "application/x-apple-aspen-config");
        assert_eq!(
            header(&r, "content-disposition"),
            Some("attachment; filename=\"example.test.mobileconfig\"")
        );
        assert!(body(&r).contains("<string>dave@example.test</string>"));
        assert!(
            !body(&r)
                .to_lowercase()
                .contains("password</key>\n\t\t\t<string>")
        );
    }
    let r = Ask::get("autoconfig.quiet.test", "/mobileconfig").send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[test]
fn mta_sts_only_on_its_host_and_only_when_published() {
    let site = site();
    let r = Ask::get("mta-sts.example.test", "/.well-known/mta-sts.txt").send(&site);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type, "text/plain; charset=utf-8");
    assert!(body(&r).starts_with("version: STSv1\r\n"));
    assert!(body(&r).contains("mx: mx.example.test\r\n"));
    let r = Ask::get("example.test", "/.well-known/mta-sts.txt").send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = Ask::get("mta-sts.quiet.test", "/.well-known/mta-sts.txt").send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[test]
fn setup_page_escapes_and_links_the_profile() {
    let site = site();
    let r = Ask::get("autoconfig.example.test", "/").send(&site);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type, "text/html; charset=utf-8");
    let page = body(&r);
    assert!(page.contains("Example &lt;Mail&gt; &amp; Co"), "{page}");
    assert!(page.contains(
        "<td data-label=\"Server\">imap.example.test</td><td data-label=\"Port\">993</td>\
         <td data-label=\"Security\">SSL/TLS</td><td data-label=\"Authentication\">Normal password</td>"
    ), "{page}");
    assert!(page.contains("href=\"/mobileconfig\""));
    assert!(!page.contains("<script"));
    let r = Ask::get("anything.invalid", "/setup")
        .query("emailaddress=%3Cb%3E%40quiet.test")
        .send(&site);
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "angle brackets are refused"
    );
    assert_eq!(
        r.content_type, "text/html; charset=utf-8",
        "a page for the browser"
    );
    let page = body(&r);
    assert!(
        page.contains("&lt;b&gt;@quiet.test"),
        "what was typed, escaped: {page}"
    );
    assert!(
        page.contains("<form method=\"get\" action=\"/setup\">"),
        "{page}"
    );
    assert!(!page.contains("<b>"), "{page}");
    let r = Ask::get("anything.invalid", "/setup")
        .query("emailaddress=erin%40quiet.test")
        .send(&site);
    let page = body(&r);
    assert!(
        page.contains("<td data-label=\"Username\">erin</td>"),
        "{page}"
    );
    assert!(
        page.contains("value=\"erin@quiet.test\""),
        "the form keeps the address: {page}"
    );
    assert!(
        !page.contains("mobileconfig"),
        "profiles are off for quiet.test"
    );
    // `/` elsewhere than autoconfig.<d> is not the setup page.
    let r = Ask::get("example.test", "/").send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[test]
fn setup_page_shows_the_profile_link_as_a_qr_code_for_phones() {
    let site = site();
    let page = body(&Ask::get("autoconfig.example.test", "/setup").send(&site));
    let figure = page.find("<figure class=\"qr\"><svg").expect("a QR code");
    assert!(page[figure..].contains("</svg></figure>"), "{page}");
    assert!(!page.contains("<script"));
    // Profiles off for quiet.test: no link, no code.
    let page = body(&Ask::get("autoconfig.quiet.test", "/setup").send(&site));
    assert!(!page.contains("<svg"), "{page}");
    // Without HTTPS there is no absolute profile URL to encode.
    let model = mailbeacon_model::load_str(CONFIG, "t.toml".as_ref()).unwrap();
    let plain = Site::new(&model, None);
    let page = body(&Ask::get("autoconfig.example.test", "/setup").send(&plain));
    assert!(page.contains("href=\"/mobileconfig\""), "{page}");
    assert!(!page.contains("<svg"), "{page}");
}

#[test]
fn setup_page_never_shows_another_domains_servers() {
    let site = site();
    // Asked on example.test's own host name, for an address of a domain not served here.
    let r = Ask::get("autoconfig.example.test", "/setup")
        .query("emailaddress=bob%40elsewhere.example")
        .send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.content_type, "text/html; charset=utf-8");
    let page = body(&r);
    assert!(
        page.contains("elsewhere.example is not one of them"),
        "{page}"
    );
    assert!(!page.contains("imap.example.test"), "{page}");
    // A host name that belongs to no domain, without an address: the form, not a bare 404 text.
    let r = Ask::get("nowhere.invalid", "/setup").send(&site);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(body(&r).contains("name=\"emailaddress\""));
}

#[test]
fn setup_page_speaks_the_visitors_language() {
    let site = site();
    for (header, lang, word) in [
        ("de-DE,de;q=0.9,en;q=0.5", "de", "Posteingang"),
        ("fr", "fr", "Courrier entrant"),
        ("es-ES", "es", "Correo entrante"),
        ("bg", "bg", "Входяща поща"),
        ("cs;q=0.9, en;q=0.8", "cs", "Příchozí pošta"),
        ("ja", "en", "Incoming mail"),
    ] {
        let r = Ask::get("autoconfig.example.test", "/")
            .language(header)
            .send(&site);
        let page = body(&r);
        assert!(
            page.contains(&format!("<html lang=\"{lang}\">")),
            "{header}: {page}"
        );
        assert!(page.contains(word), "{header}: {page}");
    }
}

/// A small deterministic generator, so a failure reproduces exactly.
impl XorShift {
    /// `seed` with a few bytes replaced, inserted or removed.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        const ALPHABET: &[u8] = b"<>/&;%@?=#:.\"'!-[]\x00\xff aZ9";
        for _ in 0..1 + self.below(6) {
            let at = self.below(v.len() + 1);
            match self.below(3) {
                0 if at < v.len() => v[at] = ALPHABET[self.below(ALPHABET.len())],
                1 => v.insert(at, ALPHABET[self.below(ALPHABET.len())]),
                _ if at < v.len() => {
                    v.remove(at);
                }
                _ => {}
            }
        }
        v
    }
}

#[test]
fn mutated_requests_never_panic_and_always_get_a_status() {
    let site = site();
    let mut rng = XorShift(0x5eed_1234_abcd_0042);
    let paths: [&[u8]; 6] = [
        b"/mail/config-v1.1.xml",
        b"/autodiscover/autodiscover.xml",
        b"/autodiscover/autodiscover.json/v1.0/a%40example.test",
        b"/mobileconfig",
        b"/setup",
        b"/.well-known/mta-sts.txt",
    ];
    let queries: [&[u8]; 3] = [
        b"emailaddress=alice%40example.test",
        b"Email=a%40example.test&Protocol=AutodiscoverV1",
        b"emailaddress=%E2%82%AC%40alias.test",
    ];
    let hosts: [&[u8]; 3] = [
        b"autoconfig.example.test",
        b"mta-sts.example.test",
        b"quiet.test",
    ];
    for i in 0..20_000 {
        let path = String::from_utf8_lossy(&rng.mutate(paths[i % paths.len()])).into_owned();
        let query = String::from_utf8_lossy(&rng.mutate(queries[i % queries.len()])).into_owned();
        let host = String::from_utf8_lossy(&rng.mutate(hosts[i % hosts.len()])).into_owned();
        let body = rng.mutate(POX.as_bytes());
        let method = [Method::GET, Method::POST, Method::HEAD, Method::PUT][i % 4].clone();
        let r = respond(
            &site,
            &Request {
                method: &method,
                secure: i % 2 == 0,
                host: Some(&host),
                path: &path,
                query: Some(&query),
                content_type: None,
                body: &body,
                accept_language: Some(&query),
                user_agent: None,
            },
        );
        assert!(
            r.status.is_success() || r.status.is_redirection() || r.status.is_client_error(),
            "{method} {host}{path}?{query}: {}",
            r.status
        );
    }
}
