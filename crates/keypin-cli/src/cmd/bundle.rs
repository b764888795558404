//! `keypin bundle` (being built: see the issue).

use crate::Failure;

/// Flags of `keypin bundle`.
#[derive(Debug, clap::Args)]
pub struct BundleArgs {}

pub(crate) fn run(_args: BundleArgs) -> Result<u8, Failure> {
    Err(Failure::usage(anyhow::anyhow!(
        "keypin bundle is not built yet"
    )))
}
