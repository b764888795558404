//! `keypin check HOST[:PORT] --policy FILE`: does the live server satisfy the policy?
//!
//! With `--ct-log-list`, rules with `require_sct` check the leaf's SCTs against that list.
//!
//! The served chain (and the OCSP response stapled to it) is judged by
//! `PinningVerifier::verify_chain_stapled`, the same check the verifier makes inside an app's
//! handshake.

use anyhow::{Context as _, anyhow};
use keypin::ct::{LogList, LogListSigner};
use keypin::{Policy, verify::Verdict, verify::VerifyError};

use crate::args::CheckArgs;
use crate::net::{fetch_chain, roots, target_of, verifier};
use crate::{Failure, exit};

pub(crate) fn run(args: CheckArgs) -> Result<u8, Failure> {
    let target = target_of(&args.connect)?;
    let policy = Policy::from_file(&args.policy).map_err(|e| Failure::usage(anyhow!(e)))?;
    let Some(rule) = policy.rule_for(&target.host) else {
        return Err(Failure::usage(anyhow!(
            "no rule in {} covers {}: nothing to check (add a [[rule]] whose hosts include it)",
            args.policy.display(),
            target.host
        )));
    };
    let rule_at = format!("{}:{}", policy.source_name(), rule.line());
    let now = rustls_pki_types::UnixTime::now();
    let expired = rule.expires().filter(|_| rule.is_expired(now));
    let roots = roots(&args.connect.ca_files)?;
    let fetched = fetch_chain(&target)?;
    let ct_logs = ct_log_list(&args)?;
    let mut verifier = verifier(policy, roots);
    if let Some(logs) = ct_logs {
        verifier = verifier.with_ct_logs(std::sync::Arc::new(logs));
    }
    if let Some(d) = expired {
        eprintln!(
            "keypin: warning: the rule at {rule_at} expired after {d}: apps no longer enforce it (on_expiry); ship new pins"
        );
    }
    match verifier.verify_chain_stapled(
        &fetched.leaf,
        &fetched.rest,
        &target.server_name,
        &fetched.ocsp,
        now,
    ) {
        Ok(Verdict::Matched(m)) => {
            say!(
                "PASS {}:{}: pin {} matched the {} ({}) on the verified path (rule at {rule_at})",
                target.host,
                target.port,
                m.pin,
                m.position,
                m.subject
            );
            Ok(0)
        }
        Ok(Verdict::ReportOnlyMismatch(f)) => {
            say!("FAIL (report-only rule: apps would connect and report) {f}");
            Ok(exit::MISMATCH)
        }
        Ok(Verdict::NotPinned) => Err(Failure::usage(anyhow!(
            "no rule covers {}: nothing to check",
            target.host
        ))),
        Ok(other) => Err(Failure::usage(anyhow!("unexpected verdict {other:?}"))),
        Err(VerifyError::PinMismatch(f)) => {
            say!("FAIL {f}");
            Ok(exit::MISMATCH)
        }
        Err(VerifyError::Ct(f)) => {
            say!("FAIL {f}");
            Ok(exit::MISMATCH)
        }
        // Revoked, stale, forged or missing staple: the chain does not validate as the rule
        // asks, as for a revoked certificate.
        Err(VerifyError::Ocsp(f)) => {
            say!("FAIL {f}");
            Ok(exit::CONNECT)
        }
        Err(e) => Err(Failure::connect(anyhow!(
            "{}:{}: {e} (pins were not checked: the chain must validate first)",
            target.host,
            target.port
        ))),
    }
}

/// `--ct-log-list` (with its signature and signer key), verified and parsed.
fn ct_log_list(args: &CheckArgs) -> Result<Option<LogList>, Failure> {
    let Some(list) = &args.ct_log_list else {
        return Ok(None);
    };
    let sig = args.ct_log_list_sig.clone().unwrap_or_else(|| {
        let mut p = list.clone().into_os_string();
        p.push(".sig");
        p.into()
    });
    let signer = match &args.ct_log_list_key {
        None => LogListSigner::google().map_err(|e| Failure::usage(anyhow!(e)))?,
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading --ct-log-list-key {}", path.display()))
                .map_err(Failure::usage)?;
            LogListSigner::from_pem(&pem)
                .with_context(|| format!("--ct-log-list-key {}", path.display()))
                .map_err(Failure::usage)?
        }
    };
    LogList::from_files(list, &sig, &signer)
        .map(Some)
        .map_err(|e| Failure::usage(anyhow!(e)))
}
