//! `keypin shield scan`: keypin-shield's runtime integrity checks on the `keypin` process
//! itself, with keypin's pin check entry points guarded (their code compared with the binary
//! on disk). Exit 0 no finding, 1 findings, 2 error or unsupported system.

use std::path::PathBuf;

use anyhow::Context as _;
use keypin_shield::{Coverage, Shield};

use crate::Failure;

/// Flags of `keypin shield`.
#[derive(Debug, clap::Args)]
pub struct ShieldArgs {
    #[command(subcommand)]
    command: ShieldCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ShieldCommand {
    /// Run every check on this process (exit 0 no finding, 1 findings, 2 error).
    Scan(ScanArgs),
}

#[derive(Debug, clap::Args)]
struct ScanArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also accept executable code mapped from files under DIR (repeatable).
    #[arg(long, value_name = "DIR")]
    allow_dir: Vec<PathBuf>,
}

pub(crate) fn run(args: ShieldArgs) -> Result<u8, Failure> {
    match args.command {
        ShieldCommand::Scan(a) => scan(a),
    }
}

/// The pin check's entry points: rustls calls `verify_server_cert` in every handshake, and
/// `verify_chain` is the same check without one (`keypin check`). A breakpoint or hook that
/// switches pinning off sits in one of these or below them. rustls reaches
/// `verify_server_cert` through the `dyn ServerCertVerifier` vtable, so the guarded copy is
/// the one every handshake runs; a direct caller of `verify_chain` may have it inlined.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn guard_pin_checks(shield: &mut Shield) -> anyhow::Result<()> {
    use keypin::verify::PinningVerifier;
    use rustls::client::danger::ServerCertVerifier;
    let entry_points: [(&str, *const ()); 2] = [
        (
            "PinningVerifier::verify_server_cert",
            <PinningVerifier as ServerCertVerifier>::verify_server_cert as *const (),
        ),
        (
            "PinningVerifier::verify_chain",
            PinningVerifier::verify_chain as *const (),
        ),
    ];
    for (label, f) in entry_points {
        shield
            .guard(label, f)
            .with_context(|| format!("guarding {label}"))?;
    }
    Ok(())
}

fn scan(args: ScanArgs) -> Result<u8, Failure> {
    let mut shield = Shield::new();
    for dir in args.allow_dir {
        shield = shield.allow_library_dir(dir);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    guard_pin_checks(&mut shield)?;
    let report = shield.scan().context("shield scan")?;
    if let Coverage::Unsupported { os } = &report.coverage {
        return Err(Failure::usage(anyhow::anyhow!(
            "runtime integrity checks are not supported on {os}: nothing was checked"
        )));
    }
    if args.json {
        let json = serde_json::to_string_pretty(&report).context("writing the report as JSON")?;
        say!("{json}");
    } else {
        let ids: Vec<&str> = report.checks.iter().map(|c| c.id()).collect();
        say!("checks: {}", ids.join(" "));
        for f in &report.functions {
            say!("guarded: {f}");
        }
        for u in &report.unavailable {
            say!("not run: {} ({})", u.id.id(), u.reason);
        }
        if report.findings.is_empty() {
            say!("no findings");
        } else {
            say!("{} finding(s):", report.findings.len());
            for f in &report.findings {
                say!("{f}");
            }
        }
    }
    Ok(if report.findings.is_empty() { 0 } else { 1 })
}
