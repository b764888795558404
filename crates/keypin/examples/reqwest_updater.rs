//! The README's library quick start with the updater on, kept compiling here: a reqwest client
//! built once on the `PolicyStore`'s live policy follows every pin update the updater installs.
//! (`tests/integration/live_policy.rs` runs the same wiring against loopback servers.)
//!
//! ```text
//! cargo build -p keypin --example reqwest_updater --features reqwest,updater
//! ```

use std::path::PathBuf;

/// The README's lines, as they are there (`state_dir` is the app's).
#[allow(dead_code)]
#[rustfmt::skip]
async fn app(state_dir: PathBuf) -> Result<String, Box<dyn std::error::Error>> {
    // README: begin
    use keypin::{live::updater::{HttpsFetcher, PolicyStore, Updater, UpdaterConfig}, PinnedConfig, Policy, Roots, clock::SystemClock};
    use std::sync::Arc;

    let embedded = Arc::new(Policy::from_file("policy.toml")?); // or include_str! + from_toml_str
    let store = Arc::new(PolicyStore::new(embedded, |p| PinnedConfig::builder(p, Roots::webpki()).build())?);
    let config = UpdaterConfig::new("com.example.app", "production", &std::fs::read("root.json")?, state_dir);
    let fetcher = Box::new(HttpsFetcher::new("https://pins.example.com/", store.clone())?);
    let _running = Arc::new(Updater::start(config, fetcher, Arc::new(SystemClock), store.clone(), None)?.0).spawn();
    let client = keypin::integrations::reqwest::client(store.live())?; // follows every pin update
    let body = client.get("https://api.example.com/")?.send().await?.text().await?;
    // README: end
    Ok(body)
}

fn main() {
    println!("this example only has to compile: see the README's library quick start");
}
