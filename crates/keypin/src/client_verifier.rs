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
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Deserialize;
use toml::Spanned;

use crate::clock::{Clock, Date};
use crate::error::{Diagnostic, Error, PolicyError};
use crate::events::{PinEvent, PinEventSink};
use crate::pin::Pin;
use crate::policy::toml_text::{self, Lines};
use crate::roots::Roots;
use crate::verifier::path::{self, Anchors};
use crate::verifier::{PathEntry, Position, pki_error};

/// What an identity's pins do after their `expires` date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientOnExpiry {
    /// The pins no longer authorize the client: its handshakes are refused, and the refusal
    /// says the pins expired (default).
    #[default]
    Refuse,
    /// Keep accepting the pinned keys, logging a warning on every connection.
    AcceptAndReport,
}

/// One client identity: a name and the keys it may present.
#[derive(Debug, Clone)]
pub struct ClientIdentityRule {
    name: String,
    pins: Vec<Pin>,
    expires: Option<Date>,
    on_expiry: ClientOnExpiry,
    line: usize,
}

impl ClientIdentityRule {
    /// An identity named `name` that may present any of `pins`.
    pub fn new(name: &str, pins: Vec<Pin>) -> Self {
        Self {
            name: name.to_string(),
            pins,
            expires: None,
            on_expiry: ClientOnExpiry::default(),
            line: 0,
        }
    }

    /// The last date (UTC) the pins authorize the client.
    pub fn expires(mut self, date: Date) -> Self {
        self.expires = Some(date);
        self
    }

    /// What happens after `expires`.
    pub fn on_expiry(mut self, on_expiry: ClientOnExpiry) -> Self {
        self.on_expiry = on_expiry;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pins.
    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }

    /// The expiry date, if any.
    pub fn expiry(&self) -> Option<Date> {
        self.expires
    }

    /// What happens after `expires`.
    pub fn on_expiry_setting(&self) -> ClientOnExpiry {
        self.on_expiry
    }

    /// Have the pins expired at `now`? They are in force through the whole `expires` date.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires
            .is_some_and(|d| now.as_secs() as i64 >= d.start_secs() + 86_400)
    }
}

/// The client allowlist: identities and their pins. Immutable once built.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    source_name: String,
    identities: Vec<ClientIdentityRule>,
    by_pin: HashMap<Pin, usize>,
}

impl ClientPolicy {
    /// Builds a policy from identities made in code. Refused (with every problem listed):
    /// no identities, an empty name, a name used twice, an identity without pins, and a pin
    /// listed under two identities (which would make the client's identity ambiguous).
    pub fn new(
        source_name: &str,
        identities: Vec<ClientIdentityRule>,
    ) -> Result<Self, PolicyError> {
        let mut diagnostics = Vec::new();
        let mut problem = |line: usize, field: String, message: String, hint: &str| {
            diagnostics.push(Diagnostic {
                line: (line > 0).then_some(line),
                column: None,
                field: Some(field),
                message,
                hint: Some(hint.to_string()),
            });
        };
        if identities.is_empty() {
            problem(
                0,
                "client".into(),
                "the client policy lists no identity, so no client could ever connect".into(),
                "add a [[client]] table with a name and the pins of its keys",
            );
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut by_pin: HashMap<Pin, usize> = HashMap::new();
        for (i, id) in identities.iter().enumerate() {
            let field = |f: &str| format!("client[{i}].{f}");
            if id.name.trim().is_empty() {
                problem(
                    id.line,
                    field("name"),
                    "the identity has no name".into(),
                    "name it after the client, like name = \"billing-service\"",
                );
            } else if let Some(first) = names.insert(&id.name, i) {
                problem(
                    id.line,
                    field("name"),
                    format!("the name {:?} is also used by client[{first}]", id.name),
                    "each identity needs its own name; merge the pins into one identity",
                );
            }
            if id.pins.is_empty() {
                problem(
                    id.line,
                    field("pins"),
                    "the identity has no pins".into(),
                    "list the SPKI pins of the client's keys (`keypin pin client.crt`)",
                );
            }
            for pin in &id.pins {
                match by_pin.get(pin) {
                    Some(&other) if other != i => problem(
                        id.line,
                        field("pins"),
                        format!(
                            "pin {pin} is also listed for client[{other}] ({:?}): the client's identity would be ambiguous",
                            identities.get(other).map_or("", |o| o.name.as_str())
                        ),
                        "each key belongs to one identity",
                    ),
                    Some(_) => problem(
                        id.line,
                        field("pins"),
                        format!("pin {pin} is listed twice"),
                        "remove the duplicate",
                    ),
                    None => {
                        by_pin.insert(*pin, i);
                    }
                }
            }
        }
        if !diagnostics.is_empty() {
            diagnostics.sort_by_key(|d| d.line);
            return Err(PolicyError {
                source_name: source_name.to_string(),
                diagnostics,
            });
        }
        Ok(Self {
            source_name: source_name.to_string(),
            identities,
            by_pin,
        })
    }

    /// Parses a client policy (`[[client]]` tables, see the module docs).
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, PolicyError> {
        parse(text, source_name)
    }

    /// Reads and parses a client policy file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(parse(&text, &path.display().to_string())?)
    }

    /// The identities, in file order.
    pub fn identities(&self) -> &[ClientIdentityRule] {
        &self.identities
    }

    /// Where it came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    fn identity_of(&self, pin: &Pin) -> Option<&ClientIdentityRule> {
        self.by_pin.get(pin).and_then(|i| self.identities.get(*i))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClients {
    #[serde(default)]
    client: Vec<Spanned<RawClient>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    pins: Vec<Spanned<String>>,
    #[serde(default)]
    expires: Option<Spanned<String>>,
    #[serde(default)]
    on_expiry: Option<Spanned<String>>,
}

fn parse(text: &str, source_name: &str) -> Result<ClientPolicy, PolicyError> {
    let lines = Lines::new(text);
    let line_of = |offset: usize| lines.line(offset);
    let mut diagnostics = Vec::new();
    let raw: RawClients =
        toml_text::deserialize(text, source_name, &lines, toml_text::Position::Line, |_| {
            Some(
                "a client policy has [[client]] tables with name, pins, and optionally expires \
                 and on_expiry"
                    .into(),
            )
        })?;
    let mut identities = Vec::new();
    for (i, c) in raw.client.into_iter().enumerate() {
        let line = line_of(c.span().start);
        let c = c.into_inner();
        let mut pins = Vec::new();
        for (j, p) in c.pins.iter().enumerate() {
            match Pin::parse(p.get_ref()) {
                Ok(pin) => pins.push(pin),
                Err(e) => diagnostics.push(Diagnostic {
                    line: Some(line_of(p.span().start)),
                    column: None,
                    field: Some(format!("client[{i}].pins[{j}]")),
                    message: e.to_string(),
                    hint: Some("compute pins with `keypin pin client.crt`".into()),
                }),
            }
        }
        let mut rule = ClientIdentityRule::new(&c.name, pins);
        rule.line = line;
        if let Some(e) = &c.expires {
            match Date::parse(e.get_ref()) {
                Ok(d) => rule.expires = Some(d),
                Err(msg) => diagnostics.push(Diagnostic {
                    line: Some(line_of(e.span().start)),
                    column: None,
                    field: Some(format!("client[{i}].expires")),
                    message: msg,
                    hint: Some("write the last day the pins are valid, like \"2027-06-30\"".into()),
                }),
            }
        }
        if let Some(o) = &c.on_expiry {
            match o.get_ref().as_str() {
                "refuse" => rule.on_expiry = ClientOnExpiry::Refuse,
                "accept-and-report" => rule.on_expiry = ClientOnExpiry::AcceptAndReport,
                other => diagnostics.push(Diagnostic {
                    line: Some(line_of(o.span().start)),
                    column: None,
                    field: Some(format!("client[{i}].on_expiry")),
                    message: format!("unknown on_expiry {other:?}"),
                    hint: Some("use \"refuse\" (default) or \"accept-and-report\"".into()),
                }),
            }
        }
        identities.push(rule);
    }
    match ClientPolicy::new(source_name, identities) {
        Ok(p) if diagnostics.is_empty() => Ok(p),
        Ok(_) => Err(PolicyError {
            source_name: source_name.to_string(),
            diagnostics,
        }),
        Err(mut e) => {
            e.diagnostics.append(&mut diagnostics);
            e.diagnostics.sort_by_key(|d| d.line);
            Err(e)
        }
    }
}

/// The client that a handshake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMatch {
    /// The identity's name.
    pub identity: String,
    /// The pin that matched.
    pub pin: Pin,
    /// Where on the verified path it matched.
    pub position: Position,
    /// The identity's pins had expired and it is accepted only because its `on_expiry` says
    /// so.
    pub expired: bool,
}

/// A client whose verified path carries no pin of any identity in force.
///
/// `Debug` prints the same text as `Display`: rustls formats the error a verifier returns
/// with `Debug`, and server logs should show the diagnostics, not a struct dump.
#[derive(Clone)]
pub struct ClientPinFailure {
    /// The verified path(s) the client presented, leaf first (the leaf's SPKI pin is the
    /// client's key).
    pub paths: Vec<Vec<PathEntry>>,
    /// An identity whose pins are on the path but expired (and refuse after expiry).
    pub expired_identity: Option<(String, Date)>,
    /// The identities allowed, with their pins (in the policy's order).
    pub expected: Vec<(String, Vec<Pin>)>,
    /// Where the allowlist came from.
    pub policy_source: String,
}

impl ClientPinFailure {
    /// The SPKI pin of the key the client presented.
    pub fn presented_key(&self) -> Option<Pin> {
        self.paths
            .first()
            .and_then(|p| p.first())
            .map(|e| e.spki_pin)
    }
}

impl fmt::Display for ClientPinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = self
            .paths
            .first()
            .and_then(|p| p.first())
            .map_or("?", |e| e.subject.as_str());
        match &self.expired_identity {
            Some((name, date)) => write!(
                f,
                "client certificate refused: the client ({subject}) is identity {name:?}, whose pins EXPIRED after {date}"
            )?,
            None => write!(
                f,
                "client certificate refused: the client ({subject}) has a valid chain but no key on it is pinned for any client identity"
            )?,
        }
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
        write!(f, "\n  identities allowed by {}:", self.policy_source)?;
        for (name, pins) in self.expected.iter().take(16) {
            let pins: Vec<String> = pins.iter().map(ToString::to_string).collect();
            write!(f, "\n    {name}: {}", pins.join(", "))?;
        }
        if self.expected.len() > 16 {
            write!(f, "\n    ... and {} more", self.expected.len() - 16)?;
        }
        match &self.expired_identity {
            Some((name, _)) => write!(
                f,
                "\n  next: ship the new key of {name:?} with a new expiry date, or move the date if the key is still good"
            ),
            None => write!(
                f,
                "\n  next: if this client is legitimate, add its key pin ({}) to its identity; otherwise it is an unknown client of a trusted CA",
                self.presented_key()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            ),
        }
    }
}

impl fmt::Debug for ClientPinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ClientPinFailure {}

/// Why a client chain was refused.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientVerifyError {
    /// The chain did not validate (untrusted issuer, expired, no clientAuth usage, ...).
    Certificate(rustls::Error),
    /// The chain validated but carries no pin of an identity in force.
    PinMismatch(Box<ClientPinFailure>),
}

impl fmt::Display for ClientVerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(e) => write!(f, "client certificate validation failed: {e}"),
            Self::PinMismatch(p) => p.fmt(f),
        }
    }
}

impl std::error::Error for ClientVerifyError {}

impl From<ClientVerifyError> for rustls::Error {
    fn from(e: ClientVerifyError) -> Self {
        match e {
            ClientVerifyError::Certificate(e) => e,
            ClientVerifyError::PinMismatch(p) => {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(*p))))
            }
        }
    }
}

impl ClientVerifyError {
    /// Recovers the client pin failure from the rustls error a server connection returned.
    pub fn pin_failure_of(error: &rustls::Error) -> Option<&ClientPinFailure> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<ClientPinFailure>()
            }
            _ => None,
        }
    }
}

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
            .field("policy", &self.policy.source_name)
            .field("identities", &self.policy.identities.len())
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
    /// blocks, like [`crate::ChannelSink`].
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
                        .identities
                        .iter()
                        .find(|i| i.name == m.identity)
                        .and_then(|i| i.expires)
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
                        .identities
                        .iter()
                        .map(|i| (i.name.clone(), i.pins.clone()))
                        .collect(),
                    policy_source: self.policy.source_name.clone(),
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
            if is_expired && id.on_expiry == ClientOnExpiry::Refuse {
                if let Some(date) = id.expires {
                    expired.borrow_mut().get_or_insert((id.name.clone(), date));
                }
                return None;
            }
            Some(ClientMatch {
                identity: id.name.clone(),
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
