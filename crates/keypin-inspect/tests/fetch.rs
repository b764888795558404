//! The fetch returns each connection's own staple: servers that staple different responses, or
//! none, fetched in turn on one thread and at once on several, never see another's.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use keypin_inspect::fetch::{Fetcher, Target};
use keypin_pki::{Chain, KeyAlg, TlsServer};

const HOST: &str = "api.inspect.test";

fn server(chain: &Chain, staple: Option<&[u8]>) -> TlsServer {
    let mut opts = chain.server_options();
    opts.ocsp = staple.map(<[u8]>::to_vec);
    TlsServer::start(opts).unwrap()
}

fn target(server: &TlsServer) -> Target {
    let dial = format!("127.0.0.1:{}", server.port());
    Target::new(HOST, Some(&dial), Duration::from_secs(10)).unwrap()
}

#[test]
fn each_fetch_returns_its_own_servers_staple() {
    let chain = Chain::generate("Inspect Test", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let servers = [
        (
            server(&chain, Some(b"staple from server A")),
            &b"staple from server A"[..],
        ),
        (server(&chain, None), &b""[..]),
        (
            server(&chain, Some(b"staple from server C")),
            &b"staple from server C"[..],
        ),
    ];
    let fetcher = Fetcher::new(&rustls::crypto::aws_lc_rs::default_provider()).unwrap();
    // In turn on one thread, twice round: a staple never carries over to the next fetch.
    for _ in 0..2 {
        for (server, want) in &servers {
            let fetched = fetcher.fetch(&target(server)).unwrap();
            assert_eq!(fetched.ocsp, *want, "port {}", server.port());
            assert_eq!(fetched.leaf, chain.leaf.cert);
            assert_eq!(fetched.peer, server.addr());
        }
    }
    // At once, sharing one fetcher.
    std::thread::scope(|scope| {
        for (server, want) in &servers {
            let fetcher = &fetcher;
            scope.spawn(move || {
                for _ in 0..5 {
                    let fetched = fetcher.fetch(&target(server)).unwrap();
                    assert_eq!(fetched.ocsp, *want, "port {}", server.port());
                }
            });
        }
    });
}

#[test]
fn target_forms_and_refusals() {
    let t = Target::new(
        "example.com:8443",
        Some("[::1]:4433"),
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.dial.as_str()),
        ("example.com", 8443, "[::1]:4433")
    );
    for (target, connect, timeout, words) in [
        ("example.com", Some("127.0.0.1"), 1, "must be ADDR:PORT"),
        ("example.com:0", None, 1, "is not a port number"),
        ("example.com", None, 0, "longer than zero"),
    ] {
        let e = Target::new(target, connect, Duration::from_secs(timeout)).unwrap_err();
        assert!(
            format!("{e:#}").contains(words),
            "{target} {connect:?}: {e:#}"
        );
    }
}
