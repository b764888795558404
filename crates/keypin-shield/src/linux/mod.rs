//! The checks on Linux and Android, all read from `/proc`.

pub(crate) mod harden;
pub(crate) mod instrument;
pub(crate) mod integrity;
pub(crate) mod procfs;
pub(crate) mod sockets;

use std::path::Path;

use crate::{Check, Coverage, Error, Evidence, Finding, Report, Shield, Unavailable};

pub(crate) fn scan(shield: &Shield, wanted: &[Check]) -> Result<Report, Error> {
    let want = |group: &[Check]| group.iter().any(|c| wanted.contains(c));
    let mut findings = Vec::new();
    let mut checks = Vec::new();
    let mut ran = |group: &[Check]| checks.extend_from_slice(group);
    if want(&[Check::Tracer]) {
        findings.extend(tracer()?);
        ran(&[Check::Tracer]);
    }
    if want(&[Check::Preload]) {
        findings.extend(instrument::preload(Path::new("/etc/ld.so.preload")));
        ran(&[Check::Preload]);
    }
    // One read of the maps serves three checks.
    let from_maps = [
        Check::InstrumentationLibrary,
        Check::AnonymousExecutable,
        Check::UnexpectedLibrary,
    ];
    if want(&from_maps) {
        let path = "/proc/self/maps";
        let text = procfs::read(Path::new(path))?;
        let maps = procfs::maps(&text, path)?;
        findings.extend(instrument::maps(&maps, shield.allowed_dirs()));
        ran(&from_maps);
    }
    if want(&[Check::InstrumentationThread]) {
        findings.extend(instrument::threads()?);
        ran(&[Check::InstrumentationThread]);
    }
    let mut unavailable = Vec::new();
    if want(&[Check::FridaPort]) {
        match instrument::frida_port(&shield.listener_source) {
            Ok(found) => {
                findings.extend(found);
                ran(&[Check::FridaPort]);
            }
            Err(reason) => unavailable.push(Unavailable {
                id: Check::FridaPort,
                reason,
            }),
        }
    }
    let code = [Check::Breakpoint, Check::PatchedCode, Check::UnreadableCode];
    if want(&code) && !shield.guarded.is_empty() {
        findings.extend(integrity::check_all(&shield.guarded, shield.mem.as_ref()));
        ran(&code);
    }
    let root = [
        Check::SuBinary,
        Check::Magisk,
        Check::TestKeys,
        Check::DebuggableBuild,
    ];
    if want(&root) && cfg!(target_os = "android") {
        findings.extend(crate::root_hints(shield.android_root_path()));
        ran(&root);
    }
    checks.sort();
    findings.sort_by_key(|f| f.id);
    Ok(Report {
        coverage: Coverage::Full,
        checks,
        unavailable,
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
