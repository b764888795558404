//! gate.toml:
//!
//! ```toml
//! audience = "https://api.example.com"
//! token_lifetime_secs = 300            # optional, 300; at most 3600
//! challenge_lifetime_secs = 60         # optional, 60; at most 600
//! key_rotation_secs = 86400            # optional: a new signing key this often
//! rate_limit_per_sec = 50              # optional: requests per second per client address
//! served_spki_sha256 = ["base64…"]     # the SPKI pins of the keys the API's TLS endpoint
//!                                      # serves; an assertion must name one of them
//! # Trust the simulator's test roots instead of Apple's and Google's. Never in production.
//! danger_trust_test_attestation_roots = "test-roots.pem"
//! android_revocation_list = "status.json"  # Google's attestation status list (JSON)
//! android_revocation_refresh_secs = 60      # re-read when the file changes, at most this often
//! # A keypin collector that hears of every channel-binding mismatch (http:// only).
//! report_uri = "http://collector.internal:8088/v1/reports"
//! report_hostname = "api.example.com"  # optional: the audience's host
//! # What the app's runtime integrity findings (client data `runtime_findings`) do to a token:
//! # "ignore" (the default), "downscope" (a token with scope = downscoped_scope and no
//! # secrets), or "refuse"; only findings at or above the severity count.
//! on_runtime_findings = "refuse"
//! runtime_findings_min_severity = "high"  # optional: "low", "medium" or "high" (default)
//! downscoped_scope = "read-only"          # optional: the scope of a down-scoped token
//!
//! [[app]]
//! name = "example"
//! ios_app_id = "ABCDE12345.com.example.app"
//! ios_environment = "production"       # or "development"
//! android_package = "com.example.app"
//! android_signing_cert_sha256 = ["3f1a…"]
//! android_min_security_level = "tee"   # or "strongbox"
//! android_require_verified_boot = true
//! ```

use std::collections::HashMap;

use keypin::runtime::{RuntimeFinding, Severity};
use keypin_attest::android::{
    Allowed, AndroidPolicy, BootRequirement, RequiredLevel, parse_digest,
};
use keypin_attest::apple::{AppId, Environment};
use keypin_attest::danger::TestRoots;
use serde::Deserialize;

use crate::GateError;

/// A parsed, validated gate configuration.
#[derive(Debug)]
pub struct GateConfig {
    /// The `aud` of every token.
    pub audience: String,
    /// Token lifetime, seconds.
    pub token_lifetime_secs: i64,
    /// Challenge lifetime, seconds.
    pub challenge_lifetime_secs: i64,
    /// Signing key rotation period, seconds.
    pub key_rotation_secs: i64,
    /// Requests per second per client address.
    pub rate_limit_per_sec: u32,
    /// SHA-256 of the SPKIs the API serves; empty: no channel binding required.
    pub served_spki_sha256: Vec<[u8; 32]>,
    /// Test roots trusted instead of the production ones (`danger_…` in the file).
    pub danger_test_roots: Option<TestRoots>,
    /// The apps, by name.
    pub apps: HashMap<String, App>,
    /// The secrets apps may receive.
    pub secrets: Vec<crate::secrets::Secret>,
    /// Google's attestation status list (`android_revocation_list`), if given, re-read when
    /// the file changes (`android_revocation_refresh_secs`, default 60); without one Android
    /// registrations are not checked for revoked certificates (said at startup).
    pub android_revocation: Option<crate::revocation::RevocationSource>,
    /// Where channel-binding mismatches are reported (a keypin collector), if anywhere.
    pub report: Option<crate::report::ReportTarget>,
    /// What the app's runtime integrity findings do to a token.
    pub runtime: RuntimePolicy,
}

/// What runtime integrity findings in the client data do (`on_runtime_findings`).
///
/// The findings are client-reported: a hooked app can leave them out. Acting on them raises
/// the cost of the lazy attack (a stock Frida script, a debugger); attestation and channel
/// binding remain what the gate relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OnRuntimeFindings {
    /// Tokens as usual (the findings are written to the audit log).
    Ignore,
    /// A narrower token: `scope` set to [`RuntimePolicy::downscoped_scope`], the findings'
    /// ids in `runtime_findings`, and no secrets released.
    Downscope,
    /// No token: 401 naming the findings.
    Refuse,
}

/// The runtime-findings policy: the action, the severity from which a finding counts, and the
/// scope of a down-scoped token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePolicy {
    /// The action when a finding at or above `min_severity` is present.
    pub on_findings: OnRuntimeFindings,
    /// Findings below this are only audited.
    pub min_severity: Severity,
    /// The `scope` claim of a down-scoped token.
    pub downscoped_scope: String,
}

/// What [`RuntimePolicy::judge`] decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeVerdict {
    /// A full token (no counted finding, or `ignore`).
    Full,
    /// A down-scoped token carrying `scope` and the counted findings' ids.
    Downscope {
        /// The token's scope.
        scope: String,
        /// The counted findings' ids.
        ids: Vec<String>,
    },
    /// No token; the reason names the counted findings.
    Refuse(String),
}

impl RuntimePolicy {
    /// The verdict for the findings an app reported: only findings at or above
    /// `min_severity` count.
    pub fn judge(&self, findings: &[RuntimeFinding]) -> RuntimeVerdict {
        let counted: Vec<&RuntimeFinding> = findings
            .iter()
            .filter(|f| f.severity >= self.min_severity)
            .collect();
        if counted.is_empty() {
            return RuntimeVerdict::Full;
        }
        match self.on_findings {
            OnRuntimeFindings::Ignore => RuntimeVerdict::Full,
            OnRuntimeFindings::Downscope => RuntimeVerdict::Downscope {
                scope: self.downscoped_scope.clone(),
                ids: counted.iter().map(|f| f.id.clone()).collect(),
            },
            OnRuntimeFindings::Refuse => {
                let named: Vec<String> = counted
                    .iter()
                    .map(|f| format!("{} ({}: {})", f.id, f.severity.as_str(), f.evidence))
                    .collect();
                RuntimeVerdict::Refuse(format!(
                    "runtime integrity: the app reports {}; refused by on_runtime_findings = \"refuse\" (at or above {})",
                    named.join(", "),
                    self.min_severity.as_str()
                ))
            }
        }
    }
}

impl Default for RuntimePolicy {
    fn default() -> Self {
        Self {
            on_findings: OnRuntimeFindings::Ignore,
            min_severity: Severity::High,
            downscoped_scope: "restricted".into(),
        }
    }
}

/// One app the gate admits.
#[derive(Debug)]
pub struct App {
    /// The name clients use.
    pub name: String,
    /// The iOS App ID and environment, if the app ships on iOS.
    pub ios: Option<(AppId, Environment)>,
    /// The Android policy, if the app ships on Android.
    pub android: Option<AndroidPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    audience: String,
    #[serde(default = "d_token")]
    token_lifetime_secs: i64,
    #[serde(default = "d_challenge")]
    challenge_lifetime_secs: i64,
    #[serde(default = "d_rotation")]
    key_rotation_secs: i64,
    #[serde(default = "d_rate")]
    rate_limit_per_sec: u32,
    #[serde(default)]
    served_spki_sha256: Vec<String>,
    danger_trust_test_attestation_roots: Option<String>,
    report_uri: Option<String>,
    report_hostname: Option<String>,
    android_revocation_list: Option<String>,
    #[serde(default = "default_revocation_refresh")]
    android_revocation_refresh_secs: i64,
    #[serde(default)]
    app: Vec<RawApp>,
    #[serde(default)]
    secret: Vec<RawSecret>,
    on_runtime_findings: Option<OnRuntimeFindings>,
    runtime_findings_min_severity: Option<Severity>,
    downscoped_scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    name: String,
    value_env: Option<String>,
    value_file: Option<String>,
    apps: Vec<String>,
    min_security_level: Option<RequiredLevel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: String,
    ios_app_id: Option<String>,
    ios_environment: Option<String>,
    android_package: Option<String>,
    android_signing_cert_sha256: Option<Vec<String>>,
    android_min_security_level: Option<RequiredLevel>,
    #[serde(default)]
    android_require_verified_boot: bool,
    android_min_os_patch_level: Option<i64>,
}

fn d_token() -> i64 {
    300
}
fn d_challenge() -> i64 {
    60
}
fn d_rotation() -> i64 {
    86_400
}
fn d_rate() -> u32 {
    50
}

impl GateConfig {
    /// Reads gate.toml; relative paths in it are taken from `base_dir`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, GateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GateError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        Self::from_toml(&text, base)
            .map_err(|e| GateError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses gate.toml text.
    pub fn from_toml(text: &str, base_dir: &std::path::Path) -> Result<Self, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| e.to_string())?;
        let bounded = |field: &str, v: i64, max: i64| {
            if (1..=max).contains(&v) {
                Ok(v)
            } else {
                Err(format!("{field} = {v}: must be 1 to {max}"))
            }
        };
        let served_spki_sha256 = raw
            .served_spki_sha256
            .iter()
            .map(|p| {
                crate::from_b64url("served_spki_sha256", &p.replace('+', "-").replace('/', "_"))
                    .ok()
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                    .ok_or_else(|| format!("served_spki_sha256: {p:?} is not a base64 SHA-256"))
            })
            .collect::<Result<_, _>>()?;
        let danger_test_roots = match raw.danger_trust_test_attestation_roots {
            None => None,
            Some(file) => {
                let path = base_dir.join(&file);
                let pem = std::fs::read_to_string(&path).map_err(|e| {
                    format!(
                        "danger_trust_test_attestation_roots: {}: {e}",
                        path.display()
                    )
                })?;
                Some(TestRoots::from_pem(&pem).map_err(|e| {
                    format!(
                        "danger_trust_test_attestation_roots: {}: {e}",
                        path.display()
                    )
                })?)
            }
        };
        let mut apps = HashMap::new();
        for (i, app) in raw.app.into_iter().enumerate() {
            let app = parse_app(app).map_err(|e| format!("[[app]] {}: {e}", i + 1))?;
            if apps.contains_key(&app.name) {
                return Err(format!(
                    "[[app]] {}: name {:?} given twice",
                    i + 1,
                    app.name
                ));
            }
            apps.insert(app.name.clone(), app);
        }
        if apps.is_empty() {
            return Err("no [[app]]".into());
        }
        let secrets = raw
            .secret
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                parse_secret(s, &apps, base_dir).map_err(|e| format!("[[secret]] {}: {e}", i + 1))
            })
            .collect::<Result<_, _>>()?;
        let report = match raw.report_uri {
            None => None,
            Some(uri) => {
                let hostname = raw
                    .report_hostname
                    .unwrap_or_else(|| host_of(&raw.audience));
                Some(crate::report::ReportTarget::parse(&uri, hostname)?)
            }
        };
        let android_revocation = match raw.android_revocation_list {
            None => None,
            Some(file) => {
                let every = bounded(
                    "android_revocation_refresh_secs",
                    raw.android_revocation_refresh_secs,
                    86_400,
                )?;
                Some(
                    crate::revocation::RevocationSource::load(
                        &base_dir.join(&file),
                        std::time::Duration::from_secs(every.unsigned_abs()),
                    )
                    .map_err(|e| format!("android_revocation_list: {e}"))?,
                )
            }
        };
        let mut runtime = RuntimePolicy::default();
        if let Some(on) = raw.on_runtime_findings {
            runtime.on_findings = on;
        }
        if let Some(min) = raw.runtime_findings_min_severity {
            runtime.min_severity = min;
        }
        if let Some(scope) = raw.downscoped_scope {
            if scope.is_empty() || scope.len() > 64 || scope.chars().any(char::is_control) {
                return Err(format!(
                    "downscoped_scope = {scope:?}: must be 1 to 64 printable characters"
                ));
            }
            runtime.downscoped_scope = scope;
        }
        Ok(Self {
            runtime,
            android_revocation,
            report,
            audience: raw.audience,
            token_lifetime_secs: bounded("token_lifetime_secs", raw.token_lifetime_secs, 3600)?,
            challenge_lifetime_secs: bounded(
                "challenge_lifetime_secs",
                raw.challenge_lifetime_secs,
                600,
            )?,
            key_rotation_secs: bounded("key_rotation_secs", raw.key_rotation_secs, 90 * 86_400)?,
            rate_limit_per_sec: raw.rate_limit_per_sec.max(1),
            served_spki_sha256,
            danger_test_roots,
            apps,
            secrets,
        })
    }
}

fn parse_app(raw: RawApp) -> Result<App, String> {
    let ios = match raw.ios_app_id {
        None => None,
        Some(id) => {
            let app_id = AppId::parse(&id).map_err(|e| format!("ios_app_id: {e}"))?;
            let env = match raw.ios_environment.as_deref() {
                None | Some("production") => Environment::Production,
                Some("development") => Environment::Development,
                Some(other) => {
                    return Err(format!(
                        "ios_environment {other:?}: expected production or development"
                    ));
                }
            };
            Some((app_id, env))
        }
    };
    let android = match raw.android_package {
        None => None,
        Some(package) => {
            let digests = raw
                .android_signing_cert_sha256
                .ok_or("android_signing_cert_sha256 is required with android_package")?
                .iter()
                .map(|d| {
                    parse_digest(d).ok_or_else(|| {
                        format!("android_signing_cert_sha256: {d:?} is not 64 hex digits")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if digests.is_empty() {
                return Err("android_signing_cert_sha256 is empty".into());
            }
            Some(AndroidPolicy {
                packages: Allowed::OneOf(vec![package]),
                signing_cert_sha256: Allowed::OneOf(digests),
                min_security_level: raw.android_min_security_level.unwrap_or(RequiredLevel::Tee),
                boot: if raw.android_require_verified_boot {
                    BootRequirement::VerifiedAndLocked
                } else {
                    BootRequirement::NotRequired
                },
                min_os_patch_level: raw.android_min_os_patch_level,
            })
        }
    };
    if ios.is_none() && android.is_none() {
        return Err(format!(
            "app {:?} names neither ios_app_id nor android_package",
            raw.name
        ));
    }
    Ok(App {
        name: raw.name,
        ios,
        android,
    })
}

/// The host of a URL-like audience (`https://api.example.com/x` → `api.example.com`), or the
/// audience itself.
fn host_of(audience: &str) -> String {
    let rest = audience.split_once("://").map_or(audience, |(_, r)| r);
    rest.split(['/', ':']).next().unwrap_or(rest).to_string()
}

fn parse_secret(
    raw: RawSecret,
    apps: &HashMap<String, App>,
    base_dir: &std::path::Path,
) -> Result<crate::secrets::Secret, String> {
    let value = match (&raw.value_env, &raw.value_file) {
        (Some(var), None) => std::env::var(var)
            .map_err(|_| format!("{}: environment variable {var} is not set", raw.name))?
            .into_bytes(),
        (None, Some(file)) => std::fs::read(base_dir.join(file))
            .map_err(|e| format!("{}: value_file {file}: {e}", raw.name))?,
        _ => {
            return Err(format!(
                "{}: exactly one of value_env and value_file",
                raw.name
            ));
        }
    };
    if let Some(unknown) = raw.apps.iter().find(|a| !apps.contains_key(*a)) {
        return Err(format!("{}: app {unknown:?} is not an [[app]]", raw.name));
    }
    let min_rank = match raw.min_security_level {
        None | Some(RequiredLevel::Tee) => 1,
        Some(RequiredLevel::Strongbox) => 2,
    };
    Ok(crate::secrets::Secret::new(
        raw.name, value, raw.apps, min_rank,
    ))
}

fn default_revocation_refresh() -> i64 {
    60
}
