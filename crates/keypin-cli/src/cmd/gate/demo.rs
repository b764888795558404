//! `keypin gate demo`: a gate on loopback trusting freshly made test attestation roots (the
//! simulator of keypin-pki), and simulated apps: genuine ones get tokens, attacks are refused
//! with the gate's reason. Nothing leaves the machine.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use keypin_gate::server::Gate;
use keypin_gate::store::Store;
use keypin_gate::{GateConfig, client_data, sha256};
use keypin_pki::attest_sim::{
    AndroidAttestCa, AndroidKeySpec, AppleAttestCa, AppleAttestationSpec,
};
use serde_json::{Value, json};

use crate::Failure;

const IOS_APP: &str = "ABCDE12345.com.example.app";
const PACKAGE: &str = "com.example.app";
const SIGNER: [u8; 32] = [0x3f; 32];
const SERVED_PIN: [u8; 32] = [0x51; 32];
const AUDIENCE: &str = "https://api.example.com";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// One HTTP/1.1 POST over a fresh loopback connection.
fn post(addr: SocketAddr, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).context("connecting to the demo gate")?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let status = reply.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let json = reply
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok((status, json))
}

struct Demo {
    addr: SocketAddr,
    apple: AppleAttestCa,
    android: AndroidAttestCa,
    gate: Arc<Gate>,
}

impl Demo {
    /// Client data for `POST /v1/orders {}` over a fresh challenge, seen over a channel that
    /// presented `pin`.
    fn client_data(&self, pin: &[u8; 32]) -> anyhow::Result<Vec<u8>> {
        Ok(client_data::build(
            &self.challenge()?,
            "POST",
            "/v1/orders",
            b"{}",
            Some(pin),
        ))
    }

    /// An assertion request for `install` signed with `proof`, posted.
    fn assert(
        &self,
        install: &str,
        cd: &[u8],
        field: &str,
        proof: &[u8],
    ) -> anyhow::Result<(u16, Value)> {
        post(
            self.addr,
            "/v1/assert",
            &assert_body(install, cd, field, proof),
        )
    }

    fn challenge(&self) -> anyhow::Result<Vec<u8>> {
        let (_, v) = post(self.addr, "/v1/challenge", &json!({"app": "example"}))?;
        let text = v["challenge"]
            .as_str()
            .ok_or_else(|| anyhow!("no challenge: {v}"))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text)?)
    }

    fn register_ios(
        &self,
        app_id: &str,
    ) -> anyhow::Result<((u16, Value), keypin_pki::attest_sim::SimAppleKey)> {
        let challenge = self.challenge()?;
        let made = self.apple.attest(
            &AppleAttestationSpec::genuine(app_id),
            &sha256(&[&challenge]),
        )?;
        let body = json!({"app": "example", "platform": "ios", "challenge": b64(&challenge),
            "key_id": b64(&made.key.key_id()), "attestation": b64(&made.object)});
        Ok((post(self.addr, "/v1/register", &body)?, made.key))
    }

    fn register_android(
        &self,
        signer: [u8; 32],
    ) -> anyhow::Result<((u16, Value), keypin_pki::attest_sim::SimAndroidKey)> {
        let challenge = self.challenge()?;
        let made = self
            .android
            .attest(&AndroidKeySpec::genuine(&challenge, PACKAGE, signer))?;
        let body = json!({"app": "example", "platform": "android", "challenge": b64(&challenge),
            "chain_pem": made.chain_pem});
        Ok((post(self.addr, "/v1/register", &body)?, made.key))
    }
}

fn outcome(label: &str, (status, body): &(u16, Value)) {
    let what = if *status == 200 {
        "accepted".to_string()
    } else {
        format!(
            "refused ({status}): {}",
            body["error"].as_str().unwrap_or_default()
        )
    };
    say!("  {label:<44} {what}");
}

pub(super) fn run() -> Result<u8, Failure> {
    let dir = std::env::temp_dir().join(format!("keypin-gate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("demo directory")?;
    let result = run_in(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(Failure::usage)
}

fn run_in(dir: &std::path::Path) -> anyhow::Result<u8> {
    let apple = AppleAttestCa::generate()?;
    let android = AndroidAttestCa::generate()?;
    std::fs::write(
        dir.join("test-roots.pem"),
        apple.root_pem() + &android.root_pem(),
    )?;
    std::fs::write(dir.join("maps.key"), "demo-maps-key-0123")?;
    let toml = format!(
        "audience = \"{AUDIENCE}\"\nserved_spki_sha256 = [\"{}\"]\ndanger_trust_test_attestation_roots = \"test-roots.pem\"\n\n[[app]]\nname = \"example\"\nios_app_id = \"{IOS_APP}\"\nandroid_package = \"{PACKAGE}\"\nandroid_signing_cert_sha256 = [\"{}\"]\nandroid_require_verified_boot = true\n\n[[secret]]\nname = \"maps_api_key\"\nvalue_file = \"maps.key\"\napps = [\"example\"]\n",
        base64::engine::general_purpose::STANDARD.encode(SERVED_PIN),
        "3f".repeat(32)
    );
    let config = GateConfig::from_toml(&toml, dir).map_err(|e| anyhow!(e))?;
    let gate = Gate::new(config, Store::open(&dir.join("gate.db"))?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    runtime.spawn(keypin_gate::server::serve(listener, Arc::clone(&gate)));
    let demo = Demo {
        addr,
        apple,
        android,
        gate,
    };
    say!(
        "keypin gate demo: a gate on http://{addr} trusting simulated Apple and Google attestation roots"
    );
    say!(
        "(audience {AUDIENCE}; the API serves SPKI sha256/{})",
        base64::engine::general_purpose::STANDARD.encode(SERVED_PIN)
    );
    say!();
    genuine(&demo)?;
    attacks(&demo)?;
    Ok(0)
}

fn assert_body(install: &str, cd: &[u8], field: &str, proof: &[u8]) -> Value {
    json!({"install_id": install, "client_data": b64(cd), field: b64(proof)})
}

fn genuine(d: &Demo) -> anyhow::Result<()> {
    say!("genuine apps");
    let ((status, body), mut key) = d.register_ios(IOS_APP)?;
    outcome("iOS App Attest registration", &(status, body.clone()));
    let install = body["install_id"].as_str().unwrap_or_default().to_string();
    let (ephemeral_private, ephemeral_public) = keypin_gate::secrets::ephemeral_keypair();
    let cd = client_data::build_full(
        &d.challenge()?,
        "POST",
        "/v1/orders",
        b"{}",
        Some(&SERVED_PIN),
        None,
        Some(&ephemeral_public),
    );
    let assertion = key.assert(&sha256(&[&cd]))?;
    let r = d.assert(&install, &cd, "assertion", &assertion)?;
    outcome("iOS assertion (counter 1, ephemeral key)", &r);
    for s in r.1["secrets"].as_array().into_iter().flatten() {
        let unb64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.as_str().unwrap_or_default())
        };
        let name = s["name"].as_str().unwrap_or_default();
        let value = keypin_gate::secrets::open(
            &ephemeral_private,
            name,
            &unb64(&s["enc"])?,
            &unb64(&s["ciphertext"])?,
            &sha256(&[&cd]),
        )
        .map_err(|e| anyhow!(e))?;
        say!(
            "    secret {name}: {} bytes sealed with HPKE to the app's ephemeral key, opened by the app: {:?}",
            s["ciphertext"].as_str().unwrap_or_default().len() * 3 / 4,
            String::from_utf8_lossy(&value)
        );
    }
    if let Some(token) = r.1["token"].as_str() {
        let claims = keypin_gate::verify_token(token, &d.gate.jwks()?, AUDIENCE)?;
        say!(
            "    token verified against the JWKS: sub {}, app {}, {} / {}, {} {}, expires in {} s",
            claims.sub,
            claims.app,
            claims.platform,
            claims.security_level,
            claims.htm,
            claims.htu,
            claims.exp - claims.iat
        );
    }
    let ((status, body), akey) = d.register_android(SIGNER)?;
    outcome(
        "Android Key Attestation registration (TEE)",
        &(status, body.clone()),
    );
    let install = body["install_id"].as_str().unwrap_or_default().to_string();
    let cd = d.client_data(&SERVED_PIN)?;
    let r = d.assert(&install, &cd, "signature", &akey.sign(&cd)?)?;
    outcome("Android signed client data", &r);
    say!();
    Ok(())
}

fn attacks(d: &Demo) -> anyhow::Result<()> {
    say!("attacks");
    outcome(
        "repackaged iOS app (team ZZZZZ99999)",
        &d.register_ios("ZZZZZ99999.com.example.app")?.0,
    );
    outcome(
        "repackaged APK (another signing certificate)",
        &d.register_android([0xee; 32])?.0,
    );
    let ((_, body), mut key) = d.register_ios(IOS_APP)?;
    let install = body["install_id"].as_str().unwrap_or_default().to_string();
    let cd = d.client_data(&SERVED_PIN)?;
    let request = assert_body(&install, &cd, "assertion", &key.assert(&sha256(&[&cd]))?);
    post(d.addr, "/v1/assert", &request)?;
    outcome("replayed assertion", &post(d.addr, "/v1/assert", &request)?);
    for _ in 0..3 {
        let cd = d.client_data(&SERVED_PIN)?;
        d.assert(&install, &cd, "assertion", &key.assert(&sha256(&[&cd]))?)?;
    }
    let cd = d.client_data(&SERVED_PIN)?;
    let rolled = key.assert_with_counter(2, &sha256(&[&cd]))?;
    outcome(
        "rolled-back counter (2 after 4)",
        &d.assert(&install, &cd, "assertion", &rolled)?,
    );
    let cd = d.client_data(&[0x66; 32])?;
    let a = key.assert(&sha256(&[&cd]))?;
    outcome(
        "intercepted channel (a proxy's key)",
        &d.assert(&install, &cd, "assertion", &a)?,
    );
    Ok(())
}
