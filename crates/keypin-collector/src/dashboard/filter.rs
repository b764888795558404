//! The filters as query parameters (`/?host=...&since=...`), read the same way by the overview
//! and the downloads, and written back into the links the pages make.

use serde::Deserialize;

use crate::store::dash::{Filter, MAX_DAYS, day_of};

/// Days the overview covers when no `since` is given.
pub const DEFAULT_DAYS: i64 = 14;

/// The query parameters, as sent. Empty values mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilterParams {
    /// First day: `YYYY-MM-DD`, an RFC 3339 time or Unix seconds (its UTC day counts whole).
    pub since: Option<String>,
    /// Last day, inclusive, in the same forms.
    pub until: Option<String>,
    /// Host (case-insensitive).
    pub host: Option<String>,
    /// App version.
    pub version: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Report kind: `keypin`, `trustkit` or `hpkp`.
    pub kind: Option<String>,
}

/// The latest time a parameter may name: 9999-12-31T23:59:59Z.
const MAX_TIME: i64 = 253_402_300_799;

/// Reads a time parameter: Unix seconds, `YYYY-MM-DD` or RFC 3339, from 1970 to 9999 (so day
/// arithmetic cannot overflow).
fn time_of(name: &str, s: &str) -> Result<i64, String> {
    let rfc = time::format_description::well_known::Rfc3339;
    let t = s
        .parse::<i64>()
        .ok()
        .or_else(|| {
            time::OffsetDateTime::parse(s, &rfc)
                .ok()
                .map(|t| t.unix_timestamp())
        })
        .or_else(|| {
            time::OffsetDateTime::parse(&format!("{s}T00:00:00Z"), &rfc)
                .ok()
                .map(|t| t.unix_timestamp())
        })
        .ok_or_else(|| {
            format!("{name}={s:?}: expected YYYY-MM-DD, an RFC 3339 time or Unix seconds")
        })?;
    if !(0..=MAX_TIME).contains(&t) {
        return Err(format!("{name}={s:?}: outside 1970-01-01 to 9999-12-31"));
    }
    Ok(t)
}

/// A parameter's value, `None` when absent or blank; bounded.
fn text(name: &str, v: &Option<String>) -> Result<Option<String>, String> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.len() > 1024 => Err(format!("{name}: longer than 1024 bytes")),
        Some(s) => Ok(Some(s.to_string())),
    }
}

impl FilterParams {
    /// The filter these parameters ask for, at `now`: the last [`DEFAULT_DAYS`] days unless
    /// `since`/`until` say otherwise, at most [`MAX_DAYS`] days.
    pub fn filter(&self, now: i64) -> Result<Filter, String> {
        let to_day = match text("until", &self.until)? {
            Some(s) => day_of(time_of("until", &s)?),
            None => day_of(now),
        };
        let from_day = match text("since", &self.since)? {
            Some(s) => day_of(time_of("since", &s)?),
            None => to_day - (DEFAULT_DAYS - 1) * 86_400,
        };
        if from_day > to_day {
            return Err("since is after until".into());
        }
        if (to_day - from_day) / 86_400 + 1 > MAX_DAYS {
            return Err(format!("the time range is over {MAX_DAYS} days"));
        }
        let kind = text("kind", &self.kind)?;
        if let Some(k) = &kind
            && !["keypin", "trustkit", "hpkp"].contains(&k.as_str())
        {
            return Err(format!("kind={k:?}: expected keypin, trustkit or hpkp"));
        }
        Ok(Filter {
            from_day,
            to_day,
            host: text("host", &self.host)?.map(|h| h.to_ascii_lowercase()),
            app_version: text("version", &self.version)?,
            platform: text("platform", &self.platform)?,
            kind,
        })
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string (without `?`) that asks for `f`, with `host` replaced when given.
pub fn query_of(f: &Filter, host: Option<&str>) -> String {
    let day = |d: i64| keypin::clock::format_rfc3339(d)[..10].to_string();
    let mut parts = vec![
        format!("since={}", day(f.from_day)),
        format!("until={}", day(f.to_day)),
    ];
    let host = host.or(f.host.as_deref());
    for (name, v) in [
        ("host", host),
        ("version", f.app_version.as_deref()),
        ("platform", f.platform.as_deref()),
        ("kind", f.kind.as_deref()),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name}={}", encode(v)));
        }
    }
    parts.join("&")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000;

    #[test]
    fn parameters_round_trip_through_links() {
        let p = FilterParams {
            since: Some("2026-11-20".into()),
            until: Some("2026-11-30T12:00:00Z".into()),
            host: Some("API.Example.com".into()),
            version: Some("2.0 beta&x=1".into()),
            platform: Some(" ".into()),
            kind: Some("trustkit".into()),
        };
        let f = p.filter(NOW).unwrap();
        assert_eq!(f.host.as_deref(), Some("api.example.com"));
        assert_eq!(f.platform, None);
        assert_eq!(f.days(), 11);
        let q = query_of(&f, None);
        assert_eq!(
            q,
            "since=2026-11-20&until=2026-11-30&host=api.example.com&version=2.0%20beta%26x%3D1&kind=trustkit"
        );
    }

    #[test]
    fn bad_parameters_are_refused_with_the_parameter_named() {
        for (p, words) in [
            (
                FilterParams {
                    since: Some("yesterday".into()),
                    ..Default::default()
                },
                "since=\"yesterday\"",
            ),
            (
                FilterParams {
                    since: Some("2026-12-01".into()),
                    until: Some("2026-11-01".into()),
                    ..Default::default()
                },
                "since is after until",
            ),
            (
                FilterParams {
                    since: Some("2000-01-01".into()),
                    ..Default::default()
                },
                "over 400 days",
            ),
            (
                FilterParams {
                    host: Some("h".repeat(1025)),
                    ..Default::default()
                },
                "host: longer than 1024 bytes",
            ),
            (
                FilterParams {
                    kind: Some("x".into()),
                    ..Default::default()
                },
                "kind=\"x\"",
            ),
        ] {
            let e = p.filter(NOW).unwrap_err();
            assert!(e.contains(words), "{words}: {e}");
        }
    }

    /// Times whose day arithmetic would overflow (the range, its end) are refused, not wrapped.
    #[test]
    fn integer_overflow_in_time_parameters_is_refused() {
        for (since, until, words) in [
            (
                Some(i64::MIN),
                None,
                "since=\"-9223372036854775808\": outside",
            ),
            (
                None,
                Some(i64::MAX),
                "until=\"9223372036854775807\": outside",
            ),
            (Some(-1), None, "since=\"-1\": outside"),
            (None, Some(MAX_TIME + 1), "until=\"253402300800\": outside"),
        ] {
            let p = FilterParams {
                since: since.map(|t| t.to_string()),
                until: until.map(|t| t.to_string()),
                ..Default::default()
            };
            let e = p.filter(NOW).unwrap_err();
            assert!(e.contains(words), "{words}: {e}");
        }
        // The last day there is works, and its end is still a number.
        let p = FilterParams {
            since: Some("9999-12-01".into()),
            until: Some(MAX_TIME.to_string()),
            ..Default::default()
        };
        let f = p.filter(NOW).unwrap();
        assert_eq!(f.end(), MAX_TIME + 1);
    }
}
