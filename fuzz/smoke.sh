#!/usr/bin/env bash
# Smoke run of every fuzz target: build them all, then run each for SECONDS (default 10) on its
# committed seeds plus the local corpus. Fails on the first crash, panic, leak or timeout, and
# prints the input that did it (under fuzz/artifacts/<target>/).
#
#   fuzz/smoke.sh [SECONDS]
#
# Environment: FUZZ_SANITIZER (address, the default, or none), FUZZ_TARGET_DIR (default
# fuzz/target), FUZZ_TARGETS (space-separated subset; default: all), FUZZ_SEED (libFuzzer
# -seed; default 1 so that a CI run is reproducible, 0 for a random one). Installs cargo-fuzz when
# it is missing. Builds keep debug assertions (overflow checks) on. Only stable Rust is needed:
# the sanitizer flags are unstable rustc options, so RUSTC_BOOTSTRAP=1 is set for this
# script's cargo calls only (FUZZ_SANITIZER=none would not need it).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-10}"
seed="${FUZZ_SEED:-1}"
sanitizer="${FUZZ_SANITIZER:-address}"
target_dir="${FUZZ_TARGET_DIR:-$PWD/target}"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"

echo "== building fuzz targets (sanitizer: $sanitizer)"
start=$(date +%s)
cargo fuzz build --debug-assertions --sanitizer "$sanitizer" --target-dir "$target_dir"
echo "   built in $(( $(date +%s) - start )) s"

failed=()
for t in $targets; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="$(mktemp)"
    echo "== $t: ${seconds} s"
    # corpus/<t> (first) collects new inputs; seeds/<t> is read only.
    if cargo fuzz run "$t" --debug-assertions --sanitizer "$sanitizer" --target-dir "$target_dir" \
        "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "   ok: $execs executions, $cov"
    else
        echo "   FAILED: $t"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact_prefix|thread' "$log" | head -20 || true
        failed+=("$t")
    fi
    rm -f "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== fuzz smoke run failed: ${failed[*]}"
    exit 1
fi
echo "== fuzz smoke run passed ($(echo $targets | wc -w) targets, ${seconds} s each)"
