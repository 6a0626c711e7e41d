//! mailbeacon's core: the configuration file, its validated [`Model`], and everything derived from
//! it by pure functions — DNS zones ([`ZoneSet`]), master files ([`zonefile`]) and the settings
//! mail clients are given ([`ClientSettings`]). Nothing in this crate touches a socket.
//!
//! ```
//! let text = r#"
//! [server]
//! ipv4 = ["192.0.2.10"]
//! [service.mail]
//! incoming = [{ protocol = "imap", host = "mail.{domain}" }]
//! outgoing = [{ host = "mail.{domain}" }]
//! [[domain]]
//! name = "example.net"
//! mx = ["10 mail.{domain}"]
//! "#;
//! let model = mailbeacon_model::load_str(text, "mailbeacon.toml".as_ref()).unwrap();
//! let zones = mailbeacon_model::ZoneSet::derive(&model);
//! let file = mailbeacon_model::zonefile::zone_file(&zones.zones()[0]);
//! assert!(file.contains("_imaps._tcp\t3600\tIN\tSRV\t0 1 993 mail.example.net."));
//! ```

pub mod config;
pub mod delegation;
pub mod error;
mod fingerprint;
pub mod https_names;
pub mod model;
pub mod mta_sts;
pub mod name;
pub mod placeholder;
pub mod serial;
pub mod settings;
mod validate;
pub mod zone;
pub mod zonefile;
pub mod zonetext;

pub use error::{ConfigErrors, Diagnostic, LoadError, Severity};
pub use model::*;
pub use serial::SerialBook;
pub use settings::{ClientSettings, ServerSettings};
pub use validate::{
    Checked, Diagnostics, DomainEntries, check_file, check_file_reusing, check_str, load_file,
    load_str,
};
pub use zone::{Earlier, Zone, ZoneSerials, ZoneSet};

/// The built-in default configuration (`config/mailbeacon.toml`): `example.test` on loopback.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/mailbeacon.toml");
