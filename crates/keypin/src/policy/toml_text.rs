//! The TOML layer both policy parsers stand on: the server rules (`[[rule]]`, in
//! [`crate::policy`]) and the client allowlist (`[[client]]`, in [`crate::verify::client`]).
//! One line table for every message's line, and one way a text that is not TOML, or not the
//! expected tables, becomes its diagnostic.

use serde::de::DeserializeOwned;

use crate::policy::{Diagnostic, PolicyError};

/// Where each line of a policy text starts, for the line (and column) of a byte offset.
pub(crate) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// Line and column (both from 1) of byte `offset`.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        (line.max(1), offset - start + 1)
    }

    /// The line (from 1) of byte `offset`.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.line_col(offset).0
    }

    /// Does the text have more than one line?
    pub(crate) fn several(&self) -> bool {
        self.starts.len() > 1
    }
}

/// Whether a diagnostic names the column as well as the line.
#[derive(Clone, Copy)]
pub(crate) enum Position {
    Line,
    LineAndColumn,
}

/// Deserializes `text` into the parser's raw (spanned) tables. A syntax error, an unknown or
/// a missing field is the one diagnostic, at its place, with the hint `hint` gives for
/// toml's message.
pub(crate) fn deserialize<T: DeserializeOwned>(
    text: &str,
    source_name: &str,
    lines: &Lines,
    position: Position,
    hint: impl FnOnce(&str) -> Option<String>,
) -> Result<T, PolicyError> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| lines.line_col(s.start));
        let (line, column) = match position {
            Position::Line => (at.map(|(l, _)| l), None),
            Position::LineAndColumn => at.map_or((None, None), |(l, c)| (Some(l), Some(c))),
        };
        let message = e.message().trim().to_string();
        PolicyError {
            source_name: source_name.to_string(),
            diagnostics: vec![Diagnostic {
                line,
                column,
                field: None,
                hint: hint(&message),
                message,
            }],
        }
    })
}
