//! The settings a client ends with, in one shape for every client and source, so that they can
//! be compared: what each client reads from an autoconfig document, an Autodiscover answer or SRV
//! records, with its own quirks (which section it takes, which types it knows).

use mailbeacon_formats::autodiscover_response::PoxProtocol;
use mailbeacon_formats::provider::{ProviderDocument, ServerEntry};
use serde::Serialize;

/// The address typed, split.
#[derive(Debug, Clone, Serialize)]
pub struct Address {
    /// `local@domain`.
    pub full: String,
    /// The part before `@`.
    pub local: String,
    /// The part after `@`, lower case.
    pub domain: String,
}

impl Address {
    /// `local@domain`, or `None` when it is not one.
    pub fn parse(text: &str) -> Option<Address> {
        let (local, domain) = text.trim().rsplit_once('@')?;
        if local.is_empty() || domain.is_empty() || domain.contains(['/', ' ', ':']) {
            return None;
        }
        Some(Address {
            full: format!("{local}@{}", domain.to_ascii_lowercase()),
            local: local.to_owned(),
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        })
    }

    /// `%EMAILADDRESS%` and friends (config-v1.1) replaced.
    pub fn expand(&self, template: &str) -> String {
        template
            .replace("%EMAILADDRESS%", &self.full)
            .replace("%EMAILLOCALPART%", &self.local)
            .replace("%EMAILDOMAIN%", &self.domain)
    }
}

/// One server as a client will use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    /// `imap`, `pop3` or `smtp`.
    pub protocol: String,
    /// Host name (lower case).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `tls` (implicit), `starttls` or `plain`.
    pub security: String,
    /// The username the client will log in with.
    pub username: String,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}:{} {} user {}",
            self.protocol, self.host, self.port, self.security, self.username
        )
    }
}

/// What a client ends with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// The incoming server.
    pub incoming: Option<Server>,
    /// The outgoing server.
    pub outgoing: Option<Server>,
}

impl Settings {
    /// Whether both directions are known.
    pub fn complete(&self) -> bool {
        self.incoming.is_some() && self.outgoing.is_some()
    }
}

/// Which of several sections of one type a client takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first (most clients).
    First,
    /// The last: Evolution lets later sections of a type overwrite earlier ones.
    Last,
}

/// Reading rules of one client for autoconfig documents.
#[derive(Debug, Clone, Copy)]
pub struct AutoconfigRules {
    /// Incoming types the client knows, in its order of preference.
    pub incoming: &'static [&'static str],
    /// Which section of a type is taken.
    pub pick: Pick,
    /// Thunderbird for Android refuses the whole document for a socketType other than SSL or
    /// STARTTLS in the sections it uses.
    pub strict_socket: bool,
    /// Take the first incoming section of any known type (Thunderbird), rather than the
    /// preferred type first.
    pub first_of_any: bool,
}

/// The settings `doc` gives a client reading it by `rules`; `Err` says why the client rejects it.
pub fn from_autoconfig(
    doc: &ProviderDocument,
    address: &Address,
    rules: AutoconfigRules,
) -> Result<Settings, String> {
    let choose = |list: &[ServerEntry], kind: &str| -> Option<ServerEntry> {
        let mut of_kind = list.iter().filter(|s| s.kind.eq_ignore_ascii_case(kind));
        match rules.pick {
            Pick::First => of_kind.next().cloned(),
            Pick::Last => of_kind.next_back().cloned(),
        }
    };
    let incoming = if rules.first_of_any {
        doc.incoming
            .iter()
            .find(|s| {
                rules
                    .incoming
                    .iter()
                    .any(|k| s.kind.eq_ignore_ascii_case(k))
            })
            .cloned()
    } else {
        rules.incoming.iter().find_map(|k| choose(&doc.incoming, k))
    };
    let outgoing = choose(&doc.outgoing, "smtp");
    let convert = |s: ServerEntry| -> Result<Server, String> {
        let security = match s.socket_type.to_ascii_uppercase().as_str() {
            "SSL" | "TLS" => "tls",
            "STARTTLS" => "starttls",
            "PLAIN" => {
                if rules.strict_socket {
                    return Err(format!(
                        "{} section with socketType plain: document rejected",
                        s.kind
                    ));
                }
                "plain"
            }
            other => return Err(format!("{} section with socketType {other:?}", s.kind)),
        };
        let port = s
            .port
            .trim()
            .parse()
            .map_err(|_| format!("{} section without a usable port", s.kind))?;
        Ok(Server {
            protocol: s.kind.to_ascii_lowercase(),
            host: s.hostname.to_ascii_lowercase(),
            port,
            security: security.to_owned(),
            username: address.expand(s.username.as_deref().unwrap_or("%EMAILADDRESS%")),
        })
    };
    Ok(Settings {
        incoming: incoming.map(convert).transpose()?,
        outgoing: outgoing.map(convert).transpose()?,
    })
}

/// The settings in an Autodiscover answer: the first IMAP (else POP3) and the first SMTP.
pub fn from_pox(protocols: &[PoxProtocol], address: &Address) -> Settings {
    let convert = |p: &PoxProtocol| -> Option<Server> {
        let security = match (p.encryption.as_deref(), p.ssl.as_deref()) {
            (Some(e), _) if e.eq_ignore_ascii_case("ssl") => "tls",
            (Some(e), _) if e.eq_ignore_ascii_case("tls") => "starttls",
            (Some(e), _) if e.eq_ignore_ascii_case("none") => "plain",
            (_, Some(s)) if s.eq_ignore_ascii_case("off") => "plain",
            _ => "tls",
        };
        Some(Server {
            protocol: p.kind.to_ascii_lowercase(),
            host: p.server.to_ascii_lowercase(),
            port: p.port?,
            security: security.to_owned(),
            username: p.login_name.clone().unwrap_or_else(|| address.full.clone()),
        })
    };
    let find = |kind: &str| {
        protocols
            .iter()
            .find(|p| p.kind.eq_ignore_ascii_case(kind))
            .and_then(convert)
    };
    Settings {
        incoming: find("imap").or_else(|| find("pop3")),
        outgoing: find("smtp"),
    }
}
