//! A background thread that scans every interval and reports what changed.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use keypin::clock::Clock;
use keypin::events::{PinEvent, PinEventSink};
use keypin::runtime::{RuntimeFinding, bounded};

use crate::{Error, Finding, Shield};

/// What a watcher saw change since its last scan (the first scan reports every finding as
/// appeared).
#[derive(Debug)]
#[non_exhaustive]
pub enum Change {
    /// Findings that appeared and that went away.
    Findings {
        /// New since the last scan.
        appeared: Vec<Finding>,
        /// Gone since the last scan.
        cleared: Vec<Finding>,
    },
    /// A scan failed (reported once until a scan succeeds again).
    Failed(Error),
}

/// Scans in the background until dropped.
#[derive(Debug)]
pub struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    /// Runs `shield.scan()` every `interval` on a thread named `keypin-shield`, calling
    /// `on_change` when the findings differ from the previous scan's.
    pub fn spawn(
        shield: Arc<Shield>,
        interval: Duration,
        on_change: impl FnMut(Change) + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::spawn_inner(shield, interval, false, on_change)
    }

    /// As [`Watcher::spawn`], telling `sink` in keypin's events: a
    /// [`PinEvent::RuntimeFindings`] after the first scan (even a clean one, so a report
    /// sender knows the process was scanned), on every change, and after the first good scan
    /// that follows a failed one; a [`PinEvent::RuntimeScanFailed`] when a scan fails. Give it
    /// keypin's `ReportSender` (feature `reports`) and pin-failure reports carry the current
    /// findings; the sink is called on the watcher's thread, never in a handshake.
    pub fn spawn_events(
        shield: Arc<Shield>,
        interval: Duration,
        sink: Arc<dyn PinEventSink>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        let mut current: HashSet<Finding> = HashSet::new();
        let convert = |list: &[Finding]| bounded(list.iter().map(RuntimeFinding::from));
        Self::spawn_inner(shield, interval, true, move |change| {
            let at = clock.now();
            let event = match change {
                Change::Findings { appeared, cleared } => {
                    for f in &cleared {
                        current.remove(f);
                    }
                    current.extend(appeared.iter().cloned());
                    let now: Vec<Finding> = current.iter().cloned().collect();
                    PinEvent::RuntimeFindings {
                        current: convert(&now),
                        appeared: convert(&appeared),
                        cleared: convert(&cleared),
                        at,
                    }
                }
                Change::Failed(e) => {
                    current.clear();
                    PinEvent::RuntimeScanFailed {
                        reason: e.to_string(),
                        at,
                    }
                }
            };
            sink.pin_event(event);
        })
    }

    /// `report_first`: call `on_change` after the first scan and after the first good scan
    /// that follows a failure, even with nothing changed.
    fn spawn_inner(
        shield: Arc<Shield>,
        interval: Duration,
        report_first: bool,
        mut on_change: impl FnMut(Change) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("keypin-shield".into())
            .spawn(move || {
                let mut last: Option<HashSet<Finding>> = None;
                let mut failing = false;
                let mut must_report = report_first;
                loop {
                    match shield.scan() {
                        Ok(report) => {
                            failing = false;
                            let now: HashSet<Finding> = report.findings.into_iter().collect();
                            let before = last.take().unwrap_or_default();
                            let appeared: Vec<Finding> = now.difference(&before).cloned().collect();
                            let cleared: Vec<Finding> = before.difference(&now).cloned().collect();
                            if must_report || !appeared.is_empty() || !cleared.is_empty() {
                                must_report = false;
                                on_change(Change::Findings { appeared, cleared });
                            }
                            last = Some(now);
                        }
                        Err(e) if !failing => {
                            failing = true;
                            // An event sink forgets the findings on a failure: tell it them
                            // all again once a scan works.
                            if report_first {
                                last = None;
                                must_report = true;
                            }
                            on_change(Change::Failed(e));
                        }
                        Err(_) => {}
                    }
                    match stopped.recv_timeout(interval) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
