//! The leaf side of RFC 6962: find the embedded SCT list and rebuild the precertificate's
//! TBSCertificate that the logs signed.
//!
//! RFC 6962 §3.2: the signed `tbs_certificate` is the TBSCertificate of the precertificate with
//! the poison extension removed. The final certificate is the same TBSCertificate with the
//! SCT-list extension (1.3.6.1.4.1.11129.2.4.2) in place of the poison, so removing the SCT-list
//! extension from the final certificate's TBSCertificate and re-encoding the lengths gives the
//! signed bytes back. Every other element is copied byte for byte, never re-encoded, so the
//! rebuild is exact whatever the certificate holds. If the SCT list was the only extension,
//! the `[3] extensions` field is dropped altogether (RFC 5280 allows no empty `Extensions`),
//! as Go's certificate-transparency code does.
//!
//! Certificates issued from a dedicated precertificate-signing CA (RFC 6962 §3.1, issuer
//! rewritten) are not handled: such leaves are refused rather than guessed at.

use der::{Decode, Encode, Header, Length, Reader, SliceReader, Tag};

use super::CtError;

/// DER of the OID 1.3.6.1.4.1.11129.2.4.2 (embedded SCT list), tag and length included.
const SCT_LIST_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02,
];

/// The parts of a leaf that SCT verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecertParts {
    /// The precertificate TBSCertificate (DER), the bytes the logs signed.
    pub tbs: Vec<u8>,
    /// The TLS-encoded `SignedCertificateTimestampList` carried by the extension, if any.
    pub sct_list: Option<Vec<u8>>,
    /// The leaf's notBefore, Unix seconds.
    pub not_before: i64,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: i64,
}

/// One DER element: its whole encoding and its content.
struct Tlv<'a> {
    whole: &'a [u8],
    content: &'a [u8],
}

fn bad(what: &str, e: impl core::fmt::Display) -> CtError {
    CtError::BadCertificate(format!("{what}: {e}"))
}

/// Reads the next element of `reader` (which reads `input` from its start).
fn next<'a>(input: &'a [u8], reader: &mut SliceReader<'a>, what: &str) -> Result<Tlv<'a>, CtError> {
    let start = usize::try_from(reader.position()).map_err(|e| bad(what, e))?;
    let header = Header::decode(reader).map_err(|e| bad(what, e))?;
    let content = reader.read_slice(header.length).map_err(|e| bad(what, e))?;
    let end = usize::try_from(reader.position()).map_err(|e| bad(what, e))?;
    let whole = input
        .get(start..end)
        .ok_or_else(|| bad(what, "truncated"))?;
    Ok(Tlv { whole, content })
}

/// The elements of a constructed value's content, in order.
fn children<'a>(content: &'a [u8], what: &str) -> Result<Vec<Tlv<'a>>, CtError> {
    let mut reader = SliceReader::new(content).map_err(|e| bad(what, e))?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(next(content, &mut reader, what)?);
    }
    Ok(out)
}

/// The single element that makes up `input`, with nothing after it.
fn single<'a>(input: &'a [u8], what: &str) -> Result<Tlv<'a>, CtError> {
    let mut reader = SliceReader::new(input).map_err(|e| bad(what, e))?;
    let tlv = next(input, &mut reader, what)?;
    if !reader.is_finished() {
        return Err(bad(what, "trailing data"));
    }
    Ok(tlv)
}

fn wrap(tag: Tag, content: &[u8], out: &mut Vec<u8>) -> Result<(), CtError> {
    let len = Length::try_from(content.len()).map_err(|e| bad("re-encoding", e))?;
    Header::new(tag, len)
        .and_then(|h| h.encode_to_vec(out))
        .map_err(|e| bad("re-encoding", e))?;
    out.extend_from_slice(content);
    Ok(())
}

/// Splits a leaf certificate (DER) into its precertificate TBSCertificate and its SCT list.
pub fn precert_parts(cert_der: &[u8]) -> Result<PrecertParts, CtError> {
    let cert = single(cert_der, "certificate")?;
    if cert.whole.first() != Some(&0x30) {
        return Err(bad("certificate", "not a SEQUENCE"));
    }
    let parts = children(cert.content, "certificate")?;
    let tbs = parts
        .first()
        .filter(|t| t.whole.first() == Some(&0x30))
        .ok_or_else(|| bad("certificate", "no TBSCertificate SEQUENCE"))?;
    let fields = children(tbs.content, "TBSCertificate")?;
    // version is [0] EXPLICIT and optional; validity is the 4th field after it.
    let skip = usize::from(
        fields
            .first()
            .is_some_and(|f| f.whole.first() == Some(&0xa0)),
    );
    let validity = fields
        .get(skip + 3)
        .filter(|f| f.whole.first() == Some(&0x30))
        .ok_or_else(|| bad("TBSCertificate", "no validity SEQUENCE"))?;
    let times = children(validity.content, "validity")?;
    let (Some(nb), Some(na), 2) = (times.first(), times.get(1), times.len()) else {
        return Err(bad("validity", "expected notBefore and notAfter"));
    };
    let (not_before, not_after) = (time_secs(nb)?, time_secs(na)?);

    let mut new_tbs_content = Vec::with_capacity(tbs.content.len());
    let mut sct_list = None;
    for field in &fields {
        // [3] EXPLICIT Extensions, constructed context tag 3.
        if field.whole.first() != Some(&0xa3) {
            new_tbs_content.extend_from_slice(field.whole);
            continue;
        }
        let seq = single(field.content, "extensions")?;
        if seq.whole.first() != Some(&0x30) {
            return Err(bad("extensions", "not a SEQUENCE"));
        }
        let mut kept = Vec::with_capacity(seq.content.len());
        for ext in children(seq.content, "extensions")? {
            let inner = children(ext.content, "extension")?;
            let is_sct = inner.first().is_some_and(|oid| oid.whole == SCT_LIST_OID);
            if !is_sct {
                kept.extend_from_slice(ext.whole);
                continue;
            }
            if sct_list.is_some() {
                return Err(bad("extensions", "the SCT list extension appears twice"));
            }
            // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }
            let value = inner
                .last()
                .filter(|v| v.whole.first() == Some(&0x04) && inner.len() >= 2)
                .ok_or_else(|| bad("SCT list extension", "no extnValue OCTET STRING"))?;
            // extnValue holds a DER OCTET STRING whose content is the TLS-encoded list.
            let list = single(value.content, "SCT list extension value")?;
            if list.whole.first() != Some(&0x04) {
                return Err(bad("SCT list extension value", "not an OCTET STRING"));
            }
            sct_list = Some(list.content.to_vec());
        }
        if !kept.is_empty() {
            let mut seq_out = Vec::with_capacity(kept.len() + 4);
            wrap(Tag::Sequence, &kept, &mut seq_out)?;
            wrap(
                Tag::ContextSpecific {
                    constructed: true,
                    number: der::TagNumber::N3,
                },
                &seq_out,
                &mut new_tbs_content,
            )?;
        }
    }
    let mut out = Vec::with_capacity(new_tbs_content.len() + 4);
    wrap(Tag::Sequence, &new_tbs_content, &mut out)?;
    Ok(PrecertParts {
        tbs: out,
        sct_list,
        not_before,
        not_after,
    })
}

/// An X.509 Time (UTCTime or GeneralizedTime) as Unix seconds.
fn time_secs(t: &Tlv<'_>) -> Result<i64, CtError> {
    let d = match t.whole.first() {
        Some(0x17) => der::asn1::UtcTime::from_der(t.whole).map(|t| t.to_unix_duration()),
        Some(0x18) => der::asn1::GeneralizedTime::from_der(t.whole).map(|t| t.to_unix_duration()),
        _ => {
            return Err(bad(
                "validity",
                "a time is neither UTCTime nor GeneralizedTime",
            ));
        }
    }
    .map_err(|e| bad("validity", e))?;
    i64::try_from(d.as_secs()).map_err(|e| bad("validity", e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        wrap_raw(tag, content, &mut out);
        out
    }

    fn wrap_raw(tag: u8, content: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
    }

    /// A minimal certificate-shaped value: version, serial, sigalg, issuer, validity, subject,
    /// spki, then `[3] { extensions }`.
    fn cert(extensions: &[Vec<u8>]) -> Vec<u8> {
        let time = |s: &str| tlv(0x17, s.as_bytes());
        let mut tbs = tlv(0xa0, &tlv(0x02, &[2]));
        tbs.extend(tlv(0x02, &[5]));
        tbs.extend(tlv(0x30, &[]));
        tbs.extend(tlv(0x30, &[]));
        tbs.extend(tlv(
            0x30,
            &[time("260101000000Z"), time("260401000000Z")].concat(),
        ));
        tbs.extend(tlv(0x30, &[]));
        tbs.extend(tlv(0x30, &[]));
        if !extensions.is_empty() {
            tbs.extend(tlv(0xa3, &tlv(0x30, &extensions.concat())));
        }
        let tbs = tlv(0x30, &tbs);
        tlv(0x30, &[tbs, tlv(0x30, &[]), tlv(0x03, &[0])].concat())
    }

    fn sct_ext(list: &[u8]) -> Vec<u8> {
        tlv(
            0x30,
            &[SCT_LIST_OID.to_vec(), tlv(0x04, &tlv(0x04, list))].concat(),
        )
    }

    #[test]
    fn removes_the_sct_extension_and_drops_an_empty_extensions_field() {
        let other = tlv(
            0x30,
            &[tlv(0x06, &[0x55, 0x1d, 0x0f]), tlv(0x04, &[3, 2, 7, 0x80])].concat(),
        );
        let with = cert(&[other.clone(), sct_ext(&[0, 0])]);
        let without = cert(&[other]);
        let parts = precert_parts(&with).unwrap();
        assert_eq!(parts.sct_list.as_deref(), Some(&[0u8, 0][..]));
        assert_eq!(parts.tbs, precert_parts(&without).unwrap().tbs);
        assert_eq!(parts.not_after - parts.not_before, 90 * 86_400);

        let only = precert_parts(&cert(&[sct_ext(&[0, 0])])).unwrap();
        assert_eq!(only.tbs, precert_parts(&cert(&[])).unwrap().tbs);

        let twice = cert(&[sct_ext(&[0, 0]), sct_ext(&[0, 0])]);
        assert!(
            precert_parts(&twice)
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
    }

    #[test]
    fn truncations_never_panic() {
        let c = cert(&[sct_ext(&[0, 0])]);
        for n in 0..c.len() {
            assert!(precert_parts(&c[..n]).is_err());
        }
        for i in 0..c.len() {
            let mut b = c.clone();
            b[i] ^= 0xff;
            let _ = precert_parts(&b);
        }
    }
}
