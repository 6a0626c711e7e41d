//! One configuration's served state — DNS responder, HTTP site, HTTPS certificates — built
//! completely before anything is swapped in, so a reload that fails half-way changes nothing.
//! Used by the lab and by `mailbeacon serve`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use mailbeacon_dns::Responder;
use mailbeacon_http::{Shared, Site, TlsError, TlsSetup};
use mailbeacon_model::{Model, ZoneSet};

/// Everything served for one configuration.
pub struct Generation {
    /// DNS answers (general path only until [`Responder::with_prepared`] replaces it).
    pub responder: Responder,
    /// HTTP answers.
    pub site: Site,
    /// HTTPS certificates (`None` when TLS is off).
    pub tls: Option<TlsSetup>,
}

impl Generation {
    /// Builds the state for `model`. `zones` carries the serials the caller chose; `https_port` is
    /// where HTTPS listens (ignored when TLS is off).
    pub fn build(
        model: &Model,
        zones: &ZoneSet,
        https_port: Option<u16>,
    ) -> Result<Generation, TlsError> {
        let tls = mailbeacon_http::tls::setup(model)?;
        Ok(Generation {
            responder: Responder::general_only(zones),
            site: Site::new(model, https_port.filter(|_| tls.is_some())),
            tls,
        })
    }

    /// Swaps this state in: queries and requests already running finish with the old one.
    pub fn install(self, dns: &ArcSwap<Responder>, http: &Shared) {
        dns.store(Arc::new(self.responder));
        http.site.store(Arc::new(self.site));
        http.tls.store(self.tls.map(|t| t.config));
    }
}
