//! Micro-benchmark of the pure parser (`fifo_pingd::protocol`): bytes per
//! second over the framings clients use, next to a plain vectorised byte scan
//! (counting `\n`, what the bare reader of the end-to-end bench does) over the
//! very same bytes. No I/O: this isolates the hot path of the daemon, so a
//! regression in `Parser::feed` shows here before it shows end to end.

use std::hint::black_box;
use std::time::Instant;

use fifo_pingd::protocol::{Parser, Rejection, Sink};

/// The daemon's read size: the parser is fed 64 KiB slices, as in the daemon.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Counts what the parser reports, nothing else.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub pings: u64,
    pub ends: u64,
    pub rejected: u64,
}

impl Sink for Counts {
    fn pings(&mut self, count: u64) {
        self.pings += count;
    }
    fn end(&mut self) {
        self.ends += 1;
    }
    fn ping_with_reply(&mut self, _reply_to: &str) {
        self.pings += 1;
    }
    fn status_request(&mut self, _reply_to: &str) {}
    fn rejected(&mut self, _rejection: Rejection<'_>) {
        self.rejected += 1;
    }
}

/// One framing: a unit repeated to fill a chunk, and what parsing it must give.
pub struct Framing {
    pub name: &'static str,
    pub unit: &'static [u8],
    /// Pings per unit (0 for garbage).
    pub pings_per_unit: u64,
    /// Rejections per unit, or `None` when the whole stream is one bad run.
    pub rejected_per_unit: Option<u64>,
}

pub const FRAMINGS: &[Framing] = &[
    Framing {
        name: "`ping\\n` stream",
        unit: b"ping\n",
        pings_per_unit: 1,
        rejected_per_unit: Some(0),
    },
    Framing {
        name: "back-to-back `pingping…`",
        unit: b"ping",
        pings_per_unit: 1,
        rejected_per_unit: Some(0),
    },
    Framing {
        name: "CRLF `ping\\r\\n`",
        unit: b"ping\r\n",
        pings_per_unit: 1,
        rejected_per_unit: Some(0),
    },
    Framing {
        name: "unknown words `pong\\n`",
        unit: b"pong\n",
        pings_per_unit: 0,
        rejected_per_unit: Some(1),
    },
    Framing {
        name: "garbage without separators",
        unit: b"x",
        pings_per_unit: 0,
        rejected_per_unit: None,
    },
];

/// Result of one framing: bytes/s per round for the parser and the scan.
pub struct Measured {
    pub name: &'static str,
    pub parser: Vec<f64>,
    pub scan: Vec<f64>,
    /// `None` when every round counted exactly; else what went wrong.
    pub error: Option<String>,
}

/// The baseline, also the bare reader's count: a byte scan the compiler
/// vectorises. Byte-wide counters summed per 255-byte block let it use one
/// lane per byte (a plain `filter().count()` widens to `usize` and runs ten
/// times slower, which would flatter the daemon).
pub fn count_newlines(bytes: &[u8]) -> u64 {
    bytes
        .chunks(255)
        .map(|block| {
            block
                .iter()
                .fold(0u8, |n, &b| n.wrapping_add(u8::from(b == b'\n'))) as u64
        })
        .sum()
}

fn chunk_of(unit: &[u8]) -> Vec<u8> {
    unit.repeat(CHUNK_BYTES / unit.len())
}

fn parse_stream(chunk: &[u8], reps: usize) -> Counts {
    let mut parser = Parser::new(4096);
    let mut counts = Counts::default();
    for _ in 0..reps {
        parser.feed(black_box(chunk), &mut counts);
    }
    parser.finish(&mut counts);
    counts
}

fn scan_stream(chunk: &[u8], reps: usize) -> u64 {
    let mut total = 0;
    for _ in 0..reps {
        total += count_newlines(black_box(chunk));
    }
    total
}

/// Parses about `total_bytes` of each framing `rounds` times, alternating
/// parser and scan, and checks the counts of every round.
pub fn measure(total_bytes: usize, rounds: usize) -> Vec<Measured> {
    FRAMINGS
        .iter()
        .map(|framing| {
            let chunk = chunk_of(framing.unit);
            let reps = (total_bytes / chunk.len()).max(1);
            let bytes = (chunk.len() * reps) as f64;
            let units = (chunk.len() / framing.unit.len() * reps) as u64;
            let expected = Counts {
                pings: framing.pings_per_unit * units,
                ends: 0,
                rejected: framing.rejected_per_unit.map_or(1, |r| r * units),
            };
            let mut out = Measured {
                name: framing.name,
                parser: Vec::new(),
                scan: Vec::new(),
                error: None,
            };
            // One unmeasured warm-up of each.
            black_box(parse_stream(&chunk, 1));
            black_box(scan_stream(&chunk, 1));
            for _ in 0..rounds {
                let t = Instant::now();
                let counts = parse_stream(&chunk, reps);
                out.parser.push(bytes / t.elapsed().as_secs_f64());
                if counts != expected && out.error.is_none() {
                    out.error = Some(format!("counted {counts:?}, expected {expected:?}"));
                }
                let t = Instant::now();
                black_box(scan_stream(&chunk, reps));
                out.scan.push(bytes / t.elapsed().as_secs_f64());
            }
            out
        })
        .collect()
}
