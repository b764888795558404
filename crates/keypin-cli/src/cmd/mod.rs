//! One module per subcommand.

pub mod attest;
pub mod bundle;
pub mod check;
pub mod collector;
pub mod demo;
pub mod export;
pub mod gate;
pub mod import;
pub mod inspect;
pub mod lab;
mod lab_proxy;
pub mod lint;
pub mod monitor;
pub mod pin;
pub mod shield;

use crate::Failure;
use crate::args::{Cli, Command};

/// Runs the chosen command; `Ok(code)` is the exit code of a command that ran to its end.
pub(crate) fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Pin(a) => pin::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Check(a) => check::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Export(a) => export::run(a),
        Command::Import(a) => import::run(a),
        Command::Lint(a) => lint::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Collector(a) => collector::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Bundle(a) => bundle::run(a),
        Command::Attest(a) => attest::run(a),
        Command::Gate(a) => gate::run(a),
        Command::Shield(a) => shield::run(a),
    }
}

/// `--spare-keys DIR`: the SPKI pins of the private keys and CSRs there, with a note for each
/// other file.
pub(crate) fn spare_pins(
    dir: &std::path::Path,
) -> anyhow::Result<std::collections::BTreeSet<keypin::pin::Pin>> {
    let spare = keypin_inspect::keyfile::spare_pins(dir)?;
    for path in &spare.skipped {
        eprintln!(
            "keypin: note: {}: not a key or CSR, skipped",
            path.display()
        );
    }
    Ok(spare.pins)
}

/// Resolves at Ctrl-C or SIGTERM: a long-running command stops cleanly on either.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
