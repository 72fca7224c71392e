//! Fuzz target for the protocol parser (`fifo_pingd::protocol::Parser`).
//!
//! It checks invariants, not only the absence of crashes:
//! 1. the unsplit stream gives exactly the events of the independent reference
//!    model (`tests/integration/protocol_model/mod.rs`): same pings, ends, replies and
//!    rejections with the same reasons and samples;
//! 2. the stream split into reads at fuzzer-chosen points gives the same
//!    events;
//! 3. an `end_of_burst` wherever the model is between tokens changes nothing;
//! 4. with `end_of_burst` (and a reload changing `max_message_bytes`) at the
//!    fuzzer-chosen points, nothing panics, samples stay small, and a stream
//!    of only whole words and separators (the model finds nothing but pings
//!    and ends) still gives the same events;
//! 5. after every call the parser holds at most `PENDING_BOUND` (70) bytes,
//!    whatever `max_message_bytes` is, and `finish` leaves nothing pending.
//!
//! Input layout: byte 0 picks `max_message_bytes`, byte 1 the number of cuts
//! (0..16), then two bytes per cut (little-endian, modulo the length + 1),
//! then the stream. Shorter inputs use the default limit and no cuts.

#![no_main]

use fifo_pingd::protocol::{Event, Parser, Recorder};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/integration/protocol_model/mod.rs"]
mod protocol_model;

use protocol_model::{Checked, PENDING_BOUND, model};

/// Small limits that bad runs reach, the boundaries around the 64-byte sample
/// and the 70-byte request, and the real defaults.
fn max_for(selector: u8) -> usize {
    match selector {
        0..=127 => selector as usize + 1,
        _ => [4096, 1 << 20, 63, 64, 65, 69, 70, 71][usize::from(selector & 7)],
    }
}

struct Run {
    parser: Parser,
    sink: Checked<Recorder>,
}

impl Run {
    fn new(max: usize) -> Run {
        Run {
            parser: Parser::new(max),
            sink: Checked {
                inner: Recorder::default(),
                max,
            },
        }
    }

    fn bound(&self, at: &str) {
        let held = self.parser.pending_bytes();
        assert!(held <= PENDING_BOUND, "holding {held} bytes {at}");
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.parser.feed(bytes, &mut self.sink);
        self.bound("after feed");
    }

    fn end_of_burst(&mut self) {
        self.parser.end_of_burst(&mut self.sink);
        self.bound("after end_of_burst");
    }

    fn finish(mut self) -> Vec<Event> {
        self.parser.finish(&mut self.sink);
        assert_eq!(self.parser.pending_bytes(), 0, "pending after finish");
        self.sink.inner.events
    }
}

fn check(data: &[u8]) {
    let (max_selector, cut_count) = match data {
        [a, b, ..] => (*a, usize::from(*b % 16)),
        _ => (0xff, 0),
    };
    let header = if data.len() >= 2 {
        2 + 2 * cut_count
    } else {
        0
    };
    if data.len() < header {
        return;
    }
    let max = max_for(max_selector);
    let input = &data[header..];
    let mut cuts: Vec<usize> = data[header.min(2)..header]
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (input.len() + 1))
        .collect();
    cuts.sort_unstable();

    let expected = model(input, max);

    // 1. Unsplit.
    let mut run = Run::new(max);
    run.feed(input);
    assert_eq!(run.finish(), expected.events, "unsplit stream vs model");

    // 2. Split at the chosen points.
    let mut run = Run::new(max);
    let mut at = 0;
    for &cut in &cuts {
        run.feed(&input[at..cut]);
        at = cut;
    }
    run.feed(&input[at..]);
    assert_eq!(run.finish(), expected.events, "split at {cuts:?} vs model");

    // 3. A burst ending at every token boundary.
    let mut run = Run::new(max);
    let mut at = 0;
    for &boundary in &expected.boundaries {
        run.feed(&input[at..boundary]);
        run.end_of_burst();
        at = boundary;
    }
    run.feed(&input[at..]);
    assert_eq!(run.finish(), expected.events, "bursts at token boundaries");

    // 4. Bursts (and reloads) at arbitrary points.
    let only_words = expected
        .events
        .iter()
        .all(|e| matches!(e, Event::Pings(_) | Event::End));
    let mut run = Run::new(max);
    let mut at = 0;
    for (n, &cut) in cuts.iter().enumerate() {
        run.feed(&input[at..cut]);
        run.end_of_burst();
        if !only_words && n % 3 == 2 {
            // A SIGHUP that changes max_message_bytes mid-stream.
            let new_max = max_for(input.get(cut).copied().unwrap_or(0));
            run.parser.set_max_message_bytes(new_max);
            run.sink.max = new_max;
            run.bound("after set_max_message_bytes");
        }
        at = cut;
    }
    run.feed(&input[at..]);
    let events = run.finish();
    if only_words {
        assert_eq!(events, expected.events, "words cut by bursts at {cuts:?}");
    }
}

fuzz_target!(|data: &[u8]| check(data));
