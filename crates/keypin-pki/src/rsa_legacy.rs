//! RSA by hand, for the two things aws-lc-rs rightly refuses to do: make or use RSA keys
//! shorter than 2048 bits, and make SHA-1 signatures.
//!
//! Both exist only so the test PKI can build the weak certificates a pinning client must
//! reject. The arithmetic is variable-time and unhardened: fine for throwaway test keys,
//! never for a key that protects anything.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use num_bigint::BigUint;
use rustls::SignatureScheme;
use rustls::sign::{Signer, SigningKey};
use rustls_pki_types::SubjectPublicKeyInfoDer;

use crate::Error;
use crate::der::{self, Reader, TAG_NULL, TAG_OCTET_STRING, TAG_SEQUENCE};

/// The DER of the OID rsaEncryption (1.2.840.113549.1.1.1), tag and length included.
const RSA_ENCRYPTION_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// The public exponent of every key we generate.
const PUBLIC_EXPONENT: u32 = 65_537;

/// The digest inside a PKCS#1 v1.5 signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pkcs1Hash {
    Sha1,
    Sha256,
}

impl Pkcs1Hash {
    /// The DER DigestInfo header that precedes the hash (RFC 8017 section 9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Pkcs1Hash::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Pkcs1Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
        }
    }

    fn digest(self, msg: &[u8]) -> digest::Digest {
        match self {
            Pkcs1Hash::Sha1 => digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, msg),
            Pkcs1Hash::Sha256 => digest::digest(&digest::SHA256, msg),
        }
    }
}

/// An RSA private key with its CRT parameters, and its encodings.
pub(crate) struct RsaPrivateKey {
    n: BigUint,
    e: BigUint,
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
    /// PKCS#8 PrivateKeyInfo.
    pkcs8: Vec<u8>,
    /// PKCS#1 RSAPublicKey: the contents of the SubjectPublicKeyInfo BIT STRING.
    public_key: Vec<u8>,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("modulus_bits", &self.n.bits())
            .field("private", &"[elided]")
            .finish()
    }
}

impl RsaPrivateKey {
    /// Generates a key with a modulus of exactly `bits` bits (a multiple of 16).
    pub(crate) fn generate(bits: usize) -> Result<Self, Error> {
        if bits < 512 || !bits.is_multiple_of(16) {
            return Err(Error::Unsupported {
                what: format!("{bits}-bit RSA key (need a multiple of 16, at least 512)"),
            });
        }
        let e = BigUint::from(PUBLIC_EXPONENT);
        let one = BigUint::from(1u32);
        let small_primes = small_primes(2_000);
        // A few tries cover the (rare) case of p == q or a non-invertible e.
        for _ in 0..16 {
            let p = random_prime(bits / 2, &small_primes)?;
            let q = random_prime(bits / 2, &small_primes)?;
            if p == q {
                continue;
            }
            let phi = (&p - &one) * (&q - &one);
            let Some(d) = e.modinv(&phi) else { continue };
            let n = &p * &q;
            if n.bits() != bits as u64 {
                continue;
            }
            return Self::from_parts(n, e, d, p, q);
        }
        Err(Error::crypto(format!("generating a {bits}-bit RSA key")))
    }

    fn from_parts(
        n: BigUint,
        e: BigUint,
        d: BigUint,
        p: BigUint,
        q: BigUint,
    ) -> Result<Self, Error> {
        let one = BigUint::from(1u32);
        let dp = &d % (&p - &one);
        let dq = &d % (&q - &one);
        let qinv = q
            .modinv(&p)
            .ok_or_else(|| Error::crypto("computing q^-1 mod p for an RSA key"))?;
        let rsa_private_key = der::sequence(&[
            &der::uint(&[0]),
            &der::uint(&n.to_bytes_be()),
            &der::uint(&e.to_bytes_be()),
            &der::uint(&d.to_bytes_be()),
            &der::uint(&p.to_bytes_be()),
            &der::uint(&q.to_bytes_be()),
            &der::uint(&dp.to_bytes_be()),
            &der::uint(&dq.to_bytes_be()),
            &der::uint(&qinv.to_bytes_be()),
        ]);
        let pkcs8 = der::sequence(&[
            &der::uint(&[0]),
            &rsa_algorithm_identifier(),
            &der::tlv(TAG_OCTET_STRING, &rsa_private_key),
        ]);
        let public_key =
            der::sequence(&[&der::uint(&n.to_bytes_be()), &der::uint(&e.to_bytes_be())]);
        Ok(Self {
            n,
            e,
            p,
            q,
            dp,
            dq,
            qinv,
            pkcs8,
            public_key,
        })
    }

    /// Reads an RSA key from PKCS#8 (as written by this module or by aws-lc-rs).
    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, Error> {
        let mut outer = Reader::new(pkcs8);
        let info = outer.next_tag(TAG_SEQUENCE, "PKCS#8 PrivateKeyInfo")?;
        let mut info = Reader::new(info.value);
        info.next_uint("PKCS#8 version")?;
        let alg = info.next_tag(TAG_SEQUENCE, "PKCS#8 privateKeyAlgorithm")?;
        let mut alg = Reader::new(alg.value);
        let oid = alg.next_tag(der::TAG_OID, "PKCS#8 algorithm OID")?;
        if oid.raw != RSA_ENCRYPTION_OID {
            return Err(Error::Unsupported {
                what: "legacy RSA operations on a key that is not RSA".to_owned(),
            });
        }
        let key = info.next_tag(TAG_OCTET_STRING, "PKCS#8 privateKey")?;
        let mut key = Reader::new(key.value);
        let key = key.next_tag(TAG_SEQUENCE, "RSAPrivateKey")?;
        let mut key = Reader::new(key.value);
        key.next_uint("RSAPrivateKey version")?;
        let mut int = |what: &str| -> Result<BigUint, Error> {
            Ok(BigUint::from_bytes_be(key.next_uint(what)?))
        };
        let n = int("RSA modulus")?;
        let e = int("RSA public exponent")?;
        let d = int("RSA private exponent")?;
        let p = int("RSA prime p")?;
        let q = int("RSA prime q")?;
        if &p * &q != n {
            return Err(Error::Der {
                context: "RSA key whose primes do not multiply to its modulus".to_owned(),
            });
        }
        Self::from_parts(n, e, d, p, q)
    }

    /// The key as PKCS#8 DER.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The PKCS#1 RSAPublicKey DER (what goes inside the SPKI BIT STRING).
    pub(crate) fn public_key_der(&self) -> &[u8] {
        &self.public_key
    }

    /// The DER SubjectPublicKeyInfo, as rcgen and webpki write it.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        let mut bits = Vec::with_capacity(self.public_key.len() + 1);
        bits.push(0); // no unused bits
        bits.extend_from_slice(&self.public_key);
        der::sequence(&[
            &rsa_algorithm_identifier(),
            &der::tlv(der::TAG_BIT_STRING, &bits),
        ])
    }

    /// The modulus length in bytes (the length of every signature).
    pub(crate) fn modulus_len(&self) -> usize {
        (self.n.bits() as usize).div_ceil(8)
    }

    /// RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2.1).
    pub(crate) fn sign_pkcs1(&self, hash: Pkcs1Hash, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let k = self.modulus_len();
        let prefix = hash.digest_info_prefix();
        let digest = hash.digest(msg);
        let t_len = prefix.len() + digest.as_ref().len();
        if k < t_len + 11 {
            return Err(Error::crypto(
                "RSA modulus too short for a PKCS#1 signature",
            ));
        }
        // EM = 0x00 || 0x01 || PS (0xff...) || 0x00 || DigestInfo
        let mut em = vec![0xff; k];
        em[0] = 0x00;
        em[1] = 0x01;
        em[k - t_len - 1] = 0x00;
        em[k - t_len..k - digest.as_ref().len()].copy_from_slice(prefix);
        em[k - digest.as_ref().len()..].copy_from_slice(digest.as_ref());
        self.private_op(&em)
    }

    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 8017 section 9.1.1),
    /// as TLS uses it.
    pub(crate) fn sign_pss_sha256(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        const H_LEN: usize = 32;
        const S_LEN: usize = 32;
        let em_bits = self.n.bits() as usize - 1;
        let em_len = em_bits.div_ceil(8);
        if em_len < H_LEN + S_LEN + 2 {
            return Err(Error::crypto("RSA modulus too short for a PSS signature"));
        }
        let m_hash = digest::digest(&digest::SHA256, msg);
        let mut salt = [0u8; S_LEN];
        fill_random(&mut salt)?;
        // M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt
        let mut m_prime = Vec::with_capacity(8 + H_LEN + S_LEN);
        m_prime.extend_from_slice(&[0u8; 8]);
        m_prime.extend_from_slice(m_hash.as_ref());
        m_prime.extend_from_slice(&salt);
        let h = digest::digest(&digest::SHA256, &m_prime);
        // DB = PS || 0x01 || salt, masked with MGF1(H)
        let db_len = em_len - H_LEN - 1;
        let mut db = vec![0u8; db_len];
        db[db_len - S_LEN - 1] = 0x01;
        db[db_len - S_LEN..].copy_from_slice(&salt);
        for (b, m) in db.iter_mut().zip(mgf1_sha256(h.as_ref(), db_len)) {
            *b ^= m;
        }
        db[0] &= 0xff >> (8 * em_len - em_bits);
        let mut em = db;
        em.extend_from_slice(h.as_ref());
        em.push(0xbc);
        self.private_op(&em)
    }

    /// s = m^d mod n via the CRT, checked by re-applying the public exponent.
    fn private_op(&self, em: &[u8]) -> Result<Vec<u8>, Error> {
        let m = BigUint::from_bytes_be(em);
        if m >= self.n {
            return Err(Error::crypto("RSA message representative out of range"));
        }
        let m1 = m.modpow(&self.dp, &self.p);
        let m2 = m.modpow(&self.dq, &self.q);
        let diff = (&m1 + &self.p - (&m2 % &self.p)) % &self.p;
        let h = (&self.qinv * diff) % &self.p;
        let s = m2 + h * &self.q;
        if s.modpow(&self.e, &self.n) != m {
            return Err(Error::crypto("RSA signature failed its own check"));
        }
        let bytes = s.to_bytes_be();
        let k = self.modulus_len();
        let mut out = vec![0u8; k.saturating_sub(bytes.len())];
        out.extend_from_slice(&bytes);
        Ok(out)
    }
}

fn rsa_algorithm_identifier() -> Vec<u8> {
    der::sequence(&[RSA_ENCRYPTION_OID, &der::tlv(TAG_NULL, &[])])
}

fn mgf1_sha256(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u32;
    while out.len() < len {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(seed);
        ctx.update(&counter.to_be_bytes());
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::crypto("drawing random bytes"))
}

fn small_primes(below: u32) -> Vec<u32> {
    (3..below)
        .step_by(2)
        .filter(|&n| {
            (3..)
                .step_by(2)
                .take_while(|d| d * d <= n)
                .all(|d| n % d != 0)
        })
        .collect()
}

/// A random prime of exactly `bits` bits whose top two bits are set (so the product of two
/// has exactly twice the bits) and for which `PUBLIC_EXPONENT` is invertible mod p-1.
fn random_prime(bits: usize, small_primes: &[u32]) -> Result<BigUint, Error> {
    let len = bits / 8;
    let mut buf = vec![0u8; len];
    // By the prime number theorem about one odd 512-bit number in 180 is prime; this bound
    // is never reached in practice.
    for _ in 0..100_000 {
        fill_random(&mut buf)?;
        buf[0] |= 0xc0;
        buf[len - 1] |= 0x01;
        let candidate = BigUint::from_bytes_be(&buf);
        if small_primes
            .iter()
            .any(|&sp| &candidate % sp == BigUint::ZERO)
        {
            continue;
        }
        if &candidate % PUBLIC_EXPONENT == BigUint::from(1u32) {
            continue; // e would divide p-1
        }
        if is_probable_prime(&candidate, 32)? {
            return Ok(candidate);
        }
    }
    Err(Error::crypto(format!("finding a {bits}-bit prime")))
}

/// Miller-Rabin with random bases.
fn is_probable_prime(n: &BigUint, rounds: usize) -> Result<bool, Error> {
    let one = BigUint::from(1u32);
    let two = BigUint::from(2u32);
    let n_minus_1 = n - &one;
    let s = n_minus_1.trailing_zeros().unwrap_or(0);
    let d = &n_minus_1 >> s;
    let mut buf = vec![0u8; (n.bits() as usize).div_ceil(8)];
    let span = n - BigUint::from(3u32);
    'rounds: for _ in 0..rounds {
        fill_random(&mut buf)?;
        let a = BigUint::from_bytes_be(&buf) % &span + &two; // in [2, n-2]
        let mut x = a.modpow(&d, n);
        if x == one || x == n_minus_1 {
            continue;
        }
        for _ in 1..s {
            x = x.modpow(&two, n);
            if x == n_minus_1 {
                continue 'rounds;
            }
        }
        return Ok(false);
    }
    Ok(true)
}

/// A rustls signing key over a legacy RSA key, so the test server can present a certificate
/// for a 1024-bit key (which aws-lc-rs will not load).
#[derive(Debug)]
pub(crate) struct LegacyRsaSigningKey(pub(crate) Arc<RsaPrivateKey>);

impl SigningKey for LegacyRsaSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        [
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]
        .into_iter()
        .find(|scheme| offered.contains(scheme))
        .map(|scheme| {
            Box::new(LegacyRsaSigner {
                key: Arc::clone(&self.0),
                scheme,
            }) as Box<dyn Signer>
        })
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.0.spki_der()))
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        rustls::SignatureAlgorithm::RSA
    }
}

#[derive(Debug)]
struct LegacyRsaSigner {
    key: Arc<RsaPrivateKey>,
    scheme: SignatureScheme,
}

impl Signer for LegacyRsaSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let result = match self.scheme {
            SignatureScheme::RSA_PSS_SHA256 => self.key.sign_pss_sha256(message),
            _ => self.key.sign_pkcs1(Pkcs1Hash::Sha256, message),
        };
        result.map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{self, KeyPair as _};

    fn verify(alg: &'static signature::RsaParameters, key: &RsaPrivateKey, msg: &[u8], sig: &[u8]) {
        signature::UnparsedPublicKey::new(alg, key.public_key_der())
            .verify(msg, sig)
            .expect("signature verifies");
    }

    #[test]
    fn generated_1024_bit_key_signs_verifiably() {
        let key = RsaPrivateKey::generate(1024).unwrap();
        assert_eq!(key.n.bits(), 1024);
        assert_eq!(key.modulus_len(), 128);
        let msg = b"keypin test message";
        let sig = key.sign_pkcs1(Pkcs1Hash::Sha256, msg).unwrap();
        verify(
            &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            &key,
            msg,
            &sig,
        );
        let sig = key.sign_pkcs1(Pkcs1Hash::Sha1, msg).unwrap();
        verify(
            &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            &key,
            msg,
            &sig,
        );
        // PKCS#8 round trip gives the same key.
        let again = RsaPrivateKey::from_pkcs8(key.pkcs8_der()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert_eq!(again.pkcs8_der(), key.pkcs8_der());
    }

    #[test]
    fn reads_aws_lc_keys_and_makes_pss_and_sha1_signatures() {
        let aws = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&aws).unwrap();
        let key = RsaPrivateKey::from_pkcs8(pkcs8.as_ref()).unwrap();
        assert_eq!(key.public_key_der(), aws.public_key().as_ref());

        let msg = b"another message";
        let sig = key.sign_pss_sha256(msg).unwrap();
        verify(&signature::RSA_PSS_2048_8192_SHA256, &key, msg, &sig);
        let sig = key.sign_pkcs1(Pkcs1Hash::Sha1, msg).unwrap();
        verify(
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            &key,
            msg,
            &sig,
        );
    }

    #[test]
    fn rejects_non_rsa_pkcs8() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let ec = signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .unwrap();
        assert!(matches!(
            RsaPrivateKey::from_pkcs8(ec.as_ref()),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn miller_rabin_agrees_on_small_numbers() {
        let primes = small_primes(200);
        for n in (5u32..200).step_by(2) {
            let expected = primes.contains(&n);
            let got = is_probable_prime(&BigUint::from(n), 16).unwrap();
            assert_eq!(got, expected, "n = {n}");
        }
    }
}
