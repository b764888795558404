//! What the updater trusts between checks: the root reached from the embedded one, and the
//! version mark, which a root rotation keeps or resets by one rule ([`mark_across`]). Also
//! the restoring of a stored state at start-up ([`recover`]) and the report of one check.

use std::time::Duration;

use rustls_pki_types::UnixTime;

use super::state::{Mark, State};
use super::{CheckOutcome, UpdateError, UpdaterConfig, expectations};
use crate::live::bundle::{BundleError, ExpiredBundle, Root, VerifiedBundle};

/// What a root rotation did to the version high-water mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarkAcrossRotation {
    /// There was no mark to keep.
    NoMark,
    /// A threshold of the keys that signed the bundle at the mark are still trusted for
    /// bundles by the new root: the mark stands, and older bundles stay refused.
    Kept,
    /// They are not (a key was rotated out, or the threshold rose above them): the mark is
    /// reset, so a version those keys signed, however high, stops mattering.
    Reset,
}

/// One root rotation walked in a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// The root version rotated from.
    pub from: u64,
    /// The root version rotated to.
    pub to: u64,
    /// What happened to the version mark.
    pub mark: MarkAcrossRotation,
}

/// What one check ([`Updater::check`](super::Updater::check)) did.
#[derive(Debug)]
#[non_exhaustive]
pub struct CheckReport {
    /// Updated, unchanged, or refused (the last good pins stay in force) and why.
    pub result: Result<CheckOutcome, UpdateError>,
    /// The version high-water mark before the check.
    pub high_water_before: Option<u64>,
    /// The version high-water mark after it (as persisted).
    pub high_water_after: Option<u64>,
    /// The root version before the check.
    pub root_before: u64,
    /// The root version after it.
    pub root_after: u64,
    /// The root rotations applied, in order (each one persisted).
    pub rotations: Vec<Rotation>,
}

/// The one rule for the mark across a rotation to `root` (TUF 5.3.11: trusted metadata is
/// discarded only when the keys that vouched for it are rotated out). The mark is kept while a
/// threshold of `root` (its bundle-signing keys and threshold) accepts the keys that signed the
/// bundle at the mark; otherwise it is reset (fast-forward recovery). A rotation to a root at
/// or below the one the mark was decided under (walking again the rotations of a lost state
/// file) was already judged then and keeps it.
pub(crate) fn mark_across(state: &mut State, root: &Root) -> MarkAcrossRotation {
    let mark = state.mark();
    let decided_under = mark.root.unwrap_or(0);
    if mark.high_water.is_none() {
        state.mark_root = Some(decided_under.max(root.version()));
        return MarkAcrossRotation::NoMark;
    }
    if root.version() <= decided_under || root.accepts_signers(&mark.signer_ids()) {
        return MarkAcrossRotation::Kept;
    }
    state.set_mark(Mark {
        high_water: None,
        root: Some(root.version()),
        signers: Vec::new(),
        digest: None,
    });
    MarkAcrossRotation::Reset
}

/// A stored state, restored against the embedded root.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub root: Root,
    pub state: State,
    /// The stored bundle: `None` when none is stored, `Err` (why) when it no longer verifies.
    pub bundle: Option<Result<VerifiedBundle, String>>,
    /// What could not be used, for the start-up report.
    pub problems: Vec<String>,
}

/// Walks the stored rotations from the embedded root (roots at or below the embedded version
/// are skipped: an app release that embeds an already-rotated root keeps its state), applies
/// the mark rule if the embedded root is newer than the one the mark was decided under, and
/// re-verifies the stored bundle. The mark and the latest time seen are never lowered here:
/// a refused rotation or a bundle that no longer verifies drops only what it concerns.
pub(crate) fn recover(config: &UpdaterConfig, embedded: &Root, mut state: State) -> Recovered {
    let mut root = embedded.clone();
    let mut problems = Vec::new();
    match state.roots() {
        Err(e) => problems.push(format!("the stored roots are not base64: {e}")),
        Ok(roots) => {
            for (i, bytes) in roots.iter().enumerate() {
                match root.rotate(bytes) {
                    Ok(next) => root = next,
                    Err(BundleError::RootVersion { current, found }) if found <= current => {}
                    Err(e) => {
                        problems.push(format!("stored root rotation refused: {e}"));
                        state.roots.truncate(i);
                        break;
                    }
                }
            }
        }
    }
    // A format-1 mark was decided under the root the stored rotations reach.
    if state.mark_root.is_none() {
        state.mark_root = Some(root.version());
    }
    mark_across(&mut state, &root);
    let bundle = match state.bundle() {
        Err(e) => Some(Err(format!("the stored bundle is not base64: {e}"))),
        Ok(None) => None,
        Ok(Some(bytes)) => Some(verify_stored(config, &root, &state, &bytes)),
    };
    // A format-1 state: learn the mark's signers from the stored bundle at the mark.
    if let Some(Ok(b)) = &bundle
        && state.high_water == Some(b.version())
        && state.mark_signers.is_empty()
    {
        let mark_root = state.mark_root;
        state.set_mark(Mark {
            root: mark_root,
            ..Mark::at(b, root.version())
        });
    }
    Recovered {
        root,
        state,
        bundle,
        problems,
    }
}

fn verify_stored(
    config: &UpdaterConfig,
    root: &Root,
    state: &State,
    bytes: &[u8],
) -> Result<VerifiedBundle, String> {
    let mut expect = expectations(config).expired(ExpiredBundle::KeepStoredLastGood);
    // The stored bundle *is* the high-water mark: it must not be below it.
    if let Some(hw) = state.high_water.and_then(|hw| hw.checked_sub(1)) {
        expect = expect.high_water(hw);
    }
    // Its signatures were checked at a time within the root's validity; checking again "now"
    // with an expired root would drop to older pins, so use the latest time seen.
    let at = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(state.latest_seen).unwrap_or(0),
    ));
    root.verify_bundle(bytes, &expect, at)
        .map_err(|e| format!("the stored bundle no longer verifies: {e}"))
}
