//! Bundles: what one says, how it is signed, and the fixed order in which it is verified.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::UnixTime;
use serde::{Deserialize, Serialize};

use super::envelope;
use super::keys::{KeyId, SigningKey};
use super::root::Root;
use super::{
    BUNDLE_CONTEXT, BUNDLE_FORMAT, BundleError, DEFAULT_MAX_BUNDLE_BYTES, is_past, parse_date,
};
use crate::Policy;
use crate::clock::{Date, format_rfc3339};
use crate::policy::RuleSpec;

const BUNDLE_TYPE: &str = "keypin/bundle";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleBody {
    #[serde(rename = "type")]
    kind: String,
    format_version: u32,
    app_id: String,
    environment: String,
    version: u64,
    issued: String,
    expires: String,
    policy: PolicyField,
    /// Format 2 only, optional: the CT log list (base64 of the exact `log_list.json` bytes).
    /// Left out when absent, so a bundle without it is byte for byte what earlier versions
    /// wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ct_log_list: Option<String>,
    /// Optional: the list publisher's detached signature over it (base64), carried verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ct_log_list_sig: Option<String>,
}

/// The body's policy: format 2 carries the rules as JSON (what `keypin bundle sign` writes);
/// format 1 carried the TOML text, which is still read. A JSON policy loads several times
/// faster than TOML (BENCHMARKS.md §5); both are validated by the same code.
#[derive(Debug)]
enum PolicyField {
    Toml(String),
    Rules(PolicyRules),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRules {
    rules: Vec<RuleSpec>,
}

impl Serialize for PolicyField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Toml(text) => s.serialize_str(text),
            Self::Rules(rules) => rules.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PolicyField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PolicyField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a policy: {\"rules\": [..]} (format 2) or TOML text (format 1)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PolicyField, E> {
                Ok(PolicyField::Toml(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<PolicyField, A::Error> {
                PolicyRules::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(PolicyField::Rules)
            }
        }
        d.deserialize_any(V)
    }
}

/// What a new bundle says, before it is signed.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    /// The app it is for.
    pub app_id: String,
    /// The environment it is for (`production`, `staging`, ...).
    pub environment: String,
    /// Its version: strictly above every earlier bundle's for this app and environment.
    pub version: u64,
    /// When it was made (Unix seconds; informational).
    pub issued_unix: i64,
    /// Its last valid date. Keep it days to weeks away: it is what defeats a freeze.
    pub expires: Date,
    /// The whole pin policy, as TOML text. It must validate, with inline PEM trust anchors
    /// only (a bundle never names a file; signing refuses one).
    pub policy_toml: String,
}

impl BundleSpec {
    /// Validates the policy, then returns the bundle (body format 2: the rules as JSON) signed
    /// by each of `keys`.
    pub fn sign(&self, keys: &[&SigningKey]) -> Result<Vec<u8>, BundleError> {
        self.seal(keys, None, None)
    }

    /// Like [`Self::sign`], and the bundle carries a CT log list (`log_list.json` bytes in
    /// Chrome's v3 format) for the app's `require_sct` rules, with optionally its publisher's
    /// detached signature (`log_list.sig`) so the original travels verbatim. The list must
    /// parse as a v3 list (a list that does not is refused here, as every client would refuse
    /// the bundle). The signature is not checked here: check it with
    /// [`LogList::from_signed`](crate::ct::LogList::from_signed) first.
    #[cfg(feature = "ct")]
    pub fn sign_with_ct_log_list(
        &self,
        keys: &[&SigningKey],
        log_list: &[u8],
        log_list_sig: Option<&[u8]>,
    ) -> Result<Vec<u8>, BundleError> {
        crate::ct::LogList::from_authenticated(log_list, "to be carried in a bundle").map_err(
            |e| BundleError::CtLogList {
                reason: e.to_string(),
            },
        )?;
        self.seal(keys, Some(log_list), log_list_sig)
    }

    fn seal(
        &self,
        keys: &[&SigningKey],
        log_list: Option<&[u8]>,
        log_list_sig: Option<&[u8]>,
    ) -> Result<Vec<u8>, BundleError> {
        let rules = Policy::rule_specs_from_toml(&self.policy_toml, "bundle policy")
            .map_err(|e| BundleError::InvalidPolicy(Box::new(e)))?;
        let body = BundleBody {
            kind: BUNDLE_TYPE.into(),
            format_version: 2,
            app_id: self.app_id.clone(),
            environment: self.environment.clone(),
            version: self.version,
            issued: format_rfc3339(self.issued_unix),
            expires: self.expires.to_string(),
            policy: PolicyField::Rules(PolicyRules { rules }),
            ct_log_list: log_list.map(|b| STANDARD.encode(b)),
            ct_log_list_sig: log_list_sig.map(|b| STANDARD.encode(b)),
        };
        let body = serde_json::to_vec(&body).map_err(|e| BundleError::Malformed {
            what: "bundle",
            reason: e.to_string(),
        })?;
        envelope::seal(BUNDLE_FORMAT, BUNDLE_CONTEXT, &body, keys)
    }
}

/// What this client expects of a bundle.
#[derive(Debug, Clone)]
pub struct Expectations {
    app_id: Option<String>,
    environment: Option<String>,
    high_water: Option<u64>,
    latest_seen: Option<i64>,
    max_bytes: usize,
    expired: ExpiredBundle,
    #[cfg(feature = "ct")]
    ct_log_list_signer: Option<Arc<crate::ct::LogListSigner>>,
    #[cfg(feature = "ct")]
    carried_ct_log_list: CarriedLogList,
}

/// What a CT log list carried in a bundle needs when the app configured a log-list signer
/// ([`Expectations::ct_log_list_signer`], `UpdaterConfig::ct_log_list_signer`). Without a
/// configured signer the bundle's root signatures authenticate a carried list in either case.
#[cfg(feature = "ct")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CarriedLogList {
    /// The list must carry its publisher's signature (`ct_log_list_sig`), and it must verify
    /// with the app's log-list signer; a list without one is refused. Default: the app said
    /// whom it trusts for log lists, and the bundle signers are not that party.
    #[default]
    RequireSignerSignature,
    /// Opt-out: a list that carries no publisher's signature is accepted on the bundle's root
    /// signatures alone. A carried signature is still checked, and refuses the bundle if it
    /// does not verify.
    AcceptBundleSignatureAlone,
}

/// What an expired bundle means to a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredBundle {
    /// Refuse it (every new bundle: this defeats a freeze).
    Refuse,
    /// Accept it as the last good bundle this client already stored: when the newest bundle
    /// expires the client keeps enforcing its pins rather than dropping to older ones.
    KeepStoredLastGood,
}

impl Expectations {
    /// A bundle for this app and environment, with the default byte cap, no stored
    /// high-water mark and no latest time seen yet.
    pub fn new(app_id: &str, environment: &str) -> Self {
        Self {
            app_id: Some(app_id.into()),
            environment: Some(environment.into()),
            high_water: None,
            latest_seen: None,
            max_bytes: DEFAULT_MAX_BUNDLE_BYTES,
            expired: ExpiredBundle::Refuse,
            #[cfg(feature = "ct")]
            ct_log_list_signer: None,
            #[cfg(feature = "ct")]
            carried_ct_log_list: CarriedLogList::default(),
        }
    }

    /// For inspection tools only (`keypin bundle verify` without `--app-id`/`--env`): any app
    /// and environment. An app must never use this.
    pub fn inspect_any_app() -> Self {
        Self {
            app_id: None,
            environment: None,
            ..Self::new("", "")
        }
    }

    /// The highest version already accepted: the bundle's must be strictly above it.
    pub fn high_water(mut self, version: u64) -> Self {
        self.high_water = Some(version);
        self
    }

    /// The latest time this client has seen: the clock must not be behind it.
    pub fn latest_seen(mut self, time: UnixTime) -> Self {
        self.latest_seen = Some(secs(time));
        self
    }

    /// How to treat an expired bundle (default [`ExpiredBundle::Refuse`]).
    pub fn expired(mut self, expired: ExpiredBundle) -> Self {
        self.expired = expired;
        self
    }

    /// The byte cap (default [`DEFAULT_MAX_BUNDLE_BYTES`]).
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// The key the app trusts for CT log lists (e.g. [`LogListSigner::google`]): a log list
    /// a bundle carries must carry its publisher's signature and it must verify with this key,
    /// or the bundle is refused (unless [`CarriedLogList::AcceptBundleSignatureAlone`]).
    /// Without it the bundle's own signatures authenticate the list.
    ///
    /// [`LogListSigner::google`]: crate::ct::LogListSigner::google
    #[cfg(feature = "ct")]
    pub fn ct_log_list_signer(mut self, signer: impl Into<Arc<crate::ct::LogListSigner>>) -> Self {
        self.ct_log_list_signer = Some(signer.into());
        self
    }

    /// Whether a carried CT log list needs its publisher's signature when a log-list signer is
    /// configured (default [`CarriedLogList::RequireSignerSignature`]).
    #[cfg(feature = "ct")]
    pub fn carried_ct_log_list(mut self, carried: CarriedLogList) -> Self {
        self.carried_ct_log_list = carried;
        self
    }
}

/// A bundle that passed every check, with its parsed policy.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    app_id: String,
    environment: String,
    version: u64,
    issued: String,
    expires: Date,
    policy: Arc<Policy>,
    #[cfg(feature = "ct")]
    ct_logs: Option<Arc<crate::ct::LogList>>,
    signers: Vec<KeyId>,
    bytes: Vec<u8>,
}

impl VerifiedBundle {
    /// The app it is for.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }
    /// The environment it is for.
    pub fn environment(&self) -> &str {
        &self.environment
    }
    /// Its version.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// When it was issued (`YYYY-MM-DDTHH:MM:SSZ`).
    pub fn issued(&self) -> &str {
        &self.issued
    }
    /// Its last valid date.
    pub fn expires(&self) -> Date {
        self.expires
    }
    /// The pin policy it carries.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }
    /// The ids of the root keys whose signatures on it verified (sorted, each once).
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }
    /// The exact bytes it was read from (to store them).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The CT log list it carries (checked at verification), if any: while this bundle is in
    /// force it replaces the app's own list ([`PolicyStore::install_bundle`]).
    ///
    /// [`PolicyStore::install_bundle`]: ../updater/struct.PolicyStore.html#method.install_bundle
    #[cfg(feature = "ct")]
    pub fn ct_logs(&self) -> Option<&Arc<crate::ct::LogList>> {
        self.ct_logs.as_ref()
    }
}

fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

/// The version a bundle claims, **without checking anything** (no signature, no expiry): for
/// signing tools that must not go backwards (`keypin bundle sign --previous`). Never use it to
/// decide what to trust.
pub fn unverified_version(bytes: &[u8]) -> Result<u64, BundleError> {
    let opened = envelope::open(bytes, "bundle", BUNDLE_FORMAT, DEFAULT_MAX_BUNDLE_BYTES)?;
    let body: BundleBody =
        serde_json::from_slice(&opened.body).map_err(|e| BundleError::Malformed {
            what: "bundle",
            reason: e.to_string(),
        })?;
    Ok(body.version)
}

impl Root {
    /// Verifies a bundle against this root and the client's expectations, at `now`.
    ///
    /// The checks run in this fixed order (numbered as in `docs/bundle-format.md`); the first
    /// failure is returned.
    pub fn verify_bundle(
        &self,
        bytes: &[u8],
        expect: &Expectations,
        now: UnixTime,
    ) -> Result<VerifiedBundle, BundleError> {
        let now = secs(now);

        // 1. Endless data: refuse anything over the byte cap before parsing a single byte,
        //    then take the envelope apart (the body stays opaque bytes).
        let opened = envelope::open(bytes, "bundle", BUNDLE_FORMAT, expect.max_bytes)?;

        // 2. Forged bundle, stolen key: a threshold of distinct root keys must have signed
        //    `keypin/bundle/v1 || 0 || body`. Nothing in the body is read before this passes.
        let signers = self.check_bundle_signatures(&opened.body, &opened.signatures)?;

        // Mix-and-match is impossible by construction: everything used below comes from the
        // bytes the signatures cover.
        let body: BundleBody =
            serde_json::from_slice(&opened.body).map_err(|e| BundleError::Malformed {
                what: "bundle",
                reason: e.to_string(),
            })?;
        let policy_matches_format = matches!(
            (&body.policy, body.format_version),
            (PolicyField::Toml(_), 1) | (PolicyField::Rules(_), 2)
        );
        let carries_ct = body.ct_log_list.is_some() || body.ct_log_list_sig.is_some();
        if body.kind != BUNDLE_TYPE || !policy_matches_format {
            return Err(BundleError::Malformed {
                what: "bundle",
                reason: format!(
                    "type {:?} format_version {} with a {} policy is not {BUNDLE_TYPE:?} \
                     format 2 (JSON rules) or format 1 (TOML text)",
                    body.kind,
                    body.format_version,
                    match body.policy {
                        PolicyField::Toml(_) => "TOML",
                        PolicyField::Rules(_) => "JSON",
                    }
                ),
            });
        }
        if carries_ct && body.format_version != 2 {
            return Err(BundleError::Malformed {
                what: "bundle",
                reason: format!(
                    "format_version {} cannot carry a CT log list (ct_log_list is format 2 only)",
                    body.format_version
                ),
            });
        }

        // 3. Cross-app replay.
        if let Some(app_id) = &expect.app_id
            && *app_id != body.app_id
        {
            return Err(BundleError::WrongApp {
                expected: app_id.clone(),
                found: body.app_id,
            });
        }

        // 4. Cross-environment replay.
        if let Some(env) = &expect.environment
            && *env != body.environment
        {
            return Err(BundleError::WrongEnvironment {
                expected: env.clone(),
                found: body.environment,
            });
        }

        // 5. Rollback: strictly above the high-water mark.
        if let Some(high_water) = expect.high_water
            && body.version <= high_water
        {
            return Err(BundleError::RolledBack {
                version: body.version,
                high_water,
            });
        }

        // 6. Freeze: the bundle must not have expired.
        let expires = parse_date(&body.expires, "bundle")?;
        if is_past(expires, now) && expect.expired == ExpiredBundle::Refuse {
            return Err(BundleError::Expired { expires, now });
        }

        // 7. Clock set back: now must not be behind the latest time seen.
        if let Some(latest_seen) = expect.latest_seen
            && now < latest_seen
        {
            return Err(BundleError::ClockBehind { now, latest_seen });
        }

        // 8. Freeze of the root itself: an expired root signs nothing.
        if is_past(self.expires(), now) {
            return Err(BundleError::RootExpired {
                version: self.version(),
                expires: self.expires(),
            });
        }

        // 9. The policy must validate (the signer checked it too; a client never trusts that).
        //    Local file read: its trust anchors must be inline PEM. An anchor naming a file is
        //    refused without being opened (`AnchorSource`): signed bytes from the network never
        //    make the app read a local file, whatever the signers put in them.
        let source = format!(
            "bundle {}/{} v{}",
            body.app_id, body.environment, body.version
        );
        let policy = match body.policy {
            PolicyField::Rules(p) => Policy::from_rules(&source, p.rules),
            PolicyField::Toml(text) => Policy::from_toml_str(&text, &source),
        }
        .map_err(|e| BundleError::InvalidPolicy(Box::new(e)))?;

        // 10. Malformed CT log list: when carried, it must be a v3 list.
        // 11. CT log list of unknown provenance: when the app configured a log-list signer,
        //     the list's publisher's signature must be carried and verify with it
        //     (`CarriedLogList`). A bad list is refused here, never stored.
        #[cfg(feature = "ct")]
        let ct_logs = carried_log_list(body.ct_log_list, body.ct_log_list_sig, expect, &source)?;
        #[cfg(not(feature = "ct"))]
        if carries_ct {
            return Err(BundleError::CtLogList {
                reason: format!(
                    "{source} carries a CT log list, and this build of keypin lacks the `ct` \
                     feature that reads it; refused rather than ignored"
                ),
            });
        }

        Ok(VerifiedBundle {
            app_id: body.app_id,
            environment: body.environment,
            version: body.version,
            issued: body.issued,
            expires,
            policy: Arc::new(policy),
            #[cfg(feature = "ct")]
            ct_logs,
            signers,
            bytes: bytes.to_vec(),
        })
    }
}

/// Steps 10 and 11: the carried CT log list, parsed, and its publisher's signature required
/// and checked when the app gave a log-list signer. `None` when the bundle carries none.
#[cfg(feature = "ct")]
fn carried_log_list(
    list: Option<String>,
    sig: Option<String>,
    expect: &Expectations,
    source: &str,
) -> Result<Option<Arc<crate::ct::LogList>>, BundleError> {
    use crate::ct::LogList;
    let refused = |reason: String| BundleError::CtLogList { reason };
    let Some(list) = list else {
        return match sig {
            Some(_) => Err(refused(format!(
                "{source} has ct_log_list_sig but no ct_log_list"
            ))),
            None => Ok(None),
        };
    };
    let json = STANDARD
        .decode(list.as_bytes())
        .map_err(|e| refused(format!("{source}: ct_log_list is not base64: {e}")))?;
    let sig = sig
        .map(|s| STANDARD.decode(s.as_bytes()))
        .transpose()
        .map_err(|e| refused(format!("{source}: ct_log_list_sig is not base64: {e}")))?;
    let name = format!("carried by {source}");
    // 11. Unknown provenance: the bundle signers vouch for the list, but the app named another
    //     party for lists. Only the explicit opt-out takes the bundle signatures alone.
    if sig.is_none()
        && expect.ct_log_list_signer.is_some()
        && expect.carried_ct_log_list == CarriedLogList::RequireSignerSignature
    {
        return Err(refused(format!(
            "{source} carries a CT log list with no ct_log_list_sig, and this app takes lists \
             signed by its log-list signer only; publish the bundle with the list's signature \
             (`keypin bundle sign --ct-log-list-sig`), or opt out in the app with \
             CarriedLogList::AcceptBundleSignatureAlone"
        )));
    }
    // 10 and 11: the list parses, and a carried signature verifies, in every mode.
    let logs = match (&sig, &expect.ct_log_list_signer) {
        (Some(sig), Some(signer)) => LogList::from_signed(&json, sig, signer, &name),
        _ => LogList::from_authenticated(&json, &name),
    }
    .map_err(|e| refused(e.to_string()))?;
    Ok(Some(Arc::new(logs)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::live::bundle::RootSpec;

    const POLICY: &str = "[[rule]]\nhosts = [\"api.example.com\"]\npins = [\
        \"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \
        \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\nmode = \"report-only\"\n";

    fn setup() -> (SigningKey, Root) {
        let key = SigningKey::generate().unwrap().0;
        let root = RootSpec {
            version: 1,
            expires: Date::parse("2099-01-01").unwrap(),
            threshold: 1,
            keys: vec![key.public_key().clone()],
        }
        .sign(&[&key], None)
        .unwrap();
        (key, Root::from_embedded(&root).unwrap())
    }

    /// Seals a hand-made body (whatever its format) with a genuine key.
    fn seal_body(key: &SigningKey, format_version: u32, policy: serde_json::Value) -> Vec<u8> {
        let body = serde_json::json!({
            "type": BUNDLE_TYPE, "format_version": format_version, "app_id": "a",
            "environment": "e", "version": 2, "issued": "2026-11-28T00:00:00Z",
            "expires": "2098-01-01", "policy": policy,
        });
        let body = serde_json::to_vec(&body).unwrap();
        envelope::seal(BUNDLE_FORMAT, BUNDLE_CONTEXT, &body, &[key]).unwrap()
    }

    /// Seals a format-2 body with extra top-level fields.
    fn seal_with(key: &SigningKey, extra: serde_json::Value) -> Vec<u8> {
        let mut body = serde_json::json!({
            "type": BUNDLE_TYPE, "format_version": 2, "app_id": "a",
            "environment": "e", "version": 2, "issued": "2026-11-28T00:00:00Z",
            "expires": "2098-01-01", "policy": {"rules": []},
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let body = serde_json::to_vec(&body).unwrap();
        envelope::seal(BUNDLE_FORMAT, BUNDLE_CONTEXT, &body, &[key]).unwrap()
    }

    fn now() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000))
    }

    #[test]
    fn signer_writes_format_2_with_the_same_rules_as_the_toml() {
        let (key, root) = setup();
        let bytes = BundleSpec {
            app_id: "a".into(),
            environment: "e".into(),
            version: 2,
            issued_unix: 1_800_000_000,
            expires: Date::parse("2098-01-01").unwrap(),
            policy_toml: POLICY.into(),
        }
        .sign(&[&key])
        .unwrap();
        let opened = envelope::open(&bytes, "bundle", BUNDLE_FORMAT, usize::MAX).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&opened.body).unwrap();
        assert_eq!(body["format_version"], 2);
        assert_eq!(body["policy"]["rules"][0]["mode"], "report-only");
        let v = root
            .verify_bundle(&bytes, &Expectations::new("a", "e"), now())
            .unwrap();
        let from_toml = Policy::from_toml_str(POLICY, "t").unwrap();
        assert_eq!(v.policy().rules().len(), 1);
        assert_eq!(v.policy().rules()[0].pins(), from_toml.rules()[0].pins());
        assert_eq!(v.policy().rules()[0].mode(), from_toml.rules()[0].mode());
    }

    #[test]
    fn format_1_toml_bundles_still_verify() {
        let (key, root) = setup();
        let bytes = seal_body(&key, 1, serde_json::Value::String(POLICY.into()));
        let v = root
            .verify_bundle(&bytes, &Expectations::new("a", "e"), now())
            .unwrap();
        assert_eq!(v.policy().rules().len(), 1);
    }

    #[test]
    fn policy_shape_must_match_the_format_version() {
        let (key, root) = setup();
        let rules = serde_json::json!({"rules": [{"hosts": ["api.example.com"], "pins": [
            "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
            "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]}]});
        for bytes in [
            seal_body(&key, 2, serde_json::Value::String(POLICY.into())),
            seal_body(&key, 1, rules.clone()),
            seal_body(&key, 3, rules),
        ] {
            let err = root
                .verify_bundle(&bytes, &Expectations::new("a", "e"), now())
                .unwrap_err();
            assert!(
                matches!(err, BundleError::Malformed { .. }),
                "{err:?} should be a format refusal"
            );
        }
    }

    #[test]
    fn unknown_rule_fields_and_invalid_rules_are_refused() {
        let (key, root) = setup();
        let unknown = serde_json::json!({"rules": [{"hosts": ["api.example.com"],
            "pins": ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y="], "mdoe": "x"}]});
        let err = root
            .verify_bundle(
                &seal_body(&key, 2, unknown),
                &Expectations::new("a", "e"),
                now(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("mdoe"), "{err}");
        // One pin on an enforcing rule: the same validation as a TOML file refuses it.
        let weak = serde_json::json!({"rules": [{"hosts": ["api.example.com"],
            "pins": ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y="]}]});
        let err = root
            .verify_bundle(
                &seal_body(&key, 2, weak),
                &Expectations::new("a", "e"),
                now(),
            )
            .unwrap_err();
        assert!(matches!(err, BundleError::InvalidPolicy(_)), "{err:?}");
    }

    #[test]
    fn unknown_body_fields_are_still_refused() {
        let (key, root) = setup();
        for field in ["ct_log_lists", "ct_logs", "extra"] {
            let bytes = seal_with(&key, serde_json::json!({ field: "e30=" }));
            let err = root
                .verify_bundle(&bytes, &Expectations::new("a", "e"), now())
                .unwrap_err();
            assert!(
                matches!(&err, BundleError::Malformed { reason, .. } if reason.contains("unknown field")),
                "{field}: {err:?}"
            );
        }
    }

    #[cfg(feature = "ct")]
    #[test]
    fn a_carried_log_list_must_parse_and_a_signature_needs_a_list() {
        let (key, root) = setup();
        let b64 = |s: &str| STANDARD.encode(s.as_bytes());
        let verify = |extra: serde_json::Value| {
            root.verify_bundle(&seal_with(&key, extra), &Expectations::new("a", "e"), now())
        };
        let ok = verify(serde_json::json!({"ct_log_list": b64(r#"{"operators": []}"#)})).unwrap();
        assert_eq!(ok.ct_logs().map(|l| l.len()), Some(0));
        let rows = [
            (
                serde_json::json!({"ct_log_list": b64("{")}),
                "line 1, column 1",
            ),
            (
                serde_json::json!({"ct_log_list": b64(
                    r#"{"operators": [{"name": "A", "logs": [{"log_id": "x", "key": "!!"}]}]}"#)}),
                "operators[0].logs[0]: key: not base64",
            ),
            (
                serde_json::json!({"ct_log_list": "%%"}),
                "ct_log_list is not base64",
            ),
            (
                serde_json::json!({"ct_log_list": b64(r#"{"operators": []}"#), "ct_log_list_sig": "%%"}),
                "ct_log_list_sig is not base64",
            ),
            (
                serde_json::json!({"ct_log_list_sig": "AAAA"}),
                "ct_log_list_sig but no ct_log_list",
            ),
        ];
        for (extra, words) in rows {
            let err = verify(extra.clone()).unwrap_err();
            assert!(
                matches!(err, BundleError::CtLogList { .. }) && err.to_string().contains(words),
                "{extra}: {err}"
            );
            assert!(err.to_string().contains("bundle a/e v2"), "{err}");
        }
        // Format 1 bodies cannot carry one.
        let mut body: serde_json::Value = serde_json::from_slice(
            &envelope::open(
                &seal_body(&key, 1, serde_json::Value::String(POLICY.into())),
                "bundle",
                BUNDLE_FORMAT,
                usize::MAX,
            )
            .unwrap()
            .body,
        )
        .unwrap();
        body["ct_log_list"] = b64(r#"{"operators": []}"#).into();
        let bytes = envelope::seal(
            BUNDLE_FORMAT,
            BUNDLE_CONTEXT,
            &serde_json::to_vec(&body).unwrap(),
            &[&key],
        )
        .unwrap();
        let err = root
            .verify_bundle(&bytes, &Expectations::new("a", "e"), now())
            .unwrap_err();
        assert!(err.to_string().contains("format 2 only"), "{err}");
    }

    #[cfg(not(feature = "ct"))]
    #[test]
    fn without_the_ct_feature_a_carried_log_list_is_refused() {
        let (key, root) = setup();
        let bytes = seal_with(&key, serde_json::json!({"ct_log_list": "e30="}));
        let err = root
            .verify_bundle(&bytes, &Expectations::new("a", "e"), now())
            .unwrap_err();
        assert!(err.to_string().contains("lacks the `ct` feature"), "{err}");
    }
}
