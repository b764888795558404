//! `keypin bundle sign POLICY.toml --root root.json --key KEY... ...`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use keypin::Policy;
use keypin::bundle::{BundleSpec, Expectations, SigningKey};
use rustls_pki_types::UnixTime;

use super::{now_secs, parse_date, read_root, read_signing_keys, usage, write_file};
use crate::Failure;

#[derive(Debug, clap::Args)]
pub(super) struct SignArgs {
    /// The pin policy (TOML) to ship.
    #[arg(value_name = "POLICY.toml")]
    policy: PathBuf,
    /// The root whose keys sign (the one the apps trust, or its latest rotation).
    #[arg(long, value_name = "FILE")]
    root: PathBuf,
    /// A private signing key; repeat until the root's threshold is met.
    #[arg(long = "key", value_name = "KEY", required = true)]
    keys: Vec<PathBuf>,
    /// The app the bundle is for.
    #[arg(long, value_name = "ID")]
    app_id: String,
    /// The environment the bundle is for.
    #[arg(long = "env", value_name = "ENV")]
    environment: String,
    /// The bundle's version: above every earlier one.
    #[arg(long, value_name = "N")]
    version: u64,
    /// The bundle's last valid date, YYYY-MM-DD (days to weeks ahead).
    #[arg(long, value_name = "DATE")]
    expires: String,
    /// The bundle this one replaces: the new version must be above its version.
    #[arg(long, value_name = "BUNDLE")]
    previous: Option<PathBuf>,
    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub(super) fn run(args: SignArgs) -> Result<u8, Failure> {
    let work = || -> anyhow::Result<()> {
        let root = read_root(&args.root)?;
        let policy_toml = std::fs::read_to_string(&args.policy)
            .with_context(|| format!("cannot read {}", args.policy.display()))?;
        Policy::from_toml_str(&policy_toml, &args.policy.display().to_string()).with_context(
            || {
                format!(
                    "{} does not validate; nothing signed",
                    args.policy.display()
                )
            },
        )?;
        let signers = read_signing_keys(&args.keys)?;
        let distinct: BTreeSet<_> = signers
            .iter()
            .map(|k| k.public_key())
            .filter(|k| root.keys().contains(k))
            .map(|k| k.id().clone())
            .collect();
        if distinct.len() < root.threshold() as usize {
            bail!(
                "too few keys: {} distinct key(s) of root v{} given, its threshold is {}",
                distinct.len(),
                root.version(),
                root.threshold()
            );
        }
        let now = now_secs();
        if let Some(prev) = &args.previous {
            let bytes =
                std::fs::read(prev).with_context(|| format!("cannot read {}", prev.display()))?;
            // Only its version matters here (it may be signed under an older root, or expired):
            // this guard stops a release mistake, the clients enforce the real check.
            let previous = keypin::bundle::danger::unverified_version(&bytes)
                .with_context(|| format!("--previous {} is not a bundle", prev.display()))?;
            if args.version <= previous {
                bail!(
                    "--version {} is not above the previous bundle's version {}; clients would refuse it as a rollback",
                    args.version,
                    previous
                );
            }
        }
        let spec = BundleSpec {
            app_id: args.app_id.clone(),
            environment: args.environment.clone(),
            version: args.version,
            issued_unix: now,
            expires: parse_date(&args.expires)?,
            policy_toml,
        };
        let refs: Vec<&SigningKey> = signers.iter().collect();
        let bytes = spec.sign(&refs)?;
        // Check the result as a client will (at the current time), before writing it.
        let verified = root
            .verify_bundle(
                &bytes,
                &Expectations::new(&args.app_id, &args.environment),
                unix(now),
            )
            .context("the signed bundle does not verify")?;
        write_file(&args.out, &bytes)?;
        say!(
            "bundle {}/{} v{}: {} rule(s), expires {}, {} signature(s) for root v{} (threshold {}) -> {}",
            verified.app_id(),
            verified.environment(),
            verified.version(),
            verified.policy().rules().len(),
            verified.expires(),
            signers.len(),
            root.version(),
            root.threshold(),
            args.out.display()
        );
        Ok(())
    };
    work().map_err(usage)?;
    Ok(0)
}

fn unix(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(secs).unwrap_or(0),
    ))
}
