//! Verification against roots that are not Apple's or Google's: for simulated devices in tests
//! and demos only (keypin-pki's `attest_sim`). Nothing here is reached by the ordinary entry
//! points, which trust only the embedded production roots; a caller who ends up here has
//! written `danger` in its code, and a service should say so in its configuration too.

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, TrustAnchor};

use crate::android::{AndroidReport, AndroidRequest};
use crate::apple::{AppleFailure, AttestationRequest, AttestedKey};

/// Trust anchors standing in for Apple's or Google's attestation roots.
#[derive(Debug, Clone)]
pub struct TestRoots {
    anchors: Vec<TrustAnchor<'static>>,
}

impl TestRoots {
    /// Every certificate in `pem` becomes a trust anchor; at least one is required.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let mut anchors = Vec::new();
        for (i, der) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
            let der = der.map_err(|e| format!("test root {i}: PEM: {e}"))?;
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| format!("test root {i}: not a usable trust anchor: {e:?}"))?;
            anchors.push(anchor.to_owned());
        }
        if anchors.is_empty() {
            return Err("no CERTIFICATE block among the test roots".into());
        }
        Ok(Self { anchors })
    }
}

/// [`crate::apple::verify_attestation`], trusting `roots` instead of Apple's root.
pub fn verify_attestation_with_test_roots(
    attestation_object: &[u8],
    request: &AttestationRequest<'_>,
    roots: &TestRoots,
) -> Result<AttestedKey, AppleFailure> {
    crate::apple::verify_attestation_to(attestation_object, request, &roots.anchors)
}

/// [`crate::android::verify_android`], trusting `roots` instead of Google's roots.
pub fn verify_android_with_test_roots(
    chain_pem: &[u8],
    request: &AndroidRequest<'_>,
    roots: &TestRoots,
) -> AndroidReport {
    crate::android::verify_android_to(chain_pem, request, &roots.anchors)
}
