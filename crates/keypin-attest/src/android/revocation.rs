//! Google's attestation certificate status list, in the format published at
//! `https://android.googleapis.com/attestation/status`:
//! `{"entries": {"<hex serial>": {"status": "REVOKED" | "SUSPENDED", "reason": "..."}}}`.
//! The caller fetches and refreshes it; this module only reads the bytes it is given.

use std::collections::HashMap;

use serde::Deserialize;

/// Largest status list accepted (Google's is a few hundred KiB).
pub const MAX_STATUS_LIST_BYTES: usize = 16 * 1024 * 1024;

/// A parsed status list: serial number → status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    entries: HashMap<String, Status>,
}

/// One entry's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `REVOKED` or `SUSPENDED` (any other value is kept as given: every listed serial is
    /// refused).
    pub status: String,
    /// Google's reason, when given (`KEY_COMPROMISE`, `SOFTWARE_FLAW`, ...).
    pub reason: Option<String>,
}

/// Why a status list was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationListError {
    /// Over [`MAX_STATUS_LIST_BYTES`].
    #[error("status list is {len} bytes, over the {max}-byte bound")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not the published JSON shape.
    #[error(
        "status list is not Google's format ({{\"entries\": {{serial: {{status, reason}}}}}}): {reason}"
    )]
    Malformed {
        /// serde_json's message (with line and column).
        reason: String,
    },
    /// A key is not a hexadecimal serial number.
    #[error("status list entry {serial:?} is not a hexadecimal serial number")]
    BadSerial {
        /// The key.
        serial: String,
    },
}

#[derive(Deserialize)]
struct Raw {
    entries: HashMap<String, RawStatus>,
}

#[derive(Deserialize)]
struct RawStatus {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

impl RevocationList {
    /// Parses the published JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RevocationListError> {
        if bytes.len() > MAX_STATUS_LIST_BYTES {
            return Err(RevocationListError::TooLarge {
                len: bytes.len(),
                max: MAX_STATUS_LIST_BYTES,
            });
        }
        let raw: Raw =
            serde_json::from_slice(bytes).map_err(|e| RevocationListError::Malformed {
                reason: e.to_string(),
            })?;
        let mut entries = HashMap::with_capacity(raw.entries.len());
        for (serial, s) in raw.entries {
            if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(RevocationListError::BadSerial { serial });
            }
            entries.insert(
                normalize(&serial),
                Status {
                    status: s.status,
                    reason: s.reason,
                },
            );
        }
        Ok(Self { entries })
    }

    /// How many serials are listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The status of a certificate serial number (its DER INTEGER content bytes).
    pub fn status_of(&self, serial: &[u8]) -> Option<&Status> {
        self.entries.get(&normalize(&crate::hex(serial)))
    }
}

/// Lower case, no leading zeros: Google writes serials without them, a DER INTEGER may need one.
fn normalize(hex: &str) -> String {
    let t = hex.trim_start_matches('0').to_ascii_lowercase();
    if t.is_empty() { "0".into() } else { t }
}

/// Whether revocation is checked: an explicit choice, never a silent default.
#[derive(Debug, Clone, Copy)]
pub enum Revocation<'a> {
    /// Every certificate's serial is looked up in this list.
    Checked(&'a RevocationList),
    /// Not checked; the report says so.
    NotChecked,
}
