//! SCT verification per leaf on real leaves (tests/data/ct), with a baseline in the same run:
//! webpki's path verification of the same leaf up to its issuer (one signature check plus
//! certificate parsing). Also the precertificate rebuild alone.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin::ct::{LogList, LogListSigner, precert_parts, verify_embedded_scts};
use keypin::pin::spki_of_cert;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ct")
        .join(name)
}

fn ct(c: &mut Criterion) {
    let logs = LogList::from_files(
        data("chrome_log_list_v3_2026-01-02.json"),
        data("chrome_log_list_v3_2026-01-02.json.sig"),
        &LogListSigner::google().unwrap(),
    )
    .unwrap();
    // The MANIFEST's clock for the 2026 set.
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_772_323_200));
    let mut group = c.benchmark_group("ct");
    for name in ["google.com-2026", "docs.python.org-2026", "apple.com-2026"] {
        let leaf = CertificateDer::from_pem_file(data(&format!("{name}.leaf.pem"))).unwrap();
        let issuer = CertificateDer::from_pem_file(data(&format!("{name}.issuer.pem"))).unwrap();
        let issuer_spki = spki_of_cert(&issuer).unwrap();
        let scts = verify_embedded_scts(&leaf, &issuer_spki, &logs, now).unwrap();
        let n = scts.checks.len();
        assert!(
            scts.checks
                .iter()
                .all(|c| c.status == keypin::ct::SctStatus::Valid)
        );

        let algs = rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all;
        let anchor = webpki::anchor_from_trusted_cert(&issuer).unwrap();
        let anchors = [anchor];
        let path = || {
            let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
            ee.verify_for_usage(
                algs,
                &anchors,
                &[],
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map(|_| ())
        };
        path().unwrap();

        group.bench_function(format!("webpki_path_to_issuer/{name}"), |b| {
            b.iter(|| black_box(path()).unwrap())
        });
        group.bench_function(format!("verify_embedded_scts_{n}/{name}"), |b| {
            b.iter(|| {
                verify_embedded_scts(black_box(&leaf), black_box(&issuer_spki), &logs, now).unwrap()
            })
        });
        group.bench_function(format!("precert_rebuild/{name}"), |b| {
            b.iter(|| precert_parts(black_box(&leaf)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, ct);
criterion_main!(benches);
