//! Who may use which env: the `groups` and `users` of its `[envs.NAME]` table
//! (or the global `default_groups`), like sudoers and Lmod's forbid-by-group.
//!
//! The policy gives a clear answer and an audit trail before anything runs;
//! file permissions still decide what a process can read.
#![forbid(unsafe_code)]

use nix::unistd::Group;

use std::path::Path;

use crate::conda::{resolve, EnvSpec, ResolvedEnv, SearchPath};
use crate::config::{Config, EffectiveSettings, Principal};
use crate::error::{Error, Result};

/// The user a run is for, as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub uid: u32,
    /// Every group the user is in, primary included.
    pub gids: Vec<u32>,
}

/// The gid a group principal names, if the group exists.
pub fn group_gid(group: &Principal) -> Option<u32> {
    match group {
        Principal::Id(gid) => Some(*gid),
        Principal::Name(name) => Group::from_name(name).ok().flatten().map(|g| g.gid.as_raw()),
    }
}

/// The uid a user principal names, if the user exists.
pub fn user_uid(user: &Principal) -> Option<u32> {
    match user {
        Principal::Id(uid) => Some(*uid),
        Principal::Name(name) => nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw()),
    }
}

/// Allows the run, or refuses it with a message naming the groups and users
/// the env is open to and the env's admin (the prefix owner) to ask.
pub fn authorize(
    subject: &Subject,
    settings: &EffectiveSettings,
    env: &str,
    admin: impl FnOnce() -> String,
) -> Result<()> {
    if !settings.restricted() {
        return Ok(());
    }
    let in_group = settings
        .groups
        .iter()
        .filter_map(group_gid)
        .any(|gid| subject.gids.contains(&gid));
    let listed = settings.users.iter().any(|u| match u {
        Principal::Id(uid) => *uid == subject.uid,
        Principal::Name(name) => *name == subject.name,
    });
    if in_group || listed {
        return Ok(());
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
    Err(Error::NotAllowed {
        message: format!(
            "{user} may not use env '{env}': it is open to {open_to}, and {user} is {not_member} (ask the env's admin: {admin})"
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
        let s = settings(vec![Principal::Name("ai-researchers".into())], vec![]);
        let err = authorize(&alice(vec![]), &s, "project-cv", || "conda-user".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "alice may not use env 'project-cv': it is open to the group ai-researchers, and alice is not a member (ask the env's admin: conda-user)"
        );
        assert_eq!(err.audit_reason(), "not in group ai-researchers");
    }
}
