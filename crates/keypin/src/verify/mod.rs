//! The pinning verifier: a rustls `ServerCertVerifier` that checks pins on the verified path.
//!
//! Every verification runs one pipeline, `PinningVerifier::verify`, whose numbered steps give
//! the order and the reason for it (DESIGN.md, "Data flow"): the rule, the optional checks
//! planned, path building with the pin check on each candidate verified path (`path.rs`, shared
//! with the client verifier), the hostname, the pin verdict, then the optional checks (OCSP,
//! CT: `checks/`, one module each, behind one internal trait). A failure names the step
//! that made it: [`VerifyError::Certificate`] (path or name), [`VerifyError::PinMismatch`]
//! with a [`PinFailure`] naming the host, each certificate on the verified path with its pin,
//! and the pins the policy expected, then the checks' own failures.

pub mod cache;
mod checks;
mod client;
pub(crate) mod config;
pub(crate) mod outcome;
pub(crate) mod path;
mod spki_memo;

pub use client::PinnedClientVerifier;
pub use outcome::{
    BadPinOnPath, ClientMatch, ClientPinFailure, ClientVerifyError, PathEntry, PinFailure,
    PinMatch, Position, Verdict, VerifyError,
};

use core::fmt;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use self::cache::{CacheStats, DEFAULT_CAPACITY, DEFAULT_TTL, Decision, VerifyCache};
use self::checks::{Checks, CtLogs};
use self::path::{Anchors, PathCallback, describe_path, pki_error};
use self::spki_memo::SpkiMemo;
use crate::Policy;
use crate::clock::Clock;
use crate::events::{PinEvent, PinEventSink};
use crate::pin::{Pin, PinKind};
use crate::policy::{Enforcement, Rule};
use crate::roots::Roots;

/// How much a verification reports beyond the verdict: a handshake needs nothing (no names
/// formatted on the hot path), `verify_chain` names the matching certificate, tools also get
/// the accepted path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Describe {
    Handshake,
    Match,
    Path,
}

/// The pinning verifier. Build one with [`crate::PinnedConfig`] or [`PinningVerifier::new`].
pub struct PinningVerifier {
    policy: Arc<Policy>,
    roots: Anchors,
    /// For rules with extra anchors: the default roots plus the rule's own.
    rule_roots: HashMap<u32, Anchors>,
    algs: WebPkiSupportedAlgorithms,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn PinEventSink>>,
    /// Read by the CT check only (feature `ct`).
    #[cfg_attr(not(feature = "ct"), allow(dead_code))]
    ct_logs: CtLogs,
    /// SPKI pins of the leaf and intermediate keys seen lately (hashed once, not per handshake).
    spki_memo: SpkiMemo,
    /// Clean acceptances of recent handshakes (`None`: off); see [`crate::verify::cache`].
    cache: Option<VerifyCache>,
}

impl fmt::Debug for PinningVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinningVerifier")
            .field("policy", &self.policy.source_name())
            .field("rules", &self.policy.rules().len())
            .field("roots", &self.roots.list.len())
            .finish_non_exhaustive()
    }
}

impl PinningVerifier {
    /// A verifier for `policy` over `roots`, using `provider`'s signature algorithms.
    pub fn new(
        policy: Arc<Policy>,
        roots: Roots,
        provider: &CryptoProvider,
        clock: Arc<dyn Clock>,
        events: Option<Arc<dyn PinEventSink>>,
    ) -> Self {
        let (anchors, certs) = roots.into_parts();
        // Certificates of anchors that came from certificates, keyed by SPKI pin digest, so
        // that certificate pins can match an anchor.
        let mut anchor_certs = HashMap::new();
        for cert in certs {
            if let Ok(spki) = crate::pin::spki_of_cert(&cert) {
                anchor_certs.insert(*Pin::from_spki_der(&spki).digest(), cert);
            }
        }
        let mut rule_lists = Vec::new();
        for (i, rule) in policy.rules().iter().enumerate() {
            if rule.extra_anchors().is_empty() {
                continue;
            }
            let mut all = anchors.clone();
            for extra in rule.extra_anchors() {
                all.push(extra.anchor.clone());
                anchor_certs.insert(
                    *Pin::spki_of_anchor(&extra.anchor).digest(),
                    extra.cert.clone(),
                );
            }
            rule_lists.push((u32::try_from(i).unwrap_or(u32::MAX), all));
        }
        let anchor_certs = Arc::new(anchor_certs);
        let rule_roots = rule_lists
            .into_iter()
            .map(|(i, all)| (i, Anchors::new(all, anchor_certs.clone())))
            .collect();
        let cache = VerifyCache::new(DEFAULT_TTL, DEFAULT_CAPACITY, &policy);
        Self {
            policy,
            roots: Anchors::new(anchors, anchor_certs),
            rule_roots,
            algs: provider.signature_verification_algorithms,
            clock,
            events,
            ct_logs: CtLogs::default(),
            spki_memo: SpkiMemo::default(),
            cache,
        }
    }

    /// The verification cache of handshakes ([`crate::verify::cache`]): entries live at most
    /// `ttl` (whole seconds; under one second turns the cache off), at most `capacity` of
    /// them (0 turns it off). Default: 5 minutes, 256 entries.
    pub fn with_verification_cache(mut self, ttl: core::time::Duration, capacity: usize) -> Self {
        self.cache = VerifyCache::new(ttl, capacity, &self.policy);
        self
    }

    /// The verification cache's counters; `None` when it is off.
    pub fn verification_cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(VerifyCache::stats)
    }

    /// The policy this verifier enforces.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Verifies a served chain for `server_name` at `now` — the whole check a handshake makes,
    /// without the handshake. Used by the TLS callback and by `keypin check`.
    pub fn verify_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<Verdict, VerifyError> {
        self.verify(
            end_entity,
            intermediates,
            server_name,
            now,
            Describe::Match,
            None,
        )
        .map(|(v, _)| v)
    }

    /// [`Self::verify_chain`] plus the OCSP check a handshake makes on the stapled response
    /// `ocsp_response` (empty: none was stapled). [`Self::verify_chain`] checks no OCSP.
    #[cfg(feature = "ocsp")]
    pub fn verify_chain_stapled(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<Verdict, VerifyError> {
        let staple = Some(ocsp_response);
        self.verify(
            end_entity,
            intermediates,
            server_name,
            now,
            Describe::Match,
            staple,
        )
        .map(|(v, _)| v)
    }

    /// [`Self::verify_chain`], also returning the verified path that was accepted (every
    /// certificate with its pins), for tools that report on it. Not used in handshakes.
    pub fn verify_chain_described(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(Verdict, Vec<PathEntry>), VerifyError> {
        self.verify(
            end_entity,
            intermediates,
            server_name,
            now,
            Describe::Path,
            None,
        )
    }

    /// The pipeline every verification runs; its order is written here and nowhere else.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
        describe: Describe,
        // The stapled OCSP response (empty: none); `None`: no OCSP check at all.
        staple: Option<&[u8]>,
    ) -> Result<(Verdict, Vec<PathEntry>), VerifyError> {
        let ee = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| VerifyError::Certificate(pki_error(e)))?;
        let host = host_string(server_name);

        // 1. The rule for this server name (most specific wins). No rule: ordinary
        //    validation (path, then name), no pins and no optional checks.
        let Some(rule_idx) = self.policy.rule_index_for(&host) else {
            return self.verify_unpinned(&ee, intermediates, server_name, now, describe);
        };
        let Some(rule) = self.policy.rules().get(rule_idx as usize) else {
            return Err(VerifyError::Certificate(rustls::Error::General(
                "policy index out of range".into(),
            )));
        };
        let attempt = Attempt {
            verifier: self,
            rule,
            roots: self.rule_roots.get(&rule_idx).unwrap_or(&self.roots),
            host: &host,
            end_entity,
            intermediates,
            now,
        };

        // 2. Plan the optional checks the rule or the leaf asks for (CT, OCSP) before the
        //    path is built: they watch the candidate paths for the issuer they need. A
        //    must-staple leaf whose TLS feature extension cannot be read is refused here.
        let checks = RefCell::new(Checks::plan(attempt.inputs(staple))?);

        // 3. Path building with the pin check on each candidate verified path: a pin means
        //    something only on a path that validates (never a certificate merely sent), and a
        //    candidate without a pin makes webpki try the next one. A chain that does not
        //    validate fails here: `PinEvent::ChainInvalid`, the interception case.
        let found = attempt.build_path(&ee, describe, &checks)?;

        // 4. The hostname, on the validated leaf: a pin never replaces it. After the path, so
        //    an untrusted chain is reported as such even when its name is wrong too.
        ee.verify_is_valid_for_subject_name(server_name)
            .map_err(|e| attempt.invalid(pki_error(e)))?;

        // 5. The pin verdict, for a chain that is valid for this host (anything else is a
        //    certificate error, not a pin mismatch): no pin refuses when the rule enforces; a
        //    report-only rule (configured, or pins expired) goes on to the checks.
        let verdict = match found.matched {
            Some(m) => Verdict::Matched(m),
            None => attempt.pin_mismatch(found.rejected, found.bad_pins)?,
        };

        // 6. The optional checks (CT, then OCSP: `Checks::plan` says why). Last: they need the
        //    issuer on the validated path, they cost the most (signatures over SCTs and
        //    staples), and they apply to report-only rules too (report-only is about pins).
        checks.into_inner().run()?;

        // 7. Accept, and say so: the pins' expiry for a match, the report for a mismatch.
        Ok(attempt.accept(verdict, found.accepted))
    }

    /// Step 1 without a rule: ordinary validation, the path and then the name.
    fn verify_unpinned(
        &self,
        ee: &webpki::EndEntityCert<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
        describe: Describe,
    ) -> Result<(Verdict, Vec<PathEntry>), VerifyError> {
        let accepted: RefCell<Vec<PathEntry>> = RefCell::new(Vec::new());
        let record = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
            *accepted.borrow_mut() = describe_path(path, &self.roots);
            Ok(())
        };
        let on_path: Option<&PathCallback<'_>> = match describe {
            Describe::Path => Some(&record),
            Describe::Handshake | Describe::Match => None,
        };
        self.build_path(ee, &self.roots, intermediates, now, on_path)
            .map_err(|e| VerifyError::Certificate(pki_error(e)))?;
        ee.verify_is_valid_for_subject_name(server_name)
            .map_err(|e| VerifyError::Certificate(pki_error(e)))?;
        Ok((Verdict::NotPinned, accepted.into_inner()))
    }

    /// The path webpki validates for this chain (the rule's extra anchors included, no pins
    /// checked, no hostname check), leaf first. `keypin inspect` shows it.
    pub fn verified_path(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<Vec<PathEntry>, VerifyError> {
        let ee = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| VerifyError::Certificate(pki_error(e)))?;
        let host = host_string(server_name);
        let roots = self
            .policy
            .rule_index_for(&host)
            .and_then(|i| self.rule_roots.get(&i))
            .unwrap_or(&self.roots);
        let found: RefCell<Vec<PathEntry>> = RefCell::new(Vec::new());
        let record = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
            *found.borrow_mut() = describe_path(path, roots);
            Ok(())
        };
        self.build_path(&ee, roots, intermediates, now, Some(&record))
            .map_err(|e| VerifyError::Certificate(pki_error(e)))?;
        Ok(found.into_inner())
    }

    /// webpki path building for a TLS server certificate, without pins.
    fn build_path(
        &self,
        ee: &webpki::EndEntityCert<'_>,
        roots: &Anchors,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        on_path: Option<&PathCallback<'_>>,
    ) -> Result<(), webpki::Error> {
        let usage = webpki::KeyUsage::server_auth();
        path::build(ee, self.algs.all, roots, intermediates, now, usage, on_path)
    }

    /// Is the certificate valid for `server_name`?
    pub fn check_name(
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
    ) -> Result<(), VerifyError> {
        webpki::EndEntityCert::try_from(end_entity)
            .and_then(|ee| ee.verify_is_valid_for_subject_name(server_name))
            .map_err(|e| VerifyError::Certificate(pki_error(e)))
    }

    /// The first pin of `rule` found on `path` at the rule's `pin_position`, leaf first; with
    /// `leaf_pins`, only when the leaf carries one of them too.
    fn match_path(
        &self,
        rule: &Rule,
        roots: &Anchors,
        path: &webpki::VerifiedPath<'_>,
        wants_cert_pins: bool,
        describe: Describe,
    ) -> Option<PinMatch> {
        let spki_pin = |spki: &[u8]| self.spki_memo.pin(spki);
        let position = rule.pin_position();
        if !rule.leaf_pins().is_empty() {
            let cert_pins = rule
                .leaf_pins()
                .iter()
                .any(|p| p.kind() == PinKind::Certificate);
            // The leaf comes first: stop there, with or without one of the leaf pins.
            let on_leaf = path::find_on_path(path, roots, spki_pin, |cert| {
                Some(cert.pin_in(cert_pins, |p| rule.leaf_pins().contains(p)))
            });
            on_leaf.flatten()?;
        }
        path::find_on_path(path, roots, spki_pin, |cert| {
            if !admits(position, cert.position) {
                return None;
            }
            let pin = cert.pin_in(wants_cert_pins, |p| rule.has_pin(p))?;
            Some(PinMatch {
                pin,
                position: cert.position,
                // Names are formatted only for callers that show them, never in a handshake.
                subject: if describe == Describe::Handshake {
                    String::new()
                } else {
                    cert.subject()
                },
            })
        })
    }

    /// The first of `rule`'s bad pins found on `path`, leaf first (only for rules that list
    /// some). Formats the subject: a failure path, not a handshake's.
    fn bad_pin_on(
        &self,
        rule: &Rule,
        roots: &Anchors,
        path: &webpki::VerifiedPath<'_>,
    ) -> Option<BadPinOnPath> {
        if rule.bad_pins().is_empty() {
            return None;
        }
        let wants_cert_pins = rule
            .bad_pins()
            .iter()
            .any(|p| p.kind() == PinKind::Certificate);
        let spki_pin = |spki: &[u8]| self.spki_memo.pin(spki);
        path::find_on_path(path, roots, spki_pin, |cert| {
            let pin = cert.pin_in(wants_cert_pins, |p| rule.is_bad_pin(p))?;
            Some(BadPinOnPath {
                pin,
                position: cert.position,
                subject: cert.subject(),
            })
        })
    }

    fn note_expiry(&self, rule: &Rule, host: &str, now: UnixTime) {
        if let (Some(expires), true) = (rule.expires(), rule.is_expired(now)) {
            self.emit(PinEvent::PinsExpired {
                host: host.to_string(),
                expires: expires.to_string(),
                at: now,
            });
        }
    }

    fn emit(&self, event: PinEvent) {
        if let Some(sink) = &self.events {
            sink.pin_event(event);
        }
    }
}

#[cfg(feature = "ct")]
impl PinningVerifier {
    /// The CT log list that rules with `require_sct` check SCTs against.
    pub fn with_ct_logs(mut self, logs: Arc<crate::ct::LogList>) -> Self {
        self.ct_logs = CtLogs::of(logs);
        self
    }
}

/// What step 3 found.
struct PathFound {
    /// The pin on the path webpki accepted; `None`: every validated path lacked one.
    matched: Option<PinMatch>,
    /// That path, described for `Describe::Path` (else empty).
    accepted: Vec<PathEntry>,
    /// Validated paths without a pin, described.
    rejected: Vec<Vec<PathEntry>>,
    /// Bad pins found on rejected paths, each once.
    bad_pins: Vec<BadPinOnPath>,
}

/// One verification of a pinned host: what its failures name.
struct Attempt<'a> {
    verifier: &'a PinningVerifier,
    rule: &'a Rule,
    /// The default roots, or those plus the rule's own.
    roots: &'a Anchors,
    host: &'a str,
    end_entity: &'a CertificateDer<'a>,
    intermediates: &'a [CertificateDer<'a>],
    now: UnixTime,
}

impl<'a> Attempt<'a> {
    /// What the optional checks look at.
    fn inputs(&self, staple: Option<&'a [u8]>) -> checks::Inputs<'a> {
        checks::Inputs {
            policy_source: self.verifier.policy.source_name(),
            algs: &self.verifier.algs,
            ct_logs: &self.verifier.ct_logs,
            events: self.verifier.events.as_ref(),
            rule: self.rule,
            host: self.host,
            end_entity: self.end_entity,
            staple,
            now: self.now,
        }
    }

    /// Step 3: the path with the pin check.
    fn build_path(
        &self,
        ee: &webpki::EndEntityCert<'_>,
        describe: Describe,
        checks: &RefCell<Checks<'_>>,
    ) -> Result<PathFound, VerifyError> {
        let (v, rule, roots) = (self.verifier, self.rule, self.roots);
        let wants_cert_pins = rule.pins().iter().any(|p| p.kind() == PinKind::Certificate);
        let accepted: RefCell<Vec<PathEntry>> = RefCell::new(Vec::new());
        let bad_pins: RefCell<Vec<BadPinOnPath>> = RefCell::new(Vec::new());
        let found = path::build_pinned(
            ee,
            v.algs.all,
            roots,
            self.intermediates,
            self.now,
            webpki::KeyUsage::server_auth(),
            |path| {
                // A path carrying a bad key is never pinned, whatever pin it also carries
                // (Chromium's bad_static_spki_hashes); webpki then tries the other paths.
                let m = match v.bad_pin_on(rule, roots, path) {
                    Some(bad) => {
                        let mut seen = bad_pins.borrow_mut();
                        if !seen.contains(&bad) {
                            seen.push(bad);
                        }
                        None
                    }
                    None => v.match_path(rule, roots, path, wants_cert_pins, describe),
                };
                checks.borrow_mut().see_path(path, m.is_some());
                if m.is_some() && describe == Describe::Path {
                    *accepted.borrow_mut() = describe_path(path, roots);
                }
                m
            },
        );
        match (found.built, found.matched) {
            (Ok(()), Some(m)) => Ok(PathFound {
                matched: Some(m),
                accepted: accepted.into_inner(),
                rejected: found.rejected,
                bad_pins: Vec::new(),
            }),
            // Every validated path lacked a pin or carried a bad key (webpki's own error then
            // is only our marker).
            (Err(_), None) if !found.rejected.is_empty() => Ok(PathFound {
                matched: None,
                accepted: Vec::new(),
                rejected: found.rejected,
                bad_pins: bad_pins.into_inner(),
            }),
            (Err(e), _) => Err(self.invalid(pki_error(e))),
            // webpki accepted a path only through our callback, which records a match first.
            (Ok(()), None) => Err(VerifyError::Certificate(rustls::Error::General(
                "path accepted without a pin decision".into(),
            ))),
        }
    }

    fn rule_location(&self) -> String {
        format!(
            "{}:{}",
            self.verifier.policy.source_name(),
            self.rule.line()
        )
    }

    /// A pinned host whose chain fails ordinary validation (the interception case): say so
    /// through the event hook too. Only on this error path, never on success.
    fn invalid(&self, e: rustls::Error) -> VerifyError {
        if self.verifier.events.is_some() {
            self.verifier.emit(PinEvent::ChainInvalid {
                host: self.host.to_string(),
                port: None,
                served_chain: served_chain(self.end_entity, self.intermediates),
                rule: Box::new(self.rule.clone()),
                rule_location: self.rule_location(),
                error: e.clone(),
                at: self.now,
            });
        }
        VerifyError::Certificate(e)
    }

    /// Step 5 for validated paths without a pin: refused when the rule enforces, else the
    /// report-only verdict (reported once the checks passed).
    fn pin_mismatch(
        &self,
        rejected: Vec<Vec<PathEntry>>,
        bad_pins_on_path: Vec<BadPinOnPath>,
    ) -> Result<Verdict, VerifyError> {
        let v = self.verifier;
        v.note_expiry(self.rule, self.host, self.now);
        let enforcement = self.rule.enforcement_at(self.now);
        let failure = Box::new(PinFailure {
            host: self.host.to_string(),
            paths: rejected,
            expected: self.rule.pins().to_vec(),
            rule_hosts: self.rule.hosts().iter().map(ToString::to_string).collect(),
            rule_location: self.rule_location(),
            enforcement,
            served_chain: served_chain(self.end_entity, self.intermediates),
            bad_pins_on_path,
            pin_position: self.rule.pin_position(),
            expected_leaf: self.rule.leaf_pins().to_vec(),
        });
        match enforcement {
            Enforcement::Enforce => {
                v.emit(PinEvent::Refused {
                    failure: failure.clone(),
                });
                Err(VerifyError::PinMismatch(failure))
            }
            Enforcement::ReportOnly(_) => Ok(Verdict::ReportOnlyMismatch(failure)),
        }
    }

    /// Step 7: a match notes the pins' expiry only now that the connection is accepted; a
    /// report-only mismatch is reported, with the first pinless path as the one accepted.
    fn accept(&self, verdict: Verdict, accepted: Vec<PathEntry>) -> (Verdict, Vec<PathEntry>) {
        match verdict {
            Verdict::ReportOnlyMismatch(failure) => {
                if let Enforcement::ReportOnly(reason) = failure.enforcement {
                    self.verifier.emit(PinEvent::ReportOnlyMismatch {
                        reason,
                        failure: failure.clone(),
                    });
                }
                let first_path = failure.paths.first().cloned().unwrap_or_default();
                (Verdict::ReportOnlyMismatch(failure), first_path)
            }
            other => {
                self.verifier.note_expiry(self.rule, self.host, self.now);
                (other, accepted)
            }
        }
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Time comes from the injected clock (DESIGN rule 5), not from rustls' own.
        let now = self.clock.now();
        // A clean acceptance of exactly these inputs, still valid now (crate::verify::cache).
        let cached = self.cache.as_ref().and_then(|cache| {
            let key = cache.key(end_entity, intermediates, server_name, ocsp_response)?;
            Some((cache, key))
        });
        if let Some((cache, key)) = &cached
            && cache.hit(key, now)
        {
            return Ok(ServerCertVerified::assertion());
        }
        let (verdict, _) = self.verify(
            end_entity,
            intermediates,
            server_name,
            now,
            Describe::Handshake,
            Some(ocsp_response),
        )?;
        if let Some((cache, key)) = cached {
            let decision = Decision {
                policy: &self.policy,
                server_name,
                end_entity,
                intermediates,
                ocsp_response,
                #[cfg(feature = "ct")]
                ct_logs: self.ct_logs.list(),
                now,
            };
            cache.remember(&key, &verdict, &decision);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The served chain, owned, leaf first (failure paths only).
fn served_chain(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Vec<CertificateDer<'static>> {
    core::iter::once(end_entity)
        .chain(intermediates)
        .map(|c| c.clone().into_owned())
        .collect()
}

/// The server name as text; borrowed for DNS names (no allocation in a handshake).
fn host_string<'a>(server_name: &'a ServerName<'_>) -> std::borrow::Cow<'a, str> {
    match server_name {
        ServerName::DnsName(d) => std::borrow::Cow::Borrowed(d.as_ref()),
        ServerName::IpAddress(ip) => {
            std::borrow::Cow::Owned(std::net::IpAddr::from(*ip).to_string())
        }
        other => std::borrow::Cow::Owned(format!("{other:?}")),
    }
}

/// Does a certificate at `position` of a verified path count for a rule whose pins must sit
/// at `pin_position`?
fn admits(pin_position: crate::policy::PinPosition, position: Position) -> bool {
    use crate::policy::PinPosition as P;
    match pin_position {
        P::Any => true,
        P::Leaf => position == Position::Leaf,
        P::Ca => position != Position::Leaf,
    }
}
