//! `cenv info NAME`: one env in full — owner, mode, policy, packages,
//! python, activate.d, variables, the trust check, the protection a run of
//! yours gets, the last change. Metadata only.
#![forbid(unsafe_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::EnvArgs;
use crate::conda::activate::{environment_env_vars, scripts_in, ACTIVATE_DIR};
use crate::conda::files::PrefixDir;
use crate::conda::records::{last_change, python_version, record_files, LastChange};
use crate::conda::{EnvSpec, SearchPath};
use crate::config::{self, EffectiveSettings, LoadedConfig, Principal};
use crate::error::{Error, Result};
use crate::identity::{Account, Identity};
use crate::policy::{current_subject, may_use, resolve_explained};
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::system::users::{group_name, user_name};
use crate::tools::{json, spec};
use crate::trust::check_env;

pub fn info(process: &Process, args: EnvArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let info = env_info(process, &loaded, &spec(&args))?;
    if args.json {
        return json(&info);
    }
    write_stdout(format_info(&info).as_bytes())
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<crate::config::Deprecation>,
}

impl From<&EffectiveSettings> for PolicyInfo {
    fn from(s: &EffectiveSettings) -> PolicyInfo {
        PolicyInfo {
            description: s.description.clone(),
            deprecated: s.deprecated.clone(),
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
        gids: subject.gids.clone(),
    };
    let rules = crate::trust::rules_for(config, &env, &identity, settings.key == "base");
    let findings = check_env(&prefix, &rules).map(|c| c.findings).unwrap_or_default();
    let mut warnings = Vec::new();
    let env_vars = environment_env_vars(&prefix, &mut warnings)?;
    let mut activate_scripts = scripts_in(&prefix, ACTIVATE_DIR, ".sh", false)?;
    activate_scripts.extend(scripts_in(&prefix, ACTIVATE_DIR, ".fish", false)?);
    let packages = record_files(&PrefixDir::open(&prefix)?)?.len();
    // what a run's Landlock rule makes read-only — the same plan a run
    // makes, so that the list and the sentence cannot disagree
    let mut policy = PolicyInfo::from(&settings);
    let protection = match settings.landlock {
        crate::config::LandlockMode::Off => {
            policy.readonly_paths.clear();
            "the env is writable during runs: landlock = \"off\"".to_owned()
        }
        _ => {
            let plan = crate::confine::read_only_plan(
                config,
                &settings,
                &identity,
                &env,
                None,
                process.cwd.as_deref(),
                &process.environ,
            );
            policy.readonly_paths = plan.trees.clone();
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
        policy,
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
    let mut line =
        |k: &str, v: String| out.push_str(&format!("{k:<17}{}\n", crate::system::escape::text(&v)));
    line("name:", info.name.clone());
    if let Some(description) = &info.policy.description {
        line("description:", description.clone());
    }
    if let Some(deprecated) = &info.policy.deprecated {
        line("deprecated:", deprecated.line(&info.name));
    }
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
