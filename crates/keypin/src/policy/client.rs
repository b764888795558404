//! The client allowlist of mTLS servers (`[[client]]` tables): who may connect, by key. The
//! verifier that enforces it is [`crate::verify::client`].

use std::collections::HashMap;
use std::path::Path;

use rustls_pki_types::UnixTime;
use serde::Deserialize;
use toml::Spanned;

use crate::clock::Date;
use crate::error::Error;
use crate::pin::Pin;

use super::diagnostic::{Diagnostic, PolicyError};
use super::fields::{PIN_HINT_CLIENT, Reporter, read_policy_file};
use super::toml_text::{self, Position};

/// What an identity's pins do after their `expires` date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientOnExpiry {
    /// The pins no longer authorize the client: its handshakes are refused, and the refusal
    /// says the pins expired (default).
    #[default]
    Refuse,
    /// Keep accepting the pinned keys, logging a warning on every connection.
    AcceptAndReport,
}

/// One client identity: a name and the keys it may present.
#[derive(Debug, Clone)]
pub struct ClientIdentityRule {
    name: String,
    pins: Vec<Pin>,
    expires: Option<Date>,
    on_expiry: ClientOnExpiry,
    line: usize,
}

impl ClientIdentityRule {
    /// An identity named `name` that may present any of `pins`.
    pub fn new(name: &str, pins: Vec<Pin>) -> Self {
        Self {
            name: name.to_string(),
            pins,
            expires: None,
            on_expiry: ClientOnExpiry::default(),
            line: 0,
        }
    }

    /// The last date (UTC) the pins authorize the client.
    pub fn expires(mut self, date: Date) -> Self {
        self.expires = Some(date);
        self
    }

    /// What happens after `expires`.
    pub fn on_expiry(mut self, on_expiry: ClientOnExpiry) -> Self {
        self.on_expiry = on_expiry;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pins.
    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }

    /// The expiry date, if any.
    pub fn expiry(&self) -> Option<Date> {
        self.expires
    }

    /// What happens after `expires`.
    pub fn on_expiry_setting(&self) -> ClientOnExpiry {
        self.on_expiry
    }

    /// Have the pins expired at `now`? They are in force through the whole `expires` date.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires
            .is_some_and(|d| now.as_secs() as i64 >= d.start_secs() + 86_400)
    }
}

/// The client allowlist: identities and their pins. Immutable once built.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    source_name: String,
    identities: Vec<ClientIdentityRule>,
    by_pin: HashMap<Pin, usize>,
}

impl ClientPolicy {
    /// Builds a policy from identities made in code. Refused (with every problem listed):
    /// no identities, an empty name, a name used twice, an identity without pins, and a pin
    /// listed under two identities (which would make the client's identity ambiguous).
    pub fn new(
        source_name: &str,
        identities: Vec<ClientIdentityRule>,
    ) -> Result<Self, PolicyError> {
        let mut diagnostics = Vec::new();
        let mut problem = |line: usize, field: String, message: String, hint: &str| {
            diagnostics.push(Diagnostic {
                line: (line > 0).then_some(line),
                column: None,
                field: Some(field),
                message,
                hint: Some(hint.to_string()),
            });
        };
        if identities.is_empty() {
            problem(
                0,
                "client".into(),
                "the client policy lists no identity, so no client could ever connect".into(),
                "add a [[client]] table with a name and the pins of its keys",
            );
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut by_pin: HashMap<Pin, usize> = HashMap::new();
        for (i, id) in identities.iter().enumerate() {
            let field = |f: &str| format!("client[{i}].{f}");
            if id.name.trim().is_empty() {
                problem(
                    id.line,
                    field("name"),
                    "the identity has no name".into(),
                    "name it after the client, like name = \"billing-service\"",
                );
            } else if let Some(first) = names.insert(&id.name, i) {
                problem(
                    id.line,
                    field("name"),
                    format!("the name {:?} is also used by client[{first}]", id.name),
                    "each identity needs its own name; merge the pins into one identity",
                );
            }
            if id.pins.is_empty() {
                problem(
                    id.line,
                    field("pins"),
                    "the identity has no pins".into(),
                    "list the SPKI pins of the client's keys (`keypin pin client.crt`)",
                );
            }
            for pin in &id.pins {
                match by_pin.get(pin) {
                    Some(&other) if other != i => problem(
                        id.line,
                        field("pins"),
                        format!(
                            "pin {pin} is also listed for client[{other}] ({:?}): the client's identity would be ambiguous",
                            identities.get(other).map_or("", |o| o.name.as_str())
                        ),
                        "each key belongs to one identity",
                    ),
                    Some(_) => problem(
                        id.line,
                        field("pins"),
                        format!("pin {pin} is listed twice"),
                        "remove the duplicate",
                    ),
                    None => {
                        by_pin.insert(*pin, i);
                    }
                }
            }
        }
        if !diagnostics.is_empty() {
            diagnostics.sort_by_key(|d| d.line);
            return Err(PolicyError {
                source_name: source_name.to_string(),
                diagnostics,
            });
        }
        Ok(Self {
            source_name: source_name.to_string(),
            identities,
            by_pin,
        })
    }

    /// Parses a client policy (`[[client]]` tables, see the module docs).
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, PolicyError> {
        parse(text, source_name)
    }

    /// Reads and parses a client policy file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = read_policy_file(path)?;
        Ok(parse(&text, &path.display().to_string())?)
    }

    /// The identities, in file order.
    pub fn identities(&self) -> &[ClientIdentityRule] {
        &self.identities
    }

    /// Where it came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    pub(crate) fn identity_of(&self, pin: &Pin) -> Option<&ClientIdentityRule> {
        self.by_pin.get(pin).and_then(|i| self.identities.get(*i))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClients {
    #[serde(default)]
    client: Vec<Spanned<RawClient>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    pins: Vec<Spanned<String>>,
    #[serde(default)]
    expires: Option<Spanned<String>>,
    #[serde(default)]
    on_expiry: Option<Spanned<String>>,
}

fn parse(text: &str, source_name: &str) -> Result<ClientPolicy, PolicyError> {
    let mut r = Reporter::new(text, Position::Line);
    let raw: RawClients =
        toml_text::deserialize(text, source_name, &r.lines, Position::Line, |_| {
            Some(
                "a client policy has [[client]] tables with name, pins, and optionally expires \
                 and on_expiry"
                    .into(),
            )
        })?;
    let mut identities = Vec::new();
    for (i, c) in raw.client.into_iter().enumerate() {
        let line = r.lines.line(c.span().start);
        r.table_line = Some(line);
        let c = c.into_inner();
        let prefix = format!("client[{i}]");
        let pin_items = c
            .pins
            .iter()
            .map(|p| (Some(p.span().start), p.get_ref().as_str()));
        let pins = r.pins(pin_items, &prefix, "pins", PIN_HINT_CLIENT);
        let mut rule = ClientIdentityRule::new(&c.name, pins);
        rule.line = line;
        rule.expires = r.expires(
            c.expires.as_ref().map(|e| e.get_ref().as_str()),
            c.expires.as_ref().map(|e| e.span().start),
            format!("{prefix}.expires"),
            "write the last day the pins are valid, like \"2027-06-30\"",
        );
        if let Some(on_expiry) = r.keyword(
            c.on_expiry.as_ref().map(|o| o.get_ref().as_str()),
            ClientOnExpiry::Refuse,
            &[
                ("refuse", ClientOnExpiry::Refuse),
                ("accept-and-report", ClientOnExpiry::AcceptAndReport),
            ],
            (
                c.on_expiry.as_ref().map(|o| o.span().start),
                format!("{prefix}.on_expiry"),
                "on_expiry",
            ),
            "use \"refuse\" (default) or \"accept-and-report\"",
        ) {
            rule.on_expiry = on_expiry;
        }
        identities.push(rule);
    }
    // The allowlist's own checks (names, a pin under two identities) join the fields'
    // problems, all in file order.
    let policy = ClientPolicy::new(source_name, identities);
    if let Err(e) = &policy {
        for d in &e.diagnostics {
            r.push(d.clone());
        }
    }
    r.finish(source_name)?;
    policy
}
