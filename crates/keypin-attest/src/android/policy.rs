//! What an app requires of an Android attestation, from TOML:
//!
//! ```toml
//! packages = ["com.example.app"]            # or "any"
//! signing_cert_sha256 = ["3f1a…"]            # 64 hex digits each, or "any"
//! min_security_level = "tee"                 # or "strongbox"
//! require_verified_boot = true               # verified boot state and a locked bootloader
//! min_os_patch_level = 202401                # YYYYMM, optional
//! ```
//!
//! The challenge is not part of the policy: it is new for every request.

use serde::Deserialize;

/// What an app requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndroidPolicy {
    /// Package names one of which the attestationApplicationId must list.
    pub packages: Allowed<String>,
    /// SHA-256 digests one of which must be among the signing-certificate digests.
    pub signing_cert_sha256: Allowed<[u8; 32]>,
    /// The lowest security level accepted, for both the attestation and the key.
    pub min_security_level: RequiredLevel,
    /// Whether the device must have booted verified with a locked bootloader.
    pub boot: BootRequirement,
    /// The lowest OS patch level accepted (`YYYYMM`), if any.
    pub min_os_patch_level: Option<i64>,
}

/// A list of allowed values, or an explicit "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed<T> {
    /// No requirement (written `"any"` in TOML).
    Any,
    /// One of these (never empty).
    OneOf(Vec<T>),
}

/// The lowest security level accepted. Software-backed keys are never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequiredLevel {
    /// A trusted execution environment or StrongBox.
    Tee,
    /// StrongBox only.
    Strongbox,
}

impl std::fmt::Display for RequiredLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tee => "tee",
            Self::Strongbox => "strongbox",
        })
    }
}

/// Whether verified boot is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootRequirement {
    /// verifiedBootState Verified and deviceLocked true, from the hardware-enforced list.
    VerifiedAndLocked,
    /// Reported, not judged.
    NotRequired,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Android attestation policy: {0}")]
pub struct PolicyError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    packages: RawAllowed,
    signing_cert_sha256: RawAllowed,
    min_security_level: RequiredLevel,
    #[serde(default)]
    require_verified_boot: bool,
    #[serde(default)]
    min_os_patch_level: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAllowed {
    Word(String),
    List(Vec<String>),
}

impl AndroidPolicy {
    /// A policy with only the security level set: any package, any signer, boot not judged.
    pub fn new(min_security_level: RequiredLevel) -> Self {
        Self {
            packages: Allowed::Any,
            signing_cert_sha256: Allowed::Any,
            min_security_level,
            boot: BootRequirement::NotRequired,
            min_os_patch_level: None,
        }
    }

    /// Parses and validates the TOML form (see the module docs).
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let raw: Raw = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        let packages = allowed(raw.packages, "packages", |p| {
            (!p.is_empty() && !p.contains(char::is_whitespace)).then(|| p.to_string())
        })?;
        let signing_cert_sha256 =
            allowed(raw.signing_cert_sha256, "signing_cert_sha256", parse_digest)?;
        if let Some(level) = raw.min_os_patch_level
            && (!(190001..=999912).contains(&level) || !(1..=12).contains(&(level % 100)))
        {
            return Err(PolicyError(format!(
                "min_os_patch_level {level} is not YYYYMM"
            )));
        }
        Ok(Self {
            packages,
            signing_cert_sha256,
            min_security_level: raw.min_security_level,
            boot: if raw.require_verified_boot {
                BootRequirement::VerifiedAndLocked
            } else {
                BootRequirement::NotRequired
            },
            min_os_patch_level: raw.min_os_patch_level,
        })
    }
}

fn allowed<T>(
    raw: RawAllowed,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Allowed<T>, PolicyError> {
    match raw {
        RawAllowed::Word(w) if w == "any" => Ok(Allowed::Any),
        RawAllowed::Word(w) => Err(PolicyError(format!(
            "{field}: {w:?} is neither \"any\" nor a list"
        ))),
        RawAllowed::List(l) if l.is_empty() => Err(PolicyError(format!(
            "{field}: an empty list allows nothing; write \"any\" to allow any"
        ))),
        RawAllowed::List(l) => l
            .iter()
            .map(|v| parse(v).ok_or_else(|| PolicyError(format!("{field}: {v:?} is not valid"))))
            .collect::<Result<_, _>>()
            .map(Allowed::OneOf),
    }
}

/// 64 hex digits (colons allowed, as keytool prints them) → 32 bytes.
pub fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}
