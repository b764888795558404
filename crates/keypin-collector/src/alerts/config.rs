//! `alerts.toml`: `[[alert]]` rules, parsed once into [`Rule`]s that cannot hold an invalid
//! value. Every problem names the file, the line and the field; unknown fields are refused (a
//! misspelt filter would otherwise widen the rule silently).

use std::path::{Path, PathBuf};
use std::time::Duration;

use keypin::host::HostPattern;
use serde::Deserialize;
use toml::Spanned;

/// The largest alerts file read.
const MAX_FILE: u64 = 1024 * 1024;
/// Rules at most.
const MAX_RULES: usize = 1000;
/// Shortest and longest window.
const MIN_WINDOW: i64 = 10;
const MAX_WINDOW: i64 = 7 * 86_400;
/// Longest rule name, filter value and webhook URL.
const MAX_NAME: usize = 100;
const MAX_FILTER: usize = 200;
const MAX_URL: usize = 2048;

/// A problem in the alerts file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {}{why}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct AlertsError {
    /// The file.
    pub path: PathBuf,
    /// The line (1-based), when known.
    pub line: Option<usize>,
    /// The field, when known.
    pub field: Option<String>,
    /// What is wrong, and what to write instead.
    pub why: String,
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Slack-compatible: `{"text": ..., "blocks": [...]}` (Slack, Mattermost, Rocket.Chat...).
    Slack,
    /// keypin's own JSON object (see the README).
    Json,
}

/// Where an alert goes: an `https://` URL, or `http://` to a loopback address.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    uri: hyper::Uri,
}

impl Webhook {
    /// The URL.
    pub fn uri(&self) -> &hyper::Uri {
        &self.uri
    }
}

/// Webhook URLs often carry a secret in their path (Slack's do): only the origin is shown.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}/...",
            self.uri.scheme_str().unwrap_or(""),
            self.uri.authority().map(|a| a.as_str()).unwrap_or("")
        )
    }
}

/// One `[[alert]]`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name, unique in the file (the delivery ledger's key).
    pub name: String,
    /// The hosts it watches, as in a policy.
    pub hosts: Vec<HostPattern>,
    /// Reports within one window that fire it.
    pub threshold: i64,
    /// The window, in seconds; windows start at multiples of it (Unix time).
    pub window_secs: i64,
    /// Only reports from this app version.
    pub app_version: Option<String>,
    /// Only reports from this platform (compared ignoring case).
    pub platform: Option<String>,
    /// Only reports of this failure kind (compared ignoring case).
    pub kind: Option<String>,
    /// Where it goes.
    pub webhook: Webhook,
    /// In which shape.
    pub format: Format,
}

impl Rule {
    /// Does a report with these fields count for this rule?
    pub fn covers(
        &self,
        host: &str,
        app_version: Option<&str>,
        platform: Option<&str>,
        kind: Option<&str>,
    ) -> bool {
        let same = |want: &Option<String>, got: Option<&str>, fold: bool| match want {
            None => true,
            Some(w) => got.is_some_and(|g| {
                if fold {
                    w.eq_ignore_ascii_case(g)
                } else {
                    w == g
                }
            }),
        };
        self.hosts.iter().any(|p| p.matches(host))
            && same(&self.app_version, app_version, false)
            && same(&self.platform, platform, true)
            && same(&self.kind, kind, true)
    }

    /// The start of the window holding `now`.
    pub fn window_start(&self, now: i64) -> i64 {
        now.div_euclid(self.window_secs) * self.window_secs
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    alert: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    hosts: Spanned<Vec<Spanned<String>>>,
    threshold: Spanned<i64>,
    window: Spanned<String>,
    app_version: Option<Spanned<String>>,
    platform: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    webhook: Spanned<String>,
    format: Spanned<String>,
}

/// Reads and checks the alerts file at `path`.
pub fn load(path: &Path) -> Result<Vec<Rule>, AlertsError> {
    let fail = |why: String| AlertsError {
        path: path.to_path_buf(),
        line: None,
        field: None,
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if meta.len() > MAX_FILE {
        return Err(fail(format!(
            "{} bytes; an alerts file may have at most {MAX_FILE}",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    parse(path, &text)
}

/// Parses alerts-file `text` (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Rule>, AlertsError> {
    let at = |span: std::ops::Range<usize>, field: &str, why: String| AlertsError {
        path: path.to_path_buf(),
        line: Some(line_of(text, span.start)),
        field: Some(field.to_string()),
        why,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    if raw.alert.len() > MAX_RULES {
        return Err(AlertsError {
            path: path.to_path_buf(),
            line: None,
            field: None,
            why: format!("{} rules; at most {MAX_RULES} are read", raw.alert.len()),
        });
    }
    let mut rules: Vec<Rule> = Vec::with_capacity(raw.alert.len());
    for r in raw.alert {
        let r = r.into_inner();
        let name_span = r.name.span();
        let rule = rule(r, &at)?;
        // The name is the delivery ledger's key: two rules under one name would share it.
        if rules.iter().any(|x| x.name == rule.name) {
            return Err(at(
                name_span,
                "name",
                format!(
                    "{:?} is the name of an earlier rule; names must be unique",
                    rule.name
                ),
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}

type At<'a> = dyn Fn(std::ops::Range<usize>, &str, String) -> AlertsError + 'a;

/// One raw rule into a [`Rule`], each field checked where it was written.
fn rule(r: RawRule, at: &At<'_>) -> Result<Rule, AlertsError> {
    let name = r.name.get_ref().trim().to_string();
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(at(
            r.name.span(),
            "name",
            format!("a name of 1 to {MAX_NAME} printable characters is required"),
        ));
    }
    if r.hosts.get_ref().is_empty() {
        return Err(at(
            r.hosts.span(),
            "hosts",
            "at least one host pattern is required (e.g. [\"api.example.com\"])".into(),
        ));
    }
    let mut hosts = Vec::with_capacity(r.hosts.get_ref().len());
    for h in r.hosts.get_ref() {
        let p = HostPattern::parse(h.get_ref(), false)
            .map_err(|e| at(h.span(), "hosts", e.to_string()))?;
        hosts.push(p);
    }
    let threshold = *r.threshold.get_ref();
    if !(1..=1_000_000).contains(&threshold) {
        return Err(at(
            r.threshold.span(),
            "threshold",
            format!("{threshold}: expected a number of reports from 1 to 1000000"),
        ));
    }
    let window_secs =
        parse_window(r.window.get_ref()).map_err(|why| at(r.window.span(), "window", why))?;
    let filter = |f: Option<Spanned<String>>, field: &str| -> Result<_, AlertsError> {
        match f {
            None => Ok(None),
            Some(v) if v.get_ref().is_empty() || v.get_ref().len() > MAX_FILTER => Err(at(
                v.span(),
                field,
                format!("expected 1 to {MAX_FILTER} characters; leave the field out to match any"),
            )),
            Some(v) => Ok(Some(v.into_inner())),
        }
    };
    let app_version = filter(r.app_version, "app_version")?;
    let platform = filter(r.platform, "platform")?;
    let kind = filter(r.kind, "kind")?;
    let webhook =
        parse_webhook(r.webhook.get_ref()).map_err(|why| at(r.webhook.span(), "webhook", why))?;
    let format = match r.format.get_ref().as_str() {
        "slack" => Format::Slack,
        "json" => Format::Json,
        other => {
            return Err(at(
                r.format.span(),
                "format",
                format!("{other:?}: expected \"slack\" or \"json\""),
            ));
        }
    };
    Ok(Rule {
        name,
        hosts,
        threshold,
        window_secs,
        app_version,
        platform,
        kind,
        webhook,
        format,
    })
}

/// `"90s"`, `"10m"`, `"2h"`, `"1d"` into seconds, within 10 s and 7 days.
fn parse_window(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{text:?}: expected a number and a unit, s, m, h or d (e.g. \"10m\"), from {MIN_WINDOW}s to 7d"
        )
    };
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: i64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
    let secs = n.checked_mul(scale).ok_or_else(bad)?;
    if !(MIN_WINDOW..=MAX_WINDOW).contains(&secs) {
        return Err(bad());
    }
    Ok(secs)
}

/// An `https://` URL, or `http://` to a loopback address (alerts name hosts and keys under
/// attack: they do not cross a network in clear).
fn parse_webhook(text: &str) -> Result<Webhook, String> {
    if text.len() > MAX_URL {
        return Err(format!("the URL is over {MAX_URL} characters"));
    }
    let uri: hyper::Uri = text
        .parse()
        .map_err(|e| format!("not a URL ({e}); expected https://HOST/PATH"))?;
    let host = uri
        .host()
        .ok_or_else(|| "the URL has no host; expected https://HOST/PATH".to_string())?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if is_loopback(host) => {}
        Some("http") => {
            return Err(format!(
                "http:// to {host} would send alerts in clear; use https:// (http:// is \
                 accepted for loopback addresses only)"
            ));
        }
        _ => return Err("expected an https:// URL".into()),
    }
    Ok(Webhook { uri })
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// toml's error with the line, and the field: the one toml names (unknown or missing), else
/// the key written on that line.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> AlertsError {
    let message = e.message().trim().to_string();
    let line = e.span().map(|s| line_of(text, s.start));
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.split_once(p))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(f, _)| f.to_string());
    let on_line = line
        .and_then(|l| text.lines().nth(l - 1))
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    AlertsError {
        path: path.to_path_buf(),
        line,
        field: named.or(on_line),
        why: message,
    }
}

/// Delivery retries: `attempts` tries at most, waiting `first`, then twice as long each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries at most (at least 1).
    pub attempts: u32,
    /// The wait after the first failure.
    pub first: Duration,
    /// Each try's deadline (connect, send, answer).
    pub timeout: Duration,
}

impl Default for Retry {
    /// 6 tries over about a minute (waits of 2, 4, 8, 16, 32 s), 10 s each.
    fn default() -> Self {
        Self {
            attempts: 6,
            first: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }
    }
}
