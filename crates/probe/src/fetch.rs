//! HTTP(S) as a mail client does it: names resolved through the probe's resolver, TLS verified
//! against the roots given (the web's by default), one request per connection, redirects followed
//! hop by hop so that each hop can be reported and judged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hickory_proto::rr::Name;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use url::Url;

use crate::dns::Resolver;

/// Largest body read (autoconfig documents are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// Where and how HTTP requests go.
#[derive(Clone)]
pub struct Fetcher {
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    /// The port connected to for `https:` URLs without one (443 unless mapped).
    pub https_port: u16,
    /// The port connected to for `http:` URLs without one (80 unless mapped).
    pub http_port: u16,
    timeout: Duration,
}

/// One response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The status code.
    pub status: u16,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// The body (at most 1 MiB).
    pub body: Vec<u8>,
}

/// A request to make.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The URL.
    pub url: Url,
    /// The body of a POST and its content type.
    pub body: Option<(Vec<u8>, &'static str)>,
}

impl Fetcher {
    /// Requests through `resolver`, trusting `roots`.
    pub fn new(resolver: Resolver, roots: rustls::RootCertStore) -> Fetcher {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        Fetcher {
            resolver,
            tls: Arc::new(tls),
            https_port: 443,
            http_port: 80,
            timeout: Duration::from_secs(10),
        }
    }

    /// The resolver names are looked up with.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Where `url` is reached: its host's first address and the (mapped) port.
    pub async fn address_of(&self, url: &Url) -> Result<SocketAddr, String> {
        let host = url.host_str().ok_or("no host in the URL")?;
        let port = match url.port() {
            Some(p) => p,
            None if url.scheme() == "https" => self.https_port,
            None => self.http_port,
        };
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let name = Name::from_ascii(host).map_err(|e| format!("bad host name {host}: {e}"))?;
        let ip = self
            .resolver
            .addresses(&name)
            .await
            .into_iter()
            .next()
            .ok_or_else(|| format!("{host} has no address"))?;
        Ok(SocketAddr::new(ip, port))
    }

    /// Makes `req`; `Err` says why no response came (no address, refused, TLS, timeout).
    pub async fn fetch(&self, req: &Request) -> Result<Fetched, String> {
        tokio::time::timeout(self.timeout, self.fetch_inner(req))
            .await
            .map_err(|_| format!("no response within {:?}", self.timeout))?
    }

    async fn fetch_inner(&self, req: &Request) -> Result<Fetched, String> {
        let addr = self.address_of(&req.url).await?;
        let host = req.url.host_str().unwrap_or_default().to_owned();
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        if req.url.scheme() == "https" {
            let server_name = ServerName::try_from(host.clone())
                .map_err(|e| format!("bad TLS name {host}: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(server_name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            exchange(TokioIo::new(tls), req, &host).await
        } else {
            exchange(TokioIo::new(tcp), req, &host).await
        }
    }

    /// The certificate `host` presents on HTTPS: `Ok(days until it expires)` when it is valid
    /// for `host` under the trusted roots, else why not.
    pub async fn certificate_days(&self, host: &str) -> Result<i64, String> {
        let url = Url::parse(&format!("https://{host}/")).map_err(|e| e.to_string())?;
        let addr = self.address_of(&url).await?;
        let tcp = tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| format!("cannot connect to {addr}: timeout"))?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|e| format!("bad TLS name: {e}"))?;
        let tls = tokio::time::timeout(
            self.timeout,
            tokio_rustls::TlsConnector::from(self.tls.clone()).connect(server_name, tcp),
        )
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no certificate presented")?;
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        let not_after = parsed.validity().not_after.timestamp();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Ok((not_after - now) / 86_400)
    }
}

/// One HTTP/1.1 exchange on an open connection.
async fn exchange<T>(io: TokioIo<T>, req: &Request, host: &str) -> Result<Fetched, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_owned(),
    };
    let host_header = match req.url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let mut builder = http::Request::builder()
        .method(req.method)
        .uri(path)
        .header(http::header::HOST, host_header)
        .header(http::header::USER_AGENT, "mailbeacon-probe");
    let body = match &req.body {
        Some((b, ct)) => {
            builder = builder.header(http::header::CONTENT_TYPE, *ct);
            Bytes::from(b.clone())
        }
        None => Bytes::new(),
    };
    let request = builder
        .body(Full::new(body))
        .map_err(|e| format!("bad request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status().as_u16();
    let header = |name: http::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let location = header(http::header::LOCATION);
    let content_type = header(http::header::CONTENT_TYPE);
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes()
        .to_vec();
    Ok(Fetched {
        status,
        location,
        content_type,
        body,
    })
}
