//! mailbeacon's HTTP(S) side: Thunderbird autoconfig, Outlook Autodiscover (POX and v2 JSON),
//! Apple profiles, the MTA-STS policy and a manual-setup page, all answered from the model.
//!
//! - [`site`]: the answers prepared from one configuration, and host-name → domain routing.
//! - [`routes`]: one request in, one response out (pure; what the tests call).
//! - [`tls`]: certificates chosen by SNI; [`lab`]: the lab CA that issues them.
//! - [`server`]: listeners, TLS handshakes, hyper, limits and timeouts.

pub mod lab;
pub mod routes;
pub mod server;
pub mod site;
pub mod tls;

pub use server::{BindError, HttpServer, RequestObserver, Shared};
pub use site::Site;
pub use tls::{TlsError, TlsSetup};
