//! `fifo-pingctl`: the client. It sends `ping` or `end` to the daemon's FIFO
//! without ever hanging or creating anything at the FIFO's path, and with
//! `ping --wait` checks that the daemon is alive *and processing* by asking
//! for a `pong` in a private reply FIFO (in the spirit of s6 fifodirs).
//!
//! Writing: the path is looked at first (anything but a FIFO is refused
//! without being opened; a link is followed and what it leads to looked at
//! the same way), then opened `O_WRONLY|O_NONBLOCK|O_CLOEXEC` (and
//! `O_NOFOLLOW` unless it was a link; no `O_CREAT`, so a typo never creates a
//! regular file; no reader means `ENXIO` at once instead of a blocked
//! `open`), checked again on the descriptor ([`crate::fifo::open_verified`]),
//! and each message goes out in one `write()` of at most `PIPE_BUF` bytes,
//! which the kernel keeps whole, starting with a newline so that another
//! writer's unterminated bytes cannot swallow it. A full pipe (`EAGAIN`) is waited out with `poll(POLLOUT)` until the
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
//!
//! Status: `fifo-pingctl status` is the same round trip with `?status
//! NAME`; the answer is the daemon's report ([`crate::daemon::status`]).
//!
//! Rooms: `args` (the command line), `target` (where the FIFO and the
//! reply directory are, from the options and the daemon's config), `control`
//! (the daemon's FIFO, written), `round_trip` (the reply FIFO and `ping
//! --wait`), `wait` (bounded waits, interrupted by signals), `error` (why
//! the client stopped, with its exit code).

mod args;
mod control;
mod error;
mod round_trip;
mod target;
mod wait;

pub use args::*;
pub use control::*;
pub use error::*;
pub use round_trip::*;
pub use target::*;
pub use wait::*;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Instant;

use nix::errno::Errno;

use crate::exit::Failure;

// ---------------------------------------------------------------------------
// The program

/// Runs the client; returns what to print on stdout on success.
pub fn run(options: &Options) -> Result<Option<String>, ClientError> {
    let action = match options.command {
        Command::Help => return Ok(Some(HELP.trim_end().to_owned())),
        Command::Version => {
            return Ok(Some(format!("{PROGRAM} {}", env!("CARGO_PKG_VERSION"))));
        }
        Command::Send(action) => Some(action),
        Command::Status => None,
    };
    let deadline = Instant::now() + options.timeout;
    let target = resolve(options)?;
    // The daemon's FIFO first: when nobody reads it, fail before creating
    // anything.
    let fifo = ControlFifo::open(&target.fifo, &target.fifo_origin)?;
    let mut out = String::new();
    let interrupts = || {
        Interrupts::install().map_err(|e| {
            ClientError::os(
                "cannot install signal handlers".to_owned(),
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })
    };
    match action {
        None => {
            let status = status(&fifo, &target.reply_dir, deadline, Some(&interrupts()?))?;
            // The report is what was asked for: --quiet keeps it.
            let text = if options.json {
                status.to_json()
            } else {
                status.to_text()
            };
            return Ok(Some(text.trim_end().to_owned()));
        }
        Some(Action::Ping) if options.wait => {
            let took = round_trip(&fifo, &target.reply_dir, deadline, Some(&interrupts()?))?;
            let _ = write!(out, "pong from fifo-pingd in {}", format_duration(took));
        }
        Some(action) => {
            fifo.send(action.message(), deadline, None)?;
            let _ = write!(out, "sent {} to {}", action.word(), target.fifo.display());
        }
    }
    Ok((!options.quiet).then_some(out))
}

/// Parses `args`, runs, prints; the binary's whole `main`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> std::process::ExitCode {
    let result = parse_args(args)
        .map_err(|e| ClientError::from(Failure::from(e)))
        .and_then(|options| run(&options));
    match result {
        Ok(line) => {
            if let Some(line) = line {
                // A closed stdout (`| head -0`) is not worth a failure.
                let _ = writeln!(io::stdout().lock(), "{line}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e @ ClientError::Interrupted(signal)) => {
            // Everything is cleaned up: die of the signal, as the caller expects.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::ExitCode::from(e.code())
        }
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            std::process::ExitCode::from(e.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::EX_CONFIG;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

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
            Err(UsageError::ExtraCommand("end".into()))
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
