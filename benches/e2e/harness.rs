//! Running the real daemon and its baselines: scratch directories, the
//! syslog sink and NOTIFY_SOCKET readers, the daemon process, FIFO writers,
//! and what /proc says about a process.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The daemon under test, built by cargo in the bench (release) profile.
pub const DAEMON_BIN: &str = env!("CARGO_BIN_EXE_fifo-pingd");

/// Bytes per batched write: 13,107 whole `ping\n` (as in the research notes).
pub const BATCH_BYTES: usize = 65_535;

/// The message the sink counts.
pub const PING_LINE: &[u8] = b"received ping";

pub type Res<T> = Result<T, String>;

/// A fresh temporary directory for one run (FIFO, sockets, config, stderr).
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Res<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("fifo-pingd-bench.")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        Ok(Scratch { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

// ---------------------------------------------------------------------------
// Datagram readers

struct SinkState {
    /// When the armed number of `received ping` datagrams had arrived.
    reached: Option<Instant>,
    /// Every datagram that is not a `received ping` line.
    others: Vec<String>,
}

struct SinkShared {
    pings: AtomicU64,
    target: AtomicU64,
    state: Mutex<SinkState>,
    cv: Condvar,
}

/// The syslog socket the daemon logs to: a thread receives every datagram,
/// counts the `received ping` ones and keeps the others.
pub struct LogSink {
    pub path: PathBuf,
    shared: Arc<SinkShared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LogSink {
    pub fn bind(path: PathBuf) -> Res<LogSink> {
        let socket = UnixDatagram::bind(&path)
            .map_err(|e| format!("cannot bind the sink {}: {e}", path.display()))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| format!("sink read timeout: {e}"))?;
        let shared = Arc::new(SinkShared {
            pings: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            state: Mutex::new(SinkState {
                reached: None,
                others: Vec::new(),
            }),
            cv: Condvar::new(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            std::thread::spawn(move || receive_log(socket, &shared, &stop))
        };
        Ok(LogSink {
            path,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// Records the arrival time of the `target`-th `received ping` datagram
    /// (the time of this call if it has arrived already).
    pub fn arm(&self, target: u64) {
        self.shared.target.store(target, Ordering::SeqCst);
        // The receiver adds to the count, then reads the target; here the
        // order is the opposite, so one of the two sees the other's write.
        if self.shared.pings.load(Ordering::SeqCst) >= target {
            let mut state = self.shared.state.lock().expect("sink mutex");
            state.reached.get_or_insert_with(Instant::now);
            self.shared.cv.notify_all();
        }
    }

    /// Waits for the armed count; the instant it was reached.
    pub fn wait_reached(&self, timeout: Duration) -> Res<Instant> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().expect("sink mutex");
        loop {
            if let Some(at) = state.reached {
                return Ok(at);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "the sink saw {} of {} `received ping` datagrams within {timeout:?}",
                    self.ping_lines(),
                    self.shared.target.load(Ordering::SeqCst)
                ));
            }
            state = self
                .shared
                .cv
                .wait_timeout(state, deadline - now)
                .expect("sink mutex")
                .0;
        }
    }

    pub fn ping_lines(&self) -> u64 {
        self.shared.pings.load(Ordering::SeqCst)
    }

    pub fn others_len(&self) -> usize {
        self.shared.state.lock().expect("sink mutex").others.len()
    }

    /// The first non-ping line from index `from` on containing `needle`.
    pub fn wait_line(&self, from: usize, needle: &str, timeout: Duration) -> Res<(usize, String)> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().expect("sink mutex");
        loop {
            if let Some((i, line)) = state
                .others
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| l.contains(needle))
            {
                return Ok((i, line.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "no log line with {needle:?} within {timeout:?}; last lines: {:?}",
                    state.others.iter().rev().take(5).collect::<Vec<_>>()
                ));
            }
            state = self
                .shared
                .cv
                .wait_timeout(state, deadline - now)
                .expect("sink mutex")
                .0;
        }
    }

    /// The daemon's `stopping (...): pings=N ...` line, parsed.
    pub fn wait_summary(&self, timeout: Duration) -> Res<Counters> {
        let (_, line) = self.wait_line(0, "stopping (", timeout)?;
        Counters::parse(&line)
    }
}

impl Drop for LogSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn receive_log(socket: UnixDatagram, shared: &SinkShared, stop: &AtomicBool) {
    let mut buf = vec![0u8; 8192];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                let datagram = &buf[..n];
                if datagram.ends_with(PING_LINE) {
                    let count = shared.pings.fetch_add(1, Ordering::SeqCst) + 1;
                    if count == shared.target.load(Ordering::SeqCst) {
                        let now = Instant::now();
                        shared.state.lock().expect("sink mutex").reached = Some(now);
                        shared.cv.notify_all();
                    }
                } else {
                    let text = String::from_utf8_lossy(datagram).into_owned();
                    shared.state.lock().expect("sink mutex").others.push(text);
                    shared.cv.notify_all();
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// The NOTIFY_SOCKET: records when `READY=1` arrived and drains the rest (a
/// full notify socket would block the daemon's `sd_notify`).
pub struct NotifyReader {
    pub path: PathBuf,
    ready: Arc<(Mutex<Option<Instant>>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NotifyReader {
    pub fn bind(path: PathBuf) -> Res<NotifyReader> {
        let socket = UnixDatagram::bind(&path)
            .map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| format!("notify read timeout: {e}"))?;
        let ready = Arc::new((Mutex::new(None), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (ready, stop) = (Arc::clone(&ready), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                loop {
                    match socket.recv(&mut buf) {
                        Ok(n) => {
                            let now = Instant::now();
                            let text = String::from_utf8_lossy(&buf[..n]);
                            if text.lines().any(|l| l == "READY=1") {
                                let mut at = ready.0.lock().expect("notify mutex");
                                at.get_or_insert(now);
                                ready.1.notify_all();
                            }
                        }
                        Err(_) if stop.load(Ordering::SeqCst) => return,
                        Err(_) => {}
                    }
                }
            })
        };
        Ok(NotifyReader {
            path,
            ready,
            stop,
            thread: Some(thread),
        })
    }

    pub fn wait_ready(&self, timeout: Duration) -> Res<Instant> {
        let deadline = Instant::now() + timeout;
        let mut at = self.ready.0.lock().expect("notify mutex");
        loop {
            if let Some(at) = *at {
                return Ok(at);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("no READY=1 within {timeout:?}"));
            }
            at = self
                .ready
                .1
                .wait_timeout(at, deadline - now)
                .expect("notify mutex")
                .0;
        }
    }
}

impl Drop for NotifyReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// The daemon's counters

/// The counters of a `stopping (...)` or `counters:` line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub pings: u64,
    pub ends: u64,
    pub rejected: u64,
    pub bytes: u64,
    pub log_lines_dropped: u64,
}

impl Counters {
    /// The daemon's own `FromStr` for its counters line, plus the stop
    /// summary's `log_lines_dropped`.
    pub fn parse(line: &str) -> Res<Counters> {
        let c: fifo_pingd::daemon::Counters = line.parse()?;
        let log_lines_dropped = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("log_lines_dropped="))
            .map_or(Ok(0), str::parse)
            .map_err(|e| format!("bad log_lines_dropped= in {line:?}: {e}"))?;
        Ok(Counters {
            pings: c.pings,
            ends: c.ends,
            rejected: c.rejected,
            bytes: c.bytes,
            log_lines_dropped,
        })
    }
}

// ---------------------------------------------------------------------------
// The daemon process

/// A running fifo-pingd with a config in `scratch`, logging to `log_socket`.
pub struct Daemon {
    child: Child,
    pub fifo: PathBuf,
    pub notify: NotifyReader,
    pub spawned_at: Instant,
    stderr: PathBuf,
    exited: bool,
}

impl Daemon {
    /// Writes the config and starts the daemon (READY=1 not awaited).
    pub fn spawn(scratch: &Scratch, log_socket: &Path, ping_lines_per_second: u32) -> Res<Daemon> {
        let fifo = scratch.path("fifo");
        let config = scratch.path("fifo-pingd.toml");
        let text = format!(
            "[fifo]\npath = {:?}\n\n[messages]\non_end = \"shutdown\"\n\n\
             [log]\ntarget = \"syslog\"\nsyslog_socket = {:?}\nlevel = \"info\"\n\
             ping_lines_per_second = {ping_lines_per_second}\n",
            fifo.display().to_string(),
            log_socket.display().to_string(),
        );
        fs::write(&config, text).map_err(|e| format!("cannot write the config: {e}"))?;
        let notify = NotifyReader::bind(scratch.path("notify.sock"))?;
        let stderr = scratch.path("stderr");
        let stderr_file =
            File::create(&stderr).map_err(|e| format!("cannot create the stderr file: {e}"))?;
        let mut command = Command::new(DAEMON_BIN);
        command
            .arg("--config")
            .arg(&config)
            .env("NOTIFY_SOCKET", &notify.path)
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file);
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {DAEMON_BIN}: {e}"))?;
        Ok(Daemon {
            child,
            fifo,
            notify,
            spawned_at,
            stderr,
            exited: false,
        })
    }

    pub fn wait_ready(&self) -> Res<Instant> {
        self.notify
            .wait_ready(Duration::from_secs(10))
            .map_err(|e| format!("{e}; stderr: {}", self.stderr_text()))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: Signal) -> Res<()> {
        kill(Pid::from_raw(self.child.id() as i32), signal)
            .map_err(|e| format!("kill {signal}: {e}"))
    }

    /// Blocks in waitpid (for precise timing), SIGKILLing the daemon if it
    /// has not exited after `timeout`. Returns the status and when it came.
    pub fn wait_exit(&mut self, timeout: Duration) -> Res<(ExitStatus, Instant)> {
        let result = wait_with_timeout(&mut self.child, timeout);
        self.exited = true;
        result.map_err(|e| format!("{e}; stderr: {}", self.stderr_text()))
    }

    pub fn stderr_text(&self) -> String {
        let text = fs::read_to_string(&self.stderr).unwrap_or_default();
        if text.is_empty() {
            "(empty)".to_owned()
        } else {
            text.trim_end().to_owned()
        }
    }

    pub fn status(&self) -> Res<String> {
        fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .map_err(|e| format!("/proc/{}/status: {e}", self.pid()))
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn vm_hwm_kib(&self) -> Res<u64> {
        let status = self.status()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| "no VmHWM in /proc/PID/status".to_owned())
    }

    /// utime + stime from /proc/PID/stat, in clock ticks.
    pub fn cpu_ticks(&self) -> Res<u64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .map_err(|e| format!("/proc/PID/stat: {e}"))?;
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line, 12 and 13 after the name.
        let rest = &stat[stat.rfind(')').ok_or("bad /proc/PID/stat")? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| -> Res<u64> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| "bad /proc/PID/stat".to_owned())
        };
        Ok(num(11)? + num(12)?)
    }

    /// Time on CPU from /proc/PID/schedstat, in nanoseconds (precise).
    pub fn cpu_ns(&self) -> Res<u64> {
        cpu_ns_of(self.pid())
    }
}

/// Time on CPU of a live process from /proc/PID/schedstat, in nanoseconds.
pub fn cpu_ns_of(pid: u32) -> Res<u64> {
    fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("cannot read /proc/{pid}/schedstat"))
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `child.wait()` with a guard thread that SIGKILLs it after `timeout`.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Res<(ExitStatus, Instant)> {
    let pid = Pid::from_raw(child.id() as i32);
    let done = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let guard = {
        let (done, killed) = (Arc::clone(&done), Arc::clone(&killed));
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while !done.load(Ordering::SeqCst) {
                if Instant::now() >= deadline {
                    killed.store(true, Ordering::SeqCst);
                    let _ = kill(pid, Signal::SIGKILL);
                    return;
                }
                std::thread::park_timeout(Duration::from_millis(20));
            }
        })
    };
    let status = child.wait();
    let at = Instant::now();
    done.store(true, Ordering::SeqCst);
    guard.thread().unpark();
    let _ = guard.join();
    let status = status.map_err(|e| format!("waitpid: {e}"))?;
    if killed.load(Ordering::SeqCst) {
        return Err(format!("did not exit within {timeout:?}; killed"));
    }
    Ok((status, at))
}

// ---------------------------------------------------------------------------
// Writers

/// Opens the FIFO for writing once a reader has it open (a blocking file
/// afterwards). Polls with O_NONBLOCK rather than blocking in open(), so a
/// reader that died before opening fails the run instead of hanging it.
pub fn open_writer(fifo: &Path) -> Res<File> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match open_writer_nonblocking(fifo) {
            Ok(file) => {
                fcntl(&file, FcntlArg::F_SETFL(OFlag::empty()))
                    .map_err(|e| format!("fcntl: {e}"))?;
                return Ok(file);
            }
            // ENXIO: no reader yet; ENOENT: the FIFO is not made yet.
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::ENXIO | libc::ENOENT))
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(e) => return Err(format!("cannot open {} for writing: {e}", fifo.display())),
        }
    }
}

/// Opens the FIFO for writing without blocking (fails if nobody reads it).
pub fn open_writer_nonblocking(fifo: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
}

/// Writes `count` copies of `unit`, packed into writes of up to
/// [`BATCH_BYTES`] (whole units per write).
pub fn write_batched(file: &mut File, unit: &[u8], count: u64) -> Res<()> {
    let per_write = (BATCH_BYTES / unit.len()) as u64;
    let chunk = unit.repeat(per_write as usize);
    let mut left = count;
    while left > 0 {
        let k = left.min(per_write);
        file.write_all(&chunk[..k as usize * unit.len()])
            .map_err(|e| format!("write to the FIFO: {e}"))?;
        left -= k;
    }
    Ok(())
}

/// Makes a FIFO for a baseline reader.
pub fn make_fifo(path: &Path) -> Res<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("mkfifo {}: {e}", path.display()))
}

/// Waits until `path` exists (a server making its FIFO).
pub fn wait_for_path(path: &Path, timeout: Duration) -> Res<()> {
    let deadline = Instant::now() + timeout;
    while fs::symlink_metadata(path).is_err() {
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not appear within {timeout:?}",
                path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Reads a child's pipe to the end.
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

/// A `key=N` field of a baseline's report line.
pub fn report_field(report: &str, key: &str) -> Res<u64> {
    report
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key}= in {report:?}"))
}
