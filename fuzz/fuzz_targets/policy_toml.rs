//! Policy TOML: `Policy::from_toml_str` never panics; an accepted policy, written back as rule
//! specs, validates again to the same rules, and its host index answers every name the way a
//! naive most-specific matcher does. Text never names anchor files (refused, never opened), so
//! no input makes it read the disk.
#![no_main]

use keypin::Policy;
use keypin_fuzz::{naive_most_specific, patterns_of, respec, rule_position, shape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(policy) = Policy::from_toml_str(text, "fuzz.toml") else {
        return;
    };
    let again = Policy::from_rules("respec", respec(&policy))
        .unwrap_or_else(|e| panic!("accepted policy does not re-validate: {e}\n{text}"));
    assert_eq!(shape(&again), shape(&policy), "{text}");

    let patterns = patterns_of(&policy);
    let mut names = Vec::new();
    for (p, _) in &patterns {
        let base = p.base();
        names.push(base.to_string());
        names.push(format!("x.{base}"));
        names.push(format!("x.y.{base}"));
        if let Some((_, parent)) = base.split_once('.') {
            names.push(parent.to_string());
            names.push(format!("x.{parent}"));
        }
        names.push(base.to_ascii_uppercase());
        names.push(format!("{base}."));
    }
    for name in names {
        let lookup = name.strip_suffix('.').unwrap_or(&name).to_ascii_lowercase();
        assert_eq!(
            rule_position(&policy, &name),
            naive_most_specific(&patterns, &lookup),
            "host {name:?}\n{text}"
        );
    }
});
