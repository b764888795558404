//! The one piece of TLS handshake parsing the lab does by hand: finding an extension in a
//! ClientHello or ServerHello (the scenario servers read the versions a client offers, the
//! proxy the version a real server chose). Bounded by the message it is given.

/// The data of extension `kind` in the extensions block whose 2-byte length sits at
/// `list_at` of `msg`: `Some(Some(data))` found, `Some(None)` absent (or no block at all),
/// `None` the block is malformed.
pub(crate) fn extension(msg: &[u8], list_at: usize, kind: u16) -> Option<Option<&[u8]>> {
    let mut i = list_at;
    if i + 2 > msg.len() {
        return Some(None);
    }
    let end = (i + 2 + usize::from(u16::from_be_bytes([msg[i], msg[i + 1]]))).min(msg.len());
    i += 2;
    while i + 4 <= end {
        let this = u16::from_be_bytes([msg[i], msg[i + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[i + 2], msg[i + 3]]));
        let data = msg.get(i + 4..i + 4 + len)?;
        if this == kind {
            return Some(Some(data));
        }
        i += 4 + len;
    }
    Some(None)
}

/// The supported_versions extension.
pub(crate) const SUPPORTED_VERSIONS: u16 = 0x002b;
