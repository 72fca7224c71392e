use super::args::{Command, Options};
use crate::config::{ConfigError, read_trusted};
use std::io::{self};
use std::ops::Range;
use std::path::{Path, PathBuf};

use nix::sys::stat::lstat;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{Instance, Location, USER_FIFO_LINK};
use crate::exit::{EX_CONFIG, Failure};

// ---------------------------------------------------------------------------
// Where the FIFO and the reply directory are

/// The two keys of the daemon's configuration the client needs. Everything
/// else (owner, group, log settings, keys of newer versions) is ignored: a
/// client on a host where the configured group does not resolve, or run by a
/// user who could not use the log socket, must still find the FIFO.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LooseFile {
    #[serde(default)]
    fifo: LooseFifo,
    #[serde(default)]
    reply: LooseReply,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LooseFifo {
    path: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LooseReply {
    directory: Option<Spanned<String>>,
}

/// What the client took from a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientConfig {
    pub fifo_path: Option<PathBuf>,
    pub reply_directory: Option<PathBuf>,
}

pub(crate) fn config_failure(message: String) -> Failure {
    Failure {
        code: EX_CONFIG,
        message,
    }
}

/// Parses the two keys out of `text` (the contents of `path`).
pub fn parse_client_config(text: &str, path: &Path) -> Result<ClientConfig, Failure> {
    let at = |span: Option<Range<usize>>, message: &str| {
        let (line, column) = crate::config::line_column(text, span.map_or(0, |s| s.start));
        config_failure(format!("{}:{line}:{column}: {message}", path.display()))
    };
    let raw: LooseFile = toml::from_str(text).map_err(|e| at(e.span(), e.message().trim()))?;
    let absolute = |key: &str, value: &Spanned<String>| {
        let p = PathBuf::from(value.get_ref());
        if p.is_absolute() {
            Ok(p)
        } else {
            Err(at(
                Some(value.span()),
                &format!(
                    "{key}: expected an absolute path, found {:?}",
                    value.get_ref()
                ),
            ))
        }
    };
    Ok(ClientConfig {
        fifo_path: raw
            .fifo
            .path
            .as_ref()
            .map(|v| absolute("[fifo] path", v))
            .transpose()?,
        reply_directory: raw
            .reply
            .directory
            .as_ref()
            .map(|v| absolute("[reply] directory", v))
            .transpose()?,
    })
}

/// Reads the configuration file. `Ok(None)`: the default file is absent or
/// unreadable to this user, so the built-in defaults apply. An explicit
/// `--config` that cannot be read, and any file that does not parse or that
/// others could have changed (the daemon's own trust rule), is an error.
pub fn read_client_config(location: &Location) -> Result<Option<ClientConfig>, Failure> {
    // The daemon's own reader: the same files are refused with the same
    // words, and a FIFO, a device or a huge file cannot hang the client.
    match read_trusted(location) {
        Ok(Some(text)) => parse_client_config(&text, location.path()).map(Some),
        Ok(None) => Ok(None),
        // The default file of a daemon the user may not read: the paths
        // are still the built-in ones.
        Err(ConfigError::Read { source, .. })
            if location.is_optional() && source.kind() == io::ErrorKind::PermissionDenied =>
        {
            Ok(None)
        }
        Err(e) => Err(config_failure(e.to_string())),
    }
}

/// The resolved paths, and where the FIFO path came from (for hints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub fifo: PathBuf,
    pub fifo_origin: String,
    pub reply_dir: PathBuf,
}

/// `--fifo`, else `[fifo] path`, else the instance's own path (for the
/// default instance the link `/run/fifo-ping` where it exists); the same for
/// the reply directory. The configuration file is read only when it is needed or
/// was named explicitly.
pub fn resolve(options: &Options) -> Result<Target, Failure> {
    let needed = options.config.is_some()
        || options.fifo.is_none()
        || ((options.wait || options.command == Command::Status) && options.reply_dir.is_none());
    let location = Location::new(options.instance.clone(), options.config.clone());
    let instance = location.instance();
    let file = if needed {
        read_client_config(&location)?
    } else {
        None
    };
    let config_name = location.path().display().to_string();
    let (fifo, fifo_origin) = match (
        &options.fifo,
        file.as_ref().and_then(|c| c.fifo_path.clone()),
    ) {
        (Some(path), _) => (path.clone(), "path from --fifo".to_owned()),
        (None, Some(path)) => (path, format!("path from [fifo] path in {config_name}")),
        (None, None) => {
            let why = match &file {
                Some(_) => {
                    format!("the built-in default path; {config_name} does not set [fifo] path")
                }
                None if location.is_optional() => {
                    format!(
                        "the built-in default path; {} is absent or unreadable",
                        location.path().display()
                    )
                }
                None => "the built-in default path".to_owned(),
            };
            // The packaged link users write to, where it is (it dangles while
            // the daemon is stopped, which open reports as such); else the
            // daemon's own built-in path.
            let path = if *instance == Instance::Default && lstat(USER_FIFO_LINK).is_ok() {
                PathBuf::from(USER_FIFO_LINK)
            } else {
                instance.fifo_path()
            };
            (path, why)
        }
    };
    let reply_dir = match (&options.reply_dir, file.and_then(|c| c.reply_directory)) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir,
        (None, None) => instance.reply_directory(),
    };
    Ok(Target {
        fifo,
        fifo_origin,
        reply_dir,
    })
}
