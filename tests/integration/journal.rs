//! `[log] target = "journal"`: the journal's native protocol, read from a
//! real datagram socket standing in for `/run/systemd/journal/socket` and
//! decoded field by field (the container test, tests/e2e/fleet.sh, has the
//! real journald parse them and query them by MESSAGE_ID).

use crate::common::*;
use std::collections::BTreeMap;

const STARTED: &str = "e2b588eb66c440fca92004ade2e24ef2";
const PING: &str = "e51316af166e4760a0519d67e206708a";
const END: &str = "db64e34451264873806ed54487fc9c18";
const REJECTED: &str = "69ec0360667847d6b8045008352f678c";
const RELOAD_OK: &str = "ab9b3ab030a0459d9f8e6ecf9154c3ae";
const RELOAD_FAILED: &str = "39a25932a8214f4394a750b10ba01439";
const STOPPING: &str = "831f57fc60ef483bac064617f0a94585";

/// The fields of one native entry whose values have no newline (all of
/// these tests' entries): `NAME=value` per line.
fn fields(entry: &Entry) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in entry.text.lines() {
        let (name, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not NAME=value: {line:?} in {:?}", entry.text));
        assert!(
            map.insert(name.to_owned(), value.to_owned()).is_none(),
            "{name} twice in {:?}",
            entry.text
        );
    }
    map
}

fn entries_with(d: &Daemon, id: &str) -> Vec<BTreeMap<String, String>> {
    d.log()
        .snapshot()
        .iter()
        .map(fields)
        .filter(|f| f.get("MESSAGE_ID").map(String::as_str) == Some(id))
        .collect()
}

fn journal_config(env: &TestEnv) -> Config {
    Config {
        target: Some("journal".into()),
        // Syslog would go here; the journal socket is the test's log socket.
        syslog_socket: Some(env.dir.path().join("no-syslog.sock")),
        extra: format!(
            "journal_socket = {}\n",
            toml_str(&env.log.path.to_string_lossy())
        ),
        ..Config::default()
    }
}

/// Each event has its MESSAGE_ID, its FIFO_PINGD_EVENT and its fields; every
/// entry has the context; pings are found exactly by their id.
#[test]
fn journal_entries_carry_message_ids_and_fields() {
    let env = TestEnv::new();
    let cfg = journal_config(&env);
    let fifo = env.fifo.clone();
    let d = env.spawn(&cfg);
    d.wait_ready();
    d.write_fifo(b"ping\nping\nhuh\nping\n");
    d.write_fifo(b"\xff\xfe\n");
    d.wait_log_count(&format!("MESSAGE_ID={PING}"), 3);
    d.wait_log_count(&format!("MESSAGE_ID={REJECTED}"), 2);
    // A reload that works, then one that does not.
    d.signal(Signal::SIGHUP);
    d.wait_log(&format!("MESSAGE_ID={RELOAD_OK}"));
    let mut bad = cfg.clone();
    bad.extra.push_str("no_such_key = 1\n");
    d.rewrite_config(&bad);
    d.signal(Signal::SIGHUP);
    d.wait_log(&format!("MESSAGE_ID={RELOAD_FAILED}"));
    d.write_fifo(b"end\n");
    d.expect_exit_code(EX_OK, TIMEOUT);
    d.wait_log(&format!("MESSAGE_ID={STOPPING}"));

    let fifo = fifo.to_string_lossy().into_owned();
    for entry in d.log().snapshot() {
        let f = fields(&entry);
        assert_eq!(
            f.get("SYSLOG_IDENTIFIER").map(String::as_str),
            Some("fifo-pingd"),
            "{f:?}"
        );
        assert_eq!(
            f.get("FIFO_PINGD_INSTANCE").map(String::as_str),
            Some("default"),
            "{f:?}"
        );
        assert_eq!(
            f.get("SYSLOG_FACILITY").map(String::as_str),
            Some("3"),
            "daemon: {f:?}"
        );
        assert!(
            f.contains_key("MESSAGE") && f.contains_key("PRIORITY"),
            "{f:?}"
        );
    }
    let started = entries_with(&d, STARTED);
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["FIFO_PINGD_FIFO"], fifo);
    assert_eq!(started[0]["FIFO_PINGD_EVENT"], "started");
    assert_eq!(started[0]["FIFO_PINGD_ORIGIN"], "created");
    assert_eq!(started[0]["PRIORITY"], "6");

    let pings = entries_with(&d, PING);
    assert_eq!(pings.len(), 3, "exactly the pings: {pings:?}");
    assert!(
        pings
            .iter()
            .all(|p| p["MESSAGE"] == "received ping" && p["FIFO_PINGD_FIFO"] == fifo)
    );

    let rejected = entries_with(&d, REJECTED);
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|r| r["FIFO_PINGD_REASON"].as_str())
        .collect();
    assert_eq!(reasons, ["unknown_word", "not_utf8"]);
    assert_eq!(rejected[0]["FIFO_PINGD_SAMPLE"], "huh");
    assert_eq!(rejected[0]["PRIORITY"], "4");

    let failed = entries_with(&d, RELOAD_FAILED);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["FIFO_PINGD_ERROR"].contains("no_such_key"),
        "{failed:?}"
    );
    assert_eq!(failed[0]["PRIORITY"], "3");
    let ok = entries_with(&d, RELOAD_OK);
    assert_eq!(
        ok[0]["FIFO_PINGD_CONFIG"],
        d.dir().join("fifo-pingd.toml").to_string_lossy()
    );

    let end = entries_with(&d, END);
    assert_eq!(end.len(), 1);
    assert_eq!(end[0]["FIFO_PINGD_ON_END"], "shutdown");

    let stop = entries_with(&d, STOPPING);
    assert_eq!(stop.len(), 1);
    for (name, value) in [
        ("FIFO_PINGD_STOP_REASON", "end received"),
        ("FIFO_PINGD_PINGS", "3"),
        ("FIFO_PINGD_ENDS", "1"),
        ("FIFO_PINGD_REJECTED", "2"),
        ("FIFO_PINGD_RELOADS", "1"),
        ("FIFO_PINGD_LOG_LINES_DROPPED", "0"),
    ] {
        assert_eq!(stop[0][name], value, "{name} in {:?}", stop[0]);
    }
}

/// `target = "journal"` without a journal: the daemon runs, says so on
/// stderr, and retries once a second (lines are dropped and counted meanwhile).
#[test]
fn journal_target_without_a_journal_keeps_running() {
    let env = TestEnv::new();
    let absent = env.dir.path().join("absent.sock");
    let cfg = Config {
        target: Some("journal".into()),
        extra: format!("journal_socket = {}\n", toml_str(&absent.to_string_lossy())),
        ..Config::default()
    };
    let d = env.spawn(&cfg);
    d.wait_stderr(&format!(
        "cannot connect to the journal socket {}",
        absent.display()
    ));
    d.wait_ready();
    d.write_fifo(b"ping\n");
    d.signal(Signal::SIGTERM);
    d.expect_exit_code(EX_OK, TIMEOUT);
}
