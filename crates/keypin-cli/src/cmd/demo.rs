//! `keypin demo`: the main job, offline. A pinned client accepts the genuine server and
//! refuses a forged chain from a rogue CA that the client's trust store *does* trust (a
//! user-installed or corporate CA: the case pinning exists for). An unpinned client with the
//! same trust store is shown accepting the forgery, so the difference is pinning alone.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use keypin::{
    PinnedConfig, Policy, Roots, events::ChannelSink, events::PinEvent, pin::Pin,
    verify::PinningVerifier, verify::Verdict, verify::VerifyError,
};
use keypin_pki::{CertSpec, Chain, KeyAlg, ServerOptions, TlsServer, issue, self_signed};
use rustls_pki_types::ServerName;

use crate::Failure;
use crate::args::DemoArgs;
use crate::net::provider;

const HOST: &str = "api.bank.test";

pub(crate) fn run(_args: DemoArgs) -> Result<u8, Failure> {
    say!("keypin demo: certificate pinning against a man in the middle, offline on 127.0.0.1\n");

    // 1. The PKI: the bank's genuine chain, a spare key for the backup pin, and an attacker
    //    whose CA the client trusts.
    let genuine = Chain::generate("Demo Bank", &[HOST], KeyAlg::EcdsaP256).map_err(pki)?;
    let spare = self_signed(CertSpec::ca("Demo Bank Spare Key (offline)")).map_err(pki)?;
    let rogue_ca = self_signed(CertSpec::ca("Corporate Inspection Proxy CA")).map_err(pki)?;
    let forged = issue(CertSpec::leaf(&[HOST]), &rogue_ca).map_err(pki)?;
    let primary_pin = Pin::from_spki_der(&genuine.intermediate.spki_der());
    let backup_pin = Pin::from_spki_der(&spare.spki_der());
    say!("1. generated the PKI");
    say!("   genuine:  Demo Bank Root CA -> Demo Bank Issuing CA -> {HOST}");
    say!("   backup:   a spare key kept offline (its pin is the backup pin)");
    say!("   attacker: Corporate Inspection Proxy CA -> {HOST} (forged)");
    say!("   the client trusts BOTH roots, as a device with a user-installed CA does\n");

    // 2. The policy an app would embed.
    let policy_text = format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{primary_pin}\",  # Demo Bank Issuing CA\n        \"{backup_pin}\"]  # spare key\nmode = \"enforce\"\n"
    );
    let policy = Policy::from_toml_str(&policy_text, "demo-policy.toml").map_err(|e| anyhow!(e))?;
    say!("2. the pin policy (embedded in the app):");
    for line in policy_text.lines() {
        say!("   | {line}");
    }
    say!();

    let mut roots = Roots::empty();
    for root in [&genuine.root, &rogue_ca] {
        roots.add_cert(root.cert.clone()).map_err(|e| anyhow!(e))?;
    }
    let (sink, events) = ChannelSink::new(16);
    let pinned = Arc::new(
        PinnedConfig::builder(policy.clone(), roots.clone())
            .events(Arc::new(sink))
            .build()
            .map_err(|e| anyhow!(e))?,
    );
    // The same trust store without pinning: what a client gets today.
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates([genuine.root.cert.clone(), rogue_ca.cert.clone()]);
    let unpinned = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!(e))?
            .with_root_certificates(store)
            .with_no_client_auth(),
    );
    let verifier = crate::net::verifier(policy, roots);

    // 3. The genuine server.
    let genuine_server = TlsServer::start(genuine.server_options()).map_err(pki)?;
    say!("3. genuine server on {}", genuine_server.addr());
    let genuine_ok = match request(&pinned, genuine_server.addr()) {
        Ok((reply, certs)) => {
            let why = explain_match(&verifier, &certs);
            say!("   pinned client:   ACCEPTED, {why}");
            say!("                    server replied: {}", reply.trim());
            true
        }
        Err(e) => {
            say!("   pinned client:   REFUSED (unexpected): {e:#}");
            false
        }
    };
    say!();

    // 4. The attacker.
    let attacker = TlsServer::start(ServerOptions::new(
        vec![forged.cert.clone()],
        forged.key.clone_key(),
    ))
    .map_err(pki)?;
    say!(
        "4. attacker's server on {} with the forged chain",
        attacker.addr()
    );
    match request(&unpinned, attacker.addr()) {
        Ok(_) => {
            say!("   unpinned client: ACCEPTED the forgery and sent its request to the attacker")
        }
        Err(e) => say!("   unpinned client: refused ({e:#})"),
    }
    let attack_refused = match request(&pinned, attacker.addr()) {
        Ok(_) => {
            say!("   pinned client:   ACCEPTED (pinning failed!)");
            false
        }
        Err(e) => {
            say!("   pinned client:   REFUSED before sending anything:");
            let detail = e
                .chain()
                .find_map(|c| c.downcast_ref::<std::io::Error>())
                .and_then(VerifyError::pin_failure_of_io)
                .map(ToString::to_string)
                .unwrap_or_else(|| format!("{e:#}"));
            for line in detail.lines() {
                say!("     {line}");
            }
            true
        }
    };
    let reported = events
        .try_iter()
        .filter(|e| matches!(e, PinEvent::Refused { .. }))
        .count();
    say!("   the pin event hook received {reported} refusal event(s) for reporting\n");
    let attacker_data = attacker
        .wait_for_connections(2, Duration::from_secs(2))
        .iter()
        .filter(|c| c.app_data_seen)
        .count();
    say!(
        "   the attacker received application data on {attacker_data} connection(s): the unpinned client's"
    );

    genuine_server.shutdown();
    attacker.shutdown();
    if genuine_ok && attack_refused {
        say!(
            "\nresult: pinning held. The genuine server was accepted; the trusted forgery was refused."
        );
        Ok(0)
    } else {
        say!("\nresult: DEMO FAILED (see above)");
        Ok(crate::exit::MISMATCH)
    }
}

fn pki(e: keypin_pki::Error) -> Failure {
    Failure::usage(anyhow!("cannot generate the demo PKI: {e}"))
}

fn explain_match(
    verifier: &PinningVerifier,
    certs: &[rustls_pki_types::CertificateDer<'static>],
) -> String {
    let Some((ee, rest)) = certs.split_first() else {
        return "no certificates".into();
    };
    let name = ServerName::try_from(HOST).map(|n| n.to_owned());
    match name.map(|n| verifier.verify_chain(ee, rest, &n, rustls_pki_types::UnixTime::now())) {
        Ok(Ok(Verdict::Matched(m))) => {
            format!("pin {} matched the {} ({})", m.pin, m.position, m.subject)
        }
        other => format!("{other:?}"),
    }
}

/// One HTTPS request over `config`; returns the reply and the server's certificates.
fn request(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
) -> anyhow::Result<(String, Vec<rustls_pki_types::CertificateDer<'static>>)> {
    let name = ServerName::try_from(HOST)?.to_owned();
    let mut conn = rustls::ClientConnection::new(config.clone(), name)?;
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    sock.set_write_timeout(Some(Duration::from_secs(5)))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).context("TLS handshake")?;
    }
    let certs = conn
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(
        format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !reply.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let text = String::from_utf8_lossy(&reply);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or(&text).to_string();
    Ok((body, certs))
}
