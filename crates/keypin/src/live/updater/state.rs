//! The updater's state directory: the state file, a second copy of the version mark, and the
//! lock that makes a load-modify-write exclusive between processes.
//!
//! `keypin-state.json` holds the current bundle's exact bytes, the rotated roots walked so far,
//! the version high-water mark (with the root it was decided under, the ids of the keys that
//! signed the bundle at the mark and that bundle's SHA-256), the latest time seen and the
//! bundle's ETag. `keypin-mark.json` holds everything but the bundle and the ETag, and is
//! written after the state file: one damaged or truncated file never lowers the mark, because
//! loading takes the newest mark either file holds ([`Loaded`]).
//!
//! Each file is written to its `.tmp` sibling, fsynced, renamed over the old file, and the
//! directory is fsynced: a crash at any point leaves the old file or the new one, never a torn
//! one. Every write, and the start-up cleanup of leftover temp files, happens while holding an
//! exclusive lock on `keypin-state.lock` ([`StateDir::lock`]), so two processes sharing the
//! directory never write the same temp file at once.

use std::fs::{self, File, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::live::bundle::{KeyId, VerifiedBundle};

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "keypin-state.json";
/// The temporary file a write goes through.
pub const STATE_TEMP_FILE: &str = "keypin-state.json.tmp";
/// The second, small copy of the version mark (and the rotated roots), written after the state
/// file.
pub const MARK_FILE: &str = "keypin-mark.json";
/// The temporary file the mark file's write goes through.
const MARK_TEMP_FILE: &str = "keypin-mark.json.tmp";
/// The lock file held around every load-modify-write of the state.
pub const LOCK_FILE: &str = "keypin-state.lock";

/// Format 2 added the mark's root, signers and digest (and the mark file); format 1 files are
/// still read.
const STATE_FORMAT: u32 = 2;
const MARK_FORMAT: u32 = 1;

/// The version mark and what it was decided with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Mark {
    /// The highest bundle version accepted since the last reset.
    pub high_water: Option<u64>,
    /// The root version the mark (or its reset) was decided under. `None` in format 1.
    #[serde(default)]
    pub root: Option<u64>,
    /// The ids of the keys whose signatures verified on the bundle at the mark.
    #[serde(default)]
    pub signers: Vec<String>,
    /// The SHA-256 (hex) of the bundle at the mark: that exact bundle may be fetched again
    /// after the state file was lost.
    #[serde(default)]
    pub digest: Option<String>,
}

impl Mark {
    /// Orders marks by age: a later root first, then a higher version. A reset under root N+1
    /// is newer than any mark under root N.
    fn age(&self) -> (u64, Option<u64>) {
        (self.root.unwrap_or(0), self.high_water)
    }

    /// The mark set by installing `bundle` under root `root`.
    pub(super) fn at(bundle: &VerifiedBundle, root: u64) -> Self {
        Self {
            high_water: Some(bundle.version()),
            root: Some(root),
            signers: bundle.signers().iter().map(|k| k.to_string()).collect(),
            digest: Some(digest(bundle.bytes())),
        }
    }

    /// The signers as key ids (ids that do not parse count for nothing).
    pub(super) fn signer_ids(&self) -> Vec<KeyId> {
        self.signers
            .iter()
            .filter_map(|s| KeyId::parse(s).ok())
            .collect()
    }
}

/// The lowercase hex SHA-256 of `bytes`.
pub(crate) fn digest(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    crate::live::bundle::hex(d.as_ref())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    pub format: u32,
    /// Rotated roots (base64 of their exact bytes), walked from the embedded root.
    pub roots: Vec<String>,
    pub high_water: Option<u64>,
    pub latest_seen: i64,
    pub etag: Option<String>,
    /// The current bundle (base64 of its exact bytes).
    pub bundle: Option<String>,
    #[serde(default)]
    pub mark_root: Option<u64>,
    #[serde(default)]
    pub mark_signers: Vec<String>,
    #[serde(default)]
    pub mark_digest: Option<String>,
}

/// The mark file: the state without the bundle and its ETag.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkFile {
    format: u32,
    roots: Vec<String>,
    latest_seen: i64,
    mark: Mark,
}

impl State {
    pub(super) fn roots(&self) -> Result<Vec<Vec<u8>>, String> {
        self.roots
            .iter()
            .map(|r| STANDARD.decode(r).map_err(|e| e.to_string()))
            .collect()
    }

    pub(super) fn bundle(&self) -> Result<Option<Vec<u8>>, String> {
        self.bundle
            .as_ref()
            .map(|b| STANDARD.decode(b).map_err(|e| e.to_string()))
            .transpose()
    }

    pub(super) fn set_bundle(&mut self, bytes: &[u8]) {
        self.bundle = Some(STANDARD.encode(bytes));
    }

    pub(super) fn push_root(&mut self, bytes: &[u8]) {
        self.roots.push(STANDARD.encode(bytes));
    }

    pub(super) fn mark(&self) -> Mark {
        Mark {
            high_water: self.high_water,
            root: self.mark_root,
            signers: self.mark_signers.clone(),
            digest: self.mark_digest.clone(),
        }
    }

    pub(super) fn set_mark(&mut self, mark: Mark) {
        self.high_water = mark.high_water;
        self.mark_root = mark.root;
        self.mark_signers = mark.signers;
        self.mark_digest = mark.digest;
    }

    /// Takes from `other` whatever is newer: the longer list of rotated roots (lists are
    /// append-only), the newer mark, the later time seen. Never lowers anything.
    pub(super) fn merge_trust(&mut self, roots: &[String], mark: &Mark, latest_seen: i64) {
        if roots.len() > self.roots.len() {
            self.roots = roots.to_vec();
        }
        if mark.age() > self.mark().age() {
            self.set_mark(mark.clone());
        }
        self.latest_seen = self.latest_seen.max(latest_seen);
    }

    /// Whether `other`'s mark or roots are newer than this state's.
    pub(super) fn is_behind(&self, other: &State) -> bool {
        other.mark().age() > self.mark().age() || other.roots.len() > self.roots.len()
    }
}

/// What loading found: the merged state (`None`: nothing stored) and, for each file that could
/// not be read, why.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub state: Option<State>,
    pub problems: Vec<String>,
}

/// The exclusive lock on the state directory; released when dropped (the file is closed).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

#[derive(Debug)]
pub(crate) struct StateDir {
    dir: PathBuf,
    max_bytes: u64,
}

impl StateDir {
    pub(super) fn new(dir: &Path, max_bytes: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            // base64 of a full bundle, a few roots, and the JSON around them.
            max_bytes: u64::try_from(max_bytes)
                .unwrap_or(u64::MAX)
                .saturating_mul(2)
                .saturating_add(1024 * 1024),
        }
    }

    pub(super) fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Waits for the exclusive lock on `keypin-state.lock` (created with the directory when
    /// missing). Other processes sharing the directory wait while it is held.
    pub(super) fn lock(&self) -> std::io::Result<DirLock> {
        fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_FILE))?;
        file.lock()?;
        Ok(DirLock { _file: file })
    }

    /// Removes leftover temp files (a crash before a rename): at start-up, with the lock held.
    pub(super) fn remove_temp_files(&self) {
        let _ = fs::remove_file(self.dir.join(STATE_TEMP_FILE));
        let _ = fs::remove_file(self.dir.join(MARK_TEMP_FILE));
    }

    /// Reads both files (call with the lock held, or when nothing else can write) and merges
    /// them: the state file's bundle and ETag, the newest roots, mark and time either holds.
    pub(super) fn load(&self) -> Loaded {
        let mut loaded = Loaded::default();
        match self.read::<State>(STATE_FILE) {
            Ok(None) => {}
            Ok(Some(state)) if state.format == 1 || state.format == STATE_FORMAT => {
                loaded.state = Some(state);
            }
            Ok(Some(state)) => loaded.problems.push(format!(
                "{} has state format {}, this keypin reads 1 and {STATE_FORMAT}",
                self.path().display(),
                state.format
            )),
            Err(e) => loaded.problems.push(e),
        }
        match self.read::<MarkFile>(MARK_FILE) {
            Ok(None) => {}
            Ok(Some(m)) if m.format == MARK_FORMAT => {
                let state = loaded.state.get_or_insert_with(State::default);
                state.merge_trust(&m.roots, &m.mark, m.latest_seen);
            }
            Ok(Some(m)) => loaded.problems.push(format!(
                "{} has format {}, this keypin reads {MARK_FORMAT}",
                self.dir.join(MARK_FILE).display(),
                m.format
            )),
            Err(e) => loaded.problems.push(e),
        }
        loaded
    }

    /// `Ok(None)`: no such file. `Err`: it cannot be read (truncated, corrupted, too big).
    fn read<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        let path = self.dir.join(name);
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
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is corrupted or truncated: {e}", path.display()))
    }

    /// Writes the state file, then the mark file (each: temp file, fsync, rename, fsync of the
    /// directory). Call with the lock held.
    pub(super) fn save(&self, _lock: &DirLock, state: &State) -> std::io::Result<()> {
        let state = State {
            format: STATE_FORMAT,
            ..state.clone()
        };
        let bytes = serde_json::to_vec(&state).map_err(std::io::Error::other)?;
        crate::persist::write_atomic(&self.dir, STATE_FILE, STATE_TEMP_FILE, &bytes)?;
        let mark = MarkFile {
            format: MARK_FORMAT,
            roots: state.roots.clone(),
            latest_seen: state.latest_seen,
            mark: state.mark(),
        };
        let bytes = serde_json::to_vec(&mark).map_err(std::io::Error::other)?;
        crate::persist::write_atomic(&self.dir, MARK_FILE, MARK_TEMP_FILE, &bytes)
    }
}
