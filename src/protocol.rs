//! The control protocol: bytes in, messages out. No I/O happens here, so the
//! parser can be unit-tested split by split and fuzzed.
//!
//! The words are `ping` and `end`. They may be separated by any number of
//! `\n`, `\r`, `\0`, space or tab (so `echo`, `printf`, CRLF clients and C
//! clients that write `sizeof "ping"` all work), or, for `ping`, be followed
//! directly by the next word (the seed client writes `pingping…pingend`).
//!
//! Only whole words count. A complete word is acted on when the byte after
//! it is a separator, when the burst ends ([`Parser::end_of_burst`]: the pipe
//! ran empty, so `printf ping` with no terminator counts at once), when the
//! stream ends ([`Parser::finish`]), or, for `ping` only, when another
//! complete word follows it directly. Anything else glued to a word makes the
//! whole run one unknown word, and nothing in it is acted on: `endless`,
//! `end_`, `pingu`, `endpoint=x`, `pingpong`, and `endping_` (nothing is
//! glued after `end` in any framing, so `end` needs a separator or the end of
//! the burst). The parser holds at most one complete word waiting for its
//! next byte (with the half word after it, if that byte started one): in a
//! run of `ping`s all but the last are known whole at once.
//!
//! Any other run of bytes up to the next separator is rejected with a reason
//! and a short sample of its start. Memory is bounded: the parser keeps a
//! fixed-size sample of the current bad run, never the run itself.
//!
//! A round-trip request, `?ping NAME` ended by a newline (or `\r`, `\0`),
//! is a ping that asks for a `pong` in the reply FIFO `NAME` (a plain file
//! name). It starts with `?`, a byte no plain word starts with, where a word
//! could start (not glued to one: `end?ping x` is a bad run), so seed streams
//! (`pingpingend`) parse exactly as before.
//!
//! Writers are only distinguishable by time: each writer writes whole messages
//! in single `write()`s (atomic up to `PIPE_BUF`), so when the pipe runs empty
//! the reader calls [`Parser::end_of_burst`]. That counts a complete word
//! still waiting for its next byte, closes a pending bad run (so a writer's
//! unterminated garbage cannot swallow the next writer's `ping`) and marks a
//! half-received word as stale (a large, non-atomic write may still complete
//! it; anything else discards it). Splitting the stream into `feed` calls
//! never changes the result; only an `end_of_burst` can.

use std::fmt;

/// A message the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Ping,
    End,
}

/// Why a run of bytes was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// A `?` request that is not `?ping NAME` with a valid reply name.
    BadRequest,
    /// Valid UTF-8 (as far as sampled) but not a known word.
    UnknownWord,
    /// The run contains bytes that are not UTF-8.
    NotUtf8,
    /// The run grew past `max_message_bytes` without a separator; the rest of
    /// it, up to the next separator or the end of the burst, is discarded.
    TooLong { limit: usize },
}

impl RejectReason {
    /// A short fixed name for machines: the `reason` label of the metrics
    /// and the journal's `FIFO_PINGD_REASON` field.
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// The reason's place in [`RejectReason::LABELS`] (for per-reason counters).
    pub fn index(&self) -> usize {
        match self {
            RejectReason::BadRequest => 0,
            RejectReason::UnknownWord => 1,
            RejectReason::NotUtf8 => 2,
            RejectReason::TooLong { .. } => 3,
        }
    }

    /// Every label, in a fixed order (so that the metrics list each reason,
    /// also at 0).
    pub const LABELS: [&'static str; 4] = ["bad_request", "unknown_word", "not_utf8", "too_long"];
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::BadRequest => f.write_str(
                "bad request (expected \"?ping NAME\" or \"?status NAME\", NAME of 1 to 64 letters, digits, '.', '_' or '-', not starting with '.')",
            ),
            RejectReason::UnknownWord => f.write_str("unknown word"),
            RejectReason::NotUtf8 => f.write_str("not UTF-8"),
            RejectReason::TooLong { limit } => {
                write!(f, "longer than {limit} bytes without a separator")
            }
        }
    }
}

/// A rejected run of bytes: the reason and the first [`SAMPLE_BYTES`] of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection<'a> {
    pub reason: RejectReason,
    pub sample: &'a [u8],
    /// Whether the run was longer than `sample`.
    pub truncated: bool,
}

/// Receives what the parser finds, in stream order.
pub trait Sink {
    /// `count` consecutive pings (batched so the hot path makes one call per run).
    fn pings(&mut self, count: u64);
    fn end(&mut self);
    /// A ping that asks for a `pong` in the reply FIFO `reply_to`, a file
    /// name already checked to be plain (no `/`, no leading `.`).
    fn ping_with_reply(&mut self, reply_to: &str);
    /// A request for the daemon's status line in the reply FIFO `reply_to`
    /// (checked as for [`Sink::ping_with_reply`]); not a ping.
    fn status_request(&mut self, reply_to: &str);
    fn rejected(&mut self, rejection: Rejection<'_>);
}

/// How much of a bad run is kept for the log line.
pub const SAMPLE_BYTES: usize = 64;
/// The longest reply name.
pub const MAX_REPLY_NAME: usize = 64;
const PING_REQUEST: &[u8] = b"?ping ";
const STATUS_REQUEST: &[u8] = b"?status ";
/// `?status ` and the longest name: a request never needs more.
pub const MAX_REQUEST: usize = STATUS_REQUEST.len() + MAX_REPLY_NAME;
/// Holds a bad run's sample or a whole request.
const BUFFER_BYTES: usize = if MAX_REQUEST > SAMPLE_BYTES {
    MAX_REQUEST
} else {
    SAMPLE_BYTES
};

const PING: &[u8] = b"ping";
const END: &[u8] = b"end";

/// Eight `ping\n` back to back: the batched-writer fast path compares whole
/// blocks of this at once (see [`starts_with_block`]).
const PING_LINE_BLOCK: &[u8; 40] = b"ping\nping\nping\nping\nping\nping\nping\nping\n";
/// Eight `ping` with no separator: the seed client's stream.
const PING_RUN_BLOCK: &[u8; 32] = b"pingpingpingpingpingpingpingping";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between words.
    Idle,
    /// A complete `word`, acted on once the next byte shows it is whole (a
    /// separator, or for `ping` the start of another complete word), or at
    /// the end of the burst or the stream.
    Complete { word: &'static [u8] },
    /// `matched` bytes of `word` seen; `held` when a complete `ping` directly
    /// precedes them (it counts if this word completes, else it is part of
    /// the bad run); `stale` once a burst ended in between.
    Word {
        word: &'static [u8],
        matched: usize,
        held: bool,
        stale: bool,
    },
    /// Inside a bad run; `reported` once a too-long run has been rejected.
    Garbage { reported: bool },
    /// Inside a `?` request; its bytes are in `sample`, `garbage_len` long.
    Request,
}

/// Incremental parser; see the module documentation for the framing rules.
#[derive(Debug, Clone)]
pub struct Parser {
    state: State,
    max_message_bytes: usize,
    garbage_len: usize,
    sample: [u8; BUFFER_BYTES],
}

fn is_separator(byte: u8) -> bool {
    matches!(byte, b'\n' | b'\r' | b'\0' | b' ' | b'\t')
}

/// Whether `input` starts with `block`, compared as 8-byte words: inlined,
/// where a slice `==` calls `memcmp` once per block (a sixth of the daemon's
/// time on a batched stream).
#[inline(always)]
fn starts_with_block<const N: usize>(input: &[u8], block: &[u8; N]) -> bool {
    let Some(head) = input.get(..N) else {
        return false;
    };
    let word =
        |bytes: &[u8], k: usize| u64::from_ne_bytes(bytes[k..k + 8].try_into().expect("8 bytes"));
    let mut diff = 0;
    for k in (0..N).step_by(8) {
        diff |= word(head, k) ^ word(block, k);
    }
    diff == 0
}

fn word_starting_with(byte: u8) -> Option<&'static [u8]> {
    match byte {
        b'p' => Some(PING),
        b'e' => Some(END),
        _ => None,
    }
}

fn act_on<S: Sink>(word: &[u8], sink: &mut S) {
    if word == PING {
        sink.pings(1);
    } else {
        sink.end();
    }
}

impl Parser {
    /// `max_message_bytes` bounds a run without separators (at least 1).
    pub fn new(max_message_bytes: usize) -> Self {
        Parser {
            state: State::Idle,
            max_message_bytes: max_message_bytes.max(1),
            garbage_len: 0,
            sample: [0; BUFFER_BYTES],
        }
    }

    pub fn set_max_message_bytes(&mut self, max_message_bytes: usize) {
        self.max_message_bytes = max_message_bytes.max(1);
    }

    /// Bytes of an unfinished run the parser is holding (for tests of the bound).
    pub fn pending_bytes(&self) -> usize {
        match self.state {
            State::Idle => 0,
            State::Complete { word } => word.len(),
            State::Word { matched, held, .. } => matched + if held { PING.len() } else { 0 },
            State::Garbage { .. } => self.garbage_len.min(SAMPLE_BYTES),
            State::Request => self.garbage_len,
        }
    }

    /// Parses `input`, reporting to `sink` in order. Splitting a stream into
    /// `feed` calls at any points gives the same result as one call.
    pub fn feed<S: Sink>(&mut self, input: &[u8], sink: &mut S) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Idle => i = self.feed_words(input, i, false, sink),
                // The fast path decides what the held ping is.
                State::Complete { word: PING } => i = self.feed_words(input, i, true, sink),
                State::Complete { word } => {
                    // `end` is whole only before a separator: no framing
                    // glues anything, not even a word, after it.
                    let byte = input[i];
                    if is_separator(byte) {
                        self.state = State::Idle;
                        act_on(word, sink);
                    } else {
                        self.start_garbage(false, word);
                        self.push_garbage(byte, sink);
                        i += 1;
                    }
                }
                State::Word {
                    word,
                    matched,
                    held,
                    stale,
                } => {
                    let byte = input[i];
                    if byte == word[matched] {
                        i += 1;
                        if matched + 1 == word.len() {
                            if held {
                                // Followed by a complete word: it was whole.
                                sink.pings(1);
                            }
                            self.state = State::Complete { word };
                        } else {
                            self.state = State::Word {
                                word,
                                matched: matched + 1,
                                held,
                                stale,
                            };
                        }
                    } else if stale || is_separator(byte) {
                        // A stale fragment belongs to an earlier writer: drop it
                        // and read this byte afresh, it may start the next word.
                        self.reject_fragment(held, &word[..matched], sink);
                        self.state = State::Idle;
                    } else {
                        self.start_garbage(held, &word[..matched]);
                        // The current byte is part of the bad run.
                        self.push_garbage(byte, sink);
                        i += 1;
                    }
                }
                State::Request => {
                    // Up to the terminator in one scan (a flood of requests
                    // costs the daemon its parse first of all), copying at
                    // most what a request may hold; one byte more decides.
                    let room = MAX_REQUEST - self.garbage_len;
                    let rest = &input[i..];
                    let scan = &rest[..rest.len().min(room + 1)];
                    let end = scan
                        .iter()
                        .position(|&b| matches!(b, b'\n' | b'\r' | b'\0'));
                    let take = end.unwrap_or(scan.len()).min(room);
                    self.sample[self.garbage_len..self.garbage_len + take]
                        .copy_from_slice(&scan[..take]);
                    self.garbage_len += take;
                    i += take;
                    if end.is_none() && take == scan.len() {
                        // The input ended inside the request.
                        continue;
                    }
                    let byte = input[i];
                    i += 1;
                    if end.is_some() {
                        self.state = State::Idle;
                        let request = &self.sample[..self.garbage_len];
                        match parse_request(request) {
                            Some((Request::Ping, name)) => sink.ping_with_reply(name),
                            Some((Request::Status, name)) => sink.status_request(name),
                            None => sink.rejected(Rejection {
                                reason: RejectReason::BadRequest,
                                sample: request,
                                truncated: false,
                            }),
                        }
                        self.garbage_len = 0;
                    } else {
                        // Too long for any valid request: an ordinary bad run.
                        self.state = State::Garbage { reported: false };
                        self.push_garbage(byte, sink);
                    }
                }
                State::Garbage { .. } => {
                    // Skip to the next separator in one scan.
                    let rest = &input[i..];
                    let run = rest
                        .iter()
                        .position(|&b| is_separator(b))
                        .unwrap_or(rest.len());
                    for &byte in &rest[..run.min(SAMPLE_BYTES)] {
                        if self.garbage_len < SAMPLE_BYTES {
                            self.sample[self.garbage_len] = byte;
                        }
                        self.garbage_len += 1;
                        self.check_too_long(sink);
                    }
                    if run > SAMPLE_BYTES {
                        self.garbage_len += run - SAMPLE_BYTES;
                        self.check_too_long(sink);
                    }
                    i += run;
                    if run < rest.len() {
                        // Separator found: the run is complete.
                        self.close_garbage(sink);
                        i += 1;
                    }
                }
            }
        }
    }

    /// The pipe ran empty: the writer that sent the last bytes has finished
    /// its write. A complete word waiting for its next byte counts (`printf
    /// ping`), a bad run is closed, a half word is marked stale (a large,
    /// non-atomic write may still complete it).
    pub fn end_of_burst<S: Sink>(&mut self, sink: &mut S) {
        self.settle(false, sink);
    }

    /// No more input will come (shutdown): a complete word waiting for its
    /// next byte counts, anything else pending is rejected.
    pub fn finish<S: Sink>(&mut self, sink: &mut S) {
        self.settle(true, sink);
    }

    /// What [`end_of_burst`](Self::end_of_burst) and [`finish`](Self::finish)
    /// share; they differ only in a half word: stale or rejected.
    fn settle<S: Sink>(&mut self, finished: bool, sink: &mut S) {
        match self.state {
            // Requests come in one write: an unfinished one is bad.
            State::Garbage { .. } | State::Request => self.close_garbage(sink),
            State::Complete { word } => {
                self.state = State::Idle;
                act_on(word, sink);
            }
            State::Word {
                word,
                matched,
                held,
                ..
            } if finished => {
                self.reject_fragment(held, &word[..matched], sink);
                self.state = State::Idle;
            }
            State::Word {
                word,
                matched,
                held,
                ..
            } => {
                self.state = State::Word {
                    word,
                    matched,
                    held,
                    stale: true,
                }
            }
            State::Idle => {}
        }
    }

    /// Between words (`held`: a complete `ping` just before `input[i]`, not
    /// yet counted). Fast path for runs of whole `ping`s, with or without
    /// separators (`ping\n`, `ping\r\n`, the seed's `pingping…`): count, then
    /// one call. A `ping` is whole once a separator or another `ping` follows
    /// (checked by the next block or word); only the last one of a run can be
    /// left held, for the next byte to decide.
    fn feed_words<S: Sink>(
        &mut self,
        input: &[u8],
        mut i: usize,
        mut held: bool,
        sink: &mut S,
    ) -> usize {
        self.state = State::Idle;
        // Pings found, the held one (if any) included as the last.
        let mut pings = u64::from(held);
        loop {
            let from = i;
            while i < input.len() && is_separator(input[i]) {
                i += 1;
            }
            if i > from {
                held = false;
            }
            while starts_with_block(&input[i..], PING_LINE_BLOCK) {
                pings += 8;
                i += PING_LINE_BLOCK.len();
                held = false;
            }
            while starts_with_block(&input[i..], PING_RUN_BLOCK) {
                pings += 8;
                i += PING_RUN_BLOCK.len();
                held = true;
            }
            if input[i..].starts_with(PING) {
                pings += 1;
                i += PING.len();
                held = true;
            }
            if i == from {
                break;
            }
        }
        // Here `input[i]`, if any, is no separator and starts no whole `ping`.
        if held {
            if input[i..].starts_with(END) {
                // A complete word follows: the held ping was whole.
                sink.pings(pings);
                self.state = State::Complete { word: END };
                return i + END.len();
            }
            if pings > 1 {
                sink.pings(pings - 1);
            }
            let Some(&byte) = input.get(i) else {
                self.state = State::Complete { word: PING };
                return i;
            };
            match word_starting_with(byte) {
                Some(word) => {
                    self.state = State::Word {
                        word,
                        matched: 1,
                        held: true,
                        stale: false,
                    }
                }
                None => {
                    self.start_garbage(true, &[]);
                    self.push_garbage(byte, sink);
                }
            }
            return i + 1;
        }
        if pings > 0 {
            sink.pings(pings);
        }
        if let Some(&byte) = input.get(i) {
            i += 1;
            match word_starting_with(byte) {
                Some(word) => {
                    self.state = State::Word {
                        word,
                        matched: 1,
                        held: false,
                        stale: false,
                    }
                }
                None if byte == b'?' => {
                    self.state = State::Request;
                    self.sample[0] = byte;
                    self.garbage_len = 1;
                }
                None => {
                    self.start_garbage(false, &[]);
                    self.push_garbage(byte, sink);
                }
            }
        }
        i
    }

    /// Copies the start of a run into the sample: the held `ping`, if any,
    /// then `fragment`. Returns its length.
    fn put_prefix(&mut self, held: bool, fragment: &[u8]) -> usize {
        let at = if held {
            self.sample[..PING.len()].copy_from_slice(PING);
            PING.len()
        } else {
            0
        };
        self.sample[at..at + fragment.len()].copy_from_slice(fragment);
        at + fragment.len()
    }

    fn start_garbage(&mut self, held: bool, fragment: &[u8]) {
        self.state = State::Garbage { reported: false };
        self.garbage_len = self.put_prefix(held, fragment);
    }

    fn push_garbage<S: Sink>(&mut self, byte: u8, sink: &mut S) {
        if self.garbage_len < SAMPLE_BYTES {
            self.sample[self.garbage_len] = byte;
        }
        self.garbage_len += 1;
        self.check_too_long(sink);
    }

    fn check_too_long<S: Sink>(&mut self, sink: &mut S) {
        if let State::Garbage { reported: false } = self.state
            && self.garbage_len > self.max_message_bytes
        {
            self.state = State::Garbage { reported: true };
            let kept = self.garbage_len.min(SAMPLE_BYTES);
            sink.rejected(Rejection {
                reason: RejectReason::TooLong {
                    limit: self.max_message_bytes,
                },
                sample: &self.sample[..kept],
                truncated: true,
            });
        }
    }

    fn close_garbage<S: Sink>(&mut self, sink: &mut S) {
        if self.state == State::Request {
            sink.rejected(Rejection {
                reason: RejectReason::BadRequest,
                sample: &self.sample[..self.garbage_len],
                truncated: false,
            });
        } else if let State::Garbage { reported: false } = self.state {
            let kept = self.garbage_len.min(SAMPLE_BYTES);
            let truncated = self.garbage_len > kept;
            let sample = &self.sample[..kept];
            sink.rejected(Rejection {
                reason: classify(sample, truncated),
                sample,
                truncated,
            });
        }
        self.state = State::Idle;
        self.garbage_len = 0;
    }

    /// Rejects a run that is only word bytes (a held `ping` and a proper
    /// prefix of a word) cut short by a separator, a stale burst or `finish`.
    fn reject_fragment<S: Sink>(&mut self, held: bool, fragment: &[u8], sink: &mut S) {
        let len = self.put_prefix(held, fragment);
        sink.rejected(Rejection {
            reason: RejectReason::UnknownWord,
            sample: &self.sample[..len],
            truncated: false,
        });
    }
}

/// What a `?` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Ping,
    Status,
}

/// The kind and reply name of a complete `?ping NAME` or `?status NAME`
/// request, if it is one.
fn parse_request(request: &[u8]) -> Option<(Request, &str)> {
    let (kind, name) = match request.strip_prefix(PING_REQUEST) {
        Some(name) => (Request::Ping, name),
        None => (Request::Status, request.strip_prefix(STATUS_REQUEST)?),
    };
    let name = is_plain_reply_name(name).then(|| std::str::from_utf8(name).ok())??;
    Some((kind, name))
}

/// A name that can only mean a file directly inside the reply directory.
pub fn is_plain_reply_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REPLY_NAME
        && name[0] != b'.'
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Judges UTF-8 on the sample; a multi-byte character cut by the truncation
/// does not count against it.
fn classify(sample: &[u8], truncated: bool) -> RejectReason {
    match std::str::from_utf8(sample) {
        Ok(_) => RejectReason::UnknownWord,
        Err(e) if truncated && e.error_len().is_none() => RejectReason::UnknownWord,
        Err(_) => RejectReason::NotUtf8,
    }
}

/// Escapes a sample for a log line: printable ASCII as is, the rest as `\xNN`
/// (quotes and backslashes escaped), `…` appended when truncated.
pub fn escape_sample(sample: &[u8], truncated: bool) -> String {
    let mut out = String::with_capacity(sample.len() + 8);
    for &byte in sample {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(byte as char),
            _ => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    if truncated {
        out.push('…');
    }
    out
}

/// A sink that records everything; used by tests, the fuzzer and the benches.
#[doc(hidden)]
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorder {
    pub events: Vec<Event>,
}

/// One recorded parser output; consecutive pings are merged into one count
/// so that recordings do not depend on how the parser batched them.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Pings(u64),
    End,
    PingWithReply(String),
    StatusRequest(String),
    Rejected {
        reason: RejectReason,
        sample: Vec<u8>,
        truncated: bool,
    },
}

impl Sink for Recorder {
    fn pings(&mut self, count: u64) {
        if let Some(Event::Pings(n)) = self.events.last_mut() {
            *n += count;
        } else {
            self.events.push(Event::Pings(count));
        }
    }

    fn end(&mut self) {
        self.events.push(Event::End);
    }

    fn ping_with_reply(&mut self, reply_to: &str) {
        self.events.push(Event::PingWithReply(reply_to.to_owned()));
    }

    fn status_request(&mut self, reply_to: &str) {
        self.events.push(Event::StatusRequest(reply_to.to_owned()));
    }

    fn rejected(&mut self, rejection: Rejection<'_>) {
        self.events.push(Event::Rejected {
            reason: rejection.reason,
            sample: rejection.sample.to_vec(),
            truncated: rejection.truncated,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reject_reason_has_its_own_label() {
        let reasons = [
            RejectReason::BadRequest,
            RejectReason::UnknownWord,
            RejectReason::NotUtf8,
            RejectReason::TooLong { limit: 8 },
        ];
        let labels: Vec<&str> = reasons.iter().map(RejectReason::label).collect();
        assert_eq!(labels, RejectReason::LABELS);
        for (i, reason) in reasons.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }

    /// Feeds `chunks` (with `end_of_burst` after each when `bursts`), then
    /// finishes: the end of the stream.
    fn parse_bursts(chunks: &[&[u8]], max: usize, bursts: bool) -> Vec<Event> {
        let mut parser = Parser::new(max);
        let mut rec = Recorder::default();
        for chunk in chunks {
            parser.feed(chunk, &mut rec);
            assert!(parser.pending_bytes() <= BUFFER_BYTES);
            if bursts {
                parser.end_of_burst(&mut rec);
            }
        }
        parser.finish(&mut rec);
        assert_eq!(parser.pending_bytes(), 0);
        rec.events
    }

    fn parse(chunks: &[&[u8]], max: usize) -> Vec<Event> {
        parse_bursts(chunks, max, false)
    }

    /// One byte per `feed`.
    fn bytewise(input: &[u8], bursts: bool) -> Vec<Event> {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        parse_bursts(&bytes, 4096, bursts)
    }

    fn parse_all(input: &[u8]) -> Vec<Event> {
        parse(&[input], 4096)
    }

    fn unknown(sample: &[u8]) -> Event {
        Event::Rejected {
            reason: RejectReason::UnknownWord,
            sample: sample.to_vec(),
            truncated: false,
        }
    }

    /// Every framing from the issue, and every split of it into two and three
    /// reads, gives the same events as the unsplit stream.
    #[test]
    fn every_split_of_every_framing_gives_the_same_events() {
        let seed: Vec<u8> = [&b"ping".repeat(100)[..], b"end"].concat();
        let framings: Vec<(&str, Vec<u8>, Vec<Event>)> = vec![
            ("echo", b"ping\n".to_vec(), vec![Event::Pings(1)]),
            ("crlf", b"ping\r\n".to_vec(), vec![Event::Pings(1)]),
            ("nul", b"ping\0".to_vec(), vec![Event::Pings(1)]),
            ("printf", b"ping".to_vec(), vec![Event::Pings(1)]),
            ("seed", seed, vec![Event::Pings(100), Event::End]),
            ("end", b"end\n".to_vec(), vec![Event::End]),
            (
                "mixed",
                b"ping\r\nping\0\0ping \t end\n\nping".to_vec(),
                vec![Event::Pings(3), Event::End, Event::Pings(1)],
            ),
            (
                "garbage between",
                b"ping\nhello\nping\n".to_vec(),
                vec![Event::Pings(1), unknown(b"hello"), Event::Pings(1)],
            ),
            ("many lines", b"ping\n".repeat(23), vec![Event::Pings(23)]),
            (
                "request",
                b"?ping client-1\n".to_vec(),
                vec![Event::PingWithReply("client-1".to_owned())],
            ),
            (
                "fifo-pingctl",
                b"\nping\n\nend\n\n?ping c\n".to_vec(),
                vec![
                    Event::Pings(1),
                    Event::End,
                    Event::PingWithReply("c".to_owned()),
                ],
            ),
            (
                "whole words among bad ones",
                b"endless ping end_\npingu\tpingx\r\npingpong\0end".to_vec(),
                vec![
                    unknown(b"endless"),
                    Event::Pings(1),
                    unknown(b"end_"),
                    unknown(b"pingu"),
                    unknown(b"pingx"),
                    unknown(b"pingpong"),
                    Event::End,
                ],
            ),
        ];
        for (name, input, expected) in &framings {
            assert_eq!(&parse_all(input), expected, "framing {name} unsplit");
            for a in 0..=input.len() {
                assert_eq!(
                    &parse(&[&input[..a], &input[a..]], 4096),
                    expected,
                    "framing {name} split at {a}"
                );
                for b in a..=input.len() {
                    assert_eq!(
                        &parse(&[&input[..a], &input[a..b], &input[b..]], 4096),
                        expected,
                        "framing {name} split at {a} and {b}"
                    );
                }
            }
        }
    }

    /// The seed framings, whole words only: the same events whatever the
    /// reads, also with a burst ending after every read (the seed client's
    /// separate `ping` writes, `printf ping`).
    #[test]
    fn seed_framings_survive_bursts_after_every_byte() {
        let seed: Vec<u8> = [&b"ping".repeat(100)[..], b"end"].concat();
        let cases: Vec<(&[u8], Vec<Event>)> = vec![
            (&seed, vec![Event::Pings(100), Event::End]),
            (b"ping", vec![Event::Pings(1)]),
            (b"end", vec![Event::End]),
            (b"ping\0", vec![Event::Pings(1)]),
            (b"ping\n", vec![Event::Pings(1)]),
            (b"ping\r\n", vec![Event::Pings(1)]),
            (b"pingpingend\n", vec![Event::Pings(2), Event::End]),
            (b"\nping\n\nend\n", vec![Event::Pings(1), Event::End]),
        ];
        for (input, expected) in &cases {
            assert_eq!(&bytewise(input, false), expected, "{input:?} byte-wise");
            assert_eq!(&bytewise(input, true), expected, "{input:?} bursts");
            for a in 0..=input.len() {
                let halves = [&input[..a], &input[a..]];
                assert_eq!(
                    &parse_bursts(&halves, 4096, true),
                    expected,
                    "{input:?} at {a}"
                );
            }
        }
    }

    #[test]
    fn a_complete_word_waits_for_its_next_byte() {
        let mut parser = Parser::new(4096);
        let mut rec = Recorder::default();
        parser.feed(b"pin", &mut rec);
        parser.feed(b"g", &mut rec);
        assert!(rec.events.is_empty(), "`pingu` would not be a ping");
        assert_eq!(parser.pending_bytes(), 4);
        parser.feed(b"\n", &mut rec);
        assert_eq!(rec.events, vec![Event::Pings(1)]);
        parser.feed(b"en", &mut rec);
        parser.feed(b"d", &mut rec);
        assert_eq!(rec.events, vec![Event::Pings(1)], "`endless` would not end");
        parser.feed(b" ", &mut rec);
        assert_eq!(rec.events, vec![Event::Pings(1), Event::End]);
    }

    #[test]
    fn the_end_of_a_burst_or_of_the_stream_completes_a_word() {
        for (word, event) in [(&b"ping"[..], Event::Pings(1)), (b"end", Event::End)] {
            // `printf ping`: the read emptied the pipe.
            let mut parser = Parser::new(4096);
            let mut rec = Recorder::default();
            parser.feed(word, &mut rec);
            assert!(rec.events.is_empty());
            parser.end_of_burst(&mut rec);
            assert_eq!(rec.events, vec![event.clone()]);
            assert_eq!(parser.pending_bytes(), 0);
            // Shutdown.
            let mut parser = Parser::new(4096);
            let mut rec = Recorder::default();
            parser.feed(word, &mut rec);
            parser.finish(&mut rec);
            assert_eq!(rec.events, vec![event.clone()]);
            // Whatever the next writer sends, the word has counted.
            assert_eq!(
                parse_bursts(&[word, b"less\n"], 4096, true),
                vec![event, unknown(b"less")]
            );
        }
    }

    /// Issue 11, "Whole words": each is one unknown word, counted once, with
    /// the start of the run as its sample, and nothing in it is acted on;
    /// whole, split anywhere into two or three reads, byte by byte, followed
    /// by any separator or by nothing (then `finish` rejects it).
    #[test]
    fn words_glued_to_other_bytes_are_one_unknown_word() {
        let words: [&[u8]; 12] = [
            b"endless",
            b"end_",
            b"pingu",
            b"endpoint=x",
            b"pingx",
            b"pingpong",
            b"endping_",
            b"endping",
            b"endend",
            b"end?ping",
            b"ping?ping",
            b"pingpi",
        ];
        for word in words {
            for tail in [&b""[..], b"\n", b"\r\n", b"\0", b" ", b"\t"] {
                let input = [word, tail].concat();
                let expected = vec![unknown(word)];
                assert_eq!(parse_all(&input), expected, "{input:?}");
                assert_eq!(bytewise(&input, false), expected, "{input:?} byte-wise");
                for a in 0..=input.len() {
                    for b in a..=input.len() {
                        let parts = [&input[..a], &input[a..b], &input[b..]];
                        assert_eq!(parse(&parts, 4096), expected, "{input:?} at {a}, {b}");
                    }
                }
            }
            // In a stream of good lines, it costs nothing else.
            let input = [&b"ping\n"[..], word, b"\nping\n"].concat();
            let expected = vec![Event::Pings(1), unknown(word), Event::Pings(1)];
            assert_eq!(parse_all(&input), expected, "{input:?}");
            assert_eq!(bytewise(&input, false), expected, "{input:?} byte-wise");
            // Too long: the run is one bad run, reported once as too long.
            let events = parse(&[word], 2);
            assert_eq!(events.len(), 1, "{word:?}: {events:?}");
            if word != b"pingpi" {
                assert!(
                    matches!(
                        events[0],
                        Event::Rejected {
                            reason: RejectReason::TooLong { limit: 2 },
                            ..
                        }
                    ),
                    "{word:?}: {events:?}"
                );
            }
        }
        // The run reaching past the sample is still one rejection.
        let long = [&b"endless"[..], &[b'x'; 100]].concat();
        assert_eq!(parse_all(&long).len(), 1);
    }

    #[test]
    fn glued_words_count_when_the_next_word_is_complete() {
        assert_eq!(parse_all(b"pingend"), vec![Event::Pings(1), Event::End]);
        assert_eq!(
            parse_all(b"pingpingx\n"),
            vec![Event::Pings(1), unknown(b"pingx")],
            "the first ping is followed by a complete word"
        );
        assert_eq!(
            parse_all(b"pingendx\n"),
            vec![Event::Pings(1), unknown(b"endx")]
        );
        assert_eq!(
            parse_all(b"pingpin\n"),
            vec![unknown(b"pingpin")],
            "`pin` is no complete word"
        );
        // A held ping and a half word across reads and bursts.
        let mut parser = Parser::new(4096);
        let mut rec = Recorder::default();
        parser.feed(b"pingpi", &mut rec);
        parser.end_of_burst(&mut rec);
        assert!(rec.events.is_empty(), "`pingpi` is not decided yet");
        assert_eq!(parser.pending_bytes(), 6);
        parser.feed(b"ng\n", &mut rec);
        assert_eq!(
            rec.events,
            vec![Event::Pings(2)],
            "a large write cut by the pipe"
        );
        // ... or a stale half word, then another writer.
        for next in [&b"ping\n"[..], b"end\n", b"\nping\n"] {
            let events = parse_bursts(&[b"pingpi", next], 4096, true);
            assert_eq!(events[0], unknown(b"pingpi"), "{next:?}");
            assert_eq!(events.len(), 2, "{next:?}: {events:?}");
        }
        // ... or the end of the stream.
        assert_eq!(
            parse_bursts(&[b"pingpi"], 4096, true),
            vec![unknown(b"pingpi")]
        );
        // A stale half word completed by the same write, then glued bytes.
        assert_eq!(
            parse_bursts(&[b"pi", b"ngx\n"], 4096, true),
            vec![unknown(b"pingx")]
        );
    }

    /// The batched paths still make one `pings` call per run.
    #[test]
    fn runs_of_pings_are_reported_in_one_call() {
        #[derive(Default)]
        struct Calls(Vec<u64>);
        impl Sink for Calls {
            fn pings(&mut self, count: u64) {
                self.0.push(count);
            }
            fn end(&mut self) {
                self.0.push(0);
            }
            fn ping_with_reply(&mut self, _: &str) {}
            fn status_request(&mut self, _: &str) {}
            fn rejected(&mut self, _: Rejection<'_>) {}
        }
        let feed = |input: &[u8]| {
            let mut parser = Parser::new(4096);
            let mut calls = Calls::default();
            parser.feed(input, &mut calls);
            parser.end_of_burst(&mut calls);
            calls.0
        };
        assert_eq!(feed(&b"ping\n".repeat(1000)), vec![1000]);
        assert_eq!(feed(&b"ping\r\n".repeat(1000)), vec![1000]);
        // The seed: the last ping is confirmed by the `end` after it.
        let seed = [&b"ping".repeat(1000)[..], b"end"].concat();
        assert_eq!(feed(&seed), vec![1000, 0]);
        // Held over a read: the held ping joins the next read's batch.
        let mut parser = Parser::new(4096);
        let mut calls = Calls::default();
        parser.feed(&b"ping".repeat(100), &mut calls);
        assert_eq!(calls.0, vec![99]);
        parser.feed(&b"ping".repeat(100), &mut calls);
        parser.feed(b"\n", &mut calls);
        assert_eq!(calls.0, vec![99, 100, 1]);
    }

    #[test]
    fn unknown_words_and_prefixes_are_rejected() {
        assert_eq!(
            parse_all(b"pong\n"),
            vec![unknown(b"pong")],
            "a word sharing a first letter"
        );
        assert_eq!(parse_all(b"pin\n"), vec![unknown(b"pin")]);
        assert_eq!(parse_all(b"PING\n"), vec![unknown(b"PING")]);
        assert_eq!(parse_all(b"pepper\n"), vec![unknown(b"pepper")]);
        assert_eq!(
            parse_all(b"pingpong\n"),
            vec![unknown(b"pingpong")],
            "a ping glued to bytes that are no word is no ping"
        );
        assert_eq!(
            parse_all(b"xping\nping\n"),
            vec![unknown(b"xping"), Event::Pings(1)]
        );
    }

    #[test]
    fn non_utf8_is_rejected_with_its_reason() {
        let events = parse_all(b"\xff\xfeping\nping\n");
        assert_eq!(
            events,
            vec![
                Event::Rejected {
                    reason: RejectReason::NotUtf8,
                    sample: b"\xff\xfeping".to_vec(),
                    truncated: false
                },
                Event::Pings(1)
            ]
        );
        // Valid multi-byte UTF-8 is an unknown word, not an encoding error.
        assert_eq!(
            parse_all("pïng\n".as_bytes()),
            vec![unknown("pïng".as_bytes())]
        );
    }

    #[test]
    fn too_long_runs_are_rejected_once_and_discarded_to_the_separator() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nping\n");
        let events = parse(&[&input], 16);
        assert_eq!(events.len(), 2, "{events:?}");
        match &events[0] {
            Event::Rejected {
                reason: RejectReason::TooLong { limit: 16 },
                sample,
                truncated: true,
            } => assert_eq!(sample.len(), 17),
            other => panic!("expected a too-long rejection, got {other:?}"),
        }
        assert_eq!(events[1], Event::Pings(1));
    }

    #[test]
    fn memory_stays_bounded_on_endless_garbage() {
        let mut parser = Parser::new(4096);
        let mut rec = Recorder::default();
        let chunk = vec![b'z'; 65536];
        for _ in 0..64 {
            parser.feed(&chunk, &mut rec);
            assert!(parser.pending_bytes() <= SAMPLE_BYTES);
        }
        assert_eq!(rec.events.len(), 1, "rejected once, not per chunk");
    }

    #[test]
    fn end_of_burst_closes_garbage_so_the_next_writer_is_served() {
        let mut parser = Parser::new(4096);
        let mut rec = Recorder::default();
        parser.feed(b"garbage", &mut rec);
        assert!(rec.events.is_empty(), "the run may still grow");
        parser.end_of_burst(&mut rec);
        assert_eq!(rec.events, vec![unknown(b"garbage")]);
        parser.feed(b"ping\n", &mut rec);
        assert_eq!(rec.events, vec![unknown(b"garbage"), Event::Pings(1)]);
    }

    #[test]
    fn a_stale_half_word_does_not_swallow_the_next_writer() {
        for next in [&b"ping\n"[..], b"end\n", b"\nping"] {
            let mut parser = Parser::new(4096);
            let mut rec = Recorder::default();
            parser.feed(b"pi", &mut rec);
            parser.end_of_burst(&mut rec);
            parser.feed(next, &mut rec);
            parser.end_of_burst(&mut rec);
            assert_eq!(rec.events[0], unknown(b"pi"), "next = {next:?}");
            assert_eq!(rec.events.len(), 2, "{:?}", rec.events);
        }
    }

    #[test]
    fn a_large_write_split_mid_word_by_the_pipe_still_counts() {
        let mut parser = Parser::new(4096);
        let mut rec = Recorder::default();
        parser.feed(b"ping\npi", &mut rec);
        parser.end_of_burst(&mut rec);
        parser.feed(b"ng\nping\n", &mut rec);
        assert_eq!(rec.events, vec![Event::Pings(3)]);
    }

    #[test]
    fn finish_rejects_what_is_pending() {
        let mut parser = Parser::new(4096);
        let mut rec = Recorder::default();
        parser.feed(b"ping\npi", &mut rec);
        parser.finish(&mut rec);
        assert_eq!(rec.events, vec![Event::Pings(1), unknown(b"pi")]);
    }

    #[test]
    fn requests_name_a_reply_fifo_and_do_not_disturb_the_seed_framings() {
        let reply = |n: &str| Event::PingWithReply(n.to_owned());
        let input = b"?ping client.42_a-b\npingpingend\n?ping x\0";
        let expected = vec![
            reply("client.42_a-b"),
            Event::Pings(2),
            Event::End,
            reply("x"),
        ];
        for a in 0..=input.len() {
            assert_eq!(
                parse(&[&input[..a], &input[a..]], 4096),
                expected,
                "split at {a}"
            );
        }
        let bad = |sample: &[u8]| Event::Rejected {
            reason: RejectReason::BadRequest,
            sample: sample.to_vec(),
            truncated: false,
        };
        assert_eq!(
            parse_all(b"?ping ../x\nping\n"),
            vec![bad(b"?ping ../x"), Event::Pings(1)]
        );
        assert_eq!(parse_all(b"?ping a/b\n"), vec![bad(b"?ping a/b")]);
        assert_eq!(parse_all(b"?ping .hidden\n"), vec![bad(b"?ping .hidden")]);
        assert_eq!(parse_all(b"?ping \n"), vec![bad(b"?ping ")]);
        assert_eq!(parse_all(b"?pong x\n"), vec![bad(b"?pong x")]);
        // A request starts between words, not glued to one.
        assert_eq!(
            parse_all(b"end?ping x\n"),
            vec![unknown(b"end?ping"), unknown(b"x")]
        );
        let long = format!("?ping {}\nping\n", "a".repeat(65));
        let events = parse_all(long.as_bytes());
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1], Event::Pings(1));
        let ok = format!("?ping {}\n", "a".repeat(64));
        assert_eq!(parse_all(ok.as_bytes()), vec![reply(&"a".repeat(64))]);
    }

    #[test]
    fn an_unterminated_request_is_rejected_when_the_burst_ends() {
        let mut parser = Parser::new(4096);
        let mut rec = Recorder::default();
        parser.feed(b"?ping abc", &mut rec);
        parser.end_of_burst(&mut rec);
        parser.feed(b"ping\n", &mut rec);
        assert_eq!(rec.events.len(), 2, "{:?}", rec.events);
        assert_eq!(rec.events[1], Event::Pings(1));
    }

    #[test]
    fn samples_are_escaped_for_the_log() {
        assert_eq!(
            escape_sample(b"a\"b\\c\n\xff", false),
            "a\\\"b\\\\c\\x0a\\xff"
        );
        assert_eq!(escape_sample(b"abc", true), "abc…");
    }

    #[test]
    fn the_fast_path_agrees_with_the_byte_loop() {
        // Offsets that put the 40-byte block comparison at every phase.
        for lead in 0..6 {
            let mut input = b"ping ".repeat(lead);
            input.extend_from_slice(&b"ping\n".repeat(37));
            input.extend_from_slice(b"end");
            let events = parse_all(&input);
            assert_eq!(events, vec![Event::Pings(lead as u64 + 37), Event::End]);
        }
    }

    #[test]
    fn the_back_to_back_fast_path_agrees_with_the_byte_loop() {
        // Runs of `ping` with no separator (and CRLF lines) at every phase of
        // the 32-byte block, split at every point, ending in a partial word.
        for lead in 0..9 {
            let mut input = b"ping\r\n".repeat(lead);
            input.extend_from_slice(&b"ping".repeat(19));
            input.extend_from_slice(b"pingpong\npingend\npi");
            let expected = vec![
                Event::Pings(lead as u64 + 19),
                unknown(b"pingpong"),
                Event::Pings(1),
                Event::End,
                unknown(b"pi"),
            ];
            for split in 0..=input.len() {
                let events = parse(&[&input[..split], &input[split..]], 4096);
                assert_eq!(events, expected, "lead {lead}, split at {split}");
            }
        }
    }

    /// The last ping of a run (after 32-byte blocks at every phase, and after
    /// 40-byte line blocks) waits for what follows it; the others count.
    #[test]
    fn the_last_ping_of_a_run_waits_at_every_phase() {
        let pings = |n: u64| (n > 0).then_some(Event::Pings(n));
        for lines in [0, 9] {
            for n in 1..=20u64 {
                let lead = b"ping\n".repeat(lines);
                let before = lines as u64;
                let cases: Vec<(&[u8], Vec<Event>)> = vec![
                    (b"", vec![Event::Pings(before + n)]),
                    (b"\n", vec![Event::Pings(before + n)]),
                    (b"end", vec![Event::Pings(before + n), Event::End]),
                    (b"endx", vec![Event::Pings(before + n), unknown(b"endx")]),
                    (
                        b"x\n",
                        [pings(before + n - 1), Some(unknown(b"pingx"))]
                            .into_iter()
                            .flatten()
                            .collect(),
                    ),
                    (
                        b"pong",
                        [pings(before + n - 1), Some(unknown(b"pingpong"))]
                            .into_iter()
                            .flatten()
                            .collect(),
                    ),
                    (
                        b"pi",
                        [pings(before + n - 1), Some(unknown(b"pingpi"))]
                            .into_iter()
                            .flatten()
                            .collect(),
                    ),
                ];
                for (suffix, expected) in cases {
                    let input = [&lead[..], &b"ping".repeat(n as usize), suffix].concat();
                    for split in 0..=input.len() {
                        let events = parse(&[&input[..split], &input[split..]], 4096);
                        assert_eq!(
                            events, expected,
                            "{lines} lines, {n} pings, {suffix:?}, split at {split}"
                        );
                    }
                }
            }
        }
    }
}
