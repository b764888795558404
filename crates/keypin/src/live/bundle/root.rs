//! The root of trust: which keys may sign bundles, how many must, until when; and its
//! rotation N → N+1.

use serde::{Deserialize, Serialize};

use super::envelope::{self, check_threshold, meets_threshold};
use super::keys::{KeyId, PublicKey, SigningKey};
use super::{BundleError, ROOT_CONTEXT, ROOT_FORMAT, Signer, parse_date};
use crate::clock::Date;

/// Roots are small; anything bigger is refused before parsing.
pub const MAX_ROOT_BYTES: usize = 64 * 1024;

/// The body type tag of a root.
const ROOT_TYPE: &str = "keypin/root";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootBody {
    #[serde(rename = "type")]
    kind: String,
    format_version: u32,
    version: u64,
    expires: String,
    threshold: u32,
    keys: Vec<KeyEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    public: String,
}

/// A verified root of trust. Built from the bytes the app embeds ([`Root::from_embedded`]) or
/// reached from a trusted root by rotation ([`Root::rotate`]); there is no other way to get one.
#[derive(Debug, Clone)]
pub struct Root {
    version: u64,
    expires: Date,
    threshold: u32,
    keys: Vec<PublicKey>,
    bytes: Vec<u8>,
}

impl Root {
    /// The root the app ships with. Trusted because it is embedded, but still checked: it must
    /// parse and carry a threshold of signatures of its own keys.
    pub fn from_embedded(bytes: &[u8]) -> Result<Self, BundleError> {
        let (root, opened) = Self::parse(bytes)?;
        check_threshold(
            ROOT_CONTEXT,
            &opened.body,
            &opened.signatures,
            &root.keys,
            root.threshold,
            Signer::Root {
                version: root.version,
            },
        )?;
        Ok(root)
    }

    /// Walks one step, N → N+1: `next` must have version N+1 and be signed by a threshold of
    /// this root's keys **and** a threshold of its own keys.
    pub fn rotate(&self, next: &[u8]) -> Result<Root, BundleError> {
        let (new, opened) = Self::parse(next)?;
        if Some(new.version) != self.version.checked_add(1) {
            return Err(BundleError::RootVersion {
                current: self.version,
                found: new.version,
            });
        }
        check_threshold(
            ROOT_CONTEXT,
            &opened.body,
            &opened.signatures,
            &self.keys,
            self.threshold,
            Signer::Root {
                version: self.version,
            },
        )?;
        check_threshold(
            ROOT_CONTEXT,
            &opened.body,
            &opened.signatures,
            &new.keys,
            new.threshold,
            Signer::Root {
                version: new.version,
            },
        )?;
        Ok(new)
    }

    fn parse(bytes: &[u8]) -> Result<(Self, envelope::Opened), BundleError> {
        let opened = envelope::open(bytes, "root", ROOT_FORMAT, MAX_ROOT_BYTES)?;
        let body: RootBody =
            serde_json::from_slice(&opened.body).map_err(|e| BundleError::Malformed {
                what: "root",
                reason: e.to_string(),
            })?;
        let malformed = |reason: String| BundleError::Malformed {
            what: "root",
            reason,
        };
        if body.kind != ROOT_TYPE || body.format_version != 1 {
            return Err(malformed(format!(
                "type {:?} version {} is not {ROOT_TYPE:?} version 1",
                body.kind, body.format_version
            )));
        }
        let mut keys: Vec<PublicKey> = Vec::with_capacity(body.keys.len());
        for entry in &body.keys {
            let key = PublicKey::parse(&entry.public)?;
            if key.id().as_str() != entry.id {
                return Err(malformed(format!(
                    "key id {} does not match its key (whose id is {})",
                    entry.id,
                    key.id()
                )));
            }
            if keys.contains(&key) {
                return Err(malformed(format!("key {} is listed twice", key.id())));
            }
            keys.push(key);
        }
        if body.threshold == 0 || body.threshold as usize > keys.len() {
            return Err(malformed(format!(
                "threshold {} must be between 1 and the number of keys ({})",
                body.threshold,
                keys.len()
            )));
        }
        let root = Self {
            version: body.version,
            expires: parse_date(&body.expires, "root")?,
            threshold: body.threshold,
            keys,
            bytes: bytes.to_vec(),
        };
        Ok((root, opened))
    }

    /// The root's version (starts at 1, grows by one per rotation).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The root's last valid date.
    pub fn expires(&self) -> Date {
        self.expires
    }

    /// How many distinct keys must sign.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The keys that may sign.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The exact bytes this root was read from (to store it).
    pub fn to_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether a threshold of `signers` are keys this root trusts for bundles: whether a bundle
    /// signed by exactly these keys would still carry enough signatures under this root. The
    /// updater keeps its version mark across a rotation to this root only then (TUF 5.3.11).
    pub fn accepts_signers(&self, signers: &[KeyId]) -> bool {
        meets_threshold(signers, &self.keys, self.threshold)
    }

    /// The ids of the keys whose valid signatures met the threshold.
    pub(crate) fn check_bundle_signatures(
        &self,
        body: &[u8],
        signatures: &[envelope::SignatureEntry],
    ) -> Result<Vec<KeyId>, BundleError> {
        check_threshold(
            super::BUNDLE_CONTEXT,
            body,
            signatures,
            &self.keys,
            self.threshold,
            Signer::Bundle {
                root_version: self.version,
            },
        )
    }
}

/// What a new root says, before it is signed.
#[derive(Debug, Clone)]
pub struct RootSpec {
    /// The root's version: 1 for a first root, N+1 for a rotation of root N.
    pub version: u64,
    /// The root's last valid date.
    pub expires: Date,
    /// How many distinct keys must sign a bundle (and the next root).
    pub threshold: u32,
    /// The keys that may sign.
    pub keys: Vec<PublicKey>,
}

impl RootSpec {
    /// The signed root document. A first root is signed by its own keys; a rotation by a
    /// threshold of the old root's keys and of the new root's keys (pass all of them).
    /// The result is checked as a client would check it (against `previous` when given).
    pub fn sign(
        &self,
        signers: &[&SigningKey],
        previous: Option<&Root>,
    ) -> Result<Vec<u8>, BundleError> {
        let body = RootBody {
            kind: ROOT_TYPE.into(),
            format_version: 1,
            version: self.version,
            expires: self.expires.to_string(),
            threshold: self.threshold,
            keys: self
                .keys
                .iter()
                .map(|k| KeyEntry {
                    id: k.id().to_string(),
                    public: k.to_string(),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&body).map_err(|e| BundleError::Malformed {
            what: "root",
            reason: e.to_string(),
        })?;
        let bytes = envelope::seal(ROOT_FORMAT, ROOT_CONTEXT, &body, signers)?;
        match previous {
            Some(prev) => prev.rotate(&bytes)?,
            None => Root::from_embedded(&bytes)?,
        };
        Ok(bytes)
    }
}
