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
