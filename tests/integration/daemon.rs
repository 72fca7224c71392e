//! Daemon lifecycle: signals, reload, `end` handling, idle cost, sd_notify
//! and logging targets, observed through the real sockets.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits (bounded) until the daemon's main thread is sleeping in the kernel,
/// i.e. blocked waiting for input.
fn wait_until_sleeping(d: &Daemon) {
    let deadline = Instant::now() + TIMEOUT;
    let mut sleeping_since: Option<Instant> = None;
    loop {
        if d.proc_state() == 'S' {
            let s = *sleeping_since.get_or_insert_with(Instant::now);
            if s.elapsed() >= Duration::from_millis(100) {
                return;
            }
        } else {
            sleeping_since = None;
        }
        if Instant::now() >= deadline {
            d.fail("the daemon never went to sleep (state S) while idle");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGTERM while the daemon is idle (blocked waiting for input) stops it
/// within one second, with exit 0.
#[test]
fn sigterm_while_idle_stops_promptly() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    wait_until_sleeping(&d);
    let t0 = Instant::now();
    d.signal(Signal::SIGTERM);
    let st = d.wait_exit(TIMEOUT);
    let took = t0.elapsed();
    if st.code() != Some(EX_OK) {
        d.fail(&format!("expected exit 0 after SIGTERM, got {st:?}"));
    }
    if took > Duration::from_secs(1) {
        d.fail(&format!(
            "SIGTERM while idle took {took:.2?} to stop the daemon"
        ));
    }
}

/// SIGINT stops like SIGTERM: exit 0, summary `stopping (SIGINT)` with the
/// counters, FIFO removed.
#[test]
fn sigint_stops_cleanly() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop_with(Signal::SIGINT);
    d.assert_counters(&c, &[("pings", 1), ("ends", 0), ("rejected", 0)]);
    if !d
        .log()
        .texts()
        .iter()
        .any(|l| l.contains("stopping (SIGINT)"))
    {
        d.fail("the summary should read `stopping (SIGINT): ...`");
    }
    if node_info(&d.fifo).is_ok() {
        d.fail("the FIFO should be removed after SIGINT");
    }
}

/// `end` with on_end = "shutdown" (the default): `received end`, STOPPING=1,
/// summary `stopping (end received)`, FIFO removed, exit 0.
#[test]
fn end_shuts_down_by_default() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\nend\n");
    d.expect_exit_code(EX_OK, TIMEOUT);
    d.wait_log("received end");
    let s = d.wait_log("stopping (end received)");
    d.assert_counters(&counters(s.message()), &[("pings", 1), ("ends", 1)]);
    d.wait_notify_since(0, "STOPPING=1");
    if node_info(&d.fifo).is_ok() {
        d.fail("the FIFO should be removed after `end`");
    }
}

/// on_end = "ignore": `end` is logged as ignored, the daemon keeps running
/// and serving pings; the summary counts ends=1.
#[test]
fn on_end_ignore_keeps_running() {
    let cfg = Config {
        on_end: Some("ignore".into()),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo(b"end\n");
    d.wait_log("received end (ignored: on_end = \"ignore\")");
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    if let Some(st) = d.try_status() {
        d.fail(&format!("the daemon exited after an ignored end: {st:?}"));
    }
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1), ("ends", 1), ("rejected", 0)]);
}

/// SIGUSR1 logs `counters: pings=2 ends=0 rejected=1` and the daemon goes on.
#[test]
fn sigusr1_logs_counters() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\nping\n");
    d.wait_log_count("received ping", 2);
    d.write_fifo(b"nope\n");
    d.wait_log("rejected message:");
    let c = d.counters_now();
    d.assert_counters(&c, &[("pings", 2), ("ends", 0), ("rejected", 1)]);
    d.write_fifo(b"ping\n");
    d.wait_log_count("received ping", 3);
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 3)]);
}

/// SIGHUP after rewriting the config with mode 0604: RELOADING=1 with
/// MONOTONIC_USEC=, then READY=1, `reloaded configuration from PATH`, and the
/// same FIFO (same inode, so open writers keep working) now has mode 0604.
/// Counters survive the reload (a ping before and one after: pings=2).
#[test]
fn sighup_applies_new_mode() {
    let mut cfg = Config::default();
    let d = Daemon::start(&cfg);
    let ready = d.wait_ready();
    let ino = match &ready.fifo_at_receipt {
        Some(Ok(n)) => n.ino,
        other => d.fail(&format!("no FIFO at READY: {other:?}")),
    };
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    cfg.mode = Some("0604".into());
    d.rewrite_config(&cfg);
    let n = d.notify().len();
    let l = d.log().len();
    d.signal(Signal::SIGHUP);
    let (ri, reloading) = d.wait_notify_since(n, "RELOADING=1");
    if !reloading.text.contains("MONOTONIC_USEC=") {
        d.fail("RELOADING=1 must come with MONOTONIC_USEC=");
    }
    d.wait_ready_since(ri + 1);
    let want = format!(
        "reloaded configuration from {}",
        d.env.config_path.display()
    );
    d.wait_log_since(l, &want);
    match node_info(&d.fifo) {
        Ok(i) if i.kind == "fifo" && i.mode == 0o604 && i.ino == ino => {}
        other => d.fail(&format!(
            "after reload expected the same FIFO (ino {ino}) with mode 0604, found {other:?}"
        )),
    }
    d.write_fifo(b"ping\n");
    d.wait_log_count("received ping", 2);
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 2)]);
}

/// SIGHUP applies a new group to the FIFO (root: gid 0 -> 65534).
#[test]
fn sighup_applies_new_group() {
    if !is_root() {
        return skip("sighup_applies_new_group", "needs root to chown");
    }
    let mut cfg = Config::default();
    let d = Daemon::start(&cfg);
    d.wait_ready();
    cfg.group = Some(NOBODY.to_string());
    d.rewrite_config(&cfg);
    let n = d.notify().len();
    d.signal(Signal::SIGHUP);
    let (ri, _) = d.wait_notify_since(n, "RELOADING=1");
    d.wait_ready_since(ri + 1);
    match node_info(&d.fifo) {
        Ok(i) if i.kind == "fifo" && i.gid == NOBODY && i.mode == 0o640 => {}
        other => d.fail(&format!(
            "after reload expected group 65534, mode 0640: {other:?}"
        )),
    }
    d.stop();
}

/// SIGHUP moving the FIFO to a path where a symlink sits: the reload fails
/// (logged), the symlink is left alone and the old FIFO keeps serving.
#[test]
fn sighup_move_onto_symlink_is_refused_and_old_fifo_kept() {
    let mut cfg = Config::default();
    let d = Daemon::start(&cfg);
    d.wait_ready();
    let target = d.dir().join("target.txt");
    fs::write(&target, "precious\n").expect("write target");
    let link = d.dir().join("fifo2");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    cfg.path = Some(link.clone());
    d.rewrite_config(&cfg);
    d.signal(Signal::SIGHUP);
    d.wait_log("reload failed, keeping the previous configuration");
    if node_info(&link).map(|n| n.kind) != Ok("symlink")
        || fs::read_to_string(&target).ok().as_deref() != Some("precious\n")
    {
        d.fail("the symlink and its target should be left untouched");
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
    if node_info(&link).map(|n| n.kind) != Ok("symlink") {
        d.fail("the symlink should still be there after stop");
    }
}

/// SIGHUP applies a changed [log] syslog_socket: lines after the reload
/// arrive on the new socket.
#[test]
fn sighup_applies_new_syslog_socket() {
    let mut cfg = Config::default();
    let d = Daemon::start(&cfg);
    d.wait_ready();
    let other = DgramSink::bind(
        &d.dir().join("log2.sock"),
        "syslog datagram (new socket)",
        None,
    );
    cfg.syslog_socket = Some(other.path.clone());
    d.rewrite_config(&cfg);
    let n = d.notify().len();
    d.signal(Signal::SIGHUP);
    let (ri, _) = d.wait_notify_since(n, "RELOADING=1");
    d.wait_ready_since(ri + 1);
    d.write_fifo(b"ping\n");
    d.wait_since(&other.lines, 0, "received ping", TIMEOUT);
    d.signal(Signal::SIGTERM);
    d.expect_exit_code(EX_OK, TIMEOUT);
    d.wait_since(&other.lines, 0, "stopping (SIGTERM)", TIMEOUT);
}

/// SIGHUP with a broken config (unknown key): `reload failed, keeping the
/// previous configuration: ...` is logged, READY=1 follows RELOADING=1, the
/// daemon keeps running with the old mode and keeps serving pings.
#[test]
fn sighup_with_broken_config_keeps_old_one() {
    let cfg = Config::default();
    let d = Daemon::start(&cfg);
    d.wait_ready();
    let mut bad = cfg.clone();
    bad.mode = Some("0600".into());
    bad.extra = "bogus_key = 1\n".into();
    d.rewrite_config(&bad);
    let n = d.notify().len();
    d.signal(Signal::SIGHUP);
    d.wait_log("reload failed, keeping the previous configuration");
    let (ri, _) = d.wait_notify_since(n, "RELOADING=1");
    d.wait_ready_since(ri + 1);
    match node_info(&d.fifo) {
        Ok(i) if i.kind == "fifo" && i.mode == 0o640 => {}
        other => d.fail(&format!("the FIFO should keep mode 0640: {other:?}")),
    }
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
}

/// SIGHUP with a new [fifo] path moves the FIFO: after READY=1 the new path
/// is a FIFO with the configured mode, the old one is gone, pings on the new
/// path are served, and SIGTERM removes the new one.
#[test]
fn sighup_moves_fifo_to_new_path() {
    let mut cfg = Config::default();
    let d = Daemon::start(&cfg);
    d.wait_ready();
    let new_path = d.dir().join("fifo2");
    cfg.path = Some(new_path.clone());
    cfg.mode = Some("0660".into());
    d.rewrite_config(&cfg);
    let n = d.notify().len();
    d.signal(Signal::SIGHUP);
    let (ri, _) = d.wait_notify_since(n, "RELOADING=1");
    d.wait_ready_since(ri + 1);
    match node_info(&new_path) {
        Ok(i) if i.kind == "fifo" && i.mode == 0o660 => {}
        other => d.fail(&format!("expected a FIFO 0660 at the new path: {other:?}")),
    }
    if let Ok(i) = node_info(&d.fifo) {
        d.fail(&format!(
            "the old FIFO should be removed after the move: {i:?}"
        ));
    }
    let mut w = FifoWriter::open(&new_path).unwrap_or_else(|e| d.fail(&e));
    w.write_once(b"ping\n").unwrap_or_else(|e| d.fail(&e));
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
    if node_info(&new_path).is_ok() {
        d.fail("the moved FIFO should be removed on stop");
    }
}

/// An idle daemon costs (near) zero CPU: after a writer came, wrote a ping
/// and went (the case that makes naive readers spin on EOF), 5 s of idling
/// cost less than 50 ms of CPU (utime+stime from /proc/PID/stat), and the
/// daemon woke up at most 10 times (context switches of all its threads), so
/// a short poll timeout used as a timer is caught too.
#[test]
fn idle_for_5s_costs_near_zero_cpu() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let before = d.cpu_time();
    let switches_before = context_switches(d.pid).unwrap_or_else(|e| d.fail(&e));
    // Here the sleep is the measurement itself.
    std::thread::sleep(Duration::from_secs(5));
    let after = d.cpu_time();
    let switches = context_switches(d.pid).unwrap_or_else(|e| d.fail(&e)) - switches_before;
    let used = after.saturating_sub(before);
    if used >= Duration::from_millis(50) {
        d.fail(&format!("5 s of idling cost {used:?} of CPU"));
    }
    if switches > 10 {
        d.fail(&format!(
            "the idle daemon woke up {switches} times in 5 s (context switches); it should sleep"
        ));
    }
    d.stop();
}

/// NOTIFY_SOCKET pointing at a path where nothing listens: the daemon still
/// starts, serves pings and stops cleanly.
#[test]
fn notify_socket_pointing_at_nothing_is_harmless() {
    let mut env = TestEnv::new();
    env.notify_env = NotifyEnv::Value(env.path().join("nothing.sock").display().to_string());
    let d = env.spawn(&Config::default());
    d.wait_log("listening on ");
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    let c = d.stop();
    d.assert_counters(&c, &[("pings", 1)]);
}

/// Without NOTIFY_SOCKET at all the daemon runs normally.
#[test]
fn no_notify_socket_is_harmless() {
    let mut env = TestEnv::new();
    env.notify_env = NotifyEnv::Unset;
    let d = env.spawn(&Config::default());
    d.wait_log("listening on ");
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    d.stop();
}

/// NOTIFY_SOCKET in the abstract namespace (`@name`) is supported: READY=1
/// and STOPPING=1 arrive there.
#[test]
fn abstract_notify_socket_gets_ready_and_stopping() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!(
        "fifo-pingd-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_nanos())
            .unwrap_or(0)
    );
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .expect("abstract address");
    let sock = UnixDatagram::bind_addr(&addr).expect("bind abstract socket");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("set_read_timeout");
    let mut env = TestEnv::new();
    env.notify_env = NotifyEnv::Value(format!("@{name}"));
    let d = env.spawn(&Config::default());
    let mut got = Vec::new();
    let recv_until = |needle: &str, d: &Daemon, got: &mut Vec<String>| {
        let deadline = Instant::now() + TIMEOUT;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                let t = String::from_utf8_lossy(&buf[..n]).into_owned();
                let hit = t.lines().any(|l| l == needle);
                got.push(t);
                if hit {
                    return;
                }
            }
        }
        d.fail(&format!(
            "no {needle} on the abstract NOTIFY_SOCKET @{name}; received: {got:?}"
        ));
    };
    recv_until("READY=1", &d, &mut got);
    d.signal(Signal::SIGTERM);
    recv_until("STOPPING=1", &d, &mut got);
    d.expect_exit_code(EX_OK, TIMEOUT);
}

/// WATCHDOG_USEC=200000: WATCHDOG=1 is sent every ~100 ms (at least 3 within
/// 2 s of READY), also while idle.
#[test]
fn watchdog_pings_at_half_the_interval() {
    let mut env = TestEnv::new();
    env.env.push(("WATCHDOG_USEC".into(), "200000".into()));
    let d = env.spawn(&Config::default());
    let (ri, _) = d.wait_ready_since(0);
    let t0 = Instant::now();
    d.wait_on(
        d.notify(),
        "3 WATCHDOG=1 datagrams after READY",
        Duration::from_secs(2),
        |es| {
            (es.iter()
                .skip(ri)
                .filter(|e| e.text.lines().any(|l| l == "WATCHDOG=1"))
                .count()
                >= 3)
                .then_some(())
        },
    );
    if t0.elapsed() > Duration::from_secs(2) {
        d.fail("WATCHDOG=1 came too slowly");
    }
    d.stop();
}

/// STATUS= reflects the counters: after 3 pings and no further input, a
/// STATUS line `listening on PATH; pings=3 ends=0 rejected=0` arrives.
#[test]
fn status_reports_path_and_counters() {
    let d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\nping\nping\n");
    d.wait_log_count("received ping", 3);
    let want = format!(
        "STATUS=listening on {}; pings=3 ends=0 rejected=0",
        d.fifo.display()
    );
    d.wait_notify_since(0, &want);
    d.stop();
}

/// The syslog socket goes away (closed and removed) while the daemon runs and
/// is bound again at the same path: the daemon keeps running and its lines
/// arrive on the new socket (pings are written until one is logged there).
#[test]
fn syslog_socket_rebound_logging_resumes() {
    let mut d = Daemon::start(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    d.env.log.close();
    let mut written = 1u64;
    // Pings while nobody listens: the daemon must not die or block.
    for _ in 0..3 {
        d.write_fifo(b"ping\n");
        written += 1;
    }
    d.env.log.rebind();
    let after = d.log().len();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        d.write_fifo(b"ping\n");
        written += 1;
        let slice = Instant::now() + Duration::from_millis(300);
        let got = d.log().wait_until(slice.min(deadline), &mut |es| {
            es.iter()
                .skip(after)
                .any(|e| e.text.contains("received ping"))
                .then_some(())
        });
        if got.is_some() {
            break;
        }
        if Instant::now() >= deadline {
            d.fail(&format!(
                "no line on the re-bound syslog socket within {TIMEOUT:?} ({written} pings written)"
            ));
        }
        if let Some(st) = d.try_status() {
            d.fail(&format!(
                "the daemon died after the syslog socket went away: {st:?}"
            ));
        }
    }
    let c = d.stop();
    d.assert_counters(&c, &[("pings", written)]);
}

/// A syslog socket whose queue is full (bound, never read) never stalls the
/// message loop: 3000 pings with every ping logged are all counted (STATUS=
/// shows pings=3000) and SIGTERM still stops the daemon with exit 0.
#[test]
fn full_syslog_socket_never_blocks_the_daemon() {
    let mut d = Daemon::start(&Config::default());
    d.wait_ready();
    d.env.log.stall();
    let deadline = Instant::now() + TIMEOUT;
    let mut w = FifoWriter::open(&d.fifo).unwrap_or_else(|e| d.fail(&e));
    for _ in 0..3000 {
        w.write_polling(b"ping\n", deadline)
            .unwrap_or_else(|e| d.fail(&format!("{e} (is the daemon blocked on logging?)")));
    }
    drop(w);
    d.wait_notify_since(0, "pings=3000");
    d.signal(Signal::SIGTERM);
    d.expect_exit_code(EX_OK, TIMEOUT);
}

/// The syslog socket does not exist when the daemon starts: it still starts
/// (READY=1), serves pings, and logs there once the socket appears.
#[test]
fn syslog_socket_missing_at_start_then_appears() {
    let mut env = TestEnv::new();
    env.log.close();
    let mut d = env.spawn(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_notify_since(0, "pings=1");
    d.env.log.rebind();
    let deadline = Instant::now() + TIMEOUT;
    let mut written = 1u64;
    loop {
        d.write_fifo(b"ping\n");
        written += 1;
        let slice = (Instant::now() + Duration::from_millis(300)).min(deadline);
        let got = d.log().wait_until(slice, &mut |es| {
            es.iter()
                .any(|e| e.text.contains("received ping"))
                .then_some(())
        });
        if got.is_some() {
            break;
        }
        if Instant::now() >= deadline {
            d.fail(&format!(
                "no line on the syslog socket that appeared after start ({written} pings written)"
            ));
        }
    }
    let c = d.stop();
    d.assert_counters(&c, &[("pings", written)]);
}

/// Syslog lines are RFC 3164 with ident `fifo-pingd`, the daemon's pid and
/// the configured facility: local3.info = <158>, local3.warning = <156>.
#[test]
fn syslog_lines_have_ident_pid_and_facility() {
    let cfg = Config {
        facility: Some("local3".into()),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo(b"ping\n");
    let info = d.wait_log("received ping");
    d.write_fifo(b"huh\n");
    let warn = d.wait_log("rejected message:");
    let tag = format!(" fifo-pingd[{}]: ", d.pid);
    for (e, pri) in [(&info, "<158>"), (&warn, "<156>")] {
        if !e.text.starts_with(pri) || !e.text.contains(&tag) {
            d.fail(&format!(
                "expected a line starting with {pri} and containing {tag:?}: {:?}",
                e.text
            ));
        }
    }
    d.stop();
}

/// level = "warning" drops info lines: a ping is served (counted) but not
/// logged, while the warning for a later rejection is.
#[test]
fn level_warning_hides_info_lines() {
    let cfg = Config {
        level: Some("warning".into()),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.write_fifo(b"huh\n");
    d.wait_log("rejected message:");
    if d.log().count("received ping") != 0 {
        d.fail("`received ping` is info and must not be logged at level warning");
    }
    d.signal(Signal::SIGTERM);
    d.expect_exit_code(EX_OK, TIMEOUT);
}

/// `--log stderr` overrides target = "syslog": without JOURNAL_STREAM lines
/// go to stderr as `fifo-pingd: received ping`, and nothing to the syslog
/// socket.
#[test]
fn log_stderr_override_prefixes_lines() {
    let mut env = TestEnv::new();
    env.args = vec!["--log".into(), "stderr".into()];
    let d = env.spawn(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_stderr("fifo-pingd: received ping");
    let c = d.stop_stderr();
    d.assert_counters(&c, &[("pings", 1)]);
    if !d.log().is_empty() {
        d.fail("with --log stderr nothing should go to the syslog socket");
    }
}

/// Makes the daemon's stderr a pipe named by JOURNAL_STREAM (dev:ino), as
/// systemd does for a service whose stderr is the journal; returns the
/// lines read from the pipe.
fn stderr_as_journal_stream(env: &mut TestEnv) -> Lines {
    use std::io::{BufRead, BufReader};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        panic!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let wf = fs::File::from(w);
    let md = wf.metadata().expect("fstat pipe");
    env.env.push((
        "JOURNAL_STREAM".into(),
        format!("{}:{}", md.dev(), md.ino()),
    ));
    env.stderr_fd = Some(wf.into());
    let lines = Lines::named("stderr line (JOURNAL_STREAM pipe)");
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(fs::File::from(r)).lines() {
            match l {
                Ok(l) => l2.push(l, None),
                Err(_) => return,
            }
        }
    });
    lines
}

/// target = "auto" with JOURNAL_STREAM naming the daemon's stderr but no
/// journal socket: lines go to stderr with `<N>` priority prefixes, after a
/// warning that says why.
#[test]
fn auto_target_with_journal_stream_falls_back_to_priority_prefixes() {
    let mut env = TestEnv::new();
    let lines = stderr_as_journal_stream(&mut env);
    let absent = env.dir.path().join("no-journal.sock");
    let cfg = Config {
        target: Some("auto".into()),
        extra: format!("journal_socket = {}\n", toml_str(&absent.to_string_lossy())),
        ..Config::default()
    };
    let d = env.spawn(&cfg);
    d.wait_since(
        &lines,
        0,
        &format!(
            "<4>cannot connect to the journal socket {}",
            absent.display()
        ),
        TIMEOUT,
    );
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_since(&lines, 0, "<6>received ping", TIMEOUT);
    d.signal(Signal::SIGTERM);
    d.expect_exit_code(EX_OK, TIMEOUT);
    if !d.log().is_empty() {
        d.fail("nothing should go to the syslog socket");
    }
}

/// target = "auto" with JOURNAL_STREAM naming the daemon's stderr: entries
/// go to the journal socket in the native protocol, with MESSAGE_IDs.
#[test]
fn auto_target_with_journal_stream_uses_the_native_protocol() {
    let mut env = TestEnv::new();
    let lines = stderr_as_journal_stream(&mut env);
    // The test's datagram socket plays the journal.
    let socket = env.log.path.clone();
    let cfg = Config {
        target: Some("auto".into()),
        syslog_socket: Some(env.dir.path().join("no-syslog.sock")),
        extra: format!("journal_socket = {}\n", toml_str(&socket.to_string_lossy())),
        ..Config::default()
    };
    let d = env.spawn(&cfg);
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_log("MESSAGE_ID=e51316af166e4760a0519d67e206708a");
    d.signal(Signal::SIGTERM);
    d.expect_exit_code(EX_OK, TIMEOUT);
    d.wait_log("MESSAGE=stopping (SIGTERM)");
    if !lines.is_empty() {
        d.fail(&format!("nothing should go to stderr: {:?}", lines.texts()));
    }
}

/// target = "auto" without JOURNAL_STREAM logs to syslog.
#[test]
fn auto_target_without_journal_stream_uses_syslog() {
    let cfg = Config {
        target: Some("auto".into()),
        ..Config::default()
    };
    let d = Daemon::start(&cfg);
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
    d.stop();
}

/// SIGPIPE never kills the daemon: with --log stderr and the read end of its
/// stderr closed, a ping (whose log line hits EPIPE) is still counted
/// (STATUS= shows pings=1) and SIGTERM still gives exit 0.
#[test]
fn sigpipe_does_not_kill_the_daemon() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        panic!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(r);
    let mut env = TestEnv::new();
    env.args = vec!["--log".into(), "stderr".into()];
    env.stderr_fd = Some(w);
    let d = env.spawn(&Config::default());
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.wait_notify_since(0, "pings=1");
    d.signal(Signal::SIGTERM);
    let st = d.wait_exit(TIMEOUT);
    if st.code() != Some(EX_OK) {
        d.fail(&format!(
            "expected exit 0 despite EPIPE on stderr, got {st:?}"
        ));
    }
}

/// All path components of `p` are searchable by others (so a daemon run as
/// nobody can exec it).
fn reachable_by_others(p: &Path) -> bool {
    p.ancestors().skip(1).all(|a| {
        fs::metadata(a)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    }) && fs::metadata(p)
        .map(|m| m.permissions().mode() & 0o001 != 0)
        .unwrap_or(false)
}

/// The README's first command as a normal user (uid/gid 65534), with no
/// config file: `fifo-pingd --fifo DIR/fifo --log stderr` logs that it uses
/// built-in defaults, creates the FIFO owned by itself with the default mode
/// 0620, serves pings, and SIGTERM removes it. Skipped when not root, or when
/// /etc/fifo-pingd/fifo-pingd.toml exists (it would be read).
#[test]
fn runs_as_normal_user_without_config_file() {
    const NAME: &str = "runs_as_normal_user_without_config_file";
    if !is_root() {
        return skip(NAME, "needs root to switch to uid 65534");
    }
    if Path::new("/etc/fifo-pingd/fifo-pingd.toml").exists() {
        return skip(
            NAME,
            "/etc/fifo-pingd/fifo-pingd.toml exists on this machine",
        );
    }
    if !reachable_by_others(Path::new(BIN)) {
        return skip(NAME, "the built binary is not reachable by other users");
    }
    let mut env = TestEnv::new();
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o755)).expect("chmod tempdir");
    let run = env.path().join("run");
    fs::create_dir(&run).expect("mkdir run");
    nix::unistd::chown(
        &run,
        Some(nix::unistd::Uid::from_raw(NOBODY)),
        Some(nix::unistd::Gid::from_raw(NOBODY)),
    )
    .expect("chown run dir");
    let fifo = run.join("fifo");
    *env.ready_stat_path.lock().expect("mutex") = fifo.clone();
    env.notify.make_world_writable();
    env.pass_config = false;
    env.args = vec![
        "--fifo".into(),
        fifo.display().to_string(),
        "--log".into(),
        "stderr".into(),
    ];
    env.run_as = Some((NOBODY, NOBODY));
    let d = env.spawn_raw(fifo.clone());
    let ready = d.wait_ready();
    match &ready.fifo_at_receipt {
        Some(Ok(n))
            if n.kind == "fifo" && n.uid == NOBODY && n.gid == NOBODY && n.mode == 0o620 => {}
        other => d.fail(&format!(
            "expected a FIFO 65534:65534 mode 0620 at READY, found {other:?}"
        )),
    }
    d.wait_stderr("no config file at /etc/fifo-pingd/fifo-pingd.toml, using built-in defaults");
    d.write_fifo(b"ping\n");
    d.wait_stderr("received ping");
    let c = d.stop_stderr();
    d.assert_counters(&c, &[("pings", 1)]);
    if node_info(&fifo).is_ok() {
        d.fail("the FIFO should be removed on SIGTERM");
    }
}
