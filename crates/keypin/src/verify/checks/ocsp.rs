//! OCSP: the stapled response, checked when the rule's `ocsp` mode or a must-staple leaf asks
//! (see [`crate::ocsp`]), and validated also when only CT needs its SCTs (then a staple that
//! fails is ignored, not refused). Without the `ocsp` feature no staple can be validated: its
//! SCTs never count.

use super::{Check, Evidence, Inputs};
use crate::verify::VerifyError;

#[cfg(feature = "ocsp")]
pub(super) use with_ocsp::OcspCheck;
#[cfg(not(feature = "ocsp"))]
pub(super) use without_ocsp::OcspCheck;

#[cfg(feature = "ocsp")]
mod with_ocsp {
    use super::{Check, Evidence, Inputs, VerifyError};
    use crate::events::PinEvent;
    use crate::ocsp::{Issuer, OcspError, OcspFailure, Requirement, is_must_staple};
    use crate::policy::OcspMode;
    use crate::verify::checks::StapledScts;

    /// What one verification's OCSP check does, decided before path building so that the
    /// issuer is captured only when it is needed.
    pub(crate) struct OcspCheck<'a> {
        inputs: Inputs<'a>,
        requirement: Requirement,
        /// The staple; `None`: none came.
        staple: Option<&'a [u8]>,
        /// The leaf's issuer on the last candidate path (webpki stops at the one accepted).
        issuer: Option<Issuer>,
        /// false: the rule ignores OCSP and the leaf is not must-staple, but the rule
        /// requires SCTs and a staple came: it is validated only so that its SCTs may count,
        /// and a staple that fails is ignored (its SCTs do not count), not refused.
        enforced: bool,
        /// The refusal [`Check::gather`] found, given by [`Check::decide`].
        refusal: Option<Box<OcspFailure>>,
    }

    impl<'a> OcspCheck<'a> {
        /// `None`: nothing to check (no staple info, or the rule ignores OCSP and the leaf is
        /// not must-staple and the rule needs no SCTs, or a staple is only checked when
        /// present and there is none). `Err`: the leaf's TLS feature extension is unreadable.
        pub(in crate::verify::checks) fn plan(
            inputs: Inputs<'a>,
        ) -> Result<Option<Self>, VerifyError> {
            let Some(staple) = inputs.staple else {
                return Ok(None);
            };
            let mut check = Self {
                inputs,
                requirement: Requirement::MustStaple,
                staple: (!staple.is_empty()).then_some(staple),
                issuer: None,
                enforced: true,
                refusal: None,
            };
            match is_must_staple(inputs.end_entity) {
                Ok(true) => {}
                Ok(false) => check.requirement = Requirement::Rule(inputs.rule.ocsp()),
                Err(error) => return Err(check.refuse(check.failure(error))),
            }
            check.enforced = !matches!(
                (check.requirement, check.staple),
                (Requirement::Rule(OcspMode::Ignore), _)
                    | (Requirement::Rule(OcspMode::CheckIfStapled), None)
            );
            // SCTs in a staple count only once it validated (feature `ct`).
            let for_scts = cfg!(feature = "ct")
                && inputs.rule.require_sct().is_some()
                && check.staple.is_some();
            Ok((check.enforced || for_scts).then_some(check))
        }

        fn failure(&self, error: OcspError) -> Box<OcspFailure> {
            Box::new(OcspFailure {
                host: self.inputs.host.to_string(),
                error,
                requirement: self.requirement,
                rule_location: self.inputs.rule_location(),
            })
        }

        fn refuse(&self, failure: Box<OcspFailure>) -> VerifyError {
            self.inputs.emit(PinEvent::OcspRefused {
                failure: failure.clone(),
            });
            VerifyError::Ocsp(failure)
        }
    }

    impl Check for OcspCheck<'_> {
        fn see_path(&mut self, path: &webpki::VerifiedPath<'_>, _carries_pin: bool) {
            let issuer = match path.intermediate_certificates().next() {
                Some(cert) => Issuer::from_path_cert(cert),
                None => Issuer::from_anchor(path.anchor()),
            };
            self.issuer = Some(issuer);
        }

        fn gather(&mut self, evidence: &mut Evidence) {
            let s = &self.inputs;
            let result = match (self.staple, self.issuer.as_ref()) {
                (None, _) => Err(OcspError::NoStaple),
                (Some(staple), Some(issuer)) => {
                    crate::ocsp::validate_staple(staple, s.end_entity, issuer, s.now, s.algs)
                }
                // Path building succeeded without reporting a path: refuse rather than skip.
                (Some(_), None) => Err(OcspError::Malformed {
                    part: "verified path",
                    detail: "no issuer was recorded for the OCSP check".into(),
                }),
            };
            evidence.stapled_scts = match result {
                Ok(valid) => StapledScts::Validated(valid.sct_extensions),
                Err(error) if self.enforced => {
                    let why = error.to_string();
                    self.refusal = Some(self.failure(error));
                    StapledScts::NotValidated(why)
                }
                Err(error) => StapledScts::NotValidated(error.to_string()),
            };
        }

        fn decide(&mut self, _evidence: &Evidence) -> Result<(), VerifyError> {
            match self.refusal.take() {
                Some(failure) => Err(self.refuse(failure)),
                None => Ok(()),
            }
        }
    }
}

#[cfg(not(feature = "ocsp"))]
mod without_ocsp {
    use super::{Check, Evidence, Inputs, VerifyError};
    use crate::verify::checks::StapledScts;

    /// Without the `ocsp` feature a staple cannot be validated, so its SCTs never count.
    pub(crate) struct OcspCheck;

    impl OcspCheck {
        /// Some: a staple came for a rule that requires SCTs (CT notes why they did not
        /// count).
        pub(in crate::verify::checks) fn plan(
            inputs: Inputs<'_>,
        ) -> Result<Option<Self>, VerifyError> {
            let stapled = inputs.staple.is_some_and(|s| !s.is_empty());
            Ok((stapled && inputs.rule.require_sct().is_some()).then_some(Self))
        }
    }

    impl Check for OcspCheck {
        fn see_path(&mut self, _path: &webpki::VerifiedPath<'_>, _carries_pin: bool) {}

        fn gather(&mut self, evidence: &mut Evidence) {
            evidence.stapled_scts = StapledScts::NotValidated(
                "this build of keypin cannot validate OCSP responses (feature `ocsp`)".into(),
            );
        }

        fn decide(&mut self, _evidence: &Evidence) -> Result<(), VerifyError> {
            Ok(())
        }
    }
}
