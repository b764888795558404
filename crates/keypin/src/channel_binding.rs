//! The client half of channel binding for an attestation gate (keypin-gate): what an app
//! signs into its client data about the TLS connection it is on, so that the server side can
//! tell whether someone in between terminated that connection.
//!
//! - `tls_exporter`: RFC 9266 `tls-exporter` (32 bytes of keying material exported with the
//!   label `EXPORTER-Channel-Binding` and no context): equal on both ends of one TLS
//!   connection, different on the two halves of an intercepted one.
//! - `server_spki`: the SPKI pin of the key the server presented, for a gate that sits behind
//!   a TLS terminator and compares it with the keys the API serves.
//!
//! ```no_run
//! # fn f(conn: &rustls::ClientConnection) -> Result<(), keypin::channel_binding::ChannelBindingError> {
//! let binding = keypin::channel_binding::channel_binding(conn)?;
//! let _put_in_client_data = (binding.tls_exporter, binding.server_spki.digest());
//! # Ok(()) }
//! ```

use crate::pin::Pin;

/// The RFC 9266 exporter label.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// What the client saw of its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The `tls-exporter` value (32 bytes).
    pub tls_exporter: [u8; 32],
    /// The SPKI pin of the server's end-entity certificate.
    pub server_spki: Pin,
}

/// Why no channel binding could be taken from a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelBindingError {
    /// The handshake has not finished, or the server sent no certificate.
    #[error("no server certificate on this connection (is the handshake complete?)")]
    NoServerCertificate,
    /// rustls refused to export keying material.
    #[error("tls-exporter: {0}")]
    Export(rustls::Error),
    /// The server certificate's SPKI could not be read.
    #[error("server certificate: {0}")]
    Certificate(webpki::Error),
}

/// The channel binding of a client connection whose handshake is complete.
pub fn channel_binding(
    conn: &rustls::ClientConnection,
) -> Result<ChannelBinding, ChannelBindingError> {
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or(ChannelBindingError::NoServerCertificate)?;
    let server_spki = Pin::spki_of_cert(leaf).map_err(ChannelBindingError::Certificate)?;
    let tls_exporter = conn
        .export_keying_material([0u8; 32], TLS_EXPORTER_LABEL, None)
        .map_err(ChannelBindingError::Export)?;
    Ok(ChannelBinding {
        tls_exporter,
        server_spki,
    })
}
