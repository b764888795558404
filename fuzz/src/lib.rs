//! Shared pieces of keypin's fuzz targets: the fixed signing key and bundle, the naive host
//! matcher the policy index is compared with, and a few comparisons.
//!
//! Everything here is deterministic (fixed key, fixed clock) so that a crash reproduces from
//! its input file alone.

#![forbid(unsafe_code)]

pub mod import;

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keypin::live::bundle::{BUNDLE_CONTEXT, BundleSpec, Root, RootSpec, SigningKey};
use keypin::{policy::AnchorSource, clock::Date, host::HostPattern, policy::Mode, policy::OnExpiry, Policy, policy::ReportDelivery, policy::RuleSpec, policy::SctRequirement};
use rustls_pki_types::UnixTime;

/// The fuzzers' Ed25519 signing key (PKCS#8, made with `openssl genpkey -algorithm ed25519`).
/// Public on purpose: it signs nothing but fuzz inputs.
pub const FUZZ_KEY_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEILM7d8M2eT/2bfeoTtfITonpaq6yWojF+rIr5pLCA0Hs";

/// The time every check runs at: 2026-01-01T00:00:00Z.
pub const NOW_SECS: u64 = 1_767_225_600;

/// [`NOW_SECS`] as rustls time.
pub fn now() -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(NOW_SECS))
}

/// The app id and environment of the fixed bundle.
pub const APP_ID: &str = "com.example.fuzz";
/// See [`APP_ID`].
pub const ENVIRONMENT: &str = "production";

/// The policy inside the fixed bundle.
pub const BUNDLE_POLICY: &str = "[[rule]]\nhosts = [\"api.example.com\", \"**.cdn.example.com\"]\n\
     pins = [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \
     \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\nexpires = \"2027-06-30\"\n";

/// The fixed key, root and a bundle it signed.
#[derive(Debug)]
pub struct Fixture {
    /// The signing key.
    pub key: SigningKey,
    /// A version-1 root holding only `key`, threshold 1.
    pub root: Root,
    /// The bytes of that root.
    pub root_bytes: Vec<u8>,
    /// A bundle (version 7, for [`APP_ID`] / [`ENVIRONMENT`]) signed by `key`.
    pub bundle: Vec<u8>,
}

/// The fixture, built once per process. Panics (a fuzzer setup error, not a finding) if the
/// fixed key or the signing code stops working.
#[allow(clippy::expect_used)] // setup of the harness, not input handling
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let der = STANDARD
            .decode(FUZZ_KEY_PKCS8)
            .expect("fixed key is base64");
        let key = SigningKey::from_pkcs8_der(&der).expect("fixed key loads");
        let root_bytes = RootSpec {
            version: 1,
            expires: Date::parse("2030-01-01").expect("date"),
            threshold: 1,
            keys: vec![key.public_key().clone()],
        }
        .sign(&[&key], None)
        .expect("root signs");
        let root = Root::from_embedded(&root_bytes).expect("root loads");
        let bundle = BundleSpec {
            app_id: APP_ID.into(),
            environment: ENVIRONMENT.into(),
            version: 7,
            issued_unix: 1_760_000_000,
            expires: Date::parse("2027-06-30").expect("date"),
            policy_toml: BUNDLE_POLICY.into(),
        }
        .sign(&[&key])
        .expect("bundle signs");
        Fixture {
            key,
            root,
            root_bytes,
            bundle,
        }
    })
}

/// Signs arbitrary `body` bytes with the fixed key under `context` and wraps them in the
/// envelope layout of `docs/bundle-format.md`, so that a fuzzer can reach the code that runs
/// after a signature check passes.
pub fn seal_with_fixed_key(format: &str, context: &[u8], body: &[u8]) -> Vec<u8> {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let Ok(der) = STANDARD.decode(FUZZ_KEY_PKCS8) else {
        return Vec::new();
    };
    let Ok(pair) = Ed25519KeyPair::from_pkcs8(&der)
        .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der))
    else {
        return Vec::new();
    };
    let mut message = Vec::with_capacity(context.len() + 1 + body.len());
    message.extend_from_slice(context);
    message.push(0);
    message.extend_from_slice(body);
    let sig = pair.sign(&message);
    serde_json::json!({
        "format": format,
        "signed": STANDARD.encode(body),
        "signatures": [{
            "key_id": fixture().key.public_key().id().as_str(),
            "sig": STANDARD.encode(sig.as_ref()),
        }],
    })
    .to_string()
    .into_bytes()
}

/// The bundle signature context, re-exported for targets.
pub const BUNDLE_SIG_CONTEXT: &[u8] = BUNDLE_CONTEXT;

/// Is `b` JSON insignificant whitespace (RFC 8259 §2)?
pub fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The most specific pattern among `patterns` that covers `host`, found the slow, obvious way:
/// an exact name beats any wildcard; among wildcards the longer base wins; at the same base
/// `*.` beats `**.`. Returns the index into `patterns`.
pub fn naive_most_specific(patterns: &[(HostPattern, usize)], host: &str) -> Option<usize> {
    let rank = |p: &HostPattern| -> (u8, usize, u8) {
        match p {
            HostPattern::Exact(b) => (2, b.len(), 0),
            HostPattern::OneLabel(b) => (1, b.len(), 1),
            HostPattern::AnyDepth(b) => (1, b.len(), 0),
        }
    };
    patterns
        .iter()
        .filter(|(p, _)| naive_matches(p, host))
        .max_by_key(|(p, _)| rank(p))
        .map(|(_, rule)| *rule)
}

/// Label-by-label matching, written independently of `HostPattern::matches`.
pub fn naive_matches(pattern: &HostPattern, host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let base_labels = |b: &str| b.split('.').count();
    match pattern {
        HostPattern::Exact(b) => host == &**b,
        HostPattern::OneLabel(b) => {
            let n = base_labels(b);
            labels.len() == n + 1 && !labels[0].is_empty() && labels[1..].join(".") == **b
        }
        HostPattern::AnyDepth(b) => {
            let n = base_labels(b);
            labels.len() >= n
                && labels[labels.len() - n..].join(".") == **b
                && labels[..labels.len() - n].iter().all(|l| !l.is_empty())
        }
    }
}

/// Every (pattern, rule index) of a policy.
pub fn patterns_of(policy: &Policy) -> Vec<(HostPattern, usize)> {
    policy
        .rules()
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.hosts().iter().map(move |h| (h.clone(), i)))
        .collect()
}

/// The index of `rule_for(host)` in the policy's rule list.
pub fn rule_position(policy: &Policy, host: &str) -> Option<usize> {
    let rule = policy.rule_for(host)?;
    policy.rules().iter().position(|r| std::ptr::eq(r, rule))
}

/// A policy's rules written back as [`RuleSpec`]s (trust anchors as inline PEM), to check that
/// what was accepted validates again to the same thing.
pub fn respec(policy: &Policy) -> Vec<RuleSpec> {
    policy
        .rules()
        .iter()
        .map(|r| RuleSpec {
            hosts: r.hosts().iter().map(ToString::to_string).collect(),
            pins: r.pins().iter().map(ToString::to_string).collect(),
            include_subdomains: false,
            expires: r.expires().map(|d| d.to_string()),
            mode: Some(
                match r.mode() {
                    Mode::Enforce => "enforce",
                    Mode::ReportOnly => "report-only",
                }
                .into(),
            ),
            on_expiry: Some(
                match r.on_expiry() {
                    OnExpiry::Enforce => "enforce",
                    OnExpiry::ReportOnly => "report-only",
                }
                .into(),
            ),
            trust_anchors: r
                .extra_anchors()
                .iter()
                .map(|a| AnchorSource::Inline(pem("CERTIFICATE", a.cert.as_ref())))
                .collect(),
            name: r.name().map(str::to_string),
            report_uris: r.report_uris().to_vec(),
            report_delivery: Some(
                match r.report_delivery() {
                    ReportDelivery::Pinned => "pinned",
                    ReportDelivery::Unpinned => "unpinned",
                }
                .into(),
            ),
            require_sct: r.require_sct().map(|s| match s {
                SctRequirement::AtLeast(n) => n.to_string(),
                SctRequirement::ChromeLike => "chrome".into(),
            }),
            ocsp: Some(r.ocsp().as_str().into()),
            single_pin_may_brick: r.single_pin_may_brick(),
            public_suffix_covers_others: r.public_suffix_covers_others(),
            bad_pins: r.bad_pins().iter().map(ToString::to_string).collect(),
            pin_position: Some(r.pin_position().as_str().into()),
            leaf_pins: r.leaf_pins().iter().map(ToString::to_string).collect(),
        })
        .collect()
}

/// What two policies must agree on to count as the same: per rule, its hosts, pins, mode,
/// expiry, expiry behaviour, name and anchor certificates.
pub type Shape = Vec<(
    Vec<String>,
    Vec<String>,
    String,
    Option<String>,
    String,
    Option<String>,
    Vec<Vec<u8>>,
)>;

/// See [`Shape`].
pub fn shape(policy: &Policy) -> Shape {
    policy
        .rules()
        .iter()
        .map(|r| {
            (
                r.hosts().iter().map(ToString::to_string).collect(),
                r.pins().iter().map(ToString::to_string).collect(),
                format!("{:?}", r.mode()),
                r.expires().map(|d| d.to_string()),
                format!("{:?}", r.on_expiry()),
                r.name().map(str::to_string),
                r.extra_anchors()
                    .iter()
                    .map(|a| a.cert.as_ref().to_vec())
                    .collect(),
            )
        })
        .collect()
}

/// (host pattern, sorted pins, mode) of every host, sorted: what a format round trip keeps.
pub fn host_shape(policy: &Policy) -> Vec<(String, Vec<String>, String)> {
    let mut v: Vec<_> = policy
        .rules()
        .iter()
        .flat_map(|r| {
            let mut pins: Vec<String> = r.pins().iter().map(ToString::to_string).collect();
            pins.sort();
            let mode = format!("{:?}", r.mode());
            r.hosts()
                .iter()
                .map(move |h| (h.to_string(), pins.clone(), mode.clone()))
        })
        .collect();
    v.sort();
    v
}

/// A PEM block.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
