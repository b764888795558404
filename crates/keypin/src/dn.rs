//! Display of X.509 distinguished names, for diagnostics only (never for a security decision).
//!
//! webpki hands out a name as the DER content of its `SEQUENCE OF RelativeDistinguishedName`;
//! this walks that DER just far enough to print `CN=…, O=…`.

/// Formats the DER content of an X.509 `Name` (outer SEQUENCE already stripped).
/// Unparseable input prints as `<unparseable name>` rather than failing.
pub fn format_name(der_content: &[u8]) -> String {
    format_inner(der_content).unwrap_or_else(|| "<unparseable name>".to_string())
}

fn format_inner(mut input: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !input.is_empty() {
        let (tag, mut rdn, rest) = tlv(input)?;
        input = rest;
        if tag != 0x31 {
            return None;
        }
        while !rdn.is_empty() {
            let (tag, atv, rest) = tlv(rdn)?;
            rdn = rest;
            if tag != 0x30 {
                return None;
            }
            let (otag, oid, rest) = tlv(atv)?;
            if otag != 0x06 {
                return None;
            }
            let (vtag, value, _) = tlv(rest)?;
            parts.push(format!("{}={}", oid_name(oid), decode_string(vtag, value)));
        }
    }
    if parts.is_empty() {
        return Some("<empty name>".to_string());
    }
    Some(parts.join(", "))
}

/// One DER tag-length-value with a single-byte tag; returns (tag, value, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, r) = rest.split_at_checked(n)?;
        rest = r;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let (value, rest) = rest.split_at_checked(len)?;
    Some((tag, value, rest))
}

fn oid_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x05] => "serialNumber".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x09] => "street".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
        other => format!("OID({})", dotted(other)),
    }
}

fn dotted(oid: &[u8]) -> String {
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in oid.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if out.is_empty() && i < 8 {
                let first = (acc / 40).min(2);
                out.push(first.to_string());
                out.push((acc - first * 40).to_string());
            } else {
                out.push(acc.to_string());
            }
            acc = 0;
        }
    }
    out.join(".")
}

fn decode_string(tag: u8, value: &[u8]) -> String {
    let s = match tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = value
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(value).into_owned(),
    };
    // Keep diagnostics on one line and free of control characters.
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_common_attributes() {
        // SET{SEQ{OID 2.5.4.6, PrintableString "US"}}, SET{SEQ{OID 2.5.4.3, UTF8String "a b"}}
        let der = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'U', b'S', 0x31,
            0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a', b' ', b'b',
        ];
        assert_eq!(format_name(&der), "C=US, CN=a b");
        assert_eq!(format_name(&der[..5]), "<unparseable name>");
        assert_eq!(format_name(&[]), "<empty name>");
    }
}
