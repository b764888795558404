//! No double spend under concurrency: parallel requests racing with one challenge or one
//! assertion, over HTTP, succeed exactly once; the stored counter is the highest accepted.

use std::sync::Arc;

use crate::common::*;

/// Sends every body to `/v1/assert` at once; how many were accepted.
async fn accepted_in_parallel(g: &Arc<TestGate>, bodies: Vec<serde_json::Value>) -> usize {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let g = Arc::clone(g);
            tokio::spawn(async move { g.post("/v1/assert", b).await.0 })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_assertions_over_one_challenge_succeed_once() {
    let g = Arc::new(start("", "production").await);
    let (install, mut key) = g.genuine_ios().await;
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    let bodies: Vec<_> = (0..16)
        .map(|_| {
            ios_assert_body(
                &install,
                &cd,
                &key.assert(&keypin_gate::sha256(&[&cd])).unwrap(),
            )
        })
        .collect();
    let ok = accepted_in_parallel(&g, bodies).await;
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_assertion_sent_in_parallel_succeeds_once_and_counters_stay_monotonic() {
    let g = Arc::new(start("", "production").await);
    let (install, mut key) = g.genuine_ios().await;
    // Distinct challenges, counters 1..=12, sent all at once: some lose the race to a higher
    // counter, none is accepted after a higher one, and the stored counter is the highest.
    let mut bodies = Vec::new();
    for _ in 0..12 {
        let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
        let a = key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
        let body = ios_assert_body(&install, &cd, &a);
        bodies.push(body.clone());
        bodies.push(body);
    }
    let ok = accepted_in_parallel(&g, bodies).await;
    assert!((1..=12).contains(&ok), "{ok} accepted");
    let counters = g.gate.store.counters().unwrap();
    assert_eq!(counters, vec![(install, 12)]);
}
