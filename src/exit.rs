//! Exit codes from sysexits(3), so scripts and systemd can tell failures
//! apart, and the one-line [`Failure`] the binaries exit with. A leaf: each
//! module's error says its own code where it is defined.

use std::process::ExitCode;

pub const EX_OK: u8 = 0;
/// The command line was wrong.
pub const EX_USAGE: u8 = 64;
/// A service the program needs is not there (the client: no daemon).
pub const EX_UNAVAILABLE: u8 = 69;
/// An operating-system call failed.
pub const EX_OSERR: u8 = 71;
/// The FIFO could not be created or used.
pub const EX_CANTCREAT: u8 = 73;
/// Try again later (the client: timed out).
pub const EX_TEMPFAIL: u8 = 75;
/// The other side answered something unexpected (the client: a status
/// answer it cannot read).
pub const EX_PROTOCOL: u8 = 76;
/// Permission denied.
pub const EX_NOPERM: u8 = 77;
/// The configuration is wrong.
pub const EX_CONFIG: u8 = 78;

/// A failure with its exit code and one line for a person.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn exit(&self, program: &str) -> ExitCode {
        eprintln!("{program}: {}", self.message);
        ExitCode::from(self.code)
    }
}
