#!/usr/bin/env python3
"""Summary table for bench/run-all.sh: reads criterion's estimates and the scripts' outputs.

Usage: summary.py CRITERION_DIR RESULTS_DIR. Prints a Markdown table: figure, value, baseline,
ratio, target, met. A figure whose run failed shows "missing" instead of a number.
"""
import json
import pathlib
import re
import sys

crit = pathlib.Path(sys.argv[1])
out = pathlib.Path(sys.argv[2])
rows = []


def median_ns(bench_id):
    # Criterion keeps "group/function/param" as directory group/function_param.
    group, _, name = bench_id.partition("/")
    f = crit / group / name.replace("/", "_") / "new" / "estimates.json"
    try:
        return json.loads(f.read_text())["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def fmt_time(ns):
    if ns is None:
        return "missing"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def row(figure, value, baseline, ratio, target, met):
    if isinstance(ratio, str):
        ratio_s = ratio
    else:
        ratio_s = "missing" if ratio is None else f"{ratio:.3g}"
    met_s = "—" if met is None else ("yes" if met else "**no**")
    rows.append((figure, value, baseline, ratio_s, target, met_s))


def pair(figure, keypin_id, base_id, target, check, per_second=False):
    k, b = median_ns(keypin_id), median_ns(base_id)
    if per_second:
        # Throughput: handshakes/s; the ratio is keypin's rate over the baseline's.
        ratio = None if not (k and b) else b / k
        val = "missing" if not k else f"{1e9 / k:.0f}/s"
        base = "missing" if not b else f"{1e9 / b:.0f}/s"
    else:
        ratio = None if not (k and b) else k / b
        val, base = fmt_time(k), fmt_time(b)
    row(figure, val, base, ratio, target, None if ratio is None else check(ratio, k))


for alg in ("p256", "rsa2048"):
    pair(f"1. verifier vs WebPkiServerVerifier ({alg})",
         f"verify_server_cert/keypin_pinned/{alg}", f"verify_server_cert/rustls_webpki/{alg}",
         "ratio ≤ 1.03", lambda r, k: r <= 1.03)
for alg in ("p256", "rsa2048"):
    pair(f"2. TLS 1.3 handshakes/s on loopback ({alg})",
         f"tls13_handshake/keypin_pinned/{alg}", f"tls13_handshake/rustls_webpki/{alg}",
         "ratio ≥ 0.97", lambda r, k: r >= 0.97, per_second=True)
for alg in ("p256", "rsa2048"):
    pair(f"16. verification cache: repeat vs WebPkiServerVerifier ({alg})",
         f"verify_server_cert/keypin_cache_hit/{alg}", f"verify_server_cert/rustls_webpki/{alg}",
         "≥ 20× faster", lambda r, k: r <= 1 / 20)
    pair(f"16. verification cache: first verification vs WebPkiServerVerifier ({alg})",
         f"verify_server_cert/keypin_cache_miss/{alg}", f"verify_server_cert/rustls_webpki/{alg}",
         "ratio ≤ 1.01", lambda r, k: r <= 1.01)
    pair(f"16. TLS 1.3 handshakes/s, verification cache on ({alg})",
         f"tls13_handshake/keypin_cached/{alg}", f"tls13_handshake/rustls_webpki/{alg}",
         "ratio ≥ 1.0", lambda r, k: r >= 1.0, per_second=True)
for n in ("10", "1000", "100000"):
    pair(f"3. policy lookup, {int(n):,} rules",
         f"policy_lookup/keypin_rule_for/{n}", f"policy_lookup/baseline_hashmap_get/{n}",
         "< 1 µs median", lambda r, k: k is not None and k < 1000)
pair("3. load a 100,000-rule policy (time)",
     "policy_load/from_toml_str/100000", "policy_load/baseline_toml_parse_only/100000",
     "—", lambda r, k: None)
try:
    lines = (out / "policy-mem.jsonl").read_text().splitlines()
    mem = {j["mode"]: j for j in map(json.loads, filter(None, lines))}
    floor = mem["text"]["peak_rss_kib"]
    k = mem["keypin"]["peak_rss_kib"] - floor
    t = mem["toml"]["peak_rss_kib"] - floor
    row("3. load a 100,000-rule policy (peak RSS above the text)",
        f"{k / 1024:.0f} MiB (kept: {(mem['keypin']['rss_after_kib'] - mem['text']['rss_after_kib']) / 1024:.0f} MiB)",
        f"{t / 1024:.0f} MiB (toml::Table)", k / t if t else None, "—", None)
except (OSError, KeyError, ValueError):
    row("3. load a 100,000-rule policy (peak RSS)", "missing", "missing", None, "—", None)


def text(name):
    try:
        return (out / name).read_text()
    except OSError:
        return ""


m = re.search(r"keypin inspect --json:\s+median ([\d.]+) ms.*\n.*baseline\): median ([\d.]+) ms", text("inspect.txt"))
if m:
    k, o = float(m[1]), float(m[2])
    row("4. inspect --json vs openssl pipeline (wall)", f"{k:.1f} ms", f"{o:.1f} ms", o / k, "≥ 5× faster", o / k >= 5)
else:
    row("4. inspect --json vs openssl pipeline (wall)", "missing", "missing", None, "≥ 5× faster", None)

k = median_ns("bundle_1000_rules/verify_bundle_3_sigs")
b = median_ns("bundle_1000_rules/baseline_parse_policy_toml")
row("5. verify a signed 1,000-rule bundle", fmt_time(k), fmt_time(b) + " (parse only)",
    None if not (k and b) else k / b, "< 5 ms", None if k is None else k < 5e6)
pair("5. updater no-change check (304)", "updater_no_change/keypin_check_now_304",
     "updater_no_change/bare_http_304_round_trip", "—", lambda r, k: None)
pair("5. report sender attached, pin matches (verification)", "report_sending/verify_ok/with_sender",
     "report_sending/verify_ok/no_sender", "none measurable (≤ 1.05)", lambda r, k: r <= 1.05)
pair("5. report sender attached, pin mismatch (verification + report)",
     "report_sending/verify_refused/with_sender", "report_sending/verify_refused/no_sender",
     "—", lambda r, k: None)
pair("5. one new report built and queued (pin_event)", "report_sending/pin_event_distinct",
     "report_sending/verify_ok/no_sender", "—", lambda r, k: None)

c = text("collector.txt")
sustained = re.search(r"== sustained: (\d+) reports/s.*\n(\{.*\})", c)
if sustained:
    j = json.loads(sustained[2])
    row("6. collector ingest, sustained", f"{j['rate']:.0f} reports/s, p99 {j['p99_ms']:.1f} ms",
        f"{sustained[1]}/s offered", j["acked"] / j["sent"] if j["sent"] else None,
        "2,000/s, p99 < 50 ms", j["rate"] >= 1900 and j["p99_ms"] < 50 and j["acked"] == j["sent"])
else:
    row("6. collector ingest, sustained", "missing", "—", None, "2,000/s, p99 < 50 ms", None)
row("6. collector kill -9: acknowledged reports kept", "OK" if "durability: OK" in c else "missing/LOST",
    "—", "—", "none lost", "durability: OK" in c if c else None)

m = re.search(r"endpoints: (\d+);.*\nkeypin monitor: median ([\d.]+) s.*\n.*baseline\): median ([\d.]+) s", text("monitor.txt"))
if m:
    k, o = float(m[2]), float(m[3])
    # The target is stated for 500 endpoints; another count is shown but not judged.
    judged = o / k >= 20 if m[1] == "500" else None
    row(f"7. monitor, {m[1]} endpoints vs openssl loop", f"{k:.3f} s", f"{o:.3f} s", o / k, "≥ 20× faster at 500 endpoints", judged)
else:
    row("7. monitor vs openssl loop", "missing", "missing", None, "≥ 20× faster", None)

m = re.search(r"keypin lab run:\s+median (\d+) ms.*\n.*generation only: median (\d+) ms", text("lab.txt"))
if m:
    k, g = int(m[1]), int(m[2])
    row("lab run, every scenario (wall)", f"{k} ms", f"{g} ms (certificates only)", k / g, "< 5 s", k < 5000)
else:
    row("lab run, every scenario (wall)", "missing", "missing", None, "< 5 s", None)

print("| figure | value | baseline | ratio | target | met |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
