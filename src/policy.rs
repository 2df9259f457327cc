//! Who may use which env: the `groups` and `users` of its `[envs.NAME]` table
//! (or the global `default_groups`), like sudoers and Lmod's forbid-by-group.
//!
//! The policy gives a clear answer and an audit trail before anything runs;
//! file permissions still decide what a process can read. [`admit`] is the
//! whole question every front end asks before running anything of an env:
//! resolve, authorize, check trust; [`list_envs`] asks it of every env.
#![forbid(unsafe_code)]

use std::path::Path;

use std::path::PathBuf;

use nix::unistd::AccessFlags;
use serde::Serialize;

use crate::audit::Trail;
use crate::conda::discover::{candidates, Candidates};
use crate::conda::records::python_version_in;
use crate::conda::{resolve, EnvSpec, ResolvedEnv, SearchPath};
use crate::config::LoadedConfig;
use crate::config::{Config, EffectiveSettings, Principal};
use crate::error::{Error, Result};
use crate::identity::Account;
use crate::identity::{account_of, Caller, Identity};
use crate::system::output::Described;
use crate::system::permissions::TrustRules;
use crate::system::process::Process;
use crate::system::users::user_name;
use crate::system::users::NameCache;
use crate::trust::{check_env, judge_findings, rules_for, EnvCheck, TrustVerdict};

/// The user a run is for, as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub uid: u32,
    /// Every group the user is in, primary included.
    pub gids: Vec<u32>,
}

/// What the policy says of one user and one env: why it lets them in, or
/// the groups it names that do not exist and the first lookup that failed.
/// The one decision `run`, `list`, `info` and `access` share.
pub struct Decision {
    /// Why the user may use the env, when they may.
    pub granted: Option<String>,
    pub missing: Vec<String>,
    pub failed: Option<crate::system::users::LookupError>,
}

pub fn decide(subject: &Subject, settings: &EffectiveSettings) -> Decision {
    let mut decision = Decision {
        granted: None,
        missing: Vec::new(),
        failed: None,
    };
    if !settings.restricted() {
        decision.granted = Some(format!(
            "open: neither [envs.{}] nor default_groups name groups or users",
            settings.key
        ));
        return decision;
    }
    // membership is the caller's own group list (the kernel's, or
    // getgrouplist's for a target): a policy group needs only its gid
    for group in &settings.groups {
        match group.lookup_gid() {
            Ok(Some(gid)) if subject.gids.contains(&gid) => {
                decision
                    .granted
                    .get_or_insert_with(|| format!("member of the group {group}"));
            }
            Ok(Some(_)) => {}
            Ok(None) => decision.missing.push(group.to_string()),
            Err(e) => {
                decision.failed.get_or_insert(e);
            }
        }
    }
    let listed = settings.users.iter().any(|u| match u {
        Principal::Id(uid) => *uid == subject.uid,
        Principal::Name(name) => *name == subject.name,
    });
    if listed && decision.granted.is_none() {
        decision.granted = Some(format!("listed in the users of [envs.{}]", settings.key));
    }
    decision
}

/// Allows the run, or refuses it with a message naming the groups and users
/// the env is open to and the env's admin (the prefix owner) to ask.
pub fn authorize(
    subject: &Subject,
    settings: &EffectiveSettings,
    env: &str,
    admin: impl FnOnce() -> String,
) -> Result<()> {
    let Decision {
        granted,
        missing,
        failed,
    } = decide(subject, settings);
    if granted.is_some() {
        return Ok(());
    }
    if let Some(e) = failed {
        // not a refusal by the policy: nobody can tell yet
        let admin = admin();
        return Err(Error::Lookup {
            message: format!(
                "cannot tell whether {} may use env '{env}': {e}. Nothing runs until it answers: try again \
                 later, or ask the env's admin ({admin}) to check the directory service (nslcd, sssd)",
                subject.name
            ),
            reason: format!("lookup failed: {}: {} (errno {})", e.what, e.message, e.errno),
        });
    }
    let names = |items: &[Principal]| {
        items
            .iter()
            .map(Principal::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    let groups = format!(
        "{} {}",
        plural(settings.groups.len(), "the group", "the groups"),
        names(&settings.groups)
    );
    let users = format!(
        "{} {}",
        plural(settings.users.len(), "the user", "the users"),
        names(&settings.users)
    );
    let (open_to, not_member, reason) = match (settings.groups.is_empty(), settings.users.is_empty()) {
        (false, true) => (
            groups,
            plural(settings.groups.len(), "not a member", "not a member of any"),
            format!("not in group {}", names(&settings.groups)),
        ),
        (true, false) => (users, "not one of them", "not in the users list".to_owned()),
        _ => (
            format!("{groups} and {users}"),
            "neither",
            format!("not in group {} nor in the users list", names(&settings.groups)),
        ),
    };
    let user = &subject.name;
    let admin = admin();
    // a policy group that does not exist (a typo, `ldapcaps` for
    // `LDAPCaps`) is named as such, not as a membership the user lacks
    let (nonexistent, reason) = match missing.as_slice() {
        [] => (String::new(), reason),
        names => (
            format!(
                "; no group named {} exists (group names are case-sensitive: check {})",
                names.join(", "),
                crate::config::SYSTEM_CONFIG_PATH
            ),
            format!("{reason}; no such group {}", names.join(", ")),
        ),
    };
    Err(Error::NotAllowed {
        message: format!(
            "{user} may not use env '{env}': it is open to {open_to}, and {user} is {not_member}{nonexistent} (ask the env's admin: {admin})"
        ),
        reason,
    })
}

/// Resolves an env; when the caller cannot even see it (the envs root is
/// closed to them), the policy for that name — if it has one — gives the
/// clearer answer before the "not accessible" error does.
pub fn resolve_explained(
    spec: &EnvSpec,
    config: &Config,
    search: &SearchPath,
    config_path: &Path,
    subject: impl FnOnce() -> Result<Subject>,
) -> Result<ResolvedEnv> {
    match resolve(spec, config, search, config_path) {
        Err(Error::EnvNotAccessible { name, dir, admin }) => {
            authorize(&subject()?, &config.settings_for_name(&name), &name, || {
                admin.clone()
            })?;
            Err(Error::EnvNotAccessible { name, dir, admin })
        }
        other => other,
    }
}

/// The user a run is for, with their groups, as the policy sees them: an
/// ordinary caller's groups are the ones the process has now; a target
/// root named, the user database's.
pub fn subject_of(identity: &Identity) -> Result<Subject> {
    let account = account_of(identity)
        .ok_or_else(|| Error::Identity(format!("{} is not in the user database", identity.user_name())))?;
    let gids = match identity {
        Identity::Unprivileged { gids, .. } => gids.clone(),
        _ => account.groups(),
    };
    Ok(Subject {
        name: account.name,
        uid: account.uid,
        gids,
    })
}

/// Why the policy let a run through — as `-v` tells it.
#[derive(Debug)]
pub struct Allowed<'a> {
    pub settings: &'a EffectiveSettings,
    pub user: String,
}

impl Described for Allowed<'_> {
    fn step(&self) -> &'static str {
        "policy"
    }

    fn describe(&self) -> String {
        let names = |items: &[Principal]| {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let settings = self.settings;
        match settings.restricted() {
            false => format!(
                "allowed: [envs.{}] and default_groups restrict nobody",
                settings.key
            ),
            true => format!(
                "allowed: [envs.{}] is open to groups [{}] and users [{}], and {} is among them",
                settings.key,
                names(&settings.groups),
                names(&settings.users),
                self.user
            ),
        }
    }
}

/// An env a caller may use: resolved, admitted by the policy, its paths
/// judged trustworthy.
#[derive(Debug)]
pub struct Admitted {
    pub env: ResolvedEnv,
    pub settings: EffectiveSettings,
    pub rules: TrustRules,
    pub env_check: EnvCheck,
}

/// resolve → authorize → check trust: whether `caller` may use the env
/// `spec` names, shared by every front end that runs something of an env.
/// For a run started by root this runs after the drop, as the user the
/// command will run as: root's view of the filesystem never decides what a
/// user may reach. Fills the trail's PREFIX; `explain` is shown each
/// decision as it is made, before a refusal.
pub fn admit(
    process: &Process,
    caller: &Caller,
    spec: &EnvSpec,
    trail: &mut Trail,
    explain: &mut dyn FnMut(&dyn Described),
) -> Result<Admitted> {
    let config = &caller.loaded.config;
    let identity = &caller.identity;
    let search = SearchPath::for_caller(config, process);
    explain(&search);
    let env = resolve_explained(spec, config, &search, &caller.loaded.path, || {
        subject_of(identity)
    })?;
    explain(&env);
    trail.prefix = crate::audit::field(env.prefix.as_os_str().as_encoded_bytes());
    let settings = config.settings_for(&env.prefix);
    authorize(&subject_of(identity)?, &settings, &env.requested, || {
        config.admin_of(&env.prefix)
    })?;
    if let Some(deprecation) = &settings.deprecated {
        announce(deprecation, &env.requested, config.after_until, trail)?;
    }
    explain(&Allowed {
        settings: &settings,
        user: identity.user_name(),
    });
    let rules = rules_for(config, &env, identity, settings.key == "base");
    let env_check = check_env(&env.prefix, &rules)?;
    explain(&TrustVerdict {
        check: &env_check,
        rules: &rules,
        strict: config.strict_permissions,
    });
    judge_findings(&env, &env_check.findings, config.strict_permissions)?;
    Ok(Admitted {
        env,
        settings,
        rules,
        env_check,
    })
}

/// A deprecated env: the notice once on stderr (never stdout: a run's
/// output and the code `activate` prints stay the command's and the
/// shell's), noted in the audit line; past its `until` day, refused when
/// the site says so (`after_until = "refuse"`).
fn announce(
    deprecation: &crate::config::Deprecation,
    env: &str,
    after_until: crate::config::AfterUntil,
    trail: &mut Trail,
) -> Result<()> {
    let past = deprecation.past(&crate::system::clock::today());
    let until = deprecation.until.as_deref().unwrap_or_default();
    trail.notice = crate::audit::field(
        match past {
            true => format!("deprecated, past until {until}"),
            false => "deprecated".to_owned(),
        }
        .as_bytes(),
    );
    if past && after_until == crate::config::AfterUntil::Refuse {
        return Err(Error::NotAllowed {
            message: format!(
                "{}: that day has passed, and the site refuses its runs now (after_until = \"refuse\")",
                deprecation.line(env)
            ),
            reason: format!("deprecated env, past until {until}"),
        });
    }
    crate::system::output::warning(&crate::system::escape::text(&deprecation.line(env)));
    Ok(())
}

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
    /// The config's one line about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its retirement, when the config announces one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<crate::config::Deprecation>,
}

/// The caller as the policy sees them: the current process's user and groups.
pub fn current_subject(process: &Process) -> Subject {
    let account = Account::by_uid(process.real_uid);
    let mut gids: Vec<u32> = crate::system::sys::supplementary_groups().unwrap_or_default();
    gids.push(process.real_gid);
    Subject {
        name: account.map_or_else(|| user_name(process.real_uid), |a| a.name),
        uid: process.real_uid,
        gids,
    }
}

/// Whether `subject` may use the env at `prefix`: the policy first, then
/// whether file permissions let them in.
pub fn may_use(config: &Config, subject: &Subject, prefix: &Path, owner: &str) -> (bool, Option<String>) {
    may_use_seen(
        config,
        subject,
        prefix,
        owner,
        std::fs::metadata(prefix).is_ok(),
        || nix::unistd::access(prefix, AccessFlags::R_OK | AccessFlags::X_OK).is_ok(),
    )
}

/// [`may_use`], when the caller knows already whether the prefix is
/// `visible` (its stat could be read), and says how to ask whether file
/// permissions let the caller read it (asked only if the policy allows).
fn may_use_seen(
    config: &Config,
    subject: &Subject,
    prefix: &Path,
    owner: &str,
    visible: bool,
    readable: impl FnOnce() -> bool,
) -> (bool, Option<String>) {
    let settings = if visible {
        config.settings_for(prefix)
    } else {
        // not visible to the caller: the table of its name decides
        config.settings_for_name(&prefix.file_name().unwrap_or_default().to_string_lossy())
    };
    let admin = || match (&config.contact, owner) {
        (Some(contact), _) => contact.clone(),
        (None, "?") => config.admin_of(prefix),
        (None, owner) => owner.to_owned(),
    };
    if let Err(e) = authorize(subject, &settings, &settings.key, admin) {
        return (false, Some(e.audit_reason()));
    }
    match readable() {
        true => (true, None),
        false => (false, Some("file permissions do not let you read it".into())),
    }
}

/// Every env in the search path, as `cenv list` shows it. Each entry of an
/// envs root costs the same five system calls whatever the number of envs —
/// its stat, `conda-meta/` opened and listed (one getdents64 where the file
/// system fills the buffer) and closed, and access(2) — and the owners' and
/// groups' names are looked up once each.
pub fn list_envs(process: &Process, loaded: &LoadedConfig) -> Vec<ListedEnv> {
    use nix::fcntl::{OFlag, AT_FDCWD};
    use nix::sys::stat::Mode;
    use std::os::fd::AsFd;
    let config = &loaded.config;
    let search = SearchPath::for_caller(config, process);
    let subject = current_subject(process);
    let names = NameCache::default();
    let mounts = crate::system::mounts::Mounts::current();
    let Candidates { listed, hidden } = candidates(config, &search);
    // Each root opened once; its entries are reached from it by name, not
    // by walking the whole path from / again for every call. And the file
    // system of every env in a root is the root's, but where something is
    // mounted below it: asked once per root.
    let roots: Vec<(&PathBuf, std::os::fd::OwnedFd, crate::system::mounts::FillsBelow)> = search
        .dirs
        .iter()
        .filter_map(|dir| {
            let fd = nix::fcntl::open(
                dir,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            Some((dir, fd, mounts.fills_getdents_below(dir)))
        })
        .collect();
    // the system calls in parallel, the names and the policy after
    let seen = crate::system::parallel::map(&listed, |env| {
        let prefix = &env.1;
        let root = roots
            .iter()
            .find(|(dir, _, _)| prefix.parent() == Some(dir.as_path()));
        let (at, entry) = match (root, prefix.file_name()) {
            (Some((_, fd, _)), Some(entry)) => (fd.as_fd(), Path::new(entry)),
            _ => (AT_FDCWD, prefix.as_path()),
        };
        // conda-meta/ opened is what makes an entry an env (discover's test)
        let fd = nix::fcntl::openat(
            at,
            &entry.join("conda-meta"),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        let python = match &fd {
            Ok(fd) => {
                let fills = match root.and_then(|(_, _, fills)| fills.uniform()) {
                    Some(fills) => fills,
                    None => mounts.fills_getdents(&prefix.join("conda-meta")),
                };
                let mut records: Vec<std::ffi::OsString> = Vec::new();
                let listed = crate::system::sys::for_each_entry(fd.as_fd(), fills, |name, _| {
                    if name.as_encoded_bytes().starts_with(b"python-") {
                        records.push(name.to_owned());
                    }
                });
                listed
                    .ok()
                    .and_then(|()| python_version_in(records.iter().map(|n| n.as_os_str())))
            }
            // there but not listable: an env all the same, as discover says
            Err(nix::Error::EACCES) if prefix.join("conda-meta").is_dir() => None,
            Err(_) => return None,
        };
        drop(fd);
        let stat = nix::sys::stat::fstatat(at, entry, nix::fcntl::AtFlags::empty()).ok();
        let readable = nix::unistd::faccessat(
            at,
            entry,
            AccessFlags::R_OK | AccessFlags::X_OK,
            nix::fcntl::AtFlags::empty(),
        )
        .is_ok();
        Some((python, stat, readable))
    });
    let mut envs: Vec<ListedEnv> = listed
        .iter()
        .zip(seen)
        .filter_map(|(env, seen)| {
            let (python, stat, readable) = seen?;
            Some(listed_env(config, &subject, &names, env, python, stat, || {
                readable
            }))
        })
        .collect();
    envs.extend(hidden.iter().map(|env| {
        let stat = nix::sys::stat::stat(&env.1).ok();
        let readable = || nix::unistd::access(&env.1, AccessFlags::R_OK | AccessFlags::X_OK).is_ok();
        listed_env(config, &subject, &names, env, None, stat, readable)
    }));
    envs
}

fn listed_env(
    config: &Config,
    subject: &Subject,
    names: &NameCache,
    (name, prefix): &(String, PathBuf),
    python: Option<String>,
    stat: Option<nix::sys::stat::FileStat>,
    readable: impl FnOnce() -> bool,
) -> ListedEnv {
    let owner = stat
        .as_ref()
        .map_or_else(|| "?".into(), |st| names.user(st.st_uid));
    let group = stat
        .as_ref()
        .map_or_else(|| "?".into(), |st| names.group(st.st_gid));
    let (may_use, reason) = may_use_seen(config, subject, prefix, &owner, stat.is_some(), readable);
    let (description, deprecated) = match stat {
        Some(_) => config.notices_for(prefix),
        None => config.notices_for_name(name),
    };
    ListedEnv {
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        python,
        owner,
        group,
        may_use,
        reason,
        description,
        deprecated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LandlockMode;

    fn settings(groups: Vec<Principal>, users: Vec<Principal>) -> EffectiveSettings {
        EffectiveSettings {
            key: "project-cv".into(),
            groups,
            users,
            umask: 0o027,
            landlock: LandlockMode::Enforce,
            readonly_paths: vec![],
            description: None,
            deprecated: None,
        }
    }

    fn alice(gids: Vec<u32>) -> Subject {
        Subject {
            name: "alice".into(),
            uid: 1000,
            gids,
        }
    }

    #[test]
    fn open_env_allows_anyone() {
        assert!(authorize(&alice(vec![]), &settings(vec![], vec![]), "cv", || "admin".into()).is_ok());
    }

    #[test]
    fn group_by_gid_and_user_by_name_or_uid() {
        let s = settings(vec![Principal::Id(4242)], vec![]);
        assert!(authorize(&alice(vec![4242]), &s, "cv", || "admin".into()).is_ok());
        assert!(authorize(&alice(vec![1]), &s, "cv", || "admin".into()).is_err());
        let s = settings(vec![Principal::Id(4242)], vec![Principal::Name("alice".into())]);
        assert!(authorize(&alice(vec![1]), &s, "cv", || "admin".into()).is_ok());
        let s = settings(vec![], vec![Principal::Id(1000)]);
        assert!(authorize(&alice(vec![]), &s, "cv", || "admin".into()).is_ok());
    }

    #[test]
    fn refusal_message_names_group_and_admin() {
        // a group every system has
        let s = settings(vec![Principal::Name("root".into())], vec![]);
        let err = authorize(&alice(vec![]), &s, "project-cv", || "conda-user".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "alice may not use env 'project-cv': it is open to the group root, and alice is not a member (ask the env's admin: conda-user)"
        );
        assert_eq!(err.audit_reason(), "not in group root");
    }

    /// A policy group that does not exist (`ldapcaps` for `LDAPCaps`) is
    /// named as such, not as a membership the user lacks.
    #[test]
    fn a_group_that_does_not_exist_is_named_as_such() {
        let s = settings(vec![Principal::Name("cenv-no-such-Group".into())], vec![]);
        let err = authorize(&alice(vec![]), &s, "cv", || "conda-user".into()).unwrap_err();
        assert!(
            err.to_string()
                .contains("; no group named cenv-no-such-Group exists (group names are case-sensitive"),
            "{err}"
        );
        assert_eq!(
            err.audit_reason(),
            "not in group cenv-no-such-Group; no such group cenv-no-such-Group"
        );
    }
}
