//! `keypin lab proxy`: the lab as an intercepting proxy for real apps (keypin-lab's
//! `InterceptProxy`). Exit codes: 0 every verdict as a correctly pinning client's; 1 at least
//! one wrong (the findings say what it means); 2 bad input, or the proxy could not start.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use keypin_lab::{InterceptProxy, LabPki, ProxyMode, ProxyOptions, ProxyScenario};

use crate::{Failure, exit};

/// Flags of `keypin lab proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProxyArgs {
    /// Address to listen on. The default is loopback; this flag is the only way to leave it.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Give every tunnel this scenario (P0, A1, A2, A3, A4, A6, A7, A9-sha1, A9-rsa1024,
    /// A14-tls1.0).
    #[arg(long, value_name = "ID", conflicts_with = "cycle")]
    scenario: Option<String>,
    /// Give each new tunnel to a host the next scenario, so one run of an app walks every
    /// scenario for every host it talks to (the default).
    #[arg(long)]
    cycle: bool,
    /// Where HOST's real server is, for the pass-through control (P0) and pin stuffing (A7)
    /// (repeatable; other hosts are resolved by the system resolver).
    #[arg(long = "upstream-resolve", value_name = "HOST=ADDR:PORT")]
    upstream: Vec<String>,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Also write the report as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Stop after this many tunnels (and once they are closed), then judge.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Write what a tester installs on a device into DIR: the rogue CA as PEM, DER and .crt,
    /// and every lab CA as one PEM bundle.
    #[arg(long, value_name = "DIR")]
    ca_out: Option<PathBuf>,
}

pub(crate) fn run(args: ProxyArgs) -> Result<u8, Failure> {
    let usage = |e: anyhow::Error| Failure::usage(e);
    let mode = match &args.scenario {
        Some(id) => ProxyMode::Fixed(ProxyScenario::parse(id).ok_or_else(|| {
            usage(anyhow!(
                "unknown scenario {id:?}; the proxy has {}",
                ProxyScenario::ALL.map(ProxyScenario::id).join(", ")
            ))
        })?),
        None => ProxyMode::Cycle,
    };
    let mut options = ProxyOptions::new(args.listen, mode);
    options.upstream = upstream_map(&args.upstream).map_err(usage)?;
    options.max_connections = args.max_connections;
    if args.max_connections == Some(0) {
        return Err(usage(anyhow!("--max-connections must be at least 1")));
    }
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "keypin: warning: the proxy listens on {}, beyond loopback: anyone who can reach it \
             can use it to reach the hosts it tunnels to",
            args.listen
        );
    }
    let pki = Arc::new(LabPki::generate().map_err(|e| usage(anyhow!(e)))?);
    if let Some(dir) = &args.ca_out {
        write_ca(dir, &pki).map_err(usage)?;
        say!(
            "wrote the rogue CA to {} (install keypin-lab-ca.crt on the device; see docs/cli-lab.md)",
            dir.display()
        );
    }
    let proxy = InterceptProxy::start(pki, options).map_err(|e| usage(anyhow!(e)))?;
    say!(
        "keypin lab proxy on {} ({}); point the app's HTTP proxy at it. Ctrl-C to stop and judge.",
        proxy.url(),
        match mode {
            ProxyMode::Fixed(s) => format!("every tunnel: {}", s.id()),
            _ => format!("cycling {} scenarios per host", ProxyScenario::ALL.len()),
        }
    );
    let _ignored = std::io::stdout().flush();
    wait(&proxy).map_err(usage)?;
    let report = proxy.finish(Duration::from_secs(3));
    say_raw!("{}", report.table());
    if let Some(path) = &args.report {
        std::fs::write(path, report.json())
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(usage)?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit())
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(usage)?;
    }
    Ok(if report.all_as_expected() {
        0
    } else {
        exit::MISMATCH
    })
}

/// Waits for Ctrl-C, SIGTERM, or the last of `--max-connections` tunnels to close.
fn wait(proxy: &InterceptProxy) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    runtime.block_on(async {
        let done = async {
            while !proxy.is_done() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            () = super::shutdown_signal() => {},
            () = done => {},
        }
    });
    Ok(())
}

fn upstream_map(entries: &[String]) -> anyhow::Result<HashMap<String, SocketAddr>> {
    let mut map = HashMap::new();
    for entry in entries {
        let (host, addr) = entry
            .split_once('=')
            .ok_or_else(|| anyhow!("--upstream-resolve {entry:?}: expected HOST=ADDR:PORT"))?;
        let addr: SocketAddr = addr.parse().map_err(|_| {
            anyhow!(
                "--upstream-resolve {entry:?}: {addr:?} is not ADDR:PORT (an IP address and a port)"
            )
        })?;
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(anyhow!("--upstream-resolve {entry:?}: the host is empty"));
        }
        if map.insert(host, addr).is_some() {
            return Err(anyhow!(
                "--upstream-resolve {entry:?}: the host is given twice"
            ));
        }
    }
    Ok(map)
}

/// The rogue CA a tester installs (PEM, DER, and `.crt` as Android and iOS import it), and
/// every CA the lab's scenarios chain to, as one PEM bundle.
fn write_ca(dir: &Path, pki: &LabPki) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write("keypin-lab-ca.pem", pki.mitm_ca.cert_pem().as_bytes())?;
    write("keypin-lab-ca.der", pki.mitm_ca.cert.as_ref())?;
    write("keypin-lab-ca.crt", pki.mitm_ca.cert_pem().as_bytes())?;
    write("keypin-lab-all-cas.pem", pki.trust_store_pem().as_bytes())?;
    Ok(())
}
