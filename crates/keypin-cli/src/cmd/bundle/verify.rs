//! `keypin bundle verify BUNDLE --root root.json [...]`: exit 0 valid, 1 invalid, 2 usage.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use keypin::live::bundle::Expectations;
use rustls_pki_types::UnixTime;

use super::{now_secs, read_root, usage};
use crate::{Failure, exit};

#[derive(Debug, clap::Args)]
pub(super) struct VerifyArgs {
    /// The bundle to check.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// The root the app embeds.
    #[arg(long, value_name = "FILE")]
    root: PathBuf,
    /// Later roots (v2, v3, ...), walked one step at a time from --root before checking.
    #[arg(long = "rotated", value_name = "FILE")]
    rotated: Vec<PathBuf>,
    /// The app id the bundle must carry (not checked when absent).
    #[arg(long, value_name = "ID")]
    app_id: Option<String>,
    /// The environment the bundle must carry (not checked when absent).
    #[arg(long = "env", value_name = "ENV")]
    environment: Option<String>,
    /// The lowest acceptable version (a client that has stored version N passes N+1).
    #[arg(long, value_name = "N")]
    min_version: Option<u64>,
}

pub(super) fn run(args: VerifyArgs) -> Result<u8, Failure> {
    let mut root = read_root(&args.root).map_err(usage)?;
    for path in &args.rotated {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read {}", path.display()))
            .map_err(usage)?;
        root = match root.rotate(&bytes) {
            Ok(next) => next,
            Err(e) => return invalid(anyhow!(e).context(format!("root {}", path.display()))),
        };
    }
    let bytes = std::fs::read(&args.bundle)
        .with_context(|| format!("cannot read {}", args.bundle.display()))
        .map_err(usage)?;
    let mut expect = Expectations::inspect_any_app();
    if let (Some(app), Some(env)) = (&args.app_id, &args.environment) {
        expect = Expectations::new(app, env);
    } else if args.app_id.is_some() || args.environment.is_some() {
        return Err(usage(anyhow!(
            "--app-id and --env go together (a client always checks both)"
        )));
    }
    if let Some(min) = args.min_version {
        expect = expect.high_water(min.saturating_sub(1));
    }
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now_secs()).unwrap_or(0),
    ));
    match root.verify_bundle(&bytes, &expect, now) {
        Ok(v) => {
            say!(
                "valid: {}/{} v{}, issued {}, expires {}, {} rule(s), signed by a threshold ({}) of root v{}",
                v.app_id(),
                v.environment(),
                v.version(),
                v.issued(),
                v.expires(),
                v.policy().rules().len(),
                root.threshold(),
                root.version()
            );
            match v.ct_logs() {
                Some(logs) => say!(
                    "carries a CT log list: version {}, {} logs (used instead of the app's own list while this bundle is in force)",
                    if logs.version().is_empty() {
                        "(none)"
                    } else {
                        logs.version()
                    },
                    logs.len()
                ),
                None => say!("carries no CT log list (apps use their own)"),
            }
            if args.app_id.is_none() {
                say!("note: app id and environment not checked (pass --app-id and --env)");
            }
            Ok(0)
        }
        Err(e) => invalid(anyhow!(e).context(format!("{}", args.bundle.display()))),
    }
}

fn invalid(e: anyhow::Error) -> Result<u8, Failure> {
    Err(Failure {
        code: exit::MISMATCH,
        error: e.context("invalid"),
    })
}
