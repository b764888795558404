//! Shared by the tests that run `keypin collector serve` as a process: start it on a free
//! loopback port, query it with the bearer token, and render its dashboard in headless
//! chromium. Included with `#[path = "common/collector.rs"] mod collector;`.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bearer token the collector is started with.
pub const TOKEN: &str = "cli-test-token-0123456789";

/// A loopback port nobody listens on (for a moment).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `keypin collector serve --db DB` on `127.0.0.1:PORT` and waits until it listens.
pub fn start(db: &Path, port: u16) -> Child {
    let child = Command::new(assert_cmd::cargo::cargo_bin("keypin"))
        .args([
            "collector",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--token",
            TOKEN,
        ])
        .arg("--db")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "collector did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `GET PATH` with the bearer token; returns (status line, body).
pub fn get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The chromium binary, if installed. In CI (which installs it) a missing one fails the test.
pub fn chromium(test: &str) -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(std::env::var("CI").is_err(), "chromium is required in CI");
        eprintln!("SKIPPED: {test} (chromium not installed)");
    }
    found
}

/// Logs in to the dashboard on `port` with the token in headless `chromium` and returns the
/// rendered DOM.
pub fn dashboard_dom(chromium: &str, profile: &Path, port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/login?token={TOKEN}");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
