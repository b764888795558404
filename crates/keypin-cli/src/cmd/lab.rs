//! `keypin lab` (being built: see the issue).

use crate::Failure;

/// Flags of `keypin lab`.
#[derive(Debug, clap::Args)]
pub struct LabArgs {}

pub(crate) fn run(_args: LabArgs) -> Result<u8, Failure> {
    Err(Failure::usage(anyhow::anyhow!(
        "keypin lab is not built yet"
    )))
}
