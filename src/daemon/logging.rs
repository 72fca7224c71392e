//! Logging to syslog (RFC 3164 datagrams: the header is formatted here, with
//! a timestamp cached per second, the `syslog` crate gives the facility and
//! severity numbers) or to stderr (with `<N>` priority prefixes when stderr
//! is the journal).
//!
//! The message loop must never stall on logging: a full socket gets a short
//! grace period (the send timeout) and is then treated as congested (lines
//! are dropped and counted, not queued, and sent without waiting until one
//! gets through again), and a vanished socket is reconnected at most once a
//! second.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::stat::fstat;
use syslog::{Facility, Severity};

use crate::config::{Level, LogConfig, LogTarget};

/// How long one line may wait for room in a full syslog socket before the
/// socket counts as congested.
const CONGESTION_GRACE: Duration = Duration::from_millis(100);
/// How often to retry a syslog socket that went away.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// Identical lines sent between two reads of the clock for their timestamp.
const LINES_PER_CLOCK_READ: u64 = 32;
/// Warnings about rejected input per second before they are summarised; also
/// their burst (`RateLimit::new`): a client can choose to send garbage, so a
/// larger burst would only let it flood the log further.
pub const REJECTION_LINES_PER_SECOND: u32 = 10;

const IDENT: &str = "fifo-pingd";

fn severity(level: Level) -> Severity {
    match level {
        Level::Err => Severity::LOG_ERR,
        Level::Warning => Severity::LOG_WARNING,
        Level::Notice => Severity::LOG_NOTICE,
        Level::Info => Severity::LOG_INFO,
        Level::Debug => Severity::LOG_DEBUG,
    }
}

/// Whether `JOURNAL_STREAM` names our stderr (systemd sets it for services
/// whose stderr is connected to the journal).
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match fstat(io::stderr().as_fd()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// How often suppressed lines are summarised while suppression goes on.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);
/// Bucket units per token: a rate of R tokens per second adds exactly R units
/// per nanosecond, so refills are integer products that never drift.
const UNITS_PER_TOKEN: u128 = 1_000_000_000;

/// A token bucket: up to `burst` events at once, refilled at `per_second`;
/// the events beyond it are counted and summarised at most once a
/// [`SUMMARY_INTERVAL`].
#[derive(Debug)]
pub struct RateLimit {
    /// 0: no limit (nothing is counted or refilled).
    per_second: u32,
    /// The capacity, in units ([`UNITS_PER_TOKEN`] per event).
    capacity: u128,
    /// What the bucket held at `refilled_at`, in units.
    level: u128,
    refilled_at: Instant,
    suppressed: u64,
    /// Every event ever suppressed (for the metrics; never reset).
    suppressed_total: u64,
    /// When the first event not summarised yet was suppressed.
    suppressed_since: Option<Instant>,
}

impl RateLimit {
    /// A bucket as large as one second's worth (`per_second == 0`: no limit).
    pub fn new(per_second: u32, now: Instant) -> Self {
        Self::with_burst(per_second, per_second, now)
    }

    /// A full bucket of `burst` events refilled at `per_second`
    /// (`per_second == 0`: no limit; a `burst` of 0 counts as 1).
    pub fn with_burst(per_second: u32, burst: u32, now: Instant) -> Self {
        let capacity = u128::from(burst.max(1)) * UNITS_PER_TOKEN;
        RateLimit {
            per_second,
            capacity,
            level: capacity,
            refilled_at: now,
            suppressed: 0,
            suppressed_total: 0,
            suppressed_since: None,
        }
    }

    /// Changes the rate and the burst (on reload) without losing the count
    /// of suppressed events or the tokens earned so far (at most the new
    /// burst is kept). Leaving "no limit" starts with a full bucket.
    pub fn set_limit(&mut self, per_second: u32, burst: u32, now: Instant) {
        let capacity = u128::from(burst.max(1)) * UNITS_PER_TOKEN;
        if self.per_second == 0 {
            self.level = capacity;
            self.refilled_at = self.refilled_at.max(now);
        } else {
            self.refill(now);
            self.level = self.level.min(capacity);
        }
        self.per_second = per_second;
        self.capacity = capacity;
    }

    fn refill(&mut self, now: Instant) {
        // An earlier `now` (callers read the clock at different points)
        // adds nothing and must not move the refill point back.
        if now <= self.refilled_at {
            return;
        }
        let earned = now.duration_since(self.refilled_at).as_nanos() * u128::from(self.per_second);
        self.level = self.level.saturating_add(earned).min(self.capacity);
        self.refilled_at = now;
    }

    /// How many of `count` events may be logged now; the rest are counted.
    /// Also returns the suppressed count whose summary is due, if any.
    pub fn take(&mut self, count: u64, now: Instant) -> (u64, Option<u64>) {
        if self.per_second == 0 {
            return (count, None);
        }
        let due = self.flush(now);
        self.refill(now);
        // An empty bucket (a flood) needs no 128-bit division.
        let tokens = if self.level < UNITS_PER_TOKEN {
            0
        } else {
            u64::try_from(self.level / UNITS_PER_TOKEN).unwrap_or(u64::MAX)
        };
        let allowed = count.min(tokens);
        self.level -= u128::from(allowed) * UNITS_PER_TOKEN;
        let suppressed = count - allowed;
        if suppressed > 0 {
            self.suppressed += suppressed;
            self.suppressed_total += suppressed;
            self.suppressed_since.get_or_insert(now);
        }
        (allowed, due)
    }

    /// The suppressed count, if its summary is due at `now`.
    pub fn flush(&mut self, now: Instant) -> Option<u64> {
        if self.deadline().is_some_and(|at| now >= at) {
            Some(self.take_suppressed())
        } else {
            None
        }
    }

    /// When the suppressed count is due for a summary; `None` when nothing
    /// is suppressed, so that an idle daemon never wakes up for it.
    pub fn deadline(&self) -> Option<Instant> {
        self.suppressed_since.map(|since| since + SUMMARY_INTERVAL)
    }

    /// Every event suppressed since the start, summarised or not.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total
    }

    /// Suppressed events not summarised yet (for the final flush).
    pub fn take_suppressed(&mut self) -> u64 {
        self.suppressed_since = None;
        std::mem::take(&mut self.suppressed)
    }
}

/// An RFC 3164 header cached per second and severity: formatting the
/// timestamp for every line would cost more than sending it.
struct HeaderCache {
    facility: Facility,
    pid: u32,
    second: u64,
    headers: [Vec<u8>; 8],
}

impl HeaderCache {
    fn new(facility: Facility) -> Self {
        HeaderCache {
            facility,
            pid: std::process::id(),
            second: u64::MAX,
            headers: Default::default(),
        }
    }

    /// `<PRI>Mmm dd hh:mm:ss fifo-pingd[PID]: `, without a hostname: local
    /// /dev/log receivers add it themselves (as glibc's syslog(3) expects).
    fn header(&mut self, level: Level) -> &[u8] {
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            for header in &mut self.headers {
                header.clear();
            }
        }
        let slot = level as usize;
        let header = &mut self.headers[slot];
        if header.is_empty() {
            let priority = self.facility as u8 | severity(level) as u8;
            let _ = write!(header, "<{priority}>");
            push_timestamp(header, second);
            let _ = write!(header, " {IDENT}[{}]: ", self.pid);
        }
        header
    }
}

/// Appends the RFC 3164 timestamp `Mmm dd hh:mm:ss` of a Unix time, in UTC
/// with the day zero-padded, as the `syslog` crate's `Formatter3164` writes
/// it. Done here because that formatter parses its format description on
/// every call: ~100 µs of a lone ping's cost after an idle second.
fn push_timestamp(out: &mut Vec<u8>, unix_seconds: u64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let time_of_day = unix_seconds % 86_400;
    // The civil date of a day count since 1970-01-01 (Howard Hinnant's
    // `civil_from_days`), for the proleptic Gregorian calendar.
    let z = (unix_seconds / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = (month_from_march + 2) % 12; // 0 = January
    let _ = write!(
        out,
        "{} {day:02} {:02}:{:02}:{:02}",
        MONTHS[month as usize],
        time_of_day / 3600,
        time_of_day / 60 % 60,
        time_of_day % 60
    );
}

struct SyslogSink {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    last_connect_attempt: Option<Instant>,
    headers: HeaderCache,
    congested: bool,
    /// Lines lost since the socket last worked.
    dropped: u64,
    dropped_total: u64,
    buf: Vec<u8>,
}

impl SyslogSink {
    fn new(path: &Path, facility: Facility) -> (Self, Option<io::Error>) {
        let mut sink = SyslogSink {
            path: path.to_owned(),
            socket: None,
            last_connect_attempt: None,
            headers: HeaderCache::new(facility),
            congested: false,
            dropped: 0,
            dropped_total: 0,
            buf: Vec::with_capacity(512),
        };
        let error = sink.connect(Instant::now()).err();
        (sink, error)
    }

    fn connect(&mut self, now: Instant) -> io::Result<()> {
        self.last_connect_attempt = Some(now);
        self.socket = None;
        let socket = UnixDatagram::unbound()?;
        socket.connect(&self.path)?;
        // Blocking, with the grace period as send timeout: a full socket
        // makes `send` wait in the kernel, one system call per line as with
        // syslog(3). (A non-blocking send plus `poll` when the queue is full
        // made the receiver preempt the daemon after nearly every datagram:
        // 0.55x the rate of a plain sender with every ping logged.) Once
        // congested, sends are non-blocking until one gets through.
        socket.set_write_timeout(Some(CONGESTION_GRACE))?;
        self.socket = Some(socket);
        self.congested = false;
        Ok(())
    }

    fn send(&mut self, level: Level, message: &str) {
        self.send_repeated(level, message, 1);
    }

    /// `count` datagrams of the same line, formatted once per
    /// [`LINES_PER_CLOCK_READ`] lines and sent as is in between (no clock
    /// read or copy per line when every ping is logged).
    fn send_repeated(&mut self, level: Level, message: &str, count: u64) {
        let mut left = count;
        while left > 0 {
            let now = Instant::now();
            if self.socket.is_none()
                && self
                    .last_connect_attempt
                    .is_none_or(|t| now.duration_since(t) >= RECONNECT_INTERVAL)
            {
                let _ = self.connect(now);
            }
            if self.socket.is_none() {
                self.dropped += left;
                self.dropped_total += left;
                return;
            }
            if self.dropped > 0 {
                let note = format!(
                    "syslog socket {} was unavailable or congested: {} log lines were dropped",
                    self.path.display(),
                    self.dropped
                );
                let dropped = std::mem::take(&mut self.dropped);
                self.format(Level::Warning, &note);
                if !self.transmit(now) {
                    // Still no room: keep the count for the next note (the
                    // note itself is not a lost log line).
                    self.dropped = dropped;
                }
            }
            self.format(level, message);
            let batch = left.min(LINES_PER_CLOCK_READ);
            let mut sent = 0;
            while sent < batch && self.transmit(now) {
                sent += 1;
            }
            left -= sent;
            if sent < batch {
                self.drop_line();
                left -= 1;
            }
        }
    }

    fn drop_line(&mut self) {
        self.dropped += 1;
        self.dropped_total += 1;
    }

    /// Puts the datagram for `message` into `buf`.
    fn format(&mut self, level: Level, message: &str) {
        self.buf.clear();
        self.buf.extend_from_slice(self.headers.header(level));
        self.buf.extend_from_slice(message.as_bytes());
    }

    /// Sends the datagram in `buf`; false when it could not be delivered.
    fn transmit(&mut self, now: Instant) -> bool {
        let Some(socket) = &self.socket else {
            return false;
        };
        let mut enobufs_until = None;
        let result = loop {
            match socket.send(&self.buf) {
                // A signal cut the wait short: the loop looks at it after this line.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Short of kernel memory rather than of queue room: the send
                // timeout does not wait for that, so wait here, as long.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) && !self.congested => {
                    let now = Instant::now();
                    if now >= *enobufs_until.get_or_insert(now + CONGESTION_GRACE) {
                        break Err(e);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                result => break result,
            }
        };
        match result {
            Ok(_) => {
                if self.congested {
                    self.congested = false;
                    let _ = socket.set_nonblocking(false);
                }
                true
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(libc::ENOBUFS) =>
            {
                // No room within the grace period (at once when congested
                // already): drop lines without waiting until one gets through.
                if !self.congested {
                    self.congested = true;
                    let _ = socket.set_nonblocking(true);
                }
                false
            }
            Err(_) => {
                // ECONNREFUSED, ENOTCONN, ENOENT: the receiver went away
                // (e.g. rsyslog restarted); connect afresh, once a second.
                self.socket = None;
                if self
                    .last_connect_attempt
                    .is_none_or(|t| now.duration_since(t) >= RECONNECT_INTERVAL)
                    && self.connect(now).is_ok()
                {
                    return self.transmit(now);
                }
                false
            }
        }
    }
}

enum Target {
    Syslog(Box<SyslogSink>),
    Stderr { journal: bool, buf: Vec<u8> },
}

/// The daemon's logger. Lines above the configured level cost nothing.
pub struct Logger {
    target: Target,
    level: Level,
}

impl Logger {
    /// Builds the logger; the second value is a warning to log once it exists.
    pub fn new(config: &LogConfig) -> (Logger, Option<String>) {
        let journal = stderr_is_journal();
        let stderr = || Target::Stderr {
            journal,
            buf: Vec::with_capacity(4096),
        };
        let (target, warning) = match config.target {
            LogTarget::Stderr => (stderr(), None),
            LogTarget::Auto if journal => (stderr(), None),
            LogTarget::Syslog | LogTarget::Auto => {
                let (sink, error) = SyslogSink::new(&config.syslog_socket, config.facility);
                match error {
                    None => (Target::Syslog(Box::new(sink)), None),
                    Some(e) if config.target == LogTarget::Auto => (
                        stderr(),
                        Some(format!(
                            "cannot connect to the syslog socket {} ({e}); logging to stderr",
                            config.syslog_socket.display()
                        )),
                    ),
                    Some(e) => (
                        Target::Syslog(Box::new(sink)),
                        Some(format!(
                            "cannot connect to the syslog socket {} ({e}); retrying once a second",
                            config.syslog_socket.display()
                        )),
                    ),
                }
            }
        };
        if let (Some(w), Target::Syslog(_)) = (&warning, &target) {
            // Nothing may be listening yet: say it where a person will see it.
            eprintln!("{IDENT}: warning: {w}");
        }
        (
            Logger {
                target,
                level: config.level,
            },
            warning,
        )
    }

    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    pub fn log(&mut self, level: Level, message: &str) {
        if !self.enabled(level) {
            return;
        }
        match &mut self.target {
            Target::Syslog(sink) => sink.send(level, message),
            Target::Stderr { journal, buf } => {
                if *journal {
                    let _ = write!(buf, "<{}>", level as u8);
                } else {
                    buf.extend_from_slice(IDENT.as_bytes());
                    buf.extend_from_slice(b": ");
                    match level {
                        Level::Err => buf.extend_from_slice(b"error: "),
                        Level::Warning => buf.extend_from_slice(b"warning: "),
                        _ => {}
                    }
                }
                buf.extend_from_slice(message.as_bytes());
                buf.push(b'\n');
                if buf.len() >= 64 * 1024 {
                    flush_stderr(buf);
                }
            }
        }
    }

    /// `count` copies of one line (e.g. the `received ping` lines of a burst),
    /// cheaper than `count` calls of [`Logger::log`].
    pub fn log_repeated(&mut self, level: Level, message: &str, count: u64) {
        if !self.enabled(level) {
            return;
        }
        if let Target::Syslog(sink) = &mut self.target {
            sink.send_repeated(level, message, count);
        } else {
            for _ in 0..count {
                self.log(level, message);
            }
        }
    }

    pub fn err(&mut self, message: &str) {
        self.log(Level::Err, message);
    }

    pub fn warning(&mut self, message: &str) {
        self.log(Level::Warning, message);
    }

    pub fn notice(&mut self, message: &str) {
        self.log(Level::Notice, message);
    }

    pub fn info(&mut self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Writes out buffered stderr lines (called once per loop iteration, so a
    /// burst of lines costs one write).
    pub fn flush(&mut self) {
        if let Target::Stderr { buf, .. } = &mut self.target {
            flush_stderr(buf);
        }
    }

    /// Whether lines go to stderr (the target, or syslog's fallback).
    pub fn writes_to_stderr(&self) -> bool {
        matches!(self.target, Target::Stderr { .. })
    }

    /// Log lines lost to an unavailable or congested syslog socket.
    pub fn dropped_lines(&self) -> u64 {
        match &self.target {
            Target::Syslog(sink) => sink.dropped_total,
            Target::Stderr { .. } => 0,
        }
    }
}

fn flush_stderr(buf: &mut Vec<u8>) {
    if !buf.is_empty() {
        let _ = io::stderr().lock().write_all(buf);
        buf.clear();
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_exactly_the_capacity_passes() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 1000, start);
        assert_eq!(limit.take(1, start), (1, None));
        assert_eq!(limit.take(999, start), (999, None));
        assert_eq!(limit.deadline(), None, "nothing suppressed: no wake-up");
        assert_eq!(limit.take_suppressed(), 0);
    }

    #[test]
    fn one_more_than_the_capacity_suppresses_one() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 1000, start);
        // The seed session: one ping, then 100 more; and 899 after that.
        assert_eq!(limit.take(1, start), (1, None));
        assert_eq!(limit.take(100, start), (100, None));
        assert_eq!(limit.take(900, start), (899, None));
        assert_eq!(limit.deadline(), Some(start + SUMMARY_INTERVAL));
        assert_eq!(limit.flush(start + Duration::from_millis(999)), None);
        assert_eq!(limit.flush(start + SUMMARY_INTERVAL), Some(1));
        assert_eq!(limit.deadline(), None);
    }

    #[test]
    fn the_bucket_refills_at_the_rate_without_drift() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 10, start);
        assert_eq!(limit.take(10, start).0, 10);
        assert_eq!(limit.take(1, start).0, 0);
        // 10 ms is exactly one token at 100 per second; 9.999 ms is not.
        let t = start + Duration::from_nanos(9_999_999);
        assert_eq!(limit.take(1, t).0, 0);
        let t = start + Duration::from_millis(10);
        assert_eq!(limit.take(1, t).0, 1);
        // A second in steps of 100 µs (a hundredth of a token each): exactly
        // 100 tokens, none lost to rounding.
        let mut got = 0;
        for step in 1..=10_000u64 {
            got += limit.take(1, t + Duration::from_micros(100 * step)).0;
        }
        assert_eq!(got, 100);
        // Long idle: full again, but never more than the burst.
        let later = t + Duration::from_secs(86_400 * 365);
        assert_eq!(limit.take(1000, later).0, 10);
        // A clock read earlier than the last one earns nothing.
        assert_eq!(limit.take(1, t).0, 0);
    }

    #[test]
    fn the_summary_counts_every_suppressed_event_once_a_second() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(10, 10, start);
        let mut logged = 0;
        let mut summarised = 0;
        // 1000 events, 1 ms apart: 10 + ~10 a second pass.
        for ms in 0..1000u64 {
            let (allowed, due) = limit.take(1, start + Duration::from_millis(ms));
            logged += allowed;
            if let Some(n) = due {
                summarised += n;
            }
        }
        let stop = start + Duration::from_millis(1000);
        let deadline = limit.deadline().expect("suppression goes on");
        assert!(deadline > stop - SUMMARY_INTERVAL, "at most once a second");
        summarised += limit.take_suppressed();
        assert_eq!(logged, 10 + 9, "10 at once, one every 100 ms after");
        assert_eq!(logged + summarised, 1000);
        assert_eq!(limit.deadline(), None);
    }

    #[test]
    fn summaries_come_at_most_once_a_second() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(1, 1, start);
        let mut summaries = Vec::new();
        for ms in (0..3500u64).step_by(50) {
            let now = start + Duration::from_millis(ms);
            if let (_, Some(n)) = limit.take(1, now) {
                summaries.push((ms, n));
            }
        }
        let times: Vec<u64> = summaries.iter().map(|&(ms, _)| ms).collect();
        assert_eq!(times, [1050, 2050, 3050], "{summaries:?}");
    }

    #[test]
    fn zero_means_no_limit() {
        let now = Instant::now();
        let mut limit = RateLimit::with_burst(0, 1, now);
        assert_eq!(limit.take(1_000_000, now), (1_000_000, None));
        assert_eq!(limit.take(u64::MAX, now), (u64::MAX, None));
        assert_eq!(limit.deadline(), None);
        let mut limit = RateLimit::new(0, now);
        assert_eq!(limit.take(1_000_000, now), (1_000_000, None));
    }

    #[test]
    fn an_idle_limit_never_wants_a_wake_up() {
        let start = Instant::now();
        let mut limit = RateLimit::new(REJECTION_LINES_PER_SECOND, start);
        assert_eq!(limit.deadline(), None);
        assert_eq!(limit.take(11, start), (10, None), "burst = rate");
        assert!(limit.deadline().is_some());
        let later = start + Duration::from_secs(5);
        assert_eq!(limit.flush(later), Some(1));
        assert_eq!(limit.deadline(), None);
        assert_eq!(limit.flush(later + Duration::from_secs(5)), None);
    }

    #[test]
    fn a_new_limit_keeps_the_suppressed_count() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 5, start);
        assert_eq!(limit.take(8, start).0, 5);
        limit.set_limit(100, 2, start + Duration::from_millis(100));
        assert_eq!(
            limit.take(5, start + Duration::from_millis(100)).0,
            2,
            "at most the new burst"
        );
        limit.set_limit(0, 2, start + Duration::from_millis(100));
        assert_eq!(limit.take(7, start + Duration::from_millis(100)).0, 7);
        limit.set_limit(100, 4, start + Duration::from_millis(100));
        assert_eq!(
            limit.take(5, start + Duration::from_millis(100)).0,
            4,
            "full again"
        );
        assert_eq!(limit.suppressed_total(), 3 + 3 + 1);
        assert_eq!(limit.take_suppressed(), 3 + 3 + 1);
        assert_eq!(limit.suppressed_total(), 3 + 3 + 1, "never reset");
    }

    #[test]
    fn syslog_lines_are_rfc3164_with_ident_and_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let (mut sink, error) = SyslogSink::new(&path, Facility::LOG_DAEMON);
        assert!(error.is_none());
        sink.send(Level::Info, "received ping");
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).expect("recv");
        let line = String::from_utf8_lossy(&buf[..n]);
        assert!(line.starts_with("<30>"), "{line}");
        assert!(
            line.ends_with(&format!(
                "fifo-pingd[{}]: received ping",
                std::process::id()
            )),
            "{line}"
        );
    }

    #[test]
    fn timestamps_match_the_syslog_crate() {
        let stamp = |t: u64| {
            let mut out = Vec::new();
            push_timestamp(&mut out, t);
            String::from_utf8(out).expect("ASCII")
        };
        assert_eq!(stamp(0), "Jan 01 00:00:00");
        assert_eq!(stamp(951_782_400), "Feb 29 00:00:00", "2000 is a leap year");
        assert_eq!(stamp(1_700_000_000), "Nov 14 22:13:20");
        assert_eq!(stamp(1_767_225_599), "Dec 31 23:59:59");
        // The header as the `syslog` crate's formatter writes it, now.
        let formatter = syslog::Formatter3164 {
            facility: Facility::LOG_LOCAL3,
            hostname: None,
            process: IDENT.to_owned(),
            pid: std::process::id(),
        };
        for _ in 0..3 {
            let mut cache = HeaderCache::new(Facility::LOG_LOCAL3);
            let ours = cache.header(Level::Warning).to_vec();
            let mut theirs = Vec::new();
            syslog::LogFormat::format(&formatter, &mut theirs, Severity::LOG_WARNING, "")
                .expect("format");
            if ours == theirs {
                return;
            }
            // The second may have changed in between: try again.
        }
        panic!("headers differ from the syslog crate's Formatter3164");
    }

    #[test]
    fn the_dropped_note_counts_every_line_lost_while_congested() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let (mut sink, _) = SyslogSink::new(&path, Facility::LOG_DAEMON);
        // Nobody reads: the queue fills, one line waits out the grace, the
        // rest are dropped at once.
        let mut sent = 0;
        while sink.dropped_total == 0 {
            sink.send(Level::Info, "fill");
            sent += 1;
            assert!(sent < 10_000, "the socket never filled up");
        }
        for _ in 0..5 {
            sink.send(Level::Info, "lost while congested");
        }
        let lost = sink.dropped_total;
        assert_eq!(lost, 6);
        receiver
            .set_nonblocking(true)
            .expect("non-blocking receiver");
        let mut buf = [0u8; 512];
        while receiver.recv(&mut buf).is_ok() {}
        sink.send(Level::Info, "back");
        let n = receiver.recv(&mut buf).expect("the note");
        let note = String::from_utf8_lossy(&buf[..n]);
        assert!(
            note.contains(&format!("{lost} log lines were dropped")),
            "{note}"
        );
    }

    #[test]
    fn a_vanished_syslog_socket_is_reconnected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let (mut sink, _) = SyslogSink::new(&path, Facility::LOG_DAEMON);
        drop(receiver);
        std::fs::remove_file(&path).expect("remove");
        sink.send(Level::Info, "lost");
        assert_eq!(sink.dropped_total, 1);
        let receiver = UnixDatagram::bind(&path).expect("rebind");
        // Pretend the reconnect interval has passed.
        sink.last_connect_attempt = Some(Instant::now() - RECONNECT_INTERVAL);
        sink.send(Level::Info, "back");
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).expect("recv note");
        assert!(String::from_utf8_lossy(&buf[..n]).contains("1 log lines were dropped"));
        let n = receiver.recv(&mut buf).expect("recv line");
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("back"));
    }
}
