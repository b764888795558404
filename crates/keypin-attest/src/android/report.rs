//! The report of an Android verification: the facts, in the order they were checked, and the
//! verdict (the first failure, or valid).

use super::key_description::KeyDescription;

/// Every way an Android attestation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AndroidFailure {
    /// The PEM chain could not be read, is empty, or is over the bounds.
    #[error("certificate chain unreadable: {reason}")]
    ChainUnreadable {
        /// What is wrong.
        reason: String,
    },
    /// The chain does not lead to one of Google's attestation roots.
    #[error("the chain does not lead to a Google attestation root")]
    ChainToUnknownRoot,
    /// A certificate had expired at the verification time.
    #[error("a certificate expired at {not_after} (verifying at {now})")]
    CertificateExpired {
        /// Its notAfter.
        not_after: String,
        /// The verification time.
        now: String,
    },
    /// A certificate was not yet valid at the verification time.
    #[error("a certificate is valid only from {not_before} (verifying at {now})")]
    CertificateNotYetValid {
        /// Its notBefore.
        not_before: String,
        /// The verification time.
        now: String,
    },
    /// The chain is invalid for another reason.
    #[error("certificate chain invalid: {reason}")]
    ChainInvalid {
        /// webpki's or the parser's reason.
        reason: String,
    },
    /// A certificate's serial is on the status list.
    #[error(
        "certificate {position} (serial {serial}) is {status} on the status list (reason: {reason})"
    )]
    Revoked {
        /// 0 is the leaf.
        position: usize,
        /// Hex serial.
        serial: String,
        /// REVOKED or SUSPENDED.
        status: String,
        /// Google's reason, or "none given".
        reason: String,
    },
    /// The leaf has no KeyDescription extension.
    #[error("the leaf has no KeyDescription extension (1.3.6.1.4.1.11129.2.1.17)")]
    ExtensionMissing,
    /// A certificate other than the leaf carries a KeyDescription (or the leaf carries two).
    #[error("certificate {position} carries a KeyDescription extension; only the leaf may, once")]
    ExtensionNotOnLeafOnly {
        /// 0 is the leaf (a second copy on it).
        position: usize,
    },
    /// The KeyDescription could not be parsed.
    #[error("{0}")]
    KeyDescriptionMalformed(super::KeyDescriptionError),
    /// The attestation challenge is not the one the server issued.
    #[error("attestation challenge is {found}, expected {expected} (hex)")]
    ChallengeMismatch {
        /// Hex of the expected challenge.
        expected: String,
        /// Hex of the challenge found.
        found: String,
    },
    /// The attestation or key security level is below the policy's.
    #[error("{which} security level is {found}, the policy requires at least {required}")]
    SecurityLevelTooLow {
        /// `attestation` or `KeyMint`.
        which: &'static str,
        /// The level found.
        found: super::SecurityLevel,
        /// The level required.
        required: super::RequiredLevel,
    },
    /// No attestationApplicationId in either list.
    #[error("no attestationApplicationId (tag 709) in the KeyDescription")]
    ApplicationIdMissing,
    /// None of the attested packages is allowed.
    #[error("attested packages {found:?} are not allowed by the policy")]
    PackageNotAllowed {
        /// The packages found.
        found: Vec<String>,
    },
    /// None of the signing-certificate digests is allowed: a re-signed (repackaged) APK.
    #[error(
        "signing certificate SHA-256 digests {found:?} are not allowed by the policy (a re-signed APK?)"
    )]
    SigningDigestMismatch {
        /// Hex of the digests found.
        found: Vec<String>,
    },
    /// No hardware-enforced rootOfTrust.
    #[error("no hardware-enforced rootOfTrust (tag 704)")]
    RootOfTrustMissing,
    /// Verified boot state is not Verified.
    #[error("verified boot state is {state:?}, the policy requires Verified")]
    BootNotVerified {
        /// The state found.
        state: super::VerifiedBootState,
    },
    /// The bootloader is unlocked.
    #[error("the device's bootloader is unlocked, the policy requires it locked")]
    DeviceNotLocked,
    /// No hardware-enforced OS patch level, and the policy sets a minimum.
    #[error("no hardware-enforced osPatchLevel (tag 706), the policy requires at least {required}")]
    OsPatchLevelMissing {
        /// The minimum.
        required: i64,
    },
    /// The OS patch level is below the policy's minimum.
    #[error("OS patch level {found} is below the policy's minimum {required}")]
    OsPatchLevelTooOld {
        /// Found (YYYYMM).
        found: i64,
        /// Required (YYYYMM).
        required: i64,
    },
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Checked and satisfied.
    Pass,
    /// Checked and not satisfied.
    Fail,
    /// Recorded only (the policy does not judge it, or a failure before it).
    Info,
}

/// One fact checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// What was checked (`chain`, `revocation[1]`, `challenge`, ...).
    pub check: String,
    /// How it came out.
    pub outcome: Outcome,
    /// What was seen.
    pub detail: String,
}

/// The result of [`super::verify_android`].
#[derive(Debug, Clone)]
pub struct AndroidReport {
    /// Every fact, in the order checked.
    pub facts: Vec<Fact>,
    /// The parsed KeyDescription, when it could be read.
    pub key_description: Option<KeyDescription>,
    /// Every failure, in the order found (the checks after a failure still run when their
    /// input could be read).
    pub failures: Vec<AndroidFailure>,
    /// Valid, or the first failure.
    pub verdict: Result<(), AndroidFailure>,
}

impl AndroidReport {
    pub(crate) fn new() -> Self {
        Self {
            facts: Vec::new(),
            key_description: None,
            failures: Vec::new(),
            verdict: Ok(()),
        }
    }

    /// Records a fact; a failure becomes the verdict unless an earlier one already did.
    pub(crate) fn check(
        &mut self,
        check: impl Into<String>,
        detail: impl Into<String>,
        result: Result<(), AndroidFailure>,
    ) {
        let outcome = if result.is_ok() {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        self.facts.push(Fact {
            check: check.into(),
            outcome,
            detail: detail.into(),
        });
        if let Err(e) = result {
            if self.verdict.is_ok() {
                self.verdict = Err(e.clone());
            }
            self.failures.push(e);
        }
    }

    pub(crate) fn info(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.facts.push(Fact {
            check: check.into(),
            outcome: Outcome::Info,
            detail: detail.into(),
        });
    }

    /// Whether the attestation is accepted.
    pub fn is_valid(&self) -> bool {
        self.verdict.is_ok()
    }
}
