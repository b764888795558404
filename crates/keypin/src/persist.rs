//! Durable small files: written whole to a temp file, fsynced, renamed over the old one, and
//! the directory fsynced, so a crash at any point leaves the old content or the new, never a
//! torn file. Used by the updater's state and the report sender's de-duplication state.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `dir/name` through `dir/temp` (created if missing).
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    temp: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let temp = dir.join(temp);
    {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temp, dir.join(name))?;
    sync_dir(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Windows cannot open a directory as a file; the rename itself is atomic there.
    Ok(())
}
