//! Signed certificate timestamps (RFC 6962 §3.2, §3.3): the TLS-encoded list, one SCT, and
//! the structure a log signs for a precertificate entry.

use core::fmt;

use super::CtError;

/// RFC 5246 `HashAlgorithm` sha256.
const HASH_SHA256: u8 = 4;
/// RFC 5246 `SignatureAlgorithm` rsa.
const SIG_RSA: u8 = 1;
/// RFC 5246 `SignatureAlgorithm` ecdsa.
const SIG_ECDSA: u8 = 3;

/// How an SCT is signed. RFC 6962 §2.1.4 allows exactly these two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SctSignatureAlgorithm {
    /// ECDSA over NIST P-256 with SHA-256.
    EcdsaP256Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
}

impl fmt::Display for SctSignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaP256Sha256 => "ecdsa-sha256",
            Self::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
        })
    }
}

/// One signed certificate timestamp (v1), as found in a certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Sct {
    /// SHA-256 of the log's public key (SubjectPublicKeyInfo DER).
    pub log_id: [u8; 32],
    /// When the log promised to include the entry, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The SCT's extensions, opaque; they are part of the signed data as they are.
    pub extensions: Vec<u8>,
    /// The signature algorithm the SCT claims.
    pub algorithm: SctSignatureAlgorithm,
    /// The signature.
    pub signature: Vec<u8>,
}

impl fmt::Debug for Sct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sct")
            .field("log_id", &super::b64(&self.log_id))
            .field("timestamp_ms", &self.timestamp_ms)
            .field("extensions", &self.extensions.len())
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A cursor over TLS presentation-language bytes (big-endian, length-prefixed vectors).
struct Tls<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Tls<'a> {
    fn err(&self, msg: &str) -> CtError {
        CtError::BadSctList(format!("{}: {msg}", self.what))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], CtError> {
        if self.rest.len() < n {
            return Err(self.err(&format!(
                "needs {n} more bytes, only {} left",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, CtError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }
    fn u16(&mut self) -> Result<usize, CtError> {
        let b = self.take(2)?;
        Ok(b.iter().fold(0usize, |acc, x| acc << 8 | usize::from(*x)))
    }
    fn u64(&mut self) -> Result<u64, CtError> {
        let b = self.take(8)?;
        Ok(b.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x)))
    }
    fn vec16(&mut self) -> Result<&'a [u8], CtError> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// Parses a TLS-encoded `SignedCertificateTimestampList` (the content of the certificate
/// extension's inner OCTET STRING). Strict: lengths must add up exactly, SCTs must be v1 with
/// SHA-256 and ECDSA or RSA, and the list must not be empty (RFC 6962 §3.3: `<1..2^16-1>`).
///
/// This is the entry point for fuzzing: any input gives `Ok` or a [`CtError`], never a panic.
pub fn parse_sct_list(bytes: &[u8]) -> Result<Vec<Sct>, CtError> {
    let mut outer = Tls {
        rest: bytes,
        what: "SCT list",
    };
    let list = outer.vec16()?;
    if !outer.rest.is_empty() {
        return Err(outer.err("trailing bytes after the list"));
    }
    if list.is_empty() {
        return Err(outer.err("the list is empty"));
    }
    let mut items = Tls {
        rest: list,
        what: "SCT list",
    };
    let mut out = Vec::new();
    while !items.rest.is_empty() {
        let one = items.vec16()?;
        out.push(parse_sct(one).map_err(|e| match e {
            CtError::BadSctList(m) => CtError::BadSctList(format!("SCT #{}: {m}", out.len() + 1)),
            other => other,
        })?);
    }
    Ok(out)
}

/// Parses one serialized SCT (RFC 6962 §3.2 `SignedCertificateTimestamp`).
pub fn parse_sct(bytes: &[u8]) -> Result<Sct, CtError> {
    let mut r = Tls {
        rest: bytes,
        what: "SCT",
    };
    let version = r.u8()?;
    if version != 0 {
        return Err(r.err(&format!("version {version} is not v1 (0)")));
    }
    let mut log_id = [0u8; 32];
    log_id.copy_from_slice(r.take(32)?);
    let timestamp_ms = r.u64()?;
    let extensions = r.vec16()?.to_vec();
    let hash = r.u8()?;
    let sig = r.u8()?;
    let algorithm = match (hash, sig) {
        (HASH_SHA256, SIG_ECDSA) => SctSignatureAlgorithm::EcdsaP256Sha256,
        (HASH_SHA256, SIG_RSA) => SctSignatureAlgorithm::RsaPkcs1Sha256,
        _ => {
            return Err(r.err(&format!(
                "signature algorithm (hash {hash}, signature {sig}) is not SHA-256 with ECDSA or RSA"
            )));
        }
    };
    let signature = r.vec16()?.to_vec();
    if !r.rest.is_empty() {
        return Err(r.err("trailing bytes after the signature"));
    }
    Ok(Sct {
        log_id,
        timestamp_ms,
        extensions,
        algorithm,
        signature,
    })
}

impl Sct {
    /// Serializes the SCT as RFC 6962 §3.2 lays it out (the inverse of [`parse_sct`]); test
    /// PKIs use it to embed SCTs.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CtError> {
        let too_long = |what: &str| CtError::BadSctList(format!("SCT {what} is too long"));
        let ext_len = u16::try_from(self.extensions.len()).map_err(|_| too_long("extensions"))?;
        let sig_len = u16::try_from(self.signature.len()).map_err(|_| too_long("signature"))?;
        let mut out = Vec::with_capacity(47 + self.extensions.len() + self.signature.len());
        out.push(0);
        out.extend_from_slice(&self.log_id);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&ext_len.to_be_bytes());
        out.extend_from_slice(&self.extensions);
        out.push(HASH_SHA256);
        out.push(match self.algorithm {
            SctSignatureAlgorithm::EcdsaP256Sha256 => SIG_ECDSA,
            SctSignatureAlgorithm::RsaPkcs1Sha256 => SIG_RSA,
        });
        out.extend_from_slice(&sig_len.to_be_bytes());
        out.extend_from_slice(&self.signature);
        Ok(out)
    }
}

/// Encodes SCTs as a TLS `SignedCertificateTimestampList`.
pub fn encode_sct_list(scts: &[Sct]) -> Result<Vec<u8>, CtError> {
    let mut body = Vec::new();
    for sct in scts {
        let one = sct.to_bytes()?;
        let len = u16::try_from(one.len())
            .map_err(|_| CtError::BadSctList("an SCT is too long".into()))?;
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(&one);
    }
    let len = u16::try_from(body.len())
        .map_err(|_| CtError::BadSctList("the SCT list is too long".into()))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// The bytes a log signs for an SCT over a precertificate entry (RFC 6962 §3.2
/// `digitally-signed struct`): version v1, signature_type certificate_timestamp, the
/// timestamp, entry_type precert_entry, the issuer key hash, the precertificate TBS as a
/// 24-bit-length vector, and the SCT's extensions as a 16-bit-length vector.
pub fn precert_signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8; 32],
    precert_tbs: &[u8],
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    signed_data(
        timestamp_ms,
        (1, issuer_key_hash),
        (precert_tbs, "the TBSCertificate"),
        extensions,
    )
}

/// The bytes a log signs for an SCT over an `x509_entry` (RFC 6962 §3.2), as delivered in an
/// OCSP response or the TLS extension: version v1, signature_type certificate_timestamp, the
/// timestamp, entry_type x509_entry, the whole leaf certificate (DER) as a 24-bit-length
/// vector, and the SCT's extensions as a 16-bit-length vector. The entry type is signed, so
/// an SCT over one entry type never verifies as the other.
pub fn x509_signed_data(
    timestamp_ms: u64,
    leaf_der: &[u8],
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    if leaf_der.is_empty() {
        return Err(CtError::BadCertificate("the certificate is empty".into()));
    }
    signed_data(
        timestamp_ms,
        (0, &[]),
        (leaf_der, "the certificate"),
        extensions,
    )
}

/// The `digitally-signed struct` of RFC 6962 §3.2: `(entry_type, fixed fields)`, then the
/// certificate (or TBS) `(bytes, name)` as a 24-bit-length vector, then the extensions.
fn signed_data(
    timestamp_ms: u64,
    (entry_type, fixed): (u16, &[u8]),
    (cert, name): (&[u8], &str),
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    let cert_len = u32::try_from(cert.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or_else(|| CtError::BadCertificate(format!("{name} exceeds 2^24 bytes")))?;
    let ext_len = u16::try_from(extensions.len())
        .map_err(|_| CtError::BadSctList("SCT extensions exceed 2^16 bytes".into()))?;
    let mut out = Vec::with_capacity(17 + fixed.len() + cert.len() + extensions.len());
    out.push(0); // version: v1
    out.push(0); // signature_type: certificate_timestamp
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&entry_type.to_be_bytes()); // 0: x509_entry, 1: precert_entry
    out.extend_from_slice(fixed);
    out.extend_from_slice(&cert_len.to_be_bytes()[1..]);
    out.extend_from_slice(cert);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(extensions);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample(ext: &[u8]) -> Sct {
        Sct {
            log_id: [7; 32],
            timestamp_ms: 1_772_129_837_410,
            extensions: ext.to_vec(),
            algorithm: SctSignatureAlgorithm::EcdsaP256Sha256,
            signature: vec![0x30, 0x03, 0x02, 0x01, 0x01],
        }
    }

    #[test]
    fn list_round_trips() {
        let scts = vec![sample(&[]), sample(&[0, 0, 5, 0, 0x32, 0xb9, 0xdb, 0x38])];
        let bytes = encode_sct_list(&scts).unwrap();
        assert_eq!(parse_sct_list(&bytes).unwrap(), scts);
    }

    /// (bytes, words expected in the error)
    #[test]
    fn malformed_lists_are_refused_with_the_reason() {
        let good = encode_sct_list(&[sample(&[])]).unwrap();
        let mut v2 = good.clone();
        v2[4] = 1; // version of the first SCT
        let mut sha1 = good.clone();
        let alg_at = good.len() - 5 - 2 - 2;
        sha1[alg_at] = 2;
        let rows: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "needs 2 more bytes"),
            (vec![0, 0], "the list is empty"),
            (
                [good.clone(), vec![0]].concat(),
                "trailing bytes after the list",
            ),
            (v2, "SCT #1: SCT: version 1 is not v1"),
            (sha1, "is not SHA-256 with ECDSA or RSA"),
            (good[..good.len() - 1].to_vec(), "needs"),
        ];
        for (bytes, words) in rows {
            let e = parse_sct_list(&bytes).unwrap_err().to_string();
            assert!(e.contains(words), "{bytes:?}: {e}");
        }
    }

    /// What a fuzzer would do first: every truncation and every single-byte change of a valid
    /// list gives a result or an error, never a panic.
    #[test]
    fn truncations_and_byte_flips_never_panic() {
        let good = encode_sct_list(&[sample(&[1, 2, 3]), sample(&[])]).unwrap();
        for n in 0..good.len() {
            assert!(parse_sct_list(&good[..n]).is_err());
        }
        for i in 0..good.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] ^= x;
                let _ = parse_sct_list(&b);
            }
        }
    }

    #[test]
    fn signed_data_layout() {
        let d = precert_signed_data(0x0102, &[9; 32], &[0xaa; 3], &[0xee]).unwrap();
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0, 1];
        want.extend_from_slice(&[9; 32]);
        want.extend_from_slice(&[0, 0, 3, 0xaa, 0xaa, 0xaa, 0, 1, 0xee]);
        assert_eq!(d, want);
    }

    #[test]
    fn x509_signed_data_layout() {
        let d = x509_signed_data(0x0102, &[0xaa; 3], &[0xee]).unwrap();
        let want = vec![
            0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 3, 0xaa, 0xaa, 0xaa, 0, 1, 0xee,
        ];
        assert_eq!(d, want);
        assert!(x509_signed_data(0, &[], &[]).is_err());
    }
}
