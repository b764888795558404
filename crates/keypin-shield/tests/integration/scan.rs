use keypin_shield::{Check, Coverage, Shield};

#[inline(never)]
pub fn pin_check_stand_in(spki: &[u8]) -> bool {
    spki.iter().fold(0u8, |a, b| a ^ b) == 0x5a
}

#[test]
fn clean_process_has_no_findings() {
    let _port = crate::port_lock();
    let mut shield = Shield::new();
    shield
        .guard("pin_check_stand_in", pin_check_stand_in as *const ())
        .unwrap();
    let report = shield.scan().unwrap();
    assert_eq!(report.coverage, Coverage::Full);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.functions[0].contains("pin_check_stand_in"));
    assert!(report.checks.contains(&Check::Tracer) && report.checks.contains(&Check::Breakpoint));
    let quick = shield.quick().unwrap();
    assert!(quick.is_clean(), "{:#?}", quick.findings);
    assert!(!quick.checks.contains(&Check::FridaPort));
    assert!(std::hint::black_box(pin_check_stand_in)(&[0x5a]));
}

#[test]
fn frida_server_port_listener_is_found() {
    let _port = crate::port_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:27042").unwrap();
    let report = keypin_shield::scan().unwrap();
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.id == Check::FridaPort)
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", report.findings);
    assert_eq!(found[0].evidence.path.as_deref(), Some("sock_diag"));
    assert!(
        found[0].evidence.detail.contains("127.0.0.1:27042"),
        "{}",
        found[0].evidence.detail
    );
    drop(listener);
}

#[test]
fn json_names_ids_and_severities() {
    let _port = crate::port_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:27042").unwrap();
    let report = keypin_shield::scan().unwrap();
    drop(listener);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["coverage"], "full");
    let f = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "SH005")
        .unwrap();
    assert_eq!(f["severity"], "medium");
}
