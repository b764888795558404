//! The verification cache: a [`crate::PinningVerifier`] remembers the chains it accepted, so a
//! repeat full handshake to the same server skips path building (Chromium keeps such a cache
//! too). A pinned app opens many full handshakes to the same few servers: connection pools,
//! servers without resumption, many processes of one service.
//!
//! What makes a hit give the answer a full verification would give at that moment:
//!
//! - **The key is every input of the decision.** SHA-256 over a length-prefixed encoding of:
//!   the verifier instance (each generation of the live policy builds its own verifier, so
//!   the cache lives in one generation and an entry of an older generation is never seen by a
//!   newer one; the instance number keeps that true even if a cache were ever shared), the
//!   server name, the end-entity certificate and each intermediate exactly as presented, and
//!   the stapled OCSP response (empty when none). SCTs are inside the leaf or the staple, so
//!   they are covered by those bytes; the policy, roots and CT log list are the verifier's own
//!   and never change. Only the hash is stored: a different input gives a different key
//!   (SHA-256's collision resistance), so no full comparison is needed.
//! - **Only clean acceptances are stored**: no rule (plain validation passed), or a pin
//!   matched under a rule that has not expired. Refusals are never stored; neither is a
//!   report-only mismatch or a match after the rule expired, since those emit an event
//!   (report, expiry note) on every handshake, which a hit would swallow. A clean acceptance
//!   emits nothing, so a hit emits nothing either.
//! - **An entry lives no longer than the decision holds**, the earliest of: the next time a
//!   presented certificate (or a responder certificate inside the staple) becomes valid or
//!   expires (notBefore / notAfter); the end of the rule's `expires` day (after it the
//!   decision changes: report-only, an expiry note); when a staple was presented, the first
//!   `thisUpdate - skew` still ahead and the first `nextUpdate` (or `thisUpdate` + 24 h
//!   without one); for a rule with `require_sct`, the next state change (`since`) of a log in
//!   the list; and the TTL. A certificate whose dates cannot be read means no entry. A clock
//!   that goes back before an entry was made misses.
//! - **Bounded**: at most `capacity` entries; when full, expired entries go first, then the
//!   oldest. The lock is taken for the lookup and for the insert only, never across a
//!   verification.
//!
//! Only [`rustls::client::danger::ServerCertVerifier::verify_server_cert`] uses the cache (the
//! handshake path); `verify_chain` and the tools always verify in full. The handshake's
//! signature (the server proving it holds the key) is checked on every handshake, cached or
//! not.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::digest;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::clock::Date;
use crate::policy::{Policy, Rule};
use crate::verifier::Verdict;

/// The default time to live of an entry: 5 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// The default number of entries.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Numbers verifier instances, so that no two caches ever share a key.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// Counters of a verifier's cache ([`crate::PinningVerifier::verification_cache_stats`]).
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

/// The SHA-256 of every input of one decision (see the module docs).
#[derive(Clone, Copy)]
pub(crate) struct CacheKey([u8; 32]);

struct Entry {
    /// The time the decision was made (Unix seconds): a clock before it misses.
    from: u64,
    /// The first second at which the entry no longer answers.
    until: u64,
    seq: u64,
}

#[derive(Default)]
struct Slots {
    map: HashMap<[u8; 32], Entry>,
    /// Keys in insertion order with their sequence number (stale pairs are skipped).
    order: VecDeque<([u8; 32], u64)>,
    seq: u64,
}

/// See the module documentation.
pub(crate) struct VerifyCache {
    instance: u64,
    ttl_secs: u64,
    capacity: usize,
    slots: Mutex<Slots>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl VerifyCache {
    /// A cache, or `None` when `ttl` is under a second or `capacity` is 0 (off).
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Option<Self> {
        (ttl.as_secs() > 0 && capacity > 0).then(|| Self {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            ttl_secs: ttl.as_secs(),
            capacity,
            slots: Mutex::new(Slots::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The key of one handshake's inputs.
    pub(crate) fn key(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
    ) -> CacheKey {
        let mut ctx = digest::Context::new(&digest::SHA256);
        let mut field = |bytes: &[u8]| {
            ctx.update(&(bytes.len() as u64).to_be_bytes());
            ctx.update(bytes);
        };
        field(b"keypin verification cache v1");
        field(&self.instance.to_be_bytes());
        match server_name {
            ServerName::DnsName(d) => {
                field(b"dns");
                field(d.as_ref().as_bytes());
            }
            ServerName::IpAddress(ip) => {
                field(b"ip");
                field(std::net::IpAddr::from(*ip).to_string().as_bytes());
            }
            other => {
                field(b"other");
                field(format!("{other:?}").as_bytes());
            }
        }
        field(end_entity.as_ref());
        field(&(intermediates.len() as u64).to_be_bytes());
        for cert in intermediates {
            field(cert.as_ref());
        }
        field(ocsp_response);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        CacheKey(out)
    }

    /// Whether a live entry for `key` accepts at `now`.
    pub(crate) fn hit(&self, key: &CacheKey, now: UnixTime) -> bool {
        let now = now.as_secs();
        let hit = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.map.get(&key.0) {
                Some(e) if e.from <= now && now < e.until => true,
                Some(_) => {
                    slots.map.remove(&key.0);
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
    pub(crate) fn insert(&self, key: CacheKey, now: UnixTime, until: u64) {
        let now = now.as_secs();
        let until = until.min(now.saturating_add(self.ttl_secs));
        if until <= now {
            return;
        }
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if !slots.map.contains_key(&key.0) && slots.map.len() >= self.capacity {
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
        slots.map.insert(
            key.0,
            Entry {
                from: now,
                until,
                seq,
            },
        );
        slots.order.push_back((key.0, seq));
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
    pub(crate) fn remember(&self, key: CacheKey, verdict: &Verdict, decision: &Decision<'_>) {
        let rule = match verdict {
            Verdict::NotPinned => None,
            Verdict::Matched(_) => {
                let host = match decision.server_name {
                    ServerName::DnsName(d) => d.as_ref().to_string(),
                    ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                    _ => return,
                };
                match decision.policy.rule_for(&host) {
                    Some(rule) => Some(rule),
                    None => return,
                }
            }
            // A report-only mismatch reports on every handshake: never cached.
            _ => return,
        };
        if let Some(until) = decision.until(rule) {
            self.insert(key, decision.now, until);
        }
    }
}

impl Decision<'_> {
    /// The first second (Unix) at which the decision may change; `None`: do not cache (a date
    /// could not be read, or the rule has expired, so acceptances emit an expiry note).
    fn until(&self, rule: Option<&Rule>) -> Option<u64> {
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
        if let Some(rule) = rule {
            if let Some(expires) = rule.expires() {
                let end = end_of_day(expires);
                if end <= now {
                    return None;
                }
                bound(end);
            }
            #[cfg(feature = "ct")]
            if let (Some(_), Some(logs)) = (rule.require_sct(), self.ct_logs) {
                for log in logs.logs() {
                    if let Some(state) = log.state {
                        bound(u64::try_from(state.since).unwrap_or(0));
                    }
                }
            }
        }
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
    let (year, rest) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day, h, m, s) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let date = Date::parse(&format!("{year:04}-{month:02}-{day:02}")).ok()?;
    let secs = date.start_secs() + i64::try_from(h * 3600 + m * 60 + s).ok()?;
    u64::try_from(secs).ok()
}

fn digits(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
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

    #[test]
    fn the_capacity_holds_and_the_oldest_goes_first() {
        let cache = VerifyCache::new(Duration::from_secs(60), 3).unwrap();
        let key = |i: u8| CacheKey([i; 32]);
        for i in 0..10 {
            cache.insert(key(i), at(100), 1_000);
            assert!(cache.stats().entries <= 3);
        }
        assert!(cache.hit(&key(9), at(100)));
        assert!(cache.hit(&key(7), at(100)));
        assert!(!cache.hit(&key(6), at(100)));
        // Re-inserting a key many times leaves the order queue bounded.
        for _ in 0..100 {
            cache.insert(key(9), at(100), 1_000);
        }
        let order = cache.slots.lock().unwrap().order.len();
        assert!(order <= 2 * 3 + 16, "{order}");
    }

    #[test]
    fn an_entry_answers_only_inside_its_lifetime() {
        let cache = VerifyCache::new(Duration::from_secs(60), 8).unwrap();
        let k = CacheKey([1; 32]);
        cache.insert(k, at(100), 130);
        assert!(!cache.hit(&k, at(99)), "clock went back");
        cache.insert(k, at(100), 130);
        assert!(cache.hit(&k, at(129)));
        assert!(!cache.hit(&k, at(130)));
        cache.insert(k, at(100), 10_000);
        assert!(cache.hit(&k, at(159)), "ttl");
        assert!(!cache.hit(&k, at(160)), "ttl");
        assert!(VerifyCache::new(Duration::ZERO, 8).is_none());
        assert!(VerifyCache::new(Duration::from_secs(1), 0).is_none());
    }
}
