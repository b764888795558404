//! The check every import target runs.

use keypin::Policy;
use keypin_formats::{
    ExportFormat, ExportOptions, ImportFormat, ImportOptions, PinPosition, export_with, import,
};

use crate::host_shape;

/// Imports `data` as `format` (or detects it when `None`). An accepted import must load as a
/// keypin policy, and when exporting that policy to `round_trip` is lossless (no notice),
/// importing the export again must keep every host, pin and mode (import → export → import is
/// stable).
pub fn check_import(
    data: &[u8],
    format: Option<ImportFormat>,
    options: &ImportOptions,
    round_trip: Option<ExportFormat>,
) {
    let Ok(imported) = import(data, "fuzz-input", format, options) else {
        return;
    };
    let policy = Policy::from_toml_str(&imported.toml, "imported").unwrap_or_else(|e| {
        panic!(
            "import produced a policy that does not load: {e}\n{}",
            imported.toml
        )
    });
    let Some(out_format) = round_trip else {
        return;
    };
    // An export may refuse (say, a pattern the target format cannot express): that is its
    // documented stricter-or-refuse behaviour, not a round-trip failure.
    let Ok(exported) = export_with(&policy, out_format, &export_options()) else {
        return;
    };
    // An export with notices was made stricter on purpose (say, report-only written as
    // enforcing where the format has no report-only); only a lossless one must round-trip.
    if !exported.notices.is_empty() {
        return;
    }
    let document = as_document(out_format, &exported.text);
    let again = import(document.as_bytes(), "re-import", None, options).unwrap_or_else(|e| {
        panic!(
            "keypin's own {out_format:?} export does not import: {e}\n{}",
            exported.text
        )
    });
    let back = Policy::from_toml_str(&again.toml, "re-imported")
        .unwrap_or_else(|e| panic!("re-import does not load: {e}\n{}", again.toml));
    assert_eq!(
        host_shape(&back),
        host_shape(&policy),
        "round trip through {out_format:?} changed the policy\nfirst:\n{}\nexported:\n{}\nsecond:\n{}",
        imported.toml,
        exported.text,
        again.toml
    );
}

/// Export options for round trips: iOS needs a position for every pin; unknown ones count as
/// leaf pins.
pub fn export_options() -> ExportOptions {
    ExportOptions {
        now_secs: 0,
        backup_position: Some(PinPosition::Leaf),
        ..ExportOptions::default()
    }
}

/// The export as a file an importer reads: the `ios-ats` export is a fragment to paste into an
/// Info.plist, so it is wrapped in one.
pub fn as_document(format: ExportFormat, text: &str) -> String {
    match format {
        ExportFormat::IosAts => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n{text}</dict>\n</plist>\n"
        ),
        _ => text.to_string(),
    }
}
