//! Certificate Transparency: the TLS-encoded `SignedCertificateTimestampList` (what the X.509
//! extension wraps) and the precertificate rebuild. An accepted list re-encodes to exactly the
//! input bytes (the parser is strict: nothing is skipped or normalised), and every SCT in it
//! parses alone to the same value. The precertificate rebuild never panics, and the SCT list
//! it extracts is a run of the input's own bytes.
#![no_main]

use keypin::ct::{encode_sct_list, parse_sct, parse_sct_list, precert_parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scts) = parse_sct_list(data) {
        let again = encode_sct_list(&scts)
            .unwrap_or_else(|e| panic!("an accepted list does not re-encode: {e}"));
        assert_eq!(again, data, "parse -> encode must give the input back");
        for sct in &scts {
            let one = sct
                .to_bytes()
                .unwrap_or_else(|e| panic!("an accepted SCT does not re-encode: {e}"));
            let parsed =
                parse_sct(&one).unwrap_or_else(|e| panic!("a re-encoded SCT does not parse: {e}"));
            let again = parsed
                .to_bytes()
                .unwrap_or_else(|e| panic!("a re-parsed SCT does not re-encode: {e}"));
            assert_eq!(again, one);
        }
    }
    // The same bytes as a certificate: the precert rebuild must refuse or succeed, never panic.
    // The SCT list it finds is the extension's content, copied: a run of the input's bytes.
    if let Ok(parts) = precert_parts(data)
        && let Some(list) = parts.sct_list
    {
        assert!(
            list.is_empty() || data.windows(list.len()).any(|w| w == list.as_slice()),
            "the SCT list is not a part of the certificate"
        );
    }
});
