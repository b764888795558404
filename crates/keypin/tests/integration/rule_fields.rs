//! The rule fields that imported configurations need (issue #15), on real handshakes over
//! loopback: `single_pin_may_brick`, `public_suffix_covers_others`, `bad_pins`.

use keypin::{
    events::PinEvent,
    pin::Pin,
    policy::{Enforcement, Mode},
    verify::{BadPinOnPath, Position},
};
use keypin_pki::{CertSpec, Issued, KeyAlg, issue, self_signed};

use super::handshake::{
    CrossSigned, HOST, client, cross_signed, genuine, pin_failure, pin_of, policy, request, roots,
    serve, spare_pin,
};

/// A server for `HOST` with a chain from a CA nobody pinned (an interception).
fn forged() -> (Issued, Issued) {
    let rogue_root = self_signed(CertSpec::ca("Rogue CA")).unwrap();
    let leaf = issue(CertSpec::leaf(&[HOST]), &rogue_root).unwrap();
    (rogue_root, leaf)
}

#[test]
fn single_pin_may_brick_rule_enforces_its_one_pin() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let p = policy(
        HOST,
        &[pin_of(&chain.intermediate)],
        "single_pin_may_brick = true",
    );
    assert_eq!(p.rules()[0].mode(), Mode::Enforce);
    assert!(p.rules()[0].single_pin_may_brick());

    let genuine_server = serve(chain.served(), &chain.leaf);
    let c = client(p.clone(), roots(&[&chain.root]));
    request(&c.config, genuine_server.addr(), HOST).expect("the one pin matches");

    // An interception with a CA the client trusts is refused, not reported: the flag never
    // makes a rule report-only.
    let (rogue_root, leaf) = forged();
    let mitm = serve(vec![leaf.cert.clone()], &leaf);
    let c = client(p, roots(&[&chain.root, &rogue_root]));
    let err = request(&c.config, mitm.addr(), HOST).unwrap_err();
    let failure = pin_failure(&err);
    assert_eq!(failure.enforcement, Enforcement::Enforce);
    assert_eq!(failure.expected, [pin_of(&chain.intermediate)]);
}

#[test]
fn public_suffix_rule_pins_every_host_under_the_suffix() {
    // `test` is no registered TLD: the list's implicit rule makes it a public suffix.
    let chain = genuine(KeyAlg::EcdsaP256);
    let flag = "public_suffix_covers_others = true";
    let server = serve(chain.served(), &chain.leaf);

    let good = policy("**.test", &[pin_of(&chain.intermediate), spare_pin()], flag);
    assert!(good.rules()[0].hosts()[0].spans_public_suffix());
    let c = client(good, roots(&[&chain.root]));
    request(&c.config, server.addr(), HOST).expect("pinned through the suffix rule");

    let wrong = policy("**.test", &[spare_pin(), pin_of(&chain.leaf.clone())], flag);
    let (rogue_root, leaf) = forged();
    let mitm = serve(vec![leaf.cert.clone()], &leaf);
    let c = client(wrong, roots(&[&chain.root, &rogue_root]));
    let err = request(&c.config, mitm.addr(), HOST).unwrap_err();
    assert_eq!(pin_failure(&err).rule_hosts, ["**.test"]);
}

fn bad_pins(pins: &[Pin]) -> String {
    let list: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    format!("bad_pins = [{}]", list.join(", "))
}

/// A chain carrying a bad key is refused even when a good pin matches, and the failure names
/// the bad key and its position. (bad key's certificate, its position)
#[test]
fn chain_carrying_a_bad_key_is_refused_even_when_a_pin_matches() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let server = serve(chain.served(), &chain.leaf);
    let rows: [(&Issued, Position, &str); 3] = [
        (&chain.leaf, Position::Leaf, "leaf"),
        (
            &chain.intermediate,
            Position::Intermediate(0),
            "intermediate",
        ),
        (&chain.root, Position::TrustAnchor, "root"),
    ];
    for (bad, position, what) in rows {
        // The good pins are on the path too: the intermediate's and the root's keys.
        let pins = [pin_of(&chain.intermediate), pin_of(&chain.root)];
        let c = client(
            policy(HOST, &pins, &bad_pins(&[pin_of(bad)])),
            roots(&[&chain.root]),
        );
        let err = request(&c.config, server.addr(), HOST).unwrap_err();
        let failure = pin_failure(&err);
        assert_eq!(failure.enforcement, Enforcement::Enforce, "{what}");
        assert_eq!(failure.bad_pins_on_path.len(), 1, "{what}");
        let found: &BadPinOnPath = &failure.bad_pins_on_path[0];
        assert_eq!(
            (found.pin, found.position),
            (pin_of(bad), position),
            "{what}"
        );
        let text = failure.to_string();
        assert!(
            text.contains("bad_pins") && text.contains(&pin_of(bad).to_string()),
            "{text}"
        );
        assert!(
            matches!(c.events.try_recv(), Ok(PinEvent::Refused { .. })),
            "{what}"
        );
    }
}

#[test]
fn certificate_bad_pin_refuses_too() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let server = serve(chain.served(), &chain.leaf);
    let bad = Pin::from_cert_der(chain.intermediate.cert.as_ref());
    let pins = [pin_of(&chain.leaf), spare_pin()];
    let c = client(
        policy(HOST, &pins, &bad_pins(&[bad])),
        roots(&[&chain.root]),
    );
    let err = request(&c.config, server.addr(), HOST).unwrap_err();
    assert_eq!(pin_failure(&err).bad_pins_on_path[0].pin, bad);
}

#[test]
fn report_only_rule_reports_a_bad_key_and_lets_the_connection_through() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let server = serve(chain.served(), &chain.leaf);
    let pins = [pin_of(&chain.leaf), spare_pin()];
    let extra = format!(
        "mode = \"report-only\"\n{}",
        bad_pins(&[pin_of(&chain.root)])
    );
    let c = client(policy(HOST, &pins, &extra), roots(&[&chain.root]));
    request(&c.config, server.addr(), HOST).expect("report-only lets it through");
    let event = c.events.try_iter().find_map(|e| match e {
        PinEvent::ReportOnlyMismatch { failure, .. } => Some(failure),
        _ => None,
    });
    let failure = event.expect("the bad key is reported");
    assert_eq!(failure.bad_pins_on_path[0].pin, pin_of(&chain.root));
    assert_eq!(failure.bad_pins_on_path[0].position, Position::TrustAnchor);
}

/// Cross-signed intermediates: the path through the bad root does not count, the other
/// validated path (good pin, no bad key) is accepted; with only the bad path, refused.
#[test]
fn cross_signed_path_without_the_bad_key_is_accepted() {
    let CrossSigned {
        root_a,
        root_b,
        inter_a,
        inter_b,
        leaf,
    } = cross_signed();
    let p = policy(
        HOST,
        &[pin_of(&inter_a), spare_pin()],
        &bad_pins(&[pin_of(&root_a)]),
    );

    // The A-signed intermediate first: webpki tries the bad path, then the good one.
    let both = serve(
        vec![
            leaf.cert.clone(),
            inter_a.cert.clone(),
            inter_b.cert.clone(),
        ],
        &leaf,
    );
    let c = client(p.clone(), roots(&[&root_a, &root_b]));
    request(&c.config, both.addr(), HOST).expect("the B path carries no bad key");

    let only_a = serve(vec![leaf.cert.clone(), inter_a.cert.clone()], &leaf);
    let c = client(p, roots(&[&root_a, &root_b]));
    let err = request(&c.config, only_a.addr(), HOST).unwrap_err();
    let failure = pin_failure(&err);
    assert_eq!(failure.bad_pins_on_path[0].position, Position::TrustAnchor);
    assert_eq!(failure.bad_pins_on_path[0].subject, "CN=Root A");
}

/// `pin_position` (iOS's NSPinnedCAIdentities / NSPinnedLeafIdentities): a pin counts only at
/// its position; with `leaf_pins` beside CA pins, a match in each is required.
/// (what, extra fields, pins, accepted)
#[test]
fn pins_count_only_at_their_position() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let server = serve(chain.served(), &chain.leaf);
    let (leaf, inter, root) = (
        pin_of(&chain.leaf),
        pin_of(&chain.intermediate),
        pin_of(&chain.root),
    );
    let spare = spare_pin();
    let leaf_pins = |pins: &[Pin]| {
        let list: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
        format!("pin_position = \"ca\"\nleaf_pins = [{}]", list.join(", "))
    };
    let rows: Vec<(&str, String, Vec<Pin>, bool)> = vec![
        (
            "leaf rule, leaf key",
            "pin_position = \"leaf\"".into(),
            vec![leaf, spare],
            true,
        ),
        (
            "leaf rule, CA key",
            "pin_position = \"leaf\"".into(),
            vec![inter, root],
            false,
        ),
        (
            "ca rule, intermediate",
            "pin_position = \"ca\"".into(),
            vec![inter, spare],
            true,
        ),
        (
            "ca rule, root",
            "pin_position = \"ca\"".into(),
            vec![root, spare],
            true,
        ),
        (
            "ca rule, leaf key",
            "pin_position = \"ca\"".into(),
            vec![leaf, spare],
            false,
        ),
        ("any, leaf key", String::new(), vec![leaf, spare], true),
        (
            "both lists, both match",
            leaf_pins(&[leaf, spare]),
            vec![inter, spare],
            true,
        ),
        (
            "both lists, leaf list misses",
            leaf_pins(&[spare, root]),
            vec![inter, spare],
            false,
        ),
        (
            "both lists, CA list misses",
            leaf_pins(&[leaf, spare]),
            vec![leaf, spare],
            false,
        ),
    ];
    for (what, extra, pins, accepted) in rows {
        let c = client(policy(HOST, &pins, &extra), roots(&[&chain.root]));
        match request(&c.config, server.addr(), HOST) {
            Ok(_) => assert!(accepted, "{what}: accepted"),
            Err(e) => {
                assert!(!accepted, "{what}: {e}");
                let failure = pin_failure(&e);
                assert_eq!(failure.enforcement, Enforcement::Enforce, "{what}");
                let text = failure.to_string();
                assert!(
                    text.contains("pin_position") || text.contains("leaf_pins"),
                    "{what}: {text}"
                );
            }
        }
    }
}
