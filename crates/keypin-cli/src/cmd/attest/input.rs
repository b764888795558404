//! Reading what the attest commands are given: files that may be raw bytes or base64 text,
//! base64 flag values, the verification time.

use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use keypin_attest::UnixTime;

/// Largest file read (an attestation object is bounded at 64 KiB; base64 makes it 4/3).
const MAX_FILE_BYTES: u64 = 128 * 1024;

/// Base64 or base64url, padded or not, surrounding whitespace ignored.
pub(super) fn b64(text: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let t: String = text.split_whitespace().collect();
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&t).ok())
        .with_context(|| format!("{what}: not base64 or base64url"))
}

/// A file's bytes, bounded.
pub(super) fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        bail!(
            "{}: {} bytes, over the {MAX_FILE_BYTES}-byte bound",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("{}", path.display()))
}

/// A CBOR file: raw (it starts with a CBOR map) or base64/base64url text.
pub(super) fn cbor_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = read_bounded(path)?;
    if matches!(bytes.first(), Some(0xa0..=0xbf)) {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{}: neither raw CBOR nor base64 text", path.display()))?;
    b64(text, &path.display().to_string())
}

/// `--at RFC3339`, or now.
pub(super) fn time(at: Option<&str>) -> anyhow::Result<UnixTime> {
    match at {
        None => Ok(UnixTime::now()),
        Some(text) => {
            let t =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .with_context(|| {
                    format!("--at {text:?}: not an RFC 3339 time (2021-01-23T12:13:33Z)")
                })?;
            let secs = u64::try_from(t.unix_timestamp()).context("--at: before 1970")?;
            Ok(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                secs,
            )))
        }
    }
}

/// The client data hash from `--client-data` (hashed) or `--client-data-hash` (as given).
pub(super) fn client_data_hash(cd: &super::ClientData) -> anyhow::Result<Vec<u8>> {
    match (&cd.client_data, &cd.client_data_hash) {
        (Some(data), None) => {
            let data = b64(data, "--client-data")?;
            Ok(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data)
                .as_ref()
                .to_vec())
        }
        (None, Some(hash)) => b64(hash, "--client-data-hash"),
        _ => bail!("give exactly one of --client-data and --client-data-hash"),
    }
}

/// A time as RFC 3339, for the output (keypin's own formatter).
pub(super) fn rfc3339(t: UnixTime) -> String {
    keypin::clock::format_rfc3339(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
}
