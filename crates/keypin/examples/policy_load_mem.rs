//! Loading an N-rule policy: time and peak memory, against the `toml` crate's bare parse of
//! the same text (issue #8 item 3). One mode per process, so each peak RSS is its own:
//!
//! `policy_load_mem N keypin|toml|text` prints one JSON line: rules, TOML bytes, load time in
//! ms, peak RSS (VmHWM) and RSS after loading (the loaded policy is still alive), in KiB.
//! `text` only builds the TOML text: the floor both others start from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

const P1: &str = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
const P2: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

/// The same policy shape as `benches/lookup.rs`: a third exact hosts, a third `*.` and a
/// third `**.` patterns, two pins each.
fn policy_text(n: usize) -> String {
    let mut s = String::with_capacity(n * 160);
    for i in 0..n {
        let host = match i % 3 {
            0 => format!("api{i}.example{i}.com"),
            1 => format!("*.svc{i}.example.net"),
            _ => format!("**.zone{i}.example.org"),
        };
        s.push_str(&format!(
            "[[rule]]\nhosts = [\"{host}\"]\npins = [\"{P1}\", \"{P2}\"]\n"
        ));
    }
    s
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mode = args.next().unwrap_or_else(|| "keypin".into());
    let text = policy_text(n);
    let start = Instant::now();
    let keep: Box<dyn std::any::Any> = match mode.as_str() {
        "keypin" => Box::new(keypin::Policy::from_toml_str(&text, "bench").unwrap()),
        "toml" => Box::new(text.parse::<toml::Table>().unwrap()),
        "text" => Box::new(()),
        other => panic!("mode {other:?}: expected keypin, toml or text"),
    };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{{\"rules\":{n},\"mode\":\"{mode}\",\"toml_bytes\":{},\"load_ms\":{ms:.1},\"peak_rss_kib\":{},\"rss_after_kib\":{}}}",
        text.len(),
        status_kib("VmHWM:"),
        status_kib("VmRSS:")
    );
    drop(keep);
}
