//! `include = ["domains.d/*.toml"]`: a hosting panel writes one file per customer.
//!
//! The included files are appended to the including file's text, in sorted order of each
//! pattern's matches, and the whole is validated as one configuration, so that every rule
//! (duplicates, aliases, zone consistency) sees every domain. Each file's start is remembered, so
//! every message still names the file, line and column it is about. Included files hold only
//! tables — `[[domain]]`, `[service.NAME]`, `[hosts]` — and include nothing further (no loops).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use toml::de::{DeTable, DeValue};

use crate::error::{ConfigErrors, Diagnostic};

/// Largest included file read.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// A configuration file with its included files appended.
pub(crate) struct Assembled {
    /// The whole text.
    pub text: String,
    /// Where each file starts in `text` (the including file first, at 0).
    pub segments: Vec<(PathBuf, usize)>,
}

/// Appends the files `main` (the text of `path`) includes. Problems with the includes
/// themselves (a pattern matching nothing, an unreadable or ill-shaped file) are errors at the
/// place they concern.
pub(crate) fn assemble(path: &Path, main: String) -> Result<Assembled, ConfigErrors> {
    let mut segments = vec![(path.to_owned(), 0)];
    // Parsing costs as much as validating a large file's domains: a file that cannot hold the
    // key (neither the word nor an escape that could spell it) is not parsed twice.
    if !main.contains("include") && !main.contains("\\u") && !main.contains("\\U") {
        return Ok(Assembled {
            text: main,
            segments,
        });
    }
    // A main file that does not parse is reported by validation as usual.
    let Ok(root) = DeTable::parse(&main) else {
        return Ok(Assembled {
            text: main,
            segments,
        });
    };
    let Some(include) = root.get_ref().get("include") else {
        return Ok(Assembled {
            text: main,
            segments,
        });
    };
    let mut diags = Vec::new();
    let patterns: Vec<(String, std::ops::Range<usize>)> = match include.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .filter_map(|item| match item.get_ref() {
                DeValue::String(s) => Some((s.to_string(), item.span())),
                _ => {
                    diags.push(Diagnostic::new(
                        Some(item.span()),
                        "include",
                        "each entry is a file name or pattern in quotes",
                    ));
                    None
                }
            })
            .collect(),
        _ => {
            diags.push(Diagnostic::new(
                Some(include.span()),
                "include",
                "a list of file names or patterns: include = [\"domains.d/*.toml\"]",
            ));
            Vec::new()
        }
    };
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut text = main;
    let mut included: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let count = patterns.len();
    for (i, (pattern, span)) in patterns.into_iter().enumerate() {
        let key = format!("include[{i}]");
        // Files are remembered only for the patterns after this one (hashing thousands of paths
        // for nothing was a tenth of reading them).
        let remember = i + 1 < count;
        let full = base.join(&pattern);
        let matches = match glob::glob(&full.to_string_lossy()) {
            Ok(paths) => {
                let mut m: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                m.sort();
                m
            }
            Err(e) => {
                diags.push(Diagnostic::new(
                    Some(span),
                    key,
                    format!("`{pattern}` is not a valid pattern: {e}"),
                ));
                continue;
            }
        };
        if matches.is_empty() {
            diags.push(Diagnostic::new(
                Some(span),
                key,
                format!(
                    "`{pattern}` matches no file (relative to {})",
                    base.display()
                ),
            ));
            continue;
        }
        // Read (and shape-checked) in parallel: a hosting panel's directory holds thousands.
        let wanted: Vec<PathBuf> = matches
            .into_iter()
            .filter(|file| file != path && !included.contains(file))
            .collect();
        let parts: Vec<Result<String, String>> = wanted
            .par_iter()
            .map(|file| read(file).and_then(|part| shape(&part).map(|()| part)))
            .collect();
        for (file, part) in wanted.into_iter().zip(parts) {
            match part {
                Ok(part) => {
                    text.push('\n');
                    segments.push((file.clone(), text.len()));
                    text.push_str(&part);
                    if remember {
                        included.insert(file);
                    }
                }
                Err(message) => diags.push(Diagnostic::new(
                    Some(span.clone()),
                    key.clone(),
                    format!("{}: {message}", file.display()),
                )),
            }
        }
    }
    if diags.is_empty() {
        Ok(Assembled { text, segments })
    } else {
        Err(ConfigErrors::new(path, &text, diags).with_segments(segments))
    }
}

/// Reads an included file: a regular file, at most [`MAX_FILE`] bytes, UTF-8. The file is opened
/// first and then examined through its descriptor: one path lookup instead of three (a hosting
/// panel's thousands of files made those a third of a reload).
fn read(file: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let mut f = open_without_blocking(file).map_err(|e| format!("cannot read: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE {
        return Err(format!(
            "{} bytes; an included file is at most {MAX_FILE}",
            meta.len()
        ));
    }
    let mut text = String::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.read_to_string(&mut text).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => "not UTF-8 text (TOML files must be UTF-8)".into(),
        _ => format!("cannot read: {e}"),
    })?;
    Ok(text)
}

/// Opens `file` for reading. On Unix without blocking: an ordinary open of a FIFO waits for a
/// writer, and the load would hang there instead of refusing it as "not a regular file".
#[cfg(unix)]
fn open_without_blocking(file: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
}

/// Opens `file` for reading, after making sure it is not something an open could wait on.
#[cfg(not(unix))]
fn open_without_blocking(file: &Path) -> std::io::Result<std::fs::File> {
    if !std::fs::metadata(file)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    std::fs::File::open(file)
}

/// An included file must start with a table header, so that none of its keys can fall into the
/// previous file's last table, and may hold only domains, services and hosts.
fn shape(text: &str) -> Result<(), String> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    if first.is_some_and(|l| !l.starts_with('[')) {
        return Err(
            "an included file holds only [[domain]], [service.NAME] and [hosts] sections; \
             it starts with a bare key"
                .into(),
        );
    }
    // Root keys come only from table headers, which are lines that start with `[`: when every
    // such line names an allowed section, the file is fine without parsing it (the common case,
    // and it matters for thousands of files). Otherwise the parse decides.
    if text.lines().all(|l| allowed_header(l.trim_start())) {
        return Ok(());
    }
    // Syntax errors are reported by validation, with their positions.
    if let Ok(root) = DeTable::parse(text) {
        for key in root.get_ref().keys() {
            let key: &str = key.get_ref();
            if !matches!(key, "domain" | "service" | "hosts") {
                return Err(format!(
                    "`[{key}]` cannot be in an included file (only [[domain]], [service.NAME] \
                     and [hosts]; includes do not nest)"
                ));
            }
        }
    }
    Ok(())
}

/// Whether `line` is not a table header, or is one of a section an included file may hold.
fn allowed_header(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('[') else {
        return true;
    };
    let rest = rest
        .strip_prefix('[')
        .unwrap_or(rest)
        .trim_start_matches([' ', '\t']);
    ["domain", "service", "hosts"].iter().any(|key| {
        rest.strip_prefix(key).is_some_and(|after| {
            after
                .trim_start_matches([' ', '\t'])
                .starts_with(['.', ']'])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_allowed_sections_need_no_parse_and_others_are_refused() {
        assert!(allowed_header("[[domain]]"));
        assert!(allowed_header("[ service.mail ]"));
        assert!(allowed_header("[domain.autodiscover_srv]"));
        assert!(allowed_header("[hosts]"));
        assert!(allowed_header("name = \"a.test\""));
        assert!(!allowed_header("[server]"));
        assert!(!allowed_header("[domains]"));
        assert!(!allowed_header("[\"domain\"]"));
        assert!(shape("[[domain]]\nname = \"a.test\"\n").is_ok());
        let refused = shape("[[domain]]\nname = \"a.test\"\n[server]\nipv4 = []\n");
        assert!(refused.is_err_and(|e| e.contains("`[server]` cannot be in an included file")));
        // A quoted key is left to the parse, which reads it as what it is.
        assert!(shape("[\"domain\"]\nname = \"a.test\"\n").is_ok());
        assert!(shape("[\"tls\"]\nmode = \"off\"\n").is_err());
    }

    #[test]
    fn included_files_are_read_or_refused_by_what_they_are() {
        let dir = tempfile::tempdir().expect("scratch directory");
        let good = dir.path().join("a.toml");
        std::fs::write(&good, "[[domain]]\nname = \"a.test\"\n").unwrap();
        assert_eq!(read(&good).unwrap(), "[[domain]]\nname = \"a.test\"\n");
        let latin1 = dir.path().join("b.toml");
        std::fs::write(&latin1, b"# caf\xe9\n").unwrap();
        assert!(read(&latin1).is_err_and(|e| e.contains("not UTF-8")));
        assert!(read(dir.path()).is_err_and(|e| e == "not a regular file"));
        let missing = read(&dir.path().join("missing.toml"));
        assert!(missing.is_err_and(|e| e.starts_with("cannot read: ")));
        // A FIFO nobody writes to: refused at once, not waited on.
        let fifo = dir.path().join("c.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(read(&fifo).is_err_and(|e| e == "not a regular file"));
        }
    }
}
