//! Report sending on the handshake path (issue #8 item 5; BENCHMARKS.md §12). The same pinned
//! verification of the same 3-certificate RSA-2048 chain (pin on the root: every certificate
//! hashed), with and without a [`ReportSender`] attached through the event hook:
//!
//! - `verify_ok/*`: the pin matches. A sender is only ever called on a failure, so the two must
//!   be the same (ratio ~1.00).
//! - `verify_refused/*`: a chain that validates but matches no pin (the policy pins two spare
//!   keys): refused, and with a sender one report is built and offered to the queue. The same
//!   chain every time, so after the first the report is de-duplicated against the queued one:
//!   what a client under a persistent interception pays per handshake.
//! - `pin_event_distinct`: the sender's whole handshake-thread work for a report that is new
//!   every time (a `ChainInvalid` event with that chain, the port varied so no two reports are
//!   alike): build the report, its de-duplication key, queue it (full queue: drop the oldest).
//!
//! Every figure is read as a ratio against `verify_ok/no_sender` of the same run. The report URI
//! is a closed loopback port, so the sender thread fails its POSTs and backs off (30 s) without
//! touching the queue the handshake thread uses.
//!
//! `cargo bench -p keypin --features reports --bench reports`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin::report::{ReportSender, ReportSenderConfig};
use keypin::{
    PinnedConfig, Policy, Roots, clock::SystemClock, events::PinEvent, events::PinEventSink as _,
    pin::Pin,
};
use keypin_pki::{CertSpec, Chain, KeyAlg, self_signed};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

const HOST: &str = "api.bench.test";

fn spare_pin(name: &str) -> Pin {
    Pin::from_spki_der(&self_signed(CertSpec::ca(name)).unwrap().spki_der())
}

/// A pinned verifier for `policy`, with `sender` on its event hook when given.
fn verifier(
    policy: &Arc<Policy>,
    chain: &Chain,
    sender: Option<&Arc<ReportSender>>,
) -> Arc<dyn ServerCertVerifier> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Every verification in full (verification cache off), as the figures were measured.
    let mut b = PinnedConfig::builder(policy.clone(), Roots::from(chain.root_store()))
        .provider(provider)
        .verification_cache_ttl(std::time::Duration::ZERO);
    if let Some(s) = sender {
        b = b.events(s.clone());
    }
    b.verifier()
}

fn sender(policy: &Arc<Policy>, chain: &Chain, dir: &std::path::Path) -> Arc<ReportSender> {
    // Nothing listens on the port of a listener that was bound and dropped.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = ReportSenderConfig::new(dir);
    config.default_report_uris = vec![format!("http://{closed}/v1/reports")];
    ReportSender::start(
        config,
        policy.clone(),
        Roots::from(chain.root_store()),
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn report_sending(c: &mut Criterion) {
    let chain = Chain::generate("Bench", &[HOST], KeyAlg::Rsa2048).unwrap();
    let served = chain.served();
    let (ee, inter) = served.split_first().unwrap();
    let name = ServerName::try_from(HOST).unwrap();
    let now = UnixTime::now();
    let root_pin = Pin::from_spki_der(&chain.root.spki_der());
    let (spare1, spare2) = (spare_pin("spare 1"), spare_pin("spare 2"));
    let rule = |pins: String| {
        Arc::new(
            Policy::from_toml_str(
                &format!("[[rule]]\nhosts = [\"{HOST}\"]\npins = [{pins}]\n"),
                "bench",
            )
            .unwrap(),
        )
    };
    let matching = rule(format!("\"{spare1}\", \"{root_pin}\""));
    let mismatching = rule(format!("\"{spare1}\", \"{spare2}\""));

    let dir = tempfile::tempdir().unwrap();
    let ok_sender = sender(&matching, &chain, &dir.path().join("ok"));
    let refused_sender = sender(&mismatching, &chain, &dir.path().join("refused"));
    let event_sender = sender(&mismatching, &chain, &dir.path().join("event"));

    let ok_plain = verifier(&matching, &chain, None);
    let ok_reporting = verifier(&matching, &chain, Some(&ok_sender));
    let refused_plain = verifier(&mismatching, &chain, None);
    let refused_reporting = verifier(&mismatching, &chain, Some(&refused_sender));
    for v in [&ok_plain, &ok_reporting] {
        v.verify_server_cert(ee, inter, &name, &[], now).unwrap();
    }
    for v in [&refused_plain, &refused_reporting] {
        v.verify_server_cert(ee, inter, &name, &[], now)
            .unwrap_err();
    }
    // The refusal with a sender did queue a report; the success did not.
    assert_eq!(refused_sender.stats().queued, 1);
    assert_eq!(ok_sender.stats().queued, 0);

    let served_chain: Vec<CertificateDer<'static>> = served.to_vec();
    let rule = Box::new(mismatching.rule_for(HOST).unwrap().clone());
    let mut port: u16 = 0;
    let mut distinct_event = move || {
        port = port.wrapping_add(1).max(1);
        PinEvent::ChainInvalid {
            host: HOST.into(),
            port: Some(port),
            served_chain: served_chain.clone(),
            rule: rule.clone(),
            rule_location: "bench:1".into(),
            error: rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            at: now,
        }
    };
    let before = event_sender.stats();
    event_sender.pin_event(distinct_event());
    event_sender.pin_event(distinct_event());
    let after = event_sender.stats();
    assert_eq!(after.queued, before.queued + 2, "both reports queued");
    assert_eq!(after.deduplicated, 0);

    let mut group = c.benchmark_group("report_sending");
    let verify = |v: &Arc<dyn ServerCertVerifier>| {
        v.verify_server_cert(black_box(ee), black_box(inter), &name, &[], now)
    };
    group.bench_function("verify_ok/no_sender", |b| {
        b.iter(|| verify(&ok_plain).unwrap())
    });
    group.bench_function("verify_ok/with_sender", |b| {
        b.iter(|| verify(&ok_reporting).unwrap())
    });
    group.bench_function("verify_refused/no_sender", |b| {
        b.iter(|| verify(&refused_plain).unwrap_err())
    });
    group.bench_function("verify_refused/with_sender", |b| {
        b.iter(|| verify(&refused_reporting).unwrap_err())
    });
    // The event is made outside the timed part: a verifier builds it in both cases.
    group.bench_function("pin_event_distinct", |b| {
        b.iter_batched(
            &mut distinct_event,
            |e| event_sender.pin_event(e),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
    let s = event_sender.stats();
    assert_eq!(s.deduplicated, 0, "every timed report was new: {s:?}");
    assert!(s.queued > 0 && s.sent == 0, "{s:?}");
    assert_eq!(ok_sender.stats().queued, 0, "a success queued a report");
}

criterion_group!(benches, report_sending);
criterion_main!(benches);
