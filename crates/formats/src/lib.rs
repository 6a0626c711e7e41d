//! The documents mail clients fetch, written from [`mailbeacon_model::ClientSettings`] by pure
//! functions, and the readers that take such documents back in.
//!
//! - [`autoconfig`]: Thunderbird's `clientConfig` 1.1 (`config-v1.1.xml`), written.
//! - [`provider`]: the same format read leniently, as ISPs and automx2 publish it.
//! - [`import`]: a read provider document turned into mailbeacon configuration.

pub mod autoconfig;
pub mod import;
pub mod provider;
mod xml;
