//! What a mail client is told for one domain: the input of every autoconfig format.

use crate::model::{
    AuthMethod, DavUrl, Documentation, Domain, Model, OAuth2, Protocol, Security, Username,
};
use crate::name;

/// Settings for one served domain, with host names expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// The domain asked about (lower case, no trailing dot).
    pub domain: String,
    /// Provider id: the primary domain (aliases report their target).
    pub provider_id: String,
    /// Display name.
    pub display_name: String,
    /// Short display name.
    pub short_name: String,
    /// Incoming servers in preference order.
    pub incoming: Vec<ServerSettings>,
    /// Outgoing servers in preference order.
    pub outgoing: Vec<ServerSettings>,
    /// Documentation links.
    pub documentation: Vec<Documentation>,
    /// Web mail URL.
    pub webmail: Option<String>,
    /// CalDAV URL.
    pub caldav: Option<DavUrl>,
    /// CardDAV URL.
    pub carddav: Option<DavUrl>,
    /// OAuth2 endpoints.
    pub oauth2: Option<OAuth2>,
}

/// One server as a client should use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Protocol.
    pub protocol: Protocol,
    /// Host name (no trailing dot) or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
    /// Authentication methods, most preferred first.
    pub auth: Vec<AuthMethod>,
    /// Username template.
    pub username: Username,
}

impl Model {
    /// For each domain, the index in `earlier` of the domain with its name, if there is one
    /// whose value is the same: what a reload may take over. Domains usually stay where they
    /// were (and one taken over by validation is even the same `Arc`), so they are matched by
    /// position first, without hashing names; the lookup by name is made only when some moved.
    pub fn unchanged_since(&self, earlier: &Model) -> Vec<Option<usize>> {
        let same = |a: &std::sync::Arc<Domain>, b: &std::sync::Arc<Domain>| {
            std::sync::Arc::ptr_eq(a, b) || a.as_ref() == b.as_ref()
        };
        let in_place = |i: usize, d: &std::sync::Arc<Domain>| {
            (earlier.domains.get(i))
                .is_some_and(|e| std::sync::Arc::ptr_eq(e, d) || e.name == d.name)
        };
        let moved = self
            .domains
            .iter()
            .enumerate()
            .any(|(i, d)| !in_place(i, d));
        let by_name: std::collections::HashMap<&hickory_proto::rr::Name, usize> = if moved {
            earlier
                .domains
                .iter()
                .enumerate()
                .map(|(j, d)| (&d.name, j))
                .collect()
        } else {
            Default::default()
        };
        self.domains
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let j = if in_place(i, d) {
                    Some(i)
                } else {
                    by_name.get(&d.name).copied()
                }?;
                same(&earlier.domains[j], d).then_some(j)
            })
            .collect()
    }

    /// The served domain called `name` (any letter case, trailing dot optional, Unicode accepted).
    pub fn find_domain(&self, name: &str) -> Option<&Domain> {
        let n = name::parse_hostname(name).ok()?;
        self.domains.iter().find(|d| d.name == n).map(|d| &**d)
    }

    /// The settings a client gets for `domain`.
    pub fn client_settings(&self, domain: &Domain) -> ClientSettings {
        let services: Vec<_> = domain.services.iter().map(|&i| &self.services[i]).collect();
        let tmpl = domain.template_domain();
        let server = |e: &crate::model::Endpoint| ServerSettings {
            protocol: e.protocol,
            host: e.host.expand(tmpl),
            port: e.port,
            security: e.security,
            auth: e.auth.clone(),
            username: e.username.clone(),
        };
        let provider = name::display(tmpl);
        let x = |t: &str| crate::placeholder::expand(t, tmpl);
        let display_name = services
            .iter()
            .find_map(|s| s.display_name.as_deref().map(x))
            .unwrap_or_else(|| provider.clone());
        let short_name = services
            .iter()
            .find_map(|s| s.short_name.as_deref().map(x))
            .unwrap_or_else(|| provider.split('.').next().unwrap_or(&provider).to_owned());
        ClientSettings {
            domain: name::display(&domain.name),
            provider_id: provider,
            display_name,
            short_name,
            incoming: services
                .iter()
                .flat_map(|s| &s.incoming)
                .map(server)
                .collect(),
            outgoing: services
                .iter()
                .flat_map(|s| &s.outgoing)
                .map(server)
                .collect(),
            documentation: services
                .iter()
                .flat_map(|s| s.documentation.iter().map(|d| d.expand(tmpl)))
                .collect(),
            webmail: services.iter().find_map(|s| s.webmail.as_deref().map(x)),
            caldav: services
                .iter()
                .find_map(|s| s.caldav.as_deref())
                .and_then(|u| DavUrl::parse(&x(u))),
            carddav: services
                .iter()
                .find_map(|s| s.carddav.as_deref())
                .and_then(|u| DavUrl::parse(&x(u))),
            oauth2: services
                .iter()
                .find_map(|s| s.oauth2.as_ref().map(|o| o.expand(tmpl))),
        }
    }
}
