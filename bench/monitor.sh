#!/usr/bin/env bash
# keypin monitor over N loopback TLS endpoints vs a sequential `openssl s_client` loop over
# the same endpoints, in the same run. Usage: bench/monitor.sh [N [ROUNDS]]   (default 500 3)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
rounds=${2:-3}
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin-cli && cargo build --release -q -p keypin-pki --example many_servers
dir=$(mktemp -d)
trap 'exec 3>&-; rm -rf "$dir"' EXIT
# The harness serves until its stdin closes (fd 3 here).
exec 3> >("$tgt"/release/examples/many_servers "$n" "$dir" > "$dir/ready")
for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done

# Alternate the two sides ROUNDS times so both see the same machine load; medians compared.
k=(); o=()
for _ in $(seq "$rounds"); do
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$dir/rss" "$tgt"/release/keypin monitor "$dir/policy.toml" \
        --resolve-file "$dir/resolve.txt" --ca-file "$dir/root.pem" --json > "$dir/monitor.json"
    t1=$(date +%s%N)
    pass=$(grep -c '"verdict": "pass"' "$dir/monitor.json" || true)
    ok=0
    while read -r host addr; do
        if openssl s_client -connect "$addr" -servername "$host" -CAfile "$dir/root.pem" \
            -verify_return_error </dev/null >/dev/null 2>&1; then ok=$((ok + 1)); fi
    done < "$dir/resolve.txt"
    t2=$(date +%s%N)
    # Both sides must judge every endpoint, or the comparison means nothing.
    [ "$pass" = "$n" ] && [ "$ok" = "$n" ] || { echo "keypin passed $pass, openssl verified $ok of $n" >&2; exit 1; }
    k+=($((t1 - t0))); o+=($((t2 - t1)))
done

python3 - "${k[*]}" "${o[*]}" "$n" "$(cat "$dir/rss")" <<'PY'
import statistics, sys
k = [int(x) / 1e9 for x in sys.argv[1].split()]
o = [int(x) / 1e9 for x in sys.argv[2].split()]
n, rss = sys.argv[3], int(sys.argv[4])
mk, mo = statistics.median(k), statistics.median(o)
print(f"endpoints: {n}; rounds: {len(k)} alternating")
print(f"keypin monitor: median {mk:.3f} s ({', '.join(f'{x:.3f}' for x in k)}), peak RSS {rss // 1024} MiB")
print(f"openssl s_client loop (baseline): median {mo:.3f} s ({', '.join(f'{x:.3f}' for x in o)})")
print(f"speed-up: {mo/mk:.1f}x (per round: {', '.join(f'{b/a:.1f}' for a, b in zip(k, o))})")
PY
