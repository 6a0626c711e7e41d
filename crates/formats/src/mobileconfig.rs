//! Apple configuration profiles (`.mobileconfig`): a `com.apple.mail.managed` payload, plus CalDAV
//! and CardDAV account payloads when the service has them.
//!
//! Identifiers and UUIDs are hashes of the domain and address, so downloading the profile again
//! replaces the installed one instead of adding a second account, and the bytes never change for
//! the same input. No password is ever included: the device asks for it during installation.

use mailbeacon_model::{AuthMethod, ClientSettings, DavUrl, EmailAddress, Protocol, Security};
use plist::{Dictionary, Value};
use sha2::{Digest, Sha256};

/// The profile content type.
pub const CONTENT_TYPE: &str = "application/x-apple-aspen-config";

/// The file name offered in `Content-Disposition`.
pub fn file_name(settings: &ClientSettings) -> String {
    format!("{}.mobileconfig", settings.domain)
}

/// Writes the profile for `settings`, for `address` when known (otherwise the device asks for the
/// address and username while installing).
pub fn write(settings: &ClientSettings, address: Option<&EmailAddress>) -> Vec<u8> {
    let seed = match address {
        Some(a) => format!("{}\n{}", settings.domain, a.as_str().to_lowercase()),
        None => settings.domain.clone(),
    };
    let reversed: Vec<&str> = settings.domain.rsplit('.').collect();
    let mut identifier = format!("{}.mailbeacon", reversed.join("."));
    if address.is_some() {
        identifier.push('.');
        identifier.push_str(&hex(&Sha256::digest(seed.as_bytes())[..8]));
    }
    let mut content = Vec::new();
    if let Some(mail) = mail_payload(settings, address, &identifier, &seed) {
        content.push(Value::Dictionary(mail));
    }
    for (kind, dav) in [("caldav", &settings.caldav), ("carddav", &settings.carddav)] {
        if let Some(dav) = dav {
            content.push(Value::Dictionary(dav_payload(
                kind,
                dav,
                settings,
                address,
                &identifier,
                &seed,
            )));
        }
    }
    let mut top = Dictionary::new();
    top.insert(
        "PayloadDisplayName".into(),
        format!("{} ({})", settings.display_name, settings.domain).into(),
    );
    top.insert(
        "PayloadDescription".into(),
        format!("Mail settings for {}", settings.domain).into(),
    );
    top.insert(
        "PayloadOrganization".into(),
        settings.display_name.clone().into(),
    );
    top.insert("PayloadIdentifier".into(), identifier.clone().into());
    top.insert("PayloadType".into(), "Configuration".into());
    top.insert("PayloadUUID".into(), uuid(&seed, "profile").into());
    top.insert("PayloadVersion".into(), 1.into());
    top.insert("PayloadContent".into(), Value::Array(content));
    let mut out = Vec::new();
    // Serialising an in-memory plist into a Vec<u8> cannot fail.
    Value::Dictionary(top)
        .to_writer_xml(&mut out)
        .expect("in-memory write");
    out.push(b'\n');
    out
}

fn mail_payload(
    s: &ClientSettings,
    address: Option<&EmailAddress>,
    identifier: &str,
    seed: &str,
) -> Option<Dictionary> {
    // Apple takes one incoming and one outgoing server: the most preferred of each.
    let incoming = s.incoming.first()?;
    let outgoing = s.outgoing.first()?;
    let mut d = Dictionary::new();
    let kind = if incoming.protocol == Protocol::Pop3 {
        "EmailTypePOP"
    } else {
        "EmailTypeIMAP"
    };
    d.insert("EmailAccountType".into(), kind.into());
    d.insert(
        "EmailAccountDescription".into(),
        s.display_name.clone().into(),
    );
    if let Some(a) = address {
        d.insert("EmailAddress".into(), a.as_str().into());
    }
    for (prefix, server) in [("Incoming", incoming), ("Outgoing", outgoing)] {
        d.insert(
            format!("{prefix}MailServerHostName"),
            server.host.clone().into(),
        );
        d.insert(
            format!("{prefix}MailServerPortNumber"),
            i64::from(server.port).into(),
        );
        d.insert(
            format!("{prefix}MailServerUseSSL"),
            (server.security != Security::Plain).into(),
        );
        d.insert(
            format!("{prefix}MailServerAuthentication"),
            apple_auth(&server.auth).into(),
        );
        if let Some(a) = address {
            d.insert(
                format!("{prefix}MailServerUsername"),
                server.username.for_address(a).into(),
            );
        }
    }
    d.insert("OutgoingPasswordSameAsIncomingPassword".into(), true.into());
    d.insert("PayloadType".into(), "com.apple.mail.managed".into());
    d.insert(
        "PayloadIdentifier".into(),
        format!("{identifier}.mail").into(),
    );
    d.insert("PayloadUUID".into(), uuid(seed, "mail").into());
    d.insert("PayloadVersion".into(), 1.into());
    d.insert("PayloadDisplayName".into(), s.display_name.clone().into());
    Some(d)
}

fn dav_payload(
    kind: &str,
    dav: &DavUrl,
    s: &ClientSettings,
    address: Option<&EmailAddress>,
    identifier: &str,
    seed: &str,
) -> Dictionary {
    let prefix = if kind == "caldav" {
        "CalDAV"
    } else {
        "CardDAV"
    };
    let mut d = Dictionary::new();
    d.insert(
        format!("{prefix}AccountDescription"),
        s.display_name.clone().into(),
    );
    d.insert(format!("{prefix}HostName"), dav.host.clone().into());
    d.insert(format!("{prefix}Port"), i64::from(dav.port).into());
    d.insert(format!("{prefix}UseSSL"), dav.https.into());
    d.insert(format!("{prefix}PrincipalURL"), dav.url.clone().into());
    if let Some(a) = address {
        d.insert(format!("{prefix}Username"), a.as_str().into());
    }
    d.insert(
        "PayloadType".into(),
        format!("com.apple.{kind}.account").into(),
    );
    d.insert(
        "PayloadIdentifier".into(),
        format!("{identifier}.{kind}").into(),
    );
    d.insert("PayloadUUID".into(), uuid(seed, kind).into());
    d.insert("PayloadVersion".into(), 1.into());
    d.insert("PayloadDisplayName".into(), s.display_name.clone().into());
    d
}

/// Apple's name for the most preferred method it knows.
fn apple_auth(methods: &[AuthMethod]) -> &'static str {
    methods
        .iter()
        .find_map(|m| match m {
            AuthMethod::PasswordCleartext => Some("EmailAuthPassword"),
            AuthMethod::PasswordEncrypted => Some("EmailAuthCRAMMD5"),
            AuthMethod::Ntlm => Some("EmailAuthNTLM"),
            AuthMethod::None | AuthMethod::ClientIpAddress => Some("EmailAuthNone"),
            _ => None,
        })
        .unwrap_or("EmailAuthPassword")
}

/// A UUID-shaped name derived from `seed` and `purpose` (RFC 9562 version 8: custom hash).
fn uuid(seed: &str, purpose: &str) -> String {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(b"\n");
    h.update(purpose.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex(&b).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = uuid("example.test\nbob@example.test", "mail");
        assert_eq!(a, uuid("example.test\nbob@example.test", "mail"));
        assert_ne!(a, uuid("example.test\nbob@example.test", "profile"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
    }

    #[test]
    fn apple_auth_takes_the_first_known_method() {
        assert_eq!(
            apple_auth(&[AuthMethod::OAuth2, AuthMethod::PasswordEncrypted]),
            "EmailAuthCRAMMD5"
        );
        assert_eq!(apple_auth(&[AuthMethod::OAuth2]), "EmailAuthPassword");
    }
}
