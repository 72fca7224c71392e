//! Answers to round-trip requests: for `?ping NAME` one `pong`, for
//! `?status NAME` the status report ([`crate::daemon::status`]), written into
//! the client's own FIFO `NAME` inside the reply directory (in the spirit of
//! s6 fifodirs), the requester named and limited, and stale entries of the
//! directory removed.
//!
//! The directory is held open and the reply FIFO is reached relative to it
//! by a plain name, checked to be a FIFO before and after opening, opened
//! write-only and non-blocking without following links, written once and
//! closed. A client that is gone (no reader: `ENXIO`) or a full pipe costs one
//! failed system call; a symlink, a regular file or anything else planted
//! under that name is never opened for writing.
//!
//! The owner of the reply FIFO is the requester: the one thing a FIFO server
//! can learn about who wrote. It is logged, and it is what the per-user limit
//! counts ([`PONGS_PER_USER_PER_SECOND`]): a member flooding `?ping` requests
//! costs the daemon one `fstatat` per request beyond that, not five system
//! calls and a log line.
//!
//! Members create entries in the directory (the packaged one is a small
//! tmpfs of its own); entries older than [`STALE_REPLY_AGE`] are removed by
//! [`ReplyDir::sweep`], which runs a few seconds after inotify reports new
//! entries and again while some remain, so that a flood (or clients killed
//! with SIGKILL) cannot keep round trips from working for long. An idle
//! daemon with an empty directory is never woken by it.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use thiserror::Error;

use crate::fifo::{At, VerifyError, file_type_name, is_fifo, look, open_verified};
use crate::protocol::is_plain_reply_name;
use crate::users::user_name;

/// How often to look again for a reply directory that is missing.
const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

pub const PONG: &[u8] = b"pong\n";

/// An entry of the reply directory older than this (by its change time,
/// which its owner cannot set back) is stale: its client was killed or it was
/// never a client's. Clients finish a round trip well within it
/// ([`MAX_ROUND_TRIP`]), so a waiting client's FIFO is never removed.
pub const STALE_REPLY_AGE: Duration = Duration::from_secs(20);
/// The longest round trip `fifo-pingctl ping --wait` waits for: its
/// `--timeout` is capped to this, below [`STALE_REPLY_AGE`].
pub const MAX_ROUND_TRIP: Duration = Duration::from_secs(15);
/// A sweep runs this long after new entries were reported (most are gone by
/// then: clients remove their own), and again this often while stale or
/// young entries remain. With [`STALE_REPLY_AGE`]: round trips work again at
/// most 25 s (and a sweep) after a flood stops.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Entries looked at per sweep at most; the packaged area has 4096 inodes.
const SWEEP_MAX_ENTRIES: usize = 65_536;
/// Pongs per requesting user and second, with a burst of as many: far more
/// than any health check sends, and what it bounds is the work a member can
/// make the daemon do for them (open, fstat, write, close and a log line per
/// pong). Requests beyond it are counted and not served.
pub const PONGS_PER_USER_PER_SECOND: u32 = 1000;
/// How long the owner found for a reply name is remembered to refuse that
/// name's requests without a look while its owner is over the limit. A flood
/// reuses its names (there are at most as many as the area has inodes), so
/// each costs one `fstatat` per this interval instead of one per request,
/// and an honest request queued behind a flood waits that much less. Never
/// used to serve: a pong always follows a fresh look.
const OWNER_MEMORY: Duration = Duration::from_millis(100);
/// Reply names remembered at most (the packaged area has 4096 inodes).
const MAX_REMEMBERED_NAMES: usize = 4096;
/// The time one pong token takes to be earned.
const PER_TOKEN: Duration = Duration::from_nanos(1_000_000_000 / PONGS_PER_USER_PER_SECOND as u64);
/// Users tracked by the limit and the name cache at most. Only members can
/// create reply FIFOs, so this is only reached on hosts with very many
/// members; then the tables start afresh (memory stays bounded).
const MAX_TRACKED_USERS: usize = 1024;

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
    #[error("{name}: the reply FIFO is full; answer dropped")]
    Full { name: String },
    /// No name: this one is built for every request of a flood.
    #[error(
        "uid {uid} asked for more than {PONGS_PER_USER_PER_SECOND} round trips per second; request counted, not answered"
    )]
    Limited { uid: u32 },
    #[error("{name}: cannot reply: {errno}")]
    Os { name: String, errno: Errno },
}

/// Mode of an instance's round-trip area: the daemon lists and sweeps it,
/// members create entries but cannot list them, the sticky bit keeps members
/// from removing each other's. Unlike the packaged default area (3730, set by
/// tmpfiles as root) no set-group-ID bit: the units' RestrictSUIDSGID=yes
/// refuses it to the daemon, and it is not needed, since fifo-pingctl gives
/// its reply FIFO the directory's group itself.
pub const AREA_MODE: u32 = 0o1730;

/// Why an instance's round-trip area could not be made.
#[derive(Debug, Error)]
#[error("{path}: cannot make the instance's round-trip area: {what}")]
pub struct AreaError {
    pub path: PathBuf,
    pub what: String,
}

/// Makes a named instance's round-trip area `area` (a directory in its own
/// runtime directory, where nobody else may write) with
/// [`AREA_MODE`] and the group `group` (the members'), or brings an existing
/// one back to that, on its descriptor: nothing is followed, and a directory
/// that is not ours is refused rather than changed.
pub fn prepare_instance_area(area: &Path, group: Option<u32>) -> Result<(), AreaError> {
    let fail = |what: String| AreaError {
        path: area.to_owned(),
        what,
    };
    let (Some(parent), Some(name)) = (area.parent(), area.file_name()) else {
        return Err(fail("expected a directory inside another".into()));
    };
    let dir_flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let parent = open(parent, dir_flags | OFlag::O_RDONLY, Mode::empty())
        .map_err(|e| fail(format!("open {}: {}", parent.display(), e.desc())))?;
    match nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(fail(format!("mkdir: {}", e.desc()))),
    }
    let dir = openat(&parent, name, dir_flags | OFlag::O_RDONLY, Mode::empty())
        .map_err(|e| fail(format!("open: {}", e.desc())))?;
    let st = nix::sys::stat::fstat(&dir).map_err(|e| fail(format!("fstat: {}", e.desc())))?;
    let ours = nix::unistd::geteuid().as_raw();
    if !is_type(&st, SFlag::S_IFDIR) || st.st_uid != ours {
        return Err(fail(format!(
            "expected a directory owned by uid {ours}, found {} owned by uid {}",
            file_type_name(&st),
            st.st_uid
        )));
    }
    if let Some(gid) = group
        && st.st_gid != gid
    {
        nix::unistd::fchown(&dir, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|e| fail(format!("chgrp to gid {gid}: {}", e.desc())))?;
    }
    nix::sys::stat::fchmod(&dir, Mode::from_bits_truncate(AREA_MODE))
        .map_err(|e| fail(format!("chmod {AREA_MODE:04o}: {}", e.desc())))?;
    Ok(())
}

/// What came of one `?ping NAME`.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// The owner of the reply FIFO, when there was one to look at.
    pub requester: Option<u32>,
    pub result: Result<(), ReplyError>,
}

/// What one sweep of the reply directory did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub removed: usize,
    /// Stale entries that could not be removed (a member's non-empty
    /// directory, say).
    pub stuck: usize,
    /// Entries too young to be stale.
    pub young: usize,
}

/// A token bucket per requesting uid.
#[derive(Debug, Default)]
struct RequesterLimits {
    buckets: HashMap<u32, (u32, Instant)>,
}

impl RequesterLimits {
    /// Whether `uid` could be served now (nothing is taken).
    fn has_tokens(&mut self, uid: u32, now: Instant) -> bool {
        self.refill(uid, now) > 0
    }

    fn allow(&mut self, uid: u32, now: Instant) -> bool {
        if self.refill(uid, now) == 0 {
            return false;
        }
        if let Some((tokens, _)) = self.buckets.get_mut(&uid) {
            *tokens -= 1;
        }
        true
    }

    /// Refills `uid`'s bucket for the time passed; returns its tokens.
    fn refill(&mut self, uid: u32, now: Instant) -> u32 {
        if self.buckets.len() >= MAX_TRACKED_USERS && !self.buckets.contains_key(&uid) {
            self.buckets.clear();
        }
        let (tokens, since) = self
            .buckets
            .entry(uid)
            .or_insert((PONGS_PER_USER_PER_SECOND, now));
        // Whole tokens earned since `since`; `since` moves by exactly the
        // time they took, so no fraction is lost however often we look.
        let per_token = Duration::from_secs(1) / PONGS_PER_USER_PER_SECOND;
        let elapsed = now.saturating_duration_since(*since);
        let earned = (elapsed.as_nanos() / per_token.as_nanos()).min(u128::from(u32::MAX)) as u32;
        if earned > 0 {
            *tokens = tokens.saturating_add(earned).min(PONGS_PER_USER_PER_SECOND);
            *since = if *tokens == PONGS_PER_USER_PER_SECOND {
                now
            } else {
                *since + per_token * earned
            };
        }
        *tokens
    }
}

/// User names by uid, looked up once each (a lookup reads the user database).
#[derive(Debug, Default)]
pub struct UserNames {
    names: HashMap<u32, String>,
}

impl UserNames {
    pub fn get(&mut self, uid: u32) -> &str {
        if self.names.len() >= MAX_TRACKED_USERS && !self.names.contains_key(&uid) {
            self.names.clear();
        }
        self.names.entry(uid).or_insert_with(|| user_name(uid))
    }
}

pub struct ReplyDir {
    path: PathBuf,
    dir: Option<OwnedFd>,
    last_attempt: Option<Instant>,
    /// Reports new entries, so that a sweep is due; None where inotify is
    /// not available (then sweeps follow requests only).
    watch: Option<Inotify>,
    next_sweep: Option<Instant>,
    limits: RequesterLimits,
    /// Owner and time of the last look by reply name, and until when the
    /// owner has no token left ([`OWNER_MEMORY`]).
    owners: HashMap<String, (u32, Instant, Instant)>,
}

impl ReplyDir {
    pub fn new(path: &Path) -> ReplyDir {
        let mut dir = ReplyDir {
            path: path.to_owned(),
            dir: None,
            last_attempt: None,
            watch: None,
            next_sweep: None,
            limits: RequesterLimits::default(),
            owners: HashMap::new(),
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
        // O_PATH: looking names up needs only `x` (the directory is mode
        // 3730; a daemon that is not its owner has no read bit).
        self.dir = open(
            &self.path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok();
        self.watch = None;
        if self.dir.is_some() {
            // Left over from before this start (a flood, killed clients):
            // look soon.
            self.next_sweep = Some(now + SWEEP_INTERVAL);
            self.watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
                .ok()
                .filter(|watch| {
                    watch
                        .add_watch(
                            &self.path,
                            AddWatchFlags::IN_CREATE
                                | AddWatchFlags::IN_MOVED_TO
                                | AddWatchFlags::IN_ONLYDIR
                                | AddWatchFlags::IN_DONT_FOLLOW,
                        )
                        .is_ok()
                });
        }
    }

    /// The descriptor to poll for new entries, if any.
    pub fn watch_fd(&self) -> Option<BorrowedFd<'_>> {
        self.watch.as_ref().map(|w| w.as_fd())
    }

    /// The watch descriptor was readable: drain it and plan a sweep.
    pub fn entries_created(&mut self, now: Instant) {
        let mut gone = false;
        if let Some(watch) = &self.watch {
            // Each read takes a buffer's worth; an overflowed queue only
            // says "many", which is all we need to know.
            loop {
                match watch.read_events() {
                    Ok(events) if !events.is_empty() => {
                        gone |= events
                            .iter()
                            .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED));
                    }
                    _ => break,
                }
            }
        }
        if gone {
            // The directory went away (unmounted, removed): look for it
            // again at the next request.
            self.dir = None;
            self.watch = None;
        }
        self.next_sweep.get_or_insert(now + SWEEP_INTERVAL);
    }

    /// When the next sweep is due, if one is.
    pub fn sweep_deadline(&self) -> Option<Instant> {
        self.next_sweep.filter(|_| self.dir.is_some())
    }

    /// Removes entries older than `max_age` ([`STALE_REPLY_AGE`] in the
    /// daemon); plans the next sweep while any entries remain.
    pub fn sweep(&mut self, now: Instant, max_age: Duration) -> Result<Sweep, Errno> {
        self.next_sweep = None;
        let Some(dir) = &self.dir else {
            return Ok(Sweep::default());
        };
        let listing = openat(
            dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut listing = Dir::from_fd(listing)?;
        // Change times are wall-clock times.
        let cutoff = SystemTime::now()
            .checked_sub(max_age)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let mut sweep = Sweep::default();
        for entry in listing.iter().take(SWEEP_MAX_ENTRIES) {
            let Ok(entry) = entry else { break };
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let Ok(st) = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
                continue; // removed meanwhile
            };
            let changed = Duration::new(
                u64::try_from(st.st_ctime).unwrap_or(0),
                u32::try_from(st.st_ctime_nsec).unwrap_or(0),
            );
            if changed >= cutoff {
                sweep.young += 1;
                continue;
            }
            let how = if is_type(&st, SFlag::S_IFDIR) {
                UnlinkatFlags::RemoveDir
            } else {
                UnlinkatFlags::NoRemoveDir
            };
            match unlinkat(dir, name, how) {
                Ok(()) | Err(Errno::ENOENT) => sweep.removed += 1,
                Err(_) => sweep.stuck += 1,
            }
        }
        if sweep.young + sweep.stuck > 0 {
            self.next_sweep = Some(now + SWEEP_INTERVAL);
        }
        Ok(sweep)
    }

    /// Answers `?ping name`: one `pong` into the reply FIFO `name`, unless
    /// its owner is over [`PONGS_PER_USER_PER_SECOND`].
    pub fn send_pong(&mut self, name: &str, now: Instant) -> Answer {
        self.send_reply(name, now, || PONG.to_vec())
    }

    /// Answers a round-trip request: `reply()` (made only when it is to be
    /// sent) into the reply FIFO `name`, in one `write`, unless its owner is
    /// over [`PONGS_PER_USER_PER_SECOND`] (`?ping` and `?status` answers
    /// share that limit).
    pub fn send_reply(
        &mut self,
        name: &str,
        now: Instant,
        reply: impl FnOnce() -> Vec<u8>,
    ) -> Answer {
        if let Some((uid, looked, refused_until)) = self.owners.get_mut(name)
            && now.saturating_duration_since(*looked) < OWNER_MEMORY
            && (now < *refused_until || !self.limits.has_tokens(*uid, now))
        {
            // Refused on sight until the owner's next token is due.
            *refused_until = (*refused_until).max(now + PER_TOKEN);
            return Answer {
                requester: Some(*uid),
                result: Err(ReplyError::Limited { uid: *uid }),
            };
        }
        let before = match self.look_up(name, now) {
            Ok(st) => st,
            Err(e) => {
                return Answer {
                    requester: None,
                    result: Err(e),
                };
            }
        };
        let requester = Some(before.st_uid);
        if self.owners.len() >= MAX_REMEMBERED_NAMES && !self.owners.contains_key(name) {
            self.owners.clear();
        }
        if !self.limits.allow(before.st_uid, now) {
            // No token before the next one is earned: until then the name
            // is refused on sight.
            self.owners
                .insert(name.to_owned(), (before.st_uid, now, now + PER_TOKEN));
            return Answer {
                requester,
                result: Err(ReplyError::Limited { uid: before.st_uid }),
            };
        }
        self.owners
            .insert(name.to_owned(), (before.st_uid, now, now));
        Answer {
            requester,
            result: self.write_reply(name, &before, &reply()),
        }
    }

    /// The reply FIFO's status, looked at without opening it (opening a
    /// device node can have side effects).
    fn look_up(&mut self, name: &str, now: Instant) -> Result<FileStat, ReplyError> {
        if !is_plain_reply_name(name.as_bytes()) {
            return Err(ReplyError::BadName(name.to_owned()));
        }
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
        let before = match look(At::In(dir.as_fd(), name), false) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Err(ReplyError::Missing(name.to_owned())),
            Err(errno) => {
                return Err(ReplyError::Os {
                    name: name.to_owned(),
                    errno,
                });
            }
        };
        if !is_fifo(&before) {
            return Err(ReplyError::NotAFifo {
                name: name.to_owned(),
                found: file_type_name(&before),
            });
        }
        Ok(before)
    }

    fn write_reply(&self, name: &str, before: &FileStat, reply: &[u8]) -> Result<(), ReplyError> {
        let Some(dir) = &self.dir else {
            return Err(ReplyError::NoDirectory(self.path.clone()));
        };
        let os = |errno| ReplyError::Os {
            name: name.to_owned(),
            errno,
        };
        let fd = open_verified(At::In(dir.as_fd(), name), OFlag::O_WRONLY, before, false).map_err(
            |e| match e {
                VerifyError::Open(Errno::ENXIO) => ReplyError::ClientGone(name.to_owned()),
                VerifyError::Open(Errno::ENOENT) => ReplyError::Missing(name.to_owned()),
                VerifyError::Open(Errno::ELOOP) => ReplyError::NotAFifo {
                    name: name.to_owned(),
                    found: "a symbolic link",
                },
                VerifyError::Open(errno) | VerifyError::Stat(errno) => os(errno),
                VerifyError::Swapped => ReplyError::NotAFifo {
                    name: name.to_owned(),
                    found: "something swapped in while opening",
                },
            },
        )?;
        match nix::unistd::write(&fd, reply) {
            // The client's pipe is empty and far larger than any reply.
            Ok(n) if n == reply.len() => Ok(()),
            Ok(_) => Err(ReplyError::Full {
                name: name.to_owned(),
            }),
            Err(Errno::EAGAIN) => Err(ReplyError::Full {
                name: name.to_owned(),
            }),
            Err(Errno::EPIPE) => Err(ReplyError::ClientGone(name.to_owned())),
            Err(errno) => Err(os(errno)),
        }
    }
}

fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::mkfifo;
    use std::io::Read;

    fn pong(replies: &mut ReplyDir, name: &str) -> Result<(), ReplyError> {
        replies.send_pong(name, Instant::now()).result
    }

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
        let answer = replies.send_pong("client-1", Instant::now());
        assert_eq!(answer.result, Ok(()));
        assert_eq!(answer.requester, Some(nix::unistd::geteuid().as_raw()));
        let mut got = [0u8; 16];
        let n = reader.read(&mut got).expect("read pong");
        assert_eq!(&got[..n], PONG);

        // Nobody reading: ENXIO, reported, no blocking.
        mkfifo(&dir.path().join("gone"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        assert_eq!(
            pong(&mut replies, "gone"),
            Err(ReplyError::ClientGone("gone".into()))
        );

        // A regular file and a symlink are never written.
        std::fs::write(dir.path().join("file"), b"keep").expect("write");
        assert!(matches!(
            pong(&mut replies, "file"),
            Err(ReplyError::NotAFifo { .. })
        ));
        assert_eq!(
            std::fs::read(dir.path().join("file")).expect("read"),
            b"keep"
        );
        std::os::unix::fs::symlink(&fifo, dir.path().join("link")).expect("symlink");
        assert!(matches!(
            pong(&mut replies, "link"),
            Err(ReplyError::NotAFifo { .. })
        ));
        assert!(matches!(
            pong(&mut replies, "../x"),
            Err(ReplyError::BadName(_))
        ));
        let absent = replies.send_pong("absent", Instant::now());
        assert_eq!(absent.result, Err(ReplyError::Missing("absent".into())));
        assert_eq!(absent.requester, None);
    }

    #[test]
    fn a_missing_directory_turns_replies_off() {
        let mut replies = ReplyDir::new(Path::new("/nonexistent/fifo-pingd-reply"));
        assert!(!replies.is_available());
        assert!(matches!(
            pong(&mut replies, "x"),
            Err(ReplyError::NoDirectory(_))
        ));
        assert_eq!(replies.sweep_deadline(), None);
    }

    #[test]
    fn pongs_are_limited_per_user_and_the_limit_refills() {
        let mut limits = RequesterLimits::default();
        let start = Instant::now();
        for _ in 0..PONGS_PER_USER_PER_SECOND {
            assert!(limits.allow(1001, start));
        }
        assert!(!limits.allow(1001, start), "the burst is used up");
        assert!(
            limits.allow(1002, start),
            "another user has a bucket of its own"
        );
        // One token per 1/rate seconds, none lost to rounding.
        let per_token = Duration::from_secs(1) / PONGS_PER_USER_PER_SECOND;
        assert!(!limits.allow(1001, start + per_token / 2));
        assert!(limits.allow(1001, start + per_token));
        assert!(!limits.allow(1001, start + per_token));
        let later = start + Duration::from_secs(10);
        let served = (0..2 * PONGS_PER_USER_PER_SECOND)
            .filter(|_| limits.allow(1001, later))
            .count();
        assert_eq!(
            served, PONGS_PER_USER_PER_SECOND as usize,
            "refilled to the burst, no more"
        );
    }

    #[test]
    fn a_name_over_its_owners_limit_is_refused_without_a_look_for_a_while() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut replies = ReplyDir::new(dir.path());
        mkfifo(&dir.path().join("flood"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let now = Instant::now();
        for _ in 0..PONGS_PER_USER_PER_SECOND {
            // Nobody reads: each is a failed pong, but a served request.
            let answer = replies.send_pong("flood", now);
            assert_eq!(answer.result, Err(ReplyError::ClientGone("flood".into())));
        }
        // Gone from the directory: a look would say Missing; the remembered
        // owner, over its limit (no token earned yet), refuses it without one.
        std::fs::remove_file(dir.path().join("flood")).expect("rm");
        let uid = nix::unistd::geteuid().as_raw();
        let per_token = Duration::from_secs(1) / PONGS_PER_USER_PER_SECOND;
        assert_eq!(
            replies.send_pong("flood", now + per_token / 2).result,
            Err(ReplyError::Limited { uid })
        );
        // After the memory has lapsed (and tokens were earned), a look again.
        assert_eq!(
            replies.send_pong("flood", now + OWNER_MEMORY).result,
            Err(ReplyError::Missing("flood".into()))
        );
    }

    #[test]
    fn the_limit_tables_stay_bounded() {
        let mut limits = RequesterLimits::default();
        let now = Instant::now();
        for uid in 0..(3 * MAX_TRACKED_USERS as u32) {
            limits.allow(uid, now);
        }
        assert!(limits.buckets.len() <= MAX_TRACKED_USERS);
        let mut names = UserNames::default();
        for uid in 60_000..(60_000 + 2 * MAX_TRACKED_USERS as u32) {
            names.get(uid);
        }
        assert!(names.names.len() <= MAX_TRACKED_USERS);
        assert_eq!(names.get(0), "root");
    }

    #[test]
    fn a_sweep_removes_stale_entries_of_every_kind_and_keeps_young_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        mkfifo(&d.join("old-fifo"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        std::fs::write(d.join("old-file"), b"x").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", d.join("old-link")).expect("symlink");
        std::fs::create_dir(d.join("old-empty-dir")).expect("mkdir");
        std::fs::create_dir(d.join("old-full-dir")).expect("mkdir");
        std::fs::write(d.join("old-full-dir/inside"), b"x").expect("write");
        let mut replies = ReplyDir::new(d);
        let now = Instant::now();
        // Age zero: everything that exists now is stale.
        let sweep = replies.sweep(now, Duration::ZERO).expect("sweep");
        assert_eq!(
            sweep,
            Sweep {
                removed: 4,
                stuck: 1,
                young: 0
            }
        );
        let left: Vec<_> = std::fs::read_dir(d)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["old-full-dir"]);
        assert!(
            std::path::Path::new("/etc/passwd").exists(),
            "a link is removed, never followed"
        );
        assert_eq!(replies.sweep_deadline(), Some(now + SWEEP_INTERVAL));

        // The packaged age: a fresh entry is young and kept.
        std::fs::remove_dir_all(d.join("old-full-dir")).expect("rm");
        mkfifo(&d.join("fresh"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let sweep = replies.sweep(now, STALE_REPLY_AGE).expect("sweep");
        assert_eq!(sweep.young, 1);
        assert!(d.join("fresh").exists());
        std::fs::remove_file(d.join("fresh")).expect("rm");
        assert_eq!(
            replies.sweep(now, STALE_REPLY_AGE).expect("sweep"),
            Sweep::default()
        );
        assert_eq!(
            replies.sweep_deadline(),
            None,
            "nothing left: no more wake-ups"
        );
    }

    #[test]
    fn new_entries_plan_a_sweep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut replies = ReplyDir::new(dir.path());
        let now = Instant::now();
        replies.sweep(now, STALE_REPLY_AGE).expect("sweep");
        assert_eq!(replies.sweep_deadline(), None);
        let watch = replies.watch_fd().expect("inotify watch");
        mkfifo(&dir.path().join("c"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let mut fds = [nix::poll::PollFd::new(watch, nix::poll::PollFlags::POLLIN)];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).expect("poll");
        assert_eq!(ready, 1, "inotify reports the new entry");
        replies.entries_created(now);
        assert_eq!(replies.sweep_deadline(), Some(now + SWEEP_INTERVAL));
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
