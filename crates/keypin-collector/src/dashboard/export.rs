//! Downloads of the filtered reports: CSV and JSON, the newest [`EXPORT_CAP`] rows at most (the
//! response says when the cap cut it short).
//!
//! CSV follows RFC 4180 (a field with a comma, quote or line break is quoted, quotes doubled),
//! and a field a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or
//! a carriage return) gets a leading `'`: report fields are written by whoever sends reports.

use serde::Serialize;

use crate::store::dash::{EXPORT_CAP, Filter, ReportRow, newest_floor};
use crate::store::{Store, StoreError};

/// The rows a download holds, and whether there were more.
pub fn rows_for(store: &dyn Store, f: &Filter) -> Result<(Vec<ReportRow>, bool), StoreError> {
    let roll = store.rollup(f)?;
    let mut rows = store.newest(f, newest_floor(&roll, f, EXPORT_CAP + 1), EXPORT_CAP + 1)?;
    let truncated = rows.len() > EXPORT_CAP;
    rows.truncate(EXPORT_CAP);
    Ok((rows, truncated))
}

/// One CSV field, escaped.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The CSV columns.
pub const CSV_HEADER: &str = "id,received_at,reported_at,event_at,charted_by,host,port,kind,failure,served_leaf_pin,client_network,app_bundle_id,app_version,app_platform";

/// The rows as CSV (CRLF line ends, a header line first).
pub fn csv(rows: &[ReportRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    let time = keypin::clock::format_rfc3339;
    for r in rows {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        let cells = [
            r.id.to_string(),
            time(r.received_at),
            r.reported_at.map(time).unwrap_or_default(),
            time(r.event_at),
            if r.reported_at == Some(r.event_at) {
                "report".into()
            } else {
                "receipt".into()
            },
            r.host.clone(),
            r.port.map(|p| p.to_string()).unwrap_or_default(),
            r.kind.clone(),
            o(&r.failure),
            o(&r.served_leaf_pin),
            r.client_network.clone(),
            o(&r.app_bundle_id),
            o(&r.app_version),
            o(&r.app_platform),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[derive(Serialize)]
struct JsonExport<'a> {
    cap: usize,
    truncated: bool,
    reports: Vec<JsonReport<'a>>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    row: &'a ReportRow,
    report: serde_json::Value,
}

/// The rows as JSON: `{"cap", "truncated", "reports": [...]}`, each report's body parsed.
pub fn json(rows: &[ReportRow], truncated: bool) -> String {
    let reports = rows
        .iter()
        .map(|row| JsonReport {
            row,
            report: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    serde_json::to_string(&JsonExport {
        cap: EXPORT_CAP,
        truncated,
        reports,
    })
    .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formula_injection_is_defused() {
        for (input, expected) in [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("1-2", "1-2"),
        ] {
            assert_eq!(csv_field(input), expected, "{input:?}");
        }
    }
}
