//! Android Network Security Config (and TrustKit-Android) → rules, read the way Android's
//! parser (`android.security.net.config.XmlConfigSource`) reads it: what it refuses is refused
//! here with its reason and the line; elements and attributes it skips are skipped with a
//! note; what it reads leniently (booleans, digest names, pin base64) is read the same way.

use std::collections::HashMap;

use keypin::pin::Pin;
use roxmltree::{Document, Node};

use super::{Cx, RawRule, android_base64, push_pin};
use crate::budget::{MAX_NESTING, XmlStop, read_xml};

const REFUSES: &str = "Android refuses the whole file";

/// Attributes Android (or TrustKit-Android) reads on each element; others are skipped.
fn known_attributes(element: &str) -> &'static [&'static str] {
    match element {
        "base-config" | "domain-config" => &["cleartextTrafficPermitted", "hstsEnforced"],
        "domain" => &["includeSubdomains"],
        "pin-set" => &["expiration"],
        "pin" => &["digest"],
        "certificates" => &["src", "overridePins"],
        "certificateTransparency" => &["enabled"],
        "trustkit-config" => &["enforcePinning", "disableDefaultReportUri"],
        _ => &[],
    }
}

/// The file's document and what is read across configs.
struct Reader<'d, 'input> {
    doc: &'d Document<'input>,
    /// Every `<domain>` name so far (lower-cased, as Android compares them) and its line.
    seen_domains: HashMap<String, u32>,
}

impl Reader<'_, '_> {
    fn line(&self, node: Node<'_, '_>) -> u32 {
        self.doc.text_pos_at(node.range().start).row
    }

    /// Notes every attribute of `node` that Android does not read.
    fn unknown_attributes(&self, cx: &mut Cx<'_>, node: Node<'_, '_>) {
        let element = node.tag_name().name();
        let known = known_attributes(element);
        for a in node.attributes() {
            if a.namespace().is_none() && known.contains(&a.name()) {
                continue;
            }
            let name = match a.namespace() {
                Some(ns) => format!("{} (namespace {ns})", a.name()),
                None => a.name().to_string(),
            };
            cx.notice(
                &self.line(node).to_string(),
                format!("attribute {name} on <{element}> is not read by Android; skipped"),
            );
        }
    }
}

/// A boolean attribute as Android's build tools compile it: `true`, `True`, `TRUE` (and the
/// same for false); `None` when absent. Anything else is refused: Android would silently read
/// the default, which is rarely what the author meant.
fn boolean(cx: &mut Cx<'_>, line: u32, node: Node<'_, '_>, name: &str) -> Option<bool> {
    let value = node.attribute(name)?;
    match value.trim() {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        other => {
            cx.problem(
                &line.to_string(),
                format!(
                    "{name} on <{}> holds {other:?}; allowed: true or false (Android's build \
                     compiles only true/True/TRUE and false/False/FALSE, and reads anything else \
                     as the default)",
                    node.tag_name().name()
                ),
            );
            None
        }
    }
}

/// Settings a `<domain-config>` inherits from its parent (or from `<base-config>`).
#[derive(Clone, Default)]
struct Inherited {
    /// The pin set in force (pins, expiration).
    pin_set: Option<(Vec<Pin>, Option<String>)>,
    /// `<certificateTransparency enabled=..>` in force.
    ct: Option<bool>,
}

/// What one `<base-config>` or `<domain-config>` says itself.
#[derive(Default)]
struct Body {
    domains: Vec<String>,
    pin_set: Option<(Vec<Pin>, Option<String>)>,
    ct: Option<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Base,
    Domain,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Base => "base-config",
            Self::Domain => "domain-config",
        }
    }
}

pub(super) fn rules(cx: &mut Cx<'_>, bytes: &[u8]) -> Vec<RawRule> {
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
    let mut reader = Reader {
        doc: &doc,
        seen_domains: HashMap::new(),
    };
    reader.unknown_attributes(cx, root);
    // Every top-level domain-config inherits from the base-config, wherever it stands.
    let mut base = Inherited::default();
    if let Some(b) = root.children().find(|c| c.has_tag_name("base-config")) {
        let body = reader.body(cx, b, Kind::Base);
        base.ct = body.ct;
        if body.ct == Some(true) {
            cx.notice(
                &reader.line(b).to_string(),
                "<certificateTransparency enabled=\"true\"> in <base-config> requires CT for every host; the pinned domains below import with require_sct = \"chrome\", hosts without pins are not in the policy".into(),
            );
        }
    }
    let mut rules = Vec::new();
    let (mut seen_base, mut seen_debug) = (false, false);
    for child in root.children().filter(Node::is_element) {
        let line = reader.line(child).to_string();
        match child.tag_name().name() {
            "domain-config" => reader.domain_config(cx, child, &base, 0, &mut rules),
            "base-config" if seen_base => cx.problem(
                &line,
                format!("only one <base-config> is allowed ({REFUSES})"),
            ),
            "base-config" => seen_base = true,
            "debug-overrides" if seen_debug => cx.problem(
                &line,
                format!("only one <debug-overrides> is allowed ({REFUSES})"),
            ),
            "debug-overrides" => {
                seen_debug = true;
                cx.notice(
                    &line,
                    "<debug-overrides> applies to debug builds only and is not imported".into(),
                );
            }
            other => cx.notice(&line, format!("<{other}> is not read by Android; skipped")),
        }
    }
    rules
}

impl Reader<'_, '_> {
    /// One config's own settings, with Android's refusals and notes for what it skips.
    fn body(&mut self, cx: &mut Cx<'_>, node: Node<'_, '_>, kind: Kind) -> Body {
        self.unknown_attributes(cx, node);
        let mut body = Body::default();
        let (mut seen_anchors, mut seen_ct) = (false, false);
        for c in node.children().filter(Node::is_element) {
            let line = self.line(c);
            let at = line.to_string();
            let tag = c.tag_name().name();
            match (tag, kind) {
                ("domain", Kind::Domain) => {
                    if let Some(d) = self.domain(cx, c) {
                        body.domains.push(d);
                    }
                }
                ("domain" | "pin-set" | "domain-config", Kind::Base) => {
                    let what = if tag == "domain-config" {
                        "a nested <domain-config>".to_string()
                    } else {
                        format!("<{tag}>")
                    };
                    cx.problem(
                        &at,
                        format!("{what} is not allowed in <base-config> ({REFUSES})"),
                    );
                }
                ("pin-set", Kind::Domain) => {
                    if body.pin_set.is_some() {
                        cx.problem(
                            &at,
                            format!("more than one <pin-set> in a <domain-config> ({REFUSES})"),
                        );
                    }
                    body.pin_set = Some(self.pin_set(cx, c));
                }
                ("trust-anchors", _) => {
                    if seen_anchors {
                        cx.problem(
                            &at,
                            format!(
                                "more than one <trust-anchors> in a <{}> ({REFUSES})",
                                kind.name()
                            ),
                        );
                    }
                    seen_anchors = true;
                    self.trust_anchors(cx, c);
                }
                ("certificateTransparency", _) => {
                    if seen_ct {
                        cx.problem(
                            &at,
                            format!(
                                "more than one <certificateTransparency> in a <{}>",
                                kind.name()
                            ),
                        );
                    }
                    seen_ct = true;
                    self.unknown_attributes(cx, c);
                    body.ct = Some(boolean(cx, line, c, "enabled").unwrap_or(false));
                }
                ("trustkit-config", Kind::Domain) => self.trustkit_config(cx, c),
                ("domain-config", Kind::Domain) => {} // read by the caller, with inheritance
                _ => cx.notice(
                    &at,
                    format!(
                        "<{tag}> in <{}> is not read by Android; skipped",
                        kind.name()
                    ),
                ),
            }
        }
        body
    }

    fn domain_config(
        &mut self,
        cx: &mut Cx<'_>,
        node: Node<'_, '_>,
        parent: &Inherited,
        depth: usize,
        rules: &mut Vec<RawRule>,
    ) {
        let line = self.line(node).to_string();
        if depth >= MAX_NESTING {
            cx.problem(
                &line,
                format!("<domain-config> nested more than {MAX_NESTING} deep; refused"),
            );
            return;
        }
        let body = self.body(cx, node, Kind::Domain);
        if body.domains.is_empty() {
            cx.problem(
                &line,
                format!("a <domain-config> without <domain> ({REFUSES})"),
            );
        }
        let inherited = Inherited {
            pin_set: body.pin_set.or_else(|| parent.pin_set.clone()),
            ct: body.ct.or(parent.ct),
        };
        let hosts = body.domains;
        match &inherited.pin_set {
            Some((pins, expires)) if !pins.is_empty() && !hosts.is_empty() => {
                if inherited.ct == Some(true) {
                    cx.notice(
                        &line,
                        "<certificateTransparency enabled=\"true\"> imported as require_sct = \"chrome\" (Android's CT policy follows Chrome's)".into(),
                    );
                }
                rules.push(RawRule {
                    origin: line.clone(),
                    hosts,
                    pins: pins.clone(),
                    expires: expires.clone(),
                    report_only: false,
                    require_sct: (inherited.ct == Some(true)).then_some("chrome"),
                    refused: None,
                    bad_pins: Vec::new(),
                    ..RawRule::default()
                });
            }
            _ if !hosts.is_empty() => cx.notice(
                &line,
                format!(
                    "{} has no pins: Android does not pin it, so no rule is made{}",
                    hosts.join(", "),
                    if inherited.ct == Some(true) {
                        " (nor is its CT requirement imported)"
                    } else {
                        ""
                    }
                ),
            ),
            _ => {}
        }
        for nested in node.children().filter(|c| c.has_tag_name("domain-config")) {
            self.domain_config(cx, nested, &inherited, depth + 1, rules);
        }
    }

    /// A `<domain>`: its host pattern, or `None` after a refusal.
    fn domain(&mut self, cx: &mut Cx<'_>, c: Node<'_, '_>) -> Option<String> {
        let line = self.line(c);
        let at = line.to_string();
        self.unknown_attributes(cx, c);
        let subs = boolean(cx, line, c, "includeSubdomains").unwrap_or(false);
        if c.children().any(|n| n.is_element()) {
            cx.problem(&at, format!("<domain> contains other elements ({REFUSES})"));
            return None;
        }
        let name = text_of(c).trim().to_ascii_lowercase();
        if name.is_empty() {
            cx.problem(&at, format!("<domain> without a name ({REFUSES})"));
            return None;
        }
        if let Some(first) = self.seen_domains.get(&name) {
            cx.problem(
                &at,
                format!("{name} has already been specified at line {first} ({REFUSES})"),
            );
            return None;
        }
        self.seen_domains.insert(name.clone(), line);
        if name.contains('*') {
            // Android compares names literally: no host is called `*.example.com`.
            cx.notice(
                &at,
                format!("<domain> {name} is compared literally by Android (it has no wildcards), so it matches no host: skipped"),
            );
            return None;
        }
        // NSC's includeSubdomains is the domain and every name under it: `**.`.
        Some(if subs { format!("**.{name}") } else { name })
    }

    fn pin_set(&mut self, cx: &mut Cx<'_>, c: Node<'_, '_>) -> (Vec<Pin>, Option<String>) {
        let at = self.line(c).to_string();
        self.unknown_attributes(cx, c);
        let expires = c.attribute("expiration").map(str::to_string);
        if let Some(d) = &expires
            && keypin::clock::Date::parse(d).is_err()
        {
            cx.problem(
                &at,
                format!(
                    "expiration on <pin-set> holds {d:?}; allowed: a yyyy-MM-dd date ({REFUSES})"
                ),
            );
        }
        let mut pins = Vec::new();
        for p in c.children().filter(Node::is_element) {
            let pl = self.line(p).to_string();
            if !p.has_tag_name("pin") {
                cx.notice(
                    &pl,
                    format!(
                        "<{}> in <pin-set> is not read by Android; skipped",
                        p.tag_name().name()
                    ),
                );
                continue;
            }
            if let Some(pin) = self.pin(cx, p) {
                push_pin(cx, &pl, &mut pins, pin);
            }
        }
        (pins, expires)
    }

    /// One `<pin>`, decoded as Android decodes it.
    fn pin(&mut self, cx: &mut Cx<'_>, p: Node<'_, '_>) -> Option<Pin> {
        let at = self.line(p).to_string();
        self.unknown_attributes(cx, p);
        match p.attribute("digest") {
            Some(d) if d.eq_ignore_ascii_case("SHA-256") => {}
            Some(d) => {
                cx.problem(
                    &at,
                    format!("digest on <pin> holds {d:?}; allowed: SHA-256 (in any letter case) ({REFUSES})"),
                );
                return None;
            }
            None => {
                cx.problem(
                    &at,
                    format!(
                        "<pin> has no digest attribute; allowed: digest=\"SHA-256\" ({REFUSES})"
                    ),
                );
                return None;
            }
        }
        if p.children().any(|n| n.is_element()) {
            cx.problem(&at, format!("<pin> contains other elements ({REFUSES})"));
            return None;
        }
        let text = text_of(p);
        let value = text.trim();
        if value.is_empty() {
            cx.problem(&at, format!("<pin> without a digest ({REFUSES})"));
            return None;
        }
        let decoded = match android_base64::decode(value) {
            Ok(d) => d,
            Err(why) => {
                cx.problem(
                    &at,
                    format!("<pin> holds {value:?}, which is not base64: {why} ({REFUSES})"),
                );
                return None;
            }
        };
        if decoded.bytes.len() != 32 {
            cx.problem(
                &at,
                format!(
                    "<pin> holds {value:?}, which decodes to {} bytes; a SHA-256 pin is the base64 of 32 bytes ({REFUSES}: \"digest length {} does not match expected length for SHA-256 of 32\"); write the bare base64 digest, without sha256/ and not in hex",
                    decoded.bytes.len(),
                    decoded.bytes.len()
                ),
            );
            return None;
        }
        let canonical = android_base64::canonical(&decoded.bytes);
        let compact: String = value.split_ascii_whitespace().collect();
        if compact != canonical {
            let skipped = if decoded.skipped.is_empty() {
                String::new()
            } else {
                format!(", skipping {:?}", decoded.skipped)
            };
            cx.notice(
                &at,
                format!("<pin> {value:?} is read by Android as {canonical}{skipped}; written canonically"),
            );
        }
        Pin::parse(&canonical)
            .map_err(|e| cx.problem(&at, e.to_string()))
            .ok()
    }

    fn trust_anchors(&mut self, cx: &mut Cx<'_>, c: Node<'_, '_>) {
        self.unknown_attributes(cx, c);
        for a in c.children().filter(Node::is_element) {
            let line = self.line(a);
            let at = line.to_string();
            if !a.has_tag_name("certificates") {
                cx.notice(
                    &at,
                    format!(
                        "<{}> in <trust-anchors> is not read by Android; skipped",
                        a.tag_name().name()
                    ),
                );
                continue;
            }
            self.unknown_attributes(cx, a);
            if boolean(cx, line, a, "overridePins") == Some(true) {
                cx.notice(
                    &at,
                    "overridePins=\"true\" lets a listed anchor skip pinning; keypin has no such bypass (imported stricter)".into(),
                );
            }
            match a.attribute("src") {
                None => cx.problem(&at, format!("<certificates> without src ({REFUSES})")),
                Some("system") => {}
                Some(src @ ("user" | "wfa")) => cx.notice(
                    &at,
                    format!("src=\"{src}\" adds Android's {src} CA store; keypin validates against its own roots, not these (stricter)"),
                ),
                Some(src) if src.starts_with('@') => cx.notice(
                    &at,
                    format!("src=\"{src}\" trusts the app's own CA file, which keypin cannot read from here: add it to the rule's trust_anchors (PEM), or chains to it fail in keypin (stricter)"),
                ),
                Some(src) => cx.problem(
                    &at,
                    format!("src on <certificates> holds {src:?}; allowed: system, user, wfa or a resource (@raw/...) ({REFUSES})"),
                ),
            }
        }
    }

    /// TrustKit-Android's `<trustkit-config>`: reporting settings, and `enforcePinning`.
    fn trustkit_config(&mut self, cx: &mut Cx<'_>, c: Node<'_, '_>) {
        let line = self.line(c);
        self.unknown_attributes(cx, c);
        if boolean(cx, line, c, "enforcePinning") == Some(false) {
            cx.notice(
                &line.to_string(),
                "trustkit-config enforcePinning=\"false\" only turns off TrustKit's own checks; Android 7+ enforces every <pin-set> itself, so the pins are imported as enforced".into(),
            );
        }
        let _ = boolean(cx, line, c, "disableDefaultReportUri");
        for r in c.children().filter(Node::is_element) {
            let what = match r.tag_name().name() {
                "report-uri" => format!(
                    "TrustKit report-uri {} is not imported (add it to the rule's report_uris to keep reporting); skipped",
                    text_of(r).trim()
                ),
                other => format!("<{other}> in <trustkit-config> is not read; skipped"),
            };
            cx.notice(&self.line(r).to_string(), what);
        }
    }
}

/// The text of `node` (every text child joined, as the XML pull parser reports it).
fn text_of(node: Node<'_, '_>) -> String {
    node.children()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect()
}
