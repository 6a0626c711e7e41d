//! One configuration's served state — DNS responder, HTTP site, HTTPS certificates — built
//! completely before anything is swapped in, so a reload that fails half-way changes nothing.
//! Used by the lab and by `mailbeacon serve`.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use mailbeacon_dns::Responder;
use mailbeacon_dns::dnssec::{
    KeyFileError, KeyStore, Keyring, SignError, SignatureCache, Validity,
};
use mailbeacon_http::{Shared, Site, TlsError, TlsSetup};
use mailbeacon_model::{Model, ZoneSet};

/// Why a generation could not be built (the running one stays).
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// HTTPS certificates.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    /// A DNSSEC key file.
    #[error("dnssec: {0}")]
    Key(#[from] KeyFileError),
    /// Signing a zone.
    #[error("dnssec: {0}")]
    Sign(#[from] SignError),
}

/// The generation being served, whose answers for what did not change a new one keeps.
#[derive(Debug, Clone, Copy)]
pub struct Serving<'a> {
    /// The configuration it serves.
    pub model: &'a Model,
    /// Its DNS answers.
    pub responder: &'a Responder,
    /// Its HTTP answers.
    pub site: &'a Site,
}

/// Everything served for one configuration.
pub struct Generation {
    /// DNS answers (general path only until [`Responder::with_prepared`] replaces it).
    pub responder: Responder,
    /// HTTP answers.
    pub site: Site,
    /// HTTPS certificates (`None` when TLS is off).
    pub tls: Option<TlsSetup>,
    /// The zones served, with their serials.
    pub zones: ZoneSet,
    /// The signing keys of signed zones.
    pub keys: Keyring,
    /// When signatures must be made again (`None`: no zone is signed).
    pub resign_at: Option<u32>,
    /// DNSSEC key files created for this generation (zones signed for the first time).
    pub new_key_files: Vec<PathBuf>,
}

impl Generation {
    /// Builds the state for `model` at time `now`: `zones` are the zones validation derived,
    /// `assign_serials` gives them their SOA serials (after signed zones have been stamped with
    /// their signing period, so that new signatures mean a new serial); keys of signed zones come
    /// from (or are created in) `state_dir/dnssec/`. `https_port` is where clients reach HTTPS
    /// (ignored when TLS is off). Signatures of zones unchanged since the previous generation come
    /// from `signatures`; from the generation being served (`earlier`), the DNS index of zones
    /// taken over unchanged and the HTTP answers of unchanged domains are kept.
    pub fn build(
        model: &Model,
        mut zones: ZoneSet,
        now: u32,
        assign_serials: impl FnOnce(ZoneSet) -> ZoneSet,
        https_port: Option<u16>,
        signatures: &SignatureCache,
        earlier: Option<Serving<'_>>,
    ) -> Result<Generation, GenerationError> {
        let store = KeyStore::in_state_dir(&model.server.state_dir);
        let (keys, new_key_files) = Keyring::from_store(&store, &zones, u64::from(now))?;
        let validity = Validity::at(now);
        keys.stamp(&mut zones, validity);
        let zones = assign_serials(zones);
        let signed = keys.sign(&zones, validity, signatures)?;
        let tls = mailbeacon_http::tls::setup(model)?;
        let site = Site::new_reusing(
            model,
            https_port.filter(|_| tls.is_some()),
            earlier.map(|e| (e.model, e.site)),
        );
        if let Some(t) = &tls {
            site.set_profile_signers(t.profile_signers.clone());
        }
        Ok(Generation {
            responder: Responder::general_only_signed(
                &zones,
                &signed,
                mailbeacon_dns::tsig::TsigKeys::new(&model.tsig_keys),
                earlier.map(|e| e.responder),
            ),
            site,
            tls,
            resign_at: (!keys.is_empty()).then_some(validity.next_period),
            keys,
            zones,
            new_key_files,
        })
    }

    /// Swaps this state in: queries and requests already running finish with the old one.
    /// Returns the zones and keys now served.
    pub fn install(self, dns: &ArcSwap<Responder>, http: &Shared) -> (ZoneSet, Keyring) {
        dns.store(Arc::new(self.responder));
        http.site.store(Arc::new(self.site));
        if let Some(t) = &self.tls {
            http.certificate_expiry.store(Arc::new(t.expiry.clone()));
        }
        http.tls.store(self.tls.map(|t| t.config));
        (self.zones, self.keys)
    }
}
