//! The one error type of cenv and the exit code each failure maps to.
//!
//! Exit codes follow env(1) and chroot(1): 125 when cenv itself fails, 126 when
//! the command was found but could not be executed, 127 when it was not found.
//! Any other exit status is the command's own, because cenv exec()s it.
#![forbid(unsafe_code)]

use std::io;
use std::path::PathBuf;

/// cenv's own failure (configuration, resolution, confinement, ...).
pub const EXIT_CENV_FAILURE: u8 = 125;
/// The command exists but could not be executed.
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;
/// cenv's standard output was closed under it: as a death by SIGPIPE.
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// Everything that can go wrong in cenv. Each message says what failed, on
/// which path, name or user, and — where there is one — how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}:{line}:{column}: {message}")]
    ConfigSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("cannot read config {path}: {source}")]
    ConfigRead { path: PathBuf, source: io::Error },

    #[error("{path}: {message}")]
    ConfigValue { path: PathBuf, message: String },

    #[error("invalid env name {name:?}: {reason}")]
    InvalidEnvName { name: String, reason: &'static str },

    #[error("no env named '{name}' in {searched}{suggestion}")]
    EnvNotFound {
        name: String,
        searched: String,
        suggestion: String,
    },

    #[error(
        "env '{name}' in {dir} is not accessible to you: permission denied (ask the env's admin: {admin})"
    )]
    EnvNotAccessible {
        name: String,
        dir: PathBuf,
        admin: String,
    },

    #[error("'{name}' refers to the base env, but no base_prefix is set in {config} (add base_prefix = \"/opt/miniconda\")")]
    NoBasePrefix { name: String, config: String },

    #[error("{path} is not a conda env: it has no conda-meta/ directory")]
    NotAPrefix { path: PathBuf },

    #[error("cannot use prefix {path}: {source}")]
    PrefixAccess { path: PathBuf, source: io::Error },

    #[error("cannot read {path}: {message}")]
    EnvMetadata { path: PathBuf, message: String },

    #[error("activation scripts of {prefix} failed: {message}")]
    ActivationScripts { prefix: PathBuf, message: String },

    #[error("{command}: command not found in PATH of the env ({path})")]
    CommandNotFound { command: String, path: String },

    #[error("{path}: {reason}")]
    CommandNotExecutable { path: PathBuf, reason: String },

    #[error("missing command: say what to run, e.g. 'cenv run {env} python'")]
    MissingCommand { env: String },

    #[error("cenv is installed setuid or setgid ({detail}); it must not be: run 'chmod u-s,g-s {exe}'")]
    SetuidInstall { detail: String, exe: String },

    #[error("{0}")]
    Identity(String),

    /// The policy refused the caller; `message` names the groups and users the
    /// env is open to and its admin.
    #[error("{message}")]
    NotAllowed { message: String, reason: String },

    /// The user or group database could not be asked (a directory down):
    /// not a refusal by the policy, and never reported as one.
    #[error("{message}")]
    Lookup { message: String, reason: String },

    #[error("refusing env '{env}': {findings}")]
    Untrusted {
        env: String,
        findings: String,
        reason: String,
    },

    #[error("{0}")]
    Trust(String),

    #[error("refusing config {path}: {problem}; fix: {fix}")]
    ConfigUntrusted {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    #[error("no syslog daemon is reachable at {socket} ({source}), and audit = \"required\" in the config")]
    AuditUnavailable { socket: String, source: io::Error },

    #[error("{0}")]
    Confinement(String),

    #[error("{what}: {source}")]
    System { what: String, source: io::Error },

    #[error("{0}")]
    Usage(String),

    /// An env lacks what a command needs of it (ipykernel, a Jupyter
    /// server); `message` says what and how its admin adds it.
    #[error("{message}")]
    EnvLacks { env: String, message: String },

    /// A kernelspec in the way, or missing.
    #[error("{0}")]
    Kernel(String),

    /// The active env in the environment is not one cenv activated.
    #[error("{0}")]
    NotActivatedByCenv(String),

    /// JSON output could not be produced.
    #[error("cannot write JSON: {0}")]
    Json(String),

    /// Standard output was closed under cenv: it ends quietly, as a program
    /// killed by SIGPIPE would.
    #[error("standard output is closed")]
    BrokenPipe,
}

/// How a failed run is recorded in the audit log, so that an admin grepping
/// for refusals sees refusals only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The policy, the trust check or a security rule said no.
    Refused,
    /// The command does not exist in the activated PATH (127).
    NotFound,
    /// The command exists but cannot be executed (126).
    NotExecutable,
    /// cenv itself failed: a missing env, a broken config, a system error.
    Failed,
    /// The user or group database did not answer (a directory down): the
    /// run is refused until it does, and the log says why.
    LookupFailed,
}

impl Outcome {
    /// The words of the audit line.
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Refused => "command refused",
            Outcome::NotFound => "command not found",
            Outcome::NotExecutable => "command not executable",
            Outcome::Failed => "run failed",
            Outcome::LookupFailed => "user database lookup failed",
        }
    }
}

impl Error {
    /// The process exit status this failure maps to.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::CommandNotFound { .. } => EXIT_NOT_FOUND,
            Error::CommandNotExecutable { .. } => EXIT_NOT_EXECUTABLE,
            Error::BrokenPipe => EXIT_BROKEN_PIPE,
            _ => EXIT_CENV_FAILURE,
        }
    }

    /// What the audit log calls this failure.
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::CommandNotFound { .. } => Outcome::NotFound,
            Error::CommandNotExecutable { .. } => Outcome::NotExecutable,
            Error::NotAllowed { .. }
            | Error::Untrusted { .. }
            | Error::Trust(_)
            | Error::Identity(_)
            | Error::SetuidInstall { .. }
            | Error::ConfigUntrusted { .. }
            | Error::EnvNotAccessible { .. }
            | Error::Confinement(_) => Outcome::Refused,
            Error::Lookup { .. } => Outcome::LookupFailed,
            _ => Outcome::Failed,
        }
    }

    /// A few words for the audit line's REASON field.
    pub fn audit_reason(&self) -> String {
        match self {
            Error::NotAllowed { reason, .. }
            | Error::Untrusted { reason, .. }
            | Error::Lookup { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn system(what: impl Into<String>, source: io::Error) -> Self {
        Error::System {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
