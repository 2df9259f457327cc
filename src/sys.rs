//! The only module with `unsafe` code: thin wrappers over the few system calls
//! that neither std nor nix offer safely. Each wrapper turns failure into an
//! `io::Error` and carries a `// SAFETY:` comment saying why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `fd` available as `target` in the child `command` starts.
pub fn map_fd_for_child(command: &mut Command, fd: BorrowedFd<'_>, target: RawFd) {
    let source = fd.as_raw_fd();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called; dup2(2) and fcntl(2) are.
    // It touches no memory shared with the parent. `source` stays open in the
    // parent until after spawn() returns, so it is valid in the child.
    unsafe {
        command.pre_exec(move || {
            if source == target {
                // dup2 onto itself would leave FD_CLOEXEC set.
                if libc::fcntl(source, libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(source, target) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
