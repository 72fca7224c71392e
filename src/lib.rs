//! fifo-pingd: a systemd-managed daemon that logs every `ping` written to a
//! control FIFO, and its client `fifo-pingctl`.
//!
//! The rooms:
//! - [`protocol`]: the pure parser, bytes in, events out (unit-tested, fuzzed);
//! - [`config`]: the TOML configuration, read from a trusted file;
//! - [`fifo`]: creating, verifying and removing FIFOs, on descriptors;
//! - [`daemon`]: the loop and what it drives (command line, logging, sd_notify,
//!   pongs, reload reports);
//! - [`ctl`]: `fifo-pingctl` (command line, finding the FIFO, sending, round trips);
//! - [`args`], [`signals`], [`timeout`], [`users`] and [`exit`]: shared by both
//!   binaries.

// Hardening: no unsafe code but the one statement that takes ownership of the
// socket-activated descriptor (fifo/mod.rs, with its SAFETY comment), and no
// unwrap() outside tests: errors are handled or carry an expect() reason.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

// What the binaries, the tests and the benchmarks use ...
pub mod args;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod exit;
pub mod protocol;
// ... and what only the modules above use.
pub(crate) mod fifo;
pub(crate) mod signals;
pub(crate) mod timeout;
pub(crate) mod users;
