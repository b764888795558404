//! `keypin import FILE`: another system's pin configuration as a keypin policy.

use anyhow::{Context as _, anyhow};
use keypin_formats::import::{self, ImportFormat, ImportOptions, PinsFile};

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
    let bytes = read_capped(&args.file)?;
    let chromium_pins = match &args.pins {
        None => None,
        Some(path) => Some(PinsFile {
            name: path.display().to_string(),
            bytes: read_capped(path)?,
        }),
    };
    let options = ImportOptions {
        host: args.host.clone(),
        chromium_pins,
    };
    let name = args.file.display().to_string();
    let imported = import::import(&bytes, &name, format, &options).map_err(|e| anyhow!(e))?;
    for n in &imported.notices {
        eprintln!("keypin: note: {n}");
    }
    emit(args.out.as_deref(), &imported.toml)?;
    // Entries keypin cannot express were left out: the rest is written, and the exit code
    // says the policy is not the whole file.
    for r in &imported.refused {
        eprintln!("keypin: refused: {r}");
    }
    if imported.refused.is_empty() {
        Ok(0)
    } else {
        eprintln!(
            "keypin: {} entries of {name} were not imported (above); the policy written holds the rest",
            imported.refused.len()
        );
        Ok(crate::exit::USAGE)
    }
}

/// The file's bytes, reading at most one byte past the import cap, so a huge file is refused
/// without loading it all.
fn read_capped(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, import::MAX_INPUT_BYTES as u64 + 1),
        &mut bytes,
    )
    .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}
