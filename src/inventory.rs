//! Knowing your envs: `cenv list` (every env visible from the configured
//! roots, and conda's places for an unprivileged caller) and `cenv info NAME`.
//!
//! Both read metadata only: file names in `conda-meta/` give the Python
//! version, nothing from an env is run. Whether the caller may use an env is
//! the policy's answer, then the file permissions'.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::unistd::AccessFlags;
use serde::Serialize;

use crate::conda::activate::{environment_env_vars, scripts_in, ACTIVATE_DIR};
use crate::conda::files::PrefixDir;
use crate::conda::records::{last_change, python_version, record_files, LastChange};
use crate::conda::{EnvSpec, SearchPath};
use crate::config::{Config, EffectiveSettings, LoadedConfig, Principal};
use crate::error::{Error, Result};
use crate::identity::{Account, Identity};
use crate::policy::{authorize, resolve_explained, Subject};
use crate::process::Process;
use crate::trust::{check_env, group_name, user_name};

/// An env found on disk, as `cenv list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedEnv {
    pub name: String,
    pub prefix: PathBuf,
    pub python: Option<String>,
    pub owner: String,
    pub group: String,
    pub may_use: bool,
    /// Why not, when the caller may not use it.
    pub reason: Option<String>,
}

/// Every env in the search path (and the base install), in search order.
/// A name found again in a later directory is listed too: it is shadowed for
/// `cenv run NAME`, but it exists.
pub fn discover(config: &Config, search: &SearchPath) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    if let Some(base) = &config.base_prefix {
        if base.join("conda-meta").is_dir() {
            found.push((
                "base".to_owned(),
                std::fs::canonicalize(base).unwrap_or_else(|_| base.clone()),
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
    let keep: Vec<bool> = crate::parallel::map(&found, |(_, p)| p.join("conda-meta").is_dir());
    let mut envs: Vec<(String, PathBuf)> = found
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(e, _)| e)
        .collect();
    envs.extend(hidden);
    envs
}

/// The caller as the policy sees them: the current process's user and groups.
pub fn current_subject(process: &Process) -> Subject {
    let account = Account::by_uid(process.real_uid);
    let mut gids: Vec<u32> = nix::unistd::getgroups()
        .unwrap_or_default()
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    gids.push(process.real_gid);
    Subject {
        name: account.map_or_else(|| format!("#{}", process.real_uid), |a| a.name),
        uid: process.real_uid,
        gids,
    }
}

/// uid/gid → name, looked up once each.
#[derive(Default)]
struct Names {
    users: Mutex<HashMap<u32, String>>,
    groups: Mutex<HashMap<u32, String>>,
}

impl Names {
    fn user(&self, uid: u32) -> String {
        let mut cache = self.users.lock().unwrap_or_else(|e| e.into_inner());
        cache.entry(uid).or_insert_with(|| user_name(uid)).clone()
    }
    fn group(&self, gid: u32) -> String {
        let mut cache = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        cache.entry(gid).or_insert_with(|| group_name(gid)).clone()
    }
}

/// Whether `subject` may use the env at `prefix`: the policy first, then
/// whether file permissions let them in.
pub fn may_use(config: &Config, subject: &Subject, prefix: &Path, owner: &str) -> (bool, Option<String>) {
    let settings = match std::fs::metadata(prefix) {
        Ok(_) => config.settings_for(prefix),
        // not visible to the caller: the table of its name decides
        Err(_) => config.settings_for_name(&prefix.file_name().unwrap_or_default().to_string_lossy()),
    };
    if let Err(e) = authorize(subject, &settings, &settings.key, || owner.to_owned()) {
        return (false, Some(e.audit_reason()));
    }
    match nix::unistd::access(prefix, AccessFlags::R_OK | AccessFlags::X_OK) {
        Ok(()) => (true, None),
        Err(_) => (false, Some("file permissions do not let you read it".into())),
    }
}

pub fn list_envs(process: &Process, loaded: &LoadedConfig) -> Vec<ListedEnv> {
    let config = &loaded.config;
    let search = SearchPath::for_caller(config, process);
    let subject = current_subject(process);
    let names = Names::default();
    crate::parallel::map(&discover(config, &search), |(name, prefix)| {
        let meta = std::fs::metadata(prefix).ok();
        let owner = meta.as_ref().map_or_else(|| "?".into(), |m| names.user(m.uid()));
        let group = meta.as_ref().map_or_else(|| "?".into(), |m| names.group(m.gid()));
        let (may_use, reason) = may_use(config, &subject, prefix, &owner);
        ListedEnv {
            name: name.clone(),
            prefix: prefix.clone(),
            python: python_version(prefix),
            owner,
            group,
            may_use,
            reason,
        }
    })
}

/// The table `cenv list` prints.
pub fn format_table(envs: &[ListedEnv]) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "PREFIX".to_owned(),
        "PYTHON".to_owned(),
        "OWNER:GROUP".to_owned(),
        "USE".to_owned(),
    ]];
    for env in envs {
        // names and paths come from anyone who can create a directory:
        // escaped, so none can fake a row or drive the terminal
        rows.push([
            crate::escape::text(&env.name),
            crate::escape::path(&env.prefix),
            crate::escape::text(&env.python.clone().unwrap_or_else(|| "-".into())),
            crate::escape::text(&format!("{}:{}", env.owner, env.group)),
            match (&env.may_use, &env.reason) {
                (true, _) => "yes".into(),
                (false, Some(reason)) => format!("no: {}", crate::escape::text(reason)),
                (false, None) => "no".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// What `cenv info NAME` shows.
#[derive(Debug, Clone, Serialize)]
pub struct EnvInfo {
    pub name: String,
    pub prefix: PathBuf,
    pub owner: String,
    pub group: String,
    pub mode: String,
    pub policy: PolicyInfo,
    pub may_use: bool,
    pub reason: Option<String>,
    pub packages: usize,
    pub python: Option<String>,
    pub activate_scripts: Vec<PathBuf>,
    /// The env's variables in file order (env_vars.d, then conda-meta/state).
    pub env_vars: serde_json::Map<String, serde_json::Value>,
    pub trust: TrustInfo,
    /// What a run of yours gets: whether the env is read-only during it.
    pub protection: String,
    pub last_change: Option<LastChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub key: String,
    pub groups: Vec<String>,
    pub users: Vec<String>,
    pub umask: String,
    pub landlock: String,
    pub readonly_paths: Vec<PathBuf>,
}

impl From<&EffectiveSettings> for PolicyInfo {
    fn from(s: &EffectiveSettings) -> PolicyInfo {
        PolicyInfo {
            key: s.key.clone(),
            groups: s.groups.iter().map(Principal::to_string).collect(),
            users: s.users.iter().map(Principal::to_string).collect(),
            umask: format!("{:03o}", s.umask),
            landlock: format!("{:?}", s.landlock).to_lowercase(),
            readonly_paths: s.readonly_paths.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrustInfo {
    pub trusted: bool,
    pub findings: Vec<String>,
}

pub fn env_info(process: &Process, loaded: &LoadedConfig, spec: &EnvSpec) -> Result<EnvInfo> {
    let config = &loaded.config;
    let search = SearchPath::for_caller(config, process);
    let env = resolve_explained(spec, config, &search, &loaded.path, || {
        Ok(current_subject(process))
    })?;
    let prefix = env.prefix.clone();
    let meta = std::fs::metadata(&prefix).map_err(|source| Error::PrefixAccess {
        path: prefix.clone(),
        source,
    })?;
    let owner = user_name(meta.uid());
    let settings = config.settings_for(&prefix);
    let subject = current_subject(process);
    let (may_use, reason) = may_use(config, &subject, &prefix, &owner);
    let identity = Identity::Unprivileged {
        uid: process.real_uid,
        account: Account::by_uid(process.real_uid),
    };
    let rules = crate::run::trust_rules(config, &env, &identity, settings.key == "base");
    let findings = check_env(&prefix, &rules).map(|c| c.findings).unwrap_or_default();
    let mut warnings = Vec::new();
    let env_vars = environment_env_vars(&prefix, &mut warnings)?;
    let mut activate_scripts = scripts_in(&prefix, ACTIVATE_DIR, ".sh", false)?;
    activate_scripts.extend(scripts_in(&prefix, ACTIVATE_DIR, ".fish", false)?);
    let packages = record_files(&PrefixDir::open(&prefix)?)?.len();
    let protection = match settings.landlock {
        crate::config::LandlockMode::Off => "the env is writable during runs: landlock = \"off\"".to_owned(),
        _ => {
            let plan = crate::run::read_only_plan(
                config,
                &settings,
                &identity,
                &env,
                process.cwd.as_deref(),
                &process.environ,
            );
            match plan.env_writable_because {
                None => "the env is read-only during runs (Landlock)".to_owned(),
                Some(why) => format!("the env is writable during your runs: {why}"),
            }
        }
    };
    let last_change = last_change(&prefix)?;
    Ok(EnvInfo {
        name: env.requested.clone(),
        owner,
        group: group_name(meta.gid()),
        mode: format!("{:04o}", meta.mode() & 0o7777),
        policy: PolicyInfo::from(&settings),
        may_use,
        reason,
        packages,
        python: python_version(&prefix),
        activate_scripts,
        env_vars: env_vars
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
        protection,
        trust: TrustInfo {
            trusted: findings.is_empty(),
            findings: findings.iter().map(ToString::to_string).collect(),
        },
        last_change,
        prefix,
    })
}

pub fn format_info(info: &EnvInfo) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    let paths = |items: &[PathBuf]| list(&items.iter().map(|p| p.display().to_string()).collect::<Vec<_>>());
    let mut out = String::new();
    // every value is escaped: a variable or path from a shared env must not
    // fake a line (`trust check: trusted`) or drive the admin's terminal
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<17}{}\n", crate::escape::text(&v)));
    line("name:", info.name.clone());
    line("prefix:", info.prefix.display().to_string());
    line("owner:group:", format!("{}:{}", info.owner, info.group));
    line("mode:", info.mode.clone());
    line(
        "policy:",
        format!(
            "[envs.{}] groups: {}; users: {}",
            info.policy.key,
            list(&info.policy.groups),
            list(&info.policy.users)
        ),
    );
    line("umask:", info.policy.umask.clone());
    line("landlock:", info.policy.landlock.clone());
    line("read-only paths:", paths(&info.policy.readonly_paths));
    line(
        "you may use it:",
        if info.may_use {
            "yes".into()
        } else {
            format!("no: {}", info.reason.clone().unwrap_or_default())
        },
    );
    line("packages:", info.packages.to_string());
    line("python:", info.python.clone().unwrap_or_else(|| "-".into()));
    line("activate.d:", paths(&info.activate_scripts));
    line(
        "env vars:",
        list(
            &info
                .env_vars
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>(),
        ),
    );
    line(
        "trust check:",
        if info.trust.trusted {
            "trusted".into()
        } else {
            format!("REFUSED: {}", info.trust.findings.join("; "))
        },
    );
    line("protection:", info.protection.clone());
    line(
        "last change:",
        info.last_change
            .as_ref()
            .map(|c| {
                format!("{} {}", c.date, c.command.clone().unwrap_or_default())
                    .trim_end()
                    .to_owned()
            })
            .unwrap_or_else(|| "-".into()),
    );
    out
}
