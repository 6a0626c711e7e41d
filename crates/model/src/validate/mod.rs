//! From TOML text to a [`Model`], reporting every problem with its file position.
//!
//! Parsing happens entry by entry (each `[service.X]`, each `[[domain]]`, …) so that one bad entry
//! does not hide the problems of the next: `check` reports them all.

mod cut;
mod dane;
mod domain;
mod include;
mod server;
mod service;
mod tsig;
pub(crate) mod wording;

use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::config::ConfigFile;
use crate::error::{ConfigErrors, Diagnostic, LoadError};
use crate::model::Model;
use crate::zone::{Earlier, ZoneSet};
pub use domain::DomainEntries;
use domain::Entry;

/// Reads and validates the configuration file at `path`.
pub fn load_file(path: &Path) -> Result<Model, LoadError> {
    check_file(path).map(|c| c.model)
}

/// Validates configuration `text`; `path` is used in messages and to resolve relative paths.
pub fn load_str(text: &str, path: &Path) -> Result<Model, ConfigErrors> {
    check_str(text, path).map(|c| c.model)
}

/// A configuration that loaded, with what is worth telling its author anyway.
#[derive(Debug)]
pub struct Checked {
    /// The validated model.
    pub model: Model,
    /// Its zones, derived once during validation (serials not yet assigned).
    pub zones: ZoneSet,
    /// Settings that are served as written but that clients or registries are likely to misread.
    pub warnings: ConfigErrors,
    /// The `[[domain]]` entries as validated, for a later reload to take over (see
    /// [`Earlier::entries`]).
    pub entries: DomainEntries,
}

/// Reads and validates the configuration file at `path`, keeping the warnings.
pub fn check_file(path: &Path) -> Result<Checked, LoadError> {
    check_file_reusing(path, None)
}

/// As [`check_file`], for a server that is serving `earlier`: zones whose inputs did not change
/// are taken over from it rather than derived again (see [`crate::zone::derive_checked_reusing`]).
pub fn check_file_reusing(path: &Path, earlier: Option<Earlier<'_>>) -> Result<Checked, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // Point at the first byte that is not UTF-8, in a text made of the valid part.
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let valid = String::from_utf8_lossy(&bytes[..at]).into_owned();
            return Err(ConfigErrors::new(
                path,
                &valid,
                vec![Diagnostic::new(
                    Some(at..at),
                    "",
                    "the file is not UTF-8 text (TOML files must be UTF-8); save it as UTF-8",
                )],
            )
            .into());
        }
    };
    let assembled = include::assemble(path, text)?;
    Ok(check_segments(
        &assembled.text,
        path,
        &assembled.segments,
        earlier,
    )?)
}

/// Validates configuration `text`, keeping the warnings. (`include` is resolved only by
/// [`check_file`], which knows where the file is.)
pub fn check_str(text: &str, path: &Path) -> Result<Checked, ConfigErrors> {
    if let Ok(root) = DeTable::parse(text)
        && let Some(include) = root.get_ref().get("include")
    {
        return Err(ConfigErrors::new(
            path,
            text,
            vec![Diagnostic::new(
                Some(include.span()),
                "include",
                "`include` works only in a configuration file (its patterns are relative to it)",
            )],
        ));
    }
    check_segments(text, path, &[], None)
}

/// Validates `text`, which may be several files appended (`segments`: where each starts).
fn check_segments(
    text: &str,
    path: &Path,
    segments: &[(std::path::PathBuf, usize)],
    earlier: Option<Earlier<'_>>,
) -> Result<Checked, ConfigErrors> {
    let errors = |diags: Vec<Diagnostic>| {
        ConfigErrors::new(path, text, diags).with_segments(segments.to_vec())
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut diags = Diagnostics::default();
    let read = match read_cut(text, base, earlier.and_then(|e| e.entries), &mut diags) {
        Some(read) => read,
        None => {
            // Parsed whole: also what reports every syntax problem, with its position.
            diags = Diagnostics::default();
            let mut file = parse(text, &mut diags);
            if !diags.list.is_empty() {
                return Err(errors(diags.into_sorted()));
            }
            let model = shared_model(&file, base, &mut diags);
            let entries = std::mem::take(&mut file.domain)
                .into_iter()
                .map(|section| Entry::Parsed {
                    section: std::sync::Arc::new(section),
                    range: None,
                })
                .collect();
            Read {
                file,
                model,
                entries,
            }
        }
    };
    let Read {
        file,
        model,
        entries,
    } = read;
    let built = build(&file, model, &entries, text, base, earlier, &mut diags);
    match built {
        Built {
            model,
            zones: Some(zones),
            kept,
        } if diags.list.is_empty() => {
            let mut warnings = std::mem::take(&mut diags.warnings);
            warnings.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
            warnings.dedup();
            let entries = DomainEntries::keep(&entries, text, &kept, file.defaults, &model, base);
            Ok(Checked {
                model,
                zones,
                warnings: errors(warnings),
                entries,
            })
        }
        _ => Err(errors(diags.into_sorted())),
    }
}

/// A configuration as read: every section but the domains, the model of those sections, and
/// the domain entries.
struct Read {
    file: ConfigFile,
    model: Model,
    entries: Vec<Entry>,
}

/// Reads `text` cut at its `[[domain]]` entries (see [`cut`]): each entry parsed on its own, in
/// parallel, or taken from `earlier` when its text is one `earlier` validated against the same
/// shared inputs. `None` when the text cannot be read that way or has a syntax problem: it is
/// then parsed whole.
fn read_cut(
    text: &str,
    base: &Path,
    earlier: Option<&DomainEntries>,
    diags: &mut Diagnostics,
) -> Option<Read> {
    use rayon::prelude::*;
    let cut = cut::cut(text);
    if cut.entries.is_empty() {
        return None;
    }
    let others = cut.others(text);
    let root = DeTable::parse(&others).ok()?;
    if root.get_ref().contains_key("domain") {
        return None;
    }
    let mut parse_problems = Diagnostics::default();
    let file = from_root(root, &mut parse_problems);
    if !parse_problems.is_empty() {
        return None;
    }
    let model = shared_model(&file, base, diags);
    let earlier = earlier.filter(|e| e.usable(file.defaults.as_ref(), &model, base));
    let entries: Option<Vec<Entry>> = cut
        .entries
        .par_iter()
        .enumerate()
        .map(|(i, range)| {
            if let Some(same) =
                earlier.and_then(|e| e.same(text.get(range.clone())?, range.clone()))
            {
                return Some(same);
            }
            let mut problems = Diagnostics::default();
            match cut::parse_entry(text, range.clone(), i, &mut problems) {
                Ok(Some(section)) if problems.is_empty() => Some(Entry::Parsed {
                    section: std::sync::Arc::new(section),
                    range: Some(range.clone()),
                }),
                _ => None,
            }
        })
        .collect();
    Some(Read {
        file,
        model,
        entries: entries?,
    })
}

/// Parses `text` into the raw schema, entry by entry.
pub fn parse(text: &str, diags: &mut Diagnostics) -> ConfigFile {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            diags.push(e.span(), "", e.message().trim().to_owned());
        }
        return ConfigFile::default();
    }
    from_root(root, diags)
}

/// The raw schema of a parsed document, entry by entry.
fn from_root(root: Spanned<DeTable<'_>>, diags: &mut Diagnostics) -> ConfigFile {
    let mut file = ConfigFile::default();
    for (key, value) in root.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "server" => file.server = de(value, "server", diags),
            "tls" => file.tls = de(value, "tls", diags),
            "defaults" => file.defaults = de(value, "defaults", diags),
            "hosts" => file.hosts = de(value, "hosts", diags).unwrap_or_default(),
            "tsig" => {
                let span = value.span();
                match value.into_inner() {
                    DeValue::Table(table) => {
                        for (name, v) in table {
                            let name = name.get_ref().to_string();
                            let key = format!("tsig.{name}");
                            let vspan = v.span();
                            if let Some(s) = de(v, &key, diags) {
                                file.tsig.insert(name, Spanned::new(vspan, s));
                            }
                        }
                    }
                    _ => diags.push(Some(span), "tsig", "must be a table of keys: [tsig.NAME]"),
                }
            }
            // Resolved before parsing, by `include::assemble`.
            "include" => {}
            "service" => {
                let span = value.span();
                match value.into_inner() {
                    DeValue::Table(table) => {
                        for (name, v) in table {
                            let name = name.get_ref().to_string();
                            let key = format!("service.{name}");
                            if let Some(s) = de(v, &key, diags) {
                                file.service.insert(name, s);
                            }
                        }
                    }
                    _ => diags.push(
                        Some(span),
                        "service",
                        "must be a table of services: [service.NAME]",
                    ),
                }
            }
            "domain" => {
                let span = value.span();
                match value.into_inner() {
                    DeValue::Array(items) => {
                        for (i, v) in items.into_iter().enumerate() {
                            if let Some(d) = de(v, &format!("domain[{i}]"), diags) {
                                file.domain.push(d);
                            }
                        }
                    }
                    _ => diags.push(
                        Some(span),
                        "domain",
                        "must be an array of tables: [[domain]]",
                    ),
                }
            }
            other => diags.push(
                Some(key_span),
                other,
                wording::unknown(
                    "section",
                    other,
                    &[
                        "server", "tls", "defaults", "service", "domain", "hosts", "include",
                        "tsig",
                    ],
                ),
            ),
        }
    }
    file
}

/// Deserializes one entry, recording its error (with the full key path) instead of stopping.
fn de<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    let span = value.span();
    match serde_path_to_error::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => Some(v),
        Err(e) => {
            // `Spanned<T>` fields deserialize through a private wrapper key; it is not the user's.
            let inner_path = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "")
                .replace("$__serde_spanned_private_value", "");
            let inner = e.into_inner();
            let full = if inner_path.is_empty() || inner_path == "." {
                key.to_owned()
            } else {
                format!("{key}.{inner_path}")
            };
            diags.push(
                inner.span().or(Some(span)),
                full,
                wording::friendly(inner.message()),
            );
            None
        }
    }
}

/// The model of every section but the domains.
fn shared_model(file: &ConfigFile, base: &Path, diags: &mut Diagnostics) -> Model {
    Model {
        server: server::server(file.server.as_ref(), base, diags),
        tls: server::tls(file.tls.as_ref(), base, diags),
        hosts: server::hosts(&file.hosts, diags),
        services: service::services(&file.service, diags),
        tsig_keys: tsig::keys(&file.tsig, base, diags),
        domains: Vec::new(),
    }
}

/// Adds the domains of `entries` to `model` and, when it is valid, derives its zones.
fn build(
    file: &ConfigFile,
    mut model: Model,
    entries: &[Entry],
    text: &str,
    base: &Path,
    earlier: Option<Earlier<'_>>,
    diags: &mut Diagnostics,
) -> Built {
    let (spans, kept) = domain::domains(
        file.defaults.as_ref(),
        entries,
        text,
        base,
        &mut model,
        earlier.map(|e| e.model),
        diags,
    );
    if !diags.list.is_empty() {
        return Built {
            model,
            zones: None,
            kept,
        };
    }
    let (zones, issues) = crate::zone::derive_checked_reusing(&model, earlier);
    for issue in issues {
        let (key, span) = spans.locate(&model, &issue.domain, issue.key);
        diags.push(span, key, issue.message);
    }
    if diags.list.is_empty() {
        // Zones taken over from `earlier` were advised on when they were derived. (Identified
        // by address: the same `Arc` in both sets; the address is only compared.)
        let address = |z: &std::sync::Arc<crate::zone::Zone>| std::sync::Arc::as_ptr(z) as usize;
        let taken_over: std::collections::HashSet<usize> = earlier
            .map(|e| e.zones.zones().iter().map(address).collect())
            .unwrap_or_default();
        let fresh = |i: usize| !taken_over.contains(&address(&zones.zones()[i]));
        for issue in crate::delegation::advice_for(&model, &zones, fresh) {
            let (key, span) = spans.locate(&model, &issue.domain, issue.key);
            diags.warn(span, key, issue.message);
        }
        for (d, host) in crate::https_names::uncovered(&model) {
            let (key, span) = spans.locate(&model, &d.name, "name");
            diags.warn(
                span,
                key,
                format!(
                    "{}'s records send clients to https://{host}/, but no [[tls.certificate]] \
                     names it: they will see a certificate error (add the name to a certificate)",
                    crate::name::display(&d.name)
                ),
            );
        }
    }
    Built {
        model,
        zones: Some(zones),
        kept,
    }
}

/// What [`build`] made.
struct Built {
    model: Model,
    /// The zones, when the model is valid.
    zones: Option<ZoneSet>,
    /// The `[[domain]]` entries worth keeping for a later load (see [`DomainEntries::keep`]).
    kept: Vec<(usize, usize)>,
}

/// Problems collected so far.
#[derive(Debug, Default)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a problem.
    pub fn push(
        &mut self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(Diagnostic::new(span, key, message));
    }

    /// Records a warning: reported, but the configuration is still served.
    pub fn warn(
        &mut self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.warnings.push(Diagnostic::warning(span, key, message));
    }

    /// How many problems (not warnings) were recorded.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.list
            .sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        self.list.dedup();
        self.list
    }
}

/// A key's path as written, formatted only when a message names it (a reload records the
/// places of 10,000 domains' keys and needs almost none).
#[derive(Debug, Clone)]
pub(crate) enum KeyPath {
    /// `domain[i].KEY`.
    Entry(usize, &'static str),
    /// `domain[i].aliases[j]`.
    Alias(usize, usize),
    /// `defaults.KEY`.
    Defaults(&'static str),
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyPath::Entry(i, key) => write!(f, "domain[{i}].{key}"),
            KeyPath::Alias(i, j) => write!(f, "domain[{i}].aliases[{j}]"),
            KeyPath::Defaults(key) => write!(f, "defaults.{key}"),
        }
    }
}

/// Refuses every placeholder but `{domain}` in `text` (with a suggestion for a typo); whether
/// there was none.
pub(crate) fn known_placeholders(
    text: &str,
    span: Option<Range<usize>>,
    key: &str,
    diags: &mut Diagnostics,
) -> bool {
    let unknown = crate::placeholder::unknown(text);
    for u in &unknown {
        let word = u.trim_start_matches('{').trim_end_matches('}');
        let hint = match wording::suggest(word, &["domain"]) {
            Some(_) => "; did you mean `{domain}`?",
            None => "",
        };
        diags.push(
            span.clone(),
            key,
            format!("unknown placeholder `{u}`{hint} (the only placeholder is {{domain}})"),
        );
    }
    unknown.is_empty()
}

/// A text value that may say `{domain}`: checked for other placeholders, trimmed.
pub(crate) fn template(v: &Spanned<String>, key: &str, diags: &mut Diagnostics) -> Option<String> {
    known_placeholders(v.get_ref(), Some(v.span()), key, diags)
        .then(|| v.get_ref().trim().to_owned())
}

/// Checks an integer setting against a range and converts it.
fn int_in<T: TryFrom<i64>>(
    v: &Spanned<i64>,
    lo: i64,
    hi: i64,
    key: &str,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    let n = *v.get_ref();
    if n < lo || n > hi {
        diags.push(
            Some(v.span()),
            key,
            format!("{what} must be between {lo} and {hi}, not {n}"),
        );
        return None;
    }
    T::try_from(n).ok()
}

/// Checks that `s` is an absolute `http(s)://` URL.
fn http_url(v: &Spanned<String>, key: &str, diags: &mut Diagnostics) -> Option<url::Url> {
    match url::Url::parse(v.get_ref()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        Ok(_) => {
            diags.push(
                Some(v.span()),
                key,
                format!("`{}` must be an http:// or https:// URL", v.get_ref()),
            );
            None
        }
        Err(e) => {
            diags.push(
                Some(v.span()),
                key,
                format!("`{}` is not a URL: {e}", v.get_ref()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[server]
ipv4 = ["192.0.2.1"]
[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
[[domain]]
name = "a.test"
aliases = ["a-parked.test"]
mx = ["10 mail.b.test"]
[[domain]]
name = "b.test"
"#;

    /// `checked` as what a reload starts from.
    fn earlier_from(checked: &Checked) -> Earlier<'_> {
        Earlier {
            model: &checked.model,
            zones: &checked.zones,
            entries: Some(&checked.entries),
        }
    }

    fn check(text: &str, earlier: Option<Earlier<'_>>) -> Result<Checked, ConfigErrors> {
        check_segments(text, Path::new("t.toml"), &[], earlier)
    }

    #[test]
    fn unchanged_entries_are_taken_over_and_give_the_same_model() {
        let first = check(BASE, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.entries.len(), 2);
        let edited = format!("# a comment that moves every line\n{BASE}").replace(
            "name = \"b.test\"",
            "name = \"b.test\"\nspf = \"v=spf1 -all\"",
        );
        let earlier = earlier_from(&first);
        let second = check(&edited, Some(earlier)).unwrap_or_else(|e| panic!("{e}"));
        let scratch = check(&edited, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second.model.domains, scratch.model.domains);
        assert_eq!(second.entries.len(), 2);
        assert!(std::sync::Arc::ptr_eq(
            &first.zones.zones()[0],
            &second.zones.zones()[0]
        ));
    }

    #[test]
    fn a_problem_in_a_taken_over_domain_still_names_its_line() {
        let first = check(BASE, None).unwrap_or_else(|e| panic!("{e}"));
        let earlier = earlier_from(&first);
        // b.test now makes mail.b.test a CNAME: a.test's MX (unchanged, taken over) points at it.
        // A line added at the top moves the unchanged entry down by one.
        let edited = format!("# moved\n{BASE}").replace(
            "name = \"b.test\"",
            "name = \"b.test\"\nrecords = \"mail CNAME elsewhere.example.\"",
        );
        let e = match check(&edited, Some(earlier)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("an MX at a CNAME is refused"),
        };
        let line = BASE
            .lines()
            .position(|l| l.starts_with("mx ="))
            .unwrap_or(0)
            + 2;
        assert!(e.contains(&format!("t.toml:{line}:")), "{e}");
        assert!(e.contains("domain[0].mx"), "{e}");
        assert!(e.contains("is a CNAME"), "{e}");
    }

    #[test]
    fn changed_defaults_validate_every_entry_again() {
        let first = check(BASE, None).unwrap_or_else(|e| panic!("{e}"));
        let earlier = earlier_from(&first);
        let edited = BASE.replace(
            "[[domain]]\nname = \"a.test\"",
            "[defaults]\nttl = 60\n[[domain]]\nname = \"a.test\"",
        );
        let second = check(&edited, Some(earlier)).unwrap_or_else(|e| panic!("{e}"));
        assert!(second.model.domains.iter().all(|d| d.dns.ttl == 60));
    }

    #[test]
    fn sections_after_entries_are_read_where_they_are() {
        let base = BASE.replace(
            "[[domain]]\nname = \"a.test\"",
            "[defaults]\nservices = [\"mail\"]\n[[domain]]\nname = \"a.test\"",
        );
        let text = format!(
            "{base}[service.extra]\nincoming = [{{ protocol = \"pop3\", host = \"pop.{{domain}}\" }}]\n\
             outgoing = [{{ host = \"smtp.{{domain}}\" }}]\n[[domain]]\nname = \"c.test\"\n\
             services = [\"extra\"]\n"
        );
        let mut diags = Diagnostics::default();
        let read = read_cut(&text, Path::new("."), None, &mut diags);
        assert!(read.is_some_and(|r| r.entries.len() == 3));
        let checked = check(&text, None).unwrap_or_else(|e| panic!("{e}"));
        let c = checked
            .model
            .find_domain("c.test")
            .map(|d| d.services.clone());
        let extra = checked.model.services.iter().position(|s| s.id == "extra");
        assert_eq!(c, extra.map(|i| vec![i]));
    }

    #[test]
    fn a_problem_inside_an_entry_names_its_line_and_key() {
        let lines = BASE.lines().count();
        // A syntax error: the text is then parsed whole.
        let broken = format!("{BASE}[[domain]]\nname = \"c.test\nspf = 1\n");
        let e = match check(&broken, None) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("an unterminated string is refused"),
        };
        assert!(e.contains(&format!("t.toml:{}:", lines + 2)), "{e}");
        // A value of the wrong type, in an entry parsed on its own.
        let wrong = format!("{BASE}[[domain]]\nname = \"c.test\"\nspf = 1\n");
        let e = match check(&wrong, None) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a number for spf is refused"),
        };
        assert!(e.contains(&format!("t.toml:{}:7", lines + 3)), "{e}");
        assert!(e.contains("domain[2].spf"), "{e}");
    }
}
