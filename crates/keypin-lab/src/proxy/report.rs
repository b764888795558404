//! The proxy's verdicts: one per (host, scenario), as a table, JSON or JUnit.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::{ProxyScenario, TunnelRow};
use crate::runner::{Observed, Outcome};
use crate::scenario::Expected;

/// The judgement of one scenario for one host.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ProxyVerdict {
    /// The host the client talked to.
    pub host: String,
    /// The scenario.
    pub scenario: ProxyScenario,
    /// The scenario's id.
    pub id: &'static str,
    /// The correct verdict.
    pub expected: Expected,
    /// What the proxy saw (accepted if any tunnel of this scenario carried data).
    pub observed: Observed,
    /// PASS or FAIL.
    pub outcome: Outcome,
    /// Tunnels of this scenario to this host.
    pub connections: usize,
    /// What happened (the first tunnel that decided it).
    pub detail: String,
    /// For a FAIL: what it means, said plainly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<&'static str>,
}

/// Everything a proxy run showed.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ProxyReport {
    /// Per host and scenario, in the order first seen.
    pub verdicts: Vec<ProxyVerdict>,
    /// Every tunnel.
    pub tunnels: Vec<TunnelRow>,
    /// Hosts the client asked for in cleartext (`http://` through the proxy).
    pub cleartext_hosts: Vec<String>,
    /// Wall time, milliseconds.
    pub millis: u64,
}

impl ProxyReport {
    pub(crate) fn from_rows(
        rows: Vec<TunnelRow>,
        mut cleartext: Vec<String>,
        took: Duration,
    ) -> Self {
        let mut verdicts: Vec<ProxyVerdict> = Vec::new();
        for row in rows.iter().filter(|r| r.finished) {
            let at = verdicts
                .iter()
                .position(|v| v.host == row.host && v.scenario == row.scenario);
            let v = match at {
                Some(i) => &mut verdicts[i],
                None => {
                    verdicts.push(ProxyVerdict {
                        host: row.host.clone(),
                        scenario: row.scenario,
                        id: row.scenario.id(),
                        expected: row.scenario.expected(),
                        observed: Observed::Refused,
                        outcome: Outcome::Pass,
                        connections: 0,
                        detail: row.detail.clone(),
                        finding: None,
                    });
                    let last = verdicts.len() - 1;
                    &mut verdicts[last]
                }
            };
            v.connections += 1;
            if row.sent_data && v.observed != Observed::Accepted {
                v.observed = Observed::Accepted;
                v.detail = row.detail.clone();
            }
        }
        for v in &mut verdicts {
            let right = match v.expected {
                Expected::Accept | Expected::AcceptAndReport => v.observed == Observed::Accepted,
                Expected::Reject => v.observed != Observed::Accepted,
            };
            v.outcome = if right { Outcome::Pass } else { Outcome::Fail };
            v.finding = (!right).then(|| v.scenario.finding());
        }
        cleartext.sort();
        cleartext.dedup();
        Self {
            verdicts,
            tunnels: rows,
            cleartext_hosts: cleartext,
            millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Whether every verdict is as a correctly pinning client's would be.
    pub fn all_as_expected(&self) -> bool {
        self.verdicts.iter().all(|v| v.outcome == Outcome::Pass)
    }

    /// The plain findings: one line per wrong verdict, `host: what it means`.
    pub fn findings(&self) -> Vec<String> {
        self.verdicts
            .iter()
            .filter_map(|v| v.finding.map(|f| format!("{}: {f}", v.host)))
            .chain(
                self.cleartext_hosts.iter().map(|h| {
                    format!("{h}: sent a request in cleartext http (nothing protects it)")
                }),
            )
            .collect()
    }

    /// The report as a table, findings under it.
    pub fn table(&self) -> String {
        let hw = self
            .verdicts
            .iter()
            .map(|v| v.host.len())
            .fold("host".len(), usize::max);
        let iw = crate::runner::id_column_width(self.verdicts.iter().map(|v| v.id));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<hw$}  {:<iw$}  {:<8}  {:<8}  {:<7}  {:>5}  detail",
            "host", "scenario", "expected", "observed", "verdict", "conns"
        );
        for v in &self.verdicts {
            let _ = writeln!(
                out,
                "{:<hw$}  {:<iw$}  {:<8}  {:<8}  {:<7}  {:>5}  {}",
                v.host,
                v.id,
                v.expected.as_str(),
                v.observed.as_str(),
                v.outcome.as_str(),
                v.connections,
                v.detail
            );
        }
        let findings = self.findings();
        if findings.is_empty() && !self.verdicts.is_empty() {
            out.push_str("\nevery verdict as a correctly pinning client's\n");
        } else if !findings.is_empty() {
            out.push_str("\nfindings:\n");
            for f in findings {
                let _ = writeln!(out, "  {f}");
            }
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The report as JUnit XML: a test case per host and scenario.
    pub fn junit(&self) -> String {
        let failures = self
            .verdicts
            .iter()
            .filter(|v| v.outcome == Outcome::Fail)
            .count();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"keypin lab proxy\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
            self.verdicts.len(),
            self.millis as f64 / 1000.0
        );
        for v in &self.verdicts {
            let name = crate::runner::xml(&format!("{} {}", v.host, v.id));
            match v.finding {
                None => {
                    let _ = writeln!(
                        out,
                        "  <testcase classname=\"keypin.lab.proxy\" name=\"{name}\"/>"
                    );
                }
                Some(f) => {
                    let msg = crate::runner::xml(&format!(
                        "expected {}, observed {}: {f} ({})",
                        v.expected.as_str(),
                        v.observed.as_str(),
                        v.detail
                    ));
                    let _ = writeln!(
                        out,
                        "  <testcase classname=\"keypin.lab.proxy\" name=\"{name}\">\n    \
                         <failure message=\"{msg}\"/>\n  </testcase>"
                    );
                }
            }
        }
        out.push_str("</testsuite>\n");
        out
    }
}
