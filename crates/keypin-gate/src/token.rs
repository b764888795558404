//! Tokens: ES256 JWTs (jsonwebtoken on aws-lc-rs). Signing keys live in the store and rotate:
//! a key older than the rotation period is replaced by a new one on the next issue, and the
//! JWKS keeps publishing the old one for a token lifetime after that, so tokens it signed still
//! verify until they expire. [`verify_token`] is what an API backend calls (any JWT library
//! that does ES256 with a JWKS works too).

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::{GateError, b64url};

/// The issuer every token names.
pub const ISSUER: &str = "keypin-gate";

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `keypin-gate`.
    pub iss: String,
    /// The API the token is for.
    pub aud: String,
    /// The install id.
    pub sub: String,
    /// The app's name in gate.toml.
    pub app: String,
    /// `ios` or `android`.
    pub platform: String,
    /// Where the key lives: `secure-enclave`, `tee`, `strongbox`.
    pub security_level: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The API request's method, as signed in the client data.
    pub htm: String,
    /// The API request's path.
    pub htu: String,
    /// SHA-256 of the API request's body, base64url.
    pub bdh: String,
    /// Set on a down-scoped token only (`on_runtime_findings = "downscope"`): the narrower
    /// scope the API should grant. Absent on a full token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The ids of the runtime integrity findings that down-scoped the token (client-reported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_findings: Vec<String>,
}

/// A JSON Web Key Set (`GET /.well-known/jwks.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One P-256 public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `EC`.
    pub kty: String,
    /// `P-256`.
    pub crv: String,
    /// X coordinate, base64url.
    pub x: String,
    /// Y coordinate, base64url.
    pub y: String,
    /// Key id.
    pub kid: String,
    /// `ES256`.
    pub alg: String,
}

/// The key in use, parsed once: (kid, key pair, created).
type Current = (String, std::sync::Arc<EcdsaKeyPair>, i64);

/// Issues tokens with the store's current key.
#[derive(Debug)]
pub struct Signer {
    rotation_secs: i64,
    lifetime_secs: i64,
    current: std::sync::Mutex<Option<Current>>,
}

fn jwk(kid: &str, pkcs8: &[u8]) -> Result<Jwk, GateError> {
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
        .map_err(|e| GateError::Token(format!("signing key {kid}: {e}")))?;
    let point = pair.public_key().as_ref();
    Ok(Jwk {
        kty: "EC".into(),
        crv: "P-256".into(),
        x: b64url(&point[1..33]),
        y: b64url(&point[33..65]),
        kid: kid.into(),
        alg: "ES256".into(),
    })
}

impl Signer {
    /// A signer rotating keys every `rotation_secs`, for tokens living `lifetime_secs`.
    pub fn new(rotation_secs: i64, lifetime_secs: i64) -> Self {
        Self {
            rotation_secs,
            lifetime_secs,
            current: std::sync::Mutex::new(None),
        }
    }

    fn key(
        &self,
        store: &Store,
        now: i64,
    ) -> Result<(String, std::sync::Arc<EcdsaKeyPair>), GateError> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((kid, key, created)) = current.as_ref()
            && now - created < self.rotation_secs
        {
            return Ok((kid.clone(), std::sync::Arc::clone(key)));
        }
        let newest = store
            .signing_keys(now - self.rotation_secs + 1)?
            .into_iter()
            .next();
        let (kid, pkcs8, created) = match newest {
            Some(k) => k,
            None => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|e| GateError::Token(format!("generating a signing key: {e}")))?
                    .as_ref()
                    .to_vec();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                    .map_err(|e| GateError::Token(format!("new signing key: {e}")))?;
                let kid = b64url(&crate::sha256(&[pair.public_key().as_ref()])[..12]);
                store.add_signing_key(&kid, &pkcs8, now)?;
                (kid, pkcs8, now)
            }
        };
        let key = std::sync::Arc::new(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .map_err(|e| GateError::Token(format!("signing key {kid}: {e}")))?,
        );
        *current = Some((kid.clone(), std::sync::Arc::clone(&key), created));
        Ok((kid, key))
    }

    /// Signs `claims` with the current key (made or rotated as needed): a compact JWS,
    /// ES256 (the fixed-width R ‖ S signature of RFC 7518 §3.4). Signing here rather than
    /// through jsonwebtoken keeps the parsed key pair between tokens (its `EncodingKey` parses
    /// the PKCS#8 document on every signature); verification stays with jsonwebtoken.
    pub fn issue(&self, store: &Store, claims: &Claims, now: i64) -> Result<String, GateError> {
        let (kid, key) = self.key(store, now)?;
        let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
        let payload =
            serde_json::to_vec(claims).map_err(|e| GateError::Token(format!("claims: {e}")))?;
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(&payload)
        );
        let signature = key
            .sign(
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
            )
            .map_err(|e| GateError::Token(format!("signing: {e}")))?;
        Ok(format!("{signing_input}.{}", b64url(signature.as_ref())))
    }

    /// The keys a token still alive may have been signed with.
    pub fn jwks(&self, store: &Store, now: i64) -> Result<Jwks, GateError> {
        self.key(store, now)?;
        let keys = store
            .signing_keys(now - self.rotation_secs - self.lifetime_secs)?
            .iter()
            .map(|(kid, pkcs8, _)| jwk(kid, pkcs8))
            .collect::<Result<_, _>>()?;
        Ok(Jwks { keys })
    }
}

/// Verifies a gate token for an API backend: signature by a key of `jwks` (by `kid`), ES256
/// only, issuer, `audience`, and expiry (no leeway). Returns the claims.
pub fn verify_token(token: &str, jwks: &Jwks, audience: &str) -> Result<Claims, GateError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| GateError::Token(format!("header: {e}")))?;
    if header.alg != Algorithm::ES256 {
        return Err(GateError::Token(format!(
            "algorithm {:?}, not ES256",
            header.alg
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| GateError::Token("no kid in the header".into()))?;
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| GateError::Token(format!("kid {kid:?} is not in the key set")))?;
    let key = DecodingKey::from_ec_components(&jwk.x, &jwk.y)
        .map_err(|e| GateError::Token(format!("key {kid}: {e}")))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| GateError::Token(format!("{e}")))
}
