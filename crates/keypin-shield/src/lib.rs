//! Runtime integrity signals for apps that pin: is a debugger attached, is instrumentation
//! (Frida, Substrate, Xposed/LSPosed, an `LD_PRELOAD` library) loaded, has the pin check's
//! machine code been patched or given a breakpoint, and (Android) does the device look rooted.
//!
//! Pinning in the field is rarely beaten by a clever certificate: it is switched off inside the
//! running app. These checks see the common ways of doing that, from inside the process, on
//! Linux and Android (`/proc`). Whoever owns the device can defeat every one of them; they are
//! signals to send to a server that decides (attestation, the gate), not a wall.
//!
//! - [`Shield::scan`]: every check (well under 2 ms; BENCHMARKS.md).
//! - [`Shield::quick`]: the cheap ones (tracer, `LD_PRELOAD`, guarded code; tens of µs), for
//!   hot paths. Neither belongs inside a TLS handshake.
//! - [`Watcher`]: a background thread that scans every interval and reports changes, to a
//!   callback or, with [`Watcher::spawn_events`], as keypin `PinEvent`s (give it keypin's
//!   `ReportSender` and pin-failure reports carry the findings).
//! - [`harden`]: makes the process non-dumpable, so a same-user debugger cannot attach.
//!
//! On other systems a scan says [`Coverage::Unsupported`]: never a clean result it did not
//! check.
//!
//! ```
//! use keypin_shield::{Coverage, Shield};
//!
//! #[inline(never)]
//! fn check_pins(spki: &[u8]) -> bool { spki.len() == 32 }
//!
//! let mut shield = Shield::new();
//! # #[cfg(any(target_os = "linux", target_os = "android"))]
//! shield.guard("check_pins", check_pins as *const ()).unwrap();
//! let report = shield.scan().unwrap();
//! if report.coverage == Coverage::Full {
//!     for finding in &report.findings {
//!         eprintln!("{finding}");
//!     }
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(unreachable_pub, missing_docs)]

mod android;
mod finding;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux;
mod watch;

use std::path::{Path, PathBuf};

pub use android::root_hints;
pub use finding::{Check, Coverage, Evidence, Finding, Report, Severity, Unavailable};
pub use watch::{Change, Watcher};

/// Why a scan could not be made. A scan that fails is never reported as clean.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `/proc` file (or the binary on disk) could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A `/proc` file did not have the expected form.
    #[error("{path} line {line}: {what}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What was wrong.
        what: String,
    },
    /// A function given to [`Shield::guard`] cannot be checked.
    #[error("cannot guard {label} at {address:#x}: {why}")]
    Guard {
        /// The label it was given.
        label: String,
        /// Its address.
        address: usize,
        /// Why not.
        why: String,
    },
    /// Not on Linux or Android.
    #[error("runtime integrity checks are not supported on {0}")]
    Unsupported(&'static str),
    /// A `prctl` call failed.
    #[error("prctl {what}: {source}")]
    Prctl {
        /// The operation.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

/// Where SH005 (frida-server's port) reads the listening sockets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenerSource {
    /// The kernel's sock_diag netlink interface (a dump of the listen table only), falling
    /// back to `/proc/net/tcp` and `tcp6` when netlink is refused.
    #[default]
    Auto,
    /// Only the files `tcp` and `tcp6` in this directory (`/proc/net` on a real system): for
    /// a system whose netlink misbehaves, and to test the fallback. A `tcp` that cannot be
    /// read makes SH005 unavailable ([`Report::unavailable`]), never clean.
    ProcNet(PathBuf),
}

/// The checks to run and what they may accept: directories libraries may come from, and the
/// functions whose code is compared with the binary on disk.
#[derive(Debug)]
pub struct Shield {
    allowed_dirs: Vec<PathBuf>,
    android_root: PathBuf,
    // Read only by the Linux and Android checks.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    listener_source: ListenerSource,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    guarded: Vec<linux::integrity::Guarded>,
    /// `/proc/self/mem`, opened at the first [`Shield::guard`] and kept (see [`harden`]).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    mem: Option<std::fs::File>,
}

impl Default for Shield {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a system's own libraries live: executable code mapped from anywhere else (besides the
/// program's own directory) is reported as [`Check::UnexpectedLibrary`].
const SYSTEM_LIBRARY_DIRS: &[&str] = &[
    "/lib",
    "/lib32",
    "/lib64",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libexec",
    // Android: the platform, its APEX modules, vendor code, and an app's own native libraries.
    "/system",
    "/system_ext",
    "/apex",
    "/vendor",
    "/product",
    "/odm",
    "/data/app",
];

impl Shield {
    /// Every check, the system library directories allowed, no function guarded yet.
    pub fn new() -> Self {
        Self {
            allowed_dirs: SYSTEM_LIBRARY_DIRS.iter().map(PathBuf::from).collect(),
            android_root: PathBuf::from("/"),
            listener_source: ListenerSource::Auto,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            guarded: Vec::new(),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            mem: None,
        }
    }

    /// Accepts executable code mapped from files under `dir` (an app's plugin directory, say).
    pub fn allow_library_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.allowed_dirs.push(dir.into());
        self
    }

    /// The file tree Android root hints are looked for in (`/` unless changed; tests use a
    /// fake tree).
    pub fn android_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.android_root = root.into();
        self
    }

    /// Where SH005 reads listening sockets ([`ListenerSource::Auto`] unless changed).
    pub fn listener_source(mut self, source: ListenerSource) -> Self {
        self.listener_source = source;
        self
    }

    /// Directories executable code may be mapped from.
    pub fn allowed_dirs(&self) -> &[PathBuf] {
        &self.allowed_dirs
    }

    /// Guards `function` (`my_fn as *const ()`): every scan compares its bytes in
    /// memory with the same bytes in the file it was loaded from, and a difference (a software
    /// breakpoint, an inline hook) is a finding naming it. Reads the symbol table of that file
    /// once, here. `label` names it in findings when the symbol has no name.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn guard(&mut self, label: &str, function: *const ()) -> Result<&mut Self, Error> {
        let address = function as usize;
        self.guarded
            .push(linux::integrity::Guarded::new(label, address)?);
        if self.mem.is_none() {
            // Kept open: once the process is not dumpable only root may open it. A failure
            // here is left to the scans, which open it again and report SH010.
            self.mem = std::fs::File::open(linux::integrity::MEM).ok();
        }
        Ok(self)
    }

    /// The guarded functions' names (demangled symbol names).
    pub fn guarded(&self) -> Vec<String> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return self.guarded.iter().map(|g| g.name().to_owned()).collect();
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Vec::new()
    }

    /// Every check: tracer, instrumentation (maps, threads, Frida's port, `LD_PRELOAD`,
    /// libraries from unexpected places), guarded code, and on Android root hints.
    pub fn scan(&self) -> Result<Report, Error> {
        self.run(&Check::ALL)
    }

    /// The cheap checks for hot paths: tracer, `LD_PRELOAD` and guarded code.
    pub fn quick(&self) -> Result<Report, Error> {
        self.run(&Self::QUICK)
    }

    /// The checks [`Shield::quick`] runs.
    pub const QUICK: [Check; 5] = [
        Check::Tracer,
        Check::Preload,
        Check::Breakpoint,
        Check::PatchedCode,
        Check::UnreadableCode,
    ];

    /// The checks in `checks` (and those that come with them from the same reading, such as
    /// every check on `/proc/self/maps`); [`Report::checks`] says which ran. Guarded code is
    /// checked only when a function is guarded, root hints only on Android.
    pub fn run(&self, checks: &[Check]) -> Result<Report, Error> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return linux::scan(self, checks);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = checks;
            Ok(Report::unsupported(std::env::consts::OS))
        }
    }

    fn android_root_path(&self) -> &Path {
        &self.android_root
    }
}

/// Makes this process non-dumpable (`PR_SET_DUMPABLE` 0): a debugger, `strace` or Frida's
/// injector running as the same user can no longer attach, and no core dump (with the app's
/// keys in it) is written. Root, or anyone with `CAP_SYS_PTRACE`, still can; so can whoever
/// starts the app under a debugger (an attached tracer stays), which SH001 reports. The
/// setting lasts until `execve` of a set-user-id program or the app resets it.
///
/// Call it after [`Shield::guard`]: guarding opens `/proc/self/mem` and keeps it, since
/// `/proc/self` files belong to root once the process is not dumpable.
pub fn harden() -> Result<(), Error> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return linux::harden::harden();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    Err(Error::Unsupported(std::env::consts::OS))
}

/// Whether the process is dumpable (`PR_GET_DUMPABLE`): false after [`harden`].
pub fn is_dumpable() -> Result<bool, Error> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return linux::harden::dumpable();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    Err(Error::Unsupported(std::env::consts::OS))
}

/// [`Shield::scan`] with the defaults and nothing guarded.
pub fn scan() -> Result<Report, Error> {
    Shield::new().scan()
}
