//! A reference model of the control protocol, written independently of
//! `src/protocol.rs`: it sees the whole stream at once and cuts it into
//! tokens with plain slice operations, with no state machine, no fast path and
//! no batching. The property tests (`tests/protocol_props.rs`) and the fuzz
//! target (`fuzz/fuzz_targets/parser.rs`, which includes this file by path)
//! check that the incremental parser, fed the stream in any pieces, reports
//! exactly what this model reports for the whole stream.
//!
//! The framing rules it encodes (contract, "Protocol"; issue 11, "Whole
//! words"):
//! - separators `\n \r \0 space tab` are skipped;
//! - words count only when whole: `ping` when the next byte is a separator,
//!   the end of the stream, or the start of another complete word (`ping` or
//!   `end`, so the seed's `pingping…pingend` counts every word); `end` only
//!   when the next byte is a separator or the end of the stream;
//! - a word that is not whole starts a bad run (below), its bytes included:
//!   `endless`, `pingpong`, `endping_` are one unknown word each;
//! - a proper prefix of a word, alone or after a `ping` glued to it (`pi`,
//!   `pingpi`), directly followed by a separator (or the end of the stream)
//!   is an unknown word, reported with those bytes;
//! - `?` between words starts a request that ends at `\n`, `\r` or `\0`
//!   (blanks belong to it); within 72 bytes (`?status ` + a 64-byte name) it is
//!   a ping with a reply, a status request or a bad request, beyond that it is a bad run;
//! - anything else is a bad run up to the next separator: rejected once, as
//!   too long as soon as it grows past `max_message_bytes`, else when it ends,
//!   with a sample of its first 64 bytes.
//!
//! `finish` is implied at the end of the stream. `end_of_burst` is not
//! modelled; instead [`Model::boundaries`] lists the offsets where the parser
//! must be between tokens, where an `end_of_burst` must change nothing (a
//! `ping` or `end` whose wholeness is already decided by the bytes after it
//! may still be held there: the burst end only counts it earlier).

#![allow(dead_code)]

use fifo_pingd::protocol::{Event, MAX_REPLY_NAME, RejectReason, SAMPLE_BYTES, Sink};

/// The longest request: `?status ` and the longest reply name.
pub const MAX_REQUEST: usize = 8 + MAX_REPLY_NAME;

/// The most bytes a parser may hold between calls, whatever
/// `max_message_bytes` is: a sample of a bad run or a whole request.
pub const PENDING_BOUND: usize = if MAX_REQUEST > SAMPLE_BYTES {
    MAX_REQUEST
} else {
    SAMPLE_BYTES
};

/// What the model found in one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Events in stream order, consecutive pings merged (as `Recorder` does).
    pub events: Vec<Event>,
    /// Offsets (0 and the end included where they qualify) after which the
    /// parser is between tokens.
    pub boundaries: Vec<usize>,
}

impl Model {
    pub fn pings(&self) -> u64 {
        self.events
            .iter()
            .map(|e| match e {
                Event::Pings(n) => *n,
                Event::PingWithReply(_) => 1,
                _ => 0,
            })
            .sum()
    }

    pub fn plain_pings(&self) -> u64 {
        self.events
            .iter()
            .map(|e| if let Event::Pings(n) = e { *n } else { 0 })
            .sum()
    }
}

pub fn is_separator(b: u8) -> bool {
    matches!(b, b'\n' | b'\r' | b'\0' | b' ' | b'\t')
}

fn is_request_end(b: u8) -> bool {
    matches!(b, b'\n' | b'\r' | b'\0')
}

fn valid_reply_name(name: &[u8]) -> Option<&str> {
    let ok = (1..=MAX_REPLY_NAME).contains(&name.len())
        && name[0] != b'.'
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        std::str::from_utf8(name).ok()
    } else {
        None
    }
}

/// First separator at or after `from` in `input` (or `input.len()`).
fn run_end(input: &[u8], from: usize) -> usize {
    input[from..]
        .iter()
        .position(|&b| is_separator(b))
        .map_or(input.len(), |p| from + p)
}

fn collect(events: &mut Vec<Event>, event: Event) {
    match (events.last_mut(), &event) {
        (Some(Event::Pings(n)), Event::Pings(m)) => *n += m,
        _ => events.push(event),
    }
}

/// A bad run. `known` bytes of it were known before the parser could tell it
/// was bad (a word prefix, or a request that outgrew 72 bytes): the length
/// check first applies to the byte after them.
fn bad_run(events: &mut Vec<Event>, run: &[u8], known: usize, max: usize) {
    let report_at = (max + 1).max(known + 1);
    if run.len() >= report_at {
        let kept = report_at.min(SAMPLE_BYTES);
        events.push(Event::Rejected {
            reason: RejectReason::TooLong { limit: max },
            sample: run[..kept].to_vec(),
            truncated: true,
        });
        return;
    }
    let kept = run.len().min(SAMPLE_BYTES);
    let truncated = run.len() > kept;
    let sample = &run[..kept];
    // A multi-byte character cut by the sampling is not an encoding error.
    let reason = match std::str::from_utf8(sample) {
        Ok(_) => RejectReason::UnknownWord,
        Err(e) if truncated && e.error_len().is_none() => RejectReason::UnknownWord,
        Err(_) => RejectReason::NotUtf8,
    };
    events.push(Event::Rejected {
        reason,
        sample: sample.to_vec(),
        truncated,
    });
}

/// The run at `start` is not a whole word: `held` bytes of it (0, or 4 for a
/// `ping` that is not whole) and then no complete word. Either word bytes up
/// to a separator or the end of the stream (a fragment: an unknown word of
/// exactly those bytes) or a bad run up to the next separator, whose length
/// check starts at the first byte that is no word byte. Returns the offset
/// after it, where the parser is not between tokens: a fragment and a bad
/// run both end only when their separator is read.
fn not_whole(
    events: &mut Vec<Event>,
    input: &[u8],
    start: usize,
    held: usize,
    max: usize,
) -> usize {
    let rest = &input[start + held..];
    let word: &[u8] = match rest.first() {
        Some(b'p') => b"ping",
        Some(b'e') => b"end",
        _ => b"",
    };
    let matched = rest.iter().zip(word).take_while(|(a, b)| a == b).count();
    assert!(matched < word.len().max(1), "a complete word is whole here");
    let known = held + matched;
    if known > 0 && input.get(start + known).is_none_or(|&b| is_separator(b)) {
        // Word bytes cut short by a separator or the end of the stream.
        events.push(Event::Rejected {
            reason: RejectReason::UnknownWord,
            sample: input[start..start + known].to_vec(),
            truncated: false,
        });
        start + known
    } else {
        let end = run_end(input, start + known);
        bad_run(events, &input[start..end], known, max);
        end
    }
}

/// Runs the model over a whole stream with this `max_message_bytes`.
pub fn model(input: &[u8], max_message_bytes: usize) -> Model {
    let max = max_message_bytes.max(1);
    let mut events = Vec::new();
    let mut boundaries = Vec::new();
    let mut i = 0;
    // Whether the parser is between tokens at `i`: not right after a bad run
    // or a word prefix, which only end when their separator is read.
    let mut between = true;
    loop {
        if between {
            boundaries.push(i);
        }
        if i >= input.len() {
            break;
        }
        between = true;
        let rest = &input[i..];
        if is_separator(rest[0]) {
            i += 1;
        } else if rest.starts_with(b"ping") {
            let next = &rest[4..];
            let whole = next.first().is_none_or(|&b| is_separator(b))
                || next.starts_with(b"ping")
                || next.starts_with(b"end");
            if whole {
                collect(&mut events, Event::Pings(1));
                i += 4;
            } else {
                i = not_whole(&mut events, input, i, 4, max);
                between = false;
            }
        } else if rest.starts_with(b"end") {
            if rest.get(3).is_none_or(|&b| is_separator(b)) {
                events.push(Event::End);
                i += 3;
            } else {
                // Nothing, not even a word, may be glued after `end`.
                let end = run_end(input, i + 3);
                bad_run(&mut events, &input[i..end], 3, max);
                i = end;
                between = false;
            }
        } else if rest[0] == b'?' {
            let window = &rest[..rest.len().min(MAX_REQUEST + 1)];
            match window.iter().position(|&b| is_request_end(b)) {
                Some(j) => {
                    let request = &rest[..j];
                    let ping = request.strip_prefix(b"?ping ").and_then(valid_reply_name);
                    let status = request.strip_prefix(b"?status ").and_then(valid_reply_name);
                    match (ping, status) {
                        (Some(name), _) => events.push(Event::PingWithReply(name.to_owned())),
                        (None, Some(name)) => events.push(Event::StatusRequest(name.to_owned())),
                        (None, None) => events.push(Event::Rejected {
                            reason: RejectReason::BadRequest,
                            sample: request.to_vec(),
                            truncated: false,
                        }),
                    }
                    i += j + 1;
                }
                None if rest.len() <= MAX_REQUEST => {
                    // Cut off by the end of the stream.
                    events.push(Event::Rejected {
                        reason: RejectReason::BadRequest,
                        sample: rest.to_vec(),
                        truncated: false,
                    });
                    i = input.len();
                }
                None => {
                    // Too long for a request: its first 73 bytes, blanks
                    // included, start a bad run that ends at a separator.
                    let end = run_end(input, i + MAX_REQUEST + 1);
                    bad_run(&mut events, &input[i..end], MAX_REQUEST, max);
                    i = end;
                    between = false;
                }
            }
        } else {
            i = not_whole(&mut events, input, i, 0, max);
            between = false;
        }
    }
    Model { events, boundaries }
}

/// A sink that only checks what the daemon relies on: samples stay small.
pub struct Checked<S: Sink> {
    pub inner: S,
    pub max: usize,
}

impl<S: Sink> Sink for Checked<S> {
    fn pings(&mut self, count: u64) {
        assert!(count > 0, "pings(0) reported");
        self.inner.pings(count);
    }
    fn end(&mut self) {
        self.inner.end();
    }
    fn ping_with_reply(&mut self, reply_to: &str) {
        assert!(
            valid_reply_name(reply_to.as_bytes()).is_some(),
            "reply name {reply_to:?} is not a plain file name"
        );
        self.inner.ping_with_reply(reply_to);
    }
    fn status_request(&mut self, reply_to: &str) {
        assert!(
            valid_reply_name(reply_to.as_bytes()).is_some(),
            "reply name {reply_to:?} is not a plain file name"
        );
        self.inner.status_request(reply_to);
    }
    fn rejected(&mut self, rejection: fifo_pingd::protocol::Rejection<'_>) {
        assert!(
            rejection.sample.len() <= PENDING_BOUND,
            "a sample of {} bytes",
            rejection.sample.len()
        );
        if let RejectReason::TooLong { limit } = rejection.reason {
            assert_eq!(limit, self.max.max(1), "too-long limit");
        }
        self.inner.rejected(rejection);
    }
}
