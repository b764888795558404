//! `keypin`: compute pins, inspect and check live servers, and see pinning stop an attack.
//!
//! Exit codes (documented in the README and `keypin --help`):
//! 0 success; 1 pin mismatch; 2 usage, input or policy error; 3 connection or chain-validation
//! failure.

#![forbid(unsafe_code)]

/// `println!` for command output: a reader that went away (`keypin ... | head`) ends the
/// process quietly with the shell's SIGPIPE status instead of a panic.
macro_rules! say {
    () => { $crate::output::write(format_args!("\n")) };
    ($($t:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` with the same handling.
macro_rules! say_raw {
    ($($t:tt)*) => { $crate::output::write(format_args!($($t)*)) };
}

mod args;
mod cmd;
mod net;
mod output;
mod sigcache;

use std::process::ExitCode;

use clap::Parser as _;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub(crate) fn usage(error: anyhow::Error) -> Self {
        Self {
            code: exit::USAGE,
            error,
        }
    }
    pub(crate) fn connect(error: anyhow::Error) -> Self {
        Self {
            code: exit::CONNECT,
            error,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::usage(error)
    }
}

/// Documented exit codes.
pub(crate) mod exit {
    /// The pins did not match.
    pub const MISMATCH: u8 = 1;
    /// Bad usage, unreadable input, or a refused policy.
    pub const USAGE: u8 = 2;
    /// Could not connect, or the chain did not validate.
    pub const CONNECT: u8 = 3;
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("keypin: error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}
