//! Signal delivery for the daemon and the client, on signal-hook's own
//! self-pipe mechanism ([`SignalDelivery`]): the handler records the signal
//! and writes a byte to a socket pair, whose read end the caller puts into
//! its `poll`, so a signal wakes it at once and nothing is lost between the
//! look at the flags and the sleep (signal-hook drains the pipe before it
//! reads the flags). Dropping [`Signals`] restores the previous handlers.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

pub use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

pub struct Signals {
    // RefCell/Cell: signal-hook's `pending` takes `&mut`, while callers pass
    // the signals down by shared reference next to other borrows.
    delivery: RefCell<SignalDelivery<UnixStream, SignalOnly>>,
    /// A second descriptor of the read end, for `poll` (the same socket, so
    /// the same readiness; signal-hook reads through its own).
    wake: UnixStream,
    /// Signals that arrived and were not taken yet, one bit each.
    arrived: Cell<u64>,
}

impl Signals {
    /// Catches `signals` (each below 64) from now on.
    pub fn install(signals: &[libc::c_int]) -> io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let wake = read.try_clone()?;
        Ok(Signals {
            delivery: RefCell::new(SignalDelivery::with_pipe(read, write, SignalOnly, signals)?),
            wake,
            arrived: Cell::new(0),
        })
    }

    /// Readable when a signal has arrived: poll it with the other descriptors.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Takes what arrived since the last look; never blocks. One system call
    /// (the pipe is drained first, then the flags read, in signal-hook's
    /// order): call it when [`wake_fd`](Self::wake_fd) was readable.
    pub fn collect(&self) {
        let mut arrived = self.arrived.get();
        for signal in self.delivery.borrow_mut().pending() {
            if let Some(bit) = 1u64.checked_shl(signal as u32) {
                arrived |= bit;
            }
        }
        self.arrived.set(arrived);
    }

    /// Whether `signal` was collected; it counts as handled from now on.
    pub fn take(&self, signal: libc::c_int) -> bool {
        let bit = 1u64.checked_shl(signal as u32).unwrap_or(0);
        let arrived = self.arrived.get();
        self.arrived.set(arrived & !bit);
        arrived & bit != 0
    }

    /// Collects, then the first of `signals` that arrived, left pending for
    /// [`take`](Self::take).
    pub fn first_of(&self, signals: &[libc::c_int]) -> Option<libc::c_int> {
        self.collect();
        let arrived = self.arrived.get();
        signals
            .iter()
            .copied()
            .find(|&s| arrived & 1u64.checked_shl(s as u32).unwrap_or(0) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

    #[test]
    fn a_raised_signal_wakes_poll_and_is_taken_once() {
        let signals = Signals::install(&[SIGUSR1]).expect("install");
        signals.collect();
        assert!(!signals.take(SIGUSR1));
        signal_hook::low_level::raise(SIGUSR1).expect("raise");
        let mut fds = [PollFd::new(signals.wake_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut fds, PollTimeout::from(5000u16)).expect("poll"), 1);
        assert_eq!(signals.first_of(&[SIGHUP, SIGUSR1]), Some(SIGUSR1));
        assert_eq!(signals.first_of(&[SIGUSR1]), Some(SIGUSR1), "still pending");
        assert!(signals.take(SIGUSR1));
        assert!(!signals.take(SIGUSR1), "taken once");
        let mut fds = [PollFd::new(signals.wake_fd(), PollFlags::POLLIN)];
        assert_eq!(
            poll(&mut fds, PollTimeout::ZERO).expect("poll"),
            0,
            "the pipe is drained"
        );
    }
}
