//! The configuration file, `/etc/cenv/cenv.toml`: its schema, defaults, and
//! which file a run may read.
//!
//! A privileged run always reads the system file; `--config` and `CENV_CONFIG`
//! are honoured only for an unprivileged caller, who can only hurt themselves
//! with them. A missing system file means the defaults. Unknown keys are errors
//! reported with line and column, because a misspelt security setting that is
//! silently ignored is worse than a refusal.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::process::Process;

/// Where the system configuration lives. Test builds may point it elsewhere at
/// compile time (`CENV_SYSTEM_CONFIG=... cargo build`); it is never taken from
/// the environment at run time.
pub const SYSTEM_CONFIG_PATH: &str = match option_env!("CENV_SYSTEM_CONFIG") {
    Some(path) => path,
    None => "/etc/cenv/cenv.toml",
};

pub const DEFAULT_ENVS_DIR: &str = "/opt/miniconda/envs";
pub const DEFAULT_UMASK: u32 = 0o027;

/// How strictly the Landlock rule is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LandlockMode {
    /// Fail closed when the kernel cannot enforce the rule fully.
    #[default]
    Enforce,
    /// Apply what the kernel supports; warn when that is not everything.
    BestEffort,
    /// No Landlock rule.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directories holding named envs, searched in order.
    #[serde(default = "default_envs_dirs")]
    pub envs_dirs: Vec<PathBuf>,
    /// The conda installation whose `envs/` these are; `base` resolves to it.
    #[serde(default)]
    pub base_prefix: Option<PathBuf>,
    /// The umask every run gets; a caller may only ask for a stricter one.
    #[serde(default = "default_umask", deserialize_with = "deserialize_umask")]
    pub umask: u32,
    /// Whether root may run cenv without naming a caller to drop to.
    #[serde(default)]
    pub allow_root: bool,
    #[serde(default)]
    pub landlock: LandlockMode,
    /// Extra trees made read-only for the run. Default: the base install's
    /// package cache `pkgs/`, when it exists (see [`Config::readonly_paths`]).
    #[serde(default, rename = "readonly_paths")]
    pub readonly_paths_setting: Option<Vec<PathBuf>>,
}

fn default_envs_dirs() -> Vec<PathBuf> {
    vec![PathBuf::from(DEFAULT_ENVS_DIR)]
}

fn default_umask() -> u32 {
    DEFAULT_UMASK
}

fn deserialize_umask<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    parse_umask(&text).map_err(serde::de::Error::custom)
}

/// Parses an octal umask such as `027` or `0077`.
pub fn parse_umask(text: &str) -> std::result::Result<u32, String> {
    let valid = !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match valid.then(|| u32::from_str_radix(text, 8)) {
        Some(Ok(mask)) if mask <= 0o777 => Ok(mask),
        _ => Err(format!(
            "umask must be an octal string like \"027\", not {text:?}"
        )),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            envs_dirs: default_envs_dirs(),
            base_prefix: None,
            umask: DEFAULT_UMASK,
            allow_root: false,
            landlock: LandlockMode::default(),
            readonly_paths_setting: None,
        }
    }
}

impl Config {
    /// Parses a configuration file's text; errors carry line and column.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((1, 1));
            Error::ConfigSyntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })
    }

    /// The trees the Landlock rule makes read-only besides the env itself.
    pub fn readonly_paths(&self) -> Vec<PathBuf> {
        match (&self.readonly_paths_setting, &self.base_prefix) {
            (Some(paths), _) => paths.clone(),
            (None, Some(base)) if base.join("pkgs").is_dir() => vec![base.join("pkgs")],
            (None, _) => Vec::new(),
        }
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

/// The configuration in force for this run and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: PathBuf,
    /// False when the file did not exist and the defaults apply.
    pub from_file: bool,
}

/// Picks the file this caller may use and loads it.
pub fn load(process: &Process, cli_path: Option<&Path>) -> Result<LoadedConfig> {
    let requested = cli_path.map(Path::to_path_buf).or_else(|| {
        process
            .environ
            .get("CENV_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match requested {
        Some(path) if !process.is_privileged() => load_file(&path, false),
        Some(path) => {
            eprintln!(
                "cenv: warning: ignoring config {} for a privileged run; using {}",
                path.display(),
                SYSTEM_CONFIG_PATH
            );
            load_file(Path::new(SYSTEM_CONFIG_PATH), true)
        }
        None => load_file(Path::new(SYSTEM_CONFIG_PATH), true),
    }
}

fn load_file(path: &Path, missing_means_defaults: bool) -> Result<LoadedConfig> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| Error::ConfigValue {
                path: path.to_owned(),
                message: "the file is not valid UTF-8".into(),
            })?;
            Ok(LoadedConfig {
                config: Config::parse(&text, path)?,
                path: path.to_owned(),
                from_file: true,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_means_defaults => Ok(LoadedConfig {
            config: Config::default(),
            path: path.to_owned(),
            from_file: false,
        }),
        Err(source) => Err(Error::ConfigRead {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/cenv/cenv.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.envs_dirs, vec![PathBuf::from("/opt/miniconda/envs")]);
        assert_eq!(c.base_prefix, None);
        assert_eq!(c.umask, 0o027);
        assert_eq!(c.landlock, LandlockMode::Enforce);
        assert!(!c.allow_root);
    }

    #[test]
    fn reads_all_keys() {
        let c = parse(
            "envs_dirs = [\"/a/envs\", \"/b/envs\"]\nbase_prefix = \"/a\"\numask = \"077\"\n\
             allow_root = true\nlandlock = \"best-effort\"\nreadonly_paths = [\"/a/pkgs\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.envs_dirs,
            vec![PathBuf::from("/a/envs"), PathBuf::from("/b/envs")]
        );
        assert_eq!(c.base_prefix, Some(PathBuf::from("/a")));
        assert_eq!(c.umask, 0o077);
        assert!(c.allow_root);
        assert_eq!(c.landlock, LandlockMode::BestEffort);
        assert_eq!(c.readonly_paths(), vec![PathBuf::from("/a/pkgs")]);
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let err = parse("base_prefix = \"/a\"\n  envs_dir = [\"/x\"]\n").unwrap_err();
        match err {
            Error::ConfigSyntax {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!((line, column), (2, 3));
                assert!(message.contains("unknown field `envs_dir`"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let err = parse("envs_dirs = [\"/a\"\nbase_prefix = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/etc/cenv/cenv.toml:2:"), "{text}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let text = parse("envs_dirs = \"/a\"\n").unwrap_err().to_string();
        assert!(text.starts_with("/etc/cenv/cenv.toml:1:13:"), "{text}");
    }

    #[test]
    fn umask_must_be_octal_string() {
        assert!(parse("umask = \"028\"\n").is_err());
        assert!(parse("umask = 27\n").is_err());
        assert!(parse("umask = \"1777\"\n").is_err());
        assert_eq!(parse_umask("0027"), Ok(0o027));
        assert!(parse_umask("").is_err());
    }

    #[test]
    fn landlock_mode_values() {
        assert_eq!(parse("landlock = \"off\"\n").unwrap().landlock, LandlockMode::Off);
        assert!(parse("landlock = \"maybe\"\n").is_err());
    }
}
