//! The three flows: a challenge; registration (attestation → install id); assertion (client
//! data signed by the attested key → token).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use keypin_attest::UnixTime;
use keypin_attest::android::{AndroidRequest, Revocation, SecurityLevel, verify_android};
use keypin_attest::apple::{
    AppleFailure, AssertionRequest, AttestationRequest, P256PublicKey, verify_assertion,
    verify_attestation,
};
use keypin_attest::danger::{verify_android_with_test_roots, verify_attestation_with_test_roots};
use serde::Deserialize;

use super::{Gate, TlsExporter, parse_json};
use crate::client_data::ClientData;
use crate::config::{App, RuntimeVerdict};
use crate::store::Install;
use crate::token::{Claims, ISSUER};
use crate::{GateError, b64url, from_b64url, sha256, unix_now};

fn respond(result: Result<serde_json::Value, GateError>, gate: &Gate, event: &str) -> Response {
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            if matches!(e, GateError::Refused(_)) {
                gate.store.audit(unix_now(), event, None, &e.to_string());
            }
            e.into_response()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeBody {
    app: String,
}

pub(super) async fn challenge(State(gate): State<Arc<Gate>>, body: Bytes) -> Response {
    let result = (|| {
        let req: ChallengeBody = parse_json("/v1/challenge", &body)?;
        app(&gate, &req.app)?;
        let mut value = [0u8; 32];
        aws_lc_rs::rand::fill(&mut value)
            .map_err(|_| GateError::Token("no randomness for a challenge".into()))?;
        let expires_at = unix_now() + gate.config.challenge_lifetime_secs;
        gate.store.add_challenge(&value, expires_at)?;
        Ok(serde_json::json!({ "challenge": b64url(&value), "expires_at": expires_at }))
    })();
    respond(result, &gate, "challenge refused")
}

fn app<'g>(gate: &'g Gate, name: &str) -> Result<&'g App, GateError> {
    gate.config
        .apps
        .get(name)
        .ok_or_else(|| GateError::NotFound(format!("app {name:?} is not in gate.toml")))
}

fn now() -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(unix_now()).unwrap_or(0),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    app: String,
    platform: String,
    challenge: String,
    key_id: Option<String>,
    attestation: Option<String>,
    chain_pem: Option<String>,
}

pub(super) async fn register(State(gate): State<Arc<Gate>>, body: Bytes) -> Response {
    let result = register_flow(&gate, &body);
    respond(result, &gate, "register refused")
}

fn register_flow(gate: &Gate, body: &[u8]) -> Result<serde_json::Value, GateError> {
    let req: RegisterBody = parse_json("/v1/register", body)?;
    let app = app(gate, &req.app)?;
    let challenge = from_b64url("challenge", &req.challenge)?;
    let (public_key, security_level) = match req.platform.as_str() {
        "ios" => register_ios(gate, app, &req, &challenge)?,
        "android" => register_android(gate, app, &req, &challenge)?,
        other => {
            return Err(GateError::BadRequest(format!(
                "platform {other:?}: expected ios or android"
            )));
        }
    };
    let mut id = [0u8; 16];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| GateError::Token("no randomness".into()))?;
    let install = Install {
        id: b64url(&id),
        app: app.name.clone(),
        platform: req.platform.clone(),
        public_key,
        counter: 0,
        security_level,
    };
    let now = unix_now();
    gate.store.register(&challenge, now, &install)?;
    gate.store.audit(
        now,
        "registered",
        Some(&install.id),
        &format!("{} {}", app.name, req.platform),
    );
    Ok(serde_json::json!({ "install_id": install.id }))
}

/// App Attest: the client data hash of a registration is SHA-256 of the challenge.
fn register_ios(
    gate: &Gate,
    app: &App,
    req: &RegisterBody,
    challenge: &[u8],
) -> Result<(Vec<u8>, String), GateError> {
    let (app_id, environment) = app
        .ios
        .as_ref()
        .ok_or_else(|| GateError::BadRequest(format!("app {:?} is not on iOS", app.name)))?;
    let missing = |f: &str| GateError::BadRequest(format!("/v1/register: {f} is required for ios"));
    let object = from_b64url(
        "attestation",
        req.attestation
            .as_deref()
            .ok_or_else(|| missing("attestation"))?,
    )?;
    let key_id = from_b64url(
        "key_id",
        req.key_id.as_deref().ok_or_else(|| missing("key_id"))?,
    )?;
    let request = AttestationRequest {
        app_id,
        key_id: &key_id,
        client_data_hash: &sha256(&[challenge]),
        environment: *environment,
        now: now(),
    };
    let verified = match &gate.config.danger_test_roots {
        None => verify_attestation(&object, &request),
        Some(roots) => verify_attestation_with_test_roots(&object, &request, roots),
    }
    .map_err(|f| GateError::Refused(format!("App Attest attestation refused: {f}")))?;
    Ok((
        verified.public_key.as_uncompressed().to_vec(),
        "secure-enclave".into(),
    ))
}

fn register_android(
    gate: &Gate,
    app: &App,
    req: &RegisterBody,
    challenge: &[u8],
) -> Result<(Vec<u8>, String), GateError> {
    let policy = app
        .android
        .as_ref()
        .ok_or_else(|| GateError::BadRequest(format!("app {:?} is not on Android", app.name)))?;
    let chain = req.chain_pem.as_deref().ok_or_else(|| {
        GateError::BadRequest("/v1/register: chain_pem is required for android".into())
    })?;
    let list = gate
        .config
        .android_revocation
        .as_ref()
        .map(crate::revocation::RevocationSource::current);
    let request = AndroidRequest {
        challenge,
        policy,
        revocation: list
            .as_deref()
            .map_or(Revocation::NotChecked, Revocation::Checked),
        now: now(),
    };
    let report = match &gate.config.danger_test_roots {
        None => verify_android(chain.as_bytes(), &request),
        Some(roots) => verify_android_with_test_roots(chain.as_bytes(), &request, roots),
    };
    if let Err(f) = &report.verdict {
        return Err(GateError::Refused(format!(
            "Android attestation refused: {f}"
        )));
    }
    let kd = report
        .key_description
        .ok_or_else(|| GateError::Refused("Android attestation without a KeyDescription".into()))?;
    let leaf = chain_leaf_spki(chain)?;
    let key = P256PublicKey::from_spki_der(&leaf)
        .map_err(|e| GateError::Refused(format!("Android attested key: {e}")))?;
    let level = match kd.keymint_security_level {
        SecurityLevel::StrongBox => "strongbox",
        _ => "tee",
    };
    Ok((key.as_uncompressed().to_vec(), level.into()))
}

/// The leaf's SubjectPublicKeyInfo, DER (the chain has been verified already).
fn chain_leaf_spki(chain: &str) -> Result<Vec<u8>, GateError> {
    use x509_parser::prelude::{FromDer as _, X509Certificate};
    let leaf = rustls_pki_types::pem::PemObject::pem_slice_iter(chain.as_bytes())
        .next()
        .and_then(|c: Result<rustls_pki_types::CertificateDer<'static>, _>| c.ok())
        .ok_or_else(|| GateError::BadRequest("chain_pem: no certificate".into()))?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| GateError::BadRequest(format!("chain_pem: leaf: {e}")))?;
    Ok(cert.public_key().raw.to_vec())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertBody {
    install_id: String,
    client_data: String,
    assertion: Option<String>,
    signature: Option<String>,
}

pub(super) async fn assert(
    State(gate): State<Arc<Gate>>,
    exporter: Option<Extension<TlsExporter>>,
    body: Bytes,
) -> Response {
    let exporter = exporter.map(|Extension(e)| e);
    let result = assert_flow(&gate, exporter.as_ref(), &body);
    respond(result, &gate, "assert refused")
}

fn assert_flow(
    gate: &Gate,
    exporter: Option<&TlsExporter>,
    body: &[u8],
) -> Result<serde_json::Value, GateError> {
    let req: AssertBody = parse_json("/v1/assert", body)?;
    let install = gate.store.install(&req.install_id)?.ok_or_else(|| {
        GateError::NotFound(format!("install {:?} is not registered", req.install_id))
    })?;
    let app = app(gate, &install.app)?;
    let client_data_bytes = from_b64url("client_data", &req.client_data)?;
    let client_data = ClientData::parse(&client_data_bytes)?;
    let counter = check_signature(app, &install, &req, &client_data_bytes)?;
    check_channel(gate, &install, &client_data, exporter)?;
    let verdict = judge_runtime(gate, &install, &client_data)?;
    let now = unix_now();
    gate.store
        .spend_and_advance(&client_data.challenge, now, &install.id, counter)?;
    let (scope, runtime_findings) = match verdict {
        RuntimeVerdict::Downscope { scope, ids } => (Some(scope), ids),
        _ => (None, Vec::new()),
    };
    let claims = Claims {
        iss: ISSUER.into(),
        aud: gate.config.audience.clone(),
        sub: install.id.clone(),
        app: install.app.clone(),
        platform: install.platform.clone(),
        security_level: install.security_level.clone(),
        iat: now,
        exp: now + gate.config.token_lifetime_secs,
        htm: client_data.method.clone(),
        htu: client_data.path.clone(),
        bdh: b64url(&client_data.body_sha256),
        scope,
        runtime_findings,
    };
    let token = gate.signer.issue(&gate.store, &claims, now)?;
    // A down-scoped token gets no secrets.
    let secrets = if claims.scope.is_some() {
        Vec::new()
    } else {
        release_secrets(gate, &install, &client_data, &client_data_bytes, now)?
    };
    Ok(serde_json::json!({ "token": token, "expires_at": claims.exp, "secrets": secrets }))
}

/// The runtime-findings policy on the (signed) client data; every reported finding is
/// audited. `Err` when the policy refuses.
fn judge_runtime(
    gate: &Gate,
    install: &Install,
    cd: &ClientData,
) -> Result<RuntimeVerdict, GateError> {
    if cd.runtime_findings.is_empty() {
        return Ok(RuntimeVerdict::Full);
    }
    let now = unix_now();
    let ids: Vec<String> = cd
        .runtime_findings
        .iter()
        .map(|f| format!("{} ({})", f.id, f.severity.as_str()))
        .collect();
    let verdict = gate.config.runtime.judge(&cd.runtime_findings);
    let action = match &verdict {
        RuntimeVerdict::Refuse(_) => "refused",
        RuntimeVerdict::Downscope { .. } => "down-scoped",
        _ => "full token",
    };
    gate.store.audit(
        now,
        "runtime findings reported",
        Some(&install.id),
        &format!("{}; {action}", ids.join(", ")),
    );
    match verdict {
        RuntimeVerdict::Refuse(reason) => Err(GateError::Refused(reason)),
        other => Ok(other),
    }
}

/// Every secret the install is entitled to, sealed to the client data's ephemeral key (none
/// without one); the AAD is the client data hash the attested key signed.
fn release_secrets(
    gate: &Gate,
    install: &Install,
    cd: &ClientData,
    cd_bytes: &[u8],
    now: i64,
) -> Result<Vec<serde_json::Value>, GateError> {
    let Some(key) = &cd.ephemeral_key else {
        return Ok(Vec::new());
    };
    let aad = sha256(&[cd_bytes]);
    let mut out = Vec::new();
    for secret in &gate.config.secrets {
        if !secret.entitled(&install.app, &install.security_level) {
            continue;
        }
        let (enc, ciphertext) = secret.seal(key, &aad)?;
        gate.store
            .audit(now, "secret released", Some(&install.id), &secret.name);
        out.push(serde_json::json!({
            "name": secret.name, "enc": b64url(&enc), "ciphertext": b64url(&ciphertext),
        }));
    }
    Ok(out)
}

/// The signature over the client data, by the install's key; for App Attest, also the
/// counter (returned, to be stored in the same transaction as the challenge is spent).
fn check_signature(
    app: &App,
    install: &Install,
    req: &AssertBody,
    client_data: &[u8],
) -> Result<Option<u32>, GateError> {
    let key = P256PublicKey::from_uncompressed(&install.public_key)
        .ok_or_else(|| GateError::Refused("stored key unusable".into()))?;
    match install.platform.as_str() {
        "ios" => {
            let (app_id, _) = app.ios.as_ref().ok_or_else(|| {
                GateError::Refused(format!("app {:?} is no longer on iOS", app.name))
            })?;
            let assertion = from_b64url(
                "assertion",
                req.assertion.as_deref().ok_or_else(|| {
                    GateError::BadRequest("/v1/assert: assertion is required for ios".into())
                })?,
            )?;
            let verified = verify_assertion(
                &assertion,
                &AssertionRequest {
                    app_id,
                    public_key: &key,
                    client_data_hash: &sha256(&[client_data]),
                    previous_counter: install.counter,
                },
            )
            .map_err(|f: AppleFailure| {
                GateError::Refused(format!("App Attest assertion refused: {f}"))
            })?;
            Ok(Some(verified.counter))
        }
        "android" => {
            if app.android.is_none() {
                return Err(GateError::Refused(format!(
                    "app {:?} is no longer on Android",
                    app.name
                )));
            }
            let signature = from_b64url(
                "signature",
                req.signature.as_deref().ok_or_else(|| {
                    GateError::BadRequest("/v1/assert: signature is required for android".into())
                })?,
            )?;
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.as_uncompressed())
                .verify(client_data, &signature)
                .map_err(|_| {
                    GateError::Refused(
                        "Android signature does not verify with the attested key over the client data"
                            .into(),
                    )
                })?;
            Ok(None)
        }
        other => Err(GateError::Refused(format!(
            "install {} has platform {other:?}, neither ios nor android",
            install.id
        ))),
    }
}

/// Channel binding. Where the gate terminates TLS, the app's `tls-exporter` must be this
/// connection's; where the API's keys are configured, the SPKI the app saw must be one of
/// them. A mismatch means a party in between terminated the app's TLS (an interception the
/// app's pinning did not stop).
fn check_channel(
    gate: &Gate,
    install: &Install,
    cd: &ClientData,
    exporter: Option<&TlsExporter>,
) -> Result<(), GateError> {
    let refused = |detail: String| {
        let now = unix_now();
        gate.store
            .audit(now, "channel binding mismatch", Some(&install.id), &detail);
        if let Some(target) = &gate.config.report {
            target.send(&install.app, &install.platform, &detail, now);
        }
        Err(GateError::Refused(format!(
            "channel binding mismatch: {detail}"
        )))
    };
    if let Some(TlsExporter(ours)) = exporter {
        match &cd.tls_exporter {
            None => return refused("the client data names no tls-exporter value".into()),
            Some(theirs) if theirs.as_slice() != ours.as_slice() => {
                return refused(
                    "the app's tls-exporter value is not this connection's (intercepted)".into(),
                );
            }
            Some(_) => {}
        }
    }
    let served = &gate.config.served_spki_sha256;
    if served.is_empty() {
        return Ok(());
    }
    match &cd.server_spki_sha256 {
        None => refused("the client data names no server SPKI".into()),
        Some(seen) if served.contains(seen) => Ok(()),
        Some(seen) => refused(format!(
            "the app saw SPKI sha256/{}, which this API does not serve (intercepted)",
            {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(seen)
            }
        )),
    }
}
