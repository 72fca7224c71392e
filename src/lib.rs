//! fifo-pingd: a systemd-managed daemon that logs every `ping` written to a
//! control FIFO.
//!
//! One module per concern: [`cli`] (command line), [`config`] (TOML),
//! [`fifo`] (creating, verifying and removing the FIFO), [`protocol`] (the
//! pure parser), [`notify`] (sd_notify), [`logging`] (syslog and stderr),
//! [`reply`] (pongs for round-trip pings), [`daemon`] (the loop), [`exit`] (sysexits codes),
//! [`client`] (`fifo-pingctl`).

#![deny(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod exit;
#[allow(unsafe_code)]
pub mod fifo;
pub mod logging;
pub mod notify;
pub mod protocol;
pub mod reply;
