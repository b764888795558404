//! keypin-shield's checks on the test process itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harden;
mod scan;
mod watch;

use std::sync::{Mutex, MutexGuard};

/// Tests that open frida-server's port, or need it closed, take turns: the port is the
/// machine's, not the process's.
pub(crate) fn port_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
