//! Routing: one request in, one response out, with no I/O. The server shell turns hyper requests
//! into [`Request`] and [`Response`] back into hyper responses; tests call [`respond`] directly.

use bytes::Bytes;
use http::{Method, StatusCode};
use mailbeacon_formats::autodiscover::{self, ErrorCode, ResponseSchema};
use mailbeacon_formats::{autoconfig, autodiscover_json, mobileconfig, setup_page};
use mailbeacon_model::EmailAddress;

use crate::site::{DomainSite, Site};

/// The parts of a request routing looks at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method.
    pub method: &'a Method,
    /// Whether it arrived over HTTPS.
    pub secure: bool,
    /// The host name (normalised by [`crate::site::host_name`]), if any.
    pub host: Option<&'a str>,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// The query string, if any.
    pub query: Option<&'a str>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The body (already capped by the server).
    pub body: &'a [u8],
    /// The `Accept-Language` header, if any (the setup page's language).
    pub accept_language: Option<&'a str>,
    /// The `User-Agent` header, if any (access log and metrics only; never changes an answer).
    pub user_agent: Option<&'a str>,
}

/// What to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status.
    pub status: StatusCode,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Further headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body (not sent for HEAD).
    pub body: Bytes,
    /// Which domain's configuration answered, for the access log and lab capture.
    pub domain: Option<String>,
}

impl Response {
    fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
            domain: None,
        }
    }

    /// A short plain-text answer, e.g. for errors.
    pub fn text(status: StatusCode, message: &str) -> Response {
        Response::new(status, TEXT, format!("{message}\n"))
    }

    /// A JSON answer.
    pub fn json(status: StatusCode, body: String) -> Response {
        Response::new(status, "application/json; charset=utf-8", body)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    fn for_domain(mut self, d: &DomainSite) -> Response {
        self.domain = Some(d.settings.domain.clone());
        self
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// The endpoints, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Autoconfig,
    AutodiscoverXml,
    AutodiscoverJson,
    Mobileconfig,
    MtaSts,
    Setup,
    Root,
    Health,
}

impl Endpoint {
    /// Paths are matched without regard to letter case: Outlook and Exchange tools vary it.
    fn of(path: &str) -> Option<Endpoint> {
        let p = path.to_ascii_lowercase();
        Some(match p.as_str() {
            "/mail/config-v1.1.xml"
            | "/.well-known/autoconfig/mail/config-v1.1.xml"
            | "/.well-known/mail-v1.xml" => Endpoint::Autoconfig,
            "/autodiscover/autodiscover.xml" => Endpoint::AutodiscoverXml,
            "/autodiscover/autodiscover.json" => Endpoint::AutodiscoverJson,
            _ if p.starts_with("/autodiscover/autodiscover.json/v1.0/") => {
                Endpoint::AutodiscoverJson
            }
            "/mobileconfig" | "/apple/mobileconfig" | "/email.mobileconfig" => {
                Endpoint::Mobileconfig
            }
            "/.well-known/mta-sts.txt" => Endpoint::MtaSts,
            "/setup" => Endpoint::Setup,
            "/" => Endpoint::Root,
            "/healthz" => Endpoint::Health,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Autoconfig => "autoconfig",
            Endpoint::AutodiscoverXml => "autodiscover",
            Endpoint::AutodiscoverJson => "autodiscover_json",
            Endpoint::Mobileconfig => "mobileconfig",
            Endpoint::MtaSts => "mta_sts",
            Endpoint::Setup | Endpoint::Root => "setup",
            Endpoint::Health => "health",
        }
    }

    fn allow(self) -> &'static str {
        match self {
            Endpoint::AutodiscoverXml => "GET, HEAD, POST",
            _ => "GET, HEAD",
        }
    }
}

/// The endpoint `path` is routed to, as a short name for logs and metrics (`other` for none).
pub fn endpoint_name(path: &str) -> &'static str {
    Endpoint::of(path).map_or("other", Endpoint::name)
}

/// Answers one request.
pub fn respond(site: &Site, req: &Request<'_>) -> Response {
    let Some(endpoint) = Endpoint::of(req.path) else {
        return Response::text(StatusCode::NOT_FOUND, "not found");
    };
    let get = req.method == Method::GET || req.method == Method::HEAD;
    let allowed = get || (req.method == Method::POST && endpoint == Endpoint::AutodiscoverXml);
    if !allowed {
        return Response::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            .with_header("allow", endpoint.allow());
    }
    let result = match endpoint {
        Endpoint::Health => Ok(Response::text(StatusCode::OK, "ok")),
        Endpoint::Autoconfig => autoconfig_answer(site, req),
        Endpoint::AutodiscoverXml => autodiscover_answer(site, req),
        Endpoint::AutodiscoverJson => autodiscover_json_answer(site, req),
        Endpoint::Mobileconfig => mobileconfig_answer(site, req),
        Endpoint::MtaSts => mta_sts_answer(site, req),
        Endpoint::Setup => setup_answer(site, req),
        Endpoint::Root => match req.host {
            Some(h) if h.starts_with("autoconfig.") => setup_answer(site, req),
            _ => Err(Response::text(StatusCode::NOT_FOUND, "not found")),
        },
    };
    result.unwrap_or_else(|e| e)
}

type Answer = Result<Response, Response>;

/// The value of query parameter `key` (matched without regard to case), decoded.
fn param(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.into_owned())
}

/// The `emailaddress` parameter, validated; absent is fine, malformed is a 400.
fn query_address(req: &Request<'_>, key: &str) -> Result<Option<EmailAddress>, Response> {
    match param(req.query, key) {
        None => Ok(None),
        Some(a) if a.trim().is_empty() => Ok(None),
        Some(a) => EmailAddress::parse(&a)
            .map(Some)
            .map_err(|e| Response::text(StatusCode::BAD_REQUEST, &format!("{key}: {e}"))),
    }
}

fn unknown_domain() -> Response {
    Response::text(
        StatusCode::NOT_FOUND,
        "no mail domain is served here under that name",
    )
}

fn resolve<'s>(
    site: &'s Site,
    req: &Request<'_>,
    address: Option<&EmailAddress>,
    on: impl Fn(&DomainSite) -> bool,
) -> Result<&'s DomainSite, Response> {
    site.resolve(address, req.host)
        .filter(|d| on(d))
        .ok_or_else(unknown_domain)
}

fn autoconfig_answer(site: &Site, req: &Request<'_>) -> Answer {
    let address = query_address(req, "emailaddress")?;
    let d = resolve(site, req, address.as_ref(), |d| d.features.autoconfig)?;
    Ok(Response::new(
        StatusCode::OK,
        autoconfig::CONTENT_TYPE,
        d.autoconfig.clone(),
    )
    .with_header("access-control-allow-origin", "*")
    .for_domain(d))
}

fn autodiscover_answer(site: &Site, req: &Request<'_>) -> Answer {
    if !req.secure && site.https_port().is_some() {
        // Outlook's "HTTP redirect" method: it expects a 302 to the HTTPS URL, then POSTs there.
        let d = resolve(site, req, None, |d| d.features.autodiscover)?;
        let host = format!("autodiscover.{}", d.settings.domain);
        let location = site.https_url(&host, "/autodiscover/autodiscover.xml");
        return Ok(
            Response::text(StatusCode::FOUND, &format!("see {location}"))
                .with_header("location", location)
                .for_domain(d),
        );
    }
    if req.method != Method::POST {
        // Delta Chat (and Thunderbird after a redirect) send a bodyless GET: settings without
        // LoginName, for the domain of the host name.
        let d = resolve(site, req, None, |d| d.features.autodiscover)?;
        return Ok(Response::new(
            StatusCode::OK,
            autodiscover::CONTENT_TYPE,
            d.autodiscover_generic.clone(),
        )
        .for_domain(d));
    }
    if let Some(ct) = req.content_type {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !(mime.is_empty() || mime == "text/xml" || mime == "application/xml") {
            return Err(Response::text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Autodiscover requests must be text/xml or application/xml",
            ));
        }
    }
    let error = |code: ErrorCode, why: &str| {
        Response::new(
            StatusCode::OK,
            autodiscover::CONTENT_TYPE,
            autodiscover::write_error(code, why),
        )
    };
    let request = match autodiscover::read_request(req.body) {
        Ok(r) => r,
        Err(e) => return Err(error(ErrorCode::InvalidRequest, &e.to_string())),
    };
    let d = resolve(site, req, Some(&request.address), |d| {
        d.features.autodiscover
    })?;
    match request.schema {
        ResponseSchema::Outlook => Ok(Response::new(
            StatusCode::OK,
            autodiscover::CONTENT_TYPE,
            autodiscover::write_settings(&d.settings, Some(&request.address)),
        )
        .for_domain(d)),
        ResponseSchema::MobileSync => Err(error(
            ErrorCode::SchemaUnavailable,
            "this server offers IMAP, POP3 and SMTP, not ActiveSync",
        )
        .for_domain(d)),
        ResponseSchema::Other(_) => Err(error(
            ErrorCode::SchemaUnavailable,
            "only the outlook 2006a response schema is available",
        )
        .for_domain(d)),
    }
}

fn autodiscover_json_answer(site: &Site, req: &Request<'_>) -> Answer {
    // The address comes from `?Email=` or from the path after `/v1.0/`.
    let from_path = req
        .path
        .splitn(5, '/')
        .nth(4)
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        });
    let raw = from_path.or_else(|| param(req.query, "Email"));
    let address = match raw.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => Some(EmailAddress::parse(a).map_err(|e| json_error(&format!("Email: {e}")))?),
    };
    let d = resolve(site, req, address.as_ref(), |d| d.features.autodiscover)?;
    let protocol = param(req.query, "Protocol").unwrap_or_default();
    let pox = site.https_url(
        &format!("autodiscover.{}", d.settings.domain),
        "/autodiscover/autodiscover.xml",
    );
    match autodiscover_json::response(&protocol, &pox) {
        Ok(json) => {
            Ok(Response::new(StatusCode::OK, autodiscover_json::CONTENT_TYPE, json).for_domain(d))
        }
        Err(json) => Err(Response::new(
            StatusCode::BAD_REQUEST,
            autodiscover_json::CONTENT_TYPE,
            json,
        )
        .for_domain(d)),
    }
}

fn json_error(message: &str) -> Response {
    Response::new(
        StatusCode::BAD_REQUEST,
        autodiscover_json::CONTENT_TYPE,
        serde_json::json!({ "ErrorCode": "InvalidUser", "ErrorMessage": message }).to_string(),
    )
}

fn mobileconfig_answer(site: &Site, req: &Request<'_>) -> Answer {
    let address = query_address(req, "emailaddress")?;
    let d = resolve(site, req, address.as_ref(), |d| d.features.mobileconfig)?;
    let mut body = mobileconfig::write(&d.settings, address.as_ref());
    // Signed with the domain's certificate when there is one that can sign (ECDSA P-256).
    if let Some(signer) = site.profile_signer(&d.settings.domain) {
        match signer.sign(&body) {
            Ok(signed) => body = signed,
            Err(e) => tracing::warn!("profile for {} served unsigned: {e}", d.settings.domain),
        }
    }
    Ok(
        Response::new(StatusCode::OK, mobileconfig::CONTENT_TYPE, body)
            .with_header(
                "content-disposition",
                format!(
                    "attachment; filename=\"{}\"",
                    mobileconfig::file_name(&d.settings)
                ),
            )
            .for_domain(d),
    )
}

fn mta_sts_answer(site: &Site, req: &Request<'_>) -> Answer {
    // RFC 8461 §3.3: the policy lives on `mta-sts.<domain>` only.
    let domain = req
        .host
        .and_then(|h| h.strip_prefix("mta-sts."))
        .ok_or_else(|| {
            Response::text(
                StatusCode::NOT_FOUND,
                "MTA-STS policies are served on mta-sts.<domain>",
            )
        })?;
    let d = site.domain(domain).ok_or_else(unknown_domain)?;
    let policy = d.mta_sts.clone().ok_or_else(|| {
        Response::text(
            StatusCode::NOT_FOUND,
            "this domain publishes no MTA-STS policy",
        )
    })?;
    Ok(Response::new(StatusCode::OK, TEXT, policy).for_domain(d))
}

/// The setup page. It is read by people in browsers, so its errors are HTML pages too (in the
/// visitor's language, with the address form to try again).
fn setup_answer(site: &Site, req: &Request<'_>) -> Answer {
    let lang = setup_page::Language::negotiate(req.accept_language);
    let html = |status, page| {
        Response::new(
            status,
            setup_page::CONTENT_TYPE,
            setup_page::write(page, lang),
        )
    };
    let typed = param(req.query, "emailaddress").filter(|a| !a.trim().is_empty());
    let address = match typed.as_deref().map(EmailAddress::parse) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            let typed = typed.as_deref().unwrap_or_default();
            return Err(html(
                StatusCode::BAD_REQUEST,
                setup_page::Page::BadAddress { typed },
            ));
        }
    };
    // An address names its domain: never show another domain's servers for it.
    let d = match &address {
        Some(a) => site.domain(a.domain()).ok_or_else(|| {
            html(
                StatusCode::NOT_FOUND,
                setup_page::Page::NotServed { domain: a.domain() },
            )
        })?,
        None => site
            .resolve(None, req.host)
            .ok_or_else(|| html(StatusCode::NOT_FOUND, setup_page::Page::NoDomain))?,
    };
    let profile = d.features.mobileconfig.then(|| match &address {
        Some(a) => format!(
            "/mobileconfig?emailaddress={}",
            url::form_urlencoded::byte_serialize(a.as_str().as_bytes()).collect::<String>()
        ),
        None => "/mobileconfig".to_owned(),
    });
    let profile_qr = profile.as_deref().and_then(|path| {
        site.https_port()
            .map(|_| site.https_url(&format!("autoconfig.{}", d.settings.domain), path))
    });
    let page = setup_page::Page::Settings {
        settings: &d.settings,
        address: address.as_ref(),
        profile_url: profile.as_deref(),
        profile_qr_url: profile_qr.as_deref(),
    };
    Ok(html(StatusCode::OK, page).for_domain(d))
}
