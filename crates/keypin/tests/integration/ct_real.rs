//! Certificate Transparency against real data (tests/data/ct, see its README and MANIFEST):
//! six real leaves with 16 embedded SCTs, and two Chrome v3 log lists signed by Google.

use std::path::PathBuf;

use keypin::ct::{
    CtError, LogList, LogListSigner, SctRequirement, SctStatus, precert_parts, verify_embedded_scts,
};
use keypin::pin::spki_of_cert;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::common;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ct")
        .join(name)
}

fn cert(name: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(data(name)).unwrap().to_vec()
}

fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}

fn list(date: &str) -> LogList {
    LogList::from_files(
        data(&format!("chrome_log_list_v3_{date}.json")),
        data(&format!("chrome_log_list_v3_{date}.json.sig")),
        &LogListSigner::google().unwrap(),
    )
    .unwrap()
}

/// The MANIFEST's clocks.
const CLOCK_2018: u64 = 1_546_300_800;
const CLOCK_2026: u64 = 1_772_323_200;

struct Pair {
    name: &'static str,
    list: &'static str,
    clock: u64,
    /// The logs of the SCTs, in the certificate's order (MANIFEST).
    logs: &'static [&'static str],
    /// SHA-256 of the precertificate TBS, computed independently (MANIFEST).
    precert_tbs_sha256: &'static str,
}

const PAIRS: &[Pair] = &[
    Pair {
        name: "github.com-2018",
        list: "2022-09-20",
        clock: CLOCK_2018,
        logs: &[
            "Google 'Pilot' log",
            "DigiCert Log Server",
            "Google 'Skydiver' log",
        ],
        precert_tbs_sha256: "41b3426f01a778d0b79ac39ec42e2de481c951d9c508a6552d9178a44de40447",
    },
    Pair {
        name: "babylonhealth.com-2018",
        list: "2022-09-20",
        clock: CLOCK_2018,
        logs: &["Google 'Skydiver' log", "DigiCert Log Server 2"],
        precert_tbs_sha256: "e4f577151b068846e0ceb16118502a58d4ffeb92cc87115345ecf85804889c50",
    },
    Pair {
        name: "google.com-2026",
        list: "2026-01-02",
        clock: CLOCK_2026,
        logs: &["Sectigo 'Tiger2026h1'", "Google 'Xenon2026h1' log"],
        precert_tbs_sha256: "363182b039fee567d67164918cb500cb1ba97306bcc81461966c16059d822de3",
    },
    Pair {
        name: "stackoverflow.com-2026",
        list: "2026-01-02",
        clock: CLOCK_2026,
        logs: &["Sectigo 'Tiger2026h1'", "Let's Encrypt 'Sycamore2026h1'"],
        precert_tbs_sha256: "ce2146b003a49aba5b55d09c4c11bac4be0364b19a627ffd59da2af3edd72796",
    },
    Pair {
        name: "apple.com-2026",
        list: "2026-01-02",
        clock: CLOCK_2026,
        logs: &[
            "Google 'Xenon2026h1' log",
            "DigiCert 'Wyvern2026h1'",
            "Sectigo 'Tiger2026h1'",
            "Cloudflare 'Nimbus2026'",
        ],
        precert_tbs_sha256: "94302ec9b0936e29a3438e3f5cfd9dc1fbef5d861ad0d33891f3a66047b5199d",
    },
    Pair {
        name: "docs.python.org-2026",
        list: "2026-01-02",
        clock: CLOCK_2026,
        logs: &[
            "Sectigo 'Elephant2027h1'",
            "Cloudflare 'Nimbus2027'",
            "Let's Encrypt 'Sycamore2027h1'",
        ],
        precert_tbs_sha256: "130557455729de5ba662a70e78d7dbd1f77e78a2f0d425b0def4ac3055d720e7",
    },
];

impl Pair {
    fn leaf(&self) -> Vec<u8> {
        cert(&format!("{}.leaf.pem", self.name))
    }
    fn issuer_spki(&self) -> Vec<u8> {
        spki_of_cert(&CertificateDer::from(cert(&format!(
            "{}.issuer.pem",
            self.name
        ))))
        .unwrap()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

#[test]
fn precert_tbs_is_rebuilt_byte_for_byte() {
    for p in PAIRS {
        let parts = precert_parts(&p.leaf()).unwrap();
        assert_eq!(sha256(&parts.tbs), p.precert_tbs_sha256, "{}", p.name);
        assert!(parts.sct_list.is_some(), "{}", p.name);
    }
}

#[test]
fn all_sixteen_real_scts_verify() {
    let lists = [
        ("2022-09-20", list("2022-09-20")),
        ("2026-01-02", list("2026-01-02")),
    ];
    let mut verified = 0;
    for p in PAIRS {
        let logs = &lists.iter().find(|(d, _)| *d == p.list).unwrap().1;
        let got = verify_embedded_scts(&p.leaf(), &p.issuer_spki(), logs, at(p.clock)).unwrap();
        let names: Vec<&str> = got
            .checks
            .iter()
            .map(|c| c.log.as_deref().unwrap())
            .collect();
        assert_eq!(names, p.logs, "{}", p.name);
        for c in &got.checks {
            assert_eq!(c.status, SctStatus::Valid, "{}: {c}", p.name);
            verified += 1;
        }
    }
    assert_eq!(verified, 16);
}

/// Where the SCT of `log_id` sits in the leaf's DER (its log id's first byte).
fn sct_offset(leaf: &[u8], log_id: &[u8; 32]) -> usize {
    leaf.windows(32).position(|w| w == log_id).unwrap()
}

/// Offset of the last byte of the serial number: a byte of the TBS whose change keeps DER valid.
fn serial_last_byte(leaf: &[u8]) -> usize {
    let header = |at: usize| -> (usize, usize) {
        let l = leaf[at + 1];
        if l < 0x80 {
            (2, l as usize)
        } else {
            let n = (l & 0x7f) as usize;
            let len = leaf[at + 2..at + 2 + n]
                .iter()
                .fold(0usize, |a, b| a << 8 | *b as usize);
            (2 + n, len)
        }
    };
    let tbs = header(0).0;
    let version = tbs + header(tbs).0;
    assert_eq!(leaf[version], 0xa0);
    let serial = version + 5;
    assert_eq!(leaf[serial], 0x02);
    let (h, len) = header(serial);
    serial + h + len - 1
}

#[test]
fn every_real_sct_fails_when_tbs_timestamp_extensions_or_issuer_change() {
    let lists = [
        ("2022-09-20", list("2022-09-20")),
        ("2026-01-02", list("2026-01-02")),
    ];
    for (i, p) in PAIRS.iter().enumerate() {
        let logs = &lists.iter().find(|(d, _)| *d == p.list).unwrap().1;
        let leaf = p.leaf();
        let issuer = p.issuer_spki();
        let now = at(p.clock);
        let good = verify_embedded_scts(&leaf, &issuer, logs, now).unwrap();

        // A byte of the TBS (the serial number): every SCT fails.
        let mut tampered = leaf.clone();
        tampered[serial_last_byte(&leaf)] ^= 0x01;
        let got = verify_embedded_scts(&tampered, &issuer, logs, now).unwrap();
        assert_eq!(got.checks.len(), p.logs.len());
        assert!(
            got.checks
                .iter()
                .all(|c| c.status == SctStatus::BadSignature),
            "{}: {:?}",
            p.name,
            got.checks
        );

        // Another pair's issuer: every SCT fails.
        let other = &PAIRS[(i + 1) % PAIRS.len()];
        let got = verify_embedded_scts(&leaf, &other.issuer_spki(), logs, now).unwrap();
        assert!(
            got.checks
                .iter()
                .all(|c| c.status == SctStatus::BadSignature),
            "{}",
            p.name
        );

        for (k, check) in good.checks.iter().enumerate() {
            let off = sct_offset(&leaf, &check.log_id);
            // The timestamp, moved by 1 ms: this SCT fails, the others still verify.
            let mut tampered = leaf.clone();
            tampered[off + 32 + 7] ^= 0x01;
            let got = verify_embedded_scts(&tampered, &issuer, logs, now).unwrap();
            for (j, c) in got.checks.iter().enumerate() {
                let want = if j == k {
                    SctStatus::BadSignature
                } else {
                    SctStatus::Valid
                };
                assert_eq!(c.status, want, "{} SCT {k}, timestamp changed: {c}", p.name);
            }
            // A byte of the signature.
            let mut tampered = leaf.clone();
            let ext_len = usize::from(leaf[off + 40]) << 8 | usize::from(leaf[off + 41]);
            let sig_at = off + 42 + ext_len + 2 + 2 + 10;
            tampered[sig_at] ^= 0x01;
            let got = verify_embedded_scts(&tampered, &issuer, logs, now).unwrap();
            assert_eq!(got.checks[k].status, SctStatus::BadSignature, "{}", p.name);
            // The SCT's extensions (the Sycamore logs' leaf_index) are signed too.
            if ext_len > 0 {
                let mut tampered = leaf.clone();
                tampered[off + 42 + ext_len - 1] ^= 0x01;
                let got = verify_embedded_scts(&tampered, &issuer, logs, now).unwrap();
                assert_eq!(got.checks[k].status, SctStatus::BadSignature, "{}", p.name);
            }
        }
    }
}

#[test]
fn clock_before_an_sct_and_unknown_logs_do_not_count() {
    let p = &PAIRS[2]; // google.com-2026
    let logs = list("2026-01-02");
    // 2026-02-02T09:36:40Z: before both SCTs (09:36:40.442 and .454).
    let got = verify_embedded_scts(&p.leaf(), &p.issuer_spki(), &logs, at(1_770_025_000)).unwrap();
    assert!(
        got.checks
            .iter()
            .all(|c| c.status == SctStatus::FromTheFuture),
        "{got:?}"
    );
    // The 2022 list knows none of the 2026 logs.
    let old = list("2022-09-20");
    let got = verify_embedded_scts(&p.leaf(), &p.issuer_spki(), &old, at(CLOCK_2026)).unwrap();
    assert!(
        got.checks.iter().all(|c| c.status == SctStatus::UnknownLog),
        "{got:?}"
    );
    assert!(
        SctRequirement::AtLeast(1)
            .evaluate(&got, at(CLOCK_2026))
            .is_err()
    );
}

#[test]
fn chrome_like_policy_on_real_leaves() {
    let lists = [
        ("2022-09-20", list("2022-09-20")),
        ("2026-01-02", list("2026-01-02")),
    ];
    // (pair, chrome-like passes, require 3 passes)
    let rows = [
        ("github.com-2018", true, true),
        // 13-month leaf: Chrome's policy wants 3 logs; it has 2.
        ("babylonhealth.com-2018", false, false),
        ("google.com-2026", true, false),
        ("stackoverflow.com-2026", true, false),
        ("apple.com-2026", true, true),
        ("docs.python.org-2026", true, true),
    ];
    for (name, chrome, three) in rows {
        let p = PAIRS.iter().find(|p| p.name == name).unwrap();
        let logs = &lists.iter().find(|(d, _)| *d == p.list).unwrap().1;
        let now = at(p.clock);
        let got = verify_embedded_scts(&p.leaf(), &p.issuer_spki(), logs, now).unwrap();
        assert_eq!(
            SctRequirement::ChromeLike.evaluate(&got, now).is_ok(),
            chrome,
            "{name}"
        );
        assert_eq!(
            SctRequirement::AtLeast(3).evaluate(&got, now).is_ok(),
            three,
            "{name}"
        );
        assert!(
            SctRequirement::AtLeast(2).evaluate(&got, now).is_ok(),
            "{name}"
        );
    }
    // After the retirement of the 2018 logs, github's SCTs still count (issued before), but no
    // log is live any more: the Chrome-like policy refuses.
    let p = &PAIRS[0];
    let now = at(1_700_000_000);
    let got = verify_embedded_scts(&p.leaf(), &p.issuer_spki(), &lists[0].1, now).unwrap();
    assert!(got.checks.iter().all(|c| c.status == SctStatus::Valid));
    let e = SctRequirement::ChromeLike.evaluate(&got, now).unwrap_err();
    assert!(e.contains("still qualified or usable"), "{e}");
}

#[test]
fn both_log_lists_verify_and_a_flipped_byte_is_refused() {
    let google = LogListSigner::google().unwrap();
    for date in ["2022-09-20", "2026-01-02"] {
        let json = std::fs::read(data(&format!("chrome_log_list_v3_{date}.json"))).unwrap();
        let sig = std::fs::read(data(&format!("chrome_log_list_v3_{date}.json.sig"))).unwrap();
        let l = LogList::from_signed(&json, &sig, &google, date).unwrap();
        assert!(l.len() > 10, "{date}: {}", l.len());
        for at in [json.len() / 2, json.len() - 3] {
            let mut bad = json.clone();
            bad[at] ^= 0x01;
            let e = LogList::from_signed(&bad, &sig, &google, date).unwrap_err();
            assert!(matches!(e, CtError::LogListSignature { .. }), "{e}");
            assert!(e.to_string().contains("signature does not verify"), "{e}");
        }
        let mut bad_sig = sig.clone();
        bad_sig[100] ^= 0x80;
        assert!(LogList::from_signed(&json, &bad_sig, &google, date).is_err());
    }
    // Each list's signature is its own.
    let a = std::fs::read(data("chrome_log_list_v3_2022-09-20.json")).unwrap();
    let b_sig = std::fs::read(data("chrome_log_list_v3_2026-01-02.json.sig")).unwrap();
    assert!(LogList::from_signed(&a, &b_sig, &google, "mixed").is_err());
}

#[test]
fn tiled_logs_are_found() {
    let l = list("2026-01-02");
    let tiled: Vec<&str> = l
        .logs()
        .filter(|g| g.tiled)
        .map(|g| g.description.as_str())
        .collect();
    assert!(
        tiled.contains(&"Let's Encrypt 'Sycamore2026h1'"),
        "{tiled:?}"
    );
    assert!(
        tiled.contains(&"Let's Encrypt 'Sycamore2027h1'"),
        "{tiled:?}"
    );
    assert!(l.logs().any(|g| !g.tiled));
}

/// The whole verifier on real chains: the issuer as the trust anchor (so the leaf hangs
/// directly off it and the issuer key comes from the anchor), pins on it, `require_sct =
/// "chrome"`, the MANIFEST's clock.
#[test]
fn verifier_judges_real_leaves_with_the_chrome_like_policy() {
    use keypin::{PinnedConfig, Policy, Roots, pin::Pin, verify::VerifyError};
    use rustls_pki_types::ServerName;

    let lists = [
        ("2022-09-20", list("2022-09-20")),
        ("2026-01-02", list("2026-01-02")),
    ];
    // (pair, host name on the leaf, accepted?)
    let rows = [
        ("github.com-2018", "github.com", true),
        ("babylonhealth.com-2018", "babylonhealth.com", false),
        ("google.com-2026", "www.google.com", true),
        ("stackoverflow.com-2026", "stackoverflow.com", true),
        ("apple.com-2026", "apple.com", true),
        ("docs.python.org-2026", "docs.python.org", true),
    ];
    for (name, host, ok) in rows {
        let p = PAIRS.iter().find(|p| p.name == name).unwrap();
        let logs = &lists.iter().find(|(d, _)| *d == p.list).unwrap().1;
        let issuer = CertificateDer::from(cert(&format!("{name}.issuer.pem")));
        let mut roots = Roots::empty();
        roots.add_cert(issuer).unwrap();
        let text = format!(
            "[[rule]]\nhosts = [\"{host}\"]\npins = [\"{}\", \"{}\"]\nrequire_sct = \"chrome\"\n",
            Pin::from_spki_der(&p.issuer_spki()),
            Pin::from_spki_der(b"backup"),
        );
        let policy = Policy::from_toml_str(&text, "real.toml").unwrap();
        let verifier = PinnedConfig::builder(policy, roots)
            .ct_logs(logs.clone())
            .verifier();
        let leaf = CertificateDer::from(p.leaf());
        let server = ServerName::try_from(host).unwrap();
        let r = verifier.verify_chain(&leaf, &[], &server, at(p.clock));
        match (r, ok) {
            (Ok(_), true) => {}
            (Err(VerifyError::Ct(f)), false) => {
                assert!(f.reason.contains("3 distinct logs, found 2"), "{f}");
                assert_eq!(f.checks.len(), 2);
            }
            (r, _) => panic!("{name}: {r:?}"),
        }
        // Another era's log list knows none of these logs.
        let other = &lists.iter().find(|(d, _)| *d != p.list).unwrap().1;
        let issuer = CertificateDer::from(cert(&format!("{name}.issuer.pem")));
        let mut roots = Roots::empty();
        roots.add_cert(issuer).unwrap();
        let verifier =
            PinnedConfig::builder(Policy::from_toml_str(&text, "real.toml").unwrap(), roots)
                .ct_logs(other.clone())
                .verifier();
        match verifier.verify_chain(&leaf, &[], &server, at(p.clock)) {
            Err(VerifyError::Ct(f)) => {
                assert!(
                    f.checks.iter().all(|c| c.status == SctStatus::UnknownLog),
                    "{f}"
                )
            }
            r => panic!("{name} with the other list: {r:?}"),
        }
    }
}

// A signed pin bundle carrying Chrome's real log list (body field `ct_log_list`).

mod carried_by_a_bundle {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use keypin::live::bundle::{
        BundleError, BundleSpec, CarriedLogList, Expectations, Root, SigningKey,
    };
    use keypin::{PinnedConfig, Roots, clock::Date, pin::Pin, verify::VerifyError};
    use rustls_pki_types::ServerName;
    use std::sync::Arc;

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(data(name)).unwrap()
    }

    /// A one-key root of trust and its key.
    fn signer() -> (Root, SigningKey) {
        let (root, key) = common::one_key_root();
        (Root::from_embedded(&root).unwrap(), key)
    }

    /// Bundle v1 for app/prod with this policy, valid at the 2026 clock.
    fn spec(policy_toml: String) -> BundleSpec {
        BundleSpec {
            app_id: "app".into(),
            environment: "prod".into(),
            version: 1,
            issued_unix: CLOCK_2026 as i64,
            expires: Date::parse("2026-03-31").unwrap(),
            policy_toml,
        }
    }

    /// A bundle for `google.com-2026`'s host requiring Chrome-like CT, carrying the log list
    /// of `date` (with Google's signature when `with_sig`), and the root that verifies it.
    fn signed(date: &str, with_sig: bool) -> (Root, Vec<u8>) {
        let (root, key) = signer();
        let policy_toml = format!(
            "[[rule]]\nhosts = [\"www.google.com\"]\npins = [\"{}\", \"{}\"]\nrequire_sct = \"chrome\"\n",
            Pin::from_spki_der(&PAIRS[2].issuer_spki()),
            Pin::from_spki_der(b"backup"),
        );
        let list = read(&format!("chrome_log_list_v3_{date}.json"));
        let sig = read(&format!("chrome_log_list_v3_{date}.json.sig"));
        let bundle = spec(policy_toml)
            .sign_with_ct_log_list(&[&key], &list, with_sig.then_some(sig.as_slice()))
            .unwrap();
        (root, bundle)
    }

    fn expect() -> Expectations {
        Expectations::new("app", "prod").ct_log_list_signer(LogListSigner::google().unwrap())
    }

    /// google.com-2026's leaf through the verifier, with the bundle's policy and list.
    fn judge(bundle: &keypin::live::bundle::VerifiedBundle) -> Result<(), VerifyError> {
        let mut roots = Roots::empty();
        roots
            .add_cert(CertificateDer::from(cert("google.com-2026.issuer.pem")))
            .unwrap();
        let logs: Arc<LogList> = bundle.ct_logs().unwrap().clone();
        let verifier = PinnedConfig::builder(bundle.policy().clone(), roots)
            .ct_logs(logs)
            .verifier();
        verifier
            .verify_chain(
                &CertificateDer::from(PAIRS[2].leaf()),
                &[],
                &ServerName::try_from("www.google.com").unwrap(),
                at(CLOCK_2026),
            )
            .map(|_| ())
    }

    #[test]
    fn the_real_list_carried_in_a_bundle_verifies_a_real_leafs_scts() {
        for with_sig in [true, false] {
            let (root, bytes) = signed("2026-01-02", with_sig);
            // Without Google's signature, only the app's explicit opt-out takes the list
            // (bundle_provenance_attacks.rs has the refusal).
            let expect = match with_sig {
                true => expect(),
                false => expect().carried_ct_log_list(CarriedLogList::AcceptBundleSignatureAlone),
            };
            let v = root.verify_bundle(&bytes, &expect, at(CLOCK_2026)).unwrap();
            let logs = v.ct_logs().expect("the bundle carries a list");
            assert_eq!(logs.version(), "80.14");
            assert_eq!(logs.len(), list("2026-01-02").len());
            judge(&v).unwrap();
        }
    }

    #[test]
    fn a_carried_list_lacking_the_leafs_logs_fails_require_sct() {
        let (root, bytes) = signed("2022-09-20", true);
        let v = root
            .verify_bundle(&bytes, &expect(), at(CLOCK_2026))
            .unwrap();
        match judge(&v) {
            Err(VerifyError::Ct(f)) => {
                assert!(
                    f.checks.iter().all(|c| c.status == SctStatus::UnknownLog),
                    "{f}"
                );
                assert_eq!(f.checks.len(), 2, "{f}");
            }
            r => panic!("expected a CT refusal: {r:?}"),
        }
    }

    type Edit = dyn FnOnce(&mut serde_json::Value);

    /// Re-encodes the bundle with `edit` applied to its body JSON, keeping the signatures.
    fn edited(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut env: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let body = STANDARD.decode(env["signed"].as_str().unwrap()).unwrap();
        let mut body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        edit(&mut body);
        env["signed"] = STANDARD.encode(serde_json::to_vec(&body).unwrap()).into();
        serde_json::to_vec(&env).unwrap()
    }

    #[test]
    fn tampering_with_the_carried_list_breaks_the_bundle_signature() {
        let (root, bytes) = signed("2026-01-02", false);
        let other = STANDARD.encode(read("chrome_log_list_v3_2022-09-20.json"));
        let edits: [(&str, Box<Edit>); 3] = [
            // One byte of the list changed.
            (
                "a byte flipped",
                Box::new(|body| {
                    let mut list = STANDARD
                        .decode(body["ct_log_list"].as_str().unwrap())
                        .unwrap();
                    let at = list.len() / 2;
                    list[at] ^= 0x01;
                    body["ct_log_list"] = STANDARD.encode(list).into();
                }),
            ),
            // The other era's list swapped in.
            (
                "swapped",
                Box::new(|body| body["ct_log_list"] = other.into()),
            ),
            // The list taken out (an attacker wanting the app's older list back).
            (
                "removed",
                Box::new(|body| {
                    body.as_object_mut().unwrap().remove("ct_log_list");
                }),
            ),
        ];
        for (what, edit) in edits {
            let err = root
                .verify_bundle(&edited(&bytes, edit), &expect(), at(CLOCK_2026))
                .unwrap_err();
            assert!(
                matches!(err, BundleError::ThresholdNotMet { .. }),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn a_carried_google_signature_must_verify_with_the_apps_signer() {
        // The signers put the 2022 signature next to the 2026 list (a release mistake): the
        // bundle signatures are good, but the app checks the carried signature and refuses.
        let (root, key) = signer();
        let bytes = spec(String::new())
            .sign_with_ct_log_list(
                &[&key],
                &read("chrome_log_list_v3_2026-01-02.json"),
                Some(&read("chrome_log_list_v3_2022-09-20.json.sig")),
            )
            .unwrap();
        let err = root
            .verify_bundle(&bytes, &expect(), at(CLOCK_2026))
            .unwrap_err();
        assert!(
            matches!(err, BundleError::CtLogList { .. })
                && err.to_string().contains("signature does not verify"),
            "{err}"
        );
        // An app without a configured signer relies on the bundle signatures alone.
        let v = root
            .verify_bundle(&bytes, &Expectations::new("app", "prod"), at(CLOCK_2026))
            .unwrap();
        assert!(v.ct_logs().is_some());
    }

    #[test]
    fn signing_refuses_a_file_that_is_not_a_v3_list() {
        let (_, key) = signer();
        let err = spec(String::new())
            .sign_with_ct_log_list(&[&key], &read("google.com-2026.leaf.pem"), None)
            .unwrap_err();
        assert!(
            matches!(err, BundleError::CtLogList { .. }) && err.to_string().contains("line 1"),
            "{err}"
        );
    }
}
