//! Path building and pin matching on a verified path, for both sides of a connection: the
//! server's [`super::PinningVerifier`] and the client's [`crate::verify::PinnedClientVerifier`].
//!
//! Pins are looked for only on a path webpki validated, inside its `verify_path` callback: when
//! the served chain allows several paths (cross-signed intermediates) a path carrying a pin is
//! found, and a pinned certificate that the peer merely sent, off the path, never counts
//! (CVE-2016-2402). A candidate path without a pin is refused in the callback, which makes
//! webpki try the remaining ones.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rustls::{CertificateError, OtherError};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

use super::{PathEntry, Position};
use crate::dn::format_name;
use crate::pin::{Pin, PinKind, sha256};

/// webpki's `verify_path` callback: called on each candidate verified path.
pub(crate) type PathCallback<'a> =
    dyn Fn(&webpki::VerifiedPath<'_>) -> Result<(), webpki::Error> + 'a;

/// How many pinless paths a failure describes.
const MAX_REJECTED: usize = 4;

/// A set of trust anchors with their SPKI pins computed once, at construction, and the
/// certificates of anchors that came from certificates (keyed by SPKI pin digest), so that
/// certificate pins can match an anchor.
#[derive(Clone)]
pub(crate) struct Anchors {
    pub(crate) list: Arc<[TrustAnchor<'static>]>,
    pins: Arc<[Pin]>,
    certs: Arc<HashMap<[u8; 32], CertificateDer<'static>>>,
}

impl Anchors {
    pub(crate) fn new(
        list: Vec<TrustAnchor<'static>>,
        certs: Arc<HashMap<[u8; 32], CertificateDer<'static>>>,
    ) -> Self {
        let pins = list.iter().map(Pin::spki_of_anchor).collect();
        Self {
            list: Arc::from(list),
            pins,
            certs,
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

    /// The certificate of the anchor whose SPKI pin is `spki_pin`, when it came from one.
    fn cert_of(&self, spki_pin: &Pin) -> Option<&CertificateDer<'static>> {
        self.certs.get(spki_pin.digest())
    }
}

/// One certificate of a verified path, as a pin matcher sees it.
pub(crate) struct PathCert<'p> {
    /// Leaf, intermediate or anchor.
    pub(crate) position: Position,
    /// Its SPKI pin.
    pub(crate) spki_pin: Pin,
    /// The certificate; `None` for the trust anchor (see [`Self::cert_pin`]).
    cert: Option<CertificateDer<'p>>,
    name: &'p [u8],
    anchors: &'p Anchors,
}

impl PathCert<'_> {
    /// The certificate pin; `None` for a trust anchor known only as a key. Hashes the
    /// certificate: call it only when the rule has certificate pins.
    pub(crate) fn cert_pin(&self) -> Option<Pin> {
        match &self.cert {
            Some(der) => Some(Pin::from_cert_der(der.as_ref())),
            None => self
                .anchors
                .cert_of(&self.spki_pin)
                .map(|c| Pin::from_cert_der(c.as_ref())),
        }
    }

    /// This certificate's SPKI pin, or (when `cert_pins`: the set holds certificate pins) its
    /// certificate pin, if `in_set` holds it.
    pub(crate) fn pin_in(&self, cert_pins: bool, in_set: impl Fn(&Pin) -> bool) -> Option<Pin> {
        if in_set(&self.spki_pin) {
            Some(self.spki_pin)
        } else if cert_pins {
            self.cert_pin().filter(|p| in_set(p))
        } else {
            None
        }
    }

    /// The subject, formatted (not on the handshake path).
    pub(crate) fn subject(&self) -> String {
        format_name(self.name)
    }
}

/// The first answer `pick` gives for a certificate of `path`, leaf first, then the
/// intermediates, then the trust anchor. `spki_pin` hashes a leaf's or an intermediate's
/// SubjectPublicKeyInfo (anchors' pins are computed once, in [`Anchors`]).
pub(crate) fn find_on_path<'p, T>(
    path: &'p webpki::VerifiedPath<'p>,
    anchors: &'p Anchors,
    spki_pin: impl Fn(&[u8]) -> Pin,
    mut pick: impl FnMut(&PathCert<'p>) -> Option<T>,
) -> Option<T> {
    let ee: &'p webpki::Cert<'p> = path.end_entity();
    let certs = core::iter::once((Position::Leaf, ee)).chain(
        path.intermediate_certificates()
            .enumerate()
            .map(|(i, c)| (Position::Intermediate(i), c)),
    );
    for (position, c) in certs {
        let cert = PathCert {
            position,
            spki_pin: spki_pin(c.subject_public_key_info().as_ref()),
            cert: Some(c.der()),
            name: c.subject(),
            anchors,
        };
        if let Some(found) = pick(&cert) {
            return Some(found);
        }
    }
    let anchor = path.anchor();
    pick(&PathCert {
        position: Position::TrustAnchor,
        spki_pin: anchors.pin_of(anchor),
        cert: None,
        name: anchor.subject.as_ref(),
        anchors,
    })
}

/// What path building with a pin check found.
pub(crate) struct Pinned<T> {
    /// webpki's answer; when every validated path lacked a pin, its error is only the marker
    /// the callback returned.
    pub(crate) built: Result<(), webpki::Error>,
    /// The pin decision on the path webpki accepted.
    pub(crate) matched: Option<T>,
    /// Validated paths that carried no pin, described (at most [`MAX_REJECTED`]).
    pub(crate) rejected: Vec<Vec<PathEntry>>,
}

/// Builds and validates the path for `usage`, accepting only a path on which `pin_check`
/// finds a pin: each candidate verified path is given to `pin_check`, and one without a pin
/// is refused so that webpki tries the others.
pub(crate) fn build_pinned<T>(
    ee: &webpki::EndEntityCert<'_>,
    algs: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm],
    anchors: &Anchors,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    usage: webpki::KeyUsage,
    pin_check: impl Fn(&webpki::VerifiedPath<'_>) -> Option<T>,
) -> Pinned<T> {
    let matched: RefCell<Option<T>> = RefCell::new(None);
    let rejected: RefCell<Vec<Vec<PathEntry>>> = RefCell::new(Vec::new());
    let check_path = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
        match pin_check(path) {
            Some(m) => {
                *matched.borrow_mut() = Some(m);
                Ok(())
            }
            None => {
                let mut r = rejected.borrow_mut();
                if r.len() < MAX_REJECTED {
                    r.push(describe_path(path, anchors));
                }
                // Any error makes webpki try the remaining candidate paths.
                Err(webpki::Error::UnknownIssuer)
            }
        }
    };
    let built = build(
        ee,
        algs,
        anchors,
        intermediates,
        now,
        usage,
        Some(&check_path),
    );
    Pinned {
        built,
        matched: matched.into_inner(),
        rejected: rejected.into_inner(),
    }
}

/// webpki path building; the one place it is called.
pub(crate) fn build(
    ee: &webpki::EndEntityCert<'_>,
    algs: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm],
    anchors: &Anchors,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    usage: webpki::KeyUsage,
    on_path: Option<&PathCallback<'_>>,
) -> Result<(), webpki::Error> {
    ee.verify_for_usage(
        algs,
        &anchors.list,
        intermediates,
        now,
        usage,
        None,
        on_path,
    )
    .map(|_| ())
}

/// Every certificate of a verified path with its pins, leaf first, for diagnostics.
pub(crate) fn describe_path(path: &webpki::VerifiedPath<'_>, anchors: &Anchors) -> Vec<PathEntry> {
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
    let cert = anchors.cert_of(&spki_pin);
    out.push(PathEntry {
        position: Position::TrustAnchor,
        subject: format_name(&anchor.subject),
        spki_pin,
        cert_pin: cert.map(|c| Pin::from_cert_der(c.as_ref())),
        der: cert.cloned(),
    });
    out
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
