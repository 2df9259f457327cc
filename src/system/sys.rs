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

    /// landlock_ruleset_attr as of ABI 4. An older kernel takes it whole
    /// as long as the fields it does not know are zero.
    #[repr(C)]
    struct RulesetAttr {
        handled_access_fs: u64,
        handled_access_net: u64,
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

    /// A new ruleset handling `handled_access_fs` and `handled_access_net`
    /// (0 on a kernel before ABI 4).
    pub fn create_ruleset(handled_access_fs: u64, handled_access_net: u64) -> io::Result<OwnedFd> {
        let attr = RulesetAttr {
            handled_access_fs,
            handled_access_net,
        };
        // SAFETY: `attr` is a live, correctly laid out landlock_ruleset_attr,
        // its full size given, for the call.
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

    const RULE_NET_PORT: libc::c_int = 2;
    /// LANDLOCK_ACCESS_NET_BIND_TCP (ABI 4).
    pub const ACCESS_NET_BIND_TCP: u64 = 1;

    #[repr(C, packed)]
    struct NetPortAttr {
        allowed_access: u64,
        port: u64,
    }

    /// Grants `allowed_access` on TCP `port` in `ruleset`.
    pub fn add_net_port(ruleset: BorrowedFd<'_>, port: u16, allowed_access: u64) -> io::Result<()> {
        let attr = NetPortAttr {
            allowed_access,
            port: u64::from(port),
        };
        // SAFETY: `attr` is a live landlock_net_port_attr (packed, as the
        // kernel's) and the descriptor is borrowed, so open, for the call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset.as_raw_fd(),
                RULE_NET_PORT,
                &attr as *const NetPortAttr,
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

/// Ignores SIGPIPE, as Rust's start-up code would (cenv's binary skips it).
pub fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: installs SIG_IGN, not a handler function.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    if previous == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// Makes `terminal` the controlling terminal of this process, which must be
/// a session leader without one (right after `setsid`).
pub fn set_controlling_terminal(terminal: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal a terminal
    // that is another session's); the descriptor is borrowed, so open.
    if unsafe { libc::ioctl(terminal.as_raw_fd(), libc::TIOCSCTTY, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The window size of the terminal `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<libc::winsize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer,
    // which points to a live, correctly laid out value.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size as *mut libc::winsize) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

/// Sets the window size of the terminal `fd` (the kernel then sends
/// SIGWINCH to its foreground process group).
pub fn set_window_size(fd: BorrowedFd<'_>, size: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one `struct winsize` through the pointer,
    // which points to a live value for the duration of the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, size as *const libc::winsize) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Marks every descriptor from `first` up close-on-exec, so that nothing a
/// privileged caller had open reaches the command (sudo's `closefrom`).
/// cenv's own descriptors stay usable until the exec.
pub fn close_on_exec_from(first: RawFd) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers and only changes descriptor
    // flags; no memory is passed.
    let result = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if result == 0 {
        return Ok(());
    }
    // Before Linux 5.11: each open descriptor, from /proc.
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD with FD_CLOEXEC only changes a flag; a descriptor
        // that is not open (the one read_dir used) makes it fail with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// The two processes after [`fork`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Parent { child: libc::pid_t },
    Child,
}

/// fork(2), refused unless this process has a single thread.
pub fn fork() -> io::Result<Forked> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(io::Error::other(format!(
            "cannot fork safely: the process has {threads} threads"
        )));
    }
    // SAFETY: the process has exactly one thread (checked above), so the
    // child is a full copy in which no lock can be held by another thread;
    // it may run any code, as after a fork of a single-threaded program.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent {
            child: child.as_raw(),
        }),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// The POSIX ACL (`system.posix_acl_access`) of the file `fd` refers to, as
/// the kernel stores it; None when it has none. Works on `O_PATH`
/// descriptors, through their `/proc/self/fd` entry.
pub fn posix_acl_access(fd: BorrowedFd<'_>) -> io::Result<Option<Vec<u8>>> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let name = c"system.posix_acl_access";
    let mut buffer = vec![0u8; 256];
    loop {
        // SAFETY: `path` and `name` are NUL-terminated strings that live for
        // the call; `buffer` is writable for `buffer.len()` bytes.
        let n = unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        if n >= 0 {
            buffer.truncate(n as usize);
            return Ok(Some(buffer));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENODATA | libc::EOPNOTSUPP) => return Ok(None),
            Some(libc::ERANGE) if buffer.len() < 1 << 16 => buffer.resize(buffer.len() * 4, 0),
            _ => return Err(e),
        }
    }
}

/// Whether `fd` is an open descriptor.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no argument and only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Borrows standard input, output or error (0, 1 or 2) for good.
pub fn standard_fd(fd: RawFd) -> BorrowedFd<'static> {
    assert!((0..=2).contains(&fd), "not a standard descriptor: {fd}");
    // SAFETY: fds 0–2 are open for the whole life of the process: at start-up
    // `output::ensure_standard_descriptors` opens /dev/null in place of any
    // that is closed, and cenv never closes them (dup2 only replaces them).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// The entries of the directory `dir` (opened for reading), each with its
/// `d_type` (`libc::DT_*`; `DT_UNKNOWN` where the file system does not say),
/// `.` and `..` left out. See [`for_each_entry`].
pub fn directory_entries(
    dir: BorrowedFd<'_>,
    fills_buffer: bool,
) -> io::Result<Vec<(std::ffi::OsString, u8)>> {
    let mut entries = Vec::new();
    for_each_entry(dir, fills_buffer, |name, d_type| {
        entries.push((name.to_owned(), d_type))
    })?;
    Ok(entries)
}

/// Calls `visit` with the name and `d_type` of each entry of the directory
/// `dir` (opened for reading), `.` and `..` left out, without copying the
/// names. Read with getdents64 directly, into a buffer each thread keeps:
/// a libc `DIR` costs four more system calls per directory, and
/// `cenv list` lists one per env.
///
/// `fills_buffer`: the directory's file system fills the buffer on each
/// call until it is full or the directory ends (ext4, xfs, btrfs, tmpfs,
/// overlayfs: [`crate::system::mounts::Mounts::fills_getdents`]). Then a
/// first read that left room for any entry read them all, and the call that
/// would return 0 is not made. Elsewhere (FUSE answers a page at a time,
/// whatever the buffer) the listing reads until getdents64 returns 0.
pub fn for_each_entry(
    dir: BorrowedFd<'_>,
    fills_buffer: bool,
    mut visit: impl FnMut(&std::ffi::OsStr, u8),
) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    // the largest record: 19 bytes of header, a 255-byte name and its NUL,
    // rounded up to 8
    const LARGEST_RECORD: usize = 280;
    const BUFFER: usize = 32 * 1024;
    thread_local! {
        static BUFFERS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFERS.with(|cell| {
        // a visitor that lists a directory itself gets a buffer of its own
        let mut owned = Vec::new();
        let mut borrowed = cell.try_borrow_mut();
        let buffer: &mut Vec<u8> = match borrowed.as_deref_mut() {
            Ok(buffer) => buffer,
            Err(_) => &mut owned,
        };
        buffer.clear();
        buffer.reserve(BUFFER);
        loop {
            // SAFETY: getdents64 writes at most BUFFER bytes into the
            // buffer's spare capacity (at least BUFFER, reserved above),
            // which is live and writable for the call. Not zeroed first:
            // only what the kernel wrote is ever read.
            let n =
                unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buffer.as_mut_ptr(), BUFFER) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Ok(());
            }
            // SAFETY: the kernel initialised the first n bytes (n <= BUFFER,
            // within the capacity).
            unsafe { buffer.set_len(n as usize) };
            let filled = &buffer[..];
            let mut offset = 0;
            // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            while offset + 19 <= filled.len() {
                let reclen = u16::from_ne_bytes([filled[offset + 16], filled[offset + 17]]) as usize;
                if reclen == 0 || offset + reclen > filled.len() {
                    return Err(io::Error::other("getdents64 returned a malformed record"));
                }
                let d_type = filled[offset + 18];
                let name_bytes = &filled[offset + 19..offset + reclen];
                let name_len = name_bytes
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(name_bytes.len());
                let name = &name_bytes[..name_len];
                if name != b"." && name != b".." {
                    visit(std::ffi::OsStr::from_bytes(name), d_type);
                }
                offset += reclen;
            }
            if fills_buffer && filled.len() + LARGEST_RECORD <= BUFFER {
                return Ok(());
            }
            buffer.clear();
        }
    })
}

/// Drops every capability from this thread's bounding set: one
/// PR_CAPBSET_DROP per capability the kernel knows, up to the first it
/// answers EINVAL for (past its last) — so a capability newer than this
/// program is dropped too. Needs CAP_SETPCAP.
pub fn drop_bounding_set() -> io::Result<()> {
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(libc::EINVAL) if cap > 0 => Ok(()),
                _ => Err(error),
            };
        }
    }
    Ok(())
}

/// This thread's bounding set, asked of the kernel one capability at a time
/// (PR_CAPBSET_READ), up to the first it answers EINVAL for.
pub fn bounding_set_by_prctl() -> io::Result<u64> {
    let mut set = 0u64;
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } {
            1 => set |= 1 << cap,
            0 => {}
            _ => {
                let error = io::Error::last_os_error();
                return match error.raw_os_error() {
                    Some(libc::EINVAL) if cap > 0 => Ok(set),
                    _ => Err(error),
                };
            }
        }
    }
    Ok(set)
}

/// Empties this thread's ambient set (one prctl). A kernel without ambient
/// capabilities (before 4.3) has none to clear.
pub fn clear_ambient_set() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let result = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if result != 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINVAL) {
            return Err(error);
        }
    }
    Ok(())
}

/// Sets this thread's effective, permitted and inheritable capability sets
/// (capset, version 3: 64-bit sets).
pub fn set_capabilities(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |set: u64, high: bool| (if high { set >> 32 } else { set & 0xffff_ffff }) as u32;
    let data = [false, true].map(|high| Data {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    // SAFETY: capset reads the header and two `Data` structs (the 64-bit
    // sets of version 3), both live and correctly laid out.
    let result = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The supplementary groups of this process: getgroups(2) asked for the
/// count, then for the list — two system calls (the C library's wrapper in
/// nix first reads /proc/sys/kernel/ngroups_max: three more).
pub fn supplementary_groups() -> io::Result<Vec<u32>> {
    loop {
        // SAFETY: with a size of 0, getgroups writes nothing and returns
        // the count.
        let count = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut groups: Vec<libc::gid_t> = vec![0; count as usize];
        // SAFETY: getgroups writes at most `count` gids into the buffer,
        // which holds exactly that many.
        let written = unsafe { libc::getgroups(count, groups.as_mut_ptr()) };
        if written >= 0 {
            groups.truncate(written as usize);
            return Ok(groups);
        }
        let error = io::Error::last_os_error();
        // the list grew between the two calls: ask again
        if error.raw_os_error() != Some(libc::EINVAL) {
            return Err(error);
        }
    }
}

/// The effective, permitted and inheritable capability sets of this
/// thread, with one capget(2).
pub fn capabilities() -> io::Result<(u64, u64, u64)> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget reads the header and writes two `Data` structs (the
    // 64-bit sets of version 3), both live and correctly laid out.
    let result = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut Header, data.as_mut_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

/// A local civil time (year, month 1–12, day, hour, minute, second).
pub type LocalTime = [i32; 6];

/// Seconds since the epoch of a local civil time, as the C library's time
/// zone (TZ, /etc/localtime) says; `None` when it cannot be represented.
pub fn local_to_epoch(time: LocalTime) -> Option<i64> {
    let [year, month, day, hour, minute, second] = time;
    // SAFETY: tm is plain data; all-zero is a valid value for every field.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    // SAFETY: mktime reads and normalises the tm it is given, which is live
    // and writable for the call; it returns -1 on failure.
    let epoch = unsafe { libc::mktime(&mut tm) };
    (epoch != -1).then_some(epoch)
}

/// The local civil time of `epoch` seconds, as the C library's time zone says.
pub fn epoch_to_local(epoch: i64) -> Option<LocalTime> {
    // SAFETY: tm is plain data; all-zero is a valid value for every field.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let time: libc::time_t = epoch;
    // SAFETY: localtime_r reads `time` and writes only `tm`, both live for
    // the call; it returns null on failure.
    let done = unsafe { libc::localtime_r(&time, &mut tm) };
    (!done.is_null()).then_some([
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
    ])
}

/// What the group database says of a name: its gid, no such group (`None`),
/// or that it could not be asked (the errno NSS left: a directory that is
/// down, a daemon that is not running).
///
/// getgrnam_r(3) with a buffer that grows until the whole entry fits: a
/// group's entry carries its member list, and a campus-wide group of 60,000
/// members needs more than the 1 MiB at which nix's `Group::from_name`
/// stops growing and answers "no such group". Each retry is a new NSS
/// request that returns every member again, so the buffer starts at 4 MiB
/// (about 200,000 members; calloc'd, so untouched pages cost nothing) and
/// stops at 256 MiB.
pub fn gid_by_name(name: &std::ffi::CStr) -> Result<Option<u32>, io::Error> {
    const FIRST: usize = 4 << 20;
    const LAST: usize = 256 << 20;
    let mut size = FIRST;
    loop {
        let mut buffer: Vec<u8> = vec![0; size];
        // SAFETY: group is plain data; all-zero is a valid value.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is to live, writable memory of the given
        // size for the duration of the call; getgrnam_r writes the entry's
        // strings into `buffer` and sets `result` to `&group` or null.
        let rc = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut group,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => return Ok(Some(group.gr_gid)),
            libc::ERANGE if size < LAST => size *= 4,
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// The groups initgroups(3) would give `user` (primary `gid` included), by
/// getgrouplist(3). A too-small buffer makes glibc say how many there are,
/// so a second call is exact: one NSS request for nearly every user, two at
/// most — where nix's wrapper doubles from 8 and asks the directory again
/// each time (six requests for a user in 138 groups).
pub fn group_list(user: &std::ffi::CStr, gid: u32) -> io::Result<Vec<u32>> {
    let mut count: libc::c_int = 256;
    for _ in 0..2 {
        let mut groups: Vec<libc::gid_t> = vec![0; usize::try_from(count).unwrap_or(0)];
        let mut n = count;
        // SAFETY: `groups` has room for `n` gids; getgrouplist writes at
        // most that many and sets `n` to how many there are.
        let rc = unsafe { libc::getgrouplist(user.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(usize::try_from(n).unwrap_or(0));
            return Ok(groups);
        }
        if n <= count {
            break;
        }
        count = n;
    }
    Err(io::Error::other("getgrouplist: the group list kept growing"))
}

/// The name of group `gid`, by getgrgid_r(3) with the growing buffer of
/// [`gid_by_name`] (a campus-wide group's entry is bigger than nix's 1 MiB).
pub fn group_name_by_gid(gid: u32) -> Result<Option<String>, io::Error> {
    const FIRST: usize = 4 << 20;
    const LAST: usize = 256 << 20;
    let mut size = FIRST;
    loop {
        let mut buffer: Vec<u8> = vec![0; size];
        // SAFETY: group is plain data; all-zero is a valid value.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in gid_by_name: live, writable memory of the given
        // sizes for the call.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                &mut group,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => {
                // SAFETY: on success gr_name points to a NUL-terminated
                // string inside `buffer`, which is alive here.
                let name = unsafe { std::ffi::CStr::from_ptr(group.gr_name) };
                return Ok(Some(name.to_string_lossy().into_owned()));
            }
            libc::ERANGE if size < LAST => size *= 4,
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// The members the group database lists for the group `name` (its entry's
/// member list: users whose primary group it is are not in it), with the
/// growing buffer of [`gid_by_name`]; `None` when there is no such group.
pub fn group_members(name: &std::ffi::CStr) -> Result<Option<Vec<String>>, io::Error> {
    const FIRST: usize = 4 << 20;
    const LAST: usize = 256 << 20;
    let mut size = FIRST;
    loop {
        let mut buffer: Vec<u8> = vec![0; size];
        // SAFETY: group is plain data; all-zero is a valid value.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in gid_by_name.
        let rc = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut group,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => {
                let mut members = Vec::new();
                let mut at = group.gr_mem;
                // SAFETY: on success gr_mem is a null-terminated array of
                // pointers to NUL-terminated strings, all inside `buffer`,
                // which is alive for this loop.
                unsafe {
                    while !at.is_null() && !(*at).is_null() {
                        members.push(std::ffi::CStr::from_ptr(*at).to_string_lossy().into_owned());
                        at = at.add(1);
                    }
                }
                return Ok(Some(members));
            }
            libc::ERANGE if size < LAST => size *= 4,
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}
