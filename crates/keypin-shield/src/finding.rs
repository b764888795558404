//! Findings: a stable id, a severity and evidence, like `keypin lint`'s KPnnn.

use serde::Serialize;

/// How much a finding says about the process being tampered with: keypin's own severity, so
/// a finding travels into reports and the gate unchanged.
pub use keypin::runtime::Severity;

/// What a finding is about. Each has a stable id (`SH001`...) that never changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Check {
    /// SH001: a tracer (a debugger, strace, frida's ptrace injector) is attached.
    Tracer,
    /// SH002: a library named like Frida's agent or gadget, Substrate, Xposed, LSPosed...
    InstrumentationLibrary,
    /// SH003: executable memory not backed by a file (anonymous or memfd).
    AnonymousExecutable,
    /// SH004: a thread named like Frida's (`gum-js-loop`, `pool-frida`...).
    InstrumentationThread,
    /// SH005: something listens on frida-server's default port (27042).
    FridaPort,
    /// SH006: `LD_PRELOAD` is set.
    Preload,
    /// SH007: executable code mapped from outside the allowed directories.
    UnexpectedLibrary,
    /// SH008: a software breakpoint in a guarded function.
    Breakpoint,
    /// SH009: a guarded function's code differs from the binary on disk (an inline hook).
    PatchedCode,
    /// SH010: a guarded function's code could not be read.
    UnreadableCode,
    /// SH011: an `su` binary.
    SuBinary,
    /// SH012: Magisk's files.
    Magisk,
    /// SH013: a build signed with test keys.
    TestKeys,
    /// SH014: a debuggable build (`ro.debuggable=1`).
    DebuggableBuild,
}

impl Check {
    /// Every check, in id order.
    pub const ALL: [Check; 14] = [
        Check::Tracer,
        Check::InstrumentationLibrary,
        Check::AnonymousExecutable,
        Check::InstrumentationThread,
        Check::FridaPort,
        Check::Preload,
        Check::UnexpectedLibrary,
        Check::Breakpoint,
        Check::PatchedCode,
        Check::UnreadableCode,
        Check::SuBinary,
        Check::Magisk,
        Check::TestKeys,
        Check::DebuggableBuild,
    ];

    /// The stable id, `SH001`...
    pub fn id(self) -> &'static str {
        self.row().0
    }

    /// The severity of a finding of this check.
    pub fn severity(self) -> Severity {
        self.row().1
    }

    /// One line saying what was seen.
    pub fn title(self) -> &'static str {
        self.row().2
    }

    fn row(self) -> (&'static str, Severity, &'static str) {
        use Severity::*;
        match self {
            Check::Tracer => ("SH001", High, "a tracer (debugger) is attached"),
            Check::InstrumentationLibrary => {
                ("SH002", High, "an instrumentation library is loaded")
            }
            Check::AnonymousExecutable => ("SH003", Medium, "executable memory without a file"),
            Check::InstrumentationThread => ("SH004", High, "a thread named like Frida's"),
            Check::FridaPort => ("SH005", Medium, "a listener on frida-server's port"),
            Check::Preload => ("SH006", Medium, "LD_PRELOAD is set"),
            Check::UnexpectedLibrary => ("SH007", Low, "code mapped from an unexpected place"),
            Check::Breakpoint => ("SH008", High, "a software breakpoint in guarded code"),
            Check::PatchedCode => ("SH009", High, "guarded code differs from the binary"),
            Check::UnreadableCode => ("SH010", Medium, "guarded code could not be read"),
            Check::SuBinary => ("SH011", Low, "an su binary is present"),
            Check::Magisk => ("SH012", Low, "Magisk files are present"),
            Check::TestKeys => ("SH013", Low, "the build is signed with test keys"),
            Check::DebuggableBuild => ("SH014", Low, "the build is debuggable"),
        }
    }
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// What was seen, and where.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Evidence {
    /// A file: the library, the `/proc` file, the su binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The `/proc/self/maps` line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// The guarded function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The rest, for a person.
    pub detail: String,
}

/// One thing a check saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Finding {
    /// The check (serialized as its id).
    pub id: Check,
    /// Its severity.
    pub severity: Severity,
    /// What it means.
    pub title: &'static str,
    /// What was seen.
    pub evidence: Evidence,
}

impl Finding {
    pub(crate) fn new(check: Check, evidence: Evidence) -> Self {
        Self {
            id: check,
            severity: check.severity(),
            title: check.title(),
            evidence,
        }
    }

    pub(crate) fn detail(check: Check, detail: impl Into<String>) -> Self {
        Self::new(
            check,
            Evidence {
                detail: detail.into(),
                ..Evidence::default()
            },
        )
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.id.id(),
            self.severity.as_str(),
            self.title
        )?;
        let e = &self.evidence;
        if let Some(function) = &e.function {
            write!(f, "\n    function: {function}")?;
        }
        if let Some(path) = &e.path {
            write!(f, "\n    path: {path}")?;
        }
        if let Some(mapping) = &e.mapping {
            write!(f, "\n    mapping: {mapping}")?;
        }
        if !e.detail.is_empty() {
            write!(f, "\n    {}", e.detail)?;
        }
        Ok(())
    }
}

impl Finding {
    /// The short evidence a report or the gate carries: the function, the path, then the
    /// detail (the maps line is left out), cut to [`keypin::runtime::MAX_EVIDENCE`].
    pub fn short_evidence(&self) -> String {
        let e = &self.evidence;
        let parts: Vec<&str> = [e.function.as_deref(), e.path.as_deref(), Some(&e.detail)]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        parts.join("; ")
    }
}

impl From<&Finding> for keypin::runtime::RuntimeFinding {
    fn from(f: &Finding) -> Self {
        Self::new(f.id.id(), f.severity, f.short_evidence())
    }
}

/// Whether the checks could run here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "coverage", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Coverage {
    /// The checks ran (Linux, Android).
    Full,
    /// This system has none of the checks: no finding means nothing here.
    Unsupported {
        /// The system (`std::env::consts::OS`).
        os: String,
    },
}

/// A check that could not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unavailable {
    /// The check.
    pub id: Check,
    /// Why not.
    pub reason: String,
}

/// The result of a scan.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Whether the checks ran.
    #[serde(flatten)]
    pub coverage: Coverage,
    /// The checks that ran (ids).
    pub checks: Vec<Check>,
    /// Checks asked for that could not run here, and why (not a clean result for them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<Unavailable>,
    /// The guarded functions whose code was compared.
    pub functions: Vec<String>,
    /// What they saw, in check order.
    pub findings: Vec<Finding>,
}

impl Report {
    #[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))]
    pub(crate) fn unsupported(os: &str) -> Self {
        Self {
            coverage: Coverage::Unsupported { os: os.to_owned() },
            checks: Vec::new(),
            unavailable: Vec::new(),
            functions: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// True when every check asked for ran and saw nothing: a check that could not run
    /// ([`Report::unavailable`]) is not clean.
    pub fn is_clean(&self) -> bool {
        self.coverage == Coverage::Full && self.findings.is_empty() && self.unavailable.is_empty()
    }
}
