//! `keypin gate serve | verify-token | demo`: the attestation gate (crates/keypin-gate).

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use keypin_gate::server::Gate;
use keypin_gate::store::Store;
use keypin_gate::{GateConfig, Jwks};

use crate::{Failure, exit};

mod demo;

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    #[command(subcommand)]
    pub command: GateCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum GateCommand {
    /// Serve /v1/challenge, /v1/register, /v1/assert and /.well-known/jwks.json until
    /// interrupted: over TLS with --tls-cert and --tls-key (assertions must then carry this
    /// connection's tls-exporter value), else plain HTTP behind the API's TLS terminator.
    Serve(ServeArgs),
    /// Verify a gate token against a JWKS file: exit 0 valid (claims printed), 1 invalid, 2
    /// usage or unreadable input.
    VerifyToken(VerifyTokenArgs),
    /// Offline: simulated genuine, repackaged, replaying, rolled-back and intercepted apps
    /// against a gate on loopback.
    Demo,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// gate.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The SQLite database (created on first start).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: String,
    /// Certificate chain (PEM) to serve TLS with.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyTokenArgs {
    /// The token (a JWT).
    pub token: String,
    /// The gate's key set (what /.well-known/jwks.json serves), as a file.
    #[arg(long, value_name = "FILE")]
    pub jwks: PathBuf,
    /// The audience the token must name.
    #[arg(long)]
    pub audience: String,
}

pub(crate) fn run(args: GateArgs) -> Result<u8, Failure> {
    match args.command {
        GateCommand::Serve(a) => serve(a),
        GateCommand::VerifyToken(a) => verify_token(a),
        GateCommand::Demo => demo::run(),
    }
}

fn serve(a: ServeArgs) -> Result<u8, Failure> {
    let config = GateConfig::from_file(&a.config).map_err(|e| Failure::usage(anyhow!(e)))?;
    if config.danger_test_roots.is_some() {
        eprintln!(
            "keypin gate: WARNING: danger_trust_test_attestation_roots is set: simulated devices are trusted, genuine ones are not. Never in production."
        );
    }
    let store =
        Store::open(&a.db).map_err(|e| Failure::usage(anyhow!("{}: {e}", a.db.display())))?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(
            keypin_collector::tls::server_config(cert, key)
                .map_err(|e| Failure::usage(anyhow!(e)))?,
        ),
        _ => None,
    };
    let gate = Gate::new(config, store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&a.listen)
                .await
                .with_context(|| format!("cannot listen on {}", a.listen))?;
            say!(
                "keypin gate listening on {}://{} (database {})",
                if tls.is_some() { "https" } else { "http" },
                listener.local_addr()?,
                a.db.display()
            );
            let served = async {
                match tls {
                    Some(config) => keypin_gate::server::serve_tls(listener, gate, config).await,
                    None => keypin_gate::server::serve(listener, gate).await,
                }
            };
            tokio::select! {
                r = served => r.context("server failed"),
                () = super::shutdown_signal() => Ok(()),
            }
        })
        .map_err(Failure::usage)?;
    eprintln!("keypin gate stopped");
    Ok(0)
}

fn verify_token(a: VerifyTokenArgs) -> Result<u8, Failure> {
    let text =
        std::fs::read(&a.jwks).map_err(|e| Failure::usage(anyhow!("{}: {e}", a.jwks.display())))?;
    let jwks: Jwks = serde_json::from_slice(&text)
        .map_err(|e| Failure::usage(anyhow!("{}: not a JWKS: {e}", a.jwks.display())))?;
    match keypin_gate::verify_token(a.token.trim(), &jwks, &a.audience) {
        Ok(claims) => {
            say!("valid token");
            let json = serde_json::to_string_pretty(&claims).context("claims")?;
            say!("{json}");
            Ok(0)
        }
        Err(e) => {
            say!("invalid token: {e}");
            Ok(exit::MISMATCH)
        }
    }
}
