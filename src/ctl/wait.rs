use super::error::ClientError;
use std::io::{self};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};

use crate::signals::{SIGHUP, SIGINT, SIGTERM, Signals};

// ---------------------------------------------------------------------------
// Signals

/// SIGINT, SIGTERM and SIGHUP, caught while the client holds a reply FIFO
/// (the shared [`Signals`]: a signal wakes `poll`); dropped, the default
/// actions are back, so the signal can be re-raised after the clean-up.
pub struct Interrupts(Signals);

pub(crate) const INTERRUPTS: [libc::c_int; 3] = [SIGINT, SIGTERM, SIGHUP];

impl Interrupts {
    pub fn install() -> io::Result<Interrupts> {
        Signals::install(&INTERRUPTS).map(Interrupts)
    }

    /// The first signal that arrived, if any.
    pub fn pending(&self) -> Option<libc::c_int> {
        self.0.first_of(&INTERRUPTS)
    }
}

pub(crate) fn check_interrupts(interrupts: Option<&Interrupts>) -> Result<(), ClientError> {
    match interrupts.and_then(Interrupts::pending) {
        Some(signal) => Err(ClientError::Interrupted(signal)),
        None => Ok(()),
    }
}

/// Waits until `fd` reports `events`, a signal arrives or `deadline` passes.
/// Returns false at the deadline.
pub(crate) fn wait_for(
    fd: &OwnedFd,
    events: PollFlags,
    deadline: Instant,
    interrupts: Option<&Interrupts>,
    what: &str,
) -> Result<bool, ClientError> {
    loop {
        check_interrupts(interrupts)?;
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let timeout = crate::timeout::until(deadline);
        let mut fds = vec![PollFd::new(fd.as_fd(), events)];
        if let Some(i) = interrupts {
            fds.push(PollFd::new(i.0.wake_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {
                if fds[0].revents().is_some_and(|r| !r.is_empty()) {
                    return Ok(true);
                }
            }
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(ClientError::os(format!("poll on {what}"), errno)),
        }
    }
}

/// `5 s`, `0.5 s`, `0.25 s`: to the millisecond.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{} s", d.as_millis() as f64 / 1000.0)
}

/// `123 µs`, `12.3 ms` or `1.23 s`.
pub fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 10_000 {
        format!("{micros} µs")
    } else if micros < 10_000_000 {
        format!("{:.1} ms", micros as f64 / 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}
