//! Which envs exist: every env in the search path (and the base install),
//! found by listing the envs roots — metadata only.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use crate::conda::SearchPath;
use crate::config::Config;

/// Every env in the search path (and the base install), in search order.
/// A name found again in a later directory is listed too: it is shadowed for
/// `cenv run NAME`, but it exists.
pub fn discover(config: &Config, search: &SearchPath) -> Vec<(String, PathBuf)> {
    let Candidates { listed, hidden } = candidates(config, search);
    let keep: Vec<bool> = crate::system::parallel::map(&listed, |(_, p)| p.join("conda-meta").is_dir());
    let mut envs: Vec<(String, PathBuf)> = listed
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(e, _)| e)
        .collect();
    envs.extend(hidden);
    envs
}

/// What may be an env, before anyone looked for `conda-meta/`.
#[derive(Debug, Default)]
pub struct Candidates {
    /// The base install (checked already) and every entry of the envs
    /// roots, in search order.
    pub listed: Vec<(String, PathBuf)>,
    /// The envs the policy names in a root the caller may not list.
    pub hidden: Vec<(String, PathBuf)>,
}

/// The entries of the envs roots (and the base install), in search order:
/// [`discover`] without the look for `conda-meta/` in each (`cenv list`
/// looks there anyway, for the Python version).
pub fn candidates(config: &Config, search: &SearchPath) -> Candidates {
    let mut found = Vec::new();
    if let Some(base) = &config.base_prefix {
        if base.join("conda-meta").is_dir() {
            found.push((
                "base".to_owned(),
                crate::system::paths::canonical(base).unwrap_or_else(|_| base.clone()),
            ));
        }
    }
    let mut hidden = Vec::new();
    for dir in &search.dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            // A root the caller may not list: the envs the policy names there
            // are still shown, with the policy's answer.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && config.envs_dirs.contains(dir) => {
                hidden.extend(
                    config
                        .envs
                        .keys()
                        .filter(|k| !k.contains('/'))
                        .map(|k| (k.clone(), dir.join(k))),
                );
                continue;
            }
            Err(_) => continue,
        };
        let mut names: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect();
        names.sort();
        found.extend(names);
    }
    // a name the policy gives that is found in a root the caller can list
    // is that env (resolve goes past roots it cannot look into): no row
    // for it under a closed root too; and one row per name, the first
    // closed root's
    // (only entries that are envs count: checked for the few names the
    // policy gives, not for every entry)
    let mut shown = std::collections::HashSet::new();
    hidden.retain(|(name, _)| {
        let listed = found
            .iter()
            .any(|(n, path)| n == name && path.join("conda-meta").is_dir());
        !listed && shown.insert(name.clone())
    });
    Candidates {
        listed: found,
        hidden,
    }
}
