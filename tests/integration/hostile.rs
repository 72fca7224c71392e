//! Hostile file system: what an attacker can put at the FIFO path, around it
//! or at the configuration path, checked against the real binary.
//!
//! Every case ends in a clear error (one `fifo-pingd: ` line, exit 73 or 78)
//! or safe handling, and a fingerprint of everything in the test's directory
//! (type, inode, mode, owner, size, mtime, ctime, content, link target) shows
//! that nothing that is not the daemon's own was created, deleted, written,
//! chmod-ed or chown-ed. To make a mistake visible, the daemon is configured
//! to chmod 0666 and (as root) to chown to 65534: had it followed a link, the
//! victim would carry that mode and owner.
//!
//! The race harness (`HOSTILE_RACE_ATTEMPTS`, default 2000, bounded to 20 s)
//! swaps a symlink in and out of the FIFO path while the daemon creates and
//! opens it, thousands of times.

use crate::common::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Fingerprints

/// Everything that changes when a file is written, chmod-ed, chown-ed,
/// replaced, or (for a directory) gains or loses an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    kind: &'static str,
    dev: u64,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    size: u64,
    rdev: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    content: Option<Vec<u8>>,
    link: Option<PathBuf>,
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let md = fs::symlink_metadata(path).ok()?;
    let kind = node_info(path).map(|n| n.kind).unwrap_or("gone");
    let kind = if kind == "other" {
        use std::os::unix::fs::FileTypeExt;
        if md.file_type().is_char_device() {
            "char device"
        } else {
            "other"
        }
    } else {
        kind
    };
    Some(Fingerprint {
        kind,
        dev: md.dev(),
        ino: md.ino(),
        mode: md.mode(),
        uid: md.uid(),
        gid: md.gid(),
        nlink: md.nlink(),
        size: md.size(),
        rdev: md.rdev(),
        mtime: (md.mtime(), md.mtime_nsec()),
        ctime: (md.ctime(), md.ctime_nsec()),
        content: md.is_file().then(|| fs::read(path).unwrap_or_default()),
        link: fs::read_link(path).ok(),
    })
}

/// Fingerprints of `root` and everything under it (links not followed).
fn tree(root: &Path) -> BTreeMap<PathBuf, Fingerprint> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Some(fp) = fingerprint(&p) else { continue };
        if fp.kind == "directory"
            && let Ok(entries) = fs::read_dir(&p)
        {
            todo.extend(entries.flatten().map(|e| e.path()));
        }
        out.insert(p, fp);
    }
    out
}

/// Describes what differs between two trees, or `None`.
fn tree_diff(
    before: &BTreeMap<PathBuf, Fingerprint>,
    after: &BTreeMap<PathBuf, Fingerprint>,
) -> Option<String> {
    let mut diffs = Vec::new();
    for (p, b) in before {
        match after.get(p) {
            None => diffs.push(format!("deleted: {} (was {b:?})", p.display())),
            Some(a) if a != b => diffs.push(format!(
                "changed: {}\n      before {b:?}\n      after  {a:?}",
                p.display()
            )),
            _ => {}
        }
    }
    for (p, a) in after {
        if !before.contains_key(p) {
            diffs.push(format!("created: {} ({a:?})", p.display()));
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("\n    "))
}

// ---------------------------------------------------------------------------
// Helpers

fn write_file(path: &Path, content: &[u8], mode: u32) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

/// A config that would make any mistake visible: chmod 0666, and as root
/// chown to 65534:65534.
fn greedy_config() -> Config {
    let mut cfg = Config {
        mode: Some("0666".into()),
        ..Config::default()
    };
    if is_root() {
        cfg.owner = Some(NOBODY.to_string());
        cfg.group = Some(NOBODY.to_string());
    }
    cfg
}

/// Spawns the daemon on `env` (config written first, so the snapshot taken
/// here includes it), expects exit `code` with exactly one stderr line
/// `fifo-pingd: ...` containing each of `needles`, no READY=1, and the whole
/// test directory unchanged.
#[track_caller]
fn expect_refused_untouched(env: TestEnv, cfg: &Config, code: i32, needles: &[&str]) -> Daemon {
    env.write_config(cfg);
    let fifo = cfg.path.clone().unwrap_or_else(|| env.fifo.clone());
    let before = tree(env.path());
    let d = env.spawn_raw(fifo);
    d.expect_exit_code(code, TIMEOUT);
    let lines: Vec<String> = d
        .stderr
        .texts()
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.len() != 1 || !lines[0].starts_with("fifo-pingd: ") {
        d.fail("expected exactly one stderr line starting with `fifo-pingd: `");
    }
    for n in needles {
        if !lines[0].contains(n) {
            d.fail(&format!("the error line should contain {n:?}"));
        }
    }
    if d.notify()
        .texts()
        .iter()
        .any(|t| t.lines().any(|l| l == "READY=1"))
    {
        d.fail("READY=1 must not be sent when the daemon refuses to start");
    }
    if let Some(diff) = tree_diff(&before, &tree(d.dir())) {
        d.fail(&format!(
            "the daemon changed files it refused to use:\n    {diff}"
        ));
    }
    eprintln!("refused as expected: {}", lines[0]);
    d
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", link.display(), target.display()));
}

fn chown(path: &Path, uid: u32, gid: u32) {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------
// What sits at the FIFO path at start

/// The path is a symlink to a passwd-like file (created in the temp dir):
/// refused, exit 73; the file keeps its content, mode, owner and ctime.
#[test]
fn symlink_to_a_passwd_like_file_is_refused() {
    let env = TestEnv::new();
    let victim = env.path().join("passwd");
    write_file(&victim, PASSWD, 0o644);
    symlink(&victim, &env.fifo);
    let path = env.fifo.display().to_string();
    expect_refused_untouched(
        env,
        &greedy_config(),
        EX_CANTCREAT,
        &[&path, "expected a FIFO", "found a symbolic link"],
    );
}

/// The path is a symlink to a directory: refused, nothing created inside.
#[test]
fn symlink_to_a_directory_is_refused() {
    let env = TestEnv::new();
    let victim = env.path().join("etc");
    fs::create_dir(&victim).expect("mkdir");
    write_file(&victim.join("shadow"), b"root:*:1::::::\n", 0o640);
    symlink(&victim, &env.fifo);
    expect_refused_untouched(
        env,
        &greedy_config(),
        EX_CANTCREAT,
        &["found a symbolic link"],
    );
}

/// The path is a symlink to another FIFO (someone else's control FIFO, mode
/// 0600): refused; that FIFO is not chmod-ed to 0666 nor removed at exit.
#[test]
fn symlink_to_another_fifo_is_refused() {
    let env = TestEnv::new();
    let victim = env.path().join("other.fifo");
    mkfifo(&victim, 0o600);
    symlink(&victim, &env.fifo);
    expect_refused_untouched(
        env,
        &greedy_config(),
        EX_CANTCREAT,
        &["found a symbolic link"],
    );
}

/// A dangling symlink into a directory where the FIFO would be created:
/// refused, nothing created at the target.
#[test]
fn dangling_symlink_is_refused() {
    let env = TestEnv::new();
    symlink(&env.path().join("created-through-the-link"), &env.fifo);
    expect_refused_untouched(
        env,
        &greedy_config(),
        EX_CANTCREAT,
        &["found a symbolic link"],
    );
}

/// A regular file at the path: refused, content and mode kept.
#[test]
fn regular_file_is_refused() {
    let env = TestEnv::new();
    write_file(&env.fifo, b"precious data\n", 0o600);
    expect_refused_untouched(
        env,
        &greedy_config(),
        EX_CANTCREAT,
        &["found a regular file"],
    );
}

/// A device node (char 1:3, like /dev/null, made in the temp dir) at the
/// path: refused before it is opened, left as it was. Root only (mknod).
#[test]
fn device_node_is_refused() {
    if !is_root() {
        return skip("device_node_is_refused", "mknod needs root");
    }
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    let env = TestEnv::new();
    mknod(
        &env.fifo,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o600),
        makedev(1, 3),
    )
    .expect("mknod c 1 3");
    expect_refused_untouched(
        env,
        &greedy_config(),
        EX_CANTCREAT,
        &["found a character device"],
    );
}

/// A FIFO owned by another user (65534) with no owner configured: refused,
/// not chmod-ed, not chown-ed, not removed. Root only (chown).
#[test]
fn fifo_owned_by_another_user_is_refused() {
    if !is_root() {
        return skip("fifo_owned_by_another_user_is_refused", "chown needs root");
    }
    let env = TestEnv::new();
    mkfifo(&env.fifo, 0o600);
    chown(&env.fifo, NOBODY, NOBODY);
    let cfg = Config {
        mode: Some("0666".into()),
        ..Config::default()
    };
    expect_refused_untouched(env, &cfg, EX_CANTCREAT, &["owned by uid 65534"]);
}

/// Contract: an existing FIFO owned by the *configured* owner is reused
/// (same inode) and given the configured mode; a FIFO of a third user (65533)
/// still is not. Root only.
#[test]
fn fifo_of_the_configured_owner_is_reused_but_not_a_third_users() {
    if !is_root() {
        return skip(
            "fifo_of_the_configured_owner_is_reused_but_not_a_third_users",
            "chown needs root",
        );
    }
    let env = TestEnv::new();
    mkfifo(&env.fifo, 0o600);
    chown(&env.fifo, 65533, 65533);
    expect_refused_untouched(env, &greedy_config(), EX_CANTCREAT, &["owned by uid 65533"]);

    let env = TestEnv::new();
    mkfifo(&env.fifo, 0o600);
    chown(&env.fifo, NOBODY, NOBODY);
    let ino = node_info(&env.fifo).expect("lstat").ino;
    let d = env.spawn(&greedy_config());
    match d.wait_ready().fifo_at_receipt {
        Some(Ok(n)) if n.ino == ino && n.mode == 0o666 && n.uid == NOBODY => {}
        other => d.fail(&format!(
            "expected the configured owner's FIFO reused (ino {ino}) with mode 0666, found {other:?}"
        )),
    }
    d.write_fifo(b"ping\n");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
}

/// The FIFO's directory is group- or world-writable without the sticky bit,
/// or owned by another user: refused (exit 73, the directory named), nothing
/// created in it, its mode untouched.
#[test]
fn unsafe_parent_directories_are_refused() {
    let mut cases: Vec<(u32, Option<u32>)> =
        vec![(0o775, None), (0o770, None), (0o777, None), (0o757, None)];
    if is_root() {
        cases.push((0o755, Some(NOBODY)));
    } else {
        skip(
            "unsafe_parent_directories_are_refused (owned by another user)",
            "chown needs root",
        );
    }
    for (mode, owner) in cases {
        let env = TestEnv::new();
        let dir = env.path().join("spool");
        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
        if let Some(uid) = owner {
            chown(&dir, uid, uid);
        }
        let cfg = Config {
            path: Some(dir.join("fifo")),
            ..greedy_config()
        };
        let dir_text = dir.display().to_string();
        eprintln!("parent directory mode {mode:04o}, owner {owner:?}:");
        expect_refused_untouched(
            env,
            &cfg,
            EX_CANTCREAT,
            &[&dir_text, "refusing to create the FIFO in it"],
        );
    }
}

// ---------------------------------------------------------------------------
// The race: a symlink swapped in between creation and open

/// Reads the child's stderr until a line contains `listening on` (`Ok(true)`),
/// EOF (`Ok(false)`), or the deadline passes (`Err`). Returns what was read.
fn read_until_listening(child: &mut Child, deadline: Instant) -> Result<(bool, String), String> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stderr = child.stderr.as_mut().expect("stderr piped");
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if String::from_utf8_lossy(&text).contains("listening on") {
            return Ok((true, String::from_utf8_lossy(&text).into_owned()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(String::from_utf8_lossy(&text).into_owned());
        }
        let ready = {
            let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLIN)];
            let ms = left.as_millis().min(1000) as u16;
            poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0)
        };
        if ready == 0 {
            continue;
        }
        match stderr.read(&mut buf) {
            Ok(0) => return Ok((false, String::from_utf8_lossy(&text).into_owned())),
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read stderr: {e}")),
        }
    }
}

fn wait_child(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// An attacker (here root, stronger than any real one: the daemon refuses
/// directories others may write to) flips the FIFO path between nothing and
/// a symlink to a passwd-like file, as fast as it can, while the daemon
/// creates (`mkfifo`), inspects (`lstat`), opens (`O_NOFOLLOW`) and checks
/// (`fstat`, same inode) the FIFO. Thousands of attempts, each ending in a
/// clear exit 73 or a daemon listening on its own FIFO; then a symlink is put
/// at the path and the daemon is stopped: the symlink must survive. The
/// victim is never written, chmod-ed or chown-ed (checked after every
/// attempt).
#[test]
fn race_symlink_swapped_in_between_creation_and_open() {
    let attempts: u64 = std::env::var("HOSTILE_RACE_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let budget = Duration::from_secs(if attempts > 2000 { 600 } else { 20 });
    let dir = tempfile::Builder::new()
        .prefix("fifo-pingd-race.")
        .tempdir()
        .expect("tempdir");
    let victim = dir.path().join("passwd");
    write_file(&victim, PASSWD, 0o644);
    let fifo = dir.path().join("fifo");
    let config = dir.path().join("fifo-pingd.toml");
    let owner = if is_root() {
        format!("owner = \"{NOBODY}\"\ngroup = \"{NOBODY}\"\n")
    } else {
        String::new()
    };
    write_file(
        &config,
        format!(
            "[fifo]\npath = {}\nmode = \"0666\"\n{owner}[log]\ntarget = \"stderr\"\n",
            toml_str(&fifo.to_string_lossy())
        )
        .as_bytes(),
        0o644,
    );
    let victim_before = fingerprint(&victim).expect("victim");

    let stop = Arc::new(AtomicBool::new(false));
    // `pause` asks the attacker to stop flipping; each flip holds `flipping`,
    // so once the test has set `pause` and taken the lock, no flip is in
    // flight and none will start.
    let pause = Arc::new(AtomicBool::new(true));
    let flipping = Arc::new(Mutex::new(()));
    let flips = Arc::new(AtomicU64::new(0));
    // The attacker's own FIFO (a third user's when root), swapped in for the
    // daemon's: it must never be chmod-ed or chown-ed either.
    let foreign_uid = if is_root() {
        65533
    } else {
        nix::unistd::geteuid().as_raw()
    };
    let mode = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (stop, pause, flipping, flips, mode) = (
            stop.clone(),
            pause.clone(),
            flipping.clone(),
            flips.clone(),
            mode.clone(),
        );
        let (victim, fifo) = (victim.clone(), fifo.clone());
        let tmp = dir.path().join("attacker.tmp");
        std::thread::spawn(move || {
            let mut spin = 0u32;
            let mut pounced = false;
            while !stop.load(Ordering::Relaxed) {
                let _flip = flipping.lock().expect("flip lock");
                if pause.load(Ordering::SeqCst) {
                    pounced = false;
                    drop(_flip);
                    std::thread::yield_now();
                    continue;
                }
                spin = spin.wrapping_mul(1_103_515_245).wrapping_add(12345);
                match mode.load(Ordering::SeqCst) {
                    0 => {
                        // Flip: a symlink in (atomically replacing whatever is
                        // there, the daemon's fresh FIFO included), then out.
                        let _ = fs::remove_file(&tmp);
                        let _ = std::os::unix::fs::symlink(&victim, &tmp);
                        let _ = fs::rename(&tmp, &fifo);
                        for _ in 0..(spin >> 20) % 2000 {
                            std::hint::spin_loop();
                        }
                        let _ = fs::remove_file(&fifo);
                        for _ in 0..(spin >> 8) % 3000 {
                            std::hint::spin_loop();
                        }
                        flips.fetch_add(1, Ordering::Relaxed);
                    }
                    m if !pounced => {
                        // Pounce: wait for the daemon's mkfifo, then at once
                        // (after 0 to ~1 µs) put a symlink (m = 1) or the
                        // attacker's FIFO (m = 2) in its place.
                        let _ = fs::remove_file(&tmp);
                        if m == 1 {
                            let _ = std::os::unix::fs::symlink(&victim, &tmp);
                        } else {
                            let _ = nix::unistd::mkfifo(
                                &tmp,
                                nix::sys::stat::Mode::from_bits_truncate(0o600),
                            );
                            let _ = nix::unistd::chown(
                                &tmp,
                                Some(nix::unistd::Uid::from_raw(foreign_uid)),
                                None,
                            );
                        }
                        loop {
                            if pause.load(Ordering::SeqCst) || stop.load(Ordering::Relaxed) {
                                break;
                            }
                            let is_fifo = nix::sys::stat::lstat(&fifo)
                                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO);
                            if is_fifo {
                                for _ in 0..(spin >> 16) % 4 * 50 {
                                    std::hint::spin_loop();
                                }
                                let _ = fs::rename(&tmp, &fifo);
                                flips.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                        pounced = true;
                    }
                    _ => {
                        drop(_flip);
                        std::thread::yield_now();
                    }
                }
            }
        })
    };

    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let t0 = Instant::now();
    let mut done = 0u64;
    let result = (|| -> Result<(), String> {
        while done < attempts && t0.elapsed() < budget {
            done += 1;
            let _ = fs::remove_file(&fifo);
            mode.store(done % 3, Ordering::SeqCst);
            let mut child = Command::new(BIN)
                .arg("--config")
                .arg(&config)
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("spawn {BIN}: {e}"))?;
            pause.store(false, Ordering::SeqCst);
            let read = read_until_listening(&mut child, Instant::now() + TIMEOUT);
            pause.store(true, Ordering::SeqCst);
            drop(flipping.lock().expect("flip lock"));
            let (listening, text) = match read {
                Ok(r) => r,
                Err(text) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "attempt {done}: the daemon neither listened nor exited within {TIMEOUT:?}; stderr: {text:?}"
                    ));
                }
            };
            let outcome = if listening {
                // Put the attacker's symlink at the path, then stop: it must
                // survive, and the daemon must say it left it alone.
                let tmp = dir.path().join("final.tmp");
                let _ = fs::remove_file(&tmp);
                symlink(&victim, &tmp);
                fs::rename(&tmp, &fifo).map_err(|e| format!("rename: {e}"))?;
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    Signal::SIGTERM,
                )
                .map_err(|e| format!("kill: {e}"))?;
                let mut rest = String::new();
                let _ = child
                    .stderr
                    .take()
                    .expect("stderr")
                    .read_to_string(&mut rest);
                let st = wait_child(&mut child, Instant::now() + TIMEOUT).ok_or_else(|| {
                    format!("attempt {done}: no exit within {TIMEOUT:?} after SIGTERM")
                })?;
                if st.code() != Some(EX_OK) {
                    return Err(format!(
                        "attempt {done}: exit {st:?} after SIGTERM; stderr: {text}{rest}"
                    ));
                }
                if fs::read_link(&fifo).ok().as_deref() != Some(victim.as_path()) {
                    return Err(format!(
                        "attempt {done}: the symlink at the path did not survive the stop; stderr: {text}{rest}"
                    ));
                }
                if !rest.contains("something else is at the path now, left untouched") {
                    return Err(format!(
                        "attempt {done}: expected the stop to report the replaced path; stderr: {text}{rest}"
                    ));
                }
                "opened its own FIFO, left the attacker's symlink at stop".to_owned()
            } else {
                let st = wait_child(&mut child, Instant::now() + TIMEOUT)
                    .ok_or_else(|| format!("attempt {done}: stderr closed but no exit"))?;
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                if st.code() != Some(EX_CANTCREAT)
                    || lines.len() != 1
                    || !lines[0].starts_with("fifo-pingd: ")
                {
                    return Err(format!(
                        "attempt {done}: expected exit 73 and one error line, got {st:?}: {text:?}"
                    ));
                }
                let line = lines[0];
                if line.contains("found a symbolic link") {
                    "refused: found a symbolic link".to_owned()
                } else if line.contains("replaced while opening") {
                    "refused: replaced while opening".to_owned()
                } else if line.contains(&format!("owned by uid {foreign_uid}")) {
                    "refused: the attacker's FIFO (foreign owner)".to_owned()
                } else if line.contains("No such file") {
                    "refused: path vanished between the checks".to_owned()
                } else {
                    format!(
                        "refused: {}",
                        line.split(": ").skip(2).collect::<Vec<_>>().join(": ")
                    )
                }
            };
            let how =
                ["flipping symlink", "pouncing symlink", "pouncing FIFO"][(done % 3) as usize];
            *outcomes.entry(format!("{how}: {outcome}")).or_default() += 1;
            // If the attacker's FIFO is still at the path (a refused
            // attempt), it kept its mode and owner.
            if let Ok(n) = node_info(&fifo)
                && n.kind == "fifo"
                && (n.mode != 0o600 || n.uid != foreign_uid)
            {
                return Err(format!(
                    "attempt {done}: the attacker's FIFO was changed: {n:?}"
                ));
            }
            if fingerprint(&victim).as_ref() != Some(&victim_before) {
                return Err(format!(
                    "attempt {done}: the victim was touched: before {victim_before:?}, after {:?}",
                    fingerprint(&victim)
                ));
            }
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    attacker.join().expect("attacker thread");
    eprintln!(
        "race: {done} attempts in {:.1?}, {} attacker flips; outcomes:",
        t0.elapsed(),
        flips.load(Ordering::Relaxed)
    );
    for (k, v) in &outcomes {
        eprintln!("  {v:6}  {k}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        done >= 200,
        "only {done} attempts in {budget:?}: the race was hardly tried"
    );
    assert_eq!(fingerprint(&victim), Some(victim_before), "victim touched");
}

// ---------------------------------------------------------------------------
// Replaced while running

/// While the daemon runs, an attacker replaces the FIFO at the path with
/// their own regular file, a symlink to a passwd-like file, a directory, or a
/// FIFO; then SIGTERM. The daemon exits 0, says it left the path alone, and
/// the attacker's object (and the victim) are exactly as they were.
#[test]
fn fifo_replaced_while_running_then_sigterm_leaves_the_attackers_file() {
    for kind in ["regular file", "symlink", "directory", "fifo"] {
        let env = TestEnv::new();
        let victim = env.path().join("passwd");
        write_file(&victim, PASSWD, 0o644);
        let d = env.spawn(&greedy_config());
        d.wait_ready();
        d.write_fifo(b"ping\n");
        d.wait_log("received ping");

        let staged = d.dir().join("staged");
        match kind {
            "regular file" => write_file(&staged, b"attacker's file\n", 0o644),
            "symlink" => symlink(&victim, &staged),
            "directory" => {
                fs::create_dir(&staged).expect("mkdir");
                write_file(&staged.join("inside"), b"x", 0o644);
            }
            _ => mkfifo(&staged, 0o600),
        }
        if kind == "directory" {
            // rename(2) cannot put a directory over a FIFO.
            fs::remove_file(&d.fifo).expect("remove the FIFO");
        }
        fs::rename(&staged, &d.fifo).expect("rename over the FIFO");
        let before = tree(d.dir());
        let c = d.stop();
        d.assert_counters(&c, &[("pings", 1)]);
        d.wait_log("something else is at the path now, left untouched");
        if let Some(diff) = tree_diff(&before, &tree(d.dir())) {
            d.fail(&format!(
                "replaced by a {kind}: the daemon touched files at stop:\n    {diff}"
            ));
        }
        eprintln!("replaced by a {kind}: left alone at stop");
    }
}

/// The same during a reload that moves the FIFO: the old path now holds an
/// attacker's file; the move completes, the attacker's file survives, pings
/// go to the new path.
#[test]
fn reload_move_leaves_an_attackers_file_at_the_old_path() {
    let d = Daemon::start(&greedy_config());
    d.wait_ready();
    let staged = d.dir().join("staged");
    write_file(&staged, b"attacker's file\n", 0o644);
    fs::rename(&staged, &d.fifo).expect("rename over the FIFO");
    let attackers = fingerprint(&d.fifo).expect("attacker's file");
    let new_path = d.dir().join("moved.fifo");
    d.rewrite_config(&Config {
        path: Some(new_path.clone()),
        ..greedy_config()
    });
    let since = d.log().len();
    d.signal(Signal::SIGHUP);
    d.wait_log_since(since, "left untouched");
    d.wait_log_since(since, "reloaded configuration");
    let mut w = FifoWriter::open(&new_path).unwrap_or_else(|e| d.fail(&e));
    w.write_once(b"ping\n").unwrap_or_else(|e| d.fail(&e));
    drop(w);
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
    if fingerprint(&d.fifo).as_ref() != Some(&attackers) {
        d.fail(&format!(
            "the attacker's file at the old path changed: {:?}",
            fingerprint(&d.fifo)
        ));
    }
    if node_info(&new_path).is_ok() {
        d.fail("the moved FIFO should be removed at stop");
    }
}

// ---------------------------------------------------------------------------
// The configuration file

/// A world-writable configuration file is refused with exit 78 before the
/// daemon does anything (no FIFO created), and so is one owned by another
/// non-root user (root only).
#[test]
fn untrusted_config_files_are_refused() {
    let env = TestEnv::new();
    let cfg = greedy_config();
    env.write_config(&cfg);
    fs::set_permissions(&env.config_path, fs::Permissions::from_mode(0o666)).expect("chmod");
    let before = tree(env.path());
    let fifo = env.fifo.clone();
    let d = env.spawn_raw(fifo);
    d.expect_exit_code(EX_CONFIG, TIMEOUT);
    let err = d.stderr.texts().join("\n");
    if !err.starts_with("fifo-pingd: ") || !err.contains("world-writable") {
        d.fail("expected one `fifo-pingd: ... world-writable ...` line");
    }
    if let Some(diff) = tree_diff(&before, &tree(d.dir())) {
        d.fail(&format!("files changed:\n    {diff}"));
    }

    if !is_root() {
        return skip(
            "untrusted_config_files_are_refused (other owner)",
            "chown needs root",
        );
    }
    let env = TestEnv::new();
    env.write_config(&cfg);
    chown(&env.config_path, NOBODY, NOBODY);
    let before = tree(env.path());
    let fifo = env.fifo.clone();
    let d = env.spawn_raw(fifo);
    d.expect_exit_code(EX_CONFIG, TIMEOUT);
    let err = d.stderr.texts().join("\n");
    if !err.starts_with("fifo-pingd: ") || !err.contains("owned by uid 65534") {
        d.fail("expected one `fifo-pingd: ... owned by uid 65534 ...` line");
    }
    if let Some(diff) = tree_diff(&before, &tree(d.dir())) {
        d.fail(&format!("files changed:\n    {diff}"));
    }
}

/// Documented (README, "Configuration"): a symlinked configuration file is
/// followed and the ownership check applies to the file it points to. A link
/// to a trusted file runs; a link to a world-writable file is refused.
#[test]
fn config_symlink_is_followed_and_its_target_checked() {
    let env = TestEnv::new();
    let cfg = Config::default();
    env.write_config(&cfg);
    let real = env.path().join("real.toml");
    fs::rename(&env.config_path, &real).expect("rename config");
    symlink(&real, &env.config_path);
    let fifo = env.fifo.clone();
    let d = env.spawn_raw(fifo);
    d.wait_ready();
    d.write_fifo(b"ping\n");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);

    let env = TestEnv::new();
    env.write_config(&cfg);
    let real = env.path().join("real.toml");
    fs::rename(&env.config_path, &real).expect("rename config");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o666)).expect("chmod");
    symlink(&real, &env.config_path);
    let fifo = env.fifo.clone();
    let d = env.spawn_raw(fifo);
    d.expect_exit_code(EX_CONFIG, TIMEOUT);
    if !d.stderr.texts().join("\n").contains("world-writable") {
        d.fail("a link to a world-writable file must be refused");
    }
    if node_info(&d.fifo).is_ok() {
        d.fail("no FIFO may be created from an untrusted configuration");
    }
}

/// A config path that is not a regular file must not hang or exhaust the
/// daemon: a FIFO nobody writes to (would block in open) and an endless
/// device (/dev/zero, would be read forever) both end in a clear exit 78.
#[test]
fn config_path_that_is_not_a_regular_file_is_refused_promptly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo_conf = dir.path().join("conf.fifo");
    mkfifo(&fifo_conf, 0o600);
    let zero_conf = dir.path().join("zero.toml");
    symlink(Path::new("/dev/zero"), &zero_conf);
    for conf in [&fifo_conf, &zero_conf] {
        let conf = conf.to_string_lossy();
        let run = run_cli(&["--check-config", "--config", &conf], &[]);
        run.expect_code(EX_CONFIG)
            .expect_one_error_line(&[&conf, "regular file"]);
        eprintln!("{}", run.stderr.trim());
    }
}

/// SIGHUP after the configuration became world-writable: the reload is
/// refused and logged, the old configuration (and FIFO) kept, pings still
/// counted.
#[test]
fn reload_of_a_config_made_world_writable_is_refused() {
    let d = Daemon::start(&greedy_config());
    d.wait_ready();
    let fifo_before = node_info(&d.fifo).expect("fifo");
    d.rewrite_config(&Config {
        path: Some(d.dir().join("elsewhere")),
        mode: Some("0606".into()),
        ..Config::default()
    });
    fs::set_permissions(&d.env.config_path, fs::Permissions::from_mode(0o666)).expect("chmod");
    let since = d.log().len();
    d.signal(Signal::SIGHUP);
    let (_, line) = d.wait_log_since(since, "reload failed");
    if !line.text.contains("world-writable") {
        d.fail("the reload error should say why");
    }
    if node_info(&d.fifo) != Ok(fifo_before) || node_info(&d.dir().join("elsewhere")).is_ok() {
        d.fail("a refused reload must change nothing");
    }
    d.write_fifo(b"ping\n");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("reloads", 0)]);
}

/// The configuration path flips between a trusted file and a world-writable
/// one that points the FIFO elsewhere. Whatever the timing, the daemon
/// either refuses (exit 78) or uses the trusted file's contents: the check
/// and the read must be of the same file (one open, fstat, then read).
#[test]
fn config_swapped_between_check_and_read_is_never_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    let evil = dir.path().join("evil.toml");
    write_file(&good, b"[fifo]\npath = \"/run/good-fifo\"\n", 0o644);
    write_file(&evil, b"[fifo]\npath = \"/run/evil-fifo\"\n", 0o666);
    let conf = dir.path().join("fifo-pingd.toml");
    symlink(&good, &conf);
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        let (dir, good, evil, conf) = (dir.path().to_path_buf(), good, evil, conf.clone());
        std::thread::spawn(move || {
            let tmp = dir.join("flip.tmp");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let _ = fs::remove_file(&tmp);
                let target = if n.is_multiple_of(2) { &good } else { &evil };
                let _ = std::os::unix::fs::symlink(target, &tmp);
                let _ = fs::rename(&tmp, &conf);
            }
        })
    };
    let conf_s = conf.to_string_lossy().into_owned();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let t0 = Instant::now();
    let mut bad = None;
    while counts.values().sum::<u64>() < 400 && t0.elapsed() < Duration::from_secs(15) {
        let run = run_cli(&["--check-config", "--config", &conf_s], &[]);
        let outcome = match run.code() {
            Some(0) if run.stdout.contains("/run/good-fifo") => "used the trusted file",
            Some(78) if run.stderr.contains("world-writable") => "refused the world-writable file",
            _ => {
                bad = Some(run);
                break;
            }
        };
        *counts.entry(outcome).or_default() += 1;
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("flipper");
    eprintln!("config flip race: {counts:?}");
    if let Some(run) = bad {
        run.fail("the world-writable file's contents were used (or another outcome)");
    }
}
