//! Reading a Thunderbird `clientConfig` document (an ISP's, the ISPDB's, or what automx2 serves).
//!
//! The reader is lenient where real files vary (element order, unknown elements, namespaces,
//! surrounding whitespace) and strict where a value would be misread: an unknown entity, a missing
//! `hostname` or `port`, or a DTD (which no autoconfig file needs) are errors.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// A provider's document, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderDocument {
    /// `emailProvider id`.
    pub id: String,
    /// `<domain>` entries in order.
    pub domains: Vec<String>,
    /// `<displayName>`.
    pub display_name: Option<String>,
    /// `<displayShortName>`.
    pub short_name: Option<String>,
    /// `<incomingServer>` entries in order.
    pub incoming: Vec<ServerEntry>,
    /// `<outgoingServer>` entries in order.
    pub outgoing: Vec<ServerEntry>,
    /// `<documentation>` entries.
    pub documentation: Vec<DocumentationEntry>,
    /// `<webMail><loginPage url>`.
    pub webmail: Option<String>,
    /// `<oAuth2>`.
    pub oauth2: Option<OAuth2Entry>,
}

/// One `<incomingServer>`/`<outgoingServer>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerEntry {
    /// The `type` attribute (`imap`, `pop3`, `smtp`, `exchange`, …).
    pub kind: String,
    /// `<hostname>`.
    pub hostname: String,
    /// `<port>` as written.
    pub port: String,
    /// `<socketType>` (`SSL`, `STARTTLS`, `plain`).
    pub socket_type: String,
    /// Every `<authentication>`, in order.
    pub authentication: Vec<String>,
    /// `<username>`.
    pub username: Option<String>,
}

/// One `<documentation>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentationEntry {
    /// `url` attribute.
    pub url: String,
    /// `(lang, text)` of each `<descr>`.
    pub descriptions: Vec<(String, String)>,
}

/// `<oAuth2>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuth2Entry {
    /// `<issuer>`.
    pub issuer: String,
    /// `<scope>`.
    pub scope: String,
    /// `<authURL>`.
    pub auth_url: String,
    /// `<tokenURL>`.
    pub token_url: String,
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    /// Not well-formed XML.
    #[error("not well-formed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset.
        position: u64,
        /// The parser's message.
        message: String,
    },
    /// A DTD or an entity that is not one of XML's five.
    #[error("DTDs and custom entities are not accepted")]
    Entity,
    /// The root is not `clientConfig` or there is no `emailProvider`.
    #[error("not a Thunderbird autoconfig document (no clientConfig/emailProvider)")]
    NotAutoconfig,
    /// A server entry lacks a required element.
    #[error("{element} #{index} has no <{missing}>")]
    Incomplete {
        /// `incomingServer` or `outgoingServer`.
        element: &'static str,
        /// 1-based position among its kind.
        index: usize,
        /// The missing element.
        missing: &'static str,
    },
}

/// Parses a `clientConfig` document.
pub fn read(xml: &str) -> Result<ProviderDocument, ReadError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut doc = ProviderDocument::default();
    // The path of open elements (local names), and the text gathered for the innermost one.
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut saw_root = false;
    let mut saw_provider = false;
    loop {
        let event = reader.read_event().map_err(|e| ReadError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::Start(e) => {
                let name = local(&e);
                on_open(&mut doc, &path, &name, &e, &mut saw_root, &mut saw_provider);
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = local(&e);
                on_open(&mut doc, &path, &name, &e, &mut saw_root, &mut saw_provider);
                path.push(name);
                text.clear();
                on_close(&mut doc, &path, "");
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        _ => return Err(ReadError::Entity),
                    }
                } else {
                    let c = match r.xml10_content().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(ReadError::Entity),
                    };
                    text.push(c);
                }
            }
            Event::End(_) => {
                on_close(&mut doc, &path, text.trim());
                text.clear();
                path.pop();
            }
            Event::DocType(_) => return Err(ReadError::Entity),
            Event::Eof if !path.is_empty() => {
                return Err(ReadError::Xml {
                    position: reader.buffer_position(),
                    message: format!("document ends inside <{}>", path.join("><")),
                });
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !saw_root || !saw_provider {
        return Err(ReadError::NotAutoconfig);
    }
    check_servers(&doc.incoming, "incomingServer")?;
    check_servers(&doc.outgoing, "outgoingServer")?;
    Ok(doc)
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.trim().to_owned())
        })
}

fn on_open(
    doc: &mut ProviderDocument,
    path: &[String],
    name: &str,
    e: &BytesStart<'_>,
    saw_root: &mut bool,
    saw_provider: &mut bool,
) {
    let parent = path.last().map(String::as_str);
    match (parent, name) {
        (None, "clientConfig") => *saw_root = true,
        (Some("clientConfig"), "emailProvider") if !*saw_provider => {
            *saw_provider = true;
            doc.id = attr(e, "id").unwrap_or_default();
        }
        (Some("emailProvider"), "incomingServer") => doc.incoming.push(ServerEntry {
            kind: attr(e, "type").unwrap_or_default(),
            ..Default::default()
        }),
        (Some("emailProvider"), "outgoingServer") => doc.outgoing.push(ServerEntry {
            kind: attr(e, "type").unwrap_or_default(),
            ..Default::default()
        }),
        (Some("emailProvider"), "documentation") => doc.documentation.push(DocumentationEntry {
            url: attr(e, "url").unwrap_or_default(),
            descriptions: vec![],
        }),
        (Some("documentation"), "descr") => {
            if let Some(d) = doc.documentation.last_mut() {
                d.descriptions
                    .push((attr(e, "lang").unwrap_or_default(), String::new()));
            }
        }
        (Some("webMail"), "loginPage") if doc.webmail.is_none() => doc.webmail = attr(e, "url"),
        (Some("clientConfig"), "oAuth2") => doc.oauth2 = Some(OAuth2Entry::default()),
        _ => {}
    }
}

/// Stores the text of the element at the end of `path`.
fn on_close(doc: &mut ProviderDocument, path: &[String], text: &str) {
    let n = path.len();
    let (Some(name), parent) = (
        path.last().map(String::as_str),
        n.checked_sub(2).map(|i| path[i].as_str()),
    ) else {
        return;
    };
    let text = text.to_owned();
    match (parent, name) {
        (Some("emailProvider"), "domain") if !text.is_empty() => doc.domains.push(text),
        (Some("emailProvider"), "displayName") => doc.display_name = Some(text),
        (Some("emailProvider"), "displayShortName") => doc.short_name = Some(text),
        (Some("descr"), _) => {}
        (Some("documentation"), "descr") => {
            if let Some((_, t)) = doc
                .documentation
                .last_mut()
                .and_then(|d| d.descriptions.last_mut())
            {
                *t = text;
            }
        }
        (Some(server @ ("incomingServer" | "outgoingServer")), field)
            if n >= 3 && path[n - 3] == "emailProvider" =>
        {
            let list = if server == "incomingServer" {
                &mut doc.incoming
            } else {
                &mut doc.outgoing
            };
            let Some(s) = list.last_mut() else { return };
            match field {
                "hostname" => s.hostname = text,
                "port" => s.port = text,
                "socketType" => s.socket_type = text,
                "authentication" if !text.is_empty() => s.authentication.push(text),
                "username" => s.username = Some(text),
                _ => {}
            }
        }
        (Some("oAuth2"), field) => {
            let Some(o) = doc.oauth2.as_mut() else { return };
            match field {
                "issuer" => o.issuer = text,
                "scope" => o.scope = text,
                "authURL" => o.auth_url = text,
                "tokenURL" => o.token_url = text,
                _ => {}
            }
        }
        _ => {}
    }
}

fn check_servers(list: &[ServerEntry], element: &'static str) -> Result<(), ReadError> {
    for (i, s) in list.iter().enumerate() {
        // Other server types (exchange, ews, …) are judged by whoever uses them.
        if !matches!(s.kind.as_str(), "imap" | "pop3" | "smtp") {
            continue;
        }
        let missing = if s.hostname.is_empty() {
            "hostname"
        } else if s.port.is_empty() {
            "port"
        } else {
            continue;
        };
        return Err(ReadError::Incomplete {
            element,
            index: i + 1,
            missing,
        });
    }
    Ok(())
}
