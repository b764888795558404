//! Reading key material for `keypin pin`: certificates, public keys, private keys and CSRs, in
//! PEM (one or several blocks) or DER.
//!
//! Every item ends up as the DER `SubjectPublicKeyInfo` its pin is computed over. For a
//! certificate the SPKI bytes are the ones inside the certificate (as webpki reads them); for a
//! private key the public key is derived and encoded with a DER encoder (asn1-rs for RSA, which
//! is a pure re-encoding of the modulus and exponent; aws-lc-rs for EC and Ed25519 keys), so no
//! ASN.1 header is hard-coded anywhere.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{InspectError, Reason, within};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use x509_parser::asn1_rs::{Any, BitString, FromDer as _, Null, Sequence, Tag, ToDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_PKCS1_RSASSAPSS, OID_SIG_ED25519,
};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

/// What a file item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaterialKind {
    Certificate,
    PublicKey,
    PrivateKey,
    Csr,
}

impl MaterialKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::PublicKey => "public key",
            Self::PrivateKey => "private key",
            Self::Csr => "certificate request",
        }
    }
}

/// One item of a key file, reduced to what pins are computed over.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Material {
    pub kind: MaterialKind,
    /// `CN=api.example.com` for certificates and CSRs, `EC P-256 public key`,
    /// `RSA 2048 private key` for keys.
    pub label: String,
    /// The DER `SubjectPublicKeyInfo` (outer SEQUENCE included).
    pub spki_der: Vec<u8>,
    /// The certificate DER, for certificates only.
    pub cert_der: Option<Vec<u8>>,
}

/// What the reader accepts, for error messages.
const EXPECTED: &str = "expected a certificate, public key, private key or certificate request \
     (CSR), in PEM (CERTIFICATE, PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY, RSA PRIVATE KEY, \
     EC PRIVATE KEY, CERTIFICATE REQUEST blocks) or DER";

/// Reads every certificate, key or CSR in `path` (PEM with one or several blocks, or DER).
pub fn read_key_material(path: &Path) -> Result<Vec<Material>, InspectError> {
    let bytes = std::fs::read(path).map_err(|source| InspectError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_key_material(&bytes, path)
}

/// Parses the contents of a key file; `path` names it in errors and hints.
pub fn parse_key_material(bytes: &[u8], path: &Path) -> Result<Vec<Material>, InspectError> {
    key_material(bytes, path).map_err(|reason| InspectError::KeyFile {
        path: path.to_path_buf(),
        reason,
    })
}

fn key_material(bytes: &[u8], path: &Path) -> Result<Vec<Material>, Reason> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("the file is empty; {EXPECTED}"));
    }
    if contains(bytes, b"-----BEGIN ") {
        return from_pem(bytes, path);
    }
    from_der(bytes, path).map(|m| vec![m])
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// PEM

/// One `-----BEGIN X-----` … `-----END X-----` block.
#[derive(Debug)]
struct PemBlock {
    label: String,
    /// 1-based line of the BEGIN line.
    line: usize,
    /// RFC 1421 headers (`Proc-Type: 4,ENCRYPTED` marks a legacy encrypted key).
    headers: Vec<(String, String)>,
    der: Vec<u8>,
}

fn from_pem(bytes: &[u8], path: &Path) -> Result<Vec<Material>, Reason> {
    let blocks = pem_blocks(&String::from_utf8_lossy(bytes))?;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let context = || {
            format!(
                "PEM block {} (\"{}\", line {})",
                i + 1,
                block.label,
                block.line
            )
        };
        match from_pem_block(block, path).map_err(within(context()))? {
            Some(m) => out.push(m),
            None => skipped.push(block.label.as_str()),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no certificate, key or CSR in the file (only {}); {EXPECTED}",
            skipped.join(", ")
        ));
    }
    Ok(out)
}

/// `Ok(None)` for blocks that carry no key and are skipped (EC PARAMETERS).
fn from_pem_block(block: &PemBlock, path: &Path) -> Result<Option<Material>, Reason> {
    let der = block.der.as_slice();
    let legacy_encrypted = block
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"));
    let material = match block.label.as_str() {
        "CERTIFICATE" | "X509 CERTIFICATE" => certificate(der, false)?,
        // OpenSSL's trusted-certificate form: the certificate followed by trust settings.
        "TRUSTED CERTIFICATE" => certificate(der, true)?,
        "PUBLIC KEY" => public_key(der)?,
        "RSA PUBLIC KEY" => rsa_pkcs1_public_key(der)?,
        "ENCRYPTED PRIVATE KEY" => return Err(encrypted(path)),
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" if legacy_encrypted => {
            return Err(encrypted(path));
        }
        "PRIVATE KEY" => private_key(pkcs8_public_key(der, path)?)?,
        "RSA PRIVATE KEY" => private_key(rsa_pkcs1_private_to_spki(der)?)?,
        "EC PRIVATE KEY" => private_key(ec_private_to_spki(der, path)?)?,
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => csr(der)?,
        "EC PARAMETERS" => return Ok(None),
        "OPENSSH PRIVATE KEY" => {
            return Err(format!(
                "OpenSSH private keys are not supported; export the public key with \
             `ssh-keygen -e -m PKCS8 -f {}` and pin that",
                path.display()
            ));
        }
        other => return Err(format!("unsupported PEM block \"{other}\"; {EXPECTED}")),
    };
    Ok(Some(material))
}

fn encrypted(path: &Path) -> Reason {
    format!(
        "encrypted private key: decrypt it first with `openssl pkey -in {} -out plain.pem`",
        path.display()
    )
}

/// Splits PEM text into blocks; text outside blocks (e.g. `openssl x509 -text` output) is ignored.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, Reason> {
    struct Open {
        label: String,
        line: usize,
        headers: Vec<(String, String)>,
        body: String,
        in_headers: bool,
    }
    let mut blocks = Vec::new();
    let mut open: Option<Open> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        match open.as_mut() {
            None => {
                if let Some(label) = armor(line, "BEGIN") {
                    open = Some(Open {
                        label: label.to_string(),
                        line: line_no,
                        headers: Vec::new(),
                        body: String::new(),
                        in_headers: true,
                    });
                }
            }
            Some(cur) => {
                if let Some(end) = armor(line, "END") {
                    if end != cur.label {
                        return Err(format!(
                            "PEM block \"{}\" starting on line {} ends with \"-----END {end}-----\" on line {line_no}",
                            cur.label, cur.line
                        ));
                    }
                    let der = STANDARD.decode(cur.body.as_bytes()).map_err(|e| {
                        format!(
                            "PEM block \"{}\" starting on line {}: invalid base64 ({e})",
                            cur.label, cur.line
                        )
                    })?;
                    blocks.push(PemBlock {
                        label: std::mem::take(&mut cur.label),
                        line: cur.line,
                        headers: std::mem::take(&mut cur.headers),
                        der,
                    });
                    open = None;
                } else if armor(line, "BEGIN").is_some() {
                    return Err(format!(
                        "PEM block \"{}\" starting on line {} has no END line before the next BEGIN on line {line_no}",
                        cur.label, cur.line
                    ));
                } else if cur.in_headers && line.contains(':') {
                    if let Some((k, v)) = line.split_once(':') {
                        cur.headers
                            .push((k.trim().to_string(), v.trim().to_string()));
                    }
                } else if cur.in_headers && raw.starts_with([' ', '\t']) && !cur.headers.is_empty()
                {
                    // Continuation of the previous header.
                } else {
                    if !line.is_empty() || !cur.headers.is_empty() {
                        cur.in_headers = false;
                    }
                    cur.body.push_str(line);
                }
            }
        }
    }
    if let Some(cur) = open {
        return Err(format!(
            "PEM block \"{}\" starting on line {} has no END line",
            cur.label, cur.line
        ));
    }
    Ok(blocks)
}

/// The label of a `-----BEGIN X-----` / `-----END X-----` line.
fn armor<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(word)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

// ---------------------------------------------------------------------------------------------
// DER

fn from_der(der: &[u8], path: &Path) -> Result<Material, Reason> {
    if let Ok((rest, _)) = X509Certificate::from_der(der)
        && rest.is_empty()
    {
        return certificate(der, false);
    }
    if let Ok((rest, _)) = SubjectPublicKeyInfo::from_der(der)
        && rest.is_empty()
    {
        return public_key(der);
    }
    if let Some(items) = sequence_items(der) {
        let tags: Vec<Tag> = items.iter().map(|a| a.tag()).collect();
        // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }
        if tags == [Tag::Sequence, Tag::OctetString] {
            return Err(encrypted(path));
        }
        // PrivateKeyInfo ::= SEQUENCE { INTEGER, AlgorithmIdentifier, OCTET STRING, ... }
        if tags.len() >= 3 && tags[..3] == [Tag::Integer, Tag::Sequence, Tag::OctetString] {
            return private_key(pkcs8_public_key(der, path).map_err(within("PKCS#8 private key"))?);
        }
        // RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv, ... }
        if tags.len() >= 9 && tags[..9].iter().all(|t| *t == Tag::Integer) {
            return private_key(
                rsa_pkcs1_private_to_spki(der).map_err(within("PKCS#1 RSA private key"))?,
            );
        }
        // ECPrivateKey ::= SEQUENCE { INTEGER 1, OCTET STRING, [0] params, [1] public key }
        if tags.len() >= 2 && tags[..2] == [Tag::Integer, Tag::OctetString] {
            return private_key(
                ec_private_to_spki(der, path).map_err(within("SEC1 EC private key"))?,
            );
        }
    }
    if let Ok((rest, _)) = X509CertificationRequest::from_der(der)
        && rest.is_empty()
    {
        return csr(der);
    }
    // RSAPublicKey ::= SEQUENCE { n, e } (PKCS#1), last: it is the least specific shape.
    if let Ok((rest, _)) = RSAPublicKey::from_der(der)
        && rest.is_empty()
    {
        return rsa_pkcs1_public_key(der);
    }
    Err(format!(
        "neither PEM nor a recognised DER structure; {EXPECTED}"
    ))
}

/// The elements of a DER SEQUENCE that spans all of `der`.
fn sequence_items(der: &[u8]) -> Option<Vec<Any<'_>>> {
    let (rest, seq) = Any::from_der(der).ok()?;
    if !rest.is_empty() || seq.tag() != Tag::Sequence {
        return None;
    }
    let mut items = Vec::new();
    let mut input = seq.data;
    while !input.is_empty() {
        let (rest, item) = Any::from_der(input).ok()?;
        items.push(item);
        input = rest;
    }
    Some(items)
}

// ---------------------------------------------------------------------------------------------
// Items

fn certificate(der: &[u8], trailing_allowed: bool) -> Result<Material, Reason> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not a valid certificate: {e}"))?;
    if !rest.is_empty() && !trailing_allowed {
        return Err(format!(
            "{} unexpected bytes after the certificate",
            rest.len()
        ));
    }
    let cert_der = der.get(..der.len() - rest.len()).unwrap_or(der);
    let spki_der = keypin::pin::spki_of_cert(&CertificateDer::from(cert_der))
        .map_err(|e| format!("certificate rejected by webpki: {e:?}"))?;
    Ok(Material {
        kind: MaterialKind::Certificate,
        label: crate::cert::name_string(cert.subject()),
        spki_der,
        cert_der: Some(cert_der.to_vec()),
    })
}

fn public_key(der: &[u8]) -> Result<Material, Reason> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
        .map_err(|e| format!("not a valid SubjectPublicKeyInfo: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the public key",
            rest.len()
        ));
    }
    complete_spki(spki.raw)?;
    Ok(Material {
        kind: MaterialKind::PublicKey,
        label: format!("{} public key", key_type(&spki)),
        spki_der: spki.raw.to_vec(),
        cert_der: None,
    })
}

/// Refuses an SPKI with bytes after its key inside its SEQUENCE: x509-parser's raw slice then
/// stops short of the declared length, so a pin over it would match nothing (found by the
/// cert_inspect fuzz target).
fn complete_spki(raw: &[u8]) -> Result<(), Reason> {
    match Any::from_der(raw) {
        Ok(([], _)) => Ok(()),
        _ => Err("the SubjectPublicKeyInfo holds unexpected bytes after its key".to_string()),
    }
}

fn private_key(spki_der: Vec<u8>) -> Result<Material, Reason> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(&spki_der)
        .map_err(|e| format!("derived public key does not parse: {e}"))?;
    let label = format!("{} private key", key_type(&spki));
    Ok(Material {
        kind: MaterialKind::PrivateKey,
        label,
        spki_der,
        cert_der: None,
    })
}

fn csr(der: &[u8]) -> Result<Material, Reason> {
    let (rest, req) = X509CertificationRequest::from_der(der)
        .map_err(|e| format!("not a valid certificate request: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the certificate request",
            rest.len()
        ));
    }
    let info = &req.certification_request_info;
    complete_spki(info.subject_pki.raw)?;
    Ok(Material {
        kind: MaterialKind::Csr,
        label: crate::cert::name_string(&info.subject),
        spki_der: info.subject_pki.raw.to_vec(),
        cert_der: None,
    })
}

/// `RSA 2048`, `EC P-256`, `Ed25519`, `RSA-PSS 3072`.
fn key_type(spki: &SubjectPublicKeyInfo<'_>) -> String {
    if spki.algorithm.algorithm == OID_PKCS1_RSASSAPSS {
        return match RSAPublicKey::from_der(&spki.subject_public_key.data) {
            Ok((_, k)) => format!("RSA-PSS {}", k.key_size()),
            Err(_) => "RSA-PSS".to_string(),
        };
    }
    match crate::cert::key_description(spki) {
        (name, Some(bits)) if name == "RSA" => format!("RSA {bits}"),
        (name, _) => name,
    }
}

// ---------------------------------------------------------------------------------------------
// Public keys from private keys

/// The public SPKI of a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_public_key(der: &[u8], path: &Path) -> Result<Vec<u8>, Reason> {
    let items = sequence_items(der).ok_or_else(|| "not a DER PKCS#8 PrivateKeyInfo".to_string())?;
    let (alg_any, key) = match items.as_slice() {
        [_, alg, key, ..] if alg.tag() == Tag::Sequence && key.tag() == Tag::OctetString => {
            (alg, key)
        }
        _ => {
            return Err("not a PKCS#8 PrivateKeyInfo (version, algorithm, key)".to_string());
        }
    };
    let alg_der = alg_any
        .to_der_vec()
        .map_err(|e| format!("cannot re-encode the key algorithm: {e}"))?;
    let (_, alg) = AlgorithmIdentifier::from_der(&alg_der)
        .map_err(|e| format!("bad PKCS#8 algorithm identifier: {e}"))?;
    let oid = &alg.algorithm;
    if *oid == OID_PKCS1_RSAENCRYPTION {
        rsa_pkcs1_private_to_spki(key.data)
    } else if *oid == OID_PKCS1_RSASSAPSS {
        // An RSA-PSS key keeps its (possibly parameterised) algorithm in the SPKI.
        spki(&alg_der, &rsa_public_from_private(key.data)?)
    } else if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        ec_private_to_spki(der, path)
    } else if *oid == OID_SIG_ED25519 {
        let kp = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|e| format!("invalid Ed25519 private key: {e}"))?;
        let spki = kp
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the Ed25519 public key".to_string())?;
        Ok(spki.as_ref().to_vec())
    } else {
        let name = oid2sn(oid, oid_registry())
            .map(str::to_string)
            .unwrap_or_else(|_| oid.to_id_string());
        Err(format!(
            "unsupported private key algorithm {name}; extract the public key with \
             `openssl pkey -in {} -pubout -out pub.pem` and pin that",
            path.display()
        ))
    }
}

/// SPKI { rsaEncryption, NULL } for a PKCS#1 `RSAPrivateKey`.
fn rsa_pkcs1_private_to_spki(der: &[u8]) -> Result<Vec<u8>, Reason> {
    rsa_spki(&rsa_public_from_private(der)?)
}

/// The PKCS#1 `RSAPublicKey` (n, e) of a PKCS#1 `RSAPrivateKey`.
fn rsa_public_from_private(der: &[u8]) -> Result<Vec<u8>, Reason> {
    let items = sequence_items(der).ok_or_else(|| "not a DER RSAPrivateKey".to_string())?;
    if items.len() < 9 || items.iter().take(9).any(|a| a.tag() != Tag::Integer) {
        return Err(
            "not a PKCS#1 RSAPrivateKey (expected a SEQUENCE of at least nine INTEGERs)"
                .to_string(),
        );
    }
    let mut content = Vec::new();
    for part in &items[1..3] {
        content.extend(der_of(part)?);
    }
    der_of(&Sequence::new(Cow::Owned(content)))
}

/// SPKI for a PKCS#1 `RSAPublicKey`, after checking it parses.
fn rsa_pkcs1_public_key(der: &[u8]) -> Result<Material, Reason> {
    let (rest, _) =
        RSAPublicKey::from_der(der).map_err(|e| format!("not a valid PKCS#1 RSAPublicKey: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the RSA public key",
            rest.len()
        ));
    }
    public_key(&rsa_spki(der)?)
}

/// SubjectPublicKeyInfo { AlgorithmIdentifier { rsaEncryption, NULL }, BIT STRING rsa_public }.
fn rsa_spki(rsa_public: &[u8]) -> Result<Vec<u8>, Reason> {
    let mut alg = der_of(&OID_PKCS1_RSAENCRYPTION)?;
    alg.extend(der_of(&Null::new())?);
    spki(&der_of(&Sequence::new(Cow::Owned(alg)))?, rsa_public)
}

/// SubjectPublicKeyInfo { `alg_der` (an encoded AlgorithmIdentifier), BIT STRING key }.
fn spki(alg_der: &[u8], key: &[u8]) -> Result<Vec<u8>, Reason> {
    let mut content = alg_der.to_vec();
    content.extend(der_of(&BitString::new(0, key))?);
    der_of(&Sequence::new(Cow::Owned(content)))
}

fn der_of(value: &impl ToDer) -> Result<Vec<u8>, Reason> {
    value
        .to_der_vec()
        .map_err(|e| format!("DER encoding failed: {e}"))
}

/// The public SPKI of an EC private key, SEC1 `ECPrivateKey` or PKCS#8.
fn ec_private_to_spki(der: &[u8], path: &Path) -> Result<Vec<u8>, Reason> {
    const CURVES: [&EcdsaSigningAlgorithm; 3] = [
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
    ];
    for alg in CURVES {
        if let Ok(kp) = EcdsaKeyPair::from_private_key_der(alg, der) {
            let spki = kp
                .public_key()
                .as_der()
                .map_err(|_| "cannot encode the EC public key".to_string())?;
            return Ok(spki.as_ref().to_vec());
        }
    }
    Err(format!(
        "not a valid EC private key on P-256, P-384 or P-521 (other curves: extract the public \
         key with `openssl pkey -in {} -pubout -out pub.pem` and pin that)",
        path.display()
    ))
}

/// The SPKI pins of the private keys and CSRs in a directory (see [`spare_pins`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SparePins {
    pub pins: std::collections::BTreeSet<keypin::pin::Pin>,
    /// Files that are neither a key nor a CSR, skipped.
    pub skipped: Vec<std::path::PathBuf>,
}

/// The SPKI pins of every private key and CSR in `dir`; other files are skipped and named.
pub fn spare_pins(dir: &Path) -> Result<SparePins, InspectError> {
    let io = |source| InspectError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = SparePins::default();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if !path.is_file() {
            continue;
        }
        // Holding a key means holding the private key (or a CSR made with it); a
        // certificate or a bare public key proves nothing.
        match read_key_material(&path) {
            Ok(items) => out.pins.extend(
                items
                    .iter()
                    .filter(|m| matches!(m.kind, MaterialKind::PrivateKey | MaterialKind::Csr))
                    .map(|m| keypin::pin::Pin::from_spki_der(&m.spki_der)),
            ),
            Err(_) => out.skipped.push(path),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Each refusal is typed and names the file: unreadable files keep the OS error as the
    /// source, malformed ones say which structure failed.
    #[test]
    fn refusals_are_typed_and_name_the_file() {
        let missing = Path::new("/nonexistent/keypin/k.pem");
        match read_key_material(missing) {
            Err(InspectError::Io { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        let cases: [(&[u8], &str); 3] = [
            (b"  \n", "the file is empty"),
            (
                b"\x30\x03\x02\x01\x01",
                "neither PEM nor a recognised DER structure",
            ),
            (
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
                "PEM block 1 (\"OPENSSH PRIVATE KEY\", line 1): ",
            ),
        ];
        for (bytes, expected) in cases {
            match parse_key_material(bytes, Path::new("k.pem")) {
                Err(e @ InspectError::KeyFile { .. }) => {
                    let text = e.to_string();
                    assert!(text.starts_with("k.pem: "), "{text}");
                    assert!(text.contains(expected), "{text}");
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    /// A PUBLIC KEY whose SPKI SEQUENCE holds 9 bytes after a shortened key BIT STRING is
    /// refused (before the fix its pin was computed over a truncated slice).
    #[test]
    fn spki_with_bytes_after_the_key_is_refused() {
        let leaf = keypin_pki::self_signed(
            keypin_pki::CertSpec::leaf(&["api.example.com"]).key_alg(keypin_pki::KeyAlg::EcdsaP256),
        )
        .unwrap();
        let mut spki = leaf.spki_der();
        assert!(parse_key_material(&spki, Path::new("k.der")).is_ok());
        // 30 59 | 30 13 <algorithm> | 03 42 00 04 <point>: shorten the BIT STRING to 57 bytes.
        assert_eq!(spki[23..25], [0x03, 0x42]);
        spki[24] = 0x39;
        let b64 = STANDARD.encode(&spki);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let e = parse_key_material(pem.as_bytes(), Path::new("k.pem")).unwrap_err();
        assert!(
            format!("{e:#}").contains("unexpected bytes after its key"),
            "{e:#}"
        );
    }
}
