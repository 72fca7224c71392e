//! Shared harness for the fifo-pingd integration tests.
//!
//! Every test gets a fresh temporary directory holding:
//! - `fifo-pingd.toml`: the config file written from a [`Config`];
//! - `log.sock`: a unix datagram socket bound by the test and configured as
//!   `[log] syslog_socket` (target = "syslog"); a background thread reads it
//!   into a list so that no datagram is lost and a test can wait for a line;
//! - `notify.sock`: a unix datagram socket passed as `NOTIFY_SOCKET`, read the
//!   same way; when a datagram with `READY=1` arrives, the reader immediately
//!   `lstat`s the FIFO path and stores what it saw next to the datagram;
//! - `fifo`: the FIFO path the daemon is told to create.
//!
//! Tests wait on those sockets (with timeouts), never on sleeps. A wait that
//! times out panics with everything collected so far (syslog lines, notify
//! datagrams, the daemon's stderr and its exit status), so a failing test says
//! why. The daemon is killed (SIGKILL) when the [`Daemon`] is dropped.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;

/// The binary under test, built by cargo for the integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_fifo-pingd");

/// Default time to wait for anything the daemon is expected to do.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Exit codes from the contract (sysexits).
pub const EX_OK: i32 = 0;
pub const EX_USAGE: i32 = 64;
pub const EX_CANTCREAT: i32 = 73;
pub const EX_CONFIG: i32 = 78;

/// uid/gid of "nobody"/"nogroup" on Debian-like systems, used where a test
/// needs an id other than its own.
pub const NOBODY: u32 = 65534;

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints why a test does nothing and returns; the caller returns right after.
pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIPPED {test}: {reason}");
}

/// Name of the group with this gid, if the system knows it.
pub fn group_name(gid: u32) -> Option<String> {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// Name of the user with this uid, if the system knows it.
pub fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

// ---------------------------------------------------------------------------
// Collected lines / datagrams

/// What `lstat` said about a path at one moment.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub kind: &'static str,
    /// permission bits (& 0o7777)
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
}

impl std::fmt::Debug for NodeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} mode {:04o} uid {} gid {} dev {} ino {}",
            self.kind, self.mode, self.uid, self.gid, self.dev, self.ino
        )
    }
}

/// `lstat` a path; `Err` carries the error text (e.g. "No such file").
pub fn node_info(path: &Path) -> Result<NodeInfo, String> {
    let md = fs::symlink_metadata(path).map_err(|e| format!("lstat {}: {e}", path.display()))?;
    let ft = md.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_fifo() {
        "fifo"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "regular file"
    } else if ft.is_socket() {
        "socket"
    } else {
        "other"
    };
    Ok(NodeInfo {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        dev: md.dev(),
        ino: md.ino(),
    })
}

/// One syslog datagram, notify datagram or stderr/stdout line.
#[derive(Clone, Debug)]
pub struct Entry {
    pub text: String,
    /// For notify datagrams containing `READY=1`: the FIFO as `lstat` saw it
    /// right when the datagram was received.
    pub fifo_at_receipt: Option<Result<NodeInfo, String>>,
}

impl Entry {
    /// For a syslog datagram `<30>Nov 26 15:00:00 fifo-pingd[1234]: msg`:
    /// the part after the first `]: ` (the whole text if there is none).
    pub fn message(&self) -> &str {
        match self.text.find("]: ") {
            Some(i) => &self.text[i + 3..],
            None => &self.text,
        }
    }
}

/// A growing list of entries that tests can wait on.
#[derive(Clone, Default)]
pub struct Lines {
    inner: Arc<(Mutex<Vec<Entry>>, Condvar)>,
    /// What the entries are, for failure messages ("syslog line", ...).
    pub name: &'static str,
}

impl Lines {
    pub fn named(name: &'static str) -> Lines {
        Lines {
            inner: Arc::default(),
            name,
        }
    }

    pub fn push(&self, text: String, fifo_at_receipt: Option<Result<NodeInfo, String>>) {
        let (m, cv) = &*self.inner;
        m.lock().expect("lines mutex poisoned").push(Entry {
            text,
            fifo_at_receipt,
        });
        cv.notify_all();
    }

    pub fn snapshot(&self) -> Vec<Entry> {
        self.inner.0.lock().expect("lines mutex poisoned").clone()
    }

    pub fn texts(&self) -> Vec<String> {
        self.snapshot().into_iter().map(|e| e.text).collect()
    }

    pub fn len(&self) -> usize {
        self.inner.0.lock().expect("lines mutex poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of entries whose text contains `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.snapshot()
            .iter()
            .filter(|e| e.text.contains(needle))
            .count()
    }

    /// Calls `f` on the entries until it returns `Some` or `deadline` passes.
    pub fn wait_until<T>(
        &self,
        deadline: Instant,
        f: &mut dyn FnMut(&[Entry]) -> Option<T>,
    ) -> Option<T> {
        let (m, cv) = &*self.inner;
        let mut g = m.lock().expect("lines mutex poisoned");
        loop {
            if let Some(t) = f(&g) {
                return Some(t);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            g = cv
                .wait_timeout(g, deadline - now)
                .expect("lines mutex poisoned")
                .0;
        }
    }
}

/// A datagram socket bound at a path, drained by a background thread into
/// `lines`. Can be closed (socket closed and path removed) and bound again.
pub struct DgramSink {
    pub path: PathBuf,
    pub lines: Lines,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// When set, every datagram containing `READY=1` makes the reader lstat
    /// this path and store the result in the entry.
    stat_on_ready: Option<Arc<Mutex<PathBuf>>>,
    world_writable: bool,
    /// A socket bound at `path` that nobody reads (see [`DgramSink::stall`]).
    held: Option<UnixDatagram>,
}

impl DgramSink {
    pub fn bind(
        path: &Path,
        name: &'static str,
        stat_on_ready: Option<Arc<Mutex<PathBuf>>>,
    ) -> DgramSink {
        let mut s = DgramSink {
            path: path.to_path_buf(),
            lines: Lines::named(name),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            stat_on_ready,
            world_writable: false,
            held: None,
        };
        s.rebind();
        s
    }

    /// Lets other users (a daemon run as nobody) send to the socket.
    pub fn make_world_writable(&mut self) {
        self.world_writable = true;
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o666))
            .expect("chmod 0666 on a test socket");
    }

    /// Stops the reader, closes the socket and removes its path: a sender now
    /// gets ECONNREFUSED / ENOENT.
    pub fn close(&mut self) {
        self.held = None;
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("socket reader thread panicked");
        }
        let _ = fs::remove_file(&self.path);
    }

    /// Replaces the socket by one bound at the same path that nobody reads:
    /// its queue fills up and a blocking sender would block for ever.
    pub fn stall(&mut self) {
        self.close();
        let sock = UnixDatagram::bind(&self.path)
            .unwrap_or_else(|e| panic!("bind datagram socket {}: {e}", self.path.display()));
        self.held = Some(sock);
    }

    /// Binds a new socket at the same path and starts reading it into the
    /// same `lines`.
    pub fn rebind(&mut self) {
        self.close();
        let sock = UnixDatagram::bind(&self.path)
            .unwrap_or_else(|e| panic!("bind datagram socket {}: {e}", self.path.display()));
        if self.world_writable {
            fs::set_permissions(&self.path, fs::Permissions::from_mode(0o666))
                .expect("chmod 0666 on a test socket");
        }
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("set_read_timeout on a test socket");
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        let lines = self.lines.clone();
        let stat_on_ready = self.stat_on_ready.clone();
        self.thread = Some(std::thread::spawn(move || {
            read_datagrams(sock, stop, lines, stat_on_ready)
        }));
    }
}

impl Drop for DgramSink {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_datagrams(
    sock: UnixDatagram,
    stop: Arc<AtomicBool>,
    lines: Lines,
    stat_on_ready: Option<Arc<Mutex<PathBuf>>>,
) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let snap = match &stat_on_ready {
                    Some(p) if text.lines().any(|l| l == "READY=1") => {
                        let p = p.lock().expect("fifo path mutex poisoned").clone();
                        Some(node_info(&p))
                    }
                    _ => None,
                };
                lines.push(text, snap);
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                // Drain everything queued before honouring a stop request.
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                lines.push(format!("<harness: recv error: {e}>"), None);
                return;
            }
        }
    }
}

fn read_lines_into<R: Read + Send + 'static>(r: R, lines: Lines) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    let s = String::from_utf8_lossy(&buf);
                    lines.push(s.trim_end_matches('\n').to_string(), None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    })
}

// ---------------------------------------------------------------------------
// Config

/// A config file for the daemon. `None` leaves the key out (built-in default).
#[derive(Clone, Debug)]
pub struct Config {
    /// `None`: `<tempdir>/fifo`.
    pub path: Option<PathBuf>,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub on_end: Option<String>,
    pub max_message_bytes: Option<u64>,
    pub target: Option<String>,
    /// `None`: the test's `log.sock`.
    pub syslog_socket: Option<PathBuf>,
    pub facility: Option<String>,
    pub level: Option<String>,
    pub ping_lines_per_second: Option<u64>,
    /// Raw TOML appended at the end (e.g. to add a bad key).
    pub extra: String,
}

impl Default for Config {
    /// mode 0640, syslog to the test socket at level info, facility daemon,
    /// every ping logged (ping_lines_per_second = 0).
    fn default() -> Self {
        Config {
            path: None,
            mode: Some("0640".into()),
            owner: None,
            group: None,
            on_end: None,
            max_message_bytes: None,
            target: Some("syslog".into()),
            syslog_socket: None,
            facility: Some("daemon".into()),
            level: Some("info".into()),
            ping_lines_per_second: Some(0),
            extra: String::new(),
        }
    }
}

pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Config {
    pub fn render(&self, default_fifo: &Path, default_log: &Path) -> String {
        let mut s = String::from("[fifo]\n");
        let path = self.path.as_deref().unwrap_or(default_fifo);
        s += &format!("path = {}\n", toml_str(&path.to_string_lossy()));
        if let Some(v) = &self.mode {
            s += &format!("mode = {}\n", toml_str(v));
        }
        if let Some(v) = &self.owner {
            s += &format!("owner = {}\n", toml_str(v));
        }
        if let Some(v) = &self.group {
            s += &format!("group = {}\n", toml_str(v));
        }
        s += "\n[messages]\n";
        if let Some(v) = &self.on_end {
            s += &format!("on_end = {}\n", toml_str(v));
        }
        if let Some(v) = self.max_message_bytes {
            s += &format!("max_message_bytes = {v}\n");
        }
        s += "\n[log]\n";
        if let Some(v) = &self.target {
            s += &format!("target = {}\n", toml_str(v));
        }
        let log = self.syslog_socket.as_deref().unwrap_or(default_log);
        s += &format!("syslog_socket = {}\n", toml_str(&log.to_string_lossy()));
        if let Some(v) = &self.facility {
            s += &format!("facility = {}\n", toml_str(v));
        }
        if let Some(v) = &self.level {
            s += &format!("level = {}\n", toml_str(v));
        }
        if let Some(v) = self.ping_lines_per_second {
            s += &format!("ping_lines_per_second = {v}\n");
        }
        s += &self.extra;
        s
    }
}

// ---------------------------------------------------------------------------
// Test environment (before spawn) and the running daemon

/// How `NOTIFY_SOCKET` is set for the daemon.
#[derive(Clone, Debug)]
pub enum NotifyEnv {
    /// The test's bound `notify.sock`.
    Bound,
    /// This exact value (e.g. a path nobody listens on, or `@abstract`).
    Value(String),
    /// Not set at all.
    Unset,
}

/// A fresh temp dir with the two sockets bound; configure, then [`TestEnv::spawn`].
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub fifo: PathBuf,
    pub config_path: PathBuf,
    pub log: DgramSink,
    pub notify: DgramSink,
    /// Path the notify reader lstat()s when READY=1 arrives.
    pub ready_stat_path: Arc<Mutex<PathBuf>>,
    /// Extra command line arguments (after `--config PATH`).
    pub args: Vec<String>,
    /// Pass `--config PATH` (default true).
    pub pass_config: bool,
    pub env: Vec<(String, String)>,
    pub notify_env: NotifyEnv,
    /// Run the daemon as this (uid, gid) via setgroups/setgid/setuid.
    pub run_as: Option<(u32, u32)>,
    /// Replace the daemon's stderr by this fd (the test keeps reading the
    /// other end itself); used for the JOURNAL_STREAM test.
    pub stderr_fd: Option<std::os::fd::OwnedFd>,
    /// dup2 this fd to 3 in the child (socket activation).
    pub fd3: Option<std::os::fd::OwnedFd>,
    /// Run through `/bin/sh -c 'LISTEN_PID=$$ exec ...'` so LISTEN_PID is the
    /// daemon's pid.
    pub listen_pid_self: bool,
    /// umask for the daemon (default: inherited).
    pub umask: Option<u32>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("fifo-pingd-test.")
            .tempdir()
            .expect("create temp dir");
        let fifo = dir.path().join("fifo");
        let ready_stat_path = Arc::new(Mutex::new(fifo.clone()));
        let log = DgramSink::bind(&dir.path().join("log.sock"), "syslog datagram", None);
        let notify = DgramSink::bind(
            &dir.path().join("notify.sock"),
            "notify datagram",
            Some(ready_stat_path.clone()),
        );
        TestEnv {
            config_path: dir.path().join("fifo-pingd.toml"),
            dir,
            fifo,
            log,
            notify,
            ready_stat_path,
            args: Vec::new(),
            pass_config: true,
            env: Vec::new(),
            notify_env: NotifyEnv::Bound,
            run_as: None,
            stderr_fd: None,
            fd3: None,
            listen_pid_self: false,
            umask: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_config(&self, cfg: &Config) {
        let text = cfg.render(&self.fifo, &self.log.path);
        fs::write(&self.config_path, text).expect("write config file");
        fs::set_permissions(&self.config_path, fs::Permissions::from_mode(0o644))
            .expect("chmod config file");
    }

    /// Writes the config and starts the daemon.
    pub fn spawn(self, cfg: &Config) -> Daemon {
        self.write_config(cfg);
        if let Some(p) = &cfg.path {
            *self.ready_stat_path.lock().expect("mutex") = p.clone();
        }
        let fifo = cfg.path.clone().unwrap_or_else(|| self.fifo.clone());
        self.spawn_raw(fifo)
    }

    /// Starts the daemon without (re)writing the config file.
    pub fn spawn_raw(mut self, fifo: PathBuf) -> Daemon {
        let mut cmd = if self.listen_pid_self {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg("LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\"")
                .arg(BIN);
            c
        } else {
            Command::new(BIN)
        };
        if self.pass_config {
            cmd.arg("--config").arg(&self.config_path);
        }
        cmd.args(&self.args);
        cmd.env_clear();
        if let Ok(v) = std::env::var("RUST_BACKTRACE") {
            cmd.env("RUST_BACKTRACE", v);
        }
        match &self.notify_env {
            NotifyEnv::Bound => {
                cmd.env("NOTIFY_SOCKET", &self.notify.path);
            }
            NotifyEnv::Value(v) => {
                cmd.env("NOTIFY_SOCKET", v);
            }
            NotifyEnv::Unset => {}
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        match self.stderr_fd.take() {
            Some(fd) => cmd.stderr(Stdio::from(fd)),
            None => cmd.stderr(Stdio::piped()),
        };
        let fd3 = self.fd3.take();
        let fd3_raw = fd3.as_ref().map(|f| f.as_raw_fd());
        let run_as = self.run_as;
        let umask = self.umask;
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(fd) = fd3_raw {
                    if fd == 3 {
                        let fl = libc::fcntl(3, libc::F_GETFD);
                        if libc::fcntl(3, libc::F_SETFD, fl & !libc::FD_CLOEXEC) != 0 {
                            return Err(io::Error::last_os_error());
                        }
                    } else if libc::dup2(fd, 3) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if let Some(m) = umask {
                    libc::umask(m as libc::mode_t);
                }
                if let Some((uid, gid)) = run_as
                    && (libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0)
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        drop(fd3);
        let stderr = Lines::named("daemon stderr line");
        let stdout = Lines::named("daemon stdout line");
        let mut readers = Vec::new();
        if let Some(e) = child.stderr.take() {
            readers.push(read_lines_into(e, stderr.clone()));
        }
        if let Some(o) = child.stdout.take() {
            readers.push(read_lines_into(o, stdout.clone()));
        }
        Daemon {
            pid: child.id() as i32,
            child: Mutex::new(child),
            started,
            fifo,
            stderr,
            stdout,
            readers,
            env: self,
        }
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

/// Counters parsed from a `key=value ...` log line, by name.
pub type Counters = BTreeMap<String, u64>;

/// The daemon's counters in `line` (read with its own `FromStr`, next to the
/// `Display` that wrote them), by name, plus `log_lines_dropped` where the
/// line has it (the stop summary).
pub fn counters(line: &str) -> Counters {
    let parsed: fifo_pingd::daemon::Counters = line
        .parse()
        .unwrap_or_else(|e| panic!("no counters line: {e}"));
    let mut m: Counters = parsed
        .fields()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    if let Some(n) = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("log_lines_dropped="))
        .and_then(|n| n.parse().ok())
    {
        m.insert("log_lines_dropped".to_owned(), n);
    }
    m
}

/// A running daemon. Killed with SIGKILL on drop if still running.
pub struct Daemon {
    pub pid: i32,
    child: Mutex<Child>,
    pub started: Instant,
    /// FIFO path given to the daemon.
    pub fifo: PathBuf,
    pub stderr: Lines,
    pub stdout: Lines,
    readers: Vec<JoinHandle<()>>,
    pub env: TestEnv,
}

impl Daemon {
    /// Starts a daemon on `cfg` in a fresh [`TestEnv`].
    pub fn start(cfg: &Config) -> Daemon {
        TestEnv::new().spawn(cfg)
    }

    pub fn dir(&self) -> &Path {
        self.env.dir.path()
    }

    pub fn log(&self) -> &Lines {
        &self.env.log.lines
    }

    pub fn notify(&self) -> &Lines {
        &self.env.notify.lines
    }

    /// Exit status if the daemon has exited (reaps it).
    pub fn try_status(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .expect("child mutex poisoned")
            .try_wait()
            .expect("try_wait on the daemon")
    }

    /// Panics with `msg` and everything known about the daemon.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{}", self.diagnostics())
    }

    pub fn diagnostics(&self) -> String {
        let status = self.try_status();
        let mut s = format!(
            "--- daemon pid {} ({:.2?} since spawn), exit status: {:?}\n",
            self.pid,
            self.started.elapsed(),
            status
        );
        s += &format!(
            "--- fifo {}: {:?}\n",
            self.fifo.display(),
            node_info(&self.fifo)
        );
        s += "--- syslog datagrams received so far:\n";
        let log = self.log().texts();
        let n = log.len();
        if n > 60 {
            s += &format!("    ({} earlier lines left out)\n", n - 60);
        }
        for l in log.iter().skip(n.saturating_sub(60)) {
            s += &format!("    {l:?}\n");
        }
        s += "--- notify datagrams received so far:\n";
        let notes = self.notify().snapshot();
        let n = notes.len();
        if n > 30 {
            s += &format!("    ({} earlier datagrams left out)\n", n - 30);
        }
        for e in notes.iter().skip(n.saturating_sub(30)) {
            s += &format!("    {:?}", e.text);
            if let Some(f) = &e.fifo_at_receipt {
                s += &format!("  [fifo at receipt: {f:?}]");
            }
            s += "\n";
        }
        s += "--- daemon stderr:\n";
        for l in self.stderr.texts() {
            s += &format!("    {l}\n");
        }
        s += "--- daemon stdout:\n";
        for l in self.stdout.texts() {
            s += &format!("    {l}\n");
        }
        s
    }

    /// Waits on `lines` until `f` returns Some; fails after `timeout`, or
    /// one second after the daemon exited.
    #[track_caller]
    pub fn wait_on<T>(
        &self,
        lines: &Lines,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&[Entry]) -> Option<T>,
    ) -> T {
        let t0 = Instant::now();
        let deadline = t0 + timeout;
        let mut exited_at: Option<Instant> = None;
        loop {
            let slice = (Instant::now() + Duration::from_millis(100)).min(deadline);
            if let Some(t) = lines.wait_until(slice, &mut f) {
                return t;
            }
            let now = Instant::now();
            if now >= deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            if exited_at.is_none() && self.try_status().is_some() {
                exited_at = Some(now);
            }
            if let Some(at) = exited_at
                && at.elapsed() > Duration::from_secs(1)
            {
                self.fail(&format!(
                    "the daemon exited while the test was waiting for {what} ({:.2?} into the wait)",
                    at - t0
                ));
            }
        }
    }

    /// Waits for the first entry at index >= `since` containing `needle`;
    /// returns its index and the entry.
    #[track_caller]
    pub fn wait_since(
        &self,
        lines: &Lines,
        since: usize,
        needle: &str,
        timeout: Duration,
    ) -> (usize, Entry) {
        let what = format!(
            "a {} containing {needle:?} (from index {since})",
            lines.name
        );
        self.wait_on(lines, &what, timeout, |es| {
            es.iter()
                .enumerate()
                .skip(since)
                .find(|(_, e)| e.text.contains(needle))
                .map(|(i, e)| (i, e.clone()))
        })
    }

    /// Waits for a syslog line containing `needle` (anywhere in the history).
    #[track_caller]
    pub fn wait_log(&self, needle: &str) -> Entry {
        self.wait_since(self.log(), 0, needle, TIMEOUT).1
    }

    /// Waits for a syslog line containing `needle` received at index >= since.
    #[track_caller]
    pub fn wait_log_since(&self, since: usize, needle: &str) -> (usize, Entry) {
        self.wait_since(self.log(), since, needle, TIMEOUT)
    }

    /// Waits until `n` syslog lines contain `needle`.
    #[track_caller]
    pub fn wait_log_count(&self, needle: &str, n: usize) {
        let what = format!("{n} syslog lines containing {needle:?}");
        self.wait_on(self.log(), &what, TIMEOUT, |es| {
            (es.iter().filter(|e| e.text.contains(needle)).count() >= n).then_some(())
        })
    }

    /// Waits for the first notify datagram with a line exactly `READY=1`.
    #[track_caller]
    pub fn wait_ready(&self) -> Entry {
        self.wait_ready_since(0).1
    }

    /// Waits for a notify datagram with a line exactly `READY=1` at index >= since.
    #[track_caller]
    pub fn wait_ready_since(&self, since: usize) -> (usize, Entry) {
        self.wait_on(
            self.notify(),
            &format!("a READY=1 notify datagram (from index {since})"),
            TIMEOUT,
            |es| {
                es.iter()
                    .enumerate()
                    .skip(since)
                    .find(|(_, e)| e.text.lines().any(|l| l == "READY=1"))
                    .map(|(i, e)| (i, e.clone()))
            },
        )
    }

    /// Waits for a notify datagram containing `needle` at index >= since.
    #[track_caller]
    pub fn wait_notify_since(&self, since: usize, needle: &str) -> (usize, Entry) {
        self.wait_since(self.notify(), since, needle, TIMEOUT)
    }

    /// Waits for a stderr line containing `needle`.
    #[track_caller]
    pub fn wait_stderr(&self, needle: &str) -> Entry {
        self.wait_since(&self.stderr, 0, needle, TIMEOUT).1
    }

    pub fn signal(&self, sig: Signal) {
        if self.try_status().is_some() {
            self.fail(&format!(
                "cannot send {sig:?}: the daemon has already exited"
            ));
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig)
            .unwrap_or_else(|e| self.fail(&format!("kill({}, {sig:?}): {e}", self.pid)));
    }

    /// Waits for the daemon to exit; fails after `timeout`.
    #[track_caller]
    pub fn wait_exit(&self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                // Let the reader threads pick up the last output.
                for _ in 0..100 {
                    if self.readers.iter().all(|r| r.is_finished()) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                return s;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("the daemon did not exit within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for exit and checks the exit code.
    #[track_caller]
    pub fn expect_exit_code(&self, code: i32, timeout: Duration) {
        let st = self.wait_exit(timeout);
        if st.code() != Some(code) {
            self.fail(&format!("expected exit code {code}, got {st:?}"));
        }
    }

    /// Sends `sig`, expects exit code 0 and returns the counters of the
    /// `stopping (...)` summary line.
    #[track_caller]
    pub fn stop_with(&self, sig: Signal) -> Counters {
        let since = self.log().len();
        self.signal(sig);
        self.expect_exit_code(EX_OK, TIMEOUT);
        let (_, e) = self.wait_log_since(since, "stopping (");
        counters(e.message())
    }

    /// SIGTERM, exit 0, counters of the summary read from stderr (for
    /// `--log stderr`).
    #[track_caller]
    pub fn stop_stderr(&self) -> Counters {
        self.signal(Signal::SIGTERM);
        self.expect_exit_code(EX_OK, TIMEOUT);
        counters(&self.wait_stderr("stopping (").text)
    }

    /// SIGTERM, exit 0, summary counters.
    #[track_caller]
    pub fn stop(&self) -> Counters {
        self.stop_with(Signal::SIGTERM)
    }

    /// Asserts the summary has exactly these values.
    #[track_caller]
    pub fn assert_counters(&self, got: &Counters, want: &[(&str, u64)]) {
        for (k, v) in want {
            if got.get(*k) != Some(v) {
                self.fail(&format!(
                    "summary counter {k}: expected {v}, got {:?} (all counters: {got:?})",
                    got.get(*k)
                ));
            }
        }
    }

    /// Sends SIGUSR1 and returns the counters of the `counters:` line.
    #[track_caller]
    pub fn counters_now(&self) -> Counters {
        let since = self.log().len();
        self.signal(Signal::SIGUSR1);
        let (_, e) = self.wait_log_since(since, "counters:");
        counters(e.message())
    }

    /// Opens the FIFO O_WRONLY|O_NONBLOCK and writes `bytes` with a single
    /// write(2) (must be <= PIPE_BUF so it is atomic).
    #[track_caller]
    pub fn write_fifo(&self, bytes: &[u8]) {
        let mut w = FifoWriter::open(&self.fifo).unwrap_or_else(|e| self.fail(&e));
        if let Err(e) = w.write_once(bytes) {
            self.fail(&e);
        }
    }

    /// Rewrites the config file (for SIGHUP tests).
    pub fn rewrite_config(&self, cfg: &Config) {
        self.env.write_config(cfg);
    }

    /// utime + stime of the daemon from /proc, as a Duration.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid).unwrap_or_else(|e| self.fail(&e))
    }

    /// Process state letter from /proc/PID/stat (R, S, D, Z, ...).
    pub fn proc_state(&self) -> char {
        proc_stat_fields(self.pid)
            .map(|f| f[0].chars().next().unwrap_or('?'))
            .unwrap_or('?')
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock()
            && matches!(c.try_wait(), Ok(None))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Fields of /proc/PID/stat after the `(comm)` field: [0] is the state.
pub fn proc_stat_fields(pid: i32) -> Result<Vec<String>, String> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("read /proc/{pid}/stat: {e}"))?;
    let after = s
        .rfind(')')
        .map(|i| &s[i + 1..])
        .ok_or_else(|| format!("unexpected /proc/{pid}/stat: {s:?}"))?;
    Ok(after.split_whitespace().map(str::to_string).collect())
}

/// utime + stime of a process (all its threads).
pub fn cpu_time(pid: i32) -> Result<Duration, String> {
    let f = proc_stat_fields(pid)?;
    // Fields 14 and 15 of stat(5); index 0 here is field 3.
    let utime: u64 = f[11].parse().map_err(|e| format!("utime: {e}"))?;
    let stime: u64 = f[12].parse().map_err(|e| format!("stime: {e}"))?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Ok(Duration::from_micros((utime + stime) * 1_000_000 / hz))
}

/// Context switches (voluntary + involuntary) of all threads of a process:
/// roughly how often it woke up.
pub fn context_switches(pid: i32) -> Result<u64, String> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for t in fs::read_dir(&dir).map_err(|e| format!("read {dir}: {e}"))? {
        let t = t.map_err(|e| format!("read {dir}: {e}"))?;
        let s = match fs::read_to_string(t.path().join("status")) {
            Ok(s) => s,
            Err(_) => continue, // thread gone
        };
        for l in s.lines() {
            if let Some(v) = l
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: i32) -> Result<u64, String> {
    let s = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("read /proc/{pid}/status: {e}"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

// ---------------------------------------------------------------------------
// FIFO writer

/// A writer end of the FIFO, opened O_WRONLY|O_NONBLOCK (never O_CREAT), so a
/// test can never hang on open or write.
pub struct FifoWriter {
    file: File,
    path: PathBuf,
}

impl FifoWriter {
    pub fn open(path: &Path) -> Result<FifoWriter, String> {
        let file = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                format!(
                    "cannot open the FIFO {} for writing (O_WRONLY|O_NONBLOCK): {e} (ENXIO means no reader)",
                    path.display()
                )
            })?;
        Ok(FifoWriter {
            file,
            path: path.to_path_buf(),
        })
    }

    /// One write(2) of all of `bytes`; a short write or EAGAIN is an error.
    pub fn write_once(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self.file.write(bytes) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(n) => Err(format!(
                "short write to {}: {n} of {} bytes",
                self.path.display(),
                bytes.len()
            )),
            Err(e) => Err(format!(
                "write of {} bytes to {}: {e}",
                bytes.len(),
                self.path.display()
            )),
        }
    }

    /// Writes all of `bytes`, waiting with poll(POLLOUT) while the pipe is
    /// full. Each write(2) of <= PIPE_BUF bytes is atomic, so for such a
    /// buffer this is exactly one write that made it. Fails at `deadline`.
    pub fn write_polling(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), String> {
        let mut off = 0;
        while off < bytes.len() {
            match self.file.write(&bytes[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(format!(
                            "pipe {} stayed full until the deadline ({} of {} bytes written)",
                            self.path.display(),
                            off,
                            bytes.len()
                        ));
                    }
                    let ms = (deadline - now).as_millis().min(100) as i32;
                    let mut pfd = libc::pollfd {
                        fd: self.file.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut pfd, 1, ms) };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write to {}: {e}", self.path.display())),
            }
        }
        Ok(())
    }

    /// Bytes currently queued in the pipe (FIONREAD).
    pub fn queued(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int.
        unsafe { libc::ioctl(self.file.as_raw_fd(), libc::FIONREAD, &mut n) };
        n.max(0) as usize
    }
}

/// mkfifo(path, mode) (mode is umask-masked; chmod afterwards if exact).
pub fn mkfifo(path: &Path, mode: u32) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(mode))
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------
// One-shot CLI runs

/// Output of a one-shot run of the binary.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- fifo-pingd {:?}\n--- exit status: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args, self.status, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        if self.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    /// The contract: every failure prints exactly one line on stderr starting
    /// with `fifo-pingd: `, and that line contains each of `needles`.
    #[track_caller]
    pub fn expect_one_error_line(&self, needles: &[&str]) -> &Self {
        let lines = self.stderr_lines();
        if lines.len() != 1 || !lines[0].starts_with("fifo-pingd: ") {
            self.fail("expected exactly one stderr line starting with `fifo-pingd: `");
        }
        for n in needles {
            if !lines[0].contains(n) {
                self.fail(&format!("the stderr line should contain {n:?}"));
            }
        }
        self
    }
}

/// Runs the binary with `args` and a cleared environment (plus `env`), stdin
/// from /dev/null; fails if it runs longer than `TIMEOUT`.
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let s = child.wait().expect("wait after kill");
            let run = Run {
                args: args.iter().map(|s| s.to_string()).collect(),
                status: s,
                stdout: String::from_utf8_lossy(&to.join().unwrap_or_default()).into_owned(),
                stderr: String::from_utf8_lossy(&te.join().unwrap_or_default()).into_owned(),
            };
            run.fail(&format!("still running after {TIMEOUT:?} (killed)"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        status,
        stdout: String::from_utf8_lossy(&to.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&te.join().unwrap_or_default()).into_owned(),
    }
}
