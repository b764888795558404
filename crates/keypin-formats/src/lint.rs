//! Findings about a pin policy: what will brick an app at the next rotation, or stop
//! protecting it, before users feel it.
//!
//! Static findings need only the policy; live findings also need what each host serves now
//! ([`LiveChain`], gathered by the caller).

use core::fmt;

use std::collections::BTreeSet;

use keypin::policy::{Mode, PinPosition, PolicyError, Rule};
use keypin::{Policy, pin::Pin, pin::PinKind};
use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Will hurt at some point (a rotation, an expiry).
    Warning,
    /// Broken or unsafe now.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id, like `KP012`.
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Where (`policy.toml:7`, or `network_security_config.xml:12`).
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {} (fix: {})",
            self.location, self.severity, self.id, self.message, self.fix
        )
    }
}

/// One certificate a host serves now, on its verified path.
#[derive(Clone, Debug)]
pub struct LiveCert {
    /// SPKI pin.
    pub pin: Pin,
    /// Is it the leaf?
    pub is_leaf: bool,
    /// Subject, for messages.
    pub subject: String,
    /// The issuer's organisation (O=), for CA-operator findings.
    pub issuer_org: Option<String>,
    /// The certificate's whole lifetime in days (not after − not before).
    pub lifetime_days: i64,
}

/// What one host of a rule serves now.
#[derive(Clone, Debug)]
pub struct LiveChain {
    /// The host connected to.
    pub host: String,
    /// The verified path, leaf first.
    pub path: Vec<LiveCert>,
}

/// Options.
#[derive(Clone, Debug)]
pub struct LintOptions {
    /// Warn when a pin set expires within this many days.
    pub expiry_warning_days: i64,
    /// Today, Unix seconds.
    pub now_secs: i64,
    /// The pins of the spare keys and CSRs you hold (`--spare-keys DIR`), if given: with live
    /// chains, a pin that is neither served nor held is unused (KP031).
    pub held_keys: Option<BTreeSet<Pin>>,
}

/// Leaves issued for less than this many days count as short-lived.
const SHORT_LIVED_DAYS: i64 = 100;

/// CA operators that rotate their intermediates on purpose, so pinning only an intermediate
/// breaks at their next rotation.
const ROTATING_INTERMEDIATES: &[&str] = &["Let's Encrypt", "Google Trust Services", "ZeroSSL"];

/// Static findings for `policy`, plus live ones for each rule's chains
/// (`live[i]` belongs to rule `i`; an empty list means "not checked live").
pub fn lint(policy: &Policy, live: &[Vec<LiveChain>], options: &LintOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, rule) in policy.rules().iter().enumerate() {
        let at = format!("{}:{}", policy.source_name(), rule.line());
        static_rule(rule, &at, options, &mut out);
        let chains = live.get(i).map(Vec::as_slice).unwrap_or_default();
        for chain in chains {
            live_rule(rule, &at, chain, &mut out);
        }
        if !chains.is_empty()
            && let Some(held) = &options.held_keys
        {
            unused_pins(rule, &at, chains, held, &mut out);
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.location.cmp(&b.location))
    });
    out
}

/// Findings for a policy that did not load: each problem the loader found, with its location.
/// A pin listed twice gets its own id (KP030): it looks like a backup and is none.
pub fn load_findings(err: &PolicyError) -> Vec<Finding> {
    err.diagnostics
        .iter()
        .map(|d| {
            let duplicate_pin =
                d.message.starts_with("pin ") && d.message.ends_with("listed twice");
            Finding {
                id: if duplicate_pin { "KP030" } else { "KP000" },
                severity: Severity::Error,
                location: format!("{}:{}", err.source_name, d.line.unwrap_or(0)),
                message: format!(
                    "{}{}{}",
                    d.field
                        .as_deref()
                        .map(|f| format!("{f}: "))
                        .unwrap_or_default(),
                    d.message,
                    if duplicate_pin {
                        "; it counts once, so this rule has one pin fewer than it shows"
                    } else {
                        ""
                    }
                ),
                fix: d
                    .hint
                    .clone()
                    .unwrap_or_else(|| "correct the policy".into()),
            }
        })
        .collect()
}

/// KP031: with the served chains and the keys you hold, a pin that matches neither backs up
/// nothing: no server presents it and nobody can deploy its key.
fn unused_pins(
    rule: &Rule,
    at: &str,
    chains: &[LiveChain],
    held: &BTreeSet<Pin>,
    out: &mut Vec<Finding>,
) {
    // A certificate-hash pin names one certificate, not a key anyone holds: not judged here.
    for pin in rule.pins().iter().filter(|p| p.kind() == PinKind::Spki) {
        let served = chains
            .iter()
            .any(|c| c.path.iter().any(|cert| cert.pin == *pin));
        if !served && !held.contains(pin) {
            let hosts: Vec<&str> = chains.iter().map(|c| c.host.as_str()).collect();
            out.push(Finding {
                id: "KP031",
                severity: Severity::Warning,
                location: at.to_string(),
                message: format!(
                    "pin {pin} is unused: {} never serve it and no key or CSR in the spare-keys directory has it, so it backs up nothing",
                    hosts.join(", ")
                ),
                fix: "replace it with the pin of a spare key you hold (`keypin pin spare.key`), or remove it".into(),
            });
        }
    }
}

fn static_rule(rule: &Rule, at: &str, options: &LintOptions, out: &mut Vec<Finding>) {
    let hosts: Vec<String> = rule.hosts().iter().map(ToString::to_string).collect();
    let hosts = hosts.join(", ");
    if rule.pins().len() < 2 {
        let opted_out = rule.mode() == Mode::Enforce && rule.single_pin_may_brick();
        out.push(Finding {
            id: "KP001",
            severity: if rule.mode() == Mode::Enforce && !opted_out {
                Severity::Error
            } else {
                Severity::Warning
            },
            location: at.to_string(),
            message: if opted_out {
                format!(
                    "{hosts}: one pin and no backup, enforced (single_pin_may_brick = true); losing or replacing that key breaks every client until new pins ship"
                )
            } else {
                format!("{hosts}: one pin and no backup; the next key rotation breaks every client")
            },
            fix: "add the pin of a spare key kept offline (`keypin pin spare.key`), then remove single_pin_may_brick".into(),
        });
    }
    suffix_and_bad_pins(rule, at, &hosts, out);
    if let Some(expires) = rule.expires() {
        let end = expires.start_secs() + 86_400;
        let days_left = (end - options.now_secs).div_euclid(86_400);
        if days_left < 0 {
            out.push(Finding {
                id: "KP010",
                severity: Severity::Error,
                location: at.to_string(),
                message: format!(
                    "{hosts}: the pin set expired after {expires}; clients no longer enforce it"
                ),
                fix: "ship a new pin set with a later expires".into(),
            });
        } else if days_left <= options.expiry_warning_days {
            out.push(Finding {
                id: "KP011",
                severity: Severity::Warning,
                location: at.to_string(),
                message: format!("{hosts}: the pin set expires in {days_left} days ({expires})"),
                fix: "ship a new pin set before then; apps in the field need time to update".into(),
            });
        }
    }
    if rule.mode() == Mode::ReportOnly {
        out.push(Finding {
            id: "KP050",
            severity: Severity::Info,
            location: at.to_string(),
            message: format!("{hosts}: report-only; a man in the middle is reported, not stopped"),
            fix: "switch to mode = \"enforce\" once reports are clean".into(),
        });
    }
}

/// KP002: patterns on a public suffix (loaded under `public_suffix_covers_others`); KP032: a
/// key listed both as a pin and as a bad pin (a path carrying it is never pinned).
fn suffix_and_bad_pins(rule: &Rule, at: &str, hosts: &str, out: &mut Vec<Finding>) {
    let spanning: Vec<String> = rule
        .hosts()
        .iter()
        .filter(|h| h.spans_public_suffix())
        .map(ToString::to_string)
        .collect();
    if !spanning.is_empty() {
        out.push(Finding {
            id: "KP002",
            severity: Severity::Warning,
            location: at.to_string(),
            message: format!(
                "{}: on a public suffix (public_suffix_covers_others = true): these pins apply to every site registered under it, including other parties' sites",
                spanning.join(", ")
            ),
            fix: "pin your own registrable domains instead, unless you run the suffix".into(),
        });
    }
    for pin in rule.pins().iter().filter(|p| rule.is_bad_pin(p)) {
        out.push(Finding {
            id: "KP032",
            severity: Severity::Error,
            location: at.to_string(),
            message: format!(
                "{hosts}: {pin} is both a pin and a bad pin; a path carrying it is never pinned, so it backs up nothing"
            ),
            fix: "remove it from pins or from bad_pins".into(),
        });
    }
}

fn live_rule(rule: &Rule, at: &str, chain: &LiveChain, out: &mut Vec<Finding>) {
    let on_path = |p: &Pin| chain.path.iter().position(|c| c.pin == *p);
    // A pin counts only at the rule's pin_position, and with leaf_pins only when the leaf
    // carries one of them too: what the verifier accepts.
    let position = rule.pin_position();
    let leaf_ok = rule.leaf_pins().is_empty()
        || chain
            .path
            .first()
            .is_some_and(|c| c.is_leaf && rule.leaf_pins().contains(&c.pin));
    let matched: Vec<(usize, &LiveCert)> = rule
        .pins()
        .iter()
        .filter_map(|p| on_path(p).map(|i| (i, &chain.path[i])))
        .filter(|(_, c)| match position {
            PinPosition::Any => true,
            PinPosition::Leaf => c.is_leaf,
            PinPosition::Ca => !c.is_leaf,
        })
        .filter(|_| leaf_ok)
        .collect();
    let host = &chain.host;
    if matched.is_empty() {
        out.push(Finding {
            id: "KP020",
            severity: Severity::Error,
            location: at.to_string(),
            message: format!(
                "{host}: no pin matches what the server serves now; enforcing clients are refused"
            ),
            fix: format!("add the current pin (`keypin inspect {host}`) or fix the server's chain"),
        });
        return;
    }
    if matched.len() == rule.pins().len() {
        out.push(Finding {
            id: "KP021",
            severity: Severity::Warning,
            location: at.to_string(),
            message: format!(
                "{host}: every pin is a key the server serves now, so none is a backup; losing or rotating that chain bricks clients"
            ),
            fix: "add the pin of a key that is not deployed (a spare key or a CSR)".into(),
        });
    }
    if matched.iter().all(|(_, c)| c.is_leaf)
        && matched
            .iter()
            .all(|(_, c)| c.lifetime_days < SHORT_LIVED_DAYS)
    {
        let days = matched.first().map_or(0, |(_, c)| c.lifetime_days);
        out.push(Finding {
            id: "KP022",
            severity: Severity::Warning,
            location: at.to_string(),
            message: format!(
                "{host}: only the leaf is pinned, and it lives {days} days; unless every renewal keeps the key, clients break at renewal"
            ),
            fix: "reuse the key at renewal, or pin your CA's key or a spare key as well".into(),
        });
    }
    let only_intermediates = matched
        .iter()
        .all(|(i, _)| *i > 0 && *i + 1 < chain.path.len());
    if only_intermediates
        && let Some(op) = matched.iter().find_map(|(_, c)| {
            c.issuer_org
                .as_deref()
                .filter(|o| ROTATING_INTERMEDIATES.iter().any(|r| o.contains(r)))
                .or_else(|| {
                    ROTATING_INTERMEDIATES
                        .iter()
                        .copied()
                        .find(|r| c.subject.contains(r))
                })
        })
    {
        out.push(Finding {
            id: "KP023",
            severity: Severity::Warning,
            location: at.to_string(),
            message: format!(
                "{host}: only an intermediate of {op} is pinned, and {op} rotates intermediates on purpose"
            ),
            fix: "pin the root or your own key (with a spare) instead".into(),
        });
    }
    let ca_orgs: Vec<&str> = matched
        .iter()
        .filter(|(_, c)| !c.is_leaf)
        .filter_map(|(_, c)| c.issuer_org.as_deref())
        .collect();
    let unmatched = rule.pins().len() - matched.len();
    if unmatched == 0
        && !ca_orgs.is_empty()
        && matched.iter().all(|(_, c)| !c.is_leaf)
        && ca_orgs.windows(2).all(|w| w[0] == w[1])
    {
        out.push(Finding {
            id: "KP024",
            severity: Severity::Warning,
            location: at.to_string(),
            message: format!(
                "{host}: every pin is a key of one CA operator ({}); if that CA fails or you leave it, clients break",
                ca_orgs[0]
            ),
            fix: "add a pin for a second CA or for your own spare key".into(),
        });
    }
}

/// Android NSC findings that only the XML shows: cleartext allowed for a pinned domain (KP040).
pub fn nsc_findings(text: &str, source_name: &str) -> Vec<Finding> {
    let Ok(doc) = crate::budget::read_xml(text) else {
        return Vec::new(); // the import reports the parse error with its line, or the budget
    };
    let base_cleartext = doc
        .root_element()
        .children()
        .find(|c| c.has_tag_name("base-config"))
        .and_then(|b| b.attribute("cleartextTrafficPermitted"))
        == Some("true");
    let mut out = Vec::new();
    for dc in doc
        .descendants()
        .filter(|n| n.has_tag_name("domain-config"))
    {
        let pinned = dc
            .children()
            .any(|c| c.has_tag_name("pin-set") && c.children().any(|p| p.has_tag_name("pin")));
        // cleartextTrafficPermitted is inherited from enclosing configs, then base-config.
        let cleartext = dc
            .ancestors()
            .find_map(|a| a.attribute("cleartextTrafficPermitted"))
            .map_or(base_cleartext, |v| v == "true");
        if pinned && cleartext {
            let line = doc.text_pos_at(dc.range().start).row;
            let domains: Vec<&str> = dc
                .children()
                .filter(|c| c.has_tag_name("domain"))
                .filter_map(|d| d.text())
                .collect();
            out.push(Finding {
                id: "KP040",
                severity: Severity::Error,
                location: format!("{source_name}:{line}"),
                message: format!(
                    "{}: cleartext (http://) is permitted for a pinned domain; an attacker can skip TLS, and the pins, entirely",
                    domains.join(", ")
                ),
                fix: "set cleartextTrafficPermitted=\"false\" on this domain-config".into(),
            });
        }
    }
    out
}
