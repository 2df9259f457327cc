//! `cenv run`: the pipeline, one step per line, in the order that makes it safe.
//!
//! resolve → activate → exec. Each step takes the value the previous one built
//! and hands a new one on; nothing reaches back.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::RunArgs;
use crate::conda::{plan_activation, resolve, BaseInstall, EnvSpec, SearchPath};
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::exec::{exec, find_command};
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
    let request = RunRequest::from_args(args.prefix, args.words)?;
    let search = SearchPath::for_caller(config, process);
    let env = resolve(&request.env, config, &search, &loaded.path)?;
    let base = config.base_prefix.as_deref().map(BaseInstall::probe);
    let plan = plan_activation(&env.prefix, &process.environ, base.as_ref())?;
    for warning in &plan.warnings {
        eprintln!("cenv: warning: {warning}");
    }
    let environ = activated_environment(&plan, &process.environ, process.cwd.as_deref())?;
    let program = find_command(&request.argv[0], environ.get("PATH"))?;
    Err(exec(&program, &request.argv, &environ))
}

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
