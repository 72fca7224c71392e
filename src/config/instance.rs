//! Instances: which daemon a command means, and the paths that follow from
//! its name.
//!
//! The default instance is `fifo-pingd.service`: its file is
//! `/etc/fifo-pingd/fifo-pingd.toml`, its FIFO `/run/fifo-pingd/default/fifo`
//! (users write to the link `/run/fifo-ping`), its round-trip area
//! `/run/fifo-pingd/reply`. A named instance `fifo-pingd@NAME` (template
//! units, `--instance NAME`) reads `/etc/fifo-pingd/NAME.toml` when it
//! exists and otherwise uses built-in defaults of its own, all in its runtime
//! directory `/run/fifo-pingd/instance/NAME` (its unit's `RuntimeDirectory=`,
//! on a tmpfs of 4096 inodes the instances share, so a member's flood takes
//! its inodes, not /run's): the FIFO `fifo`, mode 0620 with the group
//! `fifo-ping` as the packaged default instance, and the round-trip area
//! `reply` (made by the daemon in the FIFO-creating mode, by the socket unit
//! in the socket-activated one).
//!
//! The named instances live in a tree apart from the default one's, so that
//! no name can make a template unit create, use or (at its stop) remove the
//! default instance's directories; only the file name can collide, and that
//! name, like `default` itself, is refused.

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;

use super::{DEFAULT_CONFIG_PATH, DEFAULT_FIFO_PATH, DEFAULT_REPLY_DIRECTORY};

/// Where the named instances' configuration files are.
pub const INSTANCE_CONFIG_DIRECTORY: &str = "/etc/fifo-pingd";
/// The parent of the named instances' runtime directories (their units'
/// `RuntimeDirectory=fifo-pingd/instance/%i`): a tmpfs of its own
/// (run-fifo\x2dpingd-instance.mount, 4096 inodes), root's, since members
/// create entries in the round-trip areas inside.
pub const INSTANCE_RUNTIME_ROOT: &str = "/run/fifo-pingd/instance";
/// The group of a named instance's FIFO and round-trip area unless its file
/// says otherwise (sysusers.d: /usr/lib/sysusers.d/fifo-pingd.conf).
pub const INSTANCE_DEFAULT_GROUP: &str = "fifo-ping";
/// Longest instance name: it becomes part of unit names and paths.
pub const MAX_INSTANCE_NAME_BYTES: usize = 64;
/// The name the default instance answers to (`fifo-pingctl --instance
/// default` means it; a template unit of that name is refused).
pub const DEFAULT_INSTANCE_NAME: &str = "default";

/// Which daemon.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Instance {
    /// `fifo-pingd.service`.
    #[default]
    Default,
    /// `fifo-pingd@NAME`: a valid name (see [`Instance::named`]).
    Named(String),
}

/// Why a name cannot be an instance's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceError {
    #[error(
        "instance name {0:?}: expected 1 to {MAX_INSTANCE_NAME_BYTES} letters, digits, '-' or '_'"
    )]
    Invalid(String),
    #[error(
        "instance name {name:?}: refused, it would collide with the default instance's {what} (fifo-pingd.service); choose another name"
    )]
    Collides { name: String, what: &'static str },
}

impl Instance {
    /// The instance `name` names: `default` is the default instance (for
    /// clients); any other valid name is a named instance.
    pub fn from_name(name: &OsStr) -> Result<Instance, InstanceError> {
        if name == DEFAULT_INSTANCE_NAME {
            return Ok(Instance::Default);
        }
        Instance::named(name)
    }

    /// A named instance, as a template unit runs it: `default` and
    /// `fifo-pingd` are refused (the default instance's directory and file).
    pub fn named(name: &OsStr) -> Result<Instance, InstanceError> {
        let text = name.to_string_lossy();
        let valid = name.to_str().is_some_and(|n| {
            !n.is_empty()
                && n.len() <= MAX_INSTANCE_NAME_BYTES
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !valid {
            return Err(InstanceError::Invalid(text.into_owned()));
        }
        let collides = match &*text {
            DEFAULT_INSTANCE_NAME => Some("FIFO directory /run/fifo-pingd/default"),
            "fifo-pingd" => Some("configuration file /etc/fifo-pingd/fifo-pingd.toml"),
            _ => None,
        };
        match collides {
            Some(what) => Err(InstanceError::Collides {
                name: text.into_owned(),
                what,
            }),
            None => Ok(Instance::Named(text.into_owned())),
        }
    }

    /// The name in logs, metrics and `status`: `default` for the default one.
    pub fn name(&self) -> &str {
        match self {
            Instance::Default => DEFAULT_INSTANCE_NAME,
            Instance::Named(name) => name,
        }
    }

    /// The systemd unit that runs it in the FIFO-creating mode.
    pub fn unit(&self) -> String {
        match self {
            Instance::Default => "fifo-pingd.service".to_owned(),
            Instance::Named(name) => format!("fifo-pingd@{name}.service"),
        }
    }

    /// Its configuration file (optional: absent means built-in defaults).
    pub fn config_path(&self) -> PathBuf {
        match self {
            Instance::Default => PathBuf::from(DEFAULT_CONFIG_PATH),
            Instance::Named(name) => {
                PathBuf::from(format!("{INSTANCE_CONFIG_DIRECTORY}/{name}.toml"))
            }
        }
    }

    /// Its FIFO when the file sets no `[fifo] path`.
    pub fn fifo_path(&self) -> PathBuf {
        match self {
            Instance::Default => PathBuf::from(DEFAULT_FIFO_PATH),
            Instance::Named(name) => PathBuf::from(format!("{INSTANCE_RUNTIME_ROOT}/{name}/fifo")),
        }
    }

    /// The FIFO's group when the file sets no `[fifo] group`: for a named
    /// instance the packaged members' group (the packages create it), so that
    /// an instance without a file of its own is usable by members; none for
    /// the default instance (its shipped file sets it; without a file it
    /// runs anywhere, unprivileged, with the daemon's own group).
    pub fn default_group(&self) -> Option<&'static str> {
        match self {
            Instance::Default => None,
            Instance::Named(_) => Some(INSTANCE_DEFAULT_GROUP),
        }
    }

    /// Its round-trip area when the file sets no `[reply] directory`.
    pub fn reply_directory(&self) -> PathBuf {
        match self {
            Instance::Default => PathBuf::from(DEFAULT_REPLY_DIRECTORY),
            Instance::Named(name) => PathBuf::from(format!("{INSTANCE_RUNTIME_ROOT}/{name}/reply")),
        }
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_dash_and_underscore() {
        for good in ["blue", "green-2", "a_b", "X", &"n".repeat(64)] {
            assert_eq!(
                Instance::named(OsStr::new(good)),
                Ok(Instance::Named(good.to_owned()))
            );
        }
        for bad in [
            "",
            "a.b",
            "a/b",
            "../x",
            "a b",
            "ä",
            "a\nb",
            &"n".repeat(65),
        ] {
            assert_eq!(
                Instance::named(OsStr::new(bad)),
                Err(InstanceError::Invalid(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_of_the_default_instances_files_are_refused() {
        for name in ["default", "fifo-pingd"] {
            let e = Instance::named(OsStr::new(name)).expect_err(name);
            assert!(
                e.to_string().contains("collide with the default instance"),
                "{e}"
            );
        }
        // A client may name the default instance.
        assert_eq!(
            Instance::from_name(OsStr::new("default")),
            Ok(Instance::Default)
        );
    }

    #[test]
    fn each_instance_has_its_own_paths() {
        let blue = Instance::Named("blue".into());
        assert_eq!(
            blue.config_path(),
            PathBuf::from("/etc/fifo-pingd/blue.toml")
        );
        assert_eq!(
            blue.fifo_path(),
            PathBuf::from("/run/fifo-pingd/instance/blue/fifo")
        );
        assert_eq!(
            blue.reply_directory(),
            PathBuf::from("/run/fifo-pingd/instance/blue/reply")
        );
        assert_eq!(blue.unit(), "fifo-pingd@blue.service");
        let default = Instance::Default;
        assert_eq!(default.config_path(), PathBuf::from(DEFAULT_CONFIG_PATH));
        assert_eq!(default.fifo_path(), PathBuf::from(DEFAULT_FIFO_PATH));
        assert_eq!(
            default.reply_directory(),
            PathBuf::from(DEFAULT_REPLY_DIRECTORY)
        );
        assert_eq!(default.name(), "default");
    }
}
