//! Command output on stdout, with a closed pipe handled instead of panicking.

use std::io::Write as _;

/// Writes to stdout. A closed pipe (the reader is gone) exits with status 141, as a process
/// killed by SIGPIPE would; any other write error is reported and exits with status 2, so a
/// full disk never looks like success.
pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("keypin: error: cannot write to stdout: {e}");
        std::process::exit(2);
    }
}
