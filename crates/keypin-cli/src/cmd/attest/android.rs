//! `keypin attest verify android`.

use std::path::PathBuf;

use anyhow::Context as _;
use keypin_attest::android::{
    Allowed, AndroidPolicy, AndroidRequest, BootRequirement, Outcome, RequiredLevel, Revocation,
    RevocationList, parse_digest, verify_android,
};

use super::{Fact, Output, failure_name, input, report};
use crate::Failure;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Level {
    Tee,
    Strongbox,
}

/// Flags of `keypin attest verify android`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyAndroidArgs {
    /// The certificate chain, PEM, leaf first.
    #[arg(value_name = "CHAIN.pem")]
    chain: PathBuf,
    /// The challenge the server issued: text, or b64:BASE64 for bytes.
    #[arg(long, value_name = "TEXT|b64:B64")]
    challenge: String,
    /// An allowed package name (repeatable; none: any package).
    #[arg(long, value_name = "NAME", conflicts_with = "policy")]
    package: Vec<String>,
    /// An allowed signing-certificate SHA-256 digest, hex (repeatable; none: any signer).
    #[arg(long, value_name = "HEX", conflicts_with = "policy")]
    signing_cert_sha256: Vec<String>,
    /// The lowest security level accepted.
    #[arg(long, value_enum, default_value = "tee", conflicts_with = "policy")]
    require: Level,
    /// Require verified boot and a locked bootloader.
    #[arg(long, conflicts_with = "policy")]
    require_verified_boot: bool,
    /// The app's policy (TOML) instead of the flags above.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Google's status list (JSON, as published at android.googleapis.com/attestation/status).
    #[arg(long, value_name = "FILE")]
    revocation: Option<PathBuf>,
    #[command(flatten)]
    output: Output,
}

fn policy(args: &VerifyAndroidArgs) -> anyhow::Result<AndroidPolicy> {
    if let Some(path) = &args.policy {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        return AndroidPolicy::from_toml(&text).with_context(|| format!("{}", path.display()));
    }
    let mut p = AndroidPolicy::new(match args.require {
        Level::Tee => RequiredLevel::Tee,
        Level::Strongbox => RequiredLevel::Strongbox,
    });
    if !args.package.is_empty() {
        p.packages = Allowed::OneOf(args.package.clone());
    }
    if !args.signing_cert_sha256.is_empty() {
        let digests = args
            .signing_cert_sha256
            .iter()
            .map(|h| {
                parse_digest(h)
                    .with_context(|| format!("--signing-cert-sha256 {h:?}: not 64 hex digits"))
            })
            .collect::<anyhow::Result<_>>()?;
        p.signing_cert_sha256 = Allowed::OneOf(digests);
    }
    if args.require_verified_boot {
        p.boot = BootRequirement::VerifiedAndLocked;
    }
    Ok(p)
}

pub(super) fn verify(args: VerifyAndroidArgs) -> Result<u8, Failure> {
    let chain = input::read_bounded(&args.chain)?;
    let challenge = match args.challenge.strip_prefix("b64:") {
        Some(b) => input::b64(b, "--challenge")?,
        None => args.challenge.clone().into_bytes(),
    };
    if challenge.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!("--challenge is empty")));
    }
    let policy = policy(&args)?;
    let list = match &args.revocation {
        None => None,
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
            Some(RevocationList::from_json(&bytes).with_context(|| format!("{}", path.display()))?)
        }
    };
    let now = input::time(args.output.at.as_deref())?;
    let revocation = list
        .as_ref()
        .map_or(Revocation::NotChecked, Revocation::Checked);
    let r = verify_android(
        &chain,
        &AndroidRequest {
            challenge: &challenge,
            policy: &policy,
            revocation,
            now,
        },
    );
    let facts: Vec<Fact> = r
        .facts
        .iter()
        .map(|f| Fact {
            check: f.check.clone(),
            outcome: match f.outcome {
                Outcome::Pass => "ok",
                Outcome::Fail => "FAIL",
                Outcome::Info => "info",
            },
            detail: f.detail.clone(),
        })
        .collect();
    let failure = r
        .verdict
        .as_ref()
        .err()
        .map(|f| (failure_name(&format!("{f:?}")), f.to_string()));
    Ok(report("android", args.output.json, &facts, failure))
}
