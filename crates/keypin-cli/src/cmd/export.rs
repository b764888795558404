//! `keypin export --format F POLICY`: the policy in another system's format.

use std::io::Write as _;

use anyhow::{Context as _, anyhow};
use keypin::Policy;
use keypin_formats::{ExportFormat, ExportOptions, PinPosition, export_with};

use crate::Failure;
use crate::args::ExportArgs;

pub(crate) fn run(args: ExportArgs) -> Result<u8, Failure> {
    let format = ExportFormat::from_name(&args.format).ok_or_else(|| {
        let names: Vec<&str> = ExportFormat::ALL.iter().map(|(n, _)| *n).collect();
        anyhow!(
            "unknown format {:?}; choose one of: {}",
            args.format,
            names.join(", ")
        )
    })?;
    let policy = Policy::from_file(&args.policy).map_err(|e| anyhow!(e))?;
    let mut options = ExportOptions {
        now_secs: rustls_pki_types::UnixTime::now().as_secs() as i64,
        ..ExportOptions::default()
    };
    options.backup_position = match args.backup_position.as_deref() {
        None => None,
        Some("leaf") => Some(PinPosition::Leaf),
        Some("ca") => Some(PinPosition::Ca),
        Some(other) => {
            return Err(Failure::usage(anyhow!(
                "--backup-position {other:?}: expected leaf or ca"
            )));
        }
    };
    if args.chain_from_live {
        let live =
            crate::cmd::lint::live_chains(&policy, args.port, &args.resolve, &args.ca_files)?;
        for cert in live.iter().flatten().flat_map(|c| &c.path) {
            let position = if cert.is_leaf {
                PinPosition::Leaf
            } else {
                PinPosition::Ca
            };
            options.positions.insert(cert.pin, position);
        }
    }
    let out = export_with(&policy, format, &options).map_err(|e| anyhow!(e))?;
    for n in &out.notices {
        eprintln!("keypin: note: {n}");
    }
    emit(args.out.as_deref(), &out.text)?;
    Ok(0)
}

/// Writes to `out` (atomically) or to stdout.
pub(crate) fn emit(out: Option<&std::path::Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("cannot write to stdout")
        }
    }
}

/// Temp file in the same directory, fsync, rename: a reader never sees half a file.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = dir.join(format!(".{name}.keypin-tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
