//! `cenv doctor`: a permission and hygiene audit of the envs and, with
//! `--all`, of the machine around them — one finding per line with its
//! severity, the path, what is wrong, why it matters and the command that
//! fixes it. Exit status 0 when clean, 1 with warnings, 2 with errors.
//!
//! The tree scan is parallel (rayon), one task per directory, and reads only
//! metadata (lstat), so a 100,000-file env takes well under a second with a
//! warm cache.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::conda::discover::discover;
use crate::conda::{resolve, EnvSpec, SearchPath};
use crate::config::{self, LoadedConfig};
use crate::config::{Config, Principal};
use crate::error::{Error, Result};
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::permissions::shell_quote;
use crate::system::process::Process;
use crate::system::users::{group_name, user_name};
use crate::tools::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub path: String,
    pub problem: String,
    pub why: String,
    pub fix: String,
}

impl Finding {
    fn new(
        severity: Severity,
        path: &Path,
        problem: impl Into<String>,
        why: &str,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            path: path.display().to_string(),
            problem: problem.into(),
            why: why.to_owned(),
            fix: fix.into(),
        }
    }

    pub fn line(&self) -> String {
        let severity = format!("{:?}", self.severity).to_lowercase();
        format!(
            "{severity}: {}: {} — {}; fix: {}",
            self.path, self.problem, self.why, self.fix
        )
    }
}

/// The exit status for a set of findings.
pub fn exit_status(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Error) => 2,
        Some(Severity::Warning) => 1,
        _ => 0,
    }
}

/// The envs directory itself: mode (2750 or the configured `envs_dir_mode`),
/// the setgid bit, and no access for others when the policy restricts use.
pub fn check_envs_root(root: &Path, config: &Config) -> Vec<Finding> {
    let Ok(meta) = std::fs::metadata(root) else {
        return Vec::new();
    };
    let mode = meta.mode() & 0o7777;
    let mut findings = Vec::new();
    if mode & 0o2000 == 0 {
        findings.push(Finding::new(
            Severity::Warning,
            root,
            format!("the setgid bit is not set (mode {mode:04o})"),
            "new envs would not inherit the group, and the group could lose access to them",
            format!("chmod g+s {}", shell_quote(root)),
        ));
    }
    if mode & 0o007 != 0 && config.restricts_use() {
        findings.push(Finding::new(
            Severity::Error,
            root,
            format!(
                "everyone may enter it (mode {mode:04o}) although the policy restricts who may use the envs"
            ),
            "users outside the allowed groups can still read and run the envs without cenv",
            format!("chmod o-rwx {}", shell_quote(root)),
        ));
    }
    if let Some(owners) = &config.trusted_owners {
        if meta.uid() != 0 && !owners.iter().filter_map(Principal::uid).any(|u| u == meta.uid()) {
            findings.push(Finding::new(
                Severity::Warning,
                root,
                format!(
                    "owned by {}, who is not among trusted_owners",
                    user_name(meta.uid())
                ),
                "the envs root belongs to the admin account that installs the envs",
                format!("chown <admin> {}  # one of trusted_owners", shell_quote(root)),
            ));
        }
    }
    if !config.default_groups.is_empty()
        && !config
            .default_groups
            .iter()
            .filter_map(Principal::gid)
            .any(|g| g == meta.gid())
    {
        let groups: Vec<String> = config.default_groups.iter().map(ToString::to_string).collect();
        findings.push(Finding::new(
            Severity::Warning,
            root,
            format!(
                "its group is {}, not one of default_groups ({})",
                group_name(meta.gid()),
                groups.join(", ")
            ),
            "the group that may use the envs should be the one that can read them",
            format!("chgrp {} {}", groups[0], shell_quote(root)),
        ));
    }
    if meta.uid() != 0 {
        if let Some(owner) = crate::identity::Account::by_uid(meta.uid()) {
            if owner.gid != meta.gid() && !owner.groups().contains(&meta.gid()) {
                findings.push(Finding::new(
                    Severity::Warning,
                    root,
                    format!(
                        "its owner {} is not a member of its group {}",
                        owner.name,
                        group_name(meta.gid())
                    ),
                    "every chmod the env admin runs then clears the setgid bit of a directory, \
                     and `chmod g+s` from them does nothing: the group loses new files",
                    format!("usermod -aG {} {}  # as root", group_name(meta.gid()), owner.name),
                ));
            }
        }
    }
    if mode != config.envs_dir_mode {
        findings.push(Finding::new(
            Severity::Warning,
            root,
            format!("mode {mode:04o}, expected {:04o}", config.envs_dir_mode),
            "a shared envs root is owned by the admin account and readable by the research group only",
            format!("chmod {:04o} {}", config.envs_dir_mode, shell_quote(root)),
        ));
    }
    findings
}

/// What a tree scan compares against.
struct EnvContext {
    prefix: PathBuf,
    owner: u32,
    trusted_groups: Vec<u32>,
    /// The env is the group's (its directory lets the group in): every file
    /// must be readable by the group, every directory searchable.
    group_shared: bool,
    /// Its directories should carry the setgid bit (the prefix or its envs
    /// root does): new files then belong to the group.
    setgid_dirs: bool,
    /// Directories not to scan here (the base install's envs/: each env is
    /// scanned on its own).
    skip: Vec<PathBuf>,
}

/// The one command that fixes a kind of problem in the whole env, for the
/// summary of a kind found many times (not a dozen commands, one per file).
fn recursive_fix(kind: &str, prefix: &Path, owner: u32) -> String {
    let p = shell_quote(prefix);
    match kind {
        "writable by everyone" => format!("chmod -R o-w {p}"),
        "writable by the group" => format!("chmod -R g-w {p}"),
        "setuid or setgid" => format!("find {p} -type f -perm /6000 -exec chmod u-s,g-s {{}} +"),
        "owned by another user" => format!("chown -R {} {p}  # as root", user_name(owner)),
        "not readable by the group" => format!("chmod -R g+rX {p}"),
        "directory without the setgid bit" => format!("find {p} -type d -exec chmod g+s {{}} +"),
        _ => format!("ls -l {p}/bin"),
    }
}

/// Per-file problems are capped per kind so a broken 100,000-file env gives
/// a readable report; the rest is counted.
const PER_KIND_LIMIT: usize = 10;

#[derive(Default)]
struct Collected {
    findings: Vec<Finding>,
    counts: BTreeMap<&'static str, usize>,
}

impl Collected {
    fn add(&mut self, kind: &'static str, finding: Finding) {
        let count = self.counts.entry(kind).or_default();
        *count += 1;
        if *count <= PER_KIND_LIMIT {
            self.findings.push(finding);
        }
    }
}

/// Checks one env: owner and group against its envs root, and every file and
/// directory in it.
pub fn check_env_tree(prefix: &Path, root: Option<&Path>, config: &Config) -> Vec<Finding> {
    let Ok(meta) = std::fs::metadata(prefix) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    if let Some(root_meta) = root.and_then(|r| std::fs::metadata(r).ok()) {
        if meta.uid() != root_meta.uid() || meta.gid() != root_meta.gid() {
            findings.push(Finding::new(
                Severity::Warning,
                prefix,
                format!(
                    "owned by {}:{}, but the envs root by {}:{}",
                    user_name(meta.uid()),
                    group_name(meta.gid()),
                    user_name(root_meta.uid()),
                    group_name(root_meta.gid())
                ),
                "an env not owned like the others escapes the admin's control or the group's access",
                format!(
                    "chown -R {}:{} {}",
                    user_name(root_meta.uid()),
                    group_name(root_meta.gid()),
                    shell_quote(prefix)
                ),
            ));
        }
    }
    let root_setgid = root
        .and_then(|r| std::fs::metadata(r).ok())
        .is_some_and(|m| m.mode() & 0o2000 != 0);
    let context = EnvContext {
        prefix: prefix.to_owned(),
        owner: meta.uid(),
        trusted_groups: config.trusted_groups.iter().filter_map(Principal::gid).collect(),
        group_shared: meta.mode() & 0o050 == 0o050,
        setgid_dirs: root_setgid || meta.mode() & 0o2000 != 0,
        skip: if config.base_prefix.as_deref() == Some(prefix) {
            vec![prefix.join("envs")]
        } else {
            Vec::new()
        },
    };
    if context.setgid_dirs && meta.mode() & 0o2000 == 0 {
        findings.push(Finding::new(
            Severity::Warning,
            prefix,
            format!("the setgid bit is not set (mode {:04o})", meta.mode() & 0o7777),
            "files created in the env would not get its group, and the group could lose access to them",
            format!("chmod g+s {}", shell_quote(prefix)),
        ));
    }
    let collected = Mutex::new(Collected::default());
    if crate::system::parallel::available() {
        rayon::scope(|scope| scan_dir(prefix.to_owned(), &context, &collected, scope));
    } else {
        scan_dir_on_one_thread(prefix.to_owned(), &context, &collected);
    }
    let collected = collected.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut tree_findings = collected.findings;
    tree_findings.sort_by(|a, b| a.path.cmp(&b.path));
    findings.extend(tree_findings);
    for (kind, count) in collected.counts {
        if count > PER_KIND_LIMIT {
            findings.push(Finding::new(
                Severity::Info,
                prefix,
                format!("{} more files with the problem '{kind}'", count - PER_KIND_LIMIT),
                "only the first few of each kind are listed; one command fixes them all",
                recursive_fix(kind, prefix, context.owner),
            ));
        }
    }
    findings
}

fn scan_dir<'s>(dir: PathBuf, context: &'s EnvContext, out: &'s Mutex<Collected>, scope: &rayon::Scope<'s>) {
    for subdir in check_entries(&dir, context, out) {
        scope.spawn(move |scope| scan_dir(subdir, context, out, scope));
    }
}

fn scan_dir_on_one_thread(dir: PathBuf, context: &EnvContext, out: &Mutex<Collected>) {
    for subdir in check_entries(&dir, context, out) {
        scan_dir_on_one_thread(subdir, context, out);
    }
}

/// Checks every entry of `dir`; returns its subdirectories, to scan next.
fn check_entries(dir: &Path, context: &EnvContext, out: &Mutex<Collected>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let in_bin = dir == context.prefix.join("bin");
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if context.skip.contains(&path) {
                continue;
            }
            check_entry(&path, &meta, context, out, false);
            subdirs.push(path);
        } else {
            check_entry(&path, &meta, context, out, in_bin);
        }
    }
    subdirs
}

fn check_entry(path: &Path, meta: &Metadata, context: &EnvContext, out: &Mutex<Collected>, in_bin: bool) {
    let mode = meta.permissions().mode();
    let is_symlink = meta.file_type().is_symlink();
    let mut problems: Vec<(&'static str, Finding)> = Vec::new();
    if !is_symlink {
        if mode & 0o002 != 0 {
            problems.push((
                "writable by everyone",
                Finding::new(
                    Severity::Error,
                    path,
                    format!("writable by everyone (mode {:04o})", mode & 0o7777),
                    "any user can change what everyone runs",
                    format!("chmod o-w {}", shell_quote(path)),
                ),
            ));
        }
        if mode & 0o020 != 0 && !context.trusted_groups.contains(&meta.gid()) {
            problems.push((
                "writable by the group",
                Finding::new(
                    Severity::Error,
                    path,
                    format!(
                        "writable by the group {} (mode {:04o})",
                        group_name(meta.gid()),
                        mode & 0o7777
                    ),
                    "any member of the group can change what everyone runs",
                    format!("chmod g-w {}", shell_quote(path)),
                ),
            ));
        }
        if meta.is_file() && mode & 0o6000 != 0 {
            problems.push((
                "setuid or setgid",
                Finding::new(
                    Severity::Error,
                    path,
                    format!("a setuid/setgid file (mode {:04o})", mode & 0o7777),
                    "a conda env has no business granting privileges",
                    format!("chmod u-s,g-s {}", shell_quote(path)),
                ),
            ));
        }
    }
    if !is_symlink && context.group_shared {
        let is_dir = meta.is_dir();
        let readable = if is_dir {
            mode & 0o050 == 0o050
        } else {
            mode & 0o040 != 0
        };
        if !readable && (is_dir || meta.is_file()) {
            // a package record the group cannot read breaks export, verify
            // and diff for every researcher, not only the file itself
            let record = path.parent() == Some(context.prefix.join("conda-meta").as_path())
                && path.extension().is_some_and(|e| e == "json");
            problems.push((
                "not readable by the group",
                Finding::new(
                    if record {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    path,
                    format!(
                        "not {} by the group {} (mode {:04o})",
                        if is_dir { "searchable" } else { "readable" },
                        group_name(meta.gid()),
                        mode & 0o7777
                    ),
                    if record {
                        "a package record the group cannot read: export, verify and diff fail for them"
                    } else {
                        "the env is the group's, but this part of it is not"
                    },
                    format!(
                        "chmod g+{} {}",
                        if is_dir { "rx" } else { "r" },
                        shell_quote(path)
                    ),
                ),
            ));
        }
    }
    if !is_symlink && context.setgid_dirs && meta.is_dir() && mode & 0o2000 == 0 {
        problems.push((
            "directory without the setgid bit",
            Finding::new(
                Severity::Warning,
                path,
                format!("the setgid bit is not set (mode {:04o})", mode & 0o7777),
                "files created here would not get the env's group",
                format!("chmod g+s {}", shell_quote(path)),
            ),
        ));
    }
    if meta.uid() != context.owner {
        problems.push((
            "owned by another user",
            Finding::new(
                Severity::Warning,
                path,
                format!(
                    "owned by {}, not by the env's owner {}",
                    user_name(meta.uid()),
                    user_name(context.owner)
                ),
                "someone other than the admin wrote into the shared env",
                format!(
                    "chown {} {}  # as root",
                    user_name(context.owner),
                    shell_quote(path)
                ),
            ),
        ));
    }
    if in_bin && is_symlink {
        if let Ok(target) = std::fs::read_link(path) {
            let absolute = path.parent().unwrap_or(Path::new("/")).join(&target);
            // a link that cannot be resolved (dangling, or no descriptor to
            // spare) is judged by its text: `..` taken lexically
            let resolved = crate::system::paths::canonical(&absolute).unwrap_or_else(|_| lexical(&absolute));
            if !resolved.starts_with(&context.prefix) {
                problems.push((
                    "bin/ link leading outside",
                    Finding::new(
                        Severity::Warning,
                        path,
                        format!("a symlink to {}, outside the env", resolved.display()),
                        "a command of the env runs a program the env's checks do not cover",
                        format!(
                            "ls -l {}  # replace it with the program itself if it belongs to the env",
                            shell_quote(path)
                        ),
                    ),
                ));
            }
        }
    }
    if !problems.is_empty() {
        let mut collected = out.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, finding) in problems {
            collected.add(kind, finding);
        }
    }
}

/// The caller's own umask (from /proc/self/status), against the config's.
pub fn check_umask(config: &Config) -> Vec<Finding> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(mask) = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
    else {
        return Vec::new();
    };
    if mask & config.umask == config.umask {
        return Vec::new();
    }
    vec![Finding::new(
        Severity::Warning,
        Path::new("umask"),
        format!("your umask is {mask:04o}, looser than {:04o}", config.umask),
        "files you create can be read by every user of the machine",
        format!(
            "umask {:03o} (and set it in ~/.profile; the cenv package's /etc/profile.d/cenv.sh does it for login_umask_groups)",
            config.umask
        ),
    )]
}

/// What works when a check cannot read root-only state: through sudo cenv
/// acts as the caller by design, so only root's own doctor sees it.
const ONLY_ROOT_CAN_TELL: &str =
    "run `cenv doctor --all` as root itself (in a root shell): through sudo cenv acts as you, by design";

/// A check that could not read what it needs: an info line naming what it
/// could not read, never a claim about what is or is not there.
fn cannot_tell(path: &Path, what: &str, error: &std::io::Error) -> Finding {
    Finding::new(
        Severity::Info,
        path,
        format!(
            "cannot tell {what}: {} is not readable by you ({error})",
            path.display()
        ),
        "this check reads state only root may read",
        ONLY_ROOT_CAN_TELL,
    )
}

/// Whether `path` exists: `Err` when the caller cannot tell (a directory on
/// the way it may not search).
fn exists(path: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The text of every regular file directly in `dir` (sorted by name), or
/// the first path that could not be read and why. A missing directory
/// holds nothing.
fn read_dir_texts(dir: &Path) -> std::result::Result<Vec<(PathBuf, String)>, (PathBuf, std::io::Error)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err((dir.to_owned(), e)),
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut texts = Vec::new();
    for path in paths {
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        match crate::system::wholefile::read_regular(&path, 1 << 20) {
            Ok(bytes) => texts.push((path, String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => return Err((path, e)),
        }
    }
    Ok(texts)
}

/// Whether the login and PAM umask integration is installed, and for the
/// groups the config names.
pub fn check_login_integration(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let profile = Path::new("/etc/profile.d/cenv.sh");
    match exists(profile) {
        Ok(true) => {}
        Ok(false) => findings.push(Finding::new(
            Severity::Warning,
            profile,
            "the login integration is not installed",
            "login shells of the research group do not get umask 027 or their default env",
            "install the cenv package (apt install cenv / dnf install cenv), which ships /etc/profile.d/cenv.sh",
        )),
        Err(e) => findings.push(cannot_tell(profile, "whether the login integration is installed", &e)),
    }
    let pam = Path::new("/etc/pam.d");
    match read_dir_texts(pam) {
        Ok(services) => findings.extend(judge_pam_umask(pam, &services, &config.login_umask_groups)),
        Err((path, e)) => findings.push(cannot_tell(
            &path,
            "whether a PAM service sets the research group's umask",
            &e,
        )),
    }
    findings
}

/// The groups whose members a PAM file sets the umask for: each
/// `pam_succeed_if … user notingroup GROUP` line followed by `pam_umask`
/// (the two lines of pam/cenv-session, pasted or in that file).
fn pam_umask_groups(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    lines
        .windows(2)
        .filter(|pair| pair[0].contains("pam_succeed_if") && pair[1].contains("pam_umask"))
        .filter_map(|pair| {
            let words: Vec<&str> = pair[0].split_whitespace().collect();
            let at = words.windows(2).position(|w| w == ["user", "notingroup"])?;
            words.get(at + 2).map(|g| (*g).to_owned())
        })
        .collect()
}

/// The PAM files as doctor judges them: some service must set the umask —
/// by including /etc/pam.d/cenv-session (pam-auth-update does) or with the
/// two lines pasted in — and for the groups `login_umask_groups` names
/// (the same group in two places, which nothing else keeps in step).
fn judge_pam_umask(pam: &Path, services: &[(PathBuf, String)], configured: &[Principal]) -> Vec<Finding> {
    let active = |text: &str| -> bool {
        text.lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("cenv-session"))
    };
    let session_file = services
        .iter()
        .find(|(path, _)| path.file_name().is_some_and(|n| n == "cenv-session"));
    let mut groups: Vec<(String, PathBuf)> = Vec::new();
    let mut applied = false;
    for (path, text) in services {
        if path.file_name().is_some_and(|n| n == "cenv-session") {
            continue;
        }
        if active(text) {
            applied = true;
            if let Some((session_path, session_text)) = session_file {
                groups.extend(
                    pam_umask_groups(session_text)
                        .into_iter()
                        .map(|g| (g, session_path.clone())),
                );
            }
        }
        let pasted = pam_umask_groups(text);
        applied |= !pasted.is_empty();
        groups.extend(pasted.into_iter().map(|g| (g, path.clone())));
    }
    if !applied {
        return vec![Finding::new(
            Severity::Warning,
            pam,
            "no PAM service sets the research group's umask",
            "sessions that never read a shell profile (ssh commands, sftp, scp) keep a world-readable umask",
            "Debian/Ubuntu: put your group into /etc/pam.d/cenv-session, then pam-auth-update --enable cenv; \
             elsewhere paste its two lines into the session stack (/usr/share/doc/cenv/pam-README.md)",
        )];
    }
    let wanted: Vec<String> = configured
        .iter()
        .map(|p| match p {
            Principal::Id(gid) => crate::system::users::group_name(*gid),
            Principal::Name(name) => name.clone(),
        })
        .collect();
    let mut findings = Vec::new();
    groups.sort();
    groups.dedup();
    for (group, path) in &groups {
        if !wanted.contains(group) {
            findings.push(Finding::new(
                Severity::Warning,
                path,
                format!(
                    "PAM sets umask 027 for the group {group}, but login_umask_groups in the config is [{}]",
                    wanted.join(", ")
                ),
                "login shells and other sessions give the research group different umasks",
                format!(
                    "make them name the same group: edit {} or login_umask_groups in /etc/cenv/cenv.toml",
                    path.display()
                ),
            ));
        }
    }
    for group in wanted.iter().filter(|w| !groups.iter().any(|(g, _)| g == *w)) {
        findings.push(Finding::new(
            Severity::Warning,
            pam,
            format!("login_umask_groups names {group}, for whom no PAM session sets the umask"),
            "sessions that never read a shell profile (ssh commands, sftp, scp) keep a world-readable umask",
            format!("put {group} into /etc/pam.d/cenv-session (or the lines you pasted)"),
        ));
    }
    findings
}

/// Whether an auditd watch covers each of `roots`. As root, what counts is
/// what the kernel has loaded (`auditctl -l`, run by its absolute path): a
/// rule only in a file, or no auditd to ask, is a finding of its own. As
/// an ordinary user, the rules files — and where they cannot be read
/// (Debian's auditd makes /etc/audit 0750 root), one info line says so
/// instead of a warning that no watch exists.
pub fn check_audit_watch(roots: &[PathBuf], is_root: bool) -> Vec<Finding> {
    let mut in_files = String::new();
    let mut unreadable = None;
    match crate::system::wholefile::read_regular(Path::new("/etc/audit/audit.rules"), 1 << 20) {
        Ok(bytes) => in_files.push_str(&String::from_utf8_lossy(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => unreadable = Some((PathBuf::from("/etc/audit/audit.rules"), e)),
    }
    match read_dir_texts(Path::new("/etc/audit/rules.d")) {
        Ok(texts) => texts.into_iter().for_each(|(_, text)| in_files.push_str(&text)),
        Err(e) => unreadable = unreadable.or(Some(e)),
    }
    let fix = |root: &Path| {
        format!(
            "cenv audit-rules --install  (as root: writes /etc/audit/rules.d/cenv.rules with a watch on {} and loads it)",
            root.display()
        )
    };
    if is_root {
        let loaded = loaded_audit_rules();
        return roots
            .iter()
            .filter_map(|root| match &loaded {
                Ok(rules) if watch_covers(rules, root) => None,
                Ok(_) if watch_covers(&in_files, root) => Some(Finding::new(
                    Severity::Warning,
                    root,
                    "a rules file watches it, but the kernel has not loaded the rule",
                    "writes into shared envs leave no trace of who made them until the rules are loaded",
                    "augenrules --load  (or: cenv audit-rules --install)",
                )),
                Ok(_) => Some(Finding::new(
                    Severity::Warning,
                    root,
                    "no auditd watch covers it",
                    "writes into shared envs leave no trace of who made them",
                    fix(root),
                )),
                Err(why) => Some(Finding::new(
                    Severity::Warning,
                    root,
                    format!("no auditd watch can cover it: {why}"),
                    "writes into shared envs leave no trace of who made them",
                    "systemctl enable --now auditd, then cenv audit-rules --install",
                )),
            })
            .collect();
    }
    let uncovered: Vec<&PathBuf> = roots
        .iter()
        .filter(|root| !watch_covers(&in_files, root))
        .collect();
    if let Some((path, e)) = unreadable.filter(|_| !uncovered.is_empty()) {
        return vec![cannot_tell(&path, "whether an auditd watch covers the envs", &e)];
    }
    uncovered
        .into_iter()
        .map(|root| {
            Finding::new(
                Severity::Warning,
                root,
                "no auditd watch covers it",
                "writes into shared envs leave no trace of who made them",
                fix(root),
            )
        })
        .collect()
}

/// The rules the kernel has loaded (`auditctl -l`, by its absolute path,
/// with an empty environment), or why they cannot be had.
fn loaded_audit_rules() -> std::result::Result<String, String> {
    let auditctl = ["/usr/sbin/auditctl", "/sbin/auditctl"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .ok_or("auditd is not installed (no auditctl in /usr/sbin or /sbin)")?;
    let out = std::process::Command::new(auditctl)
        .arg("-l")
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("{auditctl} -l: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{auditctl} -l failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let status = std::process::Command::new(auditctl)
        .arg("-s")
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if status.lines().any(|l| l.trim() == "enabled 0") {
        return Err("auditing is disabled in the kernel (auditctl -s: enabled 0)".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether a rule among `rules` (auditctl syntax, one per line) watches
/// `root` for writes.
fn watch_covers(rules: &str, root: &Path) -> bool {
    // a directory watch covers its whole tree: `-w DIR -p wa` in a rules
    // file; `-w DIR -p wa` or `-a always,exit -F dir=DIR -F perm=wa` as
    // auditctl -l prints it
    rules.lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        if words.first().is_some_and(|w| w.starts_with('#')) {
            return false;
        }
        let watched = words
            .windows(2)
            .find_map(|w| (w[0] == "-w").then_some(w[1]))
            .or_else(|| words.iter().find_map(|w| w.strip_prefix("dir=")));
        let writes = words.windows(2).any(|w| w[0] == "-p" && w[1].contains('w'))
            || words
                .iter()
                .any(|w| w.strip_prefix("perm=").is_some_and(|p| p.contains('w')));
        writes && watched.is_some_and(|dir| root.starts_with(dir))
    })
}

/// A TCP socket listening beyond loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub address: String,
    pub port: u16,
    pub inode: u64,
}

/// Listening sockets from /proc/net/tcp and tcp6 that are not bound to
/// loopback.
pub fn exposed_listeners() -> Vec<Listener> {
    let mut listeners = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        listeners.extend(text.lines().skip(1).filter_map(|l| parse_listener(l, v6)));
    }
    listeners
}

fn parse_listener(line: &str, v6: bool) -> Option<Listener> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 10 || fields[3] != "0A" {
        return None;
    }
    let (addr_hex, port_hex) = fields[1].split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let inode: u64 = fields[9].parse().ok()?;
    let address = if v6 {
        let mut bytes = [0u8; 16];
        for (i, chunk) in addr_hex.as_bytes().chunks(8).enumerate().take(4) {
            let word = u32::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        let ip = std::net::Ipv6Addr::from(bytes);
        let loopback = ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback());
        if loopback {
            return None;
        }
        ip.to_string()
    } else {
        let word = u32::from_str_radix(addr_hex, 16).ok()?;
        let ip = std::net::Ipv4Addr::from(word.to_le_bytes());
        if ip.is_loopback() {
            return None;
        }
        ip.to_string()
    };
    Some(Listener { address, port, inode })
}

/// Processes running a program from one of `prefixes` that listen beyond
/// loopback — the Jupyter-on-0.0.0.0 case.
pub fn check_exposed_servers(prefixes: &[PathBuf]) -> Vec<Finding> {
    let listeners = exposed_listeners();
    if listeners.is_empty() {
        return Vec::new();
    }
    let mut findings = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return findings;
    };
    for proc_entry in procs.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let proc_dir = proc_entry.path();
        let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
            continue;
        };
        let sockets: Vec<u64> = fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|l| {
                l.to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect();
        let mine: Vec<&Listener> = listeners.iter().filter(|l| sockets.contains(&l.inode)).collect();
        if mine.is_empty() {
            continue;
        }
        let exe = std::fs::read_link(proc_dir.join("exe")).ok();
        let argv0 = std::fs::read(proc_dir.join("cmdline")).ok().and_then(|c| {
            c.split(|&b| b == 0)
                .next()
                .map(|a| PathBuf::from(String::from_utf8_lossy(a).into_owned()))
        });
        let program = [exe, argv0]
            .into_iter()
            .flatten()
            .find(|p| prefixes.iter().any(|prefix| p.starts_with(prefix)));
        let Some(program) = program else { continue };
        let env = prefixes
            .iter()
            .find(|prefix| program.starts_with(prefix))
            .and_then(|prefix| prefix.file_name())
            .map_or_else(|| "ENV".to_owned(), |n| n.to_string_lossy().into_owned());
        let uid = std::fs::metadata(&proc_dir).map(|m| m.uid()).unwrap_or(0);
        for listener in mine {
            findings.push(Finding::new(
                Severity::Error,
                &program,
                format!("pid {pid} of {} listens on {}:{}", user_name(uid), listener.address, listener.port),
                "a server from a shared env (a notebook runs code for whoever reaches it) is reachable beyond this machine",
                format!(
                    "stop it and start it with `cenv notebook {env}`: it serves on 127.0.0.1 only, with a token, \
                     and prints the ssh -L line that reaches it from a laptop"
                ),
            ));
        }
    }
    findings
}

/// The envs directories in use and the envs a doctor run covers.
fn doctor_targets(
    process: &Process,
    loaded: &LoadedConfig,
    args: &DoctorArgs,
) -> Result<Vec<(PathBuf, Option<PathBuf>)>> {
    let config = &loaded.config;
    let search = SearchPath::for_caller(config, process);
    // an env is compared with its envs root only when it lies directly in a
    // configured one: the base install's parent (/opt) is no envs root, and
    // "chown -R root:root /opt/miniconda" would be harmful advice
    let roots: Vec<PathBuf> = config
        .envs_dirs
        .iter()
        .chain(config.base_prefix.as_ref().map(|b| b.join("envs")).as_ref())
        .filter_map(|d| crate::system::paths::canonical(d).ok())
        .collect();
    let with_root = |prefix: PathBuf| {
        let root = prefix
            .parent()
            .filter(|p| roots.iter().any(|r| r == p))
            .map(Path::to_path_buf);
        (prefix, root)
    };
    if args.names.is_empty() {
        return Ok(discover(config, &search)
            .into_iter()
            .map(|(_, prefix)| with_root(prefix))
            .collect());
    }
    args.names
        .iter()
        .map(|name| {
            let env = resolve(&EnvSpec::Name(name.clone()), config, &search, &loaded.path)?;
            Ok(with_root(env.prefix))
        })
        .collect()
}

pub fn doctor(process: &Process, args: DoctorArgs, cli_config: Option<&Path>) -> Result<u8> {
    if args.names.is_empty() && !args.all {
        return Err(Error::Usage(
            "name the envs to check, or --all for every env and the machine".into(),
        ));
    }
    let loaded = config::load(process, cli_config)?;
    let config = &loaded.config;
    let targets = doctor_targets(process, &loaded, &args)?;
    let fixed = if args.fix {
        Some(fix_targets(process, config, &targets, args.dry_run)?)
    } else {
        None
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut roots: Vec<PathBuf> = targets.iter().filter_map(|(_, r)| r.clone()).collect();
    if args.all {
        roots.extend(config.envs_dirs.iter().filter(|d| d.is_dir()).cloned());
    }
    roots.sort();
    roots.dedup();
    for root in &roots {
        if config
            .envs_dirs
            .iter()
            .any(|d| d == root || crate::system::paths::canonical(d).is_ok_and(|c| &c == root))
        {
            findings.extend(check_envs_root(root, config));
        }
    }
    for (prefix, root) in &targets {
        findings.extend(check_env_tree(prefix, root.as_deref(), config));
    }
    if args.all {
        findings.extend(check_umask(config));
        findings.extend(check_login_integration(config));
        let watched: Vec<PathBuf> = crate::tools::audit_rules::watched_trees(config)
            .into_iter()
            .filter(|d| d.is_dir())
            .collect();
        findings.extend(check_audit_watch(&watched, process.is_privileged()));
        let prefixes: Vec<PathBuf> = targets.iter().map(|(p, _)| p.clone()).collect();
        findings.extend(check_exposed_servers(&prefixes));
    }
    let status = exit_status(&findings);
    if args.json {
        #[derive(Serialize)]
        struct DoctorReport<'a> {
            findings: &'a [Finding],
            errors: usize,
            warnings: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            fixed: Option<FixReport<'a>>,
        }
        #[derive(Serialize)]
        struct FixReport<'a> {
            dry_run: bool,
            changes: &'a [String],
            left: &'a [String],
        }
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        json(&DoctorReport {
            findings: &findings,
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            fixed: fixed.as_ref().map(|f| FixReport {
                dry_run: args.dry_run,
                changes: &f.changes,
                left: &f.left,
            }),
        })?;
    } else {
        let mut text = String::new();
        if let Some(fixed) = &fixed {
            let verb = if args.dry_run { "would change" } else { "changed" };
            for line in &fixed.changes {
                text.push_str(&format!(
                    "{}: {line}\n",
                    if args.dry_run { "would" } else { "fixed" }
                ));
            }
            for line in &fixed.left {
                text.push_str(&format!("left: {line}\n"));
            }
            text.push_str(&format!(
                "doctor --fix: {verb} {} modes, left {} as they were; {}\n",
                fixed.changes.len(),
                fixed.left.len(),
                if args.dry_run {
                    "run it without --dry-run to apply; what doctor finds as things are:"
                } else {
                    "what doctor finds now:"
                }
            ));
        }
        text.extend(findings.iter().map(|f| escape::text(&f.line()) + "\n"));
        write_stdout(text.as_bytes())?;
    }
    Ok(status)
}

/// `--fix` over every target: root, or the owner of each env (anyone else
/// is refused before anything changes). The base install is fixed without
/// its envs/, each env on its own.
fn fix_targets(
    process: &Process,
    config: &Config,
    targets: &[(PathBuf, Option<PathBuf>)],
    dry_run: bool,
) -> Result<crate::tools::fix::Fixed> {
    let as_root = process.effective_uid == 0;
    if !as_root {
        for (prefix, _) in targets {
            let owner = std::fs::metadata(prefix).map(|m| m.uid()).unwrap_or(u32::MAX);
            if owner != process.effective_uid {
                return Err(Error::Usage(format!(
                    "doctor --fix changes modes in {}: run it as its owner ({}) or as root",
                    escape::path(prefix),
                    user_name(owner)
                )));
            }
        }
    }
    let trusted: Vec<u32> = config.trusted_groups.iter().filter_map(Principal::gid).collect();
    let mut all = crate::tools::fix::Fixed::default();
    for (prefix, _) in targets {
        let skip: Vec<PathBuf> = if config.base_prefix.as_deref() == Some(prefix.as_path()) {
            vec![prefix.join("envs")]
        } else {
            Vec::new()
        };
        let fixed = crate::tools::fix::fix_tree(prefix, &skip, &trusted, dry_run);
        all.changes.extend(fixed.changes);
        all.left.extend(fixed.left);
    }
    Ok(all)
}

/// `path` with `.` and `..` taken lexically (no symlink followed).
fn lexical(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    fn pam(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        files
            .iter()
            .map(|(name, text)| (Path::new("/etc/pam.d").join(name), (*text).to_owned()))
            .collect()
    }

    const SESSION: &str = "session [success=1 default=ignore] pam_succeed_if.so quiet user notingroup lab\n\
                           session optional pam_umask.so umask=0027\n";

    #[test]
    fn pam_umask_through_the_include_or_pasted_lines_for_the_configured_group() {
        let lab = [Principal::Name("lab".into())];
        let included = pam(&[
            ("cenv-session", SESSION),
            ("common-session", "session include cenv-session\n"),
        ]);
        assert!(judge_pam_umask(Path::new("/etc/pam.d"), &included, &lab).is_empty());
        let pasted = pam(&[("sshd", SESSION)]);
        assert!(judge_pam_umask(Path::new("/etc/pam.d"), &pasted, &lab).is_empty());
        // the file alone, included by no service, does nothing
        let unused = pam(&[
            ("cenv-session", SESSION),
            ("sshd", "session required pam_unix.so\n"),
        ]);
        let found = judge_pam_umask(Path::new("/etc/pam.d"), &unused, &lab);
        assert!(found[0].problem.contains("no PAM service sets"), "{found:?}");
        // two places naming two groups
        let other = [Principal::Name("ai-researchers".into())];
        let found = judge_pam_umask(Path::new("/etc/pam.d"), &included, &other);
        let problems: Vec<&str> = found.iter().map(|f| f.problem.as_str()).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0]
            .contains("for the group lab, but login_umask_groups in the config is [ai-researchers]"));
        assert!(problems[1].contains("login_umask_groups names ai-researchers, for whom no PAM session"));
    }

    use super::*;

    #[test]
    fn proc_net_tcp_lines() {
        let any = "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0";
        let lo = "   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12346 1 0000000000000000 100 0 0 10 0";
        let established = "   2: 0A00020F:1F90 0A000201:C350 01 00000000:00000000 00:00000000 00000000  1000        0 12347 1";
        assert_eq!(
            parse_listener(any, false),
            Some(Listener {
                address: "0.0.0.0".into(),
                port: 8080,
                inode: 12345
            })
        );
        assert_eq!(parse_listener(lo, false), None);
        assert_eq!(parse_listener(established, false), None);
        let v6_any = "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1";
        let v6_lo = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 223 1";
        assert_eq!(parse_listener(v6_any, true).map(|l| l.address), Some("::".into()));
        assert_eq!(parse_listener(v6_lo, true), None);
    }

    #[test]
    fn exit_status_follows_the_worst_finding() {
        let f = |s| Finding::new(s, Path::new("/x"), "p", "w", "f");
        assert_eq!(exit_status(&[]), 0);
        assert_eq!(exit_status(&[f(Severity::Info)]), 0);
        assert_eq!(exit_status(&[f(Severity::Info), f(Severity::Warning)]), 1);
        assert_eq!(exit_status(&[f(Severity::Warning), f(Severity::Error)]), 2);
    }
}
