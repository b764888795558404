//! Serves N TLS endpoints on loopback for monitor tests and benchmarks.
//!
//! `cargo run --release -p keypin-pki --example many_servers -- N DIR` writes into DIR:
//! `root.pem`, `policy.toml` (one rule per host `hI.mon.test`, pinning the issuing CA plus a
//! spare key), `resolve.txt` (`hI.mon.test 127.0.0.1:PORT` lines) and `ports.txt`, prints
//! `ready`, and serves until its standard input closes. Each endpoint serves its connections
//! one at a time on its accept thread; `MANY_SERVERS_THREAD_PER_CONNECTION=1` gives each
//! connection a thread of its own instead (the harness before 2026-12-02).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::io::Read as _;

use keypin_pki::{CertSpec, Chain, KeyAlg, ServerOptions, TlsServer, issue, self_signed};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: many_servers N DIR");
    let dir = std::path::PathBuf::from(args.next().expect("usage: many_servers N DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    let chain = Chain::generate("Monitor", &["h0.mon.test"], KeyAlg::EcdsaP256).unwrap();
    let leaf = issue(CertSpec::leaf(&["*.mon.test"]), &chain.intermediate).unwrap();
    let spare = self_signed(CertSpec::ca("Monitor spare")).unwrap();
    let pin = |i: &keypin_pki::Issued| {
        use aws_lc_rs::digest;
        let d = digest::digest(&digest::SHA256, &i.spki_der());
        format!("sha256/{}", b64(d.as_ref()))
    };
    let mut servers = Vec::new();
    let (mut policy, mut resolve, mut ports) = (String::new(), String::new(), String::new());
    for i in 0..n {
        let mut opts = ServerOptions::new(
            vec![leaf.cert.clone(), chain.intermediate.cert.clone()],
            leaf.key.clone_key(),
        );
        // Each endpoint gets one connection at a time from the clients measured: serving it
        // on the accept thread keeps thread start-up and teardown out of the measurement
        // (the servers share the two cores with the client under test).
        // MANY_SERVERS_THREAD_PER_CONNECTION=1 restores a thread per connection, for comparison.
        opts.one_at_a_time = std::env::var_os("MANY_SERVERS_THREAD_PER_CONNECTION").is_none();
        let s = TlsServer::start(opts).unwrap();
        let host = format!("h{i}.mon.test");
        let _ = writeln!(
            policy,
            "[[rule]]\nhosts = [\"{host}\"]\npins = [\"{}\", \"{}\"]\n",
            pin(&chain.intermediate),
            pin(&spare)
        );
        let _ = writeln!(resolve, "{host} {}", s.addr());
        let _ = writeln!(ports, "{}", s.port());
        servers.push(s);
    }
    std::fs::write(dir.join("root.pem"), chain.root.cert_pem()).unwrap();
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    std::fs::write(dir.join("resolve.txt"), resolve).unwrap();
    std::fs::write(dir.join("ports.txt"), ports).unwrap();
    println!("ready");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(servers);
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
