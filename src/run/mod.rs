//! `cenv run`: the pipeline, in the order that makes it safe, on one screen
//! (`run_pipeline`):
//!
//! refuse a setuid install → the trusted config → the audit socket →
//! identify the caller → (root's terminal: a new one, and a relay) → drop
//! to the caller → resolve → authorize (policy) → check trust → umask →
//! no_new_privs → plan the activation → Landlock → activate (the activate.d
//! scripts, after confinement, as the caller) → check the command → the
//! audit line → exec.
//!
//! Each step is a function of the layer that owns the decision (identity,
//! policy, trust, confine, audit) and returns a value that says what it
//! decided (`-v`); nothing reaches back. Every outcome — a refusal on the
//! way included — goes through the one audited front door,
//! [`crate::audit::audited`]. Here too: the pty relay ([`relay`]),
//! activate.d sourcing ([`scripts`]), the exec ([`mod@exec`]) and the SLURM
//! plugin's entry ([`task`]).
#![forbid(unsafe_code)]

pub mod exec;
pub mod explain;
pub mod relay;
pub mod request;
pub mod scripts;
pub mod task;

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::audit::{audited, escape_command, field, AuditLog, Trail, NOTICE};
use crate::cli::RunArgs;
use crate::conda::{plan_activation, plan_activation_in, BaseInstall, EnvSpec, ResolvedEnv};
use crate::confine::{
    apply_umask, caller_umask, effective_umask, read_only_plan, restrict_binds, restrict_writes,
    set_no_new_privs, LandlockDecision, LandlockOutcome, UmaskChoice,
};
use crate::error::{Error, Result};
use crate::identity::{account_of, drop_privileges, establish, invoker, reset_environment, Caller, Identity};
use crate::policy::{admit, Admitted};
use crate::system::environ::Environ;
use crate::system::output::{warning, Described};
use crate::system::permissions::TrustRules;
use crate::system::process::Process;
use crate::trust::{check_previous_env, judge_findings, open_command, verify_unchanged, EnvCheck};
use exec::{exec, find_command};
use explain::Explain;
use request::{initial_trail, RunRequest};

pub use task::confine_task;

/// Runs the pipeline; returns only when something failed before or at exec,
/// after the outcome went to the audit log.
pub fn run(process: &Process, args: RunArgs, cli_config: Option<&Path>) -> Error {
    crate::system::process::ends_in_exec();
    // Connected first: before the config is read and long before Landlock.
    let audit = AuditLog::connect();
    let mut trail = initial_trail(process, &args);
    match audited(
        &audit,
        &mut trail,
        || invoker(process),
        |trail| run_pipeline(process, args, cli_config, &audit, trail),
    ) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn run_pipeline(
    process: &Process,
    args: RunArgs,
    cli_config: Option<&Path>,
    audit: &AuditLog,
    trail: &mut Trail,
) -> Result<Never> {
    let explain = Explain::new(args.verbose);
    let show = &mut |decision: &dyn Described| explain.show(decision);
    let mut request = RunRequest::from_args(args.prefix, args.words, args.user_shell)?;
    let caller = establish(process, args.user.as_deref(), cli_config, audit, trail, show)?;
    let identity = &caller.identity;
    if identity.dropped_from_root() {
        relay::keep_roots_terminal_from_the_command(show)?;
    }
    drop_privileges(identity)?;
    let confined = confine_and_activate(
        process,
        &caller,
        &request.env,
        args.umask.as_deref(),
        args.clean_env,
        trail,
        show,
    )?;
    if let Some(port) = args.bind_only {
        let binds = restrict_binds(confined.landlock, port)?;
        show(&binds);
        trail.landlock = format!("{}, {binds}", trail.landlock);
    }
    if request.user_shell {
        request.argv = vec![user_shell(&confined.caller_environ, identity)];
    }
    let program = find_command(&request.argv[0], confined.environ.get("PATH"))?;
    trail.command = escape_command(
        std::iter::once(program.as_os_str()).chain(request.argv[1..].iter().map(|a| a.as_os_str())),
    );
    let command = open_command(&program, &confined.env_check, &confined.rules)?;
    judge_findings(
        &confined.env,
        &command.findings,
        caller.loaded.config.strict_permissions,
    )?;
    verify_unchanged(&confined.env_check)?;
    show(&command);
    audit.log(NOTICE, &trail.run_line());
    trail.run_logged = true;
    Err(exec(&command, &request.argv, &confined.environ))
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
    show: &mut dyn FnMut(&dyn Described),
) -> Result<Confined> {
    let identity = &caller.identity;
    let config = &caller.loaded.config;
    let Admitted {
        env,
        settings,
        rules,
        env_check,
    } = admit(process, caller, spec, trail, show)?;
    let callers_umask = caller_umask();
    let umask = effective_umask(settings.umask, callers_umask, umask_flag)?;
    show(&UmaskChoice {
        umask,
        callers: callers_umask,
        configured: settings.umask,
        flag: umask_flag,
    });
    let caller_environ = starting_environment(process, identity, clean_env)?;

    apply_umask(umask);
    set_no_new_privs()?;
    let base = config.base_prefix.as_deref().map(BaseInstall::probe);
    // read through the prefix the trust check opened: what it judged
    let plan = match &env_check.prefix_dir {
        Some(dir) => plan_activation_in(dir, &caller_environ, base.as_ref(), ".sh")?,
        None => plan_activation(&env.prefix, &caller_environ, base.as_ref(), ".sh")?,
    };
    check_previous_env(&plan, &env, config, identity, &caller_environ)?;
    let protection = read_only_plan(
        config,
        &settings,
        identity,
        &env,
        Some(env_check.walked.st.st_uid),
        process.cwd.as_deref(),
        &caller_environ,
    );
    let landlock = restrict_writes(settings.landlock, &protection, Some(&env_check.walked))?;
    show(&LandlockDecision {
        outcome: &landlock,
        mode: settings.landlock,
        plan: &protection,
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
        warning(&crate::system::escape::text(w));
    }
    let environ = scripts::activated_environment(&plan, &caller_environ, process.cwd.as_deref())?;
    show(&plan);
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

/// The environment activation starts from: the caller's own for an
/// unprivileged run; sudo-style reset for a run dropped from root or when
/// `--clean-env` asks for it.
fn starting_environment(process: &Process, identity: &Identity, clean_env: bool) -> Result<Environ> {
    if !(clean_env || identity.dropped_from_root()) {
        return Ok(process.environ.clone());
    }
    let account = account_of(identity).ok_or_else(|| {
        Error::Identity(format!(
            "--clean-env needs the user database entry of {}, and there is none",
            identity.user_name()
        ))
    })?;
    Ok(reset_environment(&process.environ, &account))
}
