//! Fault injection on the library's own pinned client (the updater's fetchers, feature
//! `updater`): servers on 127.0.0.1 that close mid-handshake, answer garbage, stall, or drip a
//! record a byte at a time. Every fetch must fail with a transport error that says what
//! happened, within its timeout, and leave the pins in force untouched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keypin::live::updater::{FetchError, Fetcher, HttpFetcher, HttpsFetcher, PolicyStore};
use keypin::{PinnedConfig, Policy, Roots, pin::Pin};
use keypin_pki::{Chain, Fault, FaultyServer, KeyAlg};

const HOST: &str = "updates.keypin.test";
const TIMEOUT: Duration = Duration::from_millis(800);
/// The timeout plus slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(4);

fn store() -> Arc<PolicyStore> {
    let chain = Chain::generate("Updates", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let mut roots = Roots::empty();
    roots.add_cert(chain.root.cert.clone()).unwrap();
    let pin = Pin::from_spki_der(&chain.leaf.spki_der());
    let toml = format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{pin}\", \"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n"
    );
    let policy = Arc::new(Policy::from_toml_str(&toml, "embedded").unwrap());
    Arc::new(
        PolicyStore::new(policy, move |p| {
            PinnedConfig::builder(p, roots.clone()).build()
        })
        .unwrap(),
    )
}

fn words(fault: Fault, tls: bool) -> &'static [&'static str] {
    match (fault, tls) {
        (Fault::Stall | Fault::Drip, _) => &["timed out"],
        (Fault::CloseAtOnce | Fault::CloseAfterHello, _) => &["closed the connection"],
        (Fault::Garbage, true) => &["corrupt message", "InvalidContentType"],
        // Plain HTTP: the "garbage" is an HTTP 400, which the fetcher refuses by status.
        (Fault::Garbage, false) => &["HTTP status 400"],
        _ => &[],
    }
}

fn check(fetcher: &dyn Fetcher, fault: Fault, tls: bool) {
    let start = Instant::now();
    let result = fetcher.fetch("bundle.json", None, 64 * 1024);
    let took = start.elapsed();
    let label = format!(
        "{} over {}",
        fault.name(),
        if tls { "https" } else { "http" }
    );
    let err = match result {
        Err(e @ FetchError::Transport { .. }) => e.to_string(),
        other => panic!("{label}: expected a transport error, got {other:?}"),
    };
    assert!(took < BOUND, "{label}: took {took:?}");
    assert!(
        err.contains("bundle.json"),
        "{label}: names what was fetched: {err}"
    );
    let w = words(fault, tls);
    assert!(
        w.iter()
            .any(|w| err.to_lowercase().contains(&w.to_lowercase())),
        "{label}: expected one of {w:?} in {err}"
    );
}

#[test]
fn pinned_https_fetcher_fails_cleanly_and_in_time_on_every_fault() {
    let store = store();
    let generation = store.current().number();
    let runs: Vec<_> = Fault::ALL
        .iter()
        .map(|&fault| {
            let store = store.clone();
            std::thread::spawn(move || {
                let server = FaultyServer::start(fault).unwrap();
                let url = format!("https://{HOST}:{}/", server.port());
                let f = HttpsFetcher::new(&url, store)
                    .unwrap()
                    .timeout(TIMEOUT)
                    .connect_to(server.addr());
                check(&f, fault, true);
                assert!(server.accepted() >= 1);
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
    assert_eq!(
        store.current().number(),
        generation,
        "nothing was installed"
    );
}

#[test]
fn http_fetcher_fails_cleanly_and_in_time_on_every_fault() {
    let runs: Vec<_> = Fault::ALL
        .iter()
        .map(|&fault| {
            std::thread::spawn(move || {
                let server = FaultyServer::start(fault).unwrap();
                let f = HttpFetcher::new(&format!("http://127.0.0.1:{}/", server.port()))
                    .unwrap()
                    .timeout(TIMEOUT);
                check(&f, fault, false);
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
}
