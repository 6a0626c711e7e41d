//! The I/O shell: TCP listeners, TLS handshakes, HTTP/1.1 and HTTP/2 through hyper, limits and
//! timeouts, the access log. Every answer comes from [`crate::routes::respond`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::routes::{self, Response};
use crate::site::{Site, host_name};

/// Largest request body read; Autodiscover requests are a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Most bytes of an oversized body read (and discarded) before answering 413.
const DRAIN_LIMIT: usize = 1024 * 1024;
/// Largest request head (request line and headers) HTTP/1.1 buffers.
const MAX_HEAD: usize = 16 * 1024;
/// Time a client has to send a request head, or the TLS handshake, or the body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection may stay open, however busy: keeps slow or idle clients from holding
/// connection slots forever. At this age the connection is closed between requests (HTTP/1.1
/// `Connection: close`, HTTP/2 GOAWAY), never in the middle of one.
const MAX_CONNECTION_TIME: Duration = Duration::from_secs(120);
/// After its age limit, how long an HTTP/1.x connection has to receive a request (whose answer
/// then closes it) before it is shut down as idle.
const RETIRE_MARGIN: Duration = Duration::from_secs(1);
/// Time the requests in flight get to finish once a connection is being closed.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Connections one client address may hold at once, across all HTTP(S) listeners (browsers open
/// six per host; an office behind NAT several times that).
const PER_CLIENT: usize = 64;

/// Why a listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for {scheme} on {addr}: {source}")]
pub struct BindError {
    scheme: &'static str,
    addr: SocketAddr,
    source: std::io::Error,
}

/// Sees every request: may answer routes of its own first (lab mode's `/_lab/…`), and is told
/// about every other request with its answer. `serve` has none.
pub trait RequestObserver: Send + Sync {
    /// An answer for a route the observer adds, or `None` to route normally.
    fn intercept(&self, request: &routes::Request<'_>) -> Option<Response>;
    /// Called once per normally routed request.
    fn observe(&self, peer: SocketAddr, request: &routes::Request<'_>, response: &Response);
    /// Called after each TLS handshake: `Ok(())`, or the reason it failed (a timeout included).
    fn tls_handshake(&self, _result: Result<(), &str>) {}
}

/// What the listeners serve; site and TLS are swapped atomically on reload.
pub struct Shared {
    /// The routing core.
    pub site: ArcSwap<Site>,
    /// The HTTPS configuration (`None`: HTTPS listeners refuse handshakes).
    pub tls: ArcSwapOption<ServerConfig>,
    /// The observer, if any.
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Pending ACME HTTP-01 challenges (mode `acme`), answered on plain HTTP for any host.
    pub acme: ArcSwapOption<mailbeacon_certs::Http01Tokens>,
    /// When each domain's certificate expires (seconds since the epoch), for metrics; set with
    /// the TLS configuration.
    pub certificate_expiry: ArcSwap<Vec<(String, i64)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("site", &self.site)
            .field("observed", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Wraps a site and TLS configuration.
    pub fn new(site: Site, tls: Option<Arc<ServerConfig>>) -> Arc<Shared> {
        Shared::observed(site, tls, None)
    }

    /// Wraps a site and TLS configuration, with an observer.
    pub fn observed(
        site: Site,
        tls: Option<Arc<ServerConfig>>,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            site: ArcSwap::from_pointee(site),
            tls: ArcSwapOption::new(tls),
            observer,
            acme: ArcSwapOption::empty(),
            certificate_expiry: ArcSwap::from_pointee(Vec::new()),
        })
    }
}

/// Bound HTTP and HTTPS listeners.
#[derive(Debug)]
pub struct HttpServer {
    plain: Vec<TcpListener>,
    secure: Vec<TcpListener>,
    max_connection_time: Duration,
}

impl HttpServer {
    /// Binds every address (port 0 picks a free port).
    pub async fn bind(http: &[SocketAddr], https: &[SocketAddr]) -> Result<HttpServer, BindError> {
        async fn all(
            addrs: &[SocketAddr],
            scheme: &'static str,
        ) -> Result<Vec<TcpListener>, BindError> {
            let mut out = Vec::new();
            for &addr in addrs {
                let l = TcpListener::bind(addr).await.map_err(|source| BindError {
                    scheme,
                    addr,
                    source,
                })?;
                out.push(l);
            }
            Ok(out)
        }
        Ok(HttpServer {
            plain: all(http, "HTTP").await?,
            secure: all(https, "HTTPS").await?,
            max_connection_time: MAX_CONNECTION_TIME,
        })
    }

    /// Replaces the longest life of a connection (default two minutes), after which it is closed
    /// between requests; for tests that cannot wait that long.
    pub fn with_max_connection_time(mut self, limit: Duration) -> HttpServer {
        self.max_connection_time = limit;
        self
    }

    /// The bound HTTP addresses.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.plain
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The bound HTTPS addresses.
    pub fn https_addrs(&self) -> Vec<SocketAddr> {
        self.secure
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until the returned future is dropped (which also closes every connection).
    pub async fn run(self, shared: Arc<Shared>) {
        let mut listeners = JoinSet::new();
        let budget = mailbeacon_limits::ClientBudget::new(PER_CLIENT);
        // Half of the descriptors for HTTP(S), shared by every listener; more wait in the
        // kernel's backlog.
        let cap = mailbeacon_limits::global_cap(mailbeacon_limits::fd_limit(), 0.5, 256, 32_768);
        let slots = Arc::new(Semaphore::new(cap));
        let limits = Limits {
            slots,
            budget,
            max_connection_time: self.max_connection_time,
        };
        for l in self.plain {
            listeners.spawn(accept_loop(l, shared.clone(), false, limits.clone()));
        }
        for l in self.secure {
            listeners.spawn(accept_loop(l, shared.clone(), true, limits.clone()));
        }
        while listeners.join_next().await.is_some() {}
    }
}

/// The budgets every listener of one server shares.
#[derive(Debug, Clone)]
struct Limits {
    slots: Arc<Semaphore>,
    budget: Arc<mailbeacon_limits::ClientBudget>,
    max_connection_time: Duration,
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, secure: bool, limits: Limits) {
    // Dropping the set (when this loop is aborted) aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = limits.slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = limits.budget.admit(peer.ip()) else {
            tracing::debug!(
                "{} holds {PER_CLIENT} connections, refusing another",
                peer.ip()
            );
            continue; // dropping the stream closes it
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let lifetime = limits.max_connection_time;
        connections.spawn(async move {
            connection(stream, peer, shared, secure, lifetime).await;
            drop((permit, slot));
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    secure: bool,
    lifetime: Duration,
) {
    let retire_at = Instant::now() + lifetime;
    let service = {
        let shared = shared.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            async move {
                // HTTP/1.x past its age: this response says `Connection: close`, so hyper ends
                // the connection right after it and the client opens a new one for the next.
                let retire = req.version() < http::Version::HTTP_2 && Instant::now() >= retire_at;
                let mut response = handle(req, &shared, secure, peer).await;
                if retire {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD as u32)
        .max_concurrent_streams(64);
    let io: Box<dyn Stream> = if secure {
        let Some(config) = shared.tls.load_full() else {
            return;
        };
        let observer = shared.observer.as_deref();
        match tokio::time::timeout(READ_TIMEOUT, TlsAcceptor::from(config).accept(stream)).await {
            Ok(Ok(tls)) => {
                if let Some(o) = observer {
                    o.tls_handshake(Ok(()));
                }
                Box::new(tls)
            }
            Ok(Err(e)) => {
                tracing::debug!("TLS handshake with {peer}: {e}");
                if let Some(o) = observer {
                    o.tls_handshake(Err(&e.to_string()));
                }
                return;
            }
            Err(_) => {
                if let Some(o) = observer {
                    o.tls_handshake(Err("timeout"));
                }
                return;
            }
        }
    } else {
        // hyper's head timeout starts with the first byte; a client that sends none must not
        // hold the connection any longer than one that stalls mid-head.
        let mut first = [0u8; 1];
        match tokio::time::timeout(READ_TIMEOUT, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
        Box::new(stream)
    };
    // HTTP/1.x connections busy at `lifetime` end with their next response (above). A moment
    // later every connection still open is shut down gracefully: an idle HTTP/1.x one is closed,
    // HTTP/2 gets GOAWAY; what is in flight gets CLOSE_GRACE to finish.
    let mut conn = std::pin::pin!(builder.serve_connection(TokioIo::new(io), service));
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = tokio::time::sleep(lifetime + RETIRE_MARGIN) => {
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout(CLOSE_GRACE, conn).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection from {peer}: {e}");
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request without a Host header, or any request with more than one,
/// is answered 400 (as nginx does): which site it is for would be a guess.
fn host_header_refusal(parts: &http::request::Parts) -> Option<Response> {
    let hosts = parts.headers.get_all(header::HOST).iter().count();
    let message = match hosts {
        0 if parts.version == http::Version::HTTP_11 => "an HTTP/1.1 request needs a Host header",
        0 | 1 => return None,
        _ => "a request may carry only one Host header",
    };
    Some(Response::text(StatusCode::BAD_REQUEST, message))
}

/// A plain or TLS connection, boxed so that one code path serves both.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

async fn handle(
    req: hyper::Request<Incoming>,
    shared: &Shared,
    secure: bool,
    peer: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .and_then(host_name);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (body, refusal) = match read_body(body, declared).await {
        Ok(body) => (body, None),
        Err(refusal) => (Bytes::new(), Some(refusal)),
    };
    let refusal = host_header_refusal(&parts)
        .or(refusal)
        .or_else(|| acme_challenge(shared, secure, parts.uri.path()));
    let request = routes::Request {
        method: &parts.method,
        secure,
        host: host.as_deref(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        content_type,
        body: &body,
        accept_language: parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
        user_agent,
    };
    let intercepted = match (&refusal, &shared.observer) {
        (None, Some(o)) => o.intercept(&request),
        _ => None,
    };
    let response = match (intercepted, refusal) {
        (Some(r), _) => r,
        (None, refusal) => {
            let r = refusal.unwrap_or_else(|| routes::respond(&shared.site.load(), &request));
            if let Some(o) = &shared.observer {
                o.observe(peer, &request, &r);
            }
            r
        }
    };
    tracing::info!(
        target: "mailbeacon::access",
        "{peer} {} {} {} {} {} {}B {} {}µs {:?}",
        if secure { "https" } else { "http" },
        parts.method,
        host.as_deref().unwrap_or("-"),
        parts.uri.path(),
        response.status.as_u16(),
        response.body.len(),
        response.domain.as_deref().unwrap_or("-"),
        started.elapsed().as_micros(),
        // Quoted and escaped (Debug): the header is the client's to choose.
        user_agent.unwrap_or("-")
    );
    into_hyper(response)
}

/// The answer to an ACME HTTP-01 validation (RFC 8555 §8.3): plain HTTP, any host, the key
/// authorization of a pending token; `None` for every other request.
fn acme_challenge(shared: &Shared, secure: bool, path: &str) -> Option<Response> {
    let token = path.strip_prefix("/.well-known/acme-challenge/")?;
    if secure {
        return None;
    }
    let tokens = shared.acme.load();
    let tokens = tokens.as_ref()?;
    Some(match tokens.get(token) {
        Some(key_authorization) => Response::text(http::StatusCode::OK, &key_authorization),
        None => Response::text(http::StatusCode::NOT_FOUND, "no such ACME challenge"),
    })
}

/// Reads at most [`MAX_BODY`] bytes; a larger declared length is refused before reading. A body
/// that turns out larger (chunked) is read on and discarded up to [`DRAIN_LIMIT`], so the client
/// has finished sending when the 413 arrives and does not lose it to a connection reset.
async fn read_body(mut body: Incoming, declared: Option<u64>) -> Result<Bytes, Response> {
    let too_large = || {
        Response::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {MAX_BODY} bytes"),
        )
    };
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut kept = Vec::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(Response::text(
                    StatusCode::BAD_REQUEST,
                    "unreadable request body",
                ));
            };
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > DRAIN_LIMIT {
                    break;
                }
                if seen <= MAX_BODY {
                    kept.extend_from_slice(&data);
                }
            }
        }
        if seen > MAX_BODY {
            Err(too_large())
        } else {
            Ok(Bytes::from(kept))
        }
    };
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(result) => result,
        Err(_) => Err(Response::text(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time",
        )),
    }
}

fn into_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(r.body));
    *out.status_mut() = r.status;
    let headers = out.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in r.headers {
        // Values are built by the router from validated names; one that is not a valid header
        // value is dropped rather than sent broken.
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(name, v);
        }
    }
    out
}
