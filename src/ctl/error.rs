use crate::users::{group_entry, group_name, user_name};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::readlink;
use nix::sys::stat::{FileStat, SFlag};
use nix::unistd::{Gid, getegid, geteuid, getgroups};

use crate::exit::{EX_OSERR, Failure};
use crate::fifo::file_type_name;

// ---------------------------------------------------------------------------
// Errors

/// Why a client operation stopped.
#[derive(Debug)]
pub enum ClientError {
    /// A failure with its exit code and one line for a person.
    Failed(Failure),
    /// SIGINT, SIGTERM or SIGHUP arrived while waiting; everything the
    /// client created is gone by the time this reaches `main`.
    Interrupted(libc::c_int),
}

impl From<Failure> for ClientError {
    fn from(f: Failure) -> Self {
        ClientError::Failed(f)
    }
}

impl ClientError {
    /// The exit code (`128 + signal` for an interruption, as a shell shows it).
    pub fn code(&self) -> u8 {
        match self {
            ClientError::Failed(f) => f.code,
            ClientError::Interrupted(sig) => 128u8.saturating_add(*sig as u8),
        }
    }
}

pub(crate) fn failure(code: u8, message: String) -> ClientError {
    ClientError::Failed(Failure { code, message })
}

pub(crate) fn os_failure(what: String, errno: Errno) -> ClientError {
    failure(EX_OSERR, format!("{what}: {}", errno.desc()))
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
