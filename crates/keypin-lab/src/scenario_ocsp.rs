//! OCSP stapling scenarios: the genuine chain (pinned keys) with a stapled response that a
//! client must judge. The lab policy says `ocsp = "check-if-stapled"`, so a staple that is
//! present must be valid; the must-staple leaf needs one whatever the policy says.

use keypin_pki::{CertSpec, Issued, OcspResponseSpec, OcspStatus, issue};
use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::pki::{GENUINE_ORG, LabPki};
use crate::scenario::{Endpoint, Expected, Scenario, host_of, tls};

fn stapled(chain: &[&Issued], key: &Issued, staple: Vec<u8>) -> Endpoint {
    Endpoint::Tls {
        chain: chain.iter().map(|c| c.cert.clone()).collect(),
        key: key.key.clone_key(),
        redirect_to_http: false,
        ocsp: Some(staple),
    }
}

/// The OCSP scenarios, in table order.
pub(crate) fn scenarios(pki: &LabPki) -> Result<Vec<Scenario>, Error> {
    let int = &pki.intermediate;
    let now = OffsetDateTime::now_utc();
    let pki_err = |what: &str| Error::pki(what.to_owned());
    let mut out = Vec::new();
    let mut add = |id: &'static str,
                   description: &'static str,
                   presents: String,
                   expected: Expected,
                   endpoint: Endpoint| {
        out.push(Scenario {
            id,
            description,
            presents,
            expected,
            host: host_of(id),
            endpoint,
            client_identity: None,
        });
    };

    let h = host_of("OCSP-good");
    let leaf = pki.genuine_leaf(&[&h])?;
    let staple = OcspResponseSpec::new(&leaf, int)
        .build()
        .map_err(pki_err("the good OCSP response"))?;
    add(
        "OCSP-good",
        "genuine chain with a fresh 'good' OCSP response stapled by the issuer",
        format!("{h} <- {GENUINE_ORG} Issuing CA; staple: good, signed by the issuing CA"),
        Expected::Accept,
        stapled(&[&leaf, int], &leaf, staple),
    );

    let h = host_of("OCSP-revoked");
    let leaf = pki.genuine_leaf(&[&h])?;
    let staple = OcspResponseSpec::new(&leaf, int)
        .status(OcspStatus::Revoked {
            at: now - Duration::days(2),
            reason: Some(1),
        })
        .build()
        .map_err(pki_err("the revoked OCSP response"))?;
    add(
        "OCSP-revoked",
        "genuine chain (stolen key) whose staple says the certificate is revoked",
        format!("{h} <- Issuing CA; staple: revoked 2 days ago (keyCompromise)"),
        Expected::Reject,
        stapled(&[&leaf, int], &leaf, staple),
    );

    let h = host_of("OCSP-stale");
    let leaf = pki.genuine_leaf(&[&h])?;
    let staple = OcspResponseSpec::new(&leaf, int)
        .this_update(now - Duration::days(8))
        .next_update(Some(now - Duration::days(1)))
        .build()
        .map_err(pki_err("the stale OCSP response"))?;
    add(
        "OCSP-stale",
        "a 'good' staple past its nextUpdate (replayed from before a revocation)",
        format!("{h} <- Issuing CA; staple: good, nextUpdate a day ago"),
        Expected::Reject,
        stapled(&[&leaf, int], &leaf, staple),
    );

    let h = host_of("OCSP-wrong-signer");
    let leaf = pki.genuine_leaf(&[&h])?;
    let responder = issue(
        CertSpec::ocsp_responder(&format!("{GENUINE_ORG} OCSP Responder")),
        &pki.mitm_ca,
    )
    .map_err(pki_err("the rogue OCSP responder"))?;
    let staple = OcspResponseSpec::new(&leaf, int)
        .signed_by(&responder)
        .build()
        .map_err(pki_err("the rogue OCSP response"))?;
    add(
        "OCSP-wrong-signer",
        "a 'good' staple signed by a responder the issuer never delegated to",
        format!(
            "{h} <- Issuing CA; staple: good, signed by '{GENUINE_ORG} OCSP Responder' <- Corporate Inspection Proxy CA"
        ),
        Expected::Reject,
        stapled(&[&leaf, int], &leaf, staple),
    );

    let h = host_of("OCSP-must-staple");
    let leaf = issue(CertSpec::leaf(&[&h]).key(&pki.leaf_key).must_staple(), int)
        .map_err(pki_err("the must-staple leaf"))?;
    add(
        "OCSP-must-staple",
        "must-staple leaf (TLS Feature status_request) served without a staple",
        format!("{h} (must-staple, pinned key) <- Issuing CA; no staple"),
        Expected::Reject,
        tls(&[&leaf, int], &leaf),
    );

    Ok(out)
}
