//! `cenv access`: who may use what, as `sudo -l` answers for sudoers — the
//! envs a user may use and why (the policy's rule, the group), or the
//! accounts and groups one env is open to. The policy's answer is
//! the decision `cenv run` refuses by (the policy's `decide`); then file
//! permissions, as `list` judges them.
#![forbid(unsafe_code)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;

use crate::cli::AccessArgs;
use crate::conda::{resolve, EnvSpec, SearchPath};
use crate::config;
use crate::error::{Error, Result};
use crate::policy::{current_subject, decide, list_envs, Subject};
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::system::users::Account;

#[derive(Debug, Serialize)]
struct Row {
    env: String,
    prefix: std::path::PathBuf,
    may_use: bool,
    /// Why: the rule that lets the user in, or why not.
    why: String,
}

pub fn access(process: &Process, args: AccessArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    if let Some(name) = &args.env {
        return env_report(process, &loaded, name, args.json);
    }
    let own = current_subject(process);
    let (subject, by_modes) = match &args.user {
        Some(name) if *name != own.name && name.parse() != Ok(own.uid) => {
            if process.real_uid != 0 {
                return Err(Error::Usage(
                    "only root may ask what another account may use (--user); as yourself: cenv access"
                        .into(),
                ));
            }
            let account = name
                .parse::<u32>()
                .ok()
                .and_then(Account::by_uid)
                .or_else(|| Account::by_name(name))
                .ok_or_else(|| {
                    Error::Usage(format!("no user {} in the user database", escape::text(name)))
                })?;
            let gids = account.groups();
            (
                Subject {
                    name: account.name,
                    uid: account.uid,
                    gids,
                },
                true,
            )
        }
        _ => (own, false),
    };
    let mut rows = Vec::new();
    for env in list_envs(process, &loaded) {
        let settings = loaded.config.settings_for(&env.prefix);
        let decision = decide(&subject, &settings);
        let (may_use, why) = if by_modes {
            // root asking for another user: the policy's decision, then the
            // modes of the path as that user would meet them
            match (&decision.granted, &decision.failed) {
                (Some(granted), _) => match modes_let_in(&subject, &env.prefix) {
                    Ok(()) => (true, granted.clone()),
                    Err(why) => (false, why),
                },
                (None, Some(e)) => (false, format!("lookup failed: {e}")),
                (None, None) => (false, refusal(&settings, &decision)),
            }
        } else {
            // the caller: list's answer, which is run's (policy, then access(2))
            match (env.may_use, &decision.granted) {
                (true, Some(granted)) => (true, granted.clone()),
                (true, None) => (true, "allowed".to_owned()),
                (false, _) => (false, env.reason.clone().unwrap_or_else(|| "refused".into())),
            }
        };
        rows.push(Row {
            env: env.name,
            prefix: env.prefix,
            may_use,
            why,
        });
    }
    // the envs the policy names that the caller cannot even see: what
    // `cenv run NAME` would answer them
    if !by_modes {
        let search = SearchPath::for_caller(&loaded.config, process);
        for name in loaded.config.envs.keys().filter(|k| !k.contains('/')) {
            if rows.iter().any(|r| r.env == *name) {
                continue;
            }
            match resolve(
                &EnvSpec::Name(name.clone()),
                &loaded.config,
                &search,
                &loaded.path,
            ) {
                Err(e @ Error::EnvNotAccessible { .. }) => rows.push(Row {
                    env: name.clone(),
                    prefix: std::path::PathBuf::new(),
                    may_use: false,
                    why: e.to_string(),
                }),
                Ok(env)
                    if std::fs::metadata(&env.prefix).is_err()
                        || !rows.iter().any(|r| r.prefix == env.prefix) =>
                {
                    rows.push(Row {
                        env: name.clone(),
                        prefix: env.prefix,
                        may_use: false,
                        why: "file permissions do not let you read it".into(),
                    })
                }
                _ => {}
            }
        }
    }
    if args.json {
        return crate::tools::json(&serde_json::json!({ "user": subject.name, "envs": rows }));
    }
    let mut text = format!("{} may use:\n", escape::text(&subject.name));
    let width = rows
        .iter()
        .map(|r| escape::text(&r.env).chars().count())
        .max()
        .unwrap_or(0);
    for r in rows.iter().filter(|r| r.may_use) {
        text.push_str(&format!(
            "  {:<width$}  {}\n",
            escape::text(&r.env),
            escape::text(&r.why)
        ));
    }
    text.push_str("and not:\n");
    for r in rows.iter().filter(|r| !r.may_use) {
        text.push_str(&format!(
            "  {:<width$}  {}\n",
            escape::text(&r.env),
            escape::text(&r.why)
        ));
    }
    write_stdout(text.as_bytes())
}

fn refusal(settings: &crate::config::EffectiveSettings, decision: &crate::policy::Decision) -> String {
    let names = |items: &[crate::config::Principal]| {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut why = match (settings.groups.is_empty(), settings.users.is_empty()) {
        (false, true) => format!("not in group {}", names(&settings.groups)),
        (true, false) => "not in the users list".to_owned(),
        _ => format!("not in group {} nor in the users list", names(&settings.groups)),
    };
    if !decision.missing.is_empty() {
        why.push_str(&format!("; no such group {}", decision.missing.join(", ")));
    }
    why
}

/// Whether the modes from `/` to `prefix` let `subject` in: search on every
/// directory, read and search on the prefix (POSIX ACLs are not read: for
/// the caller itself access(2) decides, which does).
fn modes_let_in(subject: &Subject, prefix: &Path) -> std::result::Result<(), String> {
    if subject.uid == 0 {
        return Ok(());
    }
    let allows = |meta: &std::fs::Metadata, want: u32| {
        let mode = meta.permissions().mode();
        let bits = if meta.uid() == subject.uid {
            (mode >> 6) & 7
        } else if subject.gids.contains(&meta.gid()) {
            (mode >> 3) & 7
        } else {
            mode & 7
        };
        bits & want == want
    };
    let mut path = std::path::PathBuf::from("/");
    for part in prefix.components().skip(1) {
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !allows(&meta, 1) {
            return Err(format!("file permissions: cannot enter {}", path.display()));
        }
        path.push(part);
    }
    let meta = std::fs::metadata(prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
    if !allows(&meta, 5) {
        return Err(format!("file permissions: cannot read {}", prefix.display()));
    }
    Ok(())
}

/// `cenv access --env NAME`: the groups and users the env is open to, the
/// groups' members as the group database lists them, and the modes.
fn env_report(process: &Process, loaded: &config::LoadedConfig, name: &str, json: bool) -> Result<u8> {
    let search = SearchPath::for_caller(&loaded.config, process);
    let env = resolve(
        &EnvSpec::Name(name.to_owned()),
        &loaded.config,
        &search,
        &loaded.path,
    )?;
    let settings = loaded.config.settings_for(&env.prefix);
    let meta = std::fs::metadata(&env.prefix).map_err(|source| Error::PrefixAccess {
        path: env.prefix.clone(),
        source,
    })?;
    let owner = crate::system::users::user_name(meta.uid());
    let group = crate::system::users::group_name(meta.gid());
    let mode = meta.permissions().mode() & 0o7777;
    #[derive(Serialize)]
    struct Group {
        group: String,
        /// None: no such group
        members: Option<Vec<String>>,
        error: Option<String>,
    }
    let groups: Vec<Group> = settings
        .groups
        .iter()
        .map(|g| {
            let name = g.to_string();
            let lookup = match g {
                crate::config::Principal::Id(gid) => Ok(Some(crate::system::users::group_name(*gid)))
                    .map(|n| n.filter(|n| *n != gid.to_string())),
                crate::config::Principal::Name(n) => Ok(Some(n.clone())),
            };
            let members = lookup.and_then(|n| match n {
                Some(n) => std::ffi::CString::new(n)
                    .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
                    .and_then(|c| crate::system::sys::group_members(&c)),
                None => Ok(None),
            });
            match members {
                Ok(members) => Group {
                    group: name,
                    members,
                    error: None,
                },
                Err(e) => Group {
                    group: name,
                    members: None,
                    error: Some(format!("lookup failed: {e}")),
                },
            }
        })
        .collect();
    let users: Vec<String> = settings.users.iter().map(ToString::to_string).collect();
    if json {
        return crate::tools::json(&serde_json::json!({
            "env": name,
            "prefix": env.prefix,
            "restricted": settings.restricted(),
            "groups": groups,
            "users": users,
            "owner": owner,
            "group": group,
            "mode": format!("{mode:04o}"),
        }));
    }
    let mut text = format!("{} ({})\n", escape::text(name), escape::path(&env.prefix));
    if !settings.restricted() {
        text.push_str(&format!(
            "  policy: open — [envs.{}] and default_groups name no one: anyone file permissions let in\n",
            escape::text(&settings.key)
        ));
    }
    for g in &groups {
        let members = match (&g.members, &g.error) {
            (_, Some(e)) => escape::text(e),
            (None, None) => "no such group".to_owned(),
            (Some(m), None) if m.is_empty() => {
                "no members listed (users whose primary group it is are not listed)".into()
            }
            (Some(m), None) if m.len() > 20 => format!(
                "{} members listed, e.g. {}",
                m.len(),
                escape::text(&m[..5].join(", "))
            ),
            (Some(m), None) => escape::text(&m.join(", ")),
        };
        text.push_str(&format!("  group {}: {members}\n", escape::text(&g.group)));
    }
    if !users.is_empty() {
        text.push_str(&format!("  users: {}\n", escape::text(&users.join(", "))));
    }
    text.push_str(&format!(
        "  file permissions: {}:{} {:04o}{}\n",
        escape::text(&owner),
        escape::text(&group),
        mode,
        if mode & 0o005 == 0o005 {
            ""
        } else {
            " (others cannot read it: members of its group and its owner only)"
        }
    ));
    write_stdout(text.as_bytes())
}
