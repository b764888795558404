//! Which reports were delivered when, so an identical report is sent at most once per window
//! (24 hours by default), across restarts: `keypin-reports-sent.json` in the state directory,
//! written atomically (temp file, fsync, rename, fsync of the directory).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The de-duplication state file's name inside the state directory.
pub const DEDUP_FILE: &str = "keypin-reports-sent.json";
/// The temporary file a write goes through.
pub const DEDUP_TEMP_FILE: &str = "keypin-reports-sent.json.tmp";
/// Most keys remembered; the oldest are forgotten first.
const MAX_KEYS: usize = 10_000;
/// The largest state file read.
const MAX_FILE: u64 = 4 * 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File1 {
    format: u32,
    /// Hex key → Unix seconds of the last delivery.
    sent: HashMap<String, i64>,
}

#[derive(Debug)]
pub(crate) struct Dedup {
    dir: PathBuf,
    window: i64,
    sent: HashMap<[u8; 32], i64>,
}

impl Dedup {
    /// Loads the state; a missing file is an empty state, an unreadable one is ignored with
    /// the reason returned (so at worst a report is sent twice, never lost).
    pub(super) fn load(dir: &Path, window_secs: i64) -> (Self, Option<String>) {
        let mut d = Self {
            dir: dir.to_path_buf(),
            window: window_secs,
            sent: HashMap::new(),
        };
        let path = d.path();
        let _ = std::fs::remove_file(dir.join(DEDUP_TEMP_FILE));
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (d, None),
            Err(e) => return (d, Some(format!("cannot read {}: {e}", path.display()))),
        };
        let mut bytes = Vec::new();
        if let Err(e) = file.take(MAX_FILE + 1).read_to_end(&mut bytes) {
            return (d, Some(format!("cannot read {}: {e}", path.display())));
        }
        if bytes.len() as u64 > MAX_FILE {
            return (
                d,
                Some(format!(
                    "{} is over {MAX_FILE} bytes; ignored",
                    path.display()
                )),
            );
        }
        let parsed: File1 = match serde_json::from_slice(&bytes) {
            Ok(p) => p,
            Err(e) => {
                return (
                    d,
                    Some(format!(
                        "{} is corrupted or truncated ({e}); ignored",
                        path.display()
                    )),
                );
            }
        };
        if parsed.format != 1 {
            return (
                d,
                Some(format!(
                    "{} has format {}, this keypin reads 1; ignored",
                    path.display(),
                    parsed.format
                )),
            );
        }
        for (k, t) in parsed.sent {
            if let Some(key) = unhex(&k) {
                d.sent.insert(key, t);
            }
        }
        (d, None)
    }

    pub(super) fn path(&self) -> PathBuf {
        self.dir.join(DEDUP_FILE)
    }

    /// Was this key delivered within the window before `now`?
    pub(super) fn recently_sent(&self, key: &[u8; 32], now: i64) -> bool {
        self.sent
            .get(key)
            .is_some_and(|t| now.saturating_sub(*t) < self.window)
    }

    /// Records deliveries at `now` and returns the state file's new content; the caller
    /// writes it with [`save`] after letting go of the lock (file I/O never holds up
    /// `recently_sent`, which the handshake thread calls).
    /// Records `keys` as delivered at `now`, forgets what left the window, and returns what
    /// to persist. Serialising the snapshot is left to the caller, outside whatever lock guards
    /// this state (handshake threads take that lock to check for duplicates).
    pub(super) fn record(&mut self, keys: &[[u8; 32]], now: i64) -> Snapshot {
        for k in keys {
            self.sent.insert(*k, now);
        }
        let window = self.window;
        self.sent.retain(|_, t| now.saturating_sub(*t) < window);
        if self.sent.len() > MAX_KEYS {
            let mut times: Vec<i64> = self.sent.values().copied().collect();
            times.sort_unstable();
            let cutoff = times[times.len() - MAX_KEYS];
            self.sent.retain(|_, t| *t >= cutoff);
        }
        Snapshot(self.sent.iter().map(|(k, t)| (*k, *t)).collect())
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The de-duplication state at one moment, to be written out.
#[derive(Debug)]
pub(crate) struct Snapshot(Vec<([u8; 32], i64)>);

impl Snapshot {
    /// The state file's bytes.
    pub(crate) fn to_bytes(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&File1 {
            format: 1,
            sent: self.0.iter().map(|(k, t)| (hex(k), *t)).collect(),
        })
    }
}

/// Writes the state file atomically.
pub(crate) fn save(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::persist::write_atomic(dir, DEDUP_FILE, DEDUP_TEMP_FILE, bytes)
}

/// The record of delivered reports for an app that delivers reports itself (the JVM
/// binding): the same de-duplication [`super::ReportSender`] keeps, in the same file
/// ([`DEDUP_FILE`] in the state directory), so an identical report goes out at most once per
/// window, across restarts.
#[derive(Debug)]
pub struct SentLedger {
    dedup: Dedup,
}

impl SentLedger {
    /// Loads the record from `dir` (a missing file is an empty record); `window_secs` is how
    /// long a delivered report stays a duplicate. An unreadable file is ignored and the reason
    /// returned: at worst a report is sent twice, never lost.
    pub fn open(dir: &Path, window_secs: i64) -> (Self, Option<String>) {
        let (dedup, warning) = Dedup::load(dir, window_secs);
        (Self { dedup }, warning)
    }

    /// Was the report with this key ([`super::Report::dedup_key`]) delivered within the
    /// window before `now` (Unix seconds)?
    pub fn recently_sent(&self, key: &[u8; 32], now: i64) -> bool {
        self.dedup.recently_sent(key, now)
    }

    /// Records `keys` as delivered at `now` and writes the record atomically.
    pub fn record(&mut self, keys: &[[u8; 32]], now: i64) -> std::io::Result<()> {
        let bytes = self.dedup.record(keys, now).to_bytes()?;
        save(self.dedup.dir(), &bytes)
    }
}

fn hex(k: &[u8; 32]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload_and_expires_after_the_window() {
        let dir = tempfile::TempDir::new().unwrap();
        let (mut d, warn) = Dedup::load(dir.path(), 86_400);
        assert!(warn.is_none());
        let k = [7u8; 32];
        let bytes = d.record(&[k], 1_000).to_bytes().unwrap();
        save(dir.path(), &bytes).unwrap();
        let (d, warn) = Dedup::load(dir.path(), 86_400);
        assert!(warn.is_none());
        assert!(d.recently_sent(&k, 1_000 + 86_399));
        assert!(!d.recently_sent(&k, 1_000 + 86_400));
        assert!(!d.recently_sent(&[8u8; 32], 1_000));
    }

    #[test]
    fn a_corrupted_file_is_ignored_and_said() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join(DEDUP_FILE), b"{\"format\":1,\"sent\":{").unwrap();
        let (d, warn) = Dedup::load(dir.path(), 86_400);
        assert!(warn.unwrap().contains("corrupted or truncated"));
        assert!(!d.recently_sent(&[0u8; 32], 0));
    }
}
