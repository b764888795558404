use keypin_shield::{Check, Coverage, ListenerSource, Shield};

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

/// sock_diag unavailable (as on a kernel without it): the same listener is found through
/// `/proc/net/tcp`, named by its kernel spelling (127.0.0.1:27042 is `0100007F:69A2`).
#[test]
fn frida_server_port_is_found_through_the_proc_net_fallback() {
    let _port = crate::port_lock();
    let shield = Shield::new().listener_source(ListenerSource::ProcNet("/proc/net".into()));
    let clean = shield.run(&[Check::FridaPort]).unwrap();
    assert!(clean.is_clean(), "{clean:#?}");
    assert_eq!(clean.checks, [Check::FridaPort]);
    let listener = std::net::TcpListener::bind("127.0.0.1:27042").unwrap();
    let report = shield.run(&[Check::FridaPort]).unwrap();
    drop(listener);
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let e = &report.findings[0].evidence;
    assert_eq!(e.path.as_deref(), Some("/proc/net/tcp"));
    assert!(e.detail.contains("0100007F:69A2"), "{}", e.detail);
}

/// A listener table that cannot be read (Android 10+ denies /proc/net to apps) makes SH005
/// unavailable, with the reason: not run, and the report is not clean.
#[test]
fn an_unreadable_listener_table_is_unavailable_never_clean() {
    let _port = crate::port_lock();
    let gone = tempfile::tempdir().unwrap().path().join("net");
    let shield = Shield::new().listener_source(ListenerSource::ProcNet(gone.clone()));
    // Even with frida-server's port open, nothing is claimed either way.
    let listener = std::net::TcpListener::bind("127.0.0.1:27042").unwrap();
    let report = shield.run(&[Check::Tracer, Check::FridaPort]).unwrap();
    drop(listener);
    assert!(report.findings.is_empty(), "{report:#?}");
    assert!(!report.checks.contains(&Check::FridaPort), "{report:#?}");
    assert!(!report.is_clean());
    assert_eq!(report.unavailable.len(), 1);
    assert_eq!(report.unavailable[0].id, Check::FridaPort);
    let reason = &report.unavailable[0].reason;
    assert!(
        reason.contains(&gone.join("tcp").display().to_string()),
        "{reason}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["unavailable"][0]["id"], "SH005");
}
