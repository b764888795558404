//! Collector ingest (`keypin_collector::report::parse_body`, what `POST /v1/reports` runs):
//! never panics; an accepted batch has 1..=MAX_BATCH reports; each stored report's raw body is
//! the JSON object its fields came from (same hostname), and ingesting that body alone gives
//! the same validated report.
#![no_main]

use keypin_collector::report::{IncomingReport, MAX_BATCH, parse_body};
use keypin_fuzz::NOW_SECS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = i64::try_from(NOW_SECS).unwrap_or(i64::MAX);
    let Ok(reports) = parse_body(data, "192.0.2.0/24", now) else {
        return;
    };
    assert!((1..=MAX_BATCH).contains(&reports.len()));
    for r in &reports {
        assert!(!r.host.is_empty() && r.host.len() <= 253);
        assert_eq!(r.host, r.host.to_ascii_lowercase());
        let raw: IncomingReport = serde_json::from_str(&r.body).unwrap_or_else(|e| {
            panic!(
                "stored body is not the report it came from: {e}\n{}",
                r.body
            )
        });
        assert_eq!(
            raw.hostname.trim().to_ascii_lowercase(),
            r.host,
            "stored body belongs to another report"
        );
        let again = parse_body(r.body.as_bytes(), "192.0.2.0/24", now)
            .unwrap_or_else(|e| panic!("stored body does not ingest again: {e}\n{}", r.body));
        assert_eq!(again.len(), 1, "{}", r.body);
        let a = &again[0];
        assert_eq!(
            (
                &a.host,
                a.port,
                a.dialect,
                &a.served_leaf_pin,
                &a.failure,
                a.reported_at
            ),
            (
                &r.host,
                r.port,
                r.dialect,
                &r.served_leaf_pin,
                &r.failure,
                r.reported_at
            ),
            "{}",
            r.body
        );
    }
});
