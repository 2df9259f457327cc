//! `cenv export NAME`: the env as an @EXPLICIT spec file or JSON.
#![forbid(unsafe_code)]

use std::path::Path;

use crate::cli::{ExportArgs, ExportFormat};
use crate::conda::{resolve, SearchPath};
use crate::config::{self};
use crate::error::Result;
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::tools::{json, spec_of};

pub fn export_env(process: &Process, args: ExportArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let search = SearchPath::for_caller(&loaded.config, process);
    let env = resolve(
        &spec_of(args.prefix, args.name),
        &loaded.config,
        &search,
        &loaded.path,
    )?;
    let export = crate::conda::export::export(&env.prefix)?;
    match args.format {
        ExportFormat::Json => json(&export),
        ExportFormat::Explicit => write_stdout(crate::conda::export::explicit(&export).as_bytes()),
    }
}
