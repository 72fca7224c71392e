use crate::users::{group_entry, group_name, user_name};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::readlink;
use nix::sys::stat::{FileStat, SFlag};
use nix::unistd::{Gid, getegid, geteuid, getgroups};

use thiserror::Error;

use crate::exit::{
    EX_CANTCREAT, EX_CONFIG, EX_NOPERM, EX_OSERR, EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE,
    EX_USAGE, Failure,
};
use crate::fifo::file_type_name;

// ---------------------------------------------------------------------------
// Errors

/// Why the client stopped: one variant per kind of failure, each with its
/// exit code (sysexits) and one line for a person naming what was expected
/// and what was found.
#[derive(Debug, Error)]
pub enum ClientError {
    /// fifo-pingd is not running, or not at that path (69).
    #[error("{0}")]
    Unavailable(String),
    /// The user may not write there, or not reach the path (77).
    #[error("{0}")]
    PermissionDenied(String),
    /// The pipe stayed full, no pong came, the round-trip area is full (75).
    #[error("{0}")]
    TimedOut(String),
    /// The reply FIFO could not be created or set up (73).
    #[error("{0}")]
    CannotCreate(String),
    /// The configuration file cannot be used (78).
    #[error("{0}")]
    Config(String),
    /// The command line (64).
    #[error("{0}")]
    Usage(String),
    /// The daemon answered something this client cannot read (76).
    #[error("{0}")]
    Protocol(String),
    /// Another operating-system error (71).
    #[error("{what}: {}", errno.desc())]
    Os { what: String, errno: Errno },
    /// SIGINT, SIGTERM or SIGHUP arrived while waiting; everything the
    /// client created is gone by the time this reaches `main`.
    #[error("interrupted by signal {0}")]
    Interrupted(libc::c_int),
}

impl From<Failure> for ClientError {
    fn from(f: Failure) -> Self {
        match f.code {
            EX_CONFIG => ClientError::Config(f.message),
            EX_USAGE => ClientError::Usage(f.message),
            EX_UNAVAILABLE => ClientError::Unavailable(f.message),
            EX_NOPERM => ClientError::PermissionDenied(f.message),
            EX_TEMPFAIL => ClientError::TimedOut(f.message),
            EX_CANTCREAT => ClientError::CannotCreate(f.message),
            EX_PROTOCOL => ClientError::Protocol(f.message),
            _ => ClientError::Os {
                what: f.message,
                errno: Errno::UnknownErrno,
            },
        }
    }
}

impl ClientError {
    /// The exit code (`128 + signal` for an interruption, as a shell shows it).
    pub fn code(&self) -> u8 {
        match self {
            ClientError::Unavailable(_) => EX_UNAVAILABLE,
            ClientError::PermissionDenied(_) => EX_NOPERM,
            ClientError::TimedOut(_) => EX_TEMPFAIL,
            ClientError::CannotCreate(_) => EX_CANTCREAT,
            ClientError::Config(_) => EX_CONFIG,
            ClientError::Usage(_) => EX_USAGE,
            ClientError::Protocol(_) => EX_PROTOCOL,
            ClientError::Os { .. } => EX_OSERR,
            ClientError::Interrupted(sig) => 128u8.saturating_add(*sig as u8),
        }
    }

    pub(crate) fn os(what: String, errno: Errno) -> ClientError {
        ClientError::Os { what, errno }
    }
}

pub(crate) fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// "mode 0620, owner root, group fifo-ping" and the advice for someone who
/// may not write there.
pub(crate) fn permission_advice(st: &FileStat, needs_write_bits: u32) -> (String, String) {
    let (group, entry) = (group_name(st.st_gid), group_entry(st.st_gid));
    let facts = format!(
        "mode {:04o}, owner {}, group {group}",
        st.st_mode & 0o7777,
        user_name(st.st_uid)
    );
    let gid = Gid::from_raw(st.st_gid);
    let in_group = getegid() == gid || getgroups().is_ok_and(|groups| groups.contains(&gid));
    let advice = if in_group && st.st_mode & needs_write_bits != needs_write_bits {
        format!("this user is in group {group}, but the mode gives the group no write access")
    } else {
        let me = user_name(geteuid().as_raw());
        let listed = entry.is_some_and(|g| g.mem.contains(&me));
        if listed && !in_group {
            format!(
                "add the user to group {group} ({me} is listed in it, but this session is not: log in again so it takes effect)"
            )
        } else {
            format!("add the user to group {group}")
        }
    };
    (facts, advice)
}

pub(crate) fn describe_non_fifo(path: &Path, st: &FileStat) -> String {
    if is_type(st, SFlag::S_IFLNK) {
        match readlink(path) {
            Ok(target) => format!("a symbolic link to {}", Path::new(&target).display()),
            Err(_) => "a symbolic link".to_owned(),
        }
    } else {
        file_type_name(st).to_owned()
    }
}
