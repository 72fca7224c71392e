//! `systemctl reload` that tells the truth. systemd 252 has no
//! `Type=notify-reload`: with `ExecReload=kill -HUP $MAINPID` the command
//! returns once the signal is sent, before the daemon has read the new
//! configuration, and exits 0 whether that configuration was good or not.
//!
//! So the daemon reports each reload in a small file of its runtime
//! directory (`$RUNTIME_DIRECTORY/reload-status`, written to a temporary
//! name and renamed, so a reader sees a whole report): its PID, a count of
//! reloads, and `ok` or `failed: <the one-line error>`. `fifo-pingd --reload`
//! (the units' `ExecReload=`) reads the count, sends `SIGHUP` to `$MAINPID`,
//! waits (inotify, bounded by [`RELOAD_TIMEOUT`]) for a report with a higher
//! count, prints it and exits 0, or 78 for a refused configuration: the
//! reload job fails, and the error line is in `systemctl status` and the
//! journal. One module writes and reads the format.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use thiserror::Error;

use crate::exit::{EX_CONFIG, EX_OSERR, EX_TEMPFAIL, EX_USAGE};

/// The report's file name in the runtime directory.
pub const STATUS_FILE: &str = "reload-status";
/// How long `fifo-pingd --reload` waits for the report. A reload reads one
/// small file and may move the FIFO (whose last reads take at most 1 s).
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// One reload, as the daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub pid: u32,
    /// Reloads this process has attempted, this one included.
    pub count: u64,
    /// None: applied; Some(error): refused, the previous configuration kept.
    pub error: Option<String>,
}

impl Report {
    fn render(&self) -> String {
        match &self.error {
            None => format!("{} {} ok\n", self.pid, self.count),
            // The error is one line already; make sure of it.
            Some(e) => format!(
                "{} {} failed: {}\n",
                self.pid,
                self.count,
                e.replace('\n', " ")
            ),
        }
    }

    fn parse(text: &str) -> Option<Report> {
        let line = text.strip_suffix('\n')?;
        let mut parts = line.splitn(3, ' ');
        let pid = parts.next()?.parse().ok()?;
        let count = parts.next()?.parse().ok()?;
        let error = match parts.next()? {
            "ok" => None,
            rest => Some(rest.strip_prefix("failed: ")?.to_owned()),
        };
        Some(Report { pid, count, error })
    }
}

/// The runtime directory systemd made for the unit (`RuntimeDirectory=`), if
/// any: the first of `$RUNTIME_DIRECTORY`'s colon-separated paths.
pub fn runtime_directory() -> Option<PathBuf> {
    let dirs = std::env::var_os("RUNTIME_DIRECTORY")?;
    let first = dirs.to_str()?.split(':').next()?.to_owned();
    Path::new(&first)
        .is_absolute()
        .then(|| PathBuf::from(first))
}

/// Daemon side: replaces the report in `dir`. A failure only costs the
/// waiting `--reload` its answer (it then times out), so it is returned for
/// the log, never fatal.
pub fn write_report(dir: &Path, report: &Report) -> io::Result<()> {
    let tmp = dir.join(format!(".{STATUS_FILE}.{}", report.pid));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            // Our own directory, but never write through a link.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        file.write_all(report.render().as_bytes())?;
        fs::rename(&tmp, dir.join(STATUS_FILE))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn read_report(dir: &Path) -> Option<Report> {
    // Small and ours; a missing or half-written one is simply no report.
    let text = fs::read_to_string(dir.join(STATUS_FILE)).ok()?;
    Report::parse(&text)
}

#[derive(Debug, Error)]
pub enum ReloadError {
    #[error(
        "--reload: $MAINPID and $RUNTIME_DIRECTORY must be set (it is meant for the units' ExecReload=); found MAINPID={mainpid:?}, RUNTIME_DIRECTORY={runtime:?}"
    )]
    NotUnderSystemd {
        mainpid: Option<String>,
        runtime: Option<String>,
    },
    #[error("cannot send SIGHUP to fifo-pingd (PID {pid}): {errno}")]
    Signal { pid: i32, errno: nix::errno::Errno },
    #[error("{dir}: cannot watch for the daemon's reload report: {errno}")]
    Watch {
        dir: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error(
        "fifo-pingd (PID {pid}) did not report the reload within {} s; see its journal",
        RELOAD_TIMEOUT.as_secs()
    )]
    Timeout { pid: i32 },
    /// The daemon refused the new configuration (the message is its error).
    #[error("reload failed, the previous configuration is kept: {0}")]
    Refused(String),
}

impl ReloadError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ReloadError::NotUnderSystemd { .. } => EX_USAGE,
            ReloadError::Signal { .. } | ReloadError::Watch { .. } => EX_OSERR,
            ReloadError::Timeout { .. } => EX_TEMPFAIL,
            ReloadError::Refused(_) => EX_CONFIG,
        }
    }
}

/// `fifo-pingd --reload`: SIGHUP to `$MAINPID`, then wait for its report.
/// Returns the line to print on success.
pub fn reload_and_wait() -> Result<String, ReloadError> {
    let mainpid = std::env::var("MAINPID").ok();
    let dir = runtime_directory();
    let (Some(pid), Some(dir)) = (
        mainpid.as_deref().and_then(|p| p.parse::<i32>().ok()),
        dir.clone(),
    ) else {
        return Err(ReloadError::NotUnderSystemd {
            mainpid,
            runtime: dir.map(|d| d.display().to_string()),
        });
    };
    let watch_error = |errno| ReloadError::Watch {
        dir: dir.clone(),
        errno,
    };
    // Watch before the signal, so that no report can slip by unseen.
    let watch =
        Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(watch_error)?;
    watch
        .add_watch(
            &dir,
            AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_ONLYDIR,
        )
        .map_err(watch_error)?;
    let before = read_report(&dir)
        .filter(|r| i64::from(r.pid) == i64::from(pid))
        .map_or(0, |r| r.count);
    kill(Pid::from_raw(pid), Signal::SIGHUP).map_err(|errno| ReloadError::Signal { pid, errno })?;
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        if let Some(report) = read_report(&dir)
            && i64::from(report.pid) == i64::from(pid)
            && report.count > before
        {
            return match report.error {
                None => Ok(format!("fifo-pingd (PID {pid}) reloaded its configuration")),
                Some(e) => Err(ReloadError::Refused(e)),
            };
        }
        if Instant::now() >= deadline {
            return Err(ReloadError::Timeout { pid });
        }

        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&watch),
            PollFlags::POLLIN,
        )];
        let _ = poll(&mut fds, crate::timeout::until(deadline));
        let _ = watch.read_events();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_report(dir.path()), None);
        for report in [
            Report {
                pid: 42,
                count: 1,
                error: None,
            },
            Report {
                pid: 42,
                count: 2,
                error: Some("/etc/x.toml:52:2: duplicate key".into()),
            },
        ] {
            write_report(dir.path(), &report).expect("write");
            assert_eq!(read_report(dir.path()), Some(report));
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [STATUS_FILE], "no temporary file left");
    }

    #[test]
    fn a_multi_line_error_stays_one_line_and_junk_is_no_report() {
        let report = Report {
            pid: 1,
            count: 3,
            error: Some("a\nb".into()),
        };
        assert_eq!(report.render(), "1 3 failed: a b\n");
        for junk in ["", "1 2 ok", "x 2 ok\n", "1 2 maybe\n", "1\n"] {
            assert_eq!(Report::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_report_is_never_written_through_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        fs::write(&target, b"keep").expect("write");
        std::os::unix::fs::symlink(&target, dir.path().join(".reload-status.7")).expect("link");
        let report = Report {
            pid: 7,
            count: 1,
            error: None,
        };
        assert!(write_report(dir.path(), &report).is_err());
        assert_eq!(fs::read(&target).expect("read"), b"keep");
    }
}
