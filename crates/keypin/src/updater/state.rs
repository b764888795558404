//! The updater's state directory: one file, replaced atomically.
//!
//! `keypin-state.json` holds the current bundle's exact bytes, the rotated roots walked so far,
//! the version high-water mark, the latest time seen and the bundle's ETag. It is written to
//! `keypin-state.json.tmp`, fsynced, renamed over the old file, and the directory is fsynced: a
//! crash at any point leaves the old state or the new one, never a torn one. A leftover temp
//! file (a crash before the rename) is ignored and removed.

use std::fs::{self, File};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "keypin-state.json";
/// The temporary file a write goes through.
pub const STATE_TEMP_FILE: &str = "keypin-state.json.tmp";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    pub format: u32,
    /// Rotated roots v2, v3, ... (base64 of their exact bytes), walked from the embedded root.
    pub roots: Vec<String>,
    pub high_water: Option<u64>,
    pub latest_seen: i64,
    pub etag: Option<String>,
    /// The current bundle (base64 of its exact bytes).
    pub bundle: Option<String>,
}

impl State {
    pub fn roots(&self) -> Result<Vec<Vec<u8>>, String> {
        self.roots
            .iter()
            .map(|r| STANDARD.decode(r).map_err(|e| e.to_string()))
            .collect()
    }

    pub fn bundle(&self) -> Result<Option<Vec<u8>>, String> {
        self.bundle
            .as_ref()
            .map(|b| STANDARD.decode(b).map_err(|e| e.to_string()))
            .transpose()
    }

    pub fn set_bundle(&mut self, bytes: &[u8]) {
        self.bundle = Some(STANDARD.encode(bytes));
    }

    pub fn push_root(&mut self, bytes: &[u8]) {
        self.roots.push(STANDARD.encode(bytes));
    }
}

#[derive(Debug)]
pub(crate) struct StateDir {
    dir: PathBuf,
    max_bytes: u64,
}

impl StateDir {
    pub fn new(dir: &Path, max_bytes: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            // base64 of a full bundle, a few roots, and the JSON around them.
            max_bytes: u64::try_from(max_bytes)
                .unwrap_or(u64::MAX)
                .saturating_mul(2)
                .saturating_add(1024 * 1024),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// `Ok(None)`: no state yet. `Err`: a state file that cannot be read (truncated,
    /// corrupted, too big): the caller ignores it and says why.
    pub fn load(&self) -> Result<Option<State>, String> {
        let _ = fs::remove_file(self.dir.join(STATE_TEMP_FILE));
        let path = self.path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut bytes = Vec::new();
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > self.max_bytes {
            return Err(format!(
                "{} is over {} bytes",
                path.display(),
                self.max_bytes
            ));
        }
        let state: State = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is corrupted or truncated: {e}", path.display()))?;
        if state.format != 1 {
            return Err(format!(
                "{} has state format {}, this keypin writes 1",
                path.display(),
                state.format
            ));
        }
        Ok(Some(state))
    }

    /// Temp file, fsync, rename, fsync of the directory.
    pub fn save(&self, state: &State) -> std::io::Result<()> {
        let state = State {
            format: 1,
            ..state.clone()
        };
        let bytes = serde_json::to_vec(&state).map_err(std::io::Error::other)?;
        crate::persist::write_atomic(&self.dir, STATE_FILE, STATE_TEMP_FILE, &bytes)
    }
}
