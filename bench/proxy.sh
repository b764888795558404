#!/usr/bin/env bash
# keypin lab proxy vs mitmproxy, same machine, same script, same load (BENCHMARKS.md §18):
# 8 client threads open tunnels back to back (CONNECT, a full TLS handshake with a forged
# chain, one GET answered by the proxy itself, close), alternating the two proxies ROUNDS times
# so both see the same machine load. Then keypin's proxy holds COUNT tunnels at once.
#   bench/proxy.sh [SECONDS [ROUNDS [COUNT]]]   (default 10 3 200)
# mitmproxy is installed from PyPI into a virtual environment (the only network this script
# uses; the load itself is loopback only). KEYPIN_MITM_VENV reuses an existing one.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-3}
count=${3:-200}
tgt=${CARGO_TARGET_DIR:-target}
venv=${KEYPIN_MITM_VENV:-$(mktemp -d)/venv}
if [ ! -x "$venv/bin/mitmdump" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q mitmproxy
fi
cargo build --release -q -p keypin-cli
cargo build --release -q -p keypin-lab --example proxy_load
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
# mitmproxy answers every request itself and never dials the host (lazy connection
# strategy): the same work as keypin's forged scenario servers.
cat > "$dir/respond.py" <<'PY'
from mitmproxy import http
def request(flow):
    flow.response = http.Response.make(200, b"hello from mitmproxy\n", {"Content-Type": "text/plain"})
PY
kport=18181; mport=18182
"$tgt"/release/keypin lab proxy --listen 127.0.0.1:$kport --scenario A3 > "$dir/keypin.out" 2>&1 &
pids+=($!)
"$venv/bin/mitmdump" -q --listen-host 127.0.0.1 -p $mport -s "$dir/respond.py" \
    --set connection_strategy=lazy --set confdir="$dir/mitm" > "$dir/mitm.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$kport) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$mport) 2>/dev/null && break
    sleep 0.2
done
load="$tgt/release/examples/proxy_load"
target=api.keypin.test:443
# Warm-up: mitmproxy makes its CA and the host's leaf on first use; keypin mints on first use.
"$load" rate 127.0.0.1:$kport $target 8 2 > /dev/null
"$load" rate 127.0.0.1:$mport $target 8 2 > /dev/null
for r in $(seq "$rounds"); do
    k=$("$load" rate 127.0.0.1:$kport $target 8 "$secs")
    m=$("$load" rate 127.0.0.1:$mport $target 8 "$secs")
    echo "round $r keypin:    $k"
    echo "round $r mitmproxy: $m"
    python3 -c "import sys; k=float(sys.argv[1]); m=float(sys.argv[2]); print(f'round $r ratio keypin/mitmproxy {k/m:.2f}')" \
        "$(echo "$k" | awk '{print $2}')" "$(echo "$m" | awk '{print $2}')"
done
"$load" hold 127.0.0.1:$kport $target "$count"
"$load" newhosts 127.0.0.1:$kport 200
