//! `PinEvent::ChainInvalid`: a pinned host whose chain fails ordinary validation is told to
//! the event hook (with the served chain and the rule); an unpinned host and a good chain
//! raise nothing.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use keypin::{PinnedConfig, Policy, Roots, events::ChannelSink, events::PinEvent, pin::Pin};
use keypin_pki::{CertSpec, Chain, KeyAlg, TlsServer, self_signed};
use rustls_pki_types::ServerName;

const HOST: &str = "api.keypin.test";

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

fn setup(genuine: &Chain) -> (Arc<rustls::ClientConfig>, Receiver<PinEvent>) {
    let spare = Pin::from_spki_der(&self_signed(CertSpec::ca("Spare")).unwrap().spki_der());
    let text = format!(
        "[[rule]]\nname = \"api\"\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{spare}\"]\n",
        Pin::from_spki_der(&genuine.intermediate.spki_der())
    );
    let policy = Policy::from_toml_str(&text, "p.toml").unwrap();
    let mut roots = Roots::empty();
    roots.add_cert(genuine.root.cert.clone()).unwrap();
    let (sink, events) = ChannelSink::new(16);
    let config = PinnedConfig::builder(policy, roots)
        .events(Arc::new(sink))
        .build()
        .unwrap();
    (Arc::new(config), events)
}

#[test]
fn untrusted_issuer_for_a_pinned_host_raises_chain_invalid() {
    let genuine =
        Chain::generate("Genuine", &[HOST, "other.keypin.test"], KeyAlg::EcdsaP256).unwrap();
    let rogue = Chain::generate("Rogue", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let (config, events) = setup(&genuine);
    let server = TlsServer::start(rogue.server_options()).unwrap();
    assert!(!handshake(&config, server.addr(), HOST));
    let event = events.try_recv().unwrap();
    match event {
        PinEvent::ChainInvalid {
            host,
            port,
            served_chain,
            rule,
            rule_location,
            error,
            ..
        } => {
            assert_eq!(host, HOST);
            assert_eq!(port, None);
            assert_eq!(served_chain, rogue.served());
            assert_eq!(rule.name(), Some("api"));
            assert_eq!(rule_location, "p.toml:1");
            assert!(format!("{error:?}").contains("UnknownIssuer"), "{error:?}");
        }
        other => panic!("expected ChainInvalid, got {other:?}"),
    }
    assert!(events.try_recv().is_err(), "one event per failure");
}

#[test]
fn a_pinned_name_mismatch_raises_chain_invalid_too() {
    let genuine = Chain::generate("Genuine", &["other.keypin.test"], KeyAlg::EcdsaP256).unwrap();
    let (config, events) = setup(&genuine);
    let server = TlsServer::start(genuine.server_options()).unwrap();
    assert!(!handshake(&config, server.addr(), HOST));
    assert!(matches!(
        events.try_recv(),
        Ok(PinEvent::ChainInvalid { error, .. }) if format!("{error:?}").contains("NotValidForName")
    ));
}

#[test]
fn good_chains_and_unpinned_hosts_raise_nothing() {
    let genuine = Chain::generate("Genuine", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let (config, events) = setup(&genuine);
    let good = TlsServer::start(genuine.server_options()).unwrap();
    assert!(handshake(&config, good.addr(), HOST));
    // An unpinned host with an untrusted chain: refused, but no rule, so no pin event.
    let rogue = Chain::generate("Rogue", &["free.keypin.test"], KeyAlg::EcdsaP256).unwrap();
    let bad = TlsServer::start(rogue.server_options()).unwrap();
    assert!(!handshake(&config, bad.addr(), "free.keypin.test"));
    assert!(events.try_recv().is_err());
}
