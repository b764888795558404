//! Signature checks remembered for the life of one `keypin` process.
//!
//! `monitor` judges hundreds of endpoints that mostly serve the same intermediates (often the
//! same certificate, behind a load balancer), and each judgement checks every signature on
//! the path again. The wrapper here remembers which (algorithm, public key, message,
//! signature) tuples verified, by their SHA-256, so a repeat costs a hash instead of an
//! elliptic-curve check. Only successes are kept; a failure is always recomputed (it costs
//! nothing to be wrong twice). A signature check is a pure function of those inputs, so the
//! answer cannot differ from recomputing it. The memory is bounded ([`CAPACITY`] entries, then
//! it starts over). This is the command's own choice; the library never caches.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use rustls::SignatureScheme;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};

/// How many verified signatures are remembered before the set is cleared.
const CAPACITY: usize = 16_384;

type Alg = &'static dyn SignatureVerificationAlgorithm;

static SEEN: Mutex<Option<HashSet<[u8; 32]>>> = Mutex::new(None);

#[derive(Debug)]
struct Remembering {
    inner: Alg,
}

impl Remembering {
    fn key(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> [u8; 32] {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [
            self.inner.public_key_alg_id().as_ref(),
            self.inner.signature_alg_id().as_ref(),
            public_key,
            message,
            signature,
        ] {
            // Length prefixes keep the concatenation unambiguous.
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        key
    }
}

impl SignatureVerificationAlgorithm for Remembering {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = self.key(public_key, message, signature);
        if let Ok(seen) = SEEN.lock()
            && seen.as_ref().is_some_and(|s| s.contains(&key))
        {
            return Ok(());
        }
        self.inner
            .verify_signature(public_key, message, signature)?;
        if let Ok(mut seen) = SEEN.lock() {
            let set = seen.get_or_insert_with(HashSet::new);
            if set.len() >= CAPACITY {
                set.clear();
            }
            set.insert(key);
        }
        Ok(())
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

/// `algs` with every algorithm wrapped; built once per process (the slices are `'static`).
pub(crate) fn remembering(algs: WebPkiSupportedAlgorithms) -> WebPkiSupportedAlgorithms {
    static WRAPPED: OnceLock<WebPkiSupportedAlgorithms> = OnceLock::new();
    *WRAPPED.get_or_init(|| {
        let wrap = |alg: Alg| -> Alg { Box::leak(Box::new(Remembering { inner: alg })) };
        let all: Vec<Alg> = algs.all.iter().map(|a| wrap(*a)).collect();
        let all: &'static [Alg] = Box::leak(all.into_boxed_slice());
        // The same wrapper for the same algorithm wherever it appears in the mapping.
        let find = |alg: Alg| -> Alg {
            algs.all
                .iter()
                .position(|a| std::ptr::addr_eq(*a, alg))
                .map_or_else(|| wrap(alg), |i| all[i])
        };
        let mapping: Vec<(SignatureScheme, &'static [Alg])> = algs
            .mapping
            .iter()
            .map(|(scheme, list)| {
                let list: Vec<Alg> = list.iter().map(|a| find(*a)).collect();
                let list: &'static [Alg] = Box::leak(list.into_boxed_slice());
                (*scheme, list)
            })
            .collect();
        WebPkiSupportedAlgorithms {
            all,
            mapping: Box::leak(mapping.into_boxed_slice()),
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn algs() -> WebPkiSupportedAlgorithms {
        remembering(rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms)
    }

    fn ed25519() -> (Vec<u8>, aws_lc_rs::signature::Ed25519KeyPair) {
        use aws_lc_rs::signature::KeyPair as _;
        let key = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        (key.public_key().as_ref().to_vec(), key)
    }

    fn ed25519_alg() -> Alg {
        *algs()
            .mapping
            .iter()
            .find(|(s, _)| *s == SignatureScheme::ED25519)
            .unwrap()
            .1
            .first()
            .unwrap()
    }

    #[test]
    fn a_remembered_signature_still_binds_key_message_and_signature() {
        let alg = ed25519_alg();
        let (pk, key) = ed25519();
        let sig = key.sign(b"message").as_ref().to_vec();
        assert!(alg.verify_signature(&pk, b"message", &sig).is_ok());
        // Now remembered: the same inputs pass again, and any change is checked for real.
        assert!(alg.verify_signature(&pk, b"message", &sig).is_ok());
        assert!(alg.verify_signature(&pk, b"messagf", &sig).is_err());
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert!(alg.verify_signature(&pk, b"message", &bad).is_err());
        let (other_pk, _) = ed25519();
        assert!(alg.verify_signature(&other_pk, b"message", &sig).is_err());
    }

    #[test]
    fn a_failure_is_never_remembered_as_success() {
        let alg = ed25519_alg();
        let (pk, key) = ed25519();
        let mut sig = key.sign(b"m").as_ref().to_vec();
        sig[0] ^= 1;
        for _ in 0..3 {
            assert!(alg.verify_signature(&pk, b"m", &sig).is_err());
        }
    }

    #[test]
    fn every_algorithm_and_scheme_is_kept() {
        let plain = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        let wrapped = algs();
        assert_eq!(plain.all.len(), wrapped.all.len());
        assert_eq!(plain.mapping.len(), wrapped.mapping.len());
        for ((s1, l1), (s2, l2)) in plain.mapping.iter().zip(wrapped.mapping) {
            assert_eq!(s1, s2);
            assert_eq!(l1.len(), l2.len());
            for (a, b) in l1.iter().zip(l2.iter()) {
                assert_eq!(a.public_key_alg_id(), b.public_key_alg_id());
                assert_eq!(a.signature_alg_id(), b.signature_alg_id());
            }
        }
    }
}
