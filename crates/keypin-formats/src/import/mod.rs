//! Other systems' pin configurations → a keypin policy (TOML).
//!
//! Input is untrusted: it is size-capped before parsing, XML DTDs are refused (so no entity
//! expansion), every format is read under one node budget counted while reading (references
//! included: [`MAX_IMPORT_NODES`], [`MAX_IMPORT_STRING_BYTES`]), and every problem names where
//! it is (line for XML, key path for plists). What keypin cannot represent exactly is imported stricter with a
//! [`Notice`], or refused — never weaker.

mod android_base64;
mod chromium;
mod hpkp;
mod nsc;
mod plist_formats;

use core::fmt;
use std::fmt::Write as _;

use keypin::{Policy, host::HostPattern, pin::Pin, pin::PinFormat};

use crate::budget::{CountedEvents, PlistStop};
pub use crate::budget::{MAX_IMPORT_NODES, MAX_IMPORT_STRING_BYTES};
use crate::export::Notice;

/// Largest input accepted, before any parsing.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// The formats keypin reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// Android Network Security Config XML (with or without TrustKit-Android's `trustkit-config`).
    AndroidNsc,
    /// An iOS Info.plist (XML or binary) with `NSAppTransportSecurity` / `NSPinnedDomains`.
    IosAts,
    /// A TrustKit configuration dictionary (plist, XML or binary).
    Trustkit,
    /// Chromium static pins JSON: `transport_security_state_static.json` (with its `//`
    /// comments) and its `.pins` file ([`ImportOptions::chromium_pins`]), or the single file
    /// `keypin export --format chromium` writes (hash values inline in `spki_hashes`).
    Chromium,
    /// An HPKP header line (needs the host name it was served for).
    Hpkp,
}

impl ImportFormat {
    /// Every format, with its command-line name.
    pub const ALL: [(&'static str, ImportFormat); 5] = [
        ("android-nsc", Self::AndroidNsc),
        ("ios-ats", Self::IosAts),
        ("trustkit", Self::Trustkit),
        ("chromium", Self::Chromium),
        ("hpkp", Self::Hpkp),
    ];

    /// Looks a format up by name (`trustkit-android` reads as `android-nsc`).
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "trustkit-android" {
            return Some(Self::AndroidNsc);
        }
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Guesses the format from the content.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"bplist") {
            return plist_kind(bytes);
        }
        let text = std::str::from_utf8(bytes)
            .ok()?
            .trim_start_matches('\u{feff}')
            .trim_start();
        if text.starts_with('{') || text.starts_with("//") || text.starts_with("/*") {
            return (text.contains("\"pinsets\"") || text.contains("\"entries\""))
                .then_some(Self::Chromium);
        }
        // HTTP header names are case-insensitive (HTTP/2 writes them in lower case).
        let head = text.get(..16).unwrap_or(text).to_ascii_lowercase();
        if head.starts_with("public-key-pins") || head.starts_with("pin-sha256") {
            return Some(Self::Hpkp);
        }
        if text.contains("<network-security-config") {
            return Some(Self::AndroidNsc);
        }
        if text.contains("<plist") {
            return plist_kind(bytes);
        }
        None
    }
}

/// Which plist this is, from its top-level keys (read as counted events: no tree is built).
/// A plist past the node budget or the nesting bound is read as `ios-ats`, whose import then
/// refuses it with that reason.
fn plist_kind(bytes: &[u8]) -> Option<ImportFormat> {
    let mut events = CountedEvents::new(bytes);
    let mut expect_key = false;
    while let Some(event) = events.next() {
        let depth = events.depth();
        match event.ok()? {
            plist::stream::Event::StartDictionary(_) => {
                expect_key = depth == 1;
                continue;
            }
            plist::stream::Event::String(k) if depth == 1 && expect_key => match &*k {
                "NSAppTransportSecurity" | "NSPinnedDomains" => return Some(ImportFormat::IosAts),
                "TSKPinnedDomains" => return Some(ImportFormat::Trustkit),
                _ => {}
            },
            _ => {}
        }
        // At the top level of the root dictionary, keys and values alternate.
        if depth == 1 {
            expect_key = !expect_key;
        }
    }
    match events.stop() {
        Some(PlistStop::Budget(_) | PlistStop::TooDeep) => Some(ImportFormat::IosAts),
        _ => None,
    }
}

/// An import that failed: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// The input's name.
    pub source_name: String,
    /// Each problem, with its location inside the input.
    pub problems: Vec<Notice>,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot import {}", self.source_name)?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

/// The policy text, what was read differently or skipped, and what was left out.
#[derive(Clone, Debug)]
pub struct Imported {
    /// A keypin policy (TOML) that loads with [`Policy::from_toml_str`].
    pub toml: String,
    /// Notes for the user (the CLI prints them on stderr): what was skipped because the
    /// platform skips it too, what was read the way the platform reads it, and what was made
    /// stricter.
    pub notices: Vec<Notice>,
    /// Entries that keypin cannot express and left out of `toml`, each with where and why
    /// (only formats whose entries stand alone, like Chromium's list, import the rest; the
    /// CLI prints them and exits 2).
    pub refused: Vec<Notice>,
}

/// Options that some formats need.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The host an HPKP header was served for.
    pub host: Option<String>,
    /// Chromium's `transport_security_state_static.pins`, where the SPKI values of the pinsets
    /// named in the JSON live.
    pub chromium_pins: Option<PinsFile>,
}

/// A companion file read with the main input, named in messages.
#[derive(Clone, Debug, Default)]
pub struct PinsFile {
    /// Its name (a path) for messages.
    pub name: String,
    /// Its content (bounded like the main input: at most [`MAX_INPUT_BYTES`]).
    pub bytes: Vec<u8>,
}

/// One rule on its way to TOML.
#[derive(Clone, Debug, Default)]
struct RawRule {
    /// Where it came from, for comments and messages.
    origin: String,
    hosts: Vec<String>,
    pins: Vec<Pin>,
    expires: Option<String>,
    report_only: bool,
    /// `require_sct` as written in the policy (`"chrome"`).
    require_sct: Option<&'static str>,
    /// Why this entry cannot be expressed (see [`Imported::refused`]); then the rest is unused.
    refused: Option<String>,
    /// Keys that must never be on the path (Chromium's `bad_static_spki_hashes`).
    bad_pins: Vec<Pin>,
    /// `pin_position` as written (`"leaf"`, `"ca"`): iOS's identity lists.
    pin_position: Option<&'static str>,
    /// Pins the leaf must carry beside the CA pins (iOS with both lists).
    leaf_pins: Vec<Pin>,
}

impl RawRule {
    /// One pin, enforced: the platform accepts it, so the rule says `single_pin_may_brick`
    /// (never report-only, which would be weaker than the app).
    fn single_pin(&self) -> bool {
        (self.pins.len() == 1 || self.leaf_pins.len() == 1) && !self.report_only
    }

    /// The host patterns that reach under a public suffix (they need
    /// `public_suffix_covers_others`).
    fn suffix_hosts(&self) -> Vec<&str> {
        self.hosts
            .iter()
            .filter(|h| {
                HostPattern::parse_with(h, false, true).is_ok_and(|p| p.spans_public_suffix())
            })
            .map(String::as_str)
            .collect()
    }
}

/// Says where the import wrote an opt-out field, so that nobody meets it first in `lint`.
fn opt_out_notices(cx: &mut Cx<'_>, rules: &[RawRule]) {
    for r in rules {
        if r.single_pin() {
            cx.notice(
                &r.origin,
                "one pin, enforced as the platform enforces it: written with single_pin_may_brick = true (losing or replacing that key breaks the app until new pins ship; add a backup pin)".into(),
            );
        }
        let suffix = r.suffix_hosts();
        if !suffix.is_empty() {
            cx.notice(
                &r.origin,
                format!(
                    "{} reaches every site under a public suffix, as the platform reads it: written with public_suffix_covers_others = true",
                    suffix.join(", ")
                ),
            );
        }
    }
}

struct Cx<'a> {
    source_name: &'a str,
    notices: Vec<Notice>,
    problems: Vec<Notice>,
}

impl Cx<'_> {
    fn at(&self, where_: &str) -> String {
        format!("{}:{where_}", self.source_name)
    }
    fn notice(&mut self, where_: &str, message: String) {
        let location = self.at(where_);
        self.notices.push(Notice { location, message });
    }
    fn problem(&mut self, where_: &str, message: String) {
        let location = self.at(where_);
        self.problems.push(Notice { location, message });
    }
    fn pin(&mut self, where_: &str, text: &str) -> Option<Pin> {
        match Pin::parse(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem(where_, e.to_string());
                None
            }
        }
    }
}

/// Adds `pin` to `pins` unless it is there already: every platform keeps a pin set as a set,
/// so a pin listed twice is one pin (with a note, since the set is smaller than it looks).
fn push_pin(cx: &mut Cx<'_>, where_: &str, pins: &mut Vec<Pin>, pin: Pin) {
    if pins.contains(&pin) {
        cx.notice(
            where_,
            format!("pin {pin} is listed twice in this pin set; it counts once"),
        );
    } else {
        pins.push(pin);
    }
}

/// Imports `bytes` (named `source_name` in messages) as `format`, or the detected format.
pub fn import(
    bytes: &[u8],
    source_name: &str,
    format: Option<ImportFormat>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let fail = |message: String| ImportError {
        source_name: source_name.to_string(),
        problems: vec![Notice {
            location: source_name.to_string(),
            message,
        }],
    };
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(fail(format!(
            "{} bytes is over the {MAX_INPUT_BYTES}-byte limit for pin configurations",
            bytes.len()
        )));
    }
    let format = match format.or_else(|| ImportFormat::detect(bytes)) {
        Some(f) => f,
        None => {
            return Err(fail(
                "cannot tell the format: expected Android NSC XML, an iOS or TrustKit plist, Chromium pins JSON or an HPKP header (or pass --format)".into(),
            ));
        }
    };
    let mut cx = Cx {
        source_name,
        notices: Vec::new(),
        problems: Vec::new(),
    };
    let mut refused = Vec::new();
    let rules = match format {
        ImportFormat::AndroidNsc => nsc::rules(&mut cx, bytes),
        ImportFormat::IosAts | ImportFormat::Trustkit => {
            plist_formats::rules(&mut cx, bytes, format)
        }
        ImportFormat::Chromium => {
            let rules = chromium::rules(&mut cx, bytes, options.chromium_pins.as_ref());
            // Chromium's entries stand alone: one keypin cannot express is left out, located,
            // and the rest import.
            let mut kept = Vec::new();
            for r in rules {
                let why = match &r.refused {
                    Some(why) => Some(vec![Notice {
                        location: format!("{source_name}:{}", r.origin),
                        message: why.clone(),
                    }]),
                    None => unloadable(source_name, &r),
                };
                match why {
                    Some(notices) => refused.extend(notices),
                    None => kept.push(r),
                }
            }
            kept
        }
        ImportFormat::Hpkp => hpkp::rules(&mut cx, bytes, options),
    };
    opt_out_notices(&mut cx, &rules);
    if !cx.problems.is_empty() {
        return Err(ImportError {
            source_name: source_name.to_string(),
            problems: cx.problems,
        });
    }
    let mut toml = render(source_name, &rules);
    // The result must load as a keypin policy; if not, say why in keypin's words.
    if let Err(problems) = loads(source_name, &toml, &rules) {
        return Err(ImportError {
            source_name: source_name.to_string(),
            problems,
        });
    }
    for r in &refused {
        let _ = write!(toml, "\n# NOT imported: {r}\n");
    }
    Ok(Imported {
        toml,
        notices: cx.notices,
        refused,
    })
}

/// Why one rule alone does not load as a keypin policy, located at its origin.
fn unloadable(source_name: &str, rule: &RawRule) -> Option<Vec<Notice>> {
    let rules = std::slice::from_ref(rule);
    loads(source_name, &render(source_name, rules), rules).err()
}

/// Loads `toml` (rendered from `rules`) as keypin would, or every problem located at the
/// origin of the rule it is about, with keypin's hint.
fn loads(source_name: &str, toml: &str, rules: &[RawRule]) -> Result<(), Vec<Notice>> {
    let Err(e) = Policy::from_toml_str(toml, "imported policy") else {
        return Ok(());
    };
    Err(e
        .diagnostics
        .iter()
        .map(|d| {
            let rule = d
                .field
                .as_deref()
                .and_then(|f| f.strip_prefix("rule["))
                .and_then(|f| f.split(']').next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| rules.get(n));
            Notice {
                location: rule.map_or_else(
                    || source_name.to_string(),
                    |r| format!("{source_name}:{}", r.origin),
                ),
                message: format!(
                    "{}{}",
                    d.message,
                    d.hint
                        .as_ref()
                        .map(|h| format!(" (hint: {h})"))
                        .unwrap_or_default()
                ),
            }
        })
        .collect())
}

fn render(source_name: &str, rules: &[RawRule]) -> String {
    let mut s = format!("# imported by keypin from {source_name}\n");
    for r in rules {
        let _ = writeln!(s, "\n# from {source_name}:{}", r.origin);
        let _ = writeln!(s, "[[rule]]");
        let hosts: Vec<String> = r.hosts.iter().map(|h| toml_string(h)).collect();
        let _ = writeln!(s, "hosts = [{}]", hosts.join(", "));
        let _ = writeln!(s, "pins = [{}]", toml_pins(&r.pins));
        if let Some(d) = &r.expires {
            let _ = writeln!(s, "expires = {}", toml_string(d));
        }
        if r.report_only {
            let _ = writeln!(s, "mode = \"report-only\"");
        }
        if let Some(req) = r.require_sct {
            let _ = writeln!(s, "require_sct = {}", toml_string(req));
        }
        if r.single_pin() {
            let _ = writeln!(s, "single_pin_may_brick = true");
        }
        if !r.suffix_hosts().is_empty() {
            let _ = writeln!(s, "public_suffix_covers_others = true");
        }
        if let Some(position) = r.pin_position {
            let _ = writeln!(s, "pin_position = {}", toml_string(position));
        }
        if !r.leaf_pins.is_empty() {
            let _ = writeln!(s, "leaf_pins = [{}]", toml_pins(&r.leaf_pins));
        }
        if !r.bad_pins.is_empty() {
            let _ = writeln!(s, "bad_pins = [{}]", toml_pins(&r.bad_pins));
        }
    }
    s
}

/// Pins as the items of a TOML array, in keypin's `sha256/` spelling.
fn toml_pins(pins: &[Pin]) -> String {
    let items: Vec<String> = pins
        .iter()
        .map(|p| toml_string(&p.to_format(PinFormat::OkHttp)))
        .collect();
    items.join(", ")
}

fn toml_string(s: &str) -> String {
    // JSON string escapes are valid TOML basic-string escapes for the characters we emit.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
