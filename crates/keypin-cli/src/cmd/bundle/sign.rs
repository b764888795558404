//! `keypin bundle sign POLICY.toml --root root.json --key KEY... ... [--ct-log-list FILE
//! [--ct-log-list-sig FILE [--ct-log-list-key PEM]]]`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use keypin::Policy;
use keypin::ct::{LogList, LogListSigner};
use keypin::live::bundle::{BundleSpec, Expectations, SigningKey};
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
    /// A CT log list (Chrome's log_list.json v3) for the bundle to carry: apps check the SCTs
    /// of rules with require_sct against it while the bundle is in force. Apps that set a
    /// log-list signer refuse it without --ct-log-list-sig.
    #[arg(long, value_name = "FILE")]
    ct_log_list: Option<PathBuf>,
    /// The list's detached signature (log_list.sig), carried with it; checked here with
    /// Google's key, or with --ct-log-list-key.
    #[arg(long, value_name = "FILE", requires = "ct_log_list")]
    ct_log_list_sig: Option<PathBuf>,
    /// The PEM public key the list's signature verifies with (default: Google's).
    #[arg(long, value_name = "FILE", requires = "ct_log_list_sig")]
    ct_log_list_key: Option<PathBuf>,
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
        let ct_list = read_ct_log_list(&args)?;
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
            let previous = keypin::live::bundle::danger::unverified_version(&bytes)
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
        let bytes = match &ct_list {
            Some((json, sig, _)) => spec.sign_with_ct_log_list(&refs, json, sig.as_deref())?,
            None => spec.sign(&refs)?,
        };
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
        if let Some((_, sig, logs)) = &ct_list {
            say!(
                "  carries the CT log list {} ({logs} logs{})",
                args.ct_log_list
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string()),
                if sig.is_some() {
                    ", with its signature"
                } else {
                    ""
                }
            );
        }
        Ok(())
    };
    work().map_err(usage)?;
    Ok(0)
}

/// `--ct-log-list` (and its signature): the bytes to carry and the number of logs. The file
/// must be a v3 log list, and a signature must verify (with Google's key or
/// `--ct-log-list-key`): clients that check it would refuse the bundle otherwise.
#[allow(clippy::type_complexity)] // one private call site
fn read_ct_log_list(args: &SignArgs) -> anyhow::Result<Option<(Vec<u8>, Option<Vec<u8>>, usize)>> {
    let Some(path) = &args.ct_log_list else {
        return Ok(None);
    };
    let read = |p: &std::path::Path| {
        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let json = read(path)?;
    let logs = keypin::ct::parse_log_list_unverified(&json).with_context(|| {
        format!(
            "--ct-log-list {} is not a Chrome v3 CT log list; nothing signed",
            path.display()
        )
    })?;
    let sig = match &args.ct_log_list_sig {
        None => None,
        Some(sig_path) => {
            let sig = read(sig_path)?;
            let signer = match &args.ct_log_list_key {
                None => LogListSigner::google()?,
                Some(key) => {
                    let pem = std::fs::read_to_string(key)
                        .with_context(|| format!("cannot read {}", key.display()))?;
                    LogListSigner::from_pem(&pem)
                        .with_context(|| format!("--ct-log-list-key {}", key.display()))?
                }
            };
            LogList::from_signed(&json, &sig, &signer, &path.display().to_string()).with_context(
                || {
                    format!(
                        "--ct-log-list-sig {} is not a valid signature over {}; nothing signed",
                        sig_path.display(),
                        path.display()
                    )
                },
            )?;
            Some(sig)
        }
    };
    Ok(Some((json, sig, logs)))
}

fn unix(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(secs).unwrap_or(0),
    ))
}
