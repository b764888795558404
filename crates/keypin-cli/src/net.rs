//! The command's side of connecting to a server: flags to a [`Target`], trust anchors, the
//! crypto provider, and the fetch (keypin-inspect's [`Fetcher`]) with its failures mapped to
//! exit code 3.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use keypin_inspect::fetch::{Fetched, Fetcher, Target};
use rustls::crypto::CryptoProvider;

use crate::Failure;
use crate::args::ConnectArgs;

/// The target named by the connection flags.
pub(crate) fn target_of(args: &ConnectArgs) -> anyhow::Result<Target> {
    if args.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    Ok(Target::new(
        &args.target,
        args.connect.as_deref(),
        Duration::from_secs(args.timeout),
    )?)
}

/// The trust anchors: Mozilla's roots plus every `--ca-file`.
pub(crate) fn roots(ca_files: &[PathBuf]) -> anyhow::Result<keypin::Roots> {
    let mut roots = keypin::Roots::webpki();
    for f in ca_files {
        roots
            .add_pem_file(f)
            .with_context(|| format!("--ca-file {}", f.display()))?;
    }
    Ok(roots)
}

/// aws-lc-rs, with signature checks remembered for the process (see [`crate::sigcache`]).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.signature_verification_algorithms =
        crate::sigcache::remembering(provider.signature_verification_algorithms);
    Arc::new(provider)
}

/// `HOST=ADDR:PORT` pairs (curl's --resolve, with `=`) as a map from lowercase host.
pub(crate) fn resolve_map(
    pairs: &[String],
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    pairs
        .iter()
        .map(|r| {
            r.split_once('=')
                .map(|(h, a)| (h.to_ascii_lowercase(), a.to_string()))
                .ok_or_else(|| anyhow!("--resolve {r:?} must be HOST=ADDR:PORT"))
        })
        .collect()
}

/// keypin's verifier for a command-line judgement (system clock, no event sink).
pub(crate) fn verifier(
    policy: keypin::Policy,
    roots: keypin::Roots,
) -> keypin::verify::PinningVerifier {
    keypin::verify::PinningVerifier::new(
        Arc::new(policy),
        roots,
        &provider(),
        Arc::new(keypin::clock::SystemClock),
        None,
    )
}

/// The served chain and its staple; every failure is a connection failure (exit code 3).
pub(crate) fn fetch_chain(target: &Target) -> Result<Fetched, Failure> {
    static FETCHER: OnceLock<Fetcher> = OnceLock::new();
    let fetcher = match FETCHER.get() {
        Some(f) => f,
        None => {
            let f = Fetcher::new(&provider()).map_err(|e| Failure::connect(anyhow!(e)))?;
            FETCHER.get_or_init(|| f)
        }
    };
    fetcher
        .fetch(target)
        .map_err(|e| Failure::connect(e.into()))
}
