//! The validated domain model. Every value here has passed validation: names are valid DNS names,
//! ports are in range, every referenced service exists, and each domain's zone is consistent.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use hickory_proto::rr::Name;
use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::CAA;

use crate::mta_sts::MtaStsPolicy;
use ipnet::IpNet;

/// A whole validated configuration.
#[derive(Debug, Clone)]
pub struct Model {
    /// This box.
    pub server: Server,
    /// HTTPS certificate settings.
    pub tls: Tls,
    /// Services in name order.
    pub services: Vec<Service>,
    /// Every served domain: each primary followed by its aliases, in file order. Shared, so that
    /// a reload takes over an unchanged domain without copying it, and later stages (zones, HTTP
    /// answers) recognise it as the same by address before comparing values.
    pub domains: Vec<Arc<Domain>>,
    /// Explicit addresses of in-zone host names, after `{domain}` expansion.
    pub hosts: Vec<HostAddresses>,
    /// TSIG keys, by name order.
    pub tsig_keys: Vec<TsigKey>,
}

/// A TSIG key (RFC 8945) shared with secondaries.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key's name (a domain name, as the secondary knows it).
    pub name: Name,
    /// The MAC algorithm.
    pub algorithm: TsigAlgorithm,
    /// The shared secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The TSIG algorithms mailbeacon accepts (RFC 8945 §6: HMAC-SHA256 is the one to implement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlgorithm {
    /// `hmac-sha256`.
    HmacSha256,
    /// `hmac-sha512`.
    HmacSha512,
}

impl TsigAlgorithm {
    /// The algorithm's name as configured and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }
}

/// One rule of who may transfer a zone: from a network, signed with a key, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRule {
    /// The network the request must come from (`None`: anywhere).
    pub network: Option<IpNet>,
    /// The TSIG key the request must be signed with (`None`: unsigned is fine).
    pub key: Option<Name>,
}

impl TransferRule {
    /// Whether a request from `peer`, signed with `key` (if any, already verified), matches.
    pub fn allows(&self, peer: IpAddr, key: Option<&Name>) -> bool {
        self.network.is_none_or(|n| n.contains(&peer))
            && self.key.as_ref().is_none_or(|k| Some(k) == key)
    }
}

/// A secondary told of changes with a NOTIFY, signed with `key` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyTarget {
    /// Its address and port.
    pub addr: SocketAddr,
    /// The TSIG key to sign the NOTIFY with.
    pub key: Option<Name>,
}

/// The addresses of one host name from `[hosts]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddresses {
    /// The host name, possibly with `{domain}`.
    pub name: HostTemplate,
    /// Its addresses.
    pub addresses: Vec<IpAddr>,
}

/// This box: what the published helper names point to, and where it listens.
#[derive(Debug, Clone)]
pub struct Server {
    /// IPv4 addresses of `autoconfig.`/`autodiscover.`/`mta-sts.` names.
    pub ipv4: Vec<Ipv4Addr>,
    /// IPv6 addresses of the same names.
    pub ipv6: Vec<Ipv6Addr>,
    /// CNAME target used for those names instead of addresses.
    pub cname: Option<Name>,
    /// DNS listeners (UDP and TCP).
    pub dns: Vec<SocketAddr>,
    /// Plain HTTP listeners.
    pub http: Vec<SocketAddr>,
    /// HTTPS listeners.
    pub https: Vec<SocketAddr>,
    /// Directory for serial numbers and lab certificates.
    pub state_dir: PathBuf,
    /// DNS response rate limiting.
    pub rrl: Rrl,
    /// When started as root, the user (and group) to run as once the listeners are bound.
    pub run_as: Option<RunAs>,
    /// The HTTPS port clients reach, when configured; `serve` otherwise assumes 443.
    pub public_https_port: Option<u16>,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// An unprivileged account to switch to after binding ports below 1024.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// User name.
    pub user: String,
    /// Group name; `None` means the user's primary group.
    pub group: Option<String>,
}

/// DNS response rate limiting over UDP (RRL): each client network gets at most `rate` answers per
/// second of one kind (same name, type and outcome; every NXDOMAIN counts as one kind), so that
/// spoofed queries cannot turn the server into an amplifier. Of the answers over the rate, every
/// `slip`-th is sent empty and truncated, so a real client behind the address retries over TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrl {
    /// Answers per second; 0 turns limiting off.
    pub rate: u32,
    /// Every n-th limited answer is sent truncated (0: all dropped).
    pub slip: u32,
    /// IPv4 prefix length of one client network.
    pub ipv4_prefix: u8,
    /// IPv6 prefix length of one client network.
    pub ipv6_prefix: u8,
    /// Networks never limited.
    pub exempt: Vec<ipnet::IpNet>,
}

impl Default for Rrl {
    /// NSD's defaults (200 per second, slip 2, /24), a /56 for IPv6 (a typical customer
    /// allocation), and loopback exempt: it cannot be spoofed from outside, and local tools
    /// (monitoring, tests) should never be limited.
    fn default() -> Rrl {
        Rrl {
            rate: 200,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: vec![
                ipnet::IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).unwrap_or_default()),
                ipnet::IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::LOCALHOST, 128).unwrap_or_default()),
            ],
        }
    }
}

impl Server {
    /// The box's addresses, IPv4 first.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.ipv4
            .iter()
            .copied()
            .map(IpAddr::V4)
            .chain(self.ipv6.iter().copied().map(IpAddr::V6))
            .collect()
    }
}

/// How HTTPS obtains certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Generate a CA and a certificate per served name on first start.
    Lab,
    /// Use the configured certificate files.
    Files,
    /// Obtain and renew certificates with ACME (RFC 8555), one per domain.
    Acme,
    /// No HTTPS.
    Off,
}

/// HTTPS certificate settings.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The mode.
    pub mode: TlsMode,
    /// Certificate files, in file order.
    pub certificates: Vec<CertificateFiles>,
    /// ACME settings (mode `acme`).
    pub acme: Option<AcmeSettings>,
    /// Lab mode: further names the lab CA issues a certificate for (a test's own hosts).
    pub extra_names: Vec<String>,
}

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// How certificates are obtained with ACME.
#[derive(Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The CA's directory URL.
    pub directory: String,
    /// Contact URLs for the account.
    pub contact: Vec<String>,
    /// Extra roots trusted for the CA's own HTTPS (PEM file).
    pub server_ca: Option<PathBuf>,
    /// External account binding: key id and HMAC key.
    pub eab: Option<(String, Vec<u8>)>,
    /// How names are proven.
    pub challenge: AcmeChallenge,
}

/// The ACME challenge type used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// HTTP-01: a file on this box's port 80 (names must point here).
    Http01,
    /// DNS-01: a TXT record in our own zone (any name of our zones).
    Dns01,
}

impl std::fmt::Debug for AcmeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the EAB key.
        f.debug_struct("AcmeSettings")
            .field("directory", &self.directory)
            .field("contact", &self.contact)
            .field("server_ca", &self.server_ca)
            .field("eab", &self.eab.as_ref().map(|(kid, _)| kid))
            .field("challenge", &self.challenge)
            .finish()
    }
}

/// A certificate chain and key on disk, and the names it serves.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// Names (lower case), `*.` wildcards allowed.
    pub names: Vec<String>,
    /// PEM chain path (resolved against the config file's directory).
    pub cert: PathBuf,
    /// PEM key path.
    pub key: PathBuf,
}

/// A mail service: a provider's servers shared by many domains.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The name it is referenced by.
    pub id: String,
    /// Display name, if set.
    pub display_name: Option<String>,
    /// Short display name, if set.
    pub short_name: Option<String>,
    /// Incoming servers in preference order.
    pub incoming: Vec<Endpoint>,
    /// Outgoing servers in preference order.
    pub outgoing: Vec<Endpoint>,
    /// Documentation links.
    pub documentation: Vec<Documentation>,
    /// Web mail URL.
    pub webmail: Option<String>,
    /// CalDAV URL (may say `{domain}`).
    pub caldav: Option<String>,
    /// CardDAV URL (may say `{domain}`).
    pub carddav: Option<String>,
    /// OAuth2 endpoints.
    pub oauth2: Option<OAuth2>,
}

/// One server a client connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Protocol.
    pub protocol: Protocol,
    /// Host name, possibly with `{domain}`.
    pub host: HostTemplate,
    /// TCP port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
    /// Authentication methods, most preferred first (never empty).
    pub auth: Vec<AuthMethod>,
    /// Username the client logs in with.
    pub username: Username,
}

/// A mail access or submission protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// IMAP4.
    Imap,
    /// POP3.
    Pop3,
    /// SMTP submission.
    Smtp,
}

impl Protocol {
    /// The lower-case name used in configuration and in Thunderbird's `type` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
        }
    }

    /// The conventional port for this protocol with `security` (RFC 8314 and RFC 6186).
    pub fn default_port(self, security: Security) -> u16 {
        match (self, security) {
            (Protocol::Imap, Security::Tls) => 993,
            (Protocol::Imap, _) => 143,
            (Protocol::Pop3, Security::Tls) => 995,
            (Protocol::Pop3, _) => 110,
            (Protocol::Smtp, Security::Tls) => 465,
            (Protocol::Smtp, _) => 587,
        }
    }
}

/// Transport security of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// TLS from the first byte on a dedicated port (Thunderbird `SSL`).
    Tls,
    /// Plain connection upgraded with STARTTLS/STLS before authentication.
    StartTls,
    /// No encryption (only when configured on purpose).
    Plain,
}

impl Security {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::StartTls => "starttls",
            Security::Plain => "plain",
        }
    }
}

/// An authentication method, spelled as Thunderbird's `<authentication>` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// Password sent in the clear inside TLS (SASL PLAIN/LOGIN).
    PasswordCleartext,
    /// Challenge-response password (CRAM-MD5, SCRAM).
    PasswordEncrypted,
    /// OAuth2 bearer tokens.
    OAuth2,
    /// NTLM.
    Ntlm,
    /// Kerberos.
    Gssapi,
    /// Admitted by client IP address.
    ClientIpAddress,
    /// TLS client certificate (SASL EXTERNAL).
    TlsClientCert,
    /// No authentication.
    None,
    /// SMTP after POP.
    SmtpAfterPop,
}

impl AuthMethod {
    /// Every method, for error messages.
    pub const ALL: [AuthMethod; 9] = [
        AuthMethod::PasswordCleartext,
        AuthMethod::PasswordEncrypted,
        AuthMethod::OAuth2,
        AuthMethod::Ntlm,
        AuthMethod::Gssapi,
        AuthMethod::ClientIpAddress,
        AuthMethod::TlsClientCert,
        AuthMethod::None,
        AuthMethod::SmtpAfterPop,
    ];

    /// Thunderbird's spelling, also used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::PasswordCleartext => "password-cleartext",
            AuthMethod::PasswordEncrypted => "password-encrypted",
            AuthMethod::OAuth2 => "OAuth2",
            AuthMethod::Ntlm => "NTLM",
            AuthMethod::Gssapi => "GSSAPI",
            AuthMethod::ClientIpAddress => "client-IP-address",
            AuthMethod::TlsClientCert => "TLS-client-cert",
            AuthMethod::None => "none",
            AuthMethod::SmtpAfterPop => "smtp-after-pop",
        }
    }

    /// Parses a configuration or Thunderbird spelling, including the deprecated synonyms
    /// `plain` (= password-cleartext) and `secure` (= password-encrypted).
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "plain" => return Some(AuthMethod::PasswordCleartext),
            "secure" => return Some(AuthMethod::PasswordEncrypted),
            _ => {}
        }
        AuthMethod::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

/// The username a client logs in with, as a template with Thunderbird placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Username {
    /// The full address (`%EMAILADDRESS%`).
    Address,
    /// The part before `@` (`%EMAILLOCALPART%`).
    LocalPart,
    /// Any other template, e.g. `%EMAILLOCALPART%.%EMAILDOMAIN%`.
    Template(String),
}

impl Username {
    /// The template with `%EMAILADDRESS%`-style placeholders.
    pub fn template(&self) -> &str {
        match self {
            Username::Address => "%EMAILADDRESS%",
            Username::LocalPart => "%EMAILLOCALPART%",
            Username::Template(t) => t,
        }
    }

    /// The username for a concrete address.
    pub fn for_address(&self, address: &EmailAddress) -> String {
        expand_placeholders(self.template(), address)
    }
}

/// Replaces `%EMAILADDRESS%`, `%EMAILLOCALPART%` and `%EMAILDOMAIN%` in `template`.
pub fn expand_placeholders(template: &str, address: &EmailAddress) -> String {
    template
        .replace("%EMAILADDRESS%", address.as_str())
        .replace("%EMAILLOCALPART%", address.local_part())
        .replace("%EMAILDOMAIN%", address.domain())
}

/// A host name that may contain `{domain}`, replaced by the domain being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTemplate(String);

impl HostTemplate {
    /// Wraps an already validated template.
    pub(crate) fn new(template: String) -> Self {
        HostTemplate(template)
    }

    /// The template as written (lower case, no trailing dot).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host name for `domain` (no trailing dot).
    pub fn expand(&self, domain: &Name) -> String {
        crate::placeholder::expand(&self.0, domain)
    }

    /// The host name for `domain` as a DNS name; an error when the expansion is not a valid
    /// host name (an IP literal, or too long for this domain).
    pub fn expand_name(&self, domain: &Name) -> Result<Name, String> {
        crate::placeholder::host_name(&self.0, domain)
    }
}

/// A documentation link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documentation {
    /// URL.
    pub url: String,
    /// `(language, text)` pairs.
    pub descriptions: Vec<(String, String)>,
}

/// A CalDAV or CardDAV URL, split the way DNS (RFC 6764) publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavUrl {
    /// The URL as configured.
    pub url: String,
    /// Whether it is `https`.
    pub https: bool,
    /// Host name (lower case).
    pub host: String,
    /// Port (explicit or the scheme's default).
    pub port: u16,
    /// Path (at least `/`).
    pub path: String,
}

impl DavUrl {
    /// Splits an absolute `http(s)` URL; `None` for anything else.
    pub fn parse(url: &str) -> Option<DavUrl> {
        let parsed = url::Url::parse(url).ok()?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return None;
        }
        let host = parsed.host_str()?.to_ascii_lowercase();
        Some(DavUrl {
            url: url.to_owned(),
            https: parsed.scheme() == "https",
            port: parsed.port_or_known_default().unwrap_or(443),
            path: if parsed.path().is_empty() {
                "/".into()
            } else {
                parsed.path().to_owned()
            },
            host,
        })
    }
}

impl Documentation {
    /// With `{domain}` expanded for `domain`.
    pub fn expand(&self, domain: &Name) -> Documentation {
        Documentation {
            url: crate::placeholder::expand(&self.url, domain),
            descriptions: self
                .descriptions
                .iter()
                .map(|(l, t)| (l.clone(), crate::placeholder::expand(t, domain)))
                .collect(),
        }
    }
}

impl OAuth2 {
    /// With `{domain}` expanded for `domain`.
    pub fn expand(&self, domain: &Name) -> OAuth2 {
        let x = |s: &str| crate::placeholder::expand(s, domain);
        OAuth2 {
            issuer: x(&self.issuer),
            scope: x(&self.scope),
            auth_url: x(&self.auth_url),
            token_url: x(&self.token_url),
        }
    }
}

/// OAuth2 endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// Issuer.
    pub issuer: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Authorization URL.
    pub auth_url: String,
    /// Token URL.
    pub token_url: String,
}

/// A served domain: a primary, or an alias answered like its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// The domain (lower case, absolute).
    pub name: Name,
    /// For an alias: the primary domain it mirrors.
    pub alias_of: Option<Name>,
    /// Indexes into [`Model::services`], in configured order.
    pub services: Vec<usize>,
    /// What is served for it.
    pub features: Features,
    /// DNS settings of its zone.
    pub dns: DomainDns,
}

impl Domain {
    /// The name `{domain}` expands to: the primary's name, also for aliases, because an alias is
    /// answered exactly like its target (same servers, same certificates).
    pub fn template_domain(&self) -> &Name {
        self.alias_of.as_ref().unwrap_or(&self.name)
    }
}

/// Per-domain feature switches (all on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Thunderbird autoconfig and the `autoconfig.` name.
    pub autoconfig: bool,
    /// Outlook Autodiscover, the `autodiscover.` name and `_autodiscover._tcp` SRV.
    pub autodiscover: bool,
    /// Apple configuration profiles.
    pub mobileconfig: bool,
    /// MTA-STS policy, `mta-sts.` name and `_mta-sts` TXT.
    pub mta_sts: bool,
    /// RFC 6186/8314 SRV records.
    pub srv: bool,
}

/// DNS settings of one domain's zone.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainDns {
    /// TTL of generated records.
    pub ttl: u32,
    /// MX records.
    pub mx: Vec<MxEntry>,
    /// SPF text.
    pub spf: Option<String>,
    /// DMARC text.
    pub dmarc: Option<String>,
    /// DKIM keys.
    pub dkim: Vec<DkimKey>,
    /// TLS-RPT destinations.
    pub tls_rpt: Vec<String>,
    /// CAA records.
    pub caa: Vec<CAA>,
    /// The MTA-STS policy (present exactly when the feature is on and the domain has MX hosts).
    pub mta_sts: Option<MtaStsPolicy>,
    /// Name servers.
    pub name_servers: Vec<Name>,
    /// SOA contact and timers.
    pub soa: SoaSettings,
    /// `_autodiscover._tcp` SRV parameters.
    pub autodiscover_srv: SrvParams,
    /// Who may transfer the zone (any rule that matches allows).
    pub axfr: Vec<TransferRule>,
    /// Secondaries told of changes with a NOTIFY (RFC 1996).
    pub notify: Vec<NotifyTarget>,
    /// Extra records from the `records` key, already placed in this zone.
    pub extra: Vec<Record>,
    /// How the zone is signed (`None`: unsigned).
    pub dnssec: Option<DnssecAlgorithm>,
    /// DANE TLSA records (`3 1 1`) of in-zone mail hosts, computed from certificate files.
    pub tlsa: Vec<Record>,
}

/// A DNSSEC signing algorithm mailbeacon offers (RFC 8624 lists both as MUST for validators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnssecAlgorithm {
    /// ECDSA over P-256 with SHA-256, algorithm 13: the default, validated everywhere.
    EcdsaP256Sha256,
    /// Ed25519, algorithm 15: smaller signatures, validated by current resolvers.
    Ed25519,
}

impl DnssecAlgorithm {
    /// The IANA mnemonic, as configured and as zone files print it.
    pub fn mnemonic(self) -> &'static str {
        match self {
            DnssecAlgorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            DnssecAlgorithm::Ed25519 => "ED25519",
        }
    }

    /// The IANA algorithm number.
    pub fn number(self) -> u8 {
        match self {
            DnssecAlgorithm::EcdsaP256Sha256 => 13,
            DnssecAlgorithm::Ed25519 => 15,
        }
    }

    /// The algorithm named by `text` (mnemonic in any letter case, or number).
    pub fn parse(text: &str) -> Option<DnssecAlgorithm> {
        [DnssecAlgorithm::EcdsaP256Sha256, DnssecAlgorithm::Ed25519]
            .into_iter()
            .find(|a| a.mnemonic().eq_ignore_ascii_case(text) || a.number().to_string() == text)
    }
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxEntry {
    /// Preference (lower first).
    pub priority: u16,
    /// Exchange host (root for a null MX).
    pub host: Name,
}

/// One DKIM key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    /// Selector (one or more labels).
    pub selector: Name,
    /// Record text.
    pub value: String,
}

/// SOA contact and timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoaSettings {
    /// RNAME (the contact address as a DNS name).
    pub contact: Name,
    /// Refresh.
    pub refresh: u32,
    /// Retry.
    pub retry: u32,
    /// Expire.
    pub expire: u32,
    /// Negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

/// Parameters of a generated SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvParams {
    /// Priority.
    pub priority: u16,
    /// Weight.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target, or `None` for the default (the domain's own `autodiscover.` name, or the box's CNAME
    /// target when it has one).
    pub target: Option<Name>,
}

/// A syntactically valid e-mail address (`local@domain`), as clients send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    text: String,
    at: usize,
}

/// Why an e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Longer than 254 octets (RFC 5321's path limit).
    #[error("address is longer than 254 characters")]
    TooLong,
    /// Not exactly one `@`, or an empty side.
    #[error("address must be local-part@domain")]
    Shape,
    /// A control character, space or angle bracket.
    #[error("address contains a forbidden character")]
    Character,
    /// The domain is not a valid DNS name.
    #[error("address domain is not a valid domain name")]
    Domain,
}

impl EmailAddress {
    /// Validates `s`: one `@`, non-empty local part of at most 64 octets, a valid domain, no control
    /// characters, whitespace or brackets; the domain is lower-cased.
    pub fn parse(s: &str) -> Result<EmailAddress, AddressError> {
        let s = s.trim();
        if s.len() > 254 {
            return Err(AddressError::TooLong);
        }
        if s.chars().any(|c| {
            c.is_control()
                    || c.is_whitespace()
                    || matches!(c, '<' | '>' | '"' | '\\')
                    // Not XML `Char`s: every document the address is written into would break.
                    || matches!(c, '\u{FFFE}' | '\u{FFFF}')
        }) {
            return Err(AddressError::Character);
        }
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AddressError::Shape);
        };
        if local.is_empty() || domain.is_empty() || local.len() > 64 {
            return Err(AddressError::Shape);
        }
        let name = crate::name::parse_hostname(domain).map_err(|_| AddressError::Domain)?;
        let domain = crate::name::display(&name);
        Ok(EmailAddress {
            at: local.len(),
            text: format!("{local}@{domain}"),
        })
    }

    /// The whole address.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain (lower case, no trailing dot).
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_validated_and_domain_lower_cased() {
        let a = EmailAddress::parse("Alice@Example.NET").unwrap();
        assert_eq!(a.as_str(), "Alice@example.net");
        assert_eq!(a.local_part(), "Alice");
        assert_eq!(a.domain(), "example.net");
        assert_eq!(EmailAddress::parse("a@b@c"), Err(AddressError::Shape));
        assert_eq!(EmailAddress::parse("@b.c"), Err(AddressError::Shape));
        assert_eq!(EmailAddress::parse("a b@c.d"), Err(AddressError::Character));
        assert_eq!(EmailAddress::parse("a<@c.d"), Err(AddressError::Character));
        assert_eq!(EmailAddress::parse("a@-bad-.d"), Err(AddressError::Domain));
        assert_eq!(
            EmailAddress::parse(&format!("{}@x.y", "a".repeat(300))),
            Err(AddressError::TooLong)
        );
    }

    #[test]
    fn usernames_expand_placeholders() {
        let a = EmailAddress::parse("bob@example.org").unwrap();
        assert_eq!(Username::Address.for_address(&a), "bob@example.org");
        assert_eq!(Username::LocalPart.for_address(&a), "bob");
        assert_eq!(
            Username::Template("%EMAILLOCALPART%.%EMAILDOMAIN%".into()).for_address(&a),
            "bob.example.org"
        );
    }

    #[test]
    fn auth_methods_accept_synonyms() {
        assert_eq!(
            AuthMethod::parse("plain"),
            Some(AuthMethod::PasswordCleartext)
        );
        assert_eq!(
            AuthMethod::parse("secure"),
            Some(AuthMethod::PasswordEncrypted)
        );
        assert_eq!(AuthMethod::parse("oauth2"), Some(AuthMethod::OAuth2));
        assert_eq!(AuthMethod::parse("kerberos"), None);
        for m in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
    }
}
