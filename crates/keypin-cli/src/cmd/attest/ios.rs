//! `keypin attest verify ios` and `keypin attest assert ios`.

use std::path::PathBuf;

use anyhow::Context as _;
use keypin_attest::apple::{
    AppId, AppleFailure, AssertionRequest, AttestationRequest, Environment, P256PublicKey,
    verify_assertion, verify_attestation,
};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject as _;

use super::{ClientData, Fact, Output, failure_name, input, report};
use crate::Failure;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Env {
    Development,
    Production,
}

/// Flags of `keypin attest verify ios`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyIosArgs {
    /// The attestation object: raw CBOR, base64 or base64url.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// TEAMID.bundle.id the key must be bound to.
    #[arg(long, value_name = "TEAMID.BUNDLE")]
    app_id: String,
    /// The key id the app sent (base64).
    #[arg(long, value_name = "B64")]
    key_id: String,
    #[command(flatten)]
    client_data: ClientData,
    /// The environment the attestation must come from.
    #[arg(long, value_enum, default_value = "production")]
    env: Env,
    #[command(flatten)]
    output: Output,
}

/// Flags of `keypin attest assert ios`.
#[derive(Debug, clap::Args)]
pub(crate) struct AssertIosArgs {
    /// The assertion: raw CBOR, base64 or base64url.
    #[arg(value_name = "ASSERTION_FILE")]
    file: PathBuf,
    /// The attested public key: a PEM file (or PEM text) holding a PUBLIC KEY.
    #[arg(long, value_name = "PEM")]
    public_key: String,
    #[command(flatten)]
    client_data: ClientData,
    /// TEAMID.bundle.id the key was attested for.
    #[arg(long, value_name = "TEAMID.BUNDLE")]
    app_id: String,
    /// The counter stored from the previous assertion.
    #[arg(long, value_name = "N", default_value_t = 0)]
    previous_counter: u32,
    #[command(flatten)]
    output: Output,
}

fn fact(check: &str, detail: impl Into<String>) -> Fact {
    Fact {
        check: check.into(),
        outcome: "ok",
        detail: detail.into(),
    }
}

fn failed(f: &AppleFailure) -> Option<(String, String)> {
    Some((failure_name(&format!("{f:?}")), f.to_string()))
}

pub(super) fn verify(args: VerifyIosArgs) -> Result<u8, Failure> {
    let object = input::cbor_file(&args.file)?;
    let app_id = AppId::parse(&args.app_id).context("--app-id")?;
    let key_id = input::b64(&args.key_id, "--key-id")?;
    let hash = input::client_data_hash(&args.client_data)?;
    let now = input::time(args.output.at.as_deref())?;
    let environment = match args.env {
        Env::Development => Environment::Development,
        Env::Production => Environment::Production,
    };
    let request = AttestationRequest {
        app_id: &app_id,
        key_id: &key_id,
        client_data_hash: &hash,
        environment,
        now,
    };
    let code = match verify_attestation(&object, &request) {
        Ok(key) => {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let facts = [
                fact("format", "apple-appattest"),
                fact(
                    "1 chain",
                    format!(
                        "to Apple App Attestation Root CA at {}",
                        input::rfc3339(now)
                    ),
                ),
                fact(
                    "2-4 nonce",
                    format!(
                        "SHA-256(authData || clientDataHash) matches the certificate ({} byte client data hash)",
                        hash.len()
                    ),
                ),
                fact("5 key id", hex(&key.key_id)),
                fact("6 rp id", format!("SHA-256({app_id})")),
                fact("7 counter", key.counter.to_string()),
                fact("8 environment", key.environment.to_string()),
                fact("9 credential id", "equals the key id"),
                fact("public key", hex(key.public_key.as_uncompressed())),
                fact("receipt", format!("{} bytes", key.receipt.len())),
            ];
            report("ios", args.output.json, &facts, None)
        }
        Err(f) => report("ios", args.output.json, &[], failed(&f)),
    };
    Ok(code)
}

pub(super) fn assert(args: AssertIosArgs) -> Result<u8, Failure> {
    let assertion = input::cbor_file(&args.file)?;
    let app_id = AppId::parse(&args.app_id).context("--app-id")?;
    let hash = input::client_data_hash(&args.client_data)?;
    let pem = if args.public_key.trim_start().starts_with("-----BEGIN") {
        args.public_key.clone().into_bytes()
    } else {
        input::read_bounded(std::path::Path::new(&args.public_key))?
    };
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(&pem)
        .context("--public-key: no PUBLIC KEY PEM block")?;
    let public_key = P256PublicKey::from_spki_der(spki.as_ref())
        .map_err(anyhow::Error::msg)
        .context("--public-key")?;
    let request = AssertionRequest {
        app_id: &app_id,
        public_key: &public_key,
        client_data_hash: &hash,
        previous_counter: args.previous_counter,
    };
    let code = match verify_assertion(&assertion, &request) {
        Ok(v) => {
            let facts = [
                fact(
                    "3 signature",
                    "ECDSA P-256 over SHA-256(authenticatorData || clientDataHash) with the stored key",
                ),
                fact("4 rp id", format!("SHA-256({app_id})")),
                fact(
                    "5 counter",
                    format!("{} (stored {})", v.counter, args.previous_counter),
                ),
            ];
            report("ios", args.output.json, &facts, None)
        }
        Err(f) => report("ios", args.output.json, &[], failed(&f)),
    };
    Ok(code)
}
