#!/usr/bin/env bash
# Dashboard pages at fleet size (BENCHMARKS.md §22): every page and download of the collector's
# dashboard timed over REQUESTS sequential requests on a store holding N reports, on SQLite and
# on PostgreSQL, and the same on a store of SMALL reports as the baseline.
# The reports are loaded through the store's own insert (roll-ups kept as in production) by
# examples/dashboard_bench.rs; PostgreSQL is then VACUUM ANALYZEd (as autovacuum would after such a
# load). A throwaway PostgreSQL cluster (fsync on, defaults otherwise) is made in a temporary
# directory from initdb/pg_ctl (PATH or /usr/lib/postgresql/*/bin), as `postgres` when root.
# Usage: bench/dashboard.sh [N [REQUESTS [SMALL]]]   (defaults: 1000000, 50, 10000);
# SQLITE_ONLY=1 skips PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
requests=${2:-50}
small=${3:-10000}
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin-collector --example dashboard_bench
b="$tgt"/release/examples/dashboard_bench
bin=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
dir=$(mktemp -d)
as=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; as=(runuser -u postgres --); fi
pgport=18210
cleanup() {
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U keypin -A trust -E UTF8 >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/log" -w \
    -o "-p $pgport -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
psql() { "$bin/psql" -X -q -h 127.0.0.1 -p "$pgport" -U keypin "$@"; }
for size in "$small" "$n"; do
    echo "== SQLite, $size reports"
    "$b" load "$dir/r$size.db" "$size"
    ls -l "$dir/r$size.db" | awk '{print "file bytes: " $5}'
    "$b" pages "$dir/r$size.db" "$requests"
    rm -f "$dir/r$size.db"*
    [ "${SQLITE_ONLY:-}" = 1 ] && continue
    psql -d postgres -c "CREATE DATABASE r$size"
    url="postgres://keypin@127.0.0.1:$pgport/r$size"
    echo "== PostgreSQL, $size reports"
    "$b" load "$url" "$size"
    psql -d "r$size" -c "VACUUM ANALYZE"
    "$b" pages "$url" "$requests"
done
