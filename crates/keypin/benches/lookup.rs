//! Policy lookup at 10, 1,000 and 100,000 rules, and loading a 100,000-rule policy.
//! Baseline in the same run: a `HashMap<String, usize>` probe of the exact host (the least
//! any lookup must do).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin::Policy;

const P1: &str = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
const P2: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

/// A policy of `n` rules: a third exact hosts, a third `*.` and a third `**.` patterns.
pub fn policy_text(n: usize) -> String {
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

/// Hosts to look up: exact hits, one-label hits, deep any-depth hits and misses.
fn queries(n: usize) -> Vec<String> {
    let mut q = Vec::new();
    for k in 0..64 {
        let i = (k * 7919) % n;
        q.push(match i % 3 {
            0 => format!("api{i}.example{i}.com"),
            1 => format!("www.svc{i}.example.net"),
            _ => format!("a.b.c.zone{i}.example.org"),
        });
        q.push(format!("miss{k}.nowhere.example.io"));
    }
    q
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_lookup");
    for n in [10usize, 1_000, 100_000] {
        let policy = Policy::from_toml_str(&policy_text(n), "bench").unwrap();
        let qs = queries(n);
        let baseline: HashMap<String, usize> = qs
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, h)| (h, i))
            .collect();
        let mut k = 0usize;
        group.bench_function(format!("keypin_rule_for/{n}"), |b| {
            b.iter(|| {
                k = (k + 1) % qs.len();
                black_box(policy.rule_for(black_box(&qs[k])))
            })
        });
        group.bench_function(format!("baseline_hashmap_get/{n}"), |b| {
            b.iter(|| {
                k = (k + 1) % qs.len();
                black_box(baseline.get(black_box(qs[k].as_str())))
            })
        });
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let text = policy_text(100_000);
    let mut group = c.benchmark_group("policy_load");
    group.sample_size(10);
    group.bench_function("from_toml_str/100000", |b| {
        b.iter(|| black_box(Policy::from_toml_str(black_box(&text), "bench").unwrap()))
    });
    group.bench_function("baseline_toml_parse_only/100000", |b| {
        b.iter(|| black_box(text.parse::<toml::Table>().unwrap()))
    });
    group.finish();
}

criterion_group!(benches, lookup, load);
criterion_main!(benches);
