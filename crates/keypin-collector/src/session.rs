//! Dashboard sessions, kept on the server. Logging in with the token creates a random session
//! id; the browser holds only that id (an `HttpOnly; SameSite=Strict` cookie), never the
//! token, so a leaked cookie ends at its expiry or at logout and the token stays valid for the
//! API. Sessions live in memory: a restart logs everyone out, which is the safe direction.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Sessions held at most. Only token holders create them, so this bounds memory against a
/// script that logs in in a loop, not against strangers.
const MAX_SESSIONS: usize = 1024;

/// Random bytes in a session id (256 bits).
const ID_BYTES: usize = 32;

/// The live sessions: id → expiry (Unix seconds).
#[derive(Debug)]
pub(crate) struct Sessions {
    lifetime_secs: i64,
    live: Mutex<HashMap<String, i64>>,
}

impl Sessions {
    pub(crate) fn new(lifetime_secs: i64) -> Self {
        Self {
            lifetime_secs: lifetime_secs.max(1),
            live: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    /// A new session from `now`; `None` if no random bytes could be had (then nobody logs in:
    /// a guessable id is worse than none).
    pub(crate) fn create(&self, now: i64) -> Option<String> {
        let mut bytes = [0u8; ID_BYTES];
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut bytes)
            .ok()?;
        let id = bytes
            .iter()
            .fold(String::with_capacity(2 * ID_BYTES), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
        let mut live = self.live.lock().ok()?;
        if live.len() >= MAX_SESSIONS {
            live.retain(|_, expiry| *expiry > now);
        }
        if live.len() >= MAX_SESSIONS {
            // Still full of live sessions: the one closest to its end goes.
            if let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), now.saturating_add(self.lifetime_secs));
        Some(id)
    }

    /// Whether `id` is a live session at `now`; an expired one is forgotten.
    pub(crate) fn is_live(&self, id: &str, now: i64) -> bool {
        let Ok(mut live) = self.live.lock() else {
            return false;
        };
        match live.get(id) {
            Some(expiry) if *expiry > now => true,
            Some(_) => {
                live.remove(id);
                false
            }
            None => false,
        }
    }

    /// Ends a session (logout).
    pub(crate) fn end(&self, id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
    }
}
