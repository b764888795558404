//! keypin's own report sender against the real collector: a pinned client meets a forged chain
//! (a rogue CA in its trust store, and an untrusted one), its reports arrive through
//! `POST /v1/reports`, and the query API returns them as keypin reports.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use keypin::report::{ReportSender, ReportSenderConfig};
use keypin::runtime::{RuntimeFinding, Severity};
use keypin::{PinnedConfig, Policy, Roots, clock::SystemClock, pin::Pin};
use keypin_collector::Settings;
use keypin_pki::{CertSpec, Chain, KeyAlg, TlsServer, self_signed};
use rustls_pki_types::ServerName;

use crate::backend::{Backend, Opened, Served, serve};

const TOKEN: &str = "sender-test-token-0123456789";

fn start_collector(backend: Backend) -> (Served, Opened) {
    let opened = backend.open();
    let settings = Settings {
        rate_limit: 1000,
        ..Settings::new(TOKEN)
    };
    (serve(opened.store.clone(), settings), opened)
}

/// The body of an authorised `GET path`, which must answer 200.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").unwrap().1.to_owned()
}

fn list_reports(addr: SocketAddr) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&get(addr, "/v1/reports"))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn handshake(config: &Arc<rustls::ClientConfig>, addr: SocketAddr, host: &str) -> bool {
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            return false;
        }
    }
    true
}

/// A sender on `cfg` (a short batch delay) and a pinned client configuration reporting to it.
fn reporting_client(
    mut cfg: ReportSenderConfig,
    policy: Arc<Policy>,
    roots: Roots,
) -> (Arc<ReportSender>, Arc<rustls::ClientConfig>) {
    cfg.batch_delay = Duration::from_millis(50);
    let sender =
        ReportSender::start(cfg, policy.clone(), roots.clone(), Arc::new(SystemClock)).unwrap();
    let config = PinnedConfig::builder(policy, roots)
        .events(sender.clone())
        .build()
        .unwrap();
    (sender, Arc::new(config))
}

fn forged_chains_reach_the_collector_as_keypin_reports(backend: Backend) {
    let (collector, _store) = start_collector(backend);
    let url = format!("http://{}/v1/reports", collector.addr);
    let genuine = Chain::generate("Genuine", &["api.bank.test"], KeyAlg::EcdsaP256).unwrap();
    // The rogue CA is installed on the device for api.bank.test (report-only rule) ...
    let installed = Chain::generate("Installed", &["api.bank.test"], KeyAlg::EcdsaP256).unwrap();
    // ... and unknown to it for pay.bank.test (enforcing rule).
    let unknown = Chain::generate("Unknown", &["pay.bank.test"], KeyAlg::EcdsaP256).unwrap();
    let spare = Pin::from_spki_der(&self_signed(CertSpec::ca("Spare")).unwrap().spki_der());
    let genuine_pin = Pin::from_spki_der(&genuine.intermediate.spki_der());
    let text = format!(
        "[[rule]]\nhosts = [\"api.bank.test\"]\npins = [\"{genuine_pin}\", \"{spare}\"]\n\
         mode = \"report-only\"\nreport_uris = [\"{url}\"]\n\n\
         [[rule]]\nhosts = [\"pay.bank.test\"]\npins = [\"{genuine_pin}\", \"{spare}\"]\n\
         report_uris = [\"{url}\"]\n"
    );
    let policy = Arc::new(Policy::from_toml_str(&text, "bank.toml").unwrap());
    let mut roots = Roots::empty();
    roots.add_cert(genuine.root.cert.clone()).unwrap();
    roots.add_cert(installed.root.cert.clone()).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let mut cfg = ReportSenderConfig::new(dir.path());
    cfg.app.bundle_id = Some("com.bank.app".into());
    cfg.app.version = Some("4.2".into());
    cfg.app.platform = Some("LINUX".into());
    let (sender, config) = reporting_client(cfg, policy, roots);
    let a = TlsServer::start(installed.server_options()).unwrap();
    let b = TlsServer::start(unknown.server_options()).unwrap();
    assert!(
        handshake(&config, a.addr(), "api.bank.test"),
        "report-only lets it through"
    );
    assert!(
        !handshake(&config, b.addr(), "pay.bank.test"),
        "untrusted issuer refused"
    );
    assert!(
        sender.flush(Duration::from_secs(10)),
        "{:?}",
        sender.stats()
    );
    assert_eq!(sender.stats().sent, 2);

    let reports = list_reports(collector.addr);
    assert_eq!(reports.len(), 2, "{reports:#?}");
    let find = |host: &str| {
        reports
            .iter()
            .find(|r| r["host"] == host)
            .unwrap_or_else(|| panic!("no report for {host}: {reports:#?}"))
    };
    let api = find("api.bank.test");
    assert_eq!(api["dialect"], "keypin");
    assert_eq!(api["failure"], "pin-mismatch");
    assert_eq!(api["app_bundle_id"], "com.bank.app");
    assert_eq!(api["app_version"], "4.2");
    // The collector computed the served leaf's pin from the PEM chain keypin sent.
    assert_eq!(
        api["served_leaf_pin"],
        Pin::from_spki_der(&installed.leaf.spki_der()).to_string()
    );
    assert_eq!(api["report"]["mode"], "report-only");
    let pay = find("pay.bank.test");
    assert_eq!(pay["failure"], "chain-invalid");
    assert_eq!(pay["report"]["mode"], "enforce");
    assert_eq!(
        pay["served_leaf_pin"],
        Pin::from_spki_der(&unknown.leaf.spki_der()).to_string()
    );
}

/// Three refused handshakes to one host: while the app said it was traced (SH001), after a
/// clean scan, and with no runtime signals at all. The collector counts one of three as from
/// an instrumented process, in the summary API and on the dashboard.
fn runtime_findings_reach_the_summary_through_the_real_sender(backend: Backend) {
    let (collector, _store) = start_collector(backend);
    let url = format!("http://{}/v1/reports", collector.addr);
    let genuine = Chain::generate("Genuine", &["pay.bank.test"], KeyAlg::EcdsaP256).unwrap();
    let unknown = Chain::generate("Unknown", &["pay.bank.test"], KeyAlg::EcdsaP256).unwrap();
    let spare = Pin::from_spki_der(&self_signed(CertSpec::ca("Spare")).unwrap().spki_der());
    let genuine_pin = Pin::from_spki_der(&genuine.intermediate.spki_der());
    let text = format!(
        "[[rule]]\nhosts = [\"pay.bank.test\"]\npins = [\"{genuine_pin}\", \"{spare}\"]\n\
         report_uris = [\"{url}\"]\n"
    );
    let policy = Arc::new(Policy::from_toml_str(&text, "bank.toml").unwrap());
    let mut roots = Roots::empty();
    roots.add_cert(genuine.root.cert.clone()).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let (sender, config) = reporting_client(ReportSenderConfig::new(dir.path()), policy, roots);
    let server = TlsServer::start(unknown.server_options()).unwrap();
    let traced = RuntimeFinding::new("SH001", Severity::High, "TracerPid: 4242 (gdb)");
    for runtime in [Some(vec![traced.clone()]), Some(vec![]), None] {
        sender.set_runtime_findings(runtime);
        assert!(!handshake(&config, server.addr(), "pay.bank.test"));
    }
    assert!(
        sender.flush(Duration::from_secs(10)),
        "{:?}",
        sender.stats()
    );
    assert_eq!(sender.stats().sent, 3, "{:?}", sender.stats());

    let reports = list_reports(collector.addr);
    let carried: Vec<&serde_json::Value> = reports
        .iter()
        .map(|r| &r["report"]["runtime-findings"])
        .collect();
    assert!(
        carried.contains(&&serde_json::json!([traced])),
        "{carried:?}"
    );
    assert!(carried.contains(&&serde_json::json!([])), "{carried:?}");
    assert!(carried.contains(&&serde_json::Value::Null), "{carried:?}");

    let summary: serde_json::Value =
        serde_json::from_str(&get(collector.addr, "/v1/summary")).unwrap();
    let host = &summary[0];
    assert_eq!(host["host"], "pay.bank.test");
    assert_eq!(
        (host["instrumented"].as_i64(), host["reports"].as_i64()),
        (Some(1), Some(3))
    );
    let page = get(collector.addr, "/");
    assert!(
        page.contains("1 of 3 failures came from instrumented processes"),
        "{page}"
    );
}

on_both_backends!(
    forged_chains_reach_the_collector_as_keypin_reports,
    runtime_findings_reach_the_summary_through_the_real_sender
);

/// A database made by the previous collector (schema 1, one report) opens with the
/// `runtime_findings` column added, its report kept and counted as not instrumented, and the
/// dashboard's roll-up built from it.
#[test]
fn a_schema_1_sqlite_database_is_migrated_keeping_its_reports() {
    use keypin_collector::store::DashboardQueries as _;
    use keypin_collector::{SqliteStore, Store};
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("reports.db");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE reports (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL,
             reported_at INTEGER, host TEXT NOT NULL, port INTEGER, dialect TEXT NOT NULL,
             served_leaf_pin TEXT, client_network TEXT NOT NULL, app_bundle_id TEXT,
             app_version TEXT, app_platform TEXT, failure TEXT, body TEXT NOT NULL);
         INSERT INTO reports (received_at, host, dialect, client_network, body)
             VALUES (1900000000, 'old.example', 'hpkp', '127.0.0.0/24', '{}');
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(old);
    let store = SqliteStore::open(&path).unwrap();
    let summary = store.summary(1_900_000_000).unwrap();
    assert_eq!(
        (
            summary[0].host.as_str(),
            summary[0].reports,
            summary[0].instrumented
        ),
        ("old.example", 1, 0)
    );
    // The dashboard's roll-up (schema 3) was built from the old rows.
    let f = keypin_collector::store::Filter::last_days(1_900_000_000, 1);
    let rows = store.rollup(&f).unwrap();
    assert_eq!(rows.iter().map(|r| r.n).sum::<i64>(), 1);
    assert!(rows.iter().all(|r| r.by_receipt && r.host == "old.example"));
    store.close();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
}
