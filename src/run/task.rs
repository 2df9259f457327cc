//! The SLURM plugin's entry: a task that slurmstepd is about to exec,
//! confined with the pipeline of `cenv run` up to, not including, the exec.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::audit::{audited, escape_command, field, tty_name, AuditLog, Trail};
use crate::conda::EnvSpec;
use crate::config;
use crate::error::{Error, Result};
use crate::identity::{drop_privileges, establish, invoker};
use crate::run::confine_and_activate;
use crate::run::exec::find_command;
use crate::system::environ::Environ;
use crate::system::process::Process;
use crate::trust::{judge_findings, open_command};

/// Confines the calling process — a task that slurmstepd is about to exec,
/// already the job's user — with the env named `env_name`, and returns the
/// task's activated environment. `job_env` is the task's environment,
/// `argv` its command (for the audit line). A refusal is logged and
/// returned, and the task must then fail.
pub fn confine_task(env_name: &str, job_env: Environ, argv: &[OsString]) -> Result<Environ> {
    crate::system::process::ends_in_exec();
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
    audited(
        &audit,
        &mut trail,
        || invoker(&process),
        |trail| {
            let caller = establish(&process, None, None, &audit, trail, &mut |_| {})?;
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
            let confined = confine_and_activate(&process, &caller, &spec, None, false, trail, &mut |_| {})?;
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
        },
    )
}
