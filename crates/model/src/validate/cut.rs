//! The configuration text cut at its `[[domain]]` entries, so that each entry is parsed on its
//! own: in parallel on a first load, and on a reload only when its text changed.
//!
//! The cut is made without parsing, at every line that is a `[[domain]]` header, and proven
//! afterwards rather than trusted: each piece must parse alone and hold exactly one `[[domain]]`
//! table, and the rest (every other section, parsed with the domains' text blanked out) must hold
//! no `domain` key. A cut inside a string or an array leaves a piece that does not parse, so a
//! text that passes is read exactly as a parse of the whole would read it. A text that does not
//! pass is parsed whole, as before (its messages are then the whole parse's).

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Diagnostics, de};
use crate::config::DomainSection;

/// Where the `[[domain]]` entries are in a configuration text.
#[derive(Debug, Default)]
pub(super) struct Cut {
    /// Each entry's text: its header line up to the next entry or the next other section.
    pub entries: Vec<Range<usize>>,
}

/// A piece of text that is not one `[[domain]]` entry on its own: the text is parsed whole.
#[derive(Debug)]
pub(super) struct NotAlone;

/// Finds the entries of `text`.
pub(super) fn cut(text: &str) -> Cut {
    let mut entries: Vec<Range<usize>> = Vec::new();
    let mut open: Option<usize> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start_matches([' ', '\t']);
        if t.starts_with('[') {
            if is_entry_header(t) {
                if let Some(start) = open {
                    entries.push(start..at);
                }
                open = Some(at);
            } else if !(t.starts_with("[domain.") || t.starts_with("[[domain.")) {
                // Another section ends the entry (a subtable of the entry does not).
                if let Some(start) = open.take() {
                    entries.push(start..at);
                }
            }
        }
        at += line.len();
    }
    if let Some(start) = open {
        entries.push(start..at);
    }
    Cut { entries }
}

/// Whether `line` (leading blanks removed) is exactly a `[[domain]]` header, with nothing after
/// it but blanks or a comment.
fn is_entry_header(line: &str) -> bool {
    line.strip_prefix("[[domain]]").is_some_and(|rest| {
        let rest = rest.trim_start_matches([' ', '\t']);
        rest.is_empty()
            || rest.starts_with('#')
            || rest.starts_with('\n')
            || rest.starts_with("\r\n")
    })
}

impl Cut {
    /// The text of every other section, at its own positions: the text before the first entry,
    /// or, when sections follow entries, the whole text with the entries blanked out (line
    /// breaks kept, so that positions and line numbers stay those of the file).
    pub(super) fn others<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(first) = self.entries.first() else {
            return Cow::Borrowed(text);
        };
        let last_end = self.entries.last().map_or(first.end, |r| r.end);
        let contiguous = self.entries.windows(2).all(|w| w[0].end == w[1].start);
        if contiguous && last_end == text.len() {
            return Cow::Borrowed(&text[..first.start]);
        }
        let mut bytes = text.as_bytes().to_vec();
        for r in &self.entries {
            for b in &mut bytes[r.clone()] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        // Every byte of a blanked range became ASCII, so the text is still UTF-8.
        Cow::Owned(String::from_utf8(bytes).unwrap_or_default())
    }
}

/// Parses entry `index` (at `range` of `text`) on its own, with positions in `text`. Problems of
/// its content are recorded in `diags`; `Err` when the piece is not one entry that parses alone.
pub(super) fn parse_entry(
    text: &str,
    range: Range<usize>,
    index: usize,
    diags: &mut Diagnostics,
) -> Result<Option<DomainSection>, NotAlone> {
    let piece = text.get(range.clone()).ok_or(NotAlone)?;
    let root = DeTable::parse(piece).map_err(|_| NotAlone)?.into_inner();
    if root.len() != 1 {
        return Err(NotAlone);
    }
    let Some((key, value)) = root.into_iter().next() else {
        return Err(NotAlone);
    };
    if key.get_ref().as_ref() != "domain" {
        return Err(NotAlone);
    }
    let DeValue::Array(items) = value.into_inner() else {
        return Err(NotAlone);
    };
    let mut items = items.into_iter();
    let (Some(mut entry), None) = (items.next(), items.next()) else {
        return Err(NotAlone);
    };
    if !matches!(entry.get_ref(), DeValue::Table(_)) {
        return Err(NotAlone);
    }
    shift(&mut entry, range.start);
    Ok(de(entry, &format!("domain[{index}]"), diags))
}

/// Moves every position in `value` by `by` bytes.
fn shift(value: &mut Spanned<DeValue<'_>>, by: usize) {
    let span = value.span();
    let moved = span.start + by..span.end + by;
    let mut inner =
        std::mem::replace(value, Spanned::new(0..0, DeValue::Boolean(false))).into_inner();
    match &mut inner {
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                shift(item, by);
            }
        }
        DeValue::Table(table) => {
            let old = std::mem::take(table);
            for (key, mut v) in old {
                shift(&mut v, by);
                let ks = key.span();
                table.insert(
                    Spanned::new(ks.start + by..ks.end + by, key.into_inner()),
                    v,
                );
            }
        }
        _ => {}
    }
    *value = Spanned::new(moved, inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_end_at_the_next_entry_or_section_but_not_at_a_subtable() {
        let text = "[server]\nipv4 = []\n[[domain]]\nname = \"a.test\"\n[domain.autodiscover_srv]\n\
                    port = 443\n  [[domain]]  # b\nname = \"b.test\"\n[hosts]\n\"x.{domain}\" = []\n";
        let cut = cut(text);
        let pieces: Vec<&str> = cut.entries.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            pieces,
            [
                "[[domain]]\nname = \"a.test\"\n[domain.autodiscover_srv]\nport = 443\n",
                "  [[domain]]  # b\nname = \"b.test\"\n",
            ]
        );
        let others = cut.others(text);
        assert_eq!(others.len(), text.len());
        assert!(others.starts_with("[server]\nipv4 = []\n"));
        assert!(others.ends_with("[hosts]\n\"x.{domain}\" = []\n"));
        assert!(!others.contains("domain]"));
    }

    #[test]
    fn an_entry_parses_with_its_positions_in_the_whole_text() {
        let text = "[server]\n[[domain]]\nname = \"a.test\"\n";
        let cut = cut(text);
        let mut diags = Diagnostics::default();
        let section = parse_entry(text, cut.entries[0].clone(), 0, &mut diags)
            .ok()
            .flatten();
        let name = section.and_then(|s| s.name);
        let span = name.map(|n| n.span()).unwrap_or_default();
        assert_eq!(&text[span], "\"a.test\"");
    }

    #[test]
    fn a_header_inside_a_string_is_not_taken_for_an_entry() {
        let text = "[[domain]]\nname = \"a.test\"\nrecords = \"\"\"\n[[domain]]\n\"\"\"\n";
        let cut = cut(text);
        assert_eq!(cut.entries.len(), 2);
        let mut diags = Diagnostics::default();
        assert!(parse_entry(text, cut.entries[0].clone(), 0, &mut diags).is_err());
    }
}
