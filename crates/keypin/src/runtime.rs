//! Runtime integrity findings as keypin carries them: plain data the app fills (from
//! keypin-shield, whose `Finding` converts into a [`RuntimeFinding`], or from its own checks),
//! carried by [`crate::events::PinEvent::RuntimeFindings`] and, with the `reports` feature, in
//! the `runtime-findings` field of pin-failure reports.
//!
//! keypin never runs a scan itself (certainly not inside a handshake): it carries what the
//! app last said. These are client-side signals: a hooked process can report whatever it
//! likes. Server-side checks (attestation, channel binding) are the sturdy part.
//!
//! Everything here is bounded: at most [`MAX_FINDINGS`] findings (the most severe kept), an id
//! of at most [`MAX_ID`] bytes and evidence of at most [`MAX_EVIDENCE`] bytes.

use serde::{Deserialize, Serialize};

/// Findings carried at most (in an event or a report); the most severe are kept.
pub const MAX_FINDINGS: usize = 16;
/// The longest id (`SH001`, or the app's own).
pub const MAX_ID: usize = 16;
/// The longest evidence text.
pub const MAX_EVIDENCE: usize = 256;

/// How much a finding says about the process being tampered with (`low`, `medium`, `high` on
/// the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// A hint with innocent explanations (a preloaded library, a rooted test device).
    Low,
    /// Unusual for an app and common in tampering.
    Medium,
    /// The pinning can no longer be trusted in this process.
    High,
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// One runtime integrity finding: a stable id, a severity and short evidence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuntimeFinding {
    /// The check's stable id (`SH001`...).
    pub id: String,
    /// Its severity.
    pub severity: Severity,
    /// What was seen, short (a library path, a function name).
    pub evidence: String,
}

impl RuntimeFinding {
    /// A finding, its id and evidence cut to [`MAX_ID`] and [`MAX_EVIDENCE`] bytes.
    pub fn new(id: impl Into<String>, severity: Severity, evidence: impl Into<String>) -> Self {
        Self {
            id: clip(id.into(), MAX_ID),
            severity,
            evidence: clip(evidence.into(), MAX_EVIDENCE),
        }
    }

    /// This finding with its id and evidence cut to the bounds (fields are public, so a value
    /// may have been built or changed without [`RuntimeFinding::new`]).
    fn bounded(self) -> Self {
        Self::new(self.id, self.severity, self.evidence)
    }
}

/// At most [`MAX_FINDINGS`] findings, most severe first (then by id), each within the bounds.
pub fn bounded(findings: impl IntoIterator<Item = RuntimeFinding>) -> Vec<RuntimeFinding> {
    let mut all: Vec<RuntimeFinding> = findings.into_iter().map(RuntimeFinding::bounded).collect();
    all.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    all.truncate(MAX_FINDINGS);
    all
}

/// At most `max` bytes, cut at a character boundary.
fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bounded_keeps_the_most_severe_within_the_limits() {
        let many = (0..40).map(|i| {
            let severity = if i == 39 {
                Severity::High
            } else {
                Severity::Low
            };
            RuntimeFinding {
                id: format!("SH{i:03}-and-a-very-long-suffix"),
                severity,
                evidence: "é".repeat(MAX_EVIDENCE),
            }
        });
        let kept = bounded(many);
        assert_eq!(kept.len(), MAX_FINDINGS);
        assert_eq!(kept[0].severity, Severity::High);
        assert!(kept[0].id.starts_with("SH039"));
        for f in &kept {
            assert!(
                f.id.len() <= MAX_ID && f.evidence.len() <= MAX_EVIDENCE,
                "{f:?}"
            );
        }
    }

    #[test]
    fn wire_form() {
        let f = RuntimeFinding::new("SH001", Severity::High, "TracerPid: 42 (gdb)");
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            json,
            r#"{"id":"SH001","severity":"high","evidence":"TracerPid: 42 (gdb)"}"#
        );
        assert_eq!(serde_json::from_str::<RuntimeFinding>(&json).unwrap(), f);
    }
}
