//! The option tables (src/daemon/args.rs, src/ctl/args.rs) against everything
//! else that names the options (issue 12): `--help` of the real binaries, the
//! OPTIONS sections of the man pages, and the shell completions committed
//! under completions/ (which must be what the tables generate: run
//! scripts/completions after changing a table). Then the command-line forms
//! the parser brought: `-qw`, `--opt=value`, `--`, and paths that are not
//! UTF-8.
//!
//! `bash -n`, and running the bash completion functions, need only bash;
//! `zsh -n` and `fish -n` (and fish's own `complete -C`) run when those shells
//! are installed, and are skipped with a note when not.

use crate::common::*;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fifo_pingd::args::{OptionDef, Value, bash_script, fish_script, zsh_script};
use fifo_pingd::ctl;
use fifo_pingd::daemon::args as daemon_args;

const CTL: &str = env!("CARGO_BIN_EXE_fifo-pingctl");

/// An option as the checks see it (the tables' key types differ).
#[derive(Debug, Clone)]
struct Opt {
    short: Option<char>,
    long: &'static str,
    value: Value,
    commands: &'static [&'static str],
}

impl Opt {
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.short.map(|c| format!("-{c}")).into_iter().collect();
        names.push(self.long.to_owned());
        names
    }
}

fn view<K>(table: &[OptionDef<K>]) -> Vec<Opt> {
    table
        .iter()
        .map(|o| Opt {
            short: o.short,
            long: o.long,
            value: o.value,
            commands: o.commands,
        })
        .collect()
}

/// One binary: its table and what is derived from it.
struct Binary {
    program: &'static str,
    exe: &'static str,
    man: &'static str,
    options: Vec<Opt>,
    commands: &'static [(&'static str, &'static str)],
    /// (file under completions/, its generated text)
    completions: [(String, String); 3],
}

impl Binary {
    fn names(&self) -> BTreeSet<String> {
        self.options.iter().flat_map(Opt::names).collect()
    }

    fn file(&self, shell: Shell) -> (PathBuf, &str) {
        let (name, text) = &self.completions[shell as usize];
        (root().join("completions").join(name), text)
    }
}

#[derive(Debug, Clone, Copy)]
enum Shell {
    Bash = 0,
    Zsh = 1,
    Fish = 2,
}

fn binaries() -> [Binary; 2] {
    [
        Binary {
            program: "fifo-pingd",
            exe: BIN,
            man: "man/fifo-pingd.8",
            options: view(daemon_args::OPTIONS),
            commands: &[],
            completions: [
                ("fifo-pingd.bash".into(), bash_script(&daemon_args::BINARY)),
                ("_fifo-pingd".into(), zsh_script(&daemon_args::BINARY)),
                ("fifo-pingd.fish".into(), fish_script(&daemon_args::BINARY)),
            ],
        },
        Binary {
            program: "fifo-pingctl",
            exe: CTL,
            man: "man/fifo-pingctl.1",
            options: view(ctl::OPTIONS),
            commands: ctl::COMMANDS,
            completions: [
                ("fifo-pingctl.bash".into(), bash_script(&ctl::BINARY)),
                ("_fifo-pingctl".into(), zsh_script(&ctl::BINARY)),
                ("fifo-pingctl.fish".into(), fish_script(&ctl::BINARY)),
            ],
        },
    ]
}

const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn has(shell: &str) -> bool {
    Command::new(shell)
        .args(["-c", "exit 0"])
        .output()
        .is_ok_and(|o| o.status.success())
}

// ---------------------------------------------------------------------------
// The committed completions are the generated ones

/// Writes completions/ from the tables: `scripts/completions` runs this.
#[test]
#[ignore = "writes completions/; run by scripts/completions"]
fn regenerate() {
    let dir = root().join("completions");
    fs::create_dir_all(&dir).expect("mkdir completions");
    for b in binaries() {
        for shell in SHELLS {
            let (path, text) = b.file(shell);
            fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            println!("wrote {}", path.display());
        }
    }
}

#[test]
fn committed_completions_are_the_generated_ones() {
    for b in binaries() {
        for shell in SHELLS {
            let (path, text) = b.file(shell);
            let committed = fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == text,
                "{} is not what the option table generates: run scripts/completions\n--- generated:\n{text}",
                path.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// --help

/// The option lines of `--help`: (short, long, value name).
fn help_options(help: &str) -> Vec<(Option<char>, String, Option<String>)> {
    let section = help
        .split_once("\nOptions:\n")
        .unwrap_or_else(|| panic!("no Options: section in\n{help}"))
        .1;
    let section = section.split("\n\n").next().unwrap_or_default();
    section
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .map(|line| {
            let names = line.split("  ").next().unwrap_or_default();
            let (short, rest) = match names.split_once(", ") {
                Some((s, rest)) => (s.strip_prefix('-').and_then(|s| s.chars().next()), rest),
                None => (None, names),
            };
            let mut words = rest.split_whitespace();
            let long = words.next().unwrap_or_default().to_owned();
            (short, long, words.next().map(str::to_owned))
        })
        .collect()
}

#[test]
fn help_lists_exactly_the_table() {
    for b in binaries() {
        let out = run(b.exe, &[&"--help"]);
        assert!(out.status.success(), "{} --help: {out:?}", b.program);
        let help = String::from_utf8(out.stdout).expect("UTF-8 help");
        let want: Vec<_> = b
            .options
            .iter()
            .map(|o| {
                (
                    o.short,
                    o.long.to_owned(),
                    o.value.name().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(help_options(&help), want, "{} --help", b.program);
        for (command, _) in b.commands {
            assert!(
                help.contains(&format!("\n  {command} ")),
                "{} --help: no command {command}",
                b.program
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Man pages

/// The `.It Fl c Ar path , Fl -config Ar path` lines of the OPTIONS section:
/// (short, long, takes a value).
fn man_options(page: &str) -> BTreeSet<(Option<char>, String, bool)> {
    let section = page
        .split_once("\n.Sh OPTIONS\n")
        .unwrap_or_else(|| panic!("no OPTIONS section"))
        .1;
    let section = section.split("\n.Sh ").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in section.lines() {
        let Some(item) = line.strip_prefix(".It ") else {
            continue;
        };
        let (mut short, mut long, mut value) = (None, None, false);
        for part in item.split(" , ") {
            let words: Vec<&str> = part.split_whitespace().collect();
            let ["Fl", name, rest @ ..] = words.as_slice() else {
                panic!("not an option: {line:?}");
            };
            value |= !rest.is_empty();
            match name.strip_prefix('-') {
                Some(l) => long = Some(format!("--{l}")),
                None if name.chars().count() == 1 => short = name.chars().next(),
                None => panic!("-{name}: combined short flags in {line:?}"),
            }
        }
        let long = long.unwrap_or_else(|| panic!("no long name in {line:?}"));
        found.insert((short, long, value));
    }
    found
}

#[test]
fn man_pages_list_exactly_the_table() {
    for b in binaries() {
        let want: BTreeSet<_> = b
            .options
            .iter()
            .map(|o| (o.short, o.long.to_owned(), o.value != Value::None))
            .collect();
        assert_eq!(
            man_options(&read(&root().join(b.man))),
            want,
            "{}: OPTIONS",
            b.man
        );
    }
}

// ---------------------------------------------------------------------------
// Completions: every option, nothing else, and valid scripts

/// `text` has `word` as a whole word (delimited by blanks, quotes and `|()[=+`).
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || "'\"|()[=+".contains(c))
        .any(|w| w == word)
}

/// The options a bash completion names: its `compgen -W` lists of options
/// and its `case` arms of options.
fn bash_names(script: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut listed = BTreeSet::new();
    let mut arms = BTreeSet::new();
    for line in script.lines().map(str::trim) {
        for list in line.split("compgen -W '").skip(1) {
            let list = list.split('\'').next().unwrap_or_default();
            listed.extend(
                list.split_whitespace()
                    .filter(|w| w.starts_with('-'))
                    .map(str::to_owned),
            );
        }
        if let Some(pattern) = line.strip_suffix(')')
            && pattern.starts_with('-')
            && (!pattern.contains(' ') || pattern.contains(" | "))
        {
            arms.extend(pattern.split(" | ").map(str::to_owned));
        }
    }
    (listed, arms)
}

/// The options of the zsh `_arguments` specs: (name, takes a value).
fn zsh_names(script: &str) -> BTreeSet<(String, bool)> {
    script
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix('\''))
        .filter(|l| l.contains('['))
        .filter_map(|spec| {
            let spec = match spec.strip_prefix('(') {
                Some(rest) => rest.split_once(')')?.1,
                None => spec,
            };
            let name: String = spec
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-')
                .collect();
            let after = spec[name.len()..].chars().next();
            Some((name, matches!(after, Some('+' | '='))))
        })
        .collect()
}

/// The options of the fish `complete` lines: (short, long).
fn fish_names(script: &str) -> BTreeSet<(Option<char>, String)> {
    let mut found = BTreeSet::new();
    for line in script.lines().filter(|l| l.starts_with("complete ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
        };
        if let Some(long) = after("-l") {
            let short = after("-s").and_then(|s| s.chars().next());
            found.insert((short, format!("--{long}")));
        } else {
            assert!(
                after("-s").is_none(),
                "a short option without a long one: {line}"
            );
        }
    }
    found
}

#[test]
fn completions_name_exactly_the_table() {
    for b in binaries() {
        let names = b.names();
        let committed = |shell| read(&b.file(shell).0);
        for shell in SHELLS {
            let (path, _) = b.file(shell);
            let text = &committed(shell);
            for o in &b.options {
                let found = match shell {
                    Shell::Fish => {
                        let long = format!("-l {}", o.long.trim_start_matches('-'));
                        o.short
                            .is_none_or(|c| text.contains(&format!("-s {c} {long} ")))
                            && text.contains(&format!("{long} "))
                    }
                    Shell::Bash | Shell::Zsh => o.names().iter().all(|n| has_word(text, n)),
                };
                assert!(found, "{}: no {}", path.display(), o.long);
            }
            for (command, _) in b.commands {
                assert!(
                    has_word(text, command) || text.contains(&format!("'{command}:")),
                    "{}: no command {command}",
                    path.display()
                );
            }
        }
        let (listed, arms) = bash_names(&committed(Shell::Bash));
        assert_eq!(listed, names, "{}: bash option lists", b.program);
        let valued: BTreeSet<String> = b
            .options
            .iter()
            .filter(|o| o.value != Value::None)
            .flat_map(Opt::names)
            .collect();
        assert_eq!(arms, valued, "{}: bash value cases", b.program);

        let want: BTreeSet<(String, bool)> = b
            .options
            .iter()
            .flat_map(|o| o.names().into_iter().map(|n| (n, o.value != Value::None)))
            .collect();
        assert_eq!(
            zsh_names(&committed(Shell::Zsh)),
            want,
            "{}: zsh specs",
            b.program
        );

        let want: BTreeSet<(Option<char>, String)> = b
            .options
            .iter()
            .map(|o| (o.short, o.long.to_owned()))
            .collect();
        assert_eq!(
            fish_names(&committed(Shell::Fish)),
            want,
            "{}: fish",
            b.program
        );
    }
}

#[test]
fn completions_are_valid_scripts() {
    for (shell, kind) in [
        ("bash", Shell::Bash),
        ("zsh", Shell::Zsh),
        ("fish", Shell::Fish),
    ] {
        if !has(shell) {
            println!("SKIPPED: {shell} -n on the {shell} completions ({shell} is not installed)");
            continue;
        }
        for b in binaries() {
            let (path, _) = b.file(kind);
            let out = run(shell, &[&"-n", &path]);
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{shell} -n {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// What the bash completion function offers for `words` (the last one is
/// being completed), run in bash itself.
fn bash_complete(b: &Binary, words: &[&str]) -> BTreeSet<String> {
    let (path, _) = b.file(Shell::Bash);
    let function = format!("_{}", b.program.replace('-', "_"));
    let script = format!(
        "source \"$1\"; shift; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); {function}; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
        vec![&"--norc", &"--noprofile", &"-c", &script, &"bash", &path];
    args.push(&b.program);
    args.extend(words.iter().map(|w| w as &dyn AsRef<std::ffi::OsStr>));
    let out = run("bash", &args);
    assert!(out.status.success(), "bash completion {words:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn bash_completion_offers_the_options_commands_and_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir(dir.path().join("sub")).expect("mkdir");
    fs::write(dir.path().join("file"), "").expect("write");
    let prefix = format!("{}/", dir.path().display());
    let (sub, file) = (format!("{prefix}sub"), format!("{prefix}file"));
    for b in binaries() {
        assert_eq!(bash_complete(&b, &["-"]), b.names(), "{}", b.program);
        for o in &b.options {
            for name in o.names() {
                let want = match o.value {
                    Value::None => continue,
                    Value::Path(_) => set(&[&sub, &file]),
                    Value::Dir(_) => set(&[&sub]),
                    Value::OneOf(_, words) => set(words),
                    Value::Text(_) => set(&[]),
                };
                let cur = if matches!(o.value, Value::Path(_) | Value::Dir(_)) {
                    prefix.as_str()
                } else {
                    ""
                };
                assert_eq!(bash_complete(&b, &[&name, cur]), want, "{name} {cur:?}");
                if o.short.is_none() || !name.starts_with("--") {
                    continue;
                }
                // --opt=value: bash splits at the `=`.
                assert_eq!(bash_complete(&b, &[&name, "=", cur]), want, "{name}={cur}");
            }
        }
        if b.commands.is_empty() {
            assert_eq!(
                bash_complete(&b, &[""]),
                set(&[]),
                "{}: no operands",
                b.program
            );
            continue;
        }
        let commands: BTreeSet<String> = b.commands.iter().map(|(c, _)| c.to_string()).collect();
        assert_eq!(bash_complete(&b, &[""]), commands);
        assert_eq!(bash_complete(&b, &["-q", "--fifo", "/x", ""]), commands);
        for (command, _) in b.commands {
            let with: BTreeSet<String> = b
                .options
                .iter()
                .filter(|o| o.commands.is_empty() || o.commands.contains(command))
                .flat_map(Opt::names)
                .collect();
            assert_eq!(bash_complete(&b, &[command, "-"]), with, "after {command}");
            assert_eq!(
                bash_complete(&b, &[command, ""]),
                set(&[]),
                "after {command}"
            );
        }
    }
}

#[test]
fn fish_completion_offers_the_options_commands_and_values() {
    if !has("fish") {
        println!("SKIPPED: fish's complete -C on the fish completions (fish is not installed)");
        return;
    }
    let complete = |b: &Binary, line: &str| -> BTreeSet<String> {
        let (path, _) = b.file(Shell::Fish);
        let out = run(
            "fish",
            &[
                &"--no-config",
                &"-c",
                &"source $argv[1]; complete -C $argv[2]",
                &path,
                &line,
            ],
        );
        assert!(out.status.success(), "fish complete -C {line:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect()
    };
    for b in binaries() {
        assert_eq!(complete(&b, &format!("{} -", b.program)), b.names());
        for o in &b.options {
            if let Value::OneOf(_, words) = o.value {
                assert_eq!(
                    complete(&b, &format!("{} {} ", b.program, o.long)),
                    set(words)
                );
            }
        }
        for (command, _) in b.commands {
            let with: BTreeSet<String> = b
                .options
                .iter()
                .filter(|o| o.commands.is_empty() || o.commands.contains(command))
                .flat_map(Opt::names)
                .collect();
            assert_eq!(
                complete(&b, &format!("{} {command} -", b.program)),
                with,
                "after {command}"
            );
        }
        if !b.commands.is_empty() {
            let commands: BTreeSet<String> =
                b.commands.iter().map(|(c, _)| c.to_string()).collect();
            assert_eq!(complete(&b, &format!("{} ", b.program)), commands);
        }
    }
}

// ---------------------------------------------------------------------------
// The command-line forms, on the real binaries

/// A path in `dir` whose name is not UTF-8 (0xff is no control character).
fn non_utf8(dir: &Path, stem: &[u8]) -> PathBuf {
    let mut name = stem.to_vec();
    name.extend_from_slice(b"\xffx");
    dir.join(OsString::from_vec(name))
}

#[test]
fn daemon_takes_non_utf8_paths_combined_flags_and_double_dash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("c.toml");
    fs::write(&conf, "[log]\ntarget = \"stderr\"\n").expect("write config");
    let fifo = non_utf8(dir.path(), b"f");
    let mut inline = b"--fifo=".to_vec();
    inline.extend_from_slice(fifo.as_os_str().as_bytes());
    let inline = OsString::from_vec(inline);
    let mut short_inline = b"-tc".to_vec();
    short_inline.extend_from_slice(conf.as_os_str().as_bytes());
    let short_inline = OsString::from_vec(short_inline);
    for args in [
        vec![
            OsString::from("--check-config"),
            "--config".into(),
            conf.clone().into(),
            "--fifo".into(),
            fifo.clone().into(),
        ],
        vec!["-tc".into(), conf.clone().into(), inline.clone()],
        vec![short_inline, inline, "--".into()],
    ] {
        let out = Command::new(BIN).args(&args).output().expect("run");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{args:?}: {out:?}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("[fifo]\npath = "), "{stdout}");
    }
    assert!(!fifo.exists(), "--check-config creates nothing");

    let out = run(BIN, &[&"--", &"--check-config"]);
    assert_eq!(out.status.code(), Some(EX_USAGE), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "fifo-pingd: unexpected argument \"--check-config\" (see --help)\n"
    );
    let out = run(BIN, &[&"-tx"]);
    assert_eq!(out.status.code(), Some(EX_USAGE), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "fifo-pingd: unknown option \"-x\" (see --help)\n"
    );
}

/// A FIFO with a reader that never answers: what the client writes stays in it.
struct SilentReader {
    _dir: tempfile::TempDir,
    fifo: PathBuf,
    reply: PathBuf,
    reader: fs::File,
}

impl SilentReader {
    fn new(name: &[u8]) -> SilentReader {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join(OsString::from_vec(name.to_vec()));
        mkfifo(&fifo, 0o620);
        let reader = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("open the FIFO for reading");
        let reply = dir.path().join("reply");
        fs::create_dir(&reply).expect("mkdir reply");
        SilentReader {
            _dir: dir,
            fifo,
            reply,
            reader,
        }
    }

    fn received(&mut self) -> String {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut self.reader, &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[test]
fn client_takes_non_utf8_paths_inline_values_and_double_dash() {
    let mut r = SilentReader::new(b"f\xffx");
    let out = run(CTL, &[&"--fifo", &r.fifo, &"ping"]);
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    assert_eq!(r.received(), "\nping\n");
    let mut inline = b"-qf".to_vec();
    inline.extend_from_slice(r.fifo.as_os_str().as_bytes());
    let out = run(CTL, &[&OsString::from_vec(inline), &"--", &"ping"]);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    assert_eq!(r.received(), "\nping\n");

    // --timeout=0.5 with --wait: no pong comes, so exit 75 after half a second.
    let started = Instant::now();
    let out = run(
        CTL,
        &[
            &"-wf",
            &r.fifo,
            &"--reply-dir",
            &r.reply,
            &"--timeout=0.5",
            &"ping",
        ],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    assert!(r.received().starts_with("\n?ping pingctl."));

    let out = run(CTL, &[&"-f", &r.fifo, &"--", &"--wait"]);
    assert_eq!(out.status.code(), Some(EX_USAGE), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "fifo-pingctl: unknown command \"--wait\": expected ping, end or status (see --help)\n"
    );
    let out = run(CTL, &[&"-qx", &"ping"]);
    assert_eq!(out.status.code(), Some(EX_USAGE), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "fifo-pingctl: unknown option \"-x\" (see --help)\n"
    );
}

/// `fifo-pingctl -qw ping`: quiet and wait, against a live daemon.
#[test]
fn client_combines_short_flags() {
    let env = TestEnv::new();
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let reply = env.path().join("reply");
    fs::create_dir(&reply).expect("create the reply directory");
    let mut cfg = Config {
        mode: Some("0620".into()),
        extra: format!(
            "\n[reply]\ndirectory = {}\n",
            toml_str(&reply.to_string_lossy())
        ),
        ..Config::default()
    };
    if is_root() {
        std::os::unix::fs::chown(&reply, Some(0), Some(NOBODY)).expect("chown reply");
        fs::set_permissions(&reply, fs::Permissions::from_mode(0o3730)).expect("chmod reply");
        cfg.group = Some(NOBODY.to_string());
    }
    let config = env.config_path.clone();
    let d = env.spawn(&cfg);
    d.wait_ready();
    let out = run(CTL, &[&"-qwc", &config, &"ping"]);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );
    let out = run(CTL, &[&"-c", &config, &"-qw", &"ping"]);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );
    let out = run(CTL, &[&"-wc", &config, &"ping"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("pong from fifo-pingd in "),
        "{out:?}"
    );
    d.wait_log_count("received ping", 3);
}
