//! Certificates that clients trust, obtained with ACME (RFC 8555).
//!
//! - [`store`]: issued certificates and the account on disk under `state_dir/acme/` (keys 0600),
//!   read at every start so that nothing is ordered twice;
//! - [`acme`]: the account, one order per domain covering all its HTTPS names, HTTP-01 answered
//!   from mailbeacon's own port-80 listener ([`acme::Http01Tokens`]), renewal at two thirds of a
//!   certificate's lifetime.
//!
//! The ACME protocol itself is instant-acme's; this crate decides what to order, when, and where
//! the results live. The lab CA and certificate files stay in `mailbeacon-http` for now.

pub mod acme;
pub mod store;

pub use acme::{AcmeError, AcmeIssuer, Dns01Publisher, Http01Tokens};
pub use store::{Issued, IssuedStore, StoreError};
