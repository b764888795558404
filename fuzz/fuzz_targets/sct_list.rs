//! Certificate Transparency: the TLS-encoded `SignedCertificateTimestampList` (what the X.509
//! extension wraps) and the precertificate rebuild. An accepted list re-encodes to exactly the
//! input bytes (the parser is strict: nothing is skipped or normalised), and every SCT in it
//! parses alone to the same value.
#![no_main]

use keypin::ct::{encode_sct_list, parse_sct, parse_sct_list, precert_parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scts) = parse_sct_list(data) {
        let again = encode_sct_list(&scts).expect("an accepted list re-encodes");
        assert_eq!(again, data, "parse -> encode must give the input back");
        for sct in &scts {
            let one = sct.to_bytes().expect("an accepted SCT re-encodes");
            let parsed = parse_sct(&one).expect("a re-encoded SCT parses");
            assert_eq!(parsed.to_bytes().expect("re-encodes"), one);
        }
    }
    // The same bytes as a certificate: the precert rebuild must refuse or succeed, never panic.
    let _ = precert_parts(data);
});
