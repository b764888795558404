#!/usr/bin/env bash
# Collector ingest on loopback: sustained rate with p99, a higher-rate probe, and a kill -9
# under load (every acknowledged report must be in the database after restart). The per-client
# rate limit is lifted here (one loopback client sends everything); tests cover the limit.
# Usage: bench/collector.sh [SECONDS]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin-cli
cargo build --release -q -p keypin-collector --example load
dir=$(mktemp -d)
token=bench-token-0123456789
port=18191
start() {
    "$tgt"/release/keypin collector serve --db "$dir/reports.db" --listen "127.0.0.1:$port" --token "$token" --rate-limit 1000000 >> "$dir/log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/login" && break; sleep 0.1; done
}
count() { curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/summary" | python3 -c 'import sys,json; print(sum(h["reports"] for h in json.load(sys.stdin)))'; }
trap 'kill -9 ${pid:-0} 2>/dev/null; rm -rf "$dir"' EXIT

start
echo "== sustained: 2000 reports/s for ${secs}s"
"$tgt"/release/examples/load "127.0.0.1:$port" 2000 "$secs" 16 | tee "$dir/sustained.json"
echo "stored: $(count)"
for rate in 4000 6000 8000; do
    echo "== probe: $rate reports/s for 5s"
    "$tgt"/release/examples/load "127.0.0.1:$port" "$rate" 5 32
done

echo "== kill -9 under load"
before=$(count)
"$tgt"/release/examples/load "127.0.0.1:$port" 2000 4 16 > "$dir/crash.json" &
loader=$!
sleep 2
kill -9 "$pid"
wait "$loader" || true
cat "$dir/crash.json"
acked=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["acked"])' "$dir/crash.json")
start
after=$(count)
echo "acknowledged during crash run: $acked; stored before: $before; stored after restart: $after"
if [ $((after - before)) -ge "$acked" ]; then echo "durability: OK (every acknowledged report is stored)"; else echo "durability: LOST REPORTS"; exit 1; fi
