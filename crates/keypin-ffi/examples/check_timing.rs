//! One `Keypin::check` in Rust, without the FFI: the baseline for the JVM's number
//! (bench/kotlin-okhttp.sh). `check_timing DIR`: DIR holds `policy.toml`, `host.txt` and the
//! verified path as `0.der`, `1.der`, ... (written by the JVM benchmark).

use std::path::PathBuf;
use std::time::Instant;

use keypin_ffi::{Keypin, KeypinOptions, Verdict};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: check_timing DIR")?);
    let policy = std::fs::read_to_string(dir.join("policy.toml"))?;
    let host = std::fs::read_to_string(dir.join("host.txt"))?
        .trim()
        .to_string();
    let mut path = Vec::new();
    while let Ok(der) = std::fs::read(dir.join(format!("{}.der", path.len()))) {
        path.push(der);
    }
    let state = std::env::temp_dir().join(format!("keypin-check-timing-{}", std::process::id()));
    let keypin = Keypin::from_toml(
        policy,
        "bench".into(),
        KeypinOptions {
            state_dir: state.to_string_lossy().into_owned(),
            app_id: None,
            app_version: None,
            platform: None,
            report_uris: vec![],
            report_queue: 1,
        },
    )?;
    let first = keypin.check(host.clone(), path.clone())?;
    if !matches!(first, Verdict::Matched { .. }) {
        return Err(format!("the path does not match the policy: {first:?}").into());
    }
    for _ in 0..20_000 {
        keypin.check(host.clone(), path.clone())?;
    }
    let n = 100_000u32;
    let start = Instant::now();
    for _ in 0..n {
        keypin.check(host.clone(), path.clone())?;
    }
    let per = start.elapsed() / n;
    println!(
        "one Keypin::check in Rust (no FFI) on the same path ({} certificates), verification cache warm: {} ns",
        path.len(),
        per.as_nanos()
    );
    let _ = std::fs::remove_dir_all(state);
    Ok(())
}
