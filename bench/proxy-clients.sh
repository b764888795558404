#!/usr/bin/env bash
# Runs real clients through `keypin lab proxy --cycle` (one proxy run per client, 10 tunnels:
# every scenario once) to a genuine loopback server, and prints one row per client: what each
# scenario's verdict was. The README's real-client table comes from this script.
#   bench/proxy-clients.sh      (needs curl, wget, openssl, python3, java/javac/keytool)
set -euo pipefail
cd "$(dirname "$0")/.."
tgt=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keypin-cli
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
host=api.keypin.test
# The genuine server: a throwaway CA and leaf, served by openssl.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Genuine Root" \
    -keyout "$dir/root.key" -out "$dir/root.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" \
    -keyout "$dir/leaf.key" -out "$dir/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$host" > "$dir/ext"
openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/root.pem" -CAkey "$dir/root.key" -CAcreateserial \
    -days 2 -extfile "$dir/ext" -out "$dir/leaf.pem" 2>/dev/null
openssl s_server -quiet -www -accept 127.0.0.1:19443 -cert "$dir/leaf.pem" -key "$dir/leaf.key" \
    -cert_chain "$dir/root.pem" > /dev/null 2>&1 &
pids+=($!)
pin=$(openssl x509 -in "$dir/leaf.pem" -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64)
cat > "$dir/Get.java" <<'JAVA'
public class Get { public static void main(String[] a) throws Exception {
  var c = (java.net.HttpURLConnection) new java.net.URL(a[0]).openConnection();
  c.setConnectTimeout(5000); c.setReadTimeout(5000);
  System.exit(c.getResponseCode() == 200 ? 0 : 1); } }
JAVA
javac -d "$dir" "$dir/Get.java"
run() { # NAME COMMAND...: the client through a fresh cycling proxy, 10 tunnels
    local name=$1; shift
    "$tgt"/release/keypin lab proxy --listen 127.0.0.1:18090 --cycle --max-connections 10 \
        --upstream-resolve "$host=127.0.0.1:19443" --ca-out "$dir/ca" --report "$dir/$name.json" \
        > "$dir/$name.out" 2>&1 &
    local p=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18090) 2>/dev/null && break; sleep 0.1; done
    cat "$dir/ca/keypin-lab-all-cas.pem" "$dir/root.pem" > "$dir/trust.pem"
    if [ "$name" = java ] && [ ! -f "$dir/trust.p12" ]; then
        csplit -s -z -f "$dir/ca-" "$dir/trust.pem" '/-----BEGIN CERTIFICATE-----/' '{*}'
        for f in "$dir"/ca-*; do
            keytool -importcert -noprompt -storetype PKCS12 -storepass changeit -alias "$(basename "$f")" \
                -file "$f" -keystore "$dir/trust.p12" > /dev/null
        done
    fi
    for _ in $(seq 10); do "$@" > /dev/null 2>&1 || true; done
    wait "$p" || true
}
proxy=http://127.0.0.1:18090
url=https://$host/
run curl curl -sS --max-time 5 --proxy $proxy --cacert "$dir/trust.pem" $url
run curl-pinnedpubkey curl -sS --max-time 5 --proxy $proxy --cacert "$dir/trust.pem" --pinnedpubkey "sha256//$pin" $url
run python-urllib env https_proxy=$proxy python3 -c "import ssl,sys,urllib.request as u; u.urlopen(sys.argv[1], context=ssl.create_default_context(cafile=sys.argv[2]), timeout=5)" $url "$dir/trust.pem"
run python-requests env https_proxy=$proxy python3 -c "import sys,requests; requests.get(sys.argv[1], verify=sys.argv[2], timeout=5).raise_for_status()" $url "$dir/trust.pem"
run wget wget -q -O /dev/null --tries=1 --timeout=5 --ca-certificate="$dir/trust.pem" -e use_proxy=yes -e https_proxy=$proxy $url
run openssl-s_client sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -quiet -verify_return_error -proxy 127.0.0.1:18090 -connect $host:443 -servername $host -verify_hostname $host -CAfile $dir/trust.pem"
run java java -cp "$dir" -Djavax.net.ssl.trustStore="$dir/trust.p12" -Djavax.net.ssl.trustStorePassword=changeit -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=18090 Get $url
python3 - "$dir" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
order = ["P0", "A3", "A1", "A2", "A4", "A6", "A7", "A9-sha1", "A9-rsa1024", "A14-tls1.0"]
print("| client | " + " | ".join(order) + " | verdict |")
print("|---|" + "---|" * (len(order) + 1))
for name in ["curl", "curl-pinnedpubkey", "python-urllib", "python-requests", "wget", "openssl-s_client", "java"]:
    r = json.loads((d / f"{name}.json").read_text())
    v = {x["id"]: x for x in r["verdicts"]}
    cells = []
    for s in order:
        x = v.get(s)
        cells.append("—" if x is None else ("**accepted**" if x["observed"] == "accepted" and s != "P0" else x["observed"]))
    fails = [x["id"] for x in r["verdicts"] if x["outcome"] == "FAIL"]
    print(f"| {name} | " + " | ".join(cells) + " | " + ("every row as a pinning client" if not fails else "FAIL: " + ", ".join(fails)) + " |")
PY
