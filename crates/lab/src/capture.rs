//! Request capture: every DNS query and HTTP request the lab answered, in order, for a test
//! harness to assert on (`GET /_lab/requests`, `DELETE` clears; or [`crate::Lab::requests`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::op::Message;
use http::{Method, StatusCode};
use mailbeacon_dns::{QueryObserver, Transport};
use mailbeacon_http::RequestObserver;
use mailbeacon_http::routes::{Request, Response};
use serde::Serialize;

/// Oldest entries are dropped beyond this many, so a long-running lab cannot grow without bound.
pub const MAX_ENTRIES: usize = 10_000;

/// The path of the capture API.
pub const REQUESTS_PATH: &str = "/_lab/requests";

/// One captured exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Captured {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The client's address.
    pub peer: String,
    /// What was asked and answered.
    #[serde(flatten)]
    pub exchange: Exchange,
}

/// A DNS query or an HTTP request, with its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum Exchange {
    /// A DNS query.
    Dns {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The name asked (lower-cased, no trailing dot), or empty when the query did not parse.
        name: String,
        /// The type asked (`SRV`, `A`, …).
        qtype: String,
        /// The response code (`NOERROR`, `NXDOMAIN`, `REFUSED`, …), or `DROPPED` when nothing
        /// was sent.
        rcode: String,
        /// The answer section, one record per line in zone-file form (`name TTL IN TYPE data`).
        answers: Vec<String>,
        /// The authority section, likewise (the SOA of a negative answer, NS of a referral).
        authority: Vec<String>,
    },
    /// An HTTP request.
    Http {
        /// `http` or `https`.
        scheme: &'static str,
        /// Method.
        method: String,
        /// Host name asked for.
        host: Option<String>,
        /// Path.
        path: String,
        /// Query string.
        query: Option<String>,
        /// Status sent.
        status: u16,
        /// The domain whose configuration answered, if any.
        domain: Option<String>,
        /// The response's `Content-Type` and other headers.
        headers: Vec<(String, String)>,
        /// The response body as text (lossy UTF-8), at most [`MAX_BODY`] bytes of it.
        body: String,
        /// Whether the body was longer than [`MAX_BODY`] and cut.
        body_truncated: bool,
    },
}

/// Most bytes of a response body kept per captured request.
pub const MAX_BODY: usize = 64 * 1024;

/// The captured exchanges.
#[derive(Debug, Default)]
pub struct Capture {
    entries: Mutex<VecDeque<Captured>>,
}

impl Capture {
    /// Everything captured so far, oldest first.
    pub fn entries(&self) -> Vec<Captured> {
        self.lock().iter().cloned().collect()
    }

    /// Forgets everything captured.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, peer: SocketAddr, exchange: Exchange) {
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut entries = self.lock();
        if entries.len() == MAX_ENTRIES {
            entries.pop_front();
        }
        entries.push_back(Captured {
            time_ms,
            peer: peer.to_string(),
            exchange,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Captured>> {
        // A panic while holding the lock cannot leave the list half-updated; keep using it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl QueryObserver for Capture {
    fn observe(&self, peer: SocketAddr, transport: Transport, query: &[u8], reply: Option<&[u8]>) {
        let (name, qtype) = Message::from_vec(query)
            .ok()
            .and_then(|m| m.queries.first().cloned())
            .map(|q| {
                (
                    q.name()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                    q.query_type().to_string(),
                )
            })
            .unwrap_or_default();
        let parsed = reply.map(Message::from_vec);
        let rcode = match &parsed {
            None => "DROPPED".to_owned(),
            Some(Ok(m)) => rcode_name(u16::from(m.metadata.response_code)),
            Some(Err(_)) => "UNPARSEABLE".to_owned(),
        };
        let lines = |records: &[hickory_proto::rr::Record]| -> Vec<String> {
            records
                .iter()
                .map(|r| {
                    format!(
                        "{} {} IN {} {}",
                        mailbeacon_model::name::absolute(&r.name),
                        r.ttl,
                        r.record_type(),
                        mailbeacon_model::zonefile::rdata_text(&r.data)
                    )
                })
                .collect()
        };
        let (answers, authority) = match &parsed {
            Some(Ok(m)) => (lines(&m.answers), lines(&m.authorities)),
            _ => (Vec::new(), Vec::new()),
        };
        let transport = match transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        self.push(
            peer,
            Exchange::Dns {
                transport,
                name,
                qtype,
                rcode,
                answers,
                authority,
            },
        );
    }
}

/// The mnemonic of a response code, `RCODE<n>` for those without one here.
fn rcode_name(code: u16) -> String {
    mailbeacon_dns::wire::rcode_name(code).map_or_else(|| format!("RCODE{code}"), str::to_owned)
}

impl RequestObserver for Capture {
    fn intercept(&self, request: &Request<'_>) -> Option<Response> {
        if request.path != REQUESTS_PATH {
            return None;
        }
        Some(
            if request.method == Method::GET || request.method == Method::HEAD {
                let json = serde_json::to_string(&self.entries()).unwrap_or_else(|_| "[]".into());
                Response::json(StatusCode::OK, json)
            } else if request.method == Method::DELETE {
                self.clear();
                Response::text(StatusCode::OK, "cleared")
            } else {
                Response::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
                    .with_header("allow", "GET, HEAD, DELETE")
            },
        )
    }

    fn observe(&self, peer: SocketAddr, request: &Request<'_>, response: &Response) {
        self.push(
            peer,
            Exchange::Http {
                scheme: if request.secure { "https" } else { "http" },
                method: request.method.to_string(),
                host: request.host.map(str::to_owned),
                path: request.path.to_owned(),
                query: request.query.map(str::to_owned),
                status: response.status.as_u16(),
                domain: response.domain.clone(),
                headers: std::iter::once((
                    "content-type".to_owned(),
                    response.content_type.to_owned(),
                ))
                .chain(
                    response
                        .headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone())),
                )
                .collect(),
                body: String::from_utf8_lossy(&response.body[..response.body.len().min(MAX_BODY)])
                    .into_owned(),
                body_truncated: response.body.len() > MAX_BODY,
            },
        );
    }
}
