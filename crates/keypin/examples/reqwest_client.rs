//! keypin + reqwest: a pinned HTTPS request, a pin failure, and a refused cleartext URL,
//! against a loopback server with a freshly made PKI.
//!
//! ```text
//! cargo run -p keypin --example reqwest_client --features reqwest
//! ```

use keypin::{PinnedConfig, Policy, Roots, pin::Pin};
use keypin_pki::{Chain, KeyAlg, TlsServer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let genuine = Chain::generate("Genuine", &["localhost"], KeyAlg::EcdsaP256)?;
    let rogue = Chain::generate("Rogue", &["localhost"], KeyAlg::EcdsaP256)?;
    let policy = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"localhost\"]\npins = [\"{}\", \"{}\"]\n",
            Pin::from_spki_der(&genuine.intermediate.spki_der()),
            Pin::from_spki_der(&genuine.leaf.spki_der())
        ),
        "pins.toml",
    )?;
    let roots = Roots::empty()
        .with_cert(genuine.root.cert.clone())?
        .with_cert(rogue.root.cert.clone())?;

    // The quick start: a pinned reqwest client.
    let client = keypin::integrations::reqwest::client(PinnedConfig::builder(policy, roots))?;

    let server = TlsServer::start(genuine.server_options())?;
    let url = format!("https://localhost:{}/", server.port());
    let response = client.get(&url)?.send().await?;
    println!(
        "genuine server: {:?} {}",
        response.version(),
        response.status()
    );

    let server = TlsServer::start(rogue.server_options())?;
    let outcome = client
        .get(&format!("https://localhost:{}/", server.port()))?
        .send()
        .await;
    match outcome {
        Err(err) => match keypin::downgrade::pin_failure_in(&err) {
            Some(failure) => println!("rogue server refused:\n{failure}"),
            None => println!("rogue server refused: {err}"),
        },
        Ok(_) => return Err("the rogue chain was NOT refused".into()),
    }

    match client.get("http://localhost/") {
        Err(e) => println!("cleartext refused: {e}"),
        Ok(_) => return Err("cleartext was NOT refused".into()),
    }
    Ok(())
}
