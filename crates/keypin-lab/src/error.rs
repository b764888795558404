//! The lab's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, serving or running the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PKI factory failed.
    #[error("cannot generate the lab PKI ({what}): {source}")]
    Pki {
        /// What was being made.
        what: String,
        /// The factory's error.
        source: keypin_pki::Error,
    },
    /// A scenario server could not be set up.
    #[error("cannot set up the TLS server for scenario {scenario}: {source}")]
    Tls {
        /// The scenario id.
        scenario: String,
        /// The rustls error.
        source: rustls::Error,
    },
    /// A listening port could not be bound.
    #[error("cannot listen on {addr} for scenario {scenario}: {source}{hint}")]
    Bind {
        /// The scenario id.
        scenario: String,
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// A file of the lab could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The lab's own policy did not parse (a bug in the lab).
    #[error("the lab's generated policy was refused: {0}")]
    Policy(String),
    /// A `--client` command template is wrong.
    #[error("bad client command: {0}")]
    Command(String),
    /// The client command could not be started.
    #[error("cannot start the client command {program:?}: {source}")]
    Spawn {
        /// The program named by the command.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other I/O failure of the harness itself.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn pki(what: impl Into<String>) -> impl FnOnce(keypin_pki::Error) -> Error {
        let what = what.into();
        move |source| Error::Pki { what, source }
    }
}
