//! The answer to `?status NAME` (`fifo-pingctl status`): written by the
//! daemon, read by the client, both through this module, so the two cannot
//! disagree about the format.
//!
//! The answer is one `write` of a few lines, `KEY VALUE` each, ended by an
//! empty line (the client holds its reply FIFO open for writing too, so it
//! never sees end-of-file and needs the terminator):
//!
//! ```text
//! fifo-pingd-status 1
//! instance blue
//! fifo /run/fifo-pingd/instance/blue/fifo
//! config /etc/fifo-pingd/blue.toml        (or: defaults /etc/fifo-pingd/blue.toml)
//! uptime_ms 12345
//! counters pings=3 ends=0 rejected=0 ...  (the counters line, as in the summary)
//!
//! ```
//!
//! Values are the rest of the line, as bytes: paths cannot hold a newline
//! (the configuration refuses control characters in them).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Counters;
use crate::config::Source;

/// The first line; the number changes when the format does.
const MAGIC: &[u8] = b"fifo-pingd-status 1";
/// The most a client reads: the answer is a few hundred bytes, its two paths
/// at most `PATH_MAX` each.
pub const MAX_STATUS_BYTES: usize = 16 * 1024;

/// What the status tells besides the counters.
#[derive(Debug, Clone)]
pub struct About {
    pub instance: String,
    pub fifo: PathBuf,
    pub config: Source,
    /// The instance's own file, named when the defaults apply because it is absent.
    pub config_path: PathBuf,
    pub started: Instant,
}

/// The answer as encoded.
pub fn encode(about: &About, counters: &Counters, now: Instant) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut line = |key: &str, value: &[u8]| {
        out.extend_from_slice(key.as_bytes());
        out.push(b' ');
        out.extend_from_slice(value);
        out.push(b'\n');
    };
    line("fifo-pingd-status", b"1");
    line("instance", about.instance.as_bytes());
    line("fifo", about.fifo.as_os_str().as_bytes());
    match &about.config {
        Source::File(path) => line("config", path.as_os_str().as_bytes()),
        Source::BuiltIn => line("defaults", about.config_path.as_os_str().as_bytes()),
    }
    let uptime = now.saturating_duration_since(about.started).as_millis();
    line("uptime_ms", uptime.to_string().as_bytes());
    line("counters", counters.to_string().as_bytes());
    out.push(b'\n');
    out
}

/// Where the daemon's configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    File(PathBuf),
    /// Built-in defaults: this file is absent.
    Defaults(PathBuf),
}

/// A decoded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub instance: String,
    pub fifo: PathBuf,
    pub config: ConfigOrigin,
    pub uptime: Duration,
    /// The counters line as the daemon wrote it, and its pairs in order
    /// (any names: a newer daemon may count more than this client knows).
    pub counters_line: String,
    pub counters: Vec<(String, u64)>,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("not a status answer of this version (first line {0:?})")]
    Version(String),
    #[error("malformed status answer: {0}")]
    Malformed(String),
}

/// Decodes `bytes` read so far: `Ok(None)` while the terminating empty line
/// has not arrived.
pub fn decode(bytes: &[u8]) -> Result<Option<Status>, StatusError> {
    let Some(end) = bytes.windows(2).position(|w| w == b"\n\n") else {
        return match bytes.split(|&b| b == b'\n').next() {
            // A first line that cannot become ours is refused at once.
            Some(first) if bytes.contains(&b'\n') && first != MAGIC => Err(StatusError::Version(
                String::from_utf8_lossy(first).into_owned(),
            )),
            _ => Ok(None),
        };
    };
    let mut lines = bytes[..end].split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    if first != MAGIC {
        return Err(StatusError::Version(
            String::from_utf8_lossy(first).into_owned(),
        ));
    }
    let malformed = |what: &str| StatusError::Malformed(what.to_owned());
    let (mut instance, mut fifo, mut config, mut uptime, mut counters_line) =
        (None, None, None, None, None);
    for line in lines {
        let split = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let (key, value) = (&line[..split], line.get(split + 1..).unwrap_or_default());
        let path = || PathBuf::from(OsString::from_vec(value.to_vec()));
        let text = || String::from_utf8_lossy(value).into_owned();
        match key {
            b"instance" => instance = Some(text()),
            b"fifo" => fifo = Some(path()),
            b"config" => config = Some(ConfigOrigin::File(path())),
            b"defaults" => config = Some(ConfigOrigin::Defaults(path())),
            b"uptime_ms" => {
                let ms: u64 = text().parse().map_err(|_| malformed("uptime_ms"))?;
                uptime = Some(Duration::from_millis(ms));
            }
            b"counters" => counters_line = Some(text()),
            // Lines of a newer daemon.
            _ => {}
        }
    }
    let counters_line = counters_line.ok_or_else(|| malformed("no counters"))?;
    let counters = counters_line
        .split_whitespace()
        .map(|word| {
            let (name, value) = word.split_once('=')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| malformed("counters"))?;
    Ok(Some(Status {
        instance: instance.ok_or_else(|| malformed("no instance"))?,
        fifo: fifo.ok_or_else(|| malformed("no fifo"))?,
        config: config.ok_or_else(|| malformed("no config"))?,
        uptime: uptime.ok_or_else(|| malformed("no uptime_ms"))?,
        counters_line,
        counters,
    }))
}

impl Status {
    /// For people: one `key: value` line each, the counters as in the
    /// daemon's summary line.
    pub fn to_text(&self) -> String {
        let config = match &self.config {
            ConfigOrigin::File(path) => path.display().to_string(),
            ConfigOrigin::Defaults(path) => {
                format!("built-in defaults ({} is absent)", path.display())
            }
        };
        format!(
            "instance: {}\nfifo: {}\nconfig: {config}\nuptime: {:.3} s\ncounters: {}\n",
            self.instance,
            self.fifo.display(),
            self.uptime.as_secs_f64(),
            self.counters_line
        )
    }

    /// For scripts: one JSON object (paths that are not UTF-8 are shown with
    /// U+FFFD, as everywhere else in the output).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(512);
        let (config_key, config) = match &self.config {
            ConfigOrigin::File(path) => ("config", path),
            ConfigOrigin::Defaults(path) => ("config_absent", path),
        };
        let _ = write!(
            out,
            "{{\"instance\":{},\"fifo\":{},\"{config_key}\":{},\"uptime_seconds\":{:.3},\"counters\":{{",
            json_string(&self.instance),
            json_path(&self.fifo),
            json_path(config),
            self.uptime.as_secs_f64()
        );
        for (i, (name, value)) in self.counters.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            let _ = write!(out, "{comma}{}:{value}", json_string(name));
        }
        out.push_str("}}\n");
        out
    }
}

fn json_path(path: &Path) -> String {
    json_string(&path.to_string_lossy())
}

/// A JSON string literal (RFC 8259: `"`, `\` and control characters escaped).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(config: Source) -> (About, Instant) {
        let started = Instant::now();
        let about = About {
            instance: "blue".into(),
            fifo: PathBuf::from("/run/fifo-pingd/instance/blue/fifo"),
            config,
            config_path: PathBuf::from("/etc/fifo-pingd/blue.toml"),
            started,
        };
        (about, started + Duration::from_millis(12_345))
    }

    #[test]
    fn an_answer_decodes_to_what_was_encoded() {
        let (about, now) = about(Source::File("/etc/fifo-pingd/blue.toml".into()));
        let counters = Counters {
            pings: 3,
            ends: 1,
            ..Counters::default()
        };
        let bytes = encode(&about, &counters, now);
        assert!(bytes.ends_with(b"\n\n") && bytes.starts_with(MAGIC));
        // Incomplete: wait for more.
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Ok(None));
        let status = decode(&bytes).expect("valid").expect("complete");
        assert_eq!(status.instance, "blue");
        assert_eq!(status.fifo, about.fifo);
        assert_eq!(
            status.config,
            ConfigOrigin::File("/etc/fifo-pingd/blue.toml".into())
        );
        assert_eq!(status.uptime, Duration::from_millis(12_345));
        assert_eq!(status.counters_line, counters.to_string());
        let parsed: Counters = status.counters_line.parse().expect("the counters line");
        assert_eq!(parsed, counters);
        assert_eq!(status.counters[0], ("pings".to_owned(), 3));
        assert_eq!(
            status.to_text(),
            format!(
                "instance: blue\nfifo: /run/fifo-pingd/instance/blue/fifo\nconfig: /etc/fifo-pingd/blue.toml\nuptime: 12.345 s\ncounters: {counters}\n"
            )
        );
    }

    #[test]
    fn built_in_defaults_name_the_absent_file() {
        let (about, now) = about(Source::BuiltIn);
        let status = decode(&encode(&about, &Counters::default(), now))
            .expect("valid")
            .expect("complete");
        assert_eq!(
            status.config,
            ConfigOrigin::Defaults("/etc/fifo-pingd/blue.toml".into())
        );
        assert!(
            status
                .to_text()
                .contains("config: built-in defaults (/etc/fifo-pingd/blue.toml is absent)")
        );
        assert!(
            status
                .to_json()
                .contains("\"config_absent\":\"/etc/fifo-pingd/blue.toml\"")
        );
    }

    #[test]
    fn json_is_one_object_with_escaped_strings() {
        let (mut about, now) = about(Source::BuiltIn);
        about.fifo = PathBuf::from("/tmp/a \"b\\c");
        let json = decode(&encode(&about, &Counters::default(), now))
            .expect("valid")
            .expect("complete")
            .to_json();
        assert!(json.starts_with("{\"instance\":\"blue\",\"fifo\":\"/tmp/a \\\"b\\\\c\","));
        assert!(json.contains("\"uptime_seconds\":12.345,\"counters\":{\"pings\":0,"));
        assert!(json.ends_with("}}\n"));
        assert_eq!(json_string("a\u{1}\n"), "\"a\\u0001\\n\"");
    }

    #[test]
    fn other_answers_are_refused() {
        assert!(matches!(
            decode(b"pong\n"),
            Err(StatusError::Version(first)) if first == "pong"
        ));
        assert!(matches!(
            decode(b"fifo-pingd-status 1\ninstance x\n\n"),
            Err(StatusError::Malformed(_))
        ));
        assert_eq!(decode(b"fifo-pingd-st"), Ok(None));
    }
}
