//! Certificate specs, issued certificates, and signing.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::der::{self, Reader, TAG_BIT_STRING, TAG_INTEGER, TAG_SEQUENCE};
use crate::key::{KeyAlg, KeyMaterial};
use crate::rsa_legacy::Pkcs1Hash;

/// AlgorithmIdentifier for sha1WithRSAEncryption (1.2.840.113549.1.1.5) with NULL parameters.
const SHA1_WITH_RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Ca,
    Leaf,
    Client,
}

/// What to put in a certificate. Start from [`CertSpec::ca`] or [`CertSpec::leaf`] and
/// adjust with the setters; then make it with [`self_signed`] or [`issue`].
///
/// ```
/// use keypin_pki::{CertSpec, KeyAlg, issue, self_signed};
///
/// let root = self_signed(CertSpec::ca("Example Root CA"))?;
/// let leaf = issue(
///     CertSpec::leaf(&["api.example.com"]).key_alg(KeyAlg::Ed25519),
///     &root,
/// )?;
/// assert_eq!(leaf.subject_cn(), "api.example.com");
/// # Ok::<(), keypin_pki::Error>(())
/// ```
#[derive(Clone)]
pub struct CertSpec {
    role: Role,
    common_name: Option<String>,
    organization: Option<String>,
    dns_names: Vec<String>,
    ip_sans: Vec<IpAddr>,
    with_san: bool,
    key_alg: KeyAlg,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
    path_len: Option<u8>,
    sha1: bool,
    existing_key: Option<(Arc<KeyMaterial>, KeyAlg)>,
    ocsp: OcspBits,
}

/// The OCSP-related parts of a certificate (see [`CertSpec::must_staple`] and
/// [`CertSpec::ocsp_responder`]).
#[derive(Debug, Clone, Copy, Default)]
struct OcspBits {
    must_staple: bool,
    responder: bool,
}

impl fmt::Debug for CertSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSpec")
            .field("role", &self.role)
            .field("common_name", &self.common_name)
            .field("organization", &self.organization)
            .field("dns_names", &self.dns_names)
            .field("ip_sans", &self.ip_sans)
            .field("with_san", &self.with_san)
            .field("key_alg", &self.key_alg)
            .field("validity", &self.validity)
            .field("path_len", &self.path_len)
            .field("sha1", &self.sha1)
            .field(
                "existing_key",
                &self.existing_key.as_ref().map(|(_, alg)| alg),
            )
            .field("ocsp", &self.ocsp)
            .finish()
    }
}

impl CertSpec {
    /// A CA certificate: `CA:TRUE` (no path length limit), key usage keyCertSign and cRLSign,
    /// no extended key usage, subject CN `common_name`.
    pub fn ca(common_name: &str) -> Self {
        Self {
            role: Role::Ca,
            common_name: Some(common_name.to_owned()),
            organization: None,
            dns_names: Vec::new(),
            ip_sans: Vec::new(),
            with_san: true,
            key_alg: KeyAlg::EcdsaP256,
            validity: None,
            path_len: None,
            sha1: false,
            existing_key: None,
            ocsp: OcspBits::default(),
        }
    }

    /// A server certificate: `CA:FALSE`, extended key usage serverAuth, key usage
    /// digitalSignature (plus keyEncipherment for RSA keys), DNS SANs `dns_names`, and the
    /// first name as subject CN.
    pub fn leaf(dns_names: &[&str]) -> Self {
        Self {
            role: Role::Leaf,
            common_name: dns_names.first().map(|s| (*s).to_owned()),
            dns_names: dns_names.iter().map(|s| (*s).to_owned()).collect(),
            ..Self::ca("")
        }
    }

    /// A delegated OCSP responder certificate: `CA:FALSE`, key usage digitalSignature, extended
    /// key usage id-kp-OCSPSigning only, no SAN, subject CN `common_name`. Issue it with the
    /// CA whose certificates it answers for.
    pub fn ocsp_responder(common_name: &str) -> Self {
        let mut spec = Self::leaf(&[]).common_name(Some(common_name));
        spec.ocsp.responder = true;
        spec
    }

    /// Adds the must-staple extension (RFC 7633 TLS Feature, listing status_request): a
    /// client must refuse the certificate unless a valid OCSP response is stapled.
    pub fn must_staple(mut self) -> Self {
        self.ocsp.must_staple = true;
        self
    }

    /// A TLS client certificate (mTLS): `CA:FALSE`, extended key usage clientAuth, key usage
    /// digitalSignature, subject CN `common_name`, no subjectAltName.
    pub fn client(common_name: &str) -> Self {
        Self {
            role: Role::Client,
            common_name: Some(common_name.to_owned()),
            ..Self::ca("")
        }
    }

    /// The same subject name, SANs, role and key as `existing`, with a fresh serial and the
    /// default validity: for cross-signing a CA under another issuer (pass the result to
    /// [`issue`]) or renewing a certificate on the same key.
    pub fn reissue(existing: &Issued) -> Self {
        let mut spec = existing.spec.clone();
        spec.validity = None;
        spec.sha1 = false;
        spec.key(existing)
    }

    /// The subject key type (default [`KeyAlg::EcdsaP256`]). Ignored after [`CertSpec::key`].
    pub fn key_alg(mut self, alg: KeyAlg) -> Self {
        self.key_alg = alg;
        self
    }

    /// The validity period (default: from a day ago to 365 days from now). Sub-second parts
    /// are dropped, as certificates cannot hold them. `not_before` after `not_after` is
    /// allowed, for tests of broken certificates.
    pub fn validity(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        self.validity = Some((not_before, not_after));
        self
    }

    /// Sets (`Some`) or removes (`None`) the subject CN.
    pub fn common_name(mut self, common_name: Option<&str>) -> Self {
        self.common_name = common_name.map(str::to_owned);
        self
    }

    /// Leaves out the subjectAltName extension entirely (DNS and IP names), so only the CN
    /// names the host: a certificate webpki must refuse for any name.
    pub fn no_san(mut self) -> Self {
        self.with_san = false;
        self
    }

    /// Adds IP address SANs.
    pub fn ip_sans(mut self, ips: &[IpAddr]) -> Self {
        self.ip_sans.extend_from_slice(ips);
        self
    }

    /// Sets the subject O (organization).
    pub fn organization(mut self, organization: &str) -> Self {
        self.organization = Some(organization.to_owned());
        self
    }

    /// For a CA: limits the number of CAs that may follow it on a path (`pathLenConstraint`).
    pub fn path_len(mut self, path_len: u8) -> Self {
        self.path_len = Some(path_len);
        self
    }

    /// Signs the certificate with sha1WithRSAEncryption instead of SHA-256. Only an RSA
    /// issuer key can do this (including an RSA key signing itself); with any other issuer,
    /// [`self_signed`] or [`issue`] returns [`Error::Unsupported`].
    pub fn sha1_signature(mut self) -> Self {
        self.sha1 = true;
        self
    }

    /// Uses the key pair of `existing` instead of generating one: the same key in another
    /// certificate (a pinned key in a certificate for another host, a CA key cross-signed
    /// under another issuer). The key type follows `existing`.
    pub fn key(mut self, existing: &Issued) -> Self {
        self.existing_key = Some((Arc::clone(&existing.key_pair), existing.key_alg));
        self
    }

    fn params(&self, key_alg: KeyAlg) -> Result<CertificateParams, Error> {
        let mut params = CertificateParams::default();

        let (not_before, not_after) = match self.validity {
            Some(v) => v,
            None => {
                let now = OffsetDateTime::now_utc();
                (now - Duration::days(1), now + Duration::days(365))
            }
        };
        params.not_before = whole_seconds(not_before);
        params.not_after = whole_seconds(not_after);
        params.serial_number = Some(random_serial()?);

        let mut dn = DistinguishedName::new();
        if let Some(org) = &self.organization {
            dn.push(DnType::OrganizationName, org.as_str());
        }
        if let Some(cn) = &self.common_name {
            dn.push(DnType::CommonName, cn.as_str());
        }
        params.distinguished_name = dn;

        match self.role {
            Role::Ca => {
                params.is_ca = IsCa::Ca(match self.path_len {
                    Some(n) => BasicConstraints::Constrained(n),
                    None => BasicConstraints::Unconstrained,
                });
                params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            }
            Role::Leaf => {
                params.is_ca = IsCa::ExplicitNoCa;
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                if key_alg.is_rsa() {
                    params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
                }
                params.extended_key_usages = vec![if self.ocsp.responder {
                    ExtendedKeyUsagePurpose::OcspSigning
                } else {
                    ExtendedKeyUsagePurpose::ServerAuth
                }];
            }
            Role::Client => {
                params.is_ca = IsCa::ExplicitNoCa;
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
        }
        if self.ocsp.must_staple {
            // TLS Feature (1.3.6.1.5.5.7.1.24): SEQUENCE OF INTEGER { status_request (5) }.
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 1, 24],
                    vec![0x30, 0x03, 0x02, 0x01, 0x05],
                ));
        }

        if self.with_san {
            for name in &self.dns_names {
                let ia5 = name.clone().try_into().map_err(Error::rcgen(format!(
                    "using {name:?} as a DNS subjectAltName"
                )))?;
                params.subject_alt_names.push(SanType::DnsName(ia5));
            }
            params
                .subject_alt_names
                .extend(self.ip_sans.iter().map(|ip| SanType::IpAddress(*ip)));
        }

        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }

    fn describe(&self) -> String {
        let role = match self.role {
            Role::Ca => "CA",
            Role::Leaf => "leaf",
            Role::Client => "client",
        };
        match &self.common_name {
            Some(cn) => format!("{role} certificate {cn:?}"),
            None => format!("{role} certificate {:?}", self.dns_names),
        }
    }
}

/// One issued certificate with its private key, able to sign further certificates.
pub struct Issued {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    /// Its private key, PKCS#8 DER.
    pub key: PrivateKeyDer<'static>,
    pub(crate) key_pair: Arc<KeyMaterial>,
    key_alg: KeyAlg,
    params: CertificateParams,
    spec: CertSpec,
}

impl Clone for Issued {
    fn clone(&self) -> Self {
        Self {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            key_pair: Arc::clone(&self.key_pair),
            key_alg: self.key_alg,
            params: self.params.clone(),
            spec: self.spec.clone(),
        }
    }
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("subject_cn", &self.subject_cn())
            .field("key_alg", &self.key_alg)
            .field("is_ca", &self.is_ca())
            .field("not_before", &self.params.not_before)
            .field("not_after", &self.params.not_after)
            .field("key", &"[elided]")
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----`, LF line endings).
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", self.cert.as_ref())
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", self.key_pair.pkcs8_der())
    }

    /// The DER SubjectPublicKeyInfo of the key, byte for byte as it appears in the
    /// certificate: what an RFC 7469 pin hashes.
    pub fn spki_der(&self) -> Vec<u8> {
        self.key_pair.subject_public_key_info()
    }

    /// The subject CN, or `""` if the certificate has none.
    pub fn subject_cn(&self) -> &str {
        self.spec.common_name.as_deref().unwrap_or("")
    }

    /// The key pair, to sign other things than certificates (OCSP responses).
    pub(crate) fn key_material(&self) -> &KeyMaterial {
        &self.key_pair
    }

    /// The key type.
    pub fn key_alg(&self) -> KeyAlg {
        self.key_alg
    }

    /// True for CA certificates.
    pub fn is_ca(&self) -> bool {
        self.spec.role == Role::Ca
    }

    /// Start of the validity period, as written in the certificate.
    pub fn not_before(&self) -> OffsetDateTime {
        self.params.not_before
    }

    /// End of the validity period, as written in the certificate.
    pub fn not_after(&self) -> OffsetDateTime {
        self.params.not_after
    }
}

/// Makes a self-signed certificate (a root CA, or a self-signed leaf) from `spec`.
pub fn self_signed(spec: CertSpec) -> Result<Issued, Error> {
    let (key_pair, key_alg) = subject_key(&spec)?;
    let params = spec.params(key_alg)?;
    let signer = rcgen::Issuer::from_params(&params, &*key_pair);
    let cert = params
        .signed_by(&*key_pair, &signer)
        .map_err(Error::rcgen(format!(
            "self-signing the {}",
            spec.describe()
        )))?;
    let mut cert = cert.der().clone();
    if spec.sha1 {
        cert = resign_sha1(&cert, &key_pair)?;
    }
    Ok(finish(cert, key_pair, key_alg, params, spec))
}

/// Makes a certificate from `spec`, signed by `issuer`'s key, with `issuer`'s subject as its
/// issuer name. `issuer` is not checked to be a CA, so tests can make bad chains.
pub fn issue(spec: CertSpec, issuer: &Issued) -> Result<Issued, Error> {
    let (key_pair, key_alg) = subject_key(&spec)?;
    let params = spec.params(key_alg)?;
    let signer = rcgen::Issuer::from_params(&issuer.params, &*issuer.key_pair);
    let cert = params
        .signed_by(&*key_pair, &signer)
        .map_err(Error::rcgen(format!(
            "signing the {} with the key of {:?}",
            spec.describe(),
            issuer.subject_cn()
        )))?;
    let mut cert = cert.der().clone();
    if spec.sha1 {
        cert = resign_sha1(&cert, &issuer.key_pair)?;
    }
    Ok(finish(cert, key_pair, key_alg, params, spec))
}

fn subject_key(spec: &CertSpec) -> Result<(Arc<KeyMaterial>, KeyAlg), Error> {
    match &spec.existing_key {
        Some((key, alg)) => Ok((Arc::clone(key), *alg)),
        None => Ok((Arc::new(KeyMaterial::generate(spec.key_alg)?), spec.key_alg)),
    }
}

fn finish(
    cert: CertificateDer<'static>,
    key_pair: Arc<KeyMaterial>,
    key_alg: KeyAlg,
    params: CertificateParams,
    mut spec: CertSpec,
) -> Issued {
    // The spec is kept for `CertSpec::reissue`; the key lives in `key_pair` instead.
    spec.existing_key = None;
    spec.key_alg = key_alg;
    Issued {
        cert,
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.pkcs8_der().to_vec())),
        key_pair,
        key_alg,
        params,
        spec,
    }
}

/// Replaces the signature of an RSA-SHA256-signed certificate with an RSA-SHA1 one:
/// both AlgorithmIdentifiers (in the TBS and outside it) and the signature itself.
fn resign_sha1(
    cert: &CertificateDer<'_>,
    issuer_key: &KeyMaterial,
) -> Result<CertificateDer<'static>, Error> {
    let rsa = issuer_key.legacy_rsa()?;
    let mut outer = Reader::new(cert.as_ref());
    let certificate = outer.next_tag(TAG_SEQUENCE, "Certificate")?;
    let mut parts = Reader::new(certificate.value);
    let tbs = parts.next_tag(TAG_SEQUENCE, "tbsCertificate")?;
    let mut fields = Reader::new(tbs.value);
    let version = fields.next_any("tbsCertificate version")?;
    let serial = fields.next_tag(TAG_INTEGER, "tbsCertificate serialNumber")?;
    fields.next_tag(TAG_SEQUENCE, "tbsCertificate signature")?;

    let new_tbs = der::sequence(&[version.raw, serial.raw, SHA1_WITH_RSA, fields.remaining()]);
    let signature = rsa.sign_pkcs1(Pkcs1Hash::Sha1, &new_tbs)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(&signature);
    let der = der::sequence(&[&new_tbs, SHA1_WITH_RSA, &der::tlv(TAG_BIT_STRING, &bits)]);
    Ok(CertificateDer::from(der))
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// A random positive 16-byte serial whose first byte is never zero, so it always encodes
/// in the same length.
fn random_serial() -> Result<SerialNumber, Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::crypto("drawing a serial number"))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

pub(crate) fn pem_encode(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
