//! The verification cache: a [`crate::verify::PinningVerifier`] remembers the chains it accepted, so a
//! repeat full handshake to the same server skips path building (Chromium keeps such a cache
//! too). A pinned app opens many full handshakes to the same few servers: connection pools,
//! servers without resumption, many processes of one service.
//!
//! What makes a hit give the answer a full verification would give at that moment:
//!
//! - **The key is every input of the decision**, compared whole: the verifier instance (each
//!   generation of the live policy builds its own verifier, so the cache lives in one
//!   generation and an entry of an older generation is never seen by a newer one; the
//!   instance number keeps that true even if a cache were ever shared), the server name, the
//!   end-entity certificate and each intermediate exactly as presented, and the stapled OCSP
//!   response (empty when none). SCTs are inside the leaf or the staple, so they are covered
//!   by those bytes; the policy, roots and CT log list are the verifier's own and never
//!   change. An entry keeps these bytes (length-prefixed) and a hit compares them all; the
//!   map's hash (SipHash with a random key) reads only each input's length and last 32 bytes,
//!   the tail of a signature, so a handshake hashes about 200 bytes instead of the whole
//!   chain (a SHA-256 of the chain cost 10 % of an RSA-2048 verification: BENCHMARKS §16).
//!   Inputs that share a hash are told apart by the comparison: a miss, never a wrong hit.
//! - **Only clean acceptances are stored**: no rule (plain validation passed), or a pin
//!   matched under a rule that has not expired. Refusals are never stored; neither is a
//!   report-only mismatch or a match after the rule expired, since those emit an event
//!   (report, expiry note) on every handshake, which a hit would swallow. A clean acceptance
//!   emits nothing, so a hit emits nothing either.
//! - **An entry lives no longer than the decision holds**, the earliest of: the next time a
//!   presented certificate (or a responder certificate inside the staple) becomes valid or
//!   expires (notBefore / notAfter); the end of the rule's `expires` day (after it the
//!   decision changes: report-only, an expiry note; until some rule has expired, the first
//!   such end among all rules is used, so no rule lookup is made); when a staple was presented, the first
//!   `thisUpdate - skew` still ahead and the first `nextUpdate` (or `thisUpdate` + 24 h
//!   without one); when a rule requires SCTs, the next state change (`since`) of a log in the
//!   list; and the TTL. A certificate whose dates cannot be read means no entry. A clock
//!   that goes back before an entry was made misses.
//! - **Bounded**: at most `capacity` entries (default 256; an entry holds its inputs, a few
//!   KB); when full, expired entries go first, then the oldest. The lock is taken for the lookup and for the insert only, never across a
//!   verification.
//!
//! Only [`rustls::client::danger::ServerCertVerifier::verify_server_cert`] uses the cache (the
//! handshake path); `verify_chain` and the tools always verify in full. The handshake's
//! signature (the server proving it holds the key) is checked on every handshake, cached or
//! not.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::Policy;
use crate::clock::{Date, date_start_secs};
use crate::verify::Verdict;

/// The default time to live of an entry: 5 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// The default number of entries.
pub const DEFAULT_CAPACITY: usize = 256;

/// How many trailing bytes of each input the map's hash reads (see [`CacheKey`]).
const HASHED_TAIL: usize = 32;

/// Numbers verifier instances, so that no two caches ever share a key.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// Counters of a verifier's cache ([`crate::verify::PinningVerifier::verification_cache_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Handshakes answered from the cache.
    pub hits: u64,
    /// Handshakes verified in full (nothing cached, or the entry had expired).
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
}

/// The server name as bytes: a DNS name as given, an IP address as its octets.
enum NameBytes<'a> {
    Dns(&'a [u8]),
    Ip([u8; 16], usize),
}

impl NameBytes<'_> {
    fn tag_and_bytes(&self) -> (&'static [u8], &[u8]) {
        match self {
            Self::Dns(d) => (b"dns", d),
            Self::Ip(octets, len) => (b"ip", &octets[..*len]),
        }
    }
}

/// Every input of one decision (see the module docs), borrowed from the handshake, and the
/// map's hash of them. The hash reads each input's length and last [`HASHED_TAIL`] bytes
/// (for a certificate or a staple, the tail of its signature: where two signed objects
/// differ); equality is decided by the whole bytes, compared on every hit, so two inputs that
/// share a hash cost a miss, never a wrong answer.
pub(crate) struct CacheKey<'a> {
    instance: [u8; 8],
    name: NameBytes<'a>,
    end_entity: &'a [u8],
    intermediates: &'a [CertificateDer<'a>],
    count: [u8; 8],
    ocsp_response: &'a [u8],
    hash: u64,
}

impl CacheKey<'_> {
    /// Calls `f` with each input in order (the intermediates' count before them).
    fn each(&self, mut f: impl FnMut(&[u8])) {
        let (tag, name) = self.name.tag_and_bytes();
        f(&self.instance);
        f(tag);
        f(name);
        f(self.end_entity);
        f(&self.count);
        for cert in self.intermediates {
            f(cert.as_ref());
        }
        f(self.ocsp_response);
    }

    /// The inputs, each as a 4-byte length and its bytes: what an entry keeps.
    fn encode(&self) -> Box<[u8]> {
        let chain: usize = self.intermediates.iter().map(|c| c.as_ref().len()).sum();
        let len = 4 * 8 + 32 + self.end_entity.len() + chain + self.intermediates.len() * 4;
        let mut out = Vec::with_capacity(len + self.ocsp_response.len());
        self.each(|field| {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        });
        out.into_boxed_slice()
    }

    /// Whether `stored` (from [`Self::encode`]) holds exactly these inputs.
    fn is(&self, stored: &[u8]) -> bool {
        let mut rest = stored;
        let mut same = true;
        self.each(|field| {
            same = same
                && rest.len() >= 4 + field.len()
                && rest[..4] == (field.len() as u32).to_be_bytes()
                && rest[4..4 + field.len()] == *field;
            if same {
                rest = &rest[4 + field.len()..];
            }
        });
        same && rest.is_empty()
    }
}

struct Entry {
    /// The inputs, whole ([`CacheKey::encode`]).
    inputs: Box<[u8]>,
    /// The time the decision was made (Unix seconds): a clock before it misses.
    from: u64,
    /// The first second at which the entry no longer answers.
    until: u64,
    seq: u64,
}

/// The map's keys are already SipHash values: used as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Slots {
    map: HashMap<u64, Entry, BuildHasherDefault<Prehashed>>,
    /// Hashes in insertion order with their sequence number (stale pairs are skipped).
    order: VecDeque<(u64, u64)>,
    seq: u64,
}

/// See the module documentation.
pub(crate) struct VerifyCache {
    instance: u64,
    /// The end of every rule's `expires` day, sorted: a clean acceptance under a rule ends at
    /// the first one still ahead, with no rule lookup; once one has passed, the matched rule
    /// is looked up.
    rule_ends: Vec<u64>,
    /// Whether any rule requires SCTs (then CT log state changes end entries too).
    any_sct: bool,
    hasher: RandomState,
    ttl_secs: u64,
    capacity: usize,
    slots: Mutex<Slots>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl VerifyCache {
    /// A cache for a verifier of `policy`, or `None` when `ttl` is under a second or
    /// `capacity` is 0 (off).
    pub(crate) fn new(ttl: Duration, capacity: usize, policy: &Policy) -> Option<Self> {
        if ttl.as_secs() == 0 || capacity == 0 {
            return None;
        }
        let mut rule_ends: Vec<u64> = policy
            .rules()
            .iter()
            .filter_map(|r| r.expires().map(end_of_day))
            .collect();
        rule_ends.sort_unstable();
        rule_ends.dedup();
        Some(Self {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            rule_ends,
            any_sct: policy.rules().iter().any(|r| r.require_sct().is_some()),
            hasher: RandomState::new(),
            ttl_secs: ttl.as_secs(),
            capacity,
            slots: Mutex::new(Slots::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The key of one handshake's inputs; `None` for a kind of server name it does not know
    /// (never cached).
    pub(crate) fn key<'a>(
        &self,
        end_entity: &'a CertificateDer<'a>,
        intermediates: &'a [CertificateDer<'a>],
        server_name: &'a ServerName<'a>,
        ocsp_response: &'a [u8],
    ) -> Option<CacheKey<'a>> {
        let name = match server_name {
            ServerName::DnsName(d) => NameBytes::Dns(d.as_ref().as_bytes()),
            ServerName::IpAddress(ip) => match std::net::IpAddr::from(*ip) {
                std::net::IpAddr::V4(v4) => {
                    let mut octets = [0; 16];
                    octets[..4].copy_from_slice(&v4.octets());
                    NameBytes::Ip(octets, 4)
                }
                std::net::IpAddr::V6(v6) => NameBytes::Ip(v6.octets(), 16),
            },
            _ => return None,
        };
        let mut key = CacheKey {
            instance: self.instance.to_be_bytes(),
            name,
            end_entity: end_entity.as_ref(),
            intermediates,
            count: (intermediates.len() as u64).to_be_bytes(),
            ocsp_response,
            hash: 0,
        };
        // Each input's length and tail, gathered so that SipHash is fed in one or two writes.
        let mut h = self.hasher.build_hasher();
        let mut buf = [0u8; 8 * (4 + HASHED_TAIL)];
        let mut at = 0;
        key.each(|field| {
            let tail = &field[field.len().saturating_sub(HASHED_TAIL)..];
            if at + 4 + tail.len() > buf.len() {
                h.write(&buf[..at]);
                at = 0;
            }
            buf[at..at + 4].copy_from_slice(&(field.len() as u32).to_le_bytes());
            buf[at + 4..at + 4 + tail.len()].copy_from_slice(tail);
            at += 4 + tail.len();
        });
        h.write(&buf[..at]);
        key.hash = h.finish();
        Some(key)
    }

    /// Whether a live entry for exactly these inputs accepts at `now`.
    pub(crate) fn hit(&self, key: &CacheKey<'_>, now: UnixTime) -> bool {
        let now = now.as_secs();
        let hit = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.map.get(&key.hash) {
                Some(e) if e.from <= now && now < e.until && key.is(&e.inputs) => true,
                // Expired, from a clock now set back, or other inputs under the same hash.
                Some(_) => {
                    slots.map.remove(&key.hash);
                    false
                }
                None => false,
            }
        };
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Remembers a clean acceptance made at `now`, until `until` (capped by the TTL).
    fn insert(&self, key: &CacheKey<'_>, now: UnixTime, until: u64) {
        let now = now.as_secs();
        let until = until.min(now.saturating_add(self.ttl_secs));
        if until <= now {
            return;
        }
        let inputs = key.encode();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if !slots.map.contains_key(&key.hash) && slots.map.len() >= self.capacity {
            slots.map.retain(|_, e| e.from <= now && now < e.until);
            while slots.map.len() >= self.capacity {
                let Some((old, seq)) = slots.order.pop_front() else {
                    break;
                };
                if slots.map.get(&old).is_some_and(|e| e.seq == seq) {
                    slots.map.remove(&old);
                }
            }
        }
        slots.seq = slots.seq.wrapping_add(1);
        let seq = slots.seq;
        let entry = Entry {
            inputs,
            from: now,
            until,
            seq,
        };
        slots.map.insert(key.hash, entry);
        slots.order.push_back((key.hash, seq));
        // Stale pairs (replaced or removed entries) are dropped once they pile up.
        if slots.order.len() > 2 * self.capacity + 16 {
            let Slots { map, order, .. } = &mut *slots;
            order.retain(|(k, s)| map.get(k).is_some_and(|e| e.seq == *s));
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> CacheStats {
        let entries = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
        }
    }
}

/// The inputs of an acceptance that bound how long it holds.
pub(crate) struct Decision<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) server_name: &'a ServerName<'a>,
    pub(crate) end_entity: &'a CertificateDer<'a>,
    pub(crate) intermediates: &'a [CertificateDer<'a>],
    pub(crate) ocsp_response: &'a [u8],
    #[cfg(feature = "ct")]
    pub(crate) ct_logs: Option<&'a crate::ct::LogList>,
    pub(crate) now: UnixTime,
}

impl VerifyCache {
    /// Stores the acceptance `verdict` under `key` when it is a clean one, for as long as it
    /// holds (see the module docs).
    pub(crate) fn remember(&self, key: &CacheKey<'_>, verdict: &Verdict, decision: &Decision<'_>) {
        let pinned = match verdict {
            Verdict::NotPinned => false,
            Verdict::Matched(_) => true,
            // A report-only mismatch reports on every handshake: never cached.
            _ => return,
        };
        let rule_end = if pinned {
            match self.rule_end(decision) {
                Some(end) => end,
                None => return,
            }
        } else {
            u64::MAX
        };
        if let Some(until) = decision.until(pinned && self.any_sct) {
            self.insert(key, decision.now, until.min(rule_end));
        }
    }

    /// When the matched rule's pins stop deciding as they did: the first end of an `expires`
    /// day still ahead among all rules (early for other rules' hosts, which only costs a
    /// miss). Once some rule has expired, the matched rule itself is looked up. `None`: it
    /// has expired (its acceptances emit an expiry note), or it cannot be found.
    fn rule_end(&self, decision: &Decision<'_>) -> Option<u64> {
        let now = decision.now.as_secs();
        match self.rule_ends.first() {
            None => return Some(u64::MAX),
            Some(first) if *first > now => return Some(*first),
            Some(_) => {}
        }
        let ip;
        let host = match decision.server_name {
            ServerName::DnsName(d) => d.as_ref(),
            ServerName::IpAddress(addr) => {
                ip = std::net::IpAddr::from(*addr).to_string();
                &ip
            }
            _ => return None,
        };
        match decision.policy.rule_for(host)?.expires().map(end_of_day) {
            None => Some(u64::MAX),
            Some(end) => (end > now).then_some(end),
        }
    }
}

impl Decision<'_> {
    /// The first second (Unix) at which the certificates, the staple or (`ct`: the rule
    /// requires SCTs) a CT log's state may change the decision; `None`: do not cache (a date
    /// could not be read).
    fn until(&self, ct: bool) -> Option<u64> {
        let now = self.now.as_secs();
        let mut until = u64::MAX;
        let mut bound = |at: u64| {
            if at > now {
                until = until.min(at);
            }
        };
        for cert in core::iter::once(self.end_entity).chain(self.intermediates) {
            validity_bounds(cert.as_ref(), &mut bound)?;
        }
        #[cfg(feature = "ct")]
        if let (true, Some(logs)) = (ct, self.ct_logs) {
            for log in logs.logs() {
                if let Some(state) = log.state {
                    bound(u64::try_from(state.since).unwrap_or(0));
                }
            }
        }
        #[cfg(not(feature = "ct"))]
        let _ = ct;
        #[cfg(feature = "ocsp")]
        if !self.ocsp_response.is_empty() {
            staple_bounds(self.ocsp_response, &mut bound)?;
        }
        #[cfg(not(feature = "ocsp"))]
        let _ = self.ocsp_response; // cannot be validated, so no time in it counts
        Some(until)
    }
}

/// The first second after a rule's `expires` day (when `Rule::is_expired` turns true).
fn end_of_day(expires: Date) -> u64 {
    u64::try_from(expires.start_secs().saturating_add(86_400)).unwrap_or(0)
}

/// The times at which a stapled response's verdict may change: its `SingleResponse`s'
/// `thisUpdate - skew`, `nextUpdate` (or `thisUpdate` + 24 h) and the dates of the
/// certificates it carries. A staple that does not parse is ignored or refused whatever the
/// time, so it bounds nothing.
#[cfg(feature = "ocsp")]
fn staple_bounds(staple: &[u8], bound: &mut impl FnMut(u64)) -> Option<()> {
    use crate::ocsp::{CLOCK_SKEW_SECS, MAX_AGE_WITHOUT_NEXT_UPDATE_SECS};
    let Ok(response) = crate::ocsp::parse_response(staple) else {
        return Some(());
    };
    for r in response.responses() {
        let this_update = r.this_update.as_secs();
        bound(this_update.saturating_sub(CLOCK_SKEW_SECS));
        bound(match r.next_update {
            Some(next) => next.as_secs(),
            None => this_update.saturating_add(MAX_AGE_WITHOUT_NEXT_UPDATE_SECS),
        });
    }
    for cert in response.certs() {
        validity_bounds(cert.as_ref(), bound)?;
    }
    Some(())
}

/// Calls `bound` with a certificate's notBefore and notAfter (Unix seconds; `bound` keeps the
/// ones still ahead). webpki accepts through the notAfter second; the entry ends at it, one
/// second early, which only costs a miss. `None`: the dates cannot be read.
fn validity_bounds(cert_der: &[u8], bound: &mut impl FnMut(u64)) -> Option<()> {
    let (not_before, not_after) = validity(cert_der)?;
    bound(not_before);
    bound(not_after);
    Some(())
}

/// One DER TLV: (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A certificate's (notBefore, notAfter), Unix seconds.
pub(crate) fn validity(cert_der: &[u8]) -> Option<(u64, u64)> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, cert, _) = tlv(cert_der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(cert)? else {
        return None;
    };
    let (tag, _, mut rest) = tlv(tbs)?;
    if tag == 0xa0 {
        rest = tlv(rest)?.2; // version was present: this was it, now the serial
    }
    let rest = tlv(rest)?.2; // signature algorithm
    let rest = tlv(rest)?.2; // issuer
    let (SEQUENCE, validity, _) = tlv(rest)? else {
        return None;
    };
    let (nb_tag, nb, rest) = tlv(validity)?;
    let (na_tag, na, _) = tlv(rest)?;
    Some((time(nb_tag, nb)?, time(na_tag, na)?))
}

/// An X.509 Time: UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn time(tag: u8, text: &[u8]) -> Option<u64> {
    let (century, text) = match (tag, text.len()) {
        (0x17, 13) => (None, text),
        (0x18, 15) => (Some(two_digits(text, 0)?), &text[2..]),
        _ => return None,
    };
    if text[12] != b'Z' {
        return None;
    }
    let yy = two_digits(text, 0)?;
    let year = match century {
        Some(c) => c * 100 + yy,
        None if yy >= 50 => 1900 + yy,
        None => 2000 + yy,
    };
    let [month, day, h, m, s] = [2, 4, 6, 8, 10].map(|i| two_digits(text, i));
    let (h, m, s) = (h?, m?, s?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let day_start = date_start_secs(i64::from(year), i64::from(month?), i64::from(day?))?;
    u64::try_from(day_start + i64::from(h * 3600 + m * 60 + s)).ok()
}

/// The number written by the two ASCII digits at `at`.
fn two_digits(text: &[u8], at: usize) -> Option<u32> {
    let (a, b) = (text[at].wrapping_sub(b'0'), text[at + 1].wrapping_sub(b'0'));
    (a < 10 && b < 10).then(|| u32::from(a) * 10 + u32::from(b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn times_parse_as_webpki_reads_them() {
        let rows: &[(u8, &[u8], Option<u64>)] = &[
            (0x17, b"700101000000Z", Some(0)),
            (0x17, b"491231235959Z", Some(2_524_607_999)),
            // 1950 is before the epoch: not representable, so no entry is made.
            (0x17, b"500101000000Z", None),
            (0x18, b"20270630000101Z", Some(1_814_313_661)),
            (0x18, b"20270230000000Z", None),
            (0x17, b"2706300000Z", None),
            (0x18, b"2027063000010Z1", None),
            (0x17, b"27063000016aZ", None),
        ];
        for (tag, text, want) in rows {
            assert_eq!(time(*tag, text), *want, "{}", String::from_utf8_lossy(text));
        }
    }

    fn empty() -> Policy {
        Policy::from_toml_str("", "test").unwrap()
    }

    fn certs() -> Vec<CertificateDer<'static>> {
        (0..10u8)
            .map(|i| CertificateDer::from(vec![i; 100]))
            .collect()
    }

    fn key<'a>(cache: &VerifyCache, certs: &'a [CertificateDer<'a>], i: usize) -> CacheKey<'a> {
        static NAME: std::sync::LazyLock<ServerName<'static>> =
            std::sync::LazyLock::new(|| ServerName::try_from("a.test").unwrap());
        cache.key(&certs[i], &certs[..0], &NAME, b"").unwrap()
    }

    #[test]
    fn the_capacity_holds_and_the_oldest_goes_first() {
        let cache = VerifyCache::new(Duration::from_secs(60), 3, &empty()).unwrap();
        let certs = certs();
        for i in 0..10 {
            cache.insert(&key(&cache, &certs, i), at(100), 1_000);
            assert!(cache.stats().entries <= 3);
        }
        assert!(cache.hit(&key(&cache, &certs, 9), at(100)));
        assert!(cache.hit(&key(&cache, &certs, 7), at(100)));
        assert!(!cache.hit(&key(&cache, &certs, 6), at(100)));
        // Re-inserting a key many times leaves the order queue bounded.
        for _ in 0..100 {
            cache.insert(&key(&cache, &certs, 9), at(100), 1_000);
        }
        let order = cache.slots.lock().unwrap().order.len();
        assert!(order <= 2 * 3 + 16, "{order}");
    }

    #[test]
    fn an_entry_answers_only_inside_its_lifetime() {
        let cache = VerifyCache::new(Duration::from_secs(60), 8, &empty()).unwrap();
        let certs = certs();
        let k = key(&cache, &certs, 1);
        cache.insert(&k, at(100), 130);
        assert!(!cache.hit(&k, at(99)), "clock went back");
        cache.insert(&k, at(100), 130);
        assert!(cache.hit(&k, at(129)));
        assert!(!cache.hit(&k, at(130)));
        cache.insert(&k, at(100), 10_000);
        assert!(cache.hit(&k, at(159)), "ttl");
        assert!(!cache.hit(&k, at(160)), "ttl");
        assert!(VerifyCache::new(Duration::ZERO, 8, &empty()).is_none());
        assert!(VerifyCache::new(Duration::from_secs(1), 0, &empty()).is_none());
    }

    #[test]
    fn inputs_that_share_a_hash_are_told_apart_by_their_bytes() {
        let cache = VerifyCache::new(Duration::from_secs(60), 8, &empty()).unwrap();
        // Same length, same last 32 bytes: the same hash, different inputs.
        let mut other = vec![1u8; 100];
        other[0] = 2;
        let certs = [
            CertificateDer::from(vec![1u8; 100]),
            CertificateDer::from(other),
        ];
        let (a, b) = (key(&cache, &certs, 0), key(&cache, &certs, 1));
        assert_eq!(a.hash, b.hash);
        cache.insert(&a, at(100), 1_000);
        assert!(!cache.hit(&b, at(100)));
        cache.insert(&a, at(100), 1_000);
        assert!(cache.hit(&a, at(100)));
        // Field boundaries count: the same bytes split differently are other inputs.
        let enc = a.encode();
        assert!(a.is(&enc) && !b.is(&enc));
        assert!(!a.is(&enc[..enc.len() - 1]));
    }
}
