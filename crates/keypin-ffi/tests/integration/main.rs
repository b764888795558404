//! Tests of the FFI surface, called as the bindings call it (through the exported methods).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check;
mod policy;
mod reports;
mod support;
mod update;
