//! The commands around interactive shells: `activate` and `deactivate` (code
//! for the current shell — never for a shell of root's), `shell-init`,
//! `completions`, and `login-init` (what a login shell evaluates, in one
//! exec).
//!
//! Activation here is the same computation as `cenv run` — the same
//! resolution, policy, trust check, plan and audit — rendered for a shell
//! instead of applied to a process. It cannot be confined: Landlock restricts
//! a process and its children from the moment it is applied, and a shell that
//! is already running cannot be restricted by a program it starts.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::audit::{audited, field, tty_name, AuditLog, Trail};
use crate::cli::{ActivateArgs, DeactivateArgs};
use crate::conda::{condarc, plan_activation, BaseInstall, EnvSpec};
use crate::config::{self, Principal};
use crate::error::{Error, Result};
use crate::identity::{establish, identify, invoker, Caller};
use crate::policy::{admit, Admitted};
use crate::shell::{init, render_activation, render_deactivation, Shell};
use crate::system::environ::Environ;
use crate::system::output::{message, warning, write_stdout};
use crate::system::process::Process;
use crate::trust::{check_previous_env, judge_env_at};

const NEEDS_SHELL_INIT: &str = "cenv activate changes the current shell, so it runs through the shell \
function: eval \"$(cenv shell-init bash)\" first (zsh alike; fish: cenv shell-init fish | source). \
To run a command in an env use `cenv run NAME COMMAND`; for a confined shell, `cenv shell NAME`";

/// Why no activation code is ever printed for a shell of root's: the shell
/// would source the env's activate.d scripts and run its programs first in
/// PATH — code the env's admin controls — with root's powers, unconfined
/// (a shell that is already running cannot be restricted).
const NOT_IN_ROOTS_SHELL: &str = "refusing to print activation code for a shell of root's (cenv runs as root): the shell would source the env's activate.d scripts and put its bin/ first in root's PATH — code the env's admin controls, run with root's powers. Use `cenv run ENV COMMAND` (confined, every capability cleared) or activate in your own shell";

/// `cenv activate --shell SHELL NAME`: prints the activation code.
pub fn activate(process: &Process, args: ActivateArgs, cli_config: Option<&Path>) -> Result<u8> {
    if process.is_privileged() {
        return Err(Error::Identity(NOT_IN_ROOTS_SHELL.into()));
    }
    let shell = args.shell.ok_or_else(|| Error::Usage(NEEDS_SHELL_INIT.into()))?;
    let spec = match (args.prefix, args.name) {
        (Some(prefix), _) => EnvSpec::Prefix(prefix),
        (None, Some(name)) => EnvSpec::Name(name),
        (None, None) => return Err(Error::Usage("name the env to activate".into())),
    };
    let code = audited_activation(process, shell, &spec, cli_config, false)?;
    write_stdout(&code)
}

/// Prepares, plans and renders an activation, through the audited front
/// door as `cenv run` does (a run, or what ended it, in the log).
fn audited_activation(
    process: &Process,
    shell: Shell,
    spec: &EnvSpec,
    cli_config: Option<&Path>,
    at_login: bool,
) -> Result<Vec<u8>> {
    let audit = AuditLog::connect();
    let mut trail = Trail {
        invoker: invoker(process),
        tty: tty_name(),
        env: match spec {
            EnvSpec::Name(name) => field(name.as_bytes()),
            EnvSpec::Prefix(path) => field(path.as_os_str().as_encoded_bytes()),
        },
        pwd: process
            .cwd
            .as_ref()
            .map(|p| field(p.as_os_str().as_encoded_bytes()))
            .unwrap_or_default(),
        command: format!("activate --shell {}", shell.name()),
        ..Trail::default()
    };
    audited(
        &audit,
        &mut trail,
        || invoker(process),
        |trail| {
            let (code, audit_login) =
                activation_code(process, shell, spec, cli_config, &audit, trail, at_login)?;
            if at_login && !audit_login {
                // `audit_login = false`: the success line is not written (as
                // if already logged); a refusal above still is
                trail.run_logged = true;
            }
            Ok(code)
        },
    )
}

/// The activation code of `spec` for `shell`, as the ordinary caller it is
/// for (a shell of root's is refused before this).
fn activation_code(
    process: &Process,
    shell: Shell,
    spec: &EnvSpec,
    cli_config: Option<&Path>,
    audit: &AuditLog,
    trail: &mut Trail,
    at_login: bool,
) -> Result<(Vec<u8>, bool)> {
    let caller = establish(process, None, cli_config, audit, trail, &mut |_| {})?;
    let Admitted { env, .. } = admit(process, &caller, spec, trail, &mut |_| {})?;
    let environ = with_condarc_changeps1(process);
    let config = &caller.loaded.config;
    let base = config.base_prefix.as_deref().map(BaseInstall::probe);
    let plan = plan_activation(&env.prefix, &environ, base.as_ref(), shell.script_extension())?;
    check_previous_env(&plan, &env, config, &caller.identity, &environ)?;
    for w in &plan.warnings {
        warning(&crate::system::escape::text(w));
    }
    trail.umask = "-".into();
    trail.landlock = "not applied (interactive shell)".into();
    let mut code = render_activation(shell, &plan, &environ, process.environ.get("PS1"));
    if at_login && shell == Shell::Bash {
        if let Some(modifier) = plan.prompt_modifier().filter(|m| !m.is_empty()) {
            code.extend(bash_login_prompt(modifier));
        }
    }
    Ok((code, config.audit_login))
}

/// A login shell reads profile.d before ~/.bashrc, and Debian's .bashrc
/// sets PS1 afresh (PS1 is not even in cenv's environment at that point):
/// the default env's modifier is put in front of the prompt once, at the
/// first prompt, if that env is still the active one and the prompt does
/// not show it yet. The modifier is escaped for bash's prompt expansion as
/// activation escapes it.
fn bash_login_prompt(modifier: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let raw = super::quote(Shell::Bash, modifier.as_bytes());
    let shown = super::quote(Shell::Bash, super::bash_prompt_text(modifier).as_bytes());
    let mut code = b"__cenv_login_prompt() {\n    PROMPT_COMMAND=\"${PROMPT_COMMAND/__cenv_login_prompt;/}\"\n    unset -f __cenv_login_prompt\n    [ \"${CONDA_PROMPT_MODIFIER-}\" = ".to_vec();
    code.extend(&raw);
    code.extend(b" ] || return 0\n    case \"${PS1-}\" in\n        ");
    code.extend(&shown);
    code.extend(b"*) ;;\n        *) PS1=");
    code.extend(&shown);
    code.extend(b"\"${PS1-}\" ;;\n    esac\n}\nPROMPT_COMMAND=\"__cenv_login_prompt;${PROMPT_COMMAND-}\"\n");
    code
}

/// conda's `changeps1: false` in ~/.condarc turns the prompt modifier off,
/// as `CONDA_CHANGEPS1=false` does.
fn with_condarc_changeps1(process: &Process) -> Environ {
    let mut environ = process.environ.clone();
    if !environ.contains("CONDA_CHANGEPS1") {
        let off = process
            .home()
            .and_then(|home| std::fs::read_to_string(home.join(".condarc")).ok())
            .and_then(|text| condarc::changeps1(&text))
            == Some(false);
        if off {
            environ.set("CONDA_CHANGEPS1", "false");
        }
    }
    environ
}

/// `cenv deactivate --shell SHELL`: prints the code that undoes the
/// activation of the active env.
///
/// The scripts it sources (the active env's deactivate.d, the previous
/// env's activate.d when going back a level) are judged first, by the rules
/// activation judges them by.
pub fn deactivate(process: &Process, args: DeactivateArgs, cli_config: Option<&Path>) -> Result<u8> {
    if process.is_privileged() {
        return Err(Error::Identity(
            NOT_IN_ROOTS_SHELL.replace("activation", "deactivation"),
        ));
    }
    let shell = args
        .shell
        .ok_or_else(|| Error::Usage(NEEDS_SHELL_INIT.replace("activate", "deactivate")))?;
    let loaded = config::load(process, cli_config)?;
    let identity = identify(
        process,
        None,
        loaded.config.allow_root,
        &loaded.path.display().to_string(),
    )?;
    let caller = Caller { loaded, identity };
    let judge = |prefix: &Path| {
        let prefix = crate::system::paths::canonical(prefix).map_err(|source| Error::PrefixAccess {
            path: prefix.to_owned(),
            source,
        })?;
        judge_env_at(&prefix, &caller.loaded.config, &caller.identity)
    };
    let code = render_deactivation(shell, &process.environ, process.environ.get("PS1"), judge)?;
    write_stdout(&code)
}

pub fn shell_init(shell: Shell) -> Result<u8> {
    write_stdout(init::shell_init(shell, &current_exe()).as_bytes())
}

/// The completion file a package installs: it calls `cenv` from PATH, never
/// the path of the binary that generated it.
pub fn completions(shell: Shell) -> Result<u8> {
    write_stdout(init::completions(shell, "command cenv").as_bytes())
}

fn current_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("cenv"))
}

/// `cenv login-init SHELL`: everything a login shell evaluates, so that
/// profile.d costs one exec: the shell function, the login umask for members
/// of `login_umask_groups`, and the activation of the user's default env
/// (`~/.config/cenv/default-env`, else `default_envs` for their group).
/// Nothing is printed when nothing applies; problems are one line on stderr.
pub fn login_init(process: &Process, shell: &str, cli_config: Option<&Path>) -> Result<u8> {
    let integrated = match shell {
        "bash" => Some(Shell::Bash),
        "zsh" => Some(Shell::Zsh),
        "fish" => Some(Shell::Fish),
        _ => None,
    };
    let mut out: Vec<u8> = Vec::new();
    if let Some(shell) = integrated {
        out.extend_from_slice(init::shell_init(shell, &current_exe()).as_bytes());
    }
    let loaded = match config::load(process, cli_config) {
        Ok(loaded) => loaded,
        Err(e) => {
            message(&crate::system::escape::text(&e.to_string()));
            return write_stdout(&out);
        }
    };
    let config = &loaded.config;
    let gids = process_groups();
    let member = |groups: &mut dyn Iterator<Item = &Principal>| {
        groups.filter_map(Principal::gid).any(|g| gids.contains(&g))
    };
    if member(&mut config.login_umask_groups.iter()) {
        out.extend_from_slice(format!("umask {:03o}\n", config.umask).as_bytes());
    }
    // root's own home from the user database, never $HOME: under `sudo -s`
    // it may still be the invoker's
    let home = match process.is_privileged() {
        true => crate::identity::Account::by_uid(process.real_uid).map(|a| a.home),
        false => process.home(),
    };
    let chosen = home
        .and_then(|home| std::fs::read_to_string(home.join(".config/cenv/default-env")).ok())
        .and_then(|text| {
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_owned)
        })
        .or_else(|| {
            config
                .default_envs
                .iter()
                .find(|(group, _)| member(&mut std::iter::once(&Principal::Name((*group).clone()))))
                .map(|(_, env)| env.clone())
        });
    if let Some(env) = chosen {
        if process.is_privileged() {
            // root's login shell (also `sudo -i`): nothing of the env runs in it
            message(&format!(
                "default env '{}' not activated in root's login shell: {NOT_IN_ROOTS_SHELL}",
                crate::system::escape::text(&env)
            ));
            return write_stdout(&out);
        }
        let render_as = integrated.unwrap_or(Shell::Bash);
        match audited_activation(process, render_as, &EnvSpec::Name(env.clone()), cli_config, true) {
            Ok(code) => out.extend(code),
            Err(e) => message(&crate::system::escape::text(&format!(
                "default env '{env}' not activated: {e}"
            ))),
        }
    }
    write_stdout(&out)
}

fn process_groups() -> Vec<u32> {
    let mut gids: Vec<u32> = crate::system::sys::supplementary_groups().unwrap_or_default();
    gids.push(nix::unistd::getgid().as_raw());
    gids
}
