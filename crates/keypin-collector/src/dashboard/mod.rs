//! The dashboard, rendered on the server (no script): the overview with its filters
//! ([`overview`]), a report's page ([`detail`]), downloads ([`export`]) and the login page.
//! Every value that came from a report is escaped ([`esc`]).

pub mod detail;
pub mod export;
pub mod filter;
pub mod overview;

use crate::store::dash::KeyRow;
use crate::store::{HostSummary, KeySeen};

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
.host{margin-bottom:2em}code{font-size:12px}.panels{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}form.filters{background:#f4f4f4;padding:.6em;display:flex;gap:.6em;flex-wrap:wrap;align-items:end}form.filters label{font-size:12px;display:flex;flex-direction:column}.note{font-size:13px;color:#555}pre{background:#f6f6f6;padding:.8em;font-size:12px;white-space:pre-wrap;word-break:break-all}";

/// A whole page: `title` (escaped here) and `body` (already HTML).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

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

/// The login page: a form that POSTs the token in the body, and `next` (a local path, escaped
/// here), where the browser goes after the login.
pub fn login(notice: LoginNotice, next: &str) -> String {
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
<h1>keypin collector</h1>{hint}<form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\"></label>\
<input type=\"hidden\" name=\"next\" value=\"{}\"> <button>Log in</button></form></body></html>",
        esc(next)
    )
}

/// What the hint reads of a served key: the dashboard's [`KeyRow`] and the summary's
/// [`KeySeen`] (which the alerts use).
pub trait KeyStats {
    /// Reports carrying the key.
    fn count(&self) -> i64;
    /// Distinct sender networks.
    fn networks(&self) -> i64;
    /// First receipt.
    fn first_seen(&self) -> i64;
}

macro_rules! key_stats {
    ($($t:ty),*) => {$(
        impl KeyStats for $t {
            fn count(&self) -> i64 {
                self.count
            }
            fn networks(&self) -> i64 {
                self.networks
            }
            fn first_seen(&self) -> i64 {
                self.first_seen
            }
        }
    )*};
}
key_stats!(KeyRow, KeySeen);

/// A host's hint (see [`hint_for`]).
pub fn hint(h: &HostSummary, now: i64) -> Option<String> {
    hint_for(&h.host, &h.keys, now)
}

/// A host's hint from its served keys (most reported first): many networks on one key points
/// to a rotation, few to interception.
pub fn hint_for<K: KeyStats>(host: &str, keys: &[K], now: i64) -> Option<String> {
    let total: i64 = keys.iter().map(K::count).sum();
    let top = keys.first()?;
    if total == 0 {
        return None;
    }
    let recent = now - top.first_seen() < 14 * 86_400;
    if top.networks() >= 3 && top.count() * 2 >= total {
        Some(format!(
            "One {}key is reported from {} networks: most likely a certificate rotation. Check it with `keypin inspect {host}` and ship the new pin.",
            if recent { "new " } else { "" },
            top.networks(),
        ))
    } else if keys.iter().any(|k| k.networks() <= 2) {
        Some(
            "A key is reported from only one or two networks: it looks like interception (a proxy or rogue CA on those networks), not a rotation.".into(),
        )
    } else {
        None
    }
}
