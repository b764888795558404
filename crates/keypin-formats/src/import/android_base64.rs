//! `android.util.Base64.decode(text, DEFAULT)`, the decoder Android's Network Security Config
//! parser runs on every `<pin>` (after `String.trim()`).
//!
//! It is more lenient than RFC 4648: every byte outside the alphabet and `=` is skipped (so a
//! digest wrapped across lines decodes), the `=` padding may be left out, and the unused low
//! bits of the last character are ignored (`...B=` and `...A=` decode alike). A value that
//! does not decode there is refused here, with Android's reason.

use base64::Engine as _;

/// What Android read from a pin's text.
pub(super) struct AndroidDigest {
    /// The decoded bytes (a pin needs exactly 32).
    pub(super) bytes: Vec<u8>,
    /// Characters Android skipped that are not whitespace (`-`, `_`, `.`, ...), in order.
    pub(super) skipped: String,
}

/// A value in the base64 alphabet, `=`, or a byte the decoder skips.
enum Symbol {
    Value(u32),
    Equals,
    Skip,
}

fn symbol(b: u8) -> Symbol {
    match b {
        b'A'..=b'Z' => Symbol::Value(u32::from(b - b'A')),
        b'a'..=b'z' => Symbol::Value(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Symbol::Value(u32::from(b - b'0') + 52),
        b'+' => Symbol::Value(62),
        b'/' => Symbol::Value(63),
        b'=' => Symbol::Equals,
        _ => Symbol::Skip,
    }
}

/// Decodes `text` as Android does, or says why Android throws "bad base-64".
pub(super) fn decode(text: &str) -> Result<AndroidDigest, &'static str> {
    const BAD_PAD: &str = "a '=' in the middle or a lone '=' at the end (Android: bad base-64)";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut skipped = String::new();
    // The decoder's state: how many characters of the current quantum were read (0-3), then
    // 4 after one '=' that must be followed by another, 5 after the padding is complete.
    let mut state = 0u8;
    let mut value = 0u32;
    for (i, b) in text.bytes().enumerate() {
        match (symbol(b), state) {
            (Symbol::Skip, _) => {
                if !b.is_ascii_whitespace()
                    && let Some(c) = text.get(i..).and_then(|r| r.chars().next())
                {
                    skipped.push(c);
                }
            }
            (Symbol::Value(d), 0..=2) => {
                value = (value << 6) | d;
                state += 1;
            }
            (Symbol::Value(d), 3) => {
                value = (value << 6) | d;
                out.extend_from_slice(&value.to_be_bytes()[1..]);
                value = 0;
                state = 0;
            }
            (Symbol::Equals, 2) => {
                out.push((value >> 4) as u8);
                state = 4;
            }
            (Symbol::Equals, 3) => {
                out.extend_from_slice(&((value >> 2) as u16).to_be_bytes());
                state = 5;
            }
            (Symbol::Equals, 4) => state = 5,
            (Symbol::Value(_), _) => {
                return Err("characters after the '=' padding (Android: bad base-64)");
            }
            (Symbol::Equals, _) => return Err(BAD_PAD),
        }
    }
    match state {
        0 | 5 => {}
        1 => return Err("one character too many or too few (Android: bad base-64)"),
        2 => out.push((value >> 4) as u8),
        3 => out.extend_from_slice(&((value >> 2) as u16).to_be_bytes()),
        _ => return Err(BAD_PAD),
    }
    Ok(AndroidDigest {
        bytes: out,
        skipped,
    })
}

/// The canonical (RFC 4648, padded) base64 of `bytes`.
pub(super) fn canonical(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, Ok(canonical base64 of what Android decodes) or Err)
    #[test]
    fn decodes_as_android_does() {
        const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
        let rows: &[(&str, Option<&str>)] = &[
            (A, Some(A)),
            // Padding left out.
            ("+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo", Some(A)),
            // Non-zero trailing bits ("p" is "o" with the two unused bits set).
            ("+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSp=", Some(A)),
            // Wrapped across lines, indented.
            (
                "+89GigSuV1Gxkawpccc7tc\n        RwBWhui2H/sW8CBhdNHSo=",
                Some(A),
            ),
            ("QQ", Some("QQ==")),
            ("QQ==", Some("QQ==")),
            ("QQ=", None),
            ("Q", None),
            ("Q=Q=", None),
            ("QQ==QQ", None),
            ("", Some("")),
        ];
        for (text, want) in rows {
            let got = decode(text).map(|d| canonical(&d.bytes));
            assert_eq!(got.ok().as_deref(), *want, "{text:?}");
        }
        assert_eq!(
            decode("QQ-=-=").map(|d| d.skipped).ok().as_deref(),
            Some("--")
        );
    }
}
