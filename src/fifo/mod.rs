//! FIFOs, opened one way everywhere ([`look`] then [`open_verified`]: no
//! link followed, the type checked before opening and again on the
//! descriptor), and the daemon's control FIFO: created or reused, owned and
//! moded through the descriptor, kept at its own pipe size, and removed only
//! while the path still names the very FIFO we hold.
//!
//! While it serves, the daemon holds the FIFO read-write, so it is a writer
//! itself and never sees end-of-file when clients leave (no spin). Once the
//! path is retired (at the stop, or moved by a reload) it swaps that for a
//! read-only descriptor opened up front ([`Fifo::become_last_reader`]), so it
//! then does see end-of-file: when the last client that had the FIFO open has
//! closed it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, FcntlArg, OFlag, fcntl, open, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, fstatat, lstat, stat};
use nix::unistd::{Gid, Uid, fchown, mkfifo, unlink};
use thiserror::Error;

use crate::config::FifoConfig;
use crate::exit::{EX_CANTCREAT, Failure};
use crate::users;

#[derive(Debug, Error)]
pub enum FifoError {
    #[error("{path}: expected a FIFO (or nothing), found {found}; refusing to touch it")]
    NotAFifo { path: PathBuf, found: &'static str },
    #[error(
        "{path}: expected a FIFO owned by uid {expected}, found one owned by uid {found}; refusing to use it"
    )]
    ForeignOwner {
        path: PathBuf,
        expected: String,
        found: u32,
    },
    #[error(
        "{dir}: expected a directory only root or the daemon can change (not group/world-writable without the sticky bit), found mode {mode:04o} owner uid {owner}; refusing to create the FIFO in it"
    )]
    UnsafeDirectory { dir: PathBuf, mode: u32, owner: u32 },
    #[error("{path}: cannot {action}: {errno}")]
    Os {
        path: PathBuf,
        action: &'static str,
        errno: Errno,
    },
    #[error(
        "{path}: cannot give the FIFO {wanted} ({errno}): only root may give a file to another user, and only a member may give it a group; run as root, or pass --config with a file of your own that sets no [fifo] owner or group"
    )]
    Chown {
        path: PathBuf,
        wanted: String,
        errno: Errno,
    },
    #[error("socket activation: expected one FIFO in LISTEN_FDS, found {0}")]
    ListenFds(String),
}

impl From<FifoError> for Failure {
    fn from(e: FifoError) -> Self {
        Failure {
            code: EX_CANTCREAT,
            message: e.to_string(),
        }
    }
}

/// How the daemon came to hold the FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// We ran `mkfifo`.
    Created,
    /// A FIFO we may use was already there (e.g. left by a killed daemon).
    Reused,
    /// systemd passed it (`ListenFIFO=`); systemd owns the path.
    SocketActivated,
}

/// An open control FIFO. The descriptor is read-write while serving (no
/// end-of-file when clients leave), read-only once retired.
#[derive(Debug)]
pub struct Fifo {
    fd: OwnedFd,
    /// A read-only descriptor of the same FIFO, opened right after `fd`,
    /// for [`Fifo::become_last_reader`]: opened before clients open the FIFO,
    /// it is told (POLLHUP) when the last of them closes it. None if it
    /// could not be opened (then one is opened when needed).
    last_reader: Option<OwnedFd>,
    path: PathBuf,
    dev: u64,
    ino: u64,
    origin: Origin,
}

fn os<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(Errno) -> FifoError + 'a {
    move |errno| FifoError::Os {
        path: path.to_owned(),
        action,
        errno,
    }
}

/// What a file is, for error messages ("expected a FIFO, found …").
pub fn file_type_name(st: &FileStat) -> &'static str {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFLNK => "a symbolic link",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        SFlag::S_IFSOCK => "a socket",
        _ => "a file of unknown type",
    }
}

pub fn is_fifo(st: &FileStat) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFIFO.bits()
}

impl Fifo {
    /// Creates the FIFO at `config.path`, or reuses a FIFO that is already
    /// ours, and applies the configured mode, owner and group.
    pub fn open_or_create(config: &FifoConfig) -> Result<Fifo, FifoError> {
        let path = config.path.as_path();
        check_directory(path)?;

        // Restrictive until fchmod: nobody else may open it in between.
        let origin = match mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR) {
            Ok(()) => Origin::Created,
            Err(Errno::EEXIST) => Origin::Reused,
            Err(errno) => return Err(os(path, "create the FIFO (mkfifo)")(errno)),
        };

        // Refuse anything but a FIFO before opening it: opening a device
        // node can have side effects even with O_NONBLOCK.
        let before = look(At::Path(path), false).map_err(os(path, "inspect the path (lstat)"))?;
        if !is_fifo(&before) {
            return Err(FifoError::NotAFifo {
                path: path.to_owned(),
                found: file_type_name(&before),
            });
        }
        let fd =
            open_verified(At::Path(path), OFlag::O_RDWR, &before, false).map_err(|e| match e {
                VerifyError::Open(Errno::ELOOP) => FifoError::NotAFifo {
                    path: path.to_owned(),
                    found: "a symbolic link",
                },
                VerifyError::Open(errno) => os(path, "open the FIFO")(errno),
                VerifyError::Stat(errno) => os(path, "inspect the opened FIFO (fstat)")(errno),
                VerifyError::Swapped => FifoError::Os {
                    path: path.to_owned(),
                    action: "open the FIFO: it was replaced while opening it",
                    errno: Errno::EAGAIN,
                },
            })?;
        let st = before;
        let euid = Uid::effective().as_raw();
        let allowed_owner = config.owner.as_ref().map(|o| o.id);
        if st.st_uid != euid && Some(st.st_uid) != allowed_owner {
            return Err(FifoError::ForeignOwner {
                path: path.to_owned(),
                expected: match allowed_owner {
                    Some(owner) if owner != euid => format!("{euid} or {owner}"),
                    _ => euid.to_string(),
                },
                found: st.st_uid,
            });
        }

        let last_reader = reopen_read_only(&fd, st.st_dev, st.st_ino);
        let fifo = Fifo {
            fd,
            last_reader,
            path: path.to_owned(),
            dev: st.st_dev,
            ino: st.st_ino,
            origin,
        };
        if let Err(e) = fifo.apply_permissions(config) {
            // A FIFO we just made and cannot finish is ours to clean up.
            if origin == Origin::Created {
                fifo.remove_if_ours();
            }
            return Err(e);
        }
        Ok(fifo)
    }

    /// Takes the FIFO systemd passed (`ListenFIFO=`), if any.
    pub fn from_socket_activation(path: &Path) -> Result<Option<Fifo>, FifoError> {
        let mut fds = sd_notify::listen_fds().map_err(|e| FifoError::ListenFds(e.to_string()))?;
        let count = fds.len();
        let Some(raw) = fds.next() else {
            return Ok(None);
        };
        if count != 1 {
            return Err(FifoError::ListenFds(format!("{count} descriptors")));
        }
        // SAFETY: systemd passed this descriptor to this process (LISTEN_PID
        // was checked by listen_fds) and nothing else in the process has
        // taken ownership of it; it is wrapped exactly once, here.
        #[allow(unsafe_code)]
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let st = fstat(&fd).map_err(os(path, "inspect the socket-activated descriptor"))?;
        if !is_fifo(&st) {
            return Err(FifoError::ListenFds(format!(
                "fd {} is {}",
                fd.as_raw_fd(),
                file_type_name(&st)
            )));
        }
        let flags = fcntl(&fd, FcntlArg::F_GETFL).map_err(os(path, "read descriptor flags"))?;
        fcntl(
            &fd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .map_err(os(path, "make the descriptor non-blocking"))?;
        Ok(Some(Fifo {
            fd,
            // Never retired by the daemon: systemd keeps it and its data.
            last_reader: None,
            path: path.to_owned(),
            dev: st.st_dev,
            ino: st.st_ino,
            origin: Origin::SocketActivated,
        }))
    }

    /// Sets owner, group and mode through the descriptor (never the path,
    /// which could have been swapped for a link by now).
    pub fn apply_permissions(&self, config: &FifoConfig) -> Result<(), FifoError> {
        let owner = config
            .owner
            .as_ref()
            .filter(|_| !owner_root_not_applicable(config))
            .map(|o| Uid::from_raw(o.id));
        let group = config.group.as_ref().map(|g| Gid::from_raw(g.id));
        if owner.is_some() || group.is_some() {
            fchown(&self.fd, owner, group).map_err(|errno| match errno {
                Errno::EPERM => FifoError::Chown {
                    path: self.path.clone(),
                    wanted: match (&config.owner, &config.group) {
                        (Some(o), Some(g)) => format!("owner {o} and group {g}"),
                        (Some(o), None) => format!("owner {o}"),
                        (None, Some(g)) => format!("group {g}"),
                        (None, None) => String::new(),
                    },
                    errno,
                },
                errno => os(&self.path, "set the FIFO's owner and group (fchown)")(errno),
            })?;
        }
        // After fchown, which may clear mode bits.
        fchmod(&self.fd, Mode::from_bits_truncate(config.mode))
            .map_err(os(&self.path, "set the FIFO's mode (fchmod)"))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Mode, owner and group as they are now, for the log.
    pub fn describe(&self) -> String {
        match fstat(&self.fd) {
            Ok(st) => format!(
                "mode {:04o}, owner {}, group {}",
                st.st_mode & 0o7777,
                users::user_name(st.st_uid),
                users::group_name(st.st_gid)
            ),
            Err(e) => format!("cannot fstat: {e}"),
        }
    }

    /// Unlinks the path if it still names this FIFO (same device and inode).
    /// Returns what happened, for the log. Socket-activated FIFOs belong to
    /// systemd and are never removed.
    pub fn remove_if_ours(&self) -> Removal {
        if self.origin == Origin::SocketActivated {
            return Removal::LeftToSystemd;
        }
        match lstat(&self.path) {
            Ok(st) if is_fifo(&st) && st.st_dev == self.dev && st.st_ino == self.ino => {
                match unlink(&self.path) {
                    Ok(()) => Removal::Removed,
                    Err(errno) => Removal::Failed(errno),
                }
            }
            Ok(_) => Removal::Replaced,
            Err(Errno::ENOENT) => Removal::AlreadyGone,
            Err(errno) => Removal::Failed(errno),
        }
    }

    /// For the last reads once the path is gone: swaps the read-write
    /// descriptor for a read-only one of this same FIFO. With no writer of
    /// its own left, the daemon then sees end-of-file once the last client
    /// that opened the FIFO before its path was removed has closed it, so
    /// what such a client writes late is still read; a client that writes
    /// after the daemon has closed the reader too gets EPIPE, not silent
    /// loss. False, and nothing changed, when that is not possible (no
    /// /proc, or no read permission on the FIFO for the daemon itself).
    pub fn become_last_reader(&mut self) -> bool {
        let reader = self
            .last_reader
            .take()
            .or_else(|| reopen_read_only(&self.fd, self.dev, self.ino));
        match reader {
            Some(reader) => {
                self.fd = reader;
                true
            }
            None => false,
        }
    }
}

/// A read-only, non-blocking descriptor of the FIFO `fd` refers to, checked
/// to be that same FIFO; None when not possible (no /proc, no read
/// permission, out of descriptors).
fn reopen_read_only(fd: &OwnedFd, dev: u64, ino: u64) -> Option<OwnedFd> {
    // /proc/self/fd/N opens the pipe this descriptor refers to, whatever the
    // path names now (a new open file description, with its own flags).
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let reader = open(
        proc_path.as_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .ok()?;
    let st = fstat(&reader).ok()?;
    (is_fifo(&st) && st.st_dev == dev && st.st_ino == ino).then_some(reader)
}

impl AsFd for Fifo {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Outcome of [`Fifo::remove_if_ours`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Something else is at the path now: left alone.
    Replaced,
    AlreadyGone,
    LeftToSystemd,
    Failed(Errno),
}

/// `owner = "root"` in a daemon that is not root: what 0.1 configs said
/// (that daemon ran as root). It is not applied, and not an error: root has
/// every access to the FIFO whoever owns it, so the FIFO keeps the daemon's
/// own user and nobody gains or loses anything. Any other owner still needs
/// CAP_CHOWN and fails without it.
pub fn owner_root_not_applicable(config: &FifoConfig) -> bool {
    config.owner.as_ref().is_some_and(|o| o.id == 0) && !Uid::effective().is_root()
}

/// Refuses a directory where someone other than root or us could swap the
/// FIFO for something else between our checks.
fn check_directory(path: &Path) -> Result<(), FifoError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("/"),
    };
    let st = stat(dir).map_err(|errno| FifoError::Os {
        path: dir.to_owned(),
        action: "use the FIFO's directory",
        errno,
    })?;
    let mode = st.st_mode & 0o7777;
    let euid = Uid::effective().as_raw();
    let trusted_owner = st.st_uid == 0 || st.st_uid == euid;
    let writable_by_others = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if !trusted_owner || (writable_by_others && !sticky) {
        return Err(FifoError::UnsafeDirectory {
            dir: dir.to_owned(),
            mode,
            owner: st.st_uid,
        });
    }
    Ok(())
}

/// Where a FIFO is looked for: a path, or a plain name in a directory held
/// open.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    Path(&'a Path),
    In(BorrowedFd<'a>, &'a str),
}

/// Why [`open_verified`] gave up, for the caller to word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// `open` failed (`ELOOP`: a link was swapped in after the look;
    /// `ENXIO`: a write-only open found no reader).
    Open(Errno),
    /// `fstat` on the new descriptor failed.
    Stat(Errno),
    /// The descriptor is not the FIFO that was looked at.
    Swapped,
}

/// The first half of the one way everything here opens a FIFO: look at the
/// path (without following a link unless `follow`) before opening, because
/// opening a device node can have side effects; the caller checks the type
/// ([`is_fifo`]) and words its own error.
pub fn look(at: At<'_>, follow: bool) -> Result<FileStat, Errno> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::AT_SYMLINK_NOFOLLOW
    };
    match at {
        At::Path(path) => fstatat(nix::fcntl::AT_FDCWD, path, flags),
        At::In(dir, name) => fstatat(dir, name, flags),
    }
}

/// The second half: opens what [`look`] found, non-blocking, never creating,
/// not following a link (unless `follow`), and checks on the descriptor that
/// it is that same FIFO (type, device and inode).
pub fn open_verified(
    at: At<'_>,
    flags: OFlag,
    before: &FileStat,
    follow: bool,
) -> Result<OwnedFd, VerifyError> {
    let flags = flags
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC
        | OFlag::O_NOCTTY
        | if follow {
            OFlag::empty()
        } else {
            OFlag::O_NOFOLLOW
        };
    let fd = match at {
        At::Path(path) => open(path, flags, Mode::empty()),
        At::In(dir, name) => openat(dir, name, flags, Mode::empty()),
    }
    .map_err(VerifyError::Open)?;
    let after = fstat(&fd).map_err(VerifyError::Stat)?;
    if !is_fifo(&after) || after.st_dev != before.st_dev || after.st_ino != before.st_ino {
        return Err(VerifyError::Swapped);
    }
    Ok(fd)
}

/// The pipe buffer the daemon keeps: the kernel's default (16 pages). A
/// writer may change a pipe's size (`F_SETPIPE_SZ`): shrunk, every other
/// writer's throughput drops; grown to 1 MiB, a flood queues that much in
/// front of everybody else's message and of the stop. The daemon sets it back.
pub const PIPE_BYTES: usize = 64 * 1024;

/// What [`Fifo::keep_pipe_size`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeSize {
    /// As it should be.
    Kept,
    /// A writer had changed it to this many bytes; it is set back.
    Restored { found: usize },
    /// Changed, and it could not be set back yet (`EBUSY`: more is buffered
    /// than fits; the next look, after the pipe has been read, succeeds).
    Changed { found: usize },
}

impl Fifo {
    /// Sets the pipe buffer back to [`PIPE_BYTES`] if a writer changed it.
    /// Two system calls when it was changed, one otherwise; socket-activated
    /// pipes too (systemd holds them from boot, so a writer may have changed
    /// them before the daemon started).
    pub fn keep_pipe_size(&self) -> PipeSize {
        let Ok(found) = fcntl(&self.fd, FcntlArg::F_GETPIPE_SZ) else {
            return PipeSize::Kept;
        };
        let found = usize::try_from(found).unwrap_or(0);
        if found == PIPE_BYTES {
            return PipeSize::Kept;
        }
        match fcntl(&self.fd, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES as libc::c_int)) {
            Ok(_) => PipeSize::Restored { found },
            Err(_) => PipeSize::Changed { found },
        }
    }
}

/// Reads what is available without blocking. `Ok(0)` means nothing is
/// buffered now (used on the read-write descriptor, which has no end-of-file).
pub fn read_available(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EAGAIN) => return Ok(0),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}
