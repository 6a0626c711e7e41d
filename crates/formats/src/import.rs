//! `mailbeacon import`: a provider's autoconfig document as mailbeacon configuration.
//!
//! The result describes the same servers in the same order: rendering it back with
//! [`crate::autoconfig::write`] lists them as the source did. What mailbeacon cannot describe is
//! refused with the reason (or left out with `skip_unsupported`), never silently changed.

use std::collections::BTreeMap;

use mailbeacon_model::config::{
    AliasEntry, ConfigFile, DocumentationSection, DomainSection, EndpointSection, OAuth2Section,
    ServerSection, ServiceSection,
};
use mailbeacon_model::{AuthMethod, name};
use toml::Spanned;

use crate::provider::{ProviderDocument, ServerEntry};

/// Why a document cannot be imported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    /// A server type mailbeacon does not serve (Exchange, EWS, Graph, …).
    #[error(
        "{element} #{index} is of type `{kind}`, which mailbeacon does not describe (only imap, pop3, smtp); use --skip-unsupported to leave it out"
    )]
    Unsupported {
        /// `incomingServer`/`outgoingServer`.
        element: &'static str,
        /// 1-based position.
        index: usize,
        /// The `type` attribute.
        kind: String,
    },
    /// A value that has no mailbeacon equivalent.
    #[error("{element} #{index}: {message}")]
    Value {
        /// `incomingServer`/`outgoingServer`.
        element: &'static str,
        /// 1-based position.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing left to serve.
    #[error("the document has no {0} server mailbeacon can describe")]
    Empty(&'static str),
    /// A `<domain>` that is not a valid host name.
    #[error("domain `{0}` is not a valid domain name")]
    Domain(String),
    /// No `<domain>` at all.
    #[error("the document lists no <domain>")]
    NoDomain,
}

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    /// The configuration.
    pub config: ConfigFile,
    /// Servers left out (with `skip_unsupported`), described for the user.
    pub skipped: Vec<String>,
}

/// Maps `doc` to a configuration with one service and its domains.
pub fn import(doc: &ProviderDocument, skip_unsupported: bool) -> Result<Imported, ImportError> {
    let mut skipped = Vec::new();
    let incoming = endpoints(
        &doc.incoming,
        "incomingServer",
        &["imap", "pop3"],
        skip_unsupported,
        &mut skipped,
    )?;
    let outgoing = endpoints(
        &doc.outgoing,
        "outgoingServer",
        &["smtp"],
        skip_unsupported,
        &mut skipped,
    )?;
    if incoming.is_empty() {
        return Err(ImportError::Empty("incoming (IMAP/POP3)"));
    }
    if outgoing.is_empty() {
        return Err(ImportError::Empty("outgoing (SMTP)"));
    }
    let mut domains = Vec::new();
    for d in &doc.domains {
        let n = name::parse_hostname(d).map_err(|_| ImportError::Domain(d.clone()))?;
        let n = name::display(&n);
        if !domains.contains(&n) {
            domains.push(n);
        }
    }
    if domains.is_empty() {
        return Err(ImportError::NoDomain);
    }
    let service_id = if doc.id.trim().is_empty() {
        domains[0].clone()
    } else {
        doc.id.trim().to_owned()
    };
    // Thunderbird expands %EMAILDOMAIN% in these too; mailbeacon's placeholder is `{domain}`.
    let templ = |s: &String| s.replace("%EMAILDOMAIN%", "{domain}");
    let service = ServiceSection {
        display_name: doc
            .display_name
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(templ)
            .map(sp),
        short_name: doc
            .short_name
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(templ)
            .map(sp),
        username: None,
        incoming: incoming.into_iter().map(sp).collect(),
        outgoing: outgoing.into_iter().map(sp).collect(),
        documentation: doc
            .documentation
            .iter()
            .filter(|d| !d.url.is_empty())
            .map(|d| {
                let mut description = BTreeMap::new();
                for (lang, text) in &d.descriptions {
                    let lang = if lang.is_empty() {
                        "en".to_owned()
                    } else {
                        lang.clone()
                    };
                    description.entry(lang).or_insert_with(|| text.clone());
                }
                DocumentationSection {
                    url: sp(templ(&d.url)),
                    description,
                }
            })
            .collect(),
        webmail: doc.webmail.as_ref().map(templ).map(sp),
        caldav: None,
        carddav: None,
        oauth2: doc.oauth2.as_ref().map(|o| OAuth2Section {
            issuer: sp(o.issuer.clone()),
            scope: sp(o.scope.clone()),
            auth_url: sp(o.auth_url.clone()),
            token_url: sp(o.token_url.clone()),
        }),
    };
    // `{domain}` names an alias's *primary*, while Thunderbird's %EMAILDOMAIN% is the address's own
    // domain; when hosts depend on it, each domain must stand on its own to keep that meaning.
    let per_domain = doc
        .incoming
        .iter()
        .chain(&doc.outgoing)
        .any(|s| s.hostname.contains("%EMAILDOMAIN%"))
        || [&doc.display_name, &doc.short_name, &doc.webmail]
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| v.contains("%EMAILDOMAIN%")))
        || doc
            .documentation
            .iter()
            .any(|d| d.url.contains("%EMAILDOMAIN%"));
    let domain_sections = if per_domain {
        domains
            .iter()
            .map(|d| domain_section(d, Vec::new()))
            .collect()
    } else {
        let aliases = domains[1..]
            .iter()
            .map(|a| sp(AliasEntry::Name(a.clone())))
            .collect();
        vec![domain_section(&domains[0], aliases)]
    };
    let config = ConfigFile {
        server: Some(ServerSection {
            ipv4: vec![sp("127.0.0.1".to_owned())],
            ..Default::default()
        }),
        service: BTreeMap::from([(service_id, service)]),
        domain: domain_sections,
        ..Default::default()
    };
    Ok(Imported { config, skipped })
}

/// The configuration as TOML, with a header saying what to edit before serving it.
pub fn to_toml(imported: &Imported, source: &str) -> String {
    let body = toml::to_string(&imported.config).unwrap_or_default();
    let mut out = format!(
        "# Imported by `mailbeacon import` from {source}.\n\
         # Before serving: set [server] ipv4/ipv6 to this box's public addresses, and add MX, SPF, …\n"
    );
    for s in &imported.skipped {
        out.push_str(&format!("# Left out: {s}\n"));
    }
    out.push('\n');
    out.push_str(&body);
    out
}

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}

fn domain_section(name: &str, aliases: Vec<Spanned<AliasEntry>>) -> DomainSection {
    DomainSection {
        name: Some(sp(name.to_owned())),
        aliases: if aliases.is_empty() {
            None
        } else {
            Some(aliases)
        },
        ..Default::default()
    }
}

fn endpoints(
    list: &[ServerEntry],
    element: &'static str,
    kinds: &[&str],
    skip: bool,
    skipped: &mut Vec<String>,
) -> Result<Vec<EndpointSection>, ImportError> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let index = i + 1;
        let kind = s.kind.to_ascii_lowercase();
        if !kinds.contains(&kind.as_str()) {
            if skip {
                skipped.push(format!(
                    "{element} #{index} of type `{}` ({})",
                    s.kind, s.hostname
                ));
                continue;
            }
            return Err(ImportError::Unsupported {
                element,
                index,
                kind: s.kind.clone(),
            });
        }
        let value = |message: String| ImportError::Value {
            element,
            index,
            message,
        };
        let port: u16 = s
            .port
            .trim()
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| value(format!("port `{}` is not a number from 1 to 65535", s.port)))?;
        let security = match s.socket_type.trim().to_ascii_lowercase().as_str() {
            "ssl" | "tls" => "tls",
            "starttls" => "starttls",
            "plain" | "" => "plain",
            other => return Err(value(format!("unknown socketType `{other}`"))),
        };
        let mut auth = Vec::new();
        for a in &s.authentication {
            let m = AuthMethod::parse(a.trim())
                .ok_or_else(|| value(format!("unknown authentication `{a}`")))?;
            if !auth.contains(&m.as_str()) {
                auth.push(m.as_str());
            }
        }
        let username = match s.username.as_deref().map(str::trim) {
            None | Some("%EMAILADDRESS%") => "address".to_owned(),
            Some("%EMAILLOCALPART%") => "localpart".to_owned(),
            Some("") => {
                return Err(value(
                    "empty <username>: mailbeacon always tells clients which username to use"
                        .into(),
                ));
            }
            Some(t) => {
                let rest = ["%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%"]
                    .iter()
                    .fold(t.to_owned(), |r, p| r.replace(p, ""));
                if rest.contains('%') {
                    return Err(value(format!(
                        "username `{t}` uses a placeholder other than %EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN%"
                    )));
                }
                t.to_owned()
            }
        };
        let host = s.hostname.trim().replace("%EMAILDOMAIN%", "{domain}");
        if host.contains('%') {
            return Err(value(format!(
                "hostname `{}` uses a placeholder other than %EMAILDOMAIN%",
                s.hostname
            )));
        }
        out.push(EndpointSection {
            protocol: Some(sp(kind)),
            host: sp(host),
            port: Some(sp(i64::from(port))),
            security: Some(sp(security.to_owned())),
            auth: if auth.is_empty() {
                None
            } else {
                Some(auth.into_iter().map(|a| sp(a.to_owned())).collect())
            },
            username: Some(sp(username)),
        });
    }
    Ok(out)
}
