//! What a refused policy says: every problem, each with where it is and how to fix it.

use core::fmt;

/// One problem found in a policy, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The key the problem is about, such as `rule[2].pins[1]`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// A policy that was refused, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Where the policy came from (a path, or a name for embedded text).
    pub source_name: String,
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        write!(
            f,
            "policy {} refused ({n} problem{})",
            self.source_name,
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            write!(f, "\n  {}", self.source_name)?;
            if let Some(line) = d.line {
                write!(f, ":{line}")?;
                if let Some(col) = d.column {
                    write!(f, ":{col}")?;
                }
            }
            if let Some(field) = &d.field {
                write!(f, ": {field}")?;
            }
            write!(f, ": {}", d.message)?;
            if let Some(hint) = &d.hint {
                write!(f, " (hint: {hint})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}
