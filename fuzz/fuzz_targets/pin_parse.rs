//! Pin spellings: whatever `Pin::parse` accepts prints in every format and parses back to the
//! same pin (parse → print → parse equality); curl lists round-trip as lists.
#![no_main]

use keypin::{pin::Pin, pin::PinFormat, pin::PinKind};
use libfuzzer_sys::fuzz_target;

const FORMATS: [PinFormat; 5] = [
    PinFormat::OkHttp,
    PinFormat::Hpkp,
    PinFormat::Curl,
    PinFormat::Base64,
    PinFormat::Hex,
];

fuzz_target!(|text: &str| {
    if let Ok(pin) = Pin::parse(text) {
        assert_eq!(Pin::parse(&pin.to_string()).ok(), Some(pin), "{text:?}");
        for format in FORMATS {
            let printed = pin.to_format(format);
            let back = Pin::parse(&printed)
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?} does not parse: {e}"));
            assert_eq!(back.digest(), pin.digest(), "{text:?} via {printed:?}");
            // Bare digests carry no kind and read back as key pins.
            let kind = match format {
                PinFormat::Base64 | PinFormat::Hex => PinKind::Spki,
                _ => pin.kind(),
            };
            assert_eq!(back.kind(), kind, "{text:?} via {printed:?}");
        }
    }
    if let Ok(pins) = Pin::parse_curl_list(text) {
        // Only key pins have a curl spelling.
        if pins.iter().all(|p| p.kind() == PinKind::Spki) {
            let list = pins
                .iter()
                .map(|p| p.to_format(PinFormat::Curl))
                .collect::<Vec<_>>()
                .join(";");
            assert_eq!(Pin::parse_curl_list(&list).ok(), Some(pins), "{text:?}");
        }
    }
});
