//! Google's attestation status list, refreshable: the gate re-reads the file when it changes
//! (looked at no more often than every `android_revocation_refresh_secs`), so a revocation
//! published while the gate runs counts without a restart. A file that cannot be read or
//! parsed any more keeps the last good list in force (and says so in the log): a half-written
//! update must not switch revocation checking off.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use keypin_attest::android::RevocationList;

/// The largest status list read (Google's is a few MiB).
const MAX_LIST_BYTES: u64 = 64 * 1024 * 1024;

/// The status list in force, and where it comes from.
#[derive(Debug)]
pub struct RevocationSource {
    path: PathBuf,
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    list: Arc<RevocationList>,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl RevocationSource {
    /// Reads the list at `path` (refused when it cannot be read or parsed: the gate does not
    /// start on a broken list), to be looked at again every `every`.
    pub fn load(path: &Path, every: Duration) -> Result<Self, String> {
        let (list, modified) = read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            every,
            state: Mutex::new(State {
                list: Arc::new(list),
                modified,
                checked: Instant::now(),
            }),
        })
    }

    /// The list in force now: re-read first when the file changed since it was last read and
    /// `every` has passed since it was last looked at.
    pub fn current(&self) -> Arc<RevocationList> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= self.every {
            state.checked = Instant::now();
            let modified = std::fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .ok();
            if modified != state.modified {
                match read(&self.path) {
                    Ok((list, modified)) => {
                        eprintln!(
                            "keypin-gate: android_revocation_list {} re-read",
                            self.path.display()
                        );
                        state.list = Arc::new(list);
                        state.modified = modified;
                    }
                    Err(e) => eprintln!(
                        "keypin-gate: android_revocation_list: {e}; the last good list stays in \
                         force"
                    ),
                }
            }
        }
        Arc::clone(&state.list)
    }
}

fn read(path: &Path) -> Result<(RevocationList, Option<SystemTime>), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_LIST_BYTES {
        return Err(format!(
            "{}: {} bytes, over the {MAX_LIST_BYTES}-byte limit",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = RevocationList::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((list, meta.modified().ok()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EMPTY: &str = r#"{"entries": {}}"#;
    const REVOKED: &str =
        r#"{"entries": {"2a": {"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}"#;

    #[test]
    fn a_changed_list_counts_and_a_broken_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(&path, EMPTY).unwrap();
        let source = RevocationSource::load(&path, Duration::ZERO).unwrap();
        let empty = source.current();
        // A newer file (mtime moved on) is read on the next look.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, REVOKED).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(2))
            .unwrap();
        let revoked = source.current();
        assert_ne!(*revoked, *empty, "the updated list was not read");
        // A broken update keeps the last good list in force.
        std::fs::write(&path, "{not json").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(4))
            .unwrap();
        assert_eq!(*source.current(), *revoked);
        // A broken list at start-up is refused.
        assert!(RevocationSource::load(&path, Duration::ZERO).is_err());
    }
}
