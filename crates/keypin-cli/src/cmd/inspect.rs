//! `keypin inspect HOST[:PORT]`: the served chain and the verified path, with pins.

use anyhow::anyhow;
use keypin::{Policy, pin::Pin, verify::PinningVerifier, verify::Position};
use serde::Serialize;

use crate::Failure;
use crate::args::InspectArgs;
use crate::net::{fetch_chain, roots, target_of, verifier};
use keypin_inspect::cert::{CertInfo, describe_anchor_key, describe_cert};

#[derive(Debug, Serialize)]
struct PathInfo {
    position: String,
    #[serde(flatten)]
    cert: CertInfo,
}

#[derive(Debug, Serialize)]
struct Report {
    host: String,
    port: u16,
    connected_to: String,
    tls_version: String,
    cipher_suite: String,
    served_chain: Vec<CertInfo>,
    verified_path: Vec<PathInfo>,
    /// Why no path validated, when none did.
    verification_error: Option<String>,
    hostname_valid: bool,
    hostname_error: Option<String>,
}

pub(crate) fn run(args: InspectArgs) -> Result<u8, Failure> {
    let target = target_of(&args.connect)?;
    let roots = roots(&args.connect.ca_files)?;
    let fetched = fetch_chain(&target)?;
    let now = rustls_pki_types::UnixTime::now();
    let now_secs = now.as_secs() as i64;

    let served_chain = std::iter::once(&fetched.leaf)
        .chain(&fetched.rest)
        .enumerate()
        .map(|(i, c)| {
            describe_cert(c.as_ref(), now_secs).map_err(|e| {
                Failure::connect(anyhow::Error::new(e).context(format!("served certificate [{i}]")))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let verifier = verifier(Policy::empty(), roots);
    let (ee, rest) = (&fetched.leaf, &fetched.rest);
    let (verified_path, verification_error) =
        match verifier.verified_path(ee, rest, &target.server_name, now) {
            Ok(path) => (
                path.iter()
                    .map(|e| {
                        let cert = match &e.der {
                            Some(der) => describe_cert(der.as_ref(), now_secs)
                                .unwrap_or_else(|_| describe_anchor_key(&e.subject, &e.spki_pin)),
                            None => describe_anchor_key(&e.subject, &e.spki_pin),
                        };
                        PathInfo {
                            position: position_name(e.position),
                            cert,
                        }
                    })
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
    let hostname = PinningVerifier::check_name(ee, &target.server_name);
    let report = Report {
        host: target.host.clone(),
        port: target.port,
        connected_to: fetched.peer.to_string(),
        tls_version: fetched.version.clone(),
        cipher_suite: fetched.cipher.clone(),
        served_chain,
        verified_path,
        verification_error,
        hostname_valid: hostname.is_ok(),
        hostname_error: hostname.err().map(|e| e.to_string()),
    };

    let failed = report.verification_error.is_some() || !report.hostname_valid;
    if failed && !args.insecure {
        let why = report
            .verification_error
            .clone()
            .or(report.hostname_error.clone())
            .unwrap_or_default();
        return Err(Failure::connect(anyhow!(
            "{}:{} does not validate: {why}\n(add --ca-file for a private CA, or --insecure to show the chain anyway)",
            report.host,
            report.port
        )));
    }
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Failure::usage(anyhow!(e)))?;
        say!("{text}");
    } else {
        print_text(&report);
    }
    Ok(if failed { crate::exit::CONNECT } else { 0 })
}

fn position_name(p: Position) -> String {
    match p {
        Position::Leaf => "leaf".into(),
        Position::Intermediate(_) => "intermediate".into(),
        Position::TrustAnchor => "trust anchor".into(),
    }
}

fn print_text(r: &Report) {
    say!(
        "{}:{} (connected to {}, {}, {})",
        r.host,
        r.port,
        r.connected_to,
        r.tls_version,
        r.cipher_suite
    );
    say!(
        "\nserved chain ({} certificate{}, as sent):",
        r.served_chain.len(),
        if r.served_chain.len() == 1 { "" } else { "s" }
    );
    for (i, c) in r.served_chain.iter().enumerate() {
        print_cert(&format!("[{i}]"), c);
    }
    match &r.verification_error {
        None => {
            say!("\nverified path (leaf to trust anchor):");
            for (i, p) in r.verified_path.iter().enumerate() {
                print_cert(&format!("[{i}] {}", p.position), &p.cert);
            }
        }
        Some(e) => say!("\nverified path: none ({e})"),
    }
    match &r.hostname_error {
        None => say!("\nhostname: the leaf is valid for {}", r.host),
        Some(e) => say!("\nhostname: NOT valid for {}: {e}", r.host),
    }
}

fn print_cert(label: &str, c: &CertInfo) {
    say!("  {label} {}", c.subject);
    say!("      issuer    {}", c.issuer);
    if !c.not_after.is_empty() {
        let left = if c.days_left < 0 {
            format!("EXPIRED {} days ago", -c.days_left)
        } else {
            format!("{} days left", c.days_left)
        };
        say!(
            "      valid     {} .. {} ({left})",
            c.not_before,
            c.not_after
        );
    }
    if !c.dns_names.is_empty() {
        say!("      names     {}", c.dns_names.join(", "));
    }
    match c.key_bits {
        Some(bits) if c.key_type == "RSA" => say!("      key       RSA {bits} bits"),
        _ => say!("      key       {}", c.key_type),
    }
    let spki = Pin::parse(&c.spki_sha256)
        .map(|p| p.to_string())
        .unwrap_or_default();
    say!("      spki pin  {spki}");
    if let Some(cert) = &c.cert_sha256 {
        say!("      cert pin  cert-sha256/{cert}");
    }
}
