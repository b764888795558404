//! Apple App Attest: attestation objects ([`verify_attestation`]) and assertions
//! ([`verify_assertion`]), verified in the order of Apple's "Validating apps that connect to
//! your server" (attestation steps 1–9, assertion steps 1–6), one named [`AppleFailure`] per
//! way to fail.
//!
//! A client data hash is taken exactly as the caller gives it, of any length, and never hashed
//! again: the app hashed its client data (or not) when it asked for the attestation, and the
//! server must present the same bytes.

mod assertion;
mod attestation;
mod auth_data;

pub use assertion::{AssertionRequest, VerifiedAssertion, verify_assertion};
pub(crate) use attestation::verify_attestation_to;
pub use attestation::{AttestationRequest, AttestedKey, verify_attestation};

pub use crate::cbor::{
    AttestationObject, CborError, MAX_ASSERTION_BYTES, MAX_ATTESTATION_BYTES, MAX_DEPTH, MAX_X5C,
};

/// The Apple App Attestation Root CA (P-384, 2020-03-18 to 2045-03-15, SHA-256 fingerprint
/// `1cb9823b…c932`), the one trust anchor of App Attest.
pub const APPLE_APP_ATTESTATION_ROOT_CA_PEM: &str =
    include_str!("../../roots/apple_app_attestation_root_ca.pem");

/// An App ID, `TEAMID.bundle.id`: the relying party an attestation is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppId {
    text: String,
}

impl AppId {
    /// Parses `TEAMID.bundle.id`: a ten-character team id of upper-case letters and digits, a
    /// dot, and a non-empty bundle id of letters, digits, `.` and `-`.
    pub fn parse(text: &str) -> Result<Self, AppIdError> {
        let (team, bundle) = text.split_once('.').ok_or(AppIdError::NoDot)?;
        if team.len() != 10
            || !team
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(AppIdError::BadTeamId {
                team: team.to_string(),
            });
        }
        if bundle.is_empty()
            || !bundle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(AppIdError::BadBundleId {
                bundle: bundle.to_string(),
            });
        }
        Ok(Self {
            text: text.to_string(),
        })
    }

    /// The text hashed into the RP ID hash.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for AppId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a text is not an App ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppIdError {
    /// No dot between team id and bundle id.
    #[error("an App ID is TEAMID.bundle.id; this has no dot")]
    NoDot,
    /// The team id is not ten upper-case letters or digits.
    #[error("team id {team:?} is not ten upper-case letters or digits")]
    BadTeamId {
        /// What was given.
        team: String,
    },
    /// The bundle id is empty or holds other characters than letters, digits, `.` and `-`.
    #[error(
        "bundle id {bundle:?} is empty or holds characters other than letters, digits, '.' and '-'"
    )]
    BadBundleId {
        /// What was given.
        bundle: String,
    },
}

/// The App Attest environment an attestation must come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Development builds: AAGUID `appattestdevelop`.
    Development,
    /// App Store, TestFlight and enterprise builds: AAGUID `appattest` and seven zero bytes.
    Production,
}

impl Environment {
    /// The AAGUID an attestation from this environment carries.
    pub const fn aaguid(self) -> [u8; 16] {
        match self {
            Self::Development => *b"appattestdevelop",
            Self::Production => *b"appattest\0\0\0\0\0\0\0",
        }
    }

    fn from_aaguid(aaguid: &[u8]) -> Option<Self> {
        [Self::Development, Self::Production]
            .into_iter()
            .find(|e| e.aaguid() == aaguid)
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Development => "development",
            Self::Production => "production",
        })
    }
}

/// An attested App Attest key: a P-256 public key as an uncompressed point.
#[derive(Clone, PartialEq, Eq)]
pub struct P256PublicKey([u8; 65]);

impl std::fmt::Debug for P256PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P256PublicKey({})", crate::hex(&self.0))
    }
}

impl P256PublicKey {
    /// From an uncompressed point (`04 ‖ X ‖ Y`, 65 bytes).
    pub fn from_uncompressed(point: &[u8]) -> Option<Self> {
        let arr: [u8; 65] = point.try_into().ok()?;
        (arr[0] == 0x04).then_some(Self(arr))
    }

    /// From a DER SubjectPublicKeyInfo (what `-----BEGIN PUBLIC KEY-----` holds).
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, String> {
        use x509_parser::prelude::FromDer as _;
        let (rest, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
            .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
        if !rest.is_empty() {
            return Err("bytes after the SubjectPublicKeyInfo".into());
        }
        p256_from_spki(&info)
    }

    /// The uncompressed point.
    pub fn as_uncompressed(&self) -> &[u8; 65] {
        &self.0
    }

    /// The key id App Attest gives this key: SHA-256 of the uncompressed point.
    pub fn key_id(&self) -> [u8; 32] {
        crate::sha256(&[&self.0])
    }
}

pub(crate) fn p256_from_spki(
    info: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<P256PublicKey, String> {
    use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
    if info.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(format!(
            "key algorithm {} is not id-ecPublicKey",
            info.algorithm.algorithm
        ));
    }
    let curve = info
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if curve.as_ref() != Some(&OID_EC_P256) {
        return Err("curve is not P-256".into());
    }
    P256PublicKey::from_uncompressed(&info.subject_public_key.data)
        .ok_or_else(|| "public key is not a 65-byte uncompressed point".into())
}

/// Every way an App Attest attestation or assertion is refused. The step in Apple's list that
/// refuses it is given in each variant's documentation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppleFailure {
    /// Before step 1: the attestation object is not the expected bounded CBOR.
    #[error("attestation object unreadable: {0}")]
    AttestationUnreadable(CborError),
    /// Before step 1: `fmt` is not `apple-appattest`.
    #[error("attestation format is {fmt:?}, not \"apple-appattest\"")]
    WrongFormat {
        /// The `fmt` found.
        fmt: String,
    },
    /// Authenticator data too short or inconsistent.
    #[error("{what} authenticator data malformed: {reason}")]
    AuthDataMalformed {
        /// `attestation` or `assertion`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Step 1: the x5c chain does not lead to the Apple App Attestation Root CA.
    #[error("step 1: the certificate chain does not lead to the Apple App Attestation Root CA")]
    ChainToUnknownRoot,
    /// Step 1: a certificate had expired at the verification time.
    #[error("step 1: a certificate expired at {not_after} (verifying at {now})")]
    CertificateExpired {
        /// The certificate's notAfter.
        not_after: String,
        /// The verification time.
        now: String,
    },
    /// Step 1: a certificate was not yet valid at the verification time.
    #[error("step 1: a certificate is valid only from {not_before} (verifying at {now})")]
    CertificateNotYetValid {
        /// The certificate's notBefore.
        not_before: String,
        /// The verification time.
        now: String,
    },
    /// Step 1: the chain is invalid for another reason (signature, constraints, encoding).
    #[error("step 1: certificate chain invalid: {reason}")]
    ChainInvalid {
        /// webpki's or the parser's reason.
        reason: String,
    },
    /// Step 4: the credential certificate has no nonce extension (1.2.840.113635.100.8.2).
    #[error("step 4: the credential certificate has no nonce extension 1.2.840.113635.100.8.2")]
    NonceExtensionMissing,
    /// Step 4: the nonce extension is not `SEQUENCE { [1] EXPLICIT OCTET STRING }`.
    #[error("step 4: nonce extension malformed: {reason}")]
    NonceExtensionMalformed {
        /// What is wrong.
        reason: String,
    },
    /// Step 4: SHA-256(authData ‖ clientDataHash) differs from the certificate's nonce: the
    /// authenticator data or the client data hash is not what the device attested.
    #[error(
        "step 4: nonce mismatch: SHA-256(authData || clientDataHash) = {computed}, the certificate says {certified}"
    )]
    NonceMismatch {
        /// Hex of the computed nonce.
        computed: String,
        /// Hex of the certificate's nonce.
        certified: String,
    },
    /// Step 5: the credential public key is not a P-256 uncompressed point.
    #[error("step 5: credential public key unusable: {reason}")]
    CredentialKeyUnusable {
        /// What is wrong.
        reason: String,
    },
    /// Step 5: SHA-256 of the credential public key is not the key id the app sent.
    #[error(
        "step 5: key id mismatch: the app sent {expected}, the credential key hashes to {computed}"
    )]
    KeyIdMismatch {
        /// Hex of the key id given.
        expected: String,
        /// Hex of SHA-256 of the credential key.
        computed: String,
    },
    /// Step 6 (attestation) / 4 (assertion): the RP ID hash is not SHA-256 of the App ID: made
    /// for another team or bundle (a repackaged app).
    #[error("RP ID hash is not SHA-256({app_id:?}): made for another team or bundle")]
    RpIdMismatch {
        /// The App ID expected.
        app_id: String,
    },
    /// Step 7: the attestation's counter is not 0.
    #[error("step 7: attestation counter is {counter}, not 0")]
    CounterNotZero {
        /// The counter found.
        counter: u32,
    },
    /// Step 8: the AAGUID is not the expected environment's.
    #[error("step 8: AAGUID is {found}, expected the {expected} environment")]
    EnvironmentMismatch {
        /// The environment expected.
        expected: Environment,
        /// The environment the AAGUID names, or its hex when it names none.
        found: String,
    },
    /// Step 9: the credential id in the authenticator data is not the key id.
    #[error("step 9: credential id {found} is not the key id")]
    CredentialIdMismatch {
        /// Hex of the credential id.
        found: String,
    },
    /// Assertion: not the expected bounded CBOR.
    #[error("assertion unreadable: {0}")]
    AssertionUnreadable(CborError),
    /// Assertion step 3: the signature does not verify with the stored key over the nonce.
    #[error(
        "assertion step 3: signature does not verify with the stored public key over SHA-256(authenticatorData || clientDataHash)"
    )]
    SignatureInvalid,
    /// Assertion step 5: the counter is not above the stored one (a replayed or rolled-back
    /// assertion).
    #[error("assertion step 5: counter {found} is not above the stored {previous}")]
    CounterNotIncreasing {
        /// The stored counter.
        previous: u32,
        /// The assertion's counter.
        found: u32,
    },
}
