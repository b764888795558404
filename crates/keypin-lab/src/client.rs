//! Clients under test: keypin's own library, or any command line with placeholders.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use keypin::ct::LogList;
use keypin::{
    PinnedConfig, Policy, Roots, events::ChannelSink, events::PinEvent, events::PinEventSink,
    policy::ReportOnlyReason,
};
use rustls_pki_types::ServerName;

use crate::Error;
use crate::scenario::Scenario;

/// Where the client under test should go, and the lab's files for it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The scenario server's address.
    pub addr: SocketAddr,
    /// Values for the command placeholders (`{ca_file}`, `{pins_curl}`, ...).
    pub values: &'a Placeholders,
}

/// What the client itself said about one attempt: the second signal beside the server's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Short text: `exit 0`, `exit 60`, `ok: HTTP/1.1 200 OK`, `error: ...`, `timed out`.
    pub status: String,
    /// True when the client reported success (exit 0 / a response read).
    pub succeeded: bool,
    /// The client reported that its pins expired (only clients whose reports the lab can
    /// see; see [`Client::sees_reports`]).
    pub reported_expiry: bool,
}

/// A TLS client the lab can judge.
pub trait Client {
    /// A name for the report.
    fn name(&self) -> String;
    /// True if [`Attempt::reported_expiry`] is meaningful (scenarios that judge reporting are
    /// skipped otherwise, and said to be skipped).
    fn sees_reports(&self) -> bool {
        false
    }
    /// Makes one HTTPS request to `target`, within about `timeout`. `Err` aborts the run
    /// (the client cannot run at all).
    fn attempt(&self, target: &Target<'_>, timeout: Duration) -> Result<Attempt, Error>;
}

/// Values substituted into a client command, one set per lab.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    /// `{ca_file}`: the trust store PEM file.
    pub ca_file: String,
    /// `{pins_curl}`: `sha256//...;sha256//...`.
    pub pins_curl: String,
    /// `{pins_okhttp}`: `sha256/...,sha256/...`.
    pub pins_okhttp: String,
    /// `{policy}`: the keypin policy file.
    pub policy: String,
    /// `{proxy}`: `http://ADDR:PORT` of a proxy that tunnels to every scenario's server.
    pub proxy: String,
    /// `{client_cert}` and `{client_key}` of the mTLS scenarios: (scenario id, certificate
    /// file, key file). Empty for the other scenarios.
    pub client_files: Vec<(String, String, String)>,
}

/// The placeholder names a command may use.
pub const PLACEHOLDERS: &[&str] = &[
    "url",
    "host",
    "port",
    "addr",
    "ca_file",
    "pins_curl",
    "pins_okhttp",
    "policy",
    "resolve",
    "proxy",
    "client_cert",
    "client_key",
];

/// keypin's own client: a [`PinnedConfig`] with the lab's policy and trust store, and a
/// [`ChannelSink`] so the lab sees its pin reports.
/// For mTLS scenarios it presents the identity the scenario hands it.
#[derive(Debug)]
pub struct KeypinClient {
    config: Arc<rustls::ClientConfig>,
    policy: Arc<Policy>,
    roots: Roots,
    sink: Arc<Tee>,
    ct_logs: Option<Arc<LogList>>,
    events: Mutex<Receiver<PinEvent>>,
}

impl KeypinClient {
    /// A client pinning with `policy` and trusting `roots`.
    pub fn new(policy: Policy, roots: Roots) -> Result<Self, Error> {
        Self::build(policy, roots, None, None)
    }

    /// The same, also handing every pin event to `extra` (e.g. a report sender).
    pub fn with_sink(
        policy: Policy,
        roots: Roots,
        extra: Option<Arc<dyn PinEventSink>>,
    ) -> Result<Self, Error> {
        Self::build(policy, roots, extra, None)
    }

    /// A client pinning with `policy`, trusting `roots`, and checking SCTs against `logs`
    /// for rules with `require_sct`.
    pub fn with_ct_logs(policy: Policy, roots: Roots, logs: LogList) -> Result<Self, Error> {
        Self::build(policy, roots, None, Some(Arc::new(logs)))
    }

    /// A client pinning with `policy`, trusting `roots`, handing pin events also to `extra`
    /// and checking SCTs against `ct_logs` (rules with `require_sct` refuse without them).
    pub fn build(
        policy: Policy,
        roots: Roots,
        extra: Option<Arc<dyn PinEventSink>>,
        ct_logs: Option<Arc<LogList>>,
    ) -> Result<Self, Error> {
        let (lab, events) = ChannelSink::new(64);
        let policy = Arc::new(policy);
        let sink = Arc::new(Tee { lab, extra });
        let config =
            pinned_config(&policy, &roots, &sink, ct_logs.as_ref(), None).map_err(Error::Policy)?;
        Ok(Self {
            config,
            policy,
            roots,
            sink,
            ct_logs,
            events: Mutex::new(events),
        })
    }

    /// The config for one scenario: the shared one, or one presenting the scenario's client
    /// identity (mTLS).
    fn config_for(&self, scenario: &Scenario) -> Result<Arc<rustls::ClientConfig>, String> {
        let Some(issued) = &scenario.client_identity else {
            return Ok(Arc::clone(&self.config));
        };
        let identity = keypin::identity::ClientIdentity::new(
            vec![issued.cert.clone()],
            issued.key.clone_key(),
            &format!("the client identity of {}", scenario.id),
        )
        .map_err(|e| e.to_string())?;
        pinned_config(
            &self.policy,
            &self.roots,
            &self.sink,
            self.ct_logs.as_ref(),
            Some(identity),
        )
    }
}

/// keypin's pinned config for the lab client, with its event sink, CT logs and identity.
fn pinned_config(
    policy: &Arc<Policy>,
    roots: &Roots,
    sink: &Arc<Tee>,
    ct_logs: Option<&Arc<LogList>>,
    identity: Option<keypin::identity::ClientIdentity>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut builder = PinnedConfig::builder(Arc::clone(policy), roots.clone())
        .events(Arc::clone(sink) as Arc<dyn PinEventSink>);
    if let Some(logs) = ct_logs {
        builder = builder.ct_logs(Arc::clone(logs));
    }
    if let Some(identity) = identity {
        builder = builder.client_identity(identity);
    }
    builder.build().map(Arc::new).map_err(|e| e.to_string())
}

/// Hands each event to the lab's channel and to an extra sink.
#[derive(Debug)]
struct Tee {
    lab: ChannelSink,
    extra: Option<Arc<dyn PinEventSink>>,
}

impl PinEventSink for Tee {
    fn pin_event(&self, event: PinEvent) {
        if let Some(extra) = &self.extra {
            extra.pin_event(event.clone());
        }
        self.lab.pin_event(event);
    }
}

impl Client for KeypinClient {
    fn name(&self) -> String {
        "keypin (library, lab policy)".into()
    }

    fn sees_reports(&self) -> bool {
        true
    }

    fn attempt(&self, target: &Target<'_>, timeout: Duration) -> Result<Attempt, Error> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        while events.try_recv().is_ok() {}
        let outcome = self
            .config_for(target.scenario)
            .and_then(|config| https_get(&config, &target.scenario.host, target.addr, timeout));
        let reported_expiry = events.try_iter().any(|e| {
            matches!(
                e,
                PinEvent::ReportOnlyMismatch {
                    reason: ReportOnlyReason::Expired { .. },
                    ..
                }
            )
        });
        Ok(match outcome {
            Ok(status_line) => Attempt {
                status: format!("ok: {status_line}"),
                succeeded: true,
                reported_expiry,
            },
            Err(e) => Attempt {
                status: format!("error: {e}"),
                succeeded: false,
                reported_expiry,
            },
        })
    }
}

/// One HTTPS GET over `config`; returns the response's status line. Redirects are not
/// followed. Public so tests can build other clients from it.
pub fn https_get(
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<String, String> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::clone(config), name).map_err(|e| e.to_string())?;
    let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(timeout))
        .and_then(|()| sock.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !reply.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8_lossy(&reply);
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// Any command, run once per scenario with placeholders substituted. The command line is
/// split into words like a shell does (spaces; '...' and "..." quotes) and run directly, no
/// shell involved; `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone)]
pub struct CommandClient {
    words: Vec<String>,
}

impl CommandClient {
    /// Parses and checks `template`: unknown placeholders, unbalanced quotes and an empty
    /// command are errors.
    pub fn new(template: &str) -> Result<Self, Error> {
        let words = split_words(template)?;
        if words.is_empty() {
            return Err(Error::Command("the command is empty".into()));
        }
        for w in &words {
            substitute(w, &|_| Some(String::new()))?;
        }
        Ok(Self { words })
    }
}

impl Client for CommandClient {
    fn name(&self) -> String {
        self.words.join(" ")
    }

    fn attempt(&self, target: &Target<'_>, timeout: Duration) -> Result<Attempt, Error> {
        let host = &target.scenario.host;
        let port = target.addr.port();
        let ip = target.addr.ip();
        let client_files = target
            .values
            .client_files
            .iter()
            .find(|(id, _, _)| id == target.scenario.id);
        let lookup = |name: &str| -> Option<String> {
            Some(match name {
                "url" => format!("https://{host}:{port}/"),
                "host" => host.clone(),
                "port" => port.to_string(),
                "addr" => target.addr.to_string(),
                "resolve" => format!("{host}:{port}:{ip}"),
                "proxy" => target.values.proxy.clone(),
                "ca_file" => target.values.ca_file.clone(),
                "pins_curl" => target.values.pins_curl.clone(),
                "pins_okhttp" => target.values.pins_okhttp.clone(),
                "policy" => target.values.policy.clone(),
                "client_cert" => client_files.map(|f| f.1.clone()).unwrap_or_default(),
                "client_key" => client_files.map(|f| f.2.clone()).unwrap_or_default(),
                _ => return None,
            })
        };
        let mut argv = Vec::with_capacity(self.words.len());
        for w in &self.words {
            argv.push(substitute(w, &lookup)?);
        }
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::Command("the command is empty".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.clone(),
                source,
            })?;
        let stderr = child.stderr.take().map(|mut s| {
            thread::spawn(move || {
                let mut text = String::new();
                let _ignored = s.read_to_string(&mut text);
                text
            })
        });
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ignored = child.kill();
                    let _ignored = child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(source) => {
                    return Err(Error::Io {
                        context: format!("waiting for {program:?}"),
                        source,
                    });
                }
            }
        };
        let last_err = stderr
            .and_then(|h| h.join().ok())
            .and_then(|t| t.lines().find(|l| !l.trim().is_empty()).map(str::to_owned))
            .unwrap_or_default();
        Ok(match status {
            None => Attempt {
                status: format!("timed out after {} ms, killed", timeout.as_millis()),
                succeeded: false,
                reported_expiry: false,
            },
            Some(s) => {
                let code = s
                    .code()
                    .map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit {c}"));
                let status = if last_err.is_empty() || s.success() {
                    code
                } else {
                    format!("{code}: {}", last_err.trim())
                };
                Attempt {
                    status,
                    succeeded: s.success(),
                    reported_expiry: false,
                }
            }
        })
    }
}

fn split_words(text: &str) -> Result<Vec<String>, Error> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                let mut closed = false;
                for q in chars.by_ref() {
                    if q == c {
                        closed = true;
                        break;
                    }
                    cur.push(q);
                }
                if !closed {
                    return Err(Error::Command(format!("unbalanced {c} quote in {text:?}")));
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn substitute(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{") {
            out.push('{');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("}}") {
            out.push('}');
            rest = t;
        } else if let Some(t) = tail.strip_prefix('{') {
            let end = t.find('}').ok_or_else(|| {
                Error::Command(format!(
                    "unclosed {{ in {word:?} (write {{{{ for a literal brace)"
                ))
            })?;
            let name = &t[..end];
            let value = lookup(name)
                .filter(|_| PLACEHOLDERS.contains(&name))
                .ok_or_else(|| {
                    Error::Command(format!(
                        "unknown placeholder {{{name}}}; known: {}",
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ))
                })?;
            out.push_str(&value);
            rest = &t[end + 1..];
        } else {
            return Err(Error::Command(format!(
                "stray }} in {word:?} (write }}}} for a literal brace)"
            )));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn words_and_placeholders() {
        let rows: &[(&str, Option<&[&str]>)] = &[
            ("curl {url}", Some(&["curl", "x"])),
            ("a 'b c' \"d\"", Some(&["a", "b c", "d"])),
            ("echo {{x}}", Some(&["echo", "{x}"])),
            ("echo {nope}", None),
            ("echo 'x", None),
            ("echo {url", None),
            ("", None),
        ];
        for (template, expected) in rows {
            let got = CommandClient::new(template).and_then(|c| {
                c.words
                    .iter()
                    .map(|w| substitute(w, &|_| Some("x".into())))
                    .collect::<Result<Vec<_>, _>>()
            });
            match expected {
                Some(words) => assert_eq!(&got.unwrap(), words, "{template}"),
                None => assert!(got.is_err(), "{template}"),
            }
        }
    }
}
