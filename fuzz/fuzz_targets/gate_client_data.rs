//! keypin-gate's client data (the JSON an app signs for `POST /v1/assert`). A parse never
//! panics; an accepted one came from a bounded input, its digests are 32 bytes, its path starts
//! with `/`, and parsing is a pure function of the bytes.
#![no_main]

use keypin_gate::client_data::{ClientData, MAX_CLIENT_DATA_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(cd) = ClientData::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_CLIENT_DATA_BYTES);
    assert!(cd.path.starts_with('/') && cd.path.len() <= 1024);
    assert!(cd.method.len() <= 16);
    assert_eq!(ClientData::parse(data).ok(), Some(cd));
});
