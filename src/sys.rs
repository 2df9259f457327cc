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

/// Gives up the controlling terminal shared with the parent's session, so
/// that TIOCSTI (which needs the terminal to be the caller's controlling one,
/// or CAP_SYS_ADMIN) can no longer push input into it. Returns whether it did.
///
/// TIOCNOTTY in a process that is not a session leader only detaches that
/// process: it stays in its process group, so the terminal's ^C and ^Z still
/// reach it. A process that *is* the session leader (sudo's pty with
/// `use_pty`, or `script -c`) owns its terminal's session: no process outside
/// it reads that terminal, so there is nothing to protect, while detaching
/// would hang up the session and leave ^C with nowhere to go. It is left alone.
pub fn detach_controlling_terminal() -> io::Result<bool> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    if nix::unistd::getsid(None)? == nix::unistd::getpid() {
        return Ok(false);
    }
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
    // SAFETY: TIOCNOTTY takes no argument; `tty` is an open descriptor owned
    // by this function for the duration of the call.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCNOTTY) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}

/// The three Landlock system calls. cenv uses them directly rather than
/// through the landlock crate's ruleset builder (it takes the access-right
/// constants from the crate) so that the rule is exactly what a reviewer reads
/// in `confine.rs`: the handled rights are a pinned list trimmed only by the
/// kernel's ABI version, each grant's rights follow from the directory listing
/// (file or directory), and the ruleset descriptor is cenv's own.
pub mod landlock {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    const CREATE_RULESET_VERSION: u32 = 1;
    const RULE_PATH_BENEATH: libc::c_int = 1;

    #[repr(C)]
    struct RulesetAttr {
        handled_access_fs: u64,
    }

    #[repr(C, packed)]
    struct PathBeneathAttr {
        allowed_access: u64,
        parent_fd: i32,
    }

    /// The Landlock ABI version of the running kernel, or the errno
    /// (ENOSYS: not built in; EOPNOTSUPP: disabled).
    pub fn abi_version() -> io::Result<i32> {
        // SAFETY: with a NULL attribute, size 0 and the VERSION flag the call
        // reads no memory and only returns a number.
        let version = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<RulesetAttr>(),
                0usize,
                CREATE_RULESET_VERSION,
            )
        };
        if version < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(version as i32)
    }

    /// A new ruleset handling `handled_access_fs`.
    pub fn create_ruleset(handled_access_fs: u64) -> io::Result<OwnedFd> {
        let attr = RulesetAttr { handled_access_fs };
        // SAFETY: `attr` is a live, correctly laid out landlock_ruleset_attr
        // (its first field; the kernel accepts a shorter size) for the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &attr as *const RulesetAttr,
                std::mem::size_of::<RulesetAttr>(),
                0u32,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// Grants `allowed_access` beneath `parent` in `ruleset`.
    pub fn add_path_beneath(
        ruleset: BorrowedFd<'_>,
        parent: BorrowedFd<'_>,
        allowed_access: u64,
    ) -> io::Result<()> {
        let attr = PathBeneathAttr {
            allowed_access,
            parent_fd: parent.as_raw_fd(),
        };
        // SAFETY: `attr` is a live landlock_path_beneath_attr (packed, as the
        // kernel's) and both descriptors are borrowed, so open, for the call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset.as_raw_fd(),
                RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0u32,
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Enforces `ruleset` on the calling thread (needs no_new_privs).
    pub fn restrict_self(ruleset: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: plain integer arguments; the descriptor is borrowed, so open.
        let result = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Puts SIGPIPE back to its default disposition. Rust's runtime ignores
/// SIGPIPE at start-up, and an ignored signal stays ignored across execve: a
/// command run by cenv would otherwise get EPIPE instead of being stopped by
/// SIGPIPE when it writes into a closed pipe (`cenv run env cmd | head`).
pub fn restore_default_sigpipe() -> io::Result<()> {
    // SAFETY: installs SIG_DFL, not a handler function.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if previous == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
