//! Thunderbird autoconfig: the `clientConfig version="1.1"` document served at
//! `/mail/config-v1.1.xml`, as Thunderbird, K-9/Thunderbird Android, KMail, Evolution and Delta Chat
//! read it.
//!
//! Choices that matter to those parsers: `emailProvider id` is always present; `<domain>` holds a
//! plain domain name; servers appear in configured order (clients try the first one first);
//! usernames are left as `%EMAILADDRESS%`-style placeholders, which every one of these clients
//! substitutes itself, so the answer never depends on (or reveals anything about) the local part.

use std::io;

use mailbeacon_model::{ClientSettings, Security, ServerSettings};
use quick_xml::Writer;
use quick_xml::events::BytesText;

use crate::xml::text;

/// The MIME type Thunderbird expects.
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// Thunderbird's `socketType` for a security mode.
pub fn socket_type(security: Security) -> &'static str {
    match security {
        Security::Tls => "SSL",
        Security::StartTls => "STARTTLS",
        Security::Plain => "plain",
    }
}

/// Writes the autoconfig document for `settings`.
pub fn write(settings: &ClientSettings) -> String {
    crate::xml::write_document(|w| write_client_config(w, settings))
}

fn write_client_config(w: &mut Writer<Vec<u8>>, s: &ClientSettings) -> io::Result<()> {
    w.create_element("clientConfig")
        .with_attribute(("version", "1.1"))
        .write_inner_content(|w| {
            w.create_element("emailProvider")
                .with_attribute(("id", s.provider_id.as_str()))
                .write_inner_content(|w| {
                    text(w, "domain", &s.domain)?;
                    if s.provider_id != s.domain {
                        text(w, "domain", &s.provider_id)?;
                    }
                    text(w, "displayName", &s.display_name)?;
                    text(w, "displayShortName", &s.short_name)?;
                    for server in &s.incoming {
                        write_server(w, "incomingServer", server)?;
                    }
                    for server in &s.outgoing {
                        write_server(w, "outgoingServer", server)?;
                    }
                    for doc in &s.documentation {
                        w.create_element("documentation")
                            .with_attribute(("url", doc.url.as_str()))
                            .write_inner_content(|w| {
                                for (lang, descr) in &doc.descriptions {
                                    w.create_element("descr")
                                        .with_attribute(("lang", lang.as_str()))
                                        .write_text_content(BytesText::new(descr))?;
                                }
                                Ok(())
                            })?;
                    }
                    Ok(())
                })?;
            if let Some(url) = &s.webmail {
                w.create_element("webMail").write_inner_content(|w| {
                    w.create_element("loginPage")
                        .with_attribute(("url", url.as_str()))
                        .write_empty()?;
                    Ok(())
                })?;
            }
            // The current draft's spelling (draft-ietf-mailmaint-autoconfig): lower-case
            // `addressbook`, a `url`, and HTTP authentication named with `system="http"`.
            for (element, kind, dav) in [
                ("addressbook", "carddav", &s.carddav),
                ("calendar", "caldav", &s.caldav),
            ] {
                if let Some(dav) = dav {
                    w.create_element(element)
                        .with_attribute(("type", kind))
                        .write_inner_content(|w| dav_inner(w, &dav.url))?;
                }
            }
            if let Some(o) = &s.oauth2 {
                w.create_element("oAuth2").write_inner_content(|w| {
                    text(w, "issuer", &o.issuer)?;
                    text(w, "scope", &o.scope)?;
                    text(w, "authURL", &o.auth_url)?;
                    text(w, "tokenURL", &o.token_url)?;
                    Ok(())
                })?;
            }
            Ok(())
        })?;
    Ok(())
}

fn dav_inner(w: &mut Writer<Vec<u8>>, url: &str) -> io::Result<()> {
    text(w, "url", url)?;
    w.create_element("authentication")
        .with_attribute(("system", "http"))
        .write_text_content(BytesText::new("Basic"))?;
    text(w, "username", "%EMAILADDRESS%")
}

fn write_server(w: &mut Writer<Vec<u8>>, element: &str, s: &ServerSettings) -> io::Result<()> {
    w.create_element(element)
        .with_attribute(("type", s.protocol.as_str()))
        .write_inner_content(|w| {
            text(w, "hostname", &s.host)?;
            text(w, "port", &s.port.to_string())?;
            text(w, "socketType", socket_type(s.security))?;
            for a in &s.auth {
                text(w, "authentication", a.as_str())?;
            }
            text(w, "username", s.username.template())
        })?;
    Ok(())
}
