//! Android Key Attestation.
pub mod key_description;
