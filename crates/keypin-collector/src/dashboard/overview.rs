//! The overview (`/`): the filter form, per host a chart, breakdowns by app version and
//! platform and the served-key table, then the newest matching reports. Every panel comes from
//! one filter.

use std::fmt::Write as _;

use super::filter::{encode, query_of};
use super::{date, esc, hint_for, page};
use crate::store::dash::{
    Filter, HostPanel, NETWORKS_CAP, Overview, PLAUSIBLE_AFTER, PLAUSIBLE_BEFORE, ReportRow,
    newest_floor, overview,
};
use crate::store::{Store, StoreError};

/// Reports listed under the panels.
pub const NEWEST: usize = 50;

/// Reads what the overview needs for `f` and renders it.
pub fn render_for(store: &dyn Store, f: &Filter, now: i64) -> Result<String, StoreError> {
    let rows = store.rollup(f)?;
    let ov = overview(&rows, f, |keys| store.key_networks(keys))?;
    let newest = if ov.reports == 0 {
        Vec::new()
    } else {
        store.newest(f, newest_floor(&rows, f, NEWEST), NEWEST)?
    };
    Ok(render(&ov, &newest, f, now))
}

fn form(f: &Filter) -> String {
    let day = |d: i64| date(d)[..10].to_string();
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or(""));
    let mut kinds = String::from("<option value=\"\">any</option>");
    for k in ["keypin", "trustkit", "hpkp"] {
        let sel = if f.kind.as_deref() == Some(k) {
            " selected"
        } else {
            ""
        };
        let _ = write!(kinds, "<option{sel}>{k}</option>");
    }
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/\">\
<label>since <input type=\"date\" name=\"since\" value=\"{}\"></label>\
<label>until <input type=\"date\" name=\"until\" value=\"{}\"></label>\
<label>host <input name=\"host\" value=\"{}\"></label>\
<label>app version <input name=\"version\" value=\"{}\" size=\"8\"></label>\
<label>platform <input name=\"platform\" value=\"{}\" size=\"8\"></label>\
<label>report kind <select name=\"kind\">{kinds}</select></label>\
<button>Apply</button> <a href=\"/\">clear</a></form>",
        day(f.from_day),
        day(f.to_day),
        v(&f.host),
        v(&f.app_version),
        v(&f.platform),
    )
}

/// The page.
pub fn render(ov: &Overview, newest: &[ReportRow], f: &Filter, now: i64) -> String {
    let q = query_of(f, None);
    let mut h = format!(
        "<h1>keypin collector</h1><form method=\"post\" action=\"/logout\"><button>Log out</button></form>{}\
<p>{} host(s) with pin-failure reports. {} report(s) from {} to {} (UTC). Updated {}. \
Download: <a id=\"csv\" href=\"/v1/reports.csv?{q}\">CSV</a> · <a id=\"json\" href=\"/v1/reports.json?{q}\">JSON</a></p>",
        form(f),
        ov.hosts_total,
        ov.reports,
        &date(f.from_day)[..10],
        &date(f.to_day)[..10],
        date(now),
    );
    let _ = write!(
        h,
        "<p class=\"note\" id=\"time-basis\">Time range and charts use each report's own time (its <code>date-time</code>) when it lies \
within {} days before and {} minutes after its receipt, its receipt time otherwise: here {} by their own time \
(dark bars), {} by receipt time (light bars).</p>",
        PLAUSIBLE_BEFORE / 86_400,
        PLAUSIBLE_AFTER / 60,
        ov.reports - ov.by_receipt,
        ov.by_receipt,
    );
    if ov.reports == 0 {
        h.push_str("<p id=\"empty\">No reports match. Point a report URI at <code>/v1/reports</code>, or widen the filters.</p>");
    }
    if ov.hosts_total > ov.hosts.len() {
        let _ = write!(
            h,
            "<p class=\"note\">The {} most recently reported hosts are shown; filter by host for the others.</p>",
            ov.hosts.len()
        );
    }
    for (i, host) in ov.hosts.iter().enumerate() {
        host_section(&mut h, i, host, f, now);
    }
    newest_table(&mut h, newest);
    page("keypin collector", &h)
}

fn host_section(h: &mut String, i: usize, host: &HostPanel, f: &Filter, now: i64) {
    let _ = write!(
        h,
        "<section class=\"host\" id=\"host-{i}\"><h2 class=\"hostname\">{}</h2><p>{} report(s), last received {} · <a href=\"/?{}\">only this host</a></p>",
        esc(&host.host),
        host.reports,
        date(host.last_seen),
        query_of(f, Some(&host.host)),
    );
    if host.instrumented > 0 {
        let _ = write!(
            h,
            "<p class=\"instrumented\">{} of {} failures came from instrumented processes (client-reported).</p>",
            host.instrumented, host.reports
        );
    }
    if let Some(text) = hint_for(&host.host, &host.keys, now) {
        let _ = write!(h, "<p class=\"hint\">{}</p>", esc(&text));
    }
    chart(h, host);
    h.push_str("<div class=\"panels\">");
    for (class, title, rows) in [
        ("by-version", "app version", &host.by_version),
        ("by-platform", "platform", &host.by_platform),
    ] {
        let _ = write!(
            h,
            "<table class=\"{class}\"><tr><th>{title}</th><th>reports</th></tr>"
        );
        for (value, n) in rows.iter().take(20) {
            let shown = if value.is_empty() {
                "<i>(none)</i>".to_string()
            } else {
                esc(value)
            };
            let _ = write!(h, "<tr><td>{shown}</td><td>{n}</td></tr>");
        }
        h.push_str("</table>");
    }
    h.push_str("</div><table class=\"keys\"><tr><th>served key (leaf SPKI pin)</th><th>reports</th><th>networks</th><th>first seen</th><th>last seen</th><th>app versions</th></tr>");
    for k in &host.keys {
        let versions: Vec<String> = k
            .versions
            .iter()
            .map(|v| {
                if v.is_empty() {
                    "(none)".into()
                } else {
                    esc(v)
                }
            })
            .collect();
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"versions\">{}</td></tr>",
            esc(&k.pin),
            k.count,
            if k.networks > NETWORKS_CAP {
                format!("over {NETWORKS_CAP}")
            } else {
                k.networks.to_string()
            },
            date(k.first_seen),
            date(k.last_seen),
            versions.join(", ")
        );
    }
    h.push_str("</table></section>");
}

/// Reports per day as bars: the whole bar is the day's reports, its dark part those placed by
/// their own time.
fn chart(h: &mut String, host: &HostPanel) {
    let days = host.per_day.len().max(1);
    let step = (700 / days).clamp(2, 34);
    let width = step.saturating_sub(if step > 6 { 6 } else { 0 }).max(1);
    let label_every = (40 / step).max(1);
    let max = host
        .per_day
        .iter()
        .map(|(_, a, b)| a + b)
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = write!(
        h,
        "<svg class=\"chart\" width=\"{}\" height=\"90\" role=\"img\" aria-label=\"reports per day\">",
        days * step + 10
    );
    for (j, (day, own, receipt)) in host.per_day.iter().enumerate() {
        let count = own + receipt;
        let scale = |n: i64| (n as f64 / max as f64 * 60.0).round() as i64;
        let (bar, dark) = (scale(count), scale(*own));
        let x = j * step + 5;
        let _ = write!(
            h,
            "<rect class=\"bar\" data-count=\"{count}\" x=\"{x}\" y=\"{}\" width=\"{width}\" height=\"{bar}\" fill=\"#e99\"><title>{}: {count} ({own} by report time, {receipt} by receipt)</title></rect>\
<rect class=\"own\" x=\"{x}\" y=\"{}\" width=\"{width}\" height=\"{dark}\" fill=\"#b22\"/>",
            70 - bar,
            &date(*day)[..10],
            70 - dark,
        );
        if j % label_every == 0 {
            let _ = write!(
                h,
                "<text x=\"{x}\" y=\"85\" font-size=\"9\">{}</text>",
                &date(*day)[5..10]
            );
        }
    }
    h.push_str("</svg>");
}

fn newest_table(h: &mut String, rows: &[ReportRow]) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>Newest {} matching report(s)</h2><table class=\"reports\"><tr><th>id</th><th>time</th><th>host</th><th>kind</th><th>app version</th><th>platform</th><th>failure</th><th>network</th></tr>",
        rows.len()
    );
    for r in rows {
        let basis = if r.reported_at == Some(r.event_at) {
            ""
        } else {
            " (receipt)"
        };
        let o = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
        let _ = write!(
            h,
            "<tr class=\"report\"><td><a href=\"/reports/{}\">{}</a></td><td>{}{basis}</td><td class=\"rhost\"><a href=\"/?host={}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.id,
            r.id,
            date(r.event_at),
            encode(&r.host),
            esc(&r.host),
            esc(&r.kind),
            o(&r.app_version),
            o(&r.app_platform),
            o(&r.failure),
            esc(&r.client_network),
        );
    }
    h.push_str("</table>");
}
