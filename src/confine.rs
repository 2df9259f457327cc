//! Confinement of everything the run starts: umask, no_new_privs, and a
//! Landlock rule that makes the env (and the package cache it is hard-linked
//! from) read-only while leaving every other write as it was.
//!
//! Landlock can only grant, never deny a subtree of a granted directory. So the
//! rule handles only the write-class filesystem rights (pinned below — never
//! "all rights of the newest ABI", which would also block connecting to unix
//! sockets such as /dev/log) and grants them on every entry of every ancestor
//! of each read-only tree, except the entries that lead toward a read-only
//! tree. The ancestors themselves get no grant: creating or removing entries
//! directly in them is denied for the run.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ::landlock::{AccessFs, BitFlags};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use std::os::unix::fs::MetadataExt;

use crate::conda::ResolvedEnv;
use crate::config::{parse_umask, Config, EffectiveSettings, LandlockMode};
use crate::error::{Error, Result};
use crate::identity::{account_of, Identity};
use crate::system::environ::Environ;
use crate::system::mounts::Mounts;
use crate::system::output::Described;
use crate::system::permissions::Walked;
use crate::system::sys::landlock;

/// The write-class rights the rule handles, pinned. Reading, executing,
/// ioctl, networking and unix-socket rights are never handled, so they stay
/// exactly as file permissions allow.
pub fn handled_write_rights() -> BitFlags<AccessFs> {
    AccessFs::WriteFile
        | AccessFs::RemoveDir
        | AccessFs::RemoveFile
        | AccessFs::MakeChar
        | AccessFs::MakeDir
        | AccessFs::MakeReg
        | AccessFs::MakeSock
        | AccessFs::MakeFifo
        | AccessFs::MakeBlock
        | AccessFs::MakeSym
        | AccessFs::Refer
        | AccessFs::Truncate
}

/// The subset of [`handled_write_rights`] that applies to a file (not a directory).
fn file_write_rights() -> BitFlags<AccessFs> {
    AccessFs::WriteFile | AccessFs::Truncate
}

/// What the Landlock step achieved, for messages and the audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandlockOutcome {
    Enforced {
        abi: i32,
    },
    Partial {
        abi: i32,
    },
    /// `landlock = "off"`.
    Off,
    /// Nothing to make read-only (the env is the caller's own and no shared
    /// tree exists): no rule applied.
    NothingReadOnly,
    /// best-effort on a kernel without Landlock.
    Unavailable,
}

impl fmt::Display for LandlockOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LandlockOutcome::Enforced { abi } => write!(f, "enforced (ABI {abi})"),
            LandlockOutcome::Partial { abi } => write!(f, "partial (ABI {abi})"),
            LandlockOutcome::Off => f.write_str("off"),
            LandlockOutcome::NothingReadOnly => f.write_str("not applied (nothing to make read-only)"),
            LandlockOutcome::Unavailable => f.write_str("unavailable"),
        }
    }
}

/// The umask of the run: the caller's own and the configured one together
/// (a run's files are never more readable than either would make them),
/// plus any bits `--umask` adds. A request looser than the configured umask
/// is refused, so that the caller learns it had no effect.
pub fn effective_umask(configured: u32, caller: u32, requested: Option<&str>) -> Result<u32> {
    let base = configured | caller;
    let Some(text) = requested else {
        return Ok(base);
    };
    let mask = parse_umask(text).map_err(Error::Usage)?;
    if mask & configured != configured {
        return Err(Error::Usage(format!(
            "--umask {text} is looser than the configured umask {configured:03o}: it may only add bits \
             (try --umask {:03o})",
            mask | configured
        )));
    }
    Ok(base | mask)
}

/// The umask this process was started with. Reading it means setting one:
/// the strictest (077) stays until [`apply_umask`] sets the run's, so that
/// nothing in between creates a file more readable than the run's would be.
pub fn caller_umask() -> u32 {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077)).bits()
}

pub fn apply_umask(mask: u32) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
}

/// Sets PR_SET_NO_NEW_PRIVS: from here on, setuid bits and file capabilities
/// grant nothing to this process or anything it executes.
pub fn set_no_new_privs() -> Result<()> {
    // prctl(2) either sets it or fails: there is no partial success to
    // read back (and the tests read /proc/self/status of the command)
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| Error::Confinement(format!("cannot set no_new_privs: {e}")))
}

/// A place a run must always be able to create and remove entries in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPlace {
    /// "home directory", "working directory", "temporary directory".
    pub what: &'static str,
    pub path: PathBuf,
}

/// What the Landlock rule will protect, decided from paths before it is
/// built, with the reasons for what it cannot protect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOnlyPlan {
    /// The trees made read-only: canonical, with their bind-mount aliases.
    pub trees: Vec<PathBuf>,
    /// Why the env itself is not read-only, when it is not.
    pub env_writable_because: Option<String>,
    /// Own places that lose the right to create or remove entries directly
    /// in them (they hold a shared read-only tree), or that lie in one.
    pub places_restricted: Vec<String>,
    /// The mount table the plan was made with.
    pub mounts: Mounts,
}

impl ReadOnlyPlan {
    /// Decides the read-only trees of a run.
    ///
    /// Landlock can only grant: a grant on a directory covers everything
    /// below it, so a directory above a read-only tree gets no grant of its
    /// own, and entries cannot be created or removed directly in it. Hence:
    /// - `shared` trees (the configured envs roots, the base install, the
    ///   package cache, `readonly_paths`) are always read-only — if one of
    ///   the caller's own places holds one (a working directory of `/` or
    ///   `/opt`), that place loses direct creation, and the plan says so;
    /// - the env (when not inside a shared tree) is read-only too, unless it
    ///   is the caller's own (`env_is_own`: a user's own env is theirs) or
    ///   lies below one of the caller's own places (home, working directory,
    ///   temporary directory), which must stay writable: then the env is
    ///   left writable and the plan says why.
    pub fn decide(env: &Path, env_is_own: bool, shared: &[PathBuf], places: &[OwnPlace]) -> ReadOnlyPlan {
        let mut trees: Vec<PathBuf> = shared
            .iter()
            .filter_map(|p| crate::system::paths::canonical(p).ok())
            .collect();
        let mut plan = ReadOnlyPlan::default();
        let in_shared = trees.iter().any(|t| env.starts_with(t));
        if !in_shared {
            let holding_place = places.iter().find(|p| env.starts_with(&p.path) && env != p.path);
            if env_is_own {
                plan.env_writable_because = Some("it is your own env".into());
            } else if let Some(place) = holding_place {
                plan.env_writable_because = Some(format!(
                    "it lies in your {} {}, which must stay writable",
                    place.what,
                    place.path.display()
                ));
            } else {
                trees.push(env.to_owned());
            }
        }
        let mounts = Mounts::current();
        let aliases: Vec<PathBuf> = trees.iter().flat_map(|p| mounts.aliases(p)).collect();
        trees.extend(aliases);
        trees.sort();
        trees.dedup();
        for place in places {
            if let Some(tree) = trees.iter().find(|t| place.path.starts_with(t)) {
                plan.places_restricted.push(format!(
                    "your {} {} lies in the read-only {}",
                    place.what,
                    place.path.display(),
                    tree.display()
                ));
            } else if let Some(tree) = trees.iter().find(|t| t.starts_with(&place.path)) {
                plan.places_restricted.push(format!(
                    "no new entries directly in your {} {}: it holds the read-only {}",
                    place.what,
                    place.path.display(),
                    tree.display()
                ));
            }
        }
        plan.trees = trees;
        plan.mounts = mounts;
        plan
    }

    /// A few words for the audit line's `LANDLOCK=` field, after the outcome.
    pub fn summary(&self) -> String {
        match &self.env_writable_because {
            Some(why) => format!("env writable: {why}"),
            None => "env read-only".into(),
        }
    }
}

/// A directory on the way to a read-only tree: every entry in it gets a grant
/// except the `skip` ones, which lead toward (or are) a read-only tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantDir {
    pub dir: PathBuf,
    pub skip: Vec<OsString>,
}

/// Where the rule's grants go (see the module comment); computed from paths
/// alone. Directories inside a read-only tree are never listed.
pub fn read_only_landlock_rules(read_only: &[PathBuf]) -> Vec<GrantDir> {
    let inside_read_only = |p: &Path| read_only.iter().any(|r| p.starts_with(r));
    let mut dirs: Vec<GrantDir> = Vec::new();
    for r in read_only {
        let mut child = r.as_path();
        while let Some(parent) = child.parent() {
            let name = child.file_name().map(OsStr::to_owned).unwrap_or_default();
            if !inside_read_only(parent) {
                match dirs.iter_mut().find(|d| d.dir == parent) {
                    Some(d) if !d.skip.contains(&name) => d.skip.push(name),
                    Some(_) => {}
                    None => dirs.push(GrantDir {
                        dir: parent.to_owned(),
                        skip: vec![name],
                    }),
                }
            }
            child = parent;
        }
    }
    dirs
}

/// Calls `grant` with each entry of `dir` that gets a grant: an `O_PATH`
/// descriptor opened relative to the directory (no symlink followed) and
/// whether it is a directory. Symlinks get no grant: they are judged by the
/// real path they lead to, which gets (or does not get) its own grant.
/// A directory the trust check walked is listed through the descriptor it
/// opened (`opened`), not opened again.
fn for_each_grant(
    dir: &GrantDir,
    opened: Option<&Walked>,
    mounts: Option<&Mounts>,
    mut grant: impl FnMut(&OsStr, OwnedFd, bool) -> Result<()>,
) -> Result<()> {
    let owned;
    let dir_fd = match opened.and_then(|w| w.listable(&dir.dir)) {
        Some(fd) => fd.as_fd(),
        None => {
            // A directory the caller cannot list gets no grants: stricter,
            // never looser.
            let Ok(fd) = nix::fcntl::open(
                &dir.dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) else {
                return Ok(());
            };
            owned = fd;
            owned.as_fd()
        }
    };
    let fills = mounts.is_some_and(|m| m.fills_getdents(&dir.dir));
    let Ok(entries) = crate::system::sys::directory_entries(dir_fd, fills) else {
        return Ok(());
    };
    for (name, d_type) in entries {
        if d_type == libc::DT_LNK || dir.skip.contains(&name) {
            continue;
        }
        let Ok(fd) = openat(
            dir_fd,
            name.as_os_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) else {
            // vanished since listing: nothing to grant
            continue;
        };
        let is_dir = match d_type {
            libc::DT_DIR => true,
            libc::DT_UNKNOWN => match nix::sys::stat::fstat(&fd) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => continue,
                Ok(st) => st.st_mode & libc::S_IFMT == libc::S_IFDIR,
                Err(_) => continue,
            },
            _ => false,
        };
        grant(&name, fd, is_dir)?;
    }
    Ok(())
}

/// The paths that get a grant, listed (for the tests).
#[cfg(test)]
fn granted_paths(read_only: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for dir in read_only_landlock_rules(read_only) {
        let _ = for_each_grant(&dir, None, None, |name, _, _| {
            paths.push(dir.dir.join(name));
            Ok(())
        });
    }
    paths
}

/// At most this many granted descriptors stay open until exec (the rest are
/// closed at once), so that a low RLIMIT_NOFILE is never exhausted by them.
const KEPT_GRANT_DESCRIPTORS: usize = 64;

/// The handled rights this kernel's Landlock ABI supports: REFER came with
/// ABI 2, TRUNCATE with ABI 3.
fn supported_write_rights(abi: i32) -> BitFlags<AccessFs> {
    let mut rights = handled_write_rights();
    if abi < 2 {
        rights.remove(AccessFs::Refer);
    }
    if abi < 3 {
        rights.remove(AccessFs::Truncate);
    }
    rights
}

/// Applies the rule. Must be the last step before activation scripts and
/// exec, in a single-threaded process (before Landlock ABI 8, restrict_self
/// only restricts the calling thread), after no_new_privs. The directories
/// the trust check walked (`opened`) are listed through its descriptors.
pub fn restrict_writes(
    mode: LandlockMode,
    plan: &ReadOnlyPlan,
    opened: Option<&Walked>,
) -> Result<LandlockOutcome> {
    if mode == LandlockMode::Off {
        return Ok(LandlockOutcome::Off);
    }
    let read_only = &plan.trees;
    if read_only.is_empty() {
        // a ruleset without grants would deny every write
        return Ok(LandlockOutcome::NothingReadOnly);
    }
    let fail = |what: String| {
        Error::Confinement(format!(
            "Landlock cannot make the env read-only: {what} (set landlock = \"best-effort\" in the config \
             to run without full enforcement)"
        ))
    };
    let abi = match landlock::abi_version() {
        Ok(abi) => abi,
        Err(e) if mode == LandlockMode::Enforce => {
            return Err(fail(format!("this kernel does not provide Landlock ({e})")));
        }
        Err(_) => return Ok(LandlockOutcome::Unavailable),
    };
    let handled = supported_write_rights(abi);
    let complete = handled == handled_write_rights();
    if !complete && mode == LandlockMode::Enforce {
        let missing = handled_write_rights() & !handled;
        return Err(fail(format!(
            "this kernel's Landlock ABI {abi} cannot restrict {missing:?}"
        )));
    }
    let ruleset = landlock::create_ruleset(handled.bits(), 0)
        .map_err(|e| fail(format!("creating the ruleset: {e}")))?;
    let file_rights = (file_write_rights() & handled).bits();
    // The granted descriptors are kept until the exec closes them
    // (close-on-exec): one close(2) less per grant, on every run.
    let mut granted: Vec<OwnedFd> = Vec::new();
    // never the upper half of the descriptors allowed: with a low
    // RLIMIT_NOFILE a grant must not fail for want of a descriptor
    let keep_below = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(0, |(soft, _)| soft / 2);
    for dir in read_only_landlock_rules(read_only) {
        for_each_grant(&dir, opened, Some(&plan.mounts), |name, fd, is_dir| {
            let rights = if is_dir { handled.bits() } else { file_rights };
            landlock::add_path_beneath(ruleset.as_fd(), fd.as_fd(), rights)
                .map_err(|e| fail(format!("{}: {e}", dir.dir.join(name).display())))?;
            if granted.len() < KEPT_GRANT_DESCRIPTORS && (fd.as_raw_fd() as u64) < keep_below {
                granted.push(fd);
            }
            Ok(())
        })?;
    }
    landlock::restrict_self(ruleset.as_fd()).map_err(|e| fail(format!("restrict_self: {e}")))?;
    crate::system::process::close_at_exec(ruleset);
    for fd in granted {
        crate::system::process::close_at_exec(fd);
    }
    Ok(if complete {
        LandlockOutcome::Enforced { abi }
    } else {
        LandlockOutcome::Partial { abi }
    })
}

/// What [`restrict_binds`] applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindOutcome {
    /// TCP bind(2) refused on every port but this one.
    OnlyPort(u16),
    /// The kernel's Landlock has no network rights (ABI < 4), or none at all.
    Unavailable,
    /// landlock = "off".
    Off,
}

impl fmt::Display for BindOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindOutcome::OnlyPort(port) => write!(f, "TCP bind only to port {port}"),
            BindOutcome::Unavailable => {
                f.write_str("TCP binds not restricted (no Landlock network rights before ABI 4)")
            }
            BindOutcome::Off => f.write_str("TCP binds not restricted (landlock = off)"),
        }
    }
}

/// Lets the run bind TCP only to `port` (`cenv notebook`: the server's own;
/// nothing a cell starts can open another listening port). A second
/// Landlock layer, stacked on the read-only rule; connecting is not
/// restricted. Landlock cannot restrict the address bound, only the port.
impl Described for BindOutcome {
    fn step(&self) -> &'static str {
        "network"
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

pub fn restrict_binds(mode: LandlockMode, port: u16) -> Result<BindOutcome> {
    if mode == LandlockMode::Off {
        return Ok(BindOutcome::Off);
    }
    match landlock::abi_version() {
        Ok(abi) if abi >= 4 => {}
        _ => return Ok(BindOutcome::Unavailable),
    }
    let fail = |what: &str, e: std::io::Error| {
        Error::Confinement(format!("Landlock cannot restrict TCP binds: {what}: {e}"))
    };
    let ruleset = landlock::create_ruleset(0, landlock::ACCESS_NET_BIND_TCP)
        .map_err(|e| fail("creating the ruleset", e))?;
    landlock::add_net_port(ruleset.as_fd(), port, landlock::ACCESS_NET_BIND_TCP)
        .map_err(|e| fail("granting the port", e))?;
    landlock::restrict_self(ruleset.as_fd()).map_err(|e| fail("restrict_self", e))?;
    Ok(BindOutcome::OnlyPort(port))
}

/// Directories a run as root itself (`allow_root = true`) may not write
/// either: uid 0 without capabilities still owns them.
const ROOT_READ_ONLY: [&str; 3] = ["/etc", "/usr", "/boot"];

/// What the Landlock rule of this run makes read-only (see
/// [`ReadOnlyPlan::decide`]): the shared trees — the configured envs roots
/// (not those a user's own config added), the base install, the package
/// cache and `readonly_paths`, and for a run as root the system's own
/// directories — and the env unless it is the caller's own or lies in one of
/// the caller's own places. `env_owner`: the prefix's owner, when the
/// trust check has it already.
pub fn read_only_plan(
    config: &Config,
    settings: &EffectiveSettings,
    identity: &Identity,
    env: &ResolvedEnv,
    env_owner: Option<u32>,
    cwd: Option<&Path>,
    environ: &Environ,
) -> ReadOnlyPlan {
    let mut shared = settings.readonly_paths.clone();
    shared.extend(
        config
            .envs_dirs
            .iter()
            .filter(|d| !config.user_envs_dirs.contains(d))
            .cloned(),
    );
    shared.extend(config.base_prefix.iter().cloned());
    let as_root = matches!(identity, Identity::Root);
    if as_root {
        shared.extend(ROOT_READ_ONLY.iter().map(PathBuf::from));
    }
    let caller_uid = account_of(identity).map(|a| a.uid);
    let env_owner = env_owner.or_else(|| std::fs::metadata(&env.prefix).ok().map(|m| m.uid()));
    let env_is_own = !as_root && env_owner.is_some() && env_owner == caller_uid;
    ReadOnlyPlan::decide(&env.prefix, env_is_own, &shared, &own_places(cwd, environ))
}

/// The places a run must always be able to create entries in: the home
/// directory, the working directory, `/tmp` and `$TMPDIR`.
fn own_places(cwd: Option<&Path>, environ: &Environ) -> Vec<OwnPlace> {
    let mut places: Vec<OwnPlace> = Vec::new();
    let candidates = [
        ("home directory", environ.get("HOME").map(PathBuf::from)),
        ("working directory", cwd.map(Path::to_path_buf)),
        ("temporary directory", Some(PathBuf::from("/tmp"))),
        ("temporary directory", environ.get("TMPDIR").map(PathBuf::from)),
    ];
    for (what, path) in candidates {
        let Some(path) = path
            .filter(|p| p.is_absolute())
            .and_then(|p| crate::system::paths::canonical(p).ok())
        else {
            continue;
        };
        if !places.iter().any(|p| p.path == path) {
            places.push(OwnPlace { what, path });
        }
    }
    places
}

/// How the umask of a run was chosen — as `-v` tells it.
#[derive(Debug)]
pub struct UmaskChoice<'a> {
    pub umask: u32,
    pub callers: u32,
    pub configured: u32,
    pub flag: Option<&'a str>,
}

impl Described for UmaskChoice<'_> {
    fn step(&self) -> &'static str {
        "umask"
    }

    fn describe(&self) -> String {
        format!(
            "{:03o} (yours {:03o} | configured {:03o}{})",
            self.umask,
            self.callers,
            self.configured,
            self.flag.map(|u| format!(" | --umask {u}")).unwrap_or_default()
        )
    }
}

/// What the Landlock rule of a run makes read-only and what the kernel
/// enforced — as `-v` tells it.
#[derive(Debug)]
pub struct LandlockDecision<'a> {
    pub outcome: &'a LandlockOutcome,
    pub mode: LandlockMode,
    pub plan: &'a ReadOnlyPlan,
}

impl Described for LandlockDecision<'_> {
    fn step(&self) -> &'static str {
        "landlock"
    }

    fn describe(&self) -> String {
        let trees: Vec<String> = self.plan.trees.iter().map(|t| t.display().to_string()).collect();
        let mut text = format!(
            "{} (landlock = {:?}); read-only: {}",
            self.outcome,
            self.mode,
            trees.join(", ")
        );
        if let Some(why) = &self.plan.env_writable_because {
            text.push_str(&format!("; the env is writable: {why}"));
        }
        for note in &self.plan.places_restricted {
            text.push_str(&format!("; {note}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umask_may_only_get_stricter() {
        assert_eq!(effective_umask(0o027, 0o022, None).unwrap(), 0o027);
        assert_eq!(effective_umask(0o027, 0o022, Some("077")).unwrap(), 0o077);
        // the caller's own stricter umask is kept
        assert_eq!(effective_umask(0o027, 0o077, None).unwrap(), 0o077);
        assert_eq!(effective_umask(0o027, 0o077, Some("027")).unwrap(), 0o077);
        let err = effective_umask(0o027, 0o022, Some("022"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("looser") && err.contains("--umask 027"), "{err}");
        assert!(effective_umask(0o027, 0o022, Some("abc")).is_err());
    }

    #[test]
    fn grants_skip_the_way_to_read_only_trees() {
        let root = std::env::temp_dir().join(format!("cenv-grants-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["envs/cv/bin", "envs/other", "pkgs/a", "work"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink(root.join("envs/cv"), root.join("link-to-cv")).unwrap();
        let read_only = vec![root.join("envs/cv"), root.join("pkgs")];
        let grants = granted_paths(&read_only);
        assert!(grants.contains(&root.join("envs/other")));
        assert!(grants.contains(&root.join("work")));
        for denied in ["envs", "envs/cv", "envs/cv/bin", "pkgs", "pkgs/a", "link-to-cv"] {
            assert!(
                !grants.contains(&root.join(denied)),
                "{denied} must not be granted"
            );
        }
        assert!(!grants.iter().any(|g| g.starts_with(root.join("envs/cv"))));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
