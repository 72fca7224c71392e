//! The daemon loop: one `poll` on the FIFO, a signal self-pipe and the reply
//! directory's inotify watch; large non-blocking reads fed to the protocol
//! parser, with the stop flags looked at after every read; and the stop,
//! reload and status handshakes around it.
//!
//! What a writer can make the loop spend is bounded: a read takes at most
//! [`READ_BUFFER_BYTES`] and is followed by a look at the stop flags, so a
//! SIGTERM is acted on within one read's parsing however the pipe is kept
//! full; the pipe is kept at its own size ([`fifo::PIPE_BYTES`]) however a
//! writer resizes it; a round-trip request costs one `fstatat` beyond its
//! requester's limit ([`crate::daemon::reply::PONGS_PER_USER_PER_SECOND`]); the last
//! reads at the stop are bounded in time and bytes.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use thiserror::Error;

pub mod args;
pub mod logging;
pub mod notify;
pub mod reload;
pub mod reply;
pub mod status;

use crate::config::{self, Config, ConfigError, Location, OnEnd, Overrides, Source};
use crate::exit::{EX_OSERR, Failure};
use crate::fifo::{self, Fifo, FifoError, Origin, PipeSize, Removal};
use crate::protocol::{self, Parser, Rejection, Sink};
use logging::{Event, Logger, REJECTION_LINES_PER_SECOND, RateLimit};
use notify::Notifier;

use crate::signals::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, Signals};
use reply::{ReplyDir, ReplyError, STALE_REPLY_AGE, UserNames};

/// Bytes per `read`: a whole default pipe buffer, so one read usually
/// empties the pipe.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Reads per wake-up before the other descriptors (reload, the reply
/// directory's watch, the status) get a look-in again. SIGTERM and SIGINT do
/// not wait for them: their flags are looked at after every read.
const READS_PER_WAKEUP: usize = 64;
/// How often at most the pipe's size is looked at (one `fcntl`), after
/// wake-ups that read something (at once, or once this is over); a writer
/// that resized it gets it back this soon.
const PIPE_SIZE_CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// Socket-activated, `end` stops the daemon and the next write starts it
/// again: each `end` is a start. So many starts in a row would trip
/// systemd's start limit and leave the socket failed; the daemon therefore
/// runs at least this long after its start before it acts on an `end`
/// (serving what comes meanwhile), which bounds the starts to one a second.
const SOCKET_ACTIVATED_MIN_UPTIME: Duration = Duration::from_secs(1);
/// How long the last reads of a FIFO whose path is gone (at the stop, or
/// moved by a reload) wait for clients that opened it before and still have
/// it open; bounds the stop however a client behaves. Clients write and
/// close within microseconds; the margin is for a loaded machine, where a
/// client can be kept off the CPU for a tenth of a second between its open
/// and its write (seen in the test suite with 100 ms).
const LAST_READS_GRACE: Duration = Duration::from_secs(1);
/// What those last reads take at most, so that a client writing without
/// pause cannot hold up the stop for the whole grace period: the largest
/// pipe buffer an unprivileged client can ask for (`/proc/sys/fs/
/// pipe-max-size`, 1 MiB by default), so what was written before the stop
/// still fits.
const LAST_READS_MAX_BYTES: u64 = 1024 * 1024;
/// While waiting for them: how often to look whether they have all gone. The
/// read-only descriptor is woken (POLLHUP) when the last of them closes, but
/// only for writers that opened the FIFO after it did (not so for a reused
/// FIFO's earlier clients, or when it had to be opened late).
const LAST_READS_SLICE_MS: u8 = 5;

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Fifo(#[from] FifoError),
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        source: io::Error,
    },
}

impl From<DaemonError> for Failure {
    fn from(e: DaemonError) -> Self {
        match e {
            DaemonError::Config(e) => e.into(),
            DaemonError::Fifo(e) => e.into(),
            e @ DaemonError::Os { .. } => Failure {
                code: EX_OSERR,
                message: e.to_string(),
            },
        }
    }
}

impl DaemonError {
    fn os(what: &'static str) -> impl FnOnce(io::Error) -> DaemonError {
        move |source| DaemonError::Os { what, source }
    }
}

/// Counters reported in the status line, on SIGUSR1 and at the stop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub pings: u64,
    pub ends: u64,
    pub rejected: u64,
    pub bytes: u64,
    pub reloads: u64,
    /// Pongs written for `?ping NAME` requests, those that could not be, and
    /// requests not answered because their requester was over its limit.
    pub pongs: u64,
    pub pongs_failed: u64,
    pub pongs_limited: u64,
}

impl Counters {
    /// Name and value of each counter, in the order of the counters line:
    /// the one list [`Display`](fmt::Display) and [`FromStr`] work from.
    pub fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("pings", self.pings),
            ("ends", self.ends),
            ("rejected", self.rejected),
            ("bytes", self.bytes),
            ("reloads", self.reloads),
            ("pongs", self.pongs),
            ("pongs_failed", self.pongs_failed),
            ("pongs_limited", self.pongs_limited),
        ]
    }

    fn field_mut(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "pings" => &mut self.pings,
            "ends" => &mut self.ends,
            "rejected" => &mut self.rejected,
            "bytes" => &mut self.bytes,
            "reloads" => &mut self.reloads,
            "pongs" => &mut self.pongs,
            "pongs_failed" => &mut self.pongs_failed,
            "pongs_limited" => &mut self.pongs_limited,
            _ => return None,
        })
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.fields().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

/// Reads the counters back from a line that contains them (`counters: …`,
/// `stopping (SIGTERM): … log_lines_dropped=N`): every counter must be there;
/// other words are ignored. For tests and the benchmarks.
impl std::str::FromStr for Counters {
    type Err = String;

    fn from_str(line: &str) -> Result<Counters, String> {
        let mut counters = Counters::default();
        let mut seen = 0;
        for word in line.split_whitespace() {
            let Some((name, value)) = word.split_once('=') else {
                continue;
            };
            if let Some(field) = counters.field_mut(name) {
                *field = value
                    .parse()
                    .map_err(|e| format!("bad {name}= in {line:?}: {e}"))?;
                seen += 1;
            }
        }
        if seen != counters.fields().len() {
            return Err(format!("expected every counter in {line:?}"));
        }
        Ok(counters)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Signal(&'static str),
    End,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Signal(name) => f.write_str(name),
            StopReason::End => f.write_str("end received"),
        }
    }
}

/// Where the parser's output goes: counters and the (rate-limited) log.
struct Output {
    counters: Counters,
    logger: Logger,
    ping_lines: RateLimit,
    rejection_lines: RateLimit,
    replies: ReplyDir,
    /// Requesters' names for the round-trip log line.
    names: UserNames,
    /// What `?status` tells besides the counters.
    about: status::About,
}

impl Output {
    /// Logs the summaries of rate-limit windows that have ended.
    fn flush_summaries(&mut self, now: Instant) {
        if let Some(suppressed) = self.ping_lines.flush(now) {
            self.logger
                .info(&format!("suppressed {suppressed} received-ping lines"));
        }
        if let Some(suppressed) = self.rejection_lines.flush(now) {
            self.logger.warning(&format!(
                "suppressed {suppressed} rejected-message warnings"
            ));
        }
    }

    /// A line about input a client chose (rejections, failed pongs): limited
    /// to REJECTION_LINES_PER_SECOND, the excess summarised once a second.
    fn client_problem(
        &mut self,
        level: config::Level,
        now: Instant,
        line: impl FnOnce() -> String,
    ) {
        self.client_entry(now, |logger| logger.log(level, &line()));
    }

    /// Like [`Output::client_problem`], for a line `write` logs itself (an
    /// event with its fields).
    fn client_entry(&mut self, now: Instant, write: impl FnOnce(&mut Logger)) {
        let (lines, summary) = self.rejection_lines.take(1, now);
        if let Some(suppressed) = summary {
            self.logger.warning(&format!(
                "suppressed {suppressed} rejected-message warnings"
            ));
        }
        if lines > 0 {
            write(&mut self.logger);
        }
    }

    /// A pong or status that could not be sent (or was not: over the limit).
    fn reply_failed(&mut self, what: &str, reply_to: &str, error: &ReplyError, now: Instant) {
        let limited = matches!(error, ReplyError::Limited { .. });
        if limited {
            self.counters.pongs_limited += 1;
        } else {
            self.counters.pongs_failed += 1;
        }
        self.client_entry(now, |logger| {
            // Only the limit's error does not name the reply FIFO itself.
            let message = if limited {
                format!("no {what} sent: {reply_to}: {error}")
            } else {
                format!("no {what} sent: {error}")
            };
            let error = error.to_string();
            let result = if limited { "limited" } else { "failed" };
            logger.event(
                config::Level::Notice,
                Event::PongFailed,
                &message,
                &[
                    ("REPLY_TO", reply_to),
                    ("RESULT", result),
                    ("ERROR", &error),
                ],
            );
        });
    }
}

/// One parse pass: the output, what `end` does now, and whether it asked to stop.
struct Handler<'a> {
    out: &'a mut Output,
    on_end: OnEnd,
    stop: Option<StopReason>,
    now: Instant,
}

impl Sink for Handler<'_> {
    fn pings(&mut self, count: u64) {
        let out = &mut *self.out;
        out.counters.pings += count;
        if !out.logger.enabled(config::Level::Info) {
            return;
        }
        let (lines, summary) = out.ping_lines.take(count, self.now);
        if let Some(suppressed) = summary {
            out.logger
                .info(&format!("suppressed {suppressed} received-ping lines"));
        }
        out.logger
            .event_repeated(config::Level::Info, Event::Ping, "received ping", lines);
    }

    fn end(&mut self) {
        self.out.counters.ends += 1;
        match self.on_end {
            OnEnd::Shutdown => {
                self.out.logger.event(
                    config::Level::Info,
                    Event::End,
                    "received end",
                    &[("ON_END", "shutdown")],
                );
                self.stop.get_or_insert(StopReason::End);
            }
            OnEnd::Ignore => self.out.logger.event(
                config::Level::Info,
                Event::End,
                "received end (ignored: on_end = \"ignore\")",
                &[("ON_END", "ignore")],
            ),
        }
    }

    fn ping_with_reply(&mut self, reply_to: &str) {
        let out = &mut *self.out;
        out.counters.pings += 1;
        let answer = out.replies.send_pong(reply_to, self.now);
        if out.logger.enabled(config::Level::Info) {
            let (lines, summary) = out.ping_lines.take(1, self.now);
            if let Some(suppressed) = summary {
                out.logger
                    .info(&format!("suppressed {suppressed} received-ping lines"));
            }
            if lines > 0 {
                // The requester is the reply FIFO's owner: the one thing a
                // FIFO server can learn about who wrote.
                match answer.requester {
                    Some(uid) => {
                        let name = out.names.get(uid).to_string();
                        let line = format!("received ping (round trip) from {name} (uid {uid})");
                        let uid = uid.to_string();
                        out.logger.event(
                            config::Level::Info,
                            Event::RoundTripPing,
                            &line,
                            &[
                                ("REQUESTER", &name),
                                ("REQUESTER_UID", &uid),
                                ("REPLY_TO", reply_to),
                            ],
                        );
                    }
                    None => out.logger.event(
                        config::Level::Info,
                        Event::RoundTripPing,
                        "received ping (round trip)",
                        &[("REPLY_TO", reply_to)],
                    ),
                }
            }
        }
        match answer.result {
            Ok(()) => {
                out.counters.pongs += 1;
                if out.logger.enabled(config::Level::Debug) {
                    let line = format!("sent pong to {}/{reply_to}", out.replies.path().display());
                    out.logger.log(config::Level::Debug, &line);
                }
            }
            Err(e) => out.reply_failed("pong", reply_to, &e, self.now),
        }
    }

    fn status_request(&mut self, reply_to: &str) {
        let out = &mut *self.out;
        let (about, counters, now) = (&out.about, &out.counters, self.now);
        let answer = out
            .replies
            .send_reply(reply_to, now, || status::encode(about, counters, now));
        match answer.result {
            Ok(()) => {
                out.counters.pongs += 1;
                if out.logger.enabled(config::Level::Debug) {
                    let line =
                        format!("sent status to {}/{reply_to}", out.replies.path().display());
                    out.logger.log(config::Level::Debug, &line);
                }
            }
            Err(e) => out.reply_failed("status", reply_to, &e, self.now),
        }
    }

    fn rejected(&mut self, rejection: Rejection<'_>) {
        self.out.counters.rejected += 1;
        self.out.client_entry(self.now, |logger| {
            let sample = protocol::escape_sample(rejection.sample, rejection.truncated);
            let message = format!("rejected message: {}: \"{sample}\"", rejection.reason);
            logger.event(
                config::Level::Warning,
                Event::Rejected,
                &message,
                &[("REASON", rejection.reason.label()), ("SAMPLE", &sample)],
            );
        });
    }
}

/// Everything the running daemon holds.
struct Daemon {
    location: Location,
    overrides: Overrides,
    config: Config,
    notifier: Notifier,
    fifo: Fifo,
    parser: Parser,
    out: Output,
    buf: Vec<u8>,
    started: Instant,
    /// When the pipe's size was last looked at, and when it is to be looked
    /// at again (after reads that came too soon for a look; idle: never).
    pipe_checked: Instant,
    pipe_check_due: Option<Instant>,
    /// An `end` read too soon after a socket-activated start: the stop
    /// waits until then ([`SOCKET_ACTIVATED_MIN_UPTIME`]).
    deferred_end: Option<Instant>,
    /// Where reloads are reported (systemd's `$RUNTIME_DIRECTORY`), and how
    /// many were attempted.
    runtime_directory: Option<std::path::PathBuf>,
    reload_attempts: u64,
}

/// Runs the daemon until SIGTERM, SIGINT or `end`.
pub fn run(location: Location, overrides: Overrides) -> Result<(), DaemonError> {
    let config = config::load(&location, &overrides)?;
    let (mut logger, warning) = Logger::new(&config.log, config.instance.name());
    if let Some(warning) = warning {
        logger.warning(&warning);
    }
    if config.source == Source::BuiltIn {
        logger.info(&format!(
            "no config file at {}, using built-in defaults",
            location.path().display()
        ));
    }
    // Before the FIFO exists: a SIGTERM from now on is handled, not fatal.
    let signals = Signals::install(&[SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        .map_err(DaemonError::os("cannot install signal handlers"))?;

    let opened = match Fifo::from_socket_activation(&config.fifo.path) {
        Ok(Some(fifo)) => Ok(fifo),
        Ok(None) => Fifo::open_or_create(&config.fifo),
        Err(e) => Err(e),
    };
    let fifo = match opened {
        Ok(fifo) => fifo,
        Err(e) => {
            // main prints the error on stderr: log it only where that line
            // does not go already, so that stderr gets exactly one line.
            if !logger.writes_to_stderr() {
                logger.err(&e.to_string());
                logger.flush();
            }
            return Err(e.into());
        }
    };
    // A named instance's own round-trip area, in its runtime directory:
    // made here (the socket unit makes it in the socket-activated mode).
    if let config::Instance::Named(_) = &config.instance
        && config.reply_directory == config.instance.reply_directory()
        && let Err(e) = reply::prepare_instance_area(
            &config.reply_directory,
            config.fifo.group.as_ref().map(|g| g.id),
        )
    {
        logger.warning(&format!("{e}; round trips are off until it exists"));
    }
    let now = Instant::now();
    let mut daemon = Daemon {
        parser: Parser::new(config.messages.max_message_bytes),
        out: Output {
            counters: Counters::default(),
            logger,
            ping_lines: RateLimit::with_burst(
                config.log.ping_lines_per_second,
                config.log.ping_lines_burst,
                now,
            ),
            rejection_lines: RateLimit::new(REJECTION_LINES_PER_SECOND, now),
            replies: ReplyDir::new(&config.reply_directory),
            names: UserNames::default(),
            about: about(&config, &fifo, &location, now),
        },
        location,
        overrides,
        config,
        notifier: Notifier::from_env(),
        fifo,
        buf: vec![0; READ_BUFFER_BYTES],
        started: now,
        pipe_checked: now,
        pipe_check_due: None,
        deferred_end: None,
        runtime_directory: reload::runtime_directory(),
        reload_attempts: 0,
    };
    // A socket-activated or reused FIFO may have been resized before we came.
    let on_end = daemon.config.messages.on_end;
    if let Some(reason) = daemon.check_pipe_size(now, on_end) {
        daemon.deferred_end = Some(daemon.end_allowed_at(reason).unwrap_or(now));
    }
    daemon.announce_listening();
    daemon.notify_ready();
    daemon.out.logger.flush();

    let reason = daemon.serve(&signals)?;
    daemon.stop(reason);
    Ok(())
}

impl Daemon {
    fn announce_listening(&mut self) {
        if self.fifo.origin() != Origin::SocketActivated
            && fifo::owner_root_not_applicable(&self.config.fifo)
        {
            self.out.logger.notice(
                "[fifo] owner = root is not applied: the daemon runs unprivileged, so the FIFO keeps its own user (root has access anyway); remove the line to silence this",
            );
        }
        let (how, origin) = match self.fifo.origin() {
            Origin::SocketActivated => ("socket-activated fd 3, ", "socket_activated"),
            Origin::Reused => ("reused an existing FIFO, ", "reused"),
            Origin::Created => ("", "created"),
        };
        let line = format!(
            "listening on {} ({how}{})",
            self.fifo.path().display(),
            self.fifo.describe()
        );
        self.out.logger.set_fifo(self.fifo.path());
        self.out.logger.event(
            config::Level::Info,
            Event::Started,
            &line,
            &[("ORIGIN", origin)],
        );
        if !self.out.replies.is_available() {
            let line = format!(
                "round-trip pings (?ping NAME) get no pong: no reply directory at {}",
                self.out.replies.path().display()
            );
            self.out.logger.notice(&line);
        }
    }

    fn notify_ready(&mut self) {
        let status = status_line(&self.fifo, &self.out.counters);
        if let Some(e) = self.notifier.ready(&status, Instant::now()) {
            self.out.logger.warning(&e);
        }
    }

    /// The loop; returns why it stopped.
    fn serve(&mut self, signals: &Signals) -> Result<StopReason, DaemonError> {
        loop {
            let timeout = self.poll_timeout();
            let (fifo_ready, signal_ready, reply_dir_ready) = {
                let watch = self.out.replies.watch_fd();
                let mut fds = [
                    PollFd::new(self.fifo.as_fd(), PollFlags::POLLIN),
                    PollFd::new(signals.wake_fd(), PollFlags::POLLIN),
                    // Without a watch, the signal pipe stands in (polled twice, harmless).
                    PollFd::new(watch.unwrap_or(signals.wake_fd()), PollFlags::POLLIN),
                ];
                let count = if watch.is_some() { 3 } else { 2 };
                match poll(&mut fds[..count], timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(errno) => {
                        return Err(DaemonError::Os {
                            what: "poll failed",
                            source: errno.into(),
                        });
                    }
                }
                let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
                (ready(&fds[0]), ready(&fds[1]), count == 3 && ready(&fds[2]))
            };

            if signal_ready {
                signals.collect();
            }
            if signals.take(SIGTERM) {
                return Ok(StopReason::Signal("SIGTERM"));
            }
            if signals.take(SIGINT) {
                return Ok(StopReason::Signal("SIGINT"));
            }
            if fifo_ready {
                let on_end = self.config.messages.on_end;
                if let Some(reason) = self.read_burst(READS_PER_WAKEUP, on_end, signals)? {
                    self.deferred_end = match self.end_allowed_at(reason) {
                        None => return Ok(reason),
                        Some(at) => self.deferred_end.or(Some(at)),
                    };
                }
            }
            if self.pipe_check_due.is_some_and(|at| Instant::now() >= at) {
                let on_end = self.config.messages.on_end;
                if let Some(reason) = self.check_pipe_size(Instant::now(), on_end) {
                    self.deferred_end = match self.end_allowed_at(reason) {
                        None => return Ok(reason),
                        Some(at) => self.deferred_end.or(Some(at)),
                    };
                }
            }
            if self.deferred_end.is_some_and(|at| Instant::now() >= at) {
                return Ok(StopReason::End);
            }
            if reply_dir_ready {
                self.out.replies.entries_created(Instant::now());
            }
            if signals.take(SIGHUP)
                && let Some(reason) = self.reload()
            {
                return Ok(reason);
            }
            if signals.take(SIGUSR1) {
                let line = format!("counters: {}", self.out.counters);
                self.out.logger.info(&line);
            }
            self.housekeeping();
            self.out.logger.flush();
        }
    }

    /// None: stop now. Some(t): an `end` came too soon after a
    /// socket-activated start, stop at `t`.
    fn end_allowed_at(&self, reason: StopReason) -> Option<Instant> {
        let earliest = self.started + SOCKET_ACTIVATED_MIN_UPTIME;
        (reason == StopReason::End
            && self.fifo.origin() == Origin::SocketActivated
            && Instant::now() < earliest)
            .then_some(earliest)
    }

    /// Sets the pipe back to its own size if a writer changed it. A grown
    /// pipe can only be shrunk while it holds no more than the new size, and
    /// a flooder may keep it fuller than that however fast its requests are
    /// answered; so the pipe is first drained into memory (reads cost little
    /// next to parsing; at most [`LAST_READS_MAX_BYTES`], the largest pipe a
    /// writer can ask for), shrunk, and what was drained parsed after. Returns
    /// a stop reason if an `end` in it asked for one.
    fn check_pipe_size(&mut self, now: Instant, on_end: OnEnd) -> Option<StopReason> {
        self.pipe_checked = now;
        self.pipe_check_due = None;
        let mut held = Vec::new();
        let mut emptied = false;
        let found = match self.fifo.keep_pipe_size() {
            PipeSize::Kept => return None,
            PipeSize::Restored { found } => found,
            PipeSize::Changed { found } => {
                while (held.len() as u64) < LAST_READS_MAX_BYTES {
                    match fifo::read_available(self.fifo.as_fd(), &mut self.buf) {
                        Ok(n) => {
                            held.extend_from_slice(&self.buf[..n]);
                            if n < self.buf.len() {
                                emptied = true;
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
                let _ = self.fifo.keep_pipe_size();
                found
            }
        };
        let path = self.fifo.path().display().to_string();
        self.out.client_problem(config::Level::Notice, now, || {
            format!(
                "{path}: a writer had set the pipe buffer to {found} bytes; set back to {}",
                fifo::PIPE_BYTES
            )
        });
        if held.is_empty() {
            return None;
        }
        let mut handler = Handler {
            out: &mut self.out,
            on_end,
            stop: None,
            now,
        };
        handler.out.counters.bytes += held.len() as u64;
        self.parser.feed(&held, &mut handler);
        if emptied {
            self.parser.end_of_burst(&mut handler);
        }
        handler.stop
    }

    /// Until the next status refresh, watchdog ping or log summary; forever
    /// when idle, so an idle daemon makes no system calls at all.
    fn poll_timeout(&self) -> PollTimeout {
        let deadlines = [
            self.notifier.next_deadline(),
            self.out.ping_lines.deadline(),
            self.out.rejection_lines.deadline(),
            self.out.replies.sweep_deadline(),
            self.deferred_end,
            self.pipe_check_due,
        ];
        match deadlines.into_iter().flatten().min() {
            None => PollTimeout::NONE,
            Some(deadline) => crate::timeout::until(deadline),
        }
    }

    /// Reads until the pipe is empty (or `max_reads` reads, or a stop signal
    /// arrives) and parses what came; returns a stop reason if an `end`
    /// asked for one.
    fn read_burst(
        &mut self,
        max_reads: usize,
        on_end: OnEnd,
        signals: &Signals,
    ) -> Result<Option<StopReason>, DaemonError> {
        let now = Instant::now();
        let mut handler = Handler {
            out: &mut self.out,
            on_end,
            stop: None,
            now,
        };
        for _ in 0..max_reads {
            let n = fifo::read_available(self.fifo.as_fd(), &mut self.buf)
                .map_err(DaemonError::os("cannot read the FIFO"))?;
            handler.out.counters.bytes += n as u64;
            self.parser.feed(&self.buf[..n], &mut handler);
            if n < self.buf.len() {
                // The pipe ran empty: the last writer's write is complete.
                self.parser.end_of_burst(&mut handler);
                break;
            }
            // The pipe is still full: a stop must not wait for the rest.
            if signals.first_of(&[SIGTERM, SIGINT]).is_some() {
                break;
            }
            handler.now = Instant::now();
        }
        let mut stop = handler.stop;
        self.notifier.status_changed();
        if now.duration_since(self.pipe_checked) >= PIPE_SIZE_CHECK_INTERVAL {
            let drained = self.check_pipe_size(now, on_end);
            stop = stop.or(drained);
        } else {
            // Too soon to look again, but a writer may have resized the
            // pipe since the last look: look once the interval is over.
            self.pipe_check_due = Some(self.pipe_checked + PIPE_SIZE_CHECK_INTERVAL);
        }
        Ok(stop)
    }

    fn housekeeping(&mut self) {
        let now = Instant::now();
        self.out.flush_summaries(now);
        if self
            .out
            .replies
            .sweep_deadline()
            .is_some_and(|at| now >= at)
        {
            self.sweep_replies(now);
        }
        let (fifo, counters) = (&self.fifo, &self.out.counters);
        if let Some(e) = self.notifier.tick(now, || status_line(fifo, counters)) {
            self.out.logger.warning(&e);
        }
    }

    /// Removes stale entries of the reply directory (a flood's, or those of
    /// clients killed before they could remove their own).
    fn sweep_replies(&mut self, now: Instant) {
        let path = self.out.replies.path().display().to_string();
        match self.out.replies.sweep(now, STALE_REPLY_AGE) {
            Ok(sweep) => {
                if sweep.removed > 0 {
                    let line = format!(
                        "{path}: removed {} stale entries (older than {} s)",
                        sweep.removed,
                        STALE_REPLY_AGE.as_secs()
                    );
                    self.out.client_problem(config::Level::Notice, now, || line);
                }
                if sweep.stuck > 0 {
                    let line = format!(
                        "{path}: {} stale entries cannot be removed (non-empty directories?)",
                        sweep.stuck
                    );
                    self.out
                        .client_problem(config::Level::Warning, now, || line);
                }
            }
            Err(errno) => {
                let line = format!(
                    "{path}: cannot list the reply directory to remove stale entries ({errno}); it should be owned by the daemon's user"
                );
                self.out
                    .client_problem(config::Level::Warning, now, || line);
            }
        }
    }

    /// SIGHUP: re-read the configuration; on any error keep the old one.
    /// Returns a stop reason if an `end` was read while moving the FIFO.
    fn reload(&mut self) -> Option<StopReason> {
        if let Some(e) = self.notifier.reloading() {
            self.out.logger.warning(&e);
        }
        let mut stop = None;
        let error = match self.try_reload(&mut stop) {
            Ok(()) => {
                self.out.counters.reloads += 1;
                let from = match &self.config.source {
                    Source::File(path) => path.display().to_string(),
                    Source::BuiltIn => "built-in defaults".to_owned(),
                };
                self.out.logger.event(
                    config::Level::Info,
                    Event::ReloadOk,
                    &format!("reloaded configuration from {from}"),
                    &[("CONFIG", &from)],
                );
                None
            }
            Err(e) => {
                let error = e.to_string();
                self.out.logger.event(
                    config::Level::Err,
                    Event::ReloadFailed,
                    &format!("reload failed, keeping the previous configuration: {error}"),
                    &[("ERROR", &error)],
                );
                Some(error)
            }
        };
        self.report_reload(error);
        self.notify_ready();
        stop
    }

    /// For `fifo-pingd --reload` (the units' ExecReload=), which waits for it.
    fn report_reload(&mut self, error: Option<String>) {
        self.reload_attempts += 1;
        let Some(dir) = &self.runtime_directory else {
            return;
        };
        let report = reload::Report {
            pid: std::process::id(),
            count: self.reload_attempts,
            error,
        };
        if let Err(e) = reload::write_report(dir, &report) {
            let line = format!(
                "{}: cannot write the reload report ({e}); `fifo-pingd --reload` will time out",
                dir.display()
            );
            self.out.logger.warning(&line);
        }
    }

    fn try_reload(&mut self, stop: &mut Option<StopReason>) -> Result<(), DaemonError> {
        let new = config::load(&self.location, &self.overrides)?;
        if self.fifo.origin() == Origin::SocketActivated {
            if new.fifo != self.config.fifo {
                self.out.logger.notice(
                    "[fifo] settings are managed by the socket unit when socket-activated; they are not applied",
                );
            }
        } else if new.fifo.path != self.config.fifo.path {
            let moved = Fifo::open_or_create(&new.fifo)?;
            // Unlink the old path first, so that no writer can open it after
            // the last reads; then read the old FIFO until the clients that
            // had it open are gone, and close it (later writes to it fail
            // with EPIPE, not silently).
            let removal = self.fifo.remove_if_ours();
            let mut old = std::mem::replace(&mut self.fifo, moved);
            let wait_for_writers = old.become_last_reader();
            *stop = read_to_end(
                old.as_fd(),
                wait_for_writers,
                &mut self.buf,
                &mut self.parser,
                &mut self.out,
                self.config.messages.on_end,
            );
            let old_path = old.path().to_owned();
            drop(old);
            let line = format!(
                "moved from {} ({}) to {}",
                old_path.display(),
                describe_removal(removal),
                self.fifo.path().display()
            );
            self.out.logger.info(&line);
            self.announce_listening();
        } else if new.fifo != self.config.fifo {
            self.fifo.apply_permissions(&new.fifo)?;
            let line = format!(
                "applied to {}: {}",
                self.fifo.path().display(),
                self.fifo.describe()
            );
            self.out.logger.info(&line);
        }
        let log_changed = new.log.target != self.config.log.target
            || new.log.syslog_socket != self.config.log.syslog_socket
            || new.log.facility_name != self.config.log.facility_name
            || new.log.level != self.config.log.level;
        if log_changed {
            let (logger, warning) = Logger::new(&new.log, new.instance.name());
            self.out.logger.flush();
            self.out.logger = logger;
            self.out.logger.set_fifo(self.fifo.path());
            if let Some(w) = warning {
                self.out.logger.warning(&w);
            }
        }
        // In place: the suppressed count not summarised yet stays, as do the
        // tokens left (at most the new burst).
        self.out.ping_lines.set_limit(
            new.log.ping_lines_per_second,
            new.log.ping_lines_burst,
            Instant::now(),
        );
        if new.reply_directory != self.config.reply_directory || !self.out.replies.is_available() {
            self.out.replies = ReplyDir::new(&new.reply_directory);
        }
        self.parser
            .set_max_message_bytes(new.messages.max_message_bytes);
        self.out.about = about(&new, &self.fifo, &self.location, self.out.about.started);
        self.config = new;
        Ok(())
    }

    /// Unlink first (no new writers), then count what was already written.
    fn stop(mut self, reason: StopReason) {
        if let Some(e) = self.notifier.stopping(&format!("stopping ({reason})")) {
            self.out.logger.warning(&e);
        }
        let removal = self.fifo.remove_if_ours();
        // Socket-activated: systemd keeps unread data for the next start.
        if self.fifo.origin() != Origin::SocketActivated {
            let wait_for_writers = self.fifo.become_last_reader();
            // Already stopping: a further `end` changes nothing.
            read_to_end(
                self.fifo.as_fd(),
                wait_for_writers,
                &mut self.buf,
                &mut self.parser,
                &mut self.out,
                OnEnd::Ignore,
            );
        }
        let mut handler = Handler {
            out: &mut self.out,
            on_end: OnEnd::Ignore,
            stop: None,
            now: Instant::now(),
        };
        self.parser.finish(&mut handler);
        let out = &mut self.out;
        let suppressed = out.ping_lines.take_suppressed();
        if suppressed > 0 {
            out.logger
                .info(&format!("suppressed {suppressed} received-ping lines"));
        }
        if !matches!(removal, Removal::Removed | Removal::LeftToSystemd) {
            out.logger.warning(&format!(
                "{}: {}",
                self.fifo.path().display(),
                describe_removal(removal)
            ));
        }
        let dropped = out.logger.dropped_lines();
        let message = format!(
            "stopping ({reason}): {} log_lines_dropped={dropped}",
            out.counters
        );
        // Each counter also as a field of its own: FIFO_PINGD_PINGS=…
        let values: Vec<(String, String)> = out
            .counters
            .fields()
            .into_iter()
            .map(|(name, value)| (name.to_ascii_uppercase(), value.to_string()))
            .chain([("LOG_LINES_DROPPED".to_owned(), dropped.to_string())])
            .collect();
        let reason = reason.to_string();
        let mut fields: Vec<logging::Field<'_>> = vec![("STOP_REASON", &reason)];
        fields.extend(values.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        out.logger
            .event(config::Level::Info, Event::Stopping, &message, &fields);
        out.logger.flush();
    }
}

/// The last reads of a FIFO whose path is gone: until end-of-file (every
/// client that had it open has closed it) when `wait_for_writers`, else
/// until it is empty; never longer than [`LAST_READS_GRACE`] nor more than
/// [`LAST_READS_MAX_BYTES`], however a client behaves. Returns a stop
/// reason if an `end` asked for one; a read error only ends the reads (the
/// FIFO is being closed anyway).
fn read_to_end(
    fd: BorrowedFd<'_>,
    wait_for_writers: bool,
    buf: &mut [u8],
    parser: &mut Parser,
    out: &mut Output,
    on_end: OnEnd,
) -> Option<StopReason> {
    let deadline = Instant::now() + LAST_READS_GRACE;
    let mut handler = Handler {
        out,
        on_end,
        stop: None,
        now: Instant::now(),
    };
    let mut taken = 0u64;
    while taken < LAST_READS_MAX_BYTES {
        if Instant::now() >= deadline {
            // Out of time with a client still connected: take what it has
            // written since the last look; what it writes from here to the
            // close is lost with the pipe, after the close its writes fail
            // with EPIPE.
            if let Ok(n @ 1..) = nix::unistd::read(fd, buf) {
                handler.out.counters.bytes += n as u64;
                parser.feed(&buf[..n], &mut handler);
            }
            break;
        }
        match nix::unistd::read(fd, buf) {
            // End-of-file: no writer left, nothing left to read.
            Ok(0) => break,
            Ok(n) => {
                taken += n as u64;
                handler.out.counters.bytes += n as u64;
                parser.feed(&buf[..n], &mut handler);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) if wait_for_writers => {
                // Empty, but some client still has it open.
                parser.end_of_burst(&mut handler);
                let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(LAST_READS_SLICE_MS));
            }
            Err(_) => break,
        }
    }
    parser.end_of_burst(&mut handler);
    handler.stop
}

/// What `?status` reports of the configuration and the FIFO.
fn about(config: &Config, fifo: &Fifo, location: &Location, started: Instant) -> status::About {
    status::About {
        instance: config.instance.name().to_owned(),
        fifo: fifo.path().to_owned(),
        config: config.source.clone(),
        config_path: location.path().to_owned(),
        started,
    }
}

fn status_line(fifo: &Fifo, counters: &Counters) -> String {
    format!(
        "listening on {}; pings={} ends={} rejected={}",
        fifo.path().display(),
        counters.pings,
        counters.ends,
        counters.rejected
    )
}

fn describe_removal(removal: Removal) -> String {
    match removal {
        Removal::Removed => "removed".to_owned(),
        Removal::Replaced => {
            "not removed: something else is at the path now, left untouched".to_owned()
        }
        Removal::AlreadyGone => "already gone".to_owned(),
        Removal::LeftToSystemd => "left to systemd".to_owned(),
        Removal::Failed(errno) => format!("could not be removed: {errno}"),
    }
}

/// `--check-config`: validate and print the effective configuration.
pub fn check_config(location: &Location, overrides: &Overrides) -> Result<String, ConfigError> {
    let config = config::load(location, overrides)?;
    config.check_environment()?;
    Ok(config.to_toml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counters_line_reads_back() {
        let c = Counters {
            pings: 1,
            ends: 2,
            rejected: 3,
            bytes: 4,
            reloads: 5,
            pongs: 6,
            pongs_failed: 7,
            pongs_limited: 8,
        };
        let line = c.to_string();
        assert_eq!(
            line,
            "pings=1 ends=2 rejected=3 bytes=4 reloads=5 pongs=6 pongs_failed=7 pongs_limited=8"
        );
        assert_eq!(line.parse(), Ok(c));
        let stop = format!("stopping (SIGTERM): {c} log_lines_dropped=9");
        assert_eq!(stop.parse(), Ok(c));
        assert!("pings=1 ends=2".parse::<Counters>().is_err());
        assert!(
            line.replace("bytes=4", "bytes=x")
                .parse::<Counters>()
                .is_err()
        );
    }
}
