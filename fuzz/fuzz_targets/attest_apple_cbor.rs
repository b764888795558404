//! App Attest attestation objects: the bounded CBOR decoder and the whole verification, against
//! the real iOS 14.4 attestation's request (its App ID, key id, client data hash and time).
//! Nobody without Apple's and the device's keys can make another object that verifies, so an
//! input that verifies must carry exactly the genuine authenticator data and credential
//! certificate (the nonce binds both); a decoded object is within the bounds.
#![no_main]

use keypin_attest::__fuzz::decode_attestation_object;
use keypin_attest::UnixTime;
use keypin_attest::apple::{
    AppId, AttestationRequest, Environment, MAX_ATTESTATION_BYTES, MAX_X5C, verify_attestation,
};
use libfuzzer_sys::fuzz_target;

const GENUINE: &[u8] =
    include_bytes!("../../crates/keypin-attest/tests/data/ios-14.4-attestation.cbor");
const KEY_ID: [u8; 32] = [
    0x62, 0x66, 0xc9, 0x3b, 0x8c, 0x79, 0x9c, 0x41, 0xd4, 0xbe, 0x77, 0x29, 0xf7, 0x37, 0x56, 0xb9,
    0x56, 0x63, 0x34, 0x11, 0x0c, 0x80, 0x99, 0xf7, 0x71, 0xd4, 0x93, 0xa0, 0x05, 0xd0, 0x7b, 0x73,
];

fuzz_target!(|data: &[u8]| {
    let Ok(object) = decode_attestation_object(data) else {
        return;
    };
    assert!(data.len() <= MAX_ATTESTATION_BYTES);
    assert!(!object.x5c.is_empty() && object.x5c.len() <= MAX_X5C);

    // The vector's client data hash: SHA-256 of its client data.
    let client_data_hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"wurzelpfropf");
    let app_id = AppId::parse("6MURL8TA57.de.vincent-haupert.apple-appattest-poc").unwrap();
    let request = AttestationRequest {
        app_id: &app_id,
        key_id: &KEY_ID,
        client_data_hash: client_data_hash.as_ref(),
        environment: Environment::Development,
        now: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_611_404_013)),
    };
    if let Ok(key) = verify_attestation(data, &request) {
        let genuine = decode_attestation_object(GENUINE).unwrap();
        assert_eq!(
            object.auth_data, genuine.auth_data,
            "verified with other authData"
        );
        assert_eq!(
            object.x5c[0], genuine.x5c[0],
            "verified with another credential certificate"
        );
        assert_eq!(key.key_id, KEY_ID);
    }
});
