//! Talking to systemd over `NOTIFY_SOCKET` (a no-op without it): readiness,
//! reload and stop handshakes, a rate-limited status line, and the watchdog.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// How often the status line may change at most.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);

pub struct Notifier {
    enabled: bool,
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
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let watchdog_every =
            sd_notify::watchdog_enabled().map(|d| (d / 2).max(Duration::from_millis(1)));
        Notifier {
            enabled,
            watchdog_every,
            next_watchdog: watchdog_every.map(|every| Instant::now() + every),
            last_status: None,
            status_dirty: false,
            failure_reported: false,
        }
    }

    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_every
    }

    /// Sends `states`; returns an error text the first time sending fails.
    fn send(&mut self, states: &[NotifyState<'_>]) -> Option<String> {
        if !self.enabled {
            return None;
        }
        match sd_notify::notify(states) {
            Ok(()) => None,
            Err(e) if !self.failure_reported => {
                self.failure_reported = true;
                Some(format!(
                    "cannot notify the service manager at NOTIFY_SOCKET={}: {e} (carrying on without it)",
                    std::env::var("NOTIFY_SOCKET").unwrap_or_default()
                ))
            }
            Err(_) => None,
        }
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
        if self.enabled {
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

    #[test]
    fn status_lines_cannot_inject_fields() {
        assert_eq!(sanitize("a\nREADY=1\r"), "a READY=1 ");
    }
}
