//! The checks on Linux and Android, all read from `/proc`.

pub(crate) mod instrument;
pub(crate) mod integrity;
pub(crate) mod procfs;

use std::path::Path;

use crate::{Check, Coverage, Error, Evidence, Finding, Report, Shield};

/// How much a scan does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Tracer, `LD_PRELOAD`, guarded code.
    Quick,
    /// Everything.
    Full,
}

pub(crate) fn scan(shield: &Shield, depth: Depth) -> Result<Report, Error> {
    let mut findings = Vec::new();
    let mut checks = vec![Check::Tracer, Check::Preload];
    findings.extend(tracer()?);
    findings.extend(instrument::preload(Path::new("/etc/ld.so.preload")));
    if depth == Depth::Full {
        let path = "/proc/self/maps";
        let text = procfs::read(Path::new(path))?;
        let maps = procfs::maps(&text, path)?;
        findings.extend(instrument::maps(&maps, shield.allowed_dirs()));
        findings.extend(instrument::threads()?);
        findings.extend(instrument::frida_port()?);
        checks.extend([
            Check::InstrumentationLibrary,
            Check::AnonymousExecutable,
            Check::InstrumentationThread,
            Check::FridaPort,
            Check::UnexpectedLibrary,
        ]);
        if cfg!(target_os = "android") {
            findings.extend(crate::root_hints(shield.android_root_path()));
            checks.extend([
                Check::SuBinary,
                Check::Magisk,
                Check::TestKeys,
                Check::DebuggableBuild,
            ]);
        }
    }
    if !shield.guarded.is_empty() {
        checks.extend([Check::Breakpoint, Check::PatchedCode, Check::UnreadableCode]);
        findings.extend(integrity::check_all(&shield.guarded));
    }
    checks.sort();
    findings.sort_by_key(|f| f.id);
    Ok(Report {
        coverage: Coverage::Full,
        checks,
        functions: shield.guarded(),
        findings,
    })
}

/// SH001: `TracerPid` in `/proc/self/status`, with the tracer's name when it can be read.
pub(crate) fn tracer() -> Result<Option<Finding>, Error> {
    let path = "/proc/self/status";
    let status = procfs::read(Path::new(path))?;
    let pid = procfs::tracer_pid(&status, path)?;
    if pid == 0 {
        return Ok(None);
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| format!(" ({})", c.trim_end()))
        .unwrap_or_default();
    Ok(Some(Finding::new(
        Check::Tracer,
        Evidence {
            path: Some(path.to_owned()),
            detail: format!("TracerPid: {pid}{comm}"),
            ..Evidence::default()
        },
    )))
}
