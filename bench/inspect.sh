#!/usr/bin/env bash
# `keypin inspect --json` vs the openssl pipeline a user runs today to get every pin of one
# loopback host (issue #8 item 4, target: keypin at least 5x faster, wall time). Same server,
# same run, runs alternated. The pipeline: `openssl s_client -showcerts`, then per served
# certificate `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256
# -binary | base64`. Usage: bench/inspect.sh [RUNS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
tgt=${CARGO_TARGET_DIR:-target}
if [ -z "${KEYPIN_BENCH_NO_BUILD:-}" ]; then
    cargo build --release -q -p keypin-cli && cargo build --release -q -p keypin-pki --example many_servers
fi
dir=$(mktemp -d)
trap 'exec 3>&-; rm -rf "$dir"' EXIT
exec 3> >("$tgt"/release/examples/many_servers 1 "$dir" > "$dir/ready")
for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done
read -r host addr < "$dir/resolve.txt"
port=${addr##*:}

keypin_once() {
    "$tgt"/release/keypin inspect "$host:$port" --connect "$addr" --ca-file "$dir/root.pem" --json > "$dir/keypin.json"
}
openssl_once() {
    openssl s_client -connect "$addr" -servername "$host" -showcerts </dev/null 2>/dev/null \
        | awk -v d="$dir" '/-----BEGIN CERTIFICATE-----/{n++; f=d"/cert"n".pem"} f{print > f} /-----END CERTIFICATE-----/{close(f); f=""}'
    : > "$dir/openssl.pins"
    for c in "$dir"/cert*.pem; do
        openssl x509 -in "$c" -pubkey -noout | openssl pkey -pubin -outform der \
            | openssl dgst -sha256 -binary | openssl enc -base64 >> "$dir/openssl.pins"
    done
    rm -f "$dir"/cert*.pem
}
now() { date +%s%N; }

keypin_once; openssl_once
# Same answer, or the comparison means nothing: every openssl pin appears in keypin's output.
while read -r p; do
    grep -q "$p" "$dir/keypin.json" || { echo "keypin's output lacks openssl's pin $p" >&2; exit 1; }
done < "$dir/openssl.pins"

k=(); o=()
for _ in $(seq "$runs"); do
    t0=$(now); keypin_once; t1=$(now); openssl_once; t2=$(now)
    k+=($((t1 - t0))); o+=($((t2 - t1)))
done
python3 - "${k[*]}" "${o[*]}" "$(wc -l < "$dir/openssl.pins")" <<'PY'
import statistics, sys
k = [int(x) / 1e6 for x in sys.argv[1].split()]
o = [int(x) / 1e6 for x in sys.argv[2].split()]
mk, mo = statistics.median(k), statistics.median(o)
print(f"runs: {len(k)} alternating; pins per run: {sys.argv[3]} served certificates")
print(f"keypin inspect --json:      median {mk:.1f} ms (min {min(k):.1f}, max {max(k):.1f})")
print(f"openssl pipeline (baseline): median {mo:.1f} ms (min {min(o):.1f}, max {max(o):.1f})")
print(f"speed-up: {mo/mk:.1f}x")
PY
