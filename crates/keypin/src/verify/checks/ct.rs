//! Certificate Transparency: the rule's `require_sct`, checked on the leaf's embedded SCTs
//! with the issuer on the verified path, and on those of a stapled OCSP response once it
//! validated (see [`crate::ct`]). A rule that requires SCTs refuses when no log list is
//! configured, and in a build without the `ct` feature. This applies to report-only rules
//! too: report-only is about pins.

#[cfg(feature = "ct")]
use std::sync::Arc;

use super::{Check, Evidence, Inputs};
use crate::policy::SctRequirement;
use crate::verify::VerifyError;

/// The CT log list that rules with `require_sct` check SCTs against (nothing without the
/// `ct` feature).
#[derive(Clone, Default)]
pub(crate) struct CtLogs {
    #[cfg(feature = "ct")]
    list: Option<Arc<crate::ct::LogList>>,
}

#[cfg(feature = "ct")]
impl CtLogs {
    /// The list, when one is configured (the verification cache bounds entries by its logs'
    /// state changes).
    pub(crate) fn list(&self) -> Option<&crate::ct::LogList> {
        self.list.as_deref()
    }
}

#[cfg(feature = "ct")]
impl CtLogs {
    /// SCTs are checked against `logs`.
    pub(crate) fn of(logs: Arc<crate::ct::LogList>) -> Self {
        Self { list: Some(logs) }
    }
}

/// The check of one verification whose rule says `require_sct`.
pub(crate) struct CtCheck<'a> {
    inputs: Inputs<'a>,
    requirement: SctRequirement,
    /// DER SubjectPublicKeyInfo of the leaf's issuer on the verified path (on the path that
    /// carries a pin, else on the first validated one), for the SCTs' issuer key hash.
    issuer_spki: Option<Vec<u8>>,
}

impl<'a> CtCheck<'a> {
    /// `None`: the rule requires no SCTs.
    pub(super) fn plan(inputs: Inputs<'a>) -> Option<Self> {
        Some(Self {
            requirement: inputs.rule.require_sct()?,
            inputs,
            issuer_spki: None,
        })
    }
}

impl Check for CtCheck<'_> {
    fn see_path(&mut self, path: &webpki::VerifiedPath<'_>, carries_pin: bool) {
        if carries_pin || self.issuer_spki.is_none() {
            self.issuer_spki = Some(issuer_spki_of(path));
        }
    }

    fn gather(&mut self, _evidence: &mut Evidence) {}

    #[cfg(feature = "ct")]
    fn decide(&mut self, evidence: &Evidence) -> Result<(), VerifyError> {
        use super::StapledScts;
        use crate::events::PinEvent;

        let s = &self.inputs;
        let (end_entity, now) = (s.end_entity.as_ref(), s.now);
        let staple_note = match &evidence.stapled_scts {
            StapledScts::NotValidated(why) => Some(why.clone()),
            StapledScts::None | StapledScts::Validated(_) => None,
        };
        let fail = |reason: String, checks| {
            let failure = Box::new(crate::ct::CtFailure {
                host: s.host.to_string(),
                requirement: self.requirement,
                rule_location: s.rule_location(),
                reason,
                checks,
                staple_note: staple_note.clone(),
            });
            s.emit(PinEvent::CtRefused {
                failure: failure.clone(),
            });
            VerifyError::Ct(failure)
        };
        let Some(logs) = &s.ct_logs.list else {
            return Err(fail(
                "no CT log list is configured, so no SCT can be checked (give one with \
                 PinnedConfigBuilder::ct_logs)"
                    .into(),
                Vec::new(),
            ));
        };
        let Some(issuer) = self.issuer_spki.as_deref() else {
            return Err(fail(
                "the issuer on the verified path is unknown".into(),
                Vec::new(),
            ));
        };
        let mut scts = crate::ct::verify_embedded_scts(end_entity, issuer, logs, now)
            .map_err(|e| fail(e.to_string(), Vec::new()))?;
        // SCTs of a staple that passed OCSP validation count with the embedded ones; a
        // malformed SCT list there refuses, as an embedded one does.
        if let StapledScts::Validated(extensions) = &evidence.stapled_scts {
            let more = crate::ct::verify_stapled_scts(end_entity, extensions, logs, now)
                .map_err(|e| fail(e.to_string(), scts.checks.clone()))?;
            scts.checks.extend(more);
        }
        self.requirement
            .evaluate(&scts, now)
            .map_err(|reason| fail(reason, scts.checks))
    }

    #[cfg(not(feature = "ct"))]
    fn decide(&mut self, _evidence: &Evidence) -> Result<(), VerifyError> {
        // Policies refuse require_sct without the feature; should one get here anyway,
        // refuse rather than skip the check.
        Err(VerifyError::Certificate(rustls::Error::General(format!(
            "the rule for {} ({}) needs Certificate Transparency, which this build of keypin \
             lacks (feature `ct`)",
            self.inputs.host, self.requirement
        ))))
    }
}

/// DER SubjectPublicKeyInfo of the leaf's issuer on a verified path: the first intermediate,
/// or the trust anchor when the leaf hangs directly off it.
fn issuer_spki_of(path: &webpki::VerifiedPath<'_>) -> Vec<u8> {
    match path.intermediate_certificates().next() {
        Some(c) => c.subject_public_key_info().as_ref().to_vec(),
        None => webpki::spki_for_anchor(path.anchor()).as_ref().to_vec(),
    }
}
