//! Ingest shapes found by fuzzing (fuzz/fuzz_targets/collector_report.rs): each stored report's
//! fields and its stored raw body come from the same JSON object, and no report of a batch is
//! dropped silently.

use keypin_collector::report::{IncomingReport, ReportError, parse_body};

const NOW: i64 = 1_800_000_000;

fn hosts_and_bodies(body: &str) -> Result<Vec<(String, String)>, ReportError> {
    Ok(parse_body(body.as_bytes(), "192.0.2.0/24", NOW)?
        .into_iter()
        .map(|r| {
            let raw: IncomingReport = serde_json::from_str(&r.body).unwrap();
            (r.host, raw.hostname)
        })
        .collect())
}

#[test]
fn a_report_with_a_reports_field_is_one_report_and_its_own_body() {
    // It has a hostname, so it is one report; `reports` is an unknown field kept in its body.
    // Before the fix the fields came from reports[0] ("a") and the body from the wrapper ("c"),
    // and report "b" vanished.
    let body = r#"{"reports": [{"hostname": "a"}, {"hostname": "b"}], "hostname": "c"}"#;
    assert_eq!(
        hosts_and_bodies(body).unwrap(),
        vec![("c".to_string(), "c".to_string())]
    );
}

#[test]
fn every_shape_stores_each_report_with_its_own_body() {
    for (body, hosts) in [
        (r#"{"hostname": "A.example.com"}"#, vec!["a.example.com"]),
        (r#"[{"hostname": "a"}, {"hostname": "b"}]"#, vec!["a", "b"]),
        (
            r#"{"reports": [{"hostname": "a"}, {"hostname": "b"}]}"#,
            vec!["a", "b"],
        ),
    ] {
        let got = hosts_and_bodies(body).unwrap();
        assert_eq!(
            got.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
            hosts,
            "{body}"
        );
        for (host, raw) in got {
            assert_eq!(host, raw.to_ascii_lowercase(), "{body}");
        }
    }
}

#[test]
fn a_reports_field_that_is_not_a_list_is_refused_with_a_reason() {
    let e = parse_body(br#"{"reports": 5}"#, "192.0.2.0/24", NOW).unwrap_err();
    assert!(e.to_string().contains("reports"), "{e}");
    let e = parse_body(
        br#"[{"hostname": "a"}, {"hostname": 5}]"#,
        "192.0.2.0/24",
        NOW,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("report 1") && e.to_string().contains("expected a string"),
        "{e}"
    );
}
