//! The cost of keypin-shield's checks (issue #19 targets: a full scan under 2 ms, a cheap check
//! under 50 µs), with the baseline in the same run: reading `/proc/self/status` once, the
//! smallest thing any check does.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin_shield::{Check, Shield};

#[inline(never)]
fn guarded_a(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

#[inline(never)]
fn guarded_b(x: &[u8]) -> u8 {
    x.iter().fold(0, |a, b| a ^ b)
}

fn bench(c: &mut Criterion) {
    let mut shield = Shield::new();
    shield.guard("guarded_a", guarded_a as *const ()).unwrap();
    shield.guard("guarded_b", guarded_b as *const ()).unwrap();
    assert!(shield.scan().unwrap().is_clean());
    assert_eq!(
        black_box(guarded_a)(1) ^ u64::from(black_box(guarded_b)(&[1])),
        guarded_a(1) ^ 1
    );

    let mut g = c.benchmark_group("shield");
    g.bench_function("baseline: read /proc/self/status", |b| {
        b.iter(|| std::fs::read(black_box("/proc/self/status")).unwrap())
    });
    for (name, checks) in [
        ("SH001 tracer", &[Check::Tracer][..]),
        ("SH006 LD_PRELOAD", &[Check::Preload]),
        ("SH008-010 guarded code (2 functions)", &[Check::Breakpoint]),
        ("SH002/003/007 maps", &[Check::InstrumentationLibrary]),
        ("SH004 thread names", &[Check::InstrumentationThread]),
        ("SH005 frida port", &[Check::FridaPort]),
        ("quick()", &Shield::QUICK),
        ("scan()", &Check::ALL),
    ] {
        g.bench_function(name, |b| b.iter(|| shield.run(black_box(checks)).unwrap()));
    }
    g.bench_function("guard() one function (once, at start-up)", |b| {
        b.iter(|| {
            let mut s = Shield::new();
            s.guard("guarded_a", black_box(guarded_a as *const ()))
                .unwrap();
            s
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
