#!/usr/bin/env bash
# keypin monitor over N loopback TLS endpoints vs a sequential `openssl s_client` loop over
# the same endpoints, in the same run. Usage: bench/monitor.sh [N]   (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin-cli && cargo build --release -q -p keypin-pki --example many_servers
dir=$(mktemp -d)
trap 'exec 3>&-; rm -rf "$dir"' EXIT
# The harness serves until its stdin closes (fd 3 here).
exec 3> >("$tgt"/release/examples/many_servers "$n" "$dir" > "$dir/ready")
for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done

t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$dir/rss" "$tgt"/release/keypin monitor "$dir/policy.toml" \
    --resolve-file "$dir/resolve.txt" --ca-file "$dir/root.pem" --json > "$dir/monitor.json"
t1=$(date +%s.%N)
pass=$(grep -c '"verdict": "pass"' "$dir/monitor.json" || true)

t2=$(date +%s.%N)
ok=0
while read -r host addr; do
    if openssl s_client -connect "$addr" -servername "$host" -CAfile "$dir/root.pem" \
        -verify_return_error </dev/null >/dev/null 2>&1; then ok=$((ok + 1)); fi
done < "$dir/resolve.txt"
t3=$(date +%s.%N)

python3 - "$t0" "$t1" "$t2" "$t3" "$n" "$pass" "$ok" "$(cat "$dir/rss")" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:5])
n, passed, ok, rss = sys.argv[5:9]
k, o = t1 - t0, t3 - t2
print(f"endpoints: {n}")
print(f"keypin monitor: {k:.2f} s ({passed} hosts passed), peak RSS {int(rss)//1024} MiB")
print(f"openssl s_client loop (baseline): {o:.2f} s ({ok} handshakes verified)")
print(f"speed-up: {o/k:.1f}x")
PY
