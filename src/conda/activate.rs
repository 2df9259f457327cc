//! The environment `conda activate` produces for a prefix on Linux, computed as
//! a plan: scripts to source and variables to unset and export, in the order
//! conda emits them (conda/conda `conda/activate.py`, `_build_activate_stack`
//! without `--stack`, and `build_reactivate` when the prefix is already active).
//!
//! The plan is applied in one of two ways. When the env has no activate.d or
//! deactivate.d scripts — the common case — the changes are applied directly to
//! the environment value (no shell is started). Otherwise the plan is rendered as
//! a POSIX shell script, sourced by `/bin/sh`, and the resulting environment is
//! taken back (see [`crate::run::scripts`]). Both give the same result.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::conda::files::{PrefixDir, ENV_VARS_LIMIT};
use crate::error::{Error, Result};
use crate::system::environ::Environ;

/// Where an env keeps the scripts activation sources.
pub const ACTIVATE_DIR: &str = "etc/conda/activate.d";
/// ...and those deactivation sources.
pub const DEACTIVATE_DIR: &str = "etc/conda/deactivate.d";

/// The value conda uses to mean "do not set this variable".
pub const UNSET_MARKER: &str = "***unset***";

/// What conda uses when `PATH` is not set at all (`_get_starting_path_list`).
pub const PATH_WHEN_UNSET: &str = "/usr/bin";

/// The conda installation the envs belong to, as far as activation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseInstall {
    pub prefix: PathBuf,
    /// `PREFIX/bin/conda` and the Python that runs it, when they exist.
    pub conda_exe: Option<PathBuf>,
    pub python_exe: Option<PathBuf>,
}

impl BaseInstall {
    /// Looks at `prefix` to see whether it carries conda itself.
    pub fn probe(prefix: &Path) -> BaseInstall {
        let prefix = crate::system::paths::canonical(prefix).unwrap_or_else(|_| prefix.to_owned());
        let existing = |p: PathBuf| p.exists().then_some(p);
        BaseInstall {
            conda_exe: existing(prefix.join("bin/conda")),
            python_exe: existing(prefix.join("bin/python")),
            prefix,
        }
    }
}

/// One change to the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Unset(OsString),
    Export(OsString, OsString),
}

/// Everything activation does, in order: source `deactivate_scripts`, apply
/// `changes`, source `activate_scripts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationPlan {
    pub prefix: PathBuf,
    pub deactivate_scripts: Vec<PathBuf>,
    pub changes: Vec<Change>,
    pub activate_scripts: Vec<PathBuf>,
    /// Problems that do not stop activation (skipped variable names, ...).
    pub warnings: Vec<String>,
}

impl ActivationPlan {
    /// The `CONDA_PROMPT_MODIFIER` this activation exports.
    pub fn prompt_modifier(&self) -> Option<&OsStr> {
        self.changes.iter().find_map(|c| match c {
            Change::Export(name, value) if name == "CONDA_PROMPT_MODIFIER" => Some(value.as_os_str()),
            _ => None,
        })
    }

    /// True when a shell must source scripts; false on the fast path.
    pub fn needs_shell(&self) -> bool {
        !self.deactivate_scripts.is_empty() || !self.activate_scripts.is_empty()
    }

    /// Applies the variable changes to `environ` (the fast path, no scripts).
    pub fn apply_changes(&self, environ: &Environ) -> Environ {
        let mut result = environ.clone();
        for change in &self.changes {
            match change {
                Change::Unset(name) => result.remove(name),
                Change::Export(name, value) => result.set(name.clone(), value.clone()),
            }
        }
        result
    }

    /// The plan as a POSIX shell script, as conda's PosixActivator emits it.
    pub fn to_posix_script(&self) -> Vec<u8> {
        let mut script = Vec::new();
        for path in &self.deactivate_scripts {
            push_source(&mut script, path);
        }
        self.push_posix_changes(&mut script);
        for path in &self.activate_scripts {
            push_source(&mut script, path);
        }
        script
    }

    /// The variable changes alone, as POSIX `unset` and `export` lines.
    pub fn push_posix_changes(&self, script: &mut Vec<u8>) {
        for change in &self.changes {
            match change {
                Change::Unset(name) => {
                    script.extend_from_slice(b"unset ");
                    script.extend_from_slice(name.as_bytes());
                }
                Change::Export(name, value) => {
                    script.extend_from_slice(b"export ");
                    script.extend_from_slice(name.as_bytes());
                    script.push(b'=');
                    push_single_quoted(script, value.as_bytes());
                }
            }
            script.push(b'\n');
        }
    }
}

fn push_source(script: &mut Vec<u8>, path: &Path) {
    script.extend_from_slice(b". ");
    push_single_quoted(script, path.as_os_str().as_bytes());
    script.push(b'\n');
}

/// Single-quotes bytes for a POSIX shell: `'` becomes `'\''`; nothing else is
/// special inside single quotes.
pub fn push_single_quoted(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// Computes the activation of `prefix` (canonical) starting from `caller`.
pub fn plan_activation(
    prefix: &Path,
    caller: &Environ,
    base: Option<&BaseInstall>,
    extension: &str,
) -> Result<ActivationPlan> {
    plan_activation_in(&PrefixDir::open(prefix)?, caller, base, extension)
}

/// [`plan_activation`] of a prefix already opened (the trust check's).
pub fn plan_activation_in(
    dir: &PrefixDir,
    caller: &Environ,
    base: Option<&BaseInstall>,
    extension: &str,
) -> Result<ActivationPlan> {
    let prefix = dir.path();
    let mut warnings = Vec::new();
    let old_shlvl = parse_shlvl(caller, &mut warnings);
    let old_prefix = caller
        .get("CONDA_PREFIX")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let env_vars = env_vars_in(dir, &mut warnings)?;
    let activate_scripts = scripts_in_dir(dir, ACTIVATE_DIR, extension, false)?;
    let prompt = PromptStyle::of(caller);

    if old_shlvl > 0 && old_prefix.as_deref().is_some_and(|old| same_prefix(old, prefix)) {
        let mut plan = plan_reactivation(prefix, caller, base, old_shlvl, env_vars, &prompt, warnings);
        plan.deactivate_scripts = scripts_in_dir(dir, DEACTIVATE_DIR, extension, true)?;
        plan.activate_scripts = activate_scripts;
        return Ok(plan);
    }

    let default_env = default_env_name(prefix, base);
    let mut changes = Vec::new();
    let path = match (&old_prefix, old_shlvl) {
        (Some(old), shlvl) if shlvl > 0 => {
            replace_prefix_in_path(starting_path(caller), Some(old), Some(prefix))
        }
        _ => add_prefix_to_path(starting_path(caller), prefix, base),
    };
    changes.push(export("PATH", join_path(&path)));
    changes.push(export("CONDA_PREFIX", prefix.as_os_str()));
    changes.push(export("CONDA_SHLVL", (old_shlvl + 1).to_string()));
    changes.push(export("CONDA_DEFAULT_ENV", &default_env));
    changes.push(export(
        "CONDA_PROMPT_MODIFIER",
        prompt_modifier(&default_env, prefix, &prompt),
    ));

    let exported: Vec<(String, String)> = env_vars.into_iter().filter(|(_, v)| v != UNSET_MARKER).collect();
    // conda saves a variable it overwrites as __CONDA_SHLVL_<old>_<NAME> so that
    // deactivation can restore it.
    let mut saved = Vec::new();
    for (name, _) in &exported {
        if let Some(previous) = caller.get(name) {
            saved.push(export(
                format!("__CONDA_SHLVL_{old_shlvl}_{}", name.to_uppercase()),
                previous,
            ));
        }
    }
    for (name, value) in &exported {
        changes.push(export(name.to_uppercase(), value));
    }
    changes.extend(saved);

    let mut deactivate_scripts = Vec::new();
    if let (Some(old), true) = (&old_prefix, old_shlvl > 0) {
        changes.push(export(format!("CONDA_PREFIX_{old_shlvl}"), old.as_os_str()));
        deactivate_scripts = scripts_in(old, DEACTIVATE_DIR, extension, true)?;
    }
    changes.extend(conda_exe_changes(base));
    Ok(ActivationPlan {
        prefix: prefix.to_owned(),
        deactivate_scripts,
        changes: dedupe_exports(changes),
        activate_scripts,
        warnings,
    })
}

/// The same prefix activated again: conda's `build_reactivate`.
fn plan_reactivation(
    prefix: &Path,
    caller: &Environ,
    base: Option<&BaseInstall>,
    shlvl: u32,
    env_vars: Vec<(String, String)>,
    prompt: &PromptStyle,
    warnings: Vec<String>,
) -> ActivationPlan {
    let default_env = caller
        .get("CONDA_DEFAULT_ENV")
        .map(OsStr::to_owned)
        .unwrap_or_else(|| default_env_name(prefix, base));
    let path = replace_prefix_in_path(starting_path(caller), Some(prefix), Some(prefix));
    let mut changes = Vec::new();
    for (name, value) in &env_vars {
        if value == UNSET_MARKER {
            changes.push(Change::Unset(name.to_uppercase().into()));
        }
    }
    changes.push(export("PATH", join_path(&path)));
    changes.push(export("CONDA_SHLVL", shlvl.to_string()));
    changes.push(export(
        "CONDA_PROMPT_MODIFIER",
        prompt_modifier(&default_env, prefix, prompt),
    ));
    for (name, value) in env_vars.iter().filter(|(_, v)| v != UNSET_MARKER) {
        changes.push(export(name.to_uppercase(), value));
    }
    ActivationPlan {
        prefix: prefix.to_owned(),
        deactivate_scripts: Vec::new(),
        changes: dedupe_exports(changes),
        activate_scripts: Vec::new(),
        warnings,
    }
}

fn export(name: impl Into<OsString>, value: impl AsRef<OsStr>) -> Change {
    Change::Export(name.into(), value.as_ref().to_owned())
}

/// conda builds its exports as a dict: a later value for the same name wins,
/// at the position of the first. Do the same so the script and the direct
/// application agree on order.
fn dedupe_exports(changes: Vec<Change>) -> Vec<Change> {
    let mut result: Vec<Change> = Vec::with_capacity(changes.len());
    for change in changes {
        if let Change::Export(name, value) = &change {
            if let Some(Change::Export(_, slot)) = result
                .iter_mut()
                .find(|c| matches!(c, Change::Export(n, _) if n == name))
            {
                *slot = value.clone();
                continue;
            }
        }
        result.push(change);
    }
    // conda emits all unsets before all exports.
    result.sort_by_key(|c| matches!(c, Change::Export(..)));
    result
}

/// conda's `conda_exe_vars_dict`, only when the base install carries conda.
fn conda_exe_changes(base: Option<&BaseInstall>) -> Vec<Change> {
    let Some(base) = base else { return Vec::new() };
    let (Some(conda), Some(python)) = (&base.conda_exe, &base.python_exe) else {
        return Vec::new();
    };
    vec![
        export("CONDA_EXE", conda.as_os_str()),
        export("_CONDA_EXE", conda.as_os_str()),
        Change::Unset("_CE_M".into()),
        Change::Unset("_CE_CONDA".into()),
        export("CONDA_PYTHON_EXE", python.as_os_str()),
        export("_CONDA_ROOT", base.prefix.as_os_str()),
    ]
}

fn parse_shlvl(caller: &Environ, warnings: &mut Vec<String>) -> u32 {
    let Some(raw) = caller.get("CONDA_SHLVL") else {
        return 0;
    };
    let text = raw.to_string_lossy();
    let text = text.trim();
    if text.is_empty() {
        return 0;
    }
    text.parse().unwrap_or_else(|_| {
        warnings.push(format!("ignoring CONDA_SHLVL={text:?}: not a number"));
        0
    })
}

/// conda's `changeps1` setting as its environment variable states it, and
/// cenv's own `CENV_CHANGEPS1`; either one set to a false value turns the
/// prompt modifier off.
fn changeps1(caller: &Environ) -> bool {
    let off = |name: &str| {
        matches!(
            caller.get_str(name).map(str::to_ascii_lowercase).as_deref(),
            Some("false" | "no" | "off" | "0" | "n" | "f")
        )
    };
    !(off("CONDA_CHANGEPS1") || off("CENV_CHANGEPS1"))
}

/// What `CONDA_PROMPT_MODIFIER` is made of: nothing when the caller turned
/// prompt changes off (`CONDA_CHANGEPS1`), else conda's `env_prompt` template
/// (`CONDA_ENV_PROMPT`, default `({default_env}) `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptStyle {
    Off,
    Template(String),
}

impl PromptStyle {
    fn of(caller: &Environ) -> PromptStyle {
        if !changeps1(caller) {
            return PromptStyle::Off;
        }
        let template = caller.get_str("CONDA_ENV_PROMPT").unwrap_or("({default_env}) ");
        PromptStyle::Template(template.to_owned())
    }
}

/// Fills conda's template. Without `--stack` the stack shown is the env alone.
fn prompt_modifier(default_env: &OsStr, prefix: &Path, style: &PromptStyle) -> OsString {
    let PromptStyle::Template(template) = style else {
        return OsString::new();
    };
    let name = prefix.file_name().unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.extend_from_slice(&rest.as_bytes()[..open]);
        rest = &rest[open..];
        let field = ["{default_env}", "{stacked_env}", "{prefix}", "{name}"]
            .into_iter()
            .find(|f| rest.starts_with(f));
        match field {
            Some(f) => {
                let value: &OsStr = match f {
                    "{prefix}" => prefix.as_os_str(),
                    "{name}" => name,
                    _ => default_env,
                };
                out.extend_from_slice(value.as_bytes());
                rest = &rest[f.len()..];
            }
            None => {
                out.push(b'{');
                rest = &rest[1..];
            }
        }
    }
    out.extend_from_slice(rest.as_bytes());
    OsString::from_vec(out)
}

/// `base` for the base install, the basename when the parent is called `envs`,
/// otherwise the full path (conda's `_default_env`).
pub fn default_env_name(prefix: &Path, base: Option<&BaseInstall>) -> OsString {
    if base.is_some_and(|b| same_prefix(&b.prefix, prefix)) {
        return "base".into();
    }
    match (prefix.parent().and_then(Path::file_name), prefix.file_name()) {
        (Some(parent), Some(name)) if parent == "envs" => name.to_owned(),
        _ => prefix.as_os_str().to_owned(),
    }
}

fn same_prefix(a: &Path, b: &Path) -> bool {
    normpath(a.as_os_str().as_bytes()) == normpath(b.as_os_str().as_bytes())
        || crate::system::paths::canonical(a).is_ok_and(|a| a == b)
}

/// The caller's PATH as a list, each entry normalized as conda does
/// (`os.path.normpath`); `/usr/bin` when PATH is not set.
fn starting_path(caller: &Environ) -> Vec<Vec<u8>> {
    let path = caller
        .get("PATH")
        .map(OsStr::as_bytes)
        .unwrap_or(PATH_WHEN_UNSET.as_bytes());
    path.split(|&b| b == b':').map(normpath).collect()
}

fn join_path(entries: &[Vec<u8>]) -> OsString {
    OsString::from_vec(entries.join(&b':'))
}

fn bin_dir(prefix: &Path) -> Vec<u8> {
    normpath(prefix.join("bin").as_os_str().as_bytes())
}

/// First activation: `PREFIX/bin` first; `<base>/condabin` after it when no
/// entry ends in `condabin` yet.
fn add_prefix_to_path(mut path: Vec<Vec<u8>>, prefix: &Path, base: Option<&BaseInstall>) -> Vec<Vec<u8>> {
    if let Some(base) = base {
        if !path.iter().any(|p| p.ends_with(b"condabin")) {
            path.insert(0, normpath(base.prefix.join("condabin").as_os_str().as_bytes()));
        }
    }
    path.insert(0, bin_dir(prefix));
    path
}

/// Replaces the old prefix's `bin` entry by the new one's, in place; when the
/// old entry is missing, the new one goes first (`_replace_prefix_in_path`).
fn replace_prefix_in_path(mut path: Vec<Vec<u8>>, old: Option<&Path>, new: Option<&Path>) -> Vec<Vec<u8>> {
    let mut index = 0;
    if let Some(old) = old {
        let old_bin = bin_dir(old);
        if let Some(found) = path.iter().position(|p| *p == old_bin) {
            path.remove(found);
            index = found;
        }
    }
    if let Some(new) = new {
        path.insert(index, bin_dir(new));
    }
    path
}

/// Python's `posixpath.normpath` on bytes.
pub fn normpath(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let leading = if path.starts_with(b"//") && !path.starts_with(b"///") {
        2
    } else if path.starts_with(b"/") {
        1
    } else {
        0
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if leading == 0 && (parts.is_empty() || parts.last() == Some(&&b".."[..])) => {
                parts.push(part)
            }
            b".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let mut out = vec![b'/'; leading];
    out.extend_from_slice(&parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// The scripts in `PREFIX/SUB` (`etc/conda/activate.d` or
/// `etc/conda/deactivate.d`) whose names end in `extension` (`.sh` for POSIX
/// shells, `.fish` for fish), sorted by byte order — reversed for
/// deactivation. The directory is opened without following symlinks.
pub fn scripts_in(prefix: &Path, sub: &str, extension: &str, reverse: bool) -> Result<Vec<PathBuf>> {
    match PrefixDir::open(prefix) {
        Ok(dir) => scripts_in_dir(&dir, sub, extension, reverse),
        // an old prefix (CONDA_PREFIX of the caller) that is gone: nothing to run
        Err(Error::PrefixAccess { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// [`scripts_in`] for a prefix already opened.
fn scripts_in_dir(dir: &PrefixDir, sub: &str, extension: &str, reverse: bool) -> Result<Vec<PathBuf>> {
    let prefix = dir.path();
    let mut scripts: Vec<PathBuf> = dir
        .list(sub)?
        .into_iter()
        .filter(|name| name.as_bytes().ends_with(extension.as_bytes()))
        .map(|name| prefix.join(sub).join(name))
        .collect();
    if reverse {
        scripts.reverse();
    }
    Ok(scripts)
}

/// The env's configured variables: `etc/conda/env_vars.d/*` (sorted), then
/// `conda-meta/state`'s `env_vars` overriding them. Names keep their case here
/// (conda upper-cases them when exporting); `PATH` and invalid names are
/// skipped with a warning. Each file is read through [`PrefixDir`]: no
/// symlink, no FIFO, at most [`ENV_VARS_LIMIT`] bytes.
pub fn environment_env_vars(prefix: &Path, warnings: &mut Vec<String>) -> Result<Vec<(String, String)>> {
    env_vars_in(&PrefixDir::open(prefix)?, warnings)
}

/// [`environment_env_vars`] for a prefix already opened.
fn env_vars_in(dir: &PrefixDir, warnings: &mut Vec<String>) -> Result<Vec<(String, String)>> {
    let prefix = dir.path();
    let mut files = Vec::new();
    for name in dir.list(ENV_VARS_DIR)? {
        let relative = format!("{ENV_VARS_DIR}/{}", name.to_string_lossy());
        if let Some(bytes) = dir.read(&relative, ENV_VARS_LIMIT)? {
            files.push((prefix.join(ENV_VARS_DIR).join(&name), bytes));
        }
    }
    let state = dir
        .read(STATE_FILE, ENV_VARS_LIMIT)?
        .map(|bytes| (prefix.join(STATE_FILE), bytes));
    env_vars_from(&files, state.as_ref(), warnings)
}

/// The variables the `env_vars.d` files (in order) and `state` define, as
/// [`environment_env_vars`] reads them: pure, for testing and fuzzing.
pub fn env_vars_from(
    env_vars_d: &[(PathBuf, Vec<u8>)],
    state: Option<&(PathBuf, Vec<u8>)>,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for (path, bytes) in env_vars_d {
        let object = parse_json_object(path, bytes)?;
        merge_vars(&mut vars, path, &object, warnings);
    }
    if let Some((path, bytes)) = state {
        let object = parse_json_object(path, bytes)?;
        match object.get("env_vars") {
            Some(Value::Object(env_vars)) => merge_vars(&mut vars, path, env_vars, warnings),
            Some(_) => warnings.push(format!("{}: env_vars is not an object; ignored", path.display())),
            None => {}
        }
    }
    Ok(vars)
}

/// Where an env keeps its variables: one JSON object per file here...
pub const ENV_VARS_DIR: &str = "etc/conda/env_vars.d";
/// ...and `{"env_vars": {...}}` here, which overrides them.
pub const STATE_FILE: &str = "conda-meta/state";

/// Parses a flat JSON object of variables (an `env_vars.d` file or `state`).
pub fn parse_json_object(path: &Path, text: &[u8]) -> Result<serde_json::Map<String, Value>> {
    match serde_json::from_slice(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::EnvMetadata {
            path: path.to_owned(),
            message: "expected a JSON object of variable names and values".into(),
        }),
        Err(e) => Err(Error::EnvMetadata {
            path: path.to_owned(),
            message: format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()),
        }),
    }
}

fn merge_vars(
    vars: &mut Vec<(String, String)>,
    source: &Path,
    object: &serde_json::Map<String, Value>,
    warnings: &mut Vec<String>,
) {
    for (name, value) in object {
        let Value::String(value) = value else {
            warnings.push(format!("{}: {name} is not a string; ignored", source.display()));
            continue;
        };
        if !is_valid_var_name(name) {
            warnings.push(format!(
                "{}: {name:?} is not a valid variable name; ignored",
                source.display()
            ));
            continue;
        }
        if name.eq_ignore_ascii_case("PATH") {
            warnings.push(format!(
                "{}: PATH is reserved for activation; ignored",
                source.display()
            ));
            continue;
        }
        match vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.clone(),
            None => vars.push((name.clone(), value.clone())),
        }
    }
}

fn is_valid_var_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

impl crate::system::output::Described for ActivationPlan {
    fn step(&self) -> &'static str {
        "activation"
    }

    fn describe(&self) -> String {
        format!(
            "{} changes, {} activate.d and {} deactivate.d scripts sourced",
            self.changes.len(),
            self.activate_scripts.len(),
            self.deactivate_scripts.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> String {
        String::from_utf8(normpath(p.as_bytes())).unwrap()
    }

    #[test]
    fn normpath_matches_python() {
        assert_eq!(n(""), ".");
        assert_eq!(n("/usr//bin/"), "/usr/bin");
        assert_eq!(n("//a"), "//a");
        assert_eq!(n("///a"), "/a");
        assert_eq!(n("a/./b/../c"), "a/c");
        assert_eq!(n("../x"), "../x");
        assert_eq!(n("/.."), "/");
        assert_eq!(n("."), ".");
    }

    #[test]
    fn quoting_round_trips_single_quotes() {
        let mut out = Vec::new();
        push_single_quoted(&mut out, b"it's");
        assert_eq!(out, b"'it'\\''s'");
    }

    #[test]
    fn var_names() {
        assert!(is_valid_var_name("FOO_1"));
        assert!(is_valid_var_name("_x"));
        assert!(!is_valid_var_name("1X"));
        assert!(!is_valid_var_name("A-B"));
        assert!(!is_valid_var_name(""));
    }

    #[test]
    fn replace_keeps_position() {
        let path = vec![b"/a".to_vec(), b"/old/bin".to_vec(), b"/b".to_vec()];
        let out = replace_prefix_in_path(path, Some(Path::new("/old")), Some(Path::new("/new")));
        assert_eq!(out, vec![b"/a".to_vec(), b"/new/bin".to_vec(), b"/b".to_vec()]);
    }

    #[test]
    fn replace_missing_old_prepends() {
        let out = replace_prefix_in_path(
            vec![b"/a".to_vec()],
            Some(Path::new("/old")),
            Some(Path::new("/new")),
        );
        assert_eq!(out, vec![b"/new/bin".to_vec(), b"/a".to_vec()]);
    }

    #[test]
    fn default_env_names() {
        assert_eq!(default_env_name(Path::new("/opt/c/envs/x"), None), "x");
        assert_eq!(default_env_name(Path::new("/srv/x"), None), "/srv/x");
        let base = BaseInstall {
            prefix: "/opt/c".into(),
            conda_exe: None,
            python_exe: None,
        };
        assert_eq!(default_env_name(Path::new("/opt/c"), Some(&base)), "base");
    }

    #[test]
    fn unsets_come_before_exports_and_later_export_wins() {
        let changes = dedupe_exports(vec![
            export("A", "1"),
            Change::Unset("U".into()),
            export("B", "2"),
            export("A", "3"),
        ]);
        assert_eq!(
            changes,
            vec![Change::Unset("U".into()), export("A", "3"), export("B", "2")]
        );
    }
}
