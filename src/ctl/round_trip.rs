use super::args::{NAME_ATTEMPTS, REPLY_FIFO_MODE, REPLY_NAME_PREFIX};
use super::control::ControlFifo;
use super::error::{ClientError, describe_non_fifo, is_type, permission_advice};
use super::wait::{Interrupts, seconds, wait_for};
use std::hash::{BuildHasher, RandomState};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::poll::PollFlags;
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmod, fchmodat, fstat, fstatat, lstat};
use nix::unistd::{Gid, UnlinkatFlags, fchown, geteuid, getpid, mkfifoat, unlinkat};

use crate::daemon::reply::{PONG, STALE_REPLY_AGE};
use crate::daemon::status::{self, MAX_STATUS_BYTES, Status};
use crate::fifo::file_type_name;

// ---------------------------------------------------------------------------
// The reply FIFO

/// A fresh, unguessable reply FIFO name for this process.
pub(crate) fn reply_name(attempt: usize) -> String {
    let pid = getpid().as_raw();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // RandomState is keyed from the OS's random source.
    let random = RandomState::new().hash_one((pid, nanos, attempt));
    format!("{REPLY_NAME_PREFIX}{pid}.{random:016x}")
}

pub(crate) fn missing_reply_dir(dir: &Path) -> ClientError {
    ClientError::Unavailable(format!(
        "no reply directory {}: round-trip pings (ping --wait) need it; the fifo-pingd units create it at boot (systemd-tmpfiles, /usr/lib/tmpfiles.d/fifo-pingd.conf: run `systemd-tmpfiles --create fifo-pingd.conf`), or point --reply-dir / [reply] directory at the daemon's",
        dir.display()
    ))
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
pub(crate) fn remove_if_same(dir: &OwnedFd, name: &str, dev: u64, ino: u64) {
    if let Ok(st) = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        && st.st_dev == dev
        && st.st_ino == ino
    {
        // Nothing more can be done about a failure on the way out.
        let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    }
}

/// Removes a just-created FIFO if setting it up fails half-way.
pub(crate) struct Created<'a> {
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
                return Err(ClientError::PermissionDenied(format!(
                    "{shown}: permission denied looking up the reply directory ({}): a directory on the way is not searchable by this user",
                    errno.desc()
                )));
            }
            Err(errno) => {
                return Err(ClientError::os(
                    format!("{shown}: cannot look up the reply directory"),
                    errno,
                ));
            }
        };
        if !is_type(&dir_st, SFlag::S_IFDIR) {
            return Err(ClientError::Unavailable(format!(
                "{shown}: expected the reply directory, found {} (fifo-pingd does not follow links to it either)",
                describe_non_fifo(dir_path, &dir_st)
            )));
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
            errno => ClientError::os(format!("{shown}: cannot open the reply directory"), errno),
        })?;

        let mut attempt = 0;
        let name = loop {
            let name = reply_name(attempt);
            match mkfifoat(&dir, name.as_str(), Mode::from_bits_truncate(0o600)) {
                Ok(()) => break name,
                Err(Errno::EEXIST) if attempt + 1 < NAME_ATTEMPTS => attempt += 1,
                Err(Errno::EACCES | Errno::EPERM) => {
                    let (facts, advice) = permission_advice(&dir_st, 0o030);
                    return Err(ClientError::PermissionDenied(format!(
                        "permission denied creating a reply FIFO in {shown} ({facts}): {advice}"
                    )));
                }
                Err(Errno::ENOENT) => return Err(missing_reply_dir(dir_path)),
                Err(errno @ (Errno::ENOSPC | Errno::EDQUOT)) => {
                    return Err(ClientError::TimedOut(format!(
                        "cannot create a reply FIFO in {shown}: {} (the round-trip area is full: a flood, or many clients at once); fifo-pingd removes entries older than {} s, try again in half a minute",
                        errno.desc(),
                        STALE_REPLY_AGE.as_secs()
                    )));
                }
                Err(errno) => {
                    return Err(ClientError::CannotCreate(format!(
                        "cannot create a reply FIFO in {shown}: {}",
                        errno.desc()
                    )));
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
            ClientError::CannotCreate(format!(
                "cannot set up the reply FIFO {shown}/{name}: {what}: {}",
                errno.desc()
            ))
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
            return Err(ClientError::CannotCreate(format!(
                "{shown}/{name}: expected our own new FIFO, found {} owned by uid {}",
                file_type_name(&st),
                st.st_uid
            )));
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
            return Err(ClientError::CannotCreate(format!(
                "{shown}/{name}: replaced while being set up"
            )));
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

    /// Reads what arrives until `deadline`, handing everything read so far
    /// to `complete`, which says whether the answer is there (and may drop
    /// what can no longer be part of it). False: the deadline passed.
    pub fn wait_answer(
        &self,
        deadline: Instant,
        interrupts: Option<&Interrupts>,
        mut complete: impl FnMut(&mut Vec<u8>) -> Result<bool, ClientError>,
    ) -> Result<bool, ClientError> {
        let mut seen: Vec<u8> = Vec::with_capacity(64);
        let mut buf = [0u8; 4096];
        loop {
            match nix::unistd::read(&self.reader, &mut buf) {
                Ok(n) if n > 0 => {
                    seen.extend_from_slice(&buf[..n]);
                    if complete(&mut seen)? {
                        return Ok(true);
                    }
                    continue;
                }
                Ok(_) | Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    return Err(ClientError::os(
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

    /// Waits for `pong\n` until `deadline`. Anything else is skipped.
    pub fn wait_pong(
        &self,
        deadline: Instant,
        interrupts: Option<&Interrupts>,
    ) -> Result<bool, ClientError> {
        self.wait_answer(deadline, interrupts, |seen| {
            if seen.windows(PONG.len()).any(|w| w == PONG) {
                return Ok(true);
            }
            // Keep only what could still start a pong.
            let keep = seen.len().min(PONG.len() - 1);
            seen.drain(..seen.len() - keep);
            Ok(false)
        })
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
    let sent = request(fifo, &reply, "ping", deadline, interrupts)?;
    if reply.wait_pong(deadline, interrupts)? {
        Ok(sent.elapsed())
    } else {
        Err(no_answer("pong", started, fifo))
    }
}

/// `fifo-pingctl status`: a round trip with `?status NAME`, whose answer is
/// the daemon's report ([`crate::daemon::status`]).
pub fn status(
    fifo: &ControlFifo,
    reply_dir: &Path,
    deadline: Instant,
    interrupts: Option<&Interrupts>,
) -> Result<Status, ClientError> {
    let started = Instant::now();
    let reply = ReplyFifo::create(reply_dir)?;
    request(fifo, &reply, "status", deadline, interrupts)?;
    let mut answer = None;
    let malformed = |what: String| {
        ClientError::Protocol(format!(
            "{}: unexpected answer from fifo-pingd: {what} (a daemon of another version?)",
            reply.path().display()
        ))
    };
    let complete = reply.wait_answer(deadline, interrupts, |seen| {
        if seen.len() > MAX_STATUS_BYTES {
            return Err(malformed(format!(
                "more than {MAX_STATUS_BYTES} bytes without an end"
            )));
        }
        answer = status::decode(seen).map_err(|e| malformed(e.to_string()))?;
        Ok(answer.is_some())
    })?;
    match answer {
        Some(status) if complete => Ok(status),
        _ => Err(no_answer("status", started, fifo)),
    }
}

/// Sends the request `?KIND NAME` for `reply`; returns when it went out.
fn request(
    fifo: &ControlFifo,
    reply: &ReplyFifo,
    kind: &str,
    deadline: Instant,
    interrupts: Option<&Interrupts>,
) -> Result<Instant, ClientError> {
    // Leading separator: see Action::message.
    let request = format!("\n?{kind} {}\n", reply.name());
    let sent = Instant::now();
    fifo.send(request.as_bytes(), deadline, interrupts)?;
    Ok(sent)
}

fn no_answer(what: &str, started: Instant, fifo: &ControlFifo) -> ClientError {
    ClientError::TimedOut(format!(
        "no {what} within {}: fifo-pingd got the request on {} but did not answer (stopped, hung or overloaded? its log says why an answer could not be sent)",
        seconds(started.elapsed()),
        fifo.path().display()
    ))
}
