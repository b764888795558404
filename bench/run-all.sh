#!/usr/bin/env bash
# The whole benchmark suite (issue #8), then one summary table: figure, value, baseline,
# ratio, target, met. Every ratio is against a baseline measured in the same run.
#
#   bench/run-all.sh --quick   short criterion measurements, small script runs (CI; minutes)
#   bench/run-all.sh --full    criterion defaults and the scripts' own defaults (humans)
#
# Results go to $KEYPIN_BENCH_OUT (default: a fresh temp dir, printed at the end); the summary
# is also written there as summary.md. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:---quick}
case "$mode" in
    --quick) crit=(--warm-up-time 1 --measurement-time 2 --noplot); inspect_runs=5; monitor_n=500; monitor_rounds=1; lab_runs=3; collector_secs=5 ;;
    --full) crit=(--noplot); inspect_runs=20; monitor_n=500; monitor_rounds=3; lab_runs=7; collector_secs=30 ;;
    *) echo "usage: bench/run-all.sh [--quick|--full]" >&2; exit 2 ;;
esac
tgt=${CARGO_TARGET_DIR:-target}
out=${KEYPIN_BENCH_OUT:-$(mktemp -d)}
mkdir -p "$out"
log() { echo "== $*" >&2; }

log "building (release)"
cargo build --release -q -p keypin-cli
cargo build --release -q -p keypin-pki --example many_servers
cargo build --release -q -p keypin-lab --example pki_only
cargo build --release -q -p keypin-collector --example load
cargo build --release -q -p keypin --example policy_load_mem

# Benches use the release profile: the artifacts built above are reused (the workspace's bench
# profile adds debug info for callgrind, which would mean a second full build).
# Criterion results of earlier runs must not leak into this summary.
rm -rf "$tgt/criterion"
for b in verifier handshake lookup bundle; do
    log "cargo bench --bench $b"
    cargo bench -q --profile release -p keypin --bench "$b" -- "${crit[@]}" > "$out/bench-$b.txt" 2>&1
done
log "cargo bench --bench updater"
cargo bench -q --profile release -p keypin --features updater --bench updater -- "${crit[@]}" > "$out/bench-updater.txt" 2>&1
log "cargo bench --bench reports"
cargo bench -q --profile release -p keypin --features reports --bench reports -- "${crit[@]}" > "$out/bench-reports.txt" 2>&1

log "policy load memory (100,000 rules)"
for m in text toml keypin; do
    "$tgt"/release/examples/policy_load_mem 100000 "$m"
done > "$out/policy-mem.jsonl"

log "bench/inspect.sh $inspect_runs"
bench/inspect.sh "$inspect_runs" > "$out/inspect.txt" 2>&1 || echo "inspect.sh failed" >> "$out/inspect.txt"
log "bench/monitor.sh $monitor_n $monitor_rounds"
bench/monitor.sh "$monitor_n" "$monitor_rounds" > "$out/monitor.txt" 2>&1 || echo "monitor.sh failed" >> "$out/monitor.txt"
log "bench/lab.sh $lab_runs"
bench/lab.sh "$lab_runs" > "$out/lab.txt" 2>&1 || echo "lab.sh failed" >> "$out/lab.txt"
log "bench/collector.sh $collector_secs"
bench/collector.sh "$collector_secs" > "$out/collector.txt" 2>&1 || echo "collector.sh failed" >> "$out/collector.txt"

python3 bench/summary.py "$tgt/criterion" "$out" | tee "$out/summary.md"
echo "raw results: $out" >&2
