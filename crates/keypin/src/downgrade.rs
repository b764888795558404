//! Downgrade protection for HTTP clients: a host that has a pin rule is only ever contacted
//! over `https://`. A `http://` URL for it, and a redirect from https to `http://` (SSL
//! stripping), are refused with a [`DowngradeError`]. The HTTP integrations
//! (`keypin::integrations`) apply these checks; other HTTP clients can call them too.

use std::error::Error as StdError;

use crate::Policy;
pub use crate::error::DowngradeError;
use crate::host::normalize;
use crate::verify::{PinFailure, VerifyError};

fn rule_location(policy: &Policy, host: &str) -> Option<String> {
    policy
        .rule_for(host)
        .map(|r| format!("rule at {}:{}", policy.source_name(), r.line()))
}

/// Checks a request URL: any scheme but `https` to a pinned host is refused. `url` is only
/// used in the message.
pub fn check_request(
    policy: &Policy,
    scheme: &str,
    host: &str,
    url: &str,
) -> Result<(), DowngradeError> {
    if scheme.eq_ignore_ascii_case("https") {
        return Ok(());
    }
    let host = normalize(host);
    match rule_location(policy, &host) {
        Some(rule_location) => Err(DowngradeError {
            url: url.to_string(),
            pinned_host: host.into_owned(),
            redirected_from: None,
            rule_location,
        }),
        None => Ok(()),
    }
}

/// [`check_redirect`] for a redirect between two parsed URLs (the HTTP integrations).
#[cfg(any(feature = "reqwest", feature = "ureq"))]
pub(crate) fn check_redirect_url(
    policy: &Policy,
    from: &url::Url,
    to: &url::Url,
) -> Result<(), DowngradeError> {
    check_redirect(
        policy,
        from.scheme(),
        from.host_str().unwrap_or(""),
        from.as_str(),
        to.scheme(),
        to.host_str().unwrap_or(""),
        to.as_str(),
    )
}

/// Checks a redirect from `from_host` (reached over `from_scheme`) to a URL with `scheme` and
/// `host`: refused when the target is not https and either end is pinned (a pinned host may
/// not be reached in cleartext, and may not send its client to cleartext anywhere).
pub fn check_redirect(
    policy: &Policy,
    from_scheme: &str,
    from_host: &str,
    from_url: &str,
    scheme: &str,
    host: &str,
    url: &str,
) -> Result<(), DowngradeError> {
    if scheme.eq_ignore_ascii_case("https") {
        return Ok(());
    }
    let (host, from_host) = (normalize(host), normalize(from_host));
    let pinned = rule_location(policy, &host).map(|l| (host, l)).or_else(|| {
        // A pinned origin (reached over https) sending its client to cleartext.
        from_scheme
            .eq_ignore_ascii_case("https")
            .then(|| rule_location(policy, &from_host).map(|l| (from_host, l)))
            .flatten()
    });
    match pinned {
        Some((pinned_host, rule_location)) => Err(DowngradeError {
            url: url.to_string(),
            pinned_host: pinned_host.into_owned(),
            redirected_from: Some(from_url.to_string()),
            rule_location,
        }),
        None => Ok(()),
    }
}

/// Walks an error and its sources, looking inside `std::io::Error` and `rustls::Error` too
/// (their `source()` skips what they wrap), and returns the first `T`.
fn find<'a, T: StdError + 'static>(
    error: &'a (dyn StdError + 'static),
    inside_rustls: &dyn Fn(&'a rustls::Error) -> Option<&'a T>,
) -> Option<&'a T> {
    let mut current = Some(error);
    let mut depth = 0;
    while let Some(e) = current {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        if let Some(r) = e.downcast_ref::<rustls::Error>()
            && let Some(t) = inside_rustls(r)
        {
            return Some(t);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && depth < 16
        {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(t) = find(inner, inside_rustls) {
                return Some(t);
            }
        }
        depth += 1;
        if depth > 32 {
            return None;
        }
        current = e.source();
    }
    None
}

/// The pin failure behind an error of any HTTP client built on keypin's config (reqwest,
/// hyper, tokio-rustls, ureq, ...), found anywhere in its chain of sources.
pub fn pin_failure_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a PinFailure> {
    find(error, &VerifyError::pin_failure_of)
}

/// The downgrade refusal behind an error of a keypin HTTP integration.
pub fn downgrade_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a DowngradeError> {
    find(error, &|_| None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const P1: &str = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
    const P2: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

    fn policy() -> Policy {
        Policy::from_toml_str(
            &format!(
                "[[rule]]\nhosts = [\"api.example.com\", \"**.pinned.example\", \"10.0.0.1\", \"::1\"]\npins = [\"{P1}\", \"{P2}\"]\n"
            ),
            "p.toml",
        )
        .unwrap()
    }

    /// (scheme, host, refused)
    #[test]
    fn requests() {
        let p = policy();
        let rows = [
            ("https", "api.example.com", false),
            ("HTTPS", "api.example.com", false),
            ("http", "api.example.com", true),
            ("http", "API.Example.COM.", true),
            ("ws", "api.example.com", true),
            ("http", "a.b.pinned.example", true),
            ("http", "10.0.0.1", true),
            ("http", "[::1]", true),
            // The IPv4-mapped spelling of a pinned IPv4 address is the same host.
            ("http", "[::ffff:10.0.0.1]", true),
            ("http", "::ffff:10.0.0.1", true),
            ("http", "[::ffff:a00:1]", true),
            ("http", "[::ffff:10.0.0.2]", false),
            ("http", "other.example.com", false),
            ("http", "example.com", false),
        ];
        for (scheme, host, refused) in rows {
            let r = check_request(&p, scheme, host, &format!("{scheme}://{host}/"));
            assert_eq!(r.is_err(), refused, "{scheme}://{host}");
            if let Err(e) = r {
                assert!(e.to_string().contains("p.toml:1"), "{e}");
            }
        }
    }

    /// (from scheme, from host, to scheme, to host, refused)
    #[test]
    fn redirects() {
        let p = policy();
        let rows = [
            ("https", "api.example.com", "http", "api.example.com", true),
            ("https", "api.example.com", "http", "elsewhere.org", true),
            ("http", "elsewhere.org", "http", "api.example.com", true),
            ("https", "api.example.com", "https", "elsewhere.org", false),
            ("https", "elsewhere.org", "http", "other.org", false),
            ("http", "elsewhere.org", "https", "api.example.com", false),
            ("https", "[::ffff:10.0.0.1]", "http", "elsewhere.org", true),
            ("https", "elsewhere.org", "http", "[::ffff:10.0.0.1]", true),
            ("https", "10.0.0.1", "http", "[::ffff:10.0.0.1]", true),
        ];
        for (fs, fh, ts, th, refused) in rows {
            let r = check_redirect(&p, fs, fh, "from", ts, th, "to");
            assert_eq!(r.is_err(), refused, "{fs}://{fh} -> {ts}://{th}");
            if let Err(e) = r {
                assert!(e.to_string().contains("SSL stripping"), "{e}");
            }
        }
    }

    #[test]
    fn found_through_io_errors() {
        let e = check_request(
            &policy(),
            "http",
            "api.example.com",
            "http://api.example.com/",
        )
        .unwrap_err();
        let io = std::io::Error::other(e.clone());
        let outer: Box<dyn StdError + 'static> = Box::new(io);
        assert_eq!(downgrade_in(outer.as_ref()), Some(&e));
        assert!(pin_failure_in(outer.as_ref()).is_none());
    }
}
