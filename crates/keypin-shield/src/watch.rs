//! A background thread that scans every interval and reports what changed.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

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
        mut on_change: impl FnMut(Change) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("keypin-shield".into())
            .spawn(move || {
                let mut last: Option<HashSet<Finding>> = None;
                let mut failing = false;
                loop {
                    match shield.scan() {
                        Ok(report) => {
                            failing = false;
                            let now: HashSet<Finding> = report.findings.into_iter().collect();
                            let before = last.take().unwrap_or_default();
                            let appeared: Vec<Finding> = now.difference(&before).cloned().collect();
                            let cleared: Vec<Finding> = before.difference(&now).cloned().collect();
                            if !appeared.is_empty() || !cleared.is_empty() {
                                on_change(Change::Findings { appeared, cleared });
                            }
                            last = Some(now);
                        }
                        Err(e) if !failing => {
                            failing = true;
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
