//! `keypin shield scan` against the real thing: gdb with a breakpoint in the pin check, a
//! preloaded library named like Frida's agent, a thread named like Frida's, a listener on
//! frida-server's port, and a clean run with none of them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use crate::common::keypin;

/// Tests that open frida-server's port, or need it closed, take turns (the port is the
/// machine's).
fn port_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn report(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(stdout)))
}

/// The findings' ids.
fn ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn finding<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))
}

/// Builds `name` from C source with the system's C compiler, as a shared library.
fn shared_library(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join("lib.c");
    std::fs::write(&c, source).unwrap();
    let so = dir.join(name);
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-pthread", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .expect("a C compiler (cc) to build the test library");
    assert!(status.success(), "cc failed");
    so
}

/// `keypin shield scan --json EXTRA` with `so` preloaded: the exit code and the report.
fn scan_preloaded(dir: &Path, so: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = keypin(dir)
        .env("LD_PRELOAD", so)
        .args(["shield", "scan", "--json"])
        .args(extra)
        .output()
        .unwrap();
    (out.status.code(), report(&out.stdout))
}

#[test]
fn clean_run_has_no_findings() {
    let _port = port_lock();
    let dir = tempfile::tempdir().unwrap();
    let out = keypin(dir.path())
        .args(["shield", "scan", "--json"])
        .output()
        .unwrap();
    let r = report(&out.stdout);
    assert_eq!(r["coverage"], "full");
    assert_eq!(ids(&r), Vec::<String>::new(), "{r:#}");
    assert_eq!(out.status.code(), Some(0));
    let functions = r["functions"].to_string();
    assert!(
        functions.contains("verify_server_cert") && functions.contains("verify_chain"),
        "{functions}"
    );
    let text = keypin(dir.path()).args(["shield", "scan"]).assert().code(0);
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(text.contains("no findings"), "{text}");
}

/// The linkage name of `<PinningVerifier as ServerCertVerifier>::verify_server_cert` in the
/// binary's symbol table (gdb takes it as it is; the demangled form has no name gdb parses).
fn verifier_symbol(bin: &Path) -> String {
    use object::{Object as _, ObjectSymbol as _};
    let data = std::fs::read(bin).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let names: Vec<String> = file
        .symbols()
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .filter(|n| {
            let d = format!("{:#}", rustc_demangle::demangle(n));
            d.starts_with("<keypin::verify::PinningVerifier as ")
                && d.ends_with(">::verify_server_cert")
        })
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    names[0].clone()
}

#[test]
fn debugger_breakpoint_in_verifier_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("keypin");
    let json = dir.path().join("report.json");
    // gdb inserts the breakpoint when the program starts and keeps it while it runs: the scan
    // runs with an int3 inside the verifier's handshake entry point, which it never calls.
    let out = Command::new("gdb")
        .args(["-nx", "-batch", "-ex", "set disable-randomization off"])
        .args(["-ex", &format!("break {}", verifier_symbol(&bin))])
        .args([
            "-ex",
            &format!("run shield scan --json > {}", json.display()),
        ])
        .arg(&bin)
        .current_dir(dir.path())
        .output()
        .expect("gdb (installed by .ci/run)");
    let gdb =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(gdb.contains("Breakpoint 1 at"), "{gdb}");
    assert!(gdb.contains("exited with code 01"), "{gdb}");
    let r = report(&std::fs::read(&json).unwrap());
    let tracer = finding(&r, "SH001");
    assert!(
        tracer["evidence"]["detail"]
            .as_str()
            .unwrap()
            .contains("gdb"),
        "{tracer:#}"
    );
    let bp = finding(&r, "SH008");
    let function = bp["evidence"]["function"].as_str().unwrap();
    assert!(
        function.contains("PinningVerifier") && function.contains("verify_server_cert"),
        "{bp:#}"
    );
    assert!(
        bp["evidence"]["detail"]
            .as_str()
            .unwrap()
            .contains("memory cc"),
        "{bp:#}"
    );
}

#[test]
fn ld_preload_of_frida_agent_is_found() {
    let _port = port_lock();
    let dir = tempfile::tempdir().unwrap();
    let so = shared_library(
        dir.path(),
        "frida-agent-64.so",
        "int frida_agent_main(void) { return 0; }\n",
    );
    let (code, r) = scan_preloaded(dir.path(), &so, &[]);
    assert_eq!(code, Some(1));
    let lib = finding(&r, "SH002");
    assert_eq!(lib["evidence"]["path"], so.to_str().unwrap());
    assert!(
        finding(&r, "SH006")["evidence"]["detail"]
            .as_str()
            .unwrap()
            .contains("frida-agent-64.so")
    );
    assert_eq!(finding(&r, "SH002")["severity"], "high");
    assert!(
        !ids(&r).contains(&"SH007".to_owned()),
        "one finding for the library: {r:#}"
    );
}

#[test]
fn thread_named_like_frida_is_found() {
    let _port = port_lock();
    let dir = tempfile::tempdir().unwrap();
    // Not named like Frida: only its thread is.
    let so = shared_library(
        dir.path(),
        "libquiet.so",
        r#"#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>
static void *loop(void *arg) { (void)arg; for (;;) pause(); return 0; }
__attribute__((constructor)) static void start(void) {
    pthread_t t;
    if (pthread_create(&t, 0, loop, 0) == 0) pthread_setname_np(t, "gum-js-loop");
}
"#,
    );
    let (code, r) = scan_preloaded(dir.path(), &so, &[]);
    assert_eq!(code, Some(1));
    let thread = finding(&r, "SH004");
    assert!(
        thread["evidence"]["detail"]
            .as_str()
            .unwrap()
            .contains("gum-js-loop"),
        "{thread:#}"
    );
    assert!(!ids(&r).contains(&"SH002".to_owned()), "{r:#}");
    // From a temporary directory: not where libraries come from.
    assert_eq!(
        finding(&r, "SH007")["evidence"]["path"],
        so.to_str().unwrap()
    );
}

#[test]
fn frida_server_port_listener_is_found() {
    let _port = port_lock();
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:27042").unwrap();
    let out = keypin(dir.path())
        .args(["shield", "scan"])
        .output()
        .unwrap();
    drop(listener);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SH005 medium: a listener on frida-server's port"),
        "{text}"
    );
    assert!(text.contains("listening socket 127.0.0.1:27042"), "{text}");
}

#[test]
fn allow_dir_accepts_a_library_directory() {
    let _port = port_lock();
    let dir = tempfile::tempdir().unwrap();
    let so = shared_library(
        dir.path(),
        "libplugin.so",
        "int plugin(void) { return 1; }\n",
    );
    let (_, r) = scan_preloaded(
        dir.path(),
        &so,
        &["--allow-dir", dir.path().to_str().unwrap()],
    );
    // The preload itself is still a finding; where it came from no longer is.
    assert_eq!(ids(&r), vec!["SH006".to_owned()]);
}
