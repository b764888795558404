//! OCSP staple validation (RFC 6960), behind the `ocsp` feature.
//!
//! A server may staple a signed OCSP response to its certificate in the handshake; rustls
//! hands it to the verifier. A rule's `ocsp` field says what keypin does with it
//! ([`OcspMode`]): ignore it (default), check it when one is stapled, or require one. A leaf
//! carrying the must-staple extension (RFC 7633: TLS Feature listing `status_request`) always
//! requires one, whatever the rule says.
//!
//! A stapled response is accepted only when, in this order:
//! 1. it parses: `OCSPResponse` with `responseStatus` successful and a `BasicOCSPResponse`
//!    (RFC 6960 4.2.1);
//! 2. one of its `SingleResponse`s is about this leaf: the `CertID` hashes (SHA-1, SHA-256,
//!    SHA-384 or SHA-512) match the issuer's name and key on the verified path, and the serial
//!    matches the leaf's (4.1.1);
//! 3. its signature verifies with the issuer's key, or with the key of a delegated responder
//!    certificate carried in the response that the issuer signed *directly*, that is valid now
//!    and that carries `id-kp-OCSPSigning` (4.2.2.2); checked with webpki and the provider's
//!    algorithms;
//! 4. every matching `SingleResponse` is fresh at the injected clock's time: `thisUpdate` no
//!    more than [`CLOCK_SKEW_SECS`] in the future, `nextUpdate` not passed; a response
//!    without `nextUpdate` is accepted for [`MAX_AGE_WITHOUT_NEXT_UPDATE_SECS`] after its
//!    `thisUpdate` (Mozilla's choice) (4.2.2.1);
//! 5. every matching `SingleResponse` says `good`: `revoked` and `unknown` refuse. An
//!    authentic `revoked` is reported as such even when the response is no longer fresh:
//!    revocation does not expire.
//!
//! Not checked: the revocation status of a delegated responder certificate itself
//! (`id-pkix-ocsp-nocheck` is the norm for them), and the response's `responderID` (the
//! signature decides who signed). OCSP is checked for hosts a rule covers; other hosts get
//! ordinary validation only, as without the feature.
//!
//! SCTs a validated response carries (RFC 6962 §3.3, `SingleResponse` extension
//! 1.3.6.1.4.1.11129.2.4.5) count toward a rule's `require_sct` with feature `ct`: see
//! `keypin::ct` ("SCTs in a stapled OCSP response"), including why a rule that ignores OCSP
//! still validates a staple when it requires SCTs. [`validate_staple`] returns them.
//!
//! [`parse_response`] is the parser alone, for fuzzing and tools.

use core::fmt;
use std::sync::Arc;

use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier};
use der::{Decode, Encode, Sequence};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, OtherError};
use rustls_pki_types::{CertificateDer, Der, TrustAnchor, UnixTime};
use x509_ocsp::{BasicOcspResponse, CertStatus as RawStatus, OcspResponseStatus, ResponseData};

use crate::clock::format_rfc3339;
use crate::dn::format_name;
use crate::policy::OcspMode;

/// How far in the future a response's `thisUpdate` may be (clocks differ): 5 minutes.
pub const CLOCK_SKEW_SECS: u64 = 5 * 60;

/// How long a response without `nextUpdate` is accepted after its `thisUpdate`: 24 hours.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE_SECS: u64 = 24 * 60 * 60;

/// Largest stapled response looked at; anything bigger is refused unread.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// RFC 6962 §3.3: the OCSP `SingleResponse` extension carrying SCTs.
const ID_OCSP_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.5");
const ID_PE_TLS_FEATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24");
/// The DER encoding of the TLS Feature extension's OID, for a quick scan of the leaf.
const TLS_FEATURE_OID_DER: [u8; 10] = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x18];
/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9), the OID's value bytes as webpki wants them.
const ID_KP_OCSP_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];
/// The TLS extension number of status_request (RFC 6066), listed by must-staple leaves.
const STATUS_REQUEST: u16 = 5;

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

mod error;
mod parse;
mod validate;

pub use error::{OcspError, OcspFailure, Requirement};
pub use parse::{CertIdHash, CertStatus, OcspResponse, SingleResponse, parse_response};
pub use validate::{Issuer, ValidatedStaple, check_staple, is_must_staple, validate_staple};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oid_scan_bytes_match_the_oid() {
        assert_eq!(ID_PE_TLS_FEATURE.to_der().unwrap(), TLS_FEATURE_OID_DER);
        let eku = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
        assert_eq!(eku.as_bytes(), ID_KP_OCSP_SIGNING);
    }
}
