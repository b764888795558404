//! The keypin attack lab: tests whether a TLS client really pins.
//!
//! A [`Lab`] makes a fresh PKI (genuine root, issuing CA and leaf key, a backup key, rogue
//! CAs, broken certificates), serves every scenario of `shared/reference/lab-scenarios.md`
//! on its own port, and judges a [`Client`] by what the servers saw: a client **accepted** a
//! scenario if it sent application data (an HTTP request) over that connection. The client's
//! own exit status is shown beside it as a second signal.
//!
//! ```no_run
//! use keypin_lab::{Lab, RunOptions};
//!
//! let lab = Lab::start_loopback()?;
//! let client = lab.keypin_client()?;
//! let report = lab.run(&client, &RunOptions::default())?;
//! print!("{}", report.table());
//! assert!(report.all_as_expected());
//! # Ok::<(), keypin_lab::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

mod client;
mod ct;
mod error;
mod hello;
mod mtls;
mod pki;
mod proxy;
mod runner;
mod scenario;
mod scenario_ocsp;
mod server;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use keypin::{Policy, Roots, events::PinEventSink, pin::PinFormat, policy::Mode};
use serde::Serialize;
use std::sync::Arc;

pub use client::{
    Attempt, Client, CommandClient, KeypinClient, PLACEHOLDERS, Placeholders, Target, https_get,
};
pub use ct::CtLab;
pub use error::Error;
pub use mtls::MtlsServer;
pub use pki::LabPki;
pub use proxy::{
    InterceptProxy, ProxyMode, ProxyOptions, ProxyReport, ProxyScenario, ProxyVerdict, TunnelRow,
};
pub use runner::{Observed, Outcome, Report, RunOptions, Verdict, id_column_width};
pub use scenario::{
    Expected, HOST_SUFFIX, OTHER_HOST, Scenario, all as scenarios, all_with as scenarios_with,
};
pub use server::{ConnRow, Endpoints, LabServer};

/// A running lab: PKI, scenarios and their servers. Servers stop when it is dropped.
#[derive(Debug)]
pub struct Lab {
    pki: LabPki,
    scenarios: Vec<Scenario>,
    server: LabServer,
    policy_text: String,
    values: Placeholders,
    ct: CtLab,
    /// The `{proxy}` in front of the scenario servers (dropped before them).
    _forwarder: proxy::forward::Forwarder,
}

/// The files a lab writes for clients under test.
#[derive(Debug, Clone)]
pub struct LabFiles {
    /// `lab.json`.
    pub lab_json: PathBuf,
    /// `trust-store.pem`.
    pub trust_store: PathBuf,
    /// `pins.txt` (OkHttp spelling, one pin a line).
    pub pins: PathBuf,
    /// `policy.toml`.
    pub policy: PathBuf,
}

#[derive(Serialize)]
struct LabJson<'a> {
    listen: String,
    trust_store: &'a str,
    pins: &'a str,
    policy: &'a str,
    pins_curl: String,
    scenarios: Vec<ScenarioJson<'a>>,
}

#[derive(Serialize)]
struct ScenarioJson<'a> {
    id: &'a str,
    description: &'a str,
    presents: &'a str,
    host: &'a str,
    address: String,
    port: u16,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_port: Option<u16>,
    expected: Expected,
    /// mTLS scenarios: the identity the client presents (files written beside lab.json).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key: Option<String>,
}

impl Lab {
    /// Makes a fresh PKI and serves every scenario on `ip` (see [`LabServer::start`] for
    /// `base_port`).
    pub fn start(ip: IpAddr, base_port: Option<u16>) -> Result<Self, Error> {
        Self::start_with(ip, base_port, MtlsServer::default())
    }

    /// [`Lab::start`], with the client-certificate verifier of the mTLS scenarios chosen
    /// ([`MtlsServer::CaOnly`] is a control: it must fail M2).
    pub fn start_with(ip: IpAddr, base_port: Option<u16>, mtls: MtlsServer) -> Result<Self, Error> {
        let pki = LabPki::generate()?;
        let mut scenarios = scenario::all_with(&pki, mtls)?;
        let ct = CtLab::generate()?;
        scenarios.extend(ct::scenarios(&pki, &ct)?);
        let server = LabServer::start(&scenarios, ip, base_port)?;
        let policy_text = policy_text(&pki, &scenarios, Mode::Enforce);
        // Checked now, so a bad generated policy is caught before any client runs.
        Policy::from_toml_str(&policy_text, "policy.toml")
            .map_err(|e| Error::Policy(e.to_string()))?;
        let ports = server
            .endpoints()
            .iter()
            .flat_map(|e| std::iter::once(e.addr.port()).chain(e.http_addr.map(|a| a.port())))
            .collect();
        let forwarder = proxy::forward::Forwarder::start(ip, ports)?;
        let values = Placeholders {
            proxy: forwarder.url(),
            ca_file: String::new(),
            pins_curl: pki.pins_as(PinFormat::Curl, ";"),
            pins_okhttp: pki.pins_as(PinFormat::OkHttp, ","),
            policy: String::new(),
            client_files: Vec::new(),
        };
        Ok(Self {
            pki,
            scenarios,
            server,
            policy_text,
            values,
            ct,
            _forwarder: forwarder,
        })
    }

    /// [`Lab::start`] on `127.0.0.1`, ports picked by the OS.
    pub fn start_loopback() -> Result<Self, Error> {
        Self::start(IpAddr::V4(Ipv4Addr::LOCALHOST), None)
    }

    /// The PKI.
    pub fn pki(&self) -> &LabPki {
        &self.pki
    }

    /// The scenarios, in table order.
    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// The running servers, in scenario order.
    pub fn endpoints(&self) -> &[Endpoints] {
        self.server.endpoints()
    }

    /// The keypin policy text for keypin clients.
    pub fn policy_text(&self) -> &str {
        &self.policy_text
    }

    /// The keypin policy.
    pub fn policy(&self) -> Result<Policy, Error> {
        Policy::from_toml_str(&self.policy_text, "policy.toml")
            .map_err(|e| Error::Policy(e.to_string()))
    }

    /// The trust store of the client under test, as keypin [`Roots`].
    pub fn roots(&self) -> Result<Roots, Error> {
        let mut roots = Roots::empty();
        for c in [&self.pki.root, &self.pki.mitm_ca, &self.pki.interception_ca] {
            roots
                .add_cert(c.cert.clone())
                .map_err(|e| Error::Policy(e.to_string()))?;
        }
        Ok(roots)
    }

    /// The same trust store as a rustls root store (for other rustls clients).
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates([
            self.pki.root.cert.clone(),
            self.pki.mitm_ca.cert.clone(),
            self.pki.interception_ca.cert.clone(),
        ]);
        store
    }

    /// The CT logs and the signed log list of the CT scenarios.
    pub fn ct(&self) -> &CtLab {
        &self.ct
    }

    /// keypin's own client with the lab's policy, trust store and CT log list.
    pub fn keypin_client(&self) -> Result<KeypinClient, Error> {
        KeypinClient::with_ct_logs(self.policy()?, self.roots()?, self.ct.log_list()?)
    }

    /// keypin's own client, whose pin events also go to `sink` (e.g. a report sender).
    pub fn keypin_client_reporting_to(
        &self,
        sink: Arc<dyn PinEventSink>,
    ) -> Result<KeypinClient, Error> {
        KeypinClient::build(
            self.policy()?,
            self.roots()?,
            Some(sink),
            Some(Arc::new(self.ct.log_list()?)),
        )
    }

    /// Sets the mode of the lab policy's main rule (every scenario but the expired-pins one).
    /// `Mode::ReportOnly` shows what report-only pinning does: attacks get through (the
    /// verdicts say so) and are only reported. Call before [`Lab::write_files`].
    pub fn set_mode(&mut self, mode: Mode) {
        self.policy_text = policy_text(&self.pki, &self.scenarios, mode);
    }

    /// Writes `lab.json`, `trust-store.pem`, `pins.txt` and `policy.toml` into `dir`
    /// (created if missing), and remembers the paths for the command placeholders.
    pub fn write_files(&mut self, dir: &Path) -> Result<LabFiles, Error> {
        let write = |name: &str, text: &str| -> Result<PathBuf, Error> {
            let path = dir.join(name);
            fs::write(&path, text).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        };
        fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })?;
        let trust_store = write("trust-store.pem", &self.pki.trust_store_pem())?;
        let pins = write(
            "pins.txt",
            &format!("{}\n", self.pki.pins_as(PinFormat::OkHttp, "\n")),
        )?;
        let policy = write("policy.toml", &self.policy_text)?;
        let listen = self
            .endpoints()
            .first()
            .map(|e| e.addr.ip().to_string())
            .unwrap_or_default();
        let json = LabJson {
            listen,
            trust_store: "trust-store.pem",
            pins: "pins.txt",
            policy: "policy.toml",
            pins_curl: self.values.pins_curl.clone(),
            scenarios: self
                .scenarios
                .iter()
                .zip(self.endpoints())
                .map(|(s, e)| ScenarioJson {
                    id: s.id,
                    description: s.description,
                    presents: &s.presents,
                    host: &s.host,
                    address: e.addr.ip().to_string(),
                    port: e.addr.port(),
                    url: format!("https://{}:{}/", s.host, e.addr.port()),
                    http_port: e.http_addr.map(|a| a.port()),
                    expected: s.expected,
                    client_cert: s
                        .client_identity
                        .as_ref()
                        .map(|_| format!("client-{}.crt", s.id.to_ascii_lowercase())),
                    client_key: s
                        .client_identity
                        .as_ref()
                        .map(|_| format!("client-{}.key", s.id.to_ascii_lowercase())),
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Io {
            context: "encoding lab.json".into(),
            source: std::io::Error::other(e),
        })?;
        let lab_json = write("lab.json", &format!("{text}\n"))?;
        let mut client_files = Vec::new();
        for s in &self.scenarios {
            if let Some(identity) = &s.client_identity {
                let stem = format!("client-{}", s.id.to_ascii_lowercase());
                let cert = write(&format!("{stem}.crt"), &identity.cert_pem())?;
                let key = write(&format!("{stem}.key"), &identity.key_pem())?;
                client_files.push((
                    s.id.to_owned(),
                    cert.display().to_string(),
                    key.display().to_string(),
                ));
            }
        }
        self.values.client_files = client_files;
        self.values.ca_file = trust_store.display().to_string();
        self.values.policy = policy.display().to_string();
        Ok(LabFiles {
            lab_json,
            trust_store,
            pins,
            policy,
        })
    }

    /// Tests `client` against every scenario (or those in [`RunOptions::only`]). Call
    /// [`Lab::write_files`] first when the client is a [`CommandClient`] that uses
    /// `{ca_file}` or `{policy}`.
    pub fn run(&self, client: &dyn Client, opts: &RunOptions) -> Result<Report, Error> {
        runner::run(
            &self.scenarios,
            self.server.endpoints(),
            &self.values,
            client,
            opts,
        )
    }
}

fn policy_text(pki: &LabPki, scenarios: &[Scenario], mode: Mode) -> String {
    let pins: Vec<String> = pki.pins().iter().map(|p| format!("\"{p}\"")).collect();
    let pins = format!(
        "[{},  # genuine issuing CA\n        {},  # genuine leaf key\n        {}]  # backup key (not deployed)",
        pins.first().map_or("", String::as_str),
        pins.get(1).map_or("", String::as_str),
        pins.get(2).map_or("", String::as_str)
    );
    let hosts = |expired: bool| {
        scenarios
            .iter()
            .filter(|s| !ct::is_ct(s.id))
            .filter(|s| (s.expected == Expected::AcceptAndReport) == expired)
            .map(|s| format!("\"{}\"", s.host))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let next_year = (time::OffsetDateTime::now_utc() + time::Duration::days(365)).date();
    format!(
        "# keypin lab policy: generated for one lab run; pins change every run.\n\
         [[rule]]\nname = \"lab\"\nhosts = [{}]\npins = {pins}\nexpires = \"{next_year}\"\nmode = \"{mode}\"\n\
         # OCSP scenarios: a stapled response must be valid; must-staple leaves need one.\n\
         ocsp = \"check-if-stapled\"\n\n\
         # A18: the pin set of this host has expired; keypin drops to report-only and says so.\n\
         [[rule]]\nname = \"lab-expired\"\nhosts = [{}]\npins = {pins}\nexpires = \"2020-01-01\"\non_expiry = \"report-only\"\n\n\
         # CT*: Certificate Transparency required, as Chrome's policy asks.\n\
         [[rule]]\nname = \"lab-ct\"\nhosts = [{}]\npins = {pins}\nexpires = \"{next_year}\"\nrequire_sct = \"chrome\"\n",
        hosts(false),
        hosts(true),
        scenarios
            .iter()
            .filter(|s| ct::is_ct(s.id))
            .map(|s| format!("\"{}\"", s.host))
            .collect::<Vec<_>>()
            .join(", "),
        mode = match mode {
            Mode::Enforce => "enforce",
            Mode::ReportOnly => "report-only",
        },
    )
}
