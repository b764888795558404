//! The KeyDescription extension (OID 1.3.6.1.4.1.11129.2.1.17) of an Android attestation
//! leaf, as Android's Key Attestation schema defines it (attestation versions 1 to 400):
//!
//! ```text
//! KeyDescription ::= SEQUENCE {
//!     attestationVersion INTEGER, attestationSecurityLevel SecurityLevel,
//!     keyMintVersion INTEGER, keyMintSecurityLevel SecurityLevel,
//!     attestationChallenge OCTET STRING, uniqueId OCTET STRING,
//!     softwareEnforced AuthorizationList, hardwareEnforced AuthorizationList }
//! ```
//!
//! Only the tags this crate judges are kept (rootOfTrust [704], osVersion [705], osPatchLevel
//! [706], attestationApplicationId [709]); every other tag is still read as one DER element,
//! and a tag that appears twice in one list is refused.

use crate::der::{self, Element};

/// Most bytes of a KeyDescription accepted (real ones are under 1 KiB).
pub const MAX_KEY_DESCRIPTION_BYTES: usize = 16 * 1024;

const TAG_ROOT_OF_TRUST: u32 = 704;
const TAG_OS_VERSION: u32 = 705;
const TAG_OS_PATCH_LEVEL: u32 = 706;
const TAG_APPLICATION_ID: u32 = 709;

/// Where a key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecurityLevel {
    /// Android's software keystore: no hardware guarantee.
    Software,
    /// A trusted execution environment.
    TrustedEnvironment,
    /// A separate secure element.
    StrongBox,
}

impl SecurityLevel {
    fn from_der(v: i64) -> Option<Self> {
        match v {
            0 => Some(Self::Software),
            1 => Some(Self::TrustedEnvironment),
            2 => Some(Self::StrongBox),
            _ => None,
        }
    }
}

impl std::fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Software => "software",
            Self::TrustedEnvironment => "tee",
            Self::StrongBox => "strongbox",
        })
    }
}

/// The verified boot state the bootloader reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedBootState {
    /// Booted a system signed by the device's own key (locked bootloader).
    Verified,
    /// Booted a system signed by a user-installed key.
    SelfSigned,
    /// Unlocked bootloader: anything may have been booted.
    Unverified,
    /// Verification failed.
    Failed,
}

/// The RootOfTrust sequence (tag 704).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootOfTrust {
    /// SHA-256 (or the key itself on old devices) of the key that verified the boot image.
    pub verified_boot_key: Vec<u8>,
    /// Whether the bootloader is locked.
    pub device_locked: bool,
    /// The verified boot state.
    pub verified_boot_state: VerifiedBootState,
}

/// One package of the attestationApplicationId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    /// The package name.
    pub name: String,
    /// Its version code.
    pub version: i64,
}

/// The attestationApplicationId (tag 709): the packages sharing the calling uid and the
/// SHA-256 digests of their signing certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationId {
    /// Package names and versions.
    pub packages: Vec<PackageInfo>,
    /// SHA-256 of each signing certificate.
    pub signature_digests: Vec<Vec<u8>>,
}

/// The tags of one AuthorizationList that this crate judges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationList {
    /// Tag 704.
    pub root_of_trust: Option<RootOfTrust>,
    /// Tag 705.
    pub os_version: Option<i64>,
    /// Tag 706, `YYYYMM`.
    pub os_patch_level: Option<i64>,
    /// Tag 709.
    pub application_id: Option<ApplicationId>,
}

/// A parsed KeyDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDescription {
    /// attestationVersion.
    pub attestation_version: i64,
    /// attestationSecurityLevel.
    pub attestation_security_level: SecurityLevel,
    /// keyMintVersion (keymasterVersion before attestation version 100).
    pub keymint_version: i64,
    /// keyMintSecurityLevel (keymasterSecurityLevel).
    pub keymint_security_level: SecurityLevel,
    /// attestationChallenge.
    pub challenge: Vec<u8>,
    /// softwareEnforced.
    pub software_enforced: AuthorizationList,
    /// hardwareEnforced (teeEnforced).
    pub hardware_enforced: AuthorizationList,
}

/// Why a KeyDescription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("KeyDescription malformed: {reason}")]
pub struct KeyDescriptionError {
    /// Which field and what is wrong.
    pub reason: String,
}

impl KeyDescription {
    /// Parses the extension's value (the DER inside the extension's OCTET STRING).
    pub fn parse(der: &[u8]) -> Result<Self, KeyDescriptionError> {
        parse(der).map_err(|reason| KeyDescriptionError { reason })
    }
}

fn parse(input: &[u8]) -> Result<KeyDescription, String> {
    if input.len() > MAX_KEY_DESCRIPTION_BYTES {
        return Err(format!(
            "{} bytes, over the {MAX_KEY_DESCRIPTION_BYTES}-byte bound",
            input.len()
        ));
    }
    let fields = der::one(input)?.sequence("KeyDescription")?;
    let [
        version,
        att_level,
        km_version,
        km_level,
        challenge,
        _unique_id,
        sw,
        hw,
        ..,
    ] = fields.as_slice()
    else {
        return Err(format!(
            "KeyDescription has {} fields, expected at least 8",
            fields.len()
        ));
    };
    let level = |e: &Element<'_>, field: &str| {
        let v = e.enumerated(field)?;
        SecurityLevel::from_der(v).ok_or_else(|| format!("{field}: unknown security level {v}"))
    };
    Ok(KeyDescription {
        attestation_version: version.integer("attestationVersion")?,
        attestation_security_level: level(att_level, "attestationSecurityLevel")?,
        keymint_version: km_version.integer("keyMintVersion")?,
        keymint_security_level: level(km_level, "keyMintSecurityLevel")?,
        challenge: challenge.octets("attestationChallenge")?.to_vec(),
        software_enforced: authorization_list(*sw, "softwareEnforced")?,
        hardware_enforced: authorization_list(*hw, "hardwareEnforced")?,
    })
}

fn authorization_list(el: Element<'_>, list: &str) -> Result<AuthorizationList, String> {
    let mut out = AuthorizationList::default();
    let mut seen: Vec<u32> = Vec::new();
    for item in el.sequence(list)? {
        if seen.contains(&item.tag) {
            return Err(format!("{list}: tag [{}] appears twice", item.tag));
        }
        seen.push(item.tag);
        let field = |name: &str| format!("{list}.{name}");
        match item.tag {
            TAG_ROOT_OF_TRUST => {
                let f = field("rootOfTrust");
                out.root_of_trust = Some(root_of_trust(item.explicit(TAG_ROOT_OF_TRUST, &f)?, &f)?);
            }
            TAG_OS_VERSION => {
                out.os_version = Some(
                    item.explicit(TAG_OS_VERSION, &field("osVersion"))?
                        .integer(&field("osVersion"))?,
                );
            }
            TAG_OS_PATCH_LEVEL => {
                let f = field("osPatchLevel");
                out.os_patch_level = Some(item.explicit(TAG_OS_PATCH_LEVEL, &f)?.integer(&f)?);
            }
            TAG_APPLICATION_ID => {
                let f = field("attestationApplicationId");
                let inner = item.explicit(TAG_APPLICATION_ID, &f)?.octets(&f)?;
                out.application_id = Some(application_id(inner, &f)?);
            }
            // Read as one element (checked above by `sequence`), not judged.
            tag => {
                item.explicit(tag, &format!("{list}.[{tag}]"))?;
            }
        }
    }
    Ok(out)
}

fn root_of_trust(el: Element<'_>, f: &str) -> Result<RootOfTrust, String> {
    let items = el.sequence(f)?;
    let [key, locked, state, ..] = items.as_slice() else {
        return Err(format!("{f}: {} fields, expected at least 3", items.len()));
    };
    let state = match state.enumerated(&format!("{f}.verifiedBootState"))? {
        0 => VerifiedBootState::Verified,
        1 => VerifiedBootState::SelfSigned,
        2 => VerifiedBootState::Unverified,
        3 => VerifiedBootState::Failed,
        v => return Err(format!("{f}.verifiedBootState: unknown value {v}")),
    };
    Ok(RootOfTrust {
        verified_boot_key: key.octets(&format!("{f}.verifiedBootKey"))?.to_vec(),
        device_locked: locked.boolean(&format!("{f}.deviceLocked"))?,
        verified_boot_state: state,
    })
}

fn application_id(inner: &[u8], f: &str) -> Result<ApplicationId, String> {
    let items = der::one(inner)?.sequence(f)?;
    let [infos, digests] = items.as_slice() else {
        return Err(format!("{f}: {} fields, expected 2", items.len()));
    };
    let packages = infos
        .set(&format!("{f}.packageInfos"))?
        .into_iter()
        .map(|info| {
            let pf = format!("{f}.packageInfo");
            let parts = info.sequence(&pf)?;
            let [name, version] = parts.as_slice() else {
                return Err(format!("{pf}: {} fields, expected 2", parts.len()));
            };
            let name = String::from_utf8(name.octets(&pf)?.to_vec())
                .map_err(|_| format!("{pf}: package name is not UTF-8"))?;
            Ok(PackageInfo {
                name,
                version: version.integer(&pf)?,
            })
        })
        .collect::<Result<_, String>>()?;
    let signature_digests = digests
        .set(&format!("{f}.signatureDigests"))?
        .into_iter()
        .map(|d| {
            d.octets(&format!("{f}.signatureDigest"))
                .map(<[u8]>::to_vec)
        })
        .collect::<Result<_, String>>()?;
    Ok(ApplicationId {
        packages,
        signature_digests,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A DER element (short or long form length; tag numbers above 30 in high-tag form).
    fn tlv(class_constructed: u8, tag: u32, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if tag < 31 {
            out.push(class_constructed | tag as u8);
        } else {
            out.push(class_constructed | 0x1f);
            let mut groups = vec![(tag & 0x7f) as u8];
            let mut t = tag >> 7;
            while t > 0 {
                groups.push(0x80 | (t & 0x7f) as u8);
                t >>= 7;
            }
            out.extend(groups.iter().rev());
        }
        let len = content.len();
        if len < 128 {
            out.push(len as u8);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x20, 16, &parts.concat())
    }

    fn patch_level(v: u8) -> Vec<u8> {
        // [706] EXPLICIT INTEGER
        tlv(0xa0, TAG_OS_PATCH_LEVEL, &tlv(0, 2, &[0x03, 0x16, v]))
    }

    fn description(hw: Vec<u8>) -> Vec<u8> {
        seq(&[
            tlv(0, 2, &[100]),
            tlv(0, 10, &[1]),
            tlv(0, 2, &[100]),
            tlv(0, 10, &[1]),
            tlv(0, 4, b"challenge"),
            tlv(0, 4, b""),
            seq(&[]),
            hw,
        ])
    }

    #[test]
    fn a_hand_built_description_parses() {
        let kd = KeyDescription::parse(&description(seq(&[patch_level(0x01)]))).unwrap();
        assert_eq!(kd.challenge, b"challenge");
        assert_eq!(kd.hardware_enforced.os_patch_level, Some(0x031601));
    }

    /// A list naming a tag twice could make a reader that keeps the first and one that keeps
    /// the last disagree about the same certificate: refused.
    #[test]
    fn a_tag_given_twice_in_one_list_is_refused() {
        let twice = description(seq(&[patch_level(0x01), patch_level(0x02)]));
        let err = KeyDescription::parse(&twice).unwrap_err();
        assert!(err.reason.contains("appears twice"), "{err}");
    }

    #[test]
    fn an_unknown_security_level_is_refused() {
        let mut d = description(seq(&[]));
        // attestationSecurityLevel is the second field: ENUMERATED 1 → 9.
        let at = d.windows(3).position(|w| w == [0x0a, 0x01, 0x01]).unwrap();
        d[at + 2] = 9;
        assert!(
            KeyDescription::parse(&d)
                .unwrap_err()
                .reason
                .contains("unknown security level")
        );
    }
}
