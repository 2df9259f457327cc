//! `cenv run`: the pipeline, one step per line, in the order that makes it safe.
//!
//! load the trusted config → resolve → authorize (policy) → check trust →
//! identify and drop → umask → capabilities → no_new_privs and Landlock →
//! activate → audit → exec. Each step takes the value the previous one built
//! and hands a new one on; nothing reaches back. The activate.d scripts run
//! after confinement, as the caller, under the umask and the Landlock rule.
//! Every refusal on the way is written to the audit log before cenv exits.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use caps::CapSet;

use crate::audit::{escape, escape_command, tty_name, AuditLog, Trail, NOTICE, WARNING};
use crate::cli::RunArgs;
use crate::conda::{plan_activation, BaseInstall, EnvSpec, ResolvedEnv, SearchPath};
use crate::config::{self, AuditMode, Config, EffectiveSettings, LoadedConfig};
use crate::confine::{apply_umask, effective_umask, restrict_writes, set_no_new_privs, LandlockOutcome};
use crate::environ::Environ;
use crate::error::{Error, Result};
use crate::exec::{exec, find_command};
use crate::identity::{
    account_of, clear_capability_sets, clear_unprivileged_capabilities, drop_to, holds_no_capabilities,
    identify, refuse_setuid_install, reset_environment, verify_capabilities_empty, Account, Identity,
};
use crate::policy::{authorize, group_gid, resolve_explained, user_uid, Subject};
use crate::process::Process;
use crate::scripts::activated_environment;
use crate::trust::{check_command, check_env, user_name, verify_unchanged, EnvCheck, Finding, TrustRules};

/// A checked `cenv run` request: which env, and the command's argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub env: EnvSpec,
    pub argv: Vec<OsString>,
    /// `cenv shell`: the command is the user's shell, known once the
    /// environment of the run is.
    pub user_shell: bool,
}

impl RunRequest {
    /// Splits the words after the options into the env and the command. With
    /// `-p` every word is the command; otherwise the first word is the env
    /// name. A `--` right before the command is dropped.
    pub fn from_args(prefix: Option<PathBuf>, words: Vec<OsString>, user_shell: bool) -> Result<RunRequest> {
        let mut words = words.into_iter();
        let env = match prefix {
            Some(path) => EnvSpec::Prefix(path),
            None => {
                let name = words.next().unwrap_or_default();
                let name = name.into_string().map_err(|raw| Error::InvalidEnvName {
                    name: raw.to_string_lossy().into_owned(),
                    reason: "a name must be valid UTF-8 (letters, digits and . _ + -)",
                })?;
                EnvSpec::Name(name)
            }
        };
        let mut argv: Vec<OsString> = words.collect();
        if argv.first().is_some_and(|w| w == "--") {
            argv.remove(0);
        }
        if argv.is_empty() && !user_shell {
            let env = match &env {
                EnvSpec::Name(name) => name.clone(),
                EnvSpec::Prefix(path) => format!("-p {}", path.display()),
            };
            return Err(Error::MissingCommand { env });
        }
        Ok(RunRequest {
            env,
            argv,
            user_shell,
        })
    }
}

/// Runs the pipeline; returns only when something failed before or at exec,
/// after writing the refusal to the audit log.
pub fn run(process: &Process, args: RunArgs, cli_config: Option<&Path>) -> Error {
    // Connected first: before the config is read and long before Landlock.
    let audit = AuditLog::connect();
    let mut trail = initial_trail(process, &args);
    let error = match run_pipeline(process, args, cli_config, &audit, &mut trail) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if trail.invoker.is_empty() {
        trail.invoker = user_name(process.real_uid);
    }
    if !matches!(error, Error::AuditUnavailable { .. }) {
        log(&audit, WARNING, &trail.refusal_line(&error.audit_reason()));
    }
    error
}

enum Never {}

/// What every command that puts an env to use has established before it does
/// anything with it: the trusted config, who the caller is, the env, its
/// settings, that the policy admits the caller and that the env's paths can
/// be trusted.
pub(crate) struct Prepared {
    pub loaded: LoadedConfig,
    pub identity: Identity,
    pub env: ResolvedEnv,
    pub settings: EffectiveSettings,
    pub rules: TrustRules,
    pub env_check: EnvCheck,
}

/// load the trusted config → identify → resolve → authorize → check trust.
pub(crate) fn prepare(
    process: &Process,
    spec: &EnvSpec,
    user_flag: Option<&str>,
    cli_config: Option<&Path>,
    audit: &AuditLog,
    trail: &mut Trail,
) -> Result<Prepared> {
    refuse_setuid_install(process)?;
    let loaded = config::load(process, cli_config)?;
    let config = &loaded.config;
    require_audit(audit, config)?;
    let config_path = loaded.path.display().to_string();
    let identity = identify(process, user_flag, config.allow_root, &config_path)?;
    trail.user = identity.user_name();
    trail.invoker = invoker_name(&identity);
    let search = SearchPath::for_caller(config, process);
    let env = resolve_explained(spec, config, &search, &loaded.path, || subject(&identity))?;
    trail.prefix = escape(env.prefix.as_os_str().as_encoded_bytes());
    let settings = config.settings_for(&env.prefix);
    let env_owner = std::fs::metadata(&env.prefix).map(|m| m.uid()).unwrap_or(0);
    authorize(&subject(&identity)?, &settings, &env.requested, || {
        user_name(env_owner)
    })?;
    let rules = trust_rules(config, &env, &identity, settings.key == "base");
    let env_check = check_env(&env.prefix, &rules)?;
    judge_findings(&env, &env_check.findings, config.strict_permissions)?;
    Ok(Prepared {
        loaded,
        identity,
        env,
        settings,
        rules,
        env_check,
    })
}

fn run_pipeline(
    process: &Process,
    args: RunArgs,
    cli_config: Option<&Path>,
    audit: &AuditLog,
    trail: &mut Trail,
) -> Result<Never> {
    let mut request = RunRequest::from_args(args.prefix, args.words, args.user_shell)?;
    let Prepared {
        loaded,
        identity,
        env,
        settings,
        rules,
        env_check,
    } = prepare(
        process,
        &request.env,
        args.user.as_deref(),
        cli_config,
        audit,
        trail,
    )?;
    let config = &loaded.config;
    let umask = effective_umask(settings.umask, args.umask.as_deref())?;
    let caller_environ = starting_environment(process, &identity, args.clean_env)?;

    drop_privileges(&identity)?;
    apply_umask(umask);
    set_no_new_privs()?;
    let base = config.base_prefix.as_deref().map(BaseInstall::probe);
    let plan = plan_activation(&env.prefix, &caller_environ, base.as_ref(), ".sh")?;
    let landlock = restrict_writes(settings.landlock, &env.prefix, &settings.readonly_paths)?;
    if matches!(
        landlock,
        LandlockOutcome::Partial { .. } | LandlockOutcome::Unavailable
    ) {
        eprintln!("cenv: warning: Landlock is {landlock} on this kernel: the env is not fully read-only for this run");
    }

    for warning in &plan.warnings {
        eprintln!("cenv: warning: {warning}");
    }
    let environ = activated_environment(&plan, &caller_environ, process.cwd.as_deref())?;
    if request.user_shell {
        request.argv = vec![user_shell(&caller_environ, &identity)];
    }
    let program = find_command(&request.argv[0], environ.get("PATH"))?;
    trail.command = escape_command(
        std::iter::once(program.as_os_str()).chain(request.argv[1..].iter().map(|a| a.as_os_str())),
    );
    judge_findings(
        &env,
        &check_command(&program, &env_check, &rules),
        config.strict_permissions,
    )?;
    verify_unchanged(&env_check)?;

    trail.umask = format!("{umask:03o}");
    trail.landlock = landlock.to_string();
    log(audit, NOTICE, &trail.run_line());
    Err(exec(&program, &request.argv, &environ))
}

fn initial_trail(process: &Process, args: &RunArgs) -> Trail {
    let (env, command_words) = match &args.prefix {
        Some(prefix) => (escape(prefix.as_os_str().as_encoded_bytes()), &args.words[..]),
        None => (
            args.words
                .first()
                .map(|w| escape(w.as_encoded_bytes()))
                .unwrap_or_default(),
            args.words.get(1..).unwrap_or_default(),
        ),
    };
    let command_words = match command_words.first() {
        Some(w) if w == "--" => &command_words[1..],
        _ => command_words,
    };
    Trail {
        tty: tty_name(),
        env,
        pwd: process
            .cwd
            .as_ref()
            .map(|p| escape(p.as_os_str().as_encoded_bytes()))
            .unwrap_or_default(),
        command: escape_command(command_words.iter().map(|w| w.as_os_str())),
        ..Trail::default()
    }
}

/// The shell `cenv shell` starts: `SHELL` of the run's environment (the user
/// database's for a run dropped from root, as the environment is reset), else
/// the user database's, else /bin/sh.
fn user_shell(environ: &Environ, identity: &Identity) -> OsString {
    environ
        .get("SHELL")
        .filter(|s| !s.is_empty())
        .map(OsStr::to_owned)
        .or_else(|| account_of(identity).map(|a| a.shell.into_os_string()))
        .unwrap_or_else(|| "/bin/sh".into())
}

/// The first field of the audit line: who started cenv.
fn invoker_name(identity: &Identity) -> String {
    match identity {
        Identity::FromRoot { invoked_by, .. } => invoked_by.clone(),
        other => other.user_name(),
    }
}

/// `audit = "required"` refuses to run when no daemon can receive the line;
/// best-effort says so once and runs.
fn require_audit(audit: &AuditLog, config: &Config) -> Result<()> {
    let Some(e) = audit.unavailable() else {
        return Ok(());
    };
    match config.audit {
        AuditMode::Required => Err(Error::AuditUnavailable {
            socket: crate::audit::SYSLOG_SOCKET.into(),
            source: std::io::Error::new(e.kind(), e.to_string()),
        }),
        AuditMode::BestEffort => Ok(()),
    }
}

fn log(audit: &AuditLog, priority: u8, line: &str) {
    if let Err(e) = audit.send(priority, line) {
        eprintln!(
            "cenv: warning: this run is not in the audit log: no syslog daemon at {} ({e})",
            crate::audit::SYSLOG_SOCKET
        );
    }
}

/// The user the run is for, with their groups, as the policy sees them.
fn subject(identity: &Identity) -> Result<Subject> {
    let account = account_of(identity)
        .ok_or_else(|| Error::Identity(format!("{} is not in the user database", identity.user_name())))?;
    let gids = match identity {
        // An ordinary caller's groups are the ones the process has now.
        Identity::Unprivileged { .. } => {
            let mut gids: Vec<u32> = nix::unistd::getgroups()
                .map_err(|e| Error::system("getgroups", e.into()))?
                .into_iter()
                .map(|g| g.as_raw())
                .collect();
            gids.push(nix::unistd::getgid().as_raw());
            gids.push(nix::unistd::getegid().as_raw());
            gids
        }
        _ => account.groups(),
    };
    Ok(Subject {
        name: account.name,
        uid: account.uid,
        gids,
    })
}

/// Trusted owners: root, the user the command runs as, and the configured
/// `trusted_owners` — by default the owner of the envs directory holding the
/// env (for the base install, its own owner). Trusted groups: `trusted_groups`.
pub(crate) fn trust_rules(
    config: &Config,
    env: &ResolvedEnv,
    identity: &Identity,
    is_base: bool,
) -> TrustRules {
    let mut owners = vec![0];
    if let Some(account) = account_of(identity) {
        owners.push(account.uid);
    }
    match &config.trusted_owners {
        Some(listed) => owners.extend(listed.iter().filter_map(user_uid)),
        None => {
            let root = if is_base {
                Some(env.prefix.as_path())
            } else {
                env.prefix.parent()
            };
            owners.extend(root.and_then(|r| std::fs::metadata(r).ok()).map(|m| m.uid()));
        }
    }
    TrustRules {
        owners,
        groups: config.trusted_groups.iter().filter_map(group_gid).collect(),
    }
}

/// Refuses on findings when `strict_permissions` is on; warns otherwise.
fn judge_findings(env: &ResolvedEnv, findings: &[Finding], strict: bool) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let text = findings
        .iter()
        .map(Finding::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if strict {
        let first = &findings[0];
        return Err(Error::Untrusted {
            env: env.requested.clone(),
            findings: text,
            reason: format!("untrusted env: {} {}", first.path.display(), first.why()),
        });
    }
    eprintln!(
        "cenv: warning: env '{}' would be refused with strict_permissions: {text}",
        env.requested
    );
    Ok(())
}

/// The environment activation starts from: the caller's own for an
/// unprivileged run; sudo-style reset for a run dropped from root or when
/// `--clean-env` asks for it.
fn starting_environment(process: &Process, identity: &Identity, clean_env: bool) -> Result<Environ> {
    if !(clean_env || identity.dropped_from_root()) {
        return Ok(process.environ.clone());
    }
    let account: Account = account_of(identity).ok_or_else(|| {
        Error::Identity(format!(
            "--clean-env needs the user database entry of {}, and there is none",
            identity.user_name()
        ))
    })?;
    Ok(reset_environment(&process.environ, &account))
}

/// Leaves only what the caller has: a full drop from root, or clearing the
/// capabilities an unprivileged process could hold; then verifies it.
fn drop_privileges(identity: &Identity) -> Result<()> {
    match identity {
        Identity::FromRoot { target, .. } => {
            drop_to(target)?;
            verify_capabilities_empty(&ALL_CAPABILITY_SETS)?;
            // After the drop the command must not reach root's terminal.
            if !crate::tty::kernel_blocks_tiocsti() {
                crate::sys::detach_controlling_terminal()
                    .map_err(|e| Error::system("giving up root's controlling terminal", e))?;
            }
            Ok(())
        }
        Identity::Root => {
            clear_capability_sets(&ALL_CAPABILITY_SETS)?;
            verify_capabilities_empty(&ALL_CAPABILITY_SETS)
        }
        Identity::Unprivileged { .. } => {
            clear_unprivileged_capabilities()?;
            match holds_no_capabilities()? {
                true => Ok(()),
                false => Err(Error::Identity("capabilities remain after clearing them".into())),
            }
        }
    }
}

/// Bounding first: clearing it needs CAP_SETPCAP, which clearing the
/// effective set would take away.
const ALL_CAPABILITY_SETS: [CapSet; 5] = [
    CapSet::Bounding,
    CapSet::Ambient,
    CapSet::Inheritable,
    CapSet::Effective,
    CapSet::Permitted,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<OsString> {
        w.iter().map(OsString::from).collect()
    }

    #[test]
    fn name_then_command() {
        let r = RunRequest::from_args(None, words(&["cv", "python", "x.py"]), false).unwrap();
        assert_eq!(r.env, EnvSpec::Name("cv".into()));
        assert_eq!(r.argv, words(&["python", "x.py"]));
    }

    #[test]
    fn double_dash_is_dropped_once() {
        let r = RunRequest::from_args(None, words(&["cv", "--", "python", "--", "-m"]), false).unwrap();
        assert_eq!(r.argv, words(&["python", "--", "-m"]));
    }

    #[test]
    fn prefix_takes_all_words() {
        let r = RunRequest::from_args(Some("/p".into()), words(&["python"]), false).unwrap();
        assert_eq!(r.env, EnvSpec::Prefix("/p".into()));
        assert_eq!(r.argv, words(&["python"]));
    }

    #[test]
    fn missing_command_is_an_error() {
        let e = RunRequest::from_args(None, words(&["cv"]), false).unwrap_err();
        assert!(e.to_string().contains("cenv run cv python"), "{e}");
        assert!(RunRequest::from_args(None, words(&["cv", "--"]), false).is_err());
    }
}
