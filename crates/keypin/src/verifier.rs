//! The pinning verifier: a rustls `ServerCertVerifier` that checks pins on the verified path.
//!
//! For each handshake (DESIGN.md, "Data flow"):
//! 1. look up the rule for the server name (most specific wins);
//! 2. build and validate the path with webpki's `verify_for_usage`; the `verify_path` callback
//!    checks the pins on each *candidate verified path*, so when the served chain allows several
//!    paths (cross-signed intermediates) a path carrying a pin is found, and a pinned
//!    certificate that the server merely sent, off the path, never counts (CVE-2016-2402);
//! 3. check the hostname: a pin never replaces it;
//! 4. accept, or fail with a [`PinFailure`] naming the host, each certificate on the verified
//!    path with its pin, and the pins the policy expected;
//! 5. when the rule says `require_sct`, check the leaf's embedded SCTs (feature `ct`, see
//!    [`crate::ct`]) with the issuer on the verified path, and those of the stapled OCSP
//!    response once it validated (features `ct` and `ocsp`); a rule that requires SCTs refuses
//!    when no log list is configured. This applies to report-only rules too: report-only is
//!    about pins.

use core::fmt;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

use crate::clock::Clock;
use crate::dn::format_name;
use crate::events::{PinEvent, PinEventSink};
use crate::pin::{Pin, PinKind, sha256};
use crate::policy::{Enforcement, Policy, ReportOnlyReason, Rule};
use crate::roots::Roots;
use crate::spki_memo::SpkiMemo;
use crate::verify_cache::{CacheStats, DEFAULT_CAPACITY, DEFAULT_TTL, Decision, VerifyCache};

/// Where a certificate sits on a verified path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// The server's own certificate.
    Leaf,
    /// An intermediate CA used on the path (index from the leaf side, 0 = the leaf's issuer).
    Intermediate(usize),
    /// The trust anchor that ends the path.
    TrustAnchor,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Leaf => f.write_str("leaf"),
            Self::Intermediate(_) => f.write_str("intermediate"),
            Self::TrustAnchor => f.write_str("trust anchor"),
        }
    }
}

/// One certificate of a verified path, as shown in diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathEntry {
    /// Leaf, intermediate or anchor.
    pub position: Position,
    /// The subject, like `CN=api.example.com, O=Example`.
    pub subject: String,
    /// The SPKI pin.
    pub spki_pin: Pin,
    /// The certificate pin; `None` for a trust anchor known only as a key (no certificate).
    pub cert_pin: Option<Pin>,
    /// The certificate itself; `None` for a trust anchor known only as a key.
    pub der: Option<CertificateDer<'static>>,
}

/// A verified path whose certificates carry none of the expected pins.
#[derive(Clone, Debug)]
pub struct PinFailure {
    /// The server name connected to.
    pub host: String,
    /// The verified path(s) webpki found, leaf first; none carried a pin. Usually one.
    pub paths: Vec<Vec<PathEntry>>,
    /// The pins the rule expected.
    pub expected: Vec<Pin>,
    /// The rule's host patterns, for the message.
    pub rule_hosts: Vec<String>,
    /// Where the rule is (policy source and line).
    pub rule_location: String,
    /// What the rule did about it.
    pub enforcement: Enforcement,
    /// The chain as the server sent it, leaf first (for reports: RFC 7469's
    /// `served-certificate-chain`).
    pub served_chain: Vec<CertificateDer<'static>>,
}

impl fmt::Display for PinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.enforcement {
            Enforcement::Enforce => "connection refused".to_string(),
            Enforcement::ReportOnly(ReportOnlyReason::Configured) => {
                "allowed (rule is report-only)".to_string()
            }
            Enforcement::ReportOnly(ReportOnlyReason::Expired { expires }) => format!(
                "allowed because the pins EXPIRED after {expires}: pinning is not enforced for this host until new pins ship"
            ),
        };
        write!(
            f,
            "pin verification failed for {}: no certificate on the verified path matches the pinned keys; {verdict}",
            self.host
        )?;
        for (i, path) in self.paths.iter().enumerate() {
            if self.paths.len() == 1 {
                write!(f, "\n  verified path:")?;
            } else {
                write!(f, "\n  verified path {}:", i + 1)?;
            }
            for (j, e) in path.iter().enumerate() {
                write!(
                    f,
                    "\n    [{j}] {:<12} {}  {}",
                    e.position.to_string(),
                    e.spki_pin,
                    e.subject
                )?;
            }
        }
        write!(
            f,
            "\n  pins expected by the rule for {} ({}):",
            self.rule_hosts.join(", "),
            self.rule_location
        )?;
        for p in &self.expected {
            write!(f, "\n    {p}")?;
        }
        write!(
            f,
            "\n  next: if the server's keys changed on purpose, ship the new pin (`keypin inspect {}` shows it); \
             otherwise treat this connection as intercepted",
            self.host
        )
    }
}

impl std::error::Error for PinFailure {}

/// Which pin let a connection through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinMatch {
    /// The pin.
    pub pin: Pin,
    /// The certificate that carries it.
    pub position: Position,
    /// That certificate's subject.
    pub subject: String,
}

/// The result of a successful verification.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Verdict {
    /// No rule covers the host: ordinary validation passed.
    NotPinned,
    /// A pin matched on the verified path.
    Matched(PinMatch),
    /// No pin matched, but the rule only reports.
    ReportOnlyMismatch(Box<PinFailure>),
}

/// Why verification failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum VerifyError {
    /// The chain did not validate (untrusted issuer, expired, bad signature, ...), or the
    /// certificate is not valid for the host.
    Certificate(rustls::Error),
    /// The chain validated but carries none of the pins, and the rule enforces.
    PinMismatch(Box<PinFailure>),
    /// The rule requires Certificate Transparency and the leaf's SCTs do not meet it.
    #[cfg(feature = "ct")]
    Ct(Box<crate::ct::CtFailure>),
    /// The path and pins are fine, but the OCSP check the rule (or a must-staple leaf) asks
    /// for failed.
    #[cfg(feature = "ocsp")]
    Ocsp(Box<crate::ocsp::OcspFailure>),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(e) => write!(f, "certificate validation failed: {e}"),
            Self::PinMismatch(p) => p.fmt(f),
            #[cfg(feature = "ct")]
            Self::Ct(c) => c.fmt(f),
            #[cfg(feature = "ocsp")]
            Self::Ocsp(o) => o.fmt(f),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<VerifyError> for rustls::Error {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Certificate(e) => e,
            VerifyError::PinMismatch(p) => {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(*p))))
            }
            #[cfg(feature = "ct")]
            VerifyError::Ct(c) => {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(*c))))
            }
            #[cfg(feature = "ocsp")]
            VerifyError::Ocsp(o) => o.into_rustls(),
        }
    }
}

impl VerifyError {
    /// Recovers the pin failure from a rustls error produced by [`PinningVerifier`], if it is one.
    pub fn pin_failure_of(error: &rustls::Error) -> Option<&PinFailure> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<PinFailure>()
            }
            _ => None,
        }
    }

    /// Recovers the Certificate Transparency failure from a rustls error produced by
    /// [`PinningVerifier`], if it is one.
    #[cfg(feature = "ct")]
    pub fn ct_failure_of(error: &rustls::Error) -> Option<&crate::ct::CtFailure> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<crate::ct::CtFailure>()
            }
            _ => None,
        }
    }

    /// The same, for the `std::io::Error` that rustls' stream types return.
    pub fn pin_failure_of_io(error: &std::io::Error) -> Option<&PinFailure> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(Self::pin_failure_of)
    }
}

/// How much a verification reports beyond the verdict: a handshake needs nothing (no names
/// formatted on the hot path), `verify_chain` names the matching certificate, tools also get
/// the accepted path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Describe {
    Handshake,
    Match,
    Path,
}

/// What the stapled OCSP response gives CT.
#[cfg_attr(not(all(feature = "ct", feature = "ocsp")), allow(dead_code))]
enum StapledScts {
    /// No staple, or none looked at.
    None,
    /// The staple passed OCSP validation: its `SingleResponse` SCT extensions (maybe none).
    Validated(Vec<Vec<u8>>),
    /// A staple came but did not validate (or cannot be, without `ocsp`): why. Its SCTs do
    /// not count.
    NotValidated(String),
}

/// A set of trust anchors with their SPKI pins computed once, at construction.
#[derive(Clone)]
struct Anchors {
    list: Arc<[TrustAnchor<'static>]>,
    pins: Arc<[Pin]>,
}

impl Anchors {
    fn new(list: Vec<TrustAnchor<'static>>) -> Self {
        let pins = list.iter().map(Pin::spki_of_anchor).collect();
        Self {
            list: Arc::from(list),
            pins,
        }
    }

    /// The pin of an anchor webpki returned from this set (found by address, so no hashing),
    /// or computed when it is not one of ours.
    fn pin_of(&self, anchor: &TrustAnchor<'_>) -> Pin {
        self.list
            .iter()
            .position(|a| {
                core::ptr::eq(a as *const _ as *const u8, anchor as *const _ as *const u8)
            })
            .and_then(|i| self.pins.get(i).copied())
            .unwrap_or_else(|| Pin::spki_of_anchor(anchor))
    }
}

/// webpki's `verify_path` callback: called on each candidate verified path.
type PathCallback<'a> = dyn Fn(&webpki::VerifiedPath<'_>) -> Result<(), webpki::Error> + 'a;

/// The pinning verifier. Build one with [`crate::PinnedConfig`] or [`PinningVerifier::new`].
pub struct PinningVerifier {
    policy: Arc<Policy>,
    roots: Anchors,
    /// Certificates of anchors that came from certificates, keyed by SPKI pin digest, so that
    /// certificate pins can match an anchor.
    anchor_certs: HashMap<[u8; 32], CertificateDer<'static>>,
    /// For rules with extra anchors: the default roots plus the rule's own.
    rule_roots: HashMap<u32, Anchors>,
    algs: WebPkiSupportedAlgorithms,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn PinEventSink>>,
    #[cfg(feature = "ct")]
    ct_logs: Option<Arc<crate::ct::LogList>>,
    /// SPKI pins of the leaf and intermediate keys seen lately (hashed once, not per handshake).
    spki_memo: SpkiMemo,
    /// Clean acceptances of recent handshakes (`None`: off); see [`crate::verify_cache`].
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
        let mut anchor_certs = HashMap::new();
        for cert in certs {
            if let Ok(spki) = crate::pin::spki_of_cert(&cert) {
                anchor_certs.insert(*Pin::from_spki_der(&spki).digest(), cert);
            }
        }
        let mut rule_roots = HashMap::new();
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
            rule_roots.insert(u32::try_from(i).unwrap_or(u32::MAX), Anchors::new(all));
        }
        let cache = VerifyCache::new(DEFAULT_TTL, DEFAULT_CAPACITY, &policy);
        Self {
            policy,
            roots: Anchors::new(anchors),
            anchor_certs,
            rule_roots,
            algs: provider.signature_verification_algorithms,
            clock,
            events,
            #[cfg(feature = "ct")]
            ct_logs: None,
            spki_memo: SpkiMemo::default(),
            cache,
        }
    }

    /// The verification cache of handshakes ([`crate::verify_cache`]): entries live at most
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

    /// The CT log list that rules with `require_sct` check SCTs against.
    #[cfg(feature = "ct")]
    pub fn with_ct_logs(mut self, logs: Arc<crate::ct::LogList>) -> Self {
        self.ct_logs = Some(logs);
        self
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
        let cert_err = |e: rustls::Error| VerifyError::Certificate(e);
        let ee = webpki::EndEntityCert::try_from(end_entity).map_err(|e| cert_err(pki_error(e)))?;
        let host = host_string(server_name);

        // 1. The rule for this server name (most specific wins). No rule: plain validation.
        let Some(rule_idx) = self.policy.rule_index_for(&host) else {
            let accepted: RefCell<Vec<PathEntry>> = RefCell::new(Vec::new());
            let record = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
                *accepted.borrow_mut() = self.describe_path(path);
                Ok(())
            };
            let on_path: Option<&PathCallback<'_>> = match describe {
                Describe::Path => Some(&record),
                Describe::Handshake | Describe::Match => None,
            };
            self.build_path(&ee, &self.roots.list, intermediates, now, on_path)
                .map_err(|e| cert_err(pki_error(e)))?;
            ee.verify_is_valid_for_subject_name(server_name)
                .map_err(|e| cert_err(pki_error(e)))?;
            return Ok((Verdict::NotPinned, accepted.into_inner()));
        };
        let Some(rule) = self.policy.rules().get(rule_idx as usize) else {
            return Err(cert_err(rustls::Error::General(
                "policy index out of range".into(),
            )));
        };
        let roots = self.rule_roots.get(&rule_idx).unwrap_or(&self.roots);
        let wants_cert_pins = rule.pins().iter().any(|p| p.kind() == PinKind::Certificate);
        // The issuer key on the verified path, for CT's issuer key hash (only when needed).
        let issuer_spki: RefCell<Option<Vec<u8>>> = RefCell::new(None);
        let note_issuer = |path: &webpki::VerifiedPath<'_>, matched: bool| {
            if rule.require_sct().is_some() && (matched || issuer_spki.borrow().is_none()) {
                *issuer_spki.borrow_mut() = Some(issuer_spki_of(path));
            }
        };
        #[cfg(feature = "ocsp")]
        let ocsp_refused = |failure: Box<crate::ocsp::OcspFailure>| {
            let failure_event = failure.clone();
            self.emit(PinEvent::OcspRefused {
                failure: failure_event,
            });
            VerifyError::Ocsp(failure)
        };
        #[cfg(feature = "ocsp")]
        let ocsp = crate::ocsp::StapleCheck::plan(rule, &self.policy, &host, end_entity, staple)
            .map_err(ocsp_refused)?;
        // The OCSP check's outcome: what its staple gives CT, and the refusal it makes (kept
        // until CT was checked, so that a CT failure is reported first as before).
        #[cfg(feature = "ocsp")]
        let ocsp_outcome = || match ocsp.as_ref().map(|c| c.finish(now, &self.algs)) {
            None => (StapledScts::None, Ok(())),
            Some(Ok(Ok(valid))) => (StapledScts::Validated(valid.sct_extensions), Ok(())),
            Some(Ok(Err(e))) => (StapledScts::NotValidated(e.to_string()), Ok(())),
            // The refusal's event is emitted only if it is the error returned (below).
            Some(Err(failure)) => (
                StapledScts::NotValidated(failure.error.to_string()),
                Err(VerifyError::Ocsp(failure)),
            ),
        };
        #[cfg(not(feature = "ocsp"))]
        let ocsp_outcome = || {
            // Without the `ocsp` feature a staple cannot be validated, so its SCTs never count.
            let scts = match staple {
                Some(s) if !s.is_empty() && rule.require_sct().is_some() => {
                    StapledScts::NotValidated(
                        "this build of keypin cannot validate OCSP responses (feature `ocsp`)"
                            .into(),
                    )
                }
                _ => StapledScts::None,
            };
            (scts, Ok::<(), VerifyError>(()))
        };

        // 2. Path building; pins are checked in the callback on each candidate verified path.
        let matched: RefCell<Option<PinMatch>> = RefCell::new(None);
        let accepted: RefCell<Vec<PathEntry>> = RefCell::new(Vec::new());
        let rejected: RefCell<Vec<Vec<PathEntry>>> = RefCell::new(Vec::new());
        let check_path = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
            #[cfg(feature = "ocsp")]
            if let Some(check) = &ocsp {
                check.note_path(path);
            }
            match self.match_path(rule, roots, path, wants_cert_pins, describe) {
                Some(m) => {
                    note_issuer(path, true);
                    *matched.borrow_mut() = Some(m);
                    if describe == Describe::Path {
                        *accepted.borrow_mut() = self.describe_path(path);
                    }
                    Ok(())
                }
                None => {
                    note_issuer(path, false);
                    let mut r = rejected.borrow_mut();
                    if r.len() < 4 {
                        r.push(self.describe_path(path));
                    }
                    // Any error makes webpki try the remaining candidate paths.
                    Err(webpki::Error::UnknownIssuer)
                }
            }
        };
        let built = self.build_path(&ee, &roots.list, intermediates, now, Some(&check_path));
        let issuer_spki = issuer_spki.into_inner();
        // 5. Certificate Transparency, when the rule requires it (counting the SCTs of a staple
        // that validated); then 3b. the stapled OCSP response, when the rule or a must-staple
        // leaf asks: its refusal is reported after CT's.
        let ct_then_ocsp = || {
            let (stapled, ocsp_result) = ocsp_outcome();
            self.check_ct(
                rule,
                &host,
                end_entity,
                issuer_spki.as_deref(),
                &stapled,
                now,
            )?;
            #[cfg(feature = "ocsp")]
            if let Err(VerifyError::Ocsp(failure)) = &ocsp_result {
                self.emit(PinEvent::OcspRefused {
                    failure: failure.clone(),
                });
            }
            ocsp_result
        };
        let rejected = rejected.into_inner();
        let matched = matched.into_inner();
        let enforcement = rule.enforcement_at(now);
        let failure = |paths| {
            Box::new(PinFailure {
                host: host.to_string(),
                paths,
                expected: rule.pins().to_vec(),
                rule_hosts: rule.hosts().iter().map(ToString::to_string).collect(),
                rule_location: format!("{}:{}", self.policy.source_name(), rule.line()),
                enforcement,
                served_chain: served_chain(end_entity, intermediates),
            })
        };
        // A pinned host whose chain fails ordinary validation (the interception case): say so
        // through the event hook too. Only on this error path, never on success.
        let invalid = |e: rustls::Error| {
            if self.events.is_some() {
                self.emit(PinEvent::ChainInvalid {
                    host: host.to_string(),
                    port: None,
                    served_chain: served_chain(end_entity, intermediates),
                    rule: Box::new(rule.clone()),
                    rule_location: format!("{}:{}", self.policy.source_name(), rule.line()),
                    error: e.clone(),
                    at: now,
                });
            }
            cert_err(e)
        };

        match (built, matched) {
            (Ok(_), Some(m)) => {
                // 3. The hostname: a pin never replaces it.
                ee.verify_is_valid_for_subject_name(server_name)
                    .map_err(|e| invalid(pki_error(e)))?;
                // 5 and 3b. Certificate Transparency and the stapled OCSP response.
                ct_then_ocsp()?;
                self.note_expiry(rule, &host, now);
                Ok((Verdict::Matched(m), accepted.into_inner()))
            }
            // Every validated path lacked a pin (webpki's own error then is only our marker).
            (Err(_), None) if !rejected.is_empty() => {
                ee.verify_is_valid_for_subject_name(server_name)
                    .map_err(|e| invalid(pki_error(e)))?;
                self.note_expiry(rule, &host, now);
                let first_path = rejected.first().cloned().unwrap_or_default();
                let failure = failure(rejected);
                match enforcement {
                    Enforcement::Enforce => {
                        self.emit(PinEvent::Refused {
                            failure: failure.clone(),
                        });
                        Err(VerifyError::PinMismatch(failure))
                    }
                    Enforcement::ReportOnly(reason) => {
                        // A pin mismatch only reports here; a failed CT or OCSP check still
                        // refuses.
                        ct_then_ocsp()?;
                        self.emit(PinEvent::ReportOnlyMismatch {
                            reason,
                            failure: failure.clone(),
                        });
                        Ok((Verdict::ReportOnlyMismatch(failure), first_path))
                    }
                }
            }
            (Err(e), _) => Err(invalid(pki_error(e))),
            // webpki accepted a path only through our callback, which records a match first.
            (Ok(_), None) => Err(cert_err(rustls::Error::General(
                "path accepted without a pin decision".into(),
            ))),
        }
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
            *found.borrow_mut() = self.describe_path(path);
            Ok(())
        };
        self.build_path(&ee, &roots.list, intermediates, now, Some(&record))
            .map_err(|e| VerifyError::Certificate(pki_error(e)))?;
        Ok(found.into_inner())
    }

    /// webpki path building for a TLS server certificate; the one place it is called.
    fn build_path(
        &self,
        ee: &webpki::EndEntityCert<'_>,
        roots: &[TrustAnchor<'_>],
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        on_path: Option<&PathCallback<'_>>,
    ) -> Result<(), webpki::Error> {
        ee.verify_for_usage(
            self.algs.all,
            roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            on_path,
        )
        .map(|_| ())
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

    /// The first pin of `rule` found on `path`, leaf first.
    fn match_path(
        &self,
        rule: &Rule,
        roots: &Anchors,
        path: &webpki::VerifiedPath<'_>,
        wants_cert_pins: bool,
        describe: Describe,
    ) -> Option<PinMatch> {
        let check = |spki_pin: Pin,
                     cert: Option<&[u8]>,
                     position: Position,
                     subject: &dyn Fn() -> String| {
            let hit = if rule.has_pin(&spki_pin) {
                Some(spki_pin)
            } else if wants_cert_pins {
                cert.map(Pin::from_cert_der).filter(|p| rule.has_pin(p))
            } else {
                None
            };
            hit.map(|pin| PinMatch {
                pin,
                position,
                // Names are formatted only for callers that show them, never in a handshake.
                subject: if describe == Describe::Handshake {
                    String::new()
                } else {
                    subject()
                },
            })
        };
        let ee = path.end_entity();
        if let Some(m) = check(
            self.spki_memo.pin(ee.subject_public_key_info().as_ref()),
            Some(ee.der().as_ref()),
            Position::Leaf,
            &|| format_name(ee.subject()),
        ) {
            return Some(m);
        }
        for (i, c) in path.intermediate_certificates().enumerate() {
            if let Some(m) = check(
                self.spki_memo.pin(c.subject_public_key_info().as_ref()),
                Some(c.der().as_ref()),
                Position::Intermediate(i),
                &|| format_name(c.subject()),
            ) {
                return Some(m);
            }
        }
        let anchor = path.anchor();
        let spki_pin = roots.pin_of(anchor);
        let anchor_cert = if wants_cert_pins {
            self.anchor_certs.get(spki_pin.digest())
        } else {
            None
        };
        check(
            spki_pin,
            anchor_cert.map(|c| c.as_ref()),
            Position::TrustAnchor,
            &|| format_name(&anchor.subject),
        )
    }

    fn describe_path(&self, path: &webpki::VerifiedPath<'_>) -> Vec<PathEntry> {
        let ee = path.end_entity();
        let mut out = vec![PathEntry {
            position: Position::Leaf,
            subject: format_name(ee.subject()),
            spki_pin: Pin::from_spki_der(ee.subject_public_key_info().as_ref()),
            cert_pin: Some(Pin::from_cert_der(ee.der().as_ref())),
            der: Some(ee.der().into_owned()),
        }];
        for (i, c) in path.intermediate_certificates().enumerate() {
            out.push(PathEntry {
                position: Position::Intermediate(i),
                subject: format_name(c.subject()),
                spki_pin: Pin::from_spki_der(c.subject_public_key_info().as_ref()),
                cert_pin: Some(Pin::from_cert_der(c.der().as_ref())),
                der: Some(c.der().into_owned()),
            });
        }
        let anchor = path.anchor();
        let spki_pin = Pin::spki_of_anchor(anchor);
        let cert = self.anchor_certs.get(spki_pin.digest());
        out.push(PathEntry {
            position: Position::TrustAnchor,
            subject: format_name(&anchor.subject),
            spki_pin,
            cert_pin: cert.map(|c| Pin::from_cert_der(c.as_ref())),
            der: cert.cloned(),
        });
        out
    }

    /// Step 5: the rule's `require_sct`, checked with the issuer on the verified path.
    fn check_ct(
        &self,
        rule: &Rule,
        host: &str,
        end_entity: &CertificateDer<'_>,
        issuer_spki: Option<&[u8]>,
        stapled: &StapledScts,
        now: UnixTime,
    ) -> Result<(), VerifyError> {
        let Some(requirement) = rule.require_sct() else {
            return Ok(());
        };
        #[cfg(feature = "ct")]
        {
            let staple_note = match stapled {
                StapledScts::NotValidated(why) => Some(why.clone()),
                StapledScts::None | StapledScts::Validated(_) => None,
            };
            let fail = |reason: String, checks| {
                let failure = Box::new(crate::ct::CtFailure {
                    host: host.to_string(),
                    requirement,
                    rule_location: format!("{}:{}", self.policy.source_name(), rule.line()),
                    reason,
                    checks,
                    staple_note: staple_note.clone(),
                });
                self.emit(PinEvent::CtRefused {
                    failure: failure.clone(),
                });
                VerifyError::Ct(failure)
            };
            let Some(logs) = &self.ct_logs else {
                return Err(fail(
                    "no CT log list is configured, so no SCT can be checked (give one with \
                     PinnedConfigBuilder::ct_logs)"
                        .into(),
                    Vec::new(),
                ));
            };
            let Some(issuer) = issuer_spki else {
                return Err(fail(
                    "the issuer on the verified path is unknown".into(),
                    Vec::new(),
                ));
            };
            let mut scts = crate::ct::verify_embedded_scts(end_entity.as_ref(), issuer, logs, now)
                .map_err(|e| fail(e.to_string(), Vec::new()))?;
            // SCTs of a staple that passed OCSP validation count with the embedded ones; a
            // malformed SCT list there refuses, as an embedded one does.
            if let StapledScts::Validated(extensions) = stapled {
                let more =
                    crate::ct::verify_stapled_scts(end_entity.as_ref(), extensions, logs, now)
                        .map_err(|e| fail(e.to_string(), scts.checks.clone()))?;
                scts.checks.extend(more);
            }
            requirement
                .evaluate(&scts, now)
                .map_err(|reason| fail(reason, scts.checks))
        }
        #[cfg(not(feature = "ct"))]
        {
            // Policies refuse require_sct without the feature; should one get here anyway,
            // refuse rather than skip the check.
            let _ = (end_entity, issuer_spki, stapled, now);
            Err(VerifyError::Certificate(rustls::Error::General(format!(
                "the rule for {host} ({requirement}) needs Certificate Transparency, which this \
                 build of keypin lacks (feature `ct`)"
            ))))
        }
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
        // A clean acceptance of exactly these inputs, still valid now (crate::verify_cache).
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
                ct_logs: self.ct_logs.as_deref(),
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

impl Pin {
    /// The SPKI pin of a webpki trust anchor. webpki stores the anchor's SPKI without its
    /// outer SEQUENCE; the pin is computed over the re-wrapped DER, so it equals the value
    /// everyone else computes from the root certificate.
    pub fn spki_of_anchor(anchor: &TrustAnchor<'_>) -> Self {
        Self::from_digest(
            PinKind::Spki,
            sha256(&[webpki::spki_for_anchor(anchor).as_ref()]),
        )
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

/// DER SubjectPublicKeyInfo of the leaf's issuer on a verified path: the first intermediate,
/// or the trust anchor when the leaf hangs directly off it.
fn issuer_spki_of(path: &webpki::VerifiedPath<'_>) -> Vec<u8> {
    match path.intermediate_certificates().next() {
        Some(c) => c.subject_public_key_info().as_ref().to_vec(),
        None => webpki::spki_for_anchor(path.anchor()).as_ref().to_vec(),
    }
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

/// webpki's errors in rustls' terms, the way rustls' own verifier maps the common ones.
pub(crate) fn pki_error(error: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    match error {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding.into(),
        E::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }.into()
        }
        E::CertExpired { time, not_after } => {
            CertificateError::ExpiredContext { time, not_after }.into()
        }
        E::InvalidCertValidity => CertificateError::Expired.into(),
        E::UnknownIssuer => CertificateError::UnknownIssuer.into(),
        E::CertNotValidForName(webpki::InvalidNameContext {
            expected,
            presented,
        }) => CertificateError::NotValidForNameContext {
            expected,
            presented,
        }
        .into(),
        E::CertRevoked => CertificateError::Revoked.into(),
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature.into(),
        #[allow(deprecated)] // matched for completeness; newer webpki uses the *Context forms
        E::UnsupportedSignatureAlgorithm | E::UnsupportedSignatureAlgorithmForPublicKey => {
            CertificateError::UnsupportedSignatureAlgorithm.into()
        }
        E::UnsupportedSignatureAlgorithmContext(cx) => {
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: cx.signature_algorithm_id,
                supported_algorithms: cx.supported_algorithms,
            }
            .into()
        }
        E::UnsupportedSignatureAlgorithmForPublicKeyContext(cx) => {
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: cx.signature_algorithm_id,
                public_key_algorithm_id: cx.public_key_algorithm_id,
            }
            .into()
        }
        #[allow(deprecated)] // matched for completeness; newer webpki uses the *Context form
        E::RequiredEkuNotFound => CertificateError::InvalidPurpose.into(),
        E::RequiredEkuNotFoundContext(_) => CertificateError::InvalidPurpose.into(),
        other => CertificateError::Other(OtherError(Arc::new(other))).into(),
    }
}
