//! Throughput of `POST /v1/assert`: `load [CLIENTS] [ASSERTIONS_PER_CLIENT]` (defaults 8, 2000).
//!
//! Starts a gate on 127.0.0.1 (real SQLite file in a temporary directory, simulated App Attest
//! roots), registers one simulated iOS install per client, fetches each client's challenges
//! and makes its assertions (counters 1..=N) beforehand, then times CLIENTS concurrent
//! keep-alive clients each sending its assertions one after another. Afterwards it checks that
//! every assertion was accepted, no challenge is left unspent and every stored counter is N. As a
//! baseline in the same run it counts bare ECDSA P-256 verifications per second on one thread
//! and on every core. Prints one JSON line.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use keypin_gate::server::Gate;
use keypin_gate::store::Store;
use keypin_gate::{GateConfig, client_data, sha256};
use keypin_pki::attest_sim::{AppleAttestCa, AppleAttestationSpec};
use serde_json::{Value, json};

const APP: &str = "ABCDE12345.com.example.app";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let r = http.post(url).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Bare P-256 verifications per second on `threads` threads for about a second.
fn p256_baseline(threads: usize) -> f64 {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
        UnparsedPublicKey,
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let msg = [7u8; 32];
    let sig = key.sign(&rng, &msg).unwrap();
    let public = key.public_key().as_ref().to_vec();
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    let pk = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public);
                    while start.elapsed() < Duration::from_secs(1) {
                        pk.verify(&msg, sig.as_ref()).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(8);
    let per_client = args.get(1).copied().unwrap_or(2000);

    let dir = tempfile::tempdir().unwrap();
    let ca = AppleAttestCa::generate().unwrap();
    std::fs::write(dir.path().join("roots.pem"), ca.root_pem()).unwrap();
    let toml = format!(
        "audience = \"api\"\nrate_limit_per_sec = 1000000\nchallenge_lifetime_secs = 600\ndanger_trust_test_attestation_roots = \"roots.pem\"\n[[app]]\nname = \"a\"\nios_app_id = \"{APP}\"\n"
    );
    let config = GateConfig::from_toml(&toml, dir.path()).unwrap();
    let gate = Gate::new(config, Store::open(&dir.path().join("gate.db")).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(keypin_gate::server::serve(listener, Arc::clone(&gate)));
    let _already = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();

    // Preparation (not timed): installs, challenges, assertions.
    let mut work = Vec::new();
    for _ in 0..clients {
        let challenge = |http: reqwest::Client, base: String| async move {
            let (_, v) = post(&http, &format!("{base}/v1/challenge"), &json!({"app": "a"})).await;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v["challenge"].as_str().unwrap())
                .unwrap()
        };
        let c = challenge(http.clone(), base.clone()).await;
        let mut made = ca
            .attest(&AppleAttestationSpec::genuine(APP), &sha256(&[&c]))
            .unwrap();
        let (status, reg) = post(&http, &format!("{base}/v1/register"), &json!({"app": "a", "platform": "ios",
            "challenge": b64(&c), "key_id": b64(&made.key.key_id()), "attestation": b64(&made.object)})).await;
        assert_eq!(status, 200, "{reg}");
        let install = reg["install_id"].as_str().unwrap().to_string();
        let mut bodies = Vec::with_capacity(per_client);
        for _ in 0..per_client {
            let cd = client_data::build(
                &challenge(http.clone(), base.clone()).await,
                "POST",
                "/v1/orders",
                b"{}",
                None,
            );
            let a = made.key.assert(&sha256(&[&cd])).unwrap();
            bodies.push(
                json!({"install_id": install, "client_data": b64(&cd), "assertion": b64(&a)})
                    .to_string(),
            );
        }
        work.push(bodies);
    }

    let single = p256_baseline(1);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let all_cores = p256_baseline(cores);

    let start = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|bodies| {
            let http = reqwest::Client::new();
            let url = format!("{base}/v1/assert");
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(bodies.len());
                let mut ok = 0u64;
                for b in bodies {
                    let t = Instant::now();
                    let r = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(b)
                        .send()
                        .await
                        .unwrap();
                    if r.status().is_success() {
                        ok += 1;
                    }
                    let _ = r.bytes().await;
                    lat.push(t.elapsed());
                }
                (ok, lat)
            })
        })
        .collect();
    let mut ok = 0;
    let mut lat = Vec::new();
    for t in tasks {
        let (o, l) = t.await.unwrap();
        ok += o;
        lat.extend(l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let counters = gate.store.counters().unwrap();
    let monotonic =
        counters.len() == clients && counters.iter().all(|(_, c)| *c as usize == per_client);
    let unspent = gate.store.unspent_challenges().unwrap();
    println!(
        "{}",
        json!({
            "clients": clients, "assertions": lat.len(), "accepted": ok,
            "assertions_per_sec": (ok as f64 / elapsed).round(),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "counters_all_equal_n": monotonic, "unspent_challenges": unspent,
            "p256_verify_per_sec_1_thread": single.round(),
            "p256_verify_per_sec_all_cores": all_cores.round(), "cores": cores,
        })
    );
}
