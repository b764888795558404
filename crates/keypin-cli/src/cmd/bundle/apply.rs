//! `keypin bundle apply --state DIR --root ROOT --app-id ID --env ENV --from SITE`: one updater
//! cycle (U1–U4, docs/bundle-format.md) run by the library's own `Updater`, on a state
//! directory, as an app runs it. Operators dry-run a release against a copy of a device's state
//! directory; it also checks the updater's refusals from outside.
//!
//! The decision and its exit code: updated or unchanged 0; refused 1; usage, unreadable input
//! or a state that could not be written 2; fetch failed 3 (see `keypin bundle apply --help`).

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use keypin::live::bundle::{MAX_ROOT_BYTES, Root};
use keypin::live::updater::{
    CheckOutcome, CheckReport, FetchError, Fetcher, HttpFetcher, HttpsFetcher, MarkAcrossRotation,
    PolicySource, PolicyStore, Startup, UpdateError, Updater, UpdaterConfig,
};
use keypin::{PinnedConfig, Policy, Roots, clock::Clock, clock::ManualClock, clock::SystemClock};
use serde_json::json;

use super::site::DirFetcher;
use super::usage;
use crate::args::BundleApplyArgs;
use crate::{Failure, exit};

/// Where bundles are published.
#[derive(Debug)]
enum Site {
    /// A directory laid out like what `keypin bundle serve` serves.
    Dir(PathBuf),
    /// `http://` (development, `keypin bundle serve`).
    Http(String),
    /// `https://`, through keypin's own pinned client as an app fetches.
    Https(String),
}

/// How the decision is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

/// The validated arguments (second stage of flag parsing).
#[derive(Debug)]
struct Apply {
    state: PathBuf,
    root_path: PathBuf,
    embedded_root: Vec<u8>,
    app_id: String,
    environment: String,
    site: Site,
    embedded_policy: Policy,
    clock: Arc<dyn Clock>,
    roots: Roots,
    output: Output,
}

impl Apply {
    fn from_args(args: BundleApplyArgs) -> anyhow::Result<Self> {
        if !args.state.is_dir() {
            // A mistyped path must not silently become a device's first run.
            bail!(
                "--state {} is not a directory (for a device's first run, create it empty)",
                args.state.display()
            );
        }
        // At most one byte past the root cap is read: the cap refuses the rest.
        let mut embedded_root = Vec::new();
        std::fs::File::open(&args.root)
            .and_then(|f| {
                f.take(
                    u64::try_from(MAX_ROOT_BYTES)
                        .unwrap_or(u64::MAX)
                        .saturating_add(1),
                )
                .read_to_end(&mut embedded_root)
            })
            .with_context(|| format!("--root: cannot read {}", args.root.display()))?;
        // Checked here for a precise message; `Updater::start` checks it again.
        Root::from_embedded(&embedded_root)
            .with_context(|| format!("--root {} is not a valid root", args.root.display()))?;
        let site = parse_site(&args.from)?;
        let embedded_policy = match &args.embedded_policy {
            None => Policy::empty(),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("--embedded-policy: cannot read {}", path.display())
                })?;
                Policy::from_toml_str(&text, &path.display().to_string()).with_context(|| {
                    format!("--embedded-policy {} does not validate", path.display())
                })?
            }
        };
        let clock: Arc<dyn Clock> = match &args.now {
            None => Arc::new(SystemClock),
            Some(text) => Arc::new(ManualClock::at(parse_now(text)?)),
        };
        let mut roots = Roots::webpki();
        for f in &args.ca_files {
            roots
                .add_pem_file(f)
                .with_context(|| format!("--ca-file {}", f.display()))?;
        }
        Ok(Self {
            state: args.state,
            root_path: args.root,
            embedded_root,
            app_id: args.app_id,
            environment: args.environment,
            site,
            embedded_policy,
            clock,
            roots,
            output: if args.json {
                Output::Json
            } else {
                Output::Text
            },
        })
    }
}

/// `--from`: a URL by its scheme, anything else a directory that must exist.
fn parse_site(text: &str) -> anyhow::Result<Site> {
    if text.starts_with("http://") {
        return Ok(Site::Http(text.to_string()));
    }
    if text.starts_with("https://") {
        return Ok(Site::Https(text.to_string()));
    }
    if text.contains("://") {
        bail!("--from {text:?}: only http:// and https:// URLs, or a directory");
    }
    let dir = PathBuf::from(text);
    if !dir.is_dir() {
        bail!("--from {text}: not a directory (nor an http:// or https:// URL)");
    }
    Ok(Site::Dir(dir))
}

/// `--now`: RFC 3339, at or after the Unix epoch.
fn parse_now(text: &str) -> anyhow::Result<u64> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            anyhow!("--now {text:?} is not an RFC 3339 time (2026-12-01T08:00:00Z): {e}")
        })?;
    u64::try_from(at.unix_timestamp())
        .map_err(|_| anyhow!("--now {text:?} is before 1970-01-01T00:00:00Z"))
}

/// What the check decided, with the exit code each maps to.
#[derive(Debug)]
enum Decision {
    Updated { version: u64 },
    Unchanged,
    Refused(String),
    FetchFailed(String),
    StateError(String),
}

impl Decision {
    fn of(result: &Result<CheckOutcome, UpdateError>) -> Self {
        match result {
            Ok(CheckOutcome::Updated { version }) => Self::Updated { version: *version },
            Ok(CheckOutcome::NotModified) => Self::Unchanged,
            // An outcome this build does not know is not called a success.
            Ok(other) => Self::Refused(format!(
                "an update outcome this keypin does not know: {other:?}"
            )),
            Err(e @ (UpdateError::Refused(_) | UpdateError::Config(_))) => {
                Self::Refused(e.to_string())
            }
            // An oversized answer is one of the threats the updater refuses, not a network fault.
            Err(UpdateError::Fetch(e @ FetchError::TooLarge { .. })) => {
                Self::Refused(e.to_string())
            }
            Err(e @ (UpdateError::Fetch(_) | UpdateError::NoBundle(_))) => {
                Self::FetchFailed(e.to_string())
            }
            Err(e) => Self::StateError(e.to_string()),
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            Self::Updated { .. } | Self::Unchanged => 0,
            Self::Refused(_) => exit::MISMATCH,
            Self::StateError(_) => exit::USAGE,
            Self::FetchFailed(_) => exit::CONNECT,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Updated { .. } => "updated",
            Self::Unchanged => "unchanged",
            Self::Refused(_) => "refused",
            Self::FetchFailed(_) => "fetch-failed",
            Self::StateError(_) => "state-error",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::Updated { .. } | Self::Unchanged => None,
            Self::Refused(r) | Self::FetchFailed(r) | Self::StateError(r) => Some(r),
        }
    }

    fn headline(&self) -> String {
        match self {
            Self::Updated { version } => format!("updated to v{version}"),
            Self::Unchanged => "unchanged".into(),
            Self::Refused(r) => format!("refused: {r}"),
            Self::FetchFailed(r) => format!("fetch failed: {r}"),
            Self::StateError(r) => format!("state not written: {r}"),
        }
    }
}

/// One cycle's report: how the updater started, and the library's report of the check.
#[derive(Debug)]
struct Report {
    startup: Startup,
    check: CheckReport,
    in_force: PolicySource,
    decision: Decision,
}

pub(super) fn run(args: BundleApplyArgs) -> Result<u8, Failure> {
    let apply = Apply::from_args(args).map_err(usage)?;
    let report = cycle(&apply).map_err(usage)?;
    match apply.output {
        Output::Text => print_text(&report),
        Output::Json => print_json(&report),
    }
    Ok(report.decision.exit_code())
}

/// Starts the library's updater on the state directory and runs one check (U1–U4).
fn cycle(apply: &Apply) -> anyhow::Result<Report> {
    let roots = apply.roots.clone();
    // A store like an app's with the `ct` feature: a bundle's CT log list is put in force.
    let store = Arc::new(
        PolicyStore::with_ct_logs(
            Arc::new(apply.embedded_policy.clone()),
            None,
            move |policy, logs| {
                let mut builder = PinnedConfig::builder(policy, roots.clone());
                if let Some(logs) = logs {
                    builder = builder.ct_logs(logs);
                }
                builder.build()
            },
        )
        .context("the embedded policy cannot be put in force")?,
    );
    let fetcher: Box<dyn Fetcher> = match &apply.site {
        Site::Dir(dir) => Box::new(DirFetcher::new(dir.clone())),
        Site::Http(url) => Box::new(HttpFetcher::new(url).context("--from")?),
        Site::Https(url) => Box::new(HttpsFetcher::new(url, store.clone()).context("--from")?),
    };
    let config = UpdaterConfig::new(
        &apply.app_id,
        &apply.environment,
        &apply.embedded_root,
        apply.state.clone(),
    );
    let (updater, startup) =
        Updater::start(config, fetcher, apply.clock.clone(), store.clone(), None).with_context(
            || {
                format!(
                    "cannot start the updater on --state {} with --root {}",
                    apply.state.display(),
                    apply.root_path.display()
                )
            },
        )?;
    let check = updater.check();
    Ok(Report {
        startup,
        decision: Decision::of(&check.result),
        check,
        in_force: store.current().source(),
    })
}

fn version_text(v: Option<u64>) -> String {
    v.map_or_else(|| "none".into(), |v| format!("v{v}"))
}

fn mark_word(mark: MarkAcrossRotation) -> &'static str {
    match mark {
        MarkAcrossRotation::NoMark => "no mark",
        MarkAcrossRotation::Kept => "mark kept",
        MarkAcrossRotation::Reset => "mark reset",
        _ => "mark: unknown",
    }
}

fn print_text(report: &Report) {
    say!("{}", report.decision.headline());
    let started = match &report.startup {
        Startup::StoredBundle { version } => format!("stored bundle v{version}"),
        Startup::Embedded { reason: None } => "embedded policy (nothing stored)".into(),
        Startup::Embedded {
            reason: Some(reason),
        } => format!("embedded policy (stored state ignored: {reason})"),
        other => format!("{other:?}"),
    };
    say!("  started on:      {started}");
    let check = &report.check;
    say!(
        "  high-water mark: {} -> {}",
        version_text(check.high_water_before),
        version_text(check.high_water_after)
    );
    let walked = check.rotations.len();
    say!(
        "  root:            v{} -> v{} ({walked} rotation{} walked)",
        check.root_before,
        check.root_after,
        if walked == 1 { "" } else { "s" }
    );
    for r in &check.rotations {
        say!(
            "  rotation:        v{} -> v{} ({})",
            r.from,
            r.to,
            mark_word(r.mark)
        );
    }
    let in_force = match report.in_force {
        PolicySource::Bundle { version } => format!("bundle v{version}"),
        PolicySource::Embedded => "embedded policy".into(),
        other => format!("{other:?}"),
    };
    say!("  in force now:    {in_force}");
}

fn print_json(report: &Report) {
    let (started_on, stored_version, stored_ignored) = match &report.startup {
        Startup::StoredBundle { version } => ("stored-bundle", Some(*version), None),
        Startup::Embedded { reason } => ("embedded", None, reason.as_deref()),
        _ => ("unknown", None, None),
    };
    let version = match report.decision {
        Decision::Updated { version } => Some(version),
        _ => None,
    };
    let in_force_version = match report.in_force {
        PolicySource::Bundle { version } => Some(version),
        PolicySource::Embedded => None,
        _ => None,
    };
    let value = json!({
        "decision": report.decision.name(),
        "version": version,
        "reason": report.decision.reason(),
        "started_on": started_on,
        "stored_version": stored_version,
        "stored_ignored": stored_ignored,
        "mark_before": report.check.high_water_before,
        "mark_after": report.check.high_water_after,
        "root_before": report.check.root_before,
        "root_after": report.check.root_after,
        "rotations_walked": report.check.rotations.len(),
        "rotations": report.check.rotations.iter().map(|r| json!({
            "from": r.from,
            "to": r.to,
            "mark": match r.mark {
                MarkAcrossRotation::NoMark => "none",
                MarkAcrossRotation::Kept => "kept",
                MarkAcrossRotation::Reset => "reset",
                _ => "unknown",
            },
        })).collect::<Vec<_>>(),
        "in_force_version": in_force_version,
        "exit_code": report.decision.exit_code(),
    });
    say!("{value}");
}
