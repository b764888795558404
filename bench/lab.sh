#!/usr/bin/env bash
# `keypin lab run` (keypin's own client, every scenario, certificate generation included) vs
# the lab's certificate generation alone, in the same run. Usage: bench/lab.sh [RUNS] (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin-cli && cargo build --release -q -p keypin-lab --example pki_only
lab=() pki=()
for _ in $(seq "$runs"); do
    t0=$(date +%s.%N)
    "$tgt"/release/keypin lab run > /dev/null
    t1=$(date +%s.%N)
    lab+=("$(python3 -c "print($t1 - $t0)")")
    t0=$(date +%s.%N)
    "$tgt"/release/examples/pki_only > /dev/null
    t1=$(date +%s.%N)
    pki+=("$(python3 -c "print($t1 - $t0)")")
done
python3 - "${lab[*]}" "${pki[*]}" <<'PY'
import statistics, sys
lab = [float(x) for x in sys.argv[1].split()]
pki = [float(x) for x in sys.argv[2].split()]
ml, mp = statistics.median(lab), statistics.median(pki)
print(f"runs: {len(lab)}")
print(f"keypin lab run:              median {ml*1000:.0f} ms (min {min(lab)*1000:.0f}, max {max(lab)*1000:.0f})")
print(f"certificate generation only: median {mp*1000:.0f} ms (min {min(pki)*1000:.0f}, max {max(pki)*1000:.0f})")
print(f"ratio lab run / generation:  {ml/mp:.2f}")
PY
