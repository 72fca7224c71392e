//! Answers to `?ping NAME`: one `pong` written into the client's own FIFO
//! `NAME` inside the reply directory (in the spirit of s6 fifodirs).
//!
//! The directory is held open and the reply FIFO is reached relative to it
//! by a plain name, checked to be a FIFO before and after opening, opened
//! write-only and non-blocking without following links, written once and
//! closed. A client that is gone (no reader: `ENXIO`) or a full pipe costs one
//! failed system call; a symlink, a regular file or anything else planted
//! under that name is never opened for writing.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{Mode, fstat, fstatat};
use thiserror::Error;

use crate::fifo::{file_type_name, is_fifo};
use crate::protocol::is_plain_reply_name;

/// How often to look again for a reply directory that is missing.
const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

pub const PONG: &[u8] = b"pong\n";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReplyError {
    #[error("replies are off: no reply directory at {0}")]
    NoDirectory(PathBuf),
    #[error("reply name {0:?} is not a plain file name")]
    BadName(String),
    #[error("{0}: the client is gone (nobody reads its reply FIFO)")]
    ClientGone(String),
    #[error("{0}: no such reply FIFO")]
    Missing(String),
    #[error("{name}: expected a FIFO, found {found}; not writing to it")]
    NotAFifo { name: String, found: &'static str },
    #[error("{name}: the reply FIFO is full; pong dropped")]
    Full { name: String },
    #[error("{name}: cannot reply: {errno}")]
    Os { name: String, errno: Errno },
}

pub struct ReplyDir {
    path: PathBuf,
    dir: Option<OwnedFd>,
    last_attempt: Option<Instant>,
}

impl ReplyDir {
    pub fn new(path: &Path) -> ReplyDir {
        let mut dir = ReplyDir {
            path: path.to_owned(),
            dir: None,
            last_attempt: None,
        };
        dir.open(Instant::now());
        dir
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_available(&self) -> bool {
        self.dir.is_some()
    }

    fn open(&mut self, now: Instant) {
        self.last_attempt = Some(now);
        // O_PATH: the directory is typically mode 3730 (no read bit for the
        // group the daemon writes through); looking names up needs only `x`.
        self.dir = open(
            &self.path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok();
    }

    /// Writes one `pong` into the reply FIFO `name`.
    pub fn send_pong(&mut self, name: &str) -> Result<(), ReplyError> {
        if !is_plain_reply_name(name.as_bytes()) {
            return Err(ReplyError::BadName(name.to_owned()));
        }
        let now = Instant::now();
        if self.dir.is_none()
            && self
                .last_attempt
                .is_none_or(|t| now.duration_since(t) >= REOPEN_INTERVAL)
        {
            self.open(now);
        }
        let Some(dir) = &self.dir else {
            return Err(ReplyError::NoDirectory(self.path.clone()));
        };
        let os = |errno| ReplyError::Os {
            name: name.to_owned(),
            errno,
        };
        // Look before opening: opening a device node can have side effects.
        let before = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Err(ReplyError::Missing(name.to_owned())),
            Err(errno) => return Err(os(errno)),
        };
        if !is_fifo(&before) {
            return Err(ReplyError::NotAFifo {
                name: name.to_owned(),
                found: file_type_name(&before),
            });
        }
        let fd = openat(
            dir,
            name,
            OFlag::O_WRONLY
                | OFlag::O_NONBLOCK
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC
                | OFlag::O_NOCTTY,
            Mode::empty(),
        )
        .map_err(|errno| match errno {
            Errno::ENXIO => ReplyError::ClientGone(name.to_owned()),
            Errno::ENOENT => ReplyError::Missing(name.to_owned()),
            Errno::ELOOP => ReplyError::NotAFifo {
                name: name.to_owned(),
                found: "a symbolic link",
            },
            errno => os(errno),
        })?;
        let after = fstat(&fd).map_err(os)?;
        if !is_fifo(&after) || after.st_dev != before.st_dev || after.st_ino != before.st_ino {
            return Err(ReplyError::NotAFifo {
                name: name.to_owned(),
                found: "something swapped in while opening",
            });
        }
        match nix::unistd::write(&fd, PONG) {
            Ok(_) => Ok(()),
            Err(Errno::EAGAIN) => Err(ReplyError::Full {
                name: name.to_owned(),
            }),
            Err(Errno::EPIPE) => Err(ReplyError::ClientGone(name.to_owned())),
            Err(errno) => Err(os(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::mkfifo;
    use std::io::Read;

    #[test]
    fn pong_reaches_a_listening_fifo_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut replies = ReplyDir::new(dir.path());
        assert!(replies.is_available());

        let fifo = dir.path().join("client-1");
        mkfifo(&fifo, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags_nonblocking()
            .open(&fifo)
            .expect("open reader");
        assert_eq!(replies.send_pong("client-1"), Ok(()));
        let mut got = [0u8; 16];
        let n = reader.read(&mut got).expect("read pong");
        assert_eq!(&got[..n], PONG);

        // Nobody reading: ENXIO, reported, no blocking.
        mkfifo(&dir.path().join("gone"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        assert_eq!(
            replies.send_pong("gone"),
            Err(ReplyError::ClientGone("gone".into()))
        );

        // A regular file and a symlink are never written.
        std::fs::write(dir.path().join("file"), b"keep").expect("write");
        assert!(matches!(
            replies.send_pong("file"),
            Err(ReplyError::NotAFifo { .. })
        ));
        assert_eq!(
            std::fs::read(dir.path().join("file")).expect("read"),
            b"keep"
        );
        std::os::unix::fs::symlink(&fifo, dir.path().join("link")).expect("symlink");
        assert!(matches!(
            replies.send_pong("link"),
            Err(ReplyError::NotAFifo { .. })
        ));
        assert!(matches!(
            replies.send_pong("../x"),
            Err(ReplyError::BadName(_))
        ));
        assert_eq!(
            replies.send_pong("absent"),
            Err(ReplyError::Missing("absent".into()))
        );
    }

    #[test]
    fn a_missing_directory_turns_replies_off() {
        let mut replies = ReplyDir::new(Path::new("/nonexistent/fifo-pingd-reply"));
        assert!(!replies.is_available());
        assert!(matches!(
            replies.send_pong("x"),
            Err(ReplyError::NoDirectory(_))
        ));
    }

    trait NonBlocking {
        fn custom_flags_nonblocking(&mut self) -> &mut Self;
    }

    impl NonBlocking for std::fs::OpenOptions {
        fn custom_flags_nonblocking(&mut self) -> &mut Self {
            use std::os::unix::fs::OpenOptionsExt;
            self.custom_flags(libc::O_NONBLOCK)
        }
    }
}
