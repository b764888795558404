//! Verifying a signed 1,000-rule bundle with three signatures (2-of-3 root, all three signed),
//! target < 5 ms. Baselines in the same run: parsing the same policy TOML with no signature
//! checks (what any policy load costs), and the signature checks alone (threshold over the
//! exact bytes, no parsing of the body).
//!
//! `KEYPIN_BENCH_ALTERNATE=1` also times the three alternately, 200 rounds, and prints the
//! medians: on a shared machine whose load moves between criterion's sequential groups, that is
//! the fairer ratio.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin::live::bundle::{BundleSpec, Expectations, Root, RootSpec, SigningKey};
use keypin::{Policy, clock::Date};
use rustls_pki_types::UnixTime;

const P1: &str = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
const P2: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

fn policy_text(n: usize) -> String {
    let mut s = String::with_capacity(n * 160);
    for i in 0..n {
        let host = match i % 3 {
            0 => format!("api{i}.example{i}.com"),
            1 => format!("*.svc{i}.example.net"),
            _ => format!("**.zone{i}.example.org"),
        };
        s.push_str(&format!(
            "[[rule]]\nhosts = [\"{host}\"]\npins = [\"{P1}\", \"{P2}\"]\n"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate().unwrap().0).collect();
    let refs: Vec<&SigningKey> = keys.iter().collect();
    let root = RootSpec {
        version: 1,
        expires: Date::parse("2099-01-01").unwrap(),
        threshold: 3,
        keys: keys.iter().map(|k| k.public_key().clone()).collect(),
    }
    .sign(&refs, None)
    .unwrap();
    let root = Root::from_embedded(&root).unwrap();
    let text = policy_text(1_000);
    let bundle = BundleSpec {
        app_id: "com.example.app".into(),
        environment: "production".into(),
        version: 2,
        issued_unix: 1_800_000_000,
        expires: Date::parse("2098-01-01").unwrap(),
        policy_toml: text.clone(),
    }
    .sign(&refs)
    .unwrap();
    let expect = Expectations::new("com.example.app", "production").high_water(1);
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000));
    eprintln!(
        "bundle: {} bytes, policy TOML {} bytes, 3 signatures",
        bundle.len(),
        text.len()
    );

    if std::env::var_os("KEYPIN_BENCH_ALTERNATE").is_some() {
        let wrong_app = Expectations::new("com.other.app", "production");
        let mut samples: [Vec<f64>; 3] = Default::default();
        for _ in 0..200 {
            let s0 = std::time::Instant::now();
            black_box(root.verify_bundle(&bundle, &expect, now).unwrap());
            let s1 = std::time::Instant::now();
            black_box(Policy::from_toml_str(&text, "bench").unwrap());
            let s2 = std::time::Instant::now();
            black_box(root.verify_bundle(&bundle, &wrong_app, now).is_err());
            let s3 = std::time::Instant::now();
            for (i, d) in [s1 - s0, s2 - s1, s3 - s2].into_iter().enumerate() {
                samples[i].push(d.as_secs_f64() * 1e3);
            }
        }
        for v in samples.iter_mut() {
            v.sort_by(f64::total_cmp);
        }
        eprintln!(
            "alternating medians: verify {:.3} ms, parse {:.3} ms, sigs {:.3} ms",
            samples[0][100], samples[1][100], samples[2][100]
        );
    }

    let mut g = c.benchmark_group("bundle_1000_rules");
    g.bench_function("verify_bundle_3_sigs", |b| {
        b.iter(|| {
            black_box(
                root.verify_bundle(black_box(&bundle), &expect, now)
                    .unwrap(),
            )
        })
    });
    g.bench_function("baseline_parse_policy_toml", |b| {
        b.iter(|| black_box(Policy::from_toml_str(black_box(&text), "bench").unwrap()))
    });
    // Signatures alone: a root that expects a different app fails at step 3, right after the
    // threshold check, so this measures envelope + base64 + 3 Ed25519 verifications + body JSON.
    let wrong_app = Expectations::new("com.other.app", "production");
    g.bench_function("signatures_only_3_sigs", |b| {
        b.iter(|| {
            black_box(
                root.verify_bundle(black_box(&bundle), &wrong_app, now)
                    .is_err(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
