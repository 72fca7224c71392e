//! The cases of issue 6. Each returns table rows; a count that differs from
//! what was sent makes the row FAIL whatever the speed.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::Signal;
use nix::sys::time::TimeVal;

use crate::harness::{
    Counters, Daemon, LogSink, PING_LINE, Res, Scratch, cpu_ns_of, make_fifo, open_writer,
    open_writer_nonblocking, read_all, report_field, wait_for_path, wait_with_timeout,
    write_batched,
};
use crate::parser_micro;
use crate::roles;
use crate::stats::{Summary, ms_spread, percentile, ratio_spread, si, si_spread, sig3, summarize};

/// How big and how often; `--quick` scales everything down.
pub struct Params {
    pub rounds: usize,
    pub batched_msgs: u64,
    pub per_message_msgs: u64,
    pub logged_msgs: u64,
    /// The seed stream (seed case): large enough in `--quick` too, since its
    /// target is CPU per message and a short stream would mostly measure
    /// the fixed cost of a run (100 log lines, the stop, the exit).
    pub seed_msgs: u64,
    pub seed_rounds: usize,
    /// Rounds of the seed-style Python client (seed-pair case).
    pub seed_pair_msgs: u64,
    pub latency_samples: usize,
    pub startup_runs: usize,
    pub rss_msgs: u64,
    pub garbage_bytes: u64,
    pub idle_secs: u64,
    pub parser_bytes: usize,
    pub parser_rounds: usize,
}

impl Params {
    pub fn new(quick: bool, rounds: Option<usize>) -> Params {
        let mut p = if quick {
            Params {
                rounds: 3,
                batched_msgs: 10_000_000,
                per_message_msgs: 500_000,
                logged_msgs: 200_000,
                seed_msgs: 1_000_000,
                seed_rounds: 3,
                seed_pair_msgs: 100_000,
                latency_samples: 20_000,
                startup_runs: 20,
                rss_msgs: 10_000_000,
                garbage_bytes: 256 << 20,
                idle_secs: 10,
                parser_bytes: 64 << 20,
                parser_rounds: 3,
            }
        } else {
            Params {
                rounds: 9,
                batched_msgs: 50_000_000,
                per_message_msgs: 2_000_000,
                logged_msgs: 1_000_000,
                seed_msgs: 1_000_000,
                seed_rounds: 5,
                seed_pair_msgs: 1_000_000,
                latency_samples: 100_000,
                startup_runs: 50,
                rss_msgs: 50_000_000,
                garbage_bytes: 1 << 30,
                idle_secs: 10,
                parser_bytes: 512 << 20,
                parser_rounds: 7,
            }
        };
        if let Some(r) = rounds {
            p.rounds = r.max(1);
            p.seed_rounds = r.max(1);
        }
        p
    }
}

pub enum Verdict {
    Pass,
    Fail(String),
    Report,
}

pub struct Row {
    /// Short name for the list of failed rows (`scripts/bench`'s last lines).
    pub name: String,
    pub case: String,
    pub daemon: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Daemon (A) and baseline (B) results of the interleaved rounds.
#[derive(Default)]
struct Paired {
    a: Vec<Option<f64>>,
    b: Vec<Option<f64>>,
    errors: Vec<String>,
}

impl Paired {
    fn run(
        name: &str,
        rounds: usize,
        mut a: impl FnMut() -> Res<f64>,
        mut b: impl FnMut() -> Res<f64>,
    ) -> Paired {
        let mut p = Paired::default();
        for round in 1..=rounds {
            progress(&format!("{name}: round {round}/{rounds}"));
            for (side, f, out) in [
                (
                    "fifo-pingd",
                    &mut a as &mut dyn FnMut() -> Res<f64>,
                    &mut p.a,
                ),
                ("baseline", &mut b as &mut dyn FnMut() -> Res<f64>, &mut p.b),
            ] {
                match f() {
                    Ok(v) => out.push(Some(v)),
                    Err(e) => {
                        progress(&format!("{name}: {side} round {round}: {e}"));
                        p.errors.push(format!("{side} round {round}: {e}"));
                        out.push(None);
                    }
                }
            }
        }
        p
    }

    fn side(v: &[Option<f64>]) -> Option<Summary> {
        summarize(&v.iter().flatten().copied().collect::<Vec<_>>())
    }

    /// Per-round ratios daemon / baseline.
    fn ratios(&self) -> Option<Summary> {
        let r: Vec<f64> = self
            .a
            .iter()
            .zip(&self.b)
            .filter_map(|(a, b)| Some((*a)? / (*b)?))
            .collect();
        summarize(&r)
    }

    /// A throughput row: rates in msgs/s, pass when the median paired ratio
    /// reaches `target` and every run counted exactly.
    fn rate_row(&self, name: String, case: String, target: f64) -> Row {
        let a = Self::side(&self.a);
        let b = Self::side(&self.b);
        let ratio = self.ratios();
        let verdict = if !self.errors.is_empty() {
            Verdict::Fail(self.errors.join("; "))
        } else {
            match ratio {
                Some(r) if r.median >= target => Verdict::Pass,
                Some(r) => Verdict::Fail(format!("median ratio {:.3} < {target}", r.median)),
                None => Verdict::Fail("no complete round".into()),
            }
        };
        Row {
            name,
            case,
            daemon: a.map_or("–".into(), |s| si_spread(&s, "msg/s")),
            baseline: b.map_or("–".into(), |s| si_spread(&s, "msg/s")),
            ratio: ratio.map_or("–".into(), |s| ratio_spread(&s)),
            target: format!("≥ {target}×"),
            verdict,
        }
    }
}

fn count_error(what: &str, expected: &str, got: &str) -> String {
    format!("COUNT MISMATCH ({what}): expected {expected}, got {got}")
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ---------------------------------------------------------------------------
// Throughput into a FIFO: batched and one write() per message

/// Writes `n` pings through `writers` threads (batched or one `write()` per
/// message), then `end\n`, then closes. Returns when the writing started.
fn feed(fifo: &Path, n: u64, writers: usize, per_message: bool) -> Res<Instant> {
    // All opened before the clock starts (the first open waits for a bare
    // reader); the last one writes `end\n` once every writer is done.
    let files = (0..writers)
        .map(|_| open_writer(fifo))
        .collect::<Res<Vec<_>>>()?;
    let mut last = open_writer(fifo)?;
    let barrier = Arc::new(Barrier::new(writers + 1));
    let handles: Vec<_> = files
        .into_iter()
        .enumerate()
        .map(|(i, mut file)| {
            let share = n / writers as u64 + u64::from((i as u64) < n % writers as u64);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || -> Res<()> {
                barrier.wait();
                if per_message {
                    for _ in 0..share {
                        match file.write(b"ping\n") {
                            Ok(5) => {}
                            other => return Err(format!("write(ping) gave {other:?}")),
                        }
                    }
                    Ok(())
                } else {
                    write_batched(&mut file, b"ping\n", share)
                }
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join()
            .map_err(|_| "writer thread panicked".to_owned())??;
    }
    last.write_all(b"end\n")
        .map_err(|e| format!("write(end): {e}"))?;
    Ok(t0)
}

fn daemon_feed_run(n: u64, writers: usize, per_message: bool) -> Res<f64> {
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    // Default rate limit: per-message log lines capped at 100/s.
    let mut daemon = Daemon::spawn(&scratch, &sink.path, 100)?;
    daemon.wait_ready()?;
    let t0 = feed(&daemon.fifo, n, writers, per_message)?;
    let (status, t1) = daemon.wait_exit(RUN_TIMEOUT)?;
    if !status.success() {
        return Err(format!(
            "daemon exited with {status}: {}",
            daemon.stderr_text()
        ));
    }
    let c = sink.wait_summary(Duration::from_secs(5))?;
    if (c.pings, c.ends, c.rejected) != (n, 1, 0) {
        return Err(count_error(
            "daemon",
            &format!("pings={n} ends=1 rejected=0"),
            &format!("pings={} ends={} rejected={}", c.pings, c.ends, c.rejected),
        ));
    }
    Ok(n as f64 / secs(t1 - t0))
}

/// Makes `fifo` and starts the bare read loop on it (it blocks opening it
/// until a writer comes; prints `lines=N bytes=N` at end-of-file).
fn spawn_bare_reader(fifo: &Path) -> Res<Child> {
    make_fifo(fifo)?;
    roles::command("bare-reader")
        .arg(fifo)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the bare reader: {e}"))
}

fn bare_feed_run(n: u64, writers: usize, per_message: bool) -> Res<f64> {
    let scratch = Scratch::new()?;
    let fifo = scratch.path("fifo");
    let mut child = spawn_bare_reader(&fifo)?;
    let t0 = feed(&fifo, n, writers, per_message)?;
    let (status, t1) = wait_with_timeout(&mut child, RUN_TIMEOUT)?;
    let report = read_all(child.stdout.take().expect("piped stdout"));
    if !status.success() {
        return Err(format!("bare reader exited with {status}"));
    }
    let lines = report_field(&report, "lines")?;
    if lines != n + 1 {
        return Err(count_error(
            "bare reader",
            &format!("{} lines", n + 1),
            &lines.to_string(),
        ));
    }
    Ok(n as f64 / secs(t1 - t0))
}

pub fn batched(p: &Params) -> Vec<Row> {
    let n = p.batched_msgs;
    let paired = Paired::run(
        "batched",
        p.rounds,
        || daemon_feed_run(n, 1, false),
        || bare_feed_run(n, 1, false),
    );
    vec![paired.rate_row(
        "batched".into(),
        format!(
            "batched stream: {} `ping\\n` in 64 KiB writes (log lines rate-limited) vs bare read loop counting `\\n`",
            si(n as f64)
        ),
        0.8,
    )]
}

pub fn per_message(p: &Params) -> Vec<Row> {
    let n = p.per_message_msgs;
    [1usize, 4]
        .iter()
        .map(|&writers| {
            let paired = Paired::run(
                &format!("one write per message, {writers} writer(s)"),
                p.rounds,
                || daemon_feed_run(n, writers, true),
                || bare_feed_run(n, writers, true),
            );
            paired.rate_row(
                format!("per-message, {writers} writer(s)"),
                format!(
                    "one `write()` per message, {writers} writer{}, {} messages vs bare read loop",
                    if writers == 1 { "" } else { "s" },
                    si(n as f64)
                ),
                0.9,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Every ping logged

fn daemon_logged_run(n: u64) -> Res<f64> {
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    let mut daemon = Daemon::spawn(&scratch, &sink.path, 0)?;
    daemon.wait_ready()?;
    sink.arm(n);
    let mut writer = open_writer(&daemon.fifo)?;
    let t0 = Instant::now();
    write_batched(&mut writer, b"ping\n", n)?;
    drop(writer);
    let t1 = sink.wait_reached(RUN_TIMEOUT)?;
    daemon.signal(Signal::SIGTERM)?;
    daemon.wait_exit(Duration::from_secs(10))?;
    let c = sink.wait_summary(Duration::from_secs(5))?;
    let lines = sink.ping_lines();
    if c.pings != n || c.log_lines_dropped != 0 || lines != n {
        return Err(count_error(
            "every ping logged",
            &format!("pings={n}, {n} datagrams, 0 dropped"),
            &format!(
                "pings={}, {lines} datagrams, log_lines_dropped={}",
                c.pings, c.log_lines_dropped
            ),
        ));
    }
    Ok(n as f64 / secs(t1 - t0))
}

fn sender_run(n: u64) -> Res<f64> {
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    sink.arm(n);
    let mut child = roles::command("dgram-sender")
        .arg(&sink.path)
        .arg(n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the datagram sender: {e}"))?;
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .map_err(|e| format!("sender: {e}"))?;
    if line.trim() != "ready" {
        return Err(format!("sender said {line:?}"));
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    let t0 = Instant::now();
    stdin
        .write_all(b"go\n")
        .map_err(|e| format!("sender stdin: {e}"))?;
    let t1 = sink.wait_reached(RUN_TIMEOUT)?;
    let (status, _) = wait_with_timeout(&mut child, Duration::from_secs(10))?;
    let report = read_all(stdout);
    let errors = report_field(&report, "errors")?;
    // Anything late would have arrived by now (the sender has exited).
    std::thread::sleep(Duration::from_millis(20));
    let lines = sink.ping_lines();
    if !status.success() || errors != 0 || lines != n {
        return Err(count_error(
            "datagram sender",
            &format!("{n} datagrams"),
            &format!("{lines} datagrams, {errors} send errors, {status}"),
        ));
    }
    Ok(n as f64 / secs(t1 - t0))
}

pub fn logged(p: &Params) -> Vec<Row> {
    let n = p.logged_msgs;
    let paired = Paired::run(
        "every ping logged",
        p.rounds,
        || daemon_logged_run(n),
        || sender_run(n),
    );
    vec![paired.rate_row(
        "logged".into(),
        format!(
            "every ping logged (`ping_lines_per_second = 0`), {} pings → {} datagrams at the sink vs bare datagram sender",
            si(n as f64),
            si(n as f64)
        ),
        0.8,
    )]
}

// ---------------------------------------------------------------------------
// The seed-style Python server

fn seed_stream(n: u64) -> Vec<u8> {
    let mut s = b"ping".repeat(n as usize);
    s.extend_from_slice(b"end");
    s
}

/// Writes the stream in 64 KiB writes and closes the writer.
fn write_stream(mut writer: File, stream: &[u8]) -> Res<Instant> {
    let t0 = Instant::now();
    for chunk in stream.chunks(64 * 1024) {
        writer.write_all(chunk).map_err(|e| format!("write: {e}"))?;
    }
    Ok(t0)
}

/// The Python that runs the seed server.
struct Python {
    path: String,
    version: String,
}

/// `$BENCH_PYTHON` or `python3`, resolved to the interpreter itself: a
/// version manager's shim (pyenv's is a shell script) would otherwise add
/// its own start-up and child processes to every run's CPU figures.
fn python_interpreter() -> &'static Python {
    static PYTHON: OnceLock<Python> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let named = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        let asked = std::process::Command::new(&named)
            .args([
                "-c",
                "import sys; print(sys.executable); print(sys.version.split()[0])",
            ])
            .stderr(Stdio::null())
            .output();
        let text = match &asked {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
            _ => String::new(),
        };
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(path), Some(version)) if !path.is_empty() => Python {
                path: path.to_owned(),
                version: version.to_owned(),
            },
            _ => Python {
                path: named,
                version: "unknown version".into(),
            },
        }
    })
}

/// Wall time (first write to exit) and CPU time from the server's ready
/// point (READY=1; the FIFO opened by both ends) to its exit. Start-up, for
/// Python ~0.1 s of interpreter start, is left out of the CPU; the stop is in.
#[derive(Debug, Clone, Copy)]
struct ServerRun {
    wall: f64,
    cpu: f64,
}

/// CPU the child `pid` used from now until it is reaped by `wait`: its
/// schedstat now, its total from the kernel's accounting at the reaping.
fn cpu_until_reaped<T>(pid: u32, wait: impl FnOnce() -> Res<T>) -> Res<(T, f64)> {
    let at_ready = cpu_ns_of(pid)? as f64 * 1e-9;
    let reaped_before = children_cpu_secs()?;
    let result = wait()?;
    let total = children_cpu_secs()? - reaped_before;
    Ok((result, total - at_ready))
}

/// User + system CPU of all reaped children so far: around one `wait` it is
/// that child's CPU (the bench reaps one child at a time). Exact to the
/// microsecond, unlike the 10 ms ticks of /proc/PID/stat.
fn children_cpu_secs() -> Res<f64> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| format!("getrusage: {e}"))?;
    let secs = |t: TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 * 1e-6;
    Ok(secs(usage.user_time()) + secs(usage.system_time()))
}

fn daemon_seed_run(n: u64, stream: &[u8]) -> Res<ServerRun> {
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    let mut daemon = Daemon::spawn(&scratch, &sink.path, 100)?;
    daemon.wait_ready()?;
    let pid = daemon.pid();
    let writer = open_writer(&daemon.fifo)?;
    let ((t0, (status, t1)), cpu) = cpu_until_reaped(pid, || {
        let t0 = write_stream(writer, stream)?;
        Ok((t0, daemon.wait_exit(RUN_TIMEOUT)?))
    })?;
    let c = sink.wait_summary(Duration::from_secs(5))?;
    if !status.success() || (c.pings, c.ends, c.rejected) != (n, 1, 0) {
        return Err(count_error(
            "daemon, seed stream",
            &format!("pings={n} ends=1 rejected=0"),
            &format!(
                "pings={} ends={} rejected={} ({status})",
                c.pings, c.ends, c.rejected
            ),
        ));
    }
    Ok(ServerRun {
        wall: secs(t1 - t0),
        cpu,
    })
}

/// Starts `benches/python/NAME` under the resolved Python, stdout to
/// /dev/null and block-buffered unless `unbuffered`.
fn python_script(name: &str, unbuffered: bool) -> std::process::Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/python")
        .join(name);
    let mut command = std::process::Command::new(&python_interpreter().path);
    command.arg(script).stdout(Stdio::null());
    if unbuffered {
        command.env("PYTHONUNBUFFERED", "1");
    } else {
        command.env_remove("PYTHONUNBUFFERED");
    }
    command
}

/// The seed-style server on `fifo` (it makes the FIFO, then blocks opening it).
fn spawn_seed_server(fifo: &Path, unbuffered: bool) -> Res<Child> {
    let child = python_script("seed_server.py", unbuffered)
        .arg(fifo)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", python_interpreter().path))?;
    wait_for_path(fifo, Duration::from_secs(30))?;
    Ok(child)
}

/// Waits for the seed server to exit; checks its `pings=N` report.
fn check_seed_server(child: &mut Child, status: ExitStatus, n: u64) -> Res<()> {
    let report = read_all(child.stderr.take().expect("piped stderr"));
    let pings = report_field(&report, "pings")?;
    if !status.success() || pings != n {
        return Err(count_error(
            "seed server",
            &format!("pings={n}"),
            &format!("pings={pings} ({status}) {report}"),
        ));
    }
    Ok(())
}

fn python_seed_run(n: u64, stream: &[u8], unbuffered: bool) -> Res<ServerRun> {
    let scratch = Scratch::new()?;
    let fifo = scratch.path("fifo");
    let mut child = spawn_seed_server(&fifo, unbuffered)?;
    // Once the writer is open, the interpreter has started and opened the
    // FIFO: its ready point.
    let (status, run) = feed_and_reap(&mut child, &fifo, stream)?;
    check_seed_server(&mut child, status, n)?;
    Ok(run)
}

/// Opens the FIFO for writing (the child has it open: its ready point),
/// writes the stream, closes and waits for the child to exit.
fn feed_and_reap(child: &mut Child, fifo: &Path, stream: &[u8]) -> Res<(ExitStatus, ServerRun)> {
    let writer = open_writer(fifo)?;
    let ((t0, (status, t1)), cpu) = cpu_until_reaped(child.id(), || {
        let t0 = write_stream(writer, stream)?;
        Ok((t0, wait_with_timeout(child, RUN_TIMEOUT)?))
    })?;
    let run = ServerRun {
        wall: secs(t1 - t0),
        cpu,
    };
    Ok((status, run))
}

/// The same stream into the bare read loop: what the pipe alone allows.
fn bare_seed_run(stream: &[u8]) -> Res<ServerRun> {
    let scratch = Scratch::new()?;
    let fifo = scratch.path("fifo");
    let mut child = spawn_bare_reader(&fifo)?;
    let (status, run) = feed_and_reap(&mut child, &fifo, stream)?;
    let report = read_all(child.stdout.take().expect("piped stdout"));
    let bytes = report_field(&report, "bytes")?;
    if !status.success() || bytes != stream.len() as u64 {
        return Err(count_error(
            "bare reader, seed stream",
            &format!("bytes={}", stream.len()),
            &format!("bytes={bytes} ({status})"),
        ));
    }
    Ok(run)
}

/// The seed case's sides, in the order they alternate within a round:
/// fifo-pingd, Python, Python unbuffered, the bare read loop.
const SEED_SIDES: usize = 4;
const SEED_DAEMON: usize = 0;
const SEED_BARE: usize = 3;

/// The seed row's target (issue 12): fifo-pingd's CPU per message on the
/// seed stream at most this many times the bare read loop's, both measured
/// in the same rounds (median of the per-round ratios).
const SEED_CPU_TARGET: f64 = 2.5;

pub fn seed(p: &Params) -> Vec<Row> {
    let n = p.seed_msgs;
    let stream = seed_stream(n);
    // Per round, interleaved: fifo-pingd, Python (block-buffered stdout, its
    // fastest), Python with PYTHONUNBUFFERED=1 (as this machine's environment
    // sets it) and the bare read loop (the ceiling the pipe allows).
    let sides: [(&str, &dyn Fn() -> Res<ServerRun>); SEED_SIDES] = [
        ("fifo-pingd", &|| daemon_seed_run(n, &stream)),
        ("Python", &|| python_seed_run(n, &stream, false)),
        ("Python unbuffered", &|| python_seed_run(n, &stream, true)),
        ("bare read loop", &|| bare_seed_run(&stream)),
    ];
    let (runs, errors) = interleave("seed", p.seed_rounds, &sides);
    let of = |side: &[Option<ServerRun>], value: fn(&ServerRun) -> f64| {
        summarize(&side.iter().flatten().map(value).collect::<Vec<_>>())
    };
    let walls: [Option<Summary>; SEED_SIDES] = std::array::from_fn(|i| of(&runs[i], |r| r.wall));
    let cpus: [Option<Summary>; SEED_SIDES] = std::array::from_fn(|i| of(&runs[i], |r| r.cpu));
    // Round by round: fifo-pingd's CPU over the bare read loop's (the same
    // stream, so also the ratio of CPU per message).
    let cpu_ratios: Vec<f64> = runs[SEED_DAEMON]
        .iter()
        .zip(&runs[SEED_BARE])
        .filter_map(|(d, b)| Some(d.as_ref()?.cpu / b.as_ref()?.cpu))
        .collect();
    let target_errors: Vec<String> = [SEED_DAEMON, SEED_BARE]
        .iter()
        .flat_map(|&i| errors[i].iter().cloned())
        .collect();
    let all_errors: Vec<String> = errors.concat();
    vec![
        seed_cpu_target_row(n, &cpus, summarize(&cpu_ratios), &target_errors),
        seed_wall_row(n, &walls, &all_errors),
        seed_cpu_row(n, &cpus, &all_errors),
    ]
}

/// CPU per message as `2.16 ns/msg (0.76–2.51)`.
fn ns_per_msg(s: &Option<Summary>, n: u64) -> String {
    s.as_ref().map_or("–".into(), |s| {
        let ns = scale(s, 1e9 / n as f64);
        format!(
            "{} ns/msg ({}–{})",
            sig3(ns.median),
            sig3(ns.min),
            sig3(ns.max)
        )
    })
}

/// A median in seconds as `4.86 ms`.
fn total_ms(s: &Option<Summary>) -> String {
    s.as_ref()
        .map_or("–".into(), |s| format!("{} ms", sig3(s.median * 1e3)))
}

/// The seed stream's target row: CPU per message, fifo-pingd against the
/// bare read loop on the same stream in the same rounds.
fn seed_cpu_target_row(
    n: u64,
    cpus: &[Option<Summary>; SEED_SIDES],
    ratios: Option<Summary>,
    errors: &[String],
) -> Row {
    let (daemon, bare) = (&cpus[SEED_DAEMON], &cpus[SEED_BARE]);
    let verdict = if !errors.is_empty() {
        Verdict::Fail(errors.join("; "))
    } else {
        match ratios {
            Some(r) if r.median <= SEED_CPU_TARGET => Verdict::Pass,
            Some(r) => Verdict::Fail(format!(
                "median ratio {}× > {SEED_CPU_TARGET}× (fifo-pingd {}, bare read loop {})",
                sig3(r.median),
                ns_per_msg(daemon, n),
                ns_per_msg(bare, n)
            )),
            None => Verdict::Fail("no complete round".into()),
        }
    };
    Row {
        name: "seed, CPU per message vs bare read loop".into(),
        case: format!(
            "seed stream, CPU per message: {} back-to-back `ping` + `end` in 64 KiB writes; user + system CPU of the reader from its ready point (READY=1; bare read loop: FIFO opened by both ends) to its exit, vs the bare read loop (blocking 64 KiB `read()`, vectorised `\\n` count) on the same stream, same rounds",
            si(n as f64)
        ),
        daemon: format!("{}; {} in all", ns_per_msg(daemon, n), total_ms(daemon)),
        baseline: format!(
            "bare read loop: {}; {} in all",
            ns_per_msg(bare, n),
            total_ms(bare)
        ),
        ratio: ratios.map_or("–".into(), |s| ratio_spread(&s)),
        target: format!("≤ {SEED_CPU_TARGET}× the bare loop's"),
        verdict,
    }
}

/// A report row's verdict: FAIL only when a run failed or miscounted.
fn report_verdict(errors: &[String]) -> Verdict {
    if errors.is_empty() {
        Verdict::Report
    } else {
        Verdict::Fail(errors.join("; "))
    }
}

/// The seed stream against the seed-style Python server in wall time: for
/// comparison (issue 12 replaced its ≥ 1000× target by the CPU row above).
fn seed_wall_row(n: u64, walls: &[Option<Summary>; SEED_SIDES], errors: &[String]) -> Row {
    let [daemon, python, python_unbuffered, bare] = walls;
    let speedup = |other: &Option<Summary>| -> Option<f64> {
        Some(other.as_ref()?.median / daemon.as_ref()?.median)
    };
    let rate = |s: &Option<Summary>| {
        s.as_ref().map_or("–".into(), |s| {
            format!("{}msg/s", si(n as f64 / s.median))
        })
    };
    Row {
        name: "seed, wall time vs Python".into(),
        case: format!(
            "seed stream vs Python, wall time: the same {} messages into a seed-style Python server (`os.read(fd, 4)`, print each); time from the first write to the server's exit, same for all; for comparison",
            si(n as f64)
        ),
        daemon: format!(
            "{} = {} (bare read loop, same stream: {})",
            ms(daemon),
            rate(daemon),
            ms(bare)
        ),
        baseline: format!(
            "Python {}, stdout block-buffered: {} = {}; PYTHONUNBUFFERED=1: {} = {}",
            python_interpreter().version,
            ms(python),
            rate(python),
            ms(python_unbuffered),
            rate(python_unbuffered)
        ),
        ratio: format!(
            "{} faster (unbuffered: {}; bare read loop vs Python: {})",
            times_x(speedup(python)),
            times_x(speedup(python_unbuffered)),
            speedup_of(python, bare)
        ),
        target: "– (report)".into(),
        verdict: report_verdict(errors),
    }
}

/// The same runs in CPU time against Python: what each server burns for
/// the stream, from its ready point to its exit.
fn seed_cpu_row(n: u64, cpus: &[Option<Summary>; SEED_SIDES], errors: &[String]) -> Row {
    let [daemon, python, python_unbuffered, bare] = cpus;
    let per_msg = |s: &Option<Summary>| {
        s.as_ref().map_or("–".into(), |s| {
            format!("{} ns/msg", sig3(s.median * 1e9 / n as f64))
        })
    };
    Row {
        name: "seed, CPU time vs Python".into(),
        case: format!(
            "seed stream vs Python, CPU time: user + system CPU of the server for the same {} messages, from its ready point (READY=1; Python: FIFO opened by both ends) to its exit; for comparison",
            si(n as f64)
        ),
        daemon: format!(
            "{} = {} (bare read loop: {})",
            ms(daemon),
            per_msg(daemon),
            ms(bare)
        ),
        baseline: format!(
            "stdout block-buffered: {} = {}; PYTHONUNBUFFERED=1: {}",
            ms(python),
            per_msg(python),
            ms(python_unbuffered)
        ),
        ratio: format!(
            "{} less CPU (unbuffered: {}; bare read loop vs Python: {})",
            speedup_of(python, daemon),
            speedup_of(python_unbuffered, daemon),
            speedup_of(python, bare)
        ),
        target: "– (report)".into(),
        verdict: report_verdict(errors),
    }
}

fn times_x(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{}×", sig3(x)))
}

// ---------------------------------------------------------------------------
// The seed pair as published

/// The seed-style Python client with `n` rounds, its FIFO open, waiting for
/// the word to start.
struct SeedClient {
    child: Child,
}

impl SeedClient {
    fn start(fifo: &Path, n: u64) -> Res<SeedClient> {
        let mut child = python_script("seed_client.py", false)
            .arg(fifo)
            .arg(n.to_string())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the seed client: {e}"))?;
        let mut line = String::new();
        let stderr = child.stderr.as_mut().expect("piped stderr");
        // One line, then nothing until exit: reading it through a BufReader
        // loses nothing.
        let said = BufReader::new(stderr).read_line(&mut line);
        if said.is_err() || line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the seed client said {line:?} instead of ready"));
        }
        Ok(SeedClient { child })
    }

    /// Starts the rounds; the instant it did.
    fn go(&mut self) -> Res<Instant> {
        let mut stdin = self.child.stdin.take().expect("piped stdin");
        let t0 = Instant::now();
        stdin
            .write_all(b"go\n")
            .map_err(|e| format!("seed client stdin: {e}"))?;
        Ok(t0)
    }

    fn wait(mut self) -> Res<()> {
        let (status, _) = wait_with_timeout(&mut self.child, RUN_TIMEOUT)?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the seed client exited with {status}"))
        }
    }
}

/// The seed client's rounds into fifo-pingd: messages per second from the
/// start of the rounds to the daemon's exit.
fn daemon_seed_pair_run(n: u64) -> Res<f64> {
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    let mut daemon = Daemon::spawn(&scratch, &sink.path, 100)?;
    daemon.wait_ready()?;
    let mut client = SeedClient::start(&daemon.fifo, n)?;
    let t0 = client.go()?;
    client.wait()?;
    let (status, t1) = daemon.wait_exit(RUN_TIMEOUT)?;
    let c = sink.wait_summary(Duration::from_secs(5))?;
    if !status.success() || (c.pings, c.ends) != (n, 1) {
        return Err(count_error(
            "daemon, seed client",
            &format!("pings={n} ends=1"),
            &format!("pings={} ends={} ({status})", c.pings, c.ends),
        ));
    }
    Ok(n as f64 / secs(t1 - t0))
}

/// The seed pair as published: the seed client into the seed server.
fn python_seed_pair_run(n: u64) -> Res<f64> {
    let scratch = Scratch::new()?;
    let fifo = scratch.path("fifo");
    let mut server = spawn_seed_server(&fifo, false)?;
    let mut client = SeedClient::start(&fifo, n)?;
    let t0 = client.go()?;
    client.wait()?;
    let (status, t1) = wait_with_timeout(&mut server, RUN_TIMEOUT)?;
    check_seed_server(&mut server, status, n)?;
    Ok(n as f64 / secs(t1 - t0))
}

/// The seed client's rounds into the bare read loop.
fn bare_seed_pair_run(n: u64) -> Res<f64> {
    let scratch = Scratch::new()?;
    let fifo = scratch.path("fifo");
    let mut reader = spawn_bare_reader(&fifo)?;
    let mut client = SeedClient::start(&fifo, n)?;
    let t0 = client.go()?;
    client.wait()?;
    let (status, t1) = wait_with_timeout(&mut reader, RUN_TIMEOUT)?;
    let report = read_all(reader.stdout.take().expect("piped stdout"));
    let bytes = report_field(&report, "bytes")?;
    if !status.success() || bytes != 4 * n + 3 {
        return Err(count_error(
            "bare reader, seed client",
            &format!("bytes={}", 4 * n + 3),
            &format!("bytes={bytes} ({status})"),
        ));
    }
    Ok(n as f64 / secs(t1 - t0))
}

/// The seed's own pair (its client writes each message with its own
/// `write()`), and the same client into fifo-pingd and into the bare read
/// loop: the setting of the 205 k msg/s figure. Reported, no target.
pub fn seed_pair(p: &Params) -> Vec<Row> {
    let n = p.seed_pair_msgs;
    let sides: [(&str, &dyn Fn() -> Res<f64>); 3] = [
        ("fifo-pingd", &|| daemon_seed_pair_run(n)),
        ("Python server", &|| python_seed_pair_run(n)),
        ("bare read loop", &|| bare_seed_pair_run(n)),
    ];
    let (rates, errors) = interleave("seed pair", p.seed_rounds, &sides);
    let [daemon, python, bare] =
        rates.map(|r| summarize(&r.into_iter().flatten().collect::<Vec<_>>()));
    let rate = |s: &Option<Summary>| s.as_ref().map_or("–".into(), |s| si_spread(s, "msg/s"));
    // Rates: the ratio of two is how many times faster the first is.
    let vs_python = |s: &Option<Summary>| speedup_of(s, &python);
    vec![Row {
        name: "seed pair".into(),
        case: format!(
            "seed pair as published: the seed-style Python client (per message one `os.write(fd, b\"ping\")` and one print, stdout block-buffered; {} rounds + `end`) into each server; from the client's start to the server's exit",
            si(n as f64)
        ),
        daemon: format!("{} (bare read loop: {})", rate(&daemon), rate(&bare)),
        baseline: format!("seed-style Python server: {}", rate(&python)),
        ratio: format!(
            "{} the Python server's rate (bare read loop: {})",
            vs_python(&daemon),
            vs_python(&bare)
        ),
        target: "– (report)".into(),
        verdict: report_verdict(&errors.concat()),
    }]
}

/// Runs every side once per round, in order. Per side: one result per
/// round (`None` for a failed run, so that rounds stay aligned across
/// sides) and the errors of its failed runs.
type Interleaved<T, const N: usize> = ([Vec<Option<T>>; N], [Vec<String>; N]);

fn interleave<T, const N: usize>(
    name: &str,
    rounds: usize,
    sides: &[(&str, &dyn Fn() -> Res<T>); N],
) -> Interleaved<T, N> {
    let mut results: [Vec<Option<T>>; N] = std::array::from_fn(|_| Vec::new());
    let mut errors: [Vec<String>; N] = std::array::from_fn(|_| Vec::new());
    for round in 1..=rounds {
        progress(&format!("{name}: round {round}/{rounds}"));
        for (i, (side, run)) in sides.iter().enumerate() {
            match run() {
                Ok(result) => results[i].push(Some(result)),
                Err(e) => {
                    progress(&format!("{name}: {side} round {round}: {e}"));
                    errors[i].push(format!("{side} round {round}: {e}"));
                    results[i].push(None);
                }
            }
        }
    }
    (results, errors)
}

/// Seconds as `1.23 ms (1.01–1.50)`, or a dash when there were no runs.
fn ms(s: &Option<Summary>) -> String {
    s.as_ref().map_or("–".into(), |s| ms_spread(&scale(s, 1e3)))
}

/// How many times faster `fast` is than `slow` (medians), as text.
fn speedup_of(slow: &Option<Summary>, fast: &Option<Summary>) -> String {
    match (slow, fast) {
        (Some(s), Some(f)) => format!("{}×", sig3(s.median / f.median)),
        _ => "–".into(),
    }
}

fn scale(s: &Summary, k: f64) -> Summary {
    Summary {
        median: s.median * k,
        min: s.min * k,
        max: s.max * k,
        n: s.n,
    }
}

// ---------------------------------------------------------------------------
// Latency

/// Latency blocks per side, alternating fifo-pingd and the bare loop.
const LATENCY_BLOCKS: usize = 2;
const LATENCY_WARMUP: usize = 1000;

pub fn latency(p: &Params) -> Vec<Row> {
    let case = format!(
        "latency: write one `ping\\n` → its `received ping` datagram at the sink ({} samples, every ping logged; {LATENCY_BLOCKS} blocks per side, A B A B)",
        si(p.latency_samples as f64)
    );
    let per_block = p.latency_samples.div_ceil(LATENCY_BLOCKS);
    let (mut daemon_us, mut bare_us) = (Vec::new(), Vec::new());
    for block in 1..=LATENCY_BLOCKS {
        progress(&format!(
            "latency: block {block}/{LATENCY_BLOCKS}, {per_block} samples per side"
        ));
        match daemon_latency_run(per_block) {
            Ok(us) => daemon_us.extend(us),
            Err(e) => return vec![failed_row("latency", case, "p99 ≤ 100 µs", e)],
        }
        match bare_latency_run(per_block) {
            Ok(us) => bare_us.extend(us),
            Err(e) => {
                return vec![failed_row(
                    "latency",
                    case,
                    "p99 ≤ 100 µs",
                    format!("bare loop: {e}"),
                )];
            }
        }
    }
    let daemon = Percentiles::of(daemon_us);
    let bare = Percentiles::of(bare_us);
    vec![Row {
        name: "latency".into(),
        case,
        daemon: daemon.to_string(),
        baseline: format!("bare loop (blocking `read()` → `send()`): {bare}"),
        ratio: format!("p99 {}× the bare loop's", sig3(daemon.p99 / bare.p99)),
        target: "p99 ≤ 100 µs".into(),
        verdict: if daemon.p99 <= 100.0 {
            Verdict::Pass
        } else {
            Verdict::Fail(format!(
                "p99 {} µs (the bare loop's p99 on the same machine, same run: {} µs)",
                sig3(daemon.p99),
                sig3(bare.p99)
            ))
        },
    }]
}

struct Percentiles {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut us: Vec<f64>) -> Percentiles {
        us.sort_by(f64::total_cmp);
        Percentiles {
            p50: percentile(&us, 50.0),
            p99: percentile(&us, 99.0),
            p999: percentile(&us, 99.9),
            max: us.last().copied().unwrap_or(f64::NAN),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} µs, p99 {} µs, p99.9 {} µs (max {} µs)",
            sig3(self.p50),
            sig3(self.p99),
            sig3(self.p999),
            sig3(self.max)
        )
    }
}

fn failed_row(name: &str, case: String, target: &str, error: String) -> Row {
    progress(&format!("FAILED: {error}"));
    Row {
        name: name.into(),
        case,
        daemon: "–".into(),
        baseline: "–".into(),
        ratio: "–".into(),
        target: target.into(),
        verdict: Verdict::Fail(error),
    }
}

/// A bound sink socket, emptied of what is queued, that waits up to 5 s.
fn latency_sink(path: &Path) -> Res<UnixDatagram> {
    let sock = UnixDatagram::bind(path).map_err(|e| format!("bind: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    Ok(sock)
}

fn drain(sock: &UnixDatagram) -> Res<()> {
    let mut buf = [0u8; 4096];
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    while sock.recv(&mut buf).is_ok() {}
    sock.set_nonblocking(false).map_err(|e| e.to_string())
}

/// Microseconds from each `write()` of one `ping\n` until its datagram
/// arrives, after [`LATENCY_WARMUP`] unmeasured ones.
fn sample_latency(fifo: &Path, sock: &UnixDatagram, samples: usize) -> Res<Vec<f64>> {
    let mut writer = open_writer(fifo)?;
    let mut buf = [0u8; 4096];
    let mut us = Vec::with_capacity(samples);
    for i in 0..LATENCY_WARMUP + samples {
        let t0 = Instant::now();
        writer
            .write_all(b"ping\n")
            .map_err(|e| format!("write: {e}"))?;
        loop {
            let n = sock
                .recv(&mut buf)
                .map_err(|e| format!("sample {i}: no datagram: {e}"))?;
            if buf[..n].ends_with(PING_LINE) {
                break;
            }
        }
        if i >= LATENCY_WARMUP {
            us.push(secs(t0.elapsed()) * 1e6);
        }
    }
    Ok(us)
}

fn daemon_latency_run(samples: usize) -> Res<Vec<f64>> {
    let scratch = Scratch::new()?;
    let path = scratch.path("log.sock");
    let sock = latency_sink(&path)?;
    let mut daemon = Daemon::spawn(&scratch, &path, 0)?;
    daemon.wait_ready()?;
    drain(&sock)?;
    let us = sample_latency(&daemon.fifo, &sock, samples)?;
    daemon.signal(Signal::SIGTERM)?;
    daemon.wait_exit(Duration::from_secs(10))?;
    let sent = (LATENCY_WARMUP + samples) as u64;
    let mut buf = [0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .map_err(|e| format!("no stop summary: {e}"))?;
        let text = String::from_utf8_lossy(&buf[..n]);
        if text.contains("stopping (") {
            let c = Counters::parse(&text)?;
            if c.pings != sent || c.log_lines_dropped != 0 {
                return Err(count_error(
                    "latency",
                    &format!("pings={sent}"),
                    &format!("pings={} dropped={}", c.pings, c.log_lines_dropped),
                ));
            }
            return Ok(us);
        }
    }
}

fn bare_latency_run(samples: usize) -> Res<Vec<f64>> {
    let scratch = Scratch::new()?;
    let fifo = scratch.path("fifo");
    make_fifo(&fifo)?;
    let path = scratch.path("log.sock");
    let sock = latency_sink(&path)?;
    let mut child = spawn_bare_echo(&fifo, &path)?;
    let result = sample_latency(&fifo, &sock, samples);
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Starts the bare read → send loop on `fifo` (made already), logging to
/// `socket`; returns once it has both open.
fn spawn_bare_echo(fifo: &Path, socket: &Path) -> Res<Child> {
    let mut child = roles::command("bare-echo")
        .arg(fifo)
        .arg(socket)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the bare loop: {e}"))?;
    let mut line = String::new();
    let said = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line);
    if said.is_err() || line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("the bare loop said {line:?} instead of ready"));
    }
    Ok(child)
}

// ---------------------------------------------------------------------------
// Start and stop

pub fn startup(p: &Params) -> Vec<Row> {
    progress(&format!(
        "exec → READY=1 and SIGTERM → exit: {} runs",
        p.startup_runs
    ));
    let mut ready_ms = Vec::new();
    let mut stop_ms = Vec::new();
    let mut errors = Vec::new();
    for run in 0..p.startup_runs {
        match start_stop_run() {
            Ok((r, s)) => {
                ready_ms.push(r);
                stop_ms.push(s);
            }
            Err(e) => errors.push(format!("run {run}: {e}")),
        }
    }
    let row = |name: &str, case: &str, v: &[f64], limit: f64| {
        let s = summarize(v);
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        let verdict = if !errors.is_empty() {
            Verdict::Fail(errors.join("; "))
        } else {
            match s {
                Some(s) if s.median <= limit => Verdict::Pass,
                Some(s) => Verdict::Fail(format!("median {} ms", sig3(s.median))),
                None => Verdict::Fail("no run".into()),
            }
        };
        Row {
            name: name.into(),
            case: case.into(),
            daemon: s.map_or("–".into(), |s| {
                format!(
                    "{}, p90 {} ms",
                    ms_spread(&s),
                    sig3(percentile(&sorted, 90.0))
                )
            }),
            baseline: "–".into(),
            ratio: "–".into(),
            target: format!("≤ {limit} ms (median)"),
            verdict,
        }
    };
    vec![
        row(
            "startup: exec → READY=1",
            &format!(
                "exec → READY=1 on NOTIFY_SOCKET ({} runs; from before fork/exec to the datagram's receipt)",
                p.startup_runs
            ),
            &ready_ms,
            5.0,
        ),
        row(
            "stop: SIGTERM → exit",
            &format!(
                "SIGTERM → exit ({} runs, idle daemon; kill() to waitpid() return, incl. the stop summary)",
                p.startup_runs
            ),
            &stop_ms,
            10.0,
        ),
    ]
}

fn start_stop_run() -> Res<(f64, f64)> {
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    let mut daemon = Daemon::spawn(&scratch, &sink.path, 100)?;
    let ready = daemon.wait_ready()?;
    let ready_ms = secs(ready - daemon.spawned_at) * 1e3;
    // Let it settle into its idle poll().
    std::thread::sleep(Duration::from_millis(20));
    let t0 = Instant::now();
    daemon.signal(Signal::SIGTERM)?;
    let (status, t1) = daemon.wait_exit(Duration::from_secs(5))?;
    if !status.success() {
        return Err(format!("exit status {status}"));
    }
    sink.wait_summary(Duration::from_secs(2))?;
    Ok((ready_ms, secs(t1 - t0) * 1e3))
}

// ---------------------------------------------------------------------------
// Memory

pub fn rss(p: &Params) -> Vec<Row> {
    let mut rows = Vec::new();
    let cases: [(&str, String, &[u8], u64, u64); 2] = [
        (
            "peak RSS, ping stream",
            format!(
                "peak RSS (VmHWM) after {} `ping\\n` in 64 KiB writes",
                si(p.rss_msgs as f64)
            ),
            b"ping\n",
            p.rss_msgs,
            4,
        ),
        (
            "peak RSS, garbage",
            format!(
                "peak RSS (VmHWM) after {} MiB of garbage without separators",
                p.garbage_bytes >> 20
            ),
            b"x",
            p.garbage_bytes,
            8,
        ),
    ];
    for (name, case, unit, count, limit_mib) in cases {
        progress(&format!("rss: {case}"));
        let target = format!("≤ {limit_mib} MiB");
        match rss_run(unit, count) {
            Ok((start_kib, peak_kib, c)) => rows.push(Row {
                name: name.into(),
                case,
                daemon: format!(
                    "{:.2} MiB (after READY=1: {:.2} MiB; rejected={})",
                    peak_kib as f64 / 1024.0,
                    start_kib as f64 / 1024.0,
                    c.rejected
                ),
                baseline: "–".into(),
                ratio: "–".into(),
                target,
                verdict: if peak_kib <= limit_mib * 1024 {
                    Verdict::Pass
                } else {
                    Verdict::Fail(format!("{peak_kib} KiB"))
                },
            }),
            Err(e) => rows.push(failed_row(name, case, &target, e)),
        }
    }
    rows
}

/// VmHWM after READY=1 and after the stream was counted, and the counters.
fn rss_run(unit: &[u8], count: u64) -> Res<(u64, u64, Counters)> {
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    let mut daemon = Daemon::spawn(&scratch, &sink.path, 100)?;
    daemon.wait_ready()?;
    let start = daemon.vm_hwm_kib()?;
    let mut writer = open_writer(&daemon.fifo)?;
    write_batched(&mut writer, unit, count)?;
    drop(writer);
    let bytes = count * unit.len() as u64;
    // Ask for the counters (SIGUSR1) until everything written was read.
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let from = sink.others_len();
        daemon.signal(Signal::SIGUSR1)?;
        let (_, line) = sink.wait_line(from, "counters:", Duration::from_secs(5))?;
        if Counters::parse(&line)?.bytes >= bytes {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("not all read: {line}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let peak = daemon.vm_hwm_kib()?;
    daemon.signal(Signal::SIGTERM)?;
    daemon.wait_exit(Duration::from_secs(10))?;
    let c = sink.wait_summary(Duration::from_secs(5))?;
    let pings = if unit == b"ping\n" { count } else { 0 };
    if c.pings != pings || c.bytes != bytes {
        return Err(count_error(
            "rss",
            &format!("pings={pings} bytes={bytes}"),
            &format!("pings={} bytes={}", c.pings, c.bytes),
        ));
    }
    Ok((start, peak, c))
}

// ---------------------------------------------------------------------------
// Idle

pub fn idle(p: &Params) -> Vec<Row> {
    let case = format!(
        "CPU over {} s idle, FIFO open, a writer opening and closing every 50 ms (every 10th writes a ping)",
        p.idle_secs
    );
    // The target is per 10 s; a shorter (quick) run is held to its share.
    let limit_ms = 10.0 * p.idle_secs as f64 / 10.0;
    let target = format!("< {limit_ms:.0} ms");
    progress(&format!("idle: {} s, fifo-pingd", p.idle_secs));
    let daemon = idle_daemon_run(p.idle_secs);
    // The same events into the bare loop (blocking read, one datagram per
    // ping): what the wake-ups alone cost on this machine, which varies
    // several-fold between hosts and hours.
    progress(&format!("idle: {} s, bare loop", p.idle_secs));
    let bare = idle_bare_run(p.idle_secs);
    match daemon {
        Ok(d) => {
            let (baseline, ratio) = match &bare {
                Ok(b) => (
                    format!(
                        "bare loop (blocking `read()` → `send()` per ping), same writers: {:.2} ms on CPU; {} writers, {} pings",
                        b.sched_ms, b.opens, b.pings
                    ),
                    if b.sched_ms > 0.0 {
                        format!("{}× the bare loop's CPU", sig3(d.sched_ms / b.sched_ms))
                    } else {
                        "–".into()
                    },
                ),
                Err(e) => (format!("bare loop failed: {e}"), "–".into()),
            };
            vec![Row {
                name: "idle".into(),
                case,
                daemon: format!(
                    "{:.2} ms on CPU (schedstat); utime+stime {:.0} ms (in 10 ms ticks); {} writers, {} pings counted",
                    d.sched_ms, d.stat_ms, d.opens, d.pings
                ),
                baseline,
                ratio,
                target,
                verdict: if d.stat_ms < limit_ms && d.sched_ms < limit_ms {
                    Verdict::Pass
                } else {
                    Verdict::Fail(format!(
                        "{:.2} ms on CPU, utime+stime {:.0} ms",
                        d.sched_ms, d.stat_ms
                    ))
                },
            }]
        }
        Err(e) => vec![failed_row("idle", case, &target, e)],
    }
}

struct IdleRun {
    /// utime + stime from /proc/PID/stat (10 ms ticks); 0 for the bare loop.
    stat_ms: f64,
    /// Time on CPU from /proc/PID/schedstat.
    sched_ms: f64,
    opens: u64,
    pings: u64,
}

/// Writers come and go every 50 ms for `seconds`, every 10th writes a ping;
/// returns (writers, pings).
fn idle_writers(fifo: &Path, seconds: u64) -> Res<(u64, u64)> {
    let t0 = Instant::now();
    let (mut opens, mut pings) = (0u64, 0u64);
    let mut next = t0;
    while t0.elapsed() < Duration::from_secs(seconds) {
        let mut w =
            open_writer_nonblocking(fifo).map_err(|e| format!("open {}: {e}", fifo.display()))?;
        opens += 1;
        if opens % 10 == 0 {
            w.write_all(b"ping\n").map_err(|e| format!("write: {e}"))?;
            pings += 1;
        }
        drop(w);
        next += Duration::from_millis(50);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok((opens, pings))
}

fn idle_daemon_run(seconds: u64) -> Res<IdleRun> {
    #[allow(unsafe_code)]
    // SAFETY: sysconf has no preconditions.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let scratch = Scratch::new()?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    let mut daemon = Daemon::spawn(&scratch, &sink.path, 100)?;
    daemon.wait_ready()?;
    std::thread::sleep(Duration::from_millis(200));
    let (ticks0, ns0) = (daemon.cpu_ticks()?, daemon.cpu_ns()?);
    let (opens, pings) = idle_writers(&daemon.fifo, seconds)?;
    let (ticks1, ns1) = (daemon.cpu_ticks()?, daemon.cpu_ns()?);
    daemon.signal(Signal::SIGTERM)?;
    daemon.wait_exit(Duration::from_secs(10))?;
    let c = sink.wait_summary(Duration::from_secs(5))?;
    if c.pings != pings {
        return Err(count_error(
            "idle",
            &format!("pings={pings}"),
            &format!("pings={}", c.pings),
        ));
    }
    Ok(IdleRun {
        stat_ms: (ticks1 - ticks0) as f64 * 1e3 / ticks_per_s,
        sched_ms: (ns1 - ns0) as f64 / 1e6,
        opens,
        pings,
    })
}

fn idle_bare_run(seconds: u64) -> Res<IdleRun> {
    let scratch = Scratch::new()?;
    let fifo = scratch.path("fifo");
    make_fifo(&fifo)?;
    let sink = LogSink::bind(scratch.path("log.sock"))?;
    let mut child = spawn_bare_echo(&fifo, &sink.path)?;
    let result = (|| {
        std::thread::sleep(Duration::from_millis(200));
        let ns0 = cpu_ns_of(child.id())?;
        let (opens, pings) = idle_writers(&fifo, seconds)?;
        let ns1 = cpu_ns_of(child.id())?;
        sink.arm(pings);
        sink.wait_reached(Duration::from_secs(5))?;
        Ok(IdleRun {
            stat_ms: 0.0,
            sched_ms: (ns1 - ns0) as f64 / 1e6,
            opens,
            pings,
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

// ---------------------------------------------------------------------------
// Parser micro-benchmark

pub fn parser(p: &Params) -> Vec<Row> {
    progress("parser micro-benchmark");
    parser_micro::measure(p.parser_bytes, p.parser_rounds)
        .into_iter()
        .map(|m| {
            let parser = summarize(&m.parser);
            let scan = summarize(&m.scan);
            let ratios: Vec<f64> = m.parser.iter().zip(&m.scan).map(|(a, b)| a / b).collect();
            Row {
                name: format!("parser, {}", m.name),
                case: format!(
                    "parser only (no I/O): {} in 64 KiB slices vs vectorised `\\n` count of the same bytes",
                    m.name
                ),
                daemon: parser.map_or("–".into(), |s| si_spread(&s, "B/s")),
                baseline: scan.map_or("–".into(), |s| si_spread(&s, "B/s")),
                ratio: summarize(&ratios).map_or("–".into(), |s| ratio_spread(&s)),
                target: "– (report)".into(),
                verdict: match m.error {
                    Some(e) => Verdict::Fail(count_error("parser", "exact counts", &e)),
                    None => Verdict::Report,
                },
            }
        })
        .collect()
}
