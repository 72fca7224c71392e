//! The TOML configuration: parsing (with line and column in every error),
//! semantic validation, and the effective configuration the daemon runs with.

use std::fmt::{self, Write as _};
use std::fs;
use std::io::{self, Read as _};
use std::ops::Range;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};
use serde::Deserialize;
use thiserror::Error;

use crate::exit::{EX_CONFIG, Failure};

mod instance;
use crate::users;
pub use instance::{
    DEFAULT_INSTANCE_NAME, INSTANCE_CONFIG_DIRECTORY, INSTANCE_DEFAULT_GROUP,
    INSTANCE_RUNTIME_ROOT, Instance, InstanceError, MAX_INSTANCE_NAME_BYTES,
};
use toml::Spanned;

/// Where the packaged configuration lives.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/fifo-pingd/fifo-pingd.toml";
/// The control FIFO, inside the daemon's runtime directory (the unit's
/// `RuntimeDirectory=fifo-pingd/default`, removed by systemd at the stop).
/// Users write to the link [`USER_FIFO_LINK`] that points here.
pub const DEFAULT_FIFO_PATH: &str = "/run/fifo-pingd/default/fifo";
/// The link users write to (`echo ping > /run/fifo-ping`), made by
/// tmpfiles.d: it dangles while the daemon is stopped, so a write through it
/// fails with ENOENT instead of creating a file in the FIFO's place.
pub const USER_FIFO_LINK: &str = "/run/fifo-ping";
/// Where journald takes native-protocol datagrams (systemd.io/JOURNAL_NATIVE_PROTOCOL).
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
pub const DEFAULT_MODE: u32 = 0o620;
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4096;
/// Upper bound for `max_message_bytes`: the parser never holds a run anyway,
/// but a larger value would only delay the rejection of garbage.
pub const MAX_MAX_MESSAGE_BYTES: usize = 1 << 20;
pub const DEFAULT_PING_LINES_PER_SECOND: u32 = 100;
/// The bucket of `received ping` lines: covers a seed session (101 pings at
/// once) plus a few by hand before the rate limit shows.
pub const DEFAULT_PING_LINES_BURST: u32 = 1000;
/// Upper bound for `ping_lines_burst`: beyond it a burst is no longer a
/// limit on how fast the log fills (use ping_lines_per_second = 0 for that).
pub const MAX_PING_LINES_BURST: u32 = 1_000_000;
/// Largest configuration file read: a real one is a few KiB, and reading a
/// runaway file whole would cost its size in memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Where clients of `fifo-pingctl ping --wait` put their reply FIFOs.
pub const DEFAULT_REPLY_DIRECTORY: &str = "/run/fifo-pingd/reply";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration file: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Unsafe { path: PathBuf, message: String },
    #[error(
        "{path}: expected a configuration file of at most {mib} MiB, found {found}; refusing to read it",
        mib = MAX_CONFIG_BYTES >> 20
    )]
    TooLarge { path: PathBuf, found: String },
    #[error("{0}")]
    Override(String),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure {
            code: EX_CONFIG,
            message: e.to_string(),
        }
    }
}

/// What happens when a writer sends `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnEnd {
    Shutdown,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Syslog,
    /// The journal's native protocol (structured entries).
    Journal,
    Stderr,
    Auto,
}

impl LogTarget {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "syslog" => Some(LogTarget::Syslog),
            "journal" => Some(LogTarget::Journal),
            "stderr" => Some(LogTarget::Stderr),
            "auto" => Some(LogTarget::Auto),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            LogTarget::Syslog => "syslog",
            LogTarget::Journal => "journal",
            LogTarget::Stderr => "stderr",
            LogTarget::Auto => "auto",
        }
    }
}

/// Syslog severities the daemon filters on, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

impl Level {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "err" | "error" => Some(Level::Err),
            "warning" | "warn" => Some(Level::Warning),
            "notice" => Some(Level::Notice),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Err => "err",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// A user or group as written in the file: a name or a numeric id.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum IdSpec {
    Number(u32),
    Name(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    fifo: RawFifo,
    #[serde(default)]
    messages: RawMessages,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    reply: RawReply,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    directory: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFifo {
    path: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    owner: Option<Spanned<IdSpec>>,
    group: Option<Spanned<IdSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessages {
    on_end: Option<OnEnd>,
    max_message_bytes: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    target: Option<LogTarget>,
    syslog_socket: Option<Spanned<String>>,
    journal_socket: Option<Spanned<String>>,
    facility: Option<Spanned<String>>,
    level: Option<Spanned<String>>,
    ping_lines_per_second: Option<Spanned<i64>>,
    ping_lines_burst: Option<Spanned<i64>>,
}

/// A resolved owner or group: the id and how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub id: u32,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoConfig {
    pub path: PathBuf,
    /// Permission bits, applied exactly with `fchmod`.
    pub mode: u32,
    /// `None`: leave the owner the daemon's own (no `fchown`).
    pub owner: Option<Ident>,
    pub group: Option<Ident>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesConfig {
    pub on_end: OnEnd,
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub target: LogTarget,
    pub syslog_socket: PathBuf,
    /// The journal's native socket (`/run/systemd/journal/socket`).
    pub journal_socket: PathBuf,
    pub facility: syslog::Facility,
    pub facility_name: String,
    pub level: Level,
    /// The refill rate of the bucket of `received ping` lines; 0 means no limit.
    pub ping_lines_per_second: u32,
    /// The bucket's capacity: lines logged at once before the rate applies.
    pub ping_lines_burst: u32,
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// The default file was absent: built-in defaults.
    BuiltIn,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Which daemon this is (its name in logs, metrics and `status`).
    pub instance: Instance,
    pub source: Source,
    pub fifo: FifoConfig,
    pub messages: MessagesConfig,
    pub log: LogConfig,
    /// Directory of the clients' reply FIFOs for `?ping NAME`.
    pub reply_directory: PathBuf,
}

/// Command-line settings that win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub fifo_path: Option<PathBuf>,
    pub log_target: Option<LogTarget>,
}

/// Which daemon, and which file to read.
#[derive(Debug, Clone)]
pub struct Location {
    instance: Instance,
    path: PathBuf,
    /// `--config PATH`: the file must exist. Otherwise the instance's own
    /// file, with built-in defaults when it is absent.
    explicit: bool,
}

impl Location {
    /// `file`: the `--config` path, if one was given.
    pub fn new(instance: Instance, file: Option<PathBuf>) -> Location {
        let explicit = file.is_some();
        let path = file.unwrap_or_else(|| instance.config_path());
        Location {
            instance,
            path,
            explicit,
        }
    }

    /// A file named on the command line, for the default instance.
    pub fn explicit(path: PathBuf) -> Location {
        Location::new(Instance::Default, Some(path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Whether the file may be absent (then the built-in defaults apply).
    pub fn is_optional(&self) -> bool {
        !self.explicit
    }
}

impl Default for Location {
    /// The default instance's packaged file.
    fn default() -> Location {
        Location::new(Instance::Default, None)
    }
}

/// Reads, parses and validates the configuration.
pub fn load(location: &Location, overrides: &Overrides) -> Result<Config, ConfigError> {
    match read_trusted(location)? {
        Some(text) => parse(&text, location, overrides),
        None => {
            let mut config = parse("", location, overrides)?;
            config.source = Source::BuiltIn;
            Ok(config)
        }
    }
}

/// The configuration file's text, read the one way both binaries read it:
/// None when the default file does not exist; refused (never hanging) when
/// it is not a regular file we may trust or larger than
/// [`MAX_CONFIG_BYTES`].
pub fn read_trusted(location: &Location) -> Result<Option<String>, ConfigError> {
    let path = location.path();
    // The path shows in every error below: keep those one line.
    check_no_control_characters(path)
        .map_err(|m| ConfigError::Override(format!("--config: {m}")))?;
    // One open for the check and the read, so that the file checked is the
    // file read (a path swapped in between cannot slip an untrusted file
    // past the check); O_NONBLOCK so that a FIFO at the path cannot hang us.
    match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => {
            let meta = check_file_is_trusted(path, &file)?;
            read_text(path, file, meta.len()).map(Some)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && location.is_optional() => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads the open configuration file, whose `fstat` gave `size`, refusing one
/// larger than [`MAX_CONFIG_BYTES`] before reading it and, since it may grow
/// after the `fstat`, while reading it (never more than the limit plus one
/// byte is read).
fn read_text(path: &Path, file: fs::File, size: u64) -> Result<String, ConfigError> {
    let too_large = |found: String| ConfigError::TooLarge {
        path: path.to_owned(),
        found,
    };
    if size > MAX_CONFIG_BYTES {
        return Err(too_large(format!("{size} bytes")));
    }
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(format!(
            "more than {MAX_CONFIG_BYTES} bytes (it grew while being read)"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| read_error(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())))
}

/// A configuration that anyone but root or us can change would let them
/// redirect the FIFO or its ownership: refuse it.
/// Only a regular file: reading a device (`/dev/zero`) would never end.
/// Returns the file's metadata (of the open descriptor).
fn check_file_is_trusted(path: &Path, file: &fs::File) -> Result<fs::Metadata, ConfigError> {
    let meta = file.metadata().map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        let kind = meta.file_type();
        let found = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "a file that is not a regular file"
        };
        return Err(ConfigError::Unsafe {
            path: path.to_owned(),
            message: format!("expected a regular file, found {found}; refusing to read it"),
        });
    }
    let euid = Uid::effective().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(ConfigError::Unsafe {
            path: path.to_owned(),
            message: format!(
                "expected a file owned by root or uid {euid}, found one owned by uid {}; refusing to use it",
                meta.uid()
            ),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(ConfigError::Unsafe {
            path: path.to_owned(),
            message: format!(
                "expected a file only its owner may change, found mode {mode:04o} (world-writable); refusing to use it (chmod o-w)"
            ),
        });
    }
    // Like sshd's StrictModes: a group may share write access only if it is
    // root's group (or our own).
    let egid = Gid::effective().as_raw();
    if mode & 0o020 != 0 && meta.gid() != 0 && meta.gid() != egid {
        return Err(ConfigError::Unsafe {
            path: path.to_owned(),
            message: format!(
                "expected a file only root may change, found mode {mode:04o} writable by group gid {}; refusing to use it (chmod g-w)",
                meta.gid()
            ),
        });
    }
    Ok(meta)
}

/// Parses and validates `text` (the contents of the file `location` names;
/// the paths it does not set are its instance's).
pub fn parse(
    text: &str,
    location: &Location,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let path = location.path();
    let instance = location.instance();
    let invalid = |span: Option<Range<usize>>, message: String| {
        let (line, column) = line_column(text, span.map_or(0, |s| s.start));
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    };
    let raw: RawFile =
        toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_owned()))?;

    // Every path key goes through `validate_path`; the file's value is
    // checked even when `--fifo` overrides it, so that --check-config with
    // the override does not pass a file the service would refuse.
    let path_key = |key: &str, spanned: &Spanned<String>| {
        let path = PathBuf::from(spanned.get_ref());
        validate_path(&path)
            .map(|()| path)
            .map_err(|m| invalid(Some(spanned.span()), format!("{key}: {m}")))
    };
    let file_fifo_path = match &raw.fifo.path {
        Some(spanned) => {
            let path = path_key("[fifo] path", spanned)?;
            validate_fifo_path(&path)
                .map_err(|m| invalid(Some(spanned.span()), format!("[fifo] path: {m}")))?;
            path
        }
        None => instance.fifo_path(),
    };
    let fifo_path = match &overrides.fifo_path {
        Some(path) => {
            validate_path(path)
                .and_then(|()| validate_fifo_path(path))
                .map_err(|m| ConfigError::Override(format!("--fifo: {m}")))?;
            path.clone()
        }
        None => file_fifo_path,
    };

    let mode = match &raw.fifo.mode {
        Some(spanned) => parse_mode(spanned.get_ref())
            .map_err(|m| invalid(Some(spanned.span()), format!("[fifo] mode: {m}")))?,
        None => DEFAULT_MODE,
    };
    let owner = match &raw.fifo.owner {
        Some(spanned) => Some(
            resolve_user(spanned.get_ref())
                .map_err(|m| invalid(Some(spanned.span()), format!("[fifo] owner: {m}")))?,
        ),
        None => None,
    };
    let group = match &raw.fifo.group {
        Some(spanned) => Some(
            resolve_group(spanned.get_ref())
                .map_err(|m| invalid(Some(spanned.span()), format!("[fifo] group: {m}")))?,
        ),
        // A named instance is a packaged one: its members' group, as the
        // default instance's shipped file sets it.
        None => match instance.default_group() {
            Some(name) => Some(
                resolve_group(&IdSpec::Name(name.to_owned()))
                    .map_err(|m| invalid(None, format!("[fifo] group (instance default): {m}")))?,
            ),
            None => None,
        },
    };

    let max_message_bytes = match &raw.messages.max_message_bytes {
        Some(spanned) => {
            let value = *spanned.get_ref();
            if value < 1 || value as u64 > MAX_MAX_MESSAGE_BYTES as u64 {
                return Err(invalid(
                    Some(spanned.span()),
                    format!(
                        "[messages] max_message_bytes: expected 1 to {MAX_MAX_MESSAGE_BYTES}, found {value}"
                    ),
                ));
            }
            value as usize
        }
        None => DEFAULT_MAX_MESSAGE_BYTES,
    };

    let syslog_socket = match &raw.log.syslog_socket {
        Some(spanned) => path_key("[log] syslog_socket", spanned)?,
        None => PathBuf::from("/dev/log"),
    };
    let journal_socket = match &raw.log.journal_socket {
        Some(spanned) => path_key("[log] journal_socket", spanned)?,
        None => PathBuf::from(JOURNAL_SOCKET),
    };
    let (facility, facility_name) = match &raw.log.facility {
        Some(spanned) => {
            let name = spanned.get_ref().to_ascii_lowercase();
            let facility: syslog::Facility = name.parse().map_err(|()| {
                invalid(
                    Some(spanned.span()),
                    format!(
                        "[log] facility: expected a syslog facility (daemon, user, local0 … local7, …), found {:?}",
                        spanned.get_ref()
                    ),
                )
            })?;
            (facility, name.trim_start_matches("log_").to_owned())
        }
        None => (syslog::Facility::LOG_DAEMON, "daemon".to_owned()),
    };
    let level = match &raw.log.level {
        Some(spanned) => Level::parse(spanned.get_ref()).ok_or_else(|| {
            invalid(
                Some(spanned.span()),
                format!(
                    "[log] level: expected one of err, warning, notice, info, debug, found {:?}",
                    spanned.get_ref()
                ),
            )
        })?,
        None => Level::Info,
    };
    let ping_lines_per_second = match &raw.log.ping_lines_per_second {
        Some(spanned) => u32::try_from(*spanned.get_ref()).map_err(|_| {
            invalid(
                Some(spanned.span()),
                format!(
                    "[log] ping_lines_per_second: expected 0 (no limit) to {}, found {}",
                    u32::MAX,
                    spanned.get_ref()
                ),
            )
        })?,
        None => DEFAULT_PING_LINES_PER_SECOND,
    };
    let ping_lines_burst = match &raw.log.ping_lines_burst {
        Some(spanned) => u32::try_from(*spanned.get_ref())
            .ok()
            .filter(|n| (1..=MAX_PING_LINES_BURST).contains(n))
            .ok_or_else(|| {
                invalid(
                    Some(spanned.span()),
                    format!(
                        "[log] ping_lines_burst: expected 1 to {MAX_PING_LINES_BURST}, found {}",
                        spanned.get_ref()
                    ),
                )
            })?,
        None => DEFAULT_PING_LINES_BURST,
    };

    let reply_directory = match &raw.reply.directory {
        Some(spanned) => path_key("[reply] directory", spanned)?,
        None => instance.reply_directory(),
    };

    Ok(Config {
        instance: instance.clone(),
        reply_directory,
        source: Source::File(path.to_owned()),
        fifo: FifoConfig {
            path: fifo_path,
            mode,
            owner,
            group,
        },
        messages: MessagesConfig {
            on_end: raw.messages.on_end.unwrap_or(OnEnd::Shutdown),
            max_message_bytes,
        },
        log: LogConfig {
            target: overrides
                .log_target
                .or(raw.log.target)
                .unwrap_or(LogTarget::Auto),
            syslog_socket,
            journal_socket,
            facility,
            facility_name,
            level,
            ping_lines_per_second,
            ping_lines_burst,
        },
    })
}

/// The rule for every path key: absolute and without control characters
/// (C0, DEL, C1). A newline would name a file with it and split every log
/// line that shows the path; a NUL would pass here and fail only in the
/// system call. Shown escaped (`{:?}`) so that the error stays one line.
fn validate_path(path: &Path) -> Result<(), String> {
    check_no_control_characters(path)?;
    if !path.is_absolute() {
        return Err(format!("expected an absolute path, found {path:?}"));
    }
    Ok(())
}

/// `char::is_control` is exactly U+0000–U+001F and U+007F–U+009F; bytes
/// that are not UTF-8 become U+FFFD here, which is not one.
fn check_no_control_characters(path: &Path) -> Result<(), String> {
    if path.to_string_lossy().chars().any(char::is_control) {
        return Err(format!(
            "expected a path without control characters, found {path:?}"
        ));
    }
    Ok(())
}

/// The FIFO's path, beyond [`validate_path`]: it must name a file.
fn validate_fifo_path(path: &Path) -> Result<(), String> {
    if path.file_name().is_none() {
        return Err(format!("expected a path to a file, found {path:?}"));
    }
    Ok(())
}

/// Parses an octal mode such as `"0620"` or `"620"`. Only permission bits:
/// set-id and sticky bits mean nothing on a FIFO.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(format!(
            "expected an octal mode like \"0620\", found {text:?}"
        ));
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|e| e.to_string())?;
    if mode > 0o777 {
        return Err(format!(
            "expected permission bits only (at most 0777), found {text:?}"
        ));
    }
    Ok(mode)
}

fn resolve_user(spec: &IdSpec) -> Result<Ident, String> {
    match spec {
        IdSpec::Number(uid) => Ok(Ident {
            id: *uid,
            name: users::user_name(*uid),
        }),
        IdSpec::Name(name) => {
            if let Ok(uid) = name.parse::<u32>() {
                return resolve_user(&IdSpec::Number(uid));
            }
            match User::from_name(name) {
                Ok(Some(user)) => Ok(Ident {
                    id: user.uid.as_raw(),
                    name: user.name,
                }),
                Ok(None) => Err(format!(
                    "expected an existing user, found no user named {name:?}"
                )),
                Err(e) => Err(format!("cannot look up user {name:?}: {e}")),
            }
        }
    }
}

fn resolve_group(spec: &IdSpec) -> Result<Ident, String> {
    match spec {
        IdSpec::Number(gid) => Ok(Ident {
            id: *gid,
            name: users::group_name(*gid),
        }),
        IdSpec::Name(name) => {
            if let Ok(gid) = name.parse::<u32>() {
                return resolve_group(&IdSpec::Number(gid));
            }
            match Group::from_name(name) {
                Ok(Some(group)) => Ok(Ident {
                    id: group.gid.as_raw(),
                    name: group.name,
                }),
                Ok(None) => Err(format!(
                    "expected an existing group, found no group named {name:?} (create it, e.g. with systemd-sysusers or groupadd --system)"
                )),
                Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
            }
        }
    }
}

/// 1-based line and column of a byte offset (for errors that point into a file).
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

impl Config {
    /// Checks that need the file system: the FIFO's directory must exist.
    pub fn check_environment(&self) -> Result<(), ConfigError> {
        let parent = self.fifo.path.parent().unwrap_or_else(|| Path::new("/"));
        match fs::metadata(parent) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(ConfigError::Override(format!(
                "{}: expected the FIFO's parent to be a directory, found something else",
                parent.display()
            ))),
            Err(e) => Err(ConfigError::Override(format!(
                "{}: expected the FIFO's parent directory to exist: {e}",
                parent.display()
            ))),
        }
    }

    /// The effective configuration as TOML, for `--check-config`.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let source = match &self.source {
            Source::File(path) => format!("# effective configuration from {}", path.display()),
            Source::BuiltIn => format!(
                "# effective configuration: built-in defaults ({} is absent)",
                self.instance.config_path().display()
            ),
        };
        let ident = |key: &str, ident: &Option<Ident>, own: u32| match ident {
            Some(i) => format!("{key} = {:?} # id {}", i.name, i.id),
            None => format!("# {key} not set: stays the daemon's own ({own}), no chown"),
        };
        let _ = writeln!(out, "{source}");
        if let Instance::Named(name) = &self.instance {
            let _ = writeln!(out, "# instance {name} ({})", self.instance.unit());
        }
        let _ = writeln!(out, "[fifo]");
        let _ = writeln!(out, "path = {:?}", self.fifo.path.display().to_string());
        let _ = writeln!(out, "mode = \"{:04o}\"", self.fifo.mode);
        let _ = writeln!(
            out,
            "{}",
            ident("owner", &self.fifo.owner, Uid::effective().as_raw())
        );
        let _ = writeln!(
            out,
            "{}",
            ident("group", &self.fifo.group, Gid::effective().as_raw())
        );
        let _ = writeln!(out, "\n[messages]");
        let on_end = match self.messages.on_end {
            OnEnd::Shutdown => "shutdown",
            OnEnd::Ignore => "ignore",
        };
        let _ = writeln!(out, "on_end = {on_end:?}");
        let _ = writeln!(
            out,
            "max_message_bytes = {}",
            self.messages.max_message_bytes
        );
        let _ = writeln!(out, "\n[log]");
        let _ = writeln!(out, "target = {:?}", self.log.target.as_str());
        let _ = writeln!(
            out,
            "syslog_socket = {:?}",
            self.log.syslog_socket.display().to_string()
        );
        let _ = writeln!(
            out,
            "journal_socket = {:?}",
            self.log.journal_socket.display().to_string()
        );
        let _ = writeln!(out, "facility = {:?}", self.log.facility_name);
        let _ = writeln!(out, "level = {:?}", self.log.level.as_str());
        let _ = writeln!(
            out,
            "ping_lines_per_second = {}",
            self.log.ping_lines_per_second
        );
        let _ = writeln!(out, "ping_lines_burst = {}", self.log.ping_lines_burst);
        let _ = writeln!(out, "\n[reply]");
        let _ = writeln!(
            out,
            "directory = {:?}",
            self.reply_directory.display().to_string()
        );
        out
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(
            text,
            &Location::explicit("/etc/x.toml".into()),
            &Overrides::default(),
        )
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse_str(
            r#"
[fifo]
path  = "/run/fifo-ping"
mode  = "0620"
owner = "root"
group = 0

[messages]
on_end = "ignore"
max_message_bytes = 100

[log]
target = "stderr"
syslog_socket = "/dev/log"
facility = "local3"
level = "debug"
ping_lines_per_second = 0
"#,
        )
        .expect("valid config");
        assert_eq!(config.fifo.path, Path::new("/run/fifo-ping"));
        assert_eq!(config.fifo.mode, 0o620);
        assert_eq!(config.fifo.owner.as_ref().map(|i| i.id), Some(0));
        assert_eq!(config.fifo.group.as_ref().map(|i| i.id), Some(0));
        assert_eq!(config.messages.on_end, OnEnd::Ignore);
        assert_eq!(config.messages.max_message_bytes, 100);
        assert_eq!(config.log.target, LogTarget::Stderr);
        assert_eq!(config.log.level, Level::Debug);
        assert_eq!(config.log.facility_name, "local3");
        assert_eq!(config.log.ping_lines_per_second, 0);
    }

    #[test]
    fn every_key_has_a_default() {
        let config = parse_str("").expect("empty config is valid");
        assert_eq!(config.fifo.path, Path::new(DEFAULT_FIFO_PATH));
        assert_eq!(config.fifo.mode, DEFAULT_MODE);
        assert_eq!(config.fifo.owner, None);
        assert_eq!(config.messages.on_end, OnEnd::Shutdown);
        assert_eq!(config.messages.max_message_bytes, 4096);
        assert_eq!(config.log.target, LogTarget::Auto);
        assert_eq!(config.log.level, Level::Info);
    }

    fn error_text(text: &str) -> String {
        parse_str(text).expect_err("should be rejected").to_string()
    }

    #[test]
    fn unknown_keys_are_reported_with_line_and_column() {
        let e = error_text("[fifo]\npath = \"/run/x\"\nmodee = \"0620\"\n");
        assert!(
            e.starts_with("/etc/x.toml:3:1: unknown field `modee`"),
            "{e}"
        );
        let e = error_text("[fifoo]\n");
        assert!(e.starts_with("/etc/x.toml:1:"), "{e}");
    }

    #[test]
    fn bad_values_point_at_the_value() {
        let e = error_text("[fifo]\nmode = \"0999\"\n");
        assert!(e.starts_with("/etc/x.toml:2:8: [fifo] mode"), "{e}");
        let e = error_text("[fifo]\nmode = 620\n");
        assert!(
            e.starts_with("/etc/x.toml:2:8:"),
            "decimal mode refused: {e}"
        );
        let e = error_text("[fifo]\ngroup = \"no-such-group-xyz\"\n");
        assert!(e.contains("no group named \"no-such-group-xyz\""), "{e}");
        let e = error_text("[fifo]\npath = \"relative\"\n");
        assert!(e.contains("absolute path"), "{e}");
        let e = error_text("[messages]\nmax_message_bytes = 0\n");
        assert!(e.contains("expected 1 to"), "{e}");
        let e = error_text("[messages]\non_end = \"explode\"\n");
        assert!(e.starts_with("/etc/x.toml:2:"), "{e}");
        let e = error_text("[log]\nlevel = \"loud\"\n");
        assert!(e.contains("[log] level"), "{e}");
        let e = error_text("[log]\nfacility = \"nope\"\n");
        assert!(e.contains("[log] facility"), "{e}");
        let e = error_text("[log]\nping_lines_per_second = -1\n");
        assert!(e.contains("ping_lines_per_second"), "{e}");
        let e = error_text("[fifo\n");
        assert!(e.starts_with("/etc/x.toml:1:"), "{e}");
    }

    #[test]
    fn a_config_writable_by_another_group_is_refused() {
        if !Uid::effective().is_root() {
            eprintln!("skipped: needs root to give the file another group");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        fs::write(&path, "").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).expect("chmod");
        nix::unistd::chown(&path, None, Some(Gid::from_raw(65534))).expect("chgrp");
        let location = Location::explicit(path.clone());
        let e = load(&location, &Overrides::default()).expect_err("group-writable");
        assert!(e.to_string().contains("writable by group gid 65534"), "{e}");
        nix::unistd::chown(&path, None, Some(Gid::from_raw(0))).expect("chgrp root");
        load(&location, &Overrides::default()).expect("root's group may write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        nix::unistd::chown(&path, None, Some(Gid::from_raw(65534))).expect("chgrp");
        load(&location, &Overrides::default()).expect("read-only for the group");
    }

    #[test]
    fn modes_are_octal_permission_bits() {
        assert_eq!(parse_mode("0620"), Ok(0o620));
        assert_eq!(parse_mode("620"), Ok(0o620));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert!(parse_mode("4620").is_err(), "set-uid bit");
        assert!(parse_mode("").is_err());
        assert!(parse_mode("rw").is_err());
        assert!(parse_mode("06200").is_err());
    }

    #[test]
    fn overrides_win_over_the_file() {
        let overrides = Overrides {
            fifo_path: Some(PathBuf::from("/tmp/other")),
            log_target: Some(LogTarget::Stderr),
        };
        let config = parse(
            "[fifo]\npath = \"/run/x\"\n[log]\ntarget = \"syslog\"\n",
            &Location::explicit("/c".into()),
            &overrides,
        )
        .expect("valid");
        assert_eq!(config.fifo.path, Path::new("/tmp/other"));
        assert_eq!(config.log.target, LogTarget::Stderr);
    }

    #[test]
    fn effective_config_round_trips() {
        let config = parse_str("[fifo]\nmode = \"0640\"\nowner = 0\n").expect("valid");
        let printed = config.to_toml();
        let again = parse_str(&printed).expect("printed config parses");
        assert_eq!(again.fifo, config.fifo);
        assert_eq!(again.messages, config.messages);
    }

    /// A file of `len` bytes that is valid TOML (one comment line).
    fn config_file_of(dir: &tempfile::TempDir, len: u64) -> PathBuf {
        let path = dir.path().join("c.toml");
        let len = usize::try_from(len).expect("small");
        let mut text = "#".repeat(len - 1);
        text.push('\n');
        fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn a_config_up_to_the_size_limit_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        for len in [MAX_CONFIG_BYTES - 1, MAX_CONFIG_BYTES] {
            let path = config_file_of(&dir, len);
            load(&Location::explicit(path), &Overrides::default())
                .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
        }
    }

    #[test]
    fn a_config_over_the_size_limit_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = config_file_of(&dir, MAX_CONFIG_BYTES + 1);
        let e =
            load(&Location::explicit(path.clone()), &Overrides::default()).expect_err("too large");
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: expected a configuration file of at most 1 MiB, found 1048577 bytes; refusing to read it",
                path.display()
            )
        );
    }

    #[test]
    fn a_config_that_grows_after_the_fstat_is_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = config_file_of(&dir, MAX_CONFIG_BYTES + 1);
        let file = fs::File::open(&path).expect("open");
        // As if fstat had seen the file still empty.
        let e = read_text(&path, file, 0).expect_err("grew");
        assert!(
            e.to_string().contains("found more than 1048576 bytes"),
            "{e}"
        );
        let path = config_file_of(&dir, MAX_CONFIG_BYTES);
        let file = fs::File::open(&path).expect("open");
        read_text(&path, file, 0).expect("exactly the limit");
    }

    const CONTROL_CHARACTERS: [char; 5] = ['\n', '\0', '\x7f', '\u{85}', '\t'];

    #[test]
    fn every_path_key_refuses_control_characters() {
        for (table, key) in [
            ("fifo", "path"),
            ("log", "syslog_socket"),
            ("log", "journal_socket"),
            ("reply", "directory"),
        ] {
            for c in CONTROL_CHARACTERS {
                let value = format!("/run/a{c}b");
                let text = format!("[{table}]\n{key} = {}\n", toml::Value::from(value.as_str()));
                let e = error_text(&text);
                assert_eq!(
                    e,
                    format!(
                        "/etc/x.toml:2:{}: [{table}] {key}: expected a path without control characters, found {value:?}",
                        key.len() + 4
                    )
                );
                assert!(!e.contains(c), "the value is shown escaped: {e}");
            }
        }
        let e = error_text("[fifo]\npath = \"/run/a\\nb\"\n");
        assert!(
            e.ends_with(
                r#"[fifo] path: expected a path without control characters, found "/run/a\nb""#
            ),
            "{e}"
        );
        // Printable non-ASCII is fine.
        let config = parse_str("[fifo]\npath = \"/run/caf\u{e9}\"\n").expect("valid");
        assert_eq!(config.fifo.path, Path::new("/run/caf\u{e9}"));
    }

    #[test]
    fn the_fifo_override_refuses_control_characters() {
        for c in CONTROL_CHARACTERS {
            let value = format!("/run/a{c}b");
            let overrides = Overrides {
                fifo_path: Some(PathBuf::from(&value)),
                log_target: None,
            };
            let e = parse("", &Location::explicit("/c".into()), &overrides).expect_err("refused");
            assert!(matches!(e, ConfigError::Override(_)), "{e:?}");
            assert_eq!(
                e.to_string(),
                format!("--fifo: expected a path without control characters, found {value:?}")
            );
        }
        // The file's own value is checked even when overridden.
        let overrides = Overrides {
            fifo_path: Some(PathBuf::from("/run/ok")),
            log_target: None,
        };
        let e = parse(
            "[fifo]\npath = \"/run/a\\u0000b\"\n",
            &Location::explicit("/c".into()),
            &overrides,
        )
        .expect_err("refused");
        assert!(
            e.to_string()
                .contains("[fifo] path: expected a path without control"),
            "{e}"
        );
    }

    #[test]
    fn a_config_path_with_control_characters_is_refused() {
        let location = Location::explicit(PathBuf::from("/tmp/a\nb.toml"));
        let e = load(&location, &Overrides::default()).expect_err("refused");
        assert_eq!(
            e.to_string(),
            r#"--config: expected a path without control characters, found "/tmp/a\nb.toml""#
        );
    }

    #[test]
    fn ping_lines_burst_is_1_to_a_million() {
        assert_eq!(
            parse_str("").expect("valid").log.ping_lines_burst,
            DEFAULT_PING_LINES_BURST
        );
        let config = parse_str("[log]\nping_lines_burst = 1000000\n").expect("valid");
        assert_eq!(config.log.ping_lines_burst, 1_000_000);
        assert_eq!(
            parse_str("[log]\nping_lines_burst = 1\n")
                .expect("valid")
                .log
                .ping_lines_burst,
            1
        );
        for bad in ["0", "-1", "1000001", "4294967297"] {
            let e = error_text(&format!("[log]\nping_lines_burst = {bad}\n"));
            assert_eq!(
                e,
                format!(
                    "/etc/x.toml:2:20: [log] ping_lines_burst: expected 1 to 1000000, found {bad}"
                )
            );
        }
        let printed = config.to_toml();
        assert!(
            printed.contains("\nping_lines_burst = 1000000\n"),
            "{printed}"
        );
        let again = parse_str(&printed).expect("printed config parses");
        assert_eq!(again.log.ping_lines_burst, 1_000_000);
    }
}
