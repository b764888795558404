//! Making the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)` through rustix's safe
//! wrapper): a debugger or tracer running as the same user can no longer attach
//! (ptrace needs `CAP_SYS_PTRACE` then), no core dump is written, and `/proc/self` files
//! belong to root.

use rustix::process::{DumpableBehavior, dumpable_behavior, set_dumpable_behavior};

use crate::Error;

pub(crate) fn harden() -> Result<(), Error> {
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(|e| Error::Prctl {
        what: "PR_SET_DUMPABLE 0",
        source: e.into(),
    })
}

pub(crate) fn dumpable() -> Result<bool, Error> {
    dumpable_behavior()
        .map(|b| b != DumpableBehavior::NotDumpable)
        .map_err(|e| Error::Prctl {
            what: "PR_GET_DUMPABLE",
            source: e.into(),
        })
}
