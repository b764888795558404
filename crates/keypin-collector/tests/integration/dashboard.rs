//! The dashboard's filters, panels, report page and downloads: the store's queries on both
//! backends, the HTTP surface, and the pages as headless chromium renders them (with a
//! screenshot of each, see `browser`).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use keypin::pin::Pin;
use keypin_collector::report::{Dialect, NewReport};
use keypin_collector::store::dash::{Filter, event_time, newest_floor, overview};
use keypin_collector::{Settings, Store};

use crate::backend::{Backend, serve};

pub const TOKEN: &str = "dash-token-0123456789";

pub fn pin(n: u8) -> String {
    Pin::from_spki_der(&[n; 16]).to_string()
}

/// One report as the collector stores it.
#[allow(clippy::too_many_arguments)]
pub fn report(
    host: &str,
    version: &str,
    platform: &str,
    kind: Dialect,
    pin: Option<String>,
    network: &str,
    reported_at: Option<i64>,
) -> NewReport {
    NewReport {
        reported_at,
        host: host.into(),
        port: Some(443),
        dialect: kind,
        served_leaf_pin: pin,
        client_network: network.into(),
        app_bundle_id: Some("com.bank.app".into()),
        app_version: Some(version.into()),
        app_platform: Some(platform.into()),
        failure: Some("pin-mismatch".into()),
        runtime_findings: None,
        body:
            serde_json::json!({"hostname": host, "app-version": version, "app-platform": platform})
                .to_string(),
    }
}

/// A small fleet over the 14 days ending at `now`:
/// - api.bank.test: the old key from 12 networks on 4.1.0 and 4.2.0, iOS and Android, days
///   12 to 3 ago (TrustKit, own times plausible); then a new key (a rotation) from 20 networks
///   on 4.2.0, the last 3 days (keypin, no date-time: placed by receipt).
/// - cdn.bank.test: a rogue key from one network, Android 4.2.0, the last 3 days, with a
///   date-time a month off (implausible: placed by receipt).
/// - a hostile host whose app version is a spreadsheet formula.
///
/// Returns how many reports went in per host.
pub fn fleet(store: &dyn Store, now: i64) -> [(String, usize); 3] {
    let day = 86_400;
    let mut api = 0;
    for d in 3..=12 {
        let received = now - d * day;
        let batch: Vec<NewReport> = (0..12)
            .map(|i| {
                let (v, p) = if i % 3 == 0 {
                    ("4.1.0", "IOS")
                } else {
                    ("4.2.0", if i % 2 == 0 { "IOS" } else { "ANDROID" })
                };
                let r = report(
                    "api.bank.test",
                    v,
                    p,
                    Dialect::Trustkit,
                    Some(pin(1)),
                    &format!("198.51.{i}.0/24"),
                    Some(received - 600),
                );
                api += 1;
                r
            })
            .collect();
        store.insert(received, batch).unwrap();
    }
    for d in 0..3 {
        let received = now - d * day - 60;
        let batch: Vec<NewReport> = (0..40 + d as usize * 5)
            .map(|i| {
                api += 1;
                report(
                    "api.bank.test",
                    "4.2.0",
                    if i % 2 == 0 { "IOS" } else { "ANDROID" },
                    Dialect::Keypin,
                    Some(pin(2)),
                    &format!("203.0.{}.0/24", i % 20),
                    None,
                )
            })
            .collect();
        store.insert(received, batch).unwrap();
    }
    let mut cdn = 0;
    for d in 0..3 {
        let received = now - d * day - 120;
        let batch: Vec<NewReport> = (0..6)
            .map(|i| {
                cdn += 1;
                let mut r = report(
                    "cdn.bank.test",
                    "4.2.0",
                    "ANDROID",
                    Dialect::Keypin,
                    Some(pin(9)),
                    "192.0.2.0/24",
                    Some(received - 30 * day),
                );
                // One a day from a process with Frida loaded.
                if i == 0 {
                    r.runtime_findings = Some(1);
                    r.body = serde_json::json!({
                        "hostname": "cdn.bank.test", "app-version": "4.2.0",
                        "runtime-findings": [{"id": "SH002", "severity": "high",
                            "evidence": "<script>/tmp/frida-agent-64.so"}],
                    })
                    .to_string();
                }
                r
            })
            .collect();
        store.insert(received, batch).unwrap();
    }
    let hostile = "<img src=x onerror=alert(1)>.test";
    store
        .insert(
            now - 30,
            vec![report(
                hostile,
                "=HYPERLINK(\"http://evil.test\",\"x\")",
                "IOS",
                Dialect::Hpkp,
                None,
                "192.0.2.0/24",
                None,
            )],
        )
        .unwrap();
    [
        ("api.bank.test".into(), api),
        ("cdn.bank.test".into(), cdn),
        (hostile.into(), 1),
    ]
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn overview_panels_follow_every_filter(backend: Backend) {
    let opened = backend.open();
    let store = opened.store.as_ref();
    let t = now();
    let counts = fleet(store, t);
    let all = Filter::last_days(t, 14);
    let networks = |k: &[(String, String)]| store.key_networks(k);
    let ov = overview(&store.rollup(&all).unwrap(), &all, networks).unwrap();
    assert_eq!(ov.hosts_total, 3);
    // One cdn.bank.test report a day came from an instrumented process.
    assert_eq!(ov.instrumented, 3);
    assert_eq!(
        ov.reports as usize,
        counts.iter().map(|(_, n)| n).sum::<usize>()
    );
    let api = ov.hosts.iter().find(|h| h.host == "api.bank.test").unwrap();
    assert_eq!(api.reports as usize, counts[0].1);
    // The served-key table: the old key on both versions, the new one on 4.2.0 only; networks.
    let old = api.keys.iter().find(|k| k.pin == pin(1)).unwrap();
    let new = api.keys.iter().find(|k| k.pin == pin(2)).unwrap();
    assert_eq!(old.versions, ["4.1.0", "4.2.0"]);
    assert_eq!(new.versions, ["4.2.0"]);
    assert_eq!((old.count, old.networks), (120, 12));
    assert_eq!((new.count, new.networks), (135, 20));
    assert!(old.first_seen < old.last_seen && old.last_seen < new.first_seen);
    // Breakdowns by version and platform add up to the host's reports.
    assert_eq!(api.by_version.iter().map(|v| v.1).sum::<i64>(), api.reports);
    assert_eq!(api.by_version[0], ("4.2.0".to_string(), 215));
    assert_eq!(
        api.by_platform.iter().map(|v| v.1).sum::<i64>(),
        api.reports
    );

    // Each filter alone narrows every panel and the report list alike.
    let cases: [(Filter, i64); 5] = [
        (
            Filter {
                host: Some("cdn.bank.test".into()),
                ..all.clone()
            },
            18,
        ),
        (
            Filter {
                app_version: Some("4.1.0".into()),
                ..all.clone()
            },
            40,
        ),
        (
            Filter {
                platform: Some("ANDROID".into()),
                ..all.clone()
            },
            0, // counted below
        ),
        (
            Filter {
                kind: Some("trustkit".into()),
                ..all.clone()
            },
            120,
        ),
        (Filter::last_days(t, 3), 0),
    ];
    for (f, expected) in cases {
        let rows = store.rollup(&f).unwrap();
        let ov = overview(&rows, &f, networks).unwrap();
        let newest = store
            .newest(&f, newest_floor(&rows, &f, 1000), 1000)
            .unwrap();
        assert_eq!(newest.len() as i64, ov.reports, "{f:?}");
        if expected > 0 {
            assert_eq!(ov.reports, expected, "{f:?}");
        }
        for r in &newest {
            assert!(f.host.as_ref().is_none_or(|h| &r.host == h), "{f:?}");
            assert!(
                f.app_version
                    .as_ref()
                    .is_none_or(|v| r.app_version.as_ref() == Some(v))
            );
            assert!(
                f.platform
                    .as_ref()
                    .is_none_or(|v| r.app_platform.as_ref() == Some(v))
            );
            assert!(f.kind.as_ref().is_none_or(|k| &r.kind == k));
            assert!(r.event_at >= f.from_day && r.event_at < f.end(), "{f:?}");
        }
        for h in &ov.hosts {
            let listed = newest.iter().filter(|r| r.host == h.host).count();
            assert_eq!(listed as i64, h.reports, "{f:?} {}", h.host);
        }
    }
    // Newest first, and one report by id with every field.
    let newest = store.newest(&all, all.from_day, 5).unwrap();
    assert!(newest.windows(2).all(|w| w[0].event_at >= w[1].event_at));
    let one = store.report(newest[0].id).unwrap().unwrap();
    assert_eq!(one.host, newest[0].host);
    assert_eq!(one.app_bundle_id.as_deref(), Some("com.bank.app"));
    assert!(store.report(i64::MAX).unwrap().is_none());
}

fn charts_use_the_reports_own_time_only_when_plausible(backend: Backend) {
    let opened = backend.open();
    let store = opened.store.as_ref();
    let t = now();
    let counts = fleet(store, t);
    let all = Filter::last_days(t, 14);
    let ov = overview(&store.rollup(&all).unwrap(), &all, |h| {
        store.key_networks(h)
    })
    .unwrap();
    // Own time: the TrustKit reports (10 minutes before receipt). Receipt: no date-time, or a
    // month off.
    assert_eq!(ov.reports - ov.by_receipt, 120);
    assert_eq!(
        ov.by_receipt as usize,
        counts.iter().map(|(_, n)| n).sum::<usize>() - 120
    );
    let newest = store.newest(&all, all.from_day, 10_000).unwrap();
    for r in newest {
        assert_eq!(r.event_at, event_time(r.received_at, r.reported_at).0);
    }
    // A chart day holds the reports whose event time falls in it.
    let cdn = ov.hosts.iter().find(|h| h.host == "cdn.bank.test").unwrap();
    assert_eq!(cdn.per_day.len(), 14);
    assert_eq!(cdn.per_day.iter().map(|d| d.1 + d.2).sum::<i64>(), 18);
    assert!(cdn.per_day.iter().all(|d| d.1 == 0), "all by receipt");
}

fn retention_keeps_the_rollups_equal_to_the_reports(backend: Backend) {
    let opened = backend.open();
    let store = opened.store.as_ref();
    let t = now();
    fleet(store, t);
    // A cut in the middle of a day: that day's roll-up is recomputed from what is left.
    let cutoff = t - 5 * 86_400 - 3_600;
    let deleted = store.delete_before(cutoff).unwrap();
    assert!(deleted > 0);
    let all = Filter::last_days(t, 30);
    let rows = store.rollup(&all).unwrap();
    let ov = overview(&rows, &all, |h| store.key_networks(h)).unwrap();
    assert_eq!(ov.reports, store.count().unwrap());
    let newest = store.newest(&all, all.from_day, 10_000).unwrap();
    assert_eq!(newest.len() as i64, ov.reports);
    assert!(newest.iter().all(|r| r.received_at >= cutoff));
    // The roll-up by kind (read with a kind filter) agrees with the one over kinds.
    let by_kind: i64 = ["keypin", "trustkit", "hpkp"]
        .into_iter()
        .map(|k| {
            let f = Filter {
                kind: Some(k.into()),
                ..all.clone()
            };
            store.rollup(&f).unwrap().iter().map(|r| r.n).sum::<i64>()
        })
        .sum();
    assert_eq!(by_kind, ov.reports);
}

/// Two reports in one commit whose app versions differ only by NUL against U+FFFD (which
/// PostgreSQL stores NUL as) must not fail the commit, other senders' reports with it.
fn nul_and_its_replacement_in_one_commit_do_not_fail_it(backend: Backend) {
    let opened = backend.open();
    let store = opened.store.as_ref();
    let t = now();
    let two = ["4.0\u{0}", "4.0\u{FFFD}"].map(|v| {
        report(
            "api.bank.test",
            v,
            "IOS",
            Dialect::Keypin,
            Some(pin(1)),
            "192.0.2.0/24",
            None,
        )
    });
    store.insert(t, two.to_vec()).unwrap();
    assert_eq!(store.count().unwrap(), 2);
    let f = Filter::last_days(t, 1);
    assert_eq!(
        store.rollup(&f).unwrap().iter().map(|r| r.n).sum::<i64>(),
        2
    );
}

/// Filter values that would change a query built by concatenation match nothing: they are
/// bound as values.
fn sql_injection_in_filters_matches_nothing(backend: Backend) {
    let opened = backend.open();
    let t = now();
    fleet(opened.store.as_ref(), t);
    let served = serve(opened.store.clone(), Settings::new(TOKEN));
    for param in ["host", "version", "platform"] {
        for attack in [
            "x' OR '1'='1",
            "x\" OR \"1\"=\"1",
            "x'; DROP TABLE reports; --",
            "x' UNION SELECT * FROM report_days --",
        ] {
            let q = format!(
                "{param}={}",
                keypin_collector::dashboard::filter::encode(attack)
            );
            let (status, head, body) = get(served.addr, &format!("/v1/reports.json?{q}"), true);
            assert_eq!(status, 200, "{q}: {body}");
            let v: serde_json::Value = serde_json::from_str(&dechunk(&head, &body)).unwrap();
            assert_eq!(v["reports"].as_array().unwrap().len(), 0, "{q}");
            let (status, _, page) = get(served.addr, &format!("/?{q}"), true);
            assert_eq!(status, 200, "{q}");
            assert!(page.contains("0 host(s) with pin-failure reports"), "{q}");
        }
    }
    assert!(opened.store.count().unwrap() > 0);
}

/// Markup in a report's fields is text on every page: the overview, the host view, the report.
fn html_injection_in_report_fields_is_escaped_on_every_page(backend: Backend) {
    let opened = backend.open();
    let t = now();
    let [_, _, (hostile, _)] = fleet(opened.store.as_ref(), t);
    let served = serve(opened.store.clone(), Settings::new(TOKEN));
    let host_q = keypin_collector::dashboard::filter::encode(&hostile);
    let (_, head, body) = get(
        served.addr,
        &format!("/v1/reports.json?host={host_q}"),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&dechunk(&head, &body)).unwrap();
    let id = v["reports"][0]["id"].as_i64().unwrap();
    for path in [
        "/".to_string(),
        format!("/?host={host_q}"),
        format!("/reports/{id}"),
    ] {
        let (status, _, page) = get(served.addr, &path, true);
        assert_eq!(status, 200, "{path}");
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;.test"),
            "{path}"
        );
        assert!(!page.contains("<img"), "{path}");
    }
}

/// A key's distinct networks are counted up to the cap, so the count costs the same however
/// many networks a fleet has; the page says "over".
fn network_counts_stop_at_the_cap(backend: Backend) {
    use keypin_collector::store::dash::NETWORKS_CAP;
    let opened = backend.open();
    let store = opened.store.as_ref();
    let t = now();
    let n = NETWORKS_CAP as usize + 5;
    let many: Vec<NewReport> = (0..n)
        .map(|i| {
            report(
                "wide.bank.test",
                "5.0.0",
                "IOS",
                Dialect::Keypin,
                Some(pin(3)),
                &format!("10.{}.{}.0/24", i / 256, i % 256),
                None,
            )
        })
        .collect();
    store.insert(t, many).unwrap();
    let f = Filter::last_days(t, 1);
    let ov = overview(&store.rollup(&f).unwrap(), &f, |k| store.key_networks(k)).unwrap();
    let key = &ov.hosts[0].keys[0];
    assert_eq!((key.count, key.networks), (n as i64, NETWORKS_CAP + 1));
    let served = serve(opened.store.clone(), Settings::new(TOKEN));
    let (_, _, page) = get(served.addr, "/", true);
    assert!(
        page.contains(&format!("<td>over {NETWORKS_CAP}</td>")),
        "{page}"
    );
}

on_both_backends!(
    nul_and_its_replacement_in_one_commit_do_not_fail_it,
    network_counts_stop_at_the_cap,
    sql_injection_in_filters_matches_nothing,
    html_injection_in_report_fields_is_escaped_on_every_page,
    overview_panels_follow_every_filter,
    charts_use_the_reports_own_time_only_when_plausible,
    retention_keeps_the_rollups_equal_to_the_reports,
    downloads_follow_the_filters_and_defuse_formulas,
);

/// `GET path` with the bearer token (or none); returns (status, head, body).
pub fn get(addr: SocketAddr, path: &str, token: bool) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = if token {
        format!("Authorization: Bearer {TOKEN}\r\n")
    } else {
        String::new()
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A chunked body, joined (the downloads are sent in one piece, but let hyper choose).
fn dechunk(head: &str, body: &str) -> String {
    if !head.contains("transfer-encoding: chunked") {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

fn downloads_follow_the_filters_and_defuse_formulas(backend: Backend) {
    let opened = backend.open();
    let t = now();
    fleet(opened.store.as_ref(), t);
    let served = serve(opened.store.clone(), Settings::new(TOKEN));
    let (status, head, body) = get(served.addr, "/v1/reports.csv?host=cdn.bank.test", true);
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("content-type: text/csv"), "{head}");
    assert!(head.contains("x-keypin-truncated: false"), "{head}");
    let csv = dechunk(&head, &body);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,received_at,reported_at,event_at,charted_by,host"));
    assert_eq!(lines.len(), 1 + 18, "{csv}");
    assert!(lines[1..].iter().all(|l| l.contains(",cdn.bank.test,")));
    assert!(lines[1..].iter().all(|l| l.contains(",receipt,")));

    // The hostile row: the formula starts with a quote, the cell is quoted, quotes doubled.
    let (_, head, body) = get(served.addr, "/v1/reports.csv?platform=IOS&kind=hpkp", true);
    let csv = dechunk(&head, &body);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.contains(",\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\",IOS\r\n"),
        "{csv}"
    );

    let (status, head, body) = get(
        served.addr,
        "/v1/reports.json?host=api.bank.test&version=4.1.0",
        true,
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&dechunk(&head, &body)).unwrap();
    assert_eq!(v["truncated"], false);
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 40);
    assert!(reports.iter().all(|r| r["app_version"] == "4.1.0"
        && r["host"] == "api.bank.test"
        && r["report"]["app-version"] == "4.1.0"));

    // Without the token: refused. A bad filter: 400 naming the parameter.
    assert_eq!(get(served.addr, "/v1/reports.csv", false).0, 401);
    let (status, _, body) = get(served.addr, "/v1/reports.csv?since=soon", true);
    assert_eq!(status, 400);
    assert!(body.contains("since=\\\"soon\\\""), "{body}");
    let (status, _, body) = get(served.addr, "/?kind=smtp", true);
    assert_eq!(status, 400);
    assert!(body.contains("kind=\"smtp\""), "{body}");
    assert_eq!(get(served.addr, "/reports/999999999", true).0, 404);
    assert_eq!(get(served.addr, "/reports/1", false).0, 303);
}

/// A collector on SQLite serving the fleet; the store's owner; now.
pub fn start_fleet() -> (crate::backend::Served, crate::backend::Opened, i64) {
    let opened = Backend::Sqlite.open();
    let t = now();
    fleet(opened.store.as_ref(), t);
    let served = serve(opened.store.clone(), Settings::new(TOKEN));
    (served, opened, t)
}

/// `POST /login` with the token and `next`; returns the status and the `Location` header.
fn login_to(addr: SocketAddr, next: &str) -> (u16, String) {
    let body = format!(
        "token={TOKEN}&next={}",
        keypin_collector::dashboard::filter::encode(next)
    );
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let location = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .unwrap_or("")
        .to_string();
    (out[9..12].parse().unwrap(), location)
}

#[test]
fn open_redirect_through_the_login_next_is_refused() {
    let (served, _opened, _) = start_fleet();
    for (next, expected) in [
        ("/reports/1", "/reports/1"),
        (
            "/?host=cdn.bank.test&kind=keypin",
            "/?host=cdn.bank.test&kind=keypin",
        ),
        ("//evil.test/", "/"),
        ("/\\evil.test", "/"),
        ("https://evil.test/", "/"),
        ("evil.test", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        let (status, location) = login_to(served.addr, next);
        assert_eq!(status, 303, "{next:?}");
        assert_eq!(location, expected, "{next:?}");
        // The login page carries only a local `next`, escaped.
        let q = keypin_collector::dashboard::filter::encode(next);
        let (status, _, page) = get(served.addr, &format!("/login?next={q}"), false);
        assert_eq!(status, 200);
        let shown = expected.replace('&', "&amp;");
        assert!(
            page.contains(&format!("name=\"next\" value=\"{shown}\"")),
            "{next:?}: {page}"
        );
    }
    // A page asked for without a session comes back after the login (the head is lowercased).
    let (status, head, _) = get(served.addr, "/reports/5?x=1", false);
    assert_eq!(status, 303);
    assert!(
        head.contains("location: /login?next=%2freports%2f5%3fx%3d1"),
        "{head}"
    );
}

#[test]
fn runtime_findings_show_on_the_overview_and_the_report_page_escaped() {
    let (served, _opened, _) = start_fleet();
    let (status, _, body) = get(served.addr, "/?host=cdn.bank.test", true);
    assert_eq!(status, 200);
    assert!(
        body.contains("3 of 18 failures came from instrumented processes"),
        "{body}"
    );
    let (_, head, json) = get(served.addr, "/v1/reports.json?host=cdn.bank.test", true);
    let v: serde_json::Value = serde_json::from_str(&dechunk(&head, &json)).unwrap();
    let with = v["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime_findings"] == 1)
        .unwrap();
    let (status, _, page) = get(served.addr, &format!("/reports/{}", with["id"]), true);
    assert_eq!(status, 200);
    assert!(page.contains("<td id=\"f-runtime\">1</td>"), "{page}");
    assert!(page.contains("<td>SH002</td><td>high</td>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;/tmp/frida-agent-64.so"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
}
