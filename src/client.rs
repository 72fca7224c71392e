//! `fifo-pingctl`: the client. It sends `ping` or `end` to the daemon's FIFO
//! without ever hanging or creating anything at the FIFO's path, and with
//! `ping --wait` checks that the daemon is alive *and processing* by asking
//! for a `pong` in a private reply FIFO (in the spirit of s6 fifodirs).
//!
//! Writing: the path is looked at first (`lstat`: anything but a FIFO is
//! refused without being opened), then opened
//! `O_WRONLY|O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC` (no `O_CREAT`, so a typo never
//! creates a regular file; no reader means `ENXIO` at once instead of a
//! blocked `open`), checked again on the descriptor, and each message goes
//! out in one `write()` of at most `PIPE_BUF` bytes, which the kernel keeps
//! whole. A full pipe (`EAGAIN`) is waited out with `poll(POLLOUT)` until the
//! deadline.
//!
//! Round trip: the client creates `pingctl.<pid>.<random>` in the reply
//! directory (`mkfifoat` mode 0600, then `fchmod` 0620 on the descriptor so
//! the daemon's group may write), opens it for reading *before* sending
//! `?ping NAME`, waits for `pong` with `poll`, and removes the FIFO on every
//! way out: success, error, timeout (by `Drop`), and SIGINT/SIGTERM/SIGHUP
//! (the signals only set a flag and wake the `poll` through a self-pipe; the
//! stack unwinds normally, the FIFO is unlinked, and the signal is then
//! re-raised with its default action so the caller sees the usual status).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat, readlink};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::{
    FchmodatFlags, FileStat, Mode, SFlag, fchmod, fchmodat, fstat, fstatat, lstat,
};
use nix::unistd::{
    Gid, Group, Uid, UnlinkatFlags, User, fchown, getegid, geteuid, getgroups, getpid, mkfifoat,
    unlinkat,
};
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::cli::{ValueError, option_value, split_inline_value};
use crate::config::{
    DEFAULT_CONFIG_PATH, DEFAULT_FIFO_PATH, DEFAULT_REPLY_DIRECTORY, Location, USER_FIFO_LINK,
};
use crate::exit::{
    EX_CANTCREAT, EX_CONFIG, EX_NOPERM, EX_OSERR, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE, Failure,
};
use crate::fifo::{At, VerifyError, file_type_name, look, open_verified};
use crate::reply::{MAX_ROUND_TRIP, PONG, STALE_REPLY_AGE};
use crate::signals::{SIGHUP, SIGINT, SIGTERM, Signals};

pub const PROGRAM: &str = "fifo-pingctl";
/// How long to wait for room in the pipe and, with `--wait`, for the pong.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `--timeout` accepted (one day).
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;
/// Mode of a reply FIFO: the client reads (and owns it), the daemon's group writes.
pub const REPLY_FIFO_MODE: u32 = 0o620;
/// Reply FIFO names start with this, then `<pid>.<16 hex digits>`.
pub const REPLY_NAME_PREFIX: &str = "pingctl.";
/// `mkfifoat` attempts with fresh names before giving up on `EEXIST`.
const NAME_ATTEMPTS: usize = 16;
/// The longest message: `\n?ping `, a 64-byte name and `\n`; far below
/// `PIPE_BUF` (4096 on Linux, at least 512 by POSIX), so one write is atomic.
const MAX_MESSAGE: usize = 1 + 6 + crate::protocol::MAX_REPLY_NAME + 1;
const _: () = assert!(MAX_MESSAGE <= 512 && MAX_MESSAGE <= libc::PIPE_BUF);

pub const HELP: &str = "\
fifo-pingctl - send ping or end to fifo-pingd, never hanging; check it answers

Usage: fifo-pingctl [OPTIONS] ping [--wait]
       fifo-pingctl [OPTIONS] end

Commands:
  ping                 write `ping` into the daemon's FIFO
  ping --wait          round trip: ask fifo-pingd for a `pong` in a private
                       reply FIFO and print the time it took
  end                  write `end` (the daemon stops unless on_end = \"ignore\")

Options:
  -f, --fifo PATH      the daemon's FIFO (default: [fifo] path from the
                       configuration file, else /run/fifo-ping)
  -c, --config PATH    the daemon's configuration file to read the paths from
                       (default /etc/fifo-pingd/fifo-pingd.toml if readable)
  -r, --reply-dir DIR  directory for the reply FIFO (default: [reply] directory
                       from the configuration file, else /run/fifo-pingd/reply)
  -t, --timeout SECS   give up after SECS seconds (decimals allowed; default 5)
  -w, --wait           with ping: wait for the daemon's pong
  -q, --quiet          print nothing on success
  -h, --help           print this help
  -V, --version        print the version

Nothing is ever created at the FIFO's path, and nothing blocks: no reader
fails at once, a full pipe is waited for at most SECS seconds.

Exit status: 0 sent (with --wait: pong received), 64 usage, 69 fifo-pingd not
running / path missing / not a FIFO / no reply directory, 71 OS error,
73 cannot create the reply FIFO, 75 timed out (pipe full or no pong),
77 permission denied, 78 bad configuration file.
Killed by SIGINT/SIGTERM/SIGHUP while waiting: the reply FIFO is removed first.
See fifo-pingctl(1).
";

// ---------------------------------------------------------------------------
// Command line

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    #[error("option {0} needs a value")]
    MissingValue(&'static str),
    #[error("option {0} takes no value")]
    UnexpectedValue(String),
    #[error("{0}: expected a path, found an empty string")]
    EmptyPath(&'static str),
    #[error(
        "--timeout: expected seconds from 0 to {MAX_TIMEOUT_SECS} (e.g. 5 or 0.5), found {0:?}"
    )]
    BadTimeout(String),
    #[error("unknown command {0:?}: expected ping or end")]
    UnknownCommand(String),
    #[error("unexpected argument {0:?} (one command at a time)")]
    UnexpectedArgument(String),
    #[error("missing command: ping or end")]
    MissingCommand,
    #[error(
        "--timeout: at most {max} seconds with --wait (fifo-pingd removes reply FIFOs older than {stale} seconds), found {0:?}",
        max = MAX_ROUND_TRIP.as_secs(), stale = STALE_REPLY_AGE.as_secs()
    )]
    WaitTimeout(String),
    #[error("--wait works only with ping (the daemon answers nothing to end)")]
    WaitNeedsPing,
    #[error("argument is not valid UTF-8: {0:?}")]
    NotUnicode(OsString),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure {
            code: EX_USAGE,
            message: format!("{e} (see --help)"),
        }
    }
}

/// What to write into the daemon's FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Ping,
    End,
}

impl Action {
    pub fn word(self) -> &'static str {
        match self {
            Action::Ping => "ping",
            Action::End => "end",
        }
    }

    fn message(self) -> &'static [u8] {
        match self {
            // The leading separator closes whatever another writer left
            // unterminated in the pipe, so it cannot swallow this word.
            Action::Ping => b"\nping\n",
            Action::End => b"\nend\n",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Send(Action),
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub command: Command,
    pub fifo: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub reply_dir: Option<PathBuf>,
    pub timeout: Duration,
    pub wait: bool,
    pub quiet: bool,
}

fn parse_timeout(text: &str) -> Result<Duration, UsageError> {
    let bad = || UsageError::BadTimeout(text.to_owned());
    let secs: f64 = text.trim().parse().map_err(|_| bad())?;
    if !secs.is_finite() || !(0.0..=MAX_TIMEOUT_SECS).contains(&secs) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// Parses the arguments after the program name. Options may come before or
/// after the command (`fifo-pingctl ping --wait`).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Options, UsageError> {
    let mut command: Option<Action> = None;
    let mut options = Options {
        command: Command::Help,
        fifo: None,
        config: None,
        reply_dir: None,
        timeout: DEFAULT_TIMEOUT,
        wait: false,
        quiet: false,
    };
    let mut args = args.into_iter();
    let mut only_operands = false;
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(UsageError::NotUnicode)?;
        if only_operands || !arg.starts_with('-') || arg == "-" {
            let action = match arg.as_str() {
                "ping" => Action::Ping,
                "end" => Action::End,
                _ if command.is_some() => return Err(UsageError::UnexpectedArgument(arg)),
                _ => return Err(UsageError::UnknownCommand(arg)),
            };
            if command.is_some() {
                return Err(UsageError::UnexpectedArgument(arg));
            }
            command = Some(action);
            continue;
        }
        if arg == "--" {
            only_operands = true;
            continue;
        }
        let (name, inline) = split_inline_value(&arg);
        let mut value = |option: &'static str| {
            option_value(inline, &mut args).map_err(|e| match e {
                ValueError::Missing => UsageError::MissingValue(option),
                ValueError::NotUnicode(raw) => UsageError::NotUnicode(raw),
            })
        };
        let path = |option: &'static str, value: String| {
            if value.is_empty() {
                Err(UsageError::EmptyPath(option))
            } else {
                Ok(PathBuf::from(value))
            }
        };
        let flag = |set: &mut bool| {
            if inline.is_some() {
                return Err(UsageError::UnexpectedValue(name.to_owned()));
            }
            *set = true;
            Ok(())
        };
        match name {
            "-f" | "--fifo" => options.fifo = Some(path("--fifo", value("--fifo")?)?),
            "-c" | "--config" => options.config = Some(path("--config", value("--config")?)?),
            "-r" | "--reply-dir" => {
                options.reply_dir = Some(path("--reply-dir", value("--reply-dir")?)?)
            }
            "-t" | "--timeout" => options.timeout = parse_timeout(&value("--timeout")?)?,
            "-w" | "--wait" => flag(&mut options.wait)?,
            "-q" | "--quiet" => flag(&mut options.quiet)?,
            "-h" | "--help" => {
                options.command = Command::Help;
                return Ok(options);
            }
            "-V" | "--version" => {
                options.command = Command::Version;
                return Ok(options);
            }
            _ => return Err(UsageError::UnknownOption(arg)),
        }
    }
    let action = command.ok_or(UsageError::MissingCommand)?;
    if options.wait && action != Action::Ping {
        return Err(UsageError::WaitNeedsPing);
    }
    if options.wait && options.timeout > MAX_ROUND_TRIP {
        return Err(UsageError::WaitTimeout(format!(
            "{}",
            options.timeout.as_secs_f64()
        )));
    }
    options.command = Command::Send(action);
    Ok(options)
}

// ---------------------------------------------------------------------------
// Where the FIFO and the reply directory are

/// The two keys of the daemon's configuration the client needs. Everything
/// else (owner, group, log settings, keys of newer versions) is ignored: a
/// client on a host where the configured group does not resolve, or run by a
/// user who could not use the log socket, must still find the FIFO.
#[derive(Debug, Default, Deserialize)]
struct LooseFile {
    #[serde(default)]
    fifo: LooseFifo,
    #[serde(default)]
    reply: LooseReply,
}

#[derive(Debug, Default, Deserialize)]
struct LooseFifo {
    path: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct LooseReply {
    directory: Option<Spanned<String>>,
}

/// What the client took from a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientConfig {
    pub fifo_path: Option<PathBuf>,
    pub reply_directory: Option<PathBuf>,
}

fn config_failure(message: String) -> Failure {
    Failure {
        code: EX_CONFIG,
        message,
    }
}

/// Parses the two keys out of `text` (the contents of `path`).
pub fn parse_client_config(text: &str, path: &Path) -> Result<ClientConfig, Failure> {
    let at = |span: Option<Range<usize>>, message: &str| {
        let (line, column) = crate::config::line_column(text, span.map_or(0, |s| s.start));
        config_failure(format!("{}:{line}:{column}: {message}", path.display()))
    };
    let raw: LooseFile = toml::from_str(text).map_err(|e| at(e.span(), e.message().trim()))?;
    let absolute = |key: &str, value: &Spanned<String>| {
        let p = PathBuf::from(value.get_ref());
        if p.is_absolute() {
            Ok(p)
        } else {
            Err(at(
                Some(value.span()),
                &format!(
                    "{key}: expected an absolute path, found {:?}",
                    value.get_ref()
                ),
            ))
        }
    };
    Ok(ClientConfig {
        fifo_path: raw
            .fifo
            .path
            .as_ref()
            .map(|v| absolute("[fifo] path", v))
            .transpose()?,
        reply_directory: raw
            .reply
            .directory
            .as_ref()
            .map(|v| absolute("[reply] directory", v))
            .transpose()?,
    })
}

/// Reads the configuration file. `Ok(None)`: the default file is absent or
/// unreadable to this user, so the built-in defaults apply. An explicit
/// `--config` that cannot be read, and any file that does not parse or that
/// others could have changed (the daemon's own trust rule), is an error.
pub fn read_client_config(location: &Location) -> Result<Option<ClientConfig>, Failure> {
    let path = location.path();
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e)
            if matches!(location, Location::Default)
                && matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(config_failure(format!(
                "{}: cannot read the configuration file: {e}",
                path.display()
            )));
        }
    };
    let meta = fs::metadata(path).map_err(|e| {
        config_failure(format!(
            "{}: cannot read the configuration file: {e}",
            path.display()
        ))
    })?;
    let euid = geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(config_failure(format!(
            "{}: expected a file owned by root or uid {euid}, found one owned by uid {}; refusing to use it (or pass --fifo)",
            path.display(),
            meta.uid()
        )));
    }
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(config_failure(format!(
            "{}: expected a file only its owner may change, found mode {:04o} (world-writable); refusing to use it (or pass --fifo)",
            path.display(),
            meta.permissions().mode() & 0o7777
        )));
    }
    parse_client_config(&text, path).map(Some)
}

/// The resolved paths, and where the FIFO path came from (for hints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub fifo: PathBuf,
    pub fifo_origin: String,
    pub reply_dir: PathBuf,
}

/// `--fifo`, else `[fifo] path`, else `/run/fifo-ping`; the same for the
/// reply directory. The configuration file is read only when it is needed or
/// was named explicitly.
pub fn resolve(options: &Options) -> Result<Target, Failure> {
    let needed = options.config.is_some()
        || options.fifo.is_none()
        || (options.wait && options.reply_dir.is_none());
    let location = match &options.config {
        Some(path) => Location::Explicit(path.clone()),
        None => Location::Default,
    };
    let file = if needed {
        read_client_config(&location)?
    } else {
        None
    };
    let config_name = location.path().display().to_string();
    let (fifo, fifo_origin) = match (
        &options.fifo,
        file.as_ref().and_then(|c| c.fifo_path.clone()),
    ) {
        (Some(path), _) => (path.clone(), "path from --fifo".to_owned()),
        (None, Some(path)) => (path, format!("path from [fifo] path in {config_name}")),
        (None, None) => {
            let why = match &file {
                Some(_) => {
                    format!("the built-in default path; {config_name} does not set [fifo] path")
                }
                None if location.path() == Path::new(DEFAULT_CONFIG_PATH) => {
                    format!(
                        "the built-in default path; {DEFAULT_CONFIG_PATH} is absent or unreadable"
                    )
                }
                None => "the built-in default path".to_owned(),
            };
            // The packaged link users write to, where it is (it dangles while
            // the daemon is stopped, which open reports as such); else the
            // daemon's own built-in path.
            let path = if lstat(USER_FIFO_LINK).is_ok() {
                USER_FIFO_LINK
            } else {
                DEFAULT_FIFO_PATH
            };
            (PathBuf::from(path), why)
        }
    };
    let reply_dir = match (&options.reply_dir, file.and_then(|c| c.reply_directory)) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir,
        (None, None) => PathBuf::from(DEFAULT_REPLY_DIRECTORY),
    };
    Ok(Target {
        fifo,
        fifo_origin,
        reply_dir,
    })
}

// ---------------------------------------------------------------------------
// Errors

/// Why a client operation stopped.
#[derive(Debug)]
pub enum ClientError {
    /// A failure with its exit code and one line for a person.
    Failed(Failure),
    /// SIGINT, SIGTERM or SIGHUP arrived while waiting; everything the
    /// client created is gone by the time this reaches `main`.
    Interrupted(libc::c_int),
}

impl From<Failure> for ClientError {
    fn from(f: Failure) -> Self {
        ClientError::Failed(f)
    }
}

impl ClientError {
    /// The exit code (`128 + signal` for an interruption, as a shell shows it).
    pub fn code(&self) -> u8 {
        match self {
            ClientError::Failed(f) => f.code,
            ClientError::Interrupted(sig) => 128u8.saturating_add(*sig as u8),
        }
    }
}

fn failure(code: u8, message: String) -> ClientError {
    ClientError::Failed(Failure { code, message })
}

fn os_failure(what: String, errno: Errno) -> ClientError {
    failure(EX_OSERR, format!("{what}: {}", errno.desc()))
}

fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

fn user_label(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

fn group_label(gid: u32) -> (String, Option<Group>) {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(group)) => (group.name.clone(), Some(group)),
        _ => (gid.to_string(), None),
    }
}

/// "mode 0620, owner root, group fifo-ping" and the advice for someone who
/// may not write there.
fn permission_advice(st: &FileStat, needs_write_bits: u32) -> (String, String) {
    let (group, entry) = group_label(st.st_gid);
    let facts = format!(
        "mode {:04o}, owner {}, group {group}",
        st.st_mode & 0o7777,
        user_label(st.st_uid)
    );
    let gid = Gid::from_raw(st.st_gid);
    let in_group = getegid() == gid || getgroups().is_ok_and(|groups| groups.contains(&gid));
    let advice = if in_group && st.st_mode & needs_write_bits != needs_write_bits {
        format!("this user is in group {group}, but the mode gives the group no write access")
    } else {
        let me = user_label(geteuid().as_raw());
        let listed = entry.is_some_and(|g| g.mem.contains(&me));
        if listed && !in_group {
            format!(
                "add the user to group {group} ({me} is listed in it, but this session is not: log in again so it takes effect)"
            )
        } else {
            format!("add the user to group {group}")
        }
    };
    (facts, advice)
}

fn describe_non_fifo(path: &Path, st: &FileStat) -> String {
    if is_type(st, SFlag::S_IFLNK) {
        match readlink(path) {
            Ok(target) => format!("a symbolic link to {}", Path::new(&target).display()),
            Err(_) => "a symbolic link".to_owned(),
        }
    } else {
        file_type_name(st).to_owned()
    }
}

// ---------------------------------------------------------------------------
// Signals

/// SIGINT, SIGTERM and SIGHUP, caught while the client holds a reply FIFO
/// (the shared [`Signals`]: a signal wakes `poll`); dropped, the default
/// actions are back, so the signal can be re-raised after the clean-up.
pub struct Interrupts(Signals);

const INTERRUPTS: [libc::c_int; 3] = [SIGINT, SIGTERM, SIGHUP];

impl Interrupts {
    pub fn install() -> io::Result<Interrupts> {
        Signals::install(&INTERRUPTS).map(Interrupts)
    }

    /// The first signal that arrived, if any.
    pub fn pending(&self) -> Option<libc::c_int> {
        self.0.first_of(&INTERRUPTS)
    }
}

fn check_interrupts(interrupts: Option<&Interrupts>) -> Result<(), ClientError> {
    match interrupts.and_then(Interrupts::pending) {
        Some(signal) => Err(ClientError::Interrupted(signal)),
        None => Ok(()),
    }
}

/// Waits until `fd` reports `events`, a signal arrives or `deadline` passes.
/// Returns false at the deadline.
fn wait_for(
    fd: &OwnedFd,
    events: PollFlags,
    deadline: Instant,
    interrupts: Option<&Interrupts>,
    what: &str,
) -> Result<bool, ClientError> {
    loop {
        check_interrupts(interrupts)?;
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        // Round up, so poll does not return a hair early and spin.
        let millis = (deadline - now).as_micros().div_ceil(1000);
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(fd.as_fd(), events)];
        if let Some(i) = interrupts {
            fds.push(PollFd::new(i.0.wake_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {
                if fds[0].revents().is_some_and(|r| !r.is_empty()) {
                    return Ok(true);
                }
            }
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(os_failure(format!("poll on {what}"), errno)),
        }
    }
}

/// `5 s`, `0.5 s`, `0.25 s`: to the millisecond.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_millis() as f64 / 1000.0)
}

/// `123 µs`, `12.3 ms` or `1.23 s`.
pub fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 10_000 {
        format!("{micros} µs")
    } else if micros < 10_000_000 {
        format!("{:.1} ms", micros as f64 / 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

// ---------------------------------------------------------------------------
// The daemon's FIFO

/// The daemon's FIFO, open for writing.
#[derive(Debug)]
pub struct ControlFifo {
    fd: OwnedFd,
    path: PathBuf,
}

impl ControlFifo {
    /// Opens `path` for writing without creating, following or blocking.
    /// `origin` says where the path came from, for the "missing" hint.
    pub fn open(path: &Path, origin: &str) -> Result<ControlFifo, ClientError> {
        let shown = path.display();
        let missing = || {
            failure(
                EX_UNAVAILABLE,
                format!(
                    "{shown} does not exist: fifo-pingd is not running or uses another FIFO ({origin}; start it with `systemctl start fifo-pingd` or fifo-pingd.socket, or pass --fifo PATH)"
                ),
            )
        };
        // Look before opening: opening a device node can have side effects.
        let before = match look(At::Path(path), false) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Err(missing()),
            Err(Errno::ENOTDIR) => {
                return Err(failure(
                    EX_UNAVAILABLE,
                    format!("{shown}: a component of the path is not a directory"),
                ));
            }
            Err(errno @ (Errno::EACCES | Errno::EPERM)) => {
                return Err(failure(
                    EX_NOPERM,
                    format!(
                        "{shown}: permission denied looking it up ({}): a directory on the way is not searchable by this user",
                        errno.desc()
                    ),
                ));
            }
            Err(errno) => return Err(os_failure(format!("{shown}: cannot look it up"), errno)),
        };
        // A link is followed (the packaged /run/fifo-ping is one, made by
        // tmpfiles.d), but what it leads to is looked at like the path
        // itself: only a FIFO is ever opened.
        let link = is_type(&before, SFlag::S_IFLNK);
        let link_st = before;
        let before = if link {
            match look(At::Path(path), true) {
                Ok(st) => st,
                Err(Errno::ENOENT) => {
                    return Err(failure(
                        EX_UNAVAILABLE,
                        format!(
                            "fifo-pingd is not running: {shown} is {}, which does not exist (the daemon's directory is removed while it is stopped; start it with `systemctl start fifo-pingd` or fifo-pingd.socket, or pass --fifo PATH)",
                            describe_non_fifo(path, &before)
                        ),
                    ));
                }
                Err(errno) => {
                    return Err(os_failure(
                        format!("{shown}: cannot follow the link"),
                        errno,
                    ));
                }
            }
        } else {
            before
        };
        if !is_type(&before, SFlag::S_IFIFO) {
            let found = if link {
                format!(
                    "{} ({})",
                    describe_non_fifo(path, &link_st),
                    file_type_name(&before)
                )
            } else {
                format!(
                    "{} (fifo-pingd cannot start while this is at its FIFO path)",
                    describe_non_fifo(path, &before)
                )
            };
            return Err(failure(
                EX_UNAVAILABLE,
                format!("{shown}: expected a FIFO, found {found}; not writing to it"),
            ));
        }
        let fd = open_verified(At::Path(path), OFlag::O_WRONLY, &before, link).map_err(
            |e| match e {
                VerifyError::Open(Errno::ENXIO) => failure(
                    EX_UNAVAILABLE,
                    format!("fifo-pingd is not running (nothing is reading {shown})"),
                ),
                VerifyError::Open(Errno::EACCES | Errno::EPERM) => {
                    let (facts, advice) = permission_advice(&before, 0o020);
                    failure(
                        EX_NOPERM,
                        format!("permission denied writing to {shown} ({facts}): {advice}"),
                    )
                }
                VerifyError::Open(Errno::ENOENT) => missing(),
                VerifyError::Open(Errno::ELOOP) => failure(
                    EX_UNAVAILABLE,
                    format!(
                        "{shown}: expected a FIFO, found a symbolic link (replaced while opening); not writing to it"
                    ),
                ),
                VerifyError::Open(errno) => {
                    os_failure(format!("{shown}: cannot open for writing"), errno)
                }
                VerifyError::Stat(errno) => os_failure(format!("{shown}: fstat"), errno),
                VerifyError::Swapped => failure(
                    EX_UNAVAILABLE,
                    format!(
                        "{shown}: expected a FIFO, found something else (replaced while opening); not writing to it"
                    ),
                ),
            },
        )?;
        Ok(ControlFifo {
            fd,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `message` with one `write()`; waits with `poll` while the pipe
    /// is full, until `deadline`.
    pub fn send(
        &self,
        message: &[u8],
        deadline: Instant,
        interrupts: Option<&Interrupts>,
    ) -> Result<(), ClientError> {
        let shown = self.path.display();
        if message.len() > MAX_MESSAGE {
            return Err(failure(
                EX_USAGE,
                format!(
                    "message of {} bytes is too long to be atomic",
                    message.len()
                ),
            ));
        }
        let started = Instant::now();
        loop {
            match nix::unistd::write(&self.fd, message) {
                Ok(n) if n == message.len() => return Ok(()),
                Ok(n) => {
                    return Err(failure(
                        EX_OSERR,
                        format!("{shown}: short write ({n} of {} bytes)", message.len()),
                    ));
                }
                Err(Errno::EAGAIN) => {
                    if !wait_for(
                        &self.fd,
                        PollFlags::POLLOUT,
                        deadline,
                        interrupts,
                        &shown.to_string(),
                    )? {
                        return Err(failure(
                            EX_TEMPFAIL,
                            format!(
                                "timed out after {}: the pipe {shown} stayed full; fifo-pingd is not reading it (stopped, hung or overloaded?)",
                                seconds(started.elapsed())
                            ),
                        ));
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EPIPE) => {
                    return Err(failure(
                        EX_UNAVAILABLE,
                        format!(
                            "fifo-pingd is not running (it stopped while we were writing; nothing is reading {shown})"
                        ),
                    ));
                }
                Err(errno) => return Err(os_failure(format!("{shown}: write"), errno)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The reply FIFO

/// A fresh, unguessable reply FIFO name for this process.
fn reply_name(attempt: usize) -> String {
    let pid = getpid().as_raw();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // RandomState is keyed from the OS's random source.
    let random = RandomState::new().hash_one((pid, nanos, attempt));
    format!("{REPLY_NAME_PREFIX}{pid}.{random:016x}")
}

fn missing_reply_dir(dir: &Path) -> ClientError {
    failure(
        EX_UNAVAILABLE,
        format!(
            "no reply directory {}: round-trip pings (ping --wait) need it; the fifo-pingd units create it at boot (systemd-tmpfiles, /usr/lib/tmpfiles.d/fifo-pingd.conf: run `systemd-tmpfiles --create fifo-pingd.conf`), or point --reply-dir / [reply] directory at the daemon's",
            dir.display()
        ),
    )
}

/// The client's own reply FIFO, open for reading (and held open for writing
/// too, so a writer that comes and goes never leaves `poll` spinning on
/// `POLLHUP`). Removed when dropped.
#[derive(Debug)]
pub struct ReplyFifo {
    dir: OwnedFd,
    dir_path: PathBuf,
    name: String,
    reader: OwnedFd,
    _keep_open: OwnedFd,
    dev: u64,
    ino: u64,
}

/// Unlinks `name` in `dir` if it is still the FIFO `(dev, ino)`.
fn remove_if_same(dir: &OwnedFd, name: &str, dev: u64, ino: u64) {
    if let Ok(st) = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        && st.st_dev == dev
        && st.st_ino == ino
    {
        // Nothing more can be done about a failure on the way out.
        let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    }
}

/// Removes a just-created FIFO if setting it up fails half-way.
struct Created<'a> {
    dir: &'a OwnedFd,
    name: &'a str,
    armed: bool,
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = unlinkat(self.dir, self.name, UnlinkatFlags::NoRemoveDir);
        }
    }
}

impl ReplyFifo {
    /// Creates and opens a reply FIFO in `dir`.
    pub fn create(dir_path: &Path) -> Result<ReplyFifo, ClientError> {
        let shown = dir_path.display();
        let dir_st = match lstat(dir_path) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Err(missing_reply_dir(dir_path)),
            Err(errno @ (Errno::EACCES | Errno::EPERM)) => {
                return Err(failure(
                    EX_NOPERM,
                    format!(
                        "{shown}: permission denied looking up the reply directory ({}): a directory on the way is not searchable by this user",
                        errno.desc()
                    ),
                ));
            }
            Err(errno) => {
                return Err(os_failure(
                    format!("{shown}: cannot look up the reply directory"),
                    errno,
                ));
            }
        };
        if !is_type(&dir_st, SFlag::S_IFDIR) {
            return Err(failure(
                EX_UNAVAILABLE,
                format!(
                    "{shown}: expected the reply directory, found {} (fifo-pingd does not follow links to it either)",
                    describe_non_fifo(dir_path, &dir_st)
                ),
            ));
        }
        // O_PATH: the group needs only -wx on the directory (mode 3730
        // keeps the reply FIFOs' names unlistable, hence unguessable).
        let dir = open(
            dir_path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| match errno {
            Errno::ENOENT => missing_reply_dir(dir_path),
            errno => os_failure(format!("{shown}: cannot open the reply directory"), errno),
        })?;

        let mut attempt = 0;
        let name = loop {
            let name = reply_name(attempt);
            match mkfifoat(&dir, name.as_str(), Mode::from_bits_truncate(0o600)) {
                Ok(()) => break name,
                Err(Errno::EEXIST) if attempt + 1 < NAME_ATTEMPTS => attempt += 1,
                Err(Errno::EACCES | Errno::EPERM) => {
                    let (facts, advice) = permission_advice(&dir_st, 0o030);
                    return Err(failure(
                        EX_NOPERM,
                        format!(
                            "permission denied creating a reply FIFO in {shown} ({facts}): {advice}"
                        ),
                    ));
                }
                Err(Errno::ENOENT) => return Err(missing_reply_dir(dir_path)),
                Err(errno @ (Errno::ENOSPC | Errno::EDQUOT)) => {
                    return Err(failure(
                        EX_TEMPFAIL,
                        format!(
                            "cannot create a reply FIFO in {shown}: {} (the round-trip area is full: a flood, or many clients at once); fifo-pingd removes entries older than {} s, try again in half a minute",
                            errno.desc(),
                            STALE_REPLY_AGE.as_secs()
                        ),
                    ));
                }
                Err(errno) => {
                    return Err(failure(
                        EX_CANTCREAT,
                        format!("cannot create a reply FIFO in {shown}: {}", errno.desc()),
                    ));
                }
            }
        };
        let mut created = Created {
            dir: &dir,
            name: &name,
            armed: true,
        };
        let open_at = |flags: OFlag| {
            openat(
                &dir,
                name.as_str(),
                flags | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
                Mode::empty(),
            )
        };
        let cant = |what: &str, errno: Errno| {
            failure(
                EX_CANTCREAT,
                format!(
                    "cannot set up the reply FIFO {shown}/{name}: {what}: {}",
                    errno.desc()
                ),
            )
        };
        // The reader must exist before the request goes out, or the
        // daemon's non-blocking open for writing would fail with ENXIO.
        let reader = match open_at(OFlag::O_RDONLY) {
            Ok(fd) => fd,
            // A umask that took the owner's own read bit away.
            Err(Errno::EACCES) => {
                fchmodat(
                    &dir,
                    name.as_str(),
                    Mode::from_bits_truncate(0o600),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| cant("chmod", e))?;
                open_at(OFlag::O_RDONLY).map_err(|e| cant("open for reading", e))?
            }
            Err(errno) => return Err(cant("open for reading", errno)),
        };
        let st = fstat(&reader).map_err(|e| cant("fstat", e))?;
        if !is_type(&st, SFlag::S_IFIFO) || st.st_uid != geteuid().as_raw() {
            return Err(failure(
                EX_CANTCREAT,
                format!(
                    "{shown}/{name}: expected our own new FIFO, found {} owned by uid {}",
                    file_type_name(&st),
                    st.st_uid
                ),
            ));
        }
        // Without the set-group-ID bit on the directory the FIFO has our
        // group; give it the directory's (the daemon's) if we are a member.
        if st.st_gid != dir_st.st_gid {
            let _ = fchown(&reader, None, Some(Gid::from_raw(dir_st.st_gid)));
        }
        // Exactly 0620 whatever the umask: the daemon writes as a group member.
        fchmod(&reader, Mode::from_bits_truncate(REPLY_FIFO_MODE))
            .map_err(|e| cant("fchmod", e))?;
        let keep_open = open_at(OFlag::O_WRONLY).map_err(|e| cant("open for writing", e))?;
        let kept = fstat(&keep_open).map_err(|e| cant("fstat", e))?;
        if kept.st_dev != st.st_dev || kept.st_ino != st.st_ino {
            return Err(failure(
                EX_CANTCREAT,
                format!("{shown}/{name}: replaced while being set up"),
            ));
        }
        created.armed = false;
        drop(created);
        Ok(ReplyFifo {
            dir,
            dir_path: dir_path.to_owned(),
            name,
            reader,
            _keep_open: keep_open,
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// The plain file name the daemon is asked to answer to.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> PathBuf {
        self.dir_path.join(&self.name)
    }

    /// Waits for `pong\n` until `deadline`. Anything else is skipped.
    pub fn wait_pong(
        &self,
        deadline: Instant,
        interrupts: Option<&Interrupts>,
    ) -> Result<bool, ClientError> {
        let mut seen: Vec<u8> = Vec::with_capacity(64);
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.reader, &mut buf) {
                Ok(n) if n > 0 => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(PONG.len()).any(|w| w == PONG) {
                        return Ok(true);
                    }
                    // Keep only what could still start a pong.
                    let keep = seen.len().min(PONG.len() - 1);
                    seen.drain(..seen.len() - keep);
                    continue;
                }
                Ok(_) | Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    return Err(os_failure(
                        format!("{}: read", self.path().display()),
                        errno,
                    ));
                }
            }
            let what = self.path().display().to_string();
            if !wait_for(&self.reader, PollFlags::POLLIN, deadline, interrupts, &what)? {
                return Ok(false);
            }
        }
    }
}

impl Drop for ReplyFifo {
    fn drop(&mut self) {
        remove_if_same(&self.dir, &self.name, self.dev, self.ino);
    }
}

/// One round trip on an open FIFO: creates a reply FIFO in `reply_dir`,
/// sends `?ping NAME`, waits for the pong, removes the reply FIFO. Returns
/// the time from the request's `write()` to the pong.
pub fn round_trip(
    fifo: &ControlFifo,
    reply_dir: &Path,
    deadline: Instant,
    interrupts: Option<&Interrupts>,
) -> Result<Duration, ClientError> {
    let started = Instant::now();
    let reply = ReplyFifo::create(reply_dir)?;
    // Leading separator: see Action::message.
    let request = format!("\n?ping {}\n", reply.name());
    let sent = Instant::now();
    fifo.send(request.as_bytes(), deadline, interrupts)?;
    if reply.wait_pong(deadline, interrupts)? {
        Ok(sent.elapsed())
    } else {
        Err(failure(
            EX_TEMPFAIL,
            format!(
                "no pong within {}: fifo-pingd got the request on {} but did not answer (stopped, hung or overloaded? its log says why a pong could not be sent)",
                seconds(started.elapsed()),
                fifo.path().display()
            ),
        ))
    }
}

// ---------------------------------------------------------------------------
// The program

/// Runs the client; returns what to print on stdout on success.
pub fn run(options: &Options) -> Result<Option<String>, ClientError> {
    let action = match options.command {
        Command::Help => return Ok(Some(HELP.trim_end().to_owned())),
        Command::Version => {
            return Ok(Some(format!("{PROGRAM} {}", env!("CARGO_PKG_VERSION"))));
        }
        Command::Send(action) => action,
    };
    let deadline = Instant::now() + options.timeout;
    let target = resolve(options)?;
    // The daemon's FIFO first: when nobody reads it, fail before creating
    // anything.
    let fifo = ControlFifo::open(&target.fifo, &target.fifo_origin)?;
    let mut out = String::new();
    if options.wait {
        let interrupts = Interrupts::install()
            .map_err(|e| failure(EX_OSERR, format!("cannot install signal handlers: {e}")))?;
        let took = round_trip(&fifo, &target.reply_dir, deadline, Some(&interrupts))?;
        let _ = write!(out, "pong from fifo-pingd in {}", format_duration(took));
    } else {
        fifo.send(action.message(), deadline, None)?;
        let _ = write!(out, "sent {} to {}", action.word(), target.fifo.display());
    }
    Ok((!options.quiet).then_some(out))
}

/// Parses `args`, runs, prints; the binary's whole `main`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> std::process::ExitCode {
    let result = parse_args(args)
        .map_err(|e| ClientError::Failed(e.into()))
        .and_then(|options| run(&options));
    match result {
        Ok(line) => {
            if let Some(line) = line {
                // A closed stdout (`| head -0`) is not worth a failure.
                let _ = writeln!(io::stdout().lock(), "{line}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(ClientError::Failed(f)) => f.exit(PROGRAM),
        Err(e @ ClientError::Interrupted(signal)) => {
            // Everything is cleaned up: die of the signal, as the caller expects.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::ExitCode::from(e.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Options, UsageError> {
        parse_args(list.iter().map(OsString::from))
    }

    #[test]
    fn options_before_and_after_the_command() {
        let o = args(&["--fifo", "/tmp/f", "ping", "--wait", "-t", "0.5", "-q"]).expect("valid");
        assert_eq!(o.command, Command::Send(Action::Ping));
        assert_eq!(o.fifo, Some(PathBuf::from("/tmp/f")));
        assert!(o.wait && o.quiet);
        assert_eq!(o.timeout, Duration::from_millis(500));
        let o = args(&["end", "--config=/c.toml", "--reply-dir=/r"]).expect("valid");
        assert_eq!(o.command, Command::Send(Action::End));
        assert_eq!(o.config, Some(PathBuf::from("/c.toml")));
        assert_eq!(o.reply_dir, Some(PathBuf::from("/r")));
        assert_eq!(o.timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            args(&["-h", "--bogus"]).expect("help").command,
            Command::Help
        );
        assert_eq!(args(&["-V"]).expect("version").command, Command::Version);
        assert_eq!(
            args(&["--", "ping"]).expect("valid").command,
            Command::Send(Action::Ping)
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(args(&[]), Err(UsageError::MissingCommand));
        assert_eq!(
            args(&["pong"]),
            Err(UsageError::UnknownCommand("pong".into()))
        );
        assert_eq!(
            args(&["ping", "end"]),
            Err(UsageError::UnexpectedArgument("end".into()))
        );
        assert_eq!(args(&["end", "--wait"]), Err(UsageError::WaitNeedsPing));
        assert_eq!(
            args(&["ping", "--fifo"]),
            Err(UsageError::MissingValue("--fifo"))
        );
        assert_eq!(
            args(&["ping", "--fifo="]),
            Err(UsageError::EmptyPath("--fifo"))
        );
        assert_eq!(
            args(&["ping", "--wait=yes"]),
            Err(UsageError::UnexpectedValue("--wait".into()))
        );
        for bad in ["-1", "abc", "inf", "NaN", "86401", ""] {
            assert_eq!(
                args(&["ping", "--timeout", bad]),
                Err(UsageError::BadTimeout(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            args(&["ping", "-x"]),
            Err(UsageError::UnknownOption("-x".into()))
        );
        assert_eq!(
            args(&["ping", "-t", "0"]).expect("zero").timeout,
            Duration::ZERO
        );
    }

    #[test]
    fn the_config_is_read_leniently_but_checked_where_it_matters() {
        let path = Path::new("/etc/x.toml");
        let c = parse_client_config(
            "[fifo]\npath = \"/run/x\"\nowner = \"no-such-user\"\ngroup = \"no-such-group\"\nfuture = 1\n[log]\nlevel = \"loud\"\n[reply]\ndirectory = \"/run/r\"\n[new-section]\nx = 1\n",
            path,
        )
        .expect("lenient");
        assert_eq!(c.fifo_path, Some(PathBuf::from("/run/x")));
        assert_eq!(c.reply_directory, Some(PathBuf::from("/run/r")));
        assert_eq!(
            parse_client_config("", path).expect("empty"),
            ClientConfig::default()
        );
        let e = parse_client_config("[fifo]\npath = \"relative\"\n", path).expect_err("relative");
        assert_eq!(e.code, EX_CONFIG);
        assert!(
            e.message.starts_with("/etc/x.toml:2:8: [fifo] path"),
            "{}",
            e.message
        );
        let e = parse_client_config("[fifo\n", path).expect_err("syntax");
        assert!(e.message.starts_with("/etc/x.toml:1:"), "{}", e.message);
        let e = parse_client_config("[reply]\ndirectory = 3\n", path).expect_err("type");
        assert!(e.message.starts_with("/etc/x.toml:2:"), "{}", e.message);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_micros(123)), "123 µs");
        assert_eq!(format_duration(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(format_duration(Duration::from_millis(12_345)), "12.35 s");
    }

    #[test]
    fn reply_names_are_plain_unique_and_fit_the_protocol() {
        let a = reply_name(0);
        let b = reply_name(0);
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(
                crate::protocol::is_plain_reply_name(name.as_bytes()),
                "{name}"
            );
            assert!(name.starts_with(REPLY_NAME_PREFIX));
        }
    }
}
