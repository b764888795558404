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
//!
//! One trailing dot is accepted and dropped; any other empty label is refused. An
//! IPv4-mapped IPv6 address (`::ffff:192.0.2.7`) is the IPv4 address, in patterns and in the
//! server names looked up (`normalize` is the one place both go through).

use core::fmt;
use std::borrow::Cow;
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
    /// Refused: empty or invalid names, empty labels (`a..b`, `.a`, `a..`; one trailing dot is
    /// the DNS root and is dropped), asterisks anywhere but a whole leftmost `*` or `**`
    /// label, wildcards or subdomain rules on a public suffix (`*.com`, `**.co.uk`,
    /// `**.github.io`), `include_subdomains` on a one-label wildcard or an IP address.
    pub fn parse(text: &str, include_subdomains: bool) -> Result<Self, HostPatternError> {
        Self::parse_with(text, include_subdomains, false)
    }

    /// [`HostPattern::parse`], except that with `public_suffix_covers_others` a wildcard or
    /// subdomain pattern on a public suffix loads (a rule's `public_suffix_covers_others =
    /// true`: the owner of a private-section suffix, or Chromium's pins for a whole gTLD).
    pub fn parse_with(
        text: &str,
        include_subdomains: bool,
        public_suffix_covers_others: bool,
    ) -> Result<Self, HostPatternError> {
        let err = |message: String, hint: Option<&str>| HostPatternError {
            message,
            hint: hint.map(str::to_string),
        };
        if text.trim().is_empty() {
            return Err(err("empty host pattern".into(), None));
        }
        let name = normalize(text.trim());
        if let Ok(ip) = name.parse::<IpAddr>() {
            if include_subdomains {
                return Err(err(
                    format!("include_subdomains makes no sense for the IP address {text:?}"),
                    Some("remove include_subdomains or use a DNS name"),
                ));
            }
            return Ok(Self::Exact(ip.to_string().into()));
        }
        // Only the one trailing dot (the DNS root) was removed: an empty label left anywhere
        // (`api.example.com..`, `a..b`, `.a`) would never equal a server name, leaving the
        // host silently unpinned.
        if name.split('.').any(str::is_empty) {
            return Err(err(
                format!("{text:?} has an empty label, so it would never match a server"),
                Some(
                    "separate labels with single dots and end with at most one, like api.example.com",
                ),
            ));
        }
        let (kind, base) = if let Some(base) = name.strip_prefix("**.") {
            (Kind::AnyDepth, base)
        } else if let Some(base) = name.strip_prefix("*.") {
            (Kind::OneLabel, base)
        } else {
            (Kind::Exact, &*name)
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
        if kind != Kind::Exact && !public_suffix_covers_others && is_public_suffix(base) {
            return Err(err(
                format!(
                    "{text:?} would pin every site under the public suffix {base:?}, which no single party controls"
                ),
                Some(
                    "pin your own registrable domain, like **.example.co.uk; or, if this rule \
                     must cover every site under the suffix (you run the suffix, or copy \
                     Chromium's pins for a whole TLD), set public_suffix_covers_others = true",
                ),
            ));
        }
        let base: Box<str> = base.into();
        Ok(match kind {
            Kind::Exact => Self::Exact(base),
            Kind::OneLabel => Self::OneLabel(base),
            Kind::AnyDepth => Self::AnyDepth(base),
        })
    }

    /// Does this pattern reach names under a public suffix (a wildcard or subdomain pattern
    /// whose base is a public suffix), so that it covers sites other parties own? Such a
    /// pattern loads only in a rule with `public_suffix_covers_others = true`.
    pub fn spans_public_suffix(&self) -> bool {
        match self {
            Self::Exact(_) => false,
            Self::OneLabel(b) | Self::AnyDepth(b) => is_public_suffix(b),
        }
    }

    /// The name part of the pattern, without wildcard.
    pub fn base(&self) -> &str {
        match self {
            Self::Exact(b) | Self::OneLabel(b) | Self::AnyDepth(b) => b,
        }
    }

    /// Does this pattern cover `host` (already normalised: lowercase, without trailing dot,
    /// IPv4-mapped addresses as IPv4)?
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

/// The one spelling of a host, for rule patterns and server names alike: without the one
/// trailing dot (the DNS root) and IPv6 brackets, lowercase, and an IPv4-mapped IPv6 address
/// (`::ffff:10.0.0.1`) written as the IPv4 address it is, so that no second spelling of a
/// pinned address goes unmatched. Borrows when it can (every DNS name in a handshake).
pub(crate) fn normalize(host: &str) -> Cow<'_, str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    // An IP literal: bracketed (as in URLs), or holding a colon (no DNS name does).
    let literal = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => Some(inner),
        None => host.contains(':').then_some(host),
    };
    if let Some(ip) = literal.and_then(|l| l.parse::<IpAddr>().ok()) {
        return Cow::Owned(ip.to_canonical().to_string());
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
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
            // An IPv4-mapped IPv6 literal is the IPv4 address, whichever side spells it so.
            ("::ffff:10.0.0.1", false, "10.0.0.1", true),
            ("[::ffff:10.0.0.1]", false, "10.0.0.1", true),
            ("10.0.0.1", false, "::ffff:10.0.0.1", true),
            ("10.0.0.1", false, "[::ffff:10.0.0.1]", true),
            ("10.0.0.1", false, "::ffff:10.0.0.2", false),
            // IPv4-compatible (deprecated, not mapped) stays IPv6.
            ("10.0.0.1", false, "::10.0.0.1", false),
        ];
        for (pattern, subs, host, expected) in rows {
            let p = HostPattern::parse(pattern, *subs).unwrap();
            assert_eq!(
                p.matches(&normalize(host)),
                *expected,
                "{pattern} {subs} {host}"
            );
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
            ("[api.example.com]", false, "not a valid"),
            ("*.example.com", true, "exactly one label"),
            ("10.0.0.1", true, "IP address"),
            // One trailing dot is the root; any other empty label would never match a server.
            ("api.example.com..", false, "empty label"),
            ("api.example.com...", false, "empty label"),
            ("a..b.example.com", false, "empty label"),
            (".api.example.com", false, "empty label"),
            ("*..example.com", false, "empty label"),
            ("**.example.com..", false, "empty label"),
            ("example.com..", true, "empty label"),
            (".", false, "empty label"),
            ("..", false, "empty label"),
        ];
        for (pattern, subs, words) in rows {
            let e = HostPattern::parse(pattern, *subs).unwrap_err();
            assert!(e.to_string().contains(words), "{pattern}: {e}");
        }
    }

    /// (written, stored): the one spelling a pattern is kept, matched and exported in.
    #[test]
    fn canonical_spellings() {
        let rows = [
            ("api.example.com.", "api.example.com"),
            ("API.Example.COM.", "api.example.com"),
            ("*.example.com.", "*.example.com"),
            ("**.example.com.", "**.example.com"),
            ("::ffff:10.0.0.1", "10.0.0.1"),
            ("[::FFFF:10.0.0.1]", "10.0.0.1"),
            ("::ffff:a00:1", "10.0.0.1"),
            ("[::1]", "::1"),
            ("[10.0.0.1]", "10.0.0.1"),
            ("::10.0.0.1", "::a00:1"),
        ];
        for (written, stored) in rows {
            let p = HostPattern::parse(written, false).unwrap();
            assert_eq!(p.to_string(), stored, "{written}");
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
