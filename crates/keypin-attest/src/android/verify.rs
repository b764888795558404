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

/// Verifies an Android Key Attestation chain (PEM, leaf first).
pub fn verify_android(chain_pem: &[u8], request: &AndroidRequest<'_>) -> AndroidReport {
    let mut report = AndroidReport::new();
    let certs = match read_chain(chain_pem) {
        Ok(c) => c,
        Err(reason) => {
            report.check(
                "chain",
                "unreadable",
                Err(AndroidFailure::ChainUnreadable { reason }),
            );
            return report;
        }
    };
    let parsed = match certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            X509Certificate::from_der(c.as_ref())
                .map(|(_, x)| x)
                .map_err(|e| format!("certificate {i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(reason) => {
            report.check(
                "chain",
                "unparsable",
                Err(AndroidFailure::ChainUnreadable { reason }),
            );
            return report;
        }
    };

    // 1. The chain to one of Google's roots, at the injected time.
    let now = request.now;
    let result = chain::verify(&certs[0], &certs[1..], google_roots(), now).map_err(|e| match e {
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
    report.check(
        "chain",
        format!(
            "{} certificates, topmost issuer {top}, at {}",
            certs.len(),
            rfc3339(now)
        ),
        result,
    );

    // 2. Every certificate's serial against the status list.
    for (position, cert) in parsed.iter().enumerate() {
        let serial = hex(cert.raw_serial());
        match request.revocation {
            Revocation::NotChecked => report.info(
                format!("revocation[{position}]"),
                format!("serial {serial}: not checked (no status list given)"),
            ),
            Revocation::Checked(list) => match list.status_of(cert.raw_serial()) {
                None => report.check(
                    format!("revocation[{position}]"),
                    format!("serial {serial}: not listed"),
                    Ok(()),
                ),
                Some(s) => report.check(
                    format!("revocation[{position}]"),
                    format!("serial {serial}: {}", s.status),
                    Err(AndroidFailure::Revoked {
                        position,
                        serial,
                        status: s.status.clone(),
                        reason: s.reason.clone().unwrap_or_else(|| "none given".into()),
                    }),
                ),
            },
        }
    }

    // 3. The KeyDescription: on the leaf, once, and nowhere else.
    let mut on_leaf = None;
    for (position, cert) in parsed.iter().enumerate() {
        for ext in cert
            .extensions()
            .iter()
            .filter(|e| e.oid.to_id_string() == KEY_DESCRIPTION_OID)
        {
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
        return report;
    };
    let kd = match KeyDescription::parse(ext) {
        Ok(kd) => kd,
        Err(e) => {
            report.check(
                "key description",
                e.reason.clone(),
                Err(AndroidFailure::KeyDescriptionMalformed(e)),
            );
            return report;
        }
    };
    report.info(
        "key description",
        format!(
            "attestation version {}, KeyMint version {}",
            kd.attestation_version, kd.keymint_version
        ),
    );
    judge(&mut report, &kd, request);
    report.key_description = Some(kd);
    report
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
            report.check("package", listed, result);
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
            report.check("signing certificate sha256", digests.join(", "), result);
        }
    }

    // 7. Root of trust, hardware-enforced only: a software-enforced claim proves nothing.
    root_of_trust(report, &kd.hardware_enforced, policy.boot);

    // 8. OS patch level, hardware-enforced only.
    let found = kd.hardware_enforced.os_patch_level;
    match (policy.min_os_patch_level, found) {
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
