//! `cenv doctor --fix`: brings the modes of an env (and the base install)
//! to what a shared server wants — readable and searchable by the group,
//! writable by no one but the owner (a trusted group excepted), no setuid
//! or setgid file, setgid directories where the env's group is inherited —
//! the one command an env admin runs after every install (installers leave
//! package files 0664/0666 from the archives, rattler writes records 0600).
//!
//! Modes only, never owners; every change printed; `--dry-run` prints what
//! it would do. Run by root or by the env's owner. Root walks a tree its
//! owner controls: each entry is reached from its directory's descriptor
//! without following a symlink, changed through an `O_PATH` descriptor of
//! the very inode judged, and only when the env's owner owns it — never a
//! file of root's or another user's that a hard link or a swap put there.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode};

use crate::system::escape;
use crate::system::users::{group_name, user_name};

/// What `--fix` did (or, dry, would do) in one tree.
#[derive(Debug, Default)]
pub struct Fixed {
    /// "chmod 0640 PATH (was 0600)" lines.
    pub changes: Vec<String>,
    /// What it left alone, and why.
    pub left: Vec<String>,
}

/// The mode a shared env wants for an entry of `mode`.
pub fn wanted_mode(mode: u32, is_dir: bool, group_may_write: bool, setgid_dirs: bool) -> u32 {
    let mut wanted = mode & 0o7777;
    wanted &= !0o002;
    if !group_may_write {
        wanted &= !0o020;
    }
    if is_dir {
        wanted |= 0o050;
        if setgid_dirs {
            wanted |= 0o2000;
        }
    } else {
        wanted |= 0o040;
        if wanted & 0o100 != 0 {
            wanted |= 0o010;
        }
        wanted &= !0o6000;
    }
    wanted
}

/// Fixes the tree at `prefix` (skipping `skip`, the base install's envs/),
/// owned by `owner`; `trusted_groups` may keep group write.
pub fn fix_tree(prefix: &Path, skip: &[PathBuf], trusted_groups: &[u32], dry_run: bool) -> Fixed {
    let mut fixed = Fixed::default();
    let Ok(root) = nix::fcntl::open(
        prefix,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        fixed
            .left
            .push(format!("{}: cannot open it", escape::path(prefix)));
        return fixed;
    };
    let Ok(st) = fstat(&root) else {
        return fixed;
    };
    let owner = st.st_uid;
    let setgid_dirs = st.st_mode & 0o2000 != 0
        || prefix
            .parent()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| std::os::unix::fs::MetadataExt::mode(&m) & 0o2000 != 0);
    let context = Context {
        owner,
        trusted_groups,
        setgid_dirs,
        dry_run,
        skip,
    };
    context.fix_entry(prefix, &root, &st, &mut fixed);
    let open_to_others = writable_by_others(&st, trusted_groups);
    context.walk(prefix, root, open_to_others, &mut fixed);
    fixed
}

/// Whether users other than the owner (and a trusted group) could have
/// created entries in this directory, before it was fixed.
fn writable_by_others(st: &FileStat, trusted_groups: &[u32]) -> bool {
    st.st_mode & 0o002 != 0 || (st.st_mode & 0o020 != 0 && !trusted_groups.contains(&st.st_gid))
}

struct Context<'a> {
    owner: u32,
    trusted_groups: &'a [u32],
    setgid_dirs: bool,
    dry_run: bool,
    skip: &'a [PathBuf],
}

impl Context<'_> {
    /// `open_to_others`: someone else could have written into this
    /// directory — a hard link there may lead to any file its maker chose,
    /// so such links are left alone.
    fn walk(&self, dir_path: &Path, dir: OwnedFd, open_to_others: bool, fixed: &mut Fixed) {
        let mut names = Vec::new();
        if crate::system::sys::for_each_entry(dir.as_fd(), false, |name, _| names.push(name.to_owned()))
            .is_err()
        {
            fixed
                .left
                .push(format!("{}: cannot list it", escape::path(dir_path)));
            return;
        }
        names.sort();
        for name in names {
            let path = dir_path.join(&name);
            if self.skip.contains(&path) {
                continue;
            }
            // the entry itself, never what a symlink there leads to
            let Ok(fd) = openat(
                &dir,
                name.as_os_str(),
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            let Ok(st) = fstat(&fd) else { continue };
            match st.st_mode & libc::S_IFMT {
                libc::S_IFREG if open_to_others && st.st_nlink > 1 => fixed.left.push(format!(
                    "{}: a hard link in a directory others could write: not changed (check it by hand)",
                    escape::path(&path)
                )),
                libc::S_IFREG => self.fix_entry(&path, &fd, &st, fixed),
                libc::S_IFDIR => {
                    self.fix_entry(&path, &fd, &st, fixed);
                    match openat(
                        &dir,
                        name.as_os_str(),
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    ) {
                        // the same directory as judged, or not at all
                        Ok(sub)
                            if fstat(&sub).is_ok_and(|s| s.st_ino == st.st_ino && s.st_dev == st.st_dev) =>
                        {
                            let open = open_to_others || writable_by_others(&st, self.trusted_groups);
                            self.walk(&path, sub, open, fixed)
                        }
                        _ => fixed
                            .left
                            .push(format!("{}: changed while walked", escape::path(&path))),
                    }
                }
                // symlinks have no mode of their own; devices, FIFOs and
                // sockets have no business in an env (doctor reports them)
                _ => {}
            }
        }
    }

    fn fix_entry(&self, path: &Path, fd: &OwnedFd, st: &FileStat, fixed: &mut Fixed) {
        let mode = st.st_mode & 0o7777;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let wanted = wanted_mode(
            mode,
            is_dir,
            self.trusted_groups.contains(&st.st_gid),
            self.setgid_dirs,
        );
        if wanted == mode {
            return;
        }
        if st.st_uid != self.owner {
            fixed.left.push(format!(
                "{}: owned by {}, not the env's owner {}: not changed (chown it as root first)",
                escape::path(path),
                user_name(st.st_uid),
                user_name(self.owner)
            ));
            return;
        }
        let line = format!("chmod {wanted:04o} {} (was {mode:04o})", escape::path(path));
        if self.dry_run {
            fixed.changes.push(line);
            return;
        }
        // through the descriptor of the inode judged: /proc/self/fd/N names
        // exactly it, whatever happened to the path since
        let through = format!("/proc/self/fd/{}", fd.as_raw_fd());
        if let Err(e) = nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            OsStr::new(&through),
            Mode::from_bits_truncate(wanted),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        ) {
            fixed
                .left
                .push(format!("{}: chmod failed: {}", escape::path(path), e.desc()));
            return;
        }
        // the kernel drops a directory's setgid bit for an owner outside its
        // group: say so, rather than claim it was set
        if wanted & 0o2000 != 0 && fstat(fd).is_ok_and(|now| now.st_mode & 0o2000 == 0) {
            fixed
                .changes
                .push(format!("{line} — the setgid bit did not stay"));
            fixed.left.push(format!(
                "{}: the setgid bit was cleared by the kernel: {} is not a member of the group {} \
                 (as root: usermod -aG {} {})",
                escape::path(path),
                user_name(self.owner),
                group_name(st.st_gid),
                group_name(st.st_gid),
                user_name(self.owner)
            ));
            return;
        }
        fixed.changes.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_shared_env_wants() {
        // installer modes from the archives, rattler's records, a planted setuid
        assert_eq!(wanted_mode(0o664, false, false, true), 0o644);
        assert_eq!(wanted_mode(0o666, false, false, true), 0o644);
        assert_eq!(wanted_mode(0o600, false, false, true), 0o640);
        assert_eq!(wanted_mode(0o700, false, false, true), 0o750);
        assert_eq!(wanted_mode(0o4755, false, false, true), 0o755);
        assert_eq!(wanted_mode(0o775, true, false, true), 0o2755);
        assert_eq!(wanted_mode(0o700, true, false, false), 0o750);
        // a trusted group keeps its write bit; other is never touched but w
        assert_eq!(wanted_mode(0o2770, true, true, true), 0o2770);
        assert_eq!(wanted_mode(0o640, false, false, true), 0o640);
    }
}
