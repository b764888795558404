#!/usr/bin/env bash
# Instruction counts (valgrind/callgrind, deterministic) of keypin's pinning verifier and
# rustls' WebPkiServerVerifier over the same chain (same keys: one process runs both, each in
# its own loop function), N verifications each, setup excluded. keypin is measured three ways:
# verification cache off (every call in full), cache missing every time (a first
# verification: lookup, full verification, insert), and cache hitting every time (BENCHMARKS
# §1 and §16).
# Usage: bench/verifier-instructions.sh [N]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
tgt=${CARGO_TARGET_DIR:-target}
# The bench profile shares its build with `cargo bench`.
cargo build --profile bench -q -p keypin --example verify_count
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for alg in p256 rsa2048; do
    for which in keypin keypin-miss keypin-hit; do
        valgrind --tool=callgrind --callgrind-out-file="$out" \
            "$tgt"/release/examples/verify_count "$alg" "pair:rustls,$which" "$n" >/dev/null 2>&1
        callgrind_annotate --inclusive=yes "$out" | python3 -c '
import re, sys
alg, which, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = sys.stdin.read().splitlines()
def cost(marker, callee):
    for i, line in enumerate(lines):
        if marker in line:
            m = re.match(r"\s*([\d,]+) .*=> .*" + callee, lines[i + 1])
            return int(m.group(1).replace(",", ""))
r = cost("measured_loop(&*a", "measured_loop")
k = cost("second_loop(&*b", "second_loop")
print(f"{alg}: rustls {r/n:,.0f} instr/verify, {which} {k/n:,.0f} instr/verify, ratio {k/r:.4f} ({r/k:.1f}x fewer)")
' "$alg" "$which" "$n"
    done
done
