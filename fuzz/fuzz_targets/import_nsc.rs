//! Android Network Security Config XML (and TrustKit-Android) import: accepted input loads as a
//! policy and survives export → import unchanged.
#![no_main]

use keypin_formats::{ExportFormat, ImportFormat, ImportOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keypin_fuzz::import::check_import(
        data,
        Some(ImportFormat::AndroidNsc),
        &ImportOptions::default(),
        Some(ExportFormat::TrustkitAndroid),
    );
});
