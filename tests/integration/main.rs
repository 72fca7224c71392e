//! The integration tests: one crate (as ripgrep's tests/ are), so the shared
//! helpers in `common` are compiled once, and one module per concern. They
//! run the real binaries against real FIFOs, real signals and real datagram
//! sockets standing in for `/dev/log` and `NOTIFY_SOCKET`.
//!
//!   cargo test --test integration                 everything
//!   cargo test --test integration hostile::       one module
//!
//! The tests under real systemd are in tests/e2e/ (shell, as root).

mod common;
mod protocol_model;

mod cli;
mod client;
mod containment;
mod daemon;
mod fifo_safety;
mod hostile;
mod journal;
mod load_faults;
mod options;
mod protocol;
mod protocol_props;
