//! Logging: to syslog (RFC 3164 datagrams, [`syslog`]), to the journal
//! (native-protocol datagrams with a `MESSAGE_ID` per [`Event`] and fields
//! of our own, [`journal`]) or to stderr (with `<N>` priority prefixes when
//! stderr is the journal). `target = "auto"` picks the journal's native
//! protocol when stderr is the journal (systemd's `JOURNAL_STREAM`), else
//! syslog, and falls back to stderr when the socket is not there.
//!
//! The message loop must never stall on logging: the two sockets share one
//! sink ([`datagram`]) with a short grace period for a full socket, then
//! dropped and counted lines, and reconnection at most once a second.
//! Client-caused lines are rate-limited by [`RateLimit`].

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::Path;

use nix::sys::stat::fstat;

mod datagram;
pub mod event;
pub mod journal;
mod rate_limit;
mod syslog;

use crate::config::{Level, LogConfig, LogTarget};
use datagram::{DatagramSink, Format};
pub use event::{Event, Field};
use journal::JournalFormat;
pub use rate_limit::RateLimit;
use syslog::HeaderCache;

/// Warnings about rejected input per second before they are summarised; also
/// their burst (`RateLimit::new`): a client can choose to send garbage, so a
/// larger burst would only let it flood the log further.
pub const REJECTION_LINES_PER_SECOND: u32 = 10;

const IDENT: &str = "fifo-pingd";

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

enum Target {
    /// Syslog or the journal.
    Socket(Box<DatagramSink>),
    Stderr {
        journal: bool,
        buf: Vec<u8>,
    },
}

/// The daemon's logger. Lines above the configured level cost nothing.
pub struct Logger {
    target: Target,
    level: Level,
}

impl Logger {
    /// Builds the logger for the daemon `instance` (named in journal entries);
    /// the second value is a warning to log once it exists.
    pub fn new(config: &LogConfig, instance: &str) -> (Logger, Option<String>) {
        let journal = stderr_is_journal();
        let stderr = || Target::Stderr {
            journal,
            buf: Vec::with_capacity(4096),
        };
        let (path, format) = match config.target {
            LogTarget::Stderr => {
                return (Logger::with(stderr(), config), None);
            }
            LogTarget::Journal => (
                &config.journal_socket,
                Format::Journal(JournalFormat::new(config.facility, instance)),
            ),
            LogTarget::Auto if journal => (
                &config.journal_socket,
                Format::Journal(JournalFormat::new(config.facility, instance)),
            ),
            LogTarget::Syslog | LogTarget::Auto => (
                &config.syslog_socket,
                Format::Syslog(HeaderCache::new(config.facility)),
            ),
        };
        let kind = if matches!(format, Format::Journal(_)) {
            "journal"
        } else {
            "syslog"
        };
        let (sink, error) = DatagramSink::new(path, format);
        let (target, warning) = match error {
            None => (Target::Socket(Box::new(sink)), None),
            Some(e) if config.target == LogTarget::Auto => (
                stderr(),
                Some(format!(
                    "cannot connect to the {kind} socket {} ({e}); logging to stderr",
                    path.display()
                )),
            ),
            Some(e) => (
                Target::Socket(Box::new(sink)),
                Some(format!(
                    "cannot connect to the {kind} socket {} ({e}); retrying once a second",
                    path.display()
                )),
            ),
        };
        if let (Some(w), Target::Socket(_)) = (&warning, &target) {
            // Nothing may be listening yet: say it where a person will see it.
            eprintln!("{IDENT}: warning: {w}");
        }
        (Logger::with(target, config), warning)
    }

    fn with(target: Target, config: &LogConfig) -> Logger {
        Logger {
            target,
            level: config.level,
        }
    }

    /// The FIFO the daemon listens on, for the journal's `FIFO_PINGD_FIFO`.
    pub fn set_fifo(&mut self, fifo: &Path) {
        if let Target::Socket(sink) = &mut self.target
            && let Format::Journal(journal) = &mut sink.format
        {
            journal.set_fifo(Some(fifo));
        }
    }

    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    pub fn log(&mut self, level: Level, message: &str) {
        self.entry(level, None, message, &[], 1);
    }

    /// A line about an event: in the journal with its `MESSAGE_ID` and
    /// `fields` (each named `FIFO_PINGD_<NAME>`); elsewhere the message alone.
    pub fn event(&mut self, level: Level, event: Event, message: &str, fields: &[Field<'_>]) {
        self.entry(level, Some(event), message, fields, 1);
    }

    /// `count` copies of one event's line (e.g. the `received ping` lines of
    /// a burst), cheaper than `count` calls of [`Logger::event`].
    pub fn event_repeated(&mut self, level: Level, event: Event, message: &str, count: u64) {
        self.entry(level, Some(event), message, &[], count);
    }

    fn entry(
        &mut self,
        level: Level,
        event: Option<Event>,
        message: &str,
        fields: &[Field<'_>],
        count: u64,
    ) {
        if !self.enabled(level) || count == 0 {
            return;
        }
        match &mut self.target {
            Target::Socket(sink) => sink.send_event(level, event, message, fields, count),
            Target::Stderr { journal, buf } => {
                for _ in 0..count {
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

    /// Whether lines go to stderr (the target, or the fallback of `auto`).
    pub fn writes_to_stderr(&self) -> bool {
        matches!(self.target, Target::Stderr { .. })
    }

    /// Log lines lost to an unavailable or congested log socket.
    pub fn dropped_lines(&self) -> u64 {
        match &self.target {
            Target::Socket(sink) => sink.dropped_total,
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
