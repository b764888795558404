//! The one budget every import reads under, whatever the format: a bound on the nodes visited
//! (every value, key and element, and every reference followed again) and on the bytes of the
//! strings they expand to, counted while the input is read, so that a file which expands (a
//! binary plist whose arrays share references names fanout^depth nodes in a few hundred
//! bytes) is refused at the first node past the budget, before the expansion happens.

use core::fmt;

use plist::stream::{Event, OwnedEvent};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::import::MAX_INPUT_BYTES;

/// Most nodes read from one input, whatever its format: every value, key and element, and
/// every visit of a shared reference. Real pin configurations hold a few hundred.
pub const MAX_IMPORT_NODES: usize = 20_000;

/// Most bytes of strings (and plist data) read from one input, counted after references are
/// followed: a document without references never reaches it.
pub const MAX_IMPORT_STRING_BYTES: usize = MAX_INPUT_BYTES;

/// Deepest nesting of collections accepted (real configurations use three or four levels).
pub(crate) const MAX_NESTING: usize = 16;

/// Which bound a document went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Nodes,
    StringBytes,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nodes => write!(
                f,
                "more than {MAX_IMPORT_NODES} nodes (MAX_IMPORT_NODES), counting every value, key \
                 and element and every reference followed; refused before expanding it further \
                 (a pin configuration holds far fewer; shared references can make a small file \
                 expand without end)"
            ),
            Self::StringBytes => write!(
                f,
                "more than {MAX_IMPORT_STRING_BYTES} bytes of strings (MAX_IMPORT_STRING_BYTES) \
                 once references are followed; refused before expanding it further"
            ),
        }
    }
}

/// Nodes and string bytes read so far from one input.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    nodes: usize,
    string_bytes: usize,
    exceeded: Option<Exceeded>,
}

impl Budget {
    /// Counts one node.
    pub(crate) fn node(&mut self) -> Result<(), Exceeded> {
        self.nodes += 1;
        if self.nodes > MAX_IMPORT_NODES {
            return Err(self.trip(Exceeded::Nodes));
        }
        Ok(())
    }

    /// Counts one node holding `len` bytes of string or data.
    pub(crate) fn string(&mut self, len: usize) -> Result<(), Exceeded> {
        self.node()?;
        self.string_bytes = self.string_bytes.saturating_add(len);
        if self.string_bytes > MAX_IMPORT_STRING_BYTES {
            return Err(self.trip(Exceeded::StringBytes));
        }
        Ok(())
    }

    fn trip(&mut self, what: Exceeded) -> Exceeded {
        self.exceeded = Some(what);
        what
    }
}

// ---- plists --------------------------------------------------------------------------------

/// Why a plist was not read to the end.
#[derive(Debug)]
pub(crate) enum PlistStop {
    Budget(Exceeded),
    TooDeep,
    Invalid(plist::Error),
}

impl fmt::Display for PlistStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Budget(e) => e.fmt(f),
            Self::TooDeep => write!(f, "nested more than {MAX_NESTING} deep; refused"),
            Self::Invalid(e) => write!(f, "not a valid plist: {e}"),
        }
    }
}

/// The events of a plist (XML or binary), each counted as it is read: the stream ends at the
/// first event past the budget or the nesting bound, and `stop` says why.
pub(crate) struct CountedEvents<'a> {
    events: plist::stream::Reader<std::io::Cursor<&'a [u8]>>,
    budget: Budget,
    depth: usize,
    stop: Option<PlistStop>,
}

impl<'a> CountedEvents<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            events: plist::stream::Reader::new(std::io::Cursor::new(bytes)),
            budget: Budget::default(),
            depth: 0,
            stop: None,
        }
    }

    /// The depth of the last event read (1: inside the top-level collection).
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Why the stream ended early, if it did.
    pub(crate) fn stop(&self) -> Option<&PlistStop> {
        self.stop.as_ref()
    }

    fn count(&mut self, event: &OwnedEvent) -> Result<(), PlistStop> {
        match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(PlistStop::TooDeep);
                }
                self.budget.node()
            }
            Event::EndCollection => {
                self.depth = self.depth.saturating_sub(1);
                Ok(())
            }
            Event::String(s) => self.budget.string(s.len()),
            Event::Data(d) => self.budget.string(d.len()),
            _ => self.budget.node(),
        }
        .map_err(PlistStop::Budget)
    }
}

impl Iterator for CountedEvents<'_> {
    type Item = Result<OwnedEvent, plist::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stop.is_some() {
            return None;
        }
        let event = match self.events.next()? {
            Ok(event) => event,
            Err(e) => {
                self.stop = Some(PlistStop::Invalid(e));
                return None;
            }
        };
        if let Err(stop) = self.count(&event) {
            self.stop = Some(stop);
            return None;
        }
        Some(Ok(event))
    }
}

/// Reads a whole plist (XML or binary) into a tree, under the budget and the nesting bound.
pub(crate) fn read_plist(bytes: &[u8]) -> Result<plist::Value, PlistStop> {
    let mut events = CountedEvents::new(bytes);
    let value = plist::Value::from_events(&mut events);
    match (events.stop, value) {
        (Some(stop), _) => Err(stop),
        (None, Ok(value)) => Ok(value),
        (None, Err(e)) => Err(PlistStop::Invalid(e)),
    }
}

// ---- XML ---------------------------------------------------------------------------------

/// Why an XML document was refused.
#[derive(Debug)]
pub(crate) enum XmlStop {
    Budget(Exceeded),
    Invalid(roxmltree::Error),
}

/// Parses XML without a DTD (so no entity expands) and under the node budget: the parser
/// counts elements, text and comments as it reads and stops at the limit; attributes, which
/// cannot expand, are counted right after.
pub(crate) fn read_xml(text: &str) -> Result<roxmltree::Document<'_>, XmlStop> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: u32::try_from(MAX_IMPORT_NODES).unwrap_or(u32::MAX),
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => XmlStop::Budget(Exceeded::Nodes),
        e => XmlStop::Invalid(e),
    })?;
    let mut budget = Budget::default();
    for node in doc.descendants() {
        for _ in 0..=node.attributes().len() {
            budget.node().map_err(XmlStop::Budget)?;
        }
    }
    Ok(doc)
}

// ---- JSON ----------------------------------------------------------------------------------

/// Counts the nodes and string bytes of a JSON document in one streaming pass that builds
/// nothing, so that the tree built after it is bounded. Syntax errors are left to that parse
/// (which names their line): only the budget is reported here.
pub(crate) fn count_json(bytes: &[u8]) -> Result<(), Exceeded> {
    let mut budget = Budget::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Count(&mut budget).deserialize(&mut de);
    budget.exceeded.map_or(Ok(()), Err)
}

/// A serde visitor that counts every value, key and string byte into a [`Budget`].
struct Count<'b>(&'b mut Budget);

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Count<'_> {
    fn node<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.node().map_err(E::custom)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.node()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.node()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.node()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.node()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.node()
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.string(v.len()).map_err(E::custom)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let budget = self.0;
        budget.node().map_err(serde::de::Error::custom)?;
        while seq.next_element_seed(Count(&mut *budget))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let budget = self.0;
        budget.node().map_err(serde::de::Error::custom)?;
        while map.next_key_seed(Count(&mut *budget))?.is_some() {
            map.next_value_seed(Count(&mut *budget))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// (JSON, nodes it counts)
    #[test]
    fn json_nodes_are_values_and_keys() {
        let rows = [
            ("1", 1),
            ("[]", 1),
            ("[1, \"a\", null, true, 2.5]", 6),
            ("{\"a\": {\"b\": [1]}}", 6),
        ];
        for (json, nodes) in rows {
            let mut budget = Budget::default();
            let mut de = serde_json::Deserializer::from_slice(json.as_bytes());
            Count(&mut budget).deserialize(&mut de).unwrap();
            assert_eq!(budget.nodes, nodes, "{json}");
        }
    }
}
