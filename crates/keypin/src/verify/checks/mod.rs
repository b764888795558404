//! The optional checks a rule asks for after its pins: OCSP ([`ocsp`]) and Certificate
//! Transparency ([`ct`]), each behind [`Check`]. Each module holds its own feature gate: a
//! build without the feature keeps the check, which then refuses (CT) or cannot validate a
//! staple (OCSP), so a rule is never silently weakened.

mod ct;
mod ocsp;

use rustls_pki_types::{CertificateDer, UnixTime};

pub(crate) use ct::CtLogs;

use std::sync::Arc;

use rustls::crypto::WebPkiSupportedAlgorithms;

use super::VerifyError;
use crate::events::{PinEvent, PinEventSink};
use crate::policy::Rule;

/// What the checks of one verification look at.
#[derive(Clone, Copy)]
#[cfg_attr(not(any(feature = "ct", feature = "ocsp")), allow(dead_code))]
pub(crate) struct Inputs<'a> {
    /// Where the policy came from, for failures.
    pub(crate) policy_source: &'a str,
    /// The signature algorithms of the verifier's provider (the OCSP check's signatures).
    #[cfg_attr(not(feature = "ocsp"), allow(dead_code))]
    pub(crate) algs: &'a WebPkiSupportedAlgorithms,
    /// The CT log list SCTs are checked against.
    #[cfg_attr(not(feature = "ct"), allow(dead_code))]
    pub(crate) ct_logs: &'a CtLogs,
    /// Where the checks' refusals are sent as events.
    pub(crate) events: Option<&'a Arc<dyn PinEventSink>>,
    pub(crate) rule: &'a Rule,
    pub(crate) host: &'a str,
    pub(crate) end_entity: &'a CertificateDer<'a>,
    /// The stapled OCSP response (empty: none was stapled); `None`: the caller asked for no
    /// OCSP check (`verify_chain`).
    pub(crate) staple: Option<&'a [u8]>,
    pub(crate) now: UnixTime,
}

impl Inputs<'_> {
    /// Where the rule is, for failures.
    #[cfg_attr(not(any(feature = "ct", feature = "ocsp")), allow(dead_code))]
    fn rule_location(&self) -> String {
        format!("{}:{}", self.policy_source, self.rule.line())
    }

    /// Sends a check's refusal to the event sink, if any.
    #[cfg_attr(not(any(feature = "ct", feature = "ocsp")), allow(dead_code))]
    fn emit(&self, event: PinEvent) {
        if let Some(sink) = self.events {
            sink.pin_event(event);
        }
    }
}

/// What one check finds for another: [`Check::gather`] writes it, [`Check::decide`] reads it.
#[derive(Default)]
pub(crate) struct Evidence {
    /// What the stapled OCSP response gives CT.
    pub(crate) stapled_scts: StapledScts,
}

/// What the stapled OCSP response gives CT.
#[derive(Default)]
#[cfg_attr(not(all(feature = "ct", feature = "ocsp")), allow(dead_code))]
pub(crate) enum StapledScts {
    /// No staple, or none looked at.
    #[default]
    None,
    /// The staple passed OCSP validation: its `SingleResponse` SCT extensions (maybe none).
    Validated(Vec<Vec<u8>>),
    /// A staple came but did not validate (or cannot be, without `ocsp`): why. Its SCTs do
    /// not count.
    NotValidated(String),
}

/// One optional check. A check exists for a verification only when its rule (or the leaf)
/// asks for it; it is built before the path (see [`Checks::plan`]).
pub(crate) trait Check {
    /// Sees each candidate verified path while the path is built; `carries_pin`: the pin
    /// check accepted it (webpki then stops there).
    fn see_path(&mut self, path: &webpki::VerifiedPath<'_>, carries_pin: bool);
    /// Once the path, pins and name passed: validates what it can and leaves for the other
    /// checks what they need.
    fn gather(&mut self, evidence: &mut Evidence);
    /// The verdict: `Err` refuses the connection (the check emits its own event).
    fn decide(&mut self, evidence: &Evidence) -> Result<(), VerifyError>;
}

/// The checks of one verification, in the order their verdicts are given.
pub(crate) struct Checks<'a>(Vec<Box<dyn Check + 'a>>);

impl<'a> Checks<'a> {
    /// The checks the rule (or the leaf) asks for: this is the one list of them. CT's verdict
    /// comes before OCSP's: when a staple fails, the CT failure already says why its SCTs did
    /// not count, and CT failed first since before OCSP existed. OCSP refuses here already
    /// when a must-staple leaf cannot be read. No check: no allocation.
    pub(crate) fn plan(inputs: Inputs<'a>) -> Result<Self, VerifyError> {
        let mut list: Vec<Box<dyn Check + 'a>> = Vec::new();
        if let Some(ct) = ct::CtCheck::plan(inputs) {
            list.push(Box::new(ct));
        }
        if let Some(ocsp) = ocsp::OcspCheck::plan(inputs)? {
            list.push(Box::new(ocsp));
        }
        Ok(Self(list))
    }

    /// Shows each check a candidate verified path.
    pub(crate) fn see_path(&mut self, path: &webpki::VerifiedPath<'_>, carries_pin: bool) {
        for check in &mut self.0 {
            check.see_path(path, carries_pin);
        }
    }

    /// Every check gathers (OCSP validates the staple, whose SCTs CT counts), then each
    /// decides in turn; the first refusal is the answer.
    pub(crate) fn run(mut self) -> Result<(), VerifyError> {
        let mut evidence = Evidence::default();
        for check in &mut self.0 {
            check.gather(&mut evidence);
        }
        for check in &mut self.0 {
            check.decide(&evidence)?;
        }
        Ok(())
    }
}
