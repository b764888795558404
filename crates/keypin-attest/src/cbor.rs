//! The two CBOR shapes App Attest sends, decoded under fixed bounds: the attestation object
//! (`{fmt, attStmt: {x5c, receipt}, authData}`) and the assertion (`{signature,
//! authenticatorData}`). Size is checked before decoding, nesting while decoding, and a map
//! holding one of its keys twice or bytes after the top-level item are refused.

use ciborium::value::Value;

/// Largest attestation object accepted (real ones are about 5 KiB: two certificates and a
/// receipt).
pub const MAX_ATTESTATION_BYTES: usize = 64 * 1024;
/// Largest assertion accepted (real ones are about 140 bytes).
pub const MAX_ASSERTION_BYTES: usize = 4 * 1024;
/// Deepest CBOR nesting accepted (the real shapes nest three deep).
pub const MAX_DEPTH: usize = 8;
/// Most certificates accepted in `x5c` (Apple sends two).
pub const MAX_X5C: usize = 4;

/// Why CBOR input was not the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CborError {
    /// The input is over the size bound.
    #[error("{what} is {len} bytes, over the {max}-byte bound")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not well-formed CBOR, nested too deep, or bytes after the top-level item.
    #[error("{what} is not one well-formed CBOR item: {reason}")]
    Malformed {
        /// Which input.
        what: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A field is missing, duplicated or of the wrong type.
    #[error("{what}: field `{field}` {problem}")]
    Field {
        /// Which input.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// An attestation object, decoded but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationObject {
    /// `fmt`.
    pub fmt: String,
    /// `attStmt.x5c`: the credential certificate first, then the intermediate(s).
    pub x5c: Vec<Vec<u8>>,
    /// `attStmt.receipt`.
    pub receipt: Vec<u8>,
    /// `authData`.
    pub auth_data: Vec<u8>,
}

/// An assertion, decoded but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssertionObject {
    pub(crate) signature: Vec<u8>,
    pub(crate) authenticator_data: Vec<u8>,
}

const ATTESTATION: &str = "attestation object";
const ASSERTION: &str = "assertion";

fn decode(what: &'static str, bytes: &[u8], max: usize) -> Result<Value, CborError> {
    if bytes.len() > max {
        return Err(CborError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
        .map_err(|e| CborError::Malformed {
            what,
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(CborError::Malformed {
            what,
            reason: format!("{} bytes after the top-level item", rest.len()),
        });
    }
    Ok(value)
}

/// The entries of a map, refusing a text key that appears twice.
fn map<'v>(
    what: &'static str,
    field: &'static str,
    v: &'v Value,
) -> Result<&'v [(Value, Value)], CborError> {
    let Value::Map(entries) = v else {
        return Err(CborError::Field {
            what,
            field,
            problem: "is not a map",
        });
    };
    for (i, (k, _)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(earlier, _)| earlier == k) {
            return Err(CborError::Field {
                what,
                field,
                problem: "has a key twice",
            });
        }
    }
    Ok(entries)
}

fn get<'v>(
    what: &'static str,
    entries: &'v [(Value, Value)],
    field: &'static str,
) -> Result<&'v Value, CborError> {
    entries
        .iter()
        .find(|(k, _)| matches!(k, Value::Text(t) if t == field))
        .map(|(_, v)| v)
        .ok_or(CborError::Field {
            what,
            field,
            problem: "is missing",
        })
}

fn bytes(what: &'static str, field: &'static str, v: &Value) -> Result<Vec<u8>, CborError> {
    match v {
        Value::Bytes(b) => Ok(b.clone()),
        _ => Err(CborError::Field {
            what,
            field,
            problem: "is not a byte string",
        }),
    }
}

/// Decodes an attestation object (bounded; see the module docs). Also the fuzz entry point.
pub fn decode_attestation_object(input: &[u8]) -> Result<AttestationObject, CborError> {
    let what = ATTESTATION;
    let top = decode(what, input, MAX_ATTESTATION_BYTES)?;
    let top = map(what, "(top level)", &top)?;
    let fmt = match get(what, top, "fmt")? {
        Value::Text(t) => t.clone(),
        _ => {
            return Err(CborError::Field {
                what,
                field: "fmt",
                problem: "is not text",
            });
        }
    };
    let stmt = map(what, "attStmt", get(what, top, "attStmt")?)?;
    let Value::Array(certs) = get(what, stmt, "x5c")? else {
        return Err(CborError::Field {
            what,
            field: "x5c",
            problem: "is not an array",
        });
    };
    if certs.is_empty() || certs.len() > MAX_X5C {
        return Err(CborError::Field {
            what,
            field: "x5c",
            problem: "does not hold 1 to 4 certificates",
        });
    }
    let x5c = certs
        .iter()
        .map(|c| bytes(what, "x5c", c))
        .collect::<Result<_, _>>()?;
    let receipt = bytes(what, "receipt", get(what, stmt, "receipt")?)?;
    let auth_data = bytes(what, "authData", get(what, top, "authData")?)?;
    Ok(AttestationObject {
        fmt,
        x5c,
        receipt,
        auth_data,
    })
}

/// Decodes an assertion (bounded).
pub(crate) fn decode_assertion(input: &[u8]) -> Result<AssertionObject, CborError> {
    let what = ASSERTION;
    let top = decode(what, input, MAX_ASSERTION_BYTES)?;
    let top = map(what, "(top level)", &top)?;
    Ok(AssertionObject {
        signature: bytes(what, "signature", get(what, top, "signature")?)?,
        authenticator_data: bytes(
            what,
            "authenticatorData",
            get(what, top, "authenticatorData")?,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_deeper_than_the_bound_is_refused_before_it_is_built() {
        // 10,000 nested arrays: refused at MAX_DEPTH, not by exhausting the stack.
        let deep = vec![0x81u8; 10_000];
        assert!(matches!(
            decode_attestation_object(&deep),
            Err(CborError::Malformed { .. })
        ));
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        // {"fmt": "a", "fmt": "b"}
        let twice = [
            0xa2, 0x63, b'f', b'm', b't', 0x61, b'a', 0x63, b'f', b'm', b't', 0x61, b'b',
        ];
        assert!(matches!(
            decode_attestation_object(&twice),
            Err(CborError::Field {
                problem: "has a key twice",
                ..
            })
        ));
    }

    #[test]
    fn a_byte_string_longer_than_the_input_is_refused() {
        // A map whose first key claims 2^32 bytes.
        let lying = [0xa1, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00];
        assert!(matches!(
            decode_attestation_object(&lying),
            Err(CborError::Malformed { .. })
        ));
    }
}
