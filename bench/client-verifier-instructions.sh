#!/usr/bin/env bash
# Instruction counts (valgrind/callgrind, deterministic) of keypin's PinnedClientVerifier and
# rustls' WebPkiClientVerifier over the same client chain, N verifications each, setup excluded.
# Usage: bench/client-verifier-instructions.sh [N]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin --example client_verify_count
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*measured_loop*' \
        "$tgt"/release/examples/client_verify_count "$1" "$2" "$n" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for alg in p256 rsa2048; do
    r=$(count "$alg" rustls)
    k=$(count "$alg" keypin)
    python3 -c "import sys; r,k,n=map(int,sys.argv[1:4]); print(f'{sys.argv[4]}: rustls {r/n:,.0f} instr/verify, keypin {k/n:,.0f} instr/verify, ratio {k/r:.3f}')" "$r" "$k" "$n" "$alg"
done
