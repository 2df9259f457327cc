//! Sourcing an env's activate.d (and an old env's deactivate.d) scripts the way
//! conda does — in one POSIX shell, after the exports — and taking back the
//! full environment the scripts leave, including variables they unset.
//!
//! This is the slow path: it costs a `/bin/sh` and an `env -0`. It runs only
//! when the plan has scripts, and (from the confinement step on) after the
//! process is confined, so the scripts run as the caller, under the umask and
//! the Landlock rule.
#![forbid(unsafe_code)]

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::conda::activate::push_single_quoted;
use crate::conda::ActivationPlan;
use crate::error::{Error, Result};
use crate::system::environ::Environ;

const SHELL: &str = "/bin/sh";
const ENV_DUMP: &str = "/usr/bin/env";

/// The activated environment: computed directly when there are no scripts,
/// otherwise by sourcing them in `/bin/sh`.
pub fn activated_environment(plan: &ActivationPlan, caller: &Environ, cwd: Option<&Path>) -> Result<Environ> {
    if !plan.needs_shell() {
        return Ok(plan.apply_changes(caller));
    }
    let after_shell = run_in_shell(plan, caller)?;
    Ok(undo_shell_startup_effects(after_shell, caller, cwd))
}

fn run_in_shell(plan: &ActivationPlan, caller: &Environ) -> Result<Environ> {
    let failure = |message: String| Error::ActivationScripts {
        prefix: plan.prefix.clone(),
        message,
    };
    // The environment comes back on fd 9, so the scripts keep the caller's
    // stdin, stdout and stderr. Each script is sourced with fds 8 and 9
    // closed, so a process a script leaves running cannot hold the pipe
    // open or read the activation.
    let mut script = Vec::new();
    for path in &plan.deactivate_scripts {
        push_source_without_fd9(&mut script, path);
    }
    plan.push_posix_changes(&mut script);
    for path in &plan.activate_scripts {
        push_source_without_fd9(&mut script, path);
    }
    script.extend_from_slice(b"exec ");
    script.extend_from_slice(ENV_DUMP.as_bytes());
    script.extend_from_slice(b" -0 >&9\n");

    // The shell reads the activation from a file of its own on fd 8, never
    // from its command line: every user of the machine can read a process's
    // argv (ps, /proc/PID/cmdline), and an env's variables may hold what is
    // not for them (licence tokens, credentials).
    let code =
        activation_file(&script).map_err(|e| failure(format!("cannot hand the shell its script: {e}")))?;
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| failure(format!("cannot create a pipe: {e}")))?;
    let mut command = Command::new(SHELL);
    command
        .arg("-c")
        .arg(". /dev/fd/8")
        .arg("cenv-activate")
        .env_clear()
        .envs(caller.iter());
    crate::system::sys::map_fd_for_child(&mut command, code.as_fd(), 8);
    let child =
        spawn_with_fd9(&mut command, &writer).map_err(|e| failure(format!("cannot start {SHELL}: {e}")))?;
    drop(code);
    drop(writer);
    drop(command);
    let mut output = Vec::new();
    let mut reader = std::fs::File::from(reader);
    reader
        .read_to_end(&mut output)
        .map_err(|e| failure(format!("cannot read the environment back: {e}")))?;
    let mut child = child;
    let status = child
        .wait()
        .map_err(|e| failure(format!("cannot wait for {SHELL}: {e}")))?;
    if !status.success() || output.is_empty() {
        return Err(failure(format!(
            "the shell sourcing them ended with {status} before activation finished (does a script call 'exit'?)"
        )));
    }
    Ok(Environ::from_nul_separated(&output))
}

fn push_source_without_fd9(script: &mut Vec<u8>, path: &Path) {
    script.extend_from_slice(b". ");
    push_single_quoted(script, path.as_os_str().as_encoded_bytes());
    script.extend_from_slice(b" 8<&- 9>&-\n");
}

/// An anonymous file in memory holding `script`, read from its start.
fn activation_file(script: &[u8]) -> std::io::Result<OwnedFd> {
    use std::io::{Seek, Write};
    let fd = nix::sys::memfd::memfd_create(c"cenv-activation", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(script)?;
    file.rewind()?;
    Ok(OwnedFd::from(file))
}

/// Starts the shell with `writer` as its fd 9.
fn spawn_with_fd9(command: &mut Command, writer: &OwnedFd) -> std::io::Result<std::process::Child> {
    crate::system::sys::map_fd_for_child(command, writer.as_fd(), 9);
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
}

/// The shell itself sets `PWD` (dash, bash) and `SHLVL`/`_` (bash) at start-up.
/// Those are not activation's doing: give them back the caller's values unless
/// a script changed them to something else.
fn undo_shell_startup_effects(mut after: Environ, caller: &Environ, cwd: Option<&Path>) -> Environ {
    let shell_pwd = caller
        .get("PWD")
        .filter(|pwd| cwd.is_some_and(|cwd| crate::system::paths::canonical(pwd).is_ok_and(|p| p == cwd)))
        .map(|p| p.to_owned())
        .or_else(|| cwd.map(|c| c.as_os_str().to_owned()));
    let restore = |after: &mut Environ, name: &str| match caller.get(name) {
        Some(value) => after.set(name, value),
        None => after.remove(name),
    };
    if after.get("PWD").map(|p| p.to_owned()) == shell_pwd {
        restore(&mut after, "PWD");
    }
    for name in ["SHLVL", "_"] {
        restore(&mut after, name);
    }
    after
}
