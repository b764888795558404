//! Shared by the `keypin bundle` integration tests: running the binary, a 2-of-3 signing setup,
//! `bundle sign` and `bundle serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod collector;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;

/// `keypin` run in `dir`.
pub fn keypin(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("keypin").unwrap();
    cmd.current_dir(dir);
    cmd
}

/// Runs `keypin ARGS` in `dir`, asserts success and returns its stdout.
pub fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = keypin(dir).args(args).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// Three keys (`k1`..`k3`) and a 2-of-3 root (`root.json`) signed by k1 and k2.
pub fn keys_and_root(d: &Path) {
    for k in ["k1", "k2", "k3"] {
        run_ok(d, &["bundle", "keygen", "--out", k]);
    }
    run_ok(
        d,
        &[
            "bundle",
            "root",
            "--key",
            "k1.pub",
            "--key",
            "k2.pub",
            "--key",
            "k3.pub",
            "--threshold",
            "2",
            "--expires",
            "2099-01-01",
            "--sign-with",
            "k1",
            "--sign-with",
            "k2",
            "--out",
            "root.json",
        ],
    );
}

/// `keypin bundle sign POLICY` for com.example.app/production, expiring 2099-01-01.
pub fn sign_cmd(
    d: &Path,
    policy: &str,
    root: &str,
    version: &str,
    out: &str,
    keys: &[&str],
) -> Command {
    let mut cmd = keypin(d);
    cmd.args([
        "bundle",
        "sign",
        policy,
        "--root",
        root,
        "--app-id",
        "com.example.app",
        "--env",
        "production",
        "--version",
        version,
        "--expires",
        "2099-01-01",
        "--out",
        out,
    ]);
    for k in keys {
        cmd.args(["--key", k]);
    }
    cmd
}

/// A running `keypin bundle serve`, killed on drop.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `keypin bundle serve DIR --listen 127.0.0.1:0`; returns it with the line it printed.
pub fn serve(dir: &Path) -> (Server, String) {
    let mut child = Process::new(cargo_bin("keypin"))
        .args(["bundle", "serve", ".", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Server(child), line)
}
