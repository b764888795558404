//! keypin + ureq 2 against a loopback server with a freshly made PKI.
//!
//! ```text
//! cargo run -p keypin --example ureq_client --features ureq
//! ```

use keypin::{PinnedConfig, Policy, Roots, pin::Pin};
use keypin_pki::{Chain, KeyAlg, TlsServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chain = Chain::generate("Genuine", &["localhost"], KeyAlg::EcdsaP256)?;
    let policy = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"localhost\"]\npins = [\"{}\", \"{}\"]\n",
            Pin::from_spki_der(&chain.intermediate.spki_der()),
            Pin::from_spki_der(&chain.leaf.spki_der())
        ),
        "pins.toml",
    )?;
    let roots = Roots::empty().with_cert(chain.root.cert.clone())?;
    let server = TlsServer::start(chain.server_options())?;

    let agent = keypin::integrations::ureq::agent(PinnedConfig::builder(policy, roots))?;
    let body = agent
        .get(&format!("https://localhost:{}/", server.port()))
        .call()?
        .into_string()?;
    println!("{}", body.trim_end());

    match agent.get("http://localhost:1/").call() {
        Err(e) => match keypin::downgrade::downgrade_in(&e) {
            Some(d) => println!("cleartext refused: {d}"),
            None => println!("cleartext failed otherwise: {e}"),
        },
        Ok(_) => return Err("cleartext was NOT refused".into()),
    }
    Ok(())
}
