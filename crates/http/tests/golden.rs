//! Golden files: the exact bytes of every format, so any change to what clients receive shows
//! up in review. `UPDATE_GOLDEN=1 cargo test -p mailbeacon-http --test golden` rewrites them.

use std::path::PathBuf;

use http::Method;
use mailbeacon_http::Site;
use mailbeacon_http::routes::{Request, respond};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn site() -> Site {
    let model =
        mailbeacon_model::load_file(&dir().join("config.toml")).unwrap_or_else(|e| panic!("{e}"));
    Site::new(&model, Some(443))
}

fn check(name: &str, host: &str, method: Method, path: &str, query: Option<&str>, body: &[u8]) {
    let site = site();
    let response = respond(
        &site,
        &Request {
            method: &method,
            secure: true,
            host: Some(host),
            path,
            query,
            content_type: None,
            body,
            accept_language: None,
            user_agent: None,
        },
    );
    let got = format!(
        "{} {}\n\n{}",
        response.status.as_u16(),
        response.content_type,
        String::from_utf8_lossy(&response.body)
    );
    let file = dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, &got).unwrap();
    }
    let want = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", file.display()));
    assert_eq!(got, want, "{name} changed; review it, then UPDATE_GOLDEN=1");
}

#[test]
fn autoconfig() {
    check(
        "autoconfig.xml",
        "autoconfig.golden.test",
        Method::GET,
        "/mail/config-v1.1.xml",
        None,
        b"",
    );
}

#[test]
fn autoconfig_for_the_alias() {
    check(
        "autoconfig-alias.xml",
        "autoconfig.gilded.test",
        Method::GET,
        "/mail/config-v1.1.xml",
        Some("emailaddress=x%40gilded.test"),
        b"",
    );
}

const POX: &[u8] = br#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>ann@golden.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"#;

#[test]
fn autodiscover() {
    check(
        "autodiscover.xml",
        "autodiscover.golden.test",
        Method::POST,
        "/autodiscover/autodiscover.xml",
        None,
        POX,
    );
}

#[test]
fn autodiscover_error() {
    check(
        "autodiscover-600.xml",
        "autodiscover.golden.test",
        Method::POST,
        "/autodiscover/autodiscover.xml",
        None,
        b"<Autodiscover>",
    );
}

#[test]
fn autodiscover_json() {
    check(
        "autodiscover.json",
        "golden.test",
        Method::GET,
        "/autodiscover/autodiscover.json/v1.0/ann@golden.test",
        Some("Protocol=AutodiscoverV1"),
        b"",
    );
}

#[test]
fn mobileconfig() {
    check(
        "profile.mobileconfig",
        "autoconfig.golden.test",
        Method::GET,
        "/mobileconfig",
        Some("emailaddress=ann%40golden.test"),
        b"",
    );
}

#[test]
fn setup_page() {
    check(
        "setup.html",
        "autoconfig.golden.test",
        Method::GET,
        "/",
        None,
        b"",
    );
}

#[test]
fn mta_sts() {
    check(
        "mta-sts.txt",
        "mta-sts.golden.test",
        Method::GET,
        "/.well-known/mta-sts.txt",
        None,
        b"",
    );
}
