//! Reports: built by keypin, queued (bounded), de-duplicated across restarts.

use keypin_ffi::Keypin;

use crate::support::{HOST, Lab, options};

const URI: &str = "http://127.0.0.1:9/v1/reports";

fn keypin_with_uri(lab: &Lab, queue: u32) -> std::sync::Arc<Keypin> {
    let mut o = options(
        lab.dir.path().join("reports").to_str().unwrap(),
        vec![URI.into()],
    );
    o.report_queue = queue;
    Keypin::from_toml(lab.policy(""), "p".into(), o).unwrap()
}

#[test]
fn a_pin_failure_queues_one_report_with_the_failure() {
    let lab = Lab::new();
    let keypin = keypin_with_uri(&lab, 8);
    keypin.check(HOST.into(), lab.rogue_path()).unwrap();
    keypin.check(HOST.into(), lab.rogue_path()).unwrap();
    let pending = keypin.pending_reports(10);
    assert_eq!(pending.len(), 1, "the same failure twice is one report");
    assert_eq!(pending[0].uri, URI);
    let body: serde_json::Value = serde_json::from_slice(&pending[0].body).unwrap();
    let report = &body[0];
    assert_eq!(report["hostname"], HOST);
    assert_eq!(report["failure"], "pin-mismatch");
    assert_eq!(report["app-bundle-id"], "com.example.app");
    assert_eq!(
        report["validated-certificate-chain"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // A match queues nothing.
    keypin.check(HOST.into(), lab.genuine_path()).unwrap();
    assert_eq!(keypin.pending_reports(10).len(), 1);
}

#[test]
fn a_delivered_report_is_not_queued_again_after_a_restart() {
    let lab = Lab::new();
    {
        let keypin = keypin_with_uri(&lab, 8);
        keypin.check(HOST.into(), lab.rogue_path()).unwrap();
        let keys = keypin
            .pending_reports(10)
            .into_iter()
            .map(|r| r.key)
            .collect();
        keypin.reports_delivered(keys).unwrap();
        assert!(keypin.pending_reports(10).is_empty());
    }
    let keypin = keypin_with_uri(&lab, 8);
    assert!(keypin.reports_warning().is_none());
    keypin.check(HOST.into(), lab.rogue_path()).unwrap();
    assert!(
        keypin.pending_reports(10).is_empty(),
        "delivered within 24 h"
    );
}

#[test]
fn an_undelivered_report_stays_queued() {
    let lab = Lab::new();
    let keypin = keypin_with_uri(&lab, 8);
    keypin.check(HOST.into(), lab.rogue_path()).unwrap();
    keypin.reports_delivered(vec![]).unwrap();
    assert_eq!(keypin.pending_reports(10).len(), 1);
}

#[test]
fn the_queue_is_bounded_and_drops_the_oldest() {
    let lab = Lab::new();
    let keypin = keypin_with_uri(&lab, 2);
    // Three different failures: three rogue chains.
    for name in ["R1", "R2", "R3"] {
        let rogue =
            keypin_pki::Chain::generate(name, &[HOST], keypin_pki::KeyAlg::EcdsaP256).unwrap();
        keypin
            .check(HOST.into(), crate::support::path_of(&rogue))
            .unwrap();
    }
    let pending = keypin.pending_reports(10);
    assert_eq!(pending.len(), 2);
    assert_eq!(keypin.reports_dropped(), 1);
}
