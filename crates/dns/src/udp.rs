//! The UDP worker loop: datagrams in and out in batches with `recvmmsg`/`sendmmsg`, so that under
//! load one system call moves many queries; with a single waiting query it behaves like
//! `recvfrom`/`sendto` (`MSG_WAITFORONE` returns as soon as one datagram is there).

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

use crate::responder::Transport;
use crate::rrl::{RateLimiter, Verdict};
use crate::server::{SharedObserver, SharedResponder};

/// Datagrams moved per system call at most.
const BATCH: usize = 32;
/// Largest datagram read (EDNS clients may send up to 64 KiB, though queries are small).
const BUFFER: usize = 4096;

/// Serves `sock` until `stop` is set (the socket's read timeout bounds how long that takes).
/// Buffers and message headers are allocated once; the fast path allocates nothing.
pub(crate) fn worker(
    sock: UdpSocket,
    responder: SharedResponder,
    stop: Arc<AtomicBool>,
    observer: SharedObserver,
    rrl: Option<Arc<RateLimiter>>,
) {
    let fd = sock.as_raw_fd();
    let mut inbox = Box::new([[0u8; BUFFER]; BATCH]);
    let mut outbox: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(BUFFER)).collect();
    let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut received: [(usize, Option<SockaddrStorage>); BATCH] = [(0, None); BATCH];
    let mut peers: Vec<Option<SockaddrStorage>> = Vec::with_capacity(BATCH);
    while !stop.load(Ordering::Relaxed) {
        let count = {
            let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
                inbox.each_mut().map(|b| [IoSliceMut::new(b)]);
            match recvmmsg(
                fd,
                &mut recv_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(messages) => {
                    let mut n = 0;
                    for m in messages {
                        received[n] = (m.bytes, m.address);
                        n += 1;
                    }
                    n
                }
                // Timeouts (to check `stop`), interruptions and ICMP errors from earlier sends.
                Err(_) => continue,
            }
        };
        let responder = responder.load();
        peers.clear();
        for (query, &(len, address)) in inbox.iter().zip(&received[..count]) {
            let Some(peer) = address.and_then(|a| socket_addr(&a)) else {
                continue;
            };
            let out = &mut outbox[peers.len()];
            let query = &query[..len];
            let path = responder.respond_udp_from(query, peer.ip(), out);
            let mut answered = path.is_some();
            if answered && let Some(rrl) = &rrl {
                match rrl.judge(peer.ip(), query, out) {
                    Verdict::Send => {}
                    Verdict::Drop => answered = false,
                    Verdict::Slip => crate::rrl::truncate(out, query),
                }
            }
            if let Some(o) = &observer {
                if let Some(precomputed) = path {
                    o.answered_from(precomputed);
                }
                o.observe(peer, Transport::Udp, query, answered.then_some(&out[..]));
            }
            if answered {
                peers.push(address);
            }
        }
        send_all(fd, &mut send_headers, &outbox[..peers.len()], &peers);
    }
}

/// Sends `replies[i]` to `peers[i]`, continuing after a partial batch; a datagram the kernel
/// refuses is skipped (the client will retry), as `sendto` errors are for a single reply.
fn send_all(
    fd: std::os::fd::RawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    replies: &[Vec<u8>],
    peers: &[Option<SockaddrStorage>],
) {
    let mut done = 0;
    while done < replies.len() {
        let rest = &replies[done..];
        let slices: [[IoSlice<'_>; 1]; BATCH] =
            std::array::from_fn(|i| [IoSlice::new(rest.get(i).map_or(&[][..], |r| &r[..]))]);
        let none: [ControlMessage<'_>; 0] = [];
        match sendmmsg(
            fd,
            headers,
            &slices[..rest.len().min(BATCH)],
            &peers[done..],
            none,
            MsgFlags::empty(),
        ) {
            Ok(sent) => done += sent.count().max(1),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => done += 1,
        }
    }
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}
