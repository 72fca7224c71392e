//! Load and faults against the real binary. Every test counts what it sent
//! (writes that the kernel accepted), what the daemon received (its `pings=`
//! counter, from the stop summary) and prints `sent= received= lost=`; lost
//! must be 0 unless the test says why not.
//!
//! Writers follow the protocol's rule: each message is written whole in one
//! write(2) of at most PIPE_BUF bytes, so the kernel keeps concurrent writers
//! apart. Waits are bounded by timeouts; none of them is a bare sleep where a
//! signal exists (log lines, notify datagrams, /proc state, pipe fill level).
//!
//! `#[ignore]`d long variants: `cargo test --test integration load_faults:: -- --ignored`.

use crate::common::*;
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PIPE_BUF: usize = 4096;

/// Framings writers use, all of them whole messages.
const FRAMINGS: [&[u8]; 5] = [b"ping\n", b"ping", b"ping\r\n", b"ping\0", b"ping \t"];

/// Quiet logging: the count is in the summary, not in one line per ping.
fn quiet() -> Config {
    Config {
        ping_lines_per_second: Some(5),
        ..Config::default()
    }
}

/// Writes `pings` pings as `framing` repeated `batch` times per write (cut to
/// PIPE_BUF), waiting while the pipe is full. Returns the pings written.
fn write_pings(
    w: &mut FifoWriter,
    pings: u64,
    framing: &[u8],
    batch: usize,
    deadline: Instant,
) -> Result<u64, String> {
    let batch = batch.clamp(1, PIPE_BUF / framing.len());
    let block = framing.repeat(batch);
    let mut sent = 0;
    while sent < pings {
        let n = (pings - sent).min(batch as u64) as usize;
        w.write_polling(&block[..n * framing.len()], deadline)?;
        sent += n as u64;
    }
    Ok(sent)
}

/// Prints and checks the tally.
#[track_caller]
fn tally(d: &Daemon, test: &str, sent: u64, c: &Counters) {
    let received = c.get("pings").copied().unwrap_or(0);
    let lost = sent as i64 - received as i64;
    println!("{test}: sent={sent} received={received} lost={lost} (summary: {c:?})");
    if lost != 0 {
        d.fail(&format!(
            "{test}: sent {sent} pings, the daemon counted {received}: lost {lost}"
        ));
    }
}

/// Peak resident memory (VmHWM) of a process, in KiB.
fn vm_hwm_kib(pid: i32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `cond` holds, polling every millisecond; fails with `what`.
#[track_caller]
fn wait_for(d: &Daemon, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            d.fail(&format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `writers` threads; each gets its index and returns pings sent.
fn run_writers(d: &Daemon, writers: usize, f: impl Fn(usize) -> Result<u64, String> + Sync) -> u64 {
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let f = &f;
        let hs: Vec<_> = (0..writers).map(|i| s.spawn(move || f(i))).collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("writer panicked".into())))
            .collect()
    });
    let mut sent = 0;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(n) => sent += n,
            Err(e) => d.fail(&format!("writer {i}: {e}")),
        }
    }
    sent
}

// ---------------------------------------------------------------------------
// Load

/// 64 concurrent writers × 100,000 pings each (6.4 M), in every framing,
/// from one ping per write to 819 per write: every ping counted, nothing
/// rejected, memory flat.
#[test]
fn sixty_four_writers_times_100k_pings() {
    const WRITERS: usize = 64;
    const PER_WRITER: u64 = 100_000;
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let hwm_before = vm_hwm_kib(d.pid);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(120);
    let sent = run_writers(&d, WRITERS, |i| {
        let mut w = FifoWriter::open(&d.fifo)?;
        let framing = FRAMINGS[i % FRAMINGS.len()];
        // Writers with one ping per write are the slow ones: few of them.
        let batch = [819, 100, 7, 300, 1, 50, 819, 20][i % 8];
        write_pings(&mut w, PER_WRITER, framing, batch, deadline)
    });
    let hwm = vm_hwm_kib(d.pid);
    let c = d.stop();
    println!(
        "64 writers: {sent} pings in {:.2?}, daemon VmHWM {hwm_before} -> {hwm} KiB",
        t0.elapsed()
    );
    tally(&d, "64 writers x 100k", sent, &c);
    d.assert_counters(&c, &[("rejected", 0), ("ends", 0)]);
}

/// 10,000 sequential writers, each open / one write / close, framings mixed.
#[test]
fn ten_thousand_sequential_writers() {
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let t0 = Instant::now();
    for i in 0..10_000usize {
        let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
        w.write_once(FRAMINGS[i % FRAMINGS.len()])
            .unwrap_or_else(|e| d.fail(&format!("writer {i}: {e}")));
    }
    let c = d.stop();
    println!("10k sequential writers in {:.2?}", t0.elapsed());
    tally(&d, "10k sequential writers", 10_000, &c);
    d.assert_counters(&c, &[("rejected", 0)]);
}

/// 500 writers open the FIFO and never write (nor close) while another
/// sends pings: every ping counted, and the daemon does not spin on the idle
/// writers (CPU time over one idle second stays small).
#[test]
fn writers_that_open_and_never_write() {
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let idle: Vec<FifoWriter> = (0..500)
        .map(|_| FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e)))
        .collect();
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent =
        write_pings(&mut w, 10_000, b"ping\n", 1, deadline).unwrap_or_else(|e| d.fail(&e));
    // Idle with 500 silent writers: the daemon must sleep.
    wait_for(&d, "the pipe to be drained", TIMEOUT, || w.queued() == 0);
    let cpu0 = d.cpu_time();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(1) {
        // Deliberate: a second of idleness is what is measured.
        std::thread::sleep(Duration::from_millis(100));
    }
    let idle_cpu = d.cpu_time().saturating_sub(cpu0);
    if idle_cpu > Duration::from_millis(50) {
        d.fail(&format!(
            "the daemon used {idle_cpu:?} of CPU in one idle second with 500 open writers"
        ));
    }
    drop(idle);
    sent += write_pings(&mut w, 1000, b"ping\n", 10, deadline).unwrap_or_else(|e| d.fail(&e));
    let c = d.stop();
    println!("500 silent writers: daemon CPU in an idle second {idle_cpu:?}");
    tally(&d, "writers that never write", sent, &c);
    d.assert_counters(&c, &[("rejected", 0)]);
}

/// Spawns `sh -c SCRIPT` with stdout on the FIFO (opened without blocking).
fn shell_writer(fifo: &Path, script: &str) -> Child {
    let out = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .unwrap_or_else(|e| panic!("open {} for a child writer: {e}", fifo.display()));
    Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn /bin/sh")
}

/// Writers killed mid-message: (1) a child writes half a word (`pi`) and is
/// SIGKILLed; (2) with the daemon stopped, a child blocks in one 1 MB write
/// of `ping\n`s after filling the pipe, and is SIGKILLed. The half words they
/// leave are rejected once; the whole pings they got into the pipe count;
/// every ping of the writers after them counts.
#[test]
fn writers_killed_mid_message() {
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let mut probe = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    let deadline = Instant::now() + Duration::from_secs(30);

    // (1) Half a word, then killed.
    let mut child = shell_writer(&d.fifo, "printf pi; exec sleep 30");
    wait_for(&d, "the daemon to read the half word", TIMEOUT, || {
        d.counters_now().get("bytes").copied().unwrap_or(0) >= 2
    });
    child.kill().expect("SIGKILL the half-word writer");
    child.wait().expect("reap");
    let mut sent =
        write_pings(&mut probe, 1000, b"ping\n", 1, deadline).unwrap_or_else(|e| d.fail(&e));

    // (2) A 1 MB write blocked on a full pipe, killed: only what the pipe
    // took arrives.
    wait_for(&d, "the pipe to be drained", TIMEOUT, || {
        probe.queued() == 0
    });
    d.signal(Signal::SIGSTOP);
    wait_for(&d, "the daemon to be stopped (state T)", TIMEOUT, || {
        d.proc_state() == 'T'
    });
    let payload = d.dir().join("payload");
    fs::write(&payload, b"ping\n".repeat(200_000)).expect("write payload");
    let script = format!(
        "exec dd if={} bs=1000000 count=1 status=none",
        payload.display()
    );
    let mut child = shell_writer(&d.fifo, &script);
    let capacity = pipe_capacity(&d.fifo);
    wait_for(&d, "the blocked writer to fill the pipe", TIMEOUT, || {
        probe.queued() >= capacity
    });
    child.kill().expect("SIGKILL the blocked writer");
    child.wait().expect("reap");
    let queued = probe.queued() as u64;
    d.signal(Signal::SIGCONT);
    // The next writer comes after the pipe ran empty (a SIGUSR1 round trip
    // shows the burst is over): the killed writer's half word is stale and
    // cannot glue to it. (Had the next message been in the pipe right behind
    // it, its first word would have been glued to the half word: writers are
    // told apart only by time.)
    wait_for(&d, "the pipe to be drained", TIMEOUT, || {
        probe.queued() == 0
    });
    d.counters_now();
    // Whole `ping\n`s count; a trailing `ping` too; `p`..`pin` is rejected.
    let (from_killed, rest) = (queued / 5, queued % 5);
    sent += from_killed + u64::from(rest == 4);
    sent += write_pings(&mut probe, 1000, b"ping\n", 1, deadline).unwrap_or_else(|e| d.fail(&e));
    let c = d.stop();
    let rejected = 1 + u64::from((1..=3).contains(&rest));
    println!(
        "killed writers: the blocked 1 MB write got {queued} bytes into the pipe ({from_killed} pings + {rest} bytes)"
    );
    tally(&d, "writers killed mid-message", sent, &c);
    d.assert_counters(&c, &[("rejected", rejected)]);
}

/// The FIFO's pipe buffer size (F_GETPIPE_SZ).
fn pipe_capacity(fifo: &Path) -> usize {
    let f = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .expect("open the FIFO");
    nix::fcntl::fcntl(f.as_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ") as usize
}

/// Garbage floods at full speed (writes of 1 to 4096 random bytes, never a
/// separator inside) while four writers send 50,000 pings each, one ping per
/// write.
/// (a) Each garbage write ends with a newline (junk lines, bad UTF-8, runs
///     longer than max_message_bytes = 64): every ping counts. Every ping
///     write ends with a separator too: words are whole, so a bare `ping`
///     directly followed in the pipe by a garbage write is one bad word.
/// (b) Garbage writes without a separator: when one is directly followed in
///     the pipe by another writer's message, that message's first word is
///     glued to the bad run (writers cannot be told apart in a byte stream;
///     the daemon closes a bad run only when the pipe runs empty). The ping
///     writers here end each ping with a separator, so a bad run costs at
///     most one ping, a `?` request at most 70 bytes of pings (14); the test
///     reports the loss and checks that bound. (A writer of glued `pingping`
///     after such garbage loses everything up to its next separator.)
/// Memory (VmHWM) stays flat in both.
#[test]
fn garbage_flood_while_others_ping() {
    // Random bytes that are never separators, made once.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let blocks: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            (0..PIPE_BUF)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    match (seed >> 56) as u8 {
                        b'\n' | b'\r' | 0 | b' ' | b'\t' => b'x',
                        v => v,
                    }
                })
                .collect()
        })
        .collect();
    for terminated in [true, false] {
        let cfg = Config {
            max_message_bytes: Some(64),
            ..quiet()
        };
        let d = Daemon::start(&cfg);
        d.wait_ready();
        let hwm_before = vm_hwm_kib(d.pid);
        let done = AtomicBool::new(false);
        let garbage_writes = AtomicU64::new(0);
        let garbage_bytes = AtomicU64::new(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Only framings that end with a separator (see (a) and (b)).
        let framings: [&[u8]; 4] = [b"ping\n", b"ping \t", b"ping\r\n", b"ping\0"];
        let t0 = Instant::now();
        let sent = std::thread::scope(|s| {
            let flood = s.spawn(|| -> Result<(), String> {
                let mut w = FifoWriter::open(&d.fifo)?;
                let mut n = 0usize;
                let mut buf = vec![0u8; PIPE_BUF];
                while !done.load(Ordering::Relaxed) {
                    n += 1;
                    let block = &blocks[n % blocks.len()];
                    let len = 1 + (block[0] as usize * 16 + block[1] as usize) % PIPE_BUF;
                    buf[..len].copy_from_slice(&block[..len]);
                    if terminated {
                        buf[len - 1] = b'\n';
                    }
                    w.write_polling(&buf[..len], deadline)?;
                    garbage_writes.fetch_add(1, Ordering::Relaxed);
                    garbage_bytes.fetch_add(len as u64, Ordering::Relaxed);
                }
                Ok(())
            });
            wait_for(&d, "the flood to start", TIMEOUT, || {
                garbage_writes.load(Ordering::Relaxed) > 0
            });
            let sent = run_writers(&d, 4, |i| {
                let mut w = FifoWriter::open(&d.fifo)?;
                write_pings(&mut w, 50_000, framings[i], 1, deadline)
            });
            done.store(true, Ordering::Relaxed);
            if let Err(e) = flood
                .join()
                .unwrap_or_else(|_| Err("flood panicked".into()))
            {
                d.fail(&format!("garbage writer: {e}"));
            }
            sent
        });
        let hwm = vm_hwm_kib(d.pid);
        let c = d.stop();
        let writes = garbage_writes.load(Ordering::Relaxed);
        println!(
            "garbage flood ({}): {writes} garbage writes, {} MB in {:.2?}; daemon VmHWM {hwm_before} -> {hwm} KiB; rejected={:?}",
            if terminated {
                "terminated"
            } else {
                "unterminated"
            },
            garbage_bytes.load(Ordering::Relaxed) / 1_000_000,
            t0.elapsed(),
            c.get("rejected")
        );
        if hwm > hwm_before + 4096 {
            d.fail(&format!(
                "memory grew under the garbage flood: VmHWM {hwm_before} -> {hwm} KiB"
            ));
        }
        if writes < 50 {
            d.fail(&format!(
                "the flood made only {writes} writes: hardly a flood"
            ));
        }
        if terminated {
            tally(&d, "garbage flood (terminated writes)", sent, &c);
        } else {
            let bound = writes * 14;
            let received = c.get("pings").copied().unwrap_or(0);
            let lost = sent.saturating_sub(received);
            println!(
                "garbage flood (unterminated writes): sent={sent} received={received} lost={lost} (bound {bound}: glued to a bad run)"
            );
            if received > sent || lost > bound {
                d.fail(&format!(
                    "unterminated garbage: sent {sent}, received {received}, {writes} garbage writes"
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Signals and reloads under load

/// Writes the config atomically (a reload never reads half a file).
fn replace_config(d: &Daemon, cfg: &Config) {
    let text = cfg.render(&d.fifo, &d.env.log.path);
    let tmp = d.dir().join("fifo-pingd.toml.new");
    fs::write(&tmp, text).expect("write config");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).expect("chmod config");
    fs::rename(&tmp, &d.env.config_path).expect("rename config");
}

/// 1,000 SIGHUPs, each reloading a configuration that flips the FIFO mode
/// between 0640 and 0660, while four writers send 25,000 pings each: no
/// loss, no crash, no failed reload, and the final mode is the final
/// configuration's.
#[test]
fn a_thousand_sighups_during_load() {
    const HUPS: usize = 1000;
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let deadline = Instant::now() + Duration::from_secs(60);
    let t0 = Instant::now();
    let sent = std::thread::scope(|s| {
        let writers = s.spawn(|| {
            run_writers(&d, 4, |i| {
                let mut w = FifoWriter::open(&d.fifo)?;
                write_pings(&mut w, 25_000, FRAMINGS[i], 1 + i * 2, deadline)
            })
        });
        for i in 0..HUPS {
            let mode = if i % 2 == 0 { "0660" } else { "0640" };
            replace_config(
                &d,
                &Config {
                    mode: Some(mode.into()),
                    ..quiet()
                },
            );
            let since = d.log().len();
            d.signal(Signal::SIGHUP);
            // Each SIGHUP is answered before the next is sent, so all 1,000
            // are real reloads, not coalesced signals.
            d.wait_log_since(since, "reloaded configuration");
        }
        writers.join().expect("writers")
    });
    let mode = node_info(&d.fifo).map(|n| n.mode);
    let c = d.stop();
    println!("{HUPS} SIGHUPs under load in {:.2?}", t0.elapsed());
    tally(&d, "1000 SIGHUPs", sent, &c);
    d.assert_counters(&c, &[("reloads", HUPS as u64), ("rejected", 0)]);
    if d.log().count("reload failed") > 0 {
        d.fail("a reload failed");
    }
    if mode != Ok(0o640) {
        d.fail(&format!(
            "after the last reload (mode 0640) the FIFO has mode {mode:?}"
        ));
    }
}

/// A reload that moves the FIFO while writers send: the writers open the
/// path for each message and, when it is gone, follow the new one (read
/// from the configuration, as a client would). Every ping counts, and the
/// old path is removed.
#[test]
fn reload_moving_the_fifo_during_load() {
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let old = d.fifo.clone();
    let new = d.dir().join("moved.fifo");
    let current = Mutex::new(old.clone());
    let moved = AtomicBool::new(false);
    let epipe = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let sent = std::thread::scope(|s| {
        let writers = s.spawn(|| {
            run_writers(&d, 4, |i| {
                let mut sent = 0u64;
                let framing = FRAMINGS[i];
                while sent < 5000 {
                    let path: PathBuf = current.lock().expect("path").clone();
                    // A writer that finds nothing (ENOENT) or no reader
                    // (ENXIO) looks the path up again, as a client would.
                    // EPIPE: the daemon closed that FIFO before the write
                    // (nothing was written); try again.
                    match FifoWriter::open(&path)
                        .and_then(|mut w| w.write_polling(framing, deadline))
                    {
                        Ok(()) => sent += 1,
                        Err(e)
                            if Instant::now() < deadline
                                && (e.contains("Broken pipe") || e.contains("cannot open")) =>
                        {
                            epipe
                                .fetch_add(u64::from(e.contains("Broken pipe")), Ordering::Relaxed);
                            std::thread::yield_now();
                        }
                        Err(e) => return Err(e),
                    }
                    if sent == 2500 && i == 0 {
                        moved.store(true, Ordering::SeqCst);
                    }
                }
                Ok(sent)
            })
        });
        wait_for(
            &d,
            "the writers to be half-way",
            Duration::from_secs(30),
            || moved.load(Ordering::SeqCst),
        );
        replace_config(
            &d,
            &Config {
                path: Some(new.clone()),
                ..quiet()
            },
        );
        let since = d.log().len();
        d.signal(Signal::SIGHUP);
        d.wait_log_since(since, "reloaded configuration");
        *current.lock().expect("path") = new.clone();
        writers.join().expect("writers")
    });
    let c = d.stop();
    println!(
        "reload moving the FIFO: {} writes got EPIPE (the old FIFO closed under them) and were retried",
        epipe.load(Ordering::Relaxed)
    );
    tally(&d, "reload moving the FIFO", sent, &c);
    if node_info(&old).is_ok() || node_info(&new).is_ok() {
        d.fail("both the old and the new FIFO should be gone after stop");
    }
}

/// SIGTERM while writers open the FIFO, write one ping and close, over and
/// over: every ping whose write succeeded is counted, including those from
/// writers that opened the FIFO just before the daemon removed it and wrote
/// just after its last read of the pipe. (Before the daemon waited for such
/// writers, 1 in 4 runs of the moving-reload test above lost a ping or two
/// this way.) Writers stop when the FIFO is gone or has no reader.
#[test]
fn sigterm_during_load_counts_every_acknowledged_ping() {
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let path = d.fifo.clone();
    let halfway = AtomicBool::new(false);
    let stopping = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (sent, c) = std::thread::scope(|s| {
        let writers = s.spawn(|| {
            run_writers(&d, 4, |i| {
                let mut sent = 0u64;
                let framing = FRAMINGS[i];
                loop {
                    let result = FifoWriter::open(&path)
                        .and_then(|mut w| w.write_polling(framing, deadline));
                    match result {
                        Ok(()) => sent += 1,
                        // Gone (ENOENT), no reader (ENXIO), or the reader
                        // closed before the write (EPIPE: nothing written).
                        Err(e)
                            if stopping.load(Ordering::SeqCst)
                                && (e.contains("cannot open") || e.contains("Broken pipe")) =>
                        {
                            if e.contains("cannot open") {
                                return Ok(sent);
                            }
                        }
                        Err(e) => return Err(e),
                    }
                    if sent == 2000 && i == 0 {
                        halfway.store(true, Ordering::SeqCst);
                    }
                }
            })
        });
        wait_for(
            &d,
            "the writers to be under way",
            Duration::from_secs(30),
            || halfway.load(Ordering::SeqCst),
        );
        stopping.store(true, Ordering::SeqCst);
        let c = d.stop();
        (writers.join().expect("writers"), c)
    });
    tally(&d, "SIGTERM during load", sent, &c);
}

/// The stop waits for clients that opened the FIFO before it: one that
/// writes after the path is gone is still counted; one that keeps it open
/// without writing holds the stop up for the grace period at most, and its
/// write after the stop fails with EPIPE instead of vanishing.
#[test]
fn sigterm_reads_clients_that_opened_before_the_stop() {
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let path = d.fifo.clone();
    let mut late = FifoWriter::open(&path).unwrap_or_else(|e| d.fail(&e));
    let mut idle = FifoWriter::open(&path).unwrap_or_else(|e| d.fail(&e));
    let since = d.log().len();
    let t0 = Instant::now();
    d.signal(Signal::SIGTERM);
    wait_for(&d, "the daemon to remove the FIFO", TIMEOUT, || {
        node_info(&path).is_err()
    });
    late.write_once(b"ping\n")
        .unwrap_or_else(|e| d.fail(&format!("a client that opened before the stop: {e}")));
    drop(late);
    d.expect_exit_code(EX_OK, TIMEOUT);
    let took = t0.elapsed();
    let (_, e) = d.wait_log_since(since, "stopping (");
    let c = counters(e.message());
    if c.get("pings") != Some(&1) {
        d.fail(&format!(
            "the ping written after the FIFO was removed was not counted: {c:?}"
        ));
    }
    // The grace period is 1 s; anything near TIMEOUT means it is not bounded.
    if took > Duration::from_secs(5) {
        d.fail(&format!(
            "a client holding the FIFO open held up the stop for {took:.2?}"
        ));
    }
    match idle.write_once(b"ping\n") {
        Err(e) if e.contains("Broken pipe") => {}
        other => d.fail(&format!(
            "a write after the stop should fail with EPIPE, got {other:?}"
        )),
    }
}

// ---------------------------------------------------------------------------
// Logging and notification faults

/// The syslog socket disappears under load, then comes back: pings keep
/// being counted while it is gone (STATUS= keeps moving: nothing blocks),
/// and log lines resume once it is back.
#[test]
fn syslog_socket_removed_and_recreated_under_load() {
    let mut d = Daemon::start(&quiet());
    d.wait_ready();
    d.wait_log("listening on");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    let mut sent =
        write_pings(&mut w, 5000, b"ping\n", 10, deadline).unwrap_or_else(|e| d.fail(&e));

    d.env.log.close();
    let status_since = d.notify().len();
    // Pings while syslog is gone: the daemon keeps counting (STATUS=).
    sent += write_pings(&mut w, 5000, b"ping\n", 10, deadline).unwrap_or_else(|e| d.fail(&e));
    let want = sent;
    d.wait_on(
        d.notify(),
        "STATUS= counting while syslog is gone",
        TIMEOUT,
        |es| {
            es.iter()
                .skip(status_since)
                .any(|e| status_pings(&e.text) >= want)
                .then_some(())
        },
    );
    d.signal(Signal::SIGUSR1); // a line that cannot be delivered

    d.env.log.rebind();
    let since = d.log().len();
    sent += write_pings(&mut w, 5000, b"ping\n", 10, deadline).unwrap_or_else(|e| d.fail(&e));
    // Reconnects are tried at most once a second: ask for a line until one comes.
    let back = Instant::now() + TIMEOUT;
    loop {
        d.signal(Signal::SIGUSR1);
        let got = d
            .log()
            .wait_until(Instant::now() + Duration::from_millis(200), &mut |es| {
                es.iter()
                    .skip(since)
                    .any(|e| e.text.contains("counters:"))
                    .then_some(())
            });
        if got.is_some() {
            break;
        }
        if Instant::now() > back {
            d.fail("no log line arrived after the syslog socket came back");
        }
    }
    let c = d.stop();
    println!(
        "syslog gone and back: log_lines_dropped={:?}",
        c.get("log_lines_dropped")
    );
    tally(&d, "syslog socket removed and re-created", sent, &c);
}

/// A syslog receiver that stops reading (its queue fills up): the daemon
/// drops log lines after a short grace instead of blocking, and every ping
/// is counted.
#[test]
fn stalled_syslog_receiver_does_not_block_the_daemon() {
    let cfg = Config {
        ping_lines_per_second: Some(0),
        ..Config::default()
    };
    let mut env = TestEnv::new();
    env.log.stall();
    let d = env.spawn(&cfg);
    d.wait_ready();
    let t0 = Instant::now();
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    let deadline = Instant::now() + Duration::from_secs(30);
    // Every ping would be a log line: far more than the socket queue holds.
    let sent = write_pings(&mut w, 20_000, b"ping\n", 1, deadline).unwrap_or_else(|e| d.fail(&e));
    let status_since = d.notify().len();
    d.wait_on(
        d.notify(),
        "STATUS= with all pings counted",
        TIMEOUT,
        |es| {
            es.iter()
                .skip(status_since)
                .any(|e| status_pings(&e.text) >= sent)
                .then_some(())
        },
    );
    let took = t0.elapsed();
    d.signal(Signal::SIGTERM);
    d.expect_exit_code(EX_OK, TIMEOUT);
    println!("stalled syslog: {sent} pings counted in {took:.2?} (every line logged would block)");
}

/// NOTIFY_SOCKET names a socket nobody listens on: the daemon runs on,
/// says so once, counts every ping, stops cleanly.
#[test]
fn notify_socket_pointing_at_nothing_under_load() {
    let mut env = TestEnv::new();
    let nothing = env.path().join("no-such-dir/notify.sock");
    env.notify_env = NotifyEnv::Value(nothing.display().to_string());
    let d = env.spawn(&quiet());
    d.wait_log("listening on");
    let deadline = Instant::now() + Duration::from_secs(30);
    let sent = run_writers(&d, 4, |i| {
        let mut w = FifoWriter::open(&d.fifo)?;
        write_pings(&mut w, 10_000, FRAMINGS[i], 10, deadline)
    });
    d.signal(Signal::SIGHUP); // RELOADING=1 / READY=1 to nowhere as well
    d.wait_log("reloaded configuration");
    let c = d.stop();
    tally(&d, "NOTIFY_SOCKET pointing at nothing", sent, &c);
    let warnings = d.log().count("cannot notify");
    if warnings != 1 {
        d.fail(&format!(
            "expected exactly one `cannot notify` warning, got {warnings}"
        ));
    }
}

// ---------------------------------------------------------------------------
// Resource limits and crashes

/// Runs the daemon with RLIMIT_NOFILE = `limit` (set in the child before
/// exec), logging to stderr. Returns the child.
fn spawn_with_nofile(limit: u64, config: &Path) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(config)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            let rlim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn the daemon")
}

/// Tiny `ulimit -n` (4 to 12 descriptors): the daemon either runs and counts
/// a ping, or exits at once with one clear `fifo-pingd: ` line and a sysexits
/// code; never a panic, a signal or a hang.
#[test]
fn tiny_nofile_limit_gives_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    let config = dir.path().join("fifo-pingd.toml");
    fs::write(
        &config,
        format!(
            "[fifo]\npath = {}\n[log]\ntarget = \"stderr\"\n",
            toml_str(&fifo.to_string_lossy())
        ),
    )
    .expect("write config");
    // 3 (stdin, stdout, stderr only) stops the dynamic loader itself.
    for limit in 4..=12u64 {
        let mut child = spawn_with_nofile(limit, &config);
        let mut err = child.stderr.take().expect("stderr");
        let deadline = Instant::now() + TIMEOUT;
        // Either it exits, or it says it listens.
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        let listening = loop {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            if text.contains("listening on") {
                break true;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("limit {limit}: neither listening nor exited: {text:?}");
            }
            let mut fds = [PollFd::new(err.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) == 0 {
                continue;
            }
            match err.read(&mut buf) {
                Ok(0) => break false,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => break false,
            }
        };
        if listening {
            let mut w = FifoWriter::open(&fifo).expect("open the FIFO");
            w.write_once(b"ping\n").expect("write");
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                Signal::SIGTERM,
            )
            .expect("kill");
            let _ = err.read_to_string(&mut text);
            let st = child.wait().expect("wait");
            assert_eq!(st.code(), Some(EX_OK), "limit {limit}: {text}");
            assert!(text.contains("pings=1"), "limit {limit}: {text}");
            println!("RLIMIT_NOFILE={limit}: runs, pings=1");
        } else {
            let st = child.wait().expect("wait");
            let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            assert!(
                matches!(st.code(), Some(71 | 73 | 78)),
                "limit {limit}: exit {st:?} (a panic is 101, a signal has no code): {text}"
            );
            assert!(
                lines.len() == 1 && lines[0].starts_with("fifo-pingd: "),
                "limit {limit}: expected one `fifo-pingd: ` line, got {text:?}"
            );
            assert!(!text.contains("panicked"), "limit {limit}: {text}");
            println!("RLIMIT_NOFILE={limit}: exit {:?}: {}", st.code(), lines[0]);
        }
        let _ = fs::remove_file(&fifo);
    }
}

/// SIGKILL leaves the FIFO behind; a restart on the same configuration
/// reuses it (`reused an existing FIFO`) and serves, 20 times in a row,
/// with writers between. Pings written to a live daemon all count.
#[test]
fn sigkill_then_restart_with_the_stale_fifo() {
    let shared = tempfile::Builder::new()
        .prefix("fifo-pingd-restart.")
        .tempdir()
        .expect("tempdir");
    let cfg = Config {
        path: Some(shared.path().join("fifo")),
        ..quiet()
    };
    let (mut total_sent, mut total_received) = (0, 0);
    for round in 0..20 {
        let d = Daemon::start(&cfg);
        d.wait_ready();
        if round > 0 {
            d.wait_log("reused an existing FIFO");
        }
        let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
        let deadline = Instant::now() + Duration::from_secs(30);
        let sent = write_pings(&mut w, 500, b"ping\n", 5, deadline).unwrap_or_else(|e| d.fail(&e));
        wait_for(&d, "the pipe to be drained", TIMEOUT, || w.queued() == 0);
        let counted = d.counters_now().get("pings").copied().unwrap_or(0);
        total_sent += sent;
        total_received += counted;
        if counted != sent {
            d.fail(&format!("round {round}: sent {sent}, counted {counted}"));
        }
        drop(w);
        d.signal(Signal::SIGKILL);
        let st = d.wait_exit(TIMEOUT);
        if node_info(&d.fifo).map(|n| n.kind) != Ok("fifo") {
            d.fail(&format!(
                "after SIGKILL ({st:?}) the stale FIFO should be there"
            ));
        }
    }
    println!(
        "sigkill/restart x20: sent={total_sent} received={total_received} lost={}",
        total_sent - total_received
    );
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo(b"ping\n");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
    if node_info(&d.fifo).is_ok() {
        d.fail("a clean stop after the restarts removes the FIFO");
    }
}

/// SIGSTOP under load for `pause`, then SIGCONT. Two kinds of writers: ones
/// that wait while the pipe is full (blocking semantics, by poll), and ones
/// that give up on EAGAIN (non-blocking) and count their failures. Once the
/// daemon resumes, every write that succeeded is counted.
fn sigstop_under_load(pause: Duration) {
    let d = Daemon::start(&quiet());
    d.wait_ready();
    let stop_writers = AtomicBool::new(false);
    let failed = AtomicU64::new(0);
    let deadline = Instant::now() + pause + Duration::from_secs(60);
    let (sent, failed_while_stopped) = std::thread::scope(|s| {
        let writers = s.spawn(|| {
            run_writers(&d, 4, |i| {
                let mut w = FifoWriter::open(&d.fifo)?;
                let framing = FRAMINGS[i];
                let mut sent = 0u64;
                while !stop_writers.load(Ordering::Relaxed) {
                    if i % 2 == 0 {
                        // Blocking mode: wait for room.
                        w.write_polling(framing, deadline)?;
                        sent += 1;
                    } else {
                        // Non-blocking mode: EAGAIN is a failure, not a retry.
                        match w.write_once(framing) {
                            Ok(()) => sent += 1,
                            Err(_) if Instant::now() < deadline => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                // Back off a little, as a polling client would.
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(sent)
            })
        });
        let pings = |d: &Daemon| d.counters_now().get("pings").copied().unwrap_or(0);
        wait_for(&d, "some pings counted", TIMEOUT, || pings(&d) > 1000);
        d.signal(Signal::SIGSTOP);
        wait_for(&d, "the daemon to be stopped (state T)", TIMEOUT, || {
            d.proc_state() == 'T'
        });
        let probe = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
        let capacity = pipe_capacity(&d.fifo);
        // Full: small writes leave a few bytes unused in each of the pipe's
        // pages, so "full" is within a few hundred bytes of the capacity.
        wait_for(&d, "the pipe to fill up", TIMEOUT, || {
            probe.queued() + 256 >= capacity
        });
        let failed_before = failed.load(Ordering::Relaxed);
        let t = Instant::now();
        while t.elapsed() < pause {
            // The pause itself is what is tested.
            std::thread::sleep(Duration::from_millis(50));
        }
        let failed_while_stopped = failed.load(Ordering::Relaxed) - failed_before;
        d.signal(Signal::SIGCONT);
        let resumed_at = pings(&d);
        wait_for(&d, "pings to flow again", TIMEOUT, || {
            pings(&d) > resumed_at + 20_000
        });
        stop_writers.store(true, Ordering::Relaxed);
        (writers.join().expect("writers"), failed_while_stopped)
    });
    let c = d.stop();
    println!(
        "SIGSTOP {pause:?} under load: blocking writers waited, non-blocking writers got EAGAIN {failed_while_stopped} times while stopped (those writes were not sent)"
    );
    tally(&d, "SIGSTOP under load", sent, &c);
    if failed_while_stopped == 0 {
        d.fail("the non-blocking writers should have seen EAGAIN while the daemon was stopped");
    }
}

#[test]
fn sigstop_under_load_then_sigcont() {
    sigstop_under_load(Duration::from_millis(2500));
}

/// The 10-second variant.
#[test]
#[ignore]
fn sigstop_10s_under_load_then_sigcont() {
    sigstop_under_load(Duration::from_secs(10));
}

/// The ping count in a `STATUS=listening on PATH; pings=N ends=N rejected=N`
/// notification (0 in any other datagram).
fn status_pings(datagram: &str) -> u64 {
    datagram
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pings="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
