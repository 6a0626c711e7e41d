//! Configuration errors that point at the file, line, column and key they are about.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte range in the file the problem is about, when known.
    pub span: Option<Range<usize>>,
    /// Dotted path of the key, e.g. `domain[1].mx[0]` (empty for file-level problems).
    pub key: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// An error refuses the file; a warning is reported and the file is served.
    pub severity: Severity,
}

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration is refused.
    Error,
    /// Served as written, but clients or registries are likely to misread it.
    Warning,
}

impl Diagnostic {
    /// A problem at `span` about `key`.
    pub fn new(
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            span,
            key: key.into(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A warning at `span` about `key`.
    pub fn warning(
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::new(span, key, message)
        }
    }
}

/// Every problem found in one configuration file, with the text needed to locate them. The same
/// type carries the warnings of a file that loaded (see [`crate::Checked`]).
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    path: PathBuf,
    text: String,
    diagnostics: Vec<Diagnostic>,
    /// When `text` is a file with its `include`d files appended: where each file starts in it
    /// (the first is `path` at 0), so that positions name the right file and line.
    segments: Vec<(PathBuf, usize)>,
}

/// A line/column position, both starting at 1; the column counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line number.
    pub line: usize,
    /// Column number.
    pub column: usize,
}

impl ConfigErrors {
    /// Collects `diagnostics` about the file at `path` whose content is `text`.
    pub fn new(path: &Path, text: &str, diagnostics: Vec<Diagnostic>) -> Self {
        ConfigErrors {
            path: path.to_owned(),
            text: text.to_owned(),
            diagnostics,
            segments: Vec::new(),
        }
    }

    /// Marks where included files start in the text (see [`crate::check_file`]).
    pub fn with_segments(mut self, segments: Vec<(PathBuf, usize)>) -> Self {
        self.segments = segments;
        self
    }

    /// The file and position a byte offset of the text falls in.
    fn locate(&self, offset: usize) -> (&Path, Position) {
        match self
            .segments
            .iter()
            .rev()
            .find(|(_, start)| *start <= offset)
        {
            Some((path, start)) => (
                path,
                position_of(self.text.get(*start..).unwrap_or_default(), offset - start),
            ),
            None => (&self.path, position_of(&self.text, offset)),
        }
    }

    /// The problems, in file order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// The file the problems are in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a diagnostic points, if it has a span.
    pub fn position(&self, d: &Diagnostic) -> Option<Position> {
        d.span.as_ref().map(|s| position_of(&self.text, s.start))
    }
}

/// Line and column of byte `offset` in `text`.
pub fn position_of(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    // Clamp to a char boundary so a span inside a multi-byte character cannot panic.
    let offset = (0..=offset)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position { line, column }
}

impl fmt::Display for ConfigErrors {
    /// One `FILE:LINE:COL: key: message` line per problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let (path, pos) = match &d.span {
                Some(span) => self.locate(span.start),
                None => (self.path.as_path(), Position { line: 1, column: 1 }),
            };
            write!(f, "{}:{}:{}: ", path.display(), pos.line, pos.column)?;
            if d.severity == Severity::Warning {
                f.write_str("warning: ")?;
            }
            if !d.key.is_empty() {
                write!(f, "{}: ", d.key)?;
            }
            f.write_str(&d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read configuration: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position_of(text, 0), Position { line: 1, column: 1 });
        assert_eq!(position_of(text, 6), Position { line: 2, column: 1 });
        // 'é' is two bytes but one column.
        assert_eq!(position_of(text, 9), Position { line: 2, column: 3 });
        // Inside a multi-byte character and past the end both stay in range.
        assert_eq!(position_of(text, 8), Position { line: 2, column: 2 });
        assert_eq!(position_of(text, 999).line, 3);
    }

    #[test]
    fn display_names_file_line_column_and_key() {
        let text = "x = 1\ny = 2\n";
        let errs = ConfigErrors::new(
            Path::new("m.toml"),
            text,
            vec![
                Diagnostic::new(Some(6..7), "y", "bad"),
                Diagnostic::new(None, "", "whole file"),
                Diagnostic::warning(Some(0..1), "x", "odd"),
            ],
        );
        assert_eq!(
            errs.to_string(),
            "m.toml:2:1: y: bad\nm.toml:1:1: whole file\nm.toml:1:1: warning: x: odd"
        );
    }
}
