//! keypin + tokio-rustls: a pinned `TlsConnector` against a loopback server with a freshly made
//! PKI.
//!
//! ```text
//! cargo run -p keypin --example tokio_rustls_client --features tokio-rustls
//! ```

use keypin::{PinnedConfig, Policy, Roots, pin::Pin};
use keypin_pki::{Chain, KeyAlg, TlsServer};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

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

    let connector =
        keypin::integrations::tokio_rustls::connector(PinnedConfig::builder(policy, roots))?;
    let tcp = tokio::net::TcpStream::connect(server.addr()).await?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply).await?;
    println!("{}", reply.lines().next().unwrap_or(""));
    Ok(())
}
