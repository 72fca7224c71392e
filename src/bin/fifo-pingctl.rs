//! fifo-pingctl: sends `ping` or `end` to fifo-pingd without ever hanging,
//! and with `ping --wait` checks that the daemon answers. All the logic is in
//! [`fifo_pingd::ctl`].

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

fn main() -> ExitCode {
    fifo_pingd::ctl::main(std::env::args_os().skip(1))
}
