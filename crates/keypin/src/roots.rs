//! Trust anchors the verifier validates against: Mozilla's (webpki-roots), the system's, or
//! your own CA files, in any combination.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor};

use crate::error::Error;

/// A set of trust anchors, with the certificates they came from where known.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    anchors: Vec<TrustAnchor<'static>>,
    certs: Vec<CertificateDer<'static>>,
}

impl Roots {
    /// No anchors at all: add some before use, or every chain fails as untrusted.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Mozilla's root program, as shipped by the `webpki-roots` crate.
    #[cfg(feature = "webpki-roots")]
    pub fn webpki() -> Self {
        Self {
            anchors: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            certs: Vec::new(),
        }
    }

    /// The operating system's trust store. Certificates the platform lists but webpki cannot
    /// parse are skipped; fails only when none can be loaded.
    #[cfg(feature = "native-roots")]
    pub fn native() -> Result<Self, Error> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = Self::empty();
        for cert in found.certs {
            let _ = roots.add_cert(cert);
        }
        if roots.anchors.is_empty() {
            return Err(Error::Certificate {
                context: format!(
                    "no usable system root certificates ({} errors)",
                    found.errors.len()
                ),
                source: webpki::Error::UnknownIssuer,
            });
        }
        Ok(roots)
    }

    /// Adds one CA certificate.
    pub fn add_cert(&mut self, cert: CertificateDer<'static>) -> Result<(), Error> {
        let anchor = webpki::anchor_from_trusted_cert(&cert)
            .map_err(|source| Error::Certificate {
                context: "not a usable trust anchor".into(),
                source,
            })?
            .to_owned();
        self.anchors.push(anchor);
        self.certs.push(cert);
        Ok(())
    }

    /// Adds every certificate in a PEM file; fails if the file holds none.
    pub fn add_pem_file(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            let cert = cert.map_err(|e| Error::Certificate {
                context: format!("{}: invalid PEM ({e})", path.display()),
                source: webpki::Error::BadDer,
            })?;
            self.add_cert(cert).map_err(|e| match e {
                Error::Certificate { source, .. } => Error::Certificate {
                    context: format!("{}: not a usable CA certificate", path.display()),
                    source,
                },
                other => other,
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::Certificate {
                context: format!("{}: no CERTIFICATE block found", path.display()),
                source: webpki::Error::BadDer,
            });
        }
        Ok(())
    }

    /// Builder form of [`Self::add_cert`].
    pub fn with_cert(mut self, cert: CertificateDer<'static>) -> Result<Self, Error> {
        self.add_cert(cert)?;
        Ok(self)
    }

    /// The number of anchors.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// True when there are no anchors.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// The anchors, as webpki uses them.
    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    pub(crate) fn into_parts(self) -> (Vec<TrustAnchor<'static>>, Vec<CertificateDer<'static>>) {
        (self.anchors, self.certs)
    }
}

impl From<rustls::RootCertStore> for Roots {
    fn from(store: rustls::RootCertStore) -> Self {
        Self {
            anchors: store.roots,
            certs: Vec::new(),
        }
    }
}
