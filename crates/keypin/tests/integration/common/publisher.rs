//! An in-memory bundle publisher for the updater's tests: named files, optional ETags, and a
//! log of what was asked for.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keypin::live::bundle::SigningKey;
use keypin::live::updater::{FetchError, Fetched, Fetcher};

/// Named files as a publisher serves them. With ETags, a request that names the current tag
/// gets `NotModified`; without, every request gets the bytes.
#[derive(Debug, Default)]
pub struct Publisher {
    files: Mutex<HashMap<String, Vec<u8>>>,
    etags: bool,
    requests: Mutex<Vec<(String, Option<String>)>>,
}

impl Publisher {
    /// A publisher that tags each file with an ETag and honours If-None-Match.
    pub fn with_etags() -> Self {
        Self {
            etags: true,
            ..Self::default()
        }
    }

    /// Publishes `bytes` as `name` (replacing what was there).
    pub fn put(&self, name: &str, bytes: &[u8]) {
        self.files
            .lock()
            .unwrap()
            .insert(name.into(), bytes.to_vec());
    }

    /// Withdraws `name`.
    pub fn remove(&self, name: &str) {
        self.files.lock().unwrap().remove(name);
    }

    /// The tags sent with each request for `name`, in order.
    pub fn requests_for(&self, name: &str) -> Vec<Option<String>> {
        let r = self.requests.lock().unwrap();
        r.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// The ETag this publisher gives `bytes`.
pub fn etag(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    format!("\"{}\"", STANDARD.encode(&d.as_ref()[..12]))
}

impl Fetcher for Publisher {
    fn fetch(&self, name: &str, tag: Option<&str>, max: usize) -> Result<Fetched, FetchError> {
        self.requests
            .lock()
            .unwrap()
            .push((name.into(), tag.map(String::from)));
        let files = self.files.lock().unwrap();
        let Some(body) = files.get(name) else {
            return Ok(Fetched::NotFound);
        };
        if body.len() > max {
            return Err(FetchError::TooLarge {
                name: name.into(),
                max,
            });
        }
        if !self.etags {
            return Ok(Fetched::Content {
                body: body.clone(),
                etag: None,
            });
        }
        let e = etag(body);
        if tag == Some(e.as_str()) {
            return Ok(Fetched::NotModified);
        }
        Ok(Fetched::Content {
            body: body.clone(),
            etag: Some(e),
        })
    }
}

/// `n` fresh Ed25519 bundle signing keys.
pub fn signing_keys(n: usize) -> Vec<SigningKey> {
    (0..n).map(|_| SigningKey::generate().unwrap().0).collect()
}
