//! Command line and config file handling: exit codes (sysexits), one
//! actionable stderr line per failure, `--check-config`, `--help`, `--version`.

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// A temp dir with a config file written from `text`.
struct ConfDir {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl ConfDir {
    fn new(text: &str) -> ConfDir {
        let dir = tempfile::Builder::new()
            .prefix("fifo-pingd-cli.")
            .tempdir()
            .expect("temp dir");
        let conf = dir.path().join("fifo-pingd.toml");
        fs::write(&conf, text).expect("write config");
        ConfDir { dir, conf }
    }

    fn from_config(cfg: &Config) -> ConfDir {
        let c = ConfDir::new("");
        let text = cfg.render(&c.fifo(), &c.dir.path().join("log.sock"));
        fs::write(&c.conf, text).expect("write config");
        c
    }

    fn fifo(&self) -> PathBuf {
        self.dir.path().join("fifo")
    }

    fn conf(&self) -> &str {
        self.conf.to_str().expect("utf-8 temp path")
    }
}

/// `--help` exits 0 and documents every option on stdout.
#[test]
fn help_exits_0_and_lists_options() {
    let r = run_cli(&["--help"], &[]);
    r.expect_code(EX_OK);
    for opt in [
        "--config",
        "--fifo",
        "--log",
        "--check-config",
        "--help",
        "--version",
    ] {
        if !r.stdout.contains(opt) {
            r.fail(&format!("--help should mention {opt}"));
        }
    }
}

/// `--version` exits 0 and prints the package version.
#[test]
fn version_exits_0_and_prints_version() {
    let r = run_cli(&["--version"], &[]);
    r.expect_code(EX_OK);
    if !r.stdout.contains(env!("CARGO_PKG_VERSION")) {
        r.fail(&format!(
            "--version should print {}",
            env!("CARGO_PKG_VERSION")
        ));
    }
}

/// An unknown flag is a usage error: exit 64 and one stderr line naming it.
#[test]
fn unknown_flag_exits_64() {
    let r = run_cli(&["--bogus"], &[]);
    r.expect_code(EX_USAGE).expect_one_error_line(&["--bogus"]);
}

/// `--config` without its value is a usage error: exit 64.
#[test]
fn missing_option_value_exits_64() {
    let r = run_cli(&["--config"], &[]);
    r.expect_code(EX_USAGE).expect_one_error_line(&["--config"]);
}

/// A stray positional argument is a usage error: exit 64.
#[test]
fn positional_argument_exits_64() {
    let r = run_cli(&["ping"], &[]);
    r.expect_code(EX_USAGE).expect_one_error_line(&[]);
}

/// `--log` with a value other than stderr|syslog|auto is a usage error
/// (exit 64): the bad value comes from the command line, not a config file.
#[test]
fn bad_log_target_on_command_line_exits_64() {
    let c = ConfDir::from_config(&Config::default());
    let r = run_cli(
        &["--config", c.conf(), "--log", "nowhere", "--check-config"],
        &[],
    );
    r.expect_code(EX_USAGE).expect_one_error_line(&["nowhere"]);
}

/// `--instance`: a bad or colliding name is exit 64 with one line; a good one
/// gets the instance's own paths where the file sets none.
#[test]
fn instance_names_are_checked_and_give_their_own_paths() {
    for (bad, why) in [
        ("a.b", "expected 1 to 64 letters"),
        ("", "expected 1 to 64 letters"),
        (
            "default",
            "collide with the default instance's FIFO directory",
        ),
        ("fifo-pingd", "/etc/fifo-pingd/fifo-pingd.toml"),
    ] {
        let r = run_cli(&["--instance", bad, "--check-config"], &[]);
        r.expect_code(EX_USAGE)
            .expect_one_error_line(&["--instance: instance name", why]);
    }
    // A group of our own: a named instance's default one (fifo-ping) need not
    // exist on the test host.
    let gid = nix::unistd::getgid().as_raw();
    let c = ConfDir::new(&format!("[fifo]\ngroup = {gid}\n"));
    let fifo = c.fifo();
    let fifo = fifo.to_str().expect("utf-8");
    let r = run_cli(
        &[
            "--instance",
            "blue",
            "--config",
            c.conf(),
            "--fifo",
            fifo,
            "--check-config",
        ],
        &[],
    );
    r.expect_code(0);
    for needle in [
        "\n# instance blue (fifo-pingd@blue.service)\n",
        "/run/fifo-pingd/instance/blue/reply",
    ] {
        if !r.stdout.contains(needle) {
            r.fail(&format!(
                "expected {needle:?} in the effective configuration"
            ));
        }
    }
}

/// `--config` pointing to a missing file: exit 78, the error names the path.
#[test]
fn missing_config_file_exits_78() {
    let c = ConfDir::new("");
    let missing = c.dir.path().join("absent.toml");
    let missing = missing.to_str().expect("utf-8");
    let r = run_cli(&["--config", missing], &[]);
    r.expect_code(EX_CONFIG).expect_one_error_line(&[missing]);
    if c.fifo().exists() {
        r.fail("nothing should be created");
    }
}

/// A config with an unknown key (`modee` on line 3): the daemon exits 78
/// before creating anything, with one stderr line `PATH:3:...` naming the key.
#[test]
fn unknown_key_exits_78_with_line_number() {
    let c = ConfDir::new("");
    let text = format!(
        "[fifo]\npath = {}\nmodee = \"0640\"\n\n[log]\ntarget = \"stderr\"\n",
        toml_str(&c.fifo().display().to_string())
    );
    fs::write(&c.conf, text).expect("write config");
    let r = run_cli(&["--config", c.conf()], &[]);
    let loc = format!("{}:3:", c.conf());
    r.expect_code(EX_CONFIG)
        .expect_one_error_line(&[&loc, "modee"]);
    if c.fifo().exists() {
        r.fail("no FIFO should be created with a bad config");
    }
}

/// `--check-config` reports an unknown key the same way: exit 78 and `PATH:LINE:`.
#[test]
fn check_config_unknown_key_in_later_section_exits_78_with_line_number() {
    let c = ConfDir::new("");
    let text = format!(
        "[fifo]\npath = {}\n\n[messages]\non_end = \"ignore\"\n\n[log]\ntarget = \"stderr\"\nsyslog_sokcet = \"/dev/log\"\n",
        toml_str(&c.fifo().display().to_string())
    );
    fs::write(&c.conf, text).expect("write config");
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    let loc = format!("{}:9:", c.conf());
    r.expect_code(EX_CONFIG)
        .expect_one_error_line(&[&loc, "syslog_sokcet"]);
}

/// Broken TOML syntax: exit 78 with `PATH:LINE:`.
#[test]
fn toml_syntax_error_exits_78_with_line_number() {
    let c = ConfDir::new("[fifo]\nmode = \"0640\"\npath = \n");
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    let loc = format!("{}:3:", c.conf());
    r.expect_code(EX_CONFIG).expect_one_error_line(&[&loc]);
}

/// `--check-config` prints the effective config as TOML on stdout and exits
/// 0 without creating the FIFO: the keys set in the file are there with their
/// values, defaults are filled in, and `--fifo` overrides the path.
#[test]
fn check_config_prints_effective_config() {
    let cfg = Config {
        on_end: Some("ignore".into()),
        max_message_bytes: Some(100),
        ..Config::default()
    };
    let c = ConfDir::from_config(&cfg);
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    r.expect_code(EX_OK);
    let t: toml::Table =
        toml::from_str(&r.stdout).unwrap_or_else(|e| r.fail(&format!("stdout is not TOML: {e}")));
    let get = |sec: &str, key: &str| -> Option<toml::Value> {
        t.get(sec).and_then(|s| s.get(key)).cloned()
    };
    let fifo = c.fifo().display().to_string();
    let want: [(&str, &str, toml::Value); 6] = [
        ("fifo", "path", fifo.clone().into()),
        ("fifo", "mode", "0640".into()),
        ("messages", "on_end", "ignore".into()),
        ("messages", "max_message_bytes", 100i64.into()),
        ("log", "target", "syslog".into()),
        ("log", "ping_lines_per_second", 0i64.into()),
    ];
    for (sec, key, v) in want {
        if get(sec, key).as_ref() != Some(&v) {
            r.fail(&format!(
                "[{sec}] {key} should be {v}, got {:?}",
                get(sec, key)
            ));
        }
    }
    for (sec, key) in [
        ("log", "facility"),
        ("log", "level"),
        ("log", "syslog_socket"),
        ("log", "ping_lines_burst"),
    ] {
        if get(sec, key).is_none() {
            r.fail(&format!(
                "the effective config should include [{sec}] {key}"
            ));
        }
    }
    if Path::new(&fifo).exists() {
        r.fail("--check-config must not create the FIFO");
    }
    let other = c.dir.path().join("other-fifo").display().to_string();
    let r2 = run_cli(
        &[
            "--config",
            c.conf(),
            "--fifo",
            &other,
            "--log",
            "stderr",
            "--check-config",
        ],
        &[],
    );
    r2.expect_code(EX_OK);
    let t2: toml::Table =
        toml::from_str(&r2.stdout).unwrap_or_else(|e| r2.fail(&format!("stdout is not TOML: {e}")));
    let p = t2.get("fifo").and_then(|s| s.get("path")).cloned();
    if p != Some(other.clone().into()) {
        r2.fail(&format!("--fifo should override [fifo] path, got {p:?}"));
    }
    let tg = t2.get("log").and_then(|s| s.get("target")).cloned();
    if tg != Some("stderr".into()) {
        r2.fail(&format!("--log should override [log] target, got {tg:?}"));
    }
}

/// `--check-config` with a group name that does not resolve: exit 78, one
/// line naming the group.
#[test]
fn check_config_unknown_group_exits_78() {
    let cfg = Config {
        group: Some("no-such-group-fifo-pingd".into()),
        ..Config::default()
    };
    let c = ConfDir::from_config(&cfg);
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    r.expect_code(EX_CONFIG)
        .expect_one_error_line(&["no-such-group-fifo-pingd"]);
}

/// `--check-config` with a user name that does not resolve: exit 78.
#[test]
fn check_config_unknown_owner_exits_78() {
    let cfg = Config {
        owner: Some("no-such-user-fifo-pingd".into()),
        ..Config::default()
    };
    let c = ConfDir::from_config(&cfg);
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    r.expect_code(EX_CONFIG)
        .expect_one_error_line(&["no-such-user-fifo-pingd"]);
}

/// `--check-config` with an invalid mode ("0999", "rw-r-----"): exit 78
/// naming the bad value.
#[test]
fn check_config_invalid_mode_exits_78() {
    for mode in ["0999", "rw-r-----"] {
        let cfg = Config {
            mode: Some(mode.into()),
            ..Config::default()
        };
        let c = ConfDir::from_config(&cfg);
        let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
        r.expect_code(EX_CONFIG).expect_one_error_line(&[mode]);
    }
}

/// `--check-config` with max_message_bytes outside 1..=1048576: exit 78.
#[test]
fn check_config_max_message_bytes_out_of_range_exits_78() {
    for n in [0u64, 1_048_577] {
        let cfg = Config {
            max_message_bytes: Some(n),
            ..Config::default()
        };
        let c = ConfDir::from_config(&cfg);
        let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
        r.expect_code(EX_CONFIG)
            .expect_one_error_line(&["max_message_bytes"]);
    }
}

/// `--check-config` when the FIFO's parent directory does not exist: exit
/// 78, one line naming the directory.
#[test]
fn check_config_missing_parent_dir_exits_78() {
    let c0 = ConfDir::new("");
    let parent = c0.dir.path().join("no-such-dir");
    let cfg = Config {
        path: Some(parent.join("fifo")),
        ..Config::default()
    };
    let c = ConfDir::from_config(&cfg);
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    r.expect_code(EX_CONFIG)
        .expect_one_error_line(&[&parent.display().to_string()]);
}

/// A relative [fifo] path is a config error (exit 78): the contract wants an
/// absolute path.
#[test]
fn check_config_relative_path_exits_78() {
    let cfg = Config {
        path: Some("relative/fifo".into()),
        ..Config::default()
    };
    let c = ConfDir::from_config(&cfg);
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    r.expect_code(EX_CONFIG)
        .expect_one_error_line(&["relative/fifo"]);
}

/// on_end other than shutdown|ignore, and a bad level/facility/target in the
/// file, are config errors (exit 78) naming the value.
#[test]
fn check_config_bad_enum_values_exit_78() {
    type Setter = fn(&mut Config);
    let cases: [(&str, Setter); 4] = [
        ("restart", |c| c.on_end = Some("restart".into())),
        ("loud", |c| c.level = Some("loud".into())),
        ("kitchen", |c| c.facility = Some("kitchen".into())),
        ("printer", |c| c.target = Some("printer".into())),
    ];
    for (bad, set) in cases {
        let mut cfg = Config::default();
        set(&mut cfg);
        let c = ConfDir::from_config(&cfg);
        let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
        r.expect_code(EX_CONFIG).expect_one_error_line(&[bad]);
    }
}

/// The short options the README documents: `-c PATH`, `-t` (check-config),
/// `-h`, `-V`.
#[test]
fn short_options_work() {
    let c = ConfDir::from_config(&Config::default());
    run_cli(&["-c", c.conf(), "-t"], &[]).expect_code(EX_OK);
    run_cli(&["-h"], &[]).expect_code(EX_OK);
    let v = run_cli(&["-V"], &[]);
    v.expect_code(EX_OK);
    if !v.stdout.contains(env!("CARGO_PKG_VERSION")) {
        v.fail("-V should print the version");
    }
}

/// The effective config printed by `--check-config` is itself a valid config
/// file that gives the same effective config (compared as TOML, so comments
/// such as the source path may differ): users can start from it.
#[test]
fn check_config_output_round_trips() {
    let cfg = Config {
        on_end: Some("ignore".into()),
        ..Config::default()
    };
    let c = ConfDir::from_config(&cfg);
    let r1 = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    r1.expect_code(EX_OK);
    let c2 = ConfDir::new(&r1.stdout);
    let r2 = run_cli(&["--config", c2.conf(), "--check-config"], &[]);
    r2.expect_code(EX_OK);
    let parse = |r: &Run| -> toml::Table {
        toml::from_str(&r.stdout).unwrap_or_else(|e| r.fail(&format!("stdout is not TOML: {e}")))
    };
    if parse(&r1) != parse(&r2) {
        r2.fail(&format!(
            "feeding --check-config's output back gives a different config:\n{}",
            r1.stdout
        ));
    }
}

/// A world-writable config file is refused (exit 78, the line names the
/// file): it decides which path the daemon creates and chowns (README).
#[test]
fn world_writable_config_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let c = ConfDir::from_config(&Config::default());
    fs::set_permissions(&c.conf, fs::Permissions::from_mode(0o666)).expect("chmod 0666");
    let r = run_cli(&["--config", c.conf()], &[]);
    r.expect_code(EX_CONFIG).expect_one_error_line(&[c.conf()]);
    if c.fifo().exists() {
        r.fail("no FIFO should be created from a world-writable config");
    }
}

/// A config file owned by another user (65534) is refused with exit 78 when
/// the daemon runs as root (README).
#[test]
fn config_file_of_another_user_is_refused() {
    if !is_root() {
        return skip(
            "config_file_of_another_user_is_refused",
            "needs root to chown",
        );
    }
    let c = ConfDir::from_config(&Config::default());
    nix::unistd::chown(
        &c.conf,
        Some(nix::unistd::Uid::from_raw(NOBODY)),
        Some(nix::unistd::Gid::from_raw(NOBODY)),
    )
    .expect("chown config");
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    r.expect_code(EX_CONFIG).expect_one_error_line(&[c.conf()]);
}

/// A 2 MiB config is refused from its size on the open file, before it is
/// read: exit 78 at once, one line with the path, the limit and the size.
#[test]
fn oversized_config_file_exits_78_quickly() {
    const SIZE: usize = 2 << 20;
    let mut text = "#".repeat(SIZE - 1);
    text.push('\n');
    let c = ConfDir::new(&text);
    let t0 = std::time::Instant::now();
    let r = run_cli(&["--config", c.conf(), "--check-config"], &[]);
    let took = t0.elapsed();
    r.expect_code(EX_CONFIG).expect_one_error_line(&[
        c.conf(),
        "expected a configuration file of at most 1 MiB",
        &format!("found {SIZE} bytes"),
    ]);
    if took > std::time::Duration::from_secs(5) {
        r.fail(&format!("refusing a 2 MiB config took {took:?}"));
    }
    // At start, too, before anything is created.
    let r = run_cli(&["--config", c.conf()], &[]);
    r.expect_code(EX_CONFIG).expect_one_error_line(&[c.conf()]);
    if c.fifo().exists() {
        r.fail("no FIFO should be created from an oversized config");
    }
}

/// A [fifo] path with a newline (TOML `\n`) or a NUL (`\u0000`) is refused
/// by --check-config and at start: exit 78, one line naming the key with
/// the value escaped, and no file is created under the split name.
#[test]
fn fifo_path_with_control_characters_exits_78() {
    for (escape, shown) in [("\\n", "\\n"), ("\\u0000", "\\0")] {
        let c = ConfDir::new("");
        let dir = c.dir.path().display().to_string();
        // The TOML escape goes in as written: toml_str would double its backslash.
        let quoted = toml_str(&format!("{dir}/a"));
        let text = format!(
            "[fifo]\npath = {}{escape}b\"\n",
            &quoted[..quoted.len() - 1]
        );
        fs::write(&c.conf, text).expect("write config");
        let value = format!("\"{dir}/a{shown}b\"");
        for args in [
            &["--config", c.conf(), "--check-config"][..],
            &["--config", c.conf()],
        ] {
            let r = run_cli(args, &[]);
            r.expect_code(EX_CONFIG).expect_one_error_line(&[
                &format!("{}:2:", c.conf()),
                "[fifo] path: expected a path without control characters",
                &value,
            ]);
        }
        let names: Vec<_> = fs::read_dir(c.dir.path())
            .expect("read temp dir")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(
            names.len(),
            1,
            "only the config should be in {dir}: {names:?}"
        );
    }
}

/// `--reload` outside systemd (no $MAINPID, no $RUNTIME_DIRECTORY): a usage
/// error naming both, at once.
#[test]
fn reload_outside_systemd_exits_64() {
    let r = run_cli(&["--reload"], &[]);
    r.expect_code(EX_USAGE)
        .expect_one_error_line(&["--reload", "MAINPID", "RUNTIME_DIRECTORY"]);
}

/// `--reload` as the units' ExecReload= runs it: SIGHUP to $MAINPID, then the
/// daemon's report in $RUNTIME_DIRECTORY decides the exit status: 0 once a
/// good config is applied (the new mode is on the FIFO when it returns), 78
/// with the daemon's one-line error (path:line:column) for a bad one, after
/// which the daemon still runs with the previous configuration.
#[test]
fn reload_waits_for_the_daemon_and_reports_a_refused_config() {
    let mut env = TestEnv::new();
    let runtime = env.dir.path().join("runtime");
    fs::create_dir(&runtime).expect("mkdir runtime");
    let runtime_s = runtime.to_str().expect("utf-8").to_owned();
    env.env
        .push(("RUNTIME_DIRECTORY".into(), runtime_s.clone()));
    let config_path = env.config_path.clone();
    let d = env.spawn(&Config::default());
    d.wait_ready();
    let pid = d.pid.to_string();
    let vars = [
        ("MAINPID", pid.as_str()),
        ("RUNTIME_DIRECTORY", runtime_s.as_str()),
    ];

    let text = fs::read_to_string(&config_path).expect("read config");
    let with_mode: String = text
        .lines()
        .filter(|l| !l.starts_with("mode"))
        .map(|l| match l {
            "[fifo]" => "[fifo]\nmode = \"0640\"\n".to_owned(),
            l => format!("{l}\n"),
        })
        .collect();
    assert!(
        with_mode.contains("mode = \"0640\""),
        "the test config has a [fifo] table"
    );
    fs::write(&config_path, &with_mode).expect("write config");
    let r = run_cli(&["--reload"], &vars);
    r.expect_code(0);
    let mode = fs::metadata(&d.fifo).expect("stat FIFO").permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.mode() & 0o7777,
        0o640,
        "applied before --reload returned"
    );

    fs::write(
        &config_path,
        format!("{with_mode}\n[fifo]\nmode = \"0600\"\n"),
    )
    .expect("write config");
    let r = run_cli(&["--reload"], &vars);
    r.expect_code(EX_CONFIG).expect_one_error_line(&[
        "reload failed, the previous configuration is kept",
        &format!("{}:", config_path.display()),
    ]);
    let mode = fs::metadata(&d.fifo).expect("stat FIFO").permissions();
    assert_eq!(
        mode.mode() & 0o7777,
        0o640,
        "the previous configuration is kept"
    );
    d.write_fifo(b"ping\n");
    d.wait_log("received ping");
}
