use std::sync::{Arc, mpsc};
use std::time::Duration;

use keypin_shield::{Change, Check, Shield, Watcher};

fn next_findings(rx: &mpsc::Receiver<Change>) -> (Vec<Check>, Vec<Check>) {
    match rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a change within 10 s")
    {
        Change::Findings { appeared, cleared } => (
            appeared.iter().map(|f| f.id).collect(),
            cleared.iter().map(|f| f.id).collect(),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn watcher_reports_frida_port_opening_and_closing() {
    let _port = crate::port_lock();
    let (tx, rx) = mpsc::channel();
    let watcher = Watcher::spawn(
        Arc::new(Shield::new()),
        Duration::from_millis(20),
        move |c| {
            let _ = tx.send(c);
        },
    )
    .unwrap();
    // A clean start reports nothing; the listener is the first change.
    std::thread::sleep(Duration::from_millis(60));
    assert!(rx.try_recv().is_err());
    let listener = std::net::TcpListener::bind("127.0.0.1:27042").unwrap();
    assert_eq!(next_findings(&rx), (vec![Check::FridaPort], vec![]));
    drop(listener);
    assert_eq!(next_findings(&rx), (vec![], vec![Check::FridaPort]));
    drop(watcher);
}

/// The watcher as keypin's event source: a clean first scan is an empty `RuntimeFindings`
/// (scanned, nothing seen), then a listener on frida-server's port appears as SH005 with
/// keypin's severity, and goes away again.
#[test]
fn watcher_events_report_a_frida_port_listener_as_pin_events() {
    use keypin::clock::SystemClock;
    use keypin::events::{ChannelSink, PinEvent};
    use keypin::runtime::Severity;

    let _port = crate::port_lock();
    let (sink, rx) = ChannelSink::new(64);
    let watcher = Watcher::spawn_events(
        Arc::new(Shield::new()),
        Duration::from_millis(20),
        Arc::new(sink),
        Arc::new(SystemClock),
    )
    .unwrap();
    let next = || match rx.recv_timeout(Duration::from_secs(10)).expect("an event") {
        PinEvent::RuntimeFindings {
            current,
            appeared,
            cleared,
            ..
        } => (current, appeared, cleared),
        other => panic!("{other:?}"),
    };
    let (current, appeared, cleared) = next();
    assert!(current.is_empty() && appeared.is_empty() && cleared.is_empty());
    let listener = std::net::TcpListener::bind("127.0.0.1:27042").unwrap();
    let (current, appeared, _) = next();
    assert_eq!(current, appeared);
    assert_eq!(appeared.len(), 1, "{appeared:?}");
    assert_eq!(
        (appeared[0].id.as_str(), appeared[0].severity),
        ("SH005", Severity::Medium)
    );
    assert!(
        appeared[0].evidence.contains("127.0.0.1:27042"),
        "{:?}",
        appeared[0]
    );
    drop(listener);
    let (current, _, cleared) = next();
    assert!(current.is_empty());
    assert_eq!(cleared[0].id, "SH005");
    drop(watcher);
}
