//! The baseline of `bench/lab.sh`: only the lab's certificate generation (fresh PKI and every
//! scenario's certificates), no servers and no client. Prints the wall time in milliseconds.

use std::time::Instant;

fn main() -> Result<(), keypin_lab::Error> {
    let started = Instant::now();
    let pki = keypin_lab::LabPki::generate()?;
    let scenarios = keypin_lab::scenarios(&pki)?;
    println!(
        "{} ms for {} scenarios",
        started.elapsed().as_millis(),
        scenarios.len()
    );
    Ok(())
}
