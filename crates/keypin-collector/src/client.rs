//! Who a request is from: the client address (through a trusted proxy's `X-Forwarded-For`
//! only), and the key that rate limits, login throttling and the per-address connection cap
//! count it under (an IPv6 client's /64, since one subscriber usually holds a whole /64).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use axum::http::HeaderMap;

use crate::error::ConfigError;

/// Most `X-Forwarded-For` entries looked at, right to left (a chain of proxies is short; a
/// longer header is someone padding it).
const MAX_FORWARDED_HOPS: usize = 32;

/// An address range, `ADDR/PREFIX` or a bare address (one host), as `--trust-proxy` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the range. An IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(n.to_bits()),
                u128::from(a.to_bits()),
                self.prefix,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(n.to_bits(), a.to_bits(), self.prefix, 128),
            _ => false,
        }
    }
}

fn prefix_eq(net: u128, addr: u128, prefix: u8, width: u8) -> bool {
    let shift = u32::from(width - prefix.min(width));
    net.checked_shr(shift).unwrap_or(0) == addr.checked_shr(shift).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::Cidr {
            value: s.chars().take(64).collect(),
            why: why.to_string(),
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| bad("not an IPv4 or IPv6 address"))?,
        );
        let width = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| bad(&format!("the prefix length must be 0 to {width}")))?,
        };
        let cidr = Self { net, prefix };
        // A range written with host bits set (10.1.2.3/8) is most likely a typo for a
        // narrower one: refuse it rather than trust more than was meant.
        if mask(net, prefix) != net {
            return Err(bad(
                "host bits are set below the prefix; write the network address",
            ));
        }
        Ok(cidr)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((a.to_bits() & m).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an
/// IPv4 client) as the IPv4 address it is.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What per-client limits count under: an IPv4 address, or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    /// One IPv4 address (IPv4-mapped IPv6 included).
    V4(Ipv4Addr),
    /// The upper 64 bits of an IPv6 address.
    V6Net(u64),
}

impl ClientKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(a) => Self::V4(a),
            IpAddr::V6(a) => Self::V6Net((a.to_bits() >> 64) as u64),
        }
    }
}

/// The client a request is from, set on every request by the accept loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client {
    /// The client's address: the peer, or from a trusted proxy the forwarded address.
    pub(crate) ip: IpAddr,
    /// Whether the browser reached us over TLS (ours, or a trusted proxy's).
    pub(crate) transport: Transport,
}

/// How the client's connection reached the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Plain HTTP all the way.
    Plain,
    /// TLS: ours, or a trusted proxy that says `X-Forwarded-Proto: https`.
    Tls,
}

/// The client behind a request that arrived from `peer` on a connection using `ours`.
///
/// 1. A peer outside the trusted ranges is the client; its forwarding headers are ignored
///    (anyone can write them).
/// 2. From a trusted proxy, `X-Forwarded-For` is read right to left (each proxy appends the
///    address it saw): the first address not in a trusted range is the client. Entries left
///    of it were written by the client itself and are never believed.
/// 3. A missing, malformed or over-long header leaves the last trusted hop as the client:
///    limits then fall on the proxy, never on an address a client chose.
pub(crate) fn client_of(
    peer: IpAddr,
    ours: Transport,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> Client {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let peer = canonical(peer);
    // 1.
    if !is_trusted(peer) {
        return Client {
            ip: peer,
            transport: ours,
        };
    }
    // 2. and 3.
    // Right to left without expanding the whole header: the last header line first, each
    // line split from its end, and no more than MAX_FORWARDED_HOPS entries looked at.
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let entries = lines
        .iter()
        .rev()
        .flat_map(|v| v.rsplit(','))
        .take(MAX_FORWARDED_HOPS);
    let mut current = peer;
    for entry in entries {
        if !is_trusted(current) {
            break;
        }
        match parse_hop(entry.trim()) {
            Some(ip) => current = ip,
            None => break,
        }
    }
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let transport =
        if ours == Transport::Tls || proto.is_some_and(|p| p.eq_ignore_ascii_case("https")) {
            Transport::Tls
        } else {
            Transport::Plain
        };
    Client {
        ip: current,
        transport,
    }
}

/// An `X-Forwarded-For` entry: an address, or an address with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), as proxies write them.
fn parse_hop(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test rows are literals
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_matching() {
        let rows: &[(&str, &str, Option<bool>)] = &[
            ("10.0.0.0/8", "10.200.1.1", Some(true)),
            ("10.0.0.0/8", "11.0.0.1", Some(false)),
            ("10.0.0.0/8", "::ffff:10.0.0.1", Some(true)),
            ("192.0.2.7", "192.0.2.7", Some(true)),
            ("192.0.2.7", "192.0.2.8", Some(false)),
            ("0.0.0.0/0", "203.0.113.1", Some(true)),
            ("0.0.0.0/0", "2001:db8::1", Some(false)),
            ("2001:db8::/32", "2001:db8:ffff::1", Some(true)),
            ("2001:db8::/32", "2001:db9::1", Some(false)),
            ("::1", "::1", Some(true)),
            ("::/0", "2001:db8::1", Some(true)),
            ("10.1.2.3/8", "10.1.2.3", None),
            ("10.0.0.0/33", "10.0.0.1", None),
            ("2001:db8::/129", "2001:db8::1", None),
            ("example.com/8", "10.0.0.1", None),
            ("10.0.0.0/x", "10.0.0.1", None),
        ];
        for (cidr, ip, want) in rows {
            let got = cidr
                .parse::<Cidr>()
                .ok()
                .map(|c| c.contains(ip.parse().unwrap()));
            assert_eq!(got, *want, "{cidr} contains {ip}");
        }
    }

    #[test]
    fn client_keys_group_ipv6_by_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| ClientKey::of(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn forwarded_for_is_read_right_to_left_from_trusted_proxies_only() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let rows: &[(&str, &[&str], &str)] = &[
            // Not from a trusted proxy: the header is ignored.
            ("203.0.113.5", &["198.51.100.1"], "203.0.113.5"),
            // From the proxy: the address it appended.
            ("10.0.0.1", &["198.51.100.1"], "198.51.100.1"),
            // The client prepends a fake: the right-most untrusted one wins.
            ("10.0.0.1", &["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
            ("10.0.0.1", &["1.2.3.4", "198.51.100.1"], "198.51.100.1"),
            // Two trusted proxies in a row.
            ("10.0.0.1", &["198.51.100.1, 10.9.9.9"], "198.51.100.1"),
            // Ports and brackets as proxies write them.
            ("10.0.0.1", &["[2001:db8::7]:443"], "2001:db8::7"),
            ("10.0.0.1", &["198.51.100.1:4711"], "198.51.100.1"),
            // Missing or garbage: the proxy itself.
            ("10.0.0.1", &[], "10.0.0.1"),
            ("10.0.0.1", &["1.2.3.4, nonsense"], "10.0.0.1"),
            (
                "10.0.0.1",
                &["198.51.100.1, 10.9.9.9, nonsense"],
                "10.0.0.1",
            ),
        ];
        for (peer, values, want) in rows {
            let mut headers = HeaderMap::new();
            for v in *values {
                headers.append("x-forwarded-for", v.parse().unwrap());
            }
            let got = client_of(peer.parse().unwrap(), Transport::Plain, &headers, &trusted);
            assert_eq!(got.ip, want.parse::<IpAddr>().unwrap(), "{peer} {values:?}");
        }
    }
}
