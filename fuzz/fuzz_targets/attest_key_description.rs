//! Android's KeyDescription extension (the DER inside OID 1.3.6.1.4.1.11129.2.1.17). A parse
//! never panics; an accepted description's challenge, package names and digests are runs of
//! the input's own bytes (nothing is invented or decoded wrongly), and the security levels are
//! the three the schema defines.
#![no_main]

use keypin_attest::__fuzz::KeyDescription;
use libfuzzer_sys::fuzz_target;

fn inside(data: &[u8], part: &[u8]) -> bool {
    part.is_empty() || data.windows(part.len()).any(|w| w == part)
}

fuzz_target!(|data: &[u8]| {
    let Ok(kd) = KeyDescription::parse(data) else {
        return;
    };
    assert!(
        inside(data, &kd.challenge),
        "challenge is not the input's bytes"
    );
    for list in [&kd.software_enforced, &kd.hardware_enforced] {
        if let Some(app) = &list.application_id {
            for p in &app.packages {
                assert!(
                    inside(data, p.name.as_bytes()),
                    "package name is not the input's bytes"
                );
            }
            for d in &app.signature_digests {
                assert!(inside(data, d), "digest is not the input's bytes");
            }
        }
        if let Some(rot) = &list.root_of_trust {
            assert!(inside(data, &rot.verified_boot_key));
        }
    }
    // Parsing is a pure function of the bytes.
    assert_eq!(KeyDescription::parse(data).ok(), Some(kd));
});
