//! Whether what shapes a run can be trusted: every path of an env whose
//! content reaches a run (the chain from `/`, `bin/`, `conda-meta/`, the
//! activation scripts and variable files), the command itself, judged by
//! ownership and permissions ([`crate::system::permissions`]) with the rules
//! that apply to the env; and where root may write by path.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, FileStat, Mode};

use crate::conda::files::PrefixDir;
use crate::conda::{ActivationPlan, ResolvedEnv};
use crate::config::{Config, Principal};
use crate::error::{Error, Result};
use crate::identity::{account_of, Identity};
use crate::system::environ::Environ;
use crate::system::output::{warning, Described};
use crate::system::permissions::{
    check_chain, judge_fd, open_nofollow, walk_chain, walk_chain_below, TrustRules, UntrustedPath, Walked,
};

/// The identity of a checked directory, to see later that it was not swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    fn of(st: &FileStat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// The outcome of checking an env: what failed, the identities of the
/// prefix and its `bin/` as checked, and the directories walked from `/` to
/// the prefix, still open (the Landlock rule lists them).
#[derive(Debug)]
pub struct EnvCheck {
    pub findings: Vec<UntrustedPath>,
    pub prefix: PathBuf,
    pub prefix_id: FileId,
    pub bin_id: Option<FileId>,
    /// The directories above the prefix, as walked.
    pub walked: Walked,
    /// The prefix as opened by the walk, with what the check found missing
    /// below it: activation reads through it.
    pub prefix_dir: Option<PrefixDir>,
}

/// Where root may create, change and remove files by path: `target` (which
/// need not exist yet) and every directory from `/` down to it, or to its
/// deepest existing ancestor, must be root's and writable by no one else
/// (a sticky directory such as /tmp only above that). Otherwise another user
/// could swap a directory there for a symlink between root's check and its
/// write, and root would write or chmod wherever the link points. For an
/// ordinary caller, who writes with their own rights anyway, nothing to check.
pub fn require_roots_own_tree(target: &Path) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let mut existing = target;
    while std::fs::symlink_metadata(existing).is_err() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => return Ok(()),
        }
    }
    // root's group is root's, as sudo judges sudoers
    let rules = TrustRules {
        owners: vec![0],
        groups: vec![0],
    };
    match check_chain(existing, &rules)?.first() {
        None => Ok(()),
        Some(finding) => Err(Error::Trust(format!(
            "refusing to write into {} as root: {finding}. As root, cenv creates, changes and removes files only \
             in directories no other user can change (another user could swap one for a link to anywhere \
             between root's check and its write): run the command as that directory's owner, or make the \
             directories root's",
            target.display()
        ))),
    }
}

/// The directories of an env whose contents shape a run.
pub const JUDGED_DIRS: [&str; 7] = [
    "bin",
    "conda-meta",
    "etc",
    "etc/conda",
    "etc/conda/activate.d",
    "etc/conda/deactivate.d",
    "etc/conda/env_vars.d",
];

/// Checks everything of an env whose content reaches a run: every ancestor
/// of `prefix` from `/`, the prefix, the directories in [`JUDGED_DIRS`],
/// `conda-meta/state`, every file in `env_vars.d/`, and the activate.d and
/// deactivate.d scripts. Each is opened without following symlinks and
/// judged through its descriptor, ACL included; a symlink among them is a
/// finding (cenv's readers refuse them too).
pub fn check_env(prefix: &Path, rules: &TrustRules) -> Result<EnvCheck> {
    let mut walked = walk_chain(prefix, rules)?;
    let mut findings = std::mem::take(&mut walked.findings);
    let prefix_id = FileId::of(&walked.st);
    if walked.st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Ok(EnvCheck {
            findings,
            prefix: prefix.to_owned(),
            prefix_id,
            bin_id: None,
            walked,
            prefix_dir: None,
        });
    }
    let current = walked.last();
    let mut missing: Vec<String> = Vec::new();
    let mut bin_id = None;
    // each directory is opened from its parent's descriptor, once; a missing
    // `etc` spares the three below it
    let mut opened: Vec<(&str, OwnedFd)> = Vec::new();
    for sub in JUDGED_DIRS {
        let path = prefix.join(sub);
        let (parent, name) = sub.rsplit_once('/').unwrap_or(("", sub));
        let parent_fd = match parent {
            "" => Some(current),
            parent => opened.iter().find(|(p, _)| *p == parent).map(|(_, fd)| fd),
        };
        let Some(parent_fd) = parent_fd else {
            continue;
        };
        let fd = match open_nofollow(parent_fd, OsStr::new(name)) {
            Ok(fd) => fd,
            Err(nix::Error::ENOENT) => {
                missing.push(sub.to_owned());
                continue;
            }
            Err(_) => continue,
        };
        let Ok(sub_st) = fstat(&fd) else {
            continue;
        };
        findings.extend(judge_fd(&path, fd.as_fd(), &sub_st, rules, false));
        if sub == "bin" {
            bin_id = Some(FileId::of(&sub_st));
        }
        if sub_st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            continue;
        }
        let judged_files: Vec<std::ffi::OsString> = match sub {
            "conda-meta" => vec!["state".into()],
            "etc/conda/env_vars.d" => list_names(&fd),
            "etc/conda/activate.d" | "etc/conda/deactivate.d" => list_names(&fd)
                .into_iter()
                .filter(|n| {
                    let n = n.as_encoded_bytes();
                    n.ends_with(b".sh") || n.ends_with(b".fish")
                })
                .collect(),
            _ => Vec::new(),
        };
        for name in judged_files {
            let file_fd = open_nofollow(&fd, &name);
            if matches!(file_fd, Err(nix::Error::ENOENT)) {
                missing.push(format!("{sub}/{}", name.to_string_lossy()));
            }
            if let Ok(file_fd) = file_fd {
                if let Ok(file_st) = fstat(&file_fd) {
                    findings.extend(judge_fd(
                        &path.join(&name),
                        file_fd.as_fd(),
                        &file_st,
                        rules,
                        false,
                    ));
                }
            }
        }
        opened.push((sub, fd));
    }
    // the subdirectories' descriptors are closed by the exec, not one by one
    walked.keep(opened.into_iter().map(|(_, fd)| fd));
    let prefix_dir = walked
        .take_last()
        .map(|fd| PrefixDir::from_opened(prefix, fd, missing));
    Ok(EnvCheck {
        findings,
        prefix: prefix.to_owned(),
        prefix_id,
        bin_id,
        walked,
        prefix_dir,
    })
}

/// The entries of the directory `fd` (an `O_PATH` descriptor) refers to.
fn list_names(fd: &OwnedFd) -> Vec<std::ffi::OsString> {
    let Ok(dir) = nix::dir::Dir::openat(
        fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return Vec::new();
    };
    let mut names: Vec<std::ffi::OsString> = dir
        .into_iter()
        .flatten()
        .map(|e| std::ffi::OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    names
}

/// How the command is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecBy {
    /// By its path, as a shell would: the command lies outside the env
    /// (cenv makes no claim about it), or every directory its path goes
    /// through — symlinks followed — was judged and found trustworthy, so
    /// no one untrusted can change what the path names between the check
    /// and the exec. A script sees its own path (`__file__`, `$0`).
    Path,
    /// Through the descriptor that was judged (execveat, `AT_EMPTY_PATH`):
    /// a finding was accepted (`strict_permissions = false`), so someone
    /// untrusted may be able to swap the file, or the path goes through a
    /// directory the check did not judge. A script sees `/dev/fd/N`.
    Descriptor,
}

/// The command about to run, opened: the descriptor that was judged, how
/// it is executed, whether it is a `#!` script, and what the trust check
/// found in it.
#[derive(Debug)]
pub struct CheckedCommand {
    pub path: PathBuf,
    pub fd: OwnedFd,
    pub exec_by: ExecBy,
    pub is_script: bool,
    /// Whether it lies in the env (then it was judged).
    pub in_env: bool,
    pub findings: Vec<UntrustedPath>,
    /// The directories walked above it, held until the exec closes them.
    _walked: Option<Walked>,
}

impl Described for CheckedCommand {
    fn step(&self) -> &'static str {
        "command"
    }

    fn describe(&self) -> String {
        let how = match (self.exec_by, self.in_env) {
            (ExecBy::Path, true) => {
                "executed by its path: every directory the path goes through was judged, so no one untrusted can \
                 swap what it names"
            }
            (ExecBy::Path, false) => "outside the env, executed by its path as a shell would",
            (ExecBy::Descriptor, _) => {
                "executed through the descriptor that was judged (its path goes through something untrusted or \
                 not judged)"
            }
        };
        format!(
            "{}{}, {how}",
            self.path.display(),
            if self.is_script { " (a #! script)" } else { "" }
        )
    }
}

/// Opens the command `program` (as found in the activated PATH) and, when
/// it lies in the env, judges the very file opened — through its
/// descriptor, ACL included — and every directory above the file it
/// resolves to. Then decides how it is executed ([`ExecBy`]): by its path
/// when nothing untrusted can change what the path names, otherwise
/// through the descriptor judged, so nothing can be swapped in between the
/// check and the exec.
pub fn open_command(program: &Path, check: &EnvCheck, rules: &TrustRules) -> Result<CheckedCommand> {
    let cannot = |e: nix::Error| match e {
        nix::Error::ENOENT => Error::CommandNotFound {
            command: program.display().to_string(),
            path: "it disappeared before it could be run".into(),
        },
        other => Error::CommandNotExecutable {
            path: program.to_owned(),
            reason: format!("cannot execute: {}", other.desc()),
        },
    };
    let readable = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    // an execute-only file cannot be opened for reading: O_PATH still
    // executes (it cannot be a script then: an interpreter must read it)
    let (fd, readable) = match nix::fcntl::open(program, readable, Mode::empty()) {
        Ok(fd) => (fd, true),
        Err(nix::Error::EACCES) => (
            nix::fcntl::open(program, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).map_err(cannot)?,
            false,
        ),
        Err(e) => return Err(cannot(e)),
    };
    let st = fstat(&fd).map_err(cannot)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::CommandNotExecutable {
            path: program.to_owned(),
            reason: "cannot execute: not a regular file".into(),
        });
    }
    let is_script = readable && {
        let mut magic = [0u8; 2];
        nix::sys::uio::pread(&fd, &mut magic, 0).is_ok_and(|n| n == 2) && magic == *b"#!"
    };
    // what the kernel calls the file opened; without /proc, the path as
    // given — and then the command cannot run by its path (below)
    let named = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd))).ok();
    let real = named.clone().unwrap_or_else(|| program.to_owned());
    let inside = program.starts_with(&check.prefix) || real.starts_with(&check.prefix);
    let mut findings = Vec::new();
    let mut walked = None;
    if inside {
        if let Some(dir) = real.parent() {
            // the prefix's own ancestors were judged already: the walk
            // starts below the deepest of them above the file
            let mut below = walk_chain_below(dir, rules, &check.walked)?;
            let above_prefix = |p: &Path| check.prefix.starts_with(p) && p != check.prefix;
            findings.extend(
                std::mem::take(&mut below.findings)
                    .into_iter()
                    .filter(|f| !above_prefix(&f.path)),
            );
            walked = Some(below);
        }
        findings.extend(judge_fd(&real, fd.as_fd(), &st, rules, false));
    }
    let exec_by = if !inside
        || (check.findings.is_empty()
            && findings.is_empty()
            && named.is_some()
            && resolves_within_judged(program, &real, check, rules))
    {
        ExecBy::Path
    } else {
        ExecBy::Descriptor
    };
    Ok(CheckedCommand {
        path: program.to_owned(),
        fd,
        exec_by,
        is_script,
        findings,
        in_env: inside,
        _walked: walked,
    })
}

/// The most symlinks followed from the command's path to its file.
const MAX_LINKS: usize = 8;

/// Whether resolving `program` to `real` (the file judged) consults only
/// directories the check judged: the prefix and its ancestors, `bin/`, and
/// `real`'s ancestors. Each is a canonical path, so its own resolution
/// follows no symlink, and the set is closed under `..`. Every symlink on
/// the way must lie in one of them, its target made of leading `..` and
/// then plain names — with `..` after a name, the kernel's answer (the
/// physical parent) and this lexical one could differ — and be owned by a
/// trusted owner (in a sticky directory others may write, only a link's
/// owner can replace it). The path reached must be `real` itself: a
/// canonical path has no symlink in it, so the plain names walked down were
/// not symlinks either. Then no one untrusted can change what `program`
/// names; exec checks just before the exec that it still names the file
/// judged.
fn resolves_within_judged(program: &Path, real: &Path, check: &EnvCheck, rules: &TrustRules) -> bool {
    let bin = check.prefix.join("bin");
    let judged_dir = |dir: &Path| {
        (check.bin_id.is_some() && dir == bin)
            || check.prefix.starts_with(dir)
            || real.parent().is_some_and(|p| p.starts_with(dir))
    };
    let mut current = program.to_owned();
    for _ in 0..=MAX_LINKS {
        if !current.is_absolute() {
            return false;
        }
        let Some(dir) = current.parent() else {
            return false;
        };
        if !judged_dir(dir) {
            return false;
        }
        if current == real {
            return true;
        }
        // A judged directory may be sticky and writable by others (as /tmp):
        // there, only a link's owner can replace it, so the owner must be
        // trusted too. The kernel's protected_symlinks covers
        // world-writable sticky directories only, not group-writable ones.
        match nix::sys::stat::lstat(&current) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK && rules.owners.contains(&st.st_uid) => {}
            _ => return false,
        }
        let Ok(target) = std::fs::read_link(&current) else {
            return false;
        };
        let mut next = dir.to_owned();
        let mut descending = false;
        for part in target.components() {
            match part {
                std::path::Component::RootDir => next = PathBuf::from("/"),
                std::path::Component::ParentDir if !descending => {
                    next.pop();
                }
                std::path::Component::Normal(name) => {
                    descending = true;
                    next.push(name);
                }
                std::path::Component::CurDir => {}
                _ => return false,
            }
        }
        current = next;
    }
    false
}

/// Verifies that the prefix and its `bin/` are still the directories that
/// were checked: a component swapped (for a symlink, say) since then is
/// refused rather than followed.
pub fn verify_unchanged(check: &EnvCheck) -> Result<()> {
    let changed = |path: &Path| {
        Error::Trust(format!(
        "{} changed after cenv checked it (it is now a different file or a symlink); refusing to follow it",
        path.display()
    ))
    };
    let id_of = |path: &Path| {
        std::fs::symlink_metadata(path)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| FileId {
                dev: m.dev(),
                ino: m.ino(),
            })
    };
    if id_of(&check.prefix) != Some(check.prefix_id) {
        return Err(changed(&check.prefix));
    }
    let bin = check.prefix.join("bin");
    if check.bin_id.is_some() && id_of(&bin) != check.bin_id {
        return Err(changed(&bin));
    }
    Ok(())
}

/// The rules an env is judged by. Trusted owners: root, the user the
/// command runs as, and the configured `trusted_owners` — by default the
/// owner of the envs directory holding the env (for the base install, its
/// own owner). Trusted groups: `trusted_groups`.
pub fn rules_for(config: &Config, env: &ResolvedEnv, identity: &Identity, is_base: bool) -> TrustRules {
    let mut owners = vec![0];
    if let Some(account) = account_of(identity) {
        owners.push(account.uid);
    }
    match &config.trusted_owners {
        Some(listed) => owners.extend(listed.iter().filter_map(Principal::uid)),
        None => {
            let root = if is_base {
                Some(env.prefix.as_path())
            } else {
                env.prefix.parent()
            };
            owners.extend(root.and_then(|r| std::fs::metadata(r).ok()).map(|m| m.uid()));
        }
    }
    owners.sort_unstable();
    owners.dedup();
    TrustRules {
        owners,
        groups: config.trusted_groups.iter().filter_map(Principal::gid).collect(),
    }
}

/// What the check of an env found, under which rules — as `-v` tells it.
#[derive(Debug)]
pub struct TrustVerdict<'a> {
    pub check: &'a EnvCheck,
    pub rules: &'a TrustRules,
    pub strict: bool,
}

impl Described for TrustVerdict<'_> {
    fn step(&self) -> &'static str {
        "trust"
    }

    fn describe(&self) -> String {
        match self.check.findings.len() {
            0 => format!(
                "trusted: owners {:?} (uids), trusted groups {:?} (gids); no path writable by anyone else",
                self.rules.owners, self.rules.groups
            ),
            n => format!("{n} findings, strict_permissions = {}", self.strict),
        }
    }
}

/// Refuses on findings when `strict_permissions` is on; warns otherwise.
pub fn judge_findings(env: &ResolvedEnv, findings: &[UntrustedPath], strict: bool) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let text = findings
        .iter()
        .map(UntrustedPath::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if strict {
        let first = &findings[0];
        return Err(Error::Untrusted {
            env: env.requested.clone(),
            findings: text,
            reason: format!("untrusted env: {} {}", first.path.display(), first.why()),
        });
    }
    warning(&format!(
        "env '{}' would be refused with strict_permissions: {text}",
        crate::system::escape::text(&env.requested)
    ));
    Ok(())
}

/// Judges the env at `prefix` (canonical) by the rules a run of it would
/// be judged by: refused on findings with `strict_permissions`, else
/// warned about. For scripts sourced outside a run of that env: an old
/// env's deactivate.d, and what `cenv deactivate` sources.
pub fn judge_env_at(prefix: &Path, config: &Config, identity: &Identity) -> Result<()> {
    let env = ResolvedEnv {
        requested: prefix.display().to_string(),
        prefix: prefix.to_owned(),
    };
    let is_base = config.settings_for(&env.prefix).key == "base";
    let rules = rules_for(config, &env, identity, is_base);
    let check = check_env(&env.prefix, &rules)?;
    judge_findings(&env, &check.findings, config.strict_permissions)
}

/// The env already active in the caller's environment (`CONDA_PREFIX`) has
/// its deactivate.d scripts sourced first, as conda does: they shape the
/// run too, so that env is judged by the same rules before they run.
pub fn check_previous_env(
    plan: &ActivationPlan,
    env: &ResolvedEnv,
    config: &Config,
    identity: &Identity,
    environ: &Environ,
) -> Result<()> {
    if plan.deactivate_scripts.is_empty() {
        return Ok(());
    }
    let Some(old) = environ
        .get("CONDA_PREFIX")
        .and_then(|p| crate::system::paths::canonical(p).ok())
    else {
        return Ok(());
    };
    if old == env.prefix {
        return Ok(());
    }
    judge_env_at(&old, config, identity)
}
