//! fifo-pingctl (issue 5), run as a real binary against real FIFOs and a
//! real daemon: every error path with its exit code and one-line message,
//! a full pipe, round trips (live, stopped, interrupted daemon), hostile
//! reply names handled by the daemon, and the configuration lookup.
//!
//! Permission tests run the client as nobody (65534) and need root to
//! switch; without root they are skipped with a note. Every wait is bounded;
//! conditions are waited for, never slept for.

use crate::common::*;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CTL: &str = env!("CARGO_BIN_EXE_fifo-pingctl");

const EX_UNAVAILABLE: i32 = 69;
const EX_TEMPFAIL: i32 = 75;
const EX_NOPERM: i32 = 77;

// ---------------------------------------------------------------------------
// Running the client

struct Ctl {
    args: Vec<String>,
    run_as: Option<(u32, u32)>,
}

fn ctl(args: &[&str]) -> Ctl {
    Ctl {
        args: args.iter().map(|s| s.to_string()).collect(),
        run_as: None,
    }
}

/// `args` with paths mixed in.
fn ctl_p(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Ctl {
    Ctl {
        args: args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect(),
        run_as: None,
    }
}

struct Running {
    pid: i32,
    args: Vec<String>,
    started: Instant,
    done: mpsc::Receiver<io::Result<std::process::Output>>,
}

#[derive(Debug)]
struct CtlRun {
    args: Vec<String>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Ctl {
    /// Runs as nobody:nogroup with no supplementary groups (needs root).
    fn by_nobody(mut self) -> Ctl {
        self.run_as = Some((NOBODY, NOBODY));
        self
    }

    fn spawn(self) -> Running {
        let mut cmd = Command::new(CTL);
        cmd.args(&self.args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = self.run_as {
            // SAFETY: only async-signal-safe libc calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let started = Instant::now();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {CTL}: {e}"));
        let pid = child.id() as i32;
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        Running {
            pid,
            args: self.args,
            started,
            done,
        }
    }

    #[track_caller]
    fn run(self) -> CtlRun {
        self.spawn().wait(TIMEOUT)
    }
}

impl Running {
    #[track_caller]
    fn wait(self, timeout: Duration) -> CtlRun {
        let output = match self.done.recv_timeout(timeout) {
            Ok(output) => output,
            Err(_) => {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), Signal::SIGKILL);
                panic!(
                    "fifo-pingctl {:?} still running after {timeout:?} (killed)",
                    self.args
                );
            }
        };
        let output = output.unwrap_or_else(|e| panic!("wait for fifo-pingctl: {e}"));
        CtlRun {
            args: self.args,
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            took: self.started.elapsed(),
        }
    }

    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig)
            .unwrap_or_else(|e| panic!("kill fifo-pingctl with {sig:?}: {e}"));
    }
}

impl CtlRun {
    #[track_caller]
    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- fifo-pingctl {:?}\n--- exit status: {:?} after {:.2?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args, self.status, self.took, self.stdout, self.stderr
        )
    }

    #[track_caller]
    fn expect_ok(&self) -> &Self {
        if self.status.code() != Some(0) || !self.stderr.is_empty() {
            self.fail("expected exit 0 and nothing on stderr");
        }
        self
    }

    /// Exit `code` and exactly one stderr line, `fifo-pingctl: ...`,
    /// containing every needle; nothing on stdout.
    #[track_caller]
    fn expect_error(&self, code: i32, needles: &[&str]) -> &Self {
        if self.status.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        let lines: Vec<&str> = self.stderr.lines().collect();
        if lines.len() != 1 || !lines[0].starts_with("fifo-pingctl: ") {
            self.fail("expected exactly one stderr line starting with `fifo-pingctl: `");
        }
        for needle in needles {
            if !lines[0].contains(needle) {
                self.fail(&format!("the error line should contain {needle:?}"));
            }
        }
        if !self.stdout.is_empty() {
            self.fail("expected nothing on stdout");
        }
        self
    }
}

// ---------------------------------------------------------------------------
// Fixtures

/// A temp dir nobody can traverse (for tests that switch to nobody).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("fifo-pingctl-test.")
        .tempdir()
        .expect("create temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

/// The test itself holds this FIFO open read-write (so writers never get
/// ENXIO) and never reads it unless asked: a stand-in for a daemon.
struct HeldFifo {
    path: PathBuf,
    file: File,
}

impl HeldFifo {
    fn new(path: &Path, mode: u32) -> HeldFifo {
        mkfifo(path, mode);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .expect("open the FIFO read-write");
        HeldFifo {
            path: path.to_owned(),
            file,
        }
    }

    /// Bytes queued in the pipe.
    fn queued(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
        n as usize
    }

    /// Writes until the pipe takes not one byte more; returns how many.
    fn fill(&mut self) -> usize {
        let mut total = 0;
        for chunk in [4096usize, 1] {
            let buf = vec![b'x'; chunk];
            loop {
                match self.file.write(&buf) {
                    Ok(n) => total += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("fill the pipe: {e}"),
                }
            }
        }
        assert_eq!(self.queued(), total, "the pipe holds what was written");
        total
    }

    /// Reads everything queued now.
    fn drain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read the FIFO: {e}"),
            }
        }
        out
    }

    /// Reads until `needle` has arrived (bounded).
    #[track_caller]
    fn read_until(&mut self, needle: &[u8], timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            got.extend(self.drain());
            if got.windows(needle.len()).any(|w| w == needle) {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{:?} never arrived in {} (got {} bytes)",
                    String::from_utf8_lossy(needle),
                    self.path.display(),
                    got.len()
                );
            }
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32 + 1) };
        }
    }
}

fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) {
    std::os::unix::fs::chown(path, uid, gid)
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Entries of the reply directory (the test runs as root or as its owner).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Waits (bounded) until the client's reply FIFO shows up in `dir`.
#[track_caller]
fn wait_for_reply_fifo(dir: &Path, client: &Running) -> PathBuf {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(name) = entries(dir).into_iter().find(|n| n.starts_with("pingctl.")) {
            return dir.join(name);
        }
        if Instant::now() >= deadline {
            client.signal(Signal::SIGKILL);
            panic!(
                "no reply FIFO appeared in {} within {TIMEOUT:?}",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A daemon (root) on the harness' FIFO (mode 0620, group nogroup, so nobody
/// may write) with a reply directory laid out as packaged: root:nogroup,
/// mode 3730 (set-group-ID, sticky, group may create but not list).
struct Live {
    d: Daemon,
    reply: PathBuf,
    config: PathBuf,
}

fn live_daemon(tune: impl FnOnce(&mut Config)) -> Live {
    let env = TestEnv::new();
    chmod(env.path(), 0o755);
    let reply = env.path().join("reply");
    fs::create_dir(&reply).expect("create the reply directory");
    if is_root() {
        chown(&reply, Some(0), Some(NOBODY));
        chmod(&reply, 0o3730);
    }
    let config = env.config_path.clone();
    let mut cfg = Config {
        mode: Some("0620".into()),
        extra: format!(
            "\n[reply]\ndirectory = {}\n",
            toml_str(&reply.to_string_lossy())
        ),
        ..Config::default()
    };
    if is_root() {
        cfg.group = Some(NOBODY.to_string());
    }
    tune(&mut cfg);
    let d = env.spawn(&cfg);
    d.wait_ready();
    Live { d, reply, config }
}

fn counter(counters: &Counters, key: &str) -> u64 {
    counters
        .get(key)
        .copied()
        .unwrap_or_else(|| panic!("no counter {key} in {counters:?}"))
}

// ---------------------------------------------------------------------------
// Command line

#[test]
fn help_version_and_usage_errors() {
    let r = ctl(&["--help"]).run();
    r.expect_ok();
    assert!(r.stdout.contains("Usage: fifo-pingctl"), "{r:?}");
    assert!(
        r.stdout.contains("--wait") && r.stdout.contains("75"),
        "{r:?}"
    );
    let r = ctl(&["--version"]).run();
    r.expect_ok();
    assert_eq!(
        r.stdout,
        format!("fifo-pingctl {}\n", env!("CARGO_PKG_VERSION"))
    );

    ctl(&[])
        .run()
        .expect_error(64, &["missing command", "see --help"]);
    ctl(&["pong"])
        .run()
        .expect_error(64, &["unknown command \"pong\""]);
    ctl(&["ping", "end"])
        .run()
        .expect_error(64, &["unexpected argument \"end\""]);
    ctl(&["end", "--wait"])
        .run()
        .expect_error(64, &["--wait works only with ping"]);
    ctl(&["ping", "--timeout", "soon"])
        .run()
        .expect_error(64, &["--timeout", "\"soon\""]);
    ctl(&["ping", "--timeout", "-1"])
        .run()
        .expect_error(64, &["--timeout"]);
    ctl(&["ping", "--fifo"])
        .run()
        .expect_error(64, &["--fifo needs a value"]);
    ctl(&["ping", "--bogus"])
        .run()
        .expect_error(64, &["unknown option \"--bogus\""]);
}

// ---------------------------------------------------------------------------
// Sending

#[test]
fn ping_and_end_reach_a_live_daemon() {
    let live = live_daemon(|_| {});
    let d = &live.d;
    let r = ctl_p(&[&"--config", &live.config, &"ping"]).run();
    r.expect_ok();
    assert_eq!(r.stdout, format!("sent ping to {}\n", d.fifo.display()));
    d.wait_log("received ping");
    let r = ctl_p(&[&"-q", &"--fifo", &d.fifo, &"ping"]).run();
    r.expect_ok();
    assert_eq!(r.stdout, "", "--quiet prints nothing");
    d.wait_log_count("received ping", 2);

    ctl_p(&[&"ping", &"--config", &live.config, &"end"])
        .run()
        .expect_error(64, &["unexpected argument"]);
    ctl_p(&[&"--config", &live.config, &"end"])
        .run()
        .expect_ok();
    d.expect_exit_code(EX_OK, TIMEOUT);
    d.wait_log("received end");
}

#[test]
fn no_reader_fails_at_once_with_69() {
    let dir = open_tempdir();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo, 0o620);
    let reply = dir.path().join("reply");
    fs::create_dir(&reply).expect("mkdir");
    let expected = format!(
        "fifo-pingctl: fifo-pingd is not running (nothing is reading {})\n",
        fifo.display()
    );
    for wait in [false, true] {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"--fifo",
            &fifo,
            &"--reply-dir",
            &reply,
            // The longest --wait allows (reply::MAX_ROUND_TRIP).
            &"--timeout",
            &"15",
            &"ping",
        ];
        if wait {
            args.push(&"--wait");
        }
        let r = ctl_p(&args).run();
        r.expect_error(EX_UNAVAILABLE, &[]);
        assert_eq!(r.stderr, expected);
        if r.took > Duration::from_secs(5) {
            r.fail("should fail at once, not wait for the 15 s timeout");
        }
        assert_eq!(entries(&reply), Vec::<String>::new(), "no reply FIFO made");
    }
    let info = node_info(&fifo).expect("still there");
    assert_eq!((info.kind, info.mode), ("fifo", 0o620), "left as it was");
}

#[test]
fn a_missing_path_is_never_created() {
    let dir = open_tempdir();
    let fifo = dir.path().join("no-such-fifo");
    let r = ctl_p(&[&"--fifo", &fifo, &"ping"]).run();
    r.expect_error(
        EX_UNAVAILABLE,
        &[
            &format!("{} does not exist", fifo.display()),
            "fifo-pingd is not running",
            "path from --fifo",
            "systemctl start fifo-pingd",
        ],
    );
    assert!(
        node_info(&fifo).is_err(),
        "nothing was created at {}",
        fifo.display()
    );
    let deep = dir.path().join("no-such-dir/fifo");
    ctl_p(&[&"--fifo", &deep, &"end"])
        .run()
        .expect_error(EX_UNAVAILABLE, &["does not exist"]);
    assert!(node_info(&dir.path().join("no-such-dir")).is_err());

    // The path from the configuration file, and the hint says so.
    let config = dir.path().join("c.toml");
    fs::write(
        &config,
        format!("[fifo]\npath = {}\n", toml_str(&fifo.to_string_lossy())),
    )
    .expect("write config");
    ctl_p(&[&"-c", &config, &"ping"]).run().expect_error(
        EX_UNAVAILABLE,
        &[
            "does not exist",
            &format!("path from [fifo] path in {}", config.display()),
        ],
    );
    assert!(node_info(&fifo).is_err());
}

#[test]
fn anything_but_a_fifo_is_refused_untouched() {
    let dir = open_tempdir();
    let file = dir.path().join("file");
    fs::write(&file, b"keep").expect("write");
    let before = fs::metadata(&file).expect("stat");
    ctl_p(&[&"--fifo", &file, &"ping"]).run().expect_error(
        EX_UNAVAILABLE,
        &[
            &format!("{}: expected a FIFO, found a regular file", file.display()),
            "not writing",
        ],
    );
    let after = fs::metadata(&file).expect("stat");
    assert_eq!(fs::read(&file).expect("read"), b"keep");
    assert_eq!(
        (before.mtime(), before.mtime_nsec(), before.len()),
        (after.mtime(), after.mtime_nsec(), after.len()),
        "the file was not touched"
    );

    ctl_p(&[&"--fifo", &dir.path(), &"ping"])
        .run()
        .expect_error(EX_UNAVAILABLE, &["found a directory"]);

    // A symlink is followed (the packaged /run/fifo-ping is one), but only
    // to a FIFO: what it leads to is looked at like the path itself.
    let mut target = HeldFifo::new(&dir.path().join("real"), 0o620);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target.path, &link).expect("symlink");
    let r = ctl_p(&[&"--fifo", &link, &"ping"]).run();
    r.expect_ok();
    assert_eq!(r.stdout, format!("sent ping to {}\n", link.display()));
    assert_eq!(
        target.drain(),
        b"\nping\n",
        "the message went through the link"
    );
    // A link to a link to the FIFO, too.
    let link2 = dir.path().join("link2");
    std::os::unix::fs::symlink(&link, &link2).expect("symlink");
    ctl_p(&[&"--fifo", &link2, &"end"]).run().expect_ok();
    assert_eq!(target.drain(), b"\nend\n");

    // A link to anything else is refused without opening what it leads to:
    // inotify would report an open of the file.
    let to_file = dir.path().join("to-file");
    std::os::unix::fs::symlink(&file, &to_file).expect("symlink");
    let watch = nix::sys::inotify::Inotify::init(nix::sys::inotify::InitFlags::IN_NONBLOCK)
        .expect("inotify_init");
    watch
        .add_watch(&file, nix::sys::inotify::AddWatchFlags::IN_ALL_EVENTS)
        .expect("inotify_add_watch");
    ctl_p(&[&"--fifo", &to_file, &"ping"]).run().expect_error(
        EX_UNAVAILABLE,
        &[
            &format!(
                "{}: expected a FIFO, found a symbolic link to {} (a regular file)",
                to_file.display(),
                file.display()
            ),
            "not writing",
        ],
    );
    match watch.read_events() {
        Err(nix::errno::Errno::EAGAIN) => {}
        other => panic!("the file behind the link was touched: {other:?}"),
    }
    assert_eq!(fs::read(&file).expect("read"), b"keep");
    let to_dir = dir.path().join("to-dir");
    std::os::unix::fs::symlink(dir.path(), &to_dir).expect("symlink");
    ctl_p(&[&"--fifo", &to_dir, &"ping"]).run().expect_error(
        EX_UNAVAILABLE,
        &["found a symbolic link to", "(a directory)"],
    );
    let to_dev = dir.path().join("to-dev");
    std::os::unix::fs::symlink("/dev/null", &to_dev).expect("symlink");
    ctl_p(&[&"--fifo", &to_dev, &"ping"]).run().expect_error(
        EX_UNAVAILABLE,
        &["found a symbolic link to /dev/null (a character device)"],
    );

    // A dangling link (the packaged one while the daemon is stopped): the
    // daemon is not running; nothing is created at either end.
    let gone = dir.path().join("gone/fifo");
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(&gone, &dangling).expect("symlink");
    ctl_p(&[&"--fifo", &dangling, &"ping"]).run().expect_error(
        EX_UNAVAILABLE,
        &[
            &format!(
                "fifo-pingd is not running: {} is a symbolic link to {}, which does not exist",
                dangling.display(),
                gone.display()
            ),
            "systemctl start fifo-pingd",
        ],
    );
    let dangling_here = dir.path().join("dangling-here");
    let gone_here = dir.path().join("not-yet");
    std::os::unix::fs::symlink(&gone_here, &dangling_here).expect("symlink");
    ctl_p(&[&"--fifo", &dangling_here, &"end"])
        .run()
        .expect_error(EX_UNAVAILABLE, &["which does not exist"]);
    assert!(
        node_info(&gone_here).is_err(),
        "nothing created through the link"
    );
    assert!(node_info(&dir.path().join("gone")).is_err());
    assert_eq!(target.drain(), b"", "nothing else reached the FIFO");

    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    ctl_p(&[&"--fifo", &socket, &"ping"])
        .run()
        .expect_error(EX_UNAVAILABLE, &["found a socket"]);
    ctl(&["--fifo", "/dev/null", "ping"])
        .run()
        .expect_error(EX_UNAVAILABLE, &["found a character device"]);
}

#[test]
fn permission_denied_names_the_fifos_group() {
    if !is_root() {
        return skip(
            "permission_denied_names_the_fifos_group",
            "needs root to run as nobody",
        );
    }
    let dir = open_tempdir();
    let held = HeldFifo::new(&dir.path().join("fifo"), 0o620);
    let fifo = &held.path;
    // root:root 0620: nobody is not in group root.
    ctl_p(&[&"--fifo", fifo, &"ping"])
        .by_nobody()
        .run()
        .expect_error(
            EX_NOPERM,
            &[
                &format!("permission denied writing to {}", fifo.display()),
                "mode 0620, owner root, group root",
                "add the user to group root",
            ],
        );
    // A group this system has no name for: its number.
    let unnamed = (4242..60000)
        .find(|&g| group_name(g).is_none())
        .expect("a gid without a name");
    chown(fifo, None, Some(unnamed));
    ctl_p(&[&"--fifo", fifo, &"ping"])
        .by_nobody()
        .run()
        .expect_error(EX_NOPERM, &[&format!("add the user to group {unnamed}")]);
    // In the group, but the mode leaves the group out.
    chown(fifo, None, Some(NOBODY));
    chmod(fifo, 0o600);
    let group = group_name(NOBODY).unwrap_or_else(|| NOBODY.to_string());
    ctl_p(&[&"--fifo", fifo, &"ping"])
        .by_nobody()
        .run()
        .expect_error(
            EX_NOPERM,
            &[&format!(
                "this user is in group {group}, but the mode gives the group no write access"
            )],
        );
    assert_eq!(held.queued(), 0, "nothing was written");
    // And with the group's write bit it works.
    chmod(fifo, 0o620);
    ctl_p(&[&"--fifo", fifo, &"ping"])
        .by_nobody()
        .run()
        .expect_ok();
    assert_eq!(held.queued(), 6, "\\nping\\n");

    // A directory on the way that nobody cannot search.
    let private = dir.path().join("private");
    fs::create_dir(&private).expect("mkdir");
    chmod(&private, 0o700);
    let hidden = HeldFifo::new(&private.join("fifo"), 0o622);
    ctl_p(&[&"--fifo", &hidden.path, &"ping"])
        .by_nobody()
        .run()
        .expect_error(
            EX_NOPERM,
            &["permission denied looking it up", "not searchable"],
        );
}

#[test]
fn a_full_pipe_times_out_with_75_and_writes_nothing() {
    let dir = open_tempdir();
    let mut held = HeldFifo::new(&dir.path().join("fifo"), 0o620);
    let capacity = held.fill();
    let r = ctl_p(&[&"--fifo", &held.path, &"--timeout", &"0.3", &"ping"]).run();
    r.expect_error(
        EX_TEMPFAIL,
        &[
            "timed out after",
            &format!("the pipe {} stayed full", held.path.display()),
        ],
    );
    if r.took < Duration::from_millis(300) {
        r.fail("gave up before the timeout");
    }
    assert_eq!(held.queued(), capacity, "not one byte was added");

    // --wait: the request cannot go out either; the reply FIFO is removed.
    let reply = dir.path().join("reply");
    fs::create_dir(&reply).expect("mkdir");
    let r = ctl_p(&[
        &"--fifo",
        &held.path,
        &"--reply-dir",
        &reply,
        &"-t",
        &"0.2",
        &"ping",
        &"-w",
    ])
    .run();
    r.expect_error(EX_TEMPFAIL, &["stayed full"]);
    assert_eq!(entries(&reply), Vec::<String>::new());
    assert_eq!(held.queued(), capacity);
}

#[test]
fn a_full_pipe_that_drains_in_time_gets_the_message() {
    let dir = open_tempdir();
    let mut held = HeldFifo::new(&dir.path().join("fifo"), 0o620);
    let capacity = held.fill();
    let client = ctl_p(&[&"--fifo", &held.path, &"--timeout", &"30", &"ping"]).spawn();
    // Whether the client is already polling or not, room appears now.
    let got = held.read_until(b"\nping\n", TIMEOUT);
    assert_eq!(got.len(), capacity + 6);
    assert!(got[..capacity].iter().all(|&b| b == b'x'));
    assert_eq!(&got[capacity..], b"\nping\n", "the message arrived whole");
    client.wait(TIMEOUT).expect_ok();
}

// ---------------------------------------------------------------------------
// Status

/// Runs `python3` on `script` with `input` on stdin; its stdout.
fn python(script: &str, input: &str) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("python3 is needed for this test (scripts/test installs it): {e}")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "python3 failed on {input:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_reports_the_counters_the_paths_and_the_uptime() {
    let live = live_daemon(|_| {});
    live.d.write_fifo(b"ping\nping\nping\nbogus\n");
    live.d.wait_log_count("received ping", 3);
    live.d.wait_log("rejected message");
    let r = ctl_p(&[&"--config", &live.config, &"status"]).run();
    r.expect_ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    if lines.len() != 5 {
        r.fail("expected 5 lines");
    }
    assert_eq!(lines[0], "instance: default");
    assert_eq!(lines[1], format!("fifo: {}", live.d.fifo.display()));
    assert_eq!(lines[2], format!("config: {}", live.config.display()));
    let uptime: f64 = lines[3]
        .strip_prefix("uptime: ")
        .and_then(|u| u.strip_suffix(" s"))
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| r.fail("expected `uptime: N s`"));
    assert!(uptime > 0.0 && uptime < 600.0, "{uptime}");
    let counters_line = lines[4]
        .strip_prefix("counters: ")
        .unwrap_or_else(|| r.fail("expected `counters: ...`"));
    let c = counters(counters_line);
    assert_eq!(
        (
            counter(&c, "pings"),
            counter(&c, "rejected"),
            counter(&c, "ends")
        ),
        (3, 1, 0)
    );
    // The same line as the daemon's own counters line (SIGUSR1).
    let now = live.d.counters_now();
    assert_eq!(counter(&now, "pings"), 3);
    assert_eq!(
        entries(&live.reply),
        Vec::<String>::new(),
        "reply FIFO removed"
    );

    // For scripts: one JSON object that a real parser reads.
    let r = ctl_p(&[&"--config", &live.config, &"status", &"--json"]).run();
    r.expect_ok();
    let got = python(
        "import json,sys; d=json.load(sys.stdin); c=d['counters']; \
         print(d['instance'], d['fifo'], d['config'], c['pings'], c['rejected'], c['pongs'], \
         d['uptime_seconds'] > 0)",
        &r.stdout,
    );
    assert_eq!(
        got.trim_end(),
        format!(
            "default {} {} 3 1 1 True",
            live.d.fifo.display(),
            live.config.display()
        )
    );
    // Each answer counts as a pong (the second status saw the first).
    let c = live.d.counters_now();
    assert_eq!((counter(&c, "pongs"), counter(&c, "pongs_failed")), (2, 0));
}

#[test]
fn status_fails_like_a_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-fifo");
    ctl_p(&[&"--fifo", &missing, &"--reply-dir", &dir.path(), &"status"])
        .run()
        .expect_error(69, &["no-fifo"]);
    ctl(&["--fifo", "/tmp/x", "ping", "--json"])
        .run()
        .expect_error(64, &["--json works only with status"]);
    ctl(&["--fifo", "/tmp/x", "status", "--timeout", "16"])
        .run()
        .expect_error(64, &["at most 15 seconds"]);
    // An instance with nothing running: its own FIFO path, not the default's.
    ctl(&["--instance", "blue-2", "status"])
        .run()
        .expect_error(69, &["/run/fifo-pingd/instance/blue-2/fifo"]);
    for bad in ["a.b", "", "x/y", "fifo-pingd"] {
        ctl(&["--instance", bad, "ping"])
            .run()
            .expect_error(64, &["--instance: instance name"]);
    }
}

// ---------------------------------------------------------------------------
// Round trips

#[test]
fn wait_gets_a_pong_from_a_live_daemon_and_cleans_up() {
    let live = live_daemon(|_| {});
    let r = ctl_p(&[&"--config", &live.config, &"ping", &"--wait"]).run();
    r.expect_ok();
    let line = r.stdout.trim_end();
    let rest = line
        .strip_prefix("pong from fifo-pingd in ")
        .unwrap_or_else(|| r.fail("expected `pong from fifo-pingd in ...`"));
    assert!(
        rest.ends_with(" µs") || rest.ends_with(" ms") || rest.ends_with(" s"),
        "{line}"
    );
    assert_eq!(
        entries(&live.reply),
        Vec::<String>::new(),
        "reply FIFO removed"
    );

    ctl_p(&[&"-q", &"-w", &"--config", &live.config, &"ping"])
        .run()
        .expect_ok();
    let c = live.d.counters_now();
    assert_eq!((counter(&c, "pongs"), counter(&c, "pongs_failed")), (2, 0));

    if is_root() {
        // A member of the reply directory's group, as packaged.
        let r = ctl_p(&[&"--config", &live.config, &"ping", &"--wait"])
            .by_nobody()
            .run();
        r.expect_ok();
        assert!(r.stdout.starts_with("pong from fifo-pingd in "), "{r:?}");
        assert_eq!(entries(&live.reply), Vec::<String>::new());
    }
}

#[test]
fn wait_against_a_stopped_daemon_times_out_and_cleans_up() {
    let live = live_daemon(|_| {});
    let d = &live.d;
    d.signal(Signal::SIGSTOP);
    let mut client = ctl_p(&[
        &"--config",
        &live.config,
        &"--timeout",
        &"1",
        &"ping",
        &"--wait",
    ]);
    if is_root() {
        client = client.by_nobody();
    }
    let client = client.spawn();
    let reply_fifo = wait_for_reply_fifo(&live.reply, &client);
    // The client makes it 0600 and then fchmods it to 0620 on the descriptor:
    // it may be seen in between (a CI run did), so wait (bounded) for the end
    // of the setup before looking.
    let deadline = Instant::now() + TIMEOUT;
    let info = loop {
        let info = node_info(&reply_fifo).expect("reply FIFO");
        if info.mode == 0o620 || Instant::now() >= deadline {
            break info;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!((info.kind, info.mode), ("fifo", 0o620), "{info:?}");
    if is_root() {
        // Owned by the client; the directory's group through its set-group-ID bit.
        assert_eq!((info.uid, info.gid), (NOBODY, NOBODY), "{info:?}");
    }
    let name = reply_fifo
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let r = client.wait(TIMEOUT);
    r.expect_error(EX_TEMPFAIL, &["no pong within", "did not answer"]);
    if r.took < Duration::from_secs(1) {
        r.fail("gave up before the timeout");
    }
    assert_eq!(
        entries(&live.reply),
        Vec::<String>::new(),
        "reply FIFO removed"
    );

    // The daemon wakes up, finds the request, and the vanished client costs it nothing.
    d.signal(Signal::SIGCONT);
    d.wait_log(&format!("no pong sent: {name}: no such reply FIFO"));
    ctl_p(&[&"--config", &live.config, &"ping", &"--wait"])
        .run()
        .expect_ok();
}

#[test]
fn signals_while_waiting_remove_the_reply_fifo() {
    let live = live_daemon(|_| {});
    live.d.signal(Signal::SIGSTOP);
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        let client = ctl_p(&[
            &"--config",
            &live.config,
            // The longest --wait allows (reply::MAX_ROUND_TRIP).
            &"--timeout",
            &"15",
            &"ping",
            &"--wait",
        ])
        .spawn();
        wait_for_reply_fifo(&live.reply, &client);
        client.signal(sig);
        let r = client.wait(TIMEOUT);
        if r.status.signal() != Some(sig as i32) {
            r.fail(&format!("expected death by {sig:?}, as without a handler"));
        }
        if r.took > Duration::from_secs(7) {
            r.fail("the signal did not interrupt the wait");
        }
        assert_eq!(entries(&live.reply), Vec::<String>::new(), "after {sig:?}");
    }
}

#[test]
fn reply_directory_problems_are_explained_and_nothing_is_sent() {
    let dir = open_tempdir();
    let held = HeldFifo::new(&dir.path().join("fifo"), 0o622);
    let missing = dir.path().join("no-reply");
    ctl_p(&[
        &"--fifo",
        &held.path,
        &"--reply-dir",
        &missing,
        &"ping",
        &"--wait",
    ])
    .run()
    .expect_error(
        EX_UNAVAILABLE,
        &[
            &format!("no reply directory {}", missing.display()),
            "round-trip pings (ping --wait) need it",
            "tmpfiles",
            "--reply-dir",
        ],
    );
    // The configuration file names it, too.
    let config = dir.path().join("c.toml");
    fs::write(
        &config,
        format!(
            "[fifo]\npath = {}\n[reply]\ndirectory = {}\n",
            toml_str(&held.path.to_string_lossy()),
            toml_str(&missing.to_string_lossy())
        ),
    )
    .expect("write config");
    ctl_p(&[&"-c", &config, &"ping", &"--wait"])
        .run()
        .expect_error(
            EX_UNAVAILABLE,
            &[&format!("no reply directory {}", missing.display())],
        );

    let real = dir.path().join("reply");
    fs::create_dir(&real).expect("mkdir");
    let link = dir.path().join("reply-link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    ctl_p(&[
        &"--fifo",
        &held.path,
        &"--reply-dir",
        &link,
        &"ping",
        &"--wait",
    ])
    .run()
    .expect_error(
        EX_UNAVAILABLE,
        &["expected the reply directory, found a symbolic link"],
    );

    if is_root() {
        // root:root 0755: nobody may not create in it.
        ctl_p(&[
            &"--fifo",
            &held.path,
            &"--reply-dir",
            &real,
            &"ping",
            &"--wait",
        ])
        .by_nobody()
        .run()
        .expect_error(
            EX_NOPERM,
            &[
                &format!(
                    "permission denied creating a reply FIFO in {}",
                    real.display()
                ),
                "add the user to group root",
            ],
        );
    }
    assert_eq!(held.queued(), 0, "no request went out");
    assert_eq!(entries(&real), Vec::<String>::new());
}

#[test]
fn hostile_reply_names_are_refused_without_writing() {
    let live = live_daemon(|_| {});
    let d = &live.d;
    let outside = d.dir().join("outside.txt");
    fs::write(&outside, b"keep").expect("write");
    // A FIFO outside the reply directory with a reader: a pong would show.
    let mut trap = HeldFifo::new(&d.dir().join("x"), 0o666);
    std::os::unix::fs::symlink(&outside, live.reply.join("to-file")).expect("symlink");
    std::os::unix::fs::symlink(&trap.path, live.reply.join("to-fifo")).expect("symlink");
    let plain = live.reply.join("plain");
    fs::write(&plain, b"keep").expect("write");

    d.write_fifo(b"?ping ../x\n");
    d.wait_log("rejected message: bad request");
    d.write_fifo(b"?ping to-file\n");
    d.wait_log("no pong sent: to-file: expected a FIFO, found a symbolic link");
    d.write_fifo(b"?ping to-fifo\n");
    d.wait_log("no pong sent: to-fifo: expected a FIFO, found a symbolic link");
    d.write_fifo(b"?ping plain\n");
    d.wait_log("no pong sent: plain: expected a FIFO, found a regular file");
    d.write_fifo(b"?ping /etc/passwd\n");
    d.wait_log_count("rejected message: bad request", 2);

    assert_eq!(fs::read(&outside).expect("read"), b"keep");
    assert_eq!(fs::read(&plain).expect("read"), b"keep");
    assert_eq!(trap.drain(), b"", "nothing reached the FIFO outside");
    let c = d.counters_now();
    assert_eq!(counter(&c, "pongs"), 0, "{c:?}");
    assert_eq!(counter(&c, "pongs_failed"), 3, "{c:?}");
    assert_eq!(counter(&c, "rejected"), 2, "{c:?}");
    // Still serving.
    ctl_p(&[&"--config", &live.config, &"ping", &"--wait"])
        .run()
        .expect_ok();
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn the_config_gives_the_paths_and_daemon_only_keys_do_not_matter() {
    let dir = open_tempdir();
    let mut held = HeldFifo::new(&dir.path().join("fifo"), 0o622);
    let config = dir.path().join("c.toml");
    // Keys only the daemon uses, wrong for this host or even invalid for
    // the daemon, and a key from some future version: none of the client's
    // business.
    fs::write(
        &config,
        format!(
            "[fifo]\npath = {}\nowner = \"no-such-user-xyz\"\ngroup = \"no-such-group-xyz\"\nmode = \"9999\"\n\
             [log]\nlevel = \"loud\"\n[messages]\nmax_message_bytes = 0\n[future]\nkey = true\n",
            toml_str(&held.path.to_string_lossy())
        ),
    )
    .expect("write config");
    chmod(&config, 0o644);
    let mut run = ctl_p(&[&"--config", &config, &"ping"]);
    if is_root() {
        run = run.by_nobody();
    }
    run.run().expect_ok();
    assert_eq!(held.drain(), b"\nping\n");

    // --fifo wins over the file.
    let other = HeldFifo::new(&dir.path().join("other"), 0o622);
    ctl_p(&[&"--config", &config, &"--fifo", &other.path, &"end"])
        .run()
        .expect_ok();
    assert_eq!(other.queued(), 5, "\\nend\\n went to --fifo");
    assert_eq!(held.queued(), 0);
}

#[test]
fn bad_config_files_exit_78() {
    let dir = open_tempdir();
    let missing = dir.path().join("missing.toml");
    ctl_p(&[&"--config", &missing, &"ping"]).run().expect_error(
        78,
        &[&format!(
            "{}: cannot read the configuration file",
            missing.display()
        )],
    );
    // An explicit file is read even with --fifo: a typo is caught.
    ctl_p(&[&"--config", &missing, &"--fifo", &"/dev/null", &"ping"])
        .run()
        .expect_error(78, &["cannot read"]);

    let bad = dir.path().join("bad.toml");
    fs::write(&bad, "[fifo]\npath = \"/run/x\"\n[log\n").expect("write");
    ctl_p(&[&"-c", &bad, &"ping"])
        .run()
        .expect_error(78, &[&format!("{}:3:", bad.display())]);
    fs::write(&bad, "[fifo]\npath = \"relative/fifo\"\n").expect("write");
    ctl_p(&[&"-c", &bad, &"ping"]).run().expect_error(
        78,
        &[&format!(
            "{}:2:8: [fifo] path: expected an absolute path",
            bad.display()
        )],
    );
    fs::write(&bad, "[reply]\ndirectory = \"reply\"\n").expect("write");
    ctl_p(&[&"-c", &bad, &"ping", &"--wait"])
        .run()
        .expect_error(78, &["[reply] directory: expected an absolute path"]);

    // Others could redirect the client: refused like the daemon refuses it.
    fs::write(&bad, "").expect("write");
    chmod(&bad, 0o666);
    ctl_p(&[&"-c", &bad, &"ping"])
        .run()
        .expect_error(78, &["world-writable"]);

    if is_root() {
        let private = dir.path().join("private.toml");
        fs::write(&private, "").expect("write");
        chmod(&private, 0o600);
        ctl_p(&[&"-c", &private, &"ping"])
            .by_nobody()
            .run()
            .expect_error(
                78,
                &["cannot read the configuration file", "Permission denied"],
            );
    }
}

// ---------------------------------------------------------------------------
// Measurement (not a pass/fail test)

fn show_percentiles(what: &str, v: &mut [Duration]) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "{what}: n={} min={:?} median={:?} p90={:?} p99={:?} max={:?}",
        v.len(),
        v[0],
        at(0.5),
        at(0.9),
        at(0.99),
        v[v.len() - 1]
    );
}

/// 1000 in-process round trips (after 100 to warm up) and 200 runs of the
/// binary against a daemon logging at most `lines_per_second` ping lines.
fn measure(label: &str, lines_per_second: u64) {
    use fifo_pingd::ctl::{ControlFifo, round_trip};
    let live = live_daemon(|c| c.ping_lines_per_second = Some(lines_per_second));
    let fifo = ControlFifo::open(&live.d.fifo, "test").unwrap_or_else(|e| panic!("{e:?}"));
    let one = || {
        round_trip(&fifo, &live.reply, Instant::now() + TIMEOUT, None)
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    for _ in 0..100 {
        one();
    }
    let mut in_process: Vec<Duration> = (0..1000).map(|_| one()).collect();
    // The whole command, process start included.
    let mut command: Vec<Duration> = (0..200)
        .map(|_| {
            let r = ctl_p(&[&"--config", &live.config, &"-q", &"ping", &"--wait"]).run();
            r.expect_ok();
            r.took
        })
        .collect();
    println!("daemon {label}:");
    show_percentiles(
        "  write(?ping NAME) to pong read, in-process client API",
        &mut in_process,
    );
    show_percentiles(
        "  `fifo-pingctl -q ping --wait`, spawn to exit",
        &mut command,
    );
    let c = live.d.counters_now();
    assert_eq!(counter(&c, "pongs"), 1300, "{c:?}");
    assert_eq!(entries(&live.reply), Vec::<String>::new());
}

/// Round-trip latency: median and p99 over 1000 `--wait` round trips.
/// `cargo test --release --test integration -- --ignored --nocapture client::round_trip_latency`
#[test]
#[ignore = "measurement; run with --release --ignored --nocapture"]
fn round_trip_latency() {
    measure(
        "as packaged (ping_lines_per_second = 100: most of these pings are not logged)",
        100,
    );
    measure(
        "logging every ping (ping_lines_per_second = 0), like a sparse health check",
        0,
    );
}

/// The client reads its config the daemon's way and never hangs on it: a
/// FIFO nobody writes, a device that never ends, a file larger than any sane
/// config, a file it may not read: one clear line, exit 78, well within
/// --timeout (5 s here; each takes milliseconds), and the daemon refuses the
/// same files with the same words.
#[test]
fn configs_that_could_hang_or_flood_the_client_are_refused_at_once() {
    let dir = open_tempdir();
    let fifo = dir.path().join("config-fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let big = dir.path().join("big.toml");
    fs::write(&big, vec![b'#'; 2 << 20]).expect("write");
    let mut cases: Vec<(std::path::PathBuf, &str)> = vec![
        (fifo.clone(), "expected a regular file, found a FIFO"),
        (
            "/dev/zero".into(),
            "expected a regular file, found a device",
        ),
        (big.clone(), "expected a configuration file of at most"),
    ];
    let unreadable = dir.path().join("unreadable.toml");
    fs::write(&unreadable, "").expect("write");
    chmod(&unreadable, 0o000);
    if !is_root() {
        // Root reads it anyway; as another user it is a read error.
        cases.push((unreadable.clone(), "cannot read the configuration file"));
    }
    for (path, words) in &cases {
        let r = ctl_p(&[&"--config", path, &"--timeout", &"5", &"ping"]).run();
        r.expect_error(78, &[words]);
        assert!(
            r.took < Duration::from_secs(1),
            "{}: took {:?}, within --timeout 5 it must be at once",
            path.display(),
            r.took
        );
        let d = std::process::Command::new(env!("CARGO_BIN_EXE_fifo-pingd"))
            .args(["--check-config", "--config"])
            .arg(path)
            .output()
            .expect("run fifo-pingd --check-config");
        assert_eq!(d.status.code(), Some(78), "{}", path.display());
        assert!(
            String::from_utf8_lossy(&d.stderr).contains(words),
            "the daemon refuses {} with the same words: {}",
            path.display(),
            String::from_utf8_lossy(&d.stderr)
        );
    }
    if is_root() {
        let r = ctl_p(&[&"--config", &unreadable, &"ping"])
            .by_nobody()
            .run();
        r.expect_error(78, &["cannot read the configuration file"]);
    }
}
