//! OCSP: the stapled-response parser and the whole staple check. Nobody without the issuer's
//! key can make a response the check accepts, so for a fixed real leaf and issuer (google.com
//! and WR2 from the CT test data) no input may ever pass `check_staple` (which parses first, so
//! the parser runs on every input), and an input the parser refuses is refused by the check for
//! the parser's reason.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use keypin::ocsp::{Issuer, check_staple, parse_response};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

#[allow(clippy::expect_used)] // setup of the harness, not input handling
static FIXED: LazyLock<(CertificateDer<'static>, Issuer)> = LazyLock::new(|| {
    let leaf = CertificateDer::from_pem_slice(include_bytes!(
        "../../crates/keypin/tests/data/ct/google.com-2026.leaf.pem"
    ))
    .expect("test leaf");
    let issuer = CertificateDer::from_pem_slice(include_bytes!(
        "../../crates/keypin/tests/data/ct/google.com-2026.issuer.pem"
    ))
    .expect("test issuer");
    (leaf, Issuer::from_cert(&issuer).expect("issuer"))
});

fuzz_target!(|data: &[u8]| {
    // Parsing alone must refuse or succeed, never panic, whatever the check says after.
    let parsed = parse_response(data);
    let (leaf, issuer) = &*FIXED;
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_767_225_600));
    let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
    let checked = check_staple(data, leaf, issuer, now, &algs);
    let Err(refusal) = checked else {
        panic!("a staple passed without the issuer's key");
    };
    // The check parses first: an unparsable staple is refused for exactly the parser's reason.
    if let Err(e) = parsed {
        assert_eq!(
            refusal.to_string(),
            e.to_string(),
            "check and parser disagree"
        );
    }
});
