//! Reading an Outlook Autodiscover POX *response* and writing the *request* a client sends — the
//! client's side of [`crate::autodiscover`], for `mailbeacon probe`. Element names are matched by
//! local name ignoring letter case and namespaces, as servers differ in both.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Deepest element nesting read; real responses stay under 8.
const MAX_DEPTH: usize = 32;

/// One `<Protocol>` of a settings response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoxProtocol {
    /// `Type`: IMAP, POP3, SMTP, EXCH, …
    pub kind: String,
    /// `Server`.
    pub server: String,
    /// `Port` (absent or unreadable: `None`).
    pub port: Option<u16>,
    /// `LoginName`.
    pub login_name: Option<String>,
    /// `SSL` (`on`/`off`; absent means on).
    pub ssl: Option<String>,
    /// `Encryption` (`SSL`, `TLS`, `None`, `Auto`), which overrides `SSL` when present.
    pub encryption: Option<String>,
}

/// What a response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoxResponse {
    /// `Action` settings: the protocols.
    Settings(Vec<PoxProtocol>),
    /// `Action` redirectAddr: ask again for this address.
    RedirectAddr(String),
    /// `Action` redirectUrl: ask this URL.
    RedirectUrl(String),
    /// An `Error` element: its code and message.
    Error(String),
}

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Not well-formed XML (or not UTF-8).
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// A DOCTYPE, an unknown entity or absurd nesting: refused unread.
    #[error("refused: DOCTYPE, unknown entity or nesting deeper than {MAX_DEPTH}")]
    Hostile,
    /// Well-formed but not an Autodiscover response.
    #[error("not an Autodiscover response (no Account or Error)")]
    NotAutodiscover,
}

/// Reads a POX response body.
pub fn read_response(body: &[u8]) -> Result<PoxResponse, ResponseError> {
    let body = std::str::from_utf8(body).map_err(|_| ResponseError::Xml("not UTF-8".into()))?;
    let mut reader = Reader::from_str(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut protocols = Vec::new();
    let mut current: Option<PoxProtocol> = None;
    let (mut action, mut redirect_addr, mut redirect_url, mut error) = (None, None, None, None);
    loop {
        match reader
            .read_event()
            .map_err(|e| ResponseError::Xml(e.to_string()))?
        {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err(ResponseError::Hostile);
                }
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if name == "protocol" {
                    current = Some(PoxProtocol::default());
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    match r.xml10_content().as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    }
                };
                text.push(c.ok_or(ResponseError::Hostile)?);
            }
            Event::End(_) => {
                let value = text.trim().to_owned();
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or_default();
                match (parent, name.as_str()) {
                    (_, "protocol") => protocols.extend(current.take()),
                    ("protocol", field) => {
                        if let Some(p) = current.as_mut() {
                            match field {
                                "type" => p.kind = value,
                                "server" => p.server = value,
                                "port" => p.port = value.parse().ok(),
                                "loginname" => p.login_name = Some(value),
                                "ssl" => p.ssl = Some(value),
                                "encryption" => p.encryption = Some(value),
                                _ => {}
                            }
                        }
                    }
                    ("account", "action") => action = Some(value.to_ascii_lowercase()),
                    ("account", "redirectaddr") => redirect_addr = Some(value),
                    ("account", "redirecturl") => redirect_url = Some(value),
                    ("error", "errorcode") | ("error", "message") => {
                        let e: &mut String = error.get_or_insert_with(String::new);
                        if !e.is_empty() {
                            e.push(' ');
                        }
                        e.push_str(&value);
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::DocType(_) => return Err(ResponseError::Hostile),
            Event::Eof => break,
            _ => {}
        }
    }
    match action.as_deref() {
        Some("redirectaddr") => redirect_addr
            .map(PoxResponse::RedirectAddr)
            .ok_or(ResponseError::NotAutodiscover),
        Some("redirecturl") => redirect_url
            .map(PoxResponse::RedirectUrl)
            .ok_or(ResponseError::NotAutodiscover),
        Some(_) => Ok(PoxResponse::Settings(protocols)),
        None => error
            .map(PoxResponse::Error)
            .ok_or(ResponseError::NotAutodiscover),
    }
}

/// The POX request Outlook (and Thunderbird) sends for `address`.
pub fn write_request(address: &str) -> String {
    let escaped = address
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\n  <Request>\n    <EMailAddress>{escaped}</EMailAddress>\n    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_settings_answer_reads_back() {
        let settings = mailbeacon_model::load_str(
            mailbeacon_model::DEFAULT_CONFIG,
            std::path::Path::new("default.toml"),
        )
        .unwrap();
        let d = &settings.domains[0];
        let client = settings.client_settings(d);
        let address = mailbeacon_model::EmailAddress::parse("alice@example.test").unwrap();
        let xml = crate::autodiscover::write_settings(&client, Some(&address));
        let PoxResponse::Settings(p) = read_response(xml.as_bytes()).unwrap() else {
            panic!("settings expected")
        };
        assert_eq!(p[0].kind, "IMAP");
        assert_eq!(p[0].port, Some(993));
        assert_eq!(p[0].login_name.as_deref(), Some("alice@example.test"));
        assert!(p.iter().any(|p| p.kind == "SMTP" && p.port == Some(587)));
        let err =
            crate::autodiscover::write_error(crate::autodiscover::ErrorCode::InvalidRequest, "x");
        assert!(matches!(
            read_response(err.as_bytes()),
            Ok(PoxResponse::Error(_))
        ));
        let request = write_request("a&b@example.test");
        let back = crate::autodiscover::read_request(request.as_bytes()).unwrap();
        assert_eq!(back.address.as_str(), "a&b@example.test");
        assert_eq!(
            read_response(b"<!DOCTYPE x><a/>"),
            Err(ResponseError::Hostile)
        );
    }
}
