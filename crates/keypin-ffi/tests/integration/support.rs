//! Test PKI and policies shared by the tests.

use std::sync::Arc;

use keypin::pin::Pin;
use keypin_ffi::{Keypin, KeypinOptions};
use keypin_pki::Chain;
use keypin_pki::KeyAlg;

pub const HOST: &str = "api.example.test";

pub struct Lab {
    pub genuine: Chain,
    pub rogue: Chain,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Self {
        Self {
            genuine: Chain::generate("Genuine", &[HOST], KeyAlg::EcdsaP256).unwrap(),
            rogue: Chain::generate("Rogue", &[HOST], KeyAlg::EcdsaP256).unwrap(),
            dir: tempfile::TempDir::new().unwrap(),
        }
    }

    /// The genuine verified path: leaf, intermediate, root (DER).
    pub fn genuine_path(&self) -> Vec<Vec<u8>> {
        path_of(&self.genuine)
    }

    /// What an interceptor's CA makes the platform verify.
    pub fn rogue_path(&self) -> Vec<Vec<u8>> {
        path_of(&self.rogue)
    }

    /// A policy pinning the genuine intermediate's key, plus a backup pin.
    pub fn policy(&self, extra: &str) -> String {
        policy_for(
            &[spki(&self.genuine.intermediate.spki_der()), BACKUP.into()],
            extra,
        )
    }

    pub fn options(&self) -> KeypinOptions {
        options(self.dir.path().join("reports").to_str().unwrap(), vec![])
    }

    pub fn keypin(&self, extra: &str) -> Arc<Keypin> {
        Keypin::from_toml(self.policy(extra), "test policy".into(), self.options()).unwrap()
    }
}

pub const BACKUP: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

pub fn spki(der: &[u8]) -> String {
    Pin::from_spki_der(der).to_string()
}

pub fn path_of(chain: &Chain) -> Vec<Vec<u8>> {
    vec![
        chain.leaf.cert.to_vec(),
        chain.intermediate.cert.to_vec(),
        chain.root.cert.to_vec(),
    ]
}

pub fn policy_for(pins: &[String], extra: &str) -> String {
    let pins: Vec<String> = pins.iter().map(|p| format!("{p:?}")).collect();
    format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [{}]\n{extra}\n",
        pins.join(", ")
    )
}

pub fn options(state_dir: &str, report_uris: Vec<String>) -> KeypinOptions {
    KeypinOptions {
        state_dir: state_dir.into(),
        app_id: Some("com.example.app".into()),
        app_version: Some("1.0".into()),
        platform: Some("JVM".into()),
        report_uris,
        report_queue: 8,
    }
}
