//! The client's own identity for mTLS: a certificate chain and its private key, loaded from
//! PEM or DER files (keys in PKCS#8, SEC1 or PKCS#1), checked to belong together, and plugged
//! into a pinned config with [`crate::PinnedConfigBuilder::client_identity`].
//!
//! ```no_run
//! # // Roots::webpki() needs the default `webpki-roots` feature.
//! # #[cfg(feature = "webpki-roots")]
//! # fn main() -> Result<(), keypin::Error> {
//! use keypin::{identity::ClientIdentity, PinnedConfig, Policy, Roots};
//!
//! let identity = ClientIdentity::from_files("client.crt", "client.key")?;
//! let config = PinnedConfig::builder(Policy::empty(), Roots::webpki())
//!     .client_identity(identity)
//!     .build()?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "webpki-roots"))]
//! # fn main() {}
//! ```

use core::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;
pub use crate::error::IdentityError;
use crate::pin::Pin;

fn refuse(source_name: &str, reason: impl Into<String>) -> Error {
    Error::Identity(IdentityError {
        source_name: source_name.to_string(),
        reason: reason.into(),
    })
}

/// A client certificate chain (leaf first) and the leaf's private key, known to match.
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    source_name: String,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("source", &self.source_name)
            .field("certificates", &self.chain.len())
            .field("key", &"[elided]")
            .finish()
    }
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            source_name: self.source_name.clone(),
        }
    }
}

impl ClientIdentity {
    /// Reads the certificate chain from `cert_path` and the key from `key_path` (they may be
    /// the same file). Each file may be PEM or DER: a DER certificate file holds one
    /// certificate; a DER key is PKCS#8, SEC1 or PKCS#1.
    pub fn from_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_name = cert_path.display().to_string();
        let key_name = key_path.display().to_string();
        let chain = parse_chain(&read(cert_path)?, &cert_name)?;
        let key = parse_key(&read(key_path)?, &key_name)?;
        let source_name = if cert_path == key_path {
            cert_name
        } else {
            format!("{cert_name} + {key_name}")
        };
        Self::new(chain, key, &source_name)
    }

    /// The same from bytes in memory (PEM or DER each); `source_name` names them in errors.
    pub fn from_bytes(cert: &[u8], key: &[u8], source_name: &str) -> Result<Self, Error> {
        let chain = parse_chain(cert, &format!("{source_name} (certificate)"))?;
        let key = parse_key(key, &format!("{source_name} (key)"))?;
        Self::new(chain, key, source_name)
    }

    /// A chain (leaf first) and key already parsed. Checks that the leaf parses, that the key
    /// is one aws-lc-rs can sign with, and that the key belongs to the leaf.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        source_name: &str,
    ) -> Result<Self, Error> {
        let identity = Self {
            chain,
            key,
            source_name: source_name.to_string(),
        };
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        identity.certified_key(&provider)?;
        Ok(identity)
    }

    /// Reads a PKCS#12 file (`.p12`, `.pfx`) holding one private key and its certificates
    /// (PBES2/AES as written by OpenSSL 3, and the legacy RC2/3DES encryption). The certificate
    /// whose key matches is put first; the others follow in file order.
    #[cfg(feature = "pkcs12")]
    pub fn from_pkcs12_file(path: impl AsRef<Path>, password: &str) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_pkcs12(&bytes, password, &path.display().to_string())
    }

    /// [`Self::from_pkcs12_file`] from bytes in memory; `source_name` names them in errors.
    #[cfg(feature = "pkcs12")]
    pub fn from_pkcs12(bytes: &[u8], password: &str, source_name: &str) -> Result<Self, Error> {
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| {
            let hint = match e {
                p12_keystore::error::Error::MacError(_) => {
                    " (wrong password, or the file is damaged)".to_string()
                }
                _ => String::new(),
            };
            refuse(
                source_name,
                format!("not a readable PKCS#12 file: {e}{hint}"),
            )
        })?;
        let key = match archive.keys.as_slice() {
            [one] => PrivateKeyDer::try_from(one.key.as_der().to_vec())
                .map_err(|e| refuse(source_name, format!("the private key: {e}")))?,
            [] => return Err(refuse(source_name, "the PKCS#12 file holds no private key")),
            many => {
                return Err(refuse(
                    source_name,
                    format!(
                        "the PKCS#12 file holds {} private keys; keypin takes one identity per file",
                        many.len()
                    ),
                ));
            }
        };
        let certs: Vec<CertificateDer<'static>> = archive
            .certs
            .iter()
            .map(|c| CertificateDer::from(c.cert.as_der().to_vec()))
            .collect();
        if certs.is_empty() {
            return Err(refuse(source_name, "the PKCS#12 file holds no certificate"));
        }
        // The certificate of the key first.
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| refuse(source_name, format!("the private key cannot be used: {e}")))?;
        let public = signing.public_key();
        let leaf = public.and_then(|spki| {
            certs.iter().position(|c| {
                crate::pin::spki_of_cert(c).is_ok_and(|s| s.as_slice() == spki.as_ref())
            })
        });
        let Some(leaf) = leaf else {
            return Err(refuse(
                source_name,
                "no certificate in the PKCS#12 file matches its private key",
            ));
        };
        let mut chain = Vec::with_capacity(certs.len());
        chain.push(certs[leaf].clone());
        chain.extend(
            certs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != leaf)
                .map(|(_, c)| c.clone()),
        );
        Self::new(chain, key, source_name)
    }

    /// The certificates, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The SPKI pin of the leaf's key: what a server's client allowlist lists for it.
    pub fn spki_pin(&self) -> Result<Pin, Error> {
        let leaf = self
            .chain
            .first()
            .ok_or_else(|| refuse(&self.source_name, "no certificate"))?;
        Pin::spki_of_cert(leaf).map_err(|e| {
            refuse(
                &self.source_name,
                format!("the leaf certificate does not parse: {e}"),
            )
        })
    }

    /// Where it came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The chain and the key loaded by `provider`, checked to match.
    pub(crate) fn certified_key(
        &self,
        provider: &CryptoProvider,
    ) -> Result<Arc<CertifiedKey>, Error> {
        let name = &self.source_name;
        let leaf = self
            .chain
            .first()
            .ok_or_else(|| refuse(name, "no certificate in the chain"))?;
        webpki::EndEntityCert::try_from(leaf).map_err(|e| {
            refuse(
                name,
                format!("the first certificate is not a usable X.509 certificate: {e}"),
            )
        })?;
        let signing = provider
            .key_provider
            .load_private_key(self.key.clone_key())
            .map_err(|e| refuse(name, format!("the private key cannot be used: {e}")))?;
        let certified = CertifiedKey::new(self.chain.clone(), signing);
        match certified.keys_match() {
            Ok(()) => Ok(Arc::new(certified)),
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                Err(refuse(
                    name,
                    format!(
                        "the private key does not match the certificate (the first certificate's \
                         key is {}); give the key the certificate was issued for, or put the \
                         client's own certificate first in the chain",
                        self.spki_pin()?
                    ),
                ))
            }
            Err(e) => Err(refuse(
                name,
                format!("cannot check that the key matches the certificate: {e}"),
            )),
        }
    }
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes
        .windows(b"-----BEGIN ".len())
        .any(|w| w == b"-----BEGIN ")
}

fn parse_chain(bytes: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    if !is_pem(bytes) {
        if bytes.first() != Some(&0x30) {
            return Err(refuse(
                name,
                "neither PEM (no -----BEGIN line) nor a DER certificate (no ASN.1 SEQUENCE)",
            ));
        }
        return Ok(vec![CertificateDer::from(bytes.to_vec())]);
    }
    let mut chain = Vec::new();
    let mut others = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        match section {
            Ok((SectionKind::Certificate, der)) => chain.push(CertificateDer::from(der)),
            Ok((kind, _)) => others.push(format!("{kind:?}")),
            Err(e) => return Err(refuse(name, format!("invalid PEM: {}", pem_reason(&e)))),
        }
    }
    if chain.is_empty() {
        let seen = if others.is_empty() {
            String::new()
        } else {
            format!(" (found only: {})", others.join(", "))
        };
        return Err(refuse(
            name,
            format!("no CERTIFICATE block in the file{seen}"),
        ));
    }
    Ok(chain)
}

fn parse_key(bytes: &[u8], name: &str) -> Result<PrivateKeyDer<'static>, Error> {
    if !is_pem(bytes) {
        return PrivateKeyDer::try_from(bytes.to_vec()).map_err(|e| {
            refuse(
                name,
                format!("not a PEM file and not a DER private key (PKCS#8, SEC1 or PKCS#1): {e}"),
            )
        });
    }
    let mut keys = Vec::new();
    let mut others = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        match section {
            Ok((
                kind @ (SectionKind::PrivateKey
                | SectionKind::RsaPrivateKey
                | SectionKind::EcPrivateKey),
                der,
            )) => {
                keys.push(PrivateKeyDer::from_pem(kind, der));
            }
            Ok((kind, _)) => others.push(format!("{kind:?}")),
            Err(e) => return Err(refuse(name, format!("invalid PEM: {}", pem_reason(&e)))),
        }
    }
    let mut keys = keys.into_iter().flatten();
    let key = keys.next().ok_or_else(|| {
        let hint = if bytes
            .windows(b"ENCRYPTED PRIVATE KEY".len())
            .any(|w| w == b"ENCRYPTED PRIVATE KEY")
        {
            " (it holds an ENCRYPTED PRIVATE KEY: decrypt it first, e.g. `openssl pkcs8 -in KEY -out plain.key`)".to_string()
        } else if others.is_empty() {
            String::new()
        } else {
            format!(" (found only: {})", others.join(", "))
        };
        refuse(
            name,
            format!(
                "no private key in the file: expected a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block{hint}"
            ),
        )
    })?;
    if keys.next().is_some() {
        return Err(refuse(
            name,
            "more than one private key in the file; keep only the client's key",
        ));
    }
    Ok(key)
}

fn pem_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a section is not closed (missing {:?})",
            String::from_utf8_lossy(end_marker)
        ),
        other => other.to_string(),
    }
}
