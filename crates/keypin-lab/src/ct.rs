//! Certificate Transparency scenarios: leaves under the genuine, pinned PKI whose embedded
//! SCTs are missing, come from a log the client does not know, carry a forged signature, or
//! are in order; and leaves without embedded SCTs whose SCTs come in the stapled OCSP response
//! (RFC 6962 §3.3): valid, one forged, or valid in a response whose own signature is forged.
//! The host's rule says `require_sct = "chrome"`; a client that checks CT must refuse the
//! attacks, however well pinned the chain is.
//!
//! The lab runs two test logs of different operators, a third log that is in no list, and a
//! Chrome v3 log list signed with a lab key (ECDSA P-256), made fresh for every run.

use keypin::ct::{LogList, LogListSigner};
use keypin_pki::{
    CertSpec, Issued, OcspResponseSpec, SctSpec, TestLog, issue_with_scts, log_list_json,
};

use crate::Error;
use crate::pki::{GENUINE_ORG, LabPki, days_from_now};
use crate::scenario::{Endpoint, Expected, Scenario, host_of, tls};

/// The lab's CT logs and their signed log list.
#[derive(Debug)]
pub struct CtLab {
    /// Two listed logs, of two operators.
    pub logs: [TestLog; 2],
    /// A log that no list names.
    pub unlisted: TestLog,
    /// The key that signs the log list.
    pub list_signer: TestLog,
    /// The log list (Chrome v3 JSON).
    pub list_json: String,
    /// Its detached signature (ECDSA P-256, SHA-256).
    pub list_signature: Vec<u8>,
}

impl CtLab {
    /// Fresh log keys and a signed list naming the two listed logs.
    pub fn generate() -> Result<Self, Error> {
        let log =
            |d: &str, o: &str| TestLog::generate(d, o).map_err(Error::pki(format!("CT log {d}")));
        let logs = [
            log("Keypin Lab 'Argent' log", "Lab Operator One")?,
            log("Keypin Lab 'Bismuth' log", "Lab Operator Two")?,
        ];
        let unlisted = log("Rogue 'Shadow' log", "Nobody")?;
        let list_signer = log("Keypin Lab log list signer", "")?;
        let fmt = |t: time::OffsetDateTime| {
            let t = t.replace_nanosecond(0).unwrap_or(t);
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let interval = (fmt(days_from_now(-365)), fmt(days_from_now(730)));
        let entry = |l: &TestLog| {
            l.list_entry_json(
                &fmt(days_from_now(-400)),
                Some((interval.0.as_str(), interval.1.as_str())),
            )
        };
        let list_json = log_list_json(
            "keypin-lab",
            &fmt(days_from_now(0)),
            &[
                (&logs[0].operator, vec![entry(&logs[0])]),
                (&logs[1].operator, vec![entry(&logs[1])]),
            ],
        );
        let list_signature = list_signer
            .sign(list_json.as_bytes())
            .map_err(Error::pki("signing the CT log list"))?;
        Ok(Self {
            logs,
            unlisted,
            list_signer,
            list_json,
            list_signature,
        })
    }

    /// The log list as keypin loads it: signature checked with the lab's list key.
    pub fn log_list(&self) -> Result<LogList, Error> {
        let signer = LogListSigner::from_pem(&self.list_signer.public_key_pem())
            .map_err(|e| Error::Policy(e.to_string()))?;
        LogList::from_signed(
            self.list_json.as_bytes(),
            &self.list_signature,
            &signer,
            "lab log list",
        )
        .map_err(|e| Error::Policy(e.to_string()))
    }
}

/// True for the scenarios of this file (their hosts get the CT rule).
pub(crate) fn is_ct(id: &str) -> bool {
    id.starts_with("CT")
}

/// SCT specs an hour old, `(log, forged signature?)`.
fn sct_specs<'a>(scts: &[(&'a TestLog, bool)]) -> Vec<SctSpec<'a>> {
    let ms = u64::try_from((days_from_now(0) - time::Duration::hours(1)).unix_timestamp())
        .unwrap_or(0)
        * 1000;
    scts.iter()
        .map(|(log, corrupt)| SctSpec {
            log,
            timestamp_ms: ms,
            corrupt_signature: *corrupt,
        })
        .collect()
}

/// A genuine, pinned leaf for `host` with SCTs from `scts` (log, forged signature?).
fn leaf(pki: &LabPki, host: &str, scts: &[(&TestLog, bool)]) -> Result<Issued, Error> {
    // 90 days: Chrome's policy then asks for SCTs from 2 logs of 2 operators.
    issue_with_scts(
        CertSpec::leaf(&[host])
            .key(&pki.leaf_key)
            .validity(days_from_now(-1), days_from_now(89)),
        &pki.intermediate,
        &sct_specs(scts),
    )
    .map_err(Error::pki(format!("a leaf with SCTs for {host}")))
}

/// What the server staples: nothing, or a good OCSP response carrying x509-entry SCTs
/// (log, forged SCT signature?), with the response's own signature forged or not.
enum Staple<'a> {
    None,
    Scts(Vec<(&'a TestLog, bool)>, bool),
}

/// id, description, what is presented, verdict, embedded SCTs (log, forged signature?), staple.
type Row<'a> = (
    &'static str,
    &'static str,
    String,
    Expected,
    Vec<(&'a TestLog, bool)>,
    Staple<'a>,
);

/// The CT scenarios, in table order.
pub(crate) fn scenarios(pki: &LabPki, ct: &CtLab) -> Result<Vec<Scenario>, Error> {
    let [one, two] = &ct.logs;
    let int = &pki.intermediate;
    let rows: [Row<'_>; 7] = [
        (
            "CT1-no-sct",
            "pinned genuine chain, leaf carries no SCT; the rule requires CT",
            format!("leaf without SCTs <- {GENUINE_ORG} Issuing CA (pinned)"),
            Expected::Reject,
            vec![],
            Staple::None,
        ),
        (
            "CT2-unknown-log",
            "SCTs from a listed log and from a log no list names",
            format!(
                "leaf with SCTs from '{}' and the unlisted '{}'",
                one.description, ct.unlisted.description
            ),
            Expected::Reject,
            vec![(one, false), (&ct.unlisted, false)],
            Staple::None,
        ),
        (
            "CT3-bad-signature",
            "SCTs from two listed logs, one with a forged signature",
            format!(
                "leaf with a valid SCT from '{}' and a forged one from '{}'",
                one.description, two.description
            ),
            Expected::Reject,
            vec![(one, false), (two, true)],
            Staple::None,
        ),
        (
            "CT4-valid",
            "enough valid SCTs: two listed logs of two operators (positive control)",
            format!(
                "leaf with valid SCTs from '{}' and '{}'",
                one.description, two.description
            ),
            Expected::Accept,
            vec![(one, false), (two, false)],
            Staple::None,
        ),
        (
            "CT5-ocsp-sct",
            "leaf without SCTs; two valid SCTs in the stapled, validated OCSP response",
            format!(
                "leaf without SCTs; staple (good, by the issuing CA) with SCTs from '{}' and '{}'",
                one.description, two.description
            ),
            Expected::Accept,
            vec![],
            Staple::Scts(vec![(one, false), (two, false)], false),
        ),
        (
            "CT6-ocsp-sct-bad-signature",
            "SCTs only in the OCSP staple, one with a forged signature",
            format!(
                "leaf without SCTs; staple with a valid SCT from '{}' and a forged one from '{}'",
                one.description, two.description
            ),
            Expected::Reject,
            vec![],
            Staple::Scts(vec![(one, false), (two, true)], false),
        ),
        (
            "CT7-ocsp-sct-forged-staple",
            "two valid SCTs in an OCSP staple whose own signature is forged (unauthenticated)",
            format!(
                "leaf without SCTs; staple with valid SCTs from '{}' and '{}', response signature forged",
                one.description, two.description
            ),
            Expected::Reject,
            vec![],
            Staple::Scts(vec![(one, false), (two, false)], true),
        ),
    ];
    let mut out = Vec::new();
    for (id, description, presents, expected, scts, staple) in rows {
        let host = host_of(id);
        let leaf = leaf(pki, &host, &scts)?;
        let mut endpoint: Endpoint = tls(&[&leaf, int], &leaf);
        if let (Staple::Scts(stapled, forged), Endpoint::Tls { ocsp, .. }) = (staple, &mut endpoint)
        {
            let specs = sct_specs(&stapled);
            let mut response = OcspResponseSpec::new(&leaf, int).scts(&specs);
            if forged {
                response = response.corrupt_signature();
            }
            *ocsp = Some(
                response
                    .build()
                    .map_err(Error::pki(format!("the OCSP staple for {host}")))?,
            );
        }
        out.push(Scenario {
            id,
            description,
            presents,
            expected,
            host,
            endpoint,
            client_identity: None,
        });
    }
    Ok(out)
}
