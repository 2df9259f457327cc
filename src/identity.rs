//! Who the caller is, and dropping to them when cenv was started by root.
//!
//! cenv is setuid-free: it refuses to run with effective ids different from
//! its real ids. An unprivileged caller is who they are. When the real uid is
//! 0, the caller is named by `--user`, else by sudo's `SUDO_UID` (also set by
//! sudo-rs), else by pkexec's `PKEXEC_UID` — a claim checked against the
//! process tree (see `delegating_user`); the user database, not the
//! environment, gives their groups. Root with nobody to drop to is refused
//! unless the config says `allow_root = true`.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::unistd::{Gid, Uid};

use crate::audit::{AuditLog, Trail};
use crate::config::{self, LoadedConfig};
use crate::error::{Error, Result};
use crate::system::environ::Environ;
use crate::system::output::Described;
use crate::system::process::Process;
use crate::system::users::user_name;
pub use crate::system::users::Account;

/// The PATH a run dropped from root gets (sudo's `secure_path` on Debian).
pub const SECURE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the run relates to root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Started by an ordinary user: nothing to drop but capabilities.
    Unprivileged {
        uid: u32,
        account: Option<Account>,
        /// The process's groups: supplementary, real and effective.
        gids: Vec<u32>,
    },
    /// Started by root on behalf of `target`, who was named by `source`.
    FromRoot {
        target: Account,
        source: &'static str,
        invoked_by: String,
    },
    /// Root running as root (`allow_root = true`), with every capability cleared.
    Root,
}

impl Identity {
    /// The user the command will run as, by name (for messages and the audit).
    pub fn user_name(&self) -> String {
        match self {
            Identity::FromRoot { target, .. } => target.name.clone(),
            Identity::Unprivileged { uid, account, .. } => account
                .as_ref()
                .map_or_else(|| uid.to_string(), |a| a.name.clone()),
            Identity::Root => "root".into(),
        }
    }

    pub fn dropped_from_root(&self) -> bool {
        matches!(self, Identity::FromRoot { .. })
    }
}

impl Described for Identity {
    fn step(&self) -> &'static str {
        "caller"
    }

    fn describe(&self) -> String {
        match self {
            Identity::Unprivileged { uid, .. } => format!("{} (uid {uid}), unprivileged", self.user_name()),
            Identity::FromRoot {
                target,
                source,
                invoked_by,
            } => format!(
                "started by root for {} (uid {}, named by {source}; invoked by {invoked_by}): dropping to them",
                target.name, target.uid
            ),
            Identity::Root => "root itself, allow_root = true: every capability cleared".into(),
        }
    }
}

/// Who the caller is, under which config: established before anything about
/// an env is looked at, and before privilege is dropped.
#[derive(Debug)]
pub struct Caller {
    pub loaded: LoadedConfig,
    pub identity: Identity,
}

/// refuse a setuid install → load the trusted config → require the audit
/// daemon if the config says so → identify the caller. Fills the trail's
/// USER (and the invoker, for an ordinary caller). `explain` is shown each
/// decision as it is made.
pub fn establish(
    process: &Process,
    user_flag: Option<&str>,
    cli_config: Option<&Path>,
    audit: &AuditLog,
    trail: &mut Trail,
    explain: &mut dyn FnMut(&dyn Described),
) -> Result<Caller> {
    refuse_setuid_install(process)?;
    let loaded = config::load(process, cli_config)?;
    explain(&loaded);
    let config = &loaded.config;
    audit.require(config.audit)?;
    explain(&audit.status(config.audit));
    let config_path = loaded.path.display().to_string();
    let identity = identify(process, user_flag, config.allow_root, &config_path)?;
    explain(&identity);
    trail.user = identity.user_name();
    if trail.invoker.is_empty() {
        trail.invoker = crate::audit::invoker_field(trail.user.as_bytes());
    }
    Ok(Caller { loaded, identity })
}

/// Leaves only what the caller has: a full drop from root, or clearing the
/// capabilities an unprivileged process could hold; then verifies it.
pub fn drop_privileges(identity: &Identity) -> Result<()> {
    match identity {
        Identity::FromRoot { target, .. } => {
            drop_to(target)?;
            verify_no_capabilities()?;
            // nothing root had open reaches the command (sudo's closefrom)
            crate::system::sys::close_on_exec_from(3)
                .map_err(|e| Error::system("closing the descriptors root passed on", e))
        }
        Identity::Root => {
            clear_all_capabilities()?;
            verify_no_capabilities()
        }
        Identity::Unprivileged { .. } => {
            if holds_no_capabilities()? {
                return Ok(());
            }
            clear_unprivileged_capabilities()?;
            match holds_no_capabilities()? {
                true => Ok(()),
                false => Err(Error::Identity("capabilities remain after clearing them".into())),
            }
        }
    }
}

/// Refuses a setuid or setgid installation of cenv.
pub fn refuse_setuid_install(process: &Process) -> Result<()> {
    if process.real_uid == process.effective_uid && process.real_gid == process.effective_gid {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/bin/cenv".into());
    Err(Error::SetuidInstall {
        detail: format!(
            "real uid {} effective uid {}, real gid {} effective gid {}",
            process.real_uid, process.effective_uid, process.real_gid, process.effective_gid
        ),
        exe,
    })
}

/// The human on whose behalf a process with real uid 0 runs: the user sudo
/// (`SUDO_UID`, also set by sudo-rs) or pkexec (`PKEXEC_UID`) says started
/// it. Only ever consulted when the real uid is 0: an ordinary user can set
/// these variables to anything.
///
/// Even for root the variable is a claim, not a fact: a sudo rule tagged
/// `SETENV` (or `sudo -E` where allowed, `Defaults setenv`, doas `keepenv`,
/// a root service passing a caller's environment) lets the invoker write
/// `SUDO_UID=<anyone>`. So the claim must agree with what the kernel knows:
/// the first process above cenv whose real uid is not 0 is the human's —
/// sudo's own process (setuid root, it keeps the invoker's real uid), or
/// the shell pkexec was typed in — and its real uid must be the uid named.
/// A claim no such process backs (every ancestor root's) is refused too.
fn delegating_user(env: &Environ) -> Result<Option<(Account, &'static str)>> {
    let (source, raw) = match (env.get("SUDO_UID"), env.get("PKEXEC_UID")) {
        (Some(uid), _) => ("SUDO_UID", uid),
        (None, Some(uid)) => ("PKEXEC_UID", uid),
        (None, None) => return Ok(None),
    };
    let claimed = lookup_uid(raw, source)?;
    if claimed.uid == 0 {
        // root delegating to root: identify() refuses it, nobody to verify
        return Ok(Some((claimed, source)));
    }
    match first_unprivileged_ancestor_uid() {
        Some(uid) if uid == claimed.uid => Ok(Some((claimed, source))),
        Some(uid) => Err(Error::Identity(format!(
            "refusing {source}={}: it names {}, but cenv was started by {} (uid {uid}, the first process above \
             cenv that is not root's). A sudo rule tagged SETENV, sudo -E, `Defaults setenv` or doas `keepenv` \
             lets an invoker set {source}; cenv acts only for the user who really started it — remove the tag \
             from the rule for cenv (SECURITY.md, \"Launchers\")",
            claimed.uid,
            claimed.name,
            user_name(uid)
        ))),
        None => Err(Error::Identity(format!(
            "refusing {source}={}: no process above cenv belongs to {} (every one is root's), so nothing backs \
             the claim — a root service or script passing on a caller's environment? Name the user with \
             --user instead",
            claimed.uid, claimed.name
        ))),
    }
}

/// The real uid of the first process above this one whose real uid is not
/// 0 (from /proc/PID/status), or `None` when every ancestor up to init is
/// root's.
fn first_unprivileged_ancestor_uid() -> Option<u32> {
    let mut pid = nix::unistd::getppid().as_raw();
    // a chain of processes is short; the bound only guards a loop in /proc
    for _ in 0..256 {
        if pid <= 1 {
            return None;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u32>().ok())
        };
        let real_uid = field("Uid:")?;
        if real_uid != 0 {
            return Some(real_uid);
        }
        pid = i32::try_from(field("PPid:")?).ok()?;
    }
    None
}

/// Works out who the caller is.
///
/// `--user` is honoured only from root itself: real uid 0 and no sudo or
/// pkexec caller other than root. Through sudo or pkexec, `--user` may only
/// name the invoker (sudo's own `-u` is how a sudo rule chooses a target);
/// anything else would let every user a sudo rule admits become anyone.
pub fn identify(
    process: &Process,
    user_flag: Option<&str>,
    allow_root: bool,
    config_path: &str,
) -> Result<Identity> {
    if process.real_uid != 0 {
        if user_flag.is_some() {
            return Err(Error::Identity(
                "--user is accepted only when cenv is started by root (for example through sudo)".into(),
            ));
        }
        return Ok(Identity::Unprivileged {
            account: Account::by_uid(process.real_uid),
            uid: process.real_uid,
            gids: process_groups(process)?,
        });
    }
    refuse_nested_user_namespace()?;
    let delegating = delegating_user(&process.environ)?;
    let (target, source) = match (user_flag, delegating) {
        (Some(user), Some((invoker, source))) if invoker.uid != 0 => {
            let named = lookup_user(user, "--user")?;
            if named.uid != invoker.uid {
                return Err(Error::Identity(format!(
                    "--user {user} refused: cenv was started through {} by {}, and --user may only name \
                     the invoking user; to run a command as another user, an admin writes a sudo rule \
                     for that user and runs `sudo -u USER cenv run ...`",
                    if source == "SUDO_UID" { "sudo" } else { "pkexec" },
                    invoker.name
                )));
            }
            (invoker, source)
        }
        (Some(user), _) => (lookup_user(user, "--user")?, "--user"),
        (None, Some((invoker, source))) => (invoker, source),
        (None, None) if allow_root => return Ok(Identity::Root),
        (None, None) => {
            return Err(Error::Identity(format!(
                "refusing to run as root with no caller to drop to: name one with --user NAME, run cenv \
                 through sudo as that user, or set allow_root = true in {config_path} to run as root \
                 (with every capability cleared and Landlock in force)"
            )))
        }
    };
    if target.uid == 0 {
        return Err(Error::Identity(format!(
            "refusing to run as root on behalf of {source}: the caller it names is uid 0 \
             (set allow_root = true in {config_path} and run cenv as root directly)"
        )));
    }
    Ok(Identity::FromRoot {
        invoked_by: invoker(process),
        target,
        source,
    })
}

/// The audit line's first field: the human who started cenv — the user
/// sudo or pkexec started it for (once that claim is backed by the process
/// tree, see `delegating_user`; never `SUDO_USER`, which an invoker may
/// set too), root, or the ordinary caller — escaped like every field. A
/// claim the process tree contradicts names who really started cenv. For
/// uid 0 inside a user namespace, the uid outside it.
pub fn invoker(process: &Process) -> String {
    use crate::audit::invoker_field;
    if process.real_uid != 0 {
        return invoker_field(user_name(process.real_uid).as_bytes());
    }
    if let Some(outside) = nested_user_namespace_uid() {
        return invoker_field(format!("{} (uid 0 in a user namespace)", user_name(outside)).as_bytes());
    }
    let env = &process.environ;
    if env.contains("SUDO_UID") || env.contains("PKEXEC_UID") {
        return match delegating_user(env) {
            Ok(Some((account, _))) => invoker_field(account.name.as_bytes()),
            _ => first_unprivileged_ancestor_uid()
                .map_or_else(|| "root".into(), |uid| invoker_field(user_name(uid).as_bytes())),
        };
    }
    "root".into()
}

/// The uid outside the user namespace this process is in, when it is not the
/// initial one (`unshare -U`, a rootless container). There, uid 0 is not
/// root: it holds no power over the system, and every file — the system
/// config included — may have been replaced with a mount.
pub fn nested_user_namespace_uid() -> Option<u32> {
    // read once: a process cannot leave its user namespace
    static OUTSIDE: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *OUTSIDE.get_or_init(read_uid_map)
}

fn read_uid_map() -> Option<u32> {
    let map = std::fs::File::open("/proc/self/uid_map")
        .and_then(|file| crate::system::wholefile::read_all(file, 256, 1 << 20))
        .ok()?;
    let map = String::from_utf8_lossy(&map);
    let first: Vec<&str> = map.split_whitespace().take(3).collect();
    match first.as_slice() {
        ["0", "0", "4294967295"] => None,
        [_, outside, _] => outside.parse().ok().or(Some(u32::MAX)),
        _ => Some(u32::MAX),
    }
}

fn refuse_nested_user_namespace() -> Result<()> {
    match nested_user_namespace_uid() {
        None => Ok(()),
        Some(outside) => Err(Error::Identity(format!(
            "refusing to act as root inside a user namespace (this is uid 0 there, uid {outside} outside): \
             its root is not the system's, and its files — the system config among them — may be \
             anyone's mounts; run cenv outside the namespace, or as an ordinary uid inside it"
        ))),
    }
}

/// A command other than `run` and `shell`, started by root on behalf of a
/// caller (sudo, pkexec): drop to that caller before doing anything, so that
/// `sudo cenv info` or `sudo cenv verify` read only what the caller may read.
/// Root itself (no caller) keeps its powers: `doctor --all` needs them.
/// Returns the process as it is after the drop.
pub fn act_as_caller(process: Process) -> Result<Process> {
    if process.real_uid != 0 || nested_user_namespace_uid().is_some() {
        return Ok(process);
    }
    let Some((caller, _)) = delegating_user(&process.environ)? else {
        return Ok(process);
    };
    if caller.uid == 0 {
        return Ok(process);
    }
    drop_to(&caller)?;
    // sudo sets HOME to root's; the caller's own places (~/.conda/envs,
    // ~/.condarc) are the caller's home's
    let mut environ = process.environ.clone();
    environ.set("HOME", caller.home.as_os_str());
    Ok(Process {
        real_uid: caller.uid,
        effective_uid: caller.uid,
        real_gid: caller.gid,
        effective_gid: caller.gid,
        environ,
        ..process
    })
}

fn lookup_user(spec: &str, source: &str) -> Result<Account> {
    let found = match spec.parse::<u32>() {
        Ok(uid) => Account::by_uid(uid),
        Err(_) => Account::by_name(spec),
    };
    found.ok_or_else(|| {
        Error::Identity(format!(
            "{source} names {spec:?}, which is not in the user database"
        ))
    })
}

fn lookup_uid(raw: &OsStr, source: &str) -> Result<Account> {
    let text = raw.to_str().unwrap_or("");
    let uid: u32 = text
        .parse()
        .map_err(|_| Error::Identity(format!("{source}={:?} is not a uid", raw.to_string_lossy())))?;
    lookup_user(&uid.to_string(), source)
}

/// Drops every privilege root holds and becomes `target`, for good: bounding,
/// inheritable and ambient capabilities are cleared while still privileged,
/// then setgroups (from the user database) → setresgid → setresuid, then the
/// result is verified. Any failure is fatal.
pub fn drop_to(target: &Account) -> Result<()> {
    // bounding first: dropping from it needs CAP_SETPCAP, which clearing
    // the other sets would take away
    let cleared =
        |what: &str, e: std::io::Error| Error::Identity(format!("clearing the {what} capability set: {e}"));
    crate::system::sys::drop_bounding_set().map_err(|e| cleared("bounding", e))?;
    crate::system::sys::clear_ambient_set().map_err(|e| cleared("ambient", e))?;
    let (effective, permitted, _) = capability_sets()?;
    crate::system::sys::set_capabilities(effective, permitted, 0).map_err(|e| cleared("inheritable", e))?;
    let gid = Gid::from_raw(target.gid);
    let uid = Uid::from_raw(target.uid);
    // initgroups(3) is getgrouplist then setgroups: the list is the one the
    // policy judged and the check below expects, looked up once
    let groups: Vec<Gid> = target
        .try_groups()
        .map_err(|e| Error::Identity(format!("looking up the groups of {}: {e}", target.name)))?
        .into_iter()
        .map(Gid::from_raw)
        .collect();
    nix::unistd::setgroups(&groups)
        .map_err(|e| Error::Identity(format!("setting the groups of {}: {e}", target.name)))?;
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| Error::Identity(format!("setresgid({}): {e}", target.gid)))?;
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| Error::Identity(format!("setresuid({}): {e}", target.uid)))?;
    verify_dropped(target)
}

fn verify_dropped(target: &Account) -> Result<()> {
    let fail = |what: String| {
        Err(Error::Identity(format!(
            "privilege drop to {} not complete: {what}",
            target.name
        )))
    };
    let uids = nix::unistd::getresuid().map_err(|e| Error::Identity(format!("getresuid: {e}")))?;
    let gids = nix::unistd::getresgid().map_err(|e| Error::Identity(format!("getresgid: {e}")))?;
    let want_uid = Uid::from_raw(target.uid);
    let want_gid = Gid::from_raw(target.gid);
    if [uids.real, uids.effective, uids.saved] != [want_uid; 3] {
        return fail(format!("uids are {uids:?}"));
    }
    if [gids.real, gids.effective, gids.saved] != [want_gid; 3] {
        return fail(format!("gids are {gids:?}"));
    }
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return fail("setuid(0) still succeeds".into());
    }
    let mut expected: Vec<u32> = target.groups();
    let mut actual: Vec<u32> =
        crate::system::sys::supplementary_groups().map_err(|e| Error::Identity(format!("getgroups: {e}")))?;
    expected.sort_unstable();
    expected.dedup();
    actual.sort_unstable();
    actual.dedup();
    if actual != expected {
        return fail(format!("groups are {actual:?}, expected {expected:?}"));
    }
    Ok(())
}

/// The effective, permitted and inheritable sets of this thread (one capget).
fn capability_sets() -> Result<(u64, u64, u64)> {
    crate::system::sys::capabilities().map_err(|e| Error::Identity(format!("reading capabilities: {e}")))
}

/// Empties every capability set of this thread: bounding (while
/// CAP_SETPCAP is still held), ambient, then effective, permitted and
/// inheritable in one capset.
fn clear_all_capabilities() -> Result<()> {
    let cleared =
        |what: &str, e: std::io::Error| Error::Identity(format!("clearing the {what} capability set: {e}"));
    crate::system::sys::drop_bounding_set().map_err(|e| cleared("bounding", e))?;
    crate::system::sys::clear_ambient_set().map_err(|e| cleared("ambient", e))?;
    crate::system::sys::set_capabilities(0, 0, 0)
        .map_err(|e| cleared("effective, permitted and inheritable", e))
}

/// Clears what an unprivileged process may hold: ambient, inheritable,
/// effective and permitted (file capabilities on the binary). The bounding set
/// is cleared too when the process holds CAP_SETPCAP; otherwise it cannot be,
/// and with no_new_privs it grants nothing.
pub fn clear_unprivileged_capabilities() -> Result<()> {
    let (effective, permitted, inheritable) = capability_sets()?;
    if permitted == 0 && inheritable == 0 {
        return Ok(());
    }
    if effective & caps::Capability::CAP_SETPCAP.bitmask() != 0 {
        crate::system::sys::drop_bounding_set()
            .map_err(|e| Error::Identity(format!("clearing the bounding capability set: {e}")))?;
    }
    crate::system::sys::clear_ambient_set()
        .map_err(|e| Error::Identity(format!("clearing the ambient capability set: {e}")))?;
    crate::system::sys::set_capabilities(0, 0, 0)
        .map_err(|e| Error::Identity(format!("clearing the capability sets: {e}")))
}

/// True when the permitted and inheritable sets are empty. Then nothing can be
/// held: the effective set is a subset of the permitted one, and the ambient
/// set a subset of both (a kernel invariant). One capget call instead of a
/// probe of every capability — this is the fast path of every ordinary run.
pub fn holds_no_capabilities() -> Result<bool> {
    let (_, permitted, inheritable) = capability_sets()?;
    Ok(permitted == 0 && inheritable == 0)
}

/// Checks that this thread holds no capability at all: effective,
/// permitted and inheritable empty (one capget; the ambient set is a subset
/// of permitted and inheritable, so it is empty too), and the bounding set
/// empty — read from `CapBnd` in /proc/self/status in one read rather than
/// one prctl per capability.
pub fn verify_no_capabilities() -> Result<()> {
    let (effective, permitted, inheritable) = capability_sets()?;
    for (name, set) in [
        ("effective", effective),
        ("permitted", permitted),
        ("inheritable", inheritable),
    ] {
        if set != 0 {
            return Err(Error::Identity(format!(
                "the {name} capability set is not empty: {set:#x}"
            )));
        }
    }
    let bounding = bounding_set()?;
    if bounding != 0 {
        return Err(Error::Identity(format!(
            "the bounding capability set is not empty: {bounding:#x}"
        )));
    }
    Ok(())
}

/// This thread's bounding set, from /proc/thread-self/status (`CapBnd:`);
/// without /proc, one prctl per capability.
fn bounding_set() -> Result<u64> {
    let unreadable = |what: String| Error::Identity(format!("reading the bounding capability set: {what}"));
    let Ok(status) = std::fs::File::open("/proc/thread-self/status")
        .and_then(|file| crate::system::wholefile::read_all(file, 4096, 1 << 20))
    else {
        return crate::system::sys::bounding_set_by_prctl().map_err(|e| unreadable(e.to_string()));
    };
    let status = String::from_utf8_lossy(&status);
    let field = status
        .lines()
        .find_map(|line| line.strip_prefix("CapBnd:"))
        .ok_or_else(|| unreadable("no CapBnd line in /proc/thread-self/status".into()))?;
    u64::from_str_radix(field.trim(), 16).map_err(|e| unreadable(e.to_string()))
}

/// Variables sudo's `env_reset` keeps when their values pass its checks.
const KEEP_CHECKED: &[&str] = &["COLORTERM", "LANG", "LANGUAGE", "LINGUAS", "TERM", "TZ"];
/// Variables kept as they are (Debian's sudoers `env_keep` style).
const KEEP_AS_IS: &[&str] = &["COLORS", "DISPLAY", "LS_COLORS", "XAUTHORITY", "COLUMNS", "LINES"];

/// The environment of a run dropped from root (or asked for with
/// `--clean-env`): a short allow-list from the caller, HOME, USER, LOGNAME and
/// SHELL from the user database, and a safe PATH. Everything else —
/// `LD_*`, `PYTHON*`, `BASH_ENV`, `IFS`, … — is dropped.
pub fn reset_environment(caller: &Environ, account: &Account) -> Environ {
    let mut env = Environ::new();
    for (name, value) in caller.iter() {
        let Some(name_str) = name.to_str() else { continue };
        let checked = KEEP_CHECKED.contains(&name_str) || name_str.starts_with("LC_");
        let keep = if checked {
            value_passes_sudo_check(name_str, value.as_bytes())
        } else {
            KEEP_AS_IS.contains(&name_str)
        };
        if keep {
            env.set(name, value);
        }
    }
    env.set("HOME", account.home.as_os_str());
    env.set("USER", account.name.as_str());
    env.set("LOGNAME", account.name.as_str());
    env.set("SHELL", account.shell.as_os_str());
    env.set("PATH", SECURE_PATH);
    env
}

/// sudo's `env_check`: no `/` or `%` in the value (they let a locale or
/// terminal name point at an attacker's file or format string); `TZ` may be a
/// zone name or a path under the system zoneinfo directory, without `..`.
fn value_passes_sudo_check(name: &str, value: &[u8]) -> bool {
    if value.len() > 4096 || value.contains(&b'%') {
        return false;
    }
    if name == "TZ" {
        let zone = value.strip_prefix(b":").unwrap_or(value);
        if zone.starts_with(b"/") {
            return zone.starts_with(b"/usr/share/zoneinfo/") && !contains_dotdot(zone);
        }
        return !contains_dotdot(zone);
    }
    !value.contains(&b'/')
}

fn contains_dotdot(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|c| c == b"..")
}

/// The account of an unprivileged caller, for `--clean-env`.
pub fn account_of(identity: &Identity) -> Option<Account> {
    match identity {
        Identity::Unprivileged { account, .. } => account.clone(),
        Identity::FromRoot { target, .. } => Some(target.clone()),
        Identity::Root => Account::by_uid(0),
    }
}

/// The groups of the process `process` describes: its supplementary groups
/// and its real and effective gids.
pub fn process_groups(process: &Process) -> Result<Vec<u32>> {
    let mut gids = crate::system::sys::supplementary_groups().map_err(|e| Error::system("getgroups", e))?;
    gids.push(process.real_gid);
    gids.push(process.effective_gid);
    gids.sort_unstable();
    gids.dedup();
    Ok(gids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            uid: 1000,
            gid: 1000,
            name: "alice".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        }
    }

    #[test]
    fn env_reset_keeps_only_the_allow_list() {
        let caller = Environ::from_pairs([
            ("TERM", "xterm-256color"),
            ("LANG", "en_US.UTF-8"),
            ("LC_ALL", "C"),
            ("LC_MESSAGES", "../../tmp/evil"),
            ("TERM_PROGRAM", "x"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("PYTHONPATH", "/tmp"),
            ("BASH_ENV", "/tmp/x"),
            ("IFS", " "),
            ("HOME", "/root"),
            ("PATH", "/tmp/bin:/usr/bin"),
            ("DISPLAY", ":0"),
            ("TZ", "Europe/Berlin"),
            ("SUDO_USER", "alice"),
        ]);
        let env = reset_environment(&caller, &account());
        assert_eq!(env.get_str("TERM"), Some("xterm-256color"));
        assert_eq!(env.get_str("LANG"), Some("en_US.UTF-8"));
        assert_eq!(env.get_str("LC_ALL"), Some("C"));
        assert_eq!(env.get_str("DISPLAY"), Some(":0"));
        assert_eq!(env.get_str("TZ"), Some("Europe/Berlin"));
        for gone in [
            "LC_MESSAGES",
            "TERM_PROGRAM",
            "LD_PRELOAD",
            "PYTHONPATH",
            "BASH_ENV",
            "IFS",
            "SUDO_USER",
        ] {
            assert_eq!(env.get(gone), None, "{gone} should be dropped");
        }
        assert_eq!(env.get_str("HOME"), Some("/home/alice"));
        assert_eq!(env.get_str("USER"), Some("alice"));
        assert_eq!(env.get_str("LOGNAME"), Some("alice"));
        assert_eq!(env.get_str("SHELL"), Some("/bin/bash"));
        assert_eq!(env.get_str("PATH"), Some(SECURE_PATH));
    }

    #[test]
    fn sudo_value_checks() {
        assert!(value_passes_sudo_check("TERM", b"xterm"));
        assert!(!value_passes_sudo_check("TERM", b"../x"));
        assert!(!value_passes_sudo_check("LANG", b"%n%n"));
        assert!(value_passes_sudo_check("TZ", b":/usr/share/zoneinfo/UTC"));
        assert!(!value_passes_sudo_check("TZ", b"/tmp/zone"));
        assert!(!value_passes_sudo_check(
            "TZ",
            b"/usr/share/zoneinfo/../../../tmp/x"
        ));
        assert!(!value_passes_sudo_check("TZ", b"../x"));
    }

    #[test]
    fn setuid_install_is_refused() {
        let mut process = Process::current();
        process.effective_uid = process.real_uid + 1;
        let err = refuse_setuid_install(&process).unwrap_err().to_string();
        assert!(err.contains("chmod u-s,g-s"), "{err}");
    }

    #[test]
    fn unprivileged_caller_cannot_name_a_user() {
        let mut process = Process::current();
        process.real_uid = 1000;
        process.effective_uid = 1000;
        let err = identify(&process, Some("bob"), false, "/etc/cenv/cenv.toml").unwrap_err();
        assert!(err.to_string().contains("--user is accepted only"), "{err}");
    }

    #[test]
    fn sudo_uid_is_ignored_for_an_unprivileged_caller() {
        let mut process = Process::current();
        process.real_uid = 1000;
        process.effective_uid = 1000;
        process.environ = Environ::from_pairs([("SUDO_UID", "0")]);
        let id = identify(&process, None, false, "x").unwrap();
        assert!(matches!(id, Identity::Unprivileged { uid: 1000, .. }));
    }

    #[test]
    fn root_without_caller_is_refused_unless_allowed() {
        let mut process = Process::current();
        process.real_uid = 0;
        process.effective_uid = 0;
        process.environ = Environ::new();
        let err = identify(&process, None, false, "/etc/cenv/cenv.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--user") && err.contains("allow_root = true"),
            "{err}"
        );
        assert_eq!(identify(&process, None, true, "x").unwrap(), Identity::Root);
    }

    #[test]
    fn root_as_target_is_refused() {
        let mut process = Process::current();
        process.real_uid = 0;
        process.effective_uid = 0;
        process.environ = Environ::from_pairs([("SUDO_UID", "0")]);
        let err = identify(&process, None, true, "x").unwrap_err().to_string();
        assert!(err.contains("uid 0"), "{err}");
        let err = identify(&process, Some("0"), true, "x").unwrap_err().to_string();
        assert!(err.contains("uid 0"), "{err}");
    }
}
