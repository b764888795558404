//! `keypin bundle`: signing keys, roots of trust, signed pin bundles, their verification, and a
//! development server for them. One file per subcommand; the shared file helpers are here.
//!
//! Exit codes: 0 success (for `verify`: the bundle is valid; for `apply`: updated or
//! unchanged); 1 `verify` found the bundle invalid, or `apply` refused it (the reason is
//! printed); 2 usage, unreadable input or a refused signing request; 3 `apply` could not fetch.

mod apply;
mod keygen;
mod root;
mod serve;
mod sign;
mod site;
mod verify;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use keypin::clock::Date;
use keypin::live::bundle::{PublicKey, Root, SigningKey};

use crate::Failure;

/// Flags of `keypin bundle`.
#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    command: BundleCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BundleCommand {
    /// Make a new Ed25519 signing key (FILE, mode 0600) and its public half (FILE.pub).
    Keygen(keygen::KeygenArgs),
    /// Make a first root of trust (version 1), signed by its own keys.
    Root(root::RootArgs),
    /// Make root N+1 from root N, signed by a threshold of the old keys and of the new keys.
    RotateRoot(root::RotateArgs),
    /// Sign a pin policy into a bundle.
    Sign(sign::SignArgs),
    /// Verify a bundle (exit 0 valid, 1 invalid with the reason, 2 usage).
    Verify(verify::VerifyArgs),
    /// Serve a directory of bundles over HTTP with ETag / If-None-Match (development, tests).
    Serve(serve::ServeArgs),
    /// Run one updater cycle on a state directory, as an app would (exit 0 updated or
    /// unchanged, 1 refused, 2 usage or unreadable input, 3 fetch failed).
    Apply(crate::args::BundleApplyArgs),
}

pub(crate) fn run(args: BundleArgs) -> Result<u8, Failure> {
    match args.command {
        BundleCommand::Keygen(a) => keygen::run(a),
        BundleCommand::Root(a) => root::run_root(a),
        BundleCommand::RotateRoot(a) => root::run_rotate(a),
        BundleCommand::Sign(a) => sign::run(a),
        BundleCommand::Verify(a) => verify::run(a),
        BundleCommand::Serve(a) => serve::run(a),
        BundleCommand::Apply(a) => apply::run(a),
    }
}

/// Reads a public key: a `.pub` file, or the `ed25519:...` text itself.
fn read_public_key(arg: &str) -> anyhow::Result<PublicKey> {
    if arg.starts_with(keypin::live::bundle::PUBLIC_KEY_PREFIX) {
        return PublicKey::parse(arg).with_context(|| format!("public key {arg:?}"));
    }
    let text = std::fs::read_to_string(arg).with_context(|| format!("cannot read {arg}"))?;
    PublicKey::parse(&text).with_context(|| format!("{arg} is not a keypin public key"))
}

fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    SigningKey::from_pem(&text).with_context(|| format!("{} is not a signing key", path.display()))
}

fn read_signing_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<SigningKey>> {
    paths.iter().map(|p| read_signing_key(p)).collect()
}

fn read_root(path: &Path) -> anyhow::Result<Root> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Root::from_embedded(&bytes).with_context(|| format!("{} is not a valid root", path.display()))
}

fn parse_date(text: &str) -> anyhow::Result<Date> {
    Date::parse(text).map_err(|e| anyhow!("--expires: {e}"))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The system clock, read here at the CLI edge only (the library takes time as an argument).
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn usage(e: anyhow::Error) -> Failure {
    Failure::usage(e)
}
