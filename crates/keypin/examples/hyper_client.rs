//! keypin + hyper (hyper-rustls connector, hyper-util client) against a loopback server with a
//! freshly made PKI.
//!
//! ```text
//! cargo run -p keypin --example hyper_client --features hyper
//! ```

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keypin::{PinnedConfig, Policy, Roots, pin::Pin};
use keypin_pki::{Chain, KeyAlg, TlsServer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    let connector = keypin::integrations::hyper::connector(PinnedConfig::builder(policy, roots))?;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);

    let uri = format!("https://localhost:{}/", server.port()).parse()?;
    let response = client.get(uri).await?;
    println!("{:?} {}", response.version(), response.status());
    let body = response.into_body().collect().await?.to_bytes();
    println!("{}", String::from_utf8_lossy(&body).trim_end());

    match client.get("http://localhost:1/".parse()?).await {
        Err(err) => match keypin::downgrade::downgrade_in(&err) {
            Some(d) => println!("cleartext refused: {d}"),
            None => println!("cleartext failed otherwise: {err}"),
        },
        Ok(_) => return Err("cleartext was NOT refused".into()),
    }
    Ok(())
}
