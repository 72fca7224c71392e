//! The datagram socket both log receivers share (`/dev/log` for syslog,
//! `/run/systemd/journal/socket` for the journal's native protocol): one
//! connection, reconnected at most once a [`RECONNECT_INTERVAL`] when the
//! receiver went away, and the never-stall rule. A full socket gets a short
//! grace period (the send timeout, [`CONGESTION_GRACE`]) and is then treated
//! as congested: lines are dropped and counted, not queued, and sent
//! without waiting until one gets through again, preceded by a note of how
//! many were lost.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::event::{Event, Field};
use super::journal::JournalFormat;
use super::syslog::HeaderCache;
use crate::config::Level;

/// How long one line may wait for room in a full socket before the socket
/// counts as congested.
pub(super) const CONGESTION_GRACE: Duration = Duration::from_millis(100);
/// How often to retry a socket that went away.
pub(super) const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// Identical lines sent between two reads of the clock for their timestamp.
const LINES_PER_CLOCK_READ: u64 = 32;

/// How the datagrams are formatted, per socket kind.
pub(super) enum Format {
    Syslog(HeaderCache),
    Journal(JournalFormat),
}

impl Format {
    fn socket_kind(&self) -> &'static str {
        match self {
            Format::Syslog(_) => "syslog socket",
            Format::Journal(_) => "journal socket",
        }
    }
}

/// A unix datagram socket to a log receiver (`/dev/log` or the journal).
pub(super) struct DatagramSink {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    last_connect_attempt: Option<Instant>,
    pub(super) format: Format,
    congested: bool,
    /// Lines lost since the socket last worked.
    dropped: u64,
    pub(super) dropped_total: u64,
    buf: Vec<u8>,
}

impl DatagramSink {
    pub(super) fn new(path: &Path, format: Format) -> (Self, Option<io::Error>) {
        let mut sink = DatagramSink {
            path: path.to_owned(),
            socket: None,
            last_connect_attempt: None,
            format,
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

    #[cfg(test)]
    pub(super) fn send(&mut self, level: Level, message: &str) {
        self.send_event(level, None, message, &[], 1);
    }

    /// `count` datagrams of the same line, formatted once per
    /// [`LINES_PER_CLOCK_READ`] lines and sent as is in between (no clock
    /// read or copy per line when every ping is logged).
    pub(super) fn send_event(
        &mut self,
        level: Level,
        event: Option<Event>,
        message: &str,
        fields: &[Field<'_>],
        count: u64,
    ) {
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
                    "{} {} was unavailable or congested: {} log lines were dropped",
                    self.format.socket_kind(),
                    self.path.display(),
                    self.dropped
                );
                let dropped = std::mem::take(&mut self.dropped);
                let count = dropped.to_string();
                self.format(
                    Level::Warning,
                    Some(Event::LogLinesDropped),
                    &note,
                    &[("DROPPED", &count)],
                );
                if !self.transmit(now) {
                    // Still no room: keep the count for the next note (the
                    // note itself is not a lost log line).
                    self.dropped = dropped;
                }
            }
            self.format(level, event, message, fields);
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

    /// Puts the datagram for one line into `buf` (syslog: the message
    /// alone; the journal: the message and its fields).
    fn format(&mut self, level: Level, event: Option<Event>, message: &str, fields: &[Field<'_>]) {
        match &mut self.format {
            Format::Syslog(headers) => {
                self.buf.clear();
                self.buf.extend_from_slice(headers.header(level));
                self.buf.extend_from_slice(message.as_bytes());
            }
            Format::Journal(journal) => {
                journal.format(&mut self.buf, level, event, message, fields);
            }
        }
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
            // Too large for the socket (a receiver with a small buffer): this
            // line is lost, the socket is fine.
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => false,
            Err(_) => {
                // ECONNREFUSED, ENOTCONN, ENOENT: the receiver went away
                // (e.g. rsyslog or journald restarted); connect afresh, once a second.
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

#[cfg(test)]
mod tests {
    use super::*;
    use syslog::Facility;
    #[test]
    fn the_dropped_note_counts_every_line_lost_while_congested() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let (mut sink, _) = DatagramSink::new(
            &path,
            Format::Syslog(HeaderCache::new(Facility::LOG_DAEMON)),
        );
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
        let (mut sink, _) = DatagramSink::new(
            &path,
            Format::Syslog(HeaderCache::new(Facility::LOG_DAEMON)),
        );
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

    #[test]
    fn journal_entries_go_out_as_native_datagrams() {
        use crate::daemon::logging::journal::decode;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let format = Format::Journal(JournalFormat::new(Facility::LOG_DAEMON, "green"));
        let (mut sink, error) = DatagramSink::new(&path, format);
        assert!(error.is_none());
        sink.send_event(
            Level::Info,
            Some(Event::Ping),
            "received ping",
            &[("NOTE", "two\nlines")],
            3,
        );
        let mut buf = [0u8; 1024];
        for _ in 0..3 {
            let n = receiver.recv(&mut buf).expect("recv");
            let fields = decode(&buf[..n]).expect("a native datagram");
            let get = |name: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            };
            assert_eq!(get("MESSAGE").as_deref(), Some("received ping"));
            assert_eq!(get("PRIORITY").as_deref(), Some("6"));
            assert_eq!(get("MESSAGE_ID").as_deref(), Some(Event::Ping.message_id()));
            assert_eq!(get("FIFO_PINGD_INSTANCE").as_deref(), Some("green"));
            assert_eq!(get("FIFO_PINGD_NOTE").as_deref(), Some("two\nlines"));
        }
        receiver.set_nonblocking(true).expect("non-blocking");
        assert!(receiver.recv(&mut buf).is_err(), "exactly three entries");
    }

    #[test]
    fn the_journal_dropped_note_is_an_event_with_the_count() {
        use crate::daemon::logging::journal::decode;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let format = Format::Journal(JournalFormat::new(Facility::LOG_DAEMON, "default"));
        let (mut sink, _) = DatagramSink::new(&path, format);
        while sink.dropped_total == 0 {
            sink.send(Level::Info, "fill");
        }
        sink.send(Level::Info, "lost");
        receiver.set_nonblocking(true).expect("non-blocking");
        let mut buf = [0u8; 1024];
        while receiver.recv(&mut buf).is_ok() {}
        sink.send(Level::Info, "back");
        let n = receiver.recv(&mut buf).expect("the note");
        let fields = decode(&buf[..n]).expect("native");
        let id = Event::LogLinesDropped.message_id().as_bytes().to_vec();
        assert!(
            fields.contains(&("MESSAGE_ID".to_owned(), id)),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("FIFO_PINGD_DROPPED".to_owned(), b"2".to_vec())),
            "{fields:?}"
        );
    }
}
