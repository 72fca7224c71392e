//! FIFO creation, readiness and removal: the daemon creates its FIFO safely,
//! says READY only when it is final, refuses anything that is not clearly its
//! FIFO (leaving it untouched), and on stop removes only what it created.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// READY=1 arrives only after the FIFO exists with the configured mode
/// (0640, not the default 0620) and group (gid 65534 when the test runs as
/// root, else the test's own gid): the notify reader lstat()s the path the
/// moment the READY datagram is received. The READY datagram carries STATUS=
/// and the `listening on PATH (mode 0640, ...)` line is logged.
#[test]
fn ready_only_after_fifo_has_configured_mode_and_group() {
    let egid = nix::unistd::getegid().as_raw();
    let (group, want_gid) = if is_root() {
        (
            group_name(NOBODY).unwrap_or_else(|| NOBODY.to_string()),
            NOBODY,
        )
    } else {
        (egid.to_string(), egid)
    };
    let cfg = Config {
        mode: Some("0640".into()),
        group: Some(group),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    let ready = d.wait_ready();
    match &ready.fifo_at_receipt {
        Some(Ok(n)) => {
            if n.kind != "fifo" || n.mode != 0o640 || n.gid != want_gid {
                d.fail(&format!(
                    "when READY=1 arrived the node was {n:?}; expected a fifo with mode 0640 and gid {want_gid}"
                ));
            }
            let euid = nix::unistd::geteuid().as_raw();
            if n.uid != euid {
                d.fail(&format!(
                    "the FIFO should be owned by the daemon's euid {euid}: {n:?}"
                ));
            }
        }
        other => d.fail(&format!(
            "when READY=1 arrived the FIFO did not exist: {other:?}"
        )),
    }
    if !ready.text.contains("STATUS=") {
        d.fail("READY=1 should come with STATUS=");
    }
    let l = d.wait_log("listening on ");
    let want = format!("listening on {} (mode 0640", d.fifo.display());
    if !l.message().contains(&want) {
        d.fail(&format!("expected a line containing {want:?}"));
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    d.stop();
}

/// Owner and group given as numbers (65534) are applied with fchown before
/// READY=1 (root only).
#[test]
fn numeric_owner_and_group_are_applied() {
    if !is_root() {
        return skip("numeric_owner_and_group_are_applied", "needs root to chown");
    }
    let cfg = Config {
        owner: Some(NOBODY.to_string()),
        group: Some(NOBODY.to_string()),
        mode: Some("0600".into()),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    let ready = d.wait_ready();
    match &ready.fifo_at_receipt {
        Some(Ok(n))
            if n.kind == "fifo" && n.uid == NOBODY && n.gid == NOBODY && n.mode == 0o600 => {}
        other => d.fail(&format!(
            "expected a fifo 65534:65534 mode 0600 at READY, found {other:?}"
        )),
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    d.stop();
    if node_info(&d.fifo).is_ok() {
        d.fail("the FIFO (owned by the configured owner) should be removed on stop");
    }
}

/// The configured mode is applied exactly whatever the umask: with umask 077
/// and mode "0662" the FIFO is 0662 at READY.
#[test]
fn mode_is_exact_whatever_the_umask() {
    let mut env = TestEnv::new();
    env.umask = Some(0o077);
    let cfg = Config {
        mode: Some("0662".into()),
        ..Config::default()
    };
    let d = env.spawn(&cfg);
    let ready = d.wait_ready();
    match &ready.fifo_at_receipt {
        Some(Ok(n)) if n.kind == "fifo" && n.mode == 0o662 => {}
        other => d.fail(&format!(
            "expected a fifo with mode 0662 at READY, found {other:?}"
        )),
    }
    d.stop();
}

/// Starts the daemon on a prepared env and expects exit 73, one stderr line
/// `fifo-pingd: ...` naming the path and containing `found`, and no READY=1.
fn expect_refused(env: TestEnv, cfg: &Config, found: &str) -> Daemon {
    let d = env.spawn(cfg);
    d.expect_exit_code(EX_CANTCREAT, TIMEOUT);
    let lines: Vec<String> = d
        .stderr
        .texts()
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.len() != 1 || !lines[0].starts_with("fifo-pingd: ") {
        d.fail("expected exactly one stderr line starting with `fifo-pingd: `");
    }
    let path = d.fifo.display().to_string();
    if !lines[0].contains(&path) || !lines[0].contains(found) {
        d.fail(&format!(
            "the error line should name the path {path:?} and say it found {found:?}"
        ));
    }
    if d.notify()
        .texts()
        .iter()
        .any(|t| t.lines().any(|l| l == "READY=1"))
    {
        d.fail("READY=1 must not be sent when the FIFO is refused");
    }
    d
}

fn write_file(path: &Path, content: &str, mode: u32) {
    fs::write(path, content).expect("write test file");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod test file");
}

/// A symlink (to a regular file the test created) at the FIFO path is
/// refused with exit 73; the link and its target are left exactly as they
/// were (same inode, mode, content, link target).
#[test]
fn symlink_at_path_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    let target = env.path().join("target.txt");
    write_file(&target, "precious\n", 0o600);
    std::os::unix::fs::symlink(&target, &env.fifo).expect("create symlink");
    let link_before = node_info(&env.fifo).expect("lstat link");
    let target_before = node_info(&target).expect("lstat target");
    let d = expect_refused(env, &Config::default(), "symbolic link");
    if node_info(&d.fifo) != Ok(link_before) {
        d.fail("the symlink was changed");
    }
    if fs::read_link(&d.fifo).ok().as_deref() != Some(target.as_path()) {
        d.fail("the symlink now points elsewhere");
    }
    if node_info(&target) != Ok(target_before) {
        d.fail(&format!(
            "the symlink's target was changed: {:?}",
            node_info(&target)
        ));
    }
    if fs::read_to_string(&target).ok().as_deref() != Some("precious\n") {
        d.fail("the symlink's target content was changed");
    }
}

/// A dangling symlink at the FIFO path is refused (exit 73) and nothing is
/// created where it points.
#[test]
fn dangling_symlink_is_refused_and_nothing_created_at_its_target() {
    let env = TestEnv::new();
    let target = env.path().join("nowhere");
    std::os::unix::fs::symlink(&target, &env.fifo).expect("create symlink");
    let d = expect_refused(env, &Config::default(), "symbolic link");
    if node_info(&target).is_ok() {
        d.fail(&format!(
            "something was created at the symlink's target: {:?}",
            node_info(&target)
        ));
    }
    if node_info(&d.fifo).map(|n| n.kind) != Ok("symlink") {
        d.fail("the symlink should still be there");
    }
}

/// A regular file at the FIFO path is refused with exit 73 and left as it
/// was (same inode, mode, content).
#[test]
fn regular_file_at_path_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    write_file(&env.fifo, "not a fifo\n", 0o644);
    let before = node_info(&env.fifo).expect("lstat file");
    let d = expect_refused(env, &Config::default(), "regular file");
    if node_info(&d.fifo) != Ok(before) {
        d.fail(&format!(
            "the regular file was changed: {:?}",
            node_info(&d.fifo)
        ));
    }
    if fs::read_to_string(&d.fifo).ok().as_deref() != Some("not a fifo\n") {
        d.fail("the regular file's content was changed");
    }
}

/// A directory at the FIFO path is refused with exit 73 and left as it was,
/// with its content.
#[test]
fn directory_at_path_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    fs::create_dir(&env.fifo).expect("mkdir");
    write_file(&env.fifo.join("keep"), "keep\n", 0o644);
    let before = node_info(&env.fifo).expect("lstat dir");
    let d = expect_refused(env, &Config::default(), "directory");
    if node_info(&d.fifo) != Ok(before) {
        d.fail(&format!(
            "the directory was changed: {:?}",
            node_info(&d.fifo)
        ));
    }
    if fs::read_to_string(d.fifo.join("keep")).ok().as_deref() != Some("keep\n") {
        d.fail("the directory's content was changed");
    }
}

/// A unix socket at the FIFO path is refused with exit 73 and left there.
#[test]
fn socket_at_path_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    let sock = std::os::unix::net::UnixDatagram::bind(&env.fifo).expect("bind socket");
    let before = node_info(&env.fifo).expect("lstat socket");
    let d = expect_refused(env, &Config::default(), "socket");
    if node_info(&d.fifo) != Ok(before) {
        d.fail("the socket was changed");
    }
    drop(sock);
}

/// A FIFO owned by another user (65534) at the path is refused with exit 73
/// and left as it was (root only: the daemon runs as root, no owner set).
#[test]
fn fifo_of_another_user_is_refused_and_left_untouched() {
    if !is_root() {
        return skip(
            "fifo_of_another_user_is_refused_and_left_untouched",
            "needs root to chown",
        );
    }
    let env = TestEnv::new();
    mkfifo(&env.fifo, 0o622);
    nix::unistd::chown(
        &env.fifo,
        Some(nix::unistd::Uid::from_raw(NOBODY)),
        Some(nix::unistd::Gid::from_raw(NOBODY)),
    )
    .expect("chown fifo");
    let before = node_info(&env.fifo).expect("lstat fifo");
    let d = expect_refused(env, &Config::default(), "");
    if node_info(&d.fifo) != Ok(before) {
        d.fail(&format!(
            "the foreign FIFO was changed: {:?}",
            node_info(&d.fifo)
        ));
    }
}

/// A FIFO of our own already at the path (mode 0666, e.g. left by a crash)
/// is reused: READY=1 with the same inode, now with the configured mode 0640.
#[test]
fn own_existing_fifo_is_reused_and_fixed() {
    let env = TestEnv::new();
    mkfifo(&env.fifo, 0o666);
    let before = node_info(&env.fifo).expect("lstat fifo");
    let d = env.spawn(&Config::default());
    let ready = d.wait_ready();
    match &ready.fifo_at_receipt {
        Some(Ok(n)) if n.kind == "fifo" && n.ino == before.ino && n.mode == 0o640 => {}
        other => d.fail(&format!(
            "expected the same FIFO (ino {}) with mode 0640 at READY, found {other:?}",
            before.ino
        )),
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    d.stop();
}

/// A FIFO in a world-writable directory without the sticky bit is refused
/// (exit 73, the error names the directory) and nothing is created there.
#[test]
fn world_writable_parent_without_sticky_bit_is_refused() {
    let env = TestEnv::new();
    let pubdir = env.path().join("pub");
    fs::create_dir(&pubdir).expect("mkdir");
    fs::set_permissions(&pubdir, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    let cfg = Config {
        path: Some(pubdir.join("fifo")),
        ..Config::default()
    };
    let d = env.spawn(&cfg);
    d.expect_exit_code(EX_CANTCREAT, TIMEOUT);
    let err = d.stderr.texts().join("\n");
    if !err.contains("fifo-pingd: ") || !err.contains(&pubdir.display().to_string()) {
        d.fail("the error should name the directory");
    }
    if node_info(&pubdir.join("fifo")).is_ok() {
        d.fail("nothing should be created in the unsafe directory");
    }
}

/// A world-writable directory *with* the sticky bit (like /tmp) is accepted.
#[test]
fn sticky_world_writable_parent_is_accepted() {
    let env = TestEnv::new();
    let tmpdir = env.path().join("tmp");
    fs::create_dir(&tmpdir).expect("mkdir");
    fs::set_permissions(&tmpdir, fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    let cfg = Config {
        path: Some(tmpdir.join("fifo")),
        ..Config::default()
    };
    let d = env.spawn(&cfg);
    let ready = d.wait_ready();
    if !matches!(&ready.fifo_at_receipt, Some(Ok(n)) if n.kind == "fifo") {
        d.fail("expected the FIFO in the sticky directory at READY");
    }
    d.stop();
}

/// SIGTERM: STOPPING=1 is sent, the FIFO is removed, the summary names
/// SIGTERM and the daemon exits 0.
#[test]
fn sigterm_removes_fifo_sends_stopping_and_exits_0() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    let n = d.notify().len();
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 0), ("ends", 0), ("rejected", 0)]);
    if !d
        .log()
        .texts()
        .iter()
        .any(|l| l.contains("stopping (SIGTERM)"))
    {
        d.fail("the summary should read `stopping (SIGTERM): ...`");
    }
    d.wait_notify_since(n, "STOPPING=1");
    if let Ok(info) = node_info(&d.fifo) {
        d.fail(&format!(
            "the FIFO should be gone after SIGTERM, found {info:?}"
        ));
    }
}

/// Someone renames our FIFO away and puts a new FIFO at the path: on SIGTERM
/// the daemon exits 0 and removes neither the new FIFO (not ours) nor the
/// renamed one.
#[test]
fn fifo_replaced_by_another_fifo_is_not_removed() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    let moved = d.dir().join("fifo.moved");
    fs::rename(&d.fifo, &moved).expect("rename the FIFO away");
    mkfifo(&d.fifo, 0o600);
    let theirs = node_info(&d.fifo).expect("lstat new fifo");
    d.stop();
    if node_info(&d.fifo) != Ok(theirs) {
        d.fail(&format!(
            "the FIFO someone else put at the path was removed or changed: {:?}",
            node_info(&d.fifo)
        ));
    }
    if node_info(&moved).is_err() {
        d.fail("the renamed FIFO should be left alone");
    }
}

/// Someone replaces our FIFO by a regular file: on SIGTERM the daemon exits 0
/// and the file is left with its content.
#[test]
fn fifo_replaced_by_regular_file_is_not_removed() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    fs::remove_file(&d.fifo).expect("rm fifo");
    write_file(&d.fifo, "someone else's\n", 0o644);
    d.stop();
    if fs::read_to_string(&d.fifo).ok().as_deref() != Some("someone else's\n") {
        d.fail("the regular file at the path should be left alone");
    }
}

/// Someone removed our FIFO: SIGTERM still stops cleanly with exit 0.
#[test]
fn fifo_removed_by_someone_else_still_stops_cleanly() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    fs::remove_file(&d.fifo).expect("rm fifo");
    d.stop();
    if node_info(&d.fifo).is_ok() {
        d.fail("nothing should be recreated at the path");
    }
}

/// Socket activation: a FIFO passed as fd 3 (LISTEN_FDS=1, LISTEN_PID=the
/// daemon's pid) is used as is: `listening on ... (socket-activated fd 3)`,
/// pings written to it are served, the configured path is not created, and
/// on SIGTERM the passed FIFO is not unlinked.
#[test]
fn socket_activated_fifo_is_used_and_not_unlinked() {
    use std::os::unix::fs::OpenOptionsExt;
    let mut env = TestEnv::new();
    let act = env.path().join("activated.fifo");
    mkfifo(&act, 0o620);
    let before = node_info(&act).expect("lstat activated fifo");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&act)
        .expect("open activated fifo O_RDWR");
    env.fd3 = Some(f.into());
    env.listen_pid_self = true;
    env.env.push(("LISTEN_FDS".into(), "1".into()));
    let d = env.spawn(&Config::default());
    d.wait_ready();
    d.wait_log("socket-activated fd 3");
    let mut w = FifoWriter::open(&act).unwrap_or_else(|e| d.fail(&e));
    w.write_once(b"ping\n").unwrap_or_else(|e| d.fail(&e));
    drop(w);
    d.wait_log("received ping");
    if let Ok(n) = node_info(&d.fifo) {
        d.fail(&format!(
            "with socket activation the configured path should not be created: {n:?}"
        ));
    }
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
    match node_info(&act) {
        Ok(n) if n.ino == before.ino && n.kind == "fifo" => {}
        other => d.fail(&format!(
            "the socket-activated FIFO must not be unlinked: {other:?}"
        )),
    }
}
