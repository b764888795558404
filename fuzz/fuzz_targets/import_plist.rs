//! iOS Info.plist (ATS `NSPinnedDomains`) and TrustKit plist import, XML or binary: the first
//! byte picks the format (or detection); accepted input loads as a policy and survives
//! export → import unchanged.
#![no_main]

use keypin_formats::{ExportFormat, ImportFormat, ImportOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (format, round_trip) = match selector % 3 {
        0 => (Some(ImportFormat::IosAts), ExportFormat::IosAts),
        1 => (Some(ImportFormat::Trustkit), ExportFormat::Trustkit),
        _ => (None, ExportFormat::Trustkit),
    };
    keypin_fuzz::import::check_import(rest, format, &ImportOptions::default(), Some(round_trip));
});
