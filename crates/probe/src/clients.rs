//! Each client's discovery chain, walked as the client walks it (read from the clients' own source;
//! the table in README's "Probe" section summarises them): which URLs in which order, with or without
//! the address in the query, which answers end the search, MX and SRV fallbacks.
//!
//! Lookups of Mozilla's ISPDB (`autoconfig.thunderbird.net`) are left out: they describe
//! providers listed there, not what the domain publishes, and need the internet.

use std::time::Instant;

use hickory_proto::rr::{Name, RData, RecordType};
use mailbeacon_formats::autodiscover_response::{self, PoxResponse};
use mailbeacon_formats::provider;
use serde::Serialize;
use url::Url;

use crate::dns::Resolver;
use crate::fetch::{Fetched, Fetcher, Request};
use crate::settings::{Address, AutoconfigRules, Pick, Server, Settings};

/// The clients whose chains are walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// Thunderbird (desktop).
    Thunderbird,
    /// Thunderbird for Android / K-9 Mail.
    ThunderbirdAndroid,
    /// GNOME Evolution.
    Evolution,
    /// KDE KMail's account wizard.
    Kmail,
    /// Delta Chat (chatmail core).
    DeltaChat,
    /// Microsoft Outlook (classic, POX Autodiscover).
    Outlook,
}

impl Client {
    /// Every client, in report order.
    pub const ALL: [Client; 6] = [
        Client::Thunderbird,
        Client::ThunderbirdAndroid,
        Client::Evolution,
        Client::Kmail,
        Client::DeltaChat,
        Client::Outlook,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Client::Thunderbird => "thunderbird",
            Client::ThunderbirdAndroid => "thunderbird-android",
            Client::Evolution => "evolution",
            Client::Kmail => "kmail",
            Client::DeltaChat => "delta-chat",
            Client::Outlook => "outlook",
        }
    }

    /// The client named `text` (also `k9`).
    pub fn parse(text: &str) -> Option<Client> {
        let t = text.to_ascii_lowercase();
        if t == "k9" || t == "k-9" {
            return Some(Client::ThunderbirdAndroid);
        }
        Client::ALL.into_iter().find(|c| c.name() == t)
    }
}

/// One thing a client asked, and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was asked (`GET https://…`, `DNS MX example.net`).
    pub asked: String,
    /// What came back, or why nothing usable did.
    pub outcome: String,
    /// Whether the client took its settings from this step.
    pub used: bool,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// One client's walk.
#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    /// The client.
    pub client: Client,
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// The settings it ends with (`None`: it found nothing and would ask the user).
    pub settings: Option<Settings>,
    /// Where they came from.
    pub source: Option<String>,
    /// What the result relies on that can break or that the user is asked about.
    pub fragile: Vec<String>,
}

/// What every walk shares.
pub struct Context {
    /// HTTP(S).
    pub fetcher: Fetcher,
    /// DNS.
    pub resolver: Resolver,
    /// The address typed.
    pub address: Address,
}

/// Walks `client`'s chain for the context's address.
pub async fn walk(client: Client, ctx: &Context) -> ClientReport {
    let mut w = Walk {
        ctx,
        report: ClientReport {
            client,
            steps: Vec::new(),
            settings: None,
            source: None,
            fragile: Vec::new(),
        },
    };
    match client {
        Client::Thunderbird => thunderbird(&mut w).await,
        Client::ThunderbirdAndroid => thunderbird_android(&mut w).await,
        Client::Evolution => evolution(&mut w).await,
        Client::Kmail => kmail(&mut w).await,
        Client::DeltaChat => delta_chat(&mut w).await,
        Client::Outlook => outlook(&mut w).await,
    }
    w.report
}

struct Walk<'a> {
    ctx: &'a Context,
    report: ClientReport,
}

/// What one HTTP step gave.
enum Got {
    /// A response.
    Response(Fetched),
    /// No response (connection, TLS, timeout; the step says which).
    Nothing,
}

impl Walk<'_> {
    fn domain(&self) -> &str {
        &self.ctx.address.domain
    }

    /// Makes `req`, following redirects when `follow`, and records each hop as a step.
    async fn http(&mut self, mut req: Request, follow: bool) -> Got {
        for _ in 0..6 {
            let started = Instant::now();
            let result = self.ctx.fetcher.fetch(&req).await;
            let asked = format!("{} {}", req.method, req.url);
            let millis = started.elapsed().as_millis() as u64;
            match result {
                Err(why) => {
                    self.step(asked, why, millis);
                    return Got::Nothing;
                }
                Ok(f) => {
                    let redirect = (300..400).contains(&f.status) && f.location.is_some();
                    let outcome = match &f.location {
                        Some(l) if redirect => format!("{} → {l}", f.status),
                        _ => format!("{} ({} bytes)", f.status, f.body.len()),
                    };
                    self.step(asked, outcome, millis);
                    if !(follow && redirect) {
                        return Got::Response(f);
                    }
                    let Some(next) = f.location.as_deref().and_then(|l| req.url.join(l).ok())
                    else {
                        return Got::Response(f);
                    };
                    if f.status == 303 || (f.status <= 302 && req.method == "POST") {
                        req = Request {
                            method: "GET",
                            url: next,
                            body: None,
                        };
                    } else {
                        req.url = next;
                    }
                }
            }
        }
        self.step(
            "(redirects)".into(),
            "more than 5 redirects: given up".into(),
            0,
        );
        Got::Nothing
    }

    fn step(&mut self, asked: String, outcome: String, millis: u64) {
        self.report.steps.push(Step {
            asked,
            outcome,
            used: false,
            millis,
        });
    }

    /// Marks the last step as the source of `settings`.
    fn found(&mut self, settings: Settings, source: String) {
        if let Some(last) = self.report.steps.last_mut() {
            last.used = true;
        }
        if source.starts_with("http:") {
            self.report.fragile.push(format!(
                "settings came over plain HTTP ({source}): anyone on the path can change them"
            ));
        }
        self.report.settings = Some(settings);
        self.report.source = Some(source);
    }

    /// An autoconfig URL for host `host` (path `/mail/config-v1.1.xml` or the well-known one).
    /// `None` when the host makes no URL (the address's domain is checked, not trusted).
    fn autoconfig_url(
        &self,
        scheme: &str,
        host: &str,
        well_known: bool,
        query: &str,
    ) -> Option<Url> {
        let path = if well_known {
            "/.well-known/autoconfig/mail/config-v1.1.xml"
        } else {
            "/mail/config-v1.1.xml"
        };
        Url::parse(&format!("{scheme}://{host}{path}{query}")).ok()
    }

    fn email_query(&self) -> String {
        format!(
            "?emailaddress={}",
            percent_encoding::utf8_percent_encode(&self.ctx.address.full, QUERY)
        )
    }

    /// GET an autoconfig URL and read it by `rules`; `Some` when it gives settings.
    async fn autoconfig(
        &mut self,
        url: Url,
        rules: AutoconfigRules,
        follow: bool,
    ) -> Option<Result<Settings, String>> {
        let got = self
            .http(
                Request {
                    method: "GET",
                    url: url.clone(),
                    body: None,
                },
                follow,
            )
            .await;
        let Got::Response(f) = got else { return None };
        if !(200..300).contains(&f.status) {
            return None;
        }
        let text = String::from_utf8_lossy(&f.body);
        let parsed = provider::read(&text)
            .map_err(|e| format!("not a usable config-v1.1 document: {e}"))
            .and_then(|doc| crate::settings::from_autoconfig(&doc, &self.ctx.address, rules));
        if let Err(why) = &parsed
            && let Some(last) = self.report.steps.last_mut()
        {
            last.outcome = format!("{}; {why}", last.outcome);
        }
        Some(parsed)
    }

    /// The best MX host of the domain (lowest preference), recorded as a step.
    async fn best_mx(&mut self) -> Option<(Name, bool)> {
        let name = Name::from_ascii(format!("{}.", self.domain())).ok()?;
        let started = Instant::now();
        let answer = self.ctx.resolver.ask(&name, RecordType::MX).await;
        let millis = started.elapsed().as_millis() as u64;
        let asked = format!("DNS MX {}", self.domain());
        match answer {
            Err(e) => {
                self.step(asked, e, millis);
                None
            }
            Ok(a) => {
                let best = a
                    .records
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                        _ => None,
                    })
                    .filter(|(_, h)| !h.is_root())
                    .min_by_key(|(p, _)| *p);
                let outcome = match &best {
                    Some((p, h)) => {
                        format!("{p} {h}{}", if a.authenticated { " (AD)" } else { "" })
                    }
                    None => format!("{} and no MX host", a.rcode),
                };
                self.step(asked, outcome, millis);
                best.map(|(_, h)| (h, a.authenticated))
            }
        }
    }

    /// Thunderbird's MX fallback (also Thunderbird for Android's): from the best MX host `H`, the
    /// domains to try — `H` without its first label, then its registrable domain if that differs
    /// — unless the registrable domain is the user's own; and whether the MX answer had AD.
    async fn mx_candidates(&mut self) -> Option<(Vec<String>, bool)> {
        let (host, authenticated) = self.best_mx().await?;
        let host = host.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let base = Walk::registrable(&host);
        if base == self.domain() {
            return None;
        }
        let sub = host
            .split_once('.')
            .map_or(host.clone(), |(_, s)| s.to_owned());
        let mut candidates = vec![sub.clone()];
        if sub != base {
            candidates.push(base);
        }
        Some((candidates, authenticated))
    }

    /// SRV at `owner`: the usable record with the lowest priority (then highest weight), as a
    /// step; `None` for no record or RFC 6186's "not offered" (target `.`).
    async fn srv(&mut self, owner: &str) -> Option<(String, u16)> {
        let name = Name::from_ascii(format!("{owner}.")).ok()?;
        let started = Instant::now();
        let answer = self.ctx.resolver.ask(&name, RecordType::SRV).await;
        let millis = started.elapsed().as_millis() as u64;
        let asked = format!("DNS SRV {owner}");
        let best = match answer {
            Err(e) => {
                self.step(asked, e, millis);
                return None;
            }
            Ok(a) => a
                .records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(s) => Some(s.clone()),
                    _ => None,
                })
                .min_by_key(|s| (s.priority, std::cmp::Reverse(s.weight))),
        };
        match best {
            None => {
                self.step(asked, "no record".into(), millis);
                None
            }
            Some(s) if s.target.is_root() => {
                self.step(asked, "not offered (target .)".into(), millis);
                None
            }
            Some(s) => {
                let host = s
                    .target
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                self.step(
                    asked,
                    format!("{} {} {} {host}", s.priority, s.weight, s.port),
                    millis,
                );
                Some((host, s.port))
            }
        }
    }

    /// POST the Autodiscover request to `url`; the settings of a settings answer.
    async fn autodiscover_post(&mut self, url: Url, follow: bool) -> Option<Settings> {
        let body = autodiscover_response::write_request(&self.ctx.address.full);
        let req = Request {
            method: "POST",
            url,
            body: Some((body.into_bytes(), "text/xml")),
        };
        let Got::Response(f) = self.http(req, follow).await else {
            return None;
        };
        self.read_pox(&f)
    }

    fn read_pox(&mut self, f: &Fetched) -> Option<Settings> {
        if f.status != 200 {
            return None;
        }
        match autodiscover_response::read_response(&f.body) {
            Ok(PoxResponse::Settings(p)) => {
                let s = crate::settings::from_pox(&p, &self.ctx.address);
                s.complete().then_some(s)
            }
            Ok(other) => {
                if let Some(last) = self.report.steps.last_mut() {
                    last.outcome = format!("{}; {other:?}", last.outcome);
                }
                None
            }
            Err(e) => {
                if let Some(last) = self.report.steps.last_mut() {
                    last.outcome = format!("{}; {e}", last.outcome);
                }
                None
            }
        }
    }

    /// The registrable domain of `host` (public suffix list).
    fn registrable(host: &str) -> String {
        psl::domain_str(host).unwrap_or(host).to_ascii_lowercase()
    }
}

/// Characters escaped in the `emailaddress` query value (everything but unreserved ones).
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const THUNDERBIRD_RULES: AutoconfigRules = AutoconfigRules {
    incoming: &["imap", "pop3"],
    pick: Pick::First,
    strict_socket: false,
    first_of_any: true,
};

async fn thunderbird(w: &mut Walk<'_>) {
    let d = w.domain().to_owned();
    let q = w.email_query();
    // Phase A: the ISP's four URLs, highest priority first; the first 2xx decides.
    for (scheme, well_known, host) in [
        ("https", false, format!("autoconfig.{d}")),
        ("https", true, d.clone()),
        ("http", false, format!("autoconfig.{d}")),
        ("http", true, d.clone()),
    ] {
        let Some(url) = w.autoconfig_url(scheme, &host, well_known, &q) else {
            continue;
        };
        match w.autoconfig(url.clone(), THUNDERBIRD_RULES, true).await {
            Some(Ok(s)) => return w.found(s, url.to_string()),
            Some(Err(_)) => break,
            None => {}
        }
    }
    // MX: the registrable domain of the best MX host, if it is another one.
    if let Some((candidates, _)) = w.mx_candidates().await {
        for x in candidates {
            let Some(url) = w.autoconfig_url("https", &format!("autoconfig.{x}"), false, &q) else {
                continue;
            };
            if let Some(Ok(s)) = w.autoconfig(url.clone(), THUNDERBIRD_RULES, true).await {
                return w.found(s, url.to_string());
            }
        }
    }
    // Phase B: Exchange Autodiscover.
    for url in [
        format!("https://autodiscover.{d}/autodiscover/autodiscover.xml"),
        format!("https://{d}/autodiscover/autodiscover.xml"),
    ] {
        let Ok(url) = Url::parse(&url) else { continue };
        if let Some(s) = w.autodiscover_post(url.clone(), false).await {
            return w.found(s, url.to_string());
        }
    }
    if let Ok(url) = Url::parse(&format!(
        "http://autodiscover.{d}/autodiscover/autodiscover.xml"
    )) {
        let req = Request {
            method: "POST",
            url,
            body: None,
        };
        if let Got::Response(f) = w.http(req, false).await
            && (300..400).contains(&f.status)
            && let Some(target) = f.location.as_deref().and_then(|l| Url::parse(l).ok())
            && target.scheme() == "https"
        {
            let host = target.host_str().unwrap_or_default().to_owned();
            if Walk::registrable(&host) != Walk::registrable(&d) {
                w.report.fragile.push(format!(
                    "Autodiscover redirects to {host}, another domain: Thunderbird asks the user to confirm"
                ));
            }
            if let Some(s) = w.autodiscover_post(target.clone(), false).await {
                return w.found(s, target.to_string());
            }
        }
    }
    if let Some((host, _)) = w.srv(&format!("_autodiscover._tcp.{d}")).await
        && let Ok(url) = Url::parse(&format!("https://{host}/autodiscover/autodiscover.xml"))
    {
        if Walk::registrable(&host) != Walk::registrable(&d) {
            w.report.fragile.push(format!(
                "_autodiscover._tcp points to {host}, another domain: Thunderbird asks the user to confirm"
            ));
        }
        if let Some(s) = w.autodiscover_post(url.clone(), false).await {
            w.found(s, url.to_string());
        }
    }
}

async fn thunderbird_android(w: &mut Walk<'_>) {
    let d = w.domain().to_owned();
    let rules = AutoconfigRules {
        incoming: &["imap"],
        pick: Pick::First,
        strict_socket: true,
        first_of_any: false,
    };
    for (scheme, well_known, host) in [
        ("https", false, format!("autoconfig.{d}")),
        ("https", true, d.clone()),
        ("http", false, format!("autoconfig.{d}")),
        ("http", true, d.clone()),
    ] {
        let Some(url) = w.autoconfig_url(scheme, &host, well_known, "") else {
            continue;
        };
        if let Some(Ok(s)) = w.autoconfig(url.clone(), rules, true).await {
            if scheme == "http" {
                w.report
                    .fragile
                    .push("not trusted (plain HTTP): the app asks the user to confirm".into());
            }
            return w.found(s, url.to_string());
        }
    }
    if let Some((candidates, authenticated)) = w.mx_candidates().await {
        for x in candidates {
            let Some(url) = w.autoconfig_url("https", &format!("autoconfig.{x}"), false, "") else {
                continue;
            };
            if let Some(Ok(s)) = w.autoconfig(url.clone(), rules, true).await {
                if !authenticated {
                    w.report.fragile.push(
                        "found through an MX answer without DNSSEC (no AD): the app asks the user to confirm".into(),
                    );
                }
                return w.found(s, url.to_string());
            }
        }
    }
}

async fn evolution(w: &mut Walk<'_>) {
    let rules = AutoconfigRules {
        incoming: &["imap", "pop3"],
        pick: Pick::Last,
        strict_socket: false,
        first_of_any: false,
    };
    let md5 = {
        use md5::Digest as _;
        let digest = md5::Md5::digest(w.ctx.address.full.to_ascii_lowercase().as_bytes());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let q = format!("{}&emailmd5={md5}", w.email_query());
    let mut x = w.domain().to_owned();
    let mut first = true;
    loop {
        for (scheme, well_known, host) in [
            ("https", false, format!("autoconfig.{x}")),
            ("http", false, format!("autoconfig.{x}")),
            ("https", true, x.clone()),
            ("http", true, x.clone()),
        ] {
            let Some(url) = w.autoconfig_url(scheme, &host, well_known, &q) else {
                continue;
            };
            if let Some(result) = w.autoconfig(url.clone(), rules, true).await {
                // Evolution stops at the first 2xx that is well-formed XML.
                if let Ok(s) = result {
                    return w.found(s, url.to_string());
                }
                break;
            }
        }
        // The ISPDB step is not asked; as if it answered 404, the MX chain follows.
        if first {
            first = false;
            match w.best_mx().await {
                Some((host, _)) => x = host.to_ascii().trim_end_matches('.').to_ascii_lowercase(),
                None => break,
            }
            continue;
        }
        match x.split_once('.') {
            Some((_, rest)) if rest.contains('.') => x = rest.to_owned(),
            _ => break,
        }
    }
    // The SRV worker (RFC 6186), which runs alongside: implicit TLS variants first.
    let d = w.domain().to_owned();
    let mut settings = Settings::default();
    for (owner, protocol, security) in [
        ("_imaps", "imap", "tls"),
        ("_imap", "imap", "starttls"),
        ("_pop3s", "pop3", "tls"),
        ("_pop3", "pop3", "starttls"),
    ] {
        if let Some((host, port)) = w.srv(&format!("{owner}._tcp.{d}")).await {
            settings.incoming = Some(server(protocol, host, port, security, &w.ctx.address.full));
            break;
        }
    }
    for (owner, security) in [("_submissions", "tls"), ("_submission", "starttls")] {
        if let Some((host, port)) = w.srv(&format!("{owner}._tcp.{d}")).await {
            settings.outgoing = Some(server("smtp", host, port, security, &w.ctx.address.full));
            break;
        }
    }
    if settings.complete() {
        w.found(settings, format!("RFC 6186 SRV records of {d}"));
    }
}

fn server(protocol: &str, host: String, port: u16, security: &str, user: &str) -> Server {
    Server {
        protocol: protocol.into(),
        host,
        port,
        security: security.into(),
        username: user.into(),
    }
}

async fn kmail(w: &mut Walk<'_>) {
    let d = w.domain().to_owned();
    let rules = AutoconfigRules {
        incoming: &["imap", "pop3"],
        pick: Pick::First,
        strict_socket: false,
        first_of_any: false,
    };
    for (scheme, well_known, host) in [
        ("https", false, format!("autoconfig.{d}")),
        ("http", false, format!("autoconfig.{d}")),
        ("https", true, d.clone()),
    ] {
        let Some(url) = w.autoconfig_url(scheme, &host, well_known, "") else {
            continue;
        };
        match w.autoconfig(url.clone(), rules, true).await {
            Some(Ok(s)) => return w.found(s, url.to_string()),
            // A 200 that does not parse ends KMail's chain.
            Some(Err(_)) => return,
            None => {}
        }
    }
}

async fn delta_chat(w: &mut Walk<'_>) {
    let d = w.domain().to_owned();
    let rules = AutoconfigRules {
        incoming: &["imap"],
        pick: Pick::First,
        strict_socket: false,
        first_of_any: false,
    };
    let q = w.email_query();
    for (well_known, host, query) in [
        (false, format!("autoconfig.{d}"), q),
        (true, d.clone(), String::new()),
    ] {
        let Some(url) = w.autoconfig_url("https", &host, well_known, &query) else {
            continue;
        };
        if let Some(Ok(s)) = w.autoconfig(url.clone(), rules, true).await {
            return w.found(s, url.to_string());
        }
    }
    for url in [
        format!("https://{d}/autodiscover/autodiscover.xml"),
        format!("https://autodiscover.{d}/autodiscover/autodiscover.xml"),
    ] {
        let Ok(url) = Url::parse(&url) else { continue };
        if let Got::Response(f) = w
            .http(
                Request {
                    method: "GET",
                    url: url.clone(),
                    body: None,
                },
                true,
            )
            .await
            && let Some(s) = w.read_pox(&f)
        {
            return w.found(s, url.to_string());
        }
    }
}

async fn outlook(w: &mut Walk<'_>) {
    let d = w.domain().to_owned();
    for url in [
        format!("https://{d}/autodiscover/autodiscover.xml"),
        format!("https://autodiscover.{d}/autodiscover/autodiscover.xml"),
    ] {
        let Ok(url) = Url::parse(&url) else { continue };
        if let Some(s) = w.autodiscover_post(url.clone(), false).await {
            return w.found(s, url.to_string());
        }
    }
    // The HTTP redirect method: GET on plain HTTP, then POST to the HTTPS URL it names.
    if let Ok(url) = Url::parse(&format!(
        "http://autodiscover.{d}/autodiscover/autodiscover.xml"
    )) && let Got::Response(f) = w
        .http(
            Request {
                method: "GET",
                url,
                body: None,
            },
            false,
        )
        .await
        && (300..400).contains(&f.status)
        && let Some(target) = f.location.as_deref().and_then(|l| Url::parse(l).ok())
        && target.scheme() == "https"
    {
        w.report.fragile.push(format!(
            "relies on the plain-HTTP redirect to {target}: Outlook asks the user to allow it"
        ));
        if let Some(s) = w.autodiscover_post(target.clone(), false).await {
            return w.found(s, target.to_string());
        }
    }
    if let Some((host, _)) = w.srv(&format!("_autodiscover._tcp.{d}")).await
        && let Ok(url) = Url::parse(&format!("https://{host}/autodiscover/autodiscover.xml"))
    {
        w.report.fragile.push(format!(
            "relies on the SRV record to {host}: Outlook asks the user to allow it"
        ));
        if let Some(s) = w.autodiscover_post(url.clone(), false).await {
            w.found(s, url.to_string());
        }
    }
}
