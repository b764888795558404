//! The dashboard page, rendered on the server. Every value that came from a report is escaped.

use std::fmt::Write as _;

use crate::store::HostSummary;

/// HTML-escapes untrusted text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn date(secs: i64) -> String {
    keypin::clock::format_rfc3339(secs)
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}.hint{padding:.4em .8em;background:#fff6d5;border-left:4px solid #e0b000}\
.host{margin-bottom:2em}code{font-size:12px}";

/// What the login page says above its form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginNotice {
    /// Nothing: a first visit.
    None,
    /// The token given was wrong.
    WrongToken,
    /// Too many failed logins from this client.
    Throttled,
    /// The token came in the URL, which is refused.
    TokenInUrl,
}

/// The login page: a form that POSTs the token in the body.
pub fn login(notice: LoginNotice) -> String {
    let hint = match notice {
        LoginNotice::None => "",
        LoginNotice::WrongToken => "<p class=\"hint\">Wrong token.</p>",
        LoginNotice::Throttled => {
            "<p class=\"hint\">Too many failed logins from your address; wait a minute.</p>"
        }
        LoginNotice::TokenInUrl => {
            "<p class=\"hint\">A token in the URL is refused (URLs are logged); enter it here.</p>"
        }
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>keypin collector: log in</title><style>{STYLE}</style></head><body>\
<h1>keypin collector</h1>{hint}<form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\"></label> <button>Log in</button></form></body></html>"
    )
}

/// A host's hint: many networks on one new key points to a rotation, few to interception.
pub fn hint(h: &HostSummary, now: i64) -> Option<String> {
    let total: i64 = h.keys.iter().map(|k| k.count).sum();
    if h.keys.is_empty() || total == 0 {
        return None;
    }
    let top = &h.keys[0];
    let recent = now - top.first_seen < 14 * 86_400;
    if top.networks >= 3 && top.count * 2 >= total {
        Some(format!(
            "One {}key is reported from {} networks: most likely a certificate rotation. Check it with `keypin inspect {}` and ship the new pin.",
            if recent { "new " } else { "" },
            top.networks,
            h.host
        ))
    } else if h.keys.iter().any(|k| k.networks <= 2) {
        Some(
            "A key is reported from only one or two networks: it looks like interception (a proxy or rogue CA on those networks), not a rotation.".into(),
        )
    } else {
        None
    }
}

/// The dashboard.
pub fn render(hosts: &[HostSummary], now: i64) -> String {
    let mut h = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>keypin collector</title><style>{STYLE}</style></head><body>\
<h1>keypin collector</h1><form method=\"post\" action=\"/logout\"><button>Log out</button></form><p>{} host(s) with pin-failure reports. Updated {}.</p>",
        hosts.len(),
        date(now)
    );
    if hosts.is_empty() {
        h.push_str(
            "<p id=\"empty\">No reports yet. Point a report URI at <code>/v1/reports</code>.</p>",
        );
    }
    for (i, host) in hosts.iter().enumerate() {
        let _ = write!(
            h,
            "<section class=\"host\" id=\"host-{i}\"><h2 class=\"hostname\">{}</h2><p>{} report(s), last {}</p>",
            esc(&host.host),
            host.reports,
            date(host.last_seen)
        );
        if host.instrumented > 0 {
            let _ = write!(
                h,
                "<p class=\"instrumented\">{} of {} failures came from instrumented processes (client-reported).</p>",
                host.instrumented, host.reports
            );
        }
        if let Some(text) = hint(host, now) {
            let _ = write!(h, "<p class=\"hint\">{}</p>", esc(&text));
        }
        // Failures per day, last 14 days.
        let max = host
            .per_day
            .iter()
            .map(|(_, c)| *c)
            .max()
            .unwrap_or(0)
            .max(1);
        let _ = write!(
            h,
            "<svg class=\"chart\" width=\"{}\" height=\"90\" role=\"img\" aria-label=\"reports per day\">",
            host.per_day.len() * 34 + 10
        );
        for (j, (day, count)) in host.per_day.iter().enumerate() {
            let bar = (*count as f64 / max as f64 * 60.0).round() as i64;
            let x = j * 34 + 5;
            let _ = write!(
                h,
                "<rect class=\"bar\" data-count=\"{count}\" x=\"{x}\" y=\"{}\" width=\"28\" height=\"{bar}\" fill=\"#c44\"><title>{}: {count}</title></rect>\
<text x=\"{}\" y=\"85\" font-size=\"9\">{}</text>",
                70 - bar,
                &date(*day)[..10],
                x,
                &date(*day)[5..10]
            );
        }
        h.push_str("</svg>");
        h.push_str("<table class=\"keys\"><tr><th>served key (leaf SPKI pin)</th><th>reports</th><th>networks</th><th>first seen</th><th>last seen</th></tr>");
        for k in &host.keys {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&k.pin),
                k.count,
                k.networks,
                date(k.first_seen),
                date(k.last_seen)
            );
        }
        h.push_str("</table></section>");
    }
    h.push_str("</body></html>");
    h
}
