//! The dashboard in Debian's headless chromium: each page is opened after a real login (the
//! token POSTed in a form body; the collector refuses it in a URL), its DOM read back, and a
//! screenshot saved under `target/screenshots/`. With `KEYPIN_SCREENSHOTS=docs` the screenshots
//! also replace the committed ones in `docs/screenshots/` (the README shows those):
//!
//! ```text
//! KEYPIN_SCREENSHOTS=docs cargo test -p keypin-collector --test integration browser::
//! ```
//!
//! Without chromium the tests say SKIPPED, outside CI; in CI (which installs it) they fail.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::dashboard::{TOKEN, get, start_fleet};

/// The chromium binary, if installed.
fn chromium(test: &str) -> Option<&'static str> {
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

/// Where screenshots go: `target/screenshots` of this workspace.
fn screenshot_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Logs in on `port` and opens `path` in headless chromium; returns the DOM, and saves a
/// screenshot as `NAME.png` (copied to docs/screenshots with `KEYPIN_SCREENSHOTS=docs`).
///
/// `--dump-dom` cannot type into a page, so the login form comes from a helper page on another
/// loopback port: the same site as the collector (a site is scheme and host, not port), so the
/// `SameSite=Strict` session cookie the login sets is kept and sent on the redirect to `path`
/// (the form's `next`).
fn open(chromium: &str, port: u16, path: &str, name: &str) -> String {
    let helper = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let helper_port = helper.local_addr().unwrap().port();
    helper.set_nonblocking(true).unwrap();
    let page = format!(
        "<!doctype html><form method=\"post\" action=\"http://127.0.0.1:{port}/login\">\
<input name=\"token\" value=\"{TOKEN}\"><input name=\"next\" value=\"{}\"></form>\
<script>document.forms[0].submit()</script>",
        path.replace('&', "&amp;").replace('"', "&quot;")
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
    let shot = screenshot_dir().join(format!("{name}.png"));
    // Headless chromium now and then never finishes a run; one more try then.
    let mut dom = None;
    // One browser at a time: the tests run in parallel on a small machine.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..3 {
        let _ = std::fs::remove_file(&shot);
        dom = run_chromium(chromium, helper_port, &shot);
        if dom.is_some() {
            break;
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    serving.join().unwrap();
    let dom = dom.expect("chromium finished none of 3 tries within 30 s");
    assert!(shot.is_file(), "no screenshot from chromium");
    if std::env::var("KEYPIN_SCREENSHOTS").as_deref() == Ok("docs") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&shot, docs.join(format!("collector-{name}.png"))).unwrap();
    }
    dom
}

/// One chromium run on the helper page: the DOM, or `None` when it has not finished within
/// 30 s (then it is killed).
fn run_chromium(chromium: &str, helper_port: u16, shot: &Path) -> Option<String> {
    let profile = tempfile::TempDir::new().unwrap();
    let dom = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,900",
            // Let the login, the navigation and the rendering finish first.
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .args([
            "--dump-dom",
            &format!("http://127.0.0.1:{helper_port}/login.html"),
        ])
        .stdout(dom.reopen().unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(std::fs::read_to_string(dom.path()).unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The host cells of the newest-reports table.
fn listed_hosts(dom: &str) -> Vec<&str> {
    dom.split("<td class=\"rhost\">")
        .skip(1)
        .filter_map(|c| c.split('>').nth(1)?.split('<').next())
        .collect()
}

#[test]
fn overview_renders_every_panel_in_headless_chromium() {
    let Some(chromium) = chromium("overview_renders_every_panel_in_headless_chromium") else {
        return;
    };
    let (served, _store, _) = start_fleet();
    let dom = open(chromium, served.addr.port(), "/", "overview");
    assert!(dom.contains("3 host(s) with pin-failure reports"), "{dom}");
    assert!(dom.contains("<h2 class=\"hostname\">api.bank.test</h2>"));
    // The hint, both breakdowns and the key table with its versions.
    assert!(dom.contains("most likely a certificate rotation"), "{dom}");
    assert!(dom.contains("looks like interception"), "{dom}");
    assert!(dom.contains("<table class=\"by-version\">"));
    assert!(dom.contains("<table class=\"by-platform\">"));
    assert!(
        dom.contains("<td class=\"versions\">4.1.0, 4.2.0</td>"),
        "{dom}"
    );
    // The page says how it placed reports in time.
    assert!(dom.contains("here 120 by their own time"), "{dom}");
    // The hostile host is text.
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;.test"));
    assert!(!dom.contains("<img src=x"));
    let hosts = listed_hosts(&dom);
    assert!(hosts.contains(&"api.bank.test") && hosts.contains(&"cdn.bank.test"));
}

#[test]
fn filter_by_host_removes_the_other_hosts_rows_in_headless_chromium() {
    let Some(chromium) =
        chromium("filter_by_host_removes_the_other_hosts_rows_in_headless_chromium")
    else {
        return;
    };
    let (served, _store, _) = start_fleet();
    let dom = open(
        chromium,
        served.addr.port(),
        "/?host=cdn.bank.test&platform=ANDROID",
        "filtered",
    );
    assert!(dom.contains("1 host(s) with pin-failure reports"), "{dom}");
    assert!(dom.contains("<h2 class=\"hostname\">cdn.bank.test</h2>"));
    assert!(!dom.contains("api.bank.test"), "{dom}");
    let hosts = listed_hosts(&dom);
    assert_eq!(hosts.len(), 18);
    assert!(hosts.iter().all(|h| *h == "cdn.bank.test"));
    // The form shows the filter; the download links carry it.
    assert!(dom.contains("name=\"host\" value=\"cdn.bank.test\""));
    assert!(dom.contains("href=\"/v1/reports.csv?since="));
    assert!(
        dom.contains("&amp;host=cdn.bank.test&amp;platform=ANDROID\""),
        "{dom}"
    );
}

#[test]
fn report_page_shows_every_field_in_headless_chromium() {
    let Some(chromium) = chromium("report_page_shows_every_field_in_headless_chromium") else {
        return;
    };
    let (served, _store, _) = start_fleet();
    // The newest api.bank.test report on 4.1.0, found through the download.
    let (_, _, body) = get(
        served.addr,
        "/v1/reports.json?host=api.bank.test&version=4.1.0",
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = v["reports"][0]["id"].as_i64().unwrap();
    let dom = open(
        chromium,
        served.addr.port(),
        &format!("/reports/{id}"),
        "report",
    );
    assert!(dom.contains(&format!("<h1>Report {id}</h1>")), "{dom}");
    for (field, value) in [
        ("host", "api.bank.test"),
        ("version", "4.1.0"),
        ("platform", "IOS"),
        ("kind", "trustkit"),
        ("pin", crate::dashboard::pin(1).as_str()),
        ("charted", "the report's own time"),
    ] {
        assert!(
            dom.contains(&format!("<td id=\"f-{field}\">{value}</td>")),
            "{field}: {dom}"
        );
    }
    assert!(dom.contains("\"app-version\": \"4.1.0\""), "{dom}");
}
