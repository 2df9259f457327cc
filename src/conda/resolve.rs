//! Finding an env: a name searched in the envs directories, `base`, or a prefix
//! path given with `-p`. The result is always the canonical path (symlinks
//! resolved); everything after resolution works on that real path.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::conda::condarc;
use crate::conda::name::validate_env_name;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::system::process::Process;

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSpec {
    Name(String),
    Prefix(PathBuf),
}

/// An env found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEnv {
    /// The name or path as the caller gave it (for messages and the audit log).
    pub requested: String,
    /// The canonical prefix.
    pub prefix: PathBuf,
}

/// The directories searched for named envs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    pub dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The configured directories, the base install's `envs/`, then — for an
    /// unprivileged caller only — conda's user-controlled places:
    /// `CONDA_ENVS_DIRS`/`CONDA_ENVS_PATH`, `envs_dirs` in `~/.condarc`, and
    /// `~/.conda/envs`.
    pub fn for_caller(config: &Config, process: &Process) -> SearchPath {
        let mut dirs: Vec<PathBuf> = config.envs_dirs.clone();
        if let Some(base) = &config.base_prefix {
            dirs.push(base.join("envs"));
        }
        if !process.is_privileged() {
            let home = process.home();
            for var in ["CONDA_ENVS_DIRS", "CONDA_ENVS_PATH"] {
                if let Some(value) = process.environ.get_str(var) {
                    dirs.extend(
                        value
                            .split(':')
                            .filter(|d| !d.is_empty())
                            .map(|d| expand_home(d, home.as_deref())),
                    );
                }
            }
            if let Some(home) = &home {
                if let Ok(text) = std::fs::read_to_string(home.join(".condarc")) {
                    dirs.extend(
                        condarc::envs_dirs(&text)
                            .iter()
                            .map(|d| expand_home(d, Some(home))),
                    );
                }
                dirs.push(home.join(".conda").join("envs"));
            }
        }
        let mut unique: Vec<PathBuf> = Vec::with_capacity(dirs.len());
        for dir in dirs {
            if !unique.contains(&dir) {
                unique.push(dir);
            }
        }
        SearchPath { dirs: unique }
    }

    fn describe(&self) -> String {
        if self.dirs.is_empty() {
            return "no envs directories (set envs_dirs in the config)".into();
        }
        self.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Names of the envs in these directories (for suggestions and listing).
    pub fn env_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if entry.path().join("conda-meta").is_dir() && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }
}

fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    }
}

/// Resolves what the caller asked for to a canonical conda prefix.
pub fn resolve(
    spec: &EnvSpec,
    config: &Config,
    search: &SearchPath,
    config_path: &Path,
) -> Result<ResolvedEnv> {
    match spec {
        EnvSpec::Prefix(path) => Ok(ResolvedEnv {
            requested: path.display().to_string(),
            prefix: canonical_prefix(path, false)?,
        }),
        EnvSpec::Name(name) if name == "base" || name == "root" => {
            let base = config.base_prefix.as_ref().ok_or_else(|| Error::NoBasePrefix {
                name: name.clone(),
                config: config_path.display().to_string(),
            })?;
            Ok(ResolvedEnv {
                requested: name.clone(),
                prefix: canonical_prefix(base, false)?,
            })
        }
        EnvSpec::Name(name) => {
            validate_env_name(name)?;
            // A root the caller cannot search is passed over, as conda passes
            // over envs dirs it cannot read: with a root per lab group, the
            // env is in the root of the caller's lab, which need not be the
            // first. But an env directory that is there and closed to the
            // caller (the root searchable, `NAME/` not) stops the search, as
            // always: a same-named env further on must never stand in for it.
            // Only when the name is found nowhere is a closed root named.
            let mut closed: Option<&PathBuf> = None;
            for dir in &search.dirs {
                let candidate = dir.join(name);
                match std::fs::metadata(candidate.join("conda-meta")) {
                    Ok(meta) if meta.is_dir() => {
                        return Ok(ResolvedEnv {
                            requested: name.clone(),
                            prefix: canonical_prefix(&candidate, true)?,
                        })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        let root_closed = matches!(
                            std::fs::symlink_metadata(&candidate),
                            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied
                        );
                        if !root_closed {
                            return Err(Error::EnvNotAccessible {
                                name: name.clone(),
                                dir: dir.clone(),
                                admin: config.admin_of(dir),
                            });
                        }
                        closed.get_or_insert(dir);
                    }
                    _ => {}
                }
            }
            if let Some(dir) = closed {
                return Err(Error::EnvNotAccessible {
                    name: name.clone(),
                    dir: dir.clone(),
                    admin: config.admin_of(dir),
                });
            }
            Err(Error::EnvNotFound {
                name: name.clone(),
                searched: search.describe(),
                suggestion: closest_name(name, &search.env_names())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default(),
            })
        }
    }
}

/// `path` made canonical; it must hold `conda-meta/` (unless the caller
/// just saw it there: `has_conda_meta`).
fn canonical_prefix(path: &Path, has_conda_meta: bool) -> Result<PathBuf> {
    let prefix = crate::system::paths::canonical(path).map_err(|source| Error::PrefixAccess {
        path: path.to_owned(),
        source,
    })?;
    if !has_conda_meta && !prefix.join("conda-meta").is_dir() {
        return Err(Error::NotAPrefix { path: prefix });
    }
    Ok(prefix)
}

/// The known name nearest to a mistyped one, if it is close enough to be a typo.
fn closest_name<'a>(wanted: &str, known: &'a [String]) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(wanted, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

impl crate::system::output::Described for SearchPath {
    fn step(&self) -> &'static str {
        "search"
    }

    fn describe(&self) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        dirs.join(", ")
    }
}

impl crate::system::output::Described for ResolvedEnv {
    fn step(&self) -> &'static str {
        "env"
    }

    fn describe(&self) -> String {
        format!("{} is {}", self.requested, self.prefix.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("projct-cv", "project-cv"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggests_only_close_names() {
        let known = vec!["project-cv".to_string(), "nlp".to_string()];
        assert_eq!(closest_name("projct-cv", &known), Some("project-cv"));
        assert_eq!(closest_name("totally-else", &known), None);
    }

    #[test]
    fn home_expansion() {
        let home = Path::new("/home/a");
        assert_eq!(expand_home("~/envs", Some(home)), PathBuf::from("/home/a/envs"));
        assert_eq!(expand_home("~", Some(home)), PathBuf::from("/home/a"));
        assert_eq!(expand_home("~bob/x", Some(home)), PathBuf::from("~bob/x"));
        assert_eq!(expand_home("/abs", Some(home)), PathBuf::from("/abs"));
    }
}
