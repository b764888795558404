//! Pin policies in other systems' formats.
//!
//! keypin's policy is the one source of truth; this crate writes it out for Android
//! (Network Security Config, TrustKit-Android), iOS (TrustKit, as plist or Swift), OkHttp,
//! HPKP, curl and Chromium's static pin list. A target that cannot express part of a policy
//! gets the stricter equivalent with a notice, or the export is refused: never a silently
//! weaker policy.
//!
//! ```
//! use keypin::Policy;
//! use keypin_formats::{ExportFormat, export};
//!
//! let policy = Policy::from_toml_str(r#"
//!     [[rule]]
//!     hosts = ["api.example.com"]
//!     pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
//!             "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]
//! "#, "policy.toml")?;
//! let out = export(&policy, ExportFormat::Okhttp, 0)?;
//! assert!(out.text.contains(r#".add("api.example.com", "sha256/7HIp"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

mod budget;
pub mod export;
pub mod import;
pub mod lint;

pub use export::{
    Export, ExportError, ExportFormat, ExportOptions, Notice, PinPosition, export, export_with,
};
pub use import::{ImportError, ImportFormat, ImportOptions, Imported, PinsFile, import};
