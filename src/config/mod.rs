//! The configuration file, `/etc/cenv/cenv.toml`: its schema, defaults, and
//! which file a run may read.
//!
//! A privileged run always reads the system file; `--config` and `CENV_CONFIG`
//! are honoured only for an unprivileged caller, who can only hurt themselves
//! with them. A missing system file means the defaults. Unknown keys are errors
//! reported with line and column, because a misspelt security setting that is
//! silently ignored is worse than a refusal.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::system::process::Process;

/// Where the system configuration lives. Test builds may point it elsewhere at
/// compile time (`CENV_SYSTEM_CONFIG=... cargo build`); it is never taken from
/// the environment at run time.
pub const SYSTEM_CONFIG_PATH: &str = match option_env!("CENV_SYSTEM_CONFIG") {
    Some(path) => path,
    None => "/etc/cenv/cenv.toml",
};

pub const DEFAULT_ENVS_DIR: &str = "/opt/miniconda/envs";

/// One documented key of the config file (cenv.toml(5) is made from these).
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    pub name: &'static str,
    /// A value that parses, for the test that holds this table to the parser.
    pub sample: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every key of the config file, documented.
pub const KEYS: &[KeyDoc] = &[
    KeyDoc { name: "envs_dirs", sample: "[\"/opt/miniconda/envs\"]", default: "[\"/opt/miniconda/envs\"]",
        help: "Directories holding named envs, searched in order (absolute paths; no ~ or globs). Each existing one is read-only for every run." },
    KeyDoc { name: "base_prefix", sample: "\"/opt/miniconda\"", default: "found: the parent of an envs_dirs entry named envs that holds conda-meta/ (conda's own layout); else none",
        help: "The conda installation the envs belong to: `cenv run base` resolves to it, its envs/ is searched, and it and its pkgs/ are read-only for runs." },
    KeyDoc { name: "umask", sample: "\"027\"", default: "\"027\"",
        help: "The umask of every run, combined with the caller's own; an octal string." },
    KeyDoc { name: "allow_root", sample: "false", default: "false",
        help: "Whether root may run commands as root (no user to drop to): every capability cleared, /etc, /usr, /boot and the envs roots read-only; check-config warns about it." },
    KeyDoc { name: "landlock", sample: "\"enforce\"", default: "\"enforce\"",
        help: "\"enforce\": refuse to run when the kernel cannot make the env read-only; \"best-effort\": run with a warning; \"off\": no rule." },
    KeyDoc { name: "readonly_paths", sample: "[\"/opt/miniconda/pkgs\"]", default: "<base_prefix>/pkgs when it exists",
        help: "More trees made read-only for every run (the package cache envs are hard-linked from)." },
    KeyDoc { name: "default_groups", sample: "[\"ai-researchers\"]", default: "[] (anyone file permissions allow)",
        help: "Who may use envs that have no groups of their own: members of any of these groups (names or gids)." },
    KeyDoc { name: "trusted_owners", sample: "[\"conda-user\"]", default: "the owner of the envs root holding the env",
        help: "Users who may own an env's paths besides root and the caller." },
    KeyDoc { name: "trusted_groups", sample: "[\"conda-admins\"]", default: "[]",
        help: "Groups that may have write permission on an env's paths." },
    KeyDoc { name: "strict_permissions", sample: "true", default: "true",
        help: "Refuse (true) or warn (false) when an env fails the trust check." },
    KeyDoc { name: "audit", sample: "\"best-effort\"", default: "\"best-effort\"",
        help: "\"required\": refuse to run when no syslog daemon receives the audit line; \"best-effort\": run with a warning." },
    KeyDoc { name: "audit_login", sample: "true", default: "true",
        help: "Whether a login shell's activation of the default env (profile.d, default_envs, ~/.config/cenv/default-env) writes an audit line when it succeeds. false keeps the trail about runs: every `su - user -c ...` is a login. Refusals are always logged, and so is every run, shell and explicit cenv activate." },
    KeyDoc { name: "login_umask_groups", sample: "[\"ai-researchers\"]", default: "[]",
        help: "Members of these groups get the umask in login shells (/etc/profile.d/cenv.sh)." },
    KeyDoc { name: "envs_dir_mode", sample: "\"2750\"", default: "\"2750\"",
        help: "The mode cenv doctor expects of an envs root." },
    KeyDoc { name: "default_envs", sample: "{ ai-researchers = \"project-cv\" }", default: "{}",
        help: "The env login shells activate for members of a group (group = env), unless the user chose one in ~/.config/cenv/default-env." },
    KeyDoc { name: "notebook_any_ip", sample: "false", default: "false",
        help: "Whether cenv notebook may serve on an address that is not loopback (--ip=0.0.0.0); by default it refuses, and the server is reached through ssh -L." },
    KeyDoc { name: "notebook_restrict_binds", sample: "false", default: "false",
        help: "Whether cenv notebook's run may bind TCP only to the server's port (Landlock ABI 4 or later; kernels then use Unix sockets): nothing a cell starts can listen on another port. It also stops what binds a port on purpose: torch.distributed's TCP store, TensorBoard, Dask's dashboard, ipykernel's pipe for output from subprocesses. A user's config may turn it on." },
    KeyDoc { name: "contact", sample: "\"conda-user (envs@lab.example.org)\"", default: "the owner of the env, else of its envs root",
        help: "Whom refusals tell a user to ask about an env." },
    KeyDoc { name: "after_until", sample: "\"warn\"", default: "\"warn\"",
        help: "What a run of a deprecated env does once its until day has passed: \"warn\" (run, with the notice) or \"refuse\" (refuse it, naming the successor)." },
    KeyDoc { name: "envs", sample: "{ cv = { groups = [\"ai-researchers\"], description = \"CV group\", deprecated = \"moving to cv-2\", successor = \"cv-2\", until = \"2027-01-31\" } }", default: "{}",
        help: "[envs.NAME] tables, keyed by env name (or by path for an env outside the envs roots): groups, users (who may use it), umask, landlock, readonly_paths (overrides for it); description (one line, shown by list, info and access); deprecated (a message printed once to stderr by run, shell and activate, noted in the audit line, shown by list, info and usage), successor (the env to use instead) and until (YYYY-MM-DD, from when after_until applies)." },
];
pub const DEFAULT_UMASK: u32 = 0o027;

/// How strictly the Landlock rule is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LandlockMode {
    /// Fail closed when the kernel cannot enforce the rule fully.
    #[default]
    Enforce,
    /// Apply what the kernel supports; warn when that is not everything.
    BestEffort,
    /// No Landlock rule.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directories holding named envs, searched in order.
    #[serde(default = "default_envs_dirs")]
    pub envs_dirs: Vec<PathBuf>,
    /// The conda installation whose `envs/` these are; `base` resolves to it.
    #[serde(default)]
    pub base_prefix: Option<PathBuf>,
    /// The umask every run gets; a caller may only ask for a stricter one.
    #[serde(default = "default_umask", deserialize_with = "deserialize_umask")]
    pub umask: u32,
    /// Whether root may run cenv without naming a caller to drop to.
    #[serde(default)]
    pub allow_root: bool,
    #[serde(default)]
    pub landlock: LandlockMode,
    /// Extra trees made read-only for the run. Default: the base install's
    /// package cache `pkgs/`, when it exists (see [`Config::readonly_paths`]).
    #[serde(default, rename = "readonly_paths")]
    pub readonly_paths_setting: Option<Vec<PathBuf>>,
    /// Who may use envs that have no `groups` of their own (empty: anyone
    /// file permissions allow).
    #[serde(default)]
    pub default_groups: Vec<Principal>,
    /// Owners an env's paths may have besides root and the caller. Default:
    /// the owner of the envs directory holding the env.
    #[serde(default)]
    pub trusted_owners: Option<Vec<Principal>>,
    /// Groups that may have write permission on an env's paths.
    #[serde(default)]
    pub trusted_groups: Vec<Principal>,
    /// Refuse (true) or warn (false) when an env's permissions fail the trust check.
    #[serde(default = "default_true")]
    pub strict_permissions: bool,
    #[serde(default)]
    pub audit: AuditMode,
    /// Per-env policy and overrides, keyed by env name, or by path for envs
    /// outside the envs directories.
    #[serde(default)]
    pub envs: BTreeMap<String, EnvSettings>,
    /// What a run of a deprecated env does after its `until` day.
    #[serde(default)]
    pub after_until: AfterUntil,
    /// Whether a login shell's successful activation of the default env is
    /// audited (refusals always are).
    #[serde(default = "default_true")]
    pub audit_login: bool,
    /// Members of these groups get the configured umask in login shells.
    #[serde(default)]
    pub login_umask_groups: Vec<Principal>,
    /// The mode an envs directory should have (`cenv doctor` checks it).
    #[serde(default = "default_envs_dir_mode", deserialize_with = "deserialize_mode")]
    pub envs_dir_mode: u32,
    /// The env a login shell activates for members of a group (group → env),
    /// unless the user chose one in ~/.config/cenv/default-env.
    #[serde(default)]
    pub default_envs: BTreeMap<String, String>,
    /// Whether `cenv notebook` may serve on a non-loopback address.
    #[serde(default)]
    pub notebook_any_ip: bool,
    /// Whether `cenv notebook`'s run may bind TCP only to the server's port.
    #[serde(default)]
    pub notebook_restrict_binds: bool,
    /// Whom refusals tell a user to ask (default: the env's owner).
    #[serde(default)]
    pub contact: Option<String>,
    /// The `envs_dirs` a user's own config added to the system's: searched,
    /// but the user's, not shared (never made read-only for a run).
    #[serde(skip)]
    pub user_envs_dirs: Vec<PathBuf>,
    /// Whether `base_prefix` was not configured but found: the parent of an
    /// envs root named `envs` that holds `conda-meta/` ([`Config::infer_base_prefix`]).
    #[serde(skip)]
    pub base_inferred: bool,
}

/// A user or group, by name or by numeric id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Principal {
    Id(u32),
    Name(String),
}

impl Principal {
    /// The gid this principal names as a group, if the group exists.
    pub fn gid(&self) -> Option<u32> {
        self.lookup_gid().ok().flatten()
    }

    /// The gid this principal names as a group: `None` when no group has
    /// that name, the error when the group database could not be asked.
    pub fn lookup_gid(&self) -> std::result::Result<Option<u32>, crate::system::users::LookupError> {
        match self {
            Principal::Id(gid) => Ok(Some(*gid)),
            Principal::Name(name) => crate::system::users::lookup_gid(name),
        }
    }

    /// The uid this principal names as a user, if the user exists.
    pub fn uid(&self) -> Option<u32> {
        match self {
            Principal::Id(uid) => Some(*uid),
            Principal::Name(name) => crate::system::users::uid_of(name),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Id(id) => write!(f, "{id}"),
            Principal::Name(name) => f.write_str(name),
        }
    }
}

/// What happens when no syslog daemon is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuditMode {
    /// Run, with one warning on stderr.
    #[default]
    BestEffort,
    /// Refuse to run.
    Required,
}

/// One `[envs.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSettings {
    /// Who may run it: members of any of these groups (absent: `default_groups`).
    #[serde(default)]
    pub groups: Option<Vec<Principal>>,
    /// Users who may run it in addition to the groups.
    #[serde(default)]
    pub users: Option<Vec<Principal>>,
    #[serde(default, deserialize_with = "deserialize_optional_umask")]
    pub umask: Option<u32>,
    #[serde(default)]
    pub landlock: Option<LandlockMode>,
    #[serde(default)]
    pub readonly_paths: Option<Vec<PathBuf>>,
    /// What the env is for, one line: shown by list, info and access.
    #[serde(default)]
    pub description: Option<String>,
    /// The env is being retired: this message is printed once to stderr by
    /// run, shell and activate, noted in the audit line, shown by list,
    /// info and usage.
    #[serde(default)]
    pub deprecated: Option<String>,
    /// The env to use instead (with `deprecated`).
    #[serde(default)]
    pub successor: Option<String>,
    /// The day from which `after_until` applies (YYYY-MM-DD, with `deprecated`).
    #[serde(default, deserialize_with = "deserialize_optional_day")]
    pub until: Option<String>,
}

/// Why an env should no longer be used, from its table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deprecation {
    pub message: String,
    pub successor: Option<String>,
    /// YYYY-MM-DD
    pub until: Option<String>,
}

impl Deprecation {
    /// One line: `deprecated: MESSAGE; use 'tf-2' instead; until 2027-01-31`.
    pub fn line(&self, env: &str) -> String {
        let mut line = format!("env '{env}' is deprecated: {}", self.message);
        if let Some(successor) = &self.successor {
            line.push_str(&format!("; use '{successor}' instead"));
        }
        if let Some(until) = &self.until {
            line.push_str(&format!("; until {until}"));
        }
        line
    }

    /// Whether `until` has passed (today, local time, is after it).
    pub fn past(&self, today: &str) -> bool {
        self.until.as_deref().is_some_and(|until| today > until)
    }
}

/// What a deprecated env's run does once its `until` day has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AfterUntil {
    /// Run, with the notice (and `RETIRED` in it).
    #[default]
    Warn,
    /// Refuse the run, naming the successor.
    Refuse,
}

fn deserialize_optional_day<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    let b = text.as_bytes();
    let shape = text.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let in_range = shape
        && text[5..7].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
        && text[8..10].parse::<u32>().is_ok_and(|d| (1..=31).contains(&d));
    if !in_range {
        return Err(serde::de::Error::custom(format!(
            "until must be a day like \"2027-01-31\", not {text:?}"
        )));
    }
    Ok(Some(text))
}

/// The settings in force for one env: the global ones with its table's
/// overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveSettings {
    /// The key the env's table would have (its name, `base`, or its path).
    pub key: String,
    pub groups: Vec<Principal>,
    pub users: Vec<Principal>,
    pub umask: u32,
    pub landlock: LandlockMode,
    pub readonly_paths: Vec<PathBuf>,
    pub description: Option<String>,
    pub deprecated: Option<Deprecation>,
}

impl EffectiveSettings {
    /// True when the config restricts who may use the env.
    pub fn restricted(&self) -> bool {
        !self.groups.is_empty() || !self.users.is_empty()
    }
}

fn default_envs_dir_mode() -> u32 {
    0o2750
}

fn deserialize_mode<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    let valid = !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match valid.then(|| u32::from_str_radix(&text, 8)) {
        Some(Ok(mode)) => Ok(mode),
        _ => Err(serde::de::Error::custom(format!(
            "a mode must be an octal string like \"2750\", not {text:?}"
        ))),
    }
}

fn default_true() -> bool {
    true
}

fn deserialize_optional_umask<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u32>, D::Error> {
    deserialize_umask(d).map(Some)
}

fn default_envs_dirs() -> Vec<PathBuf> {
    vec![PathBuf::from(DEFAULT_ENVS_DIR)]
}

fn default_umask() -> u32 {
    DEFAULT_UMASK
}

fn deserialize_umask<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    parse_umask(&text).map_err(serde::de::Error::custom)
}

/// Parses an octal umask such as `027` or `0077`.
pub fn parse_umask(text: &str) -> std::result::Result<u32, String> {
    let valid = !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match valid.then(|| u32::from_str_radix(text, 8)) {
        Some(Ok(mask)) if mask <= 0o777 => Ok(mask),
        _ => Err(format!(
            "umask must be an octal string like \"027\", not {text:?}"
        )),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            envs_dirs: default_envs_dirs(),
            base_prefix: None,
            umask: DEFAULT_UMASK,
            allow_root: false,
            landlock: LandlockMode::default(),
            readonly_paths_setting: None,
            default_groups: Vec::new(),
            trusted_owners: None,
            trusted_groups: Vec::new(),
            strict_permissions: true,
            audit: AuditMode::default(),
            envs: BTreeMap::new(),
            audit_login: true,
            after_until: AfterUntil::default(),
            login_umask_groups: Vec::new(),
            envs_dir_mode: default_envs_dir_mode(),
            default_envs: BTreeMap::new(),
            notebook_any_ip: false,
            notebook_restrict_binds: false,
            contact: None,
            user_envs_dirs: Vec::new(),
            base_inferred: false,
        }
    }
}

impl Config {
    /// Whom to ask about the env at `prefix`: the configured `contact`, else
    /// the env's owner, else — where the caller cannot even look at it —
    /// the owner of the nearest directory above it they can see (the envs
    /// root: the env admin), never a made-up "root".
    pub fn admin_of(&self, prefix: &Path) -> String {
        use std::os::unix::fs::MetadataExt;
        if let Some(contact) = &self.contact {
            return contact.clone();
        }
        prefix
            .ancestors()
            .find_map(|p| std::fs::metadata(p).ok())
            .map_or_else(
                || "the env admin".into(),
                |m| crate::system::users::user_name(m.uid()),
            )
    }

    /// Without a configured `base_prefix`, the base install as conda lays
    /// it out: an envs root `<base>/envs` whose parent holds `conda-meta/`.
    /// Its `pkgs/` — the package cache every env's files are hard links of —
    /// is then read-only for runs by default, and `cenv run base` works, as
    /// after `conda activate`. The first root that fits decides; a config
    /// that names `base_prefix` is taken as it is.
    pub fn infer_base_prefix(&mut self) {
        if self.base_prefix.is_some() {
            return;
        }
        let inferred = self
            .envs_dirs
            .iter()
            .filter(|dir| !self.user_envs_dirs.contains(dir))
            .filter(|dir| dir.file_name().is_some_and(|n| n == "envs"))
            .filter_map(|dir| dir.parent())
            .find(|base| base.join("conda-meta").is_dir());
        if let Some(base) = inferred {
            self.base_prefix = Some(base.to_owned());
            self.base_inferred = true;
        }
    }

    /// Parses a configuration file's text; errors carry line and column.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((1, 1));
            Error::ConfigSyntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })
    }

    /// The key under which `[envs.KEY]` describes the env at `prefix`
    /// (canonical): `base` for the base install, the name for an env directly
    /// in an envs directory, the path otherwise. Policy follows the resolved
    /// prefix, never the spelling the caller used.
    pub fn env_key(&self, prefix: &Path) -> String {
        // the literal comparison first: it is the common case and costs no syscall
        let same = |configured: &Path, real: &Path| {
            configured == real || crate::system::paths::canonical(configured).is_ok_and(|c| c == real)
        };
        if let Some(base) = &self.base_prefix {
            if same(base, prefix) {
                return "base".into();
            }
        }
        let in_envs_dir = prefix.parent().is_some_and(|parent| {
            self.envs_dirs
                .iter()
                .chain(self.base_prefix.as_ref().map(|b| b.join("envs")).as_ref())
                .any(|dir| same(dir, parent))
        });
        match (in_envs_dir, prefix.file_name().and_then(|n| n.to_str())) {
            (true, Some(name)) => name.to_owned(),
            // a bind mount of an env is that env: the policy follows what it
            // is, not the path it is named by
            _ => self
                .env_key_of_alias(prefix)
                .unwrap_or_else(|| prefix.display().to_string()),
        }
    }

    /// The key of the env that `prefix` shows through a bind mount, when it
    /// is one of the envs directories' envs (or the base install).
    fn env_key_of_alias(&self, prefix: &Path) -> Option<String> {
        crate::system::mounts::Mounts::current()
            .aliases(prefix)
            .into_iter()
            .filter(|alias| alias.as_path() != prefix)
            .find_map(|alias| {
                let key = self.env_key_direct(&alias)?;
                Some(key)
            })
    }

    /// [`Config::env_key`] without alias lookup: `base`, or the name of an env
    /// directly in an envs directory.
    fn env_key_direct(&self, prefix: &Path) -> Option<String> {
        let same = |configured: &Path, real: &Path| {
            configured == real || crate::system::paths::canonical(configured).is_ok_and(|c| c == real)
        };
        if self.base_prefix.as_deref().is_some_and(|b| same(b, prefix)) {
            return Some("base".into());
        }
        let parent = prefix.parent()?;
        let in_envs_dir = self
            .envs_dirs
            .iter()
            .chain(self.base_prefix.as_ref().map(|b| b.join("envs")).as_ref())
            .any(|dir| same(dir, parent));
        in_envs_dir
            .then(|| prefix.file_name()?.to_str().map(str::to_owned))
            .flatten()
    }

    /// The table for the env at `prefix`, if the config has one.
    pub fn env_table(&self, prefix: &Path) -> (String, Option<&EnvSettings>) {
        let key = self.env_key(prefix);
        if let Some(table) = self.envs.get(&key) {
            return (key, Some(table));
        }
        // a path key may be written in another spelling of the same path
        let by_path = self
            .envs
            .iter()
            .filter(|(k, _)| k.contains('/'))
            .find(|(k, _)| crate::system::paths::canonical(k).is_ok_and(|p| p == prefix))
            .map(|(_, t)| t);
        (key, by_path)
    }

    /// The description and retirement notice of the env at `prefix`, from
    /// its table alone.
    pub fn notices_for(&self, prefix: &Path) -> (Option<String>, Option<Deprecation>) {
        Self::notices_of(self.env_table(prefix).1)
    }

    /// The same for an env known by name.
    pub fn notices_for_name(&self, name: &str) -> (Option<String>, Option<Deprecation>) {
        Self::notices_of(self.envs.get(name))
    }

    fn notices_of(table: Option<&EnvSettings>) -> (Option<String>, Option<Deprecation>) {
        let Some(table) = table else {
            return (None, None);
        };
        (
            table.description.clone(),
            table.deprecated.clone().map(|message| Deprecation {
                message,
                successor: table.successor.clone(),
                until: table.until.clone(),
            }),
        )
    }

    /// True when the config restricts who may use some env.
    pub fn restricts_use(&self) -> bool {
        !self.default_groups.is_empty()
            || self.envs.values().any(|t| {
                t.groups.as_ref().is_some_and(|g| !g.is_empty())
                    || t.users.as_ref().is_some_and(|u| !u.is_empty())
            })
    }

    /// The settings in force for the env at `prefix`.
    pub fn settings_for(&self, prefix: &Path) -> EffectiveSettings {
        let (key, table) = self.env_table(prefix);
        self.settings_from(key, table)
    }

    /// The settings for an env known only by its name (one the caller cannot
    /// see, so that the policy can still answer).
    pub fn settings_for_name(&self, name: &str) -> EffectiveSettings {
        self.settings_from(name.to_owned(), self.envs.get(name))
    }

    fn settings_from(&self, key: String, table: Option<&EnvSettings>) -> EffectiveSettings {
        let table = table.cloned().unwrap_or_default();
        EffectiveSettings {
            key,
            groups: table.groups.unwrap_or_else(|| self.default_groups.clone()),
            users: table.users.unwrap_or_default(),
            umask: table.umask.unwrap_or(self.umask),
            landlock: table.landlock.unwrap_or(self.landlock),
            readonly_paths: table.readonly_paths.unwrap_or_else(|| self.readonly_paths()),
            description: table.description,
            deprecated: table.deprecated.map(|message| Deprecation {
                message,
                successor: table.successor,
                until: table.until,
            }),
        }
    }

    /// The trees the Landlock rule makes read-only besides the env itself.
    pub fn readonly_paths(&self) -> Vec<PathBuf> {
        match (&self.readonly_paths_setting, &self.base_prefix) {
            (Some(paths), _) => paths.clone(),
            (None, Some(base)) if base.join("pkgs").is_dir() => vec![base.join("pkgs")],
            (None, _) => Vec::new(),
        }
    }
}

impl LandlockMode {
    fn strictness(self) -> u8 {
        match self {
            LandlockMode::Off => 0,
            LandlockMode::BestEffort => 1,
            LandlockMode::Enforce => 2,
        }
    }
}

impl Config {
    /// A user's own config laid over the system's: it may add places to
    /// search (`envs_dirs`), trees to make read-only, a base install when
    /// the system names none, and tighten the umask, Landlock,
    /// `strict_permissions` and the audit mode. It never lifts the system's
    /// policy or trust rules: keys that would are ignored, each with a
    /// warning in the returned list.
    pub fn layered_with(&self, user: &Config, user_path: &Path) -> (Config, Vec<String>) {
        let mut warnings = Vec::new();
        let defaults = Config::default();
        let mut ignore = |key: &str, set: bool| {
            if set {
                warnings.push(format!(
                    "ignoring {key} in {}: a user's config cannot change the policy or trust rules \
                     of the system config {SYSTEM_CONFIG_PATH}",
                    user_path.display()
                ));
            }
        };
        ignore("default_groups", user.default_groups != defaults.default_groups);
        ignore("trusted_owners", user.trusted_owners.is_some());
        ignore("trusted_groups", !user.trusted_groups.is_empty());
        ignore("allow_root", user.allow_root);
        ignore("[envs.*] tables", !user.envs.is_empty());
        ignore("login_umask_groups", !user.login_umask_groups.is_empty());
        ignore("default_envs", !user.default_envs.is_empty());
        ignore("notebook_any_ip", user.notebook_any_ip);
        ignore("contact", user.contact.is_some());
        // which env is `base` decides which policy ([envs.base]) judges it
        // and what the audit line calls it
        ignore("base_prefix", user.base_prefix.is_some() && !user.base_inferred);
        let mut merged = self.clone();
        for dir in &user.envs_dirs {
            if !merged.envs_dirs.contains(dir) {
                merged.envs_dirs.push(dir.clone());
                merged.user_envs_dirs.push(dir.clone());
            }
        }
        merged.umask |= user.umask;
        if user.landlock.strictness() > merged.landlock.strictness() {
            merged.landlock = user.landlock;
        }
        if let Some(extra) = &user.readonly_paths_setting {
            let mut paths = self.readonly_paths();
            paths.extend(extra.iter().cloned());
            merged.readonly_paths_setting = Some(paths);
        }
        merged.strict_permissions |= user.strict_permissions;
        merged.notebook_restrict_binds |= user.notebook_restrict_binds;
        if user.audit == AuditMode::Required {
            merged.audit = AuditMode::Required;
        }
        // what reaches the audit trail is the system's to say
        ignore("audit_login", !user.audit_login);
        (merged, warnings)
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

/// The configuration in force for this run and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: PathBuf,
    /// False when the file did not exist and the defaults apply.
    pub from_file: bool,
}

impl crate::system::output::Described for LoadedConfig {
    fn step(&self) -> &'static str {
        "config"
    }

    fn describe(&self) -> String {
        let base = match (&self.config.base_prefix, self.config.base_inferred) {
            (Some(base), true) => format!(
                "; base install {} (found: the envs root {} holds conda-meta/ above it)",
                base.display(),
                base.join("envs").display()
            ),
            _ => String::new(),
        };
        match self.from_file {
            true => format!("{}{base}", self.path.display()),
            false => format!("{} does not exist: the defaults{base}", self.path.display()),
        }
    }
}

/// Picks the file this caller may use and loads it.
pub fn load(process: &Process, cli_path: Option<&Path>) -> Result<LoadedConfig> {
    let requested = cli_path.map(Path::to_path_buf).or_else(|| {
        process
            .environ
            .get("CENV_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match requested {
        Some(path) if !process.is_privileged() => {
            let system = load_file(Path::new(SYSTEM_CONFIG_PATH), true)?;
            let user = load_file(&path, false)?;
            if !system.from_file {
                // no system config: the user's own file is the only policy,
                // and it can only ever affect the user's own runs
                return Ok(user);
            }
            let (config, warnings) = system.config.layered_with(&user.config, &path);
            for w in &warnings {
                crate::system::output::warning(&crate::system::escape::text(w));
            }
            Ok(LoadedConfig {
                config,
                path: system.path,
                from_file: true,
            })
        }
        Some(path) => {
            crate::system::output::warning(&format!(
                "ignoring config {} for a privileged run; using {}",
                crate::system::escape::path(&path),
                SYSTEM_CONFIG_PATH
            ));
            load_file(Path::new(SYSTEM_CONFIG_PATH), true)
        }
        None => load_file(Path::new(SYSTEM_CONFIG_PATH), true),
    }
}

/// The most cenv reads of a config file.
const CONFIG_LIMIT: u64 = 1 << 20;

fn load_file(path: &Path, system: bool) -> Result<LoadedConfig> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: a FIFO given as the config cannot hang cenv. Opened first
    // without following a symlink: "nothing there" is then one system call,
    // and a symlink is told apart from a file without another.
    let open = |follow: bool| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | if follow { 0 } else { libc::O_NOFOLLOW })
            .open(path)
    };
    let opened = match open(false) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => match open(true) {
            // a system config that is a symlink to nothing is not "no
            // config": whoever could remove its target would return every
            // run to the defaults
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && system => {
                let target = std::fs::read_link(path).unwrap_or_default();
                return Err(Error::ConfigValue {
                    path: path.to_owned(),
                    message: format!(
                        "the system config is a symlink to {}, which does not exist: refusing to run with the \
                         defaults (whoever removed it could lift every restriction); restore the file, or \
                         remove the link if no config is meant",
                        target.display()
                    ),
                });
            }
            other => other,
        },
        other => other,
    };
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && system => {
            let mut config = Config::default();
            config.infer_base_prefix();
            return Ok(LoadedConfig {
                config,
                path: path.to_owned(),
                from_file: false,
            });
        }
        Err(source) => {
            return Err(Error::ConfigRead {
                path: path.to_owned(),
                source,
            })
        }
    };
    if system {
        check_config_trust(path, &file)?;
    }
    let meta = file.metadata().ok().filter(std::fs::Metadata::is_file);
    let Some(meta) = meta else {
        return Err(Error::ConfigValue {
            path: path.to_owned(),
            message: "a config must be a regular file (this is a device, FIFO, socket or directory)".into(),
        });
    };
    let bytes =
        crate::system::wholefile::read_capped(&file, meta.len(), CONFIG_LIMIT).map_err(|message| {
            Error::ConfigValue {
                path: path.to_owned(),
                message,
            }
        })?;
    crate::system::process::close_at_exec(file);
    let text = String::from_utf8(bytes).map_err(|_| Error::ConfigValue {
        path: path.to_owned(),
        message: "the file is not valid UTF-8".into(),
    })?;
    let mut config = Config::parse(&text, path)?;
    config.infer_base_prefix();
    Ok(LoadedConfig {
        config,
        path: path.to_owned(),
        from_file: true,
    })
}

/// The system config must be a regular file owned by root and not writable
/// by group or others, in a directory with the same properties (as sudo
/// checks sudoers). The file is judged through the descriptor it is read from.
pub fn check_config_trust(path: &Path, file: &std::fs::File) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let untrusted = |what: &Path, problem: String, fix: String| Error::ConfigUntrusted {
        path: what.to_owned(),
        problem,
        fix,
    };
    let meta = file.metadata().map_err(|source| Error::ConfigRead {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(untrusted(
            path,
            "it is not a regular file".into(),
            format!("replace {} with a regular file", path.display()),
        ));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_meta = std::fs::symlink_metadata(dir).map_err(|source| Error::ConfigRead {
        path: dir.to_owned(),
        source,
    })?;
    for (what, meta, kind) in [(path, &meta, "file"), (dir, &dir_meta, "directory")] {
        if meta.uid() != 0 {
            return Err(untrusted(
                what,
                format!(
                    "the {kind} is owned by {}, not root",
                    crate::system::users::user_name(meta.uid())
                ),
                format!("chown root {}", what.display()),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(untrusted(
                what,
                format!(
                    "the {kind} is writable by {} (mode {:04o})",
                    if meta.mode() & 0o002 != 0 {
                        "everyone"
                    } else {
                        "its group"
                    },
                    meta.mode() & 0o7777
                ),
                format!("chmod go-w {}", what.display()),
            ));
        }
    }
    if !dir_meta.is_dir() {
        return Err(untrusted(
            dir,
            "it is not a directory".into(),
            format!("ls -ld {}", dir.display()),
        ));
    }
    // Every directory above it too, as for an env: whoever owns or may
    // write one of them could put another directory (or none: the defaults)
    // in the config's place. For a config that is a symlink (config
    // management, a cluster's shared file) the directories above the file
    // it leads to as well: they decide what is read.
    let root_only = crate::system::permissions::TrustRules {
        owners: vec![0],
        groups: Vec::new(),
    };
    let mut chains = vec![
        crate::system::paths::canonical(dir).map_err(|source| Error::ConfigRead {
            path: dir.to_owned(),
            source,
        })?,
    ];
    let real = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file))).ok();
    if let Some(real_dir) = real.as_deref().and_then(Path::parent) {
        if !chains.iter().any(|c| c == real_dir) {
            chains.push(real_dir.to_owned());
        }
    }
    for (i, chain) in chains.iter().enumerate() {
        let findings =
            crate::system::permissions::check_chain(chain, &root_only).map_err(|e| Error::ConfigValue {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        if let Some(finding) = findings.first() {
            let above = match (i, real.as_deref()) {
                (1, Some(real)) => format!("above the file it leads to, {},", real.display()),
                _ => "above it".to_owned(),
            };
            return Err(untrusted(
                path,
                format!(
                    "the directory {} {above} {}",
                    finding.path.display(),
                    finding.describe()
                ),
                finding.fix(),
            ));
        }
    }
    Ok(())
}

/// Whether a configured path is one cenv can use as it is: absolute, with
/// no `~` or glob characters (the config is not expanded by a shell).
fn path_problem(path: &Path) -> Option<&'static str> {
    let text = path.to_string_lossy();
    if text.starts_with('~') || text.contains("/~") {
        Some("contains '~', which cenv does not expand")
    } else if !path.is_absolute() {
        Some("is not an absolute path")
    } else if text.contains(['*', '?', '[']) {
        Some("contains a glob character, which cenv does not expand")
    } else {
        None
    }
}

/// Settings that are allowed but weaken what cenv guarantees (check-config
/// prints them).
pub fn weakening_warnings(config: &Config, path: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut warn = |what: String| warnings.push(format!("{}: warning: {what}", path.display()));
    let mut paths: Vec<(String, &Path)> = config
        .envs_dirs
        .iter()
        .map(|p| ("envs_dirs".to_owned(), p.as_path()))
        .collect();
    paths.extend(
        config
            .base_prefix
            .iter()
            .map(|p| ("base_prefix".to_owned(), p.as_path())),
    );
    for p in config.readonly_paths_setting.iter().flatten() {
        paths.push(("readonly_paths".into(), p));
    }
    for (key, table) in &config.envs {
        for p in table.readonly_paths.iter().flatten() {
            paths.push((format!("[envs.{key}] readonly_paths"), p));
        }
    }
    for (key, p) in paths {
        if let Some(problem) = path_problem(p) {
            warn(format!("{key}: {} {problem}", p.display()));
        }
    }
    let mut umasks = vec![("umask".to_owned(), config.umask)];
    let mut landlocks = vec![("landlock".to_owned(), config.landlock)];
    for (key, table) in &config.envs {
        umasks.extend(table.umask.map(|u| (format!("[envs.{key}] umask"), u)));
        landlocks.extend(table.landlock.map(|l| (format!("[envs.{key}] landlock"), l)));
    }
    for (key, umask) in umasks {
        if umask & DEFAULT_UMASK != DEFAULT_UMASK {
            warn(format!(
                "{key} = \"{umask:03o}\" is looser than {DEFAULT_UMASK:03o}: files runs create can be read by everyone"
            ));
        }
    }
    for (key, mode) in landlocks {
        if mode == LandlockMode::Off {
            warn(format!(
                "{key} = \"off\": the env is not read-only for what runs in it"
            ));
        }
    }
    if !config.strict_permissions {
        warn("strict_permissions = false: untrusted envs run with a warning".into());
    }
    if config.notebook_any_ip {
        warn(
            "notebook_any_ip = true: cenv notebook may serve beyond loopback, where anyone who \
             reaches the port can try its token"
                .into(),
        );
    }
    warnings
}

/// `cenv check-config [PATH]`: every problem of a config file, without
/// running anything (like `visudo -c`). Returns the problems found.
pub fn check(path: &Path) -> Vec<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut problems = Vec::new();
    // without blocking: a FIFO named here cannot hang check-config (the
    // trust check then says it is not a regular file)
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) => return vec![format!("cannot read {}: {e}", path.display())],
    };
    if let Err(e) = check_config_trust(path, &file) {
        problems.push(e.to_string());
    }
    let config = match load_file(path, false) {
        Ok(loaded) => loaded.config,
        Err(e) => {
            problems.push(e.to_string());
            return problems;
        }
    };
    // a lookup that failed is not an answer: said as such, never "no group"
    let group_problem = |g: &Principal| match g.lookup_gid() {
        Ok(Some(_)) => None,
        Ok(None) => Some(format!("no group named '{g}'")),
        Err(e) => Some(format!("cannot check the group '{g}': {e}")),
    };
    let user_exists = |u: &Principal| match u {
        Principal::Id(_) => true,
        Principal::Name(_) => u.uid().is_some(),
    };
    let check_groups = |problems: &mut Vec<String>, what: &str, groups: &[Principal]| {
        for problem in groups.iter().filter_map(group_problem) {
            problems.push(format!("{}: {what}: {problem}", path.display()));
        }
    };
    problems.extend(weakening_warnings(&config, path));
    for (name, table) in &config.envs {
        if table.deprecated.is_none() && (table.until.is_some() || table.successor.is_some()) {
            problems.push(format!(
                "{}: [envs.{name}]: until and successor do nothing without deprecated = \"MESSAGE\"",
                path.display()
            ));
        }
    }
    if config.allow_root {
        problems.push(format!(
            "{}: warning: allow_root = true: root may run commands as root; with every capability \
             cleared uid 0 still owns most of the system (it can read root-only files it owns, such \
             as /etc/shadow, and write files root owns); /etc, /usr, /boot and the envs roots are \
             read-only for such runs, nothing else is",
            path.display()
        ));
    }
    check_groups(&mut problems, "default_groups", &config.default_groups);
    check_groups(&mut problems, "trusted_groups", &config.trusted_groups);
    check_groups(&mut problems, "login_umask_groups", &config.login_umask_groups);
    for (group, env) in &config.default_envs {
        check_groups(&mut problems, "default_envs", &[Principal::Name(group.clone())]);
        if !config.policy_env_exists(env) {
            problems.push(format!(
                "{}: default_envs: {group} = '{env}': no such env",
                path.display()
            ));
        }
    }
    for (key, table) in &config.envs {
        check_groups(
            &mut problems,
            &format!("[envs.{key}] groups"),
            table.groups.as_deref().unwrap_or_default(),
        );
    }
    let check_users = |problems: &mut Vec<String>, what: &str, users: &[Principal]| {
        for u in users.iter().filter(|u| !user_exists(u)) {
            problems.push(format!("{}: {what}: no user named '{u}'", path.display()));
        }
    };
    check_users(
        &mut problems,
        "trusted_owners",
        config.trusted_owners.as_deref().unwrap_or_default(),
    );
    for (key, table) in &config.envs {
        check_users(
            &mut problems,
            &format!("[envs.{key}] users"),
            table.users.as_deref().unwrap_or_default(),
        );
    }
    for key in config.envs.keys() {
        if !config.policy_env_exists(key) {
            problems.push(format!(
                "{}: [envs.{key}]: no such env in {}",
                path.display(),
                config
                    .envs_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    problems
}

impl Config {
    /// Whether an `[envs.KEY]` table names an env that exists: a name in one
    /// of the envs directories, `base`, or a prefix path.
    fn policy_env_exists(&self, key: &str) -> bool {
        let is_env = |p: &Path| p.join("conda-meta").is_dir();
        if key.contains('/') {
            return is_env(Path::new(key));
        }
        if key == "base" || key == "root" {
            return self.base_prefix.as_deref().is_some_and(is_env);
        }
        self.envs_dirs
            .iter()
            .chain(self.base_prefix.as_ref().map(|b| b.join("envs")).as_ref())
            .any(|dir| is_env(&dir.join(key)))
    }
}

#[cfg(test)]
mod tests {
    /// The shipped template (packaging/cenv.toml): every `#key = value`
    /// line not marked `(example)` is the key at its default — the default
    /// KEYS documents, parsed to the same value as no line at all; every
    /// documented key appears; uncommented, the whole file parses.
    #[test]
    fn the_shipped_template_shows_defaults_and_marks_examples() {
        let template = include_str!("../../packaging/cenv.toml");
        let mut seen = Vec::new();
        let mut uncommented = String::new();
        for line in template.lines() {
            let Some(body) = line.strip_prefix('#') else {
                continue;
            };
            let Some((key, value)) = body.split_once(" = ") else {
                if let Some(table) = body.strip_suffix("  (example)").filter(|b| b.starts_with('[')) {
                    uncommented.push_str(table);
                    uncommented.push('\n');
                    let name = table
                        .trim_matches(['[', ']'])
                        .split('.')
                        .next()
                        .unwrap_or_default();
                    seen.push(name.to_owned());
                }
                continue;
            };
            if key.contains(' ') || key.is_empty() {
                continue;
            }
            let (value, example) = match value.strip_suffix("  (example)") {
                Some(v) => (v, true),
                None => (value, false),
            };
            uncommented.push_str(&format!("{key} = {value}\n"));
            seen.push(key.to_owned());
            let Some(doc) = KEYS.iter().find(|k| k.name == key) else {
                // a key inside an example table
                assert!(example, "{key}: not a top-level key, and not marked (example)");
                continue;
            };
            if !example {
                assert_eq!(
                    value, doc.default,
                    "{key}: the template shows {value} without (example), the default is {}",
                    doc.default
                );
                let at_default = Config::parse(&format!("{key} = {value}\n"), Path::new("t")).unwrap();
                let none = Config::parse("", Path::new("t")).unwrap();
                assert_eq!(
                    format!("{at_default:?}"),
                    format!("{none:?}"),
                    "{key} = {value} is not the default"
                );
            }
        }
        for doc in KEYS {
            assert!(
                seen.iter().any(|k| k == doc.name),
                "{} is not in the template",
                doc.name
            );
        }
        Config::parse(&uncommented, Path::new("t")).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    }

    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/cenv/cenv.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.envs_dirs, vec![PathBuf::from("/opt/miniconda/envs")]);
        assert_eq!(c.base_prefix, None);
        assert_eq!(c.umask, 0o027);
        assert_eq!(c.landlock, LandlockMode::Enforce);
        assert!(!c.allow_root);
    }

    #[test]
    fn reads_all_keys() {
        let c = parse(
            "envs_dirs = [\"/a/envs\", \"/b/envs\"]\nbase_prefix = \"/a\"\numask = \"077\"\n\
             allow_root = true\nlandlock = \"best-effort\"\nreadonly_paths = [\"/a/pkgs\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.envs_dirs,
            vec![PathBuf::from("/a/envs"), PathBuf::from("/b/envs")]
        );
        assert_eq!(c.base_prefix, Some(PathBuf::from("/a")));
        assert_eq!(c.umask, 0o077);
        assert!(c.allow_root);
        assert_eq!(c.landlock, LandlockMode::BestEffort);
        assert_eq!(c.readonly_paths(), vec![PathBuf::from("/a/pkgs")]);
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let err = parse("base_prefix = \"/a\"\n  envs_dir = [\"/x\"]\n").unwrap_err();
        match err {
            Error::ConfigSyntax {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!((line, column), (2, 3));
                assert!(message.contains("unknown field `envs_dir`"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let err = parse("envs_dirs = [\"/a\"\nbase_prefix = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/etc/cenv/cenv.toml:2:"), "{text}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let text = parse("envs_dirs = \"/a\"\n").unwrap_err().to_string();
        assert!(text.starts_with("/etc/cenv/cenv.toml:1:13:"), "{text}");
    }

    #[test]
    fn umask_must_be_octal_string() {
        assert!(parse("umask = \"028\"\n").is_err());
        assert!(parse("umask = 27\n").is_err());
        assert!(parse("umask = \"1777\"\n").is_err());
        assert_eq!(parse_umask("0027"), Ok(0o027));
        assert!(parse_umask("").is_err());
    }

    #[test]
    fn every_key_is_documented_and_every_documented_key_parses() {
        for key in KEYS {
            parse(&format!("{} = {}\n", key.name, key.sample))
                .unwrap_or_else(|e| panic!("{}: {e}", key.name));
        }
        let message = parse("no_such_key = 1\n").unwrap_err().to_string();
        let expected = message
            .split("expected one of ")
            .nth(1)
            .expect("the parser lists its keys");
        for field in expected.split(", ") {
            let field = field.trim().trim_matches('`');
            assert!(KEYS.iter().any(|k| k.name == field), "key {field} is not in KEYS");
        }
    }

    #[test]
    fn landlock_mode_values() {
        assert_eq!(parse("landlock = \"off\"\n").unwrap().landlock, LandlockMode::Off);
        assert!(parse("landlock = \"maybe\"\n").is_err());
    }
}
