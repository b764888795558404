//! The order an Android attestation is checked in. Every check adds a fact to the report; the
//! first failure is the verdict, and the checks after it still run (when their input could be
//! read) so that the report answers "why was this device refused?" in full.
//!
//! 1. the chain (PEM, leaf first, bounded) to one of Google's roots at the injected time;
//! 2. every certificate's serial against the status list;
//! 3. the KeyDescription extension on the leaf only, once;
//! 4. the challenge;
//! 5. attestation and KeyMint security levels;
//! 6. the attestationApplicationId: a package and a signing-certificate digest the policy
//!    allows;
//! 7. the hardware-enforced rootOfTrust: verified boot and a locked bootloader, if required;
//! 8. the hardware-enforced OS patch level, if the policy sets a minimum.

use std::sync::OnceLock;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::key_description::{AuthorizationList, KeyDescription, SecurityLevel, VerifiedBootState};
use super::policy::{Allowed, AndroidPolicy, BootRequirement, RequiredLevel};
use super::report::{AndroidFailure, AndroidReport};
use super::revocation::Revocation;
use super::{GOOGLE_EC_ROOT_PEM, GOOGLE_RSA_ROOT_PEM};
use crate::chain::{self, ChainError, rfc3339};
use crate::hex;

/// Largest PEM chain accepted.
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;
/// Most certificates accepted in a chain (real ones have 4 or 5).
pub const MAX_CHAIN_CERTS: usize = 10;
const KEY_DESCRIPTION_OID: &str = "1.3.6.1.4.1.11129.2.1.17";

/// What the server expects of one attestation.
#[derive(Debug, Clone, Copy)]
pub struct AndroidRequest<'a> {
    /// The challenge the server issued for this attestation.
    pub challenge: &'a [u8],
    /// What the app requires.
    pub policy: &'a AndroidPolicy,
    /// The status list, or an explicit choice not to check one.
    pub revocation: Revocation<'a>,
    /// The time to verify the certificates at.
    pub now: UnixTime,
}

fn google_roots() -> &'static [TrustAnchor<'static>] {
    static ROOTS: OnceLock<Vec<TrustAnchor<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| chain::anchors_from_pem(&[GOOGLE_RSA_ROOT_PEM, GOOGLE_EC_ROOT_PEM]))
}

/// Verifies an Android Key Attestation chain (PEM, leaf first), trusting Google's attestation
/// roots only.
pub fn verify_android(chain_pem: &[u8], request: &AndroidRequest<'_>) -> AndroidReport {
    verify_android_to(chain_pem, request, google_roots())
}

/// [`verify_android`] with the trust anchors given (Google's, or the test roots of
/// [`crate::danger`]).
pub(crate) fn verify_android_to(
    chain_pem: &[u8],
    request: &AndroidRequest<'_>,
    anchors: &[TrustAnchor<'_>],
) -> AndroidReport {
    let mut report = AndroidReport::new();
    let certs = match read_chain(chain_pem) {
        Ok(c) => c,
        Err(reason) => return unreadable(report, "unreadable", reason),
    };
    let parsed = match parse_certs(&certs) {
        Ok(p) => p,
        Err(reason) => return unreadable(report, "unparsable", reason),
    };
    // 1. The chain to one of Google's roots, at the injected time.
    check_chain(&mut report, &certs, &parsed, anchors, request.now);
    // 2. Every certificate's serial against the status list.
    check_revocation(&mut report, &parsed, request.revocation);
    // 3. The KeyDescription: on the leaf, once, and nowhere else.
    let Some(kd) = key_description(&mut report, &parsed) else {
        return report;
    };
    // 4-8.
    judge(&mut report, &kd, request);
    report.key_description = Some(kd);
    report
}

fn unreadable(mut report: AndroidReport, detail: &str, reason: String) -> AndroidReport {
    report.check(
        "chain",
        detail,
        Err(AndroidFailure::ChainUnreadable { reason }),
    );
    report
}

fn parse_certs<'a>(certs: &'a [CertificateDer<'_>]) -> Result<Vec<X509Certificate<'a>>, String> {
    certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            X509Certificate::from_der(c.as_ref())
                .map(|(_, x)| x)
                .map_err(|e| format!("certificate {i}: {e}"))
        })
        .collect()
}

fn check_chain(
    report: &mut AndroidReport,
    certs: &[CertificateDer<'_>],
    parsed: &[X509Certificate<'_>],
    anchors: &[TrustAnchor<'_>],
    now: UnixTime,
) {
    let result = chain::verify(&certs[0], &certs[1..], anchors, now).map_err(|e| match e {
        ChainError::UnknownRoot => AndroidFailure::ChainToUnknownRoot,
        ChainError::Expired { not_after } => AndroidFailure::CertificateExpired {
            not_after: rfc3339(not_after),
            now: rfc3339(now),
        },
        ChainError::NotYetValid { not_before } => AndroidFailure::CertificateNotYetValid {
            not_before: rfc3339(not_before),
            now: rfc3339(now),
        },
        ChainError::Invalid(reason) => AndroidFailure::ChainInvalid { reason },
    });
    let top = parsed
        .last()
        .map(|c| c.issuer().to_string())
        .unwrap_or_default();
    let detail = format!(
        "{} certificates, topmost issuer {top}, at {}",
        certs.len(),
        rfc3339(now)
    );
    report.check("chain", detail, result);
}

fn check_revocation(
    report: &mut AndroidReport,
    parsed: &[X509Certificate<'_>],
    revocation: Revocation<'_>,
) {
    for (position, cert) in parsed.iter().enumerate() {
        let serial = hex(cert.raw_serial());
        let check = format!("revocation[{position}]");
        let Revocation::Checked(list) = revocation else {
            report.info(
                check,
                format!("serial {serial}: not checked (no status list given)"),
            );
            continue;
        };
        match list.status_of(cert.raw_serial()) {
            None => report.check(check, format!("serial {serial}: not listed"), Ok(())),
            Some(s) => report.check(
                check,
                format!("serial {serial}: {}", s.status),
                Err(AndroidFailure::Revoked {
                    position,
                    serial,
                    status: s.status.clone(),
                    reason: s.reason.clone().unwrap_or_else(|| "none given".into()),
                }),
            ),
        }
    }
}

/// The leaf's KeyDescription, parsed; every other copy (on another certificate, or a second
/// one on the leaf) is a failure.
fn key_description(
    report: &mut AndroidReport,
    parsed: &[X509Certificate<'_>],
) -> Option<KeyDescription> {
    let mut on_leaf = None;
    for (position, cert) in parsed.iter().enumerate() {
        let copies = cert
            .extensions()
            .iter()
            .filter(|e| e.oid.to_id_string() == KEY_DESCRIPTION_OID);
        for ext in copies {
            if position == 0 && on_leaf.is_none() {
                on_leaf = Some(ext.value);
            } else {
                report.check(
                    "key description placement",
                    format!("also on certificate {position}"),
                    Err(AndroidFailure::ExtensionNotOnLeafOnly { position }),
                );
            }
        }
    }
    let Some(ext) = on_leaf else {
        report.check(
            "key description",
            "absent from the leaf",
            Err(AndroidFailure::ExtensionMissing),
        );
        return None;
    };
    match KeyDescription::parse(ext) {
        Ok(kd) => {
            let detail = format!(
                "attestation version {}, KeyMint version {}",
                kd.attestation_version, kd.keymint_version
            );
            report.info("key description", detail);
            Some(kd)
        }
        Err(e) => {
            report.check(
                "key description",
                e.reason.clone(),
                Err(AndroidFailure::KeyDescriptionMalformed(e)),
            );
            None
        }
    }
}

fn read_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    if pem.len() > MAX_CHAIN_BYTES {
        return Err(format!(
            "{} bytes, over the {MAX_CHAIN_BYTES}-byte bound",
            pem.len()
        ));
    }
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        if certs.len() == MAX_CHAIN_CERTS {
            return Err(format!("more than {MAX_CHAIN_CERTS} certificates"));
        }
        certs.push(item.map_err(|e| format!("PEM: {e}"))?);
    }
    if certs.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    Ok(certs)
}

/// Steps 4–8: the KeyDescription against the request and the policy.
fn judge(report: &mut AndroidReport, kd: &KeyDescription, request: &AndroidRequest<'_>) {
    let policy = request.policy;
    // 4. The challenge.
    let result = if kd.challenge == request.challenge {
        Ok(())
    } else {
        Err(AndroidFailure::ChallengeMismatch {
            expected: hex(request.challenge),
            found: hex(&kd.challenge),
        })
    };
    report.check(
        "challenge",
        format!(
            "{} ({} bytes)",
            printable(&kd.challenge),
            kd.challenge.len()
        ),
        result,
    );

    // 5. Security levels: both where the attestation was made and where the key lives.
    let required = match policy.min_security_level {
        RequiredLevel::Tee => SecurityLevel::TrustedEnvironment,
        RequiredLevel::Strongbox => SecurityLevel::StrongBox,
    };
    for (which, found) in [
        ("attestation", kd.attestation_security_level),
        ("KeyMint", kd.keymint_security_level),
    ] {
        let result = if found >= required {
            Ok(())
        } else {
            Err(AndroidFailure::SecurityLevelTooLow {
                which,
                found,
                required: policy.min_security_level,
            })
        };
        report.check(format!("{which} security level"), found.to_string(), result);
    }

    // 6. The application id: the keystore fills it in, so it sits in either list.
    check_application_id(report, kd, policy);

    // 7. Root of trust, hardware-enforced only: a software-enforced claim proves nothing.
    root_of_trust(report, &kd.hardware_enforced, policy.boot);

    // 8. OS patch level, hardware-enforced only.
    check_patch_level(
        report,
        kd.hardware_enforced.os_patch_level,
        policy.min_os_patch_level,
    );
}

fn check_application_id(report: &mut AndroidReport, kd: &KeyDescription, policy: &AndroidPolicy) {
    match kd
        .hardware_enforced
        .application_id
        .as_ref()
        .or(kd.software_enforced.application_id.as_ref())
    {
        None => report.check(
            "application id",
            "absent",
            Err(AndroidFailure::ApplicationIdMissing),
        ),
        Some(app) => {
            let names: Vec<String> = app.packages.iter().map(|p| p.name.clone()).collect();
            let listed = app
                .packages
                .iter()
                .map(|p| format!("{} (version {})", p.name, p.version))
                .collect::<Vec<_>>()
                .join(", ");
            let result = match &policy.packages {
                Allowed::Any => Ok(()),
                Allowed::OneOf(allowed) if names.iter().any(|n| allowed.contains(n)) => Ok(()),
                Allowed::OneOf(_) => Err(AndroidFailure::PackageNotAllowed {
                    found: names.clone(),
                }),
            };
            match &policy.packages {
                Allowed::Any => report.info("package", listed),
                Allowed::OneOf(_) => report.check("package", listed, result),
            }
            let digests: Vec<String> = app.signature_digests.iter().map(|d| hex(d)).collect();
            let result = match &policy.signing_cert_sha256 {
                Allowed::Any => Ok(()),
                Allowed::OneOf(allowed)
                    if app
                        .signature_digests
                        .iter()
                        .any(|d| allowed.iter().any(|a| a.as_slice() == d.as_slice())) =>
                {
                    Ok(())
                }
                Allowed::OneOf(_) => Err(AndroidFailure::SigningDigestMismatch {
                    found: digests.clone(),
                }),
            };
            let detail = digests.join(", ");
            match &policy.signing_cert_sha256 {
                Allowed::Any => report.info("signing certificate sha256", detail),
                Allowed::OneOf(_) => report.check("signing certificate sha256", detail, result),
            }
        }
    }
}

fn check_patch_level(report: &mut AndroidReport, found: Option<i64>, minimum: Option<i64>) {
    match (minimum, found) {
        (None, f) => report.info(
            "os patch level",
            f.map_or("absent".into(), |f| f.to_string()),
        ),
        (Some(required), None) => report.check(
            "os patch level",
            "absent",
            Err(AndroidFailure::OsPatchLevelMissing { required }),
        ),
        (Some(required), Some(found)) => {
            let result = if found >= required {
                Ok(())
            } else {
                Err(AndroidFailure::OsPatchLevelTooOld { found, required })
            };
            report.check("os patch level", found.to_string(), result);
        }
    }
}

fn root_of_trust(report: &mut AndroidReport, hw: &AuthorizationList, boot: BootRequirement) {
    let Some(rot) = hw.root_of_trust.as_ref() else {
        match boot {
            BootRequirement::VerifiedAndLocked => report.check(
                "root of trust",
                "absent",
                Err(AndroidFailure::RootOfTrustMissing),
            ),
            BootRequirement::NotRequired => report.info("root of trust", "absent"),
        }
        return;
    };
    let detail = format!(
        "{:?}, device locked: {}, boot key {}",
        rot.verified_boot_state,
        rot.device_locked,
        hex(&rot.verified_boot_key)
    );
    match boot {
        BootRequirement::NotRequired => report.info("root of trust", detail),
        BootRequirement::VerifiedAndLocked => {
            let state = rot.verified_boot_state;
            let result = if state == VerifiedBootState::Verified {
                Ok(())
            } else {
                Err(AndroidFailure::BootNotVerified { state })
            };
            report.check("verified boot", detail, result);
            let result = if rot.device_locked {
                Ok(())
            } else {
                Err(AndroidFailure::DeviceNotLocked)
            };
            report.check("device locked", rot.device_locked.to_string(), result);
        }
    }
}

/// The challenge as text when it is printable ASCII, else hex.
fn printable(bytes: &[u8]) -> String {
    if !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(bytes))
    } else {
        hex(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::android::key_description::{ApplicationId, PackageInfo, RootOfTrust};

    const NOW: UnixTime = UnixTime::since_unix_epoch(std::time::Duration::from_secs(0));

    fn genuine() -> KeyDescription {
        let rot = RootOfTrust {
            verified_boot_key: vec![1; 32],
            device_locked: true,
            verified_boot_state: VerifiedBootState::Verified,
        };
        KeyDescription {
            attestation_version: 300,
            attestation_security_level: SecurityLevel::TrustedEnvironment,
            keymint_version: 300,
            keymint_security_level: SecurityLevel::TrustedEnvironment,
            challenge: b"nonce".to_vec(),
            software_enforced: AuthorizationList {
                application_id: Some(ApplicationId {
                    packages: vec![PackageInfo {
                        name: "com.example.app".into(),
                        version: 7,
                    }],
                    signature_digests: vec![vec![0xab; 32]],
                }),
                ..AuthorizationList::default()
            },
            hardware_enforced: AuthorizationList {
                root_of_trust: Some(rot),
                os_patch_level: Some(202405),
                ..AuthorizationList::default()
            },
        }
    }

    fn strict() -> AndroidPolicy {
        AndroidPolicy::from_toml(&format!(
            "packages = [\"com.example.app\"]\nsigning_cert_sha256 = [\"{}\"]\nmin_security_level = \"tee\"\nrequire_verified_boot = true\nmin_os_patch_level = 202401\n",
            "ab".repeat(32)
        ))
        .unwrap()
    }

    fn judged(kd: &KeyDescription) -> Vec<AndroidFailure> {
        let policy = strict();
        let request = AndroidRequest {
            challenge: b"nonce",
            policy: &policy,
            revocation: Revocation::NotChecked,
            now: NOW,
        };
        let mut report = AndroidReport::new();
        judge(&mut report, kd, &request);
        report.failures
    }

    #[test]
    fn the_genuine_description_passes_the_strict_policy() {
        assert_eq!(judged(&genuine()), vec![]);
    }

    type Tamper = fn(&mut KeyDescription);

    /// Claims that only the software-enforced list makes, or weaker hardware, are refused.
    #[test]
    fn attacks_on_the_key_description_are_refused_with_the_named_failure() {
        #[allow(clippy::type_complexity)]
        let table: &[(&str, Tamper, fn(&AndroidFailure) -> bool)] = &[
            (
                "software_backed_key_when_tee_required",
                |k| k.keymint_security_level = SecurityLevel::Software,
                |f| {
                    matches!(
                        f,
                        AndroidFailure::SecurityLevelTooLow {
                            which: "KeyMint",
                            ..
                        }
                    )
                },
            ),
            (
                "software_attestation_when_tee_required",
                |k| k.attestation_security_level = SecurityLevel::Software,
                |f| {
                    matches!(
                        f,
                        AndroidFailure::SecurityLevelTooLow {
                            which: "attestation",
                            ..
                        }
                    )
                },
            ),
            (
                "root_of_trust_claimed_only_in_software_list",
                |k| k.software_enforced.root_of_trust = k.hardware_enforced.root_of_trust.take(),
                |f| matches!(f, AndroidFailure::RootOfTrustMissing),
            ),
            (
                "self_signed_boot",
                |k| {
                    k.hardware_enforced
                        .root_of_trust
                        .as_mut()
                        .unwrap()
                        .verified_boot_state = VerifiedBootState::SelfSigned
                },
                |f| matches!(f, AndroidFailure::BootNotVerified { .. }),
            ),
            (
                "unlocked_bootloader",
                |k| {
                    k.hardware_enforced
                        .root_of_trust
                        .as_mut()
                        .unwrap()
                        .device_locked = false
                },
                |f| matches!(f, AndroidFailure::DeviceNotLocked),
            ),
            (
                "patch_level_claimed_only_in_software_list",
                |k| k.software_enforced.os_patch_level = k.hardware_enforced.os_patch_level.take(),
                |f| matches!(f, AndroidFailure::OsPatchLevelMissing { .. }),
            ),
            (
                "old_patch_level",
                |k| k.hardware_enforced.os_patch_level = Some(202312),
                |f| matches!(f, AndroidFailure::OsPatchLevelTooOld { .. }),
            ),
            (
                "no_application_id",
                |k| k.software_enforced.application_id = None,
                |f| matches!(f, AndroidFailure::ApplicationIdMissing),
            ),
            (
                "another_challenge",
                |k| k.challenge = b"replayed".to_vec(),
                |f| matches!(f, AndroidFailure::ChallengeMismatch { .. }),
            ),
        ];
        for (name, tamper, expected) in table {
            let mut kd = genuine();
            tamper(&mut kd);
            let failures = judged(&kd);
            assert!(failures.iter().any(expected), "{name}: {failures:?}");
        }
    }
}
