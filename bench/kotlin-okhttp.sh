#!/bin/sh
# keypin for OkHttp, measured (issue #20; results in BENCHMARKS.md):
# - full TLS handshakes/s through OkHttp on loopback, keypin's check vs OkHttp's
#   CertificatePinner on the same pins, short alternating rounds in one run (ratio of totals);
# - one Keypin.check across the FFI (JVM, JNA) and the same check in Rust;
# - the size of the stripped native library (cargo profile `ffi`, as shipped).
# Run from the repository root. Needs Java 17, Maven and the Rust toolchain.
set -eu
mvn -B -q -f bindings/kotlin/pom.xml -Prelease verify \
    -Dtest=HandshakeBenchTest -Dkeypin.bench=true -Dsurefire.failIfNoSpecifiedTests=false
results=bindings/kotlin/target/keypin-results
cat "$results/bench.txt"
cargo run -q --profile ffi -p keypin-ffi --example check_timing -- "$results/bench-path"
so=target/ffi/libkeypin_ffi.so   # cargo profile ffi: LTO, opt-level z (symbols kept for uniffi-bindgen)
cp "$so" "$results/libkeypin_ffi.stripped.so"
strip "$results/libkeypin_ffi.stripped.so"
size=$(stat -c %s "$results/libkeypin_ffi.stripped.so")
echo "stripped release libkeypin_ffi.so (linux-x86_64): $size bytes ($(awk "BEGIN { printf \"%.2f\", $size / 1048576 }") MiB)"
