//! What an alert says, and its two shapes: Slack-compatible JSON and keypin's own JSON.

use serde_json::{Value, json};

use super::config::{Format, Rule};
use crate::store::{HostHistory, HostSummary};

/// Hosts named in one alert at most.
const MAX_HOSTS: usize = 10;
/// Longest text of a Slack section block.
const SLACK_SECTION: usize = 3000;
/// Keys or versions named in one alert at most.
const MAX_ITEMS: usize = 5;

/// What changed for the busiest host of a firing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A served key never seen for the host before this window.
    NewKey {
        /// The keys' SPKI pins.
        pins: Vec<String>,
    },
    /// Only known keys, failing for an app version first seen in this window.
    NewAppVersion {
        /// The versions.
        versions: Vec<String>,
    },
    /// Known keys and versions, more reports than the threshold.
    MoreReports,
}

/// One alert, ready to format.
#[derive(Debug, Clone)]
pub struct Alert {
    /// `RULE@WINDOW_START`: the same for every retry and every instance (receivers can
    /// de-duplicate on it).
    pub id: String,
    /// The rule's name.
    pub rule: String,
    /// The window's start (Unix seconds) and length.
    pub window_start: i64,
    /// Window length in seconds.
    pub window_secs: i64,
    /// The rule's threshold.
    pub threshold: i64,
    /// Reports counted in the window.
    pub count: i64,
    /// The hosts counted, busiest first (at most 10).
    pub hosts: Vec<(String, i64)>,
    /// What changed for the busiest host.
    pub change: Change,
    /// The dashboard's rotation-vs-interception hint for it.
    pub hint: Option<String>,
    /// The dashboard view of the busiest host.
    pub dashboard: String,
}

impl Alert {
    /// Builds the alert of `rule` for the window at `window_start` from the counted hosts
    /// (busiest first) and the busiest host's history.
    pub fn new(
        rule: &Rule,
        window_start: i64,
        mut hosts: Vec<(String, i64)>,
        history: &HostHistory,
        window_versions: &[String],
        public_url: &str,
        now: i64,
    ) -> Self {
        let count = hosts.iter().map(|(_, n)| n).sum();
        hosts.truncate(MAX_HOSTS);
        let top = hosts.first().map(|(h, _)| h.clone()).unwrap_or_default();
        let new_keys: Vec<String> = history
            .keys
            .iter()
            .filter(|k| k.first_seen >= window_start)
            .map(|k| k.pin.clone())
            .take(MAX_ITEMS)
            .collect();
        let new_versions: Vec<String> = history
            .versions
            .iter()
            .filter(|(v, first)| *first >= window_start && window_versions.contains(v))
            .map(|(v, _)| v.clone())
            .take(MAX_ITEMS)
            .collect();
        let change = if !new_keys.is_empty() {
            Change::NewKey { pins: new_keys }
        } else if !new_versions.is_empty() {
            Change::NewAppVersion {
                versions: new_versions,
            }
        } else {
            Change::MoreReports
        };
        let summary = HostSummary {
            host: top.clone(),
            reports: count,
            last_seen: now,
            // The hint reads keys only.
            instrumented: 0,
            per_day: Vec::new(),
            keys: history.keys.clone(),
        };
        Self {
            id: format!("{}@{window_start}", rule.name),
            rule: rule.name.clone(),
            window_start,
            window_secs: rule.window_secs,
            threshold: rule.threshold,
            count,
            change,
            hint: crate::dashboard::hint(&summary, now),
            dashboard: format!(
                "{}/?host={}",
                public_url.trim_end_matches('/'),
                url_encode(&top)
            ),
            hosts,
        }
    }

    fn top_host(&self) -> &str {
        self.hosts.first().map_or("", |(h, _)| h)
    }

    /// The change in a sentence.
    pub fn change_text(&self) -> String {
        let host = self.top_host();
        match &self.change {
            Change::NewKey { pins } => {
                format!("{host} serves a key never seen before: {}", pins.join(", "))
            }
            Change::NewAppVersion { versions } => format!(
                "a known key of {host} fails for a new app version: {}",
                versions.join(", ")
            ),
            Change::MoreReports => format!(
                "more reports than the threshold for {host}, with keys and app versions seen before"
            ),
        }
    }

    /// The body for `format`.
    pub fn body(&self, format: Format) -> Value {
        match format {
            Format::Slack => self.slack(),
            Format::Json => self.json(),
        }
    }

    fn headline(&self) -> String {
        let others = self.hosts.len().saturating_sub(1);
        let more = if others > 0 {
            format!(" (and {others} more host(s))")
        } else {
            String::new()
        };
        format!(
            "keypin alert {}: {} pin-failure report(s) for {}{more} in the {} window from {} (threshold {})",
            self.rule,
            self.count,
            self.top_host(),
            window_text(self.window_secs),
            keypin::clock::format_rfc3339(self.window_start),
            self.threshold
        )
    }

    /// Slack's incoming-webhook shape: `text` (notifications, and clients without blocks)
    /// and `blocks`. Report values are escaped for mrkdwn (`&`, `<`, `>`), so a host name
    /// cannot become a link or a mention.
    fn slack(&self) -> Value {
        let mut lines = vec![
            format!("*{}*", slack_esc(&self.headline())),
            format!("What changed: {}", slack_esc(&self.change_text())),
        ];
        if let Some(h) = &self.hint {
            lines.push(format!("Hint: {}", slack_esc(h)));
        }
        lines.push(format!(
            "<{}|Open the dashboard>",
            slack_esc(&self.dashboard)
        ));
        let text = lines.join("\n");
        // Slack refuses a section over 3,000 characters: a host name of 253 `<` (ingest's
        // limit), escaped and percent-encoded, makes one. `text` alone (up to 40,000) carries
        // it then.
        if text.chars().count() > SLACK_SECTION {
            return json!({ "text": text });
        }
        json!({
            "text": text,
            "blocks": [
                { "type": "section", "text": { "type": "mrkdwn", "text": text } },
                { "type": "context", "elements": [
                    { "type": "mrkdwn", "text": format!("alert id {}", slack_esc(&self.id)) }
                ] }
            ]
        })
    }

    fn json(&self) -> Value {
        let change = match &self.change {
            Change::NewKey { pins } => json!({ "kind": "new_key", "pins": pins }),
            Change::NewAppVersion { versions } => {
                json!({ "kind": "new_app_version", "app_versions": versions })
            }
            Change::MoreReports => json!({ "kind": "more_reports" }),
        };
        json!({
            "id": self.id,
            "alert": self.rule,
            "window": {
                "start": keypin::clock::format_rfc3339(self.window_start),
                "seconds": self.window_secs,
            },
            "threshold": self.threshold,
            "reports": self.count,
            "hosts": self.hosts.iter().map(|(h, n)| json!({ "host": h, "reports": n })).collect::<Vec<_>>(),
            "host": self.top_host(),
            "change": change,
            "summary": self.change_text(),
            "hint": self.hint,
            "dashboard": self.dashboard,
        })
    }
}

/// `600` → `10m`.
fn window_text(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Slack's mrkdwn control characters.
fn slack_esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
