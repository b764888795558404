//! The collector's own TLS: reports carry host names and device details, and the dashboard
//! login carries the token, so they should not cross a network in the clear.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ConfigError;

/// Loads a PEM certificate chain (leaf first) and a PEM private key (PKCS #8, PKCS #1 or
/// SEC1) into a server configuration for HTTP/1.1, with aws-lc-rs passed explicitly (so a
/// second crypto provider in the build never matters) and rustls' safe protocol versions.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ConfigError> {
    let file_error = |path: &Path, why: String| ConfigError::TlsFile {
        path: path.to_path_buf(),
        why,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, format!("cannot read the certificate chain: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(
            cert,
            "no CERTIFICATE block found; give the PEM certificate chain, leaf first".into(),
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        file_error(
            key,
            format!("no usable PEM private key (PKCS #8, PKCS #1 or SEC1): {e}"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls_error = |why: String| ConfigError::Tls {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        why,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| {
            tls_error(format!(
                "{e} (does the key belong to the leaf certificate?)"
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
