//! The server side of mTLS: [`PinnedClientVerifier`], a rustls `ClientCertVerifier` that
//! validates the client's chain against the given CA roots (webpki, clientAuth usage) and then
//! requires a pinned key on the verified path, per named client identity.
//!
//! ```toml
//! # clients.toml: who may connect, by key
//! [[client]]
//! name = "billing-service"
//! pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",  # current key
//!         "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]  # next key
//! expires = "2027-06-30"      # optional: last day these pins authorize the client
//! on_expiry = "refuse"        # default; or "accept-and-report"
//! ```
//!
//! For each handshake:
//! 1. build and validate the client's path with webpki's `verify_for_usage` (clientAuth
//!    extended key usage, dates, signatures) against the roots; as on the server side, the
//!    pins are checked in the `verify_path` callback on each *candidate verified path*, so a
//!    pinned certificate the client merely sent, off the path, never counts;
//! 2. the first identity one of whose pins is on the path is the client;
//! 3. an identity whose pins have expired no longer authorizes anyone, unless it says
//!    `on_expiry = "accept-and-report"` (then every such connection is logged at warn level
//!    and sent as a [`PinEvent::ClientPinsExpired`] to the sink given with
//!    [`PinnedClientVerifier::with_events`]);
//! 4. otherwise the handshake fails with a [`ClientPinFailure`] naming the key the client
//!    presented, its certificates, and the identities that are allowed (also sent as a
//!    [`PinEvent::ClientRefused`]).
//!
//! # Session resumption
//!
//! rustls does not verify the client certificate again when a client resumes a session, so
//! a client whose pins were removed or expired can keep resuming a session from before. A
//! server that changes its allowlist at run time should either turn resumption off
//! (`config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {})` and
//! `config.send_tls13_tickets = 0`), or check every connection after its handshake with
//! [`PinnedClientVerifier::verify_peer`], which also tells it the client's identity.
//!
//! Why expiry refuses by default (unlike server pins, which drop to report-only): the server
//! operator owns this allowlist and can update it at any time, so an expired entry means a
//! forgotten rotation, not a bricked app in the field; accepting would turn "pinned" into
//! "any client of the CA" without anyone noticing.

use core::fmt;
use std::cell::RefCell;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::clock::{Clock, Date};
use crate::error::Error;
use crate::events::{PinEvent, PinEventSink};
use crate::pin::Pin;
use crate::policy::{ClientOnExpiry, ClientPolicy};
use crate::roots::Roots;
use crate::verify::outcome::{ClientMatch, ClientPinFailure, ClientVerifyError};
use crate::verify::path::pki_error;
use crate::verify::path::{self, Anchors};

/// Verifies client certificates: CA validation, then the client allowlist. Client
/// authentication is mandatory: a client without a certificate is refused.
pub struct PinnedClientVerifier {
    policy: Arc<ClientPolicy>,
    /// The CA roots, with their SPKI pins computed once.
    anchors: Anchors,
    hints: Vec<DistinguishedName>,
    algs: WebPkiSupportedAlgorithms,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn PinEventSink>>,
}

impl fmt::Debug for PinnedClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedClientVerifier")
            .field("policy", &self.policy.source_name())
            .field("identities", &self.policy.identities().len())
            .field("roots", &self.anchors.list.len())
            .finish_non_exhaustive()
    }
}

impl PinnedClientVerifier {
    /// A verifier for `policy`, validating client chains against `roots` (the CAs that issue
    /// client certificates), with `provider`'s signature algorithms and time from `clock`.
    /// Refuses an empty set of roots: no client could be validated.
    pub fn new(
        policy: impl Into<Arc<ClientPolicy>>,
        roots: Roots,
        provider: &CryptoProvider,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        if roots.is_empty() {
            return Err(Error::Certificate {
                context: "the client verifier has no CA roots to validate client certificates \
                          against; add the CA that issues them"
                    .into(),
                source: webpki::Error::UnknownIssuer,
            });
        }
        let (anchors, _) = roots.into_parts();
        let hints = anchors
            .iter()
            .map(|a| DistinguishedName::in_sequence(a.subject.as_ref()))
            .collect();
        Ok(Self {
            policy: policy.into(),
            anchors: Anchors::new(anchors, Arc::default()),
            hints,
            algs: provider.signature_verification_algorithms,
            clock,
            events: None,
        })
    }

    /// Where refusals and expired-pin acceptances go ([`PinEvent::ClientRefused`],
    /// [`PinEvent::ClientPinsExpired`]). Called on the handshake path: use a sink that never
    /// blocks, like [`crate::events::ChannelSink`].
    pub fn with_events(mut self, sink: Arc<dyn PinEventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    fn emit(&self, event: PinEvent) {
        if let Some(sink) = &self.events {
            sink.pin_event(event);
        }
    }

    /// The allowlist.
    pub fn policy(&self) -> &Arc<ClientPolicy> {
        &self.policy
    }

    /// The whole check a handshake makes, without the handshake: which identity the chain
    /// belongs to at `now`. A server can call it with `peer_certificates()` after the
    /// handshake to learn the client's identity name.
    pub fn verify_client_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientMatch, ClientVerifyError> {
        let cert_err = |e: webpki::Error| ClientVerifyError::Certificate(pki_error(e));
        let ee = webpki::EndEntityCert::try_from(end_entity).map_err(cert_err)?;

        let expired: RefCell<Option<(String, Date)>> = RefCell::new(None);
        let found = path::build_pinned(
            &ee,
            self.algs.all,
            &self.anchors,
            intermediates,
            now,
            webpki::KeyUsage::client_auth(),
            |path| self.match_path(path, now, &expired),
        );
        let rejected = found.rejected;
        match (found.built, found.matched) {
            (Ok(_), Some(m)) => {
                if m.expired {
                    let expires = self
                        .policy
                        .identities()
                        .iter()
                        .find(|i| i.name() == m.identity)
                        .and_then(|i| i.expiry())
                        .map(|d| d.to_string())
                        .unwrap_or_default();
                    log::warn!(
                        "keypin: client identity {:?} accepted on pins that EXPIRED after {expires} (on_expiry = accept-and-report); ship its new key",
                        m.identity
                    );
                    self.emit(PinEvent::ClientPinsExpired {
                        identity: m.identity.clone(),
                        expires,
                        at: now,
                    });
                }
                Ok(m)
            }
            (Err(_), None) if !rejected.is_empty() => {
                let failure = Box::new(ClientPinFailure {
                    paths: rejected,
                    expired_identity: expired.into_inner(),
                    expected: self
                        .policy
                        .identities()
                        .iter()
                        .map(|i| (i.name().to_string(), i.pins().to_vec()))
                        .collect(),
                    policy_source: self.policy.source_name().to_string(),
                });
                self.emit(PinEvent::ClientRefused {
                    failure: failure.clone(),
                });
                Err(ClientVerifyError::PinMismatch(failure))
            }
            (Err(e), _) => Err(cert_err(e)),
            (Ok(_), None) => Err(ClientVerifyError::Certificate(rustls::Error::General(
                "client path accepted without a pin decision".into(),
            ))),
        }
    }
}

impl PinnedClientVerifier {
    /// Checks the client of an established connection at the clock's current time (resumed
    /// sessions included): which identity it is, or why it is not allowed any more.
    pub fn verify_peer(
        &self,
        conn: &rustls::ServerConnection,
    ) -> Result<ClientMatch, ClientVerifyError> {
        let certs = conn.peer_certificates().unwrap_or_default();
        let Some((end_entity, intermediates)) = certs.split_first() else {
            return Err(ClientVerifyError::Certificate(
                rustls::Error::NoCertificatesPresented,
            ));
        };
        self.verify_client_chain(end_entity, intermediates, self.clock.now())
    }
}

impl PinnedClientVerifier {
    /// The first identity in force one of whose pins is on `path`, leaf first. An identity
    /// whose pins expired and refuse after expiry is skipped and remembered in `expired`.
    fn match_path(
        &self,
        path: &webpki::VerifiedPath<'_>,
        now: UnixTime,
        expired: &RefCell<Option<(String, Date)>>,
    ) -> Option<ClientMatch> {
        path::find_on_path(path, &self.anchors, Pin::from_spki_der, |cert| {
            let id = self.policy.identity_of(&cert.spki_pin)?;
            let is_expired = id.is_expired(now);
            if is_expired && id.on_expiry_setting() == ClientOnExpiry::Refuse {
                if let Some(date) = id.expiry() {
                    expired
                        .borrow_mut()
                        .get_or_insert((id.name().to_string(), date));
                }
                return None;
            }
            Some(ClientMatch {
                identity: id.name().to_string(),
                pin: cert.spki_pin,
                position: cert.position,
                expired: is_expired,
            })
        })
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Time comes from the injected clock (DESIGN rule 5), not from rustls' own.
        let now = self.clock.now();
        self.verify_client_chain(end_entity, intermediates, now)?;
        Ok(ClientCertVerified::assertion())
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
