//! `keypin lab`: the attack lab. `run` serves every scenario and judges a client (keypin's
//! own, or any command); `serve` only serves, for testing a client by hand or from CI.
//!
//! Exit codes of `lab run`: 0 every verdict as expected (skipped scenarios are listed, never
//! counted as passed); 1 at least one verdict wrong; 2 bad input or the lab could not start.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use keypin::report::{ReportSender, ReportSenderConfig};
use keypin_lab::{Client, CommandClient, Lab, RunOptions};

use crate::{Failure, exit};

/// Flags of `keypin lab`.
#[derive(Debug, clap::Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LabCommand {
    /// Serve every scenario, test a client against each one and judge it (exit 0 only when
    /// every verdict is as expected).
    Run(RunArgs),
    /// Serve every scenario until interrupted, and write lab.json, trust-store.pem, pins.txt
    /// and policy.toml for the client under test.
    Serve(ServeArgs),
    /// An intercepting HTTP proxy: every tunnel an app opens through it gets a forged chain
    /// minted for the host it asked for (or passes through to the real server, P0); judged
    /// per host and scenario when it stops (Ctrl-C, SIGTERM or --max-connections).
    Proxy(super::lab_proxy::ProxyArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The client to test, run once per scenario (default: keypin's own library client).
    /// Placeholders: {url} {host} {port} {addr} {ca_file} {pins_curl} {pins_okhttp} {policy}
    /// {resolve}, and for the mTLS scenarios (M1-M3) {client_cert} {client_key} (empty for the
    /// others); {{ and }} are literal braces. Split into words like a shell (quotes work),
    /// run without a shell.
    #[arg(long, value_name = "COMMAND")]
    client: Option<String>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the report as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Per-scenario timeout for the client, in seconds; a client still running is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    timeout: f64,
    /// Only these scenarios (repeat the flag, or separate ids with commas).
    #[arg(long = "scenario", value_name = "ID", value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Scenario i listens on PORT+i (default: ports the OS picks).
    #[arg(long, value_name = "PORT")]
    base_port: Option<u16>,
    /// Keep the lab files (trust store, policy, pins, lab.json) in DIR instead of a
    /// temporary directory removed afterwards.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Send keypin's pin-failure reports (pin mismatches, untrusted chains of pinned hosts,
    /// expired pins) to this report URI, e.g. `keypin collector serve`'s
    /// http://127.0.0.1:8080/v1/reports. keypin's own client only.
    #[arg(long, value_name = "URL")]
    report_uri: Option<String>,
    /// Make the lab policy's main rule report-only: attacks then get through (their verdicts
    /// say so, and the run exits 1) and are only reported.
    #[arg(long)]
    report_only: bool,
    /// Where the report sender keeps its de-duplication state (default: inside the lab
    /// files, so every run reports afresh).
    #[arg(long, value_name = "DIR", requires = "report_uri")]
    report_state: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Directory for lab.json, trust-store.pem, pins.txt and policy.toml (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Address to listen on. The default is loopback; this flag is the only way to leave it.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    listen: IpAddr,
    /// Scenario i listens on PORT+i (default: ports the OS picks).
    #[arg(long, value_name = "PORT")]
    base_port: Option<u16>,
}

pub(crate) fn run(args: LabArgs) -> Result<u8, Failure> {
    match args.command {
        LabCommand::Run(a) => run_lab(a),
        LabCommand::Serve(a) => serve(a),
        LabCommand::Proxy(a) => super::lab_proxy::run(a),
    }
}

/// A temporary directory removed on drop (or a kept `--out` directory).
struct Files {
    dir: PathBuf,
    remove: bool,
}

impl Drop for Files {
    fn drop(&mut self) {
        if self.remove {
            let _ignored = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("keypin-lab-{}-{nanos}", std::process::id()))
}

fn run_lab(args: RunArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    // Check everything the user typed before making any certificate.
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        bail_usage(anyhow!(
            "--timeout must be a number of seconds between 0 and 3600, got {}",
            args.timeout
        ))?;
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let command = args
        .client
        .as_deref()
        .map(CommandClient::new)
        .transpose()
        .context("--client")?;

    if let Some(uri) = &args.report_uri {
        if command.is_some() {
            bail_usage(anyhow!(
                "--report-uri sends keypin's own reports; it cannot be combined with --client"
            ))?;
        }
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            bail_usage(anyhow!(
                "--report-uri must be an http:// or https:// URL, got {uri:?}"
            ))?;
        }
    }
    if let Some(dir) = &args.out {
        check_out_dir(dir)?;
    }
    let mut lab = start(None, args.base_port)?;
    if args.report_only {
        lab.set_mode(keypin::policy::Mode::ReportOnly);
    }
    if let Some(unknown) = args.scenarios.iter().find(|id| {
        !lab.scenarios()
            .iter()
            .any(|s| s.id.eq_ignore_ascii_case(id))
    }) {
        let known: Vec<&str> = lab.scenarios().iter().map(|s| s.id).collect();
        bail_usage(anyhow!(
            "unknown scenario {unknown:?}; known: {}",
            known.join(", ")
        ))?;
    }
    let files = match &args.out {
        Some(dir) => Files {
            dir: dir.clone(),
            remove: false,
        },
        None => Files {
            dir: temp_dir(),
            remove: true,
        },
    };
    lab.write_files(&files.dir)
        .map_err(|e| Failure::usage(anyhow!(e)))?;

    let sender = match &args.report_uri {
        Some(uri) => Some(report_sender(
            &lab,
            uri,
            args.report_state
                .clone()
                .unwrap_or_else(|| files.dir.join("report-state")),
        )?),
        None => None,
    };
    let keypin_client;
    let client: &dyn Client = match &command {
        Some(c) => c,
        None => {
            keypin_client = match &sender {
                Some(s) => lab.keypin_client_reporting_to(s.clone()),
                None => lab.keypin_client(),
            }
            .map_err(|e| Failure::usage(anyhow!(e)))?;
            &keypin_client
        }
    };
    let opts = RunOptions {
        timeout,
        only: args.scenarios.clone(),
    };
    let report = lab
        .run(client, &opts)
        .map_err(|e| Failure::usage(anyhow!(e)))?;
    if let (Some(sender), Some(uri)) = (&sender, &args.report_uri) {
        let delivered = sender.flush(Duration::from_secs(15));
        let stats = sender.stats();
        eprintln!(
            "keypin lab: {} pin-failure report(s) sent to {uri}{}{}",
            stats.sent,
            if stats.deduplicated > 0 {
                format!(", {} duplicate(s) not re-sent", stats.deduplicated)
            } else {
                String::new()
            },
            if stats.rejected > 0 {
                format!(", {} refused by the collector", stats.rejected)
            } else {
                String::new()
            }
        );
        if !delivered {
            eprintln!(
                "keypin lab: warning: {} report(s) could not be delivered: {}",
                stats.queued,
                stats.last_error.as_deref().unwrap_or("timed out")
            );
        }
    }

    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit())
            .with_context(|| format!("writing the JUnit report to {}", path.display()))?;
    }
    if args.json {
        say!("{}", report.json());
    } else {
        say_raw!("{}", report.table());
        say!(
            "total wall time {} ms (certificate generation, servers, client runs)",
            started.elapsed().as_millis()
        );
    }
    Ok(if report.all_as_expected() {
        0
    } else {
        exit::MISMATCH
    })
}

/// A report sender for keypin's client in the lab, identified as the app `keypin-lab`.
fn report_sender(
    lab: &Lab,
    uri: &str,
    state_dir: PathBuf,
) -> Result<std::sync::Arc<ReportSender>, Failure> {
    let mut config = ReportSenderConfig::new(state_dir);
    config.default_report_uris = vec![uri.to_string()];
    config.batch_delay = Duration::from_millis(200);
    config.retry_min = Duration::from_secs(1);
    config.retry_max = Duration::from_secs(4);
    config.timeout = Duration::from_secs(5);
    config.app.bundle_id = Some("keypin-lab".into());
    config.app.version = Some(env!("CARGO_PKG_VERSION").into());
    config.app.platform = Some(std::env::consts::OS.to_ascii_uppercase());
    config.policy_version = Some("lab".into());
    let policy = lab.policy().map_err(|e| Failure::usage(anyhow!(e)))?;
    let roots = lab.roots().map_err(|e| Failure::usage(anyhow!(e)))?;
    ReportSender::start(
        config,
        std::sync::Arc::new(policy),
        roots,
        std::sync::Arc::new(keypin::clock::SystemClock),
    )
    .map_err(|e| Failure::usage(anyhow!(e).context("--report-uri")))
}

fn bail_usage(e: anyhow::Error) -> Result<(), Failure> {
    Err(Failure::usage(e))
}

fn start(ip: Option<IpAddr>, base_port: Option<u16>) -> Result<Lab, Failure> {
    let ip = ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    Lab::start(ip, base_port)
        .map_err(|e| Failure::usage(anyhow!(e).context("cannot start the lab")))
}

fn serve(args: ServeArgs) -> Result<u8, Failure> {
    check_out_dir(&args.out)?;
    if !args.listen.is_loopback() {
        eprintln!(
            "keypin: warning: serving the lab on {}, beyond loopback: anyone who can reach it \
             can fetch its certificates (they are throwaway, made for this run)",
            args.listen
        );
    }
    let mut lab = start(Some(args.listen), args.base_port)?;
    let files = lab
        .write_files(&args.out)
        .map_err(|e| Failure::usage(anyhow!(e)))?;
    say!(
        "keypin lab: serving {} scenarios on {}",
        lab.scenarios().len(),
        args.listen
    );
    let w = keypin_lab::id_column_width(lab.scenarios().iter().map(|s| s.id));
    say!("{:<w$} {:<14} url", "scenario", "expected");
    for (s, e) in lab.scenarios().iter().zip(lab.endpoints()) {
        say!(
            "{:<w$} {:<14} https://{}:{}/",
            s.id,
            s.expected.as_str(),
            s.host,
            e.addr.port()
        );
    }
    say!(
        "files: {}, {}, {}, {}",
        files.lab_json.display(),
        files.trust_store.display(),
        files.pins.display(),
        files.policy.display()
    );
    say!(
        "names under .{} resolve to loopback in curl; otherwise use --resolve HOST:PORT:{}",
        keypin_lab::HOST_SUFFIX,
        args.listen
    );
    say!("ready; press Ctrl-C to stop");
    let _ignored = std::io::stdout().flush();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Fails early, before any certificate is made, when `dir` cannot be created or written.
fn check_out_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the --out directory {}", dir.display()))?;
    let probe = dir.join(".keypin-lab-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write into the --out directory {}", dir.display()))?;
    let _ignored = std::fs::remove_file(probe);
    Ok(())
}
