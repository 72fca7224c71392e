//! End-to-end protocol tests: bytes written into the real FIFO of the real
//! daemon, observed through its syslog lines and its stop summary.

use crate::common::*;
use std::time::{Duration, Instant};

/// Starts a daemon, writes `bytes` with one write(2), waits for `pings`
/// `received ping` lines, stops it with SIGTERM and checks the summary.
fn framing_gives_pings(bytes: &[u8], pings: u64) {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(bytes);
    d.wait_log_count("received ping", pings as usize);
    let c = d.stop();
    d.assert_counters(&c, &[("pings", pings), ("ends", 0), ("rejected", 0)]);
    let lines = d.log().count("received ping");
    if lines != pings as usize {
        d.fail(&format!(
            "expected exactly {pings} `received ping` lines for {bytes:?}, got {lines}"
        ));
    }
}

/// `echo ping > FIFO`: `ping\n` is one ping, nothing rejected.
#[test]
fn framing_newline() {
    framing_gives_pings(b"ping\n", 1);
}

/// `ping\r\n` (CRLF clients) is one ping; the `\r` is a separator, not part
/// of the word and not a rejected empty message.
#[test]
fn framing_crlf() {
    framing_gives_pings(b"ping\r\n", 1);
}

/// C clients writing `sizeof "ping"` send `ping\0`: one ping, nothing rejected.
#[test]
fn framing_nul() {
    framing_gives_pings(b"ping\0", 1);
}

/// Spaces, tabs, runs of separators and words glued together (`pingping`)
/// are all accepted in one write: 5 pings, nothing rejected.
#[test]
fn framing_blanks_and_glued_words() {
    framing_gives_pings(b"  ping\t\tping \r\n\n\0pingping\n\n ping", 5);
}

/// The seed client: one writer, 100 separate `ping` writes with no separator,
/// then `end`, then close. The daemon logs 100 pings and an end, stops by
/// itself with exit 0, sends STOPPING=1, removes its FIFO and logs the
/// summary `pings=100 ends=1 rejected=0` with reason `end received`.
#[test]
fn seed_client_100_back_to_back_pings_then_end() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    {
        let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
        for i in 0..100 {
            w.write_once(b"ping")
                .unwrap_or_else(|e| d.fail(&format!("seed write #{i}: {e}")));
        }
        w.write_once(b"end").unwrap_or_else(|e| d.fail(&e));
    }
    d.expect_exit_code(EX_OK, TIMEOUT);
    let summary = d.wait_log("stopping (");
    if !summary.message().contains("stopping (end received)") {
        d.fail("the summary should give the reason `end received`");
    }
    let c = counters(summary.message());
    d.assert_counters(&c, &[("pings", 100), ("ends", 1), ("rejected", 0)]);
    if !summary.message().contains("pings=100 ends=1") {
        d.fail("the summary should read `pings=100 ends=1 ...`");
    }
    let n = d.log().count("received ping");
    if n != 100 {
        d.fail(&format!("expected 100 `received ping` lines, got {n}"));
    }
    d.wait_log("received end");
    d.wait_notify_since(0, "STOPPING=1");
    if d.fifo.exists() || node_info(&d.fifo).is_ok() {
        d.fail("the FIFO should be removed after `end`");
    }
}

/// `printf ping > FIFO`: a ping with no terminator is logged at once, while
/// the writer still holds the FIFO open and nothing else is written.
#[test]
fn printf_ping_without_terminator_is_logged_at_once() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    w.write_once(b"ping").unwrap_or_else(|e| d.fail(&e));
    d.wait_log("received ping");
    drop(w);
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("rejected", 0)]);
}

/// `printf end > FIFO` (no terminator) stops the daemon at once with exit 0.
#[test]
fn printf_end_without_terminator_stops_at_once() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    let w = {
        let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
        w.write_once(b"end").unwrap_or_else(|e| d.fail(&e));
        w
    };
    d.expect_exit_code(EX_OK, TIMEOUT);
    drop(w);
    let c = counters(d.wait_log("stopping (").message());
    d.assert_counters(&c, &[("pings", 0), ("ends", 1), ("rejected", 0)]);
}

/// 8 writer threads x 10,000 `ping\n` writes each (every ping one write(2),
/// waiting with poll when the pipe is full): exactly 80,000 pings are counted
/// (nothing lost, nothing glued, nothing rejected). With
/// ping_lines_per_second = 5 the log is not flooded, and STATUS= is sent at
/// most about once a second.
#[test]
fn eight_concurrent_writers_80000_pings_exactly() {
    const WRITERS: usize = 8;
    const PER_WRITER: u64 = 10_000;
    const TOTAL: u64 = WRITERS as u64 * PER_WRITER;
    let cfg = Config {
        ping_lines_per_second: Some(5),
        extra: "ping_lines_burst = 5\n".into(),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(30);
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..WRITERS)
            .map(|i| {
                let fifo = d.fifo.clone();
                s.spawn(move || -> Result<(), String> {
                    let mut w = FifoWriter::open(&fifo)?;
                    for n in 0..PER_WRITER {
                        w.write_polling(b"ping\n", deadline)
                            .map_err(|e| format!("writer {i}, ping {n}: {e}"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("writer panicked".into())))
            .collect()
    });
    for r in results {
        if let Err(e) = r {
            d.fail(&e);
        }
    }
    // Let the daemon drain the pipe: poll its counters until all are counted.
    let drain_deadline = Instant::now() + Duration::from_secs(20);
    let mut last = Counters::new();
    while Instant::now() < drain_deadline {
        last = d.counters_now();
        if last.get("pings").copied().unwrap_or(0) >= TOTAL {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = d.stop();
    let elapsed = t0.elapsed();
    if c.get("pings") != Some(&TOTAL) {
        d.fail(&format!(
            "expected exactly pings={TOTAL} in the summary, got {:?} (last SIGUSR1 counters: {last:?})",
            c.get("pings")
        ));
    }
    d.assert_counters(&c, &[("ends", 0), ("rejected", 0)]);
    let lines = d.log().count("received ping");
    let max_lines = 5 * (elapsed.as_secs() as usize + 2);
    if lines > max_lines {
        d.fail(&format!(
            "ping_lines_per_second = 5 but {lines} `received ping` lines were logged in {elapsed:.2?} (max {max_lines})"
        ));
    }
    let statuses = d
        .notify()
        .snapshot()
        .iter()
        .filter(|e| e.text.contains("STATUS="))
        .count();
    let max_status = elapsed.as_secs() as usize + 4;
    if statuses > max_status {
        d.fail(&format!(
            "STATUS= should be refreshed at most once a second: {statuses} datagrams in {elapsed:.2?}"
        ));
    }
}

/// With ping_lines_per_second = 10, every ping is accounted for in the log
/// by the time the daemon has stopped: the `received ping` lines plus the N
/// of every `suppressed N received-ping lines` add up to the pings counted.
/// (Reading of the contract: the excess is summarised, and a summary still
/// owed is flushed at the latest on stop.)
#[test]
fn rate_limited_ping_lines_add_up_to_the_count() {
    const PINGS: u64 = 2000;
    let cfg = Config {
        ping_lines_per_second: Some(10),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    for _ in 0..PINGS {
        w.write_polling(b"ping\n", deadline)
            .unwrap_or_else(|e| d.fail(&e));
    }
    drop(w);
    while Instant::now() < deadline {
        if d.counters_now().get("pings").copied().unwrap_or(0) >= PINGS {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = d.stop();
    d.assert_counters(&c, &[("pings", PINGS)]);
    let log = d.log().snapshot();
    let logged = log
        .iter()
        .filter(|e| e.message().starts_with("received ping"))
        .count() as u64;
    let suppressed: u64 = log
        .iter()
        .filter_map(|e| {
            let m = e.message();
            let rest = m.strip_prefix("suppressed ")?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("received-ping lines")
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
        .sum();
    if logged == PINGS {
        d.fail("ping_lines_per_second = 10 did not limit anything");
    }
    if logged + suppressed != PINGS {
        d.fail(&format!(
            "{logged} `received ping` lines + {suppressed} suppressed = {} != {PINGS} pings",
            logged + suppressed
        ));
    }
}

/// Issue 11, "Whole words": a word glued to other bytes is one unknown word,
/// rejected once with the whole run as its sample, and nothing in it is acted
/// on: `endless`, `end_` and `endpoint=x` do not stop the daemon, `pingu`,
/// `pingx`, `pingpong` are no ping, `endping_` neither. Also unterminated
/// (`printf endless`: closed when the pipe runs empty). The daemon keeps
/// running and serves the next ping.
#[test]
fn words_glued_to_other_bytes_are_rejected_and_not_acted_on() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    let words: [&[u8]; 8] = [
        b"endless\n",
        b"end_\n",
        b"pingu\n",
        b"endpoint=x\n",
        b"pingx\n",
        b"pingpong\n",
        b"endping_\n",
        b"endless",
    ];
    for (n, word) in words.iter().enumerate() {
        d.write_fifo(word);
        d.wait_log_count("rejected message:", n + 1);
        let run = String::from_utf8_lossy(word.strip_suffix(b"\n").unwrap_or(word)).into_owned();
        let line = d
            .log()
            .snapshot()
            .into_iter()
            .rfind(|e| e.message().contains("rejected message:"));
        let line = line.expect("a rejection line");
        if !line.message().contains("unknown word")
            || !line.message().contains(&format!("\"{run}\""))
        {
            d.fail(&format!(
                "expected `rejected message: unknown word: \"{run}\"`, got {:?}",
                line.text
            ));
        }
        if d.try_status().is_some() {
            d.fail(&format!("{run:?} stopped the daemon"));
        }
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(
        &c,
        &[("pings", 1), ("ends", 0), ("rejected", words.len() as u64)],
    );
    let n = d.log().count("received ping");
    if n != 1 {
        d.fail(&format!("expected 1 `received ping` line, got {n}"));
    }
}

/// An unknown word is rejected with a warning naming the reason and an
/// escaped copy (`"pong"`), and the next valid ping is still served;
/// the summary counts rejected=1.
#[test]
fn unknown_word_is_rejected_then_ping_served() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"pong\n");
    let w = d.wait_log("rejected message:");
    if !w.message().contains("unknown word") || !w.message().contains("\"pong\"") {
        d.fail(&format!(
            "expected `rejected message: unknown word: \"pong\"`, got {:?}",
            w.text
        ));
    }
    // <N> = facility daemon (3) * 8 + warning (4) = 28
    if !w.text.starts_with("<28>") {
        d.fail(&format!(
            "the rejection should be a daemon.warning (<28>) line: {:?}",
            w.text
        ));
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("rejected", 1), ("ends", 0)]);
}

/// A run longer than max_message_bytes (16) is rejected as `longer than 16
/// bytes without a separator`, once, with a truncated sample, and the next
/// ping is served.
#[test]
fn oversize_run_is_rejected_then_ping_served() {
    let cfg = Config {
        max_message_bytes: Some(16),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    let mut big = vec![b'x'; 3000];
    big.push(b'\n');
    d.write_fifo(&big);
    let w = d.wait_log("rejected message:");
    if !w
        .message()
        .contains("longer than 16 bytes without a separator")
    {
        d.fail(&format!(
            "expected reason `longer than 16 bytes without a separator`: {:?}",
            w.text
        ));
    }
    if w.text.len() > 1024 {
        d.fail(&format!(
            "the sample of a 3000-byte run should be truncated; the log line is {} bytes",
            w.text.len()
        ));
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("rejected", 1)]);
}

/// Non-UTF-8 bytes are rejected as `not UTF-8`; the warning itself is valid
/// UTF-8 text with the bytes escaped; the next ping is served.
#[test]
fn non_utf8_is_rejected_then_ping_served() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"\xff\xfeping\xc3\n");
    let w = d.wait_log("rejected message:");
    if !w.message().contains("not UTF-8") {
        d.fail(&format!("expected reason `not UTF-8`: {:?}", w.text));
    }
    if w.text.contains('\u{fffd}') {
        d.fail(&format!(
            "the warning should carry an escaped sample, not raw invalid bytes: {:?}",
            w.text
        ));
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("rejected", 1)]);
}

/// Control characters in rejected input are escaped in the log line (no raw
/// ESC can reach a terminal reading the log).
#[test]
fn rejected_sample_is_escaped() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"bad\x1b[31mword\x07\n");
    let w = d.wait_log("rejected message:");
    if w.text.chars().any(|c| c.is_control()) {
        d.fail(&format!(
            "raw control characters in the log line: {:?}",
            w.text
        ));
    }
    let c = d.stop();
    d.assert_counters(&c, &[("rejected", 1), ("pings", 0)]);
}

/// The acceptance sequence: unknown word, oversize run (max 16) and non-UTF-8
/// input, each followed by waiting for its warning, then a valid ping: the
/// ping is served and rejected=3 is counted.
#[test]
fn unknown_oversize_non_utf8_then_ping() {
    let cfg = Config {
        max_message_bytes: Some(16),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo(b"hello\n");
    d.wait_log_count("rejected message:", 1);
    let mut long = vec![b'a'; 40];
    long.push(b'\n');
    d.write_fifo(&long);
    d.wait_log_count("rejected message:", 2);
    d.write_fifo(b"\x80\x81\n");
    d.wait_log_count("rejected message:", 3);
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("rejected", 3), ("ends", 0)]);
}

/// One writer leaves unterminated garbage and closes; when the pipe runs
/// empty the garbage run is closed (rejected), so another writer's `ping\n`
/// is counted, not swallowed.
#[test]
fn leftover_garbage_does_not_swallow_next_writers_ping() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"garbage");
    d.wait_log("rejected message:");
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("rejected", 1)]);
}

/// 8 MiB without a separator (default max 4096) does not make the daemon's
/// memory grow with the input; it is rejected and the ping after it served.
#[test]
fn endless_garbage_keeps_memory_bounded() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let rss0 = rss_kib(d.pid).unwrap_or_else(|e| d.fail(&e));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    let chunk = vec![b'z'; 64 * 1024];
    for _ in 0..128 {
        w.write_polling(&chunk, deadline)
            .unwrap_or_else(|e| d.fail(&e));
    }
    w.write_polling(b"\nping\n", deadline)
        .unwrap_or_else(|e| d.fail(&e));
    d.wait_log_count("received ping", 2);
    let rss1 = rss_kib(d.pid).unwrap_or_else(|e| d.fail(&e));
    if rss1 > rss0 + 4096 {
        d.fail(&format!(
            "VmRSS grew from {rss0} KiB to {rss1} KiB while reading 8 MiB of garbage"
        ));
    }
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 2)]);
    if c.get("rejected").copied().unwrap_or(0) < 1 {
        d.fail("the 8 MiB run should be counted as rejected");
    }
}

/// Messages already written when SIGTERM arrives are still counted: 1000
/// separate `ping\n` writes, SIGTERM right after the last one, and the
/// summary says pings=1000 (the README's promise).
#[test]
fn sigterm_still_counts_messages_already_written() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    for i in 0..1000 {
        w.write_once(b"ping\n")
            .unwrap_or_else(|e| d.fail(&format!("write #{i}: {e}")));
    }
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1000), ("rejected", 0)]);
}

/// Words glued together never count as an oversize run: with
/// max_message_bytes = 16, `ping` x 20 back to back (80 bytes, like the seed
/// client with more rounds) is 20 pings and nothing rejected.
#[test]
fn glued_words_never_count_as_oversize() {
    let cfg = Config {
        max_message_bytes: Some(16),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo("ping".repeat(20).as_bytes());
    d.wait_log_count("received ping", 20);
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 20), ("rejected", 0)]);
}

/// max_message_bytes is the boundary: with 16, a 16-byte unknown run is an
/// `unknown word`, a 17-byte run is `longer than 16 bytes without a
/// separator`.
#[test]
fn oversize_boundary_is_max_message_bytes() {
    let cfg = Config {
        max_message_bytes: Some(16),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo(b"abcdefghijklmnop\n");
    let (i, w) = d.wait_log_since(0, "rejected message:");
    if !w.message().contains("unknown word") {
        d.fail(&format!(
            "a 16-byte run should be an `unknown word`: {:?}",
            w.text
        ));
    }
    d.write_fifo(b"abcdefghijklmnopq\n");
    let (_, w) = d.wait_log_since(i + 1, "rejected message:");
    if !w
        .message()
        .contains("longer than 16 bytes without a separator")
    {
        d.fail(&format!(
            "a 17-byte run should be `longer than 16 bytes`: {:?}",
            w.text
        ));
    }
    let c = d.stop();
    d.assert_counters(&c, &[("rejected", 2), ("pings", 0)]);
}

/// Rejection warnings are rate-limited but every rejection is counted: 800
/// bad words in one write give rejected=800 and far fewer warning lines.
#[test]
fn rejection_warnings_are_rate_limited_but_counted() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(&b"bad\n".repeat(800));
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("rejected", 800), ("pings", 1)]);
    let warnings = d.log().count("rejected message:");
    if warnings == 0 || warnings >= 800 {
        d.fail(&format!(
            "expected some but far fewer than 800 rejection warnings, got {warnings}"
        ));
    }
}

/// 500 writers one after another, each opening the FIFO, writing `ping\n`
/// and closing (the open/close churn that crashed other FIFO readers): all
/// 500 pings are counted.
#[test]
fn rapid_open_write_close_cycles_all_counted() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    for _ in 0..500 {
        d.write_fifo(b"ping\n");
    }
    d.wait_log_count("received ping", 500);
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 500), ("rejected", 0)]);
}

/// SIGTERM while 3 writers flood the FIFO without pause still stops the
/// daemon promptly (within 2 s) with exit 0: a pipe that keeps refilling
/// must not keep it from seeing the signal or from finishing its last drain.
#[test]
fn sigterm_during_a_flood_stops_promptly() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let floods: Vec<_> = (0..3)
        .map(|_| {
            let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let buf = b"ping\n".repeat(800);
                let deadline = Instant::now() + Duration::from_secs(20);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    // Fails with EPIPE once the daemon is gone: that ends it.
                    if w.write_polling(&buf, deadline).is_err() {
                        break;
                    }
                    sent.fetch_add(800, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Wait until the flood is well under way.
    while sent.load(Ordering::SeqCst) < 100_000 {
        if floods.iter().any(|f| f.is_finished()) {
            d.fail("a flood writer stopped early");
        }
        std::thread::yield_now();
    }
    let t0 = Instant::now();
    d.signal(Signal::SIGTERM);
    let st = d.wait_exit(TIMEOUT);
    let took = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    for f in floods {
        f.join().expect("flood thread");
    }
    if st.code() != Some(EX_OK) {
        d.fail(&format!("expected exit 0, got {st:?}"));
    }
    if took > Duration::from_secs(2) {
        d.fail(&format!(
            "SIGTERM during a flood took {took:.2?} to stop the daemon"
        ));
    }
}

/// Issue 14: a whole seed session after a manual ping, with a few more
/// manual pings, is logged line for line with the default limits (a burst
/// of 1000 `received ping` lines): 1 + 100 + 3 lines, nothing suppressed.
#[test]
fn a_seed_session_and_a_few_manual_pings_are_logged_line_for_line() {
    // The tests' default logs every ping; these two use the daemon's own.
    let d = Daemon::start(&Config {
        ping_lines_per_second: None,
        ..Config::default()
    });
    d.wait_ready();
    d.write_fifo(b"ping\n");
    {
        let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
        for i in 0..100 {
            w.write_once(b"ping")
                .unwrap_or_else(|e| d.fail(&format!("seed write #{i}: {e}")));
        }
    }
    for _ in 0..3 {
        d.write_fifo(b"\nping\n");
    }
    d.write_fifo(b"\nend\n");
    d.expect_exit_code(EX_OK, TIMEOUT);
    let summary = d.wait_log("stopping (");
    d.assert_counters(&counters(summary.message()), &[("pings", 104), ("ends", 1)]);
    let n = d.log().count("received ping");
    if n != 104 {
        d.fail(&format!("expected 104 `received ping` lines, got {n}"));
    }
    if d.log().count("suppressed") != 0 {
        d.fail("nothing should be suppressed");
    }
}

/// A flood is still capped: 20,000 pings at once log the burst (1000 lines,
/// plus what the refill at 100 a second adds meanwhile) and one summary with
/// the exact number suppressed; logged + suppressed = pings.
#[test]
fn a_ping_flood_is_capped_and_the_suppressed_count_is_exact() {
    let d = Daemon::start(&Config {
        ping_lines_per_second: None,
        ..Config::default()
    });
    d.wait_ready();
    let block = b"ping\n".repeat(800); // 4000 bytes: one atomic write
    {
        let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
        let deadline = Instant::now() + TIMEOUT;
        for _ in 0..25 {
            w.write_polling(&block, deadline)
                .unwrap_or_else(|e| d.fail(&e));
        }
    }
    d.write_fifo(b"\nend\n");
    d.expect_exit_code(EX_OK, TIMEOUT);
    let summary = d.wait_log("stopping (");
    d.assert_counters(&counters(summary.message()), &[("pings", 20_000)]);
    let logged = d.log().count("received ping") as u64;
    let suppressed: u64 = d
        .log()
        .snapshot()
        .iter()
        .filter_map(|e| {
            e.message()
                .strip_prefix("suppressed ")?
                .strip_suffix(" received-ping lines")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    if !(1000..1100).contains(&logged) {
        d.fail(&format!(
            "expected the burst of 1000 lines (and a little refill), got {logged}"
        ));
    }
    if logged + suppressed != 20_000 {
        d.fail(&format!(
            "logged {logged} + suppressed {suppressed} should be 20000"
        ));
    }
}
