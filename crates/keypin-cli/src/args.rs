//! Command-line flags, as clap parses them (first stage: raw flags). Each command turns its
//! raw flags into validated arguments before doing any work.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Certificate and public-key pinning: compute pins, inspect and check servers.
#[derive(Debug, Parser)]
#[command(
    name = "keypin",
    version,
    about,
    after_help = "Exit codes: 0 ok, 1 pin mismatch, 2 usage/input/policy error, 3 connection or chain-validation failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the pin of each certificate, public key, private key or CSR (PEM or DER).
    Pin(PinArgs),
    /// Connect to a server and show its served chain and the verified path, with pins.
    Inspect(InspectArgs),
    /// Check a live server against a pin policy (exit 0 pass, 1 mismatch, 2 bad policy, 3 connection/chain failure).
    Check(CheckArgs),
    /// Offline demo: a pinned client accepts the genuine server and refuses a trusted rogue CA.
    Demo(DemoArgs),
    /// Write a policy in another system's format (Android NSC, TrustKit, OkHttp, HPKP, curl, Chromium).
    Export(ExportArgs),
    /// Read another system's pin configuration into a keypin policy (TOML).
    Import(ImportArgs),
    /// Find what will brick an app or stop protecting it: a keypin policy, an Android NSC or an iOS plist.
    Lint(LintArgs),
    /// Check every host of one or more policies against what it serves now (concurrently).
    Monitor(MonitorArgs),
    /// The report collector: stores pin-failure reports in SQLite or PostgreSQL and serves a
    /// dashboard.
    Collector(CollectorArgs),
    /// Attack lab: test a TLS client's pinning against forged and broken chains.
    Lab(crate::cmd::lab::LabArgs),
    /// Signed, versioned pin bundles: keys, roots, signing, verification, serving.
    Bundle(crate::cmd::bundle::BundleArgs),
    /// App attestation as a server checks it: iOS App Attest and Android Key Attestation
    /// (exit 0 valid, 1 invalid with the named failure, 2 usage or unreadable input).
    Attest(crate::cmd::attest::AttestArgs),
    /// The attestation gate: genuine app instances on an unintercepted channel get short-lived
    /// tokens (serve, verify-token, demo).
    Gate(crate::cmd::gate::GateArgs),
    /// Runtime integrity checks on this process: debugger, instrumentation, patched pin check
    /// (exit 0 no finding, 1 findings, 2 error).
    Shield(crate::cmd::shield::ShieldArgs),
}

/// Output spelling of a pin.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PinFormatArg {
    /// sha256/<base64>
    Okhttp,
    /// pin-sha256="<base64>"
    Hpkp,
    /// sha256//<base64>
    Curl,
    /// bare base64
    Base64,
    /// 64 hex digits
    Hex,
}

#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// Certificate, public key, private key or CSR files (PEM, possibly several blocks, or DER).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output spelling.
    #[arg(long, value_enum, default_value = "okhttp")]
    pub format: PinFormatArg,
    /// Print the certificate pin (SHA-256 of the whole certificate) instead of the key pin.
    #[arg(long)]
    pub cert_pin: bool,
}

/// Flags shared by commands that connect to a server.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Server as HOST or HOST:PORT (port 443 by default); HOST is also the SNI name.
    #[arg(value_name = "HOST[:PORT]")]
    pub target: String,
    /// Dial this ADDR:PORT instead of resolving HOST (SNI and name checks still use HOST).
    #[arg(long, value_name = "ADDR:PORT")]
    pub connect: Option<String>,
    /// Extra trusted root certificates (PEM); may be repeated.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// Connection timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Still show the served chain when it does not validate.
    #[arg(long)]
    pub insecure: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The pin policy (TOML).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// CT log list (Chrome's log_list.json v3) for rules with require_sct; loaded only if its
    /// detached signature verifies.
    #[arg(long, value_name = "FILE")]
    pub ct_log_list: Option<PathBuf>,
    /// The log list's detached signature [default: the list's path with ".sig" appended].
    #[arg(long, value_name = "FILE", requires = "ct_log_list")]
    pub ct_log_list_sig: Option<PathBuf>,
    /// PEM public key that signed the log list [default: Google's key for Chrome's list].
    #[arg(long, value_name = "FILE", requires = "ct_log_list")]
    pub ct_log_list_key: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The keypin policy (TOML).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// Target format: android-nsc, trustkit-android, trustkit, trustkit-swift, okhttp, hpkp, curl, chromium.
    #[arg(long, short)]
    pub format: String,
    /// Write here instead of stdout (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Learn where each pin sits on the chain (leaf or CA) from the live hosts (ios-ats needs it).
    #[arg(long)]
    pub chain_from_live: bool,
    /// Where pins not on any live chain (backup keys) go for ios-ats: leaf or ca.
    #[arg(long, value_name = "leaf|ca")]
    pub backup_position: Option<String>,
    /// Port for --chain-from-live connections.
    #[arg(long, default_value_t = 443)]
    pub port: u16,
    /// Dial ADDR:PORT for HOST (repeatable), like curl's --resolve.
    #[arg(long, value_name = "HOST=ADDR:PORT")]
    pub resolve: Vec<String>,
    /// Extra trusted roots (PEM); repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Android NSC XML, iOS Info.plist or TrustKit plist (XML or binary), Chromium pins JSON, or an HPKP header.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The input format (detected from the content when left out): android-nsc, ios-ats, trustkit, chromium, hpkp.
    #[arg(long, short)]
    pub format: Option<String>,
    /// The host an HPKP header was served for.
    #[arg(long)]
    pub host: Option<String>,
    /// Chromium: the .pins file holding the SPKI values the JSON's pinsets name.
    #[arg(long, value_name = "FILE.pins")]
    pub pins: Option<PathBuf>,
    /// Write the policy here instead of stdout (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// A keypin policy (TOML), an Android network_security_config.xml, or an iOS/TrustKit plist.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Also connect to each exactly named host and check the pins against what it serves now.
    #[arg(long)]
    pub live: bool,
    /// Port for --live connections.
    #[arg(long, default_value_t = 443)]
    pub port: u16,
    /// For --live: dial ADDR:PORT for HOST (repeatable), like curl's --resolve.
    #[arg(long, value_name = "HOST=ADDR:PORT")]
    pub resolve: Vec<String>,
    /// For --live: extra trusted roots (PEM); repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// Warn when a pin set expires within this many days.
    #[arg(long, default_value_t = 30)]
    pub days: i64,
    /// Exit 1 on warnings too (errors always exit 2).
    #[arg(long)]
    pub strict: bool,
    /// Print findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// A directory of spare keys and CSRs (with --live): a pin that no host serves and no key
    /// there has is unused (KP031).
    #[arg(long, value_name = "DIR", requires = "live")]
    pub spare_keys: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// Pin policies (TOML), e.g. the pin sets shipped in app versions still in the field.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
    /// Port to connect to.
    #[arg(long, default_value_t = 443)]
    pub port: u16,
    /// Dial ADDR:PORT for HOST (repeatable), like curl's --resolve.
    #[arg(long, value_name = "HOST=ADDR:PORT")]
    pub resolve: Vec<String>,
    /// A file of `HOST ADDR:PORT` lines, for many --resolve entries.
    #[arg(long, value_name = "FILE")]
    pub resolve_file: Option<PathBuf>,
    /// Extra trusted roots (PEM); repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// A directory of spare keys and CSRs: is each backup pin a key you actually hold?
    #[arg(long, value_name = "DIR")]
    pub spare_keys: Option<PathBuf>,
    /// Connections at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Per-connection timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write an HTML report (with an expiry timeline) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CollectorArgs {
    #[command(subcommand)]
    pub command: CollectorCommand,
}

#[derive(Debug, Subcommand)]
pub enum CollectorCommand {
    /// Serve ingest (open), the query API and the dashboard (token) until interrupted.
    Serve(CollectorServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CollectorServeArgs {
    /// The SQLite database file, or a PostgreSQL database several instances may share
    /// (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, no TLS). Created or migrated on start.
    #[arg(long, value_name = "FILE|URL")]
    pub db: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8088")]
    pub listen: String,
    /// Token for the query API (bearer) and the dashboard login (or env KEYPIN_COLLECTOR_TOKEN).
    #[arg(long, env = "KEYPIN_COLLECTOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Requests per second allowed per client (an IPv4 address or an IPv6 /64).
    #[arg(long, default_value_t = 2000)]
    pub rate_limit: u32,
    /// Delete reports older than this many days (checked hourly).
    #[arg(long, default_value_t = 90)]
    pub retention_days: u32,
    /// Largest size of the database file, in MiB. Past it ingest answers 507 (the report
    /// store is full) while the query API and dashboard keep working; space freed by retention
    /// is reused. Default: no limit beyond the disk. SQLite only.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_db_size: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Reports
    /// carry host names and device details, and the dashboard login carries the token.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS #8, PKCS #1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Believe X-Forwarded-For (and X-Forwarded-Proto) only from a proxy in this range; the
    /// client is the right-most address not in a trusted range. Repeatable. Without it the
    /// header is ignored and the peer is the client.
    #[arg(long, value_name = "CIDR")]
    pub trust_proxy: Vec<keypin_collector::Cidr>,
    /// Open connections at most, all clients together.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Open connections at most from one client (an IPv4 address or an IPv6 /64); more are
    /// closed at once. A trusted proxy is not capped.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_client: u32,
    /// Alert rules: `[[alert]]` tables (name, hosts, threshold, window, optional app_version,
    /// platform and kind filters, webhook, format "slack" or "json"). Checked before serving;
    /// deliveries are recorded in the database, so instances sharing it send each alert once.
    #[arg(long, value_name = "alerts.toml")]
    pub alerts: Option<PathBuf>,
    /// The dashboard's address as people reach it, for the link in alerts
    /// (e.g. https://collector.example.com). Default: the address listened on.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// How often the alert rules are evaluated, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub alert_every: u64,
    /// Serve GET /metrics without the token (for a scraper that cannot send one). By default
    /// it needs the token as a bearer, as the query API does.
    #[arg(long)]
    pub metrics_public: bool,
}

/// Flags of `keypin bundle apply` (raw; `cmd::bundle::apply` validates them before any work).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints the decision and the state around it:
  updated to vN | unchanged | refused: REASON | fetch failed: REASON | state not written: REASON
  started on:      stored bundle vN | embedded policy (nothing stored) | embedded policy (stored state ignored: REASON)
  high-water mark: vA -> vB   (none: no bundle accepted since the last reset)
  root:            vA -> vB (N rotation(s) walked)
  in force now:    bundle vN | embedded policy
With --json, one object: decision (updated, unchanged, refused, fetch-failed, state-error),
version, reason, started_on (stored-bundle, embedded), stored_version, stored_ignored,
mark_before, mark_after, root_before, root_after, rotations_walked, in_force_version,
exit_code.

Exit codes: 0 updated or unchanged; 1 refused (bad signature, threshold, unknown key, rollback,
wrong app or environment, expired, clock set back, over the byte cap, a policy that cannot be
put in force); 2 usage or unreadable input (flags, --root, --embedded-policy, --state not a
directory, the state could not be written); 3 the fetch failed (unreachable, HTTP error, no
bundle.json published).

The state directory is changed as the app would change it: run it on a copy of a device's
state directory for a dry run.")]
pub struct BundleApplyArgs {
    /// The updater's state directory (must exist; an empty one is a device's first run).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// The root of trust the app embeds.
    #[arg(long, value_name = "EMBEDDED_ROOT.json")]
    pub root: PathBuf,
    /// The app's id (bundles for other apps are refused).
    #[arg(long, value_name = "ID")]
    pub app_id: String,
    /// The app's environment (bundles for other environments are refused).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// Where bundles are published: a directory laid out like what `keypin bundle serve`
    /// serves (bundle.json, root-2.json, ...) or an http:// or https:// base URL.
    #[arg(long = "from", value_name = "SITE")]
    pub from: String,
    /// The policy the app embeds (TOML); in force when no stored bundle is. Default: a policy
    /// with no rules.
    #[arg(long, value_name = "FILE")]
    pub embedded_policy: Option<PathBuf>,
    /// The device's clock, RFC 3339 (e.g. 2026-12-01T08:00:00Z), to replay a decision.
    /// Default: this machine's clock. TLS to an https:// SITE always uses this machine's clock.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Extra trusted roots (PEM) for an https:// SITE, besides Mozilla's; repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}
