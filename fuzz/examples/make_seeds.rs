//! Writes the seed corpora under `fuzz/seeds/<target>/` from the same material the test
//! suites use: keypin-pki chains and keys, the exporters' output for a test policy, the
//! collector tests' reports, the fixed signed bundle, the SCT lists of the real CT test leaves,
//! and keypin-pki's OCSP responses.
//!
//! Run from `fuzz/`: `cargo run --example make_seeds [TARGET...]` (no sanitizer flags needed;
//! with target names, only those targets' seeds are rewritten). Files named `regression-*` (kept
//! crashing inputs) are never removed. Output is deterministic except for generated
//! certificates and keys (fresh on every run).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a generator run by hand

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keypin::{pin::Pin, pin::PinFormat, Policy};
use keypin_formats::{ExportFormat, export_with};
use keypin_fuzz::import::{as_document, export_options};
use keypin_fuzz::{fixture, pem};
use keypin_pki::{
    CertSpec, Chain, KeyAlg, OcspHash, OcspResponseSpec, OcspStatus, issue, ocsp_error_response,
    self_signed,
};
use rustls_pki_types::CertificateDer;

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";
const C: &str = "TwaMQAMjwj7UXYmIsEY2IMY07jyxBm+WhqBkTkKt57Y=";

/// The targets named on the command line (none: every target).
fn selected(target: &str) -> bool {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    wanted.is_empty() || wanted.iter().any(|t| t == target)
}

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    if !selected(target) {
        return;
    }
    let dir = Path::new("seeds").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    // Old seeds of the selected targets go, except the crashing inputs kept as regressions.
    for entry in fs::read_dir("seeds").into_iter().flatten().flatten() {
        let target = entry.file_name().to_string_lossy().into_owned();
        if !selected(&target) {
            continue;
        }
        for file in fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            if !file
                .file_name()
                .to_string_lossy()
                .starts_with("regression-")
            {
                fs::remove_file(file.path()).unwrap();
            }
        }
    }

    // pin_parse: every spelling, refused ones too.
    let pin = Pin::parse(A).unwrap();
    let cert_pin = Pin::from_cert_der(b"seed");
    let spellings = [
        pin.to_format(PinFormat::OkHttp),
        pin.to_format(PinFormat::Hpkp),
        pin.to_format(PinFormat::Curl),
        pin.to_format(PinFormat::Base64),
        pin.to_format(PinFormat::Hex),
        pin.hex().to_uppercase(),
        cert_pin.to_string(),
        format!("cert-sha256/{}", cert_pin.hex()),
        format!("sha256//{A};sha256//{B}"),
        format!("  sha256/{C}\n"),
        "sha256//8=".into(),
        "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    ];
    for (i, s) in spellings.iter().enumerate() {
        write("pin_parse", &format!("spelling-{i}"), s);
    }

    // policy_toml: the test policies, one with an inline trust anchor.
    let ca = self_signed(CertSpec::ca("Seed Private CA")).unwrap();
    let policies = [
        format!(
            "[[rule]]\nhosts = [\"api.example.com\", \"*.cdn.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\nexpires = \"2027-06-30\"\n"
        ),
        format!(
            "[[rule]]\nhosts = [\"api.example.com\", \"**.cdn.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\n\
             expires = \"2027-06-30\"\n\n[[rule]]\nhosts = [\"**.shop.example.com\"]\npins = [\"sha256/{C}\", \"sha256/{B}\"]\n"
        ),
        format!(
            "[[rule]]\nname = \"wild\"\nhosts = [\"*.example.com\", \"127.0.0.1\"]\npins = [\"sha256/{A}\"]\nmode = \"report-only\"\n\
             [[rule]]\nhosts = [\"example.org\"]\ninclude_subdomains = true\npins = [\"{B}\", \"cert-sha256/{C}\"]\non_expiry = \"enforce\"\nexpires = \"2026-02-28\"\n"
        ),
        format!(
            "[[rule]]\nhosts = [\"internal.example.net\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\ntrust_anchors = [\"\"\"\n{}\"\"\"]\n",
            ca.cert_pem()
        ),
        "[[rule]]\nhosts = [\"*.com\"]\npins = [\"sha256/abc\"]\nmode = \"sometimes\"\n".into(),
    ];
    for (i, p) in policies.iter().enumerate() {
        write("policy_toml", &format!("policy-{i}.toml"), p);
    }

    // bundle_verify: mode byte + input (see the target's docs).
    let fx = fixture();
    let mode = |m: u8, rest: &[u8]| [&[m][..], rest].concat();
    write("bundle_verify", "0-bundle", mode(0, &fx.bundle));
    write("bundle_verify", "0-root", mode(0, &fx.root_bytes));
    write(
        "bundle_verify",
        "1-change-sig",
        mode(1, &[0x40, 0x01, b'A']),
    );
    write(
        "bundle_verify",
        "1-change-ws",
        mode(1, &[0x01, 0x00, b'\t']),
    );
    for (name, bytes) in [("bundle", &fx.bundle), ("root", &fx.root_bytes)] {
        let env: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let body = STANDARD.decode(env["signed"].as_str().unwrap()).unwrap();
        let m = if name == "bundle" { 2 } else { 3 };
        write("bundle_verify", &format!("{m}-{name}-body"), mode(m, &body));
    }

    // cert_inspect: certificates (DER and PEM chains), keys and a CSR-free mix per key type.
    for (i, alg) in [
        KeyAlg::EcdsaP256,
        KeyAlg::Ed25519,
        KeyAlg::Rsa2048,
        KeyAlg::EcdsaP384,
    ]
    .into_iter()
    .enumerate()
    {
        let chain = Chain::generate("Seed", &["api.example.com"], alg).unwrap();
        write(
            "cert_inspect",
            &format!("leaf-{i}.der"),
            chain.leaf.cert.as_ref(),
        );
        write(
            "cert_inspect",
            &format!("chain-{i}.pem"),
            chain.leaf.cert_pem() + &chain.intermediate.cert_pem(),
        );
        write(
            "cert_inspect",
            &format!("key-{i}.pem"),
            chain.leaf.key_pem(),
        );
        write(
            "cert_inspect",
            &format!("spki-{i}.pem"),
            pem("PUBLIC KEY", &chain.leaf.spki_der()),
        );
    }
    let ip_leaf = issue(
        CertSpec::leaf(&[]).ip_sans(&["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]),
        &ca,
    )
    .unwrap();
    write("cert_inspect", "ip-leaf.der", ip_leaf.cert.as_ref());

    // Imports: the exporters' output for the import tests' policy.
    let policy = Policy::from_toml_str(&policies[1], "seed").unwrap();
    let ios = Policy::from_toml_str(&policies[0], "seed").unwrap();
    let report_only = Policy::from_toml_str(
        &format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"sha256/{A}\"]\nmode = \"report-only\"\n"),
        "seed",
    )
    .unwrap();
    for (i, p) in [&policy, &report_only, &ios].into_iter().enumerate() {
        let out = |f| {
            export_with(p, f, &export_options())
                .map(|e| e.text)
                .unwrap_or_default()
        };
        write(
            "import_nsc",
            &format!("nsc-{i}.xml"),
            out(ExportFormat::AndroidNsc),
        );
        write(
            "import_nsc",
            &format!("trustkit-android-{i}.xml"),
            out(ExportFormat::TrustkitAndroid),
        );
        write(
            "import_chromium",
            &format!("chromium-{i}.json"),
            out(ExportFormat::Chromium),
        );
        for (sel, f) in [(0u8, ExportFormat::IosAts), (1, ExportFormat::Trustkit)] {
            let xml = as_document(f, &out(f));
            if !xml.contains("<key>") {
                continue;
            }
            write(
                "import_plist",
                &format!("{sel}-xml-{i}.plist"),
                mode(sel, xml.as_bytes()),
            );
            // Binary plists too (an export that is a fragment, not a whole plist, is skipped).
            let Ok(value) = plist::Value::from_reader_xml(xml.as_bytes()) else {
                continue;
            };
            let mut binary = Vec::new();
            value.to_writer_binary(&mut binary).unwrap();
            write(
                "import_plist",
                &format!("{sel}-binary-{i}.plist"),
                mode(sel, &binary),
            );
        }
        for (j, line) in out(ExportFormat::Hpkp)
            .lines()
            .filter(|l| l.contains("pin-sha256"))
            .take(2)
            .enumerate()
        {
            write(
                "import_hpkp",
                &format!("hpkp-{i}-{j}"),
                format!("api.example.com\n{line}\n"),
            );
        }
    }
    write(
        "import_hpkp",
        "report-only",
        format!(
            "shop.example.com\nPublic-Key-Pins-Report-Only: pin-sha256=\"{A}\"; pin-sha256=\"{B}\"; max-age=5184000; includeSubDomains; report-uri=\"https://r.example.com/\"\n"
        ),
    );

    // collector_report: the collector tests' reports in each dialect, one and batched.
    let hpkp = format!(
        r#"{{ "date-time": "2025-11-28T01:00:00Z", "hostname": "API.example.com", "port": 443,
  "effective-expiration-date": "2027-01-01T00:00:00Z", "include-subdomains": false,
  "noted-hostname": "api.example.com", "served-certificate-chain": [{}], "validated-certificate-chain": [],
  "known-pins": ["pin-sha256=\"{A}\""] }}"#,
        serde_json::to_string(&ca.cert_pem()).unwrap()
    );
    let trustkit = hpkp.replace(
        "\"port\": 443,",
        "\"port\": 0, \"app-bundle-id\": \"com.bank.app\", \"app-version\": \"4.2\", \"app-platform\": \"ANDROID\", \"trustkit-version\": \"1.7\", \"enforce-pinning\": true, \"validation-result\": 1,",
    );
    let keypin = hpkp.replace(
        "\"port\": 443,",
        "\"port\": 443, \"mode\": \"enforce\", \"failure\": \"pin-mismatch\", \"policy-version\": \"7\", \"rule\": \"api\",",
    );
    write("collector_report", "hpkp.json", &hpkp);
    write("collector_report", "trustkit.json", &trustkit);
    write("collector_report", "keypin.json", &keypin);
    write(
        "collector_report",
        "batch.json",
        format!("{{\"reports\": [{keypin}, {trustkit}]}}"),
    );
    write(
        "collector_report",
        "array.json",
        format!("[{hpkp}, {keypin}]"),
    );
    sct_seeds();
    http_seeds();
    ocsp_seeds();
    attest_seeds();
    println!("seeds written under fuzz/seeds/");
}

/// The DER of the first certificate in a PEM file of the CT test data.
fn ct_cert(file: &str) -> Vec<u8> {
    let text = fs::read_to_string(Path::new("../crates/keypin/tests/data/ct").join(file)).unwrap();
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(b64).unwrap()
}

/// http_response: each framing the client accepts, and each it refuses (ambiguous framing, an
/// unknown coding, a header line over the 8 KiB line limit).
fn http_seeds() {
    let long_line = format!("HTTP/1.1 200 OK\r\nX-Long: {}\r\n\r\n", "a".repeat(9000));
    let seeds: [(&str, &[u8]); 9] = [
        ("content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"v1\"\r\n\r\nhello"),
        ("chunked-trailers", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n"),
        ("not-modified", b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"),
        ("until-close", b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nuntil the end"),
        ("lf-only-404", b"HTTP/1.1 404 Not Found\nContent-Length: 0\n\n"),
        ("te-and-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("conflicting-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nhello"),
        ("unknown-coding", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        ("oversized-header-line", long_line.as_bytes()),
    ];
    for (name, bytes) in seeds {
        write("http_response", name, bytes);
    }
}

/// sct_list: the TLS-encoded SCT list of each real leaf (what the X.509 extension wraps), and
/// two whole leaves (the target also runs the precertificate rebuild on its input).
fn sct_seeds() {
    for host in [
        "google.com-2026",
        "apple.com-2026",
        "github.com-2018",
        "stackoverflow.com-2026",
    ] {
        let leaf = ct_cert(&format!("{host}.leaf.pem"));
        let list = keypin::ct::precert_parts(&leaf)
            .unwrap()
            .sct_list
            .expect("the test leaves carry SCTs");
        assert!(keypin::ct::parse_sct_list(&list).is_ok(), "{host}");
        write("sct_list", &format!("{host}.scts"), &list);
        if host.ends_with("2018") || host.starts_with("stackoverflow") {
            write("sct_list", &format!("{host}.leaf.der"), &leaf);
        }
    }
}

/// ocsp_response: keypin-pki's responses for a generated chain (every status, both CertID
/// hashes, no nextUpdate, a delegated responder, a bad signature, the error statuses), and one
/// whose CertID names the target's fixed leaf and issuer (google.com / WR2), so that inputs reach
/// the checks after the CertID match; signed by another key, it must still be refused.
fn ocsp_seeds() {
    let chain = Chain::generate("Seed OCSP", &["ocsp.example.com"], KeyAlg::EcdsaP256).unwrap();
    let (leaf, issuer) = (&chain.leaf, &chain.intermediate);
    let responder = issue(CertSpec::ocsp_responder("Seed Responder"), issuer).unwrap();
    let at = time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
    let spec = || {
        OcspResponseSpec::new(leaf, issuer)
            .this_update(at - time::Duration::hours(1))
            .next_update(Some(at + time::Duration::days(4)))
    };
    let responses = [
        ("good", spec().build()),
        (
            "revoked",
            spec()
                .status(OcspStatus::Revoked {
                    at: at - time::Duration::days(1),
                    reason: Some(1),
                })
                .build(),
        ),
        ("unknown", spec().status(OcspStatus::Unknown).build()),
        ("sha256-certid", spec().hash(OcspHash::Sha256).build()),
        ("no-next-update", spec().next_update(None).build()),
        (
            "delegated",
            spec()
                .signed_by(&responder)
                .responder_id(&responder)
                .build(),
        ),
        ("no-signer-cert", spec().include_signer_cert(false).build()),
        ("bad-signature", spec().corrupt_signature().build()),
    ];
    for (name, der) in responses {
        let der = der.unwrap();
        assert!(keypin::ocsp::parse_response(&der).is_ok(), "{name}");
        write("ocsp_response", name, &der);
    }
    for status in [1u8, 3, 6] {
        write(
            "ocsp_response",
            &format!("error-status-{status}"),
            ocsp_error_response(status).unwrap(),
        );
    }
    // The fixed leaf's CertID: its serial, and the SHA-1 of WR2's name and key in place of the
    // generated issuer's (same lengths, so the DER stays well-formed).
    let google_der = ct_cert("google.com-2026.leaf.pem");
    let wr2_der = ct_cert("google.com-2026.issuer.pem");
    let (_, google) = x509_parser::parse_x509_certificate(&google_der).unwrap();
    let (_, wr2) = x509_parser::parse_x509_certificate(&wr2_der).unwrap();
    let sha1 = |b: &[u8]| {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b)
            .as_ref()
            .to_vec()
    };
    // WR2's key is RSA: so is this response's signer, so that the signature check really runs.
    let rsa = Chain::generate("Seed OCSP RSA", &["ocsp.example.com"], KeyAlg::Rsa2048).unwrap();
    let (_, ours) = x509_parser::parse_x509_certificate(rsa.intermediate.cert.as_ref()).unwrap();
    let der = OcspResponseSpec::new(&rsa.leaf, &rsa.intermediate)
        .this_update(at - time::Duration::hours(1))
        .next_update(Some(at + time::Duration::days(4)))
        .serial(google.raw_serial())
        .build()
        .unwrap();
    let der = replace(
        &der,
        &sha1(ours.subject().as_raw()),
        &sha1(wr2.subject().as_raw()),
    );
    let der = replace(
        &der,
        &sha1(&ours.public_key().subject_public_key.data),
        &sha1(&wr2.public_key().subject_public_key.data),
    );
    // It gets past the CertID match (the responder's key hash, also our issuer's, now names
    // WR2 too) and fails at the responder or signature check.
    let issuer = keypin::ocsp::Issuer::from_cert(&CertificateDer::from(wr2_der.clone())).unwrap();
    let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
    let checked = keypin::ocsp::check_staple(
        &der,
        &CertificateDer::from(google_der.clone()),
        &issuer,
        rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_767_225_600)),
        &algs,
    );
    assert!(
        matches!(
            checked,
            Err(keypin::ocsp::OcspError::BadSignature { .. }
                | keypin::ocsp::OcspError::ResponderNotAuthorised { .. })
        ),
        "{checked:?}"
    );
    write("ocsp_response", "google-certid-wrong-key", &der);
}

/// `bytes` with every occurrence (at least one) of `from` replaced by `to` (same length).
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut found = 0;
    let mut at = 0;
    while let Some(i) = out[at..].windows(from.len()).position(|w| w == from) {
        out[at + i..at + i + from.len()].copy_from_slice(to);
        at += i + from.len();
        found += 1;
    }
    assert!(found > 0, "the hash is in the response");
    out
}

/// attest_apple_cbor and attest_key_description: the real vectors of keypin-attest's tests
/// (the iOS 14.4 attestation and assertion; the KeyDescription of the akita and tegu leaves)
/// and a few shapes the decoders refuse.
fn attest_seeds() {
    let data = Path::new("../crates/keypin-attest/tests/data");
    let attestation = fs::read(data.join("ios-14.4-attestation.cbor")).unwrap();
    write(
        "attest_apple_cbor",
        "ios-14.4-attestation.cbor",
        &attestation,
    );
    write(
        "attest_apple_cbor",
        "ios-14.4-assertion.cbor",
        fs::read(data.join("ios-14.4-assertion.cbor")).unwrap(),
    );
    // {"fmt": "apple-appattest", "fmt": "x"}: a key given twice.
    write(
        "attest_apple_cbor",
        "duplicate-key.cbor",
        b"\xa2\x63fmt\x6fapple-appattest\x63fmt\x61x",
    );
    write("attest_apple_cbor", "deep.cbor", [0x81u8; 64]);
    for name in ["akita_TEE_EC_NONE.pem", "tegu_TEE_EC_2026_ROOT.pem"] {
        let pem = fs::read(data.join(name)).unwrap();
        use rustls_pki_types::pem::PemObject as _;
        let leaf = CertificateDer::pem_slice_iter(&pem)
            .next()
            .unwrap()
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).unwrap();
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.1.17")
            .unwrap();
        assert!(
            keypin_attest::__fuzz::KeyDescription::parse(ext.value).is_ok(),
            "{name}"
        );
        write(
            "attest_key_description",
            &format!("{}.der", name.trim_end_matches(".pem")),
            ext.value,
        );
    }
}
