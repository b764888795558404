//! Certificate Transparency for test PKIs: test logs (ECDSA P-256 keys), leaves with embedded
//! SCTs signed by them (RFC 6962 §3.2-3.3), and a Chrome v3 log list signed with a test key.
//!
//! A leaf is first issued without SCTs; its TBSCertificate is then the precertificate TBS the
//! logs sign. The SCT-list extension is appended to the TBS's extensions and the TBS is
//! signed again with the issuer's key, exactly what a CA does after precertificate logging.

use core::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::SigningKey as _;
use rustls_pki_types::CertificateDer;

use crate::der::{self, Reader, TAG_BIT_STRING, TAG_OCTET_STRING, TAG_SEQUENCE};
use crate::{CertSpec, Error, Issued, issue};

/// DER of the OID 1.3.6.1.4.1.11129.2.4.2 (embedded SCT list).
const SCT_LIST_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02,
];

/// An ECDSA P-256 key that signs as a CT log (test only), or a log-list signer.
pub struct TestLog {
    /// The log's description in a log list.
    pub description: String,
    /// Its operator's name.
    pub operator: String,
    key: EcdsaKeyPair,
    spki_der: Vec<u8>,
}

impl fmt::Debug for TestLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestLog")
            .field("description", &self.description)
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl TestLog {
    /// A fresh log key.
    pub fn generate(description: &str, operator: &str) -> Result<Self, Error> {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| Error::crypto("generating a CT log key"))?;
        let spki_der = key
            .public_key()
            .as_der()
            .map_err(|_| Error::crypto("encoding a CT log key"))?
            .as_ref()
            .to_vec();
        Ok(Self {
            description: description.to_owned(),
            operator: operator.to_owned(),
            key,
            spki_der,
        })
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The log id: SHA-256 of the key.
    pub fn log_id(&self) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki_der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The public key as a PEM `PUBLIC KEY` block (for a log-list signer).
    pub fn public_key_pem(&self) -> String {
        crate::cert::pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// An ECDSA P-256 SHA-256 signature (ASN.1 DER) over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.key
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::crypto("signing as a CT log"))
    }

    /// This log's entry for a Chrome v3 log list: `usable` since `usable_since`, accepting
    /// certificates whose notAfter falls in `interval` (RFC 3339 times, UTC).
    pub fn list_entry_json(&self, usable_since: &str, interval: Option<(&str, &str)>) -> String {
        let interval = interval.map_or(String::new(), |(start, end)| {
            format!(
                ",\n          \"temporal_interval\": {{ \"start_inclusive\": \"{start}\", \"end_exclusive\": \"{end}\" }}"
            )
        });
        format!(
            "{{\n          \"description\": {:?},\n          \"log_id\": \"{}\",\n          \"key\": \"{}\",\n          \
             \"url\": \"https://ct.invalid/{}/\",\n          \"mmd\": 86400,\n          \
             \"state\": {{ \"usable\": {{ \"timestamp\": \"{usable_since}\" }} }}{interval}\n        }}",
            self.description,
            STANDARD.encode(self.log_id()),
            STANDARD.encode(&self.spki_der),
            STANDARD.encode(self.log_id()).replace(['/', '+', '='], "")
        )
    }
}

/// A Chrome v3 log list (JSON text) with one operator per `(name, entries)`, where each entry
/// comes from [`TestLog::list_entry_json`].
pub fn log_list_json(version: &str, timestamp: &str, operators: &[(&str, Vec<String>)]) -> String {
    let ops: Vec<String> = operators
        .iter()
        .map(|(name, logs)| {
            format!(
                "    {{\n      \"name\": {name:?},\n      \"email\": [\"ct@example.invalid\"],\n      \"logs\": [\n        {}\n      ]\n    }}",
                logs.join(",\n        ")
            )
        })
        .collect();
    format!(
        "{{\n  \"version\": {version:?},\n  \"log_list_timestamp\": \"{timestamp}\",\n  \"operators\": [\n{}\n  ]\n}}\n",
        ops.join(",\n")
    )
}

/// One SCT to embed.
#[derive(Debug, Clone, Copy)]
pub struct SctSpec<'a> {
    /// The log that signs it.
    pub log: &'a TestLog,
    /// Its timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Flip a bit of the signature after signing (a forged SCT).
    pub corrupt_signature: bool,
}

/// Issues a leaf from `spec` under `issuer` with the given SCTs embedded, each signed by its
/// log over the precertificate TBS and `issuer`'s key hash. With no SCTs, a plain leaf.
pub fn issue_with_scts(
    spec: CertSpec,
    issuer: &Issued,
    scts: &[SctSpec<'_>],
) -> Result<Issued, Error> {
    let mut leaf = issue(spec, issuer)?;
    if scts.is_empty() {
        return Ok(leaf);
    }
    let der_err = |context: &str| Error::Der {
        context: context.to_owned(),
    };
    let mut outer = Reader::new(leaf.cert.as_ref());
    let certificate = outer.next_tag(TAG_SEQUENCE, "Certificate")?;
    let mut parts = Reader::new(certificate.value);
    let tbs = parts.next_tag(TAG_SEQUENCE, "tbsCertificate")?;
    let sig_alg = parts.next_tag(TAG_SEQUENCE, "signatureAlgorithm")?;

    // The precertificate TBS is the TBS as issued, without SCTs.
    let issuer_key_hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &issuer.spki_der());
    let n = u32::try_from(tbs.raw.len()).map_err(|_| der_err("TBS too long"))?;
    let mut entry = 1u16.to_be_bytes().to_vec(); // entry_type: precert_entry
    entry.extend_from_slice(issuer_key_hash.as_ref());
    entry.extend_from_slice(&n.to_be_bytes()[1..]);
    entry.extend_from_slice(tbs.raw);
    let signed: Vec<Vec<u8>> = scts
        .iter()
        .map(|s| signed_sct(s, &entry))
        .collect::<Result<_, _>>()?;
    let list = sct_list(&signed)?;
    let extension = der::sequence(&[
        SCT_LIST_OID,
        &der::tlv(TAG_OCTET_STRING, &der::tlv(TAG_OCTET_STRING, &list)),
    ]);

    // Append the extension inside the TBS's [3] EXPLICIT Extensions (rcgen always writes one
    // for a leaf: key usage, EKU, SAN).
    let mut fields = Reader::new(tbs.value);
    let mut new_fields = Vec::with_capacity(tbs.value.len() + extension.len() + 8);
    let mut appended = false;
    while !fields.is_empty() {
        let f = fields.next_any("tbsCertificate field")?;
        if f.tag == 0xa3 {
            let exts = Reader::new(f.value).next_tag(TAG_SEQUENCE, "extensions")?;
            let content = [exts.value, &extension].concat();
            new_fields.extend_from_slice(&der::tlv(0xa3, &der::tlv(TAG_SEQUENCE, &content)));
            appended = true;
        } else {
            new_fields.extend_from_slice(f.raw);
        }
    }
    if !appended {
        return Err(der_err("the leaf has no extensions to add SCTs to"));
    }
    let new_tbs = der::tlv(TAG_SEQUENCE, &new_fields);
    let signature = issuer
        .key_pair
        .sign(&new_tbs)
        .map_err(Error::rcgen("re-signing the leaf with its SCTs"))?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&signature);
    let cert = der::sequence(&[&new_tbs, sig_alg.raw, &der::tlv(TAG_BIT_STRING, &bits)]);
    leaf.cert = CertificateDer::from(cert);
    Ok(leaf)
}

/// One serialized SCT (RFC 6962 §3.2) by `spec.log` over `entry` (entry_type and the entry's
/// fields, as the signed struct lays them out after the timestamp); no SCT extensions.
fn signed_sct(spec: &SctSpec<'_>, entry: &[u8]) -> Result<Vec<u8>, Error> {
    let too_long = |what: &str| Error::Der {
        context: format!("{what} too long"),
    };
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&spec.timestamp_ms.to_be_bytes());
    signed.extend_from_slice(entry);
    signed.extend_from_slice(&0u16.to_be_bytes()); // extensions: none
    let mut signature = spec.log.sign(&signed)?;
    if spec.corrupt_signature
        && let Some(b) = signature.last_mut()
    {
        *b ^= 0x01;
    }
    let mut sct = vec![0u8];
    sct.extend_from_slice(&spec.log.log_id());
    sct.extend_from_slice(&spec.timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&0u16.to_be_bytes());
    sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
    let sig_len = u16::try_from(signature.len()).map_err(|_| too_long("signature"))?;
    sct.extend_from_slice(&sig_len.to_be_bytes());
    sct.extend_from_slice(&signature);
    Ok(sct)
}

/// An SCT by `spec.log` over the certificate `leaf_der` as an `x509_entry` (RFC 6962 §3.2):
/// what a log returns for a final certificate, delivered in an OCSP response or the TLS
/// extension. Serialized, ready for [`sct_list`].
pub fn x509_entry_sct(spec: &SctSpec<'_>, leaf_der: &[u8]) -> Result<Vec<u8>, Error> {
    let n = u32::try_from(leaf_der.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or_else(|| Error::Der {
            context: "certificate too long for an x509_entry".to_owned(),
        })?;
    let mut entry = 0u16.to_be_bytes().to_vec(); // entry_type: x509_entry
    entry.extend_from_slice(&n.to_be_bytes()[1..]);
    entry.extend_from_slice(leaf_der);
    signed_sct(spec, &entry)
}

/// A TLS `SignedCertificateTimestampList` of serialized SCTs.
pub fn sct_list(scts: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
    let too_long = |what: &str| Error::Der {
        context: format!("{what} too long"),
    };
    let mut body = Vec::new();
    for sct in scts {
        let len = u16::try_from(sct.len()).map_err(|_| too_long("SCT"))?;
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(sct);
    }
    let len = u16::try_from(body.len()).map_err(|_| too_long("SCT list"))?;
    let mut list = len.to_be_bytes().to_vec();
    list.extend_from_slice(&body);
    Ok(list)
}
