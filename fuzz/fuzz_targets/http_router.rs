//! Any request (method, host, path, query, body, languages split from the input) through the
//! router over the default configuration: a response, never a panic, and never a server error.

#![no_main]

use std::sync::LazyLock;

use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use mailbeacon_http::Site;
use mailbeacon_http::routes::{Request, respond};
use mailbeacon_model::{DEFAULT_CONFIG, load_str};

static SITE: LazyLock<Site> = LazyLock::new(|| {
    let model = load_str(DEFAULT_CONFIG, "default.toml".as_ref()).expect("default config");
    Site::new(&model, Some(443))
});

fuzz_target!(|data: &[u8]| {
    // Fields separated by 0xff, a byte no UTF-8 text holds.
    let mut parts = data.split(|b| *b == 0xff);
    let mut text = || std::str::from_utf8(parts.next().unwrap_or_default()).ok();
    let (Some(method), Some(host), Some(path), Some(query), Some(language)) =
        (text(), text(), text(), text(), text())
    else {
        return;
    };
    let body = data.rsplit(|b| *b == 0xff).next().unwrap_or_default();
    let method = match method.as_bytes().first().map(|b| b % 4) {
        Some(0) => Method::POST,
        Some(1) => Method::HEAD,
        Some(2) => Method::PUT,
        _ => Method::GET,
    };
    let r = respond(
        &SITE,
        &Request {
            method: &method,
            secure: host.len() % 2 == 0,
            host: (!host.is_empty()).then_some(host),
            path,
            query: (!query.is_empty()).then_some(query),
            content_type: Some("text/xml"),
            body,
            accept_language: (!language.is_empty()).then_some(language),
            user_agent: None,
        },
    );
    assert!(r.status < StatusCode::INTERNAL_SERVER_ERROR, "{}", r.status);
});
