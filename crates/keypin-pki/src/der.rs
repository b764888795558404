//! Just enough DER to handle RSA keys and to re-sign a certificate: reading and writing
//! single-byte-tag TLVs with definite lengths. Not a general ASN.1 parser; it only ever
//! sees structures this crate produced (or aws-lc-rs produced for it).

use crate::Error;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// One parsed TLV: its tag, its contents, and the whole encoding (header included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
    pub(crate) raw: &'a [u8],
}

/// A cursor over consecutive TLVs.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Whatever has not been read yet.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Reads the next TLV, whatever its tag.
    pub(crate) fn next_any(&mut self, what: &str) -> Result<Tlv<'a>, Error> {
        let bad = || Error::Der {
            context: format!("malformed DER while reading {what}"),
        };
        let input = self.rest;
        let (&tag, after_tag) = input.split_first().ok_or_else(bad)?;
        if tag & 0x1f == 0x1f {
            return Err(bad()); // multi-byte tags never occur in what we read
        }
        let (&first, after_len) = after_tag.split_first().ok_or_else(bad)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return Err(bad());
            }
            let len = after_len[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, 2 + n)
        };
        let end = header.checked_add(len).ok_or_else(bad)?;
        if input.len() < end {
            return Err(bad());
        }
        self.rest = &input[end..];
        Ok(Tlv {
            tag,
            value: &input[header..end],
            raw: &input[..end],
        })
    }

    /// Reads the next TLV and checks its tag.
    pub(crate) fn next_tag(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, Error> {
        let tlv = self.next_any(what)?;
        if tlv.tag != tag {
            return Err(Error::Der {
                context: format!(
                    "expected tag 0x{tag:02x} for {what}, found 0x{:02x}",
                    tlv.tag
                ),
            });
        }
        Ok(tlv)
    }

    /// Reads an unsigned INTEGER, returning its big-endian magnitude.
    pub(crate) fn next_uint(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let tlv = self.next_tag(TAG_INTEGER, what)?;
        match tlv.value {
            [] => Err(Error::Der {
                context: format!("empty INTEGER for {what}"),
            }),
            [first, ..] if first & 0x80 != 0 => Err(Error::Der {
                context: format!("negative INTEGER for {what}"),
            }),
            [0, rest @ ..] => Ok(rest),
            value => Ok(value),
        }
    }
}

/// Encodes one TLV.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Encodes a SEQUENCE of already-encoded parts.
pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &parts.concat())
}

/// Encodes a non-negative INTEGER from its big-endian magnitude.
pub(crate) fn uint(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match magnitude.iter().position(|&b| b != 0) {
        Some(i) => &magnitude[i..],
        None => &[0],
    };
    if trimmed[0] & 0x80 != 0 {
        let mut v = Vec::with_capacity(trimmed.len() + 1);
        v.push(0);
        v.extend_from_slice(trimmed);
        tlv(TAG_INTEGER, &v)
    } else {
        tlv(TAG_INTEGER, trimmed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![0xab; len];
            let enc = tlv(TAG_OCTET_STRING, &value);
            let mut r = Reader::new(&enc);
            let got = r.next_tag(TAG_OCTET_STRING, "test").unwrap();
            assert_eq!(got.value, &value[..]);
            assert_eq!(got.raw, &enc[..]);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn integers_keep_their_sign_bit_clear() {
        // (magnitude, expected encoding)
        let rows: &[(&[u8], &[u8])] = &[
            (&[], &[0x02, 0x01, 0x00]),
            (&[0x00, 0x00], &[0x02, 0x01, 0x00]),
            (&[0x7f], &[0x02, 0x01, 0x7f]),
            (&[0x80], &[0x02, 0x02, 0x00, 0x80]),
            (&[0x00, 0x01, 0x00], &[0x02, 0x02, 0x01, 0x00]),
        ];
        for (magnitude, expected) in rows {
            assert_eq!(uint(magnitude), *expected, "magnitude {magnitude:?}");
            let mut r = Reader::new(expected);
            let back = r.next_uint("n").unwrap();
            let want: Vec<u8> = magnitude.iter().copied().skip_while(|&b| b == 0).collect();
            let back: Vec<u8> = back.iter().copied().skip_while(|&b| b == 0).collect();
            assert_eq!(back, want);
        }
    }

    #[test]
    fn truncated_input_is_an_error() {
        let enc = tlv(TAG_SEQUENCE, &[1, 2, 3]);
        assert!(Reader::new(&enc[..enc.len() - 1]).next_any("x").is_err());
        assert!(Reader::new(&[0x30]).next_any("x").is_err());
        assert!(
            Reader::new(&[0x30, 0x85, 0, 0, 0, 0, 1])
                .next_any("x")
                .is_err()
        );
    }
}
