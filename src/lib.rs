//! fifo-pingd: a systemd-managed daemon that logs every `ping` written to a
//! control FIFO.
//!
//! One module per concern: [`cli`] (command line), [`config`] (TOML),
//! [`fifo`] (creating, verifying and removing the FIFO), [`protocol`] (the
//! pure parser), [`notify`] (sd_notify), [`logging`] (syslog and stderr),
//! [`reply`] (pongs for round-trip pings), [`reload`] (the reload report and
//! `--reload`), [`daemon`] (the loop), [`exit`] (sysexits codes),
//! [`client`] (`fifo-pingctl`).

// Hardening: no unsafe code but the one statement that takes ownership of the
// socket-activated descriptor (fifo.rs, with its SAFETY comment), and no
// unwrap() outside tests: errors are handled or carry an expect() reason.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod exit;
pub mod fifo;
pub mod logging;
pub mod notify;
pub mod protocol;
pub mod reload;
pub mod reply;
pub mod signals;
