//! A `cenv run` request: the words after the options split into the env and
//! the command, and the audit trail's first fields, known before anything
//! is looked at.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

use crate::audit::{escape_command, field, tty_name, Trail};
use crate::cli::RunArgs;
use crate::conda::EnvSpec;
use crate::error::{Error, Result};
use crate::identity::invoker;
use crate::system::process::Process;

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

/// The audit trail of a run as far as the command line says: the invoker
/// (for a run from root; an ordinary caller's comes with the identity),
/// the terminal, the env as named, the working directory, the command as
/// typed, the batch job.
pub fn initial_trail(process: &Process, args: &RunArgs) -> Trail {
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
        // database lookup per run); see identity::establish
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
