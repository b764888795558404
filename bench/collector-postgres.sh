#!/usr/bin/env bash
# Collector ingest on PostgreSQL (BENCHMARKS.md §21): two collector instances on one database,
# each loaded at half the rate, for SECONDS; then the same total rate on one instance with an
# SQLite file, for the figure beside it. Every acknowledged report must be stored: the rows
# counted in each database equal the acknowledged reports summed over the loaders.
# A throwaway PostgreSQL cluster (fsync on, defaults otherwise) is made in a temporary
# directory from initdb/pg_ctl (PATH or /usr/lib/postgresql/*/bin), as `postgres` when root.
# Usage: bench/collector-postgres.sh [SECONDS] [RATE]   (defaults: 30, 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
rate=${2:-5000}
half=$((rate / 2))
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin-cli
cargo build --release -q -p keypin-collector --example load
bin=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
dir=$(mktemp -d)
as=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; as=(runuser -u postgres --); fi
token=bench-token-0123456789
pgport=18200
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U keypin -A trust -E UTF8 >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/log" -w \
    -o "-p $pgport -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
"$bin/psql" -X -q -h 127.0.0.1 -p "$pgport" -U keypin -d postgres -c "CREATE DATABASE reports"
url="postgres://keypin@127.0.0.1:$pgport/reports"

serve() { # DB PORT
    "$tgt"/release/keypin collector serve --db "$1" --listen "127.0.0.1:$2" --token "$token" \
        --rate-limit 1000000 >> "$dir/collector.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$2/login" && break; sleep 0.1; done
}
acked() { python3 -c 'import json,sys; print(sum(json.load(open(f))["acked"] for f in sys.argv[1:]))' "$@"; }

echo "== PostgreSQL: two instances, $half reports/s each for ${secs}s"
serve "$url" 18193
serve "$url" 18194
"$tgt"/release/examples/load 127.0.0.1:18193 "$half" "$secs" 32 > "$dir/a.json" &
la=$!
"$tgt"/release/examples/load 127.0.0.1:18194 "$half" "$secs" 32 > "$dir/b.json" &
lb=$!
wait "$la" "$lb"
cat "$dir/a.json" "$dir/b.json"
stored=$("$bin/psql" -X -At -h 127.0.0.1 -p "$pgport" -U keypin -d reports -c "SELECT count(*) FROM reports")
echo "acknowledged: $(acked "$dir/a.json" "$dir/b.json"); stored: $stored"

echo "== SQLite: one instance, $rate reports/s for ${secs}s"
serve "$dir/reports.db" 18195
"$tgt"/release/examples/load 127.0.0.1:18195 "$rate" "$secs" 32 > "$dir/s.json"
cat "$dir/s.json"
stored=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:18195/v1/summary" \
    | python3 -c 'import sys,json; print(sum(h["reports"] for h in json.load(sys.stdin)))')
echo "acknowledged: $(acked "$dir/s.json"); stored: $stored"
