//! mailbeacon's authoritative DNS server.
//!
//! The protocol logic is pure and kept apart from the sockets:
//! - [`authority`]: which records answer a question in the served zones (NXDOMAIN, NODATA, CNAME
//!   chains, additional addresses, AXFR content), computed from a [`mailbeacon_model::ZoneSet`];
//! - [`responder`]: DNS messages in, DNS messages out (header checks, EDNS, truncation, errors);
//! - [`prepared`]: the fast path, every answer the zones can give precomputed as wire bytes;
//! - [`notify`]: DNS NOTIFY to secondaries when a zone's serial changes (RFC 1996);
//! - [`tsig`]: TSIG-signed requests checked and their answers signed (RFC 8945);
//! - [`rrl`]: response rate limiting for UDP, so the server cannot be used as an amplifier;
//! - [`wire`]: a message's question read straight from its bytes;
//! - [`server`]: the UDP and TCP listeners that move bytes between sockets and the above;
//!   `udp` is the batched (`recvmmsg`/`sendmmsg`) UDP worker loop.

pub mod authority;
pub mod dnssec;
pub mod notify;
pub mod prepared;
pub mod responder;
pub mod rrl;
pub mod server;
pub mod tsig;
mod udp;
pub mod wire;

pub use authority::Authority;
pub use responder::{Responder, Transport};
pub use rrl::RateLimiter;
pub use server::{DnsServer, QueryObserver, ServerError, SharedObserver};
