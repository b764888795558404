//! End to end on loopback: keys, root and bundles made with the `keypin bundle` commands,
//! served by `keypin bundle serve`, fetched by keypin's updater (HttpFetcher), and enforced on
//! the next real TLS connection; a no-change check costs one conditional request (304).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keypin::live::updater::{
    CheckOutcome, HttpFetcher, PolicySource, PolicyStore, Startup, Updater, UpdaterConfig,
};
use keypin::{PinnedConfig, Policy, Roots, clock::ManualClock, pin::Pin, verify::VerifyError};
use keypin_pki::{CertSpec, Chain, KeyAlg, ServerOptions, TlsServer, self_signed};
use rustls_pki_types::ServerName;

use crate::common;

const HOST: &str = "api.keypin.test";

fn serve(dir: &Path) -> (common::Server, String) {
    let (server, line) = common::serve(dir);
    let url = line.split_whitespace().last().unwrap().to_string();
    (server, url)
}

fn policy(pins: &[&Pin]) -> String {
    let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [{}]\n",
        pins.join(", ")
    )
}

fn sign(dir: &Path, policy_file: &str, version: &str) {
    common::sign_cmd(
        dir,
        policy_file,
        "root.json",
        version,
        "bundle.json",
        &["k1", "k2"],
    )
    .assert()
    .success();
}

fn request(config: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> std::io::Result<String> {
    let name = ServerName::try_from(HOST.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

#[test]
fn updater_end_to_end_against_bundle_serve_with_live_switch() {
    let chain = Chain::generate("Genuine", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let tls_server = TlsServer::start(ServerOptions::new(
        chain.served(),
        chain.leaf.key.clone_key(),
    ))
    .unwrap();
    let leaf = Pin::from_spki_der(&chain.leaf.spki_der());
    let spare = Pin::from_spki_der(&self_signed(CertSpec::ca("Spare")).unwrap().spki_der());
    let spare2 = Pin::from_spki_der(&self_signed(CertSpec::ca("Spare 2")).unwrap().spki_der());

    // The release team: keys, a 2-of-3 root (embedded in the app), bundle v1.
    let publish = tempfile::tempdir().unwrap();
    let p = publish.path();
    common::keys_and_root(p);
    std::fs::write(p.join("v1.toml"), policy(&[&leaf, &spare])).unwrap();
    std::fs::write(p.join("v2.toml"), policy(&[&spare, &spare2])).unwrap();
    sign(p, "v1.toml", "1");
    let (_server, url) = serve(p);

    // The app: embedded policy and root, a state dir, the updater.
    let embedded_root = std::fs::read(p.join("root.json")).unwrap();
    let mut roots = Roots::empty();
    roots.add_cert(chain.root.cert.clone()).unwrap();
    let embedded =
        Arc::new(Policy::from_toml_str(&policy(&[&spare2, &spare]), "embedded").unwrap());
    let store = Arc::new(
        PolicyStore::new(embedded, move |policy| {
            PinnedConfig::builder(policy, roots.clone()).build()
        })
        .unwrap(),
    );
    let state = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let config = UpdaterConfig::new(
        "com.example.app",
        "production",
        &embedded_root,
        state.path().to_path_buf(),
    );
    let (updater, startup) = Updater::start(
        config,
        Box::new(HttpFetcher::new(&url).unwrap()),
        Arc::new(ManualClock::at(now)),
        store.clone(),
        None,
    )
    .unwrap();
    assert_eq!(startup, Startup::Embedded { reason: None });
    // The embedded pins do not match this server's key.
    assert!(request(&store.client_config(), tls_server.addr()).is_err());

    assert_eq!(
        updater.check_now().unwrap(),
        CheckOutcome::Updated { version: 1 }
    );
    let reply = request(&store.client_config(), tls_server.addr()).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // No change: a conditional request answered 304.
    assert_eq!(updater.check_now().unwrap(), CheckOutcome::NotModified);

    // v2 drops the server's key: the next connection enforces the new set.
    sign(p, "v2.toml", "2");
    assert_eq!(
        updater.check_now().unwrap(),
        CheckOutcome::Updated { version: 2 }
    );
    assert_eq!(
        store.current().source(),
        PolicySource::Bundle { version: 2 }
    );
    let err = request(&store.client_config(), tls_server.addr()).unwrap_err();
    assert!(VerifyError::pin_failure_of_io(&err).is_some(), "{err:?}");
}
