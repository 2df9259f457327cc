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

/// Gives up the controlling terminal, so that TIOCSTI (which needs the
/// terminal to be the caller's controlling one, or CAP_SYS_ADMIN) can no
/// longer push input into it. Returns false when there was none.
///
/// For a process that is not a session leader, TIOCNOTTY only detaches this
/// process: it stays in its process group, so the terminal's ^C and ^Z still
/// reach it. A session leader's TIOCNOTTY also sends SIGHUP to the terminal's
/// foreground group, which includes this process; SIGHUP is ignored around
/// the call and restored to the default afterwards.
pub fn detach_controlling_terminal() -> io::Result<bool> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let tty = match open(
        "/dev/tty",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // ENXIO: no controlling terminal.
        Err(nix::errno::Errno::ENXIO) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let session_leader = nix::unistd::getsid(None)? == nix::unistd::getpid();
    if session_leader {
        set_sighup(libc::SIG_IGN)?;
    }
    // SAFETY: TIOCNOTTY takes no argument; `tty` is an open descriptor owned
    // by this function for the duration of the call.
    let result = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCNOTTY) };
    let error = io::Error::last_os_error();
    if session_leader {
        set_sighup(libc::SIG_DFL)?;
    }
    if result == -1 {
        return Err(error);
    }
    Ok(true)
}

fn set_sighup(disposition: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: installs SIG_IGN or SIG_DFL, not a handler function, so no code
    // of ours can run in signal context.
    let previous = unsafe { libc::signal(libc::SIGHUP, disposition) };
    if previous == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
