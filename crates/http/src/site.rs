//! What the HTTP side serves, derived once per configuration: for every domain its client
//! settings and the address-independent documents already rendered, and a map from every host
//! name clients may ask (`autoconfig.<d>`, `autodiscover.<d>`, `mta-sts.<d>`, `<d>`, the service
//! hosts) to its domain.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use mailbeacon_formats::{autoconfig, autodiscover};
use mailbeacon_model::{ClientSettings, EmailAddress, Features, Model, name};
use rayon::prelude::*;

/// Everything the HTTP responder needs from one configuration.
#[derive(Debug)]
pub struct Site {
    /// Shared, so that a reload keeps the answers of domains that did not change.
    domains: Vec<Arc<DomainSite>>,
    /// Where a request's domain is found by name; shared with the previous site when a reload
    /// changed no domain's name, position or service hosts.
    names: Arc<Names>,
    /// The HTTPS port clients are sent to in redirects and Autodiscover v2 URLs; `None` when
    /// HTTPS is off.
    https_port: Option<u16>,
    /// What signs each domain's Apple profiles (swapped when ACME brings a new certificate).
    profile_signers: arc_swap::ArcSwap<crate::tls::ProfileSigners>,
}

/// Host names to domains.
#[derive(Debug, Default)]
struct Names {
    /// Domain name → index into `domains`.
    by_domain: HashMap<String, usize>,
    /// Service host name → index into `domains` (the first domain naming it wins).
    by_service_host: HashMap<String, usize>,
}

/// The helper names under a domain that name the domain itself.
pub(crate) const HELPER_PREFIXES: [&str; 3] = ["autoconfig.", "autodiscover.", "mta-sts."];

/// One served domain's answers.
#[derive(Debug)]
pub struct DomainSite {
    /// What clients are told.
    pub settings: ClientSettings,
    /// Which endpoints are on.
    pub features: Features,
    /// The autoconfig document (usernames are placeholders, so it fits every address).
    pub autoconfig: Bytes,
    /// The Autodiscover answer for a bodyless GET (no `LoginName`).
    pub autodiscover_generic: Bytes,
    /// The MTA-STS policy text, when the domain publishes one.
    pub mta_sts: Option<Bytes>,
}

/// The host names clients are sent to for `site`'s mail servers.
fn service_hosts(site: &DomainSite) -> impl Iterator<Item = &str> {
    site.settings
        .incoming
        .iter()
        .chain(&site.settings.outgoing)
        .map(|s| s.host.as_str())
}

impl Names {
    fn of(model: &Model, domains: &[Arc<DomainSite>]) -> Names {
        let by_domain: HashMap<String, usize> = model
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| (name::display(&d.name), i))
            .collect();
        let mut by_service_host = HashMap::new();
        for (i, d) in domains.iter().enumerate() {
            for host in service_hosts(d) {
                if !by_service_host.contains_key(host) {
                    by_service_host.insert(host.to_owned(), i);
                }
            }
        }
        Names {
            by_domain,
            by_service_host,
        }
    }
}

impl Site {
    /// Replaces what signs the domains' Apple profiles (domain → signer).
    pub fn set_profile_signers(&self, signers: crate::tls::ProfileSigners) {
        self.profile_signers.store(std::sync::Arc::new(signers));
    }

    /// What signs `domain`'s Apple profiles, if anything.
    pub fn profile_signer(
        &self,
        domain: &str,
    ) -> Option<std::sync::Arc<mailbeacon_formats::profile_signing::ProfileSigner>> {
        self.profile_signers
            .load()
            .get(domain)
            .and_then(crate::tls::ProfileSignerSource::signer)
    }

    /// Prepares the answers for `model`. `https_port` is where HTTPS listens (`None`: no HTTPS).
    pub fn new(model: &Model, https_port: Option<u16>) -> Site {
        Site::new_reusing(model, https_port, None)
    }

    /// As [`Site::new`], keeping the answers `earlier` (the site served for the configuration
    /// given with it) prepared for every domain whose settings did not change.
    pub fn new_reusing(
        model: &Model,
        https_port: Option<u16>,
        earlier: Option<(&Model, &Site)>,
    ) -> Site {
        // A domain's answers depend on the domain and the services, nothing else.
        let earlier = earlier.filter(|(m, site)| {
            m.services == model.services && m.domains.len() == site.domains.len()
        });
        let unchanged = earlier.map(|(m, _)| model.unchanged_since(m));
        // Domains are rendered independently: in parallel, collected in order, each with
        // whether it was taken over.
        let built: Vec<(Arc<DomainSite>, bool)> = model
            .domains
            .par_iter()
            .enumerate()
            .map(|(i, d)| {
                let reused = earlier
                    .zip(unchanged.as_ref())
                    .and_then(|((_, site), unchanged)| {
                        let j = unchanged[i]?;
                        site.domains.get(j)
                    });
                match reused {
                    Some(site) => (Arc::clone(site), true),
                    None => {
                        let settings = model.client_settings(d);
                        let site = DomainSite {
                            autoconfig: Bytes::from(autoconfig::write(&settings)),
                            autodiscover_generic: Bytes::from(autodiscover::write_settings(
                                &settings, None,
                            )),
                            mta_sts: d.dns.mta_sts.as_ref().map(|p| Bytes::from(p.text())),
                            features: d.features,
                            settings,
                        };
                        (Arc::new(site), false)
                    }
                }
            })
            .collect();
        // The name maps are kept when every domain has the name and position it had, and each
        // changed domain the service hosts it had.
        let same_names = earlier.is_some_and(|(m, e)| {
            m.domains.len() == model.domains.len()
                && m.domains
                    .iter()
                    .zip(&model.domains)
                    .all(|(a, b)| Arc::ptr_eq(a, b) || a.name == b.name)
                && built
                    .iter()
                    .zip(&e.domains)
                    .all(|((new, taken), old)| *taken || service_hosts(old).eq(service_hosts(new)))
        });
        let domains: Vec<Arc<DomainSite>> = built.into_iter().map(|(site, _)| site).collect();
        let names = match earlier {
            Some((_, e)) if same_names => Arc::clone(&e.names),
            _ => Arc::new(Names::of(model, &domains)),
        };
        Site {
            domains,
            names,
            https_port,
            profile_signers: arc_swap::ArcSwap::from_pointee(Default::default()),
        }
    }

    /// The served domain called `domain` (lower case, no trailing dot).
    pub fn domain(&self, domain: &str) -> Option<&DomainSite> {
        self.names.by_domain.get(domain).map(|&i| &*self.domains[i])
    }

    /// The domain a request is about: the address's domain when it is served here, else the
    /// domain owning the host name the client connected to.
    pub fn resolve(
        &self,
        address: Option<&EmailAddress>,
        host: Option<&str>,
    ) -> Option<&DomainSite> {
        if let Some(d) = address.and_then(|a| self.domain(a.domain())) {
            return Some(d);
        }
        let host = host?;
        // The domain itself, one of its helper names, or a service host.
        let i = self.names.by_domain.get(host).or_else(|| {
            HELPER_PREFIXES
                .iter()
                .find_map(|p| host.strip_prefix(p))
                .and_then(|rest| self.names.by_domain.get(rest))
                .or_else(|| self.names.by_service_host.get(host))
        })?;
        Some(&*self.domains[*i])
    }

    /// The HTTPS port, when HTTPS is on.
    pub fn https_port(&self) -> Option<u16> {
        self.https_port
    }

    /// `https://<host>[:port]<path>` on this server's HTTPS port.
    pub fn https_url(&self, host: &str, path: &str) -> String {
        match self.https_port {
            Some(443) | None => format!("https://{host}{path}"),
            Some(port) => format!("https://{host}:{port}{path}"),
        }
    }

    /// Number of served domains.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether no domain is served.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

/// The host name of a `Host` header or URI authority: port removed, lower case, no trailing dot.
/// `None` when it is not a plausible host name or address literal.
pub fn host_name(authority: &str) -> Option<String> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // An IPv6 literal: "[::1]:8080".
        &rest[..rest.find(']')?]
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty()
        || host.len() > 253
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'))
    {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        mailbeacon_model::load_str(
            r#"
[server]
ipv4 = ["192.0.2.1"]
[service.mail]
incoming = [{ protocol = "imap", host = "imap.hoster.test", port = 993, security = "tls" }]
outgoing = [{ protocol = "smtp", host = "smtp.{domain}", port = 465, security = "tls" }]
[[domain]]
name = "one.test"
aliases = ["alias.test"]
mx = ["10 mx.hoster.test"]
[[domain]]
name = "two.test"
mx = ["10 mx.hoster.test"]
"#,
            "test.toml".as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn hosts_map_to_their_domains() {
        let site = Site::new(&model(), Some(443));
        let d = |h: &str| {
            site.resolve(None, Some(h))
                .map(|d| d.settings.domain.clone())
        };
        assert_eq!(d("autoconfig.two.test").as_deref(), Some("two.test"));
        assert_eq!(d("mta-sts.alias.test").as_deref(), Some("alias.test"));
        assert_eq!(d("smtp.two.test").as_deref(), Some("two.test"));
        // A shared service host belongs to the first domain that uses it.
        assert_eq!(d("imap.hoster.test").as_deref(), Some("one.test"));
        assert_eq!(d("other.test"), None);
    }

    #[test]
    fn the_address_domain_wins_over_the_host() {
        let site = Site::new(&model(), None);
        let a = EmailAddress::parse("x@two.test").unwrap();
        let got = site.resolve(Some(&a), Some("autoconfig.one.test")).unwrap();
        assert_eq!(got.settings.domain, "two.test");
        let stranger = EmailAddress::parse("x@elsewhere.test").unwrap();
        let got = site
            .resolve(Some(&stranger), Some("autoconfig.one.test"))
            .unwrap();
        assert_eq!(got.settings.domain, "one.test");
    }

    #[test]
    fn host_headers_are_normalised() {
        assert_eq!(
            host_name("AutoConfig.One.Test.:8080").as_deref(),
            Some("autoconfig.one.test")
        );
        assert_eq!(host_name("[::1]:443").as_deref(), Some("::1"));
        assert_eq!(host_name("a b"), None);
        assert_eq!(host_name(""), None);
    }

    #[test]
    fn https_urls_carry_non_default_ports() {
        assert_eq!(
            Site::new(&model(), Some(8443)).https_url("a.test", "/x"),
            "https://a.test:8443/x"
        );
        assert_eq!(
            Site::new(&model(), Some(443)).https_url("a.test", "/x"),
            "https://a.test/x"
        );
    }
}
