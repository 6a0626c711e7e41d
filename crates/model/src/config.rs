//! The TOML schema exactly as users write it.
//!
//! These types mirror the file: every field is optional where the file may omit it, and values that a
//! later check may reject are [`Spanned`] so that the error can name the line and column. Nothing here
//! is validated; [`crate::load`] turns a [`ConfigFile`] into a [`crate::Model`].
//!
//! The same types serialize back to TOML, which is how `mailbeacon import` writes configurations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A whole configuration file.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// This box: its addresses and listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSection>,
    /// HTTPS certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// Settings every domain inherits unless it sets them itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<DomainSection>,
    /// Mail services by name (a provider's servers, shared by many domains).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service: BTreeMap<String, ServiceSection>,
    /// The mail domains served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain: Vec<DomainSection>,
    /// TSIG keys by name (RFC 8945), for transfers and NOTIFY.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tsig: BTreeMap<String, Spanned<TsigSection>>,
    /// Addresses of host names inside served zones (`"mail.{domain}" = ["192.0.2.1"]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, Vec<Spanned<String>>>,
}

/// `[server]`: this box.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// IPv4 addresses that `autoconfig.`, `autodiscover.` and `mta-sts.` names resolve to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv4: Vec<Spanned<String>>,
    /// IPv6 addresses for the same names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6: Vec<Spanned<String>>,
    /// A CNAME target for those names instead of addresses (a web front end elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<Spanned<String>>,
    /// DNS listen addresses (UDP and TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<Spanned<String>>>,
    /// Plain HTTP listen addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Vec<Spanned<String>>>,
    /// HTTPS listen addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<Vec<Spanned<String>>>,
    /// Where serial numbers and lab certificates are kept, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// Response rate limiting for DNS over UDP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrl: Option<Spanned<RrlSection>>,
    /// Where Prometheus metrics are served (`127.0.0.1:9153`); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Spanned<String>>,
    /// The HTTPS port clients reach (behind a port forward), named in every URL handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_https_port: Option<Spanned<i64>>,
    /// When started as root: the user to become once the listeners are bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Spanned<String>>,
    /// When started as root: the group to become (default: the user's own group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Spanned<String>>,
}

/// `rrl = { … }`: DNS response rate limiting (as NSD's `rrl-*` and Knot's `mod-rrl`).
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RrlSection {
    /// Answers per second to one client network for one kind of answer; 0 turns limiting off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Spanned<i64>>,
    /// Every n-th limited answer is sent truncated instead of dropped (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slip: Option<Spanned<i64>>,
    /// IPv4 prefix length that makes one client network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_prefix: Option<Spanned<i64>>,
    /// IPv6 prefix length that makes one client network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_prefix: Option<Spanned<i64>>,
    /// Networks never limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt: Option<Vec<Spanned<String>>>,
}

/// `[tls]`: how HTTPS gets its certificates.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// `lab` (generate a CA and leaf certificates), `files` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Spanned<String>>,
    /// Certificate files, chosen by SNI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate: Vec<CertificateSection>,
    /// ACME: the CA's directory URL, or `letsencrypt` / `letsencrypt-staging`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_directory: Option<Spanned<String>>,
    /// ACME: contact URLs for the account (`mailto:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_contact: Option<Vec<Spanned<String>>>,
    /// ACME: a PEM file of extra roots to trust for the CA's own HTTPS (a test CA such as Pebble).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_server_ca: Option<Spanned<String>>,
    /// ACME: `http-01` (default) or `dns-01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_challenge: Option<Spanned<String>>,
    /// ACME: external account binding key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_eab_kid: Option<Spanned<String>>,
    /// ACME: external account binding HMAC key (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_eab_hmac: Option<Spanned<String>>,
}

/// `[[tls.certificate]]`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSection {
    /// Names the certificate is used for; `*.example.net` allowed.
    pub names: Vec<Spanned<String>>,
    /// PEM certificate chain, relative to the config file.
    pub cert: Spanned<String>,
    /// PEM private key, relative to the config file.
    pub key: Spanned<String>,
}

/// `[tsig.NAME]`: a TSIG key shared with secondaries.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TsigSection {
    /// `hmac-sha256` (default) or `hmac-sha512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Spanned<String>>,
    /// The shared secret, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Spanned<String>>,
    /// A file holding the secret (base64), relative to the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<Spanned<String>>,
}

/// `[service.NAME]`: a provider's mail servers.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Display name shown by clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Spanned<String>>,
    /// Short display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_name: Option<Spanned<String>>,
    /// Username format for every server of the service: `address`, `localpart` or a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Spanned<String>>,
    /// Incoming servers (IMAP, POP3) in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incoming: Vec<Spanned<EndpointSection>>,
    /// Outgoing servers (SMTP submission) in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outgoing: Vec<Spanned<EndpointSection>>,
    /// Documentation links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documentation: Vec<DocumentationSection>,
    /// Web mail login page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webmail: Option<Spanned<String>>,
    /// CalDAV base URL (`https://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caldav: Option<Spanned<String>>,
    /// CardDAV base URL (`https://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carddav: Option<Spanned<String>>,
    /// OAuth2 provider details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Section>,
}

/// One server entry of `incoming` or `outgoing`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    /// `imap` or `pop3` (incoming), `smtp` (outgoing, the default there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Spanned<String>>,
    /// Host name, may contain `{domain}`.
    pub host: Spanned<String>,
    /// Port; defaults from protocol and security (993, 143, 995, 110, 465, 587).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Spanned<i64>>,
    /// `tls` (implicit), `starttls` or `plain`; default `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Spanned<String>>,
    /// Authentication methods, most preferred first; default `["password-cleartext"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Vec<Spanned<String>>>,
    /// Username format for this server only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Spanned<String>>,
}

/// A documentation link with per-language descriptions.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentationSection {
    /// The URL.
    pub url: Spanned<String>,
    /// Description by language code (`en = "FAQ"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub description: BTreeMap<String, String>,
}

/// OAuth2 endpoints of a provider.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Section {
    /// Issuer (host name or URL).
    pub issuer: Spanned<String>,
    /// Scopes, space separated.
    pub scope: Spanned<String>,
    /// Authorization endpoint.
    pub auth_url: Spanned<String>,
    /// Token endpoint.
    pub token_url: Spanned<String>,
}

/// `[[domain]]`, and `[defaults]` which holds the same keys except `name` and `aliases`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DomainSection {
    /// The mail domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Parked or alias domains answered like this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<Spanned<AliasEntry>>>,
    /// Names of the services this domain's mail is handled by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Spanned<String>>>,
    /// Serve Thunderbird autoconfig (and publish `autoconfig.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoconfig: Option<bool>,
    /// Serve Outlook Autodiscover (and publish `autodiscover.` and its SRV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autodiscover: Option<bool>,
    /// Serve Apple configuration profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobileconfig: Option<bool>,
    /// Publish and serve an MTA-STS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mta_sts: Option<bool>,
    /// Publish RFC 6186/8314 SRV records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srv: Option<bool>,
    /// MX records as `"PRIORITY HOST"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx: Option<Vec<Spanned<String>>>,
    /// The SPF record text (`v=spf1 …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spf: Option<Spanned<String>>,
    /// The DMARC record text (`v=DMARC1; …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<Spanned<String>>,
    /// DKIM public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim: Option<Vec<DkimSection>>,
    /// TLS-RPT report destinations (`mailto:` or `https:` URIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_rpt: Option<Vec<Spanned<String>>>,
    /// CAA records in presentation form (`0 issue "letsencrypt.org"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caa: Option<Vec<Spanned<String>>>,
    /// The MTA-STS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mta_sts_policy: Option<Spanned<MtaStsSection>>,
    /// Name servers of the zone (`ns1.example.net`, `ns.{domain}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_servers: Option<Vec<Spanned<String>>>,
    /// SOA contact and timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soa: Option<SoaSection>,
    /// TTL of every generated record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Spanned<i64>>,
    /// The `_autodiscover._tcp` SRV record's priority, weight, port and target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autodiscover_srv: Option<SrvSection>,
    /// Addresses or networks allowed to transfer the zone (AXFR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axfr: Option<Vec<Spanned<String>>>,
    /// Secondary name servers sent a DNS NOTIFY when the zone changes (`ip` or `ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<Spanned<String>>>,
    /// Further records in zone-file syntax, names relative to the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Spanned<String>>,
    /// Sign the zone (DNSSEC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<bool>,
    /// The signing algorithm: `ECDSAP256SHA256` (13, the default) or `ED25519` (15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec_algorithm: Option<Spanned<String>>,
    /// DANE: TLSA records computed from the mail servers' certificate files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlsa: Option<Vec<Spanned<TlsaSection>>>,
}

/// `tlsa = [{ host = "mail.{domain}", cert = "/etc/postfix/cert.pem", ports = [25] }]`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsaSection {
    /// The mail host whose certificate it is (in this zone).
    pub host: Spanned<String>,
    /// Its certificate file (PEM; the first certificate is the server's own).
    pub cert: Spanned<String>,
    /// The ports it serves TLS on (default: 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<Spanned<i64>>>,
}

/// An alias: either just its name, or a table that also switches features for it.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AliasEntry {
    /// `"parked.example"`
    Name(String),
    /// `{ name = "parked.example", autodiscover = false }`
    Table(AliasTable),
}

/// The table form of an alias.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AliasTable {
    /// The alias domain.
    pub name: String,
    /// Override of the target's `autoconfig` switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoconfig: Option<bool>,
    /// Override of the target's `autodiscover` switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autodiscover: Option<bool>,
    /// Override of the target's `mobileconfig` switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobileconfig: Option<bool>,
    /// Override of the target's `mta_sts` switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mta_sts: Option<bool>,
    /// Override of the target's `srv` switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srv: Option<bool>,
}

impl<'de> Deserialize<'de> for AliasEntry {
    // Hand-written rather than `untagged` so that a bad table reports its real error
    // (an unknown key, say) instead of "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AliasEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a domain name or a table with `name` and feature switches")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AliasEntry, E> {
                Ok(AliasEntry::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<AliasEntry, A::Error> {
                AliasTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(AliasEntry::Table)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl AliasEntry {
    /// The alias domain name as written.
    pub fn name(&self) -> &str {
        match self {
            AliasEntry::Name(n) => n,
            AliasEntry::Table(t) => &t.name,
        }
    }
}

/// A DKIM public key.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSection {
    /// Selector (the label before `._domainkey`).
    pub selector: Spanned<String>,
    /// The record text (`v=DKIM1; k=ed25519; p=…`).
    pub value: Spanned<String>,
}

/// `mta_sts_policy = { … }`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MtaStsSection {
    /// `enforce`, `testing` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Spanned<String>>,
    /// Cache lifetime in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Spanned<i64>>,
    /// Allowed MX host patterns; defaults to the domain's MX hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx: Option<Vec<Spanned<String>>>,
}

/// `soa = { … }`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SoaSection {
    /// Responsible person as a mail address or a DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Spanned<String>>,
    /// Refresh timer, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Spanned<i64>>,
    /// Retry timer, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Spanned<i64>>,
    /// Expire timer, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<Spanned<i64>>,
    /// Negative-caching TTL, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<Spanned<i64>>,
}

/// `autodiscover_srv = { … }`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SrvSection {
    /// SRV priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Spanned<i64>>,
    /// SRV weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Spanned<i64>>,
    /// SRV port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Spanned<i64>>,
    /// SRV target host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Spanned<String>>,
}
