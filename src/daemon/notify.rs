//! Talking to systemd over `NOTIFY_SOCKET` (a no-op without it): readiness,
//! reload and stop handshakes, a rate-limited status line, and the watchdog.
//!
//! The messages are sd-notify's [`NotifyState`]s; the datagram is sent here
//! because sd-notify 0.5 cannot reach abstract sockets (`@name`), which
//! sd_notify(3) allows and some service managers use.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// How often the status line may change at most.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);

pub struct Notifier {
    /// `NOTIFY_SOCKET` as given; `None` outside systemd.
    socket_name: Option<OsString>,
    socket: Option<UnixDatagram>,
    /// Half of `WATCHDOG_USEC`: how often to send `WATCHDOG=1`.
    watchdog_every: Option<Duration>,
    next_watchdog: Option<Instant>,
    last_status: Option<Instant>,
    status_dirty: bool,
    /// The first failure is worth a log line; the rest would repeat it.
    failure_reported: bool,
}

impl Notifier {
    pub fn from_env() -> Self {
        let socket_name = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty());
        let watchdog_every =
            sd_notify::watchdog_enabled().map(|d| (d / 2).max(Duration::from_millis(1)));
        Notifier {
            socket_name,
            socket: None,
            watchdog_every,
            next_watchdog: watchdog_every.map(|every| Instant::now() + every),
            last_status: None,
            status_dirty: false,
            failure_reported: false,
        }
    }

    /// Under a service manager (`NOTIFY_SOCKET` set).
    fn enabled(&self) -> bool {
        self.socket_name.is_some()
    }

    /// Sends `states`; returns an error text the first time sending fails.
    fn send(&mut self, states: &[NotifyState<'_>]) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        match self.transmit(states) {
            Ok(()) => None,
            Err(e) if !self.failure_reported => {
                self.failure_reported = true;
                Some(format!(
                    "cannot notify the service manager at NOTIFY_SOCKET={}: {e} (carrying on without it)",
                    self.socket_name
                        .as_deref()
                        .unwrap_or_default()
                        .to_string_lossy()
                ))
            }
            Err(_) => None,
        }
    }

    fn transmit(&mut self, states: &[NotifyState<'_>]) -> io::Result<()> {
        let Some(name) = &self.socket_name else {
            return Ok(());
        };
        let address = match name.as_bytes().strip_prefix(b"@") {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name)?,
            None => SocketAddr::from_pathname(name)?,
        };
        let mut message = String::new();
        for state in states {
            let _ = writeln!(message, "{state}");
        }
        if self.socket.is_none() {
            self.socket = Some(UnixDatagram::unbound()?);
        }
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        socket.send_to_addr(message.as_bytes(), &address)?;
        Ok(())
    }

    pub fn ready(&mut self, status: &str, now: Instant) -> Option<String> {
        self.last_status = Some(now);
        self.status_dirty = false;
        let status = sanitize(status);
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)])
    }

    pub fn reloading(&mut self) -> Option<String> {
        let mut states = vec![NotifyState::Reloading];
        // systemd >= 253 requires the timestamp with RELOADING=1.
        if let Ok(monotonic) = NotifyState::monotonic_usec_now() {
            states.push(monotonic);
        }
        self.send(&states)
    }

    pub fn stopping(&mut self, status: &str) -> Option<String> {
        let status = sanitize(status);
        self.send(&[NotifyState::Stopping, NotifyState::Status(&status)])
    }

    /// Marks the status as changed; it is sent by [`Notifier::tick`].
    pub fn status_changed(&mut self) {
        if self.enabled() {
            self.status_dirty = true;
        }
    }

    /// Sends what is due now; `status` builds the line only when needed.
    pub fn tick(&mut self, now: Instant, status: impl FnOnce() -> String) -> Option<String> {
        let mut error = None;
        if let (Some(every), Some(due)) = (self.watchdog_every, self.next_watchdog)
            && now >= due
        {
            self.next_watchdog = Some(now + every);
            error = self.send(&[NotifyState::Watchdog]);
        }
        if self.status_dirty
            && self
                .last_status
                .is_none_or(|last| now >= last + STATUS_INTERVAL)
        {
            self.status_dirty = false;
            self.last_status = Some(now);
            let line = sanitize(&status());
            error = error.or(self.send(&[NotifyState::Status(&line)]));
        }
        error
    }

    /// When [`Notifier::tick`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let status = if self.status_dirty {
            Some(
                self.last_status
                    .map_or_else(Instant::now, |l| l + STATUS_INTERVAL),
            )
        } else {
            None
        };
        match (status, self.next_watchdog) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A newline in STATUS= would inject further KEY= fields.
fn sanitize(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("notification within 5 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn notifier_for(name: &str) -> Notifier {
        Notifier {
            socket_name: Some(OsString::from(name)),
            socket: None,
            watchdog_every: None,
            next_watchdog: None,
            last_status: None,
            status_dirty: false,
            failure_reported: false,
        }
    }

    #[test]
    fn path_and_abstract_sockets_both_receive_ready() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind path");
        let mut notifier = notifier_for(&path.display().to_string());
        assert_eq!(notifier.ready("up", Instant::now()), None);
        assert_eq!(receive(&receiver), "READY=1\nSTATUS=up\n");

        let name = format!("fifo-pingd-unit-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract");
        let receiver = UnixDatagram::bind_addr(&address).expect("bind abstract");
        let mut notifier = notifier_for(&format!("@{name}"));
        assert_eq!(notifier.stopping("bye"), None);
        assert_eq!(receive(&receiver), "STOPPING=1\nSTATUS=bye\n");
    }

    #[test]
    fn a_missing_socket_is_reported_once() {
        let mut notifier = notifier_for("/nonexistent/notify.sock");
        assert!(notifier.ready("x", Instant::now()).is_some());
        assert!(notifier.ready("x", Instant::now()).is_none());
    }

    #[test]
    fn status_lines_cannot_inject_fields() {
        assert_eq!(sanitize("a\nREADY=1\r"), "a READY=1 ");
    }
}
