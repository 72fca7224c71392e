use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::daemon::args::{ValueError, option_value, split_inline_value};
use crate::daemon::reply::{MAX_ROUND_TRIP, STALE_REPLY_AGE};
use crate::exit::{EX_USAGE, Failure};

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
pub(crate) const NAME_ATTEMPTS: usize = 16;
/// The longest message: `\n?ping `, a 64-byte name and `\n`; far below
/// `PIPE_BUF` (4096 on Linux, at least 512 by POSIX), so one write is atomic.
pub(crate) const MAX_MESSAGE: usize = 1 + 6 + crate::protocol::MAX_REPLY_NAME + 1;
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

    pub(crate) fn message(self) -> &'static [u8] {
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

pub(crate) fn parse_timeout(text: &str) -> Result<Duration, UsageError> {
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
