//! `keypin check HOST[:PORT] --policy FILE`: does the live server satisfy the policy?
//!
//! The served chain (and the OCSP response stapled to it) is judged by
//! `PinningVerifier::verify_chain_stapled`, the same check the verifier makes inside an app's
//! handshake.

use anyhow::anyhow;
use keypin::{Policy, Verdict, VerifyError};

use crate::args::CheckArgs;
use crate::net::{Target, fetch_chain, verifier};
use crate::{Failure, exit};

pub(crate) fn run(args: CheckArgs) -> Result<u8, Failure> {
    let target = Target::from_args(&args.connect)?;
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
    let roots = target.roots()?;
    let fetched = fetch_chain(&target)?;
    let verifier = verifier(policy, roots);
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
