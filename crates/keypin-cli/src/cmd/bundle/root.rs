//! `keypin bundle root` and `keypin bundle rotate-root`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use keypin::live::bundle::{PublicKey, RootSpec, SigningKey};

use super::{parse_date, read_public_key, read_root, read_signing_keys, usage, write_file};
use crate::Failure;

#[derive(Debug, clap::Args)]
pub(super) struct RootArgs {
    /// A public key that may sign (a .pub file or `ed25519:...`); repeat for each key.
    #[arg(long = "key", value_name = "PUB", required = true)]
    keys: Vec<String>,
    /// How many distinct keys must sign each bundle (and the next root).
    #[arg(long, value_name = "K")]
    threshold: u32,
    /// The root's last valid date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    expires: String,
    /// Private keys that sign this root (at least THRESHOLD of the listed keys).
    #[arg(long = "sign-with", value_name = "KEY", required = true)]
    sign_with: Vec<PathBuf>,
    /// Where to write the root.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(super) struct RotateArgs {
    /// The current root (version N).
    #[arg(long, value_name = "FILE")]
    old: PathBuf,
    /// A public key of the new root; repeat for each key (keep old keys by listing them again).
    #[arg(long = "key-new", value_name = "PUB", required = true)]
    keys: Vec<String>,
    /// The new threshold (default: the old root's).
    #[arg(long, value_name = "K")]
    threshold: Option<u32>,
    /// The new root's last valid date, YYYY-MM-DD (default: the old root's).
    #[arg(long, value_name = "DATE")]
    expires: Option<String>,
    /// Private keys that sign: a threshold of the old root's keys and of the new root's keys.
    #[arg(long = "sign-with", value_name = "KEY", required = true)]
    sign_with: Vec<PathBuf>,
    /// Where to write root N+1.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

fn read_keys(args: &[String]) -> anyhow::Result<Vec<PublicKey>> {
    args.iter().map(|a| read_public_key(a)).collect()
}

fn check_threshold(threshold: u32, keys: usize) -> anyhow::Result<()> {
    if threshold == 0 || threshold as usize > keys {
        bail!("--threshold {threshold} must be between 1 and the number of keys ({keys})");
    }
    Ok(())
}

pub(super) fn run_root(args: RootArgs) -> Result<u8, Failure> {
    let work = || -> anyhow::Result<()> {
        let keys = read_keys(&args.keys)?;
        check_threshold(args.threshold, keys.len())?;
        let spec = RootSpec {
            version: 1,
            expires: parse_date(&args.expires)?,
            threshold: args.threshold,
            keys,
        };
        let signers = read_signing_keys(&args.sign_with)?;
        let refs: Vec<&SigningKey> = signers.iter().collect();
        let bytes = spec
            .sign(&refs, None)
            .context("the root does not verify with the --sign-with keys")?;
        write_file(&args.out, &bytes)?;
        say!(
            "root v1: {} key(s), threshold {}, expires {} -> {}",
            spec.keys.len(),
            spec.threshold,
            spec.expires,
            args.out.display()
        );
        Ok(())
    };
    work().map_err(usage)?;
    Ok(0)
}

pub(super) fn run_rotate(args: RotateArgs) -> Result<u8, Failure> {
    let work = || -> anyhow::Result<()> {
        let old = read_root(&args.old)?;
        let keys = read_keys(&args.keys)?;
        let threshold = args.threshold.unwrap_or(old.threshold());
        check_threshold(threshold, keys.len())?;
        let expires = match &args.expires {
            Some(d) => parse_date(d)?,
            None => old.expires(),
        };
        let version = old
            .version()
            .checked_add(1)
            .context("the old root's version cannot grow")?;
        let spec = RootSpec {
            version,
            expires,
            threshold,
            keys,
        };
        let signers = read_signing_keys(&args.sign_with)?;
        let refs: Vec<&SigningKey> = signers.iter().collect();
        let bytes = spec.sign(&refs, Some(&old)).with_context(|| {
            format!(
                "root v{version} must be signed by {} of root v{}'s keys and {threshold} of its own",
                old.threshold(),
                old.version()
            )
        })?;
        write_file(&args.out, &bytes)?;
        say!(
            "root v{version}: {} key(s), threshold {threshold}, expires {expires}; signed by root v{} and by itself -> {}",
            spec.keys.len(),
            old.version(),
            args.out.display()
        );
        Ok(())
    };
    work().map_err(usage)?;
    Ok(0)
}
