//! keypin's own report sender against the real collector: a pinned client meets a forged chain
//! (a rogue CA in its trust store, and an untrusted one), its reports arrive through
//! `POST /v1/reports`, and the query API returns them as keypin reports.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use keypin::report::{ReportSender, ReportSenderConfig};
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

fn list_reports(addr: SocketAddr) -> Vec<serde_json::Value> {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let body = out.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str::<serde_json::Value>(body)
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
    cfg.batch_delay = Duration::from_millis(50);
    cfg.app.bundle_id = Some("com.bank.app".into());
    cfg.app.version = Some("4.2".into());
    cfg.app.platform = Some("LINUX".into());
    let sender =
        ReportSender::start(cfg, policy.clone(), roots.clone(), Arc::new(SystemClock)).unwrap();
    let config = Arc::new(
        PinnedConfig::builder(policy, roots)
            .events(sender.clone())
            .build()
            .unwrap(),
    );
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

on_both_backends!(forged_chains_reach_the_collector_as_keypin_reports);
