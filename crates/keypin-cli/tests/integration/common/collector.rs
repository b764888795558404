//! Shared by the tests that run `keypin collector serve` as a process: start it on a free
//! loopback port, query it with the bearer token, and render its dashboard in headless
//! chromium. `common::collector`.

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

/// `POST /v1/reports` with `body`; returns the whole response.
pub fn post(port: u16, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /v1/reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
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

/// Logs in to the dashboard on `port` with the token in headless `chromium`, the way a person
/// does (a form POSTing the token in the body; the collector refuses it in a URL), and returns
/// the rendered DOM.
///
/// `--dump-dom` cannot type into a page, so the form comes from a helper page on another
/// loopback port: the same site as the collector (a site is scheme and host, not port), so the
/// `SameSite=Strict` session cookie the login sets is sent on the redirect to the dashboard, as
/// it is after a login on the collector's own page. From another site it would not be.
pub fn dashboard_dom(chromium: &str, profile: &Path, port: u16) -> String {
    let helper = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let helper_port = helper.local_addr().unwrap().port();
    helper.set_nonblocking(true).unwrap();
    let page = format!(
        "<!doctype html><form method=\"post\" action=\"http://127.0.0.1:{port}/login\">\
<input name=\"token\" value=\"{TOKEN}\"></form><script>document.forms[0].submit()</script>"
    );
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let serving = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((mut s, _)) = helper.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = [0u8; 4096];
                let _ = s.read(&mut head);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
            }
        })
    };
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
            // Let the form's navigation and the redirect finish before the DOM is dumped.
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([
            "--dump-dom",
            &format!("http://127.0.0.1:{helper_port}/login.html"),
        ])
        .output()
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    serving.join().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
