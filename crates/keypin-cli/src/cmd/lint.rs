//! `keypin lint FILE`: findings with severity, stable id, location and fix.
//!
//! Exit codes: 0 no errors (warnings allowed), 1 warnings with `--strict`, 2 errors.

use anyhow::{Context as _, anyhow};
use keypin::{Policy, host::HostPattern, verify::Position};
use keypin_formats::import::{self, ImportFormat, ImportOptions};
use keypin_formats::lint::{
    Finding, LintOptions, LiveCert, LiveChain, Severity, lint, load_findings, nsc_findings,
};
use x509_parser::prelude::*;

use crate::Failure;
use crate::args::{ConnectArgs, LintArgs};
use crate::net::{fetch_chain, resolve_map, roots, target_of, verifier};
use keypin_inspect::fetch::Target;

/// What the importer read the platform's way, or skipped as the platform does: worth
/// knowing, never an error (KP060).
fn import_notes(imported: &keypin_formats::Imported) -> Vec<Finding> {
    imported
        .notices
        .iter()
        .map(|n| Finding {
            id: "KP060",
            severity: Severity::Info,
            location: n.location.clone(),
            message: n.message.clone(),
            fix: "nothing, if this is what the file means to the platform".into(),
        })
        .collect()
}

pub(crate) fn run(args: LintArgs) -> Result<u8, Failure> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args.file.display().to_string();
    let mut findings = Vec::new();

    // Other formats are read through the importer; its refusals are findings too.
    let policy = match ImportFormat::detect(&bytes) {
        Some(format) if format != ImportFormat::Hpkp => {
            if format == ImportFormat::AndroidNsc {
                findings.extend(nsc_findings(&String::from_utf8_lossy(&bytes), &name));
            }
            match import::import(&bytes, &name, Some(format), &ImportOptions::default()) {
                Ok(imported) => {
                    findings.extend(import_notes(&imported));
                    match Policy::from_toml_str(&imported.toml, &name) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            findings.extend(load_findings(&e));
                            None
                        }
                    }
                }
                Err(e) => {
                    findings.extend(e.problems.into_iter().map(|p| Finding {
                        id: "KP000",
                        severity: Severity::Error,
                        location: p.location,
                        message: p.message,
                        fix: "correct the file; keypin will not guess".into(),
                    }));
                    None
                }
            }
        }
        // A keypin policy is read as a file, so its anchor files resolve next to it.
        _ => match Policy::from_file(&args.file) {
            Ok(p) => Some(p),
            Err(keypin::Error::Policy(e)) => {
                findings.extend(load_findings(&e));
                None
            }
            Err(e) => return Err(anyhow!(e).into()),
        },
    };

    if let Some(policy) = &policy {
        let live = if args.live {
            live_chains(policy, args.port, &args.resolve, &args.ca_files)?
        } else {
            Vec::new()
        };
        let held_keys = match &args.spare_keys {
            Some(dir) => Some(super::spare_pins(dir)?),
            None => None,
        };
        let options = LintOptions {
            expiry_warning_days: args.days,
            now_secs: rustls_pki_types::UnixTime::now().as_secs() as i64,
            held_keys,
        };
        findings.extend(lint(policy, &live, &options));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));

    if args.json {
        let text = serde_json::to_string_pretty(&findings).map_err(|e| anyhow!(e))?;
        say!("{text}");
    } else if findings.is_empty() {
        say!("{name}: no findings");
    } else {
        for f in &findings {
            say!("{f}");
        }
    }
    let worst = findings.iter().map(|f| f.severity).max();
    Ok(match worst {
        Some(Severity::Error) => crate::exit::USAGE,
        Some(Severity::Warning) if args.strict => crate::exit::MISMATCH,
        _ => 0,
    })
}

/// For each rule, the chains of its exactly named hosts. A host that cannot be reached or
/// does not validate is reported on stderr and left out of the live findings.
pub(crate) fn live_chains(
    policy: &Policy,
    port: u16,
    resolve: &[String],
    ca_files: &[std::path::PathBuf],
) -> Result<Vec<Vec<LiveChain>>, Failure> {
    let resolve = resolve_map(resolve)?;
    let mut out = Vec::new();
    for rule in policy.rules() {
        let mut chains = Vec::new();
        for host in rule.hosts() {
            let HostPattern::Exact(name) = host else {
                eprintln!("keypin: note: {host}: not checked live (a pattern, not a host name)");
                continue;
            };
            let connect = ConnectArgs {
                target: format!("{name}:{port}"),
                connect: resolve.get(&**name).cloned(),
                ca_files: ca_files.to_vec(),
                timeout: 10,
            };
            let target = target_of(&connect)?;
            match live_chain(&target, ca_files) {
                Ok(chain) => chains.push(chain),
                Err(e) => eprintln!("keypin: warning: {name}: not checked live: {:#}", e.error),
            }
        }
        out.push(chains);
    }
    Ok(out)
}

fn live_chain(target: &Target, ca_files: &[std::path::PathBuf]) -> Result<LiveChain, Failure> {
    let fetched = fetch_chain(target)?;
    let now = rustls_pki_types::UnixTime::now();
    let path = verifier(Policy::empty(), roots(ca_files)?)
        .verified_path(&fetched.leaf, &fetched.rest, &target.server_name, now)
        .map_err(|e| Failure::connect(anyhow!(e)))?;
    let certs = path
        .iter()
        .map(|e| {
            let (issuer_org, lifetime_days) = e
                .der
                .as_ref()
                .and_then(|d| X509Certificate::from_der(d.as_ref()).ok())
                .map(|(_, c)| {
                    let org = c
                        .issuer()
                        .iter_organization()
                        .next()
                        .and_then(|o| o.as_str().ok())
                        .map(str::to_string);
                    let v = c.validity();
                    (
                        org,
                        (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400,
                    )
                })
                .unwrap_or((None, i64::MAX));
            LiveCert {
                pin: e.spki_pin,
                is_leaf: e.position == Position::Leaf,
                subject: e.subject.clone(),
                issuer_org,
                lifetime_days,
            }
        })
        .collect();
    Ok(LiveChain {
        host: target.host.clone(),
        path: certs,
    })
}
