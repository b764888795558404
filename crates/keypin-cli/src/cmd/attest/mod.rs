//! `keypin attest`: check an app attestation the way the server would, and say why it was
//! refused. Exit codes: 0 valid, 1 invalid (the named failure is printed), 2 usage or
//! unreadable input.

mod android;
mod input;
mod ios;

use crate::Failure;

/// Flags of `keypin attest`.
#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    #[command(subcommand)]
    command: AttestCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AttestCommand {
    /// Verify an attestation: an iOS App Attest attestation object or an Android Key
    /// Attestation certificate chain.
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// Verify a single assertion.
    #[command(subcommand)]
    Assert(AssertCommand),
}

#[derive(Debug, clap::Subcommand)]
enum VerifyCommand {
    /// An App Attest attestation object (raw CBOR, base64 or base64url).
    Ios(ios::VerifyIosArgs),
    /// An Android Key Attestation chain (PEM, leaf first).
    Android(android::VerifyAndroidArgs),
}

#[derive(Debug, clap::Subcommand)]
enum AssertCommand {
    /// An App Attest assertion (raw CBOR, base64 or base64url).
    Ios(ios::AssertIosArgs),
}

/// `--client-data B64 | --client-data-hash B64`: one of the two, required.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct ClientData {
    /// The client data the app signed (base64); hashed here with SHA-256.
    #[arg(long, value_name = "B64")]
    client_data: Option<String>,
    /// The client data hash the app passed to App Attest (base64), used exactly as given.
    #[arg(long, value_name = "B64")]
    client_data_hash: Option<String>,
}

/// Output flags shared by every attest command.
#[derive(Debug, clap::Args)]
struct Output {
    /// Verify at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Print the facts and the verdict as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: AttestArgs) -> Result<u8, Failure> {
    match args.command {
        AttestCommand::Verify(VerifyCommand::Ios(a)) => ios::verify(a),
        AttestCommand::Verify(VerifyCommand::Android(a)) => android::verify(a),
        AttestCommand::Assert(AssertCommand::Ios(a)) => ios::assert(a),
    }
}

/// A fact for the output: what was checked and what was seen.
#[derive(Debug, serde::Serialize)]
struct Fact {
    check: String,
    outcome: &'static str,
    detail: String,
}

/// Prints the facts and the verdict (text or JSON) and returns the exit code.
fn report(platform: &str, json: bool, facts: &[Fact], failure: Option<(String, String)>) -> u8 {
    if json {
        let value = serde_json::json!({
            "platform": platform,
            "valid": failure.is_none(),
            "failure": failure.as_ref().map(|(name, message)| serde_json::json!({"name": name, "message": message})),
            "facts": facts,
        });
        say!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        for f in facts {
            say!("{:<5} {:<32} {}", f.outcome, f.check, f.detail);
        }
        match &failure {
            None => say!("VALID"),
            Some((name, message)) => say!("INVALID: {name}: {message}"),
        }
    }
    if failure.is_none() {
        0
    } else {
        crate::exit::MISMATCH
    }
}

/// The variant name of a failure (its Debug form up to the first field).
fn failure_name(debug: &str) -> String {
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}
