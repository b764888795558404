//! The pin policy: rules for hosts, parsed and validated once into an immutable, indexed value.
//!
//! ```toml
//! [[rule]]
//! hosts = ["api.example.com", "**.cdn.example.com"]
//! pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
//!         "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]
//! include_subdomains = false   # optional
//! expires = "2027-06-30"       # optional: pins in force through this date (UTC)
//! mode = "enforce"             # or "report-only"
//! on_expiry = "report-only"    # or "enforce"; what an expired rule does
//! trust_anchors = ["private-ca.pem"]  # optional extra roots for this rule: inline PEM, or (only
//!                              # in a file read with `Policy::from_file`) PEM files, see `AnchorSource`
//! name = "api"                 # optional label for reports
//! report_uris = ["https://reports.example.com/v1/reports"]  # optional: where failures for
//!                              # these hosts are reported (feature `reports`), like HPKP's
//!                              # report-uri and TrustKit's kTSKReportUris
//! report_delivery = "pinned"   # or "unpinned": reports *sent to* these hosts skip this
//!                              # rule's pins (ordinary validation only); default pinned
//! require_sct = 2              # optional, feature `ct`: SCTs from 2 distinct logs (embedded, or in a validated OCSP staple),
//!                              # or "chrome" for a policy like Chrome's (see `SctRequirement`)
//! ocsp = "check-if-stapled"    # optional, feature `ocsp`: "ignore" (default), "check-if-stapled", "require"
//! bad_pins = ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]  # optional: keys that must
//!                              # never be on the verified path (Chromium's bad_static_spki_hashes)
//! single_pin_may_brick = false # opt-out: true lets an enforcing rule have one pin
//! public_suffix_covers_others = false  # opt-out: true lets patterns on a public suffix load
//! pin_position = "any"         # or "leaf" / "ca": where on the verified path the pins count
//! leaf_pins = []               # with pin_position = "ca": the leaf must carry one of these too
//! ```
//!
//! An enforcing rule needs two pins (the current key and a backup) unless it says
//! `single_pin_may_brick = true`: it then enforces its one pin (never report-only), and losing
//! or replacing that key breaks clients until new pins ship. A wildcard or subdomain pattern on
//! a public suffix (`**.co.uk`, `*.github.io`) is refused unless the rule says
//! `public_suffix_covers_others = true`: it then pins every site under the suffix, other
//! parties' too. `keypin lint` warns about both. A verified path carrying a key of `bad_pins`
//! never counts as pinned, whatever good pin it carries. `pin_position` keeps iOS's two lists
//! apart: `"leaf"` pins count only on the leaf, `"ca"` pins only on an intermediate or the trust
//! anchor; `leaf_pins` beside CA pins require a match in each, as iOS does with both lists (see
//! [`PinFailure::bad_pins_on_path`](crate::verify::PinFailure::bad_pins_on_path)).
//!
//! Every problem in a file is reported at once, each with its line and a hint.

mod client;
mod diagnostic;
mod fields;
pub(crate) mod index;
mod model;
mod parse;
pub(crate) mod toml_text;

pub use client::{ClientIdentityRule, ClientOnExpiry, ClientPolicy};
pub use diagnostic::{Diagnostic, PolicyError};
pub use model::{
    AnchorSource, Enforcement, ExtraAnchor, Mode, OcspMode, OnExpiry, PinPosition, ReportDelivery,
    ReportOnlyReason, Rule, RuleSpec, SctRequirement,
};

#[cfg(test)]
mod tests;
