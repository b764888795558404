//! Time, injected: the verifier and the policy ask a [`Clock`], never the system directly, so
//! tests (and the lab) can move time.

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls_pki_types::UnixTime;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, as seconds since the Unix epoch.
    fn now(&self) -> UnixTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::now()
    }
}

/// A clock that only moves when told to (tests, the lab, replaying a report).
#[derive(Debug, Default)]
pub struct ManualClock {
    secs: AtomicU64,
}

impl ManualClock {
    /// A clock stopped at `secs` after the epoch.
    pub fn at(secs: u64) -> Self {
        Self {
            secs: AtomicU64::new(secs),
        }
    }

    /// Sets the time.
    pub fn set(&self, secs: u64) {
        self.secs.store(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            self.secs.load(Ordering::SeqCst),
        ))
    }
}

/// A calendar date (UTC), as written in policies: `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i64,
}

impl Date {
    /// Parses exactly `YYYY-MM-DD` (the form Android NSC and TrustKit use).
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok {
            return Err(format!("{s:?} is not a date in the form YYYY-MM-DD"));
        }
        let num = |r: core::ops::Range<usize>| s[r].parse::<i64>().unwrap_or(0);
        let (y, m, d) = (num(0..4), num(5..7), num(8..10));
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(format!("{s:?} is not a real calendar date"));
        }
        Ok(Self {
            days: days_from_civil(y, m, d),
        })
    }

    /// The first second of this date, UTC.
    pub fn start_secs(&self) -> i64 {
        self.days * 86_400
    }

    /// The date a Unix time falls on.
    pub fn of_secs(secs: i64) -> Self {
        Self {
            days: secs.div_euclid(86_400),
        }
    }

    /// `(year, month, day)`.
    pub fn ymd(&self) -> (i64, i64, i64) {
        civil_from_days(self.days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: i64) -> String {
    let date = Date::of_secs(secs);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The first second (Unix) of a calendar date; `None` when it is not a real date.
pub(crate) fn date_start_secs(y: i64, m: i64, d: i64) -> Option<i64> {
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
        .then(|| days_from_civil(y, m, d) * 86_400)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithm (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let rows: &[(&str, Option<i64>)] = &[
            ("1970-01-01", Some(0)),
            ("2000-02-29", Some(951_782_400)),
            ("2027-06-30", Some(1_814_313_600)),
            ("2026-02-29", None),
            ("2027-13-01", None),
            ("2027-6-30", None),
            ("27-06-30xx", None),
            ("2027/06/30", None),
        ];
        for (text, secs) in rows {
            match (Date::parse(text), secs) {
                (Ok(d), Some(s)) => {
                    assert_eq!(d.start_secs(), *s, "{text}");
                    assert_eq!(d.to_string(), *text);
                }
                (Err(_), None) => {}
                (r, _) => panic!("{text}: {r:?}"),
            }
        }
        assert_eq!(format_rfc3339(1_814_313_600 + 3661), "2027-06-30T01:01:01Z");
    }
}
