use super::args::MAX_MESSAGE;
use super::error::{ClientError, describe_non_fifo, is_type, permission_advice};
use super::wait::{Interrupts, seconds, wait_for};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::PollFlags;
use nix::sys::stat::SFlag;

use crate::fifo::{At, VerifyError, file_type_name, look, open_verified};

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
            ClientError::Unavailable(format!(
                "{shown} does not exist: fifo-pingd is not running or uses another FIFO ({origin}; start it with `systemctl start fifo-pingd` or fifo-pingd.socket, or pass --fifo PATH)"
            ))
        };
        // Look before opening: opening a device node can have side effects.
        let before = match look(At::Path(path), false) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Err(missing()),
            Err(Errno::ENOTDIR) => {
                return Err(ClientError::Unavailable(format!(
                    "{shown}: a component of the path is not a directory"
                )));
            }
            Err(errno @ (Errno::EACCES | Errno::EPERM)) => {
                return Err(ClientError::PermissionDenied(format!(
                    "{shown}: permission denied looking it up ({}): a directory on the way is not searchable by this user",
                    errno.desc()
                )));
            }
            Err(errno) => {
                return Err(ClientError::os(
                    format!("{shown}: cannot look it up"),
                    errno,
                ));
            }
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
                    return Err(ClientError::Unavailable(format!(
                        "fifo-pingd is not running: {shown} is {}, which does not exist (the daemon's directory is removed while it is stopped; start it with `systemctl start fifo-pingd` or fifo-pingd.socket, or pass --fifo PATH)",
                        describe_non_fifo(path, &before)
                    )));
                }
                Err(errno) => {
                    return Err(ClientError::os(
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
            return Err(ClientError::Unavailable(format!(
                "{shown}: expected a FIFO, found {found}; not writing to it"
            )));
        }
        let fd = open_verified(At::Path(path), OFlag::O_WRONLY, &before, link).map_err(
            |e| match e {
                VerifyError::Open(Errno::ENXIO) => ClientError::Unavailable(format!("fifo-pingd is not running (nothing is reading {shown})"),
                ),
                VerifyError::Open(Errno::EACCES | Errno::EPERM) => {
                    let (facts, advice) = permission_advice(&before, 0o020);
                    ClientError::PermissionDenied(format!("permission denied writing to {shown} ({facts}): {advice}"),
                    )
                }
                VerifyError::Open(Errno::ENOENT) => missing(),
                VerifyError::Open(Errno::ELOOP) => ClientError::Unavailable(format!(
                        "{shown}: expected a FIFO, found a symbolic link (replaced while opening); not writing to it"
                    ),
                ),
                VerifyError::Open(errno) => {
                    ClientError::os(format!("{shown}: cannot open for writing"), errno)
                }
                VerifyError::Stat(errno) => ClientError::os(format!("{shown}: fstat"), errno),
                VerifyError::Swapped => ClientError::Unavailable(format!(
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

    /// The pipe is full: wait for room in a blocking `write`, as `echo`
    /// does. A writer that polls for room and then writes loses nearly every
    /// race for freed room to writers already blocked in `write(2)` (a
    /// flood's), and waits many times longer. The write runs on a thread of
    /// its own so that the deadline and signals still end the wait; when
    /// they do, the descriptor is made non-blocking again, so the write gives
    /// up at its next wake-up, and the process is about to exit anyway. A
    /// write of at most `PIPE_BUF` bytes happens whole or not at all.
    fn send_when_room(
        &self,
        message: &[u8],
        deadline: Instant,
        interrupts: Option<&Interrupts>,
        started: Instant,
    ) -> Result<(), ClientError> {
        let shown = self.path.display();
        let os = |what: &str, errno: Errno| ClientError::os(format!("{shown}: {what}"), errno);
        let io = |what: &str, e: std::io::Error| {
            os(what, Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        };
        let set_blocking = |blocking: bool| -> Result<(), Errno> {
            let flags = OFlag::from_bits_truncate(fcntl(&self.fd, FcntlArg::F_GETFL)?);
            let flags = if blocking {
                flags - OFlag::O_NONBLOCK
            } else {
                flags | OFlag::O_NONBLOCK
            };
            fcntl(&self.fd, FcntlArg::F_SETFL(flags)).map(drop)
        };
        let writer = self.fd.try_clone().map_err(|e| io("dup", e))?;
        let (done, done_writer) = UnixStream::pair().map_err(|e| io("socketpair", e))?;
        set_blocking(true).map_err(|e| os("make the write blocking", e))?;
        let owned = message.to_vec();
        std::thread::spawn(move || {
            // The outcome as an errno (0: written whole, -1: short).
            let code: i32 = loop {
                match nix::unistd::write(&writer, &owned) {
                    Ok(n) if n == owned.len() => break 0,
                    Ok(_) => break -1,
                    Err(Errno::EINTR) => {}
                    Err(errno) => break errno as i32,
                }
            };
            let _ = (&done_writer).write_all(&code.to_ne_bytes());
        });
        let done = OwnedFd::from(done);
        let ready = wait_for(
            &done,
            PollFlags::POLLIN,
            deadline,
            interrupts,
            &shown.to_string(),
        );
        let restored = set_blocking(false);
        if !ready? {
            return Err(ClientError::TimedOut(format!(
                "timed out after {}: the pipe {shown} stayed full; fifo-pingd is not reading it (stopped, hung or overloaded?)",
                seconds(started.elapsed())
            )));
        }
        restored.map_err(|e| os("make the descriptor non-blocking again", e))?;
        let mut code = [0u8; 4];
        std::fs::File::from(done)
            .read_exact(&mut code)
            .map_err(|e| io("write", e))?;
        match i32::from_ne_bytes(code) {
            0 => Ok(()),
            -1 => Err(ClientError::os(
                format!("{shown}: short write of {} bytes", message.len()),
                Errno::EIO,
            )),
            code if Errno::from_raw(code) == Errno::EPIPE => {
                Err(ClientError::Unavailable(format!(
                    "fifo-pingd is not running (it stopped while we were writing; nothing is reading {shown})"
                )))
            }
            code => Err(ClientError::os(
                format!("{shown}: write"),
                Errno::from_raw(code),
            )),
        }
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
            return Err(ClientError::Usage(format!(
                "message of {} bytes is too long to be atomic",
                message.len()
            )));
        }
        let started = Instant::now();
        loop {
            match nix::unistd::write(&self.fd, message) {
                Ok(n) if n == message.len() => return Ok(()),
                Ok(n) => {
                    return Err(ClientError::os(
                        format!("{shown}: short write ({n} of {} bytes)", message.len()),
                        Errno::EIO,
                    ));
                }
                Err(Errno::EAGAIN) => {
                    return self.send_when_room(message, deadline, interrupts, started);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EPIPE) => {
                    return Err(ClientError::Unavailable(format!(
                        "fifo-pingd is not running (it stopped while we were writing; nothing is reading {shown})"
                    )));
                }
                Err(errno) => return Err(ClientError::os(format!("{shown}: write"), errno)),
            }
        }
    }
}
