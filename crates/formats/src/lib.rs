//! The documents mail clients fetch, written from [`mailbeacon_model::ClientSettings`] by pure
//! functions, and the readers that take such documents back in.
//!
//! - [`autoconfig`]: Thunderbird's `clientConfig` 1.1 (`config-v1.1.xml`), written.
//! - [`autodiscover`]: Outlook's POX request, read, and its 2006a answer, written.
//! - [`autodiscover_json`]: Autodiscover v2's JSON pointer.
//! - [`mobileconfig`]: Apple configuration profiles.
//! - [`setup_page`]: the HTML page with the settings for manual setup.
//! - [`provider`]: the autoconfig format read leniently, as ISPs and automx2 publish it.
//! - [`import`]: a read provider document turned into mailbeacon configuration.

pub mod autoconfig;
pub mod autodiscover;
pub mod autodiscover_json;
pub mod autodiscover_response;
pub mod import;
pub mod mobileconfig;
pub mod profile_signing;
pub mod provider;
pub mod setup_page;
mod xml;
