//! Other systems' pin configurations → a keypin policy (TOML).
//!
//! Input is untrusted: it is size-capped before parsing, XML DTDs are refused (so no entity
//! expansion), every format is read under one node budget counted while reading (references
//! included: [`MAX_IMPORT_NODES`], [`MAX_IMPORT_STRING_BYTES`]), and every problem names where
//! it is (line for XML, key path for plists). What keypin cannot represent exactly is imported stricter with a
//! [`Notice`], or refused — never weaker.

use core::fmt;
use std::fmt::Write as _;

use keypin::{Policy, pin::Pin, pin::PinFormat};

use crate::budget::{
    Budget, CountedEvents, MAX_NESTING, PlistStop, XmlStop, count_json, read_plist, read_xml,
};
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
    /// Chromium static pins JSON (as `keypin export --format chromium` writes it).
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
        if text.starts_with('{') {
            return text.contains("\"pinsets\"").then_some(Self::Chromium);
        }
        if text.starts_with("Public-Key-Pins") || text.starts_with("pin-sha256") {
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

/// The policy text and what was made stricter.
#[derive(Clone, Debug)]
pub struct Imported {
    /// A keypin policy (TOML) that loads with [`Policy::from_toml_str`].
    pub toml: String,
    /// What changed on the way in.
    pub notices: Vec<Notice>,
}

/// Options that some formats need.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The host an HPKP header was served for.
    pub host: Option<String>,
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
    let rules = match format {
        ImportFormat::AndroidNsc => nsc(&mut cx, bytes),
        ImportFormat::IosAts | ImportFormat::Trustkit => plist_rules(&mut cx, bytes, format),
        ImportFormat::Chromium => chromium(&mut cx, bytes),
        ImportFormat::Hpkp => hpkp(&mut cx, bytes, options),
    };
    if !cx.problems.is_empty() {
        return Err(ImportError {
            source_name: source_name.to_string(),
            problems: cx.problems,
        });
    }
    let toml = render(source_name, &rules);
    // The result must load as a keypin policy; if not, say why in keypin's words.
    if let Err(e) = Policy::from_toml_str(&toml, "imported policy") {
        let problems = e
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
            .collect();
        return Err(ImportError {
            source_name: source_name.to_string(),
            problems,
        });
    }
    Ok(Imported {
        toml,
        notices: cx.notices,
    })
}

fn render(source_name: &str, rules: &[RawRule]) -> String {
    let mut s = format!("# imported by keypin from {source_name}\n");
    for r in rules {
        let _ = writeln!(s, "\n# from {source_name}:{}", r.origin);
        let _ = writeln!(s, "[[rule]]");
        let hosts: Vec<String> = r.hosts.iter().map(|h| toml_string(h)).collect();
        let _ = writeln!(s, "hosts = [{}]", hosts.join(", "));
        let pins: Vec<String> = r
            .pins
            .iter()
            .map(|p| toml_string(&p.to_format(PinFormat::OkHttp)))
            .collect();
        let _ = writeln!(s, "pins = [{}]", pins.join(", "));
        if let Some(d) = &r.expires {
            let _ = writeln!(s, "expires = {}", toml_string(d));
        }
        if r.report_only {
            let _ = writeln!(s, "mode = \"report-only\"");
        }
    }
    s
}

fn toml_string(s: &str) -> String {
    // JSON string escapes are valid TOML basic-string escapes for the characters we emit.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

// ---- Android Network Security Config -------------------------------------------------------

fn nsc(cx: &mut Cx<'_>, bytes: &[u8]) -> Vec<RawRule> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        cx.problem("1", "not UTF-8 text".into());
        return Vec::new();
    };
    let doc = match read_xml(text) {
        Ok(d) => d,
        Err(XmlStop::Budget(e)) => {
            cx.problem("1", e.to_string());
            return Vec::new();
        }
        Err(XmlStop::Invalid(e)) => {
            let pos = e.pos();
            cx.problem(
                &format!("{}:{}", pos.row, pos.col),
                format!("not valid XML: {e}"),
            );
            return Vec::new();
        }
    };
    let root = doc.root_element();
    if root.tag_name().name() != "network-security-config" {
        cx.problem(
            "1",
            format!(
                "the root element is <{}>, not <network-security-config>",
                root.tag_name().name()
            ),
        );
        return Vec::new();
    }
    let mut rules = Vec::new();
    for child in root.children().filter(roxmltree::Node::is_element) {
        let line = doc.text_pos_at(child.range().start).row.to_string();
        match child.tag_name().name() {
            "domain-config" => domain_config(cx, &doc, child, None, 0, &mut rules),
            "base-config" => {
                if child.children().any(|c| c.has_tag_name("pin-set")) {
                    cx.problem(&line, "<base-config> cannot hold a pin-set".into());
                }
            }
            "debug-overrides" => cx.notice(
                &line,
                "<debug-overrides> applies to debug builds only and is not imported".into(),
            ),
            other => cx.problem(&line, format!("unexpected element <{other}>")),
        }
    }
    rules
}

/// Inherited from an enclosing domain-config.
#[derive(Clone)]
struct Inherited {
    pins: Vec<Pin>,
    expires: Option<String>,
    report_only: bool,
}

fn domain_config(
    cx: &mut Cx<'_>,
    doc: &roxmltree::Document<'_>,
    node: roxmltree::Node<'_, '_>,
    parent: Option<&Inherited>,
    depth: usize,
    rules: &mut Vec<RawRule>,
) {
    let line_of = |n: roxmltree::Node<'_, '_>| doc.text_pos_at(n.range().start).row.to_string();
    let line = line_of(node);
    if depth >= MAX_NESTING {
        cx.problem(
            &line,
            format!("<domain-config> nested more than {MAX_NESTING} deep; refused"),
        );
        return;
    }
    let mut hosts = Vec::new();
    let mut pin_sets = 0;
    let mut own: Option<(Vec<Pin>, Option<String>)> = None;
    let mut report_only = parent.is_some_and(|p| p.report_only);
    for c in node.children().filter(roxmltree::Node::is_element) {
        let cl = line_of(c);
        match c.tag_name().name() {
            "domain" => {
                let name = c.text().unwrap_or("").trim().to_string();
                let subs = match c.attribute("includeSubdomains") {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(v) => {
                        cx.problem(
                            &cl,
                            format!("includeSubdomains={v:?}: expected \"true\" or \"false\""),
                        );
                        false
                    }
                };
                if name.is_empty() {
                    cx.problem(&cl, "empty <domain>".into());
                } else {
                    // NSC's includeSubdomains is the domain and every name under it: `**.`.
                    hosts.push(if subs { format!("**.{name}") } else { name });
                }
            }
            "pin-set" => {
                pin_sets += 1;
                let expires = c.attribute("expiration").map(str::to_string);
                if let Some(d) = &expires
                    && keypin::clock::Date::parse(d).is_err()
                {
                    cx.problem(&cl, format!("expiration={d:?} is not a yyyy-MM-dd date"));
                }
                let mut pins = Vec::new();
                for p in c.children().filter(roxmltree::Node::is_element) {
                    let pl = line_of(p);
                    if !p.has_tag_name("pin") {
                        cx.problem(
                            &pl,
                            format!("unexpected <{}> in <pin-set>", p.tag_name().name()),
                        );
                        continue;
                    }
                    match p.attribute("digest") {
                        Some("SHA-256") => {}
                        other => {
                            cx.problem(&pl, format!("digest={other:?}: only SHA-256 pins exist"));
                            continue;
                        }
                    }
                    let value = p.text().unwrap_or("").trim();
                    if let Some(pin) = cx.pin(&pl, value) {
                        pins.push(pin);
                    }
                }
                own = Some((pins, expires));
            }
            "trustkit-config" => {
                report_only = c.attribute("enforcePinning") == Some("false");
            }
            "trust-anchors" => {
                if c.descendants()
                    .any(|a| a.attribute("overridePins") == Some("true"))
                {
                    cx.notice(
                        &cl,
                        "overridePins=\"true\" lets a listed anchor skip pinning; keypin has no such bypass (imported stricter)".into(),
                    );
                }
            }
            "domain-config" => {}
            other => cx.problem(
                &cl,
                format!("unexpected element <{other}> in <domain-config>"),
            ),
        }
    }
    if pin_sets > 1 {
        cx.problem(&line, "more than one <pin-set> in a <domain-config>".into());
    }
    let (pins, expires) = match (own, parent) {
        (Some(o), _) => o,
        (None, Some(p)) => (p.pins.clone(), p.expires.clone()),
        (None, None) => (Vec::new(), None),
    };
    let inherited = Inherited {
        pins: pins.clone(),
        expires: expires.clone(),
        report_only,
    };
    if !hosts.is_empty() {
        if pins.is_empty() {
            cx.notice(
                &line,
                format!(
                    "{} has no pins: Android does not pin it, so no rule is made",
                    hosts.join(", ")
                ),
            );
        } else {
            rules.push(RawRule {
                origin: line.clone(),
                hosts,
                pins,
                expires,
                report_only,
            });
        }
    }
    for nested in node.children().filter(|c| c.has_tag_name("domain-config")) {
        domain_config(cx, doc, nested, Some(&inherited), depth + 1, rules);
    }
}

// ---- plists: iOS ATS and TrustKit -----------------------------------------------------------

fn plist_rules(cx: &mut Cx<'_>, bytes: &[u8], format: ImportFormat) -> Vec<RawRule> {
    if !bytes.starts_with(b"bplist") {
        // XML plists: refuse a DTD with an internal subset (entity definitions) outright.
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
        if head.contains("<!ENTITY") {
            cx.problem("1", "the plist defines XML entities; refused".into());
            return Vec::new();
        }
    }
    let value = match read_plist(bytes) {
        Ok(v) => v,
        Err(stop) => {
            cx.problem("plist", stop.to_string());
            return Vec::new();
        }
    };
    let Some(top) = value.as_dictionary() else {
        cx.problem("plist", "the top level is not a dictionary".into());
        return Vec::new();
    };
    match format {
        ImportFormat::IosAts => ats(cx, top),
        _ => trustkit(cx, top),
    }
}

fn ats(cx: &mut Cx<'_>, top: &plist::Dictionary) -> Vec<RawRule> {
    let ats = top
        .get("NSAppTransportSecurity")
        .and_then(plist::Value::as_dictionary)
        .unwrap_or(top);
    let Some(domains) = ats
        .get("NSPinnedDomains")
        .and_then(plist::Value::as_dictionary)
    else {
        cx.problem(
            "NSAppTransportSecurity",
            "no NSPinnedDomains dictionary".into(),
        );
        return Vec::new();
    };
    let mut rules = Vec::new();
    for (domain, cfg) in domains {
        let path = format!("NSPinnedDomains.{domain}");
        let Some(cfg) = cfg.as_dictionary() else {
            cx.problem(&path, "not a dictionary".into());
            continue;
        };
        let subs = cfg
            .get("NSIncludesSubdomains")
            .and_then(plist::Value::as_boolean)
            .unwrap_or(false);
        let mut lists = Vec::new();
        for key in ["NSPinnedCAIdentities", "NSPinnedLeafIdentities"] {
            if let Some(list) = cfg.get(key) {
                let kp = format!("{path}.{key}");
                let Some(arr) = list.as_array() else {
                    cx.problem(&kp, "not an array".into());
                    continue;
                };
                let mut pins = Vec::new();
                for (i, item) in arr.iter().enumerate() {
                    let ip = format!("{kp}[{i}]");
                    match item
                        .as_dictionary()
                        .and_then(|d| d.get("SPKI-SHA256-BASE64"))
                        .and_then(plist::Value::as_string)
                    {
                        Some(b64) => {
                            if let Some(p) = cx.pin(&ip, b64) {
                                pins.push(p);
                            }
                        }
                        None => {
                            cx.problem(&ip, "expected a dictionary with SPKI-SHA256-BASE64".into())
                        }
                    }
                }
                lists.push((key, pins));
            }
        }
        let pins = match lists.as_slice() {
            [] => {
                cx.problem(
                    &path,
                    "neither NSPinnedCAIdentities nor NSPinnedLeafIdentities".into(),
                );
                continue;
            }
            [(key, pins)] => {
                cx.notice(
                    &path,
                    format!("{key} pins match only {} certificates on iOS; keypin matches them anywhere on the verified path", if *key == "NSPinnedCAIdentities" { "CA" } else { "leaf" }),
                );
                pins.clone()
            }
            _ => {
                cx.problem(
                    &path,
                    "both CA and leaf identities: iOS requires a match in each list, which a keypin rule cannot say; merging them would weaken the policy".into(),
                );
                continue;
            }
        };
        // Apple's NSIncludesSubdomains: the domain and one more label.
        let mut hosts = vec![domain.clone()];
        if subs {
            hosts.push(format!("*.{domain}"));
        }
        rules.push(RawRule {
            origin: path,
            hosts,
            pins,
            expires: None,
            report_only: false,
        });
    }
    rules
}

fn trustkit(cx: &mut Cx<'_>, top: &plist::Dictionary) -> Vec<RawRule> {
    let Some(domains) = top
        .get("TSKPinnedDomains")
        .and_then(plist::Value::as_dictionary)
    else {
        cx.problem("TSKPinnedDomains", "missing or not a dictionary".into());
        return Vec::new();
    };
    let mut rules = Vec::new();
    for (domain, cfg) in domains {
        let path = format!("TSKPinnedDomains.{domain}");
        let Some(cfg) = cfg.as_dictionary() else {
            cx.problem(&path, "not a dictionary".into());
            continue;
        };
        if cfg
            .get("TSKExcludeSubdomainFromParentPolicy")
            .and_then(plist::Value::as_boolean)
            == Some(true)
        {
            cx.notice(
                &path,
                "TSKExcludeSubdomainFromParentPolicy carves this host out of its parent's pins; keypin has no carve-out, so the parent's pins apply (stricter)".into(),
            );
            continue;
        }
        let subs = cfg
            .get("TSKIncludeSubdomains")
            .and_then(plist::Value::as_boolean)
            .unwrap_or(false);
        let enforce = cfg
            .get("TSKEnforcePinning")
            .and_then(plist::Value::as_boolean)
            .unwrap_or(true);
        let expires = cfg
            .get("TSKExpirationDate")
            .and_then(plist::Value::as_string)
            .map(str::to_string);
        let mut pins = Vec::new();
        match cfg
            .get("TSKPublicKeyHashes")
            .and_then(plist::Value::as_array)
        {
            Some(arr) => {
                for (i, h) in arr.iter().enumerate() {
                    let ip = format!("{path}.TSKPublicKeyHashes[{i}]");
                    match h.as_string() {
                        Some(s) => {
                            if let Some(p) = cx.pin(&ip, s) {
                                pins.push(p);
                            }
                        }
                        None => cx.problem(&ip, "not a string".into()),
                    }
                }
            }
            None => cx.problem(&path, "TSKPublicKeyHashes missing or not an array".into()),
        }
        rules.push(RawRule {
            origin: path,
            hosts: vec![if subs {
                format!("**.{domain}")
            } else {
                domain.clone()
            }],
            pins,
            expires,
            report_only: !enforce,
        });
    }
    rules
}

// ---- Chromium static pins ------------------------------------------------------------------

fn chromium(cx: &mut Cx<'_>, bytes: &[u8]) -> Vec<RawRule> {
    if let Err(e) = count_json(bytes) {
        cx.problem("1", e.to_string());
        return Vec::new();
    }
    let v: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            cx.problem(&e.line().to_string(), format!("not valid JSON: {e}"));
            return Vec::new();
        }
    };
    let hashes = v.get("spki_hashes").and_then(serde_json::Value::as_object);
    let mut sets = std::collections::HashMap::new();
    for (i, set) in v["pinsets"].as_array().into_iter().flatten().enumerate() {
        let path = format!("pinsets[{i}]");
        let name = set["name"].as_str().unwrap_or_default().to_string();
        if set["bad_static_spki_hashes"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            cx.problem(
                &path,
                "bad_static_spki_hashes (a chain must NOT contain these keys) cannot be said in keypin; dropping them would weaken the pin set".into(),
            );
            continue;
        }
        let mut pins = Vec::new();
        for (j, n) in set["static_spki_hashes"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let hp = format!("{path}.static_spki_hashes[{j}]");
            let name = n.as_str().unwrap_or_default();
            match hashes.and_then(|h| h.get(name)).and_then(serde_json::Value::as_str) {
                Some(value) => {
                    if let Some(p) = cx.pin(&hp, value) {
                        pins.push(p);
                    }
                }
                None => cx.problem(
                    &hp,
                    format!("no hash value for {name:?} (Chromium keeps them in its .pins file; add a \"spki_hashes\" map)"),
                ),
            }
        }
        sets.insert(name, pins);
    }
    let mut rules = Vec::new();
    for (i, e) in v["entries"].as_array().into_iter().flatten().enumerate() {
        let path = format!("entries[{i}]");
        let Some(set_name) = e["pins"].as_str() else {
            continue; // an HSTS-only entry: nothing pinned
        };
        let Some(name) = e["name"].as_str() else {
            cx.problem(&path, "entry without a name".into());
            continue;
        };
        let Some(pins) = sets.get(set_name) else {
            cx.problem(&path, format!("unknown pinset {set_name:?}"));
            continue;
        };
        let subs = e["include_subdomains"].as_bool().unwrap_or(false);
        rules.push(RawRule {
            origin: path,
            hosts: vec![if subs {
                format!("**.{name}")
            } else {
                name.to_string()
            }],
            pins: pins.clone(),
            expires: None,
            report_only: false,
        });
    }
    rules
}

// ---- HPKP ----------------------------------------------------------------------------------

fn hpkp(cx: &mut Cx<'_>, bytes: &[u8], options: &ImportOptions) -> Vec<RawRule> {
    let text = String::from_utf8_lossy(bytes);
    let Some(host) = options.host.clone() else {
        cx.problem(
            "1",
            "an HPKP header does not name its host: pass --host".into(),
        );
        return Vec::new();
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let (report_only, value) = if let Some(v) = line.strip_prefix("Public-Key-Pins-Report-Only:") {
        (true, v)
    } else if let Some(v) = line.strip_prefix("Public-Key-Pins:") {
        (false, v)
    } else {
        (false, line)
    };
    let mut pins = Vec::new();
    let mut subs = false;
    let mut budget = Budget::default();
    for (i, directive) in value
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .enumerate()
    {
        if let Err(e) = budget.node() {
            cx.problem("1", e.to_string());
            return Vec::new();
        }
        let lower = directive.to_ascii_lowercase();
        if lower.starts_with("pin-sha256") {
            if let Some(p) = cx.pin(&format!("1: directive {}", i + 1), directive) {
                pins.push(p);
            }
        } else if lower == "includesubdomains" {
            subs = true;
        } else if lower.starts_with("max-age") || lower.starts_with("report-uri") {
            cx.notice("1", format!("{directive} is not carried into the policy"));
        } else {
            cx.problem(
                &format!("1: directive {}", i + 1),
                format!("unknown HPKP directive {directive:?}"),
            );
        }
    }
    vec![RawRule {
        origin: "1".into(),
        hosts: vec![if subs { format!("**.{host}") } else { host }],
        pins,
        expires: None,
        report_only,
    }]
}
