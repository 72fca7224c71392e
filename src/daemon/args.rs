//! The daemon's command line: its option table and parser (the shared
//! machinery, usage errors and completion generators are in [`crate::args`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::LazyLock;

pub use crate::args::UsageError;
use crate::args::{Arg, Binary, Lexer, OptionDef, Value, option_lines};
use crate::config::{Instance, Location, LogTarget, Overrides};

// ---------------------------------------------------------------------------
// fifo-pingd

pub const PROGRAM: &str = "fifo-pingd";

/// What an option of the daemon does (see [`OPTIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Instance,
    Config,
    Fifo,
    Log,
    CheckConfig,
    Reload,
    Help,
    Version,
}

/// The daemon's options, in `--help` order.
pub const OPTIONS: &[OptionDef<Key>] = &[
    OptionDef {
        key: Key::Config,
        short: Some('c'),
        long: "--config",
        value: Value::Path("PATH"),
        help: "configuration file (default /etc/fifo-pingd/fifo-pingd.toml;\n\
               built-in defaults when that default file is absent)",
        commands: &[],
    },
    OptionDef {
        key: Key::Instance,
        short: Some('i'),
        long: "--instance",
        value: Value::Text("NAME"),
        help: "run as instance NAME (fifo-pingd@NAME): /etc/fifo-pingd/NAME.toml\n\
               when present, else defaults of its own (FIFO\n\
               /run/fifo-pingd/instance/NAME/fifo)",
        commands: &[],
    },
    OptionDef {
        key: Key::Fifo,
        short: None,
        long: "--fifo",
        value: Value::Path("PATH"),
        help: "FIFO to create and read (overrides [fifo] path)",
        commands: &[],
    },
    OptionDef {
        key: Key::Log,
        short: None,
        long: "--log",
        value: Value::OneOf("TARGET", &["stderr", "syslog", "journal", "auto"]),
        help: "stderr, syslog, journal or auto (overrides [log] target)",
        commands: &[],
    },
    OptionDef {
        key: Key::CheckConfig,
        short: Some('t'),
        long: "--check-config",
        value: Value::None,
        help: "validate the configuration, print the effective one, exit",
        commands: &[],
    },
    OptionDef {
        key: Key::Reload,
        short: None,
        long: "--reload",
        value: Value::None,
        help: "send SIGHUP to $MAINPID and wait for its report (the\n\
               units' ExecReload=): exit 0 applied, 78 refused",
        commands: &[],
    },
    OptionDef::help(Key::Help),
    OptionDef::version(Key::Version),
];

/// For the completion generators ([`crate::args::bash_script`] and the others).
pub const BINARY: Binary<'static, Key> = Binary {
    program: PROGRAM,
    source: SOURCE,
    table: OPTIONS,
    commands: &[],
};

const SOURCE: &str = "src/daemon/args.rs";

pub static HELP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\
fifo-pingd - log every `ping` written to a control FIFO

Usage: fifo-pingd [OPTIONS]

Options:
{}
Messages: `ping` (logged as \"received ping\") and `end` (stops the daemon
unless [messages] on_end = \"ignore\"), separated by newlines, CR, NUL or
blanks, or back to back. Try it:

  fifo-pingd --fifo /tmp/fifo-ping --log stderr &
  echo ping > /tmp/fifo-ping

Signals: TERM/INT stop and remove the FIFO, HUP reloads the configuration,
USR1 logs the counters.
Exit status: 0 clean stop, 64 usage, 71 OS error, 73 FIFO cannot be created,
78 bad configuration. See fifo-pingd(8) and fifo-pingd.toml(5).
",
        option_lines(OPTIONS)
    )
});

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
    pub instance: Instance,
    pub config: Option<PathBuf>,
    pub fifo: Option<PathBuf>,
    pub log: Option<LogTarget>,
}

impl Options {
    /// Which daemon and which file (`--instance`, `--config`).
    pub fn location(&self) -> Location {
        Location::new(self.instance.clone(), self.config.clone())
    }

    pub fn overrides(&self) -> Overrides {
        Overrides {
            fifo_path: self.fifo.clone(),
            log_target: self.log,
        }
    }
}

/// Parses the arguments after the program name. Paths are taken as bytes;
/// `--log` and operands must be UTF-8.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, UsageError> {
    let mut options = Options {
        command: Command::Run,
        instance: Instance::Default,
        config: None,
        fifo: None,
        log: None,
    };
    let mut args = Lexer::new(args, OPTIONS);
    while let Some(arg) = args.next()? {
        // `--flag=value`: the value is ignored, as it always was.
        let (def, value) = match arg {
            Arg::Flag(def, _) => (def, None),
            Arg::Value(def, value) => (def, Some(value)),
            Arg::Operand(operand) => {
                return Err(match operand.into_string() {
                    Ok(dash) if dash == "-" => UsageError::UnknownOption(dash),
                    Ok(operand) => UsageError::UnexpectedArgument(operand),
                    Err(raw) => UsageError::NotUnicode(raw),
                });
            }
        };
        // Always there for the options that take one (the table says which).
        let value = value.ok_or(UsageError::MissingValue(def.long));
        match def.key {
            Key::Instance => options.instance = Instance::named(&value?)?,
            Key::Config => options.config = Some(PathBuf::from(value?)),
            Key::Fifo => options.fifo = Some(PathBuf::from(value?)),
            Key::Log => {
                let target = value?.into_string().map_err(UsageError::NotUnicode)?;
                options.log =
                    Some(LogTarget::parse(&target).ok_or(UsageError::BadLogTarget(target))?);
            }
            Key::CheckConfig => options.command = Command::CheckConfig,
            Key::Reload => options.command = Command::Reload,
            Key::Help => {
                return Ok(Options {
                    command: Command::Help,
                    ..options
                });
            }
            Key::Version => {
                return Ok(Options {
                    command: Command::Version,
                    ..options
                });
            }
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

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
        use UsageError::*;
        let cases: [(&[&str], UsageError); 9] = [
            (&["--bogus"], UnknownOption("--bogus".into())),
            (&["--bogus=1"], UnknownOption("--bogus=1".into())),
            (&["--config"], MissingValue("--config")),
            (&["-c"], MissingValue("--config")),
            (&["--log", "file"], BadLogTarget("file".into())),
            (&["extra"], UnexpectedArgument("extra".into())),
            (&["-"], UnknownOption("-".into())),
            (&["-tx"], UnknownOption("-x".into())),
            (&["-t=x"], UnexpectedValue("-t".into())),
        ];
        for (args, error) in cases {
            assert_eq!(parse_strs(args), Err(error), "{args:?}");
        }
        let raw = OsString::from_vec(b"--log=\xff".to_vec());
        assert_eq!(
            parse([raw]),
            Err(UsageError::NotUnicode(OsString::from_vec(b"\xff".to_vec())))
        );
    }

    #[test]
    fn combined_short_options_inline_values_and_double_dash() {
        let o = parse_strs(&["-tc/c.toml"]).expect("valid");
        assert_eq!(o.command, Command::CheckConfig);
        assert_eq!(o.config, Some(PathBuf::from("/c.toml")));
        let o = parse_strs(&["-tc", "/c.toml"]).expect("valid");
        assert_eq!(o.config, Some(PathBuf::from("/c.toml")));
        assert_eq!(
            parse_strs(&["-c=/c.toml"]).expect("valid").config,
            Some(PathBuf::from("/c.toml"))
        );
        // A value may start with a dash.
        assert_eq!(
            parse_strs(&["--fifo", "-t"]).expect("valid").fifo,
            Some(PathBuf::from("-t"))
        );
        // `--` ends the options; the daemon takes no operands.
        assert_eq!(parse_strs(&["--"]).expect("valid").command, Command::Run);
        assert_eq!(
            parse_strs(&["--", "-t"]),
            Err(UsageError::UnexpectedArgument("-t".into()))
        );
        // As before: a flag's `=value` is ignored.
        assert_eq!(
            parse_strs(&["--check-config=yes"]).expect("valid").command,
            Command::CheckConfig
        );
    }

    #[test]
    fn paths_are_bytes() {
        let fifo = OsString::from_vec(b"/tmp/f\xffx".to_vec());
        let inline = OsString::from_vec(b"--config=/c\xfe".to_vec());
        let o = parse([OsString::from("--fifo"), fifo.clone(), inline]).expect("valid");
        assert_eq!(o.fifo, Some(PathBuf::from(fifo)));
        assert_eq!(
            o.config,
            Some(PathBuf::from(OsString::from_vec(b"/c\xfe".to_vec())))
        );
    }

    #[test]
    fn the_table_fits_the_parser() {
        if let Some(o) = OPTIONS.iter().find(|o| o.key == Key::Log) {
            let Value::OneOf(_, words) = o.value else {
                panic!("--log takes one of its targets")
            };
            for word in words {
                assert!(LogTarget::parse(word).is_some(), "{word}");
            }
        }
        for (i, a) in OPTIONS.iter().enumerate() {
            assert!(a.long.starts_with("--"), "{}", a.long);
            for b in &OPTIONS[i + 1..] {
                assert!(a.long != b.long && (a.short.is_none() || a.short != b.short));
            }
        }
    }

    #[test]
    fn help_lines_are_aligned() {
        let lines = option_lines(OPTIONS);
        assert!(lines.starts_with(
            "  -c, --config PATH    configuration file (default /etc/fifo-pingd/fifo-pingd.toml;\n\
             \x20                      built-in defaults when that default file is absent)\n\
             \x20 -i, --instance NAME  run as instance NAME (fifo-pingd@NAME): /etc/fifo-pingd/NAME.toml\n"
        ));
        assert!(HELP.contains("\nOptions:\n  -c, --config PATH"));
        assert!(HELP.contains("  -V, --version        print the version\n\nMessages:"));
    }
}
