//! `[[domain]]` entries merged with `[defaults]`, and their aliases.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::rdata::CAA;
use hickory_proto::rr::{Name, RData, Record};
use ipnet::IpNet;

use toml::Spanned;

use super::{Diagnostics, KeyPath, int_in};
use crate::config::{AliasEntry, DomainSection, SoaSection};
use crate::model::{
    DkimKey, DnssecAlgorithm, Domain, DomainDns, Features, HostTemplate, Model, MxEntry,
    NotifyTarget, SoaSettings, SrvParams, TransferRule, TsigKey,
};
use crate::mta_sts::{MAX_AGE_LIMIT, MtaStsMode, MtaStsPolicy};
use crate::name;

/// Default TTL of generated records.
pub const DEFAULT_TTL: u32 = 3600;

/// `[[domain]]` entries validated by an earlier load, so that a reload takes over the domains of
/// every entry whose text did not change (nor did `[defaults]`, the services, the TSIG keys or
/// the configuration's directory) instead of parsing and validating it again. Entries whose
/// validation warned, or that read files (`tlsa`), are always validated again; so is every entry
/// of a text that could not be cut at its entries (see `cut`).
#[derive(Default)]
pub struct DomainEntries {
    shared: Option<SharedInputs>,
    /// An entry's text → the entry as read, and where its domains are in the model it became.
    by_text: HashMap<Box<str>, KeptEntry>,
}

impl std::fmt::Debug for DomainEntries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainEntries")
            .field("entries", &self.by_text.len())
            .finish_non_exhaustive()
    }
}

/// What validating a `[[domain]]` entry reads besides the entry.
struct SharedInputs {
    defaults: DomainSection,
    services: Vec<crate::model::Service>,
    tsig_keys: Vec<TsigKey>,
    base: PathBuf,
}

/// One entry kept for a later load.
struct KeptEntry {
    section: Arc<DomainSection>,
    /// Added to the start of the entry's text in a later load, gives what to add to the
    /// section's positions there.
    offset: isize,
    /// Index of its primary domain in the model.
    at: usize,
}

/// One `[[domain]]` entry as read for this load.
pub(super) enum Entry {
    /// Parsed for this load, positions in this text. `range`: the entry's text, when the text
    /// was cut at its entries (what a later load compares).
    Parsed {
        section: Arc<DomainSection>,
        range: Option<Range<usize>>,
    },
    /// The same text as an entry of the earlier load, validated against the same shared
    /// inputs: its domains are the earlier model's, from index `at`. Its section's positions
    /// are the earlier text's; add `shift` for this one's.
    Same {
        section: Arc<DomainSection>,
        shift: isize,
        range: Range<usize>,
        at: usize,
    },
}

impl Entry {
    fn section(&self) -> &DomainSection {
        match self {
            Entry::Parsed { section, .. } | Entry::Same { section, .. } => section,
        }
    }
}

impl DomainEntries {
    /// Whether entries validated by this earlier load may be taken over by one with these
    /// shared inputs.
    pub(super) fn usable(
        &self,
        defaults: Option<&DomainSection>,
        model: &Model,
        base: &Path,
    ) -> bool {
        self.shared.as_ref().is_some_and(|s| {
            s.defaults == *defaults.unwrap_or(&NO_DEFAULTS)
                && s.services == model.services
                && s.tsig_keys == model.tsig_keys
                && s.base == base
        })
    }

    /// The entry of the earlier load whose text was `piece`, now starting at `start`.
    pub(super) fn same(&self, piece: &str, range: Range<usize>) -> Option<Entry> {
        let kept = self.by_text.get(piece)?;
        Some(Entry::Same {
            section: Arc::clone(&kept.section),
            shift: kept.offset + range.start as isize,
            range,
            at: kept.at,
        })
    }

    /// Keeps the `entries` listed in `kept` (entry index, index of its primary in
    /// `model.domains`) that have a text, with what they were validated against.
    pub(super) fn keep(
        entries: &[Entry],
        text: &str,
        kept: &[(usize, usize)],
        defaults: Option<DomainSection>,
        model: &Model,
        base: &Path,
    ) -> DomainEntries {
        let by_text = kept
            .iter()
            .filter_map(|&(i, at)| {
                let (section, range, shift) = match entries.get(i)? {
                    Entry::Parsed {
                        section,
                        range: Some(range),
                    } => (section, range, 0),
                    Entry::Same {
                        section,
                        shift,
                        range,
                        ..
                    } => (section, range, *shift),
                    Entry::Parsed { range: None, .. } => return None,
                };
                let piece: Box<str> = text.get(range.clone())?.into();
                let offset = shift - range.start as isize;
                let section = Arc::clone(section);
                Some((
                    piece,
                    KeptEntry {
                        section,
                        offset,
                        at,
                    },
                ))
            })
            .collect();
        DomainEntries {
            shared: Some(SharedInputs {
                defaults: defaults.unwrap_or_default(),
                services: model.services.clone(),
                tsig_keys: model.tsig_keys.clone(),
                base: base.to_owned(),
            }),
            by_text,
        }
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.by_text.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_text.is_empty()
    }
}

/// Moves `span` by `shift` bytes.
fn moved(span: Range<usize>, shift: isize) -> Range<usize> {
    span.start.saturating_add_signed(shift)..span.end.saturating_add_signed(shift)
}

/// Validates the `[[domain]]` `entries` into `model.domains`, taking over from `earlier` (the
/// model of an earlier load) the domains of entries that are the same. Returns where settings
/// were written, and the entries worth keeping for a later load (entry index, index of its
/// primary in `model.domains`).
pub(super) fn domains<'e>(
    defaults: Option<&'e DomainSection>,
    entries: &'e [Entry],
    text: &str,
    base: &Path,
    model: &mut Model,
    earlier: Option<&Model>,
    diags: &mut Diagnostics,
) -> (DomainSpans<'e>, Vec<(usize, usize)>) {
    let mut spans = DomainSpans::new(entries, defaults);
    let mut kept = Vec::new();
    model.domains.reserve(entries.len() * 2);
    let mut seen: HashMap<Name, KeyPath> = HashMap::with_capacity(entries.len() * 2);
    let defaults = spans.defaults;
    if let Some(n) = &defaults.name {
        diags.push(
            Some(n.span()),
            "defaults.name",
            "`name` belongs in a [[domain]], not in [defaults]",
        );
    }
    if let Some(a) = &defaults.aliases {
        let span = a.first().map(|a| a.span());
        diags.push(
            span,
            "defaults.aliases",
            "`aliases` belongs in a [[domain]], not in [defaults]",
        );
    }
    if entries.is_empty() {
        diags.push(
            None,
            "domain",
            "no [[domain]] is configured; add at least one",
        );
    }
    for (i, entry) in entries.iter().enumerate() {
        let section = entry.section();
        let merged = Merged {
            d: section,
            def: defaults,
            i,
        };
        let Some(name_v) = &section.name else {
            diags.push(
                None,
                format!("domain[{i}].name"),
                "every [[domain]] needs a `name`",
            );
            continue;
        };
        let aliases = section.aliases.as_deref().unwrap_or_default();
        let taken = match entry {
            Entry::Same { shift, at, .. } => earlier
                .and_then(|before| before.domains.get(*at..*at + 1 + aliases.len()))
                .map(|taken| (taken, *shift)),
            Entry::Parsed { .. } => None,
        };
        if let Some((taken, shift)) = taken {
            // The same entry against the same shared inputs: the same domains (the name need
            // not even be parsed again). Its positions are moved to where it is now.
            let domain_name = &taken[0].name;
            let name_span = moved(name_v.span(), shift);
            if !claim(
                &mut seen,
                domain_name,
                KeyPath::Entry(i, "name"),
                name_span,
                diags,
            ) {
                continue;
            }
            kept.push((i, model.domains.len()));
            spans.came_from(i, None, shift);
            model.domains.push(Arc::clone(&taken[0]));
            for (j, (a, d)) in aliases.iter().zip(&taken[1..]).enumerate() {
                let span = moved(a.span(), shift);
                if claim(&mut seen, &d.name, KeyPath::Alias(i, j), span, diags) {
                    spans.came_from(i, Some(j), shift);
                    model.domains.push(Arc::clone(d));
                }
            }
            continue;
        }
        let reads_files = section.tlsa.is_some() || defaults.tlsa.is_some();
        let key = format!("domain[{i}].name");
        let Some(domain_name) = parse_domain(name_v.get_ref(), name_v.span(), &key, diags) else {
            continue;
        };
        if !claim(
            &mut seen,
            &domain_name,
            KeyPath::Entry(i, "name"),
            name_v.span(),
            diags,
        ) {
            continue;
        }
        let (errors, warnings) = (diags.list.len(), diags.warnings.len());
        let Some(primary) = domain(&merged, domain_name, text, base, model, diags) else {
            continue;
        };
        let mut alias_domains = Vec::new();
        for (j, a) in aliases.iter().enumerate() {
            let akey = format!("domain[{i}].aliases[{j}]");
            let Some(alias_name) = parse_domain(a.get_ref().name(), a.span(), &akey, diags) else {
                continue;
            };
            if !claim(
                &mut seen,
                &alias_name,
                KeyPath::Alias(i, j),
                a.span(),
                diags,
            ) {
                continue;
            }
            alias_domains.push((j, alias(&primary, alias_name, a.get_ref())));
        }
        if !reads_files && diags.list.len() == errors && diags.warnings.len() == warnings {
            kept.push((i, model.domains.len()));
        }
        spans.came_from(i, None, 0);
        model.domains.push(Arc::new(primary));
        for (j, d) in alias_domains {
            spans.came_from(i, Some(j), 0);
            model.domains.push(Arc::new(d));
        }
    }
    (spans, kept)
}

/// Where each domain's settings were written, so that a problem found later (in the derived
/// zone) points back at the key responsible. A load records only which entry each domain came
/// from; places are worked out for the few domains a problem is found in.
pub(super) struct DomainSpans<'e> {
    entries: &'e [Entry],
    defaults: &'e DomainSection,
    /// For each domain of the model, in order: its entry, which alias of it (`None`: the
    /// primary), and what to add to the entry's positions.
    sources: Vec<(usize, Option<usize>, isize)>,
    /// Domain name → index in the model, made on the first question.
    by_name: std::sync::OnceLock<HashMap<Name, usize>>,
}

/// `[defaults]` when there is none.
static NO_DEFAULTS: std::sync::LazyLock<DomainSection> = std::sync::LazyLock::new(Default::default);

impl<'e> DomainSpans<'e> {
    fn new(entries: &'e [Entry], defaults: Option<&'e DomainSection>) -> DomainSpans<'e> {
        DomainSpans {
            entries,
            defaults: defaults.unwrap_or(&NO_DEFAULTS),
            sources: Vec::with_capacity(entries.len() * 2),
            by_name: std::sync::OnceLock::new(),
        }
    }

    /// Records that the next domain of the model comes from entry `i` (alias `alias`).
    fn came_from(&mut self, i: usize, alias: Option<usize>, shift: isize) {
        self.sources.push((i, alias, shift));
    }

    /// The key path and place of `key` for `domain` of `model`: the key itself when the
    /// domain's entry (or `[defaults]`) sets it, else the domain's name.
    pub(super) fn locate(
        &self,
        model: &Model,
        domain: &Name,
        key: &'static str,
    ) -> (String, Option<Range<usize>>) {
        let by_name = self.by_name.get_or_init(|| {
            model
                .domains
                .iter()
                .enumerate()
                .map(|(k, d)| (d.name.clone(), k))
                .collect()
        });
        let source = by_name.get(domain).and_then(|&k| self.sources.get(k));
        let Some(&(i, alias, shift)) = source else {
            return (key.to_owned(), None);
        };
        let Some(entry) = self.entries.get(i) else {
            return (key.to_owned(), None);
        };
        let section = entry.section();
        if let Some(j) = alias {
            let span = section
                .aliases
                .as_deref()
                .and_then(|a| a.get(j))
                .map(|a| a.span());
            return (
                KeyPath::Alias(i, j).to_string(),
                span.map(|s| moved(s, shift)),
            );
        }
        let m = Merged {
            d: section,
            def: self.defaults,
            i,
        };
        if let Some((path, span)) = key_place(&m, key) {
            // A domain's own keys are where its entry is now; `[defaults]` did not move.
            let span = match path {
                KeyPath::Entry(..) => moved(span, shift),
                _ => span,
            };
            return (path.to_string(), Some(span));
        }
        let span = section.name.as_ref().map(|n| moved(n.span(), shift));
        (KeyPath::Entry(i, "name").to_string(), span)
    }
}

/// Where `key`, one of the settings derived zones can be faulted for, was written for `m`.
fn key_place(m: &Merged<'_>, key: &str) -> Option<(KeyPath, Range<usize>)> {
    match key {
        "spf" => m.place("spf", |d| &d.spf).map(|(v, p)| (p, v.span())),
        "dmarc" => m.place("dmarc", |d| &d.dmarc).map(|(v, p)| (p, v.span())),
        "records" => m
            .place("records", |d| &d.records)
            .map(|(v, p)| (p, v.span())),
        "mx" => m
            .place("mx", |d| &d.mx)
            .and_then(|(list, p)| Some((p, list.first()?.span()))),
        "name_servers" => m
            .place("name_servers", |d| &d.name_servers)
            .and_then(|(list, p)| Some((p, list.first()?.span()))),
        "autodiscover_srv" => m
            .place("autodiscover_srv.target", |d| &d.autodiscover_srv)
            .and_then(|(s, p)| Some((p, s.target.as_ref()?.span()))),
        _ => None,
    }
}

/// A `[[domain]]` with `[defaults]` beneath it.
struct Merged<'a> {
    d: &'a DomainSection,
    def: &'a DomainSection,
    i: usize,
}

impl<'a> Merged<'a> {
    /// As [`Merged::get`], with the path as a [`KeyPath`] (`key` may name a field within the
    /// value, as in `autodiscover_srv.target`).
    fn place<T>(
        &self,
        key: &'static str,
        f: impl Fn(&'a DomainSection) -> &'a Option<T>,
    ) -> Option<(&'a T, KeyPath)> {
        match (f(self.d), f(self.def)) {
            (Some(v), _) => Some((v, KeyPath::Entry(self.i, key))),
            (None, Some(v)) => Some((v, KeyPath::Defaults(key))),
            (None, None) => None,
        }
    }

    /// The domain's own value, else the default's, with the key path it came from.
    fn get<T>(
        &self,
        key: &str,
        f: impl Fn(&'a DomainSection) -> &'a Option<T>,
    ) -> Option<(&'a T, String)> {
        match (f(self.d), f(self.def)) {
            (Some(v), _) => Some((v, format!("domain[{}].{key}", self.i))),
            (None, Some(v)) => Some((v, format!("defaults.{key}"))),
            (None, None) => None,
        }
    }
}

/// Longest served domain name: generated owners such as `_autodiscover._tcp.` (19 octets) and DKIM
/// selectors must still fit in DNS's 255-octet limit.
const MAX_DOMAIN_LEN: usize = 220;

/// Parses a served domain (or alias) name.
fn parse_domain(raw: &str, span: Range<usize>, key: &str, diags: &mut Diagnostics) -> Option<Name> {
    let name = parse_name(raw, span.clone(), key, diags)?;
    if name.len() > MAX_DOMAIN_LEN {
        diags.push(Some(span), key, format!("domain names longer than {MAX_DOMAIN_LEN} characters cannot hold the generated records"));
        return None;
    }
    Some(name)
}

fn parse_name(raw: &str, span: Range<usize>, key: &str, diags: &mut Diagnostics) -> Option<Name> {
    match name::parse_hostname(raw) {
        Ok(n) if n.num_labels() >= 1 => Some(n),
        Ok(_) => None,
        Err(e) => {
            diags.push(Some(span), key, e);
            None
        }
    }
}

/// Records that `name` is served; refuses a second domain or alias with the same name.
fn claim(
    seen: &mut HashMap<Name, KeyPath>,
    name: &Name,
    key: KeyPath,
    span: Range<usize>,
    diags: &mut Diagnostics,
) -> bool {
    match seen.entry(name.clone()) {
        std::collections::hash_map::Entry::Occupied(first) => {
            diags.push(
                Some(span),
                key.to_string(),
                format!(
                    "`{}` is already configured at {}",
                    name::display(name),
                    first.get()
                ),
            );
            false
        }
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(key);
            true
        }
    }
}

fn domain(
    m: &Merged<'_>,
    domain_name: Name,
    text: &str,
    base: &Path,
    model: &Model,
    diags: &mut Diagnostics,
) -> Option<Domain> {
    let before = diags.len();
    let services = services(m, model, &domain_name, diags);
    let features = Features {
        autoconfig: m
            .get("autoconfig", |d| &d.autoconfig)
            .is_none_or(|(v, _)| *v),
        autodiscover: m
            .get("autodiscover", |d| &d.autodiscover)
            .is_none_or(|(v, _)| *v),
        mobileconfig: m
            .get("mobileconfig", |d| &d.mobileconfig)
            .is_none_or(|(v, _)| *v),
        mta_sts: m.get("mta_sts", |d| &d.mta_sts).is_none_or(|(v, _)| *v),
        srv: m.get("srv", |d| &d.srv).is_none_or(|(v, _)| *v),
    };
    let ttl = match m.get("ttl", |d| &d.ttl) {
        Some((v, key)) => {
            int_in::<u32>(v, 0, 2_147_483_647, &key, "ttl", diags).unwrap_or(DEFAULT_TTL)
        }
        None => DEFAULT_TTL,
    };
    let mx = mx(m, &domain_name, diags);
    let spf = expanded(m.get("spf", |d| &d.spf), &domain_name, diags);
    let spf = text_record(spf, "v=spf1", diags);
    let dmarc = expanded(m.get("dmarc", |d| &d.dmarc), &domain_name, diags);
    let dmarc = text_record(dmarc, "v=DMARC1", diags);
    let dkim = dkim(m, &domain_name, diags);
    let tls_rpt = tls_rpt(m, &domain_name, diags);
    let caa = caa(m, &domain_name, diags);
    let mta_sts = mta_sts(m, features.mta_sts, &mx, &domain_name, diags);
    let name_servers = name_servers(m, &domain_name, diags);
    let soa = soa(m, &domain_name, diags);
    let autodiscover_srv = autodiscover_srv(m, &domain_name, diags);
    let axfr = axfr(m, &model.tsig_keys, diags);
    let notify = notify(m, &model.tsig_keys, diags);
    let dnssec = dnssec(m, diags);
    let tlsa = super::dane::tlsa(
        m.get("tlsa", |d| &d.tlsa),
        &domain_name,
        dnssec.is_some(),
        ttl,
        base,
        diags,
    );
    let extra = match m.get("records", |d| &d.records) {
        Some((r, key)) => extra_records(r, &key, &domain_name, ttl, text, diags),
        None => Vec::new(),
    };
    if diags.len() != before {
        return None;
    }
    Some(Domain {
        name: domain_name,
        alias_of: None,
        services,
        features,
        dns: DomainDns {
            ttl,
            mx,
            spf,
            dmarc,
            dkim,
            tls_rpt,
            caa,
            mta_sts,
            name_servers,
            soa,
            autodiscover_srv,
            axfr,
            notify,
            extra,
            dnssec,
            tlsa,
        },
    })
}

fn services(m: &Merged<'_>, model: &Model, domain: &Name, diags: &mut Diagnostics) -> Vec<usize> {
    let Some((list, key)) = m.get("services", |d| &d.services) else {
        if model.services.len() == 1 {
            return vec![0];
        }
        let names: Vec<&str> = model.services.iter().map(|s| s.id.as_str()).collect();
        let why = if names.is_empty() {
            "no [service.NAME] is defined; define one".to_owned()
        } else {
            format!(
                "say which services serve it (defined: {})",
                names.join(", ")
            )
        };
        diags.push(
            m.d.name.as_ref().map(|n| n.span()),
            format!("domain[{}].services", m.i),
            why,
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, s) in list.iter().enumerate() {
        match model.services.iter().position(|x| &x.id == s.get_ref()) {
            Some(idx) if !out.contains(&idx) => out.push(idx),
            Some(_) => {}
            None => diags.push(
                Some(s.span()),
                format!("{key}[{j}]"),
                format!(
                    "service `{}` is not defined (add [service.{}])",
                    s.get_ref(),
                    s.get_ref()
                ),
            ),
        }
    }
    let incoming = out.iter().any(|&i| !model.services[i].incoming.is_empty());
    let outgoing = out.iter().any(|&i| !model.services[i].outgoing.is_empty());
    if !(out.is_empty() || incoming && outgoing) {
        diags.push(
            list.first().map(|s| s.span()),
            key,
            format!(
                "`{}` needs at least one incoming and one outgoing server among its services",
                name::display(domain)
            ),
        );
    }
    out
}

/// Expands `{domain}` and parses the result as a host name.
fn host(
    raw: &str,
    domain: &Name,
    span: Range<usize>,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<Name> {
    // The usual `mx1.{domain}` needs none of the checks below (see `host_under`).
    if let Some(name) = crate::placeholder::host_under(raw, domain) {
        return Some(name);
    }
    let template = super::service::host_template(raw, Some(span.clone()), key, diags)?;
    let expanded = HostTemplate::expand(&template, domain);
    if expanded.parse::<IpAddr>().is_ok() {
        diags.push(
            Some(span),
            key,
            format!("`{raw}` must be a host name, not an IP address"),
        );
        return None;
    }
    parse_name(&expanded, span, key, diags)
}

fn mx(m: &Merged<'_>, domain: &Name, diags: &mut Diagnostics) -> Vec<MxEntry> {
    let Some((list, key)) = m.get("mx", |d| &d.mx) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, entry) in list.iter().enumerate() {
        let k = format!("{key}[{j}]");
        let mut parts = entry.get_ref().split_whitespace();
        let (Some(prio), Some(target), None) = (parts.next(), parts.next(), parts.next()) else {
            diags.push(
                Some(entry.span()),
                k,
                format!(
                    "`{}`: write MX as \"PRIORITY HOST\", e.g. \"10 mx.example.net\"",
                    entry.get_ref()
                ),
            );
            continue;
        };
        let Ok(priority) = prio.parse::<u16>() else {
            diags.push(
                Some(entry.span()),
                k,
                format!("MX priority `{prio}` must be a number from 0 to 65535"),
            );
            continue;
        };
        if target == "." {
            if list.len() != 1 || priority != 0 {
                diags.push(
                    Some(entry.span()),
                    k,
                    "a null MX (\"0 .\", RFC 7505) must be the only MX record",
                );
                continue;
            }
            out.push(MxEntry {
                priority,
                host: Name::root(),
            });
            continue;
        }
        if let Some(host) = host(target, domain, entry.span(), &k, diags) {
            if out.iter().any(|e: &MxEntry| e.host == host) {
                diags.push(
                    Some(entry.span()),
                    k,
                    format!("MX host `{target}` is listed twice"),
                );
                continue;
            }
            out.push(MxEntry { priority, host });
        }
    }
    out
}

/// A domain's text value with `{domain}` expanded (other placeholders refused), same span.
fn expanded(
    v: Option<(&Spanned<String>, String)>,
    domain: &Name,
    diags: &mut Diagnostics,
) -> Option<(Spanned<String>, String)> {
    let (v, key) = v?;
    super::known_placeholders(v.get_ref(), Some(v.span()), &key, diags).then(|| {
        let text = crate::placeholder::expand(v.get_ref(), domain);
        (Spanned::new(v.span(), text), key)
    })
}

fn text_record(
    v: Option<(Spanned<String>, String)>,
    prefix: &str,
    diags: &mut Diagnostics,
) -> Option<String> {
    let (v, key) = v?;
    let t = v.get_ref().trim();
    let ok = t.len() >= prefix.len() && t[..prefix.len()].eq_ignore_ascii_case(prefix);
    let tail_ok =
        t[prefix.len().min(t.len())..].is_empty() || t[prefix.len()..].starts_with([' ', ';']);
    if !ok || !tail_ok {
        diags.push(Some(v.span()), key, format!("must start with `{prefix}`"));
        return None;
    }
    if !t.is_ascii() || t.chars().any(|c| c.is_control()) {
        diags.push(Some(v.span()), key, "must be printable ASCII");
        return None;
    }
    Some(t.to_owned())
}

fn dkim(m: &Merged<'_>, domain: &Name, diags: &mut Diagnostics) -> Vec<DkimKey> {
    let Some((list, key)) = m.get("dkim", |d| &d.dkim) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, k) in list.iter().enumerate() {
        let sel = k.selector.get_ref().trim();
        let valid = !sel.is_empty()
            && sel.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        // `<selector>._domainkey.<domain>` must fit in 255 octets.
        let valid = valid && sel.len() + "._domainkey.".len() + domain.len() <= 255;
        let selector = if valid {
            Name::from_ascii(sel).ok().map(|n| n.to_lowercase())
        } else {
            None
        };
        let Some(selector) = selector else {
            diags.push(
                Some(k.selector.span()),
                format!("{key}[{j}].selector"),
                format!("`{sel}` is not a valid DKIM selector"),
            );
            continue;
        };
        let vkey = format!("{key}[{j}].value");
        if !super::known_placeholders(k.value.get_ref(), Some(k.value.span()), &vkey, diags) {
            continue;
        }
        let value = crate::placeholder::expand(k.value.get_ref(), domain)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !value.contains("p=") || !value.is_ascii() {
            diags.push(
                Some(k.value.span()),
                format!("{key}[{j}].value"),
                "a DKIM record needs a `p=` public key (ASCII)",
            );
            continue;
        }
        if out.iter().any(|d: &DkimKey| d.selector == selector) {
            diags.push(
                Some(k.selector.span()),
                format!("{key}[{j}].selector"),
                format!("selector `{sel}` is listed twice"),
            );
            continue;
        }
        out.push(DkimKey { selector, value });
    }
    out
}

fn tls_rpt(m: &Merged<'_>, domain: &Name, diags: &mut Diagnostics) -> Vec<String> {
    let Some((list, key)) = m.get("tls_rpt", |d| &d.tls_rpt) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, u) in list.iter().enumerate() {
        if !super::known_placeholders(u.get_ref(), Some(u.span()), &format!("{key}[{j}]"), diags) {
            continue;
        }
        let v = crate::placeholder::expand(u.get_ref(), domain);
        let v = v.trim();
        let valid = (v.starts_with("mailto:") && v.len() > 7 && v.contains('@'))
            || url::Url::parse(v).is_ok_and(|u| u.scheme() == "https");
        if !valid || v.contains([',', '!', ';', ' ']) {
            diags.push(
                Some(u.span()),
                format!("{key}[{j}]"),
                format!("`{v}` must be a mailto: or https: URI (RFC 8460)"),
            );
            continue;
        }
        out.push(v.to_owned());
    }
    out
}

fn caa(m: &Merged<'_>, domain: &Name, diags: &mut Diagnostics) -> Vec<CAA> {
    let Some((list, key)) = m.get("caa", |d| &d.caa) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, c) in list.iter().enumerate() {
        if !super::known_placeholders(c.get_ref(), Some(c.span()), &format!("{key}[{j}]"), diags) {
            continue;
        }
        let value = crate::placeholder::expand(c.get_ref(), domain);
        let parsed = crate::zonetext::parse_records(&format!("@ CAA {value}"), domain, DEFAULT_TTL);
        match parsed.as_deref() {
            Ok(
                [
                    Record {
                        data: RData::CAA(caa),
                        ..
                    },
                ],
            ) => out.push(caa.clone()),
            Ok(_) => diags.push(
                Some(c.span()),
                format!("{key}[{j}]"),
                "expected exactly one CAA value",
            ),
            Err(e) => diags.push(
                Some(c.span()),
                format!("{key}[{j}]"),
                format!(
                    "`{}` is not a CAA value like `0 issue \"letsencrypt.org\"`: {}",
                    c.get_ref(),
                    e.message
                ),
            ),
        }
    }
    out
}

fn mta_sts(
    m: &Merged<'_>,
    on: bool,
    mx: &[MxEntry],
    domain: &Name,
    diags: &mut Diagnostics,
) -> Option<MtaStsPolicy> {
    let section = m.get("mta_sts_policy", |d| &d.mta_sts_policy);
    let (key, p) = match section {
        Some((p, key)) => (key, Some(p.get_ref())),
        None => (String::new(), None),
    };
    let mode = match p.and_then(|p| p.mode.as_ref()) {
        None => MtaStsMode::Testing,
        Some(v) => match MtaStsMode::parse(v.get_ref()) {
            Some(mode) => mode,
            None => {
                diags.push(
                    Some(v.span()),
                    format!("{key}.mode"),
                    super::wording::unknown("mode", v.get_ref(), &["enforce", "testing", "none"]),
                );
                MtaStsMode::Testing
            }
        },
    };
    let max_age = match p.and_then(|p| p.max_age.as_ref()) {
        None => 604_800,
        Some(v) => int_in::<u32>(
            v,
            1,
            i64::from(MAX_AGE_LIMIT),
            &format!("{key}.max_age"),
            "max_age",
            diags,
        )
        .unwrap_or(604_800),
    };
    let patterns = match p.and_then(|p| p.mx.as_ref()) {
        Some(list) => {
            let mut out = Vec::new();
            for (j, v) in list.iter().enumerate() {
                let jkey = format!("{key}.mx[{j}]");
                if !super::known_placeholders(v.get_ref(), Some(v.span()), &jkey, diags) {
                    continue;
                }
                let raw = crate::placeholder::expand(v.get_ref(), domain)
                    .trim()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let host = raw.strip_prefix("*.").unwrap_or(&raw);
                match name::parse_hostname(host) {
                    Ok(_) => out.push(raw),
                    Err(e) => diags.push(Some(v.span()), format!("{key}.mx[{j}]"), e),
                }
            }
            out
        }
        None => mx
            .iter()
            .filter(|e| !e.host.is_root())
            .map(|e| name::display(&e.host))
            .collect(),
    };
    // Without MX hosts there is nothing a policy could allow: publish none rather than one that
    // makes every sender fail.
    (on && !patterns.is_empty()).then_some(MtaStsPolicy {
        mode,
        max_age,
        mx: patterns,
    })
}

fn name_servers(m: &Merged<'_>, domain: &Name, diags: &mut Diagnostics) -> Vec<Name> {
    let Some((list, key)) = m.get("name_servers", |d| &d.name_servers) else {
        return vec![name::child(domain, "ns1")];
    };
    if list.is_empty() {
        diags.push(None, &key, "list at least one name server");
    }
    let mut out = Vec::new();
    for (j, v) in list.iter().enumerate() {
        if let Some(h) = host(v.get_ref(), domain, v.span(), &format!("{key}[{j}]"), diags)
            && !out.contains(&h)
        {
            out.push(h);
        }
    }
    out
}

fn soa(m: &Merged<'_>, domain: &Name, diags: &mut Diagnostics) -> SoaSettings {
    let s = m.get("soa", |d| &d.soa);
    let (sec, key) = match s {
        Some((sec, key)) => (Some(sec), key),
        None => (None, String::new()),
    };
    let timer =
        |f: Option<&Spanned<i64>>, what: &str, default: u32, diags: &mut Diagnostics| match f {
            Some(v) => int_in::<u32>(v, 0, 2_147_483_647, &format!("{key}.{what}"), what, diags)
                .unwrap_or(default),
            None => default,
        };
    let refresh = timer(
        sec.and_then(|s| s.refresh.as_ref()),
        "refresh",
        SOA_REFRESH,
        diags,
    );
    let retry = timer(
        sec.and_then(|s| s.retry.as_ref()),
        "retry",
        SOA_RETRY,
        diags,
    );
    let expire = timer(
        sec.and_then(|s| s.expire.as_ref()),
        "expire",
        SOA_EXPIRE,
        diags,
    );
    let minimum = timer(
        sec.and_then(|s| s.minimum.as_ref()),
        "minimum",
        SOA_MINIMUM,
        diags,
    );
    if let Some(sec) = sec {
        soa_advice(sec, &key, [refresh, retry, expire, minimum], diags);
    }
    let contact = match sec.and_then(|s| s.contact.as_ref()) {
        None => name::child(domain, "hostmaster"),
        Some(v) => contact_name(v.get_ref(), domain).unwrap_or_else(|e| {
            diags.push(Some(v.span()), format!("{key}.contact"), e);
            name::child(domain, "hostmaster")
        }),
    };
    SoaSettings {
        contact,
        refresh,
        retry,
        expire,
        minimum,
    }
}

/// SOA timers by default: RIPE-203's recommendations (refresh 1 day, retry 2 h, expire ~41 days)
/// with a short negative-caching time, so that a name added later (an alias, an ACME challenge)
/// is not hidden by a cached NXDOMAIN for long. All sit inside the ranges Zonemaster accepts;
/// secondaries learn of changes at once through NOTIFY, not through the refresh timer.
const SOA_REFRESH: u32 = 86_400;
const SOA_RETRY: u32 = 7_200;
const SOA_EXPIRE: u32 = 3_600_000;
const SOA_MINIMUM: u32 = 300;

/// Configured SOA timers outside what Zonemaster (and registries running it) accept: warnings,
/// because the admin may know better.
fn soa_advice(
    sec: &SoaSection,
    key: &str,
    [refresh, retry, expire, minimum]: [u32; 4],
    diags: &mut Diagnostics,
) {
    let span = |v: &Option<Spanned<i64>>| v.as_ref().map(|v| v.span());
    let mut warn = |field: &str, v: &Option<Spanned<i64>>, message: String| {
        if v.is_some() {
            diags.warn(span(v), format!("{key}.{field}"), message);
        }
    };
    if refresh < 14_400 {
        warn(
            "refresh",
            &sec.refresh,
            format!(
                "refresh {refresh} is below 14400 (4 hours), the least Zonemaster accepts \
             (REFRESH_MINIMUM_VALUE_LOWER; RIPE-203 recommends 86400); secondaries get changes \
             through NOTIFY anyway"
            ),
        );
    }
    if retry < 3_600 {
        warn(
            "retry",
            &sec.retry,
            format!(
                "retry {retry} is below 3600, the least Zonemaster accepts (RETRY_MINIMUM_VALUE_LOWER)"
            ),
        );
    }
    if retry >= refresh {
        warn(
            "retry",
            &sec.retry,
            format!(
                "retry {retry} is not below refresh {refresh}; a failed refresh should be retried \
             sooner than the next one (Zonemaster REFRESH_LOWER_THAN_RETRY)"
            ),
        );
    }
    if expire < 604_800 {
        warn(
            "expire",
            &sec.expire,
            format!(
                "expire {expire} is below 604800 (1 week), the least Zonemaster accepts \
             (EXPIRE_MINIMUM_VALUE_LOWER); secondaries would drop the zone after a short outage"
            ),
        );
    } else if expire < refresh {
        warn(
            "expire",
            &sec.expire,
            format!(
                "expire {expire} is below refresh {refresh} (Zonemaster EXPIRE_LOWER_THAN_REFRESH)"
            ),
        );
    }
    if !(300..=86_400).contains(&minimum) {
        warn(
            "minimum",
            &sec.minimum,
            format!(
                "minimum (negative-caching time) {minimum} is outside 300–86400, the range Zonemaster \
             accepts (SOA_DEFAULT_TTL_MINIMUM_VALUE_LOWER/HIGHER)"
            ),
        );
    }
}

/// The SOA RNAME for `hostmaster@example.net` or `hostmaster.example.net`.
fn contact_name(raw: &str, domain: &Name) -> Result<Name, String> {
    let raw = raw.trim().replace("{domain}", &name::display(domain));
    let Some((local, host)) = raw.split_once('@') else {
        return name::parse_hostname(&raw);
    };
    if local.is_empty() || local.contains(['.', ' ', '\\']) || !local.is_ascii() {
        return Err(format!(
            "`{raw}`: the SOA contact's local part must be one label without dots"
        ));
    }
    let host = name::parse_hostname(host)?;
    host.prepend_label(local.to_ascii_lowercase())
        .map_err(|e| format!("`{raw}`: {e}"))
}

fn autodiscover_srv(m: &Merged<'_>, domain: &Name, diags: &mut Diagnostics) -> SrvParams {
    let mut p = SrvParams {
        priority: 0,
        weight: 0,
        port: 443,
        target: None,
    };
    let Some((s, key)) = m.get("autodiscover_srv", |d| &d.autodiscover_srv) else {
        return p;
    };
    if let Some(v) = &s.priority {
        p.priority =
            int_in(v, 0, 65535, &format!("{key}.priority"), "priority", diags).unwrap_or(0);
    }
    if let Some(v) = &s.weight {
        p.weight = int_in(v, 0, 65535, &format!("{key}.weight"), "weight", diags).unwrap_or(0);
    }
    if let Some(v) = &s.port {
        p.port = int_in(v, 1, 65535, &format!("{key}.port"), "port", diags).unwrap_or(443);
    }
    if let Some(v) = &s.target {
        p.target = host(
            v.get_ref(),
            domain,
            v.span(),
            &format!("{key}.target"),
            diags,
        );
    }
    p
}

fn axfr(m: &Merged<'_>, keys: &[TsigKey], diags: &mut Diagnostics) -> Vec<TransferRule> {
    addresses(
        m.get("axfr", |d| &d.axfr),
        |raw| {
            let (addr, key) = super::tsig::split_entry(raw)?;
            let network = match addr {
                None => None,
                Some(a) => Some(
                    a.parse::<IpNet>()
                        .ok()
                        .or_else(|| a.parse::<IpAddr>().ok().map(IpNet::from))
                        .map(|n| n.trunc())
                        .ok_or_else(|| {
                            format!("`{a}` is not an IP address or network (192.0.2.0/24)")
                        })?,
                ),
            };
            let key = key.map(|k| super::tsig::find(keys, k)).transpose()?;
            Ok(TransferRule { network, key })
        },
        diags,
    )
}

/// `dnssec = true` with the algorithm of `dnssec_algorithm` (ECDSA P-256 unless it says otherwise).
fn dnssec(m: &Merged<'_>, diags: &mut Diagnostics) -> Option<DnssecAlgorithm> {
    let on = m.get("dnssec", |d| &d.dnssec).is_some_and(|(v, _)| *v);
    let algorithm = match m.get("dnssec_algorithm", |d| &d.dnssec_algorithm) {
        None => DnssecAlgorithm::EcdsaP256Sha256,
        Some((v, key)) => match DnssecAlgorithm::parse(v.get_ref()) {
            Some(a) => a,
            None => {
                diags.push(
                    Some(v.span()),
                    key,
                    super::wording::unknown(
                        "dnssec_algorithm",
                        v.get_ref(),
                        &["ECDSAP256SHA256", "ED25519"],
                    ),
                );
                DnssecAlgorithm::EcdsaP256Sha256
            }
        },
    };
    on.then_some(algorithm)
}

/// `notify` targets: `192.0.2.1`, `192.0.2.1:5300`, `2001:db8::1` or `[2001:db8::1]:5300`, each
/// optionally followed by `key NAME` to sign the NOTIFY.
fn notify(m: &Merged<'_>, keys: &[TsigKey], diags: &mut Diagnostics) -> Vec<NotifyTarget> {
    let mut out = addresses(
        m.get("notify", |d| &d.notify),
        |raw| {
            let (addr, key) = super::tsig::split_entry(raw)?;
            let not_address = || {
                format!(
                    "`{raw}` is not an address with an optional port (192.0.2.1, 192.0.2.1:5300, \
                     [2001:db8::1]:5300) and an optional `key NAME`"
                )
            };
            let a = addr.ok_or_else(not_address)?;
            let addr = a
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
                .filter(|a| a.port() != 0)
                .ok_or_else(not_address)?;
            let key = key.map(|k| super::tsig::find(keys, k)).transpose()?;
            Ok(NotifyTarget { addr, key })
        },
        diags,
    );
    out.dedup();
    out
}

/// Parses every entry of an address list with `parse`; each one it refuses is reported with the
/// reason it gives.
fn addresses<T>(
    list: Option<(&Vec<Spanned<String>>, String)>,
    parse: impl Fn(&str) -> Result<T, String>,
    diags: &mut Diagnostics,
) -> Vec<T> {
    let Some((list, key)) = list else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, v) in list.iter().enumerate() {
        let raw = v.get_ref().trim();
        match parse(raw) {
            Ok(a) => out.push(a),
            Err(why) => diags.push(Some(v.span()), format!("{key}[{j}]"), why),
        }
    }
    out
}

fn extra_records(
    r: &Spanned<String>,
    key: &str,
    domain: &Name,
    ttl: u32,
    text: &str,
    diags: &mut Diagnostics,
) -> Vec<Record> {
    if !super::known_placeholders(r.get_ref(), Some(r.span()), key, diags) {
        return Vec::new();
    }
    // `{domain}` holds no newline, so line numbers in errors still match the file.
    match crate::zonetext::parse_records(
        &crate::placeholder::expand(r.get_ref(), domain),
        domain,
        ttl,
    ) {
        Ok(records) => records,
        Err(e) => {
            let span = line_span(text, r.span(), e.line);
            diags.push(
                Some(span),
                key,
                format!("line {} of the records: {}", e.line, e.message),
            );
            Vec::new()
        }
    }
}

/// The span of line `line` (1-based) of a TOML string value whose whole literal is at `literal`.
/// A multi-line string (`'''`/`"""`) drops the newline right after its opening delimiter.
fn line_span(text: &str, literal: Range<usize>, line: usize) -> Range<usize> {
    let lit = text.get(literal.clone()).unwrap_or_default();
    let delim = if lit.starts_with("'''") || lit.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    let mut start = literal.start + delim.min(lit.len());
    if delim == 3 && text[start..].starts_with('\n') {
        start += 1;
    } else if delim == 3 && text[start..].starts_with("\r\n") {
        start += 2;
    }
    for _ in 1..line {
        match text[start..literal.end.max(start)].find('\n') {
            Some(i) => start += i + 1,
            None => break,
        }
    }
    start..start + 1
}

/// An alias: the primary's settings under another name, with its own feature switches.
fn alias(primary: &Domain, alias_name: Name, entry: &AliasEntry) -> Domain {
    let mut features = primary.features;
    if let AliasEntry::Table(t) = entry {
        features.autoconfig = t.autoconfig.unwrap_or(features.autoconfig);
        features.autodiscover = t.autodiscover.unwrap_or(features.autodiscover);
        features.mobileconfig = t.mobileconfig.unwrap_or(features.mobileconfig);
        features.mta_sts = t.mta_sts.unwrap_or(features.mta_sts);
        features.srv = t.srv.unwrap_or(features.srv);
    }
    let mut dns = primary.dns.clone();
    if !features.mta_sts {
        dns.mta_sts = None;
    }
    // Owner names move to the alias zone; record data keeps pointing where the user wrote it.
    dns.extra = dns
        .extra
        .into_iter()
        .map(|mut r| {
            r.name = rebase(&r.name, &primary.name, &alias_name);
            r
        })
        .collect();
    dns.soa.contact = rebase(&dns.soa.contact, &primary.name, &alias_name);
    // `{domain}` in a TLSA host is the primary's name: its records live in the primary's zone.
    dns.tlsa.clear();
    Domain {
        name: alias_name,
        alias_of: Some(primary.name.clone()),
        services: primary.services.clone(),
        features,
        dns,
    }
}

/// `name` with its `from` suffix replaced by `to` (unchanged when outside `from`).
pub(crate) fn rebase(name: &Name, from: &Name, to: &Name) -> Name {
    if !from.zone_of(name) {
        return name.clone();
    }
    let keep = usize::from(name.num_labels() - from.num_labels());
    let mut out = to.clone();
    let labels: Vec<&[u8]> = name.iter().take(keep).collect();
    for l in labels.into_iter().rev() {
        out = match out.prepend_label(l) {
            Ok(n) => n,
            Err(_) => return name.clone(),
        };
    }
    out
}
