//! The sockets: UDP and TCP listeners that move bytes between clients and the current [`Responder`].
//!
//! The responder sits behind an [`ArcSwap`] so that a reload replaces it atomically: a query in
//! flight finishes with the generation it started with, the next one sees the new zones.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::responder::{Responder, Transport};

/// Idle time after which a TCP connection is closed (RFC 7766 §6.2.3 suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Concurrent TCP connections; further ones wait in the accept queue.
const MAX_TCP_CONNECTIONS: usize = 512;
/// Largest datagram read (EDNS clients may send up to 64 KiB, though queries are small).
const UDP_BUFFER: usize = 4096;

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

/// Bound DNS listeners: one UDP socket and one TCP listener per address, on the same port.
#[derive(Debug)]
pub struct DnsServer {
    udp: Vec<Arc<UdpSocket>>,
    tcp: Vec<TcpListener>,
}

impl DnsServer {
    /// Binds every address. Port 0 picks a free port shared by UDP and TCP.
    pub async fn bind(addrs: &[SocketAddr]) -> Result<DnsServer, ServerError> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for &addr in addrs {
            let (u, t) = bind_pair(addr).await?;
            udp.push(Arc::new(u));
            tcp.push(t);
        }
        Ok(DnsServer { udp, tcp })
    }

    /// The bound addresses (UDP and TCP share each).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Serves until the task is dropped or aborted.
    pub async fn run(self, responder: SharedResponder) {
        let mut tasks = tokio::task::JoinSet::new();
        // A few receivers per socket so that one slow send does not stall the socket.
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(2);
        for sock in &self.udp {
            for _ in 0..workers {
                tasks.spawn(udp_loop(sock.clone(), responder.clone()));
            }
        }
        let limit = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
        for listener in self.tcp {
            tasks.spawn(tcp_accept(listener, responder.clone(), limit.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), ServerError> {
    // With port 0 the UDP port is chosen first; the same TCP port may be taken by someone else,
    // in which case another UDP port is tried.
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr,
                proto: "udp",
                source,
            })?;
        let local = udp.local_addr().map_err(|source| ServerError::Bind {
            addr,
            proto: "udp",
            source,
        })?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp)),
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

async fn udp_loop(sock: Arc<UdpSocket>, responder: SharedResponder) {
    let mut buf = vec![0u8; UDP_BUFFER];
    let mut out = Vec::with_capacity(UDP_BUFFER);
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors from earlier sends surface here on some systems; keep serving.
            Err(_) => continue,
        };
        let answered = responder.load().respond_udp(&buf[..n], peer.ip(), &mut out);
        if answered {
            let _ = sock.send_to(&out, peer).await;
        }
    }
}

async fn tcp_accept(listener: TcpListener, responder: SharedResponder, limit: Arc<Semaphore>) {
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
        let responder = responder.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tcp_connection(stream, peer, responder).await;
        });
    }
}

/// One TCP connection: length-prefixed messages, answered in order (RFC 7766 §6.2.1 allows
/// pipelined queries), closed after [`TCP_IDLE`] without a query.
async fn tcp_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    responder: SharedResponder,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let len = usize::from(u16::from_be_bytes(len));
        buf.resize(len, 0);
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut buf)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let replies = responder.load().respond(&buf, Transport::Tcp, peer.ip());
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
            stream.write_all(&framed).await?;
        }
    }
}
