//! iOS Info.plist (`NSAppTransportSecurity` / `NSPinnedDomains`) and TrustKit plists → rules.

use super::{Cx, ImportFormat, RawRule, push_pin};
use crate::budget::read_plist;

pub(super) fn rules(cx: &mut Cx<'_>, bytes: &[u8], format: ImportFormat) -> Vec<RawRule> {
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
                                push_pin(cx, &ip, &mut pins, p);
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
        // iOS matches CA identities only on CA certificates and leaf identities only on the
        // leaf; with both lists, a match in each is required.
        let (pins, pin_position, leaf_pins) = match lists.as_slice() {
            [] => {
                cx.problem(
                    &path,
                    "neither NSPinnedCAIdentities nor NSPinnedLeafIdentities".into(),
                );
                continue;
            }
            [("NSPinnedCAIdentities", pins)] => (pins.clone(), "ca", Vec::new()),
            [(_, pins)] => (pins.clone(), "leaf", Vec::new()),
            [(_, ca), (_, leaf), ..] => (ca.clone(), "ca", leaf.clone()),
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
            require_sct: None,
            refused: None,
            bad_pins: Vec::new(),
            pin_position: Some(pin_position),
            leaf_pins,
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
                                push_pin(cx, &ip, &mut pins, p);
                            }
                        }
                        None => cx.problem(&ip, "not a string".into()),
                    }
                }
            }
            None => cx.problem(&path, "TSKPublicKeyHashes missing or not an array".into()),
        }
        // TrustKit raises at initialisation for an enforced domain with fewer than two pins
        // ("less than 2 pins (ie. no backup pins)"): the file does not work on the platform.
        if enforce && pins.len() == 1 {
            cx.problem(
                &path,
                "one pin with TSKEnforcePinning: TrustKit refuses this configuration at initialisation (it requires a backup pin when enforcing), so the app never pins with it; add the backup pin".into(),
            );
            continue;
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
            require_sct: None,
            refused: None,
            bad_pins: Vec::new(),
            ..RawRule::default()
        });
    }
    rules
}
