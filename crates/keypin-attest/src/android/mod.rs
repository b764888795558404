//! Android Key Attestation: [`verify_android`] judges a certificate chain (PEM, leaf first)
//! against Google's attestation roots, a revocation status list and an [`AndroidPolicy`], and
//! returns an [`AndroidReport`]: every fact checked, and the verdict.

pub mod key_description;
mod policy;
mod report;
mod revocation;
mod verify;

pub use key_description::{KeyDescription, KeyDescriptionError, SecurityLevel, VerifiedBootState};
pub use policy::{
    Allowed, AndroidPolicy, BootRequirement, PolicyError, RequiredLevel, parse_digest,
};
pub use report::{AndroidFailure, AndroidReport, Fact, Outcome};
pub use revocation::{
    MAX_STATUS_LIST_BYTES, Revocation, RevocationList, RevocationListError, Status,
};
pub(crate) use verify::verify_android_to;
pub use verify::{AndroidRequest, MAX_CHAIN_BYTES, MAX_CHAIN_CERTS, verify_android};

/// Google's RSA-4096 attestation root (2022–2042; the same key as the 2016 and 2019 roots).
pub const GOOGLE_RSA_ROOT_PEM: &str = include_str!("../../roots/google_rsa_root.pem");
/// Google's EC P-384 "Key Attestation CA1" root (2025–2035), used from 2026.
pub const GOOGLE_EC_ROOT_PEM: &str = include_str!("../../roots/google_ec_p384_root_2025.pem");
