//! cenv: run commands in shared conda environments — resolved, checked,
//! confined, audited — and exec()ed with no wrapper left behind.
//!
//! [`main`] is the whole program: parse the command line (the plain forms of
//! `cenv run` without clap, see `cli::parse_run_fast`), drop to the caller
//! first when root started a command for someone (every command but the
//! run, which drops in its pipeline, and what a shell evaluates), dispatch,
//! and turn any failure into one message on stderr and an exit status (see
//! [`error`]).
//!
//! The house, imports pointing down: `system/` (mechanism) → `config/`,
//! `conda/` (the model) → `identity`, `policy`, `trust`, `confine`, `audit`
//! (the decisions) → `run/`, `tools/`, `shell/`, `jupyter` (the front ends);
//! `error` and `cli` import nothing of cenv. docs/design.md draws it.
#![deny(unsafe_code)]

// `pub` only what the SLURM plugin (spank/) and the fuzz targets (fuzz/)
// use; the tests run the binary.
pub mod audit;
mod cli;
pub mod conda;
pub mod config;
mod confine;
pub mod error;
mod identity;
mod jupyter;
mod manual;
mod policy;
pub mod run;
pub mod shell;
pub mod system;
pub mod tools;
mod trust;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{Error, EXIT_BROKEN_PIPE, EXIT_CENV_FAILURE};
use crate::system::process::Process;
use crate::system::{escape, output, sys};

/// Runs cenv as a program and returns its exit status.
pub fn main() -> ExitCode {
    ExitCode::from(main_status())
}

/// [`main`], as a number: what the binary's own `main` returns.
pub fn main_status() -> u8 {
    // What std's start-up would do (the binary skips it, see main.rs): a
    // write to a closed pipe is an EPIPE error, not a death by SIGPIPE.
    if sys::ignore_sigpipe().is_err() || !output::ensure_standard_descriptors() {
        return EXIT_CENV_FAILURE;
    }
    let process = Process::current();
    if let Some((config, args)) = cli::parse_run_fast(&process.args) {
        return finish(run::run(&process, args, config.as_deref()));
    }
    let cli = match Cli::try_parse_from(&process.args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_CENV_FAILURE } else { 0 };
        }
    };
    match dispatch(process, cli) {
        Ok(status) => status,
        Err(error) => finish(error),
    }
}

/// The message and exit status of a failure.
fn finish(error: Error) -> u8 {
    match error {
        Error::BrokenPipe => EXIT_BROKEN_PIPE,
        error => {
            // paths and names in a message may come from anyone: escaped
            output::message(&escape::text(&error.to_string()));
            error.exit_code()
        }
    }
}

/// Runs one subcommand; returns its exit status, or the error that ended it
/// (a successful `run` never returns: it becomes the command).
fn dispatch(process: Process, cli: Cli) -> std::result::Result<u8, Error> {
    // Everything but a run reads as the caller: started by root for someone
    // (sudo, pkexec), drop to them first. `run` and `shell` drop in their
    // pipeline, after the config is read and the pty relay split off;
    // `notebook` refuses root (it serves as whoever starts it); what a shell
    // evaluates (`activate`, `deactivate`, `login-init`) is for that shell —
    // root's, when cenv runs as root — and never computed as someone else.
    let process = match cli.command {
        Command::Run(_)
        | Command::Shell(_)
        | Command::Notebook(_)
        | Command::Activate(_)
        | Command::Deactivate(_)
        | Command::LoginInit(_) => process,
        _ => identity::act_as_caller(process)?,
    };
    let process = &process;
    match cli.command {
        Command::Run(args) => Err(run::run(process, args, cli.config.as_deref())),
        Command::Shell(args) => {
            let run_args = cli::RunArgs {
                prefix: args.prefix,
                user: args.user,
                umask: None,
                clean_env: false,
                verbose: args.verbose,
                words: args.name.map(Into::into).into_iter().collect(),
                user_shell: true,
                bind_only: None,
            };
            Err(run::run(process, run_args, cli.config.as_deref()))
        }
        Command::Activate(args) => shell::activate::activate(process, args, cli.config.as_deref()),
        Command::Deactivate(args) => shell::activate::deactivate(process, args, cli.config.as_deref()),
        Command::List(args) => tools::list::list(process, args, cli.config.as_deref()),
        Command::Info(args) => tools::info::info(process, args, cli.config.as_deref()),
        Command::Doctor(args) => tools::doctor::doctor(process, args, cli.config.as_deref()),
        Command::Verify(args) => tools::verify::verify_env(process, args, cli.config.as_deref()),
        Command::Export(args) => tools::export::export_env(process, args, cli.config.as_deref()),
        Command::Snapshot(args) => tools::snapshot::snapshot(process, args, cli.config.as_deref()),
        Command::Changes(args) => tools::changes::changes(process, args, cli.config.as_deref()),
        Command::Diff(args) => tools::diff::diff(process, args, cli.config.as_deref()),
        Command::Usage(args) => tools::usage::usage(process, args, cli.config.as_deref()),
        Command::Access(args) => tools::access::access(process, args, cli.config.as_deref()),
        Command::AuditRules(args) => tools::audit_rules::audit_rules(process, args, cli.config.as_deref()),
        Command::Kernel(cli::KernelCommand::Install(args)) => {
            jupyter::kernel_install(process, args, cli.config.as_deref())
        }
        Command::Kernel(cli::KernelCommand::List(args)) => {
            jupyter::kernel_list(process, args, cli.config.as_deref())
        }
        Command::Kernel(cli::KernelCommand::Remove(args)) => jupyter::kernel_remove(process, args),
        Command::Kernel(cli::KernelCommand::Sync(args)) => {
            jupyter::kernel_sync(process, args, cli.config.as_deref())
        }
        Command::Notebook(args) => Err(jupyter::notebook(process, args, cli.config.as_deref())),
        Command::ManPage(args) if args.list => {
            let mut names = manual::section_1_pages().join("\n");
            names.push('\n');
            output::write_stdout(names.as_bytes())
        }
        Command::ManPage(args) => match args.page.as_str() {
            "cenv.toml" => output::write_stdout(&manual::cenv_toml_5()),
            name => match manual::section_1(name)? {
                Some(page) => output::write_stdout(&page),
                None => Err(Error::Usage(format!(
                    "no man page {name:?}: cenv.toml, or one of `cenv man-page --list`"
                ))),
            },
        },
        Command::ShellInit(args) => shell::activate::shell_init(args.shell),
        Command::Completions(args) => shell::activate::completions(args.shell),
        Command::LoginInit(args) => shell::activate::login_init(process, &args.shell, cli.config.as_deref()),
        Command::CheckConfig(args) => {
            let path = args.path.unwrap_or_else(|| config::SYSTEM_CONFIG_PATH.into());
            let problems = config::check(&path);
            let mut text = String::new();
            for problem in &problems {
                text.push_str(&escape::text(problem));
                text.push('\n');
            }
            if problems.is_empty() {
                text.push_str(&format!("{}: OK\n", escape::path(&path)));
            }
            output::write_stdout(text.as_bytes())?;
            Ok(u8::from(!problems.is_empty()))
        }
    }
}
