//! `cenv run`: the pipeline, one step per line, in the order that makes it safe.
//!
//! resolve → identify and drop → umask → capabilities → no_new_privs and
//! Landlock → activate → exec. Each step takes the value the previous one built
//! and hands a new one on; nothing reaches back. The activate.d scripts run
//! after confinement, as the caller, under the umask and the Landlock rule.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

use caps::CapSet;

use crate::cli::RunArgs;
use crate::conda::{plan_activation, resolve, BaseInstall, EnvSpec, SearchPath};
use crate::config::LoadedConfig;
use crate::confine::{apply_umask, effective_umask, restrict_writes, set_no_new_privs, LandlockOutcome};
use crate::environ::Environ;
use crate::error::{Error, Result};
use crate::exec::{exec, find_command};
use crate::identity::{
    account_of, clear_capability_sets, clear_unprivileged_capabilities, drop_to, holds_no_capabilities,
    identify, refuse_setuid_install, reset_environment, verify_capabilities_empty, Identity,
};
use crate::process::Process;
use crate::scripts::activated_environment;

/// A checked `cenv run` request: which env, and the command's argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub env: EnvSpec,
    pub argv: Vec<OsString>,
}

impl RunRequest {
    /// Splits the words after the options into the env and the command. With
    /// `-p` every word is the command; otherwise the first word is the env
    /// name. A `--` right before the command is dropped.
    pub fn from_args(prefix: Option<PathBuf>, words: Vec<OsString>) -> Result<RunRequest> {
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
        if argv.is_empty() {
            let env = match &env {
                EnvSpec::Name(name) => name.clone(),
                EnvSpec::Prefix(path) => format!("-p {}", path.display()),
            };
            return Err(Error::MissingCommand { env });
        }
        Ok(RunRequest { env, argv })
    }
}

/// Runs the pipeline; returns only when something failed before or at exec.
pub fn run(process: &Process, args: RunArgs, loaded: &LoadedConfig) -> Error {
    match run_pipeline(process, args, loaded) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn run_pipeline(process: &Process, args: RunArgs, loaded: &LoadedConfig) -> Result<Never> {
    let config = &loaded.config;
    refuse_setuid_install(process)?;
    let request = RunRequest::from_args(args.prefix, args.words)?;
    let config_path = loaded.path.display().to_string();
    let identity = identify(process, args.user.as_deref(), config.allow_root, &config_path)?;
    let search = SearchPath::for_caller(config, process);
    let env = resolve(&request.env, config, &search, &loaded.path)?;
    let umask = effective_umask(config.umask, args.umask.as_deref())?;
    let caller_environ = starting_environment(process, &identity, args.clean_env)?;

    drop_privileges(&identity)?;
    apply_umask(umask);
    set_no_new_privs()?;
    let base = config.base_prefix.as_deref().map(BaseInstall::probe);
    let plan = plan_activation(&env.prefix, &caller_environ, base.as_ref())?;
    let landlock = restrict_writes(config.landlock, &env.prefix, &config.readonly_paths())?;
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
    let program = find_command(&request.argv[0], environ.get("PATH"))?;
    Err(exec(&program, &request.argv, &environ))
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
        let r = RunRequest::from_args(None, words(&["cv", "python", "x.py"])).unwrap();
        assert_eq!(r.env, EnvSpec::Name("cv".into()));
        assert_eq!(r.argv, words(&["python", "x.py"]));
    }

    #[test]
    fn double_dash_is_dropped_once() {
        let r = RunRequest::from_args(None, words(&["cv", "--", "python", "--", "-m"])).unwrap();
        assert_eq!(r.argv, words(&["python", "--", "-m"]));
    }

    #[test]
    fn prefix_takes_all_words() {
        let r = RunRequest::from_args(Some("/p".into()), words(&["python"])).unwrap();
        assert_eq!(r.env, EnvSpec::Prefix("/p".into()));
        assert_eq!(r.argv, words(&["python"]));
    }

    #[test]
    fn missing_command_is_an_error() {
        let e = RunRequest::from_args(None, words(&["cv"])).unwrap_err();
        assert!(e.to_string().contains("cenv run cv python"), "{e}");
        assert!(RunRequest::from_args(None, words(&["cv", "--"])).is_err());
    }
}
