//! Who can change a path: its owner, its mode bits and its POSIX ACL,
//! judged against the owners and groups a caller trusts — like sshd's
//! StrictModes and sudo's check of sudoers. The mechanism under the trust
//! check of an env (`crate::trust`) and of the system config.
//!
//! A path passes when its owner is trusted, it is not writable by others,
//! and it is not writable by its group unless that group is trusted. A
//! world-writable ancestor directory is accepted only with the sticky bit (as
//! /tmp), because then only the owners of its entries — which must be trusted
//! themselves — can replace them. The walk from `/` down opens each component
//! with `O_PATH | O_NOFOLLOW` and checks it with fstat, so what is judged is
//! the real chain of directories, and a component replaced by a symlink is
//! caught.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode};

use crate::error::{Error, Result};
use crate::system::users::{group_name, user_name};

/// Who may own, and which groups may write, the paths judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRules {
    pub owners: Vec<u32>,
    pub groups: Vec<u32>,
}

/// What is wrong with one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    UntrustedOwner,
    GroupWritable,
    WorldWritable,
    /// A component that should be a directory is a symlink (or was swapped).
    Symlink,
    /// A POSIX ACL entry grants write to a user who is not a trusted owner.
    AclUser(u32),
    /// A POSIX ACL entry grants write to a group that is not trusted.
    AclGroup(u32),
}

/// One path that failed the check, with everything a message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrustedPath {
    pub path: PathBuf,
    pub problem: Weakness,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl UntrustedPath {
    /// The shell command that removes the problem.
    pub fn fix(&self) -> String {
        let path = shell_quote(&self.path);
        match self.problem {
            Weakness::GroupWritable => format!("chmod g-w {path}"),
            Weakness::WorldWritable => format!("chmod o-w {path}"),
            Weakness::UntrustedOwner => format!("chown root {path}"),
            Weakness::Symlink => format!("ls -l {path}  # a symlink where a directory belongs: inspect it"),
            Weakness::AclUser(uid) => format!("setfacl -x u:{} {path}", user_name(uid)),
            Weakness::AclGroup(gid) => format!("setfacl -x g:{} {path}", group_name(gid)),
        }
    }

    /// Why it matters, in a few words.
    pub fn why(&self) -> &'static str {
        match self.problem {
            Weakness::GroupWritable => "a member of the group could plant or change programs there",
            Weakness::WorldWritable => "any user could plant or change programs there",
            Weakness::UntrustedOwner => "its owner could plant or change programs there",
            Weakness::Symlink => "it could redirect the env to files nobody checked",
            Weakness::AclUser(_) => "that user could plant or change programs there",
            Weakness::AclGroup(_) => "a member of that group could plant or change programs there",
        }
    }
}

impl UntrustedPath {
    /// What is wrong, without the path or the fix: "is writable by the
    /// group x (owner a, group x, mode 2775): a member of ...".
    pub fn describe(&self) -> String {
        let what = match self.problem {
            Weakness::UntrustedOwner => {
                format!("is owned by {}, who is not a trusted owner", user_name(self.uid))
            }
            Weakness::GroupWritable => format!("is writable by the group {}", group_name(self.gid)),
            Weakness::WorldWritable => "is writable by everyone".to_owned(),
            Weakness::Symlink => "is a symlink".to_owned(),
            Weakness::AclUser(uid) => {
                format!("grants write to the user {} through a POSIX ACL", user_name(uid))
            }
            Weakness::AclGroup(gid) => format!(
                "grants write to the group {} through a POSIX ACL",
                group_name(gid)
            ),
        };
        format!(
            "{what} (owner {}, group {}, mode {:04o}): {}",
            user_name(self.uid),
            group_name(self.gid),
            self.mode & 0o7777,
            self.why()
        )
    }
}

impl fmt::Display for UntrustedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}; fix: {}",
            self.path.display(),
            self.describe(),
            self.fix()
        )
    }
}

/// A path as one shell word, quoted only when it needs to be.
pub fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._+-:@".contains(&b))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The part of a stat result the judgement needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl From<&FileStat> for Meta {
    fn from(st: &FileStat) -> Meta {
        Meta {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }
}

impl From<&std::fs::Metadata> for Meta {
    fn from(m: &std::fs::Metadata) -> Meta {
        Meta {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
        }
    }
}

/// Judges one stat result (mode bits only; see [`judge_fd`] for ACLs).
pub fn judge(
    path: &Path,
    st: impl Into<Meta>,
    rules: &TrustRules,
    is_ancestor: bool,
) -> Option<UntrustedPath> {
    judge_with_acl(path, st.into(), None, rules, is_ancestor)
}

/// Judges the file `fd` refers to: its stat and its POSIX ACL.
pub fn judge_fd(
    path: &Path,
    fd: BorrowedFd<'_>,
    st: &FileStat,
    rules: &TrustRules,
    is_ancestor: bool,
) -> Option<UntrustedPath> {
    let is_symlink = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
    // A symlink has no ACL of its own. With an ACL, the mode's group bits
    // are its mask, which limits every entry that could grant write (named
    // users and groups, the owning group): without the group write bit no
    // ACL can grant write, and there is nothing to read. One that cannot be
    // read is judged as if it granted write to an unknown user (stricter,
    // never looser).
    let acl = if is_symlink || st.st_mode & 0o020 == 0 {
        None
    } else {
        match crate::system::sys::posix_acl_access(fd) {
            Ok(Some(bytes)) => Some(Acl::parse(&bytes).unwrap_or_else(Acl::unreadable)),
            Ok(None) => None,
            Err(_) => Some(Acl::unreadable()),
        }
    };
    judge_with_acl(path, Meta::from(st), acl.as_ref(), rules, is_ancestor)
}

/// The entries of a POSIX access ACL (`system.posix_acl_access`) that can
/// grant write: named users, named groups, the owning group, and the mask
/// that limits all three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    users: Vec<(u32, bool)>,
    groups: Vec<(u32, bool)>,
    owning_group_writes: bool,
    mask_allows_write: bool,
}

impl Acl {
    const TAG_USER: u16 = 0x02;
    const TAG_GROUP_OBJ: u16 = 0x04;
    const TAG_GROUP: u16 = 0x08;
    const TAG_MASK: u16 = 0x10;
    const WRITE: u16 = 0x02;

    /// Parses the kernel's xattr form: a version-2 header, then 8-byte
    /// entries (tag u16, perm u16, id u32), little-endian.
    pub fn parse(bytes: &[u8]) -> Option<Acl> {
        let (header, entries) = bytes.split_at_checked(4)?;
        if u32::from_le_bytes(header.try_into().ok()?) != 2 || entries.len() % 8 != 0 {
            return None;
        }
        let mut acl = Acl {
            users: Vec::new(),
            groups: Vec::new(),
            owning_group_writes: false,
            mask_allows_write: true,
        };
        for entry in entries.chunks_exact(8) {
            let tag = u16::from_le_bytes([entry[0], entry[1]]);
            let writes = u16::from_le_bytes([entry[2], entry[3]]) & Self::WRITE != 0;
            let id = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            match tag {
                Self::TAG_USER => acl.users.push((id, writes)),
                Self::TAG_GROUP => acl.groups.push((id, writes)),
                Self::TAG_GROUP_OBJ => acl.owning_group_writes = writes,
                Self::TAG_MASK => acl.mask_allows_write = writes,
                _ => {}
            }
        }
        Some(acl)
    }

    /// An ACL cenv could not read: taken as granting write to someone unknown.
    fn unreadable() -> Acl {
        Acl {
            users: vec![(u32::MAX, true)],
            groups: Vec::new(),
            owning_group_writes: true,
            mask_allows_write: true,
        }
    }
}

fn judge_with_acl(
    path: &Path,
    st: Meta,
    acl: Option<&Acl>,
    rules: &TrustRules,
    is_ancestor: bool,
) -> Option<UntrustedPath> {
    let mode = st.mode;
    let finding = |problem| UntrustedPath {
        path: path.to_owned(),
        problem,
        uid: st.uid,
        gid: st.gid,
        mode,
    };
    if mode & libc::S_IFMT == libc::S_IFLNK {
        return Some(finding(Weakness::Symlink));
    }
    if !rules.owners.contains(&st.uid) {
        return Some(finding(Weakness::UntrustedOwner));
    }
    let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
    // Like /tmp: in a sticky directory only an entry's owner (trusted, as the
    // next component is checked too) can replace it.
    if is_ancestor && is_dir && mode & libc::S_ISVTX != 0 {
        return None;
    }
    if mode & 0o002 != 0 {
        return Some(finding(Weakness::WorldWritable));
    }
    // With an ACL the mode's group bits are the mask; the owning group's own
    // entry says whether it writes.
    let group_writes = match acl {
        Some(acl) => acl.owning_group_writes && acl.mask_allows_write,
        None => mode & 0o020 != 0,
    };
    if group_writes && !rules.groups.contains(&st.gid) {
        return Some(finding(Weakness::GroupWritable));
    }
    if let Some(acl) = acl.filter(|a| a.mask_allows_write) {
        if let Some((uid, _)) = acl
            .users
            .iter()
            .find(|(uid, w)| *w && !rules.owners.contains(uid))
        {
            return Some(finding(Weakness::AclUser(*uid)));
        }
        if let Some((gid, _)) = acl
            .groups
            .iter()
            .find(|(gid, w)| *w && !rules.groups.contains(gid))
        {
            return Some(finding(Weakness::AclGroup(*gid)));
        }
    }
    None
}

pub fn open_nofollow(dir: &OwnedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Opens `name` in `dir` without following a symlink: a directory the
/// caller may list is opened for reading, so that its descriptor can be
/// listed later ([`Walked::listable`]); anything else with `O_PATH`. The
/// `O_DIRECTORY` open fails on a non-directory before opening it, so a FIFO
/// or device is never opened for reading.
fn open_step(dir: Option<BorrowedFd<'_>>, name: &OsStr) -> nix::Result<(OwnedFd, bool)> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let at = |flags| match dir {
        Some(dir) => openat(dir, name, flags, Mode::empty()),
        None => nix::fcntl::open(name, flags, Mode::empty()),
    };
    match at(flags) {
        Ok(fd) => Ok((fd, true)),
        Err(nix::Error::EACCES | nix::Error::ENOTDIR | nix::Error::ELOOP) => {
            at(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).map(|fd| (fd, false))
        }
        Err(e) => Err(e),
    }
}

/// Judges every directory from `/` down to `dir` (itself included, as a
/// non-ancestor), walking without following symlinks.
pub fn check_chain(dir: &Path, rules: &TrustRules) -> Result<Vec<UntrustedPath>> {
    Ok(walk_chain(dir, rules)?.findings)
}

/// What a walk from `/` found and opened.
#[derive(Debug)]
pub struct Walked {
    pub findings: Vec<UntrustedPath>,
    /// Every directory walked through, from `/`, with its descriptor (held
    /// until exec closes them: close-on-exec) and whether it may be listed.
    pub dirs: Vec<(PathBuf, OwnedFd, bool)>,
    /// The last component's stat.
    pub st: FileStat,
    /// Other descriptors kept until the exec.
    held: Vec<OwnedFd>,
}

impl Walked {
    /// The last component's descriptor.
    pub fn last(&self) -> &OwnedFd {
        &self.dirs[self.dirs.len() - 1].1
    }

    /// Takes the last component's descriptor out (it is no longer listable
    /// through this walk).
    pub fn take_last(&mut self) -> Option<OwnedFd> {
        self.dirs.pop().map(|(_, fd, _)| fd)
    }

    /// Keeps descriptors open until the exec closes them (close-on-exec).
    pub fn keep(&mut self, fds: impl IntoIterator<Item = OwnedFd>) {
        self.held.extend(fds);
    }

    /// A listable descriptor of the walked directory `path`, if there is one.
    pub fn listable(&self, path: &Path) -> Option<&OwnedFd> {
        self.dirs
            .iter()
            .find(|(p, _, listable)| *listable && p == path)
            .map(|(_, fd, _)| fd)
    }
}

/// The walk of [`check_chain`]: each component opened from its parent's
/// descriptor (no symlink followed), judged through its own descriptor. The
/// descriptors are kept — the Landlock rule lists the same directories —
/// and closed by the exec (close-on-exec), never one by one.
pub fn walk_chain(path: &Path, rules: &TrustRules) -> Result<Walked> {
    let io_error = |path: &Path, e: nix::Error| Error::PrefixAccess {
        path: path.to_owned(),
        source: e.into(),
    };
    let mut findings = Vec::new();
    let mut walked = PathBuf::from("/");
    let (root, listable) = open_step(None, OsStr::new("/")).map_err(|e| io_error(&walked, e))?;
    let mut st = fstat(&root).map_err(|e| io_error(&walked, e))?;
    let mut dirs = vec![(walked.clone(), root, listable)];
    let components: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    for name in &components {
        let current = &dirs[dirs.len() - 1].1;
        findings.extend(judge_fd(&walked, current.as_fd(), &st, rules, true));
        let (next, listable) =
            open_step(Some(current.as_fd()), name).map_err(|e| io_error(&walked.join(name), e))?;
        walked.push(name);
        st = fstat(&next).map_err(|e| io_error(&walked, e))?;
        dirs.push((walked.clone(), next, listable));
    }
    let current = &dirs[dirs.len() - 1].1;
    findings.extend(judge_fd(&walked, current.as_fd(), &st, rules, false));
    Ok(Walked {
        findings,
        dirs,
        st,
        held: Vec::new(),
    })
}

/// [`walk_chain`] for `path`, starting below the deepest directory `known`
/// walked that lies above it: that one and those above it were judged with
/// the same rules already, and their descriptors are reused, not reopened.
/// Returns what the walk below found and opened.
pub fn walk_chain_below(path: &Path, rules: &TrustRules, known: &Walked) -> Result<Walked> {
    let start = known
        .dirs
        .iter()
        .filter(|(dir, _, _)| path.starts_with(dir) && path != dir)
        .max_by_key(|(dir, _, _)| dir.components().count());
    let Some((start_path, start_fd, _)) = start else {
        return walk_chain(path, rules);
    };
    let io_error = |path: &Path, e: nix::Error| Error::PrefixAccess {
        path: path.to_owned(),
        source: e.into(),
    };
    let rest: Vec<&OsStr> = path
        .strip_prefix(start_path)
        .unwrap_or(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let mut findings = Vec::new();
    let mut dirs: Vec<(PathBuf, OwnedFd, bool)> = Vec::new();
    let mut walked = start_path.clone();
    let mut last_st = None;
    for (i, name) in rest.iter().enumerate() {
        let parent = dirs.last().map_or(start_fd.as_fd(), |(_, fd, _)| fd.as_fd());
        let (next, listable) = open_step(Some(parent), name).map_err(|e| io_error(&walked.join(name), e))?;
        walked.push(name);
        let st = fstat(&next).map_err(|e| io_error(&walked, e))?;
        findings.extend(judge_fd(&walked, next.as_fd(), &st, rules, i + 1 < rest.len()));
        dirs.push((walked.clone(), next, listable));
        last_st = Some(st);
    }
    match last_st {
        Some(st) => Ok(Walked {
            findings,
            dirs,
            st,
            held: Vec::new(),
        }),
        None => walk_chain(path, rules),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(mode: u32, uid: u32, gid: u32) -> Meta {
        Meta { mode, uid, gid }
    }

    fn rules() -> TrustRules {
        TrustRules {
            owners: vec![0, 1000],
            groups: vec![50],
        }
    }

    #[test]
    fn judges_owner_group_and_world_write() {
        let p = Path::new("/x");
        assert_eq!(judge(p, st(libc::S_IFDIR | 0o755, 0, 0), &rules(), false), None);
        assert_eq!(
            judge(p, st(libc::S_IFDIR | 0o755, 7, 0), &rules(), false)
                .unwrap()
                .problem,
            Weakness::UntrustedOwner
        );
        assert_eq!(
            judge(p, st(libc::S_IFDIR | 0o775, 0, 9), &rules(), false)
                .unwrap()
                .problem,
            Weakness::GroupWritable
        );
        assert_eq!(judge(p, st(libc::S_IFDIR | 0o775, 0, 50), &rules(), false), None);
        assert_eq!(
            judge(p, st(libc::S_IFDIR | 0o757, 0, 0), &rules(), false)
                .unwrap()
                .problem,
            Weakness::WorldWritable
        );
        assert_eq!(
            judge(p, st(libc::S_IFLNK | 0o777, 0, 0), &rules(), false)
                .unwrap()
                .problem,
            Weakness::Symlink
        );
    }

    #[test]
    fn sticky_world_writable_ancestor_is_accepted() {
        let p = Path::new("/tmp");
        assert_eq!(judge(p, st(libc::S_IFDIR | 0o1777, 0, 0), &rules(), true), None);
        assert!(judge(p, st(libc::S_IFDIR | 0o0777, 0, 0), &rules(), true).is_some());
        // the prefix itself is never allowed to be world-writable
        assert!(judge(p, st(libc::S_IFDIR | 0o1777, 0, 0), &rules(), false).is_some());
    }

    fn acl_bytes(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut bytes = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            bytes.extend_from_slice(&tag.to_le_bytes());
            bytes.extend_from_slice(&perm.to_le_bytes());
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn an_acl_granting_write_to_an_untrusted_user_or_group_is_found() {
        let p = Path::new("/env/bin");
        // user::rwx user:carol:rwx group::r-x mask::rwx other::r-x
        let acl = Acl::parse(&acl_bytes(&[
            (1, 7, u32::MAX),
            (2, 7, 4242),
            (4, 5, u32::MAX),
            (0x10, 7, u32::MAX),
            (0x20, 5, u32::MAX),
        ]))
        .unwrap();
        let meta = st(libc::S_IFDIR | 0o775, 0, 9);
        assert_eq!(
            judge_with_acl(p, meta, Some(&acl), &rules(), false)
                .unwrap()
                .problem,
            Weakness::AclUser(4242)
        );
        // the mask takes write away from everyone named: nothing to find
        let masked = Acl::parse(&acl_bytes(&[(2, 7, 4242), (4, 5, u32::MAX), (0x10, 5, u32::MAX)])).unwrap();
        assert_eq!(
            judge_with_acl(p, st(libc::S_IFDIR | 0o755, 0, 9), Some(&masked), &rules(), false),
            None
        );
        // a trusted user named: fine; a named group not trusted: found
        let group = Acl::parse(&acl_bytes(&[
            (2, 7, 1000),
            (8, 7, 77),
            (4, 5, u32::MAX),
            (0x10, 7, u32::MAX),
        ]))
        .unwrap();
        assert_eq!(
            judge_with_acl(p, meta, Some(&group), &rules(), false)
                .unwrap()
                .problem,
            Weakness::AclGroup(77)
        );
        assert!(Acl::parse(b"\x01\x00\x00\x00").is_none());
    }

    #[test]
    fn fixes_are_commands() {
        let f = UntrustedPath {
            path: "/opt/envs/cv/bin".into(),
            problem: Weakness::GroupWritable,
            uid: 0,
            gid: 0,
            mode: libc::S_IFDIR | 0o2775,
        };
        assert_eq!(f.fix(), "chmod g-w /opt/envs/cv/bin");
        let f = UntrustedPath {
            path: "/a b".into(),
            ..f
        };
        assert_eq!(f.fix(), "chmod g-w '/a b'");
    }
}
