#!/usr/bin/env bash
# Instruction counts (valgrind/callgrind, deterministic) of what the OCSP check adds to keypin's
# verifier: N verifications per mode, setup excluded (crates/keypin/examples/ocsp_count.rs).
# Usage: bench/ocsp-instructions.sh [N]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin --features ocsp --example ocsp_count
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*measured_loop*' \
        "$tgt"/release/examples/ocsp_count "$1" "$n" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
base=$(count off)
for mode in off ignored issuer delegated; do
    c=$(count "$mode")
    python3 -c "import sys; b,c,n=map(int,sys.argv[1:4]); print(f'{sys.argv[4]:>9}: {c/n:,.0f} instr/verify, ratio to off {c/b:.3f}')" "$base" "$c" "$n" "$mode"
done
