//! `keypin monitor POLICY...`: every host of the policies, checked concurrently against what
//! it serves now. Per host: which pin matched and where, days until the certificate and the
//! pin set expire, whether backup pins are keys you hold, and which policies (app versions in
//! the field) the live chain satisfies.
//!
//! Exit codes: 0 every host satisfies every policy; 1 a pin mismatch; 3 a host could not be
//! reached or its chain did not validate (takes precedence).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, anyhow};
use keypin::{
    Policy, host::HostPattern, pin::Pin, verify::PinningVerifier, verify::Position,
    verify::Verdict, verify::VerifyError,
};
use serde::Serialize;

use crate::args::{ConnectArgs, MonitorArgs};
use crate::net::{fetch_chain, resolve_map, roots, target_of, verifier};
use crate::{Failure, exit};
use keypin_inspect::fetch::Target;

#[derive(Debug, Serialize)]
struct PolicyVerdict {
    policy: String,
    /// `pass`, `report-only-mismatch`, `mismatch`, or `not-covered`.
    verdict: &'static str,
    matched_pin: Option<String>,
    position: Option<String>,
    /// Days until this policy's rule for the host expires (negative: expired).
    pin_set_days_left: Option<i64>,
}

#[derive(Debug, Serialize)]
struct BackupPin {
    pin: String,
    /// Whether a key or CSR in --spare-keys has this pin (absent without --spare-keys).
    held: Option<bool>,
}

#[derive(Debug, Serialize)]
struct HostReport {
    host: String,
    connected_to: Option<String>,
    error: Option<String>,
    cert_days_left: Option<i64>,
    policies: Vec<PolicyVerdict>,
    /// Pins of the first covering policy that are not on the served path: the backups.
    backup_pins: Vec<BackupPin>,
}

pub(crate) fn run(args: MonitorArgs) -> Result<u8, Failure> {
    if args.concurrency == 0 {
        return Err(Failure::usage(anyhow!("--concurrency must be at least 1")));
    }
    let policies: Vec<(String, Arc<Policy>)> = args
        .policies
        .iter()
        .map(|p| {
            Policy::from_file(p)
                .map(|pol| (p.display().to_string(), Arc::new(pol)))
                .map_err(|e| anyhow!(e))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut resolve = resolve_map(&args.resolve)?;
    if let Some(f) = &args.resolve_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (host, addr) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| anyhow!("{}:{}: expected `HOST ADDR:PORT`", f.display(), n + 1))?;
            resolve.insert(host.to_ascii_lowercase(), addr.trim().to_string());
        }
    }
    let spare = match &args.spare_keys {
        Some(dir) => Some(super::spare_pins(dir)?),
        None => None,
    };

    // Every exactly named host of every policy, once.
    let mut hosts = BTreeSet::new();
    for (_, p) in &policies {
        for rule in p.rules() {
            for h in rule.hosts() {
                match h {
                    HostPattern::Exact(name) => {
                        hosts.insert(name.to_string());
                    }
                    other => eprintln!(
                        "keypin: note: {other}: a pattern, not a host; monitor the names it covers explicitly"
                    ),
                }
            }
        }
    }
    let targets: Vec<Target> = hosts
        .iter()
        .map(|h| {
            target_of(&ConnectArgs {
                target: format!("{h}:{}", args.port),
                connect: resolve.get(h).cloned(),
                ca_files: args.ca_files.clone(),
                timeout: args.timeout,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let roots = match targets.first() {
        Some(_) => roots(&args.ca_files)?,
        None => {
            return Err(Failure::usage(anyhow!(
                "the policies name no host to monitor"
            )));
        }
    };
    let verifiers: Vec<(String, Arc<Policy>, PinningVerifier)> = policies
        .iter()
        .map(|(name, p)| {
            (
                name.clone(),
                p.clone(),
                verifier((**p).clone(), roots.clone()),
            )
        })
        .collect();

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(targets.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} hosts {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });

    // Bounded concurrency: a fixed number of workers take hosts from a shared queue.
    let queue = Mutex::new(targets.iter().enumerate().collect::<Vec<_>>());
    let results: Mutex<Vec<(usize, HostReport)>> = Mutex::new(Vec::new());
    let now = rustls_pki_types::UnixTime::now();
    std::thread::scope(|s| {
        for _ in 0..args.concurrency.min(targets.len()) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop());
                    let Some((i, target)) = next else { break };
                    let report = check_host(target, &verifiers, spare.as_ref(), now);
                    if let Some(bar) = &progress {
                        bar.inc(1);
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push((i, report));
                    }
                }
            });
        }
    });
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let mut results = results
        .into_inner()
        .map_err(|_| anyhow!("internal error: a monitor worker panicked"))?;
    results.sort_by_key(|(i, _)| *i);
    let reports: Vec<HostReport> = results.into_iter().map(|(_, r)| r).collect();

    if args.json {
        let text = serde_json::to_string_pretty(&reports).map_err(|e| anyhow!(e))?;
        say!("{text}");
    } else {
        print_table(&reports);
    }
    if let Some(path) = &args.html {
        crate::cmd::export::emit(Some(path), &html(&reports))?;
    }
    let code = if reports.iter().any(|r| r.error.is_some()) {
        exit::CONNECT
    } else if reports
        .iter()
        .flat_map(|r| &r.policies)
        .any(|p| p.verdict == "mismatch" || p.verdict == "report-only-mismatch")
    {
        exit::MISMATCH
    } else {
        0
    };
    Ok(code)
}

fn check_host(
    target: &Target,
    verifiers: &[(String, Arc<Policy>, PinningVerifier)],
    spare: Option<&BTreeSet<Pin>>,
    now: rustls_pki_types::UnixTime,
) -> HostReport {
    let mut report = HostReport {
        host: target.host.clone(),
        connected_to: None,
        error: None,
        cert_days_left: None,
        policies: Vec::new(),
        backup_pins: Vec::new(),
    };
    let fetched = match fetch_chain(target) {
        Ok(f) => f,
        Err(e) => {
            report.error = Some(format!("{:#}", e.error));
            return report;
        }
    };
    report.connected_to = Some(fetched.peer.to_string());
    report.cert_days_left =
        keypin_inspect::cert::describe_cert(fetched.leaf.as_ref(), now.as_secs() as i64)
            .ok()
            .map(|c| c.days_left);
    let mut on_path: Option<Vec<Pin>> = None;
    for (name, policy, v) in verifiers {
        let Some(rule) = policy.rule_for(&target.host) else {
            report.policies.push(PolicyVerdict {
                policy: name.clone(),
                verdict: "not-covered",
                matched_pin: None,
                position: None,
                pin_set_days_left: None,
            });
            continue;
        };
        let pin_set_days_left = rule
            .expires()
            .map(|d| (d.start_secs() + 86_400 - now.as_secs() as i64).div_euclid(86_400));
        let outcome =
            v.verify_chain_described(&fetched.leaf, &fetched.rest, &target.server_name, now);
        if on_path.is_none()
            && let Ok((_, path)) = &outcome
        {
            let pins: Vec<Pin> = path.iter().map(|e| e.spki_pin).collect();
            report.backup_pins = rule
                .pins()
                .iter()
                .filter(|p| !pins.contains(p))
                .map(|p| BackupPin {
                    pin: p.to_string(),
                    held: spare.map(|s| s.contains(p)),
                })
                .collect();
            on_path = Some(pins);
        }
        let (verdict, matched_pin, position) = match outcome {
            Ok((Verdict::Matched(m), _)) => (
                "pass",
                Some(m.pin.to_string()),
                Some(position_name(m.position)),
            ),
            Ok((Verdict::ReportOnlyMismatch(_), _)) => ("report-only-mismatch", None, None),
            Ok(_) => ("not-covered", None, None),
            Err(VerifyError::PinMismatch(_)) => ("mismatch", None, None),
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        report.policies.push(PolicyVerdict {
            policy: name.clone(),
            verdict,
            matched_pin,
            position,
            pin_set_days_left,
        });
    }
    report
}

fn position_name(p: Position) -> String {
    match p {
        Position::Leaf => "leaf".into(),
        Position::Intermediate(i) => format!("intermediate {}", i + 1),
        Position::TrustAnchor => "trust anchor".into(),
    }
}

fn print_table(reports: &[HostReport]) {
    for r in reports {
        match &r.error {
            Some(e) => say!("{:<32} ERROR {e}", r.host),
            None => {
                let cert = r.cert_days_left.map_or("?".into(), |d| format!("{d}d"));
                say!("{:<32} cert expires in {cert}", r.host);
                for p in &r.policies {
                    let pins = p
                        .pin_set_days_left
                        .map_or(String::new(), |d| format!(", pin set expires in {d}d"));
                    let how = match (&p.matched_pin, &p.position) {
                        (Some(pin), Some(pos)) => format!(" by {pin} ({pos})"),
                        _ => String::new(),
                    };
                    say!(
                        "    {:<24} {}{how}{pins}",
                        p.policy,
                        p.verdict.to_uppercase()
                    );
                }
                for b in &r.backup_pins {
                    let held = match b.held {
                        Some(true) => " (key held)",
                        Some(false) => " (NO KEY HELD for this backup pin)",
                        None => "",
                    };
                    say!("    backup {}{held}", b.pin);
                }
            }
        }
    }
    let mut by_policy: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for p in reports.iter().flat_map(|r| &r.policies) {
        let e = by_policy.entry(&p.policy).or_default();
        e.1 += 1;
        if p.verdict == "pass" || p.verdict == "not-covered" {
            e.0 += 1;
        }
    }
    for (policy, (ok, all)) in by_policy {
        say!("{policy}: {ok}/{all} hosts satisfied");
    }
}

fn html(reports: &[HostReport]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut h = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>keypin monitor</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.pass{color:#070}.mismatch,.error{color:#b00}</style></head><body>\n<h1>keypin monitor</h1>\n",
    );
    // Expiry timeline: one bar per host up to its certificate expiry, and a marker at the
    // earliest pin-set expiry; the scale is the longest horizon shown.
    let horizon = reports
        .iter()
        .flat_map(|r| {
            r.cert_days_left
                .into_iter()
                .chain(r.policies.iter().filter_map(|p| p.pin_set_days_left))
        })
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let row_h = 22;
    let _ = write!(
        h,
        "<h2>Expiry timeline</h2>\n<svg id=\"timeline\" width=\"900\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\n",
        reports.len() * row_h + 30
    );
    for (i, r) in reports.iter().enumerate() {
        let y = i * row_h + 10;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 13,
            esc(&r.host)
        );
        if let Some(d) = r.cert_days_left {
            let w = (d.max(0) as f64 / horizon * 600.0).round();
            let colour = if d < 30 { "#d55" } else { "#5a5" };
            let _ = write!(
                h,
                "<rect class=\"cert\" x=\"250\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"{colour}\"><title>certificate: {d} days left</title></rect>"
            );
        }
        if let Some(d) = r.policies.iter().filter_map(|p| p.pin_set_days_left).min() {
            let x = 250.0 + (d.max(0) as f64 / horizon * 600.0).round();
            let _ = write!(
                h,
                "<line class=\"pinset\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\" stroke=\"#00c\" stroke-width=\"3\"><title>pin set: {d} days left</title></line>",
                y.saturating_sub(2),
                y + 18
            );
        }
        h.push('\n');
    }
    let _ = writeln!(
        h,
        "<text x=\"250\" y=\"{}\" font-size=\"11\">today</text><text x=\"790\" y=\"{}\" font-size=\"11\">+{horizon} days</text></svg>",
        reports.len() * row_h + 25,
        reports.len() * row_h + 25
    );
    h.push_str("<p>Bars: certificate validity left. Blue marks: pin-set expiry.</p>\n<h2>Hosts</h2>\n<table><tr><th>host</th><th>certificate</th><th>policy</th><th>verdict</th><th>matched pin</th><th>pin set</th></tr>\n");
    for r in reports {
        if let Some(e) = &r.error {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td colspan=\"5\" class=\"error\">{}</td></tr>",
                esc(&r.host),
                esc(e)
            );
            continue;
        }
        for p in &r.policies {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.host),
                r.cert_days_left.map_or("?".into(), |d| format!("{d} days")),
                esc(&p.policy),
                if p.verdict == "pass" {
                    "pass"
                } else {
                    "mismatch"
                },
                p.verdict,
                esc(&p.matched_pin.clone().unwrap_or_default()),
                p.pin_set_days_left
                    .map_or("no expiry".into(), |d| format!("{d} days")),
            );
        }
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
