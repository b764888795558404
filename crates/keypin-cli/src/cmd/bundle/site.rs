//! A publishing site on disk: the files `keypin bundle serve` serves, by the same rules (plain
//! names directly inside the directory, the same strong ETag), and a [`Fetcher`] that reads
//! them for `keypin bundle apply --from DIR`, under the byte cap the updater passes.

use std::fs::File;
use std::io::Read as _;
use std::path::PathBuf;

use keypin::live::updater::{FetchError, Fetched, Fetcher};

/// A name a site may hold: only plain names directly inside the directory (no `..`, no
/// subdirectories, no hidden files).
pub(super) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The strong ETag of a file's bytes (a SHA-256 prefix, quoted), as `serve` sends it: a state
/// directory filled from a directory and from `serve` of the same files keeps one validator.
pub(super) fn etag(body: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Reads `bundle.json`, `root-N.json`, ... from a directory, the way [`keypin::live::updater`]'s HTTP
/// fetchers read them from a server: a missing file is `NotFound` (no next root), the same
/// bytes as the ETag sent are `NotModified`, and no more than the cap is ever read.
#[derive(Debug)]
pub(super) struct DirFetcher {
    dir: PathBuf,
}

impl DirFetcher {
    pub(super) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

impl Fetcher for DirFetcher {
    fn fetch(
        &self,
        name: &str,
        etag_sent: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        let path = self.dir.join(name);
        let transport = |reason: String| FetchError::Transport {
            name: path.display().to_string(),
            reason,
        };
        // 1. Plain names only: the updater asks for fixed names, never a path.
        if !plain_name(name) {
            return Err(transport(
                "not a plain file name inside the site directory".into(),
            ));
        }
        // 2. Absent is "not published" (no next root, or no bundle), as a 404 is.
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Fetched::NotFound),
            Err(e) => return Err(transport(format!("cannot open: {e}"))),
        };
        // 3. Read at most one byte past the cap: an oversized file is refused, never expanded.
        let limit = u64::try_from(max_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut body = Vec::new();
        file.take(limit)
            .read_to_end(&mut body)
            .map_err(|e| transport(format!("cannot read: {e}")))?;
        if body.len() > max_bytes {
            return Err(FetchError::TooLarge {
                name: path.display().to_string(),
                max: max_bytes,
            });
        }
        // 4. A conditional fetch, as against `serve`.
        let tag = etag(&body);
        if etag_sent == Some(tag.as_str()) {
            return Ok(Fetched::NotModified);
        }
        Ok(Fetched::Content {
            body,
            etag: Some(tag),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn only_plain_names_directly_inside_the_site() {
        for (name, plain) in [
            ("bundle.json", true),
            ("root-2.json", true),
            ("bundle_staging.json", true),
            ("", false),
            (".hidden", false),
            ("..", false),
            ("../bundle.json", false),
            ("sub/bundle.json", false),
            ("/etc/passwd", false),
            ("bundle.json\0", false),
            ("bündle.json", false),
        ] {
            assert_eq!(plain_name(name), plain, "{name:?}");
        }
    }
}
