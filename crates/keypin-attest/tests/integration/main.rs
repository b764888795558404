//! keypin-attest's integration tests: the real vectors of `tests/data/` (see its MANIFEST.md)
//! verify at their own time, and tampered copies are refused with the named failure.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod android;
mod apple;
mod common;
mod simulated;
