//! What cenv knows about the process it runs in, read once at start.
//!
//! All access to the caller's environment, arguments and credentials goes
//! through [`Process`], so the logic below it can be tested with a made-up
//! caller, and so that it is obvious where a privileged run stops trusting the
//! caller's environment.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::system::environ::Environ;

#[derive(Debug, Clone)]
pub struct Process {
    pub args: Vec<OsString>,
    /// The caller's environment, untouched.
    pub environ: Environ,
    pub real_uid: u32,
    pub effective_uid: u32,
    pub real_gid: u32,
    pub effective_gid: u32,
    pub cwd: Option<PathBuf>,
}

impl Process {
    /// Reads the real process: argv, environment, credentials, cwd.
    pub fn current() -> Self {
        Process {
            args: std::env::args_os().collect(),
            environ: Environ::from_pairs(std::env::vars_os()),
            real_uid: nix::unistd::getuid().as_raw(),
            effective_uid: nix::unistd::geteuid().as_raw(),
            real_gid: nix::unistd::getgid().as_raw(),
            effective_gid: nix::unistd::getegid().as_raw(),
            cwd: working_directory(),
        }
    }

    /// A SLURM task, for the plugin: this process's credentials and working
    /// directory, and the task's environment (slurmstepd's own is not it).
    pub fn for_task(environ: Environ) -> Self {
        Process {
            args: Vec::new(),
            environ,
            real_uid: nix::unistd::getuid().as_raw(),
            effective_uid: nix::unistd::geteuid().as_raw(),
            real_gid: nix::unistd::getgid().as_raw(),
            effective_gid: nix::unistd::getegid().as_raw(),
            cwd: working_directory(),
        }
    }

    /// A privileged run: started by root (or with root's effective uid). Such a
    /// run never takes configuration from the caller's environment or files.
    pub fn is_privileged(&self) -> bool {
        self.real_uid == 0 || self.effective_uid == 0
    }

    /// The caller's home directory: `$HOME`, else the user database.
    pub fn home(&self) -> Option<PathBuf> {
        if let Some(home) = self.environ.get("HOME").filter(|h| !h.is_empty()) {
            return Some(PathBuf::from(home));
        }
        crate::system::users::home_of(self.real_uid)
    }
}

/// The working directory, as getcwd(2) names it: canonical already (the
/// kernel walks up from the directory itself), so remembered as such.
fn working_directory() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    if cwd.is_absolute() {
        crate::system::paths::known_canonical(&cwd);
    }
    Some(cwd)
}

/// Descriptors left for the exec to close.
static CLOSED_AT_EXEC: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());
/// Whether this process is on its way to an exec (`cenv run`, a task).
static ON_THE_WAY_TO_EXEC: AtomicBool = AtomicBool::new(false);
/// At most this many are left to the exec: never enough to run short.
const HELD_AT_MOST: usize = 64;

/// Says that this process ends in an exec (`cenv run`, a SLURM task):
/// from here on [`close_at_exec`] leaves descriptors for it.
pub fn ends_in_exec() {
    ON_THE_WAY_TO_EXEC.store(true, Ordering::Relaxed);
}

/// Leaves `fd` open for the exec to close: every descriptor cenv opens is
/// close-on-exec, so the exec closes it at no cost, where dropping it costs
/// a close(2) — on every run, before every job. Only on the way to an exec
/// ([`ends_in_exec`]) and for a few: a command that never execs (`doctor`
/// resolving thousands of links) closes each at once.
pub fn close_at_exec(fd: impl Into<OwnedFd>) {
    let fd = fd.into();
    if !ON_THE_WAY_TO_EXEC.load(Ordering::Relaxed) {
        return;
    }
    if let Ok(mut held) = CLOSED_AT_EXEC.lock() {
        if held.len() < HELD_AT_MOST {
            held.push(fd);
        }
    }
}
