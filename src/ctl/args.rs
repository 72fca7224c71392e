//! The client's command line: one table of options ([`OPTIONS`]) for the
//! parser, `--help` and the shell completions (see [`crate::daemon::args`],
//! which has the machinery both binaries share).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use crate::args::{Arg, Binary, Lexer, OptionDef, Value, option_lines};
use crate::config::Instance;
use crate::daemon::reply::MAX_ROUND_TRIP;

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
/// The longest message: `\n`, the longest request (`?status ` and a
/// 64-byte name) and `\n`; far below `PIPE_BUF` (4096 on Linux, at least 512
/// by POSIX), so one write is atomic.
pub(crate) const MAX_MESSAGE: usize = 1 + crate::protocol::MAX_REQUEST + 1;
const _: () = assert!(MAX_MESSAGE <= 512 && MAX_MESSAGE <= libc::PIPE_BUF);

/// What an option of the client does (see [`OPTIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Instance,
    Fifo,
    Config,
    ReplyDir,
    Timeout,
    Wait,
    Quiet,
    Json,
    Help,
    Version,
}

/// The client's options, in `--help` order.
pub const OPTIONS: &[OptionDef<Key>] = &[
    OptionDef {
        key: Key::Fifo,
        short: Some('f'),
        long: "--fifo",
        value: Value::Path("PATH"),
        help: "the daemon's FIFO (default: [fifo] path from the\n\
               configuration file, else /run/fifo-ping)",
        commands: &[],
    },
    OptionDef {
        key: Key::Config,
        short: Some('c'),
        long: "--config",
        value: Value::Path("PATH"),
        help: "the daemon's configuration file to read the paths from\n\
               (default /etc/fifo-pingd/fifo-pingd.toml if readable)",
        commands: &[],
    },
    OptionDef {
        key: Key::Instance,
        short: Some('i'),
        long: "--instance",
        value: Value::Text("NAME"),
        help: "the instance fifo-pingd@NAME (its FIFO and reply directory;\n\
               its /etc/fifo-pingd/NAME.toml if readable); default: the\n\
               default instance",
        commands: &[],
    },
    OptionDef {
        key: Key::ReplyDir,
        short: Some('r'),
        long: "--reply-dir",
        value: Value::Dir("DIR"),
        help: "directory for the reply FIFO (default: [reply] directory\n\
               from the configuration file, else /run/fifo-pingd/reply)",
        commands: &["ping", "status"],
    },
    OptionDef {
        key: Key::Timeout,
        short: Some('t'),
        long: "--timeout",
        value: Value::Text("SECS"),
        help: "give up after SECS seconds (decimals allowed; default 5)",
        commands: &[],
    },
    OptionDef {
        key: Key::Wait,
        short: Some('w'),
        long: "--wait",
        value: Value::None,
        help: "with ping: wait for the daemon's pong",
        commands: &["ping"],
    },
    OptionDef {
        key: Key::Quiet,
        short: Some('q'),
        long: "--quiet",
        value: Value::None,
        help: "print nothing on success",
        commands: &[],
    },
    OptionDef {
        key: Key::Json,
        short: None,
        long: "--json",
        value: Value::None,
        help: "with status: print one JSON object",
        commands: &["status"],
    },
    OptionDef::help(Key::Help),
    OptionDef::version(Key::Version),
];

/// The commands, with what the shells show for them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("ping", "send ping (with --wait: wait for the pong)"),
    ("end", "send end (the daemon stops unless on_end = ignore)"),
    (
        "status",
        "round trip: print the daemon's counters, FIFO, uptime, config",
    ),
];

/// For the completion generators ([`crate::args::bash_script`] and the others).
pub const BINARY: Binary<'static, Key> = Binary {
    program: PROGRAM,
    source: SOURCE,
    table: OPTIONS,
    commands: COMMANDS,
};

const SOURCE: &str = "src/ctl/args.rs";

pub static HELP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\
fifo-pingctl - send ping or end to fifo-pingd, never hanging; check it answers

Usage: fifo-pingctl [OPTIONS] ping [--wait]
       fifo-pingctl [OPTIONS] end
       fifo-pingctl [OPTIONS] status [--json]

Commands:
  ping                 write `ping` into the daemon's FIFO
  ping --wait          round trip: ask fifo-pingd for a `pong` in a private
                       reply FIFO and print the time it took
  end                  write `end` (the daemon stops unless on_end = \"ignore\")
  status               round trip: print the daemon's instance, FIFO, config,
                       uptime and counters (--json: one JSON object)

Options:
{}
Nothing is ever created at the FIFO's path, and nothing blocks: no reader
fails at once, a full pipe is waited for at most SECS seconds.

Exit status: 0 sent (with --wait: pong received; status: answer printed), 64 usage, 69 fifo-pingd not
running / path missing / not a FIFO / no reply directory, 71 OS error,
73 cannot create the reply FIFO, 75 timed out (pipe full or no pong),
77 permission denied, 78 bad configuration file.
Killed by SIGINT/SIGTERM/SIGHUP while waiting: the reply FIFO is removed first.
See fifo-pingctl(1).
",
        option_lines(OPTIONS)
    )
});

// ---------------------------------------------------------------------------
// Command line

pub use crate::args::UsageError;

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
    /// `status`: a round trip that brings back the daemon's report.
    Status,
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub command: Command,
    pub instance: Instance,
    pub fifo: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub reply_dir: Option<PathBuf>,
    pub timeout: Duration,
    pub wait: bool,
    pub quiet: bool,
    pub json: bool,
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
/// after the command (`fifo-pingctl ping --wait`); paths are taken as bytes,
/// the command and `--timeout` must be UTF-8.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Options, UsageError> {
    let mut command: Option<Command> = None;
    let mut options = Options {
        command: Command::Help,
        instance: Instance::Default,
        fifo: None,
        config: None,
        reply_dir: None,
        timeout: DEFAULT_TIMEOUT,
        wait: false,
        quiet: false,
        json: false,
    };
    let mut args = Lexer::new(args, OPTIONS);
    while let Some(arg) = args.next()? {
        let (def, value) = match arg {
            Arg::Operand(operand) => {
                let operand = operand.into_string().map_err(UsageError::NotUnicode)?;
                let action = match operand.as_str() {
                    "ping" => Command::Send(Action::Ping),
                    "end" => Command::Send(Action::End),
                    "status" => Command::Status,
                    _ if command.is_some() => {
                        return Err(UsageError::ExtraCommand(operand));
                    }
                    _ => return Err(UsageError::UnknownCommand(operand)),
                };
                if command.is_some() {
                    return Err(UsageError::ExtraCommand(operand));
                }
                command = Some(action);
                continue;
            }
            Arg::Flag(def, attached) => {
                // `--wait=yes` is refused; `--help=x` is help, as it always was.
                if attached.is_some() && matches!(def.key, Key::Wait | Key::Quiet | Key::Json) {
                    return Err(UsageError::UnexpectedValue(def.long.to_owned()));
                }
                (def, None)
            }
            Arg::Value(def, value) => (def, Some(value)),
        };
        // Always there for the options that take one (the table says which).
        let value = value.ok_or(UsageError::MissingValue(def.long));
        let path = |value: Result<OsString, UsageError>| {
            let value = value?;
            if value.is_empty() {
                Err(UsageError::EmptyPath(def.long))
            } else {
                Ok(Some(PathBuf::from(value)))
            }
        };
        match def.key {
            Key::Instance => options.instance = Instance::from_name(&value?)?,
            Key::Fifo => options.fifo = path(value)?,
            Key::Config => options.config = path(value)?,
            Key::ReplyDir => options.reply_dir = path(value)?,
            Key::Timeout => {
                let text = value?.into_string().map_err(UsageError::NotUnicode)?;
                options.timeout = parse_timeout(&text)?;
            }
            Key::Wait => options.wait = true,
            Key::Quiet => options.quiet = true,
            Key::Json => options.json = true,
            Key::Help => {
                options.command = Command::Help;
                return Ok(options);
            }
            Key::Version => {
                options.command = Command::Version;
                return Ok(options);
            }
        }
    }
    let command = command.ok_or(UsageError::MissingCommand)?;
    if options.wait && command != Command::Send(Action::Ping) {
        return Err(UsageError::WaitNeedsPing);
    }
    if options.json && command != Command::Status {
        return Err(UsageError::JsonNeedsStatus);
    }
    // `status` is a round trip too.
    if (options.wait || command == Command::Status) && options.timeout > MAX_ROUND_TRIP {
        return Err(UsageError::WaitTimeout(format!(
            "{}",
            options.timeout.as_secs_f64()
        )));
    }
    options.command = command;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn args(list: &[&str]) -> Result<Options, UsageError> {
        parse_args(list.iter().map(OsString::from))
    }

    #[test]
    fn combined_short_options_inline_values_and_double_dash() {
        let o = args(&["-qw", "ping"]).expect("valid");
        assert!(o.quiet && o.wait);
        assert_eq!(o.command, Command::Send(Action::Ping));
        let o = args(&["-qwt0.5", "ping"]).expect("valid");
        assert!(o.quiet && o.wait);
        assert_eq!(o.timeout, Duration::from_millis(500));
        let o = args(&["ping", "--timeout=0.5", "-f/tmp/f", "-c=/c.toml"]).expect("valid");
        assert_eq!(o.timeout, Duration::from_millis(500));
        assert_eq!(o.fifo, Some(PathBuf::from("/tmp/f")));
        assert_eq!(o.config, Some(PathBuf::from("/c.toml")));
        // After `--` everything is an operand.
        assert_eq!(
            args(&["--", "-q"]),
            Err(UsageError::UnknownCommand("-q".into()))
        );
        assert_eq!(
            args(&["ping", "--", "--wait"]),
            Err(UsageError::ExtraCommand("--wait".into()))
        );
        assert_eq!(
            args(&["-qx", "ping"]),
            Err(UsageError::UnknownOption("-x".into()))
        );
        assert_eq!(
            args(&["ping", "--bogus=1"]),
            Err(UsageError::UnknownOption("--bogus=1".into()))
        );
        assert_eq!(
            args(&["ping", "-w=yes"]),
            Err(UsageError::UnexpectedValue("-w".into()))
        );
        assert_eq!(
            args(&["ping", "-f"]),
            Err(UsageError::MissingValue("--fifo"))
        );
        assert_eq!(args(&["--help=x"]).expect("help").command, Command::Help);
        assert_eq!(args(&["-"]), Err(UsageError::UnknownCommand("-".into())));
    }

    #[test]
    fn paths_are_bytes() {
        let fifo = OsString::from_vec(b"/tmp/f\xffx".to_vec());
        let o =
            parse_args([OsString::from("-f"), fifo.clone(), OsString::from("end")]).expect("valid");
        assert_eq!(o.fifo, Some(PathBuf::from(fifo)));
        let bad = OsString::from_vec(b"\xff".to_vec());
        assert_eq!(
            parse_args([
                OsString::from("--timeout"),
                bad.clone(),
                OsString::from("ping")
            ]),
            Err(UsageError::NotUnicode(bad.clone()))
        );
        assert_eq!(parse_args([bad.clone()]), Err(UsageError::NotUnicode(bad)));
    }

    #[test]
    fn commands_and_help_agree_with_the_table() {
        for (word, _) in COMMANDS {
            let o = args(&[word]).expect("a command");
            match o.command {
                Command::Send(a) => assert_eq!(a.word(), *word),
                Command::Status => assert_eq!(*word, "status"),
                other => panic!("{word}: {other:?}"),
            }
            assert!(HELP.contains(&format!("\n  {word} ")));
        }
        for o in OPTIONS {
            for command in o.commands {
                assert!(COMMANDS.iter().any(|(c, _)| c == command), "{command}");
            }
        }
        assert!(HELP.contains(
            "\nOptions:\n  -f, --fifo PATH      the daemon's FIFO (default: [fifo] path from the\n\
             \x20                      configuration file, else /run/fifo-ping)\n"
        ));
        assert!(HELP.contains("  -V, --version        print the version\n\nNothing is ever"));
    }
}
