//! Instrumentation: libraries and memory in `/proc/self/maps`, thread names, frida-server's
//! port, `LD_PRELOAD`.

use std::path::{Path, PathBuf};

use super::procfs::{self, Mapping};
use crate::{Check, Error, Evidence, Finding, ListenerSource};

/// Parts of a mapped file's path that name an instrumentation framework (compared in lower
/// case): Frida's agent, gadget and server, Cydia Substrate, Xposed and its successors
/// (EdXposed, LSPosed, Riru, Zygisk), and hooking engines built on them.
const INSTRUMENTATION_NAMES: &[&str] = &[
    "frida",
    "gum-js",
    "re.frida.server",
    "linjector",
    "substrate",
    "xposed",
    "lsposed",
    "liblspd",
    "edxp",
    "libriru",
    "zygisk",
    "sandhook",
    "libwhale",
];

/// Executable mappings without a file that are normal: the kernel's vDSO and friends, and
/// Android's JIT code caches.
fn expected_anonymous(name: &str) -> bool {
    matches!(name, "[vdso]" | "[vsyscall]" | "[vectors]" | "[sigpage]")
        || name.contains("jit-cache")
        || name.contains("jit-code-cache")
}

/// SH002, SH003, SH007 over the mappings.
pub(crate) fn maps(maps: &[Mapping<'_>], allowed: &[PathBuf]) -> Vec<Finding> {
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent);
    let mut out = Vec::new();
    let mut named = std::collections::HashSet::new();
    for m in maps {
        let lower = m.path.to_ascii_lowercase();
        if let Some(name) = INSTRUMENTATION_NAMES.iter().find(|n| lower.contains(*n)) {
            // One finding per file, not per segment.
            if named.insert(m.path) {
                out.push(Finding::new(
                    Check::InstrumentationLibrary,
                    Evidence {
                        path: Some(m.path.to_owned()),
                        mapping: Some(m.line.to_owned()),
                        detail: format!("the path contains {name:?}"),
                        ..Evidence::default()
                    },
                ));
            }
            continue;
        }
        if !m.executable() {
            continue;
        }
        let anonymous = m.path.is_empty()
            || m.path.starts_with("/memfd:")
            || (m.path.starts_with('[') && !expected_anonymous(m.path));
        if anonymous {
            if !expected_anonymous(m.path) {
                out.push(Finding::new(
                    Check::AnonymousExecutable,
                    Evidence {
                        mapping: Some(m.line.to_owned()),
                        detail: format!("{} bytes at {:#x}", m.end - m.start, m.start),
                        ..Evidence::default()
                    },
                ));
            }
            continue;
        }
        if m.path.starts_with('[') {
            continue;
        }
        let path = Path::new(m.path);
        let from_program =
            exe.as_deref() == Some(path) || exe_dir.is_some_and(|d| path.starts_with(d));
        if !from_program && !allowed.iter().any(|dir| path.starts_with(dir)) && named.insert(m.path)
        {
            out.push(Finding::new(
                Check::UnexpectedLibrary,
                Evidence {
                    path: Some(m.path.to_owned()),
                    mapping: Some(m.line.to_owned()),
                    detail: "not under an allowed directory (Shield::allow_library_dir)".to_owned(),
                    ..Evidence::default()
                },
            ));
        }
    }
    out
}

/// Thread names Frida's agent gives its threads. GLib's `gmain` and `gdbus`, which Frida also
/// starts, are left out: every GLib program has them.
fn frida_thread(comm: &str) -> bool {
    matches!(
        comm,
        "gum-js-loop" | "gum-dbg-loop" | "pool-frida" | "linjector"
    ) || comm.starts_with("frida")
}

/// SH004: the names of this process's threads.
pub(crate) fn threads() -> Result<Vec<Finding>, Error> {
    /// More threads than this is not a process to be scanned thread by thread.
    const MAX_THREADS: usize = 65_536;
    let dir = Path::new("/proc/self/task");
    let read_err = |source| Error::Read {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for (i, entry) in std::fs::read_dir(dir).map_err(read_err)?.enumerate() {
        if i >= MAX_THREADS {
            break;
        }
        let comm_path = entry.map_err(read_err)?.path().join("comm");
        // A thread that ended since the directory was listed has no comm any more.
        let Ok(comm) = std::fs::read_to_string(&comm_path) else {
            continue;
        };
        let comm = comm.trim_end();
        if frida_thread(comm) {
            out.push(Finding::new(
                Check::InstrumentationThread,
                Evidence {
                    path: Some(comm_path.display().to_string()),
                    detail: format!("thread name {comm:?}"),
                    ..Evidence::default()
                },
            ));
        }
    }
    Ok(out)
}

/// frida-server's default port.
const FRIDA_PORT: u16 = 27042;

/// SH005: a socket listening on 27042, from the kernel's tables (no connection is made):
/// sock_diag, else `/proc/net/tcp{,6}` (or only those files of `source`'s directory). `Err`
/// carries why neither could be read (Android 10 and later deny both to apps): the check did
/// not run.
pub(crate) fn frida_port(source: &ListenerSource) -> Result<Vec<Finding>, String> {
    let (dir, netlink_err) = match source {
        ListenerSource::ProcNet(dir) => (dir.as_path(), None),
        _ => match super::sockets::tcp_listeners() {
            Ok(listeners) => {
                return Ok(listeners
                    .into_iter()
                    .filter(|a| a.port() == FRIDA_PORT)
                    .map(|a| frida_port_finding("sock_diag", a.to_string()))
                    .collect());
            }
            Err(e) => (Path::new("/proc/net"), Some(e)),
        },
    };
    proc_net_frida_port(dir).map_err(|e| match netlink_err {
        Some(n) => format!("{n}; {e}"),
        None => e,
    })
}

fn frida_port_finding(source: &str, local: String) -> Finding {
    Finding::new(
        Check::FridaPort,
        Evidence {
            path: Some(source.to_owned()),
            detail: format!("listening socket {local}"),
            ..Evidence::default()
        },
    )
}

/// SH005 from `dir/tcp` and `dir/tcp6` (a kernel without IPv6 has no tcp6; tcp must be there).
fn proc_net_frida_port(dir: &Path) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    for name in ["tcp", "tcp6"] {
        let path = dir.join(name);
        if name == "tcp6" && !path.exists() {
            continue;
        }
        let shown = path.display().to_string();
        let text = procfs::read(&path).map_err(|e| e.to_string())?;
        let listeners = procfs::listeners(&text, &shown).map_err(|e| e.to_string())?;
        out.extend(
            listeners
                .into_iter()
                .filter(|l| l.port == FRIDA_PORT)
                .map(|l| frida_port_finding(&shown, l.local.to_owned())),
        );
    }
    Ok(out)
}

/// SH006: `LD_PRELOAD` in the environment, or a system-wide preload file.
pub(crate) fn preload(preload_file: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(v) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        out.push(Finding::detail(
            Check::Preload,
            format!("LD_PRELOAD={}", v.to_string_lossy()),
        ));
    }
    if std::fs::metadata(preload_file).is_ok_and(|m| m.len() > 0) {
        out.push(Finding::new(
            Check::Preload,
            Evidence {
                path: Some(preload_file.display().to_string()),
                detail: "a system-wide preload list".to_owned(),
                ..Evidence::default()
            },
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<&'static str> {
        let maps = procfs::maps(text, "maps").unwrap();
        let allowed: Vec<PathBuf> = crate::SYSTEM_LIBRARY_DIRS
            .iter()
            .map(PathBuf::from)
            .collect();
        super::maps(&maps, &allowed)
            .iter()
            .map(|f| f.id.id())
            .collect()
    }

    #[test]
    fn maps_rows() {
        let line = |perms: &str, path: &str| {
            format!("7f0000000000-7f0000001000 {perms} 00000000 00:00 0 {path}")
        };
        for (perms, path, want) in [
            ("r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", vec![]),
            ("r-xp", "[vdso]", vec![]),
            ("r-xp", "/memfd:jit-cache (deleted)", vec![]),
            ("r-xp", "[anon:dalvik-jit-code-cache]", vec![]),
            ("rw-p", "", vec![]),
            ("r--p", "/data/local/tmp/frida-agent-64.so", vec!["SH002"]),
            (
                "r-xp",
                "/data/local/tmp/re.frida.server/frida-agent-64.so",
                vec!["SH002"],
            ),
            ("r-xp", "/system/lib64/libsubstrate.so", vec!["SH002"]),
            ("r-xp", "/system/framework/XposedBridge.jar", vec!["SH002"]),
            ("r-xp", "/data/adb/lspd/liblspd.so", vec!["SH002"]),
            (
                "r-xp",
                "/data/adb/modules/zygisk_lsposed/zygisk/arm64-v8a.so",
                vec!["SH002"],
            ),
            ("rwxp", "", vec!["SH003"]),
            ("r-xp", "/memfd:frida-agent-64.so (deleted)", vec!["SH002"]),
            ("r-xp", "/memfd:payload (deleted)", vec!["SH003"]),
            ("r-xp", "[anon:hook]", vec!["SH003"]),
            ("r-xp", "/tmp/x/libhook.so", vec!["SH007"]),
            ("r--p", "/tmp/x/data.bin", vec![]),
        ] {
            assert_eq!(ids(&line(perms, path)), want, "{perms} {path}");
        }
    }

    #[test]
    fn frida_thread_names() {
        for (name, want) in [
            ("gum-js-loop", true),
            ("pool-frida", true),
            ("frida-main-loo", true),
            ("gmain", false),
            ("gdbus", false),
            ("tokio-runtime-w", false),
            ("keypin", false),
        ] {
            assert_eq!(frida_thread(name), want, "{name}");
        }
    }

    #[test]
    fn preload_file_is_a_finding() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ld.so.preload");
        assert!(preload(&file).iter().all(|f| f.evidence.path.is_none()));
        std::fs::write(&file, "/tmp/x/libhook.so\n").unwrap();
        let found = preload(&file);
        assert!(
            found
                .iter()
                .any(|f| f.id == Check::Preload && f.evidence.path.is_some())
        );
    }
}
