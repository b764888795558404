//! The SPKI pins of recently seen keys, remembered by the verifier.
//!
//! An app talks to a handful of servers whose leaf and intermediate keys stay the same for
//! months, so the verifier hashes the same few SubjectPublicKeyInfos on every handshake.
//! [`SpkiMemo`] keeps the last [`SLOTS`] of them next to their SHA-256 and answers a repeat
//! with a byte comparison instead of a hash. The key is the whole SPKI: an entry is used only
//! for exactly the bytes it was computed from, so the answer is the hash, never a guess.
//!
//! Handshake threads never wait on each other here: when another thread holds the memo, the
//! pin is simply computed.

use std::sync::Mutex;

use crate::pin::Pin;

/// How many keys are remembered (a ring: the oldest is replaced).
pub(crate) const SLOTS: usize = 16;
/// Longer SPKIs are hashed every time (an RSA-4096 SPKI is 550 bytes).
const MAX_SPKI: usize = 1024;

#[derive(Default)]
struct Ring {
    entries: Vec<(Box<[u8]>, Pin)>,
    next: usize,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct SpkiMemo {
    ring: Mutex<Ring>,
}

impl SpkiMemo {
    /// The SPKI pin of `spki_der`: remembered, or computed (and remembered).
    pub(crate) fn pin(&self, spki_der: &[u8]) -> Pin {
        if spki_der.len() > MAX_SPKI {
            return Pin::from_spki_der(spki_der);
        }
        if let Ok(ring) = self.ring.try_lock()
            && let Some((_, pin)) = ring.entries.iter().find(|(k, _)| **k == *spki_der)
        {
            return *pin;
        }
        let pin = Pin::from_spki_der(spki_der);
        if let Ok(mut ring) = self.ring.try_lock() {
            let entry = (Box::from(spki_der), pin);
            if ring.entries.len() < SLOTS {
                ring.entries.push(entry);
            } else {
                let at = ring.next;
                ring.entries[at] = entry;
            }
            ring.next = (ring.next + 1) % SLOTS;
        }
        pin
    }

    /// How many keys are remembered now (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ring.lock().map_or(0, |r| r.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spki(i: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0x30; len];
        v[len - 8..].copy_from_slice(&(i as u64).to_be_bytes());
        v
    }

    #[test]
    fn every_answer_is_the_hash_of_exactly_the_bytes_given() {
        let memo = SpkiMemo::default();
        // Twice the slots, three passes: hits, misses and replacements all happen.
        for _ in 0..3 {
            for i in 0..2 * SLOTS {
                let k = spki(i, 91);
                assert_eq!(memo.pin(&k), Pin::from_spki_der(&k), "key {i}");
            }
        }
        // Keys that differ only in the last byte, or only in length, are not confused.
        let a = spki(7, 91);
        let mut b = a.clone();
        b[90] ^= 1;
        let c = a[..90].to_vec();
        for k in [&a, &b, &c, &a] {
            assert_eq!(memo.pin(k), Pin::from_spki_der(k));
        }
        assert_ne!(memo.pin(&a), memo.pin(&b));
        assert_ne!(memo.pin(&a), memo.pin(&c));
    }

    #[test]
    fn the_memo_stays_bounded_and_skips_long_keys() {
        let memo = SpkiMemo::default();
        for i in 0..5 * SLOTS {
            memo.pin(&spki(i, 300));
        }
        assert_eq!(memo.len(), SLOTS);
        let long = spki(1, MAX_SPKI + 1);
        let fresh = SpkiMemo::default();
        assert_eq!(fresh.pin(&long), Pin::from_spki_der(&long));
        assert_eq!(fresh.len(), 0);
    }
}
