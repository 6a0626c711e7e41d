//! The manual-setup page: the settings for people whose client cannot configure itself, and the
//! pages a browser gets when something is wrong with what it asked.
//!
//! Plain HTML: no scripts, no external assets, every value escaped. The tables turn into one block
//! per server on narrow screens (phones), a form takes the visitor's own address (a GET back to
//! `/setup`), and the words come from [`strings`] in the language `Accept-Language` prefers.

mod strings;

use std::fmt::Write as _;

use mailbeacon_model::{
    AuthMethod, ClientSettings, EmailAddress, Protocol, Security, ServerSettings,
};
use quick_xml::escape::escape;

pub use strings::Language;
use strings::Strings;

/// The page's content type.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// What the setup page is about: the settings of one domain, or why there are none to show.
#[derive(Debug, Clone, Copy)]
pub enum Page<'a> {
    /// One domain's settings, made exact for `address` when given.
    Settings {
        /// The domain's settings.
        settings: &'a ClientSettings,
        /// The visitor's address, when they gave one.
        address: Option<&'a EmailAddress>,
        /// The Apple profile link, when profiles are served.
        profile_url: Option<&'a str>,
        /// The same link as an absolute URL, shown as a QR code so that a phone can take the
        /// profile from a desktop screen.
        profile_qr_url: Option<&'a str>,
    },
    /// The text given as an address is not one.
    BadAddress {
        /// What was typed.
        typed: &'a str,
    },
    /// The address is valid but its domain is not served here.
    NotServed {
        /// The address's domain.
        domain: &'a str,
    },
    /// The page was asked for under a host name that belongs to no served domain.
    NoDomain,
}

/// Writes `page` in `lang`.
pub fn write(page: Page<'_>, lang: Language) -> String {
    let s = lang.strings();
    let mut out = String::with_capacity(6144);
    match page {
        Page::Settings {
            settings,
            address,
            profile_url,
            profile_qr_url,
        } => {
            let domain = escape(&settings.domain);
            head(&mut out, lang, &s.title.replace("{domain}", &domain));
            let _ = writeln!(
                out,
                "<p>{}. {}</p>",
                escape(&settings.display_name),
                escape(s.intro)
            );
            section(&mut out, s, s.incoming, &settings.incoming, address);
            section(&mut out, s, s.outgoing, &settings.outgoing, address);
            form(&mut out, s, address.map(EmailAddress::as_str));
            links(&mut out, lang, settings, profile_url);
            if let Some(svg) = profile_qr_url.and_then(qr_svg) {
                let _ = writeln!(out, "<figure class=\"qr\">{svg}</figure>");
            }
        }
        Page::BadAddress { typed } => {
            head(&mut out, lang, s.bad_address_title);
            let _ = writeln!(
                out,
                "<p>{}</p>",
                escape(s.bad_address).replace("{address}", &escape(typed))
            );
            form(&mut out, s, Some(typed));
        }
        Page::NotServed { domain } => {
            let domain = escape(domain);
            head(
                &mut out,
                lang,
                &s.not_served_title.replace("{domain}", &domain),
            );
            let _ = writeln!(
                out,
                "<p>{}</p>",
                escape(s.not_served).replace("{domain}", &domain)
            );
            form(&mut out, s, None);
        }
        Page::NoDomain => {
            head(&mut out, lang, s.no_domain_title);
            let _ = writeln!(out, "<p>{}</p>", escape(s.no_domain));
            form(&mut out, s, None);
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Narrow screens: each table row becomes a block whose cells carry their column name
/// (`data-label`), so nothing is wider than the screen; long host names wrap anywhere.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;\
line-height:1.5;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}\
th,td{border:1px solid #888;padding:.4rem .6rem;text-align:left;vertical-align:top}\
caption{text-align:left;font-weight:bold;padding:.4rem 0}\
form{margin:1.5rem 0}\
label{display:block;font-weight:bold}\
input{font:inherit;padding:.3rem;width:100%;max-width:24rem;box-sizing:border-box}\
button{font:inherit;margin-top:.5rem;padding:.3rem .8rem}\
.qr{margin:1rem 0}.qr svg{width:12rem;max-width:100%;height:auto}\
@media (max-width:40rem){\
table,tbody,tr,td,caption{display:block;width:100%;box-sizing:border-box}\
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}\
tr{border:1px solid #888;margin-bottom:.8rem}\
td{border:none;border-top:1px solid #ddd;display:flex;gap:.6rem}\
td:first-child{border-top:none}\
td::before{content:attr(data-label);font-weight:bold;flex:0 0 8.5rem}\
}";

fn head(out: &mut String, lang: Language, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n",
        lang.tag()
    );
}

fn section(
    out: &mut String,
    s: &Strings,
    title: &str,
    servers: &[ServerSettings],
    address: Option<&EmailAddress>,
) {
    if servers.is_empty() {
        return;
    }
    let columns = [
        s.protocol,
        s.server,
        s.port,
        s.security,
        s.authentication,
        s.username,
    ];
    let _ = write!(
        out,
        "<table>\n<caption>{}</caption>\n<thead><tr>",
        escape(title)
    );
    for c in columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(c));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for server in servers {
        let protocol = match server.protocol {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
        };
        let security = match server.security {
            Security::Tls => "SSL/TLS",
            Security::StartTls => "STARTTLS",
            Security::Plain => s.security_none,
        };
        let auth = server
            .auth
            .first()
            .map_or(s.auth_normal, |&m| auth_words(s, m));
        let username = match address {
            Some(a) => escape(server.username.for_address(a)).into_owned(),
            None => describe_username(s, server.username.template()),
        };
        let cells = [
            escape(protocol).into_owned(),
            escape(&server.host).into_owned(),
            server.port.to_string(),
            escape(security).into_owned(),
            escape(auth).into_owned(),
            username,
        ];
        out.push_str("<tr>");
        for (label, cell) in columns.iter().zip(cells) {
            let _ = write!(out, "<td data-label=\"{}\">{cell}</td>", escape(*label));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The method as the client's own manual-setup form names it.
fn auth_words(s: &Strings, m: AuthMethod) -> &'static str {
    match m {
        AuthMethod::PasswordCleartext => s.auth_normal,
        AuthMethod::PasswordEncrypted => s.auth_encrypted,
        AuthMethod::OAuth2 => "OAuth2",
        AuthMethod::Ntlm => "NTLM",
        AuthMethod::Gssapi => s.auth_kerberos,
        AuthMethod::TlsClientCert => s.auth_certificate,
        AuthMethod::None => s.auth_none,
        AuthMethod::ClientIpAddress => s.auth_by_network,
        AuthMethod::SmtpAfterPop => s.auth_smtp_after_pop,
    }
}

/// A username template in words, e.g. `%EMAILLOCALPART%` → "the part of your address before @".
fn describe_username(s: &Strings, template: &str) -> String {
    match template {
        "%EMAILADDRESS%" => format!("<em>{}</em>", escape(s.your_address)),
        "%EMAILLOCALPART%" => format!("<em>{}</em>", escape(s.your_local_part)),
        other => escape(other).into_owned(),
    }
}

/// `url` as an inline SVG QR code (no script, no external image), sized by CSS to fit any screen.
fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(180, 180)
        .quiet_zone(true)
        .build();
    // Inline in HTML: the XML declaration has no place there.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen("<svg", "<svg role=\"img\" aria-label=\"QR code\"", 1))
}

/// The address form: a plain GET to `/setup`, so it works without scripts.
fn form(out: &mut String, s: &Strings, value: Option<&str>) {
    let _ = writeln!(
        out,
        "<form method=\"get\" action=\"/setup\">\n<label for=\"emailaddress\">{}</label>\n\
         <input id=\"emailaddress\" name=\"emailaddress\" type=\"email\" autocomplete=\"email\" \
         required value=\"{}\">\n<button type=\"submit\">{}</button>\n<p>{}</p>\n</form>",
        escape(s.form_label),
        escape(value.unwrap_or("")),
        escape(s.form_button),
        escape(s.form_hint)
    );
}

fn links(out: &mut String, lang: Language, settings: &ClientSettings, profile_url: Option<&str>) {
    let s = lang.strings();
    if let Some(url) = profile_url {
        let link = format!(
            "<a href=\"{}\" download>{}</a>",
            escape(url),
            escape(s.profile_link)
        );
        let _ = writeln!(out, "<p>{}</p>", escape(s.profile).replace("{link}", &link));
    }
    if let Some(url) = &settings.webmail {
        let _ = writeln!(
            out,
            "<p>{}: <a href=\"{1}\">{1}</a></p>",
            escape(s.webmail),
            escape(url)
        );
    }
    for doc in &settings.documentation {
        let text = doc
            .descriptions
            .iter()
            .find(|(l, _)| l == lang.tag())
            .or_else(|| doc.descriptions.iter().find(|(l, _)| l == "en"))
            .or(doc.descriptions.first())
            .map_or(s.documentation, |(_, t)| t.as_str());
        let _ = writeln!(
            out,
            "<p><a href=\"{}\">{}</a></p>",
            escape(&doc.url),
            escape(text)
        );
    }
}
