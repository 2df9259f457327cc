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

use crate::audit::{escape_command, field, tty_name, AuditLog, Trail, NOTICE, WARNING};
use crate::cli::RunArgs;
use crate::conda::{plan_activation, ActivationPlan, BaseInstall, EnvSpec, ResolvedEnv, SearchPath};
use crate::config::{self, AuditMode, Config, EffectiveSettings, LoadedConfig};
use crate::confine::{
    apply_umask, caller_umask, effective_umask, restrict_binds, restrict_writes, set_no_new_privs,
    LandlockOutcome, OwnPlace, ReadOnlyPlan,
};
use crate::environ::Environ;
use crate::error::{Error, Outcome, Result};
use crate::exec::{exec, find_command};
use crate::explain::Explain;
use crate::identity::{
    account_of, clear_capability_sets, clear_unprivileged_capabilities, drop_to, holds_no_capabilities,
    identify, invoker, refuse_setuid_install, reset_environment, verify_capabilities_empty, Account,
    Identity,
};
use crate::output::warning;
use crate::policy::{authorize, group_gid, resolve_explained, user_uid, Subject};
use crate::process::Process;
use crate::scripts::activated_environment;
use crate::trust::{check_env, open_command, user_name, verify_unchanged, EnvCheck, Finding, TrustRules};

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
/// after writing the outcome to the audit log.
pub fn run(process: &Process, args: RunArgs, cli_config: Option<&Path>) -> Error {
    // Connected first: before the config is read and long before Landlock.
    let audit = AuditLog::connect();
    let mut trail = initial_trail(process, &args);
    let error = match run_pipeline(process, args, cli_config, &audit, &mut trail) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let reason = error.audit_reason();
    if trail.invoker.is_empty() {
        trail.invoker = invoker(process);
    }
    match &error {
        Error::AuditUnavailable { .. } => {}
        // the run's line is already in the log: one more line says it did
        // not start, under the same pid — never a second "refused"
        _ if trail.run_logged => log(&audit, WARNING, &trail.exec_failed_line(&reason)),
        _ => {
            let outcome = error.outcome();
            let priority = match outcome {
                Outcome::NotFound | Outcome::NotExecutable => NOTICE,
                Outcome::Refused | Outcome::Failed => WARNING,
            };
            log(&audit, priority, &trail.failure_line(outcome, &reason));
        }
    }
    error
}

enum Never {}

/// Who the caller is, under which config: established before anything about
/// an env is looked at, and before privilege is dropped.
pub(crate) struct Caller {
    pub loaded: LoadedConfig,
    pub identity: Identity,
}

/// An env a caller may use: resolved, admitted by the policy, its paths
/// judged trustworthy.
pub(crate) struct Admitted {
    pub env: ResolvedEnv,
    pub settings: EffectiveSettings,
    pub rules: TrustRules,
    pub env_check: EnvCheck,
}

/// refuse a setuid install → load the trusted config → require the audit
/// daemon if the config says so → identify the caller.
pub(crate) fn establish_caller(
    process: &Process,
    user_flag: Option<&str>,
    cli_config: Option<&Path>,
    audit: &AuditLog,
    trail: &mut Trail,
    explain: Explain,
) -> Result<Caller> {
    refuse_setuid_install(process)?;
    let loaded = config::load(process, cli_config)?;
    explain.step("config", || match loaded.from_file {
        true => format!("{}", loaded.path.display()),
        false => format!("{} does not exist: the defaults", loaded.path.display()),
    });
    let config = &loaded.config;
    require_audit(audit, config)?;
    explain.step("audit", || match audit.unavailable() {
        None => format!("connected to {}", crate::audit::SYSLOG_SOCKET),
        Some(e) => format!("no syslog daemon ({e}); audit = {:?}", config.audit),
    });
    let config_path = loaded.path.display().to_string();
    let identity = identify(process, user_flag, config.allow_root, &config_path)?;
    explain.step("caller", || match &identity {
        Identity::Unprivileged { uid, .. } => format!("{} (uid {uid}), unprivileged", identity.user_name()),
        Identity::FromRoot {
            target,
            source,
            invoked_by,
        } => format!(
            "started by root for {} (uid {}, named by {source}; invoked by {invoked_by}): dropping to them",
            target.name, target.uid
        ),
        Identity::Root => "root itself, allow_root = true: every capability cleared".into(),
    });
    trail.user = identity.user_name();
    if trail.invoker.is_empty() {
        trail.invoker = crate::audit::invoker_field(trail.user.as_bytes());
    }
    Ok(Caller { loaded, identity })
}

/// resolve → authorize → check trust. For a run started by root this runs
/// after the drop, as the user the command will run as: root's view of the
/// filesystem never decides what a user may reach.
pub(crate) fn admit(
    process: &Process,
    caller: &Caller,
    spec: &EnvSpec,
    trail: &mut Trail,
    explain: Explain,
) -> Result<Admitted> {
    let config = &caller.loaded.config;
    let identity = &caller.identity;
    let search = SearchPath::for_caller(config, process);
    explain.step("search", || {
        let dirs: Vec<String> = search.dirs.iter().map(|d| d.display().to_string()).collect();
        dirs.join(", ")
    });
    let env = resolve_explained(spec, config, &search, &caller.loaded.path, || subject(identity))?;
    explain.step("env", || format!("{} is {}", env.requested, env.prefix.display()));
    trail.prefix = field(env.prefix.as_os_str().as_encoded_bytes());
    let settings = config.settings_for(&env.prefix);
    let env_owner = std::fs::metadata(&env.prefix).map(|m| m.uid()).unwrap_or(0);
    authorize(&subject(identity)?, &settings, &env.requested, || {
        user_name(env_owner)
    })?;
    explain.step("policy", || {
        let names = |items: &[crate::config::Principal]| {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
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
                identity.user_name()
            ),
        }
    });
    let rules = trust_rules(config, &env, identity, settings.key == "base");
    let env_check = check_env(&env.prefix, &rules)?;
    explain.step("trust", || match env_check.findings.len() {
        0 => format!(
            "trusted: owners {:?} (uids), trusted groups {:?} (gids); no path writable by anyone else",
            rules.owners, rules.groups
        ),
        n => format!("{n} findings, strict_permissions = {}", config.strict_permissions),
    });
    judge_findings(&env, &env_check.findings, config.strict_permissions)?;
    Ok(Admitted {
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
    let explain = Explain::new(args.verbose);
    let mut request = RunRequest::from_args(args.prefix, args.words, args.user_shell)?;
    let caller = establish_caller(process, args.user.as_deref(), cli_config, audit, trail, explain)?;
    let identity = &caller.identity;
    let config = &caller.loaded.config;
    if identity.dropped_from_root() {
        // root's terminal — one of fds 0–2, or the controlling terminal
        // behind /dev/tty with every one of them redirected — never reaches
        // the command: from here on this is the command's side of a new
        // pseudo-terminal, and the parent relays
        let ttys = crate::relay::terminals();
        let controlling = crate::relay::controlling_terminal();
        if ttys.contains(&true) || controlling.is_some() {
            explain.step("terminal", || {
                "started by root with a terminal: the command gets a new pseudo-terminal, cenv relays".into()
            });
            crate::relay::continue_on_new_terminal(ttys, controlling)?;
        } else {
            crate::relay::leave_session();
        }
    }
    drop_privileges(identity)?;
    let confined = confine_and_activate(
        process,
        &caller,
        &request.env,
        args.umask.as_deref(),
        args.clean_env,
        trail,
        explain,
    )?;
    if let Some(port) = args.bind_only {
        let binds = restrict_binds(confined.landlock, port)?;
        explain.step("network", || binds.to_string());
        trail.landlock = format!("{}, {binds}", trail.landlock);
    }
    let environ = &confined.environ;
    if request.user_shell {
        request.argv = vec![user_shell(&confined.caller_environ, identity)];
    }
    let program = find_command(&request.argv[0], environ.get("PATH"))?;
    trail.command = escape_command(
        std::iter::once(program.as_os_str()).chain(request.argv[1..].iter().map(|a| a.as_os_str())),
    );
    let command = open_command(&program, &confined.env_check, &confined.rules)?;
    judge_findings(&confined.env, &command.findings, config.strict_permissions)?;
    verify_unchanged(&confined.env_check)?;
    explain.step("command", || {
        format!(
            "{}{}, executed through the descriptor that was checked",
            program.display(),
            if command.is_script { " (a #! script)" } else { "" }
        )
    });

    log(audit, NOTICE, &trail.run_line());
    trail.run_logged = true;
    Err(exec(&command, &request.argv, environ))
}

/// What confinement and activation leave: the environment the command gets,
/// and what the command's check needs.
pub(crate) struct Confined {
    pub env: ResolvedEnv,
    pub rules: TrustRules,
    pub env_check: EnvCheck,
    /// The environment activation started from.
    pub caller_environ: Environ,
    /// The activated environment.
    pub environ: Environ,
    /// The Landlock mode in force for this env.
    pub landlock: crate::config::LandlockMode,
}

/// admit → umask → no_new_privs → activation plan → Landlock → activate.d
/// scripts: everything between the drop and the command, shared by `cenv
/// run` and the SLURM plugin (which confines a task slurmstepd then execs).
/// Fills the trail's UMASK and LANDLOCK fields.
pub(crate) fn confine_and_activate(
    process: &Process,
    caller: &Caller,
    spec: &EnvSpec,
    umask_flag: Option<&str>,
    clean_env: bool,
    trail: &mut Trail,
    explain: Explain,
) -> Result<Confined> {
    let identity = &caller.identity;
    let config = &caller.loaded.config;
    let Admitted {
        env,
        settings,
        rules,
        env_check,
    } = admit(process, caller, spec, trail, explain)?;
    let callers_umask = caller_umask();
    let umask = effective_umask(settings.umask, callers_umask, umask_flag)?;
    explain.step("umask", || {
        format!(
            "{umask:03o} (yours {callers_umask:03o} | configured {:03o}{})",
            settings.umask,
            umask_flag.map(|u| format!(" | --umask {u}")).unwrap_or_default()
        )
    });
    let caller_environ = starting_environment(process, identity, clean_env)?;

    apply_umask(umask);
    set_no_new_privs()?;
    let base = config.base_prefix.as_deref().map(BaseInstall::probe);
    let plan = plan_activation(&env.prefix, &caller_environ, base.as_ref(), ".sh")?;
    check_previous_env(&plan, &env, caller, &caller_environ)?;
    let protection = read_only_plan(
        config,
        &settings,
        identity,
        &env,
        process.cwd.as_deref(),
        &caller_environ,
    );
    let landlock = restrict_writes(settings.landlock, &protection)?;
    explain.step("landlock", || {
        let trees: Vec<String> = protection.trees.iter().map(|t| t.display().to_string()).collect();
        let mut text = format!(
            "{landlock} (landlock = {:?}); read-only: {}",
            settings.landlock,
            trees.join(", ")
        );
        if let Some(why) = &protection.env_writable_because {
            text.push_str(&format!("; the env is writable: {why}"));
        }
        for note in &protection.places_restricted {
            text.push_str(&format!("; {note}"));
        }
        text
    });
    if matches!(
        landlock,
        LandlockOutcome::Partial { .. } | LandlockOutcome::Unavailable
    ) {
        warning(&format!(
            "Landlock is {landlock} on this kernel: the env is not fully read-only for this run"
        ));
    }
    for w in &plan.warnings {
        warning(&crate::escape::text(w));
    }
    let environ = activated_environment(&plan, &caller_environ, process.cwd.as_deref())?;
    explain.step("activation", || {
        format!(
            "{} changes, {} activate.d and {} deactivate.d scripts sourced",
            plan.changes.len(),
            plan.activate_scripts.len(),
            plan.deactivate_scripts.len()
        )
    });
    trail.umask = format!("{umask:03o}");
    trail.landlock = match landlock {
        LandlockOutcome::Enforced { .. }
        | LandlockOutcome::Partial { .. }
        | LandlockOutcome::NothingReadOnly => {
            format!("{landlock}, {}", field(protection.summary().as_bytes()))
        }
        _ => landlock.to_string(),
    };
    Ok(Confined {
        env,
        rules,
        env_check,
        caller_environ,
        environ,
        landlock: settings.landlock,
    })
}

/// The SLURM plugin's entry: confines the calling process — a task that
/// slurmstepd is about to exec, already the job's user — with the env named
/// `env_name`, and returns the task's activated environment. `job_env` is
/// the task's environment, `argv` its command (for the audit line). The same
/// pipeline as `cenv run` up to, not including, the exec; a refusal is
/// logged and returned, and the task must then fail.
pub fn confine_task(env_name: &str, job_env: Environ, argv: &[OsString]) -> Result<Environ> {
    let audit = AuditLog::connect();
    let process = Process::for_task(job_env);
    let spec = if env_name.contains('/') {
        EnvSpec::Prefix(PathBuf::from(env_name))
    } else {
        EnvSpec::Name(env_name.to_owned())
    };
    let (job, job_name) = crate::audit::batch_job(&process.environ);
    let mut trail = Trail {
        tty: tty_name(),
        env: field(env_name.as_bytes()),
        pwd: process
            .cwd
            .as_ref()
            .map(|p| field(p.as_os_str().as_encoded_bytes()))
            .unwrap_or_default(),
        command: escape_command(argv.iter().map(|a| a.as_os_str())),
        job,
        job_name,
        ..Trail::default()
    };
    let result = (|| {
        let caller = establish_caller(&process, None, None, &audit, &mut trail, Explain::default())?;
        // A cluster's policy lives in the system config: a node without it
        // would run `--cenv` tasks under the defaults, which restrict no
        // env. A node that lacks it is refused, not trusted.
        let system = Path::new(config::SYSTEM_CONFIG_PATH);
        if !(caller.loaded.from_file && caller.loaded.path == system) {
            return Err(Error::Confinement(format!(
                "no system config {} on this node: a --cenv task runs only under the site's policy, and \
                 every node needs the same config (the cenv package installs it)",
                system.display()
            )));
        }
        drop_privileges(&caller.identity)?;
        let confined = confine_and_activate(
            &process,
            &caller,
            &spec,
            None,
            false,
            &mut trail,
            Explain::default(),
        )?;
        if let Some(first) = argv.first() {
            // the command slurmstepd will run, judged as cenv run judges it
            if let Ok(program) = find_command(first, confined.environ.get("PATH")) {
                let command = open_command(&program, &confined.env_check, &confined.rules)?;
                judge_findings(
                    &confined.env,
                    &command.findings,
                    caller.loaded.config.strict_permissions,
                )?;
                trail.command = escape_command(
                    std::iter::once(program.as_os_str()).chain(argv[1..].iter().map(|a| a.as_os_str())),
                );
            }
        }
        Ok(confined.environ)
    })();
    if trail.invoker.is_empty() {
        trail.invoker = invoker(&process);
    }
    match &result {
        Ok(_) => log(&audit, NOTICE, &trail.run_line()),
        Err(Error::AuditUnavailable { .. }) => {}
        Err(e) => log(
            &audit,
            WARNING,
            &trail.failure_line(e.outcome(), &e.audit_reason()),
        ),
    }
    result
}

/// The env already active in the caller's environment (`CONDA_PREFIX`) has
/// its deactivate.d scripts sourced first, as conda does: they shape the
/// run too, so that env is judged by the same rules before they run.
pub(crate) fn check_previous_env(
    plan: &ActivationPlan,
    env: &ResolvedEnv,
    caller: &Caller,
    environ: &Environ,
) -> Result<()> {
    if plan.deactivate_scripts.is_empty() {
        return Ok(());
    }
    let Some(old) = environ
        .get("CONDA_PREFIX")
        .and_then(|p| std::fs::canonicalize(p).ok())
    else {
        return Ok(());
    };
    if old == env.prefix {
        return Ok(());
    }
    judge_env_at(&old, caller)
}

/// Judges the env at `prefix` (canonical) by the rules a run of it would
/// be judged by: refused on findings with `strict_permissions`, else
/// warned about. For scripts sourced outside a run: an old env's
/// deactivate.d, and what `cenv deactivate` sources.
pub(crate) fn judge_env_at(prefix: &Path, caller: &Caller) -> Result<()> {
    let config = &caller.loaded.config;
    let env = ResolvedEnv {
        requested: prefix.display().to_string(),
        prefix: prefix.to_owned(),
    };
    let is_base = config.settings_for(&env.prefix).key == "base";
    let rules = trust_rules(config, &env, &caller.identity, is_base);
    let check = check_env(&env.prefix, &rules)?;
    judge_findings(&env, &check.findings, config.strict_permissions)
}

/// Directories a run as root itself (`allow_root = true`) may not write
/// either: uid 0 without capabilities still owns them.
const ROOT_READ_ONLY: [&str; 3] = ["/etc", "/usr", "/boot"];

/// What the Landlock rule of this run makes read-only (see
/// [`ReadOnlyPlan::decide`]): the shared trees — the configured envs roots
/// (not those a user's own config added), the base install, the package
/// cache and `readonly_paths`, and for a run as root the system's own
/// directories — and the env unless it is the caller's own or lies in one of
/// the caller's own places.
pub(crate) fn read_only_plan(
    config: &Config,
    settings: &EffectiveSettings,
    identity: &Identity,
    env: &ResolvedEnv,
    cwd: Option<&Path>,
    environ: &Environ,
) -> ReadOnlyPlan {
    let mut shared = settings.readonly_paths.clone();
    shared.extend(
        config
            .envs_dirs
            .iter()
            .filter(|d| !config.user_envs_dirs.contains(d))
            .cloned(),
    );
    shared.extend(config.base_prefix.iter().cloned());
    let as_root = matches!(identity, Identity::Root);
    if as_root {
        shared.extend(ROOT_READ_ONLY.iter().map(PathBuf::from));
    }
    let caller_uid = account_of(identity).map(|a| a.uid);
    let env_is_own = !as_root && std::fs::metadata(&env.prefix).is_ok_and(|m| Some(m.uid()) == caller_uid);
    ReadOnlyPlan::decide(&env.prefix, env_is_own, &shared, &own_places(cwd, environ))
}

/// The places a run must always be able to create entries in: the home
/// directory, the working directory, `/tmp` and `$TMPDIR`.
fn own_places(cwd: Option<&Path>, environ: &Environ) -> Vec<OwnPlace> {
    let mut places: Vec<OwnPlace> = Vec::new();
    let candidates = [
        ("home directory", environ.get("HOME").map(PathBuf::from)),
        ("working directory", cwd.map(Path::to_path_buf)),
        ("temporary directory", Some(PathBuf::from("/tmp"))),
        ("temporary directory", environ.get("TMPDIR").map(PathBuf::from)),
    ];
    for (what, path) in candidates {
        let Some(path) = path
            .filter(|p| p.is_absolute())
            .and_then(|p| std::fs::canonicalize(p).ok())
        else {
            continue;
        };
        if !places.iter().any(|p| p.path == path) {
            places.push(OwnPlace { what, path });
        }
    }
    places
}

fn initial_trail(process: &Process, args: &RunArgs) -> Trail {
    let (env, command_words) = match &args.prefix {
        Some(prefix) => (field(prefix.as_os_str().as_encoded_bytes()), &args.words[..]),
        None => (
            args.words
                .first()
                .map(|w| field(w.as_encoded_bytes()))
                .unwrap_or_default(),
            args.words.get(1..).unwrap_or_default(),
        ),
    };
    let command_words = match command_words.first() {
        Some(w) if w == "--" => &command_words[1..],
        _ => command_words,
    };
    let (job, job_name) = crate::audit::batch_job(&process.environ);
    Trail {
        // an ordinary caller's name comes with the identity (one user
        // database lookup per run); see establish_caller
        invoker: if process.real_uid == 0 {
            invoker(process)
        } else {
            String::new()
        },
        tty: tty_name(),
        env,
        pwd: process
            .cwd
            .as_ref()
            .map(|p| field(p.as_os_str().as_encoded_bytes()))
            .unwrap_or_default(),
        command: escape_command(command_words.iter().map(|w| w.as_os_str())),
        job,
        job_name,
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
        warning(&format!(
            "this run is not in the audit log: no syslog daemon at {} ({e})",
            crate::audit::SYSLOG_SOCKET
        ));
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
    owners.sort_unstable();
    owners.dedup();
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
    warning(&format!(
        "env '{}' would be refused with strict_permissions: {text}",
        crate::escape::text(&env.requested)
    ));
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
            // nothing root had open reaches the command (sudo's closefrom)
            crate::sys::close_on_exec_from(3)
                .map_err(|e| Error::system("closing the descriptors root passed on", e))
        }
        Identity::Root => {
            clear_capability_sets(&ALL_CAPABILITY_SETS)?;
            verify_capabilities_empty(&ALL_CAPABILITY_SETS)
        }
        Identity::Unprivileged { .. } => {
            if holds_no_capabilities()? {
                return Ok(());
            }
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
