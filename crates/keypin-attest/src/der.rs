//! A strict reader of DER elements on asn1-rs (the DER library under x509-parser), for the two
//! attestation extensions: App Attest's nonce and Android's KeyDescription. asn1-rs reads each
//! header and length (definite lengths only, any tag number: KeyDescription's go up to 719);
//! this module turns elements into the few values those extensions hold and refuses anything
//! that is not minimal DER.

use x509_parser::asn1_rs::{Any, Class, FromDer as _};

/// Most elements read from one SEQUENCE or SET (an AuthorizationList has about 40 tags).
pub(crate) const MAX_ELEMENTS: usize = 128;

/// One element: its tag and its content octets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub(crate) class: Class,
    pub(crate) tag: u32,
    pub(crate) constructed: bool,
    pub(crate) content: &'a [u8],
}

// Universal tag numbers used here.
pub(crate) const BOOLEAN: u32 = 1;
pub(crate) const INTEGER: u32 = 2;
pub(crate) const OCTET_STRING: u32 = 4;
pub(crate) const ENUMERATED: u32 = 10;
pub(crate) const SEQUENCE: u32 = 16;
pub(crate) const SET: u32 = 17;

/// Reads exactly one element filling `input`.
pub(crate) fn one(input: &[u8]) -> Result<Element<'_>, String> {
    let (rest, el) = next(input)?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the element", rest.len()));
    }
    Ok(el)
}

fn next(input: &[u8]) -> Result<(&[u8], Element<'_>), String> {
    let (rest, any) = Any::from_der(input).map_err(|e| format!("not DER: {e}"))?;
    Ok((
        rest,
        Element {
            class: any.header.class(),
            tag: any.header.tag().0,
            constructed: any.header.is_constructed(),
            content: any.data,
        },
    ))
}

/// The elements inside a constructed element's content (at most [`MAX_ELEMENTS`]).
pub(crate) fn children(content: &[u8]) -> Result<Vec<Element<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        if out.len() == MAX_ELEMENTS {
            return Err(format!("more than {MAX_ELEMENTS} elements"));
        }
        let (r, el) = next(rest)?;
        out.push(el);
        rest = r;
    }
    Ok(out)
}

impl<'a> Element<'a> {
    /// This element if it is the universal `tag`, else an error naming `field`.
    pub(crate) fn universal(self, tag: u32, field: &str) -> Result<Self, String> {
        let constructed = matches!(tag, SEQUENCE | SET);
        if self.class == Class::Universal && self.tag == tag && self.constructed == constructed {
            Ok(self)
        } else {
            Err(format!(
                "{field}: expected universal tag {tag}, found {:?} {}",
                self.class, self.tag
            ))
        }
    }

    /// The children of a SEQUENCE.
    pub(crate) fn sequence(self, field: &str) -> Result<Vec<Element<'a>>, String> {
        children(self.universal(SEQUENCE, field)?.content).map_err(|e| format!("{field}: {e}"))
    }

    /// The children of a SET.
    pub(crate) fn set(self, field: &str) -> Result<Vec<Element<'a>>, String> {
        children(self.universal(SET, field)?.content).map_err(|e| format!("{field}: {e}"))
    }

    /// An OCTET STRING's bytes.
    pub(crate) fn octets(self, field: &str) -> Result<&'a [u8], String> {
        Ok(self.universal(OCTET_STRING, field)?.content)
    }

    /// A BOOLEAN (DER: 0x00 or 0xFF only).
    pub(crate) fn boolean(self, field: &str) -> Result<bool, String> {
        match self.universal(BOOLEAN, field)?.content {
            [0x00] => Ok(false),
            [0xff] => Ok(true),
            _ => Err(format!("{field}: not a DER BOOLEAN")),
        }
    }

    /// An INTEGER that fits in an i64, minimally encoded.
    pub(crate) fn integer(self, field: &str) -> Result<i64, String> {
        int_content(self.universal(INTEGER, field)?.content, field)
    }

    /// An ENUMERATED value.
    pub(crate) fn enumerated(self, field: &str) -> Result<i64, String> {
        int_content(self.universal(ENUMERATED, field)?.content, field)
    }

    /// The single element inside an EXPLICIT context-specific tag `tag`.
    pub(crate) fn explicit(self, tag: u32, field: &str) -> Result<Element<'a>, String> {
        if self.class != Class::ContextSpecific || self.tag != tag || !self.constructed {
            return Err(format!("{field}: expected [{tag}] EXPLICIT"));
        }
        one(self.content).map_err(|e| format!("{field}: {e}"))
    }
}

fn int_content(c: &[u8], field: &str) -> Result<i64, String> {
    match c {
        [] => Err(format!("{field}: empty INTEGER")),
        [0x00, b, ..] if b & 0x80 == 0 => Err(format!("{field}: INTEGER not minimally encoded")),
        [0xff, b, ..] if b & 0x80 != 0 => Err(format!("{field}: INTEGER not minimally encoded")),
        _ if c.len() > 8 => Err(format!("{field}: INTEGER larger than 64 bits")),
        _ => {
            let init: i64 = if c[0] & 0x80 != 0 { -1 } else { 0 };
            Ok(c.iter().fold(init, |acc, b| (acc << 8) | i64::from(*b)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_only_when_minimal() {
        for (content, expected) in [
            (&[0x00][..], Some(0)),
            (&[0x7f], Some(127)),
            (&[0x00, 0x80], Some(128)),
            (&[0xff], Some(-1)),
            (&[0xff, 0x7f], Some(-129)),
            (&[0x00, 0x7f], None),
            (&[0xff, 0x80], None),
            (&[], None),
            (&[0x01; 9], None),
        ] {
            assert_eq!(int_content(content, "x").ok(), expected, "{content:?}");
        }
    }

    #[test]
    fn booleans_are_der_only() {
        for (der, expected) in [
            ([0x01, 0x01, 0xff], Some(true)),
            ([0x01, 0x01, 0x00], Some(false)),
            ([0x01, 0x01, 0x01], None),
        ] {
            assert_eq!(one(&der).unwrap().boolean("b").ok(), expected);
        }
    }
}
