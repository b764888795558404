//! `keypin import FILE`: another system's pin configuration as a keypin policy.

use anyhow::{Context as _, anyhow};
use keypin_formats::import::{self, ImportFormat, ImportOptions};

use crate::Failure;
use crate::args::ImportArgs;
use crate::cmd::export::emit;

pub(crate) fn run(args: ImportArgs) -> Result<u8, Failure> {
    let format = match &args.format {
        None => None,
        Some(name) => Some(ImportFormat::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = ImportFormat::ALL.iter().map(|(n, _)| *n).collect();
            anyhow!(
                "unknown format {name:?}; choose one of: {}",
                names.join(", ")
            )
        })?),
    };
    // Read at most one byte past the cap, so a huge file is refused without loading it all.
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, import::MAX_INPUT_BYTES as u64 + 1),
        &mut bytes,
    )
    .with_context(|| format!("cannot read {}", args.file.display()))?;
    let options = ImportOptions {
        host: args.host.clone(),
    };
    let name = args.file.display().to_string();
    let imported = import::import(&bytes, &name, format, &options).map_err(|e| anyhow!(e))?;
    for n in &imported.notices {
        eprintln!("keypin: note: {n}");
    }
    emit(args.out.as_deref(), &imported.toml)?;
    Ok(0)
}
