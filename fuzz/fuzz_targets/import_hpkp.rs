//! HPKP header import (`Public-Key-Pins[-Report-Only]: pin-sha256="..."; max-age=...`): the
//! first input line is the host it was served for. Accepted input loads as a policy whose pins
//! are exactly the header's distinct pin-sha256 values.
#![no_main]

use keypin::{host::HostPattern, pin::Pin};
use keypin_formats::{ImportFormat, ImportOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (host, header) = text.split_once('\n').unwrap_or(("api.example.com", &text));
    let options = ImportOptions {
        host: Some(host.to_string()),
        ..ImportOptions::default()
    };
    keypin_fuzz::import::check_import(header.as_bytes(), Some(ImportFormat::Hpkp), &options, None);
    let Ok(imported) =
        keypin_formats::import(header.as_bytes(), "h", Some(ImportFormat::Hpkp), &options)
    else {
        return;
    };
    let Ok(policy) = keypin::Policy::from_toml_str(&imported.toml, "h") else {
        return;
    };
    // The directives as this target reads them, independently of the importer.
    let line = header
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    // Header names are case-insensitive.
    let value = match line.split_once(':') {
        Some((name, v))
            if name.eq_ignore_ascii_case("Public-Key-Pins-Report-Only")
                || name.eq_ignore_ascii_case("Public-Key-Pins") =>
        {
            v
        }
        _ => line,
    };
    let directives: Vec<&str> = value.split(';').map(str::trim).collect();
    let subs = directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("includesubdomains"));
    // The policy names exactly the host it was given (nothing smuggled in through the host
    // text into the generated TOML). A subdomain pin on a public suffix is imported with the
    // rule's `public_suffix_covers_others` opt-out (as the browser reads the header).
    let want_host = HostPattern::parse_with(host, subs, true)
        .ok()
        .map(|p| p.to_string());
    let hosts: Vec<String> = policy
        .rules()
        .iter()
        .flat_map(|r| r.hosts().iter().map(ToString::to_string))
        .collect();
    assert_eq!(hosts.len(), 1, "{host:?}\n{}", imported.toml);
    assert_eq!(
        Some(&hosts[0]),
        want_host.as_ref(),
        "{host:?}\n{}",
        imported.toml
    );
    let mut want: Vec<Pin> = directives
        .iter()
        .filter(|d| d.to_ascii_lowercase().starts_with("pin-sha256"))
        .filter_map(|d| Pin::parse(d).ok())
        .collect();
    want.sort();
    want.dedup();
    let mut got: Vec<Pin> = policy
        .rules()
        .iter()
        .flat_map(|r| r.pins().to_vec())
        .collect();
    got.sort();
    assert_eq!(got, want, "{header:?}\n{}", imported.toml);
});
