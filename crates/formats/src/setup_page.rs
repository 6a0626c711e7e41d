//! The manual-setup page: the settings in a plain HTML table, for people whose client cannot
//! configure itself. No scripts, no external assets; every value is escaped.

use std::fmt::Write as _;

use mailbeacon_model::{ClientSettings, EmailAddress, Protocol, Security, ServerSettings};
use quick_xml::escape::escape;

/// The page's content type.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Writes the page. `profile_url` is the Apple profile link, when profiles are served.
pub fn write(
    settings: &ClientSettings,
    address: Option<&EmailAddress>,
    profile_url: Option<&str>,
) -> String {
    let domain = escape(&settings.domain);
    let name = escape(&settings.display_name);
    let mut page = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Mail settings for {domain}</title>\n<style>\
         body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         table{{border-collapse:collapse;width:100%;margin-bottom:1.5rem}}\
         th,td{{border:1px solid #888;padding:.4rem .6rem;text-align:left}}\
         caption{{text-align:left;font-weight:bold;padding:.4rem 0}}\
         </style>\n</head>\n<body>\n<main>\n<h1>Mail settings for {domain}</h1>\n\
         <p>{name}. Most mail programs find these settings by themselves when you enter your \
         address and password. If yours does not, enter them by hand:</p>\n"
    );
    section(&mut page, "Incoming mail", &settings.incoming, address);
    section(&mut page, "Outgoing mail", &settings.outgoing, address);
    if address.is_none() {
        let _ = writeln!(
            page,
            "<p>Username: where this page says <em>your address</em>, type your whole e-mail \
             address, e.g. <code>you@{domain}</code>.</p>"
        );
    }
    if let Some(url) = profile_url {
        let _ = writeln!(
            page,
            "<p>On an iPhone, iPad or Mac: <a href=\"{}\">download a configuration profile</a> \
             and install it from Settings.</p>",
            escape(url)
        );
    }
    if let Some(url) = &settings.webmail {
        let _ = writeln!(
            page,
            "<p>Web mail: <a href=\"{0}\">{0}</a></p>",
            escape(url)
        );
    }
    for doc in &settings.documentation {
        let text = doc
            .descriptions
            .iter()
            .find(|(lang, _)| lang == "en")
            .or(doc.descriptions.first())
            .map(|(_, t)| t.as_str())
            .unwrap_or("Documentation");
        let _ = writeln!(
            page,
            "<p><a href=\"{}\">{}</a></p>",
            escape(&doc.url),
            escape(text)
        );
    }
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

fn section(
    page: &mut String,
    title: &str,
    servers: &[ServerSettings],
    address: Option<&EmailAddress>,
) {
    if servers.is_empty() {
        return;
    }
    let _ = write!(
        page,
        "<table>\n<caption>{title}</caption>\n<thead><tr><th scope=\"col\">Protocol</th>\
         <th scope=\"col\">Server</th><th scope=\"col\">Port</th><th scope=\"col\">Security</th>\
         <th scope=\"col\">Username</th></tr></thead>\n<tbody>\n"
    );
    for s in servers {
        let protocol = match s.protocol {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
        };
        let security = match s.security {
            Security::Tls => "SSL/TLS",
            Security::StartTls => "STARTTLS",
            Security::Plain => "None",
        };
        let username = match address {
            Some(a) => escape(s.username.for_address(a)).into_owned(),
            None => describe_username(s.username.template()),
        };
        let _ = writeln!(
            page,
            "<tr><td>{protocol}</td><td>{}</td><td>{}</td><td>{security}</td><td>{username}</td></tr>",
            escape(&s.host),
            s.port
        );
    }
    page.push_str("</tbody>\n</table>\n");
}

/// A username template in words, e.g. `%EMAILLOCALPART%` → "the part of your address before @".
fn describe_username(template: &str) -> String {
    match template {
        "%EMAILADDRESS%" => "<em>your address</em>".into(),
        "%EMAILLOCALPART%" => "<em>the part of your address before @</em>".into(),
        other => escape(other).into_owned(),
    }
}
