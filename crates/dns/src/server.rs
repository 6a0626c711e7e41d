//! The sockets: UDP and TCP listeners that move bytes between clients and the current [`Responder`].
//!
//! The responder sits behind an [`ArcSwap`] so that a reload replaces it atomically: a query in
//! flight finishes with the generation it started with, the next one sees the new zones.
//!
//! UDP is served by plain blocking threads, one `SO_REUSEPORT` socket each, so that the kernel
//! spreads datagrams over them; each moves datagrams in batches ([`crate::udp`]) with no readiness
//! polling in between. TCP connections are few and long; they run on tokio.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::responder::{Responder, Transport};
use crate::rrl::RateLimiter;

/// Idle time after which a TCP connection is closed (RFC 7766 §6.2.3 suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Time to receive the rest of a query once its length arrived, and to send each reply message
/// (Knot's `tcp-io-timeout` is 500 ms; this leaves room for slow links): a client that stops
/// reading cannot keep a slot by letting replies pile up.
const TCP_IO: Duration = Duration::from_secs(2);
/// Longest a TCP connection lives, however busy; it is closed between messages after this.
const TCP_MAX_LIFE: Duration = Duration::from_secs(120);
/// Once fewer than an eighth of the connection slots are free, idle connections are closed after
/// this instead of [`TCP_IDLE`], and a reply must be taken within [`TCP_IO_PRESSED`]: slots go to
/// clients that use them (Knot closes idle clients under the same pressure).
const TCP_IDLE_PRESSED: Duration = Duration::from_secs(1);
/// See [`TCP_IDLE_PRESSED`].
const TCP_IO_PRESSED: Duration = Duration::from_millis(500);
/// How often a connection waiting for its next query looks at the pressure.
const TCP_IDLE_SLICE: Duration = Duration::from_millis(250);

/// Concurrent TCP connections one client address may hold (a resolver needs a few; a NAT of
/// many hosts more).
const TCP_PER_CLIENT: usize = 32;

/// Why listening failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({proto}): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The current answers, replaceable while serving.
pub type SharedResponder = Arc<ArcSwap<Responder>>;

/// Sees every query and its reply (lab mode records them; `serve` passes none, at no cost).
pub trait QueryObserver: Send + Sync {
    /// Called after a query was answered (`reply` is the first message sent, `None` if dropped).
    fn observe(&self, peer: SocketAddr, transport: Transport, query: &[u8], reply: Option<&[u8]>);
    /// Called for each UDP answer with whether the fast path (precomputed bytes) gave it.
    fn answered_from(&self, _precomputed: bool) {}
}

/// An optional observer, shared by every worker.
pub type SharedObserver = Option<Arc<dyn QueryObserver>>;

/// How often a blocked UDP worker wakes up to see whether the server was stopped.
const UDP_STOP_POLL: Duration = Duration::from_millis(250);

/// Bound DNS listeners: per address, UDP sockets (one per worker) and one TCP listener, all on the
/// same port.
#[derive(Debug)]
pub struct DnsServer {
    udp: Vec<std::net::UdpSocket>,
    tcp: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    rrl: Option<Arc<RateLimiter>>,
}

impl DnsServer {
    /// Binds every address. Port 0 picks a free port shared by UDP and TCP.
    pub async fn bind(addrs: &[SocketAddr]) -> Result<DnsServer, ServerError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut bound = Vec::new();
        for &addr in addrs {
            let (first, listener, local) = bind_pair(addr).await?;
            udp.push(first);
            for _ in 1..workers {
                let more = udp_socket(local).map_err(bind_error(addr, "udp"))?;
                udp.push(more);
            }
            tcp.push(listener);
            bound.push(local);
        }
        Ok(DnsServer {
            udp,
            tcp,
            addrs: bound,
            rrl: None,
        })
    }

    /// The bound addresses (UDP and TCP share each).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Limits UDP answers with `rrl` (without, every answer is sent: what a lab wants).
    pub fn with_rate_limit(mut self, rrl: Arc<RateLimiter>) -> DnsServer {
        self.rrl = Some(rrl);
        self
    }

    /// Serves until the task is dropped or aborted (UDP threads then stop within a quarter second).
    pub async fn run(self, responder: SharedResponder, observer: SharedObserver) {
        let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
        for sock in self.udp {
            let responder = responder.clone();
            let stop = stop.0.clone();
            let observer = observer.clone();
            let rrl = self.rrl.clone();
            let spawned = std::thread::Builder::new()
                .name("dns-udp".into())
                .spawn(move || crate::udp::worker(sock, responder, stop, observer, rrl));
            if let Err(e) = spawned {
                tracing::error!("cannot start a DNS UDP worker: {e}");
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        // A quarter of the descriptors for DNS over TCP: HTTP and HTTPS take their own share.
        let cap = mailbeacon_limits::global_cap(mailbeacon_limits::fd_limit(), 0.25, 64, 16_384);
        let limit = Arc::new(Semaphore::new(cap));
        let budget = mailbeacon_limits::ClientBudget::new(TCP_PER_CLIENT);
        for listener in self.tcp {
            tasks.spawn(tcp_accept(
                listener,
                responder.clone(),
                limit.clone(),
                cap,
                budget.clone(),
                observer.clone(),
            ));
        }
        if let Some(rrl) = self.rrl {
            tasks.spawn(report_rate_limiting(rrl));
        }
        while tasks.join_next().await.is_some() {}
        drop(stop);
    }
}

/// How many TCP slots are left, as a connection sees it.
struct Pressure {
    slots: Arc<Semaphore>,
    low: usize,
}

impl Pressure {
    /// Whether free slots are scarce.
    fn high(&self) -> bool {
        self.slots.available_permits() < self.low.max(1)
    }
}

/// Logs once a minute how many answers rate limiting held back, when it held back any.
async fn report_rate_limiting(rrl: Arc<RateLimiter>) {
    let mut last = rrl.counts();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = rrl.counts();
        if now != last {
            tracing::info!(
                "rate limiting: {} answers over the rate in the last minute, {} of them sent truncated",
                now.0 - last.0,
                now.1 - last.1
            );
            last = now;
        }
    }
}

/// Wraps an I/O error from binding `addr` over `proto`.
fn bind_error(addr: SocketAddr, proto: &'static str) -> impl FnOnce(std::io::Error) -> ServerError {
    move |source| ServerError::Bind {
        addr,
        proto,
        source,
    }
}

/// Sets the stop flag when the serving future goes away.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A UDP socket with `SO_REUSEPORT`, so that every worker can bind the same address.
fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(UDP_STOP_POLL))?;
    Ok(socket.into())
}

async fn bind_pair(
    addr: SocketAddr,
) -> Result<(std::net::UdpSocket, TcpListener, SocketAddr), ServerError> {
    // With port 0 the UDP port is chosen first; the same TCP port may be taken by someone else,
    // in which case another UDP port is tried.
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = udp_socket(addr).map_err(bind_error(addr, "udp"))?;
        let local = udp.local_addr().map_err(bind_error(addr, "udp"))?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp, local)),
            Err(e) => last = Some(e),
        }
    }
    let source = last.unwrap_or_else(|| std::io::Error::other("no port"));
    Err(ServerError::Bind {
        addr,
        proto: "tcp",
        source,
    })
}

async fn tcp_accept(
    listener: TcpListener,
    responder: SharedResponder,
    limit: Arc<Semaphore>,
    cap: usize,
    budget: Arc<mailbeacon_limits::ClientBudget>,
    observer: SharedObserver,
) {
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("dns tcp accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = budget.admit(peer.ip()) else {
            tracing::debug!(
                "dns tcp: {} holds {TCP_PER_CLIENT} connections, refusing another",
                peer.ip()
            );
            continue; // dropping the stream closes it
        };
        let responder = responder.clone();
        let observer = observer.clone();
        let pressure = Pressure {
            slots: limit.clone(),
            low: cap / 8,
        };
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            let _ = tcp_connection(stream, peer, responder, observer, pressure).await;
        });
    }
}

/// One TCP connection: length-prefixed messages, answered in order (RFC 7766 §6.2.1 allows
/// pipelined queries), closed after [`TCP_IDLE`] without a query, when a message is not received
/// or sent within [`TCP_IO`], or between messages once [`TCP_MAX_LIFE`] has passed.
async fn tcp_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    responder: SharedResponder,
    observer: SharedObserver,
    pressure: Pressure,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let end = tokio::time::Instant::now() + TCP_MAX_LIFE;
    let mut buf = Vec::new();
    loop {
        // Wait for the next query in slices, so that a server running short of slots can let
        // an idle client go sooner than TCP_IDLE. Waiting for readability consumes nothing.
        let waiting = tokio::time::Instant::now();
        loop {
            let allowed = if pressure.high() {
                TCP_IDLE_PRESSED
            } else {
                TCP_IDLE
            };
            let deadline = (waiting + allowed).min(end);
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let slice = (deadline - now).min(TCP_IDLE_SLICE);
            match tokio::time::timeout(slice, stream.readable()).await {
                Ok(Ok(())) => break,
                Ok(Err(_)) => return Ok(()),
                Err(_) => {}
            }
        }
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IO, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let len = usize::from(u16::from_be_bytes(len));
        buf.resize(len, 0);
        match tokio::time::timeout(TCP_IO, stream.read_exact(&mut buf)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let replies = responder.load().respond(&buf, Transport::Tcp, peer.ip());
        if let Some(o) = &observer {
            o.observe(
                peer,
                Transport::Tcp,
                &buf,
                replies.first().map(Vec::as_slice),
            );
        }
        if replies.is_empty() && len < 12 {
            return Ok(()); // not DNS: hang up
        }
        for reply in replies {
            let Ok(n) = u16::try_from(reply.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&n.to_be_bytes());
            framed.extend_from_slice(&reply);
            let io = if pressure.high() {
                TCP_IO_PRESSED
            } else {
                TCP_IO
            };
            match tokio::time::timeout(io, stream.write_all(&framed)).await {
                Ok(result) => result?,
                Err(_) => return Ok(()), // the client does not read: hang up
            }
        }
    }
}
