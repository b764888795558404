//! `keypin_shield::harden`: after it, a debugger running as the same user cannot attach.
//!
//! The work runs in a child process (this test binary again, one ignored test), as `nobody`
//! when the tests run as root (root may attach to anything), so that the parent's threads
//! and the other tests are not made non-dumpable.

use std::process::Command;

const CHILD: &str = "KEYPIN_SHIELD_HARDEN_CHILD";

/// gdb attaching to this process: `Ok` when it attached, `Err(gdb's words)` when it could not.
fn gdb_attach() -> Result<(), String> {
    let out = Command::new("gdb")
        .args(["-batch", "-nx", "-ex", "info inferiors", "-p"])
        .arg(std::process::id().to_string())
        .output()
        .expect("gdb (installed by .ci/run)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if text.contains("ptrace:") || text.contains("Could not attach") {
        Err(text)
    } else if text.contains("process ") && text.contains("Detaching")
        || text.contains("[Inferior 1 (process")
    {
        Ok(())
    } else {
        Err(format!("unclear gdb output: {text}"))
    }
}

#[test]
#[ignore = "run in a child process by a_same_user_debugger_cannot_attach_after_harden"]
fn harden_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    println!("before-attach: {:?}", gdb_attach().map_err(|_| "denied"));
    let mut shield = keypin_shield::Shield::new();
    shield
        .guard(
            "pin_check_stand_in",
            crate::scan::pin_check_stand_in as *const (),
        )
        .unwrap();
    println!("dumpable-before: {}", keypin_shield::is_dumpable().unwrap());
    keypin_shield::harden().unwrap();
    println!("dumpable-after: {}", keypin_shield::is_dumpable().unwrap());
    let report = shield.scan().unwrap();
    let ids: Vec<&str> = report.findings.iter().map(|f| f.id.id()).collect();
    println!("scan-after: {ids:?} {:?}", report.findings);
    assert!(report.checks.contains(&keypin_shield::Check::PatchedCode));
    match gdb_attach() {
        Ok(()) => println!("after-attach: attached"),
        Err(text) => println!("after-attach: denied {}", text.replace('\n', " ")),
    }
}

#[test]
fn a_same_user_debugger_cannot_attach_after_harden() {
    let exe = std::env::current_exe().unwrap();
    let root = rustix::process::geteuid().is_root();
    // nobody may not reach the target directory (a checkout under /root): run a copy from a
    // directory anyone can read.
    let copy_dir = tempfile::tempdir().unwrap();
    let mut cmd = if root {
        use std::os::unix::fs::PermissionsExt as _;
        let copy = copy_dir.path().join("harden-child");
        std::fs::copy(&exe, &copy).unwrap();
        for path in [copy_dir.path(), copy.as_path()] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .args([
            "--exact",
            "harden::harden_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // Without harden the same user attaches (so the refusal below is harden's doing) ...
    assert!(text.contains("before-attach: Ok(())"), "{text}");
    assert!(text.contains("dumpable-before: true"), "{text}");
    // ... and with it, the kernel says no.
    assert!(text.contains("dumpable-after: false"), "{text}");
    assert!(text.contains("after-attach: denied"), "{text}");
    assert!(text.contains("Operation not permitted"), "{text}");
    // Guarded code is still read (through the /proc/self/mem kept open by guard), so the
    // hardened process scans clean rather than reporting SH010.
    assert!(text.contains("scan-after: [] "), "{text}");
}
