//! The daemon's command line. Hand-written: five options do not justify a
//! parser dependency, and the errors stay in our words.

use std::ffi::OsString;
use std::path::PathBuf;

use thiserror::Error;

use crate::config::{LogTarget, Overrides};

pub const HELP: &str = "\
fifo-pingd - log every `ping` written to a control FIFO

Usage: fifo-pingd [OPTIONS]

Options:
  -c, --config PATH   configuration file (default /etc/fifo-pingd/fifo-pingd.toml;
                      built-in defaults when that default file is absent)
      --fifo PATH     FIFO to create and read (overrides [fifo] path)
      --log TARGET    stderr, syslog or auto (overrides [log] target)
  -t, --check-config  validate the configuration, print the effective one, exit
      --reload        send SIGHUP to $MAINPID and wait for its report (the
                      units' ExecReload=): exit 0 applied, 78 refused
  -h, --help          print this help
  -V, --version       print the version

Messages: `ping` (logged as \"received ping\") and `end` (stops the daemon
unless [messages] on_end = \"ignore\"), separated by newlines, CR, NUL or
blanks, or back to back. Try it:

  fifo-pingd --fifo /tmp/fifo-ping --log stderr &
  echo ping > /tmp/fifo-ping

Signals: TERM/INT stop and remove the FIFO, HUP reloads the configuration,
USR1 logs the counters.
Exit status: 0 clean stop, 64 usage, 71 OS error, 73 FIFO cannot be created,
78 bad configuration. See fifo-pingd(8) and fifo-pingd.toml(5).
";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    #[error("option {0} needs a value")]
    MissingValue(&'static str),
    #[error("--log: expected stderr, syslog or auto, found {0:?}")]
    BadLogTarget(String),
    #[error("unexpected argument {0:?}")]
    UnexpectedArgument(String),
    #[error("argument is not valid UTF-8: {0:?}")]
    NotUnicode(OsString),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run,
    CheckConfig,
    Reload,
    Help,
    Version,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub command: Command,
    pub config: Option<PathBuf>,
    pub fifo: Option<PathBuf>,
    pub log: Option<LogTarget>,
}

impl Options {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            fifo_path: self.fifo.clone(),
            log_target: self.log,
        }
    }
}

/// Splits `--name=value` into the name and its inline value; any other
/// argument (short options, values, operands) has no inline value.
pub fn split_inline_value(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((name, value)) if name.starts_with("--") => (name, Some(value)),
        _ => (arg, None),
    }
}

/// Why an option's value could not be had.
#[derive(Debug, PartialEq, Eq)]
pub enum ValueError {
    Missing,
    NotUnicode(OsString),
}

/// The value of an option: inline (`--name=value`) or the next argument.
pub fn option_value(
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = OsString>,
) -> Result<String, ValueError> {
    match inline {
        Some(value) => Ok(value.to_owned()),
        None => rest
            .next()
            .ok_or(ValueError::Missing)?
            .into_string()
            .map_err(ValueError::NotUnicode),
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, UsageError> {
    let mut options = Options {
        command: Command::Run,
        config: None,
        fifo: None,
        log: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(UsageError::NotUnicode)?;
        let (name, inline) = split_inline_value(&arg);
        let mut value = |option: &'static str| {
            option_value(inline, &mut args).map_err(|e| match e {
                ValueError::Missing => UsageError::MissingValue(option),
                ValueError::NotUnicode(raw) => UsageError::NotUnicode(raw),
            })
        };
        match name {
            "-c" | "--config" => options.config = Some(PathBuf::from(value("--config")?)),
            "--fifo" => options.fifo = Some(PathBuf::from(value("--fifo")?)),
            "--log" => {
                let target = value("--log")?;
                options.log =
                    Some(LogTarget::parse(&target).ok_or(UsageError::BadLogTarget(target))?);
            }
            "-t" | "--check-config" => options.command = Command::CheckConfig,
            "--reload" => options.command = Command::Reload,
            "-h" | "--help" => {
                return Ok(Options {
                    command: Command::Help,
                    ..options
                });
            }
            "-V" | "--version" => {
                return Ok(Options {
                    command: Command::Version,
                    ..options
                });
            }
            other if other.starts_with('-') => return Err(UsageError::UnknownOption(arg.clone())),
            _ => return Err(UsageError::UnexpectedArgument(arg.clone())),
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Options, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn options_and_values() {
        let o = parse_strs(&["--config", "/c.toml", "--fifo=/tmp/f", "--log", "stderr"])
            .expect("valid");
        assert_eq!(o.command, Command::Run);
        assert_eq!(o.config, Some(PathBuf::from("/c.toml")));
        assert_eq!(o.fifo, Some(PathBuf::from("/tmp/f")));
        assert_eq!(o.log, Some(LogTarget::Stderr));
        assert_eq!(
            parse_strs(&["-t"]).expect("valid").command,
            Command::CheckConfig
        );
        assert_eq!(
            parse_strs(&["--help", "--bogus"]).expect("valid").command,
            Command::Help
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(
            parse_strs(&["--bogus"]),
            Err(UsageError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            parse_strs(&["--config"]),
            Err(UsageError::MissingValue("--config"))
        );
        assert_eq!(
            parse_strs(&["--log", "file"]),
            Err(UsageError::BadLogTarget("file".into()))
        );
        assert_eq!(
            parse_strs(&["extra"]),
            Err(UsageError::UnexpectedArgument("extra".into()))
        );
    }
}
