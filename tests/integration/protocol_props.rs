//! Property tests of the protocol parser against an independent reference
//! model (`tests/protocol_model/mod.rs`), over streams built from valid
//! words, requests, separators, word prefixes and garbage:
//!
//! - any split of any stream into reads yields the same events as the model
//!   (and so as the unsplit stream);
//! - an `end_of_burst` where the model is between tokens changes nothing,
//!   and for streams of whole `ping`/`end` words and separators an
//!   `end_of_burst` anywhere (a large write cut by the pipe) changes nothing;
//! - writers that each write whole messages, interleaved with writers of
//!   garbage, lose no ping: the count is exactly what the model finds in each
//!   write on its own;
//! - the parser never holds more than a constant number of bytes, whatever
//!   `max_message_bytes` is and however long a bad run grows.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256 per property).

use crate::protocol_model::{Checked, PENDING_BOUND, is_separator, model};
use fifo_pingd::protocol::{Event, Parser, Recorder, SAMPLE_BYTES};
use proptest::prelude::*;

/// One piece of a generated stream.
#[derive(Debug, Clone)]
enum Token {
    Ping,
    End,
    Separators(Vec<u8>),
    /// `?ping NAME` with a valid name and a terminator.
    Request(String, u8),
    /// `?status NAME` with a valid name and a terminator.
    StatusRequest(String, u8),
    /// `?` and anything up to a possible terminator.
    BadRequest(Vec<u8>),
    /// A proper prefix of a word: `p`, `pi`, `pin`, `e`, `en`.
    Prefix(&'static [u8]),
    Garbage(Vec<u8>),
    Text(String),
    /// A long run without separators.
    Long(u8, usize),
    /// Bytes that, glued to a word, make it no whole word (`endless`,
    /// `pingu`, `endpoint=x`, `pingpong`, `end?ping`).
    Glue(&'static [u8]),
}

impl Token {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Token::Ping => b"ping".to_vec(),
            Token::End => b"end".to_vec(),
            Token::Separators(s) => s.clone(),
            Token::Request(name, end) => [b"?ping ", name.as_bytes(), &[*end]].concat(),
            Token::StatusRequest(name, end) => [b"?status ", name.as_bytes(), &[*end]].concat(),
            Token::BadRequest(b) => [&b"?"[..], b].concat(),
            Token::Prefix(p) => p.to_vec(),
            Token::Garbage(b) => b.clone(),
            Token::Text(s) => s.as_bytes().to_vec(),
            Token::Long(byte, n) => vec![*byte; *n],
            Token::Glue(b) => b.to_vec(),
        }
    }
}

fn separators() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'\n', b'\r', b'\0', b' ', b'\t']),
        1..4,
    )
}

fn reply_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}"
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![
        6 => Just(Token::Ping),
        1 => Just(Token::End),
        5 => separators().prop_map(Token::Separators),
        1 => (reply_name(), prop::sample::select(vec![b'\n', b'\r', b'\0']))
            .prop_map(|(n, e)| Token::Request(n, e)),
        1 => (reply_name(), prop::sample::select(vec![b'\n', b'\r', b'\0']))
            .prop_map(|(n, e)| Token::StatusRequest(n, e)),
        1 => prop::collection::vec(any::<u8>(), 0..90).prop_map(Token::BadRequest),
        1 => prop::sample::select(vec![&b"p"[..], b"pi", b"pin", b"e", b"en"]).prop_map(Token::Prefix),
        2 => prop::collection::vec(any::<u8>(), 1..80).prop_map(Token::Garbage),
        1 => "\\PC{1,12}".prop_map(Token::Text),
        1 => (prop::sample::select(vec![b'x', b'p', b'?', 0xff]), 60..300usize)
            .prop_map(|(b, n)| Token::Long(b, n)),
        2 => prop::sample::select(vec![&b"less"[..], b"_", b"u", b"point=x", b"x", b"pong", b"?", b"=", b"\xff"])
            .prop_map(Token::Glue),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..60).prop_map(|ts| ts.iter().flat_map(Token::bytes).collect())
}

/// `max_message_bytes`: small values that bad runs reach, the sample and
/// request sizes around 64 and 70, and the default.
fn max_bytes() -> impl Strategy<Value = usize> {
    prop_oneof![
        1..=8usize,
        60..=75usize,
        1..=300usize,
        Just(4096usize),
        Just(1usize << 20),
    ]
}

/// Feeds `input` cut at `cuts` (any order, any values; reduced modulo the
/// length), with `end_of_burst` after each piece when `bursts`, then finishes.
/// Checks the memory bound after every call.
fn parse_pieces(input: &[u8], max: usize, cuts: &[usize], bursts: bool) -> Vec<Event> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    let mut parser = Parser::new(max);
    let mut sink = Checked {
        inner: Recorder::default(),
        max,
    };
    let mut at = 0;
    for cut in cuts {
        parser.feed(&input[at..cut], &mut sink);
        assert!(
            parser.pending_bytes() <= PENDING_BOUND,
            "holding {} bytes after feeding up to {cut}",
            parser.pending_bytes()
        );
        if bursts {
            parser.end_of_burst(&mut sink);
            assert!(parser.pending_bytes() <= PENDING_BOUND);
        }
        at = cut;
    }
    parser.finish(&mut sink);
    assert_eq!(parser.pending_bytes(), 0, "finish leaves nothing pending");
    sink.inner.events
}

fn ping_count(events: &[Event]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            Event::Pings(n) => *n,
            Event::PingWithReply(_) => 1,
            _ => 0,
        })
        .sum()
}

proptest! {
    /// The model and the parser agree on the unsplit stream, and every split
    /// of it into reads gives the same events.
    #[test]
    fn any_split_gives_the_events_of_the_model(
        input in stream(),
        max in max_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let expected = model(&input, max);
        let whole = parse_pieces(&input, max, &[], false);
        prop_assert_eq!(&whole, &expected.events, "unsplit stream vs model");
        let split = parse_pieces(&input, max, &cuts, false);
        prop_assert_eq!(&split, &expected.events, "split at {:?}", cuts);
        // Byte by byte: the hardest split of all.
        let every: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(&parse_pieces(&input, max, &every, false), &expected.events);
    }

    /// Bursts ending between tokens (a writer finished whole messages) change
    /// nothing.
    #[test]
    fn end_of_burst_between_tokens_changes_nothing(input in stream(), max in max_bytes()) {
        let expected = model(&input, max);
        let events = parse_pieces(&input, max, &expected.boundaries, true);
        prop_assert_eq!(events, expected.events);
    }

    /// A stream of whole words and separators only (`ping`s glued or not, an
    /// `end` glued only before a separator), cut anywhere by the pipe (a
    /// writer's write larger than the pipe), with `end_of_burst` at every cut:
    /// nothing changes, not even a word cut in half.
    #[test]
    fn valid_stream_cut_anywhere_by_bursts_loses_nothing(
        tokens in prop::collection::vec(prop_oneof![
            4 => Just(Token::Ping),
            1 => Just(Token::End),
            3 => separators().prop_map(Token::Separators),
        ], 0..80),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let input = whole_words(&tokens);
        let pings = tokens.iter().filter(|t| matches!(t, Token::Ping)).count() as u64;
        let events = parse_pieces(&input, 4096, &cuts, true);
        prop_assert_eq!(ping_count(&events), pings);
        prop_assert_eq!(events, model(&input, 4096).events);
    }

    /// Token-level oracle, simpler still than the model: tokens joined by a
    /// newline, garbage that starts with no word letter and holds no
    /// separator: the pings counted are exactly the `ping` tokens plus the
    /// valid requests.
    #[test]
    fn pings_counted_equal_ping_tokens(
        tokens in prop::collection::vec(prop_oneof![
            5 => Just(Token::Ping),
            1 => Just(Token::End),
            1 => (reply_name(), Just(b'\n')).prop_map(|(n, e)| Token::Request(n, e)),
            1 => prop::sample::select(vec![&b"p"[..], b"pi", b"pin", b"e", b"en"]).prop_map(Token::Prefix),
            3 => prop::collection::vec(any::<u8>(), 1..100).prop_map(|mut b| {
                b.retain(|&c| !is_separator(c));
                if matches!(b.first(), None | Some(b'p' | b'e' | b'?')) {
                    b.insert(0, b'#');
                }
                Token::Garbage(b)
            }),
        ], 0..100),
        max in max_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut input = Vec::new();
        for t in &tokens {
            input.extend(t.bytes());
            input.push(b'\n');
        }
        let expected = tokens
            .iter()
            .filter(|t| matches!(t, Token::Ping | Token::Request(..)))
            .count() as u64;
        let events = parse_pieces(&input, max, &cuts, false);
        prop_assert_eq!(ping_count(&events), expected);
        prop_assert_eq!(model(&input, max).pings(), expected);
    }

    /// Writers each writing whole messages in one write, interleaved with
    /// writers of arbitrary garbage; the daemon sees a burst end after each
    /// write. No writer's garbage costs another writer a ping: the events are
    /// exactly those of each write parsed on its own.
    #[test]
    fn garbage_writers_cost_other_writers_nothing(
        writes in prop::collection::vec(
            (
                prop::collection::vec(any::<u8>(), 0..120),
                prop::collection::vec(prop_oneof![
                    4 => Just(Token::Ping),
                    1 => Just(Token::End),
                    1 => (reply_name(), prop::sample::select(vec![b'\n', b'\r', b'\0']))
                        .prop_map(|(n, e)| Token::Request(n, e)),
        1 => (reply_name(), prop::sample::select(vec![b'\n', b'\r', b'\0']))
            .prop_map(|(n, e)| Token::StatusRequest(n, e)),
                    2 => separators().prop_map(Token::Separators),
                ], 1..10),
            ),
            0..30,
        ),
        max in max_bytes(),
    ) {
        let mut parser = Parser::new(max);
        let mut sink = Checked { inner: Recorder::default(), max };
        let mut expected = Recorder::default();
        let mut valid_pings = 0u64;
        for (garbage, valid) in &writes {
            let valid: Vec<u8> = valid.iter().flat_map(Token::bytes).collect();
            for write in [&garbage[..], &valid[..]] {
                parser.feed(write, &mut sink);
                parser.end_of_burst(&mut sink);
                prop_assert!(parser.pending_bytes() <= PENDING_BOUND);
                for event in model(write, max).events {
                    replay(&mut expected, event);
                }
            }
            valid_pings += model(&valid, max).pings();
        }
        parser.finish(&mut sink);
        prop_assert!(ping_count(&sink.inner.events) >= valid_pings);
        prop_assert_eq!(sink.inner.events, expected.events);
    }

    /// Memory: whatever the stream, `max_message_bytes` and bursts, the
    /// parser holds at most a constant number of bytes (it keeps a sample of
    /// a bad run, never the run), and its size does not depend on the input.
    #[test]
    fn memory_held_is_bounded_by_a_constant(
        input in stream(),
        long in prop::collection::vec((any::<u8>(), 1..200_000usize), 0..4),
        max in max_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
        bursts in any::<bool>(),
    ) {
        let mut input = input;
        for (byte, n) in long {
            input.extend(std::iter::repeat_n(byte, n));
        }
        parse_pieces(&input, max, &cuts, bursts);
        prop_assert!(PENDING_BOUND <= SAMPLE_BYTES.max(72));
        prop_assert!(std::mem::size_of::<Parser>() <= 128);
    }
}

/// The bytes of `tokens`, with a newline after every `end` that a word would
/// follow directly (`endping` is one unknown word, not two words).
fn whole_words(tokens: &[Token]) -> Vec<u8> {
    let mut input = Vec::new();
    for (n, t) in tokens.iter().enumerate() {
        input.extend(t.bytes());
        if matches!(t, Token::End) && matches!(tokens.get(n + 1), Some(Token::Ping | Token::End)) {
            input.push(b'\n');
        }
    }
    input
}

/// Replays a model event into a recorder (merging pings like the parser).
fn replay(rec: &mut Recorder, event: Event) {
    use fifo_pingd::protocol::{Rejection, Sink};
    match event {
        Event::Pings(n) => rec.pings(n),
        Event::End => rec.end(),
        Event::PingWithReply(name) => rec.ping_with_reply(&name),
        Event::StatusRequest(name) => rec.status_request(&name),
        Event::Rejected {
            reason,
            sample,
            truncated,
        } => rec.rejected(Rejection {
            reason,
            sample: &sample,
            truncated,
        }),
    }
}

/// The seed framings of the issue, as fixed cases (the fuzz corpus holds the
/// same ones).
#[test]
fn seed_framings_match_the_model() {
    let seed = [&b"ping".repeat(100)[..], b"end"].concat();
    let cases: Vec<(&[u8], u64)> = vec![
        (b"ping\n", 1),
        (b"ping\r\n", 1),
        (b"ping\0", 1),
        (b"ping", 1),
        (&seed, 100),
        (b"ping \t ping\n\nend", 2),
        (b"?ping client-1\n", 1),
        (b"pingpong\n", 0),
        (b"ping\nend", 1),
    ];
    for (input, pings) in cases {
        let m = model(input, 4096);
        assert_eq!(m.pings(), pings, "model on {input:?}");
        assert_eq!(parse_pieces(input, 4096, &[], false), m.events, "{input:?}");
        let every: Vec<usize> = (0..input.len()).collect();
        assert_eq!(
            parse_pieces(input, 4096, &every, false),
            m.events,
            "{input:?}"
        );
        // A burst ending after every byte: the seed client's separate writes
        // (only whole words survive that: a request or a bad run is closed
        // by the end of a burst).
        if m.events
            .iter()
            .all(|e| matches!(e, Event::Pings(_) | Event::End))
        {
            assert_eq!(
                parse_pieces(input, 4096, &every, true),
                m.events,
                "{input:?}"
            );
        }
    }
}

/// Issue 11, "Whole words": each of these is one unknown word (the sample is
/// the run, up to 64 bytes) and nothing in it is acted on, fed whole, byte by
/// byte, and with bursts at the model's boundaries.
#[test]
fn words_glued_to_other_bytes_are_one_unknown_word_in_the_model() {
    for word in [
        &b"endless"[..],
        b"end_",
        b"pingu",
        b"endpoint=x",
        b"pingx",
        b"pingpong",
        b"endping_",
        b"endping",
        b"endend",
        b"pingpi",
        b"end?ping x",
    ] {
        for tail in [&b""[..], b"\n", b"\r\n", b"\0", b" ", b"\t"] {
            let input = [word, tail].concat();
            let m = model(&input, 4096);
            let expected = vec![Event::Rejected {
                reason: fifo_pingd::protocol::RejectReason::UnknownWord,
                sample: word.split(|&b| b == b' ').next().unwrap().to_vec(),
                truncated: false,
            }];
            if word != b"end?ping x" {
                assert_eq!(m.events, expected, "model on {input:?}");
            }
            assert_eq!(m.plain_pings(), 0, "{input:?}");
            assert!(!m.events.contains(&Event::End), "{input:?}");
            assert_eq!(
                parse_pieces(&input, 4096, &[], false),
                m.events,
                "{input:?}"
            );
            let every: Vec<usize> = (0..input.len()).collect();
            assert_eq!(
                parse_pieces(&input, 4096, &every, false),
                m.events,
                "{input:?}"
            );
            assert_eq!(
                parse_pieces(&input, 4096, &m.boundaries, true),
                m.events,
                "{input:?}"
            );
        }
    }
}
