//! Runs a client against every scenario and judges it from the servers' logs.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Error;
use crate::client::{Client, Placeholders, Target};
use crate::scenario::{Endpoint, Expected, Scenario};
use crate::server::{ConnRow, Endpoints};

/// What the server saw the client do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observed {
    /// The client sent application data where it should have (or should not have).
    Accepted,
    /// The client sent nothing after, or instead of, the handshake.
    Refused,
    /// The scenario was not run (see the reason).
    NotRun,
}

impl Observed {
    /// `accepted`, `refused`, `not run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Observed::Accepted => "accepted",
            Observed::Refused => "refused",
            Observed::NotRun => "not run",
        }
    }
}

/// The judgement of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// The client did what a correctly pinning client does.
    Pass,
    /// It did not.
    Fail,
    /// Not judged (never counted as passed).
    Skip,
}

impl Outcome {
    /// `PASS`, `FAIL`, `SKIP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Scenario id.
    pub id: String,
    /// Scenario description.
    pub description: String,
    /// Host name used.
    pub host: String,
    /// Port of the scenario server.
    pub port: u16,
    /// The correct verdict.
    pub expected: Expected,
    /// What the server saw.
    pub observed: Observed,
    /// PASS, FAIL or SKIP.
    pub outcome: Outcome,
    /// Short reason.
    pub reason: String,
    /// The client's own account (exit status): the second signal.
    pub client_status: String,
    /// The server's log rows for this scenario.
    pub connections: Vec<ConnRow>,
    /// Time taken, milliseconds.
    pub millis: u64,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The client's name.
    pub client: String,
    /// Per-scenario results, in table order.
    pub verdicts: Vec<Verdict>,
    /// Wall time of the client runs, milliseconds.
    pub millis: u64,
}

/// Run settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Per-scenario timeout for the client.
    pub timeout: Duration,
    /// Only these scenario ids (all when empty).
    pub only: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            only: Vec::new(),
        }
    }
}

pub(crate) fn run(
    scenarios: &[Scenario],
    endpoints: &[Endpoints],
    values: &Placeholders,
    client: &dyn Client,
    opts: &RunOptions,
) -> Result<Report, Error> {
    let started = Instant::now();
    let mut verdicts = Vec::new();
    for (s, e) in scenarios.iter().zip(endpoints) {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| o.eq_ignore_ascii_case(s.id)) {
            continue;
        }
        let t0 = Instant::now();
        let base = |observed, outcome, reason: String, client_status: String| Verdict {
            id: s.id.to_owned(),
            description: s.description.to_owned(),
            host: s.host.clone(),
            port: e.addr.port(),
            expected: s.expected,
            observed,
            outcome,
            reason,
            client_status,
            connections: Vec::new(),
            millis: 0,
        };
        if s.expected == Expected::AcceptAndReport && !client.sees_reports() {
            verdicts.push(base(
                Observed::NotRun,
                Outcome::Skip,
                "judges the client's pin-expiry report, which the lab cannot see for this client"
                    .into(),
                "-".into(),
            ));
            continue;
        }
        e.clear();
        let target = Target {
            scenario: s,
            addr: e.addr,
            values,
        };
        let attempt = client.attempt(&target, opts.timeout)?;
        e.settle(Duration::from_millis(1500));
        let main = e.main_log();
        let http = e.http_log();
        let (observed, reason) = observe(s, &main, &http);
        let outcome = match (s.expected, observed) {
            (Expected::Accept, Observed::Accepted) | (Expected::Reject, Observed::Refused) => {
                Outcome::Pass
            }
            (Expected::AcceptAndReport, Observed::Accepted) if attempt.reported_expiry => {
                Outcome::Pass
            }
            _ => Outcome::Fail,
        };
        let reason = match (s.expected, observed, attempt.reported_expiry) {
            (Expected::AcceptAndReport, Observed::Accepted, true) => {
                format!("{reason}; reported the expired pins")
            }
            (Expected::AcceptAndReport, Observed::Accepted, false) => {
                format!("{reason}; pins expired but NOT reported (silent fallback)")
            }
            _ => reason,
        };
        let mut v = base(observed, outcome, reason, attempt.status);
        v.connections = main.into_iter().chain(http).collect();
        v.millis = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        verdicts.push(v);
    }
    Ok(Report {
        client: client.name(),
        verdicts,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

fn observe(s: &Scenario, main: &[ConnRow], http: &[ConnRow]) -> (Observed, String) {
    match &s.endpoint {
        Endpoint::Tls {
            redirect_to_http: true,
            ..
        } => {
            if http.iter().any(|r| r.app_data_seen) {
                return (
                    Observed::Accepted,
                    "followed the redirect and sent its request over cleartext http".into(),
                );
            }
            let how = if main.iter().any(|r| r.app_data_seen) {
                "got the redirect over https, did not follow it to http"
            } else {
                "never made a request"
            };
            (Observed::Refused, how.into())
        }
        Endpoint::OldTls => {
            if main.iter().any(|r| r.offered_old_tls) {
                (
                    Observed::Accepted,
                    "fell back to offering TLS 1.0/1.1".into(),
                )
            } else if main.iter().any(|r| r.app_data_seen) {
                (Observed::Accepted, "fell back to cleartext".into())
            } else {
                (Observed::Refused, refusal(main, "no fallback"))
            }
        }
        Endpoint::DropTls => {
            if main.iter().any(|r| r.app_data_seen) {
                (Observed::Accepted, "fell back to cleartext http".into())
            } else {
                (Observed::Refused, refusal(main, "no fallback to cleartext"))
            }
        }
        Endpoint::Tls { .. } | Endpoint::MutualTls { .. } => {
            if main.iter().any(|r| r.app_data_seen) {
                (
                    Observed::Accepted,
                    "sent an HTTP request after the handshake".into(),
                )
            } else {
                (Observed::Refused, refusal(main, ""))
            }
        }
    }
}

fn refusal(rows: &[ConnRow], prefix: &str) -> String {
    let detail = match rows.first() {
        None => "no connection reached the server".to_owned(),
        Some(r) => {
            let mut d = r
                .alert_or_error
                .clone()
                .unwrap_or_else(|| "closed without a request".into());
            if r.handshake_completed {
                d = format!("handshake completed, then {d}");
            }
            d
        }
    };
    if prefix.is_empty() {
        detail
    } else {
        format!("{prefix}: {detail}")
    }
}

impl Report {
    /// Number of rows with this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.verdicts
            .iter()
            .filter(|v| v.outcome == outcome)
            .count()
    }

    /// True when no verdict failed (skipped scenarios are listed, never passed).
    pub fn all_as_expected(&self) -> bool {
        self.count(Outcome::Fail) == 0
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "client: {}", self.client);
        let w = id_column_width(self.verdicts.iter().map(|v| v.id.as_str()));
        let _ = writeln!(
            out,
            "{:<w$} {:<14} {:<9} {:<6} {:<44} reason",
            "scenario", "expected", "observed", "result", "client status"
        );
        for v in &self.verdicts {
            let mut status = v.client_status.replace('\n', " ");
            if status.chars().count() > 44 {
                status = status.chars().take(43).collect::<String>() + "…";
            }
            let _ = writeln!(
                out,
                "{:<w$} {:<14} {:<9} {:<6} {:<44} {}",
                v.id,
                v.expected.as_str(),
                v.observed.as_str(),
                v.outcome.as_str(),
                status,
                // One row per scenario: a multi-line reason (a server's full diagnostics) shows
                // its first line here; the JSON report has all of it.
                v.reason.lines().next().unwrap_or("")
            );
        }
        let _ = writeln!(
            out,
            "{} passed, {} failed, {} skipped (skipped is not passed) in {} ms",
            self.count(Outcome::Pass),
            self.count(Outcome::Fail),
            self.count(Outcome::Skip),
            self.millis
        );
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as JUnit XML, one test case per scenario.
    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"keypin lab: {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            xml(&self.client),
            self.verdicts.len(),
            self.count(Outcome::Fail),
            self.count(Outcome::Skip),
            self.millis as f64 / 1000.0
        );
        for v in &self.verdicts {
            let _ = write!(
                out,
                "  <testcase classname=\"keypin.lab\" name=\"{} {}\" time=\"{:.3}\"",
                xml(&v.id),
                xml(&v.description),
                v.millis as f64 / 1000.0
            );
            let msg = format!(
                "expected {}, observed {}: {} (client: {})",
                v.expected.as_str(),
                v.observed.as_str(),
                v.reason,
                v.client_status
            );
            match v.outcome {
                Outcome::Pass => out.push_str("/>\n"),
                Outcome::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n    <failure message=\"{}\"/>\n  </testcase>",
                        xml(&msg)
                    );
                }
                Outcome::Skip => {
                    let _ = writeln!(
                        out,
                        ">\n    <skipped message=\"{}\"/>\n  </testcase>",
                        xml(&msg)
                    );
                }
            }
        }
        out.push_str("</testsuite>\n");
        out
    }
}

pub(crate) fn xml(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c if c.is_control() && c != '\n' && c != '\t' => " ".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The width of a table's scenario-id column: the longest id (or the header), so every row
/// lines up.
pub fn id_column_width<'a>(ids: impl IntoIterator<Item = &'a str>) -> usize {
    ids.into_iter()
        .map(|id| id.chars().count())
        .fold("scenario".len(), usize::max)
}
