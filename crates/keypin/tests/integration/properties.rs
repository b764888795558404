//! Property tests (proptest): the policy's host index agrees with a naive matcher, every pin
//! spelling round-trips, and any single-byte change to a signed bundle or root is refused.
//!
//! Case counts are small so the suite stays fast; `PROPTEST_CASES=N` runs more.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keypin::live::bundle::{BundleSpec, Expectations, Root, RootSpec, SigningKey, VerifiedBundle};
use keypin::{
    Policy, clock::Date, host::HostPattern, pin::Pin, pin::PinFormat, pin::PinKind,
    policy::RuleSpec,
};
use proptest::prelude::*;
use rustls_pki_types::UnixTime;

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        // Failures are shrunk and printed; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Host-pattern matching: the compiled index (`Policy::rule_for`) against a naive matcher.

/// Labels from a small alphabet, so that random patterns and names collide often.
fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "api", "x-1", "www"]).prop_map(str::to_string)
}

/// A name under one of a few registrable domains (so no pattern is a public suffix).
fn name(max_labels: usize) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 0..=max_labels),
        prop::sample::select(vec!["example.com", "example.org", "example.co.uk"]),
    )
        .prop_map(|(labels, domain)| {
            let mut parts = labels;
            parts.push(domain.to_string());
            parts.join(".")
        })
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Exact,
    OneLabel,
    AnyDepth,
}

/// One rule: its hosts (kind, name) and whether it sets `include_subdomains` (which turns its
/// exact names into any-depth patterns and refuses `*.` ones, so then only exact names).
fn rule_set() -> impl Strategy<Value = Vec<(Vec<(Kind, String)>, bool)>> {
    let host = (
        prop::sample::select(vec![Kind::Exact, Kind::OneLabel, Kind::AnyDepth]),
        name(2),
    );
    prop::collection::vec((prop::collection::vec(host, 1..4), any::<bool>()), 0..8)
}

/// Builds a policy from the random rules; patterns already taken by an earlier rule are
/// dropped (a policy refuses duplicates), and so are rules left without hosts.
fn build(rules: &[(Vec<(Kind, String)>, bool)]) -> Policy {
    let mut seen = std::collections::HashSet::new();
    let mut specs = Vec::new();
    for (i, (hosts, subs)) in rules.iter().enumerate() {
        let mut texts = Vec::new();
        for (kind, n) in hosts {
            let text = match (kind, subs) {
                (_, true) => n.clone(),
                (Kind::Exact, false) => n.clone(),
                (Kind::OneLabel, false) => format!("*.{n}"),
                (Kind::AnyDepth, false) => format!("**.{n}"),
            };
            let pattern = HostPattern::parse(&text, *subs).unwrap();
            if seen.insert(pattern) {
                texts.push(text);
            }
        }
        if texts.is_empty() {
            continue;
        }
        let pin = |b: u8| format!("sha256/{}", STANDARD.encode([b; 32]));
        specs.push(RuleSpec {
            hosts: texts,
            pins: vec![pin(i as u8), pin(100 + i as u8)],
            include_subdomains: *subs,
            name: Some(format!("rule{i}")),
            ..RuleSpec::default()
        });
    }
    Policy::from_rules("random", specs).unwrap()
}

/// The obvious matcher: compare label lists. An exact name beats any wildcard; among wildcards
/// the one with more base labels wins; at the same base `*.` beats `**.`. Returns the rule's
/// name.
fn naive(policy: &Policy, host: &str) -> Option<String> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let mut best: Option<((u8, usize, u8), String)> = None;
    for rule in policy.rules() {
        for pattern in rule.hosts() {
            let base: Vec<&str> = pattern.base().split('.').collect();
            let ends_with_base =
                labels.len() >= base.len() && labels[labels.len() - base.len()..] == base[..];
            let extra = labels.len().saturating_sub(base.len());
            let (hit, rank) = match pattern {
                HostPattern::Exact(b) => (**b == *host, (2, 0, 0)),
                HostPattern::OneLabel(_) => (ends_with_base && extra == 1, (1, base.len(), 1)),
                HostPattern::AnyDepth(_) => (ends_with_base, (1, base.len(), 0)),
            };
            if hit && best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, rule.name().unwrap().to_string()));
            }
        }
    }
    best.map(|(_, n)| n)
}

/// Query names: names like the patterns' (deeper, shallower, elsewhere), in any letter case,
/// with or without the trailing dot.
fn query() -> impl Strategy<Value = String> {
    (name(4), any::<bool>(), any::<bool>()).prop_map(|(n, upper, dot)| {
        let n = if upper { n.to_ascii_uppercase() } else { n };
        if dot { format!("{n}.") } else { n }
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn host_index_agrees_with_a_naive_matcher(
        rules in rule_set(),
        names in prop::collection::vec(query(), 1..24),
    ) {
        let policy = build(&rules);
        for n in &names {
            let indexed = policy.rule_for(n).map(|r| r.name().unwrap().to_string());
            prop_assert_eq!(indexed, naive(&policy, n), "host {:?}", n);
        }
        // Every pattern's own base name finds a rule that covers it.
        for rule in policy.rules() {
            for pattern in rule.hosts() {
                if matches!(pattern, HostPattern::OneLabel(_)) {
                    continue;
                }
                let found = policy.rule_for(pattern.base()).unwrap();
                prop_assert!(found.hosts().iter().any(|h| h.matches(pattern.base())));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pin spellings.

const FORMATS: [PinFormat; 5] = [
    PinFormat::OkHttp,
    PinFormat::Hpkp,
    PinFormat::Curl,
    PinFormat::Base64,
    PinFormat::Hex,
];

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn every_pin_spelling_round_trips(
        digest in any::<[u8; 32]>(),
        cert in any::<bool>(),
        pad_front in "[ \t\n]{0,2}",
        pad_back in "[ \t\n]{0,2}",
        upper_hex in any::<bool>(),
    ) {
        let kind = if cert { PinKind::Certificate } else { PinKind::Spki };
        let pin = Pin::from_digest(kind, digest);
        for format in FORMATS {
            let mut text = pin.to_format(format);
            if upper_hex && format == PinFormat::Hex {
                text = text.to_ascii_uppercase();
            }
            let back = Pin::parse(&format!("{pad_front}{text}{pad_back}"))
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            // Bare digests carry no kind: they read back as key pins.
            let want = match format {
                PinFormat::Base64 | PinFormat::Hex => Pin::from_digest(PinKind::Spki, digest),
                _ => pin,
            };
            prop_assert_eq!(back, want, "{:?} {}", format, text);
        }
        prop_assert_eq!(pin.to_string().parse::<Pin>().unwrap(), pin);
        if kind == PinKind::Spki {
            let list = format!("{};{}", pin.to_format(PinFormat::Curl), pin.to_format(PinFormat::Curl));
            prop_assert_eq!(Pin::parse_curl_list(&list).unwrap(), vec![pin, pin]);
        }
    }

    #[test]
    fn whatever_parses_prints_back_to_the_same_pin(text in "(sha256/|sha256//|cert-sha256/|pin-sha256=\")?[A-Za-z0-9+/=]{40,66}\"?") {
        if let Ok(pin) = Pin::parse(&text) {
            for format in FORMATS {
                let back = Pin::parse(&pin.to_format(format)).unwrap();
                prop_assert_eq!(back.digest(), pin.digest());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signed bundles and roots: no single-byte change gets through.

struct Signed {
    root_bytes: Vec<u8>,
    root: Root,
    bundle: Vec<u8>,
}

const APP: &str = "com.example.app";
const ENV: &str = "production";
/// 2027-01-15T08:00:00Z
const NOW: u64 = 1_800_000_000;

/// A root of two keys with threshold 2 (so every signature counts) and a bundle they signed.
fn signed() -> &'static Signed {
    static SIGNED: OnceLock<Signed> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let keys: Vec<SigningKey> = (0..2).map(|_| SigningKey::generate().unwrap().0).collect();
        let refs: Vec<&SigningKey> = keys.iter().collect();
        let root_bytes = RootSpec {
            version: 1,
            expires: Date::parse("2030-01-01").unwrap(),
            threshold: 2,
            keys: keys.iter().map(|k| k.public_key().clone()).collect(),
        }
        .sign(&refs, None)
        .unwrap();
        let root = Root::from_embedded(&root_bytes).unwrap();
        let pin = |b: u8| format!("sha256/{}", STANDARD.encode([b; 32]));
        let bundle = BundleSpec {
            app_id: APP.into(),
            environment: ENV.into(),
            version: 3,
            issued_unix: NOW as i64 - 60,
            expires: Date::parse("2027-06-30").unwrap(),
            policy_toml: format!(
                "[[rule]]\nhosts = [\"api.example.com\"]\npins = [\"{}\", \"{}\"]\n",
                pin(1),
                pin(2)
            ),
        }
        .sign(&refs)
        .unwrap();
        Signed {
            root_bytes,
            root,
            bundle,
        }
    })
}

fn verify(bytes: &[u8]) -> Result<VerifiedBundle, keypin::live::bundle::BundleError> {
    let now = UnixTime::since_unix_epoch(Duration::from_secs(NOW));
    signed()
        .root
        .verify_bundle(bytes, &Expectations::new(APP, ENV), now)
}

/// JSON's insignificant whitespace (RFC 8259 §2).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// What a verified bundle says, to compare with the original.
fn content(v: &VerifiedBundle) -> (String, String, u64, String, String, Vec<String>) {
    let rule = &v.policy().rules()[0];
    (
        v.app_id().to_string(),
        v.environment().to_string(),
        v.version(),
        v.issued().to_string(),
        v.expires().to_string(),
        rule.pins().iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn flipping_any_bit_of_any_byte_of_a_signed_bundle_is_refused() {
    let s = signed();
    assert!(verify(&s.bundle).is_ok());
    for at in 0..s.bundle.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut bytes = s.bundle.clone();
            bytes[at] ^= bit;
            // Whitespace that stays whitespace is the only change that may pass (' ' ^ 0x20
            // is NUL, '\n' ^ 0x01 is VT: neither is JSON whitespace, so none here).
            assert!(
                verify(&bytes).is_err(),
                "byte {at} ({:?}) ^ {bit:#04x} verified",
                s.bundle[at] as char
            );
        }
    }
}

#[test]
fn flipping_any_bit_of_a_signed_root_is_refused() {
    let s = signed();
    for at in 0..s.root_bytes.len() {
        let mut bytes = s.root_bytes.clone();
        bytes[at] ^= 0x01;
        assert!(
            Root::from_embedded(&bytes).is_err(),
            "root byte {at} ^ 0x01 loaded"
        );
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Any single-byte change is refused. The one exception is by design
    /// (docs/bundle-format.md: signatures cover the body's exact bytes, carried as base64 in an
    /// unsigned JSON envelope): swapping one JSON whitespace byte of the envelope for another.
    /// Such a bundle must verify to exactly the original's content.
    #[test]
    fn any_single_byte_change_to_a_signed_bundle_is_refused(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let s = signed();
        let at = at.index(s.bundle.len());
        prop_assume!(s.bundle[at] != byte);
        let mut bytes = s.bundle.clone();
        bytes[at] = byte;
        let layout_only = is_ws(s.bundle[at]) && is_ws(byte);
        match verify(&bytes) {
            Ok(v) => {
                prop_assert!(layout_only, "byte {} changed to {:#04x} verified", at, byte);
                prop_assert_eq!(content(&v), content(&verify(&s.bundle).unwrap()));
            }
            Err(e) => prop_assert!(!layout_only, "whitespace swap refused: {}", e),
        }
    }

    #[test]
    fn any_single_byte_change_to_a_signed_root_is_refused(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let s = signed();
        let at = at.index(s.root_bytes.len());
        prop_assume!(s.root_bytes[at] != byte);
        let mut bytes = s.root_bytes.clone();
        bytes[at] = byte;
        if let Ok(root) = Root::from_embedded(&bytes) {
            prop_assert!(is_ws(s.root_bytes[at]) && is_ws(byte), "root byte {} changed to {:#04x} loaded", at, byte);
            prop_assert_eq!(root.keys(), s.root.keys());
            prop_assert_eq!(root.threshold(), s.root.threshold());
        }
    }
}
