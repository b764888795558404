//! Host patterns: which server names a rule covers.
//!
//! The grammar follows OkHttp's `CertificatePinner` and Android's Network Security Config:
//!
//! | pattern | matches |
//! |---|---|
//! | `api.example.com` | exactly that name |
//! | `*.example.com` | exactly one more label (`a.example.com`, not `example.com`, not `a.b.example.com`) |
//! | `**.example.com` | the apex and any depth below it |
//! | `example.com` + `include_subdomains = true` | the same as `**.example.com` |
//! | `192.0.2.7`, `::1` | that IP address (exact only) |

use core::fmt;
use std::net::IpAddr;

use rustls_pki_types::DnsName;

/// A validated host pattern. Built once from text by [`HostPattern::parse`]; always lowercase,
/// without a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// One DNS name or IP address.
    Exact(Box<str>),
    /// `*.base`: exactly one label in front of `base`.
    OneLabel(Box<str>),
    /// `**.base`: `base` itself and every name under it.
    AnyDepth(Box<str>),
}

/// Why a host pattern was refused, with a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPatternError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for HostPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for HostPatternError {}

impl HostPattern {
    /// Parses a pattern. `include_subdomains` turns an exact DNS name into [`Self::AnyDepth`].
    ///
    /// Refused: empty or invalid names, asterisks anywhere but a whole leftmost `*` or `**`
    /// label, wildcards or subdomain rules on a public suffix (`*.com`, `**.co.uk`,
    /// `**.github.io`), `include_subdomains` on a one-label wildcard or an IP address.
    pub fn parse(text: &str, include_subdomains: bool) -> Result<Self, HostPatternError> {
        let err = |message: String, hint: Option<&str>| HostPatternError {
            message,
            hint: hint.map(str::to_string),
        };
        let lower = text.trim().to_ascii_lowercase();
        if lower.is_empty() {
            return Err(err("empty host pattern".into(), None));
        }
        if let Ok(ip) = lower
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            if include_subdomains {
                return Err(err(
                    format!("include_subdomains makes no sense for the IP address {text:?}"),
                    Some("remove include_subdomains or use a DNS name"),
                ));
            }
            return Ok(Self::Exact(ip.to_string().into()));
        }
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        let (kind, base) = if let Some(base) = name.strip_prefix("**.") {
            (Kind::AnyDepth, base)
        } else if let Some(base) = name.strip_prefix("*.") {
            (Kind::OneLabel, base)
        } else {
            (Kind::Exact, name)
        };
        if base.contains('*') {
            return Err(err(
                format!("{text:?}: an asterisk may only be the whole leftmost label"),
                Some("write *.example.com (one label) or **.example.com (any depth)"),
            ));
        }
        if DnsName::try_from(base).is_err() || !base.contains(|c: char| c.is_ascii_alphabetic()) {
            return Err(err(
                format!("{text:?} is not a valid DNS name or IP address"),
                Some("use letters, digits, hyphens and dots, like api.example.com"),
            ));
        }
        let kind = match (kind, include_subdomains) {
            (Kind::Exact, true) => Kind::AnyDepth,
            (Kind::OneLabel, true) => {
                return Err(err(
                    format!(
                        "{text:?} matches exactly one label, but include_subdomains asks for any depth"
                    ),
                    Some("write **.example.com for any depth, or drop include_subdomains"),
                ));
            }
            (k, _) => k,
        };
        if kind != Kind::Exact && is_public_suffix(base) {
            return Err(err(
                format!(
                    "{text:?} would pin every site under the public suffix {base:?}, which no single party controls"
                ),
                Some("pin your own registrable domain, like **.example.co.uk"),
            ));
        }
        let base: Box<str> = base.into();
        Ok(match kind {
            Kind::Exact => Self::Exact(base),
            Kind::OneLabel => Self::OneLabel(base),
            Kind::AnyDepth => Self::AnyDepth(base),
        })
    }

    /// The name part of the pattern, without wildcard.
    pub fn base(&self) -> &str {
        match self {
            Self::Exact(b) | Self::OneLabel(b) | Self::AnyDepth(b) => b,
        }
    }

    /// Does this pattern cover `host` (already lowercase, without trailing dot)?
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(b) => **b == *host,
            Self::OneLabel(b) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == &**b),
            Self::AnyDepth(b) => {
                host == &**b
                    || host
                        .strip_suffix(&**b)
                        .is_some_and(|front| front.len() > 1 && front.ends_with('.'))
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(b) => f.write_str(b),
            Self::OneLabel(b) => write!(f, "*.{b}"),
            Self::AnyDepth(b) => write!(f, "**.{b}"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    OneLabel,
    AnyDepth,
}

/// True when `name` is itself a public suffix (ICANN or private section of the list), or a
/// top-level label nobody has registered (the list's implicit `*` rule).
fn is_public_suffix(name: &str) -> bool {
    match psl::suffix_str(name) {
        Some(suffix) => suffix == name,
        None => true,
    }
}

/// Normalises a server name for lookup: lowercase, no trailing dot. Borrows when it can.
pub(crate) fn normalize(host: &str) -> std::borrow::Cow<'_, str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        // (pattern, include_subdomains, host, expected)
        let rows: &[(&str, bool, &str, bool)] = &[
            ("api.example.com", false, "api.example.com", true),
            ("api.example.com", false, "x.api.example.com", false),
            ("api.example.com", false, "example.com", false),
            ("API.Example.COM.", false, "api.example.com", true),
            ("*.example.com", false, "a.example.com", true),
            ("*.example.com", false, "example.com", false),
            ("*.example.com", false, "a.b.example.com", false),
            ("*.example.com", false, "aexample.com", false),
            ("**.example.com", false, "example.com", true),
            ("**.example.com", false, "a.example.com", true),
            ("**.example.com", false, "a.b.c.example.com", true),
            ("**.example.com", false, "badexample.com", false),
            ("**.example.com", false, "example.com.evil.net", false),
            ("example.com", true, "example.com", true),
            ("example.com", true, "deep.sub.example.com", true),
            ("example.com", true, "notexample.com", false),
            ("127.0.0.1", false, "127.0.0.1", true),
            ("::1", false, "::1", true),
            ("[::1]", false, "::1", true),
        ];
        for (pattern, subs, host, expected) in rows {
            let p = HostPattern::parse(pattern, *subs).unwrap();
            assert_eq!(p.matches(host), *expected, "{pattern} {subs} {host}");
        }
    }

    #[test]
    fn refusals_table() {
        // (pattern, include_subdomains, words the message must contain)
        let rows: &[(&str, bool, &str)] = &[
            ("", false, "empty"),
            ("*.com", false, "public suffix"),
            ("**.co.uk", false, "public suffix"),
            ("co.uk", true, "public suffix"),
            ("**.github.io", false, "public suffix"),
            ("**.unknowntld", false, "public suffix"),
            ("a.*.example.com", false, "leftmost"),
            ("*example.com", false, "leftmost"),
            ("***.example.com", false, "leftmost"),
            ("exa mple.com", false, "not a valid"),
            ("-bad-.example.com", false, "not a valid"),
            ("*.example.com", true, "exactly one label"),
            ("10.0.0.1", true, "IP address"),
        ];
        for (pattern, subs, words) in rows {
            let e = HostPattern::parse(pattern, *subs).unwrap_err();
            assert!(e.to_string().contains(words), "{pattern}: {e}");
        }
    }

    #[test]
    fn exact_names_on_public_suffixes_are_allowed() {
        // Pinning one host that happens to be a suffix is odd but harmless: it covers one name.
        assert!(HostPattern::parse("github.io", false).is_ok());
        assert!(HostPattern::parse("**.example.co.uk", false).is_ok());
    }

    #[test]
    fn display_round_trips() {
        for p in [
            "api.example.com",
            "*.example.com",
            "**.example.com",
            "127.0.0.1",
        ] {
            assert_eq!(HostPattern::parse(p, false).unwrap().to_string(), p);
        }
        assert_eq!(
            HostPattern::parse("example.com", true).unwrap().to_string(),
            "**.example.com"
        );
    }
}
