//! A report's page (`/reports/{id}`): every stored field, and the report as received.

use std::fmt::Write as _;

use super::filter::encode;
use super::{date, esc, page};
use crate::store::dash::ReportRow;

/// The page for `r`.
pub fn render(r: &ReportRow) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let time = |t: Option<i64>| t.map(date).unwrap_or_default();
    let basis = if r.reported_at == Some(r.event_at) {
        "the report's own time"
    } else {
        "receipt time (no plausible date-time)"
    };
    let fields: [(&str, &str, String); 14] = [
        ("received", "received", date(r.received_at)),
        ("reported", "date-time", time(r.reported_at)),
        ("charted", "charted by", basis.to_string()),
        ("host", "host", r.host.clone()),
        (
            "port",
            "port",
            r.port.map(|p| p.to_string()).unwrap_or_default(),
        ),
        ("kind", "report kind", r.kind.clone()),
        ("failure", "failure", opt(&r.failure)),
        ("pin", "served key (leaf SPKI pin)", opt(&r.served_leaf_pin)),
        ("network", "sender network", r.client_network.clone()),
        ("bundle", "app bundle id", opt(&r.app_bundle_id)),
        ("version", "app version", opt(&r.app_version)),
        ("platform", "platform", opt(&r.app_platform)),
        (
            "runtime",
            "runtime findings",
            match r.runtime_findings {
                None => "none sent".into(),
                Some(n) => n.to_string(),
            },
        ),
        ("id", "id", r.id.to_string()),
    ];
    let mut h = format!(
        "<p><a href=\"/\">← overview</a> · <a href=\"/?host={}\">all reports for this host</a></p><h1>Report {}</h1><table class=\"detail\">",
        encode(&r.host),
        r.id
    );
    for (id, label, value) in fields {
        let _ = write!(
            h,
            "<tr><th>{label}</th><td id=\"f-{id}\">{}</td></tr>",
            esc(&value)
        );
    }
    // Pretty-printed when it parses (it did when stored); as stored otherwise.
    let body = serde_json::from_str::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| r.body.clone());
    h.push_str("</table>");
    findings(&mut h, &r.body);
    let _ = write!(
        h,
        "<h2>As received</h2><pre id=\"body\">{}</pre>",
        esc(&body)
    );
    page(&format!("keypin collector: report {}", r.id), &h)
}

/// The report's runtime integrity findings (`runtime-findings`), as a table: what the app's
/// process saw about itself (client-reported). Bounded at ingest.
fn findings(h: &mut String, body: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return;
    };
    let Some(list) = v.get("runtime-findings").and_then(|f| f.as_array()) else {
        return;
    };
    let _ = write!(
        h,
        "<h2>Runtime findings ({})</h2><table class=\"findings\"><tr><th>id</th><th>severity</th><th>evidence</th></tr>",
        list.len()
    );
    let field = |f: &serde_json::Value, k: &str| match f.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    for f in list {
        let _ = write!(
            h,
            "<tr class=\"finding\"><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&field(f, "id")),
            esc(&field(f, "severity")),
            esc(&field(f, "evidence")),
        );
    }
    h.push_str("</table>");
}
