//! The last step: find the command in the activated `PATH` and execve(2) it
//! with the activated environment. argv is passed through byte for byte and
//! `argv[0]` is left as the caller wrote it. No child, no shell: after this the
//! command *is* the process.
#![forbid(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{fcntl, AtFlags, FcntlArg, FdFlag};
use nix::unistd::AccessFlags;

use crate::error::{Error, Result};
use crate::system::environ::Environ;
use crate::trust::{CheckedCommand, ExecBy};

/// Finds `command` as execvp(3) would, but in the *activated* PATH: a name with
/// a `/` is used as it is; otherwise the first PATH entry holding an
/// executable file of that name wins (an empty entry means the current
/// directory). A match that is not executable is remembered and the search
/// goes on, so that the error can say "not executable" (126) rather than
/// "not found" (127).
pub fn find_command(command: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let name = command.as_bytes();
    if name.is_empty() {
        return Err(Error::CommandNotFound {
            command: String::new(),
            path: "empty command name".into(),
        });
    }
    if name.contains(&b'/') {
        let path = PathBuf::from(command);
        return match check_executable(&path) {
            Candidate::Executable => Ok(path),
            Candidate::Missing => Err(Error::CommandNotFound {
                command: path.display().to_string(),
                path: "no such file".into(),
            }),
            Candidate::NotExecutable(reason) => Err(Error::CommandNotExecutable { path, reason }),
        };
    }
    let path_var = path_var.unwrap_or_default();
    let mut not_executable = None;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(command);
        match check_executable(&candidate) {
            Candidate::Executable => return Ok(candidate),
            Candidate::Missing => {}
            Candidate::NotExecutable(reason) => {
                not_executable.get_or_insert((candidate, reason));
            }
        }
    }
    match not_executable {
        Some((path, reason)) => Err(Error::CommandNotExecutable { path, reason }),
        None => Err(Error::CommandNotFound {
            command: command.to_string_lossy().into_owned(),
            path: path_var.to_string_lossy().into_owned(),
        }),
    }
}

enum Candidate {
    Executable,
    Missing,
    NotExecutable(String),
}

fn check_executable(path: &Path) -> Candidate {
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        // A directory the caller cannot search hides its entries: that is
        // "not found" for them, as it is for a shell.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::EACCES)
            ) =>
        {
            return Candidate::Missing
        }
        Err(e) => return Candidate::NotExecutable(format!("cannot execute: {e}")),
    };
    if metadata.is_dir() {
        return Candidate::NotExecutable("cannot execute: it is a directory".into());
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Candidate::NotExecutable("cannot execute: permission denied (no execute bit)".into());
    }
    match nix::unistd::access(path, AccessFlags::X_OK) {
        Ok(()) => Candidate::Executable,
        Err(e) => Candidate::NotExecutable(format!("cannot execute: {}", e.desc())),
    }
}

/// Replaces this process with the checked command, executed as
/// `trust::open_command` decided: by its path, as a
/// shell would (the script sees its own path, `ps` its name), or through the
/// descriptor that was judged (execveat with `AT_EMPTY_PATH`). Through the
/// descriptor, a `#!` script is handed to its interpreter as `/dev/fd/N` —
/// the same open file — so the descriptor stays open across the exec;
/// without `/proc` the script is executed by path instead, after checking
/// the path still names the file that was judged. Returns only on failure.
pub fn exec(command: &CheckedCommand, argv: &[OsString], environ: &Environ) -> Error {
    let program = &command.path;
    let to_cstring = |bytes: &[u8]| CString::new(bytes).ok();
    let Some(program_c) = to_cstring(program.as_os_str().as_bytes()) else {
        return Error::CommandNotExecutable {
            path: program.to_owned(),
            reason: "the path contains a NUL byte".into(),
        };
    };
    let Some(args) = argv
        .iter()
        .map(|a| to_cstring(a.as_bytes()))
        .collect::<Option<Vec<_>>>()
    else {
        return Error::Usage("an argument contains a NUL byte".into());
    };
    let env = environ.to_exec_records();
    if let Err(e) = crate::system::sys::restore_default_sigpipe() {
        return Error::system("restoring the default SIGPIPE disposition", e);
    }
    // By path only if the path still names the file judged: a trusted
    // account replacing it since the check (a package manager mid-update)
    // does not get an unjudged file run; the descriptor is what was judged.
    let exec_by = match command.exec_by {
        ExecBy::Path if command.in_env && !same_file(program, &command.fd) => ExecBy::Descriptor,
        other => other,
    };
    let through_fd =
        exec_by == ExecBy::Descriptor && (!command.is_script || Path::new("/proc/self/fd").is_dir());
    let result = if exec_by == ExecBy::Path {
        nix::unistd::execve(&program_c, &args, &env)
    } else if through_fd {
        if command.is_script {
            // the interpreter opens /dev/fd/N: it must survive the exec
            if let Err(e) = fcntl(&command.fd, FcntlArg::F_SETFD(FdFlag::empty())) {
                return Error::system(
                    "keeping the script's descriptor open for its interpreter",
                    e.into(),
                );
            }
        }
        nix::unistd::execveat(&command.fd, c"", &args, &env, AtFlags::AT_EMPTY_PATH)
    } else if same_file(program, &command.fd) {
        nix::unistd::execve(&program_c, &args, &env)
    } else {
        return Error::Trust(format!(
            "{} changed after cenv checked it; refusing to run it",
            program.display()
        ));
    };
    let errno = match result {
        Ok(never) => match never {},
        Err(errno) => errno,
    };
    match errno {
        Errno::ENOENT if exec_by == ExecBy::Path && std::fs::symlink_metadata(program).is_err() => {
            Error::CommandNotFound {
                command: program.display().to_string(),
                path: "it disappeared before it could be run".into(),
            }
        }
        Errno::ENOENT => Error::CommandNotFound {
            command: program.display().to_string(),
            path: "the file exists, but its #! interpreter was not found".into(),
        },
        Errno::ENOEXEC => Error::CommandNotExecutable {
            path: program.to_owned(),
            reason: "cannot execute: not an executable format (a script needs a #! line)".into(),
        },
        other => Error::CommandNotExecutable {
            path: program.to_owned(),
            reason: format!("cannot execute: {}", other.desc()),
        },
    }
}

fn same_file(path: &Path, fd: &std::os::fd::OwnedFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), nix::sys::stat::fstat(fd)) {
        (Ok(m), Ok(st)) => m.dev() == st.st_dev && m.ino() == st.st_ino,
        _ => false,
    }
}
