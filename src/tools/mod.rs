//! The tools around `cenv run`, one file per command: `list`, `info`,
//! `doctor`, `verify`, `export`, `snapshot`, `changes`, `diff`,
//! `audit-rules`, `usage`, `access`. They report on envs and the machine; `snapshot` also
//! writes (its versions, and prunes old ones). None of them runs anything of
//! an env, and none imports the run pipeline.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit_rules;
pub mod changes;
pub mod diff;
pub mod doctor;
pub mod export;
pub mod fix;
pub mod info;
pub mod list;
pub mod snapshot;
pub mod usage;
pub mod verify;
pub mod writes;

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::EnvArgs;
use crate::conda::EnvSpec;
use crate::error::{Error, Result};
use crate::system::output::write_stdout;

pub(crate) fn json<T: Serialize>(value: &T) -> Result<u8> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Json(e.to_string()))?;
    text.push('\n');
    write_stdout(text.as_bytes())
}

pub(crate) fn spec(args: &EnvArgs) -> EnvSpec {
    spec_of(args.prefix.clone(), args.name.clone())
}

/// `-p PREFIX` when given, else the NAME (clap requires one of them).
pub(crate) fn spec_of(prefix: Option<PathBuf>, name: Option<String>) -> EnvSpec {
    match (prefix, name) {
        (Some(prefix), _) => EnvSpec::Prefix(prefix),
        (None, name) => EnvSpec::Name(name.unwrap_or_default()),
    }
}
