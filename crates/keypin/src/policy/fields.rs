//! The fields both policy files share, checked once: the server rules (`[[rule]]`) and the
//! client allowlist (`[[client]]`) read pins, `expires` and keyword settings the same way and
//! report each problem the same way, at its line (and column), under its field's name.

use std::path::Path;

use crate::clock::Date;
use crate::error::Error;
use crate::pin::Pin;

use super::diagnostic::{Diagnostic, PolicyError};
use super::toml_text::{Lines, Position};

/// The hint for a pin that does not parse, by policy kind.
pub(super) const PIN_HINT_RULE: &str =
    "compute pins with `keypin pin FILE` or `keypin inspect HOST`";
pub(super) const PIN_HINT_CLIENT: &str = "compute pins with `keypin pin client.crt`";

/// Collects a policy's problems, each placed at the line (and, for rules, the column) of the
/// byte offset it is about, or at the line of the table it belongs to when no offset is known.
pub(super) struct Reporter {
    pub(super) lines: Lines,
    position: Position,
    /// The line of the table being checked (`[[rule]]`, `[[client]]`), for problems that
    /// have no place of their own (a rule built in code).
    pub(super) table_line: Option<usize>,
    diagnostics: Vec<Diagnostic>,
}

impl Reporter {
    pub(super) fn new(text: &str, position: Position) -> Self {
        Self {
            lines: Lines::new(text),
            position,
            table_line: None,
            diagnostics: Vec::new(),
        }
    }

    /// Records a problem with `field`, found at byte offset `at` of the text.
    pub(super) fn report(
        &mut self,
        at: Option<usize>,
        field: String,
        message: String,
        hint: Option<&str>,
    ) {
        let (line, column) = match at {
            // Offset 0 of a one-line text is where a rule built in code (no text) points too.
            Some(off) if self.lines.several() || off > 0 => {
                let (l, c) = self.lines.line_col(off);
                match self.position {
                    Position::Line => (Some(l), None),
                    Position::LineAndColumn => (Some(l), Some(c)),
                }
            }
            _ => (self.table_line, None),
        };
        self.push(Diagnostic {
            line,
            column,
            field: Some(field),
            message,
            hint: hint.map(str::to_string),
        });
    }

    pub(super) fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// How many problems so far (to tell whether a table added any).
    pub(super) fn count(&self) -> usize {
        self.diagnostics.len()
    }

    /// Every problem, in file order whatever order the checks ran in; `Ok` when none.
    pub(super) fn finish(mut self, source_name: &str) -> Result<(), PolicyError> {
        if self.diagnostics.is_empty() {
            return Ok(());
        }
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        Err(PolicyError {
            source_name: source_name.to_string(),
            diagnostics: self.diagnostics,
        })
    }

    /// A keyword setting: `None` is `default`; a word outside `choices` is reported as
    /// "unknown `name`" with `hint`, and gives `None`.
    pub(super) fn keyword<T: Copy>(
        &mut self,
        value: Option<&str>,
        default: T,
        choices: &[(&str, T)],
        (at, field, name): (Option<usize>, String, &str),
        hint: &str,
    ) -> Option<T> {
        let Some(value) = value else {
            return Some(default);
        };
        match choices.iter().find(|(word, _)| *word == value) {
            Some((_, v)) => Some(*v),
            None => {
                self.report(at, field, format!("unknown {name} {value:?}"), Some(hint));
                None
            }
        }
    }

    /// The `expires` date (the last day, UTC, that pins are in force).
    pub(super) fn expires(
        &mut self,
        value: Option<&str>,
        at: Option<usize>,
        field: String,
        hint: &str,
    ) -> Option<Date> {
        match Date::parse(value?) {
            Ok(d) => Some(d),
            Err(message) => {
                self.report(at, field, message, Some(hint));
                None
            }
        }
    }

    /// A list of pins, each at its offset; a pin that does not parse or is listed twice in the
    /// list is reported under `{prefix}.{list}[j]`. Returns the distinct pins that parsed.
    pub(super) fn pins<'s>(
        &mut self,
        items: impl IntoIterator<Item = (Option<usize>, &'s str)>,
        prefix: &str,
        list: &str,
        parse_hint: &str,
    ) -> Vec<Pin> {
        let mut pins: Vec<Pin> = Vec::new();
        for (j, (at, text)) in items.into_iter().enumerate() {
            let field = format!("{prefix}.{list}[{j}]");
            match Pin::parse(text) {
                Ok(pin) if pins.contains(&pin) => self.report(
                    at,
                    field,
                    format!("pin {pin} is listed twice"),
                    Some("remove the duplicate; a backup pin must be a different key"),
                ),
                Ok(pin) => pins.push(pin),
                Err(e) => self.report(at, field, e.to_string(), Some(parse_hint)),
            }
        }
        pins
    }
}

/// The text of a policy file, or the error naming the file.
pub(super) fn read_policy_file(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
