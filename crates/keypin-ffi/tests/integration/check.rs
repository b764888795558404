//! `Keypin::check` on a verified path: matches, failures, attacks, malformed input.

use keypin_ffi::{KeypinError, PathPosition, Verdict, guard};

use crate::support::{HOST, Lab, path_of, spki};

#[test]
fn a_pin_on_the_verified_path_matches_with_its_position() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    match keypin.check(HOST.into(), lab.genuine_path()).unwrap() {
        Verdict::Matched {
            pin,
            position,
            subject,
            generation,
        } => {
            assert_eq!(pin, spki(&lab.genuine.intermediate.spki_der()));
            assert_eq!(position, PathPosition::Intermediate { index: 0 });
            assert!(subject.contains("Genuine Issuing CA"), "{subject}");
            assert_eq!(generation, 0);
        }
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn a_host_without_a_rule_is_not_pinned() {
    let lab = Lab::new();
    let keypin = keypin_ffi::Keypin::from_toml(
        crate::support::policy_for(
            &[
                spki(&lab.genuine.intermediate.spki_der()),
                crate::support::BACKUP.into(),
            ],
            "",
        )
        .replace(HOST, "other.example.test"),
        "p".into(),
        lab.options(),
    )
    .unwrap();
    assert!(matches!(
        keypin.check(HOST.into(), lab.genuine_path()).unwrap(),
        Verdict::NotPinned { generation: 0 }
    ));
}

/// A3: an interceptor's CA the platform trusts (user-installed) signs a valid chain; only the
/// pins catch it.
#[test]
fn a3_rogue_ca_trusted_by_the_platform_is_refused_with_host_path_and_expected_pins() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    let Verdict::Failed { failure, .. } = keypin.check(HOST.into(), lab.rogue_path()).unwrap()
    else {
        panic!("the rogue path must fail");
    };
    assert!(!failure.report_only);
    assert_eq!(failure.host, HOST);
    assert_eq!(failure.path.len(), 3);
    assert_eq!(failure.path[0].position, PathPosition::Leaf);
    assert_eq!(failure.path[2].position, PathPosition::TrustAnchor);
    assert!(failure.path[2].subject.contains("Rogue Root CA"));
    assert!(
        failure
            .expected
            .contains(&spki(&lab.genuine.intermediate.spki_der()))
    );
    assert!(
        failure.message.contains("connection refused"),
        "{}",
        failure.message
    );
}

/// A7 (pin stuffing, CVE-2016-2402): the genuine, pinned intermediate is sent along with the
/// rogue chain but is not on the verified path; it must not count.
#[test]
fn a7_pin_stuffing_a_pinned_certificate_off_the_verified_path_does_not_count() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    let mut stuffed = path_of(&lab.rogue);
    stuffed.insert(2, lab.genuine.intermediate.cert.to_vec());
    let Verdict::Failed { failure, .. } = keypin.check(HOST.into(), stuffed).unwrap() else {
        panic!("a stuffed pin must not match");
    };
    assert!(!failure.report_only);
    assert!(failure.path.iter().all(|c| !c.subject.contains("Genuine")));
}

#[test]
fn a_report_only_rule_lets_the_connection_go_on_and_says_so() {
    let lab = Lab::new();
    let keypin = lab.keypin("mode = \"report-only\"");
    let Verdict::Failed { failure, .. } = keypin.check(HOST.into(), lab.rogue_path()).unwrap()
    else {
        panic!("report-only still reports the mismatch");
    };
    assert!(failure.report_only);
    assert!(
        failure.message.contains("report-only"),
        "{}",
        failure.message
    );
}

#[test]
fn a_path_that_does_not_chain_to_its_anchor_is_a_certificate_error() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    let mut path = lab.genuine_path();
    path[2] = lab.rogue.root.cert.to_vec();
    let err = keypin.check(HOST.into(), path).unwrap_err();
    assert!(matches!(err, KeypinError::Certificate(_)), "{err:?}");
    assert!(err.to_string().contains(HOST), "{err}");
}

#[test]
fn a_leaf_for_another_name_is_a_certificate_error() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    let err = keypin
        .check("evil.example.test".into(), lab.genuine_path())
        .unwrap_err();
    assert!(matches!(err, KeypinError::Certificate(_)), "{err:?}");
}

/// Malformed input from the platform side is an error, never a panic across the boundary.
#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    let good = lab.genuine_path();
    let garbage = vec![vec![0x30, 0x82, 0xff], vec![0xde, 0xad], vec![]];
    let cases: Vec<(&str, String, Vec<Vec<u8>>)> = vec![
        ("empty path", HOST.into(), vec![]),
        ("leaf only", HOST.into(), good[..1].to_vec()),
        ("garbage DER", HOST.into(), garbage),
        ("17 certificates", HOST.into(), vec![good[0].clone(); 17]),
        ("empty host", String::new(), good.clone()),
        ("host too long", "a".repeat(300), good.clone()),
        ("not a host name", "a b!".into(), good.clone()),
        (
            "oversized certificate",
            HOST.into(),
            vec![vec![0u8; 70_000], good[2].clone()],
        ),
    ];
    for (what, host, chain) in cases {
        let result = keypin.check(host, chain);
        assert!(
            matches!(
                result,
                Err(KeypinError::InvalidInput(_) | KeypinError::Certificate(_))
            ),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn a_panic_inside_a_call_comes_back_as_an_internal_error() {
    let result: Result<(), KeypinError> = guard("test call", || panic!("boom"));
    let err = result.unwrap_err();
    assert!(matches!(err, KeypinError::Internal(_)));
    assert!(err.to_string().contains("test call") && err.to_string().contains("boom"));
}

#[test]
fn is_pinned_follows_the_rules_of_the_policy_in_force() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    assert!(keypin.is_pinned(HOST.into()));
    assert!(!keypin.is_pinned("other.example.test".into()));
}

/// The second check of the same inputs comes from the verdict memo (after the verifier's
/// cache accepts them again): same verdict, details included; a failure is never memoized.
#[test]
fn a_repeated_check_gives_the_same_verdict() {
    let lab = Lab::new();
    let keypin = lab.keypin("");
    let first = keypin.check(HOST.into(), lab.genuine_path()).unwrap();
    for _ in 0..3 {
        assert_eq!(
            keypin.check(HOST.into(), lab.genuine_path()).unwrap(),
            first
        );
    }
    for _ in 0..2 {
        assert!(matches!(
            keypin.check(HOST.into(), lab.rogue_path()).unwrap(),
            Verdict::Failed { .. }
        ));
    }
}
