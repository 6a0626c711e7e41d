//! Outlook Autodiscover "POX": the request Outlook, Thunderbird and ActiveSync clients POST to
//! `/autodiscover/autodiscover.xml`, and the `outlook/responseschema/2006a` answer listing the
//! IMAP/POP3/SMTP servers.
//!
//! How security is encoded (clients disagree, see protocols.md §2.3): implicit TLS is
//! `<SSL>on</SSL><Encryption>SSL</Encryption>`, STARTTLS is `<SSL>on</SSL><Encryption>TLS</Encryption>`,
//! plain is `<SSL>off</SSL><Encryption>None</Encryption>`. Outlook reads `Encryption` (SSL = dedicated
//! TLS port, TLS = STARTTLS); Thunderbird ignores the value except `None` and decides by port;
//! Delta Chat reads only `SSL` and negotiates. So all three agree for the conventional ports.

use std::io;

use mailbeacon_model::{ClientSettings, EmailAddress, Protocol, Security, ServerSettings};
use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::Event;

use crate::xml::text;

/// The response content type (Thunderbird parses only `text/xml` and `application/xml`).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const RESPONSE_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// Deepest element nesting a request may have; a real one has three levels.
const MAX_DEPTH: usize = 16;

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutodiscoverRequest {
    /// `Request/EMailAddress`, validated.
    pub address: EmailAddress,
    /// Which response schema the client accepts.
    pub schema: ResponseSchema,
}

/// The `AcceptableResponseSchema` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseSchema {
    /// Outlook's 2006a schema (also assumed when the element is absent).
    Outlook,
    /// ActiveSync's `mobilesync` schema, which an IMAP server cannot answer.
    MobileSync,
    /// Anything else, as written.
    Other(String),
}

/// Why a request body was refused; every case is answered with error code 600.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A DTD, an entity other than XML's five, or nesting deeper than any real request.
    #[error("DTDs, custom entities and deep nesting are not accepted")]
    Hostile,
    /// The root is not `Autodiscover` or there is no `Request/EMailAddress`.
    #[error("no Autodiscover/Request/EMailAddress")]
    NoAddress,
    /// The address is not `local@domain`.
    #[error("EMailAddress: {0}")]
    BadAddress(#[from] mailbeacon_model::AddressError),
}

/// Reads a request body. Element names are matched by local name, ignoring letter case and
/// namespaces, as clients differ in both.
pub fn read_request(body: &[u8]) -> Result<AutodiscoverRequest, RequestError> {
    let body = std::str::from_utf8(body).map_err(|_| RequestError::Xml("not UTF-8".into()))?;
    let mut reader = Reader::from_str(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut address = None;
    let mut schema = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| RequestError::Xml(e.to_string()))?;
        match event {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err(RequestError::Hostile);
                }
                path.push(e.local_name().as_ref().to_ascii_lowercase());
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => text.push(resolve(&r)?),
            Event::End(_) => {
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                match names.as_slice() {
                    ["autodiscover", "request", "emailaddress"] => {
                        address = Some(text.trim().to_owned())
                    }
                    ["autodiscover", "request", "acceptableresponseschema"] => {
                        schema = Some(text.trim().to_owned())
                    }
                    _ => {}
                }
                text.clear();
                path.pop();
            }
            Event::DocType(_) => return Err(RequestError::Hostile),
            Event::Eof if !path.is_empty() => {
                return Err(RequestError::Xml("document ends inside an element".into()));
            }
            Event::Eof => break,
            Event::Empty(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    let address = address
        .filter(|a| !a.is_empty())
        .ok_or(RequestError::NoAddress)?;
    let address = EmailAddress::parse(&address)?;
    let schema = match schema.as_deref() {
        None | Some("") => ResponseSchema::Outlook,
        Some(s) if s.eq_ignore_ascii_case(OUTLOOK_NS) => ResponseSchema::Outlook,
        Some(s) if s.to_ascii_lowercase().contains("/mobilesync/") => ResponseSchema::MobileSync,
        Some(s) => ResponseSchema::Other(s.to_owned()),
    };
    Ok(AutodiscoverRequest { address, schema })
}

fn resolve(r: &quick_xml::events::BytesRef<'_>) -> Result<char, RequestError> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(RequestError::Hostile),
        };
    }
    match r.xml10_content().as_ref() {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(RequestError::Hostile),
    }
}

/// The settings answer. With an address, `LoginName` is that address's username and
/// `DisplayName` the address; without one (a bodyless GET), `LoginName` is left out so the client
/// uses the address the user typed.
pub fn write_settings(s: &ClientSettings, address: Option<&EmailAddress>) -> String {
    envelope(Some(OUTLOOK_NS), |w| {
        if let Some(a) = address {
            w.create_element("User").write_inner_content(|w| {
                text(w, "DisplayName", a.as_str())?;
                text(w, "AutoDiscoverSMTPAddress", a.as_str())
            })?;
        }
        w.create_element("Account").write_inner_content(|w| {
            text(w, "AccountType", "email")?;
            text(w, "Action", "settings")?;
            for server in s.incoming.iter().chain(&s.outgoing) {
                write_protocol(w, server, address)?;
            }
            Ok(())
        })?;
        Ok(())
    })
}

/// `<Autodiscover><Response>…</Response></Autodiscover>` with unprefixed namespaces (Thunderbird
/// keys on prefixed names); `response_ns` is the inner `Response`'s, when it has one.
fn envelope(
    response_ns: Option<&str>,
    body: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>,
) -> String {
    crate::xml::write_document(|w| {
        w.create_element("Autodiscover")
            .with_attribute(("xmlns", RESPONSE_NS))
            .write_inner_content(|w| {
                let response = w.create_element("Response");
                match response_ns {
                    Some(ns) => response.with_attribute(("xmlns", ns)),
                    None => response,
                }
                .write_inner_content(body)?;
                Ok(())
            })?;
        Ok(())
    })
}

fn write_protocol(
    w: &mut Writer<Vec<u8>>,
    s: &ServerSettings,
    address: Option<&EmailAddress>,
) -> io::Result<()> {
    let (ssl, encryption) = match s.security {
        Security::Tls => ("on", "SSL"),
        Security::StartTls => ("on", "TLS"),
        Security::Plain => ("off", "None"),
    };
    let kind = match s.protocol {
        Protocol::Imap => "IMAP",
        Protocol::Pop3 => "POP3",
        Protocol::Smtp => "SMTP",
    };
    w.create_element("Protocol").write_inner_content(|w| {
        text(w, "Type", kind)?;
        text(w, "Server", &s.host)?;
        text(w, "Port", &s.port.to_string())?;
        if let Some(a) = address {
            text(w, "LoginName", &s.username.for_address(a))?;
        }
        text(w, "DomainRequired", "off")?;
        text(w, "SPA", "off")?;
        text(w, "SSL", ssl)?;
        text(w, "Encryption", encryption)?;
        text(w, "AuthRequired", "on")?;
        if s.protocol == Protocol::Smtp {
            text(w, "UsePOPAuth", "on")?;
            text(w, "SMTPLast", "off")?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Autodiscover error codes (MS-OXDSCLI) this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 600: the request is malformed or has no address.
    InvalidRequest,
    /// 601: the requested response schema is not available here.
    SchemaUnavailable,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 600,
            ErrorCode::SchemaUnavailable => 601,
        }
    }

    fn message(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "Invalid Request",
            ErrorCode::SchemaUnavailable => "Provider is not available for the requested schema",
        }
    }
}

/// An error document. `debug` says what was wrong, for the person reading a client's log.
pub fn write_error(code: ErrorCode, debug: &str) -> String {
    envelope(None, |w| {
        w.create_element("Error").write_inner_content(|w| {
            text(w, "ErrorCode", &code.code().to_string())?;
            text(w, "Message", code.message())?;
            text(w, "DebugData", debug)
        })?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTLOOK: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress> Alice@Example.TEST </EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

    #[test]
    fn reads_outlook_requests_namespace_and_case_agnostically() {
        let r = read_request(OUTLOOK.as_bytes()).unwrap();
        assert_eq!(r.address.as_str(), "Alice@example.test");
        assert_eq!(r.schema, ResponseSchema::Outlook);
        let prefixed = r#"<a:autodiscover xmlns:a="urn:x"><a:request><a:emailaddress>b@c.d</a:emailaddress></a:request></a:autodiscover>"#;
        let r = read_request(prefixed.as_bytes()).unwrap();
        assert_eq!(r.address.as_str(), "b@c.d");
        assert_eq!(r.schema, ResponseSchema::Outlook);
    }

    #[test]
    fn recognises_mobilesync() {
        let body = OUTLOOK.replace(
            "outlook/responseschema/2006a",
            "mobilesync/responseschema/2006",
        );
        assert_eq!(
            read_request(body.as_bytes()).unwrap().schema,
            ResponseSchema::MobileSync
        );
    }

    #[test]
    fn refuses_bad_requests() {
        assert!(matches!(
            read_request(b"<Autodiscover><Request>"),
            Err(RequestError::Xml(_))
        ));
        assert!(read_request(b"not xml at all <").is_err());
        assert_eq!(
            read_request(b"<Autodiscover><Request/></Autodiscover>"),
            Err(RequestError::NoAddress)
        );
        assert!(matches!(
            read_request(
                b"<Autodiscover><Request><EMailAddress>nobody</EMailAddress></Request></Autodiscover>"
            ),
            Err(RequestError::BadAddress(_))
        ));
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>"#;
        assert_eq!(read_request(bomb), Err(RequestError::Hostile));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(read_request(deep.as_bytes()), Err(RequestError::Hostile));
        let entity = b"<Autodiscover><Request><EMailAddress>a&foo;@b.c</EMailAddress></Request></Autodiscover>";
        assert_eq!(read_request(entity), Err(RequestError::Hostile));
    }

    #[test]
    fn error_documents_carry_the_code_escaped() {
        let doc = write_error(ErrorCode::InvalidRequest, "bad <input> & more");
        assert!(doc.contains("<ErrorCode>600</ErrorCode>"));
        assert!(doc.contains("bad &lt;input&gt; &amp; more"));
    }
}
