//! What `serve` is doing, for Prometheus (`[server] metrics = "127.0.0.1:9153"`) and for the
//! optional DNS query log (`MAILBEACON_LOG=info,mailbeacon::query=info`).
//!
//! Counting hangs off the same observer hooks the lab's capture uses, so the DNS and HTTP crates
//! know nothing of metrics, and a server without metrics or query log installs no observer at all.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use mailbeacon_dns::{QueryObserver, RateLimiter, Transport, wire};
use mailbeacon_http::RequestObserver;
use mailbeacon_http::routes::{self, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DnsLabels {
    transport: &'static str,
    qtype: &'static str,
    rcode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    scheme: &'static str,
    endpoint: &'static str,
    status: u16,
    client: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    path: &'static str,
}

/// The counters `serve` keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    dns: Family<DnsLabels, Counter>,
    answers: Family<PathLabels, Counter>,
    http: Family<HttpLabels, Counter>,
    reloads: Family<OutcomeLabels, Counter>,
    handshakes: Family<OutcomeLabels, Counter>,
    notifies: Family<OutcomeLabels, Counter>,
    certificates: Arc<std::sync::OnceLock<Arc<mailbeacon_http::Shared>>>,
    counting: bool,
    query_log: bool,
}

impl Metrics {
    /// Counters registered (`counting`: whether anyone scrapes them), with the rate limiter's
    /// counts read at each scrape.
    pub fn new(counting: bool, rrl: Arc<RateLimiter>) -> Metrics {
        let mut registry = Registry::with_prefix("mailbeacon");
        let dns = Family::<DnsLabels, Counter>::default();
        registry.register(
            "dns_queries",
            "DNS queries answered, by transport, query type and response code (DROPPED: nothing sent)",
            dns.clone(),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests, by scheme, endpoint, status and client family (from the User-Agent)",
            http.clone(),
        );
        let reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "reloads",
            "Configuration reloads, by outcome",
            reloads.clone(),
        );
        let answers = Family::<PathLabels, Counter>::default();
        registry.register(
            "dns_udp_answers",
            "UDP answers by path: precomputed bytes (fast path) or built by the general path",
            answers.clone(),
        );
        let handshakes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "tls_handshakes",
            "TLS handshakes on the HTTPS listeners, by outcome",
            handshakes.clone(),
        );
        let notifies = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "dns_notify",
            "DNS NOTIFY sent to secondaries, by outcome (acknowledged, or not after every retry)",
            notifies.clone(),
        );
        let certificates = Arc::new(std::sync::OnceLock::new());
        registry.register_collector(Box::new(CertificateExpiry(certificates.clone())));
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running version", build);
        registry.register_collector(Box::new(RateLimited(rrl)));
        Metrics {
            registry,
            dns,
            answers,
            http,
            reloads,
            handshakes,
            notifies,
            certificates,
            counting,
            query_log: tracing::enabled!(target: "mailbeacon::query", tracing::Level::INFO),
        }
    }

    /// Whether anything is counted or logged per query or request (otherwise no observer is
    /// installed).
    pub fn observes(&self) -> bool {
        self.counting || self.query_log
    }

    /// Counts one reload.
    pub fn reloaded(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Reports the certificates `shared` serves (their expiry, read at each scrape).
    pub fn watch_certificates(&self, shared: Arc<mailbeacon_http::Shared>) {
        let _ = self.certificates.set(shared);
    }

    /// The hook that counts NOTIFY outcomes (`None` when nothing is counted).
    pub fn notify_outcomes(&self) -> Option<mailbeacon_dns::notify::OutcomeHook> {
        if !self.counting {
            return None;
        }
        let notifies = self.notifies.clone();
        Some(Arc::new(move |ok: bool| {
            let outcome = if ok { "acknowledged" } else { "failed" };
            notifies.get_or_create(&OutcomeLabels { outcome }).inc();
        }))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The rate limiter's counts, read when scraped.
#[derive(Debug)]
struct RateLimited(Arc<RateLimiter>);

impl Collector for RateLimited {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (limited, slipped) = self.0.counts();
        for (name, help, value) in [
            (
                "dns_rate_limited",
                "UDP answers held back by response rate limiting",
                limited,
            ),
            (
                "dns_rate_limited_truncated",
                "Of those, answers sent empty and truncated (slip)",
                slipped,
            ),
        ] {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

/// Seconds until each domain's certificate expires, read from what HTTPS serves at each scrape.
#[derive(Debug)]
struct CertificateExpiry(Arc<std::sync::OnceLock<Arc<mailbeacon_http::Shared>>>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DomainLabels {
    domain: String,
}

impl Collector for CertificateExpiry {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(shared) = self.0.get() else {
            return Ok(());
        };
        let expiry = shared.certificate_expiry.load();
        if expiry.is_empty() {
            return Ok(());
        }
        let now = i64::from(crate::unix_now());
        let family = Family::<DomainLabels, Gauge>::default();
        for (domain, not_after) in expiry.iter() {
            family
                .get_or_create(&DomainLabels {
                    domain: domain.clone(),
                })
                .set(not_after - now);
        }
        let metric = encoder.encode_descriptor(
            "certificate_expiry_seconds",
            "Seconds until the certificate served for each domain expires",
            None,
            family.metric_type(),
        )?;
        family.encode(metric)
    }
}

impl QueryObserver for Metrics {
    fn answered_from(&self, precomputed: bool) {
        if self.counting {
            let path = if precomputed {
                "precomputed"
            } else {
                "general"
            };
            self.answers.get_or_create(&PathLabels { path }).inc();
        }
    }

    fn observe(&self, peer: SocketAddr, transport: Transport, query: &[u8], reply: Option<&[u8]>) {
        let question = wire::question(query);
        let qtype = question.as_ref().map_or("-", |(_, t)| type_name(*t));
        let rcode = reply.map_or("DROPPED", |r| {
            wire::rcode_name(r.get(3).map_or(0, |b| u16::from(b & 0x0f))).unwrap_or("other")
        });
        let transport = match transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        if self.counting {
            self.dns
                .get_or_create(&DnsLabels {
                    transport,
                    qtype,
                    rcode,
                })
                .inc();
        }
        if self.query_log {
            let name = question.map_or_else(|| "-".to_owned(), |(n, _)| n);
            tracing::info!(target: "mailbeacon::query", "{peer} {transport} {name} {qtype} {rcode}");
        }
    }
}

impl RequestObserver for Metrics {
    fn intercept(&self, _request: &routes::Request<'_>) -> Option<Response> {
        None
    }

    fn tls_handshake(&self, result: Result<(), &str>) {
        if self.counting {
            let outcome = if result.is_ok() { "ok" } else { "failed" };
            self.handshakes
                .get_or_create(&OutcomeLabels { outcome })
                .inc();
        }
    }

    fn observe(&self, _peer: SocketAddr, request: &routes::Request<'_>, response: &Response) {
        if self.counting {
            self.http
                .get_or_create(&HttpLabels {
                    scheme: if request.secure { "https" } else { "http" },
                    endpoint: routes::endpoint_name(request.path),
                    status: response.status.as_u16(),
                    client: client_family(request.user_agent),
                })
                .inc();
        }
    }
}

/// Which mail client (or kind of client) a User-Agent names; a small fixed set keeps the label's
/// values bounded whatever clients send.
pub fn client_family(user_agent: Option<&str>) -> &'static str {
    let Some(ua) = user_agent else {
        return "none";
    };
    let ua = ua.to_ascii_lowercase();
    let has = |s: &str| ua.contains(s);
    if has("k-9") || has("k9mail") {
        "k9"
    } else if has("thunderbird") && has("android") {
        "thunderbird_android"
    } else if has("thunderbird") {
        "thunderbird"
    } else if has("outlook") || has("microsoft office") || has("ms-office") {
        "outlook"
    } else if has("evolution") {
        "evolution"
    } else if has("kmail") || has("akonadi") {
        "kmail"
    } else if has("delta") {
        "deltachat"
    } else if has("cfnetwork") || has("darwin") || has("accountsd") {
        "apple"
    } else if has("curl") || has("wget") || has("python") || has("go-http") {
        "tool"
    } else if has("mozilla") {
        "browser"
    } else {
        "other"
    }
}

/// Query types mailbeacon answers get their names; anything else is `other`, so that the
/// label's values stay bounded.
fn type_name(t: u16) -> &'static str {
    match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        43 => "DS",
        48 => "DNSKEY",
        52 => "TLSA",
        65 => "HTTPS",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => "other",
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let metrics = metrics.clone();
                async move {
                    let (status, body) = if req.uri().path() == "/metrics" {
                        (http::StatusCode::OK, metrics.render())
                    } else {
                        (http::StatusCode::NOT_FOUND, "see /metrics\n".to_owned())
                    };
                    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), conn).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_fall_into_a_few_families() {
        assert_eq!(client_family(Some("Thunderbird/153.0")), "thunderbird");
        assert_eq!(
            client_family(Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"
            )),
            "thunderbird"
        );
        assert_eq!(client_family(Some("K-9 Mail/6.8")), "k9");
        assert_eq!(
            client_family(Some(
                "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0)"
            )),
            "outlook"
        );
        assert_eq!(client_family(Some("curl/8.5.0")), "tool");
        assert_eq!(client_family(Some("Mozilla/5.0 (iPhone)")), "browser");
        assert_eq!(client_family(Some("x")), "other");
        assert_eq!(client_family(None), "none");
    }
}
