//! The [`Keypin`] object: the policy in force and the pin check on a verified path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use keypin::clock::{Clock, SystemClock};
use keypin::live::LivePolicy;
use keypin::live::bundle::{Expectations, Root};
use keypin::live::updater::Updater;
use keypin::pin::Pin;
use keypin::verify::{PinningVerifier, VerifyError};
use keypin::{PinnedConfig, Policy, Roots};
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::error::{KeypinError, guard};
use crate::reports::Outbox;
use crate::types::{PinFailureInfo, Verdict};

/// Most certificates a verified path may have.
const MAX_PATH_CERTS: usize = 16;
/// Largest certificate accepted.
const MAX_CERT_BYTES: usize = 64 * 1024;
/// Longest host name (DNS: 253).
const MAX_HOST: usize = 253;
/// Largest policy text or bundle accepted.
const MAX_POLICY_BYTES: usize = 1024 * 1024;
/// Verifiers kept per generation (one per trust anchor seen).
const MAX_VERIFIERS: usize = 64;

/// What the app says about itself and where keypin may keep state.
#[derive(Debug, Clone, uniffi::Record)]
pub struct KeypinOptions {
    /// A directory keypin owns (report de-duplication; the updater's state goes where
    /// [`crate::UpdaterOptions::state_dir`] says).
    pub state_dir: String,
    /// `app-bundle-id` in reports, like `com.example.app`.
    pub app_id: Option<String>,
    /// `app-version` in reports.
    pub app_version: Option<String>,
    /// `app-platform` in reports, like `ANDROID` or `JVM`.
    pub platform: Option<String>,
    /// Where reports go when the failing rule names no `report_uris`.
    pub report_uris: Vec<String>,
    /// Most reports waiting to be sent (1..=1024); beyond it the oldest is dropped.
    pub report_queue: u32,
}

/// Verdicts kept per generation (their details; validity is the verifier's cache's).
const MAX_VERDICTS: usize = 256;

/// The verifiers built for one generation, one per trust anchor, and the details of recent
/// clean verdicts.
#[derive(Debug, Default)]
struct Verifiers {
    generation: u64,
    by_anchor: HashMap<[u8; 32], Arc<PinningVerifier>>,
    /// Keyed by host and path. Only ever returned after the verifier accepted the same inputs
    /// again (its verification cache decides what is still valid now: dates, rule expiry).
    verdicts: HashMap<[u8; 32], Verdict>,
}

/// The memo key of a check's inputs: SHA-256 over the host and each certificate, each
/// preceded by its length.
fn inputs_key(host: &str, chain: &[Vec<u8>]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&(host.len() as u64).to_be_bytes());
    ctx.update(host.as_bytes());
    for c in chain {
        ctx.update(&(c.len() as u64).to_be_bytes());
        ctx.update(c);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// keypin for a platform TLS stack: the policy in force, the pin check, the updater, the
/// report outbox. Thread-safe; share one per app.
#[derive(Debug, uniffi::Object)]
pub struct Keypin {
    pub(crate) live: RwLock<LivePolicy>,
    pub(crate) updater: Mutex<Option<Updater>>,
    verifiers: Mutex<Verifiers>,
    pub(crate) outbox: Mutex<Outbox>,
    pub(crate) clock: Arc<dyn Clock>,
    provider: Arc<CryptoProvider>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The client configuration a generation carries (unused by the platform, which makes its own
/// connections; it keeps the generation complete for keypin's own readers).
pub(crate) fn config_for(policy: Arc<Policy>) -> Result<rustls::ClientConfig, keypin::Error> {
    PinnedConfig::builder(policy, Roots::empty())
        .provider(provider())
        .build()
}

fn too_big(what: &str, len: usize, max: usize) -> Result<(), KeypinError> {
    if len > max {
        return Err(KeypinError::InvalidInput(format!(
            "{what} is {len} bytes, over the {max}-byte limit; refused"
        )));
    }
    Ok(())
}

impl Keypin {
    fn with_policy(policy: Arc<Policy>, options: KeypinOptions) -> Result<Arc<Self>, KeypinError> {
        let builder = PinnedConfig::builder(policy, Roots::empty()).provider(provider());
        let live = LivePolicy::fixed(builder).map_err(|e| KeypinError::Policy(e.to_string()))?;
        let outbox = Outbox::open(&options)?;
        Ok(Arc::new(Self {
            live: RwLock::new(live),
            updater: Mutex::new(None),
            verifiers: Mutex::new(Verifiers::default()),
            outbox: Mutex::new(outbox),
            clock: Arc::new(SystemClock),
            provider: provider(),
        }))
    }

    pub(crate) fn current(&self) -> Arc<keypin::live::Generation> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current()
    }

    /// The verifier for this generation and trust anchor (built once, then reused: its own
    /// verification cache makes repeated handshakes with the same chain cheap).
    fn verifier(
        &self,
        generation: &keypin::live::Generation,
        anchor: &[u8],
    ) -> Result<Arc<PinningVerifier>, KeypinError> {
        let key = *Pin::from_cert_der(anchor).digest();
        let mut cache = lock(&self.verifiers);
        if cache.generation != generation.number() {
            cache.generation = generation.number();
            cache.by_anchor.clear();
            cache.verdicts.clear();
        }
        if let Some(v) = cache.by_anchor.get(&key) {
            return Ok(v.clone());
        }
        let roots = Roots::empty()
            .with_cert(CertificateDer::from(anchor.to_vec()))
            .map_err(|e| {
                KeypinError::Certificate(format!(
                    "the trust anchor of the verified path (its last certificate): {e}"
                ))
            })?;
        let verifier = Arc::new(PinningVerifier::new(
            generation.policy().clone(),
            roots,
            &self.provider,
            self.clock.clone(),
            None,
        ));
        if cache.by_anchor.len() >= MAX_VERIFIERS {
            cache.by_anchor.clear();
        }
        cache.by_anchor.insert(key, verifier.clone());
        Ok(verifier)
    }

    fn check_inner(&self, host: &str, chain: &[Vec<u8>]) -> Result<Verdict, KeypinError> {
        if host.is_empty() || host.len() > MAX_HOST {
            return Err(KeypinError::InvalidInput(format!(
                "host name must be 1 to {MAX_HOST} bytes, got {}",
                host.len()
            )));
        }
        if chain.len() < 2 || chain.len() > MAX_PATH_CERTS {
            return Err(KeypinError::InvalidInput(format!(
                "the verified path must hold 2 to {MAX_PATH_CERTS} certificates (leaf first, trust anchor last), got {}",
                chain.len()
            )));
        }
        for (i, c) in chain.iter().enumerate() {
            too_big(
                &format!("certificate #{i} of the verified path"),
                c.len(),
                MAX_CERT_BYTES,
            )?;
        }
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            KeypinError::InvalidInput(format!("{host:?} is not a valid server name: {e}"))
        })?;
        let (leaf, rest) = chain
            .split_first()
            .ok_or_else(|| KeypinError::InvalidInput("the verified path is empty".into()))?;
        let (anchor, intermediates) = rest.split_last().ok_or_else(|| {
            KeypinError::InvalidInput("the verified path has no trust anchor".into())
        })?;
        let generation = self.current();
        let number = generation.number();
        let verifier = self.verifier(&generation, anchor)?;
        let leaf = CertificateDer::from(leaf.as_slice());
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let now = self.clock.now();
        // Fast path: a clean verdict for exactly these inputs, which the verifier accepts again
        // now (its verification cache makes that a hash lookup; it owns what may be reused).
        let key = inputs_key(host, chain);
        // Only a verdict of this generation: another thread may have moved the cache on.
        let remembered = {
            let cache = lock(&self.verifiers);
            (cache.generation == number)
                .then(|| cache.verdicts.get(&key).cloned())
                .flatten()
        };
        if let Some(verdict) = remembered
            && verifier
                .verify_server_cert(&leaf, &intermediates, &name, &[], now)
                .is_ok()
        {
            return Ok(verdict);
        }
        let verdict =
            self.verify_described(&verifier, &generation, host, &leaf, &intermediates, &name)?;
        if matches!(verdict, Verdict::Matched { .. } | Verdict::NotPinned { .. })
            && verifier
                .verify_server_cert(&leaf, &intermediates, &name, &[], now)
                .is_ok()
        {
            let mut cache = lock(&self.verifiers);
            if cache.generation == number {
                if cache.verdicts.len() >= MAX_VERDICTS {
                    cache.verdicts.clear();
                }
                cache.verdicts.insert(key, verdict.clone());
            }
        }
        Ok(verdict)
    }

    /// The full check, with the verdict's details (matched pin and position, or the failure).
    fn verify_described(
        &self,
        verifier: &PinningVerifier,
        generation: &keypin::live::Generation,
        host: &str,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
    ) -> Result<Verdict, KeypinError> {
        let number = generation.number();
        let now = self.clock.now();
        match verifier.verify_chain(leaf, intermediates, name, now) {
            Ok(keypin::verify::Verdict::NotPinned) => Ok(Verdict::NotPinned { generation: number }),
            Ok(keypin::verify::Verdict::Matched(m)) => Ok(Verdict::matched(&m, number)),
            Ok(keypin::verify::Verdict::ReportOnlyMismatch(f)) => {
                self.report(generation, &f, now);
                Ok(Verdict::Failed {
                    failure: PinFailureInfo::of(&f, true),
                    generation: number,
                })
            }
            Ok(other) => Err(KeypinError::Internal(format!(
                "keypin-ffi does not know the verdict {other:?}; refusing"
            ))),
            Err(VerifyError::PinMismatch(f)) => {
                self.report(generation, &f, now);
                Ok(Verdict::Failed {
                    failure: PinFailureInfo::of(&f, false),
                    generation: number,
                })
            }
            Err(e) => Err(KeypinError::Certificate(format!(
                "{host}: the platform's verified path does not validate under keypin: {e}"
            ))),
        }
    }
}

#[uniffi::export]
impl Keypin {
    /// keypin on the policy in `toml` (`source_name` names it in messages).
    #[uniffi::constructor]
    pub fn from_toml(
        toml: String,
        source_name: String,
        options: KeypinOptions,
    ) -> Result<Arc<Self>, KeypinError> {
        guard("Keypin.fromToml", || {
            too_big("the policy text", toml.len(), MAX_POLICY_BYTES)?;
            let policy = Policy::from_toml_str(&toml, &source_name)
                .map_err(|e| KeypinError::Policy(e.to_string()))?;
            Self::with_policy(Arc::new(policy), options)
        })
    }

    /// keypin on the policy of a signed bundle, verified against `root` (the root of trust
    /// the app embeds) for this app and environment, now.
    #[uniffi::constructor]
    pub fn from_bundle(
        bundle: Vec<u8>,
        root: Vec<u8>,
        app_id: String,
        environment: String,
        options: KeypinOptions,
    ) -> Result<Arc<Self>, KeypinError> {
        guard("Keypin.fromBundle", || {
            too_big("the bundle", bundle.len(), MAX_POLICY_BYTES)?;
            let root =
                Root::from_embedded(&root).map_err(|e| KeypinError::Bundle(e.to_string()))?;
            let verified = root
                .verify_bundle(
                    &bundle,
                    &Expectations::new(&app_id, &environment),
                    SystemClock.now(),
                )
                .map_err(|e| KeypinError::Bundle(e.to_string()))?;
            Self::with_policy(verified.policy().clone(), options)
        })
    }

    /// The pin check on a path the platform verified: `chain` is that path in DER, leaf first,
    /// ending with the trust anchor's certificate (never the list the server sent). A
    /// [`Verdict::Failed`] that is not report-only means: refuse the connection; its report is
    /// queued ([`Self::pending_reports`]). An error means the path does not validate under
    /// keypin, or the input is malformed: refuse too.
    pub fn check(&self, host: String, chain: Vec<Vec<u8>>) -> Result<Verdict, KeypinError> {
        guard("Keypin.check", || self.check_inner(&host, &chain))
    }

    /// The policy generation in force: 0 for the first policy, one more per installed bundle.
    pub fn generation(&self) -> u64 {
        self.current().number()
    }

    /// The version of the bundle in force; `None` on the first (embedded) policy.
    pub fn bundle_version(&self) -> Option<u64> {
        self.current().bundle_version()
    }

    /// Whether a rule of the policy in force covers `host` (then never talk to it over
    /// cleartext HTTP: the bindings refuse `http://` to it, SSL stripping included).
    pub fn is_pinned(&self, host: String) -> bool {
        self.current().policy().rule_for(&host).is_some()
    }

    /// The hosts the policy in force pins, one line per rule (for logs and diagnostics).
    pub fn describe_policy(&self) -> String {
        let generation = self.current();
        let policy = generation.policy();
        let mut lines = vec![format!(
            "policy {} (generation {}): {} rule(s)",
            policy.source_name(),
            generation.number(),
            policy.rules().len()
        )];
        for rule in policy.rules() {
            let hosts: Vec<String> = rule.hosts().iter().map(ToString::to_string).collect();
            lines.push(format!(
                "  {}: {} pin(s)",
                hosts.join(", "),
                rule.pins().len()
            ));
        }
        lines.join("\n")
    }
}
