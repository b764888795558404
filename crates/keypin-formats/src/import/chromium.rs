//! Chromium's static pins → rules: `transport_security_state_static.json` (HSTS entries, some
//! naming a pinset; `//` and `/* */` comments allowed, as Chromium's JSON reader allows them)
//! with its `.pins` file (the SPKI values, by name: `sha256/...` lines or PEM certificates and
//! public keys), or keypin's own single-file export (values inline in `spki_hashes`).

use std::collections::HashMap;

use keypin::pin::Pin;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};

use super::{Cx, MAX_INPUT_BYTES, PinsFile, RawRule, push_pin};
use crate::budget::{Budget, count_json};
use crate::export::Notice;

pub(super) fn rules(cx: &mut Cx<'_>, bytes: &[u8], pins_file: Option<&PinsFile>) -> Vec<RawRule> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        cx.problem("1", "not UTF-8 text".into());
        return Vec::new();
    };
    let json = strip_comments(text);
    if let Err(e) = count_json(json.as_bytes()) {
        cx.problem("1", e.to_string());
        return Vec::new();
    }
    let v: serde_json::Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => {
            cx.problem(&e.line().to_string(), format!("not valid JSON: {e}"));
            return Vec::new();
        }
    };
    let named = match pins_file {
        Some(f) => read_pins_file(cx, f),
        None => HashMap::new(),
    };
    let inline = v.get("spki_hashes").and_then(serde_json::Value::as_object);
    let sets = pinsets(cx, &v, inline, &named, pins_file.is_some());
    let mut rules = Vec::new();
    for (i, e) in v["entries"].as_array().into_iter().flatten().enumerate() {
        let Some(set_name) = e["pins"].as_str() else {
            continue; // an HSTS-only entry: nothing pinned
        };
        let Some(name) = e["name"].as_str() else {
            cx.problem(&format!("entries[{i}]"), "entry without a name".into());
            continue;
        };
        let path = format!("entries[{i}] {name}");
        let (set, bad_pins) = match sets.get(set_name) {
            Some(Ok((pins, bad))) => (pins, bad),
            Some(Err(why)) => {
                rules.push(RawRule {
                    origin: path,
                    refused: Some(format!("pinset {set_name:?}: {why}; entry not imported")),
                    ..RawRule::default()
                });
                continue;
            }
            None => {
                cx.problem(&path, format!("unknown pinset {set_name:?}"));
                continue;
            }
        };
        // include_subdomains covers HSTS and pinning; older lists had a pinning-only flag.
        let subs = e["include_subdomains"].as_bool().unwrap_or(false)
            || e["include_subdomains_for_pinning"]
                .as_bool()
                .unwrap_or(false);
        rules.push(RawRule {
            origin: path,
            hosts: vec![if subs {
                format!("**.{name}")
            } else {
                name.to_string()
            }],
            pins: set.clone(),
            expires: None,
            report_only: false,
            require_sct: None,
            refused: None,
            bad_pins: bad_pins.clone(),
            ..RawRule::default()
        });
    }
    rules
}

/// A pinset's pins and bad pins.
type PinSet = (Vec<Pin>, Vec<Pin>);

/// Where the values of a pinset's key names are: keypin's inline `spki_hashes`, or the
/// `.pins` file.
struct Keys<'a> {
    inline: Option<&'a serde_json::Map<String, serde_json::Value>>,
    named: &'a HashMap<String, Result<Pin, String>>,
    have_pins_file: bool,
}

impl Keys<'_> {
    /// The pins named in `set[list]`; a key that has no pin (SHA-1, a certificate that does
    /// not parse) sets `bad` to why the set cannot be imported.
    fn resolve(
        &self,
        cx: &mut Cx<'_>,
        set: &serde_json::Value,
        list: &str,
        path: &str,
        bad: &mut Option<String>,
    ) -> Vec<Pin> {
        let mut pins = Vec::new();
        for (j, n) in set[list].as_array().into_iter().flatten().enumerate() {
            let hp = format!("{path}.{list}[{j}]");
            let hash_name = n.as_str().unwrap_or_default();
            if let Some(value) = self
                .inline
                .and_then(|h| h.get(hash_name))
                .and_then(serde_json::Value::as_str)
            {
                if let Some(p) = cx.pin(&hp, value) {
                    push_pin(cx, &hp, &mut pins, p);
                }
                continue;
            }
            match self.named.get(hash_name) {
                Some(Ok(p)) => push_pin(cx, &hp, &mut pins, *p),
                Some(Err(why)) => *bad = Some(format!("its key {hash_name:?} {why}")),
                None if self.have_pins_file => cx.problem(
                    &hp,
                    format!("{hash_name:?} is in neither the .pins file nor \"spki_hashes\""),
                ),
                None => cx.problem(
                    &hp,
                    format!("no value for {hash_name:?}: Chromium keeps them in its .pins file; pass it with --pins FILE.pins"),
                ),
            }
        }
        pins
    }
}

/// Every pinset by name: its pins and bad pins, or why its entries cannot be imported.
fn pinsets(
    cx: &mut Cx<'_>,
    v: &serde_json::Value,
    inline: Option<&serde_json::Map<String, serde_json::Value>>,
    named: &HashMap<String, Result<Pin, String>>,
    have_pins_file: bool,
) -> HashMap<String, Result<PinSet, String>> {
    let mut sets = HashMap::new();
    for (i, set) in v["pinsets"].as_array().into_iter().flatten().enumerate() {
        let path = format!("pinsets[{i}]");
        let name = set["name"].as_str().unwrap_or_default().to_string();
        if let Some(uri) = set["report_uri"].as_str() {
            cx.notice(
                &path,
                format!("pinset {name:?}: report_uri {uri} is not imported (add it to the rules' report_uris to keep reporting)"),
            );
        }
        let keys = Keys {
            inline,
            named,
            have_pins_file,
        };
        let mut bad = None;
        let pins = keys.resolve(cx, set, "static_spki_hashes", &path, &mut bad);
        // Keys that must never be on the path: a chain carrying one is refused even when a
        // good pin matches (keypin's bad_pins).
        let bad_pins = keys.resolve(cx, set, "bad_static_spki_hashes", &path, &mut bad);
        sets.insert(name, bad.map_or(Ok((pins, bad_pins)), Err));
    }
    sets
}

/// Chromium's `.pins` file: `name` lines, each followed by `sha256/<base64>` or a PEM
/// `CERTIFICATE` or `PUBLIC KEY` block; `#` comments; a `PinsListTimestamp` entry. Each name
/// maps to its pin, or to why it has none (a SHA-1 hash, a certificate that does not parse);
/// only pinsets that use such a name are refused.
fn read_pins_file(cx: &mut Cx<'_>, file: &PinsFile) -> HashMap<String, Result<Pin, String>> {
    let mut out = HashMap::new();
    let fail = |cx: &mut Cx<'_>, line: usize, message: String| {
        cx.problems.push(Notice {
            location: format!("{}:{line}", file.name),
            message,
        });
    };
    if file.bytes.len() > MAX_INPUT_BYTES {
        fail(
            cx,
            1,
            format!("over the {MAX_INPUT_BYTES}-byte limit for pin files"),
        );
        return out;
    }
    let Ok(text) = std::str::from_utf8(&file.bytes) else {
        fail(cx, 1, "not UTF-8 text".into());
        return out;
    };
    let mut budget = Budget::default();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end()))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    while let Some((n, name)) = lines.next() {
        if let Err(e) = budget.node() {
            fail(cx, n, e.to_string());
            return out;
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            fail(cx, n, format!("expected the name of a key, found {name:?}"));
            return out;
        }
        let Some((vn, value)) = lines.next() else {
            fail(cx, n, format!("{name} has no value"));
            return out;
        };
        if name == "PinsListTimestamp" {
            cx.notices.push(Notice {
                location: format!("{}:{vn}", file.name),
                message: "Chromium stops enforcing its static pins 70 days after PinsListTimestamp; the imported pins do not expire (stricter)".into(),
            });
            continue;
        }
        let pin = if value.starts_with("-----BEGIN ") {
            let mut pem = format!("{value}\n");
            let end = value.replacen("BEGIN", "END", 1);
            loop {
                let Some((_, l)) = lines.next() else {
                    fail(cx, vn, format!("{name}: {value} without {end}"));
                    return out;
                };
                if budget.string(l.len()).is_err() {
                    fail(cx, vn, "the pins file is too large".into());
                    return out;
                }
                pem.push_str(l);
                pem.push('\n');
                if l == end {
                    break;
                }
            }
            pem_pin(value, pem.as_bytes())
        } else {
            Pin::parse(value).map_err(|e| format!("(line {vn}) {e}"))
        };
        if out.insert(name.to_string(), pin).is_some() {
            fail(cx, n, format!("{name} is defined twice"));
        }
    }
    out
}

/// The SPKI pin of a PEM certificate or public key from the `.pins` file.
fn pem_pin(begin: &str, pem: &[u8]) -> Result<Pin, String> {
    match begin {
        "-----BEGIN CERTIFICATE-----" => CertificateDer::from_pem_slice(pem)
            .map_err(|e| format!("is not a PEM certificate ({e})"))
            .and_then(|c| {
                Pin::spki_of_cert(&c)
                    .map_err(|e| format!("is a certificate keypin cannot read ({e})"))
            }),
        "-----BEGIN PUBLIC KEY-----" => SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map(|k| Pin::from_spki_der(k.as_ref()))
            .map_err(|e| format!("is not a PEM public key ({e})")),
        other => Err(format!(
            "is a {other} block; expected a CERTIFICATE or PUBLIC KEY"
        )),
    }
}

/// `text` with `//` and `/* */` comments outside strings blanked out (newlines kept, so JSON
/// errors keep their line numbers).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}
