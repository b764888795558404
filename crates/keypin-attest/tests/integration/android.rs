//! Android Key Attestation: the two real TEE chains of `tests/data/` verify at a time inside
//! every certificate's validity; each attack is refused with its named failure, and the report
//! lists every fact checked.

use keypin_attest::android::{
    AndroidFailure, AndroidPolicy, AndroidReport, AndroidRequest, Outcome, Revocation,
    RevocationList, verify_android,
};
use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair};

use crate::common::{at, data};

/// 2024-09-20T00:00:00Z: inside akita's Droid CA2 (2024-09-11 to 2024-11-20) and batch
/// certificate (2024-09-10 to 2024-10-08).
const AKITA_TIME: u64 = 1_726_790_400;
/// 2024-08-30T00:00:00Z: before akita's batch certificate (2024-09-10) and Droid CA2.
const BEFORE_AKITA_INTERMEDIATES: u64 = 1_724_976_000;
/// 2026-03-01T00:00:00Z: inside tegu's batch certificate (2026-02-22 to 2026-03-08).
const TEGU_TIME: u64 = 1_772_323_200;
/// 2026-03-09T00:00:00Z: the day after tegu's batch certificate expired.
const TEGU_BATCH_EXPIRED: u64 = 1_773_014_400;
const AKITA_PACKAGE: &str = "com.google.wireless.android.security.attestationverifier.collector";
const TEGU_PACKAGE: &str = "com.google.android.attestation";
/// The tegu vector's challenge (not `challenge`, unlike akita's).
const TEGU_CHALLENGE: &[u8] = b"6417f92c-daef-4cc1-8828-5bb39338ffd5";
const SIGNER: &str = "103938ee4537e59e8ee792f654504fb8346fc6b346d0bbc4415fc339fcfc8ec1";
/// Serial of akita's Droid CA3 intermediate (position 2), as Google's list spells serials.
const AKITA_CA3_SERIAL: &str = "bfc61f12db0cce5bc16832d05e052e488cb284";

fn policy(toml: &str) -> AndroidPolicy {
    AndroidPolicy::from_toml(toml).unwrap()
}

fn akita_policy() -> String {
    format!(
        "packages = [\"{AKITA_PACKAGE}\"]\nsigning_cert_sha256 = [\"{SIGNER}\"]\nmin_security_level = \"tee\"\nmin_os_patch_level = 202401\n"
    )
}

fn verify(
    chain: &[u8],
    challenge: &[u8],
    policy: &AndroidPolicy,
    list: Option<&RevocationList>,
    now: u64,
) -> AndroidReport {
    let revocation = list.map_or(Revocation::NotChecked, Revocation::Checked);
    verify_android(
        chain,
        &AndroidRequest {
            challenge,
            policy,
            revocation,
            now: at(now),
        },
    )
}

fn empty_list() -> RevocationList {
    RevocationList::from_json(br#"{"entries": {}}"#).unwrap()
}

#[test]
fn real_akita_chain_verifies_to_the_rsa_root() {
    let list = empty_list();
    let report = verify(
        &data("akita_TEE_EC_NONE.pem"),
        b"challenge",
        &policy(&akita_policy()),
        Some(&list),
        AKITA_TIME,
    );
    assert_eq!(report.verdict, Ok(()), "{:#?}", report.facts);
    let kd = report.key_description.as_ref().unwrap();
    assert_eq!(kd.challenge, b"challenge");
    assert_eq!(kd.hardware_enforced.os_patch_level, Some(202408));
    // Every fact is in the report: chain, five serials, the KeyDescription checks.
    for check in [
        "chain",
        "revocation[0]",
        "revocation[4]",
        "challenge",
        "attestation security level",
        "KeyMint security level",
        "package",
        "signing certificate sha256",
        "os patch level",
    ] {
        let fact = report
            .facts
            .iter()
            .find(|f| f.check == check)
            .unwrap_or_else(|| panic!("no fact {check}"));
        assert_eq!(fact.outcome, Outcome::Pass, "{check}");
    }
}

#[test]
fn real_tegu_chain_verifies_to_the_2026_ec_root_with_verified_boot() {
    let toml = format!(
        "packages = [\"{TEGU_PACKAGE}\"]\nsigning_cert_sha256 = [\"{SIGNER}\"]\nmin_security_level = \"tee\"\nrequire_verified_boot = true\nmin_os_patch_level = 202601\n"
    );
    let report = verify(
        &data("tegu_TEE_EC_2026_ROOT.pem"),
        TEGU_CHALLENGE,
        &policy(&toml),
        Some(&empty_list()),
        TEGU_TIME,
    );
    assert_eq!(report.verdict, Ok(()), "{:#?}", report.facts);
    assert!(
        report
            .facts
            .iter()
            .any(|f| f.check == "verified boot" && f.outcome == Outcome::Pass)
    );
    assert!(
        report
            .facts
            .iter()
            .any(|f| f.check == "device locked" && f.outcome == Outcome::Pass)
    );
}

type Expect = fn(&AndroidFailure) -> bool;

#[test]
fn attacks_on_android_attestation_are_refused_with_the_named_failure() {
    let akita = data("akita_TEE_EC_NONE.pem");
    let revoked = RevocationList::from_json(format!(r#"{{"entries": {{"{AKITA_CA3_SERIAL}": {{"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}}}}"#).as_bytes()).unwrap();
    let suspended_leaf =
        RevocationList::from_json(br#"{"entries": {"1": {"status": "SUSPENDED"}}}"#).unwrap();
    let base = akita_policy();
    let with = |line: &str| policy(&format!("{base}{line}\n"));
    let replace = |from: &str, to: &str| policy(&base.replace(from, to));
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        Vec<u8>,
        &[u8],
        AndroidPolicy,
        Option<&RevocationList>,
        u64,
        Expect,
    )> = vec![
        (
            "another_challenge",
            akita.clone(),
            b"challengf",
            policy(&base),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::ChallengeMismatch { .. }),
        ),
        (
            "revoked_intermediate_serial",
            akita.clone(),
            b"challenge",
            policy(&base),
            Some(&revoked),
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::Revoked { position: 2, status, .. } if status == "REVOKED"),
        ),
        (
            "suspended_leaf_serial",
            akita.clone(),
            b"challenge",
            policy(&base),
            Some(&suspended_leaf),
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::Revoked { position: 0, .. }),
        ),
        (
            "strongbox_required_of_a_tee_key",
            akita.clone(),
            b"challenge",
            replace("\"tee\"", "\"strongbox\""),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::SecurityLevelTooLow { .. }),
        ),
        (
            "repackaged_apk_other_package",
            akita.clone(),
            b"challenge",
            replace(AKITA_PACKAGE, "com.example.bank"),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::PackageNotAllowed { .. }),
        ),
        (
            "resigned_apk_other_signing_digest",
            akita.clone(),
            b"challenge",
            replace(SIGNER, &"ab".repeat(32)),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::SigningDigestMismatch { .. }),
        ),
        (
            "unverified_boot_when_required",
            akita.clone(),
            b"challenge",
            with("require_verified_boot = true"),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::BootNotVerified { .. }),
        ),
        (
            "os_patch_level_too_old",
            akita.clone(),
            b"challenge",
            replace("202401", "202409"),
            None,
            AKITA_TIME,
            |f| {
                matches!(
                    f,
                    AndroidFailure::OsPatchLevelTooOld {
                        found: 202408,
                        required: 202409
                    }
                )
            },
        ),
        (
            "expired_batch_certificate",
            data("tegu_TEE_EC_2026_ROOT.pem"),
            TEGU_CHALLENGE,
            replace(AKITA_PACKAGE, TEGU_PACKAGE),
            None,
            TEGU_BATCH_EXPIRED,
            |f| matches!(f, AndroidFailure::CertificateExpired { .. }),
        ),
        (
            "chain_re_rooted_at_a_self_made_google_root",
            re_rooted(&akita),
            b"challenge",
            policy(&base),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::ChainToUnknownRoot),
        ),
        (
            "chain_verified_before_its_intermediates_were_issued",
            akita.clone(),
            b"challenge",
            policy(&base),
            None,
            BEFORE_AKITA_INTERMEDIATES,
            |f| matches!(f, AndroidFailure::CertificateNotYetValid { .. }),
        ),
        (
            "leaf_only_no_intermediates",
            first_cert(&akita),
            b"challenge",
            policy(&base),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::ChainToUnknownRoot),
        ),
        (
            "not_pem",
            b"MIIB...".to_vec(),
            b"challenge",
            policy(&base),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::ChainUnreadable { .. }),
        ),
        (
            "oversized_chain",
            vec![b'A'; keypin_attest::android::MAX_CHAIN_BYTES + 1],
            b"challenge",
            policy(&base),
            None,
            AKITA_TIME,
            |f| matches!(f, AndroidFailure::ChainUnreadable { .. }),
        ),
    ];
    for (name, chain, challenge, policy, list, now, expected) in table {
        let report = verify(&chain, challenge, &policy, list, now);
        match &report.verdict {
            Err(f) if expected(f) => {}
            other => panic!(
                "{name}: expected the named failure, got {other:?}\n{:#?}",
                report.facts
            ),
        }
        assert!(
            report.facts.iter().any(|f| f.outcome == Outcome::Fail),
            "{name}: no failed fact"
        );
    }
}

/// The KeyDescription extension value of the real akita leaf.
fn akita_key_description() -> Vec<u8> {
    use x509_parser::prelude::{FromDer as _, X509Certificate};
    let leaf = first_der(&data("akita_TEE_EC_NONE.pem"));
    let (_, cert) = X509Certificate::from_der(&leaf).unwrap();
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.1.17")
        .unwrap();
    ext.value.to_vec()
}

fn first_der(pem: &[u8]) -> Vec<u8> {
    use rustls_pki_types::{CertificateDer, pem::PemObject as _};
    CertificateDer::pem_slice_iter(pem)
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

fn first_cert(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(pem.to_vec()).unwrap();
    let end = text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----\n".len();
    text.as_bytes()[..end].to_vec()
}

const KEY_DESCRIPTION_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17];

/// A "Google" root made here, with the RSA root's exact subject (serialNumber=f92009e853b6b045),
/// an intermediate, and a leaf carrying the real leaf's KeyDescription (and optionally a
/// KeyDescription on the intermediate too).
fn fake_google_chain(extension_on_intermediate: bool, leaf_extension: Option<Vec<u8>>) -> Vec<u8> {
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.distinguished_name = rcgen::DistinguishedName::new();
    root.distinguished_name
        .push(DnType::CustomDnType(vec![2, 5, 4, 5]), "f92009e853b6b045");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_key = KeyPair::generate().unwrap();
    let root_cert = root.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::from_params(&root, &root_key);

    let mut mid = CertificateParams::new(Vec::<String>::new()).unwrap();
    mid.distinguished_name.push(DnType::CommonName, "Droid CA3");
    mid.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    if extension_on_intermediate {
        mid.custom_extensions
            .push(CustomExtension::from_oid_content(
                KEY_DESCRIPTION_OID,
                leaf_extension.clone().unwrap_or_default(),
            ));
    }
    let mid_key = KeyPair::generate().unwrap();
    let mid_cert = mid.signed_by(&mid_key, &root_issuer).unwrap();
    let mid_issuer = Issuer::from_params(&mid, &mid_key);

    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "Android Keystore Key");
    if let Some(ext) = leaf_extension {
        leaf.custom_extensions
            .push(CustomExtension::from_oid_content(KEY_DESCRIPTION_OID, ext));
    }
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &mid_issuer).unwrap();
    [leaf_cert.pem(), mid_cert.pem(), root_cert.pem()]
        .concat()
        .into_bytes()
}

fn re_rooted(_genuine: &[u8]) -> Vec<u8> {
    fake_google_chain(false, Some(akita_key_description()))
}

/// The report holds the failure (the verdict may be an earlier one: these chains are made here,
/// so they also fail at the root).
fn assert_failure(report: &AndroidReport, name: &str, expected: Expect) {
    assert!(
        report.failures.iter().any(expected),
        "{name}: {:?}",
        report.failures
    );
}

#[test]
fn key_description_on_an_intermediate_is_refused() {
    let chain = fake_google_chain(true, Some(akita_key_description()));
    let report = verify(
        &chain,
        b"challenge",
        &policy(&akita_policy()),
        None,
        AKITA_TIME,
    );
    assert_failure(&report, "extension_on_intermediate", |f| {
        matches!(f, AndroidFailure::ExtensionNotOnLeafOnly { position: 1 })
    });
}

#[test]
fn malformed_key_descriptions_are_refused_with_the_field() {
    let genuine = akita_key_description();
    let mut truncated_inner = genuine.clone();
    truncated_inner.truncate(genuine.len() - 3);
    let mut trailing = genuine.clone();
    trailing.extend_from_slice(&[0x00]);
    for (name, ext) in [
        ("truncated", truncated_inner),
        ("trailing_byte", trailing),
        ("empty", Vec::new()),
        ("not_a_sequence", vec![0x04, 0x01, 0x00]),
    ] {
        let report = verify(
            &fake_google_chain(false, Some(ext)),
            b"challenge",
            &policy(&akita_policy()),
            None,
            AKITA_TIME,
        );
        assert_failure(&report, name, |f| {
            matches!(f, AndroidFailure::KeyDescriptionMalformed(_))
        });
    }
}

#[test]
fn policies_are_validated() {
    for (toml, ok) in [
        (akita_policy(), true),
        ("packages = \"any\"\nsigning_cert_sha256 = \"any\"\nmin_security_level = \"strongbox\"\n".to_string(), true),
        ("packages = []\nsigning_cert_sha256 = \"any\"\nmin_security_level = \"tee\"\n".to_string(), false),
        ("packages = \"all\"\nsigning_cert_sha256 = \"any\"\nmin_security_level = \"tee\"\n".to_string(), false),
        ("packages = \"any\"\nsigning_cert_sha256 = [\"abcd\"]\nmin_security_level = \"tee\"\n".to_string(), false),
        ("packages = \"any\"\nsigning_cert_sha256 = \"any\"\nmin_security_level = \"software\"\n".to_string(), false),
        ("packages = \"any\"\nsigning_cert_sha256 = \"any\"\n".to_string(), false),
        ("packages = \"any\"\nsigning_cert_sha256 = \"any\"\nmin_security_level = \"tee\"\nmin_os_patch_level = 202413\n".to_string(), false),
        ("packages = \"any\"\nsigning_cert_sha256 = \"any\"\nmin_security_level = \"tee\"\ntypo = 1\n".to_string(), false),
    ] {
        assert_eq!(AndroidPolicy::from_toml(&toml).is_ok(), ok, "{toml}");
    }
}

#[test]
fn status_lists_are_read_in_googles_format() {
    let list = RevocationList::from_json(br#"{"entries": {"00BFC61F": {"status": "REVOKED", "reason": "KEY_COMPROMISE"}, "2c8cdddfd5e03bfc": {"status": "SUSPENDED"}}}"#).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list.status_of(&[0x00, 0xbf, 0xc6, 0x1f]).unwrap().status,
        "REVOKED"
    );
    assert!(list.status_of(&[0xbf, 0xc6, 0x20]).is_none());
    for bad in [
        &br#"{"entries": {"xyz": {"status": "REVOKED"}}}"#[..],
        br#"{"entries": []}"#,
        b"not json",
    ] {
        assert!(RevocationList::from_json(bad).is_err());
    }
}

#[test]
fn leaf_without_a_key_description_is_refused() {
    let report = verify(
        &fake_google_chain(false, None),
        b"challenge",
        &policy(&akita_policy()),
        None,
        AKITA_TIME,
    );
    assert_failure(&report, "no_extension", |f| {
        matches!(f, AndroidFailure::ExtensionMissing)
    });
}
