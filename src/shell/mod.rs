//! Activation inside an interactive shell: the same plan as `cenv run`
//! ([`crate::conda::plan_activation`]), rendered as code that bash, zsh or
//! fish evaluate in the current shell, plus its undoing.
//!
//! `cenv activate` records, in one exported variable `__CENV_SAVED_<level>`,
//! the value (or absence) of every variable the activation is about to
//! change; `cenv deactivate` sources the env's deactivate.d scripts, then puts
//! back exactly those values, so a shell returns to the environment it had.
//! Conda saves only the env config variables it overwrites; cenv saves all,
//! which is what makes deactivation exact.
//!
//! Quoting is per shell and holds any byte but NUL: POSIX single quotes for
//! bash and zsh; for fish, single quotes with `\\` and `\'`, and `\XHH` for
//! bytes that are not UTF-8.
#![forbid(unsafe_code)]

pub mod activate;
pub mod init;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub use crate::cli::Shell;
use crate::conda::activate::{push_single_quoted, scripts_in, Change, ACTIVATE_DIR, DEACTIVATE_DIR};
use crate::conda::ActivationPlan;
use crate::error::{Error, Result};
use crate::system::environ::Environ;

/// Quotes bytes as one word of `shell`.
pub fn quote(shell: Shell, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    match shell {
        Shell::Bash | Shell::Zsh => push_single_quoted(&mut out, value),
        Shell::Fish => push_fish_quoted(&mut out, value),
    }
    out
}

fn push_fish_quoted(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'\'');
    for chunk in value.utf8_chunks() {
        for b in chunk.valid().bytes() {
            if b == b'\\' || b == b'\'' {
                out.push(b'\\');
            }
            out.push(b);
        }
        for b in chunk.invalid() {
            // outside the quotes, \XHH is the raw byte HH
            out.extend_from_slice(format!("'\\X{b:02x}'").as_bytes());
        }
    }
    out.push(b'\'');
}

/// Code that a shell evaluates.
#[derive(Debug, Default)]
pub struct Script {
    shell: Option<Shell>,
    text: Vec<u8>,
}

impl Script {
    pub fn new(shell: Shell) -> Script {
        Script {
            shell: Some(shell),
            text: Vec::new(),
        }
    }

    fn shell(&self) -> Shell {
        self.shell.unwrap_or(Shell::Bash)
    }

    pub fn source(&mut self, path: &Path) {
        let keyword: &[u8] = if self.shell() == Shell::Fish {
            b"source "
        } else {
            b". "
        };
        self.text.extend_from_slice(keyword);
        self.text.extend(quote(self.shell(), path.as_os_str().as_bytes()));
        self.text.push(b'\n');
    }

    pub fn export(&mut self, name: &OsStr, value: &OsStr) {
        let shell = self.shell();
        if shell == Shell::Fish {
            self.text.extend_from_slice(b"set -gx ");
            self.text.extend_from_slice(name.as_bytes());
            // fish keeps PATH as a list; give it the entries
            if name == "PATH" {
                for entry in value.as_bytes().split(|&b| b == b':') {
                    self.text.push(b' ');
                    self.text.extend(quote(shell, entry));
                }
            } else {
                self.text.push(b' ');
                self.text.extend(quote(shell, value.as_bytes()));
            }
        } else {
            self.text.extend_from_slice(b"export ");
            self.text.extend_from_slice(name.as_bytes());
            self.text.push(b'=');
            self.text.extend(quote(shell, value.as_bytes()));
        }
        self.text.push(b'\n');
    }

    pub fn unset(&mut self, name: &OsStr) {
        let keyword: &[u8] = if self.shell() == Shell::Fish {
            b"set -e "
        } else {
            b"unset "
        };
        self.text.extend_from_slice(keyword);
        self.text.extend_from_slice(name.as_bytes());
        self.text.push(b'\n');
    }

    /// Puts `new` in front of the prompt `ps1` in place of `old` (conda's
    /// prompt update) for bash and zsh; fish shows `CONDA_PROMPT_MODIFIER`
    /// through the prompt wrapper of `shell-init`. The modifier holds an env
    /// name or path, which anyone who can create a directory chooses: it is
    /// escaped for the shell's prompt expansion, so `$(...)`, backquotes,
    /// `%` sequences and control characters are shown, never run.
    pub fn set_prompt(&mut self, ps1: &OsStr, old: &OsStr, new: &OsStr) {
        match self.shell() {
            Shell::Fish => {}
            Shell::Bash => {
                let value = replace_modifier(
                    ps1,
                    &prompt_escape(Shell::Bash, old, true),
                    &prompt_escape(Shell::Bash, new, true),
                );
                self.assign_ps1(&value);
            }
            Shell::Zsh => {
                // `%` is always special in a zsh prompt; `$`, backquote and
                // backslash only with the PROMPT_SUBST option
                let escaped = |m: &OsStr, subst: bool| prompt_escape(Shell::Zsh, m, subst);
                let subst = replace_modifier(ps1, &escaped(old, true), &escaped(new, true));
                let plain = replace_modifier(ps1, &escaped(old, false), &escaped(new, false));
                self.text.extend_from_slice(b"if [[ -o promptsubst ]]; then ");
                self.assign_ps1(&subst);
                self.text.extend_from_slice(b"else ");
                self.assign_ps1(&plain);
                self.text.extend_from_slice(b"fi\n");
            }
        }
    }

    fn assign_ps1(&mut self, value: &OsStr) {
        self.text.extend_from_slice(b"PS1=");
        self.text.extend(quote(self.shell(), value.as_bytes()));
        self.text.push(b'\n');
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.text
    }
}

/// The variable holding what activation at `level` changed.
pub fn saved_state_name(level: u32) -> String {
    format!("__CENV_SAVED_{level}")
}

/// Encodes `(name, previous value)` pairs: `NAME=hex;` or `NAME;` when the
/// variable was not set.
pub fn encode_saved(saved: &[(OsString, Option<OsString>)]) -> OsString {
    let mut out = String::new();
    for (name, value) in saved {
        out.push_str(&name.to_string_lossy());
        if let Some(value) = value {
            out.push('=');
            for b in value.as_bytes() {
                out.push_str(&format!("{b:02x}"));
            }
        }
        out.push(';');
    }
    out.into()
}

pub fn decode_saved(text: &OsStr) -> Option<Vec<(OsString, Option<OsString>)>> {
    let text = text.to_str()?;
    let mut saved = Vec::new();
    for item in text.split(';').filter(|i| !i.is_empty()) {
        match item.split_once('=') {
            None => saved.push((OsString::from(item), None)),
            Some((name, hex)) => {
                if hex.len() % 2 != 0 {
                    return None;
                }
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()?;
                saved.push((OsString::from(name), Some(OsString::from_vec(bytes))));
            }
        }
    }
    Some(saved)
}

/// The code that activates `plan` in the current shell (whose exported
/// environment is `caller` and whose prompt is `ps1`).
pub fn render_activation(
    shell: Shell,
    plan: &ActivationPlan,
    caller: &Environ,
    ps1: Option<&OsStr>,
) -> Vec<u8> {
    let mut script = Script::new(shell);
    let level = new_level(plan);
    let saved_name = OsString::from(saved_state_name(level));
    // Reactivating the active env keeps the level and its saved state.
    if !caller.contains(&saved_name) {
        let saved: Vec<(OsString, Option<OsString>)> = plan
            .changes
            .iter()
            .map(|c| match c {
                Change::Unset(name) | Change::Export(name, _) => name.clone(),
            })
            .map(|name| {
                let previous = caller.get(&name).map(OsStr::to_owned);
                (name, previous)
            })
            .collect();
        script.export(&saved_name, &encode_saved(&saved));
    }
    for path in &plan.deactivate_scripts {
        script.source(path);
    }
    for change in &plan.changes {
        match change {
            Change::Unset(name) => script.unset(name),
            Change::Export(name, value) => script.export(name, value),
        }
    }
    if let Some(ps1) = ps1 {
        let old = caller.get("CONDA_PROMPT_MODIFIER").unwrap_or_default();
        let new = plan.prompt_modifier().unwrap_or_default();
        script.set_prompt(ps1, old, new);
    }
    for path in &plan.activate_scripts {
        script.source(path);
    }
    script.into_bytes()
}

fn new_level(plan: &ActivationPlan) -> u32 {
    plan.changes
        .iter()
        .find_map(|c| match c {
            Change::Export(name, value) if name == "CONDA_SHLVL" => value.to_str()?.parse().ok(),
            _ => None,
        })
        .unwrap_or(1)
}

/// The modifier as bash's prompt text, escaped as activation puts it in
/// front of PS1.
pub fn bash_prompt_text(modifier: &OsStr) -> OsString {
    prompt_escape(Shell::Bash, modifier, true)
}

/// The modifier as prompt text for `shell`: control characters and invalid
/// UTF-8 made visible (`\x1b`), then what the prompt would expand escaped.
/// bash decodes its prompt (`\\` → `\`) and then expands it like a
/// double-quoted string, so `$` and backquote need `\\` in front and a
/// backslash needs four. zsh always expands `%` (written `%%`), and with
/// PROMPT_SUBST also `$`, backquote and backslash, once (`\` in front).
fn prompt_escape(shell: Shell, modifier: &OsStr, subst: bool) -> OsString {
    let visible = crate::system::escape::escape(modifier.as_bytes());
    let mut out = Vec::with_capacity(visible.len());
    for b in visible.bytes() {
        match (shell, b) {
            (Shell::Bash, b'\\') => out.extend_from_slice(br"\\\\"),
            (Shell::Bash, b'$' | b'`') => out.extend_from_slice(br"\\"),
            (Shell::Zsh, b'%') => out.push(b'%'),
            (Shell::Zsh, b'\\' | b'$' | b'`') if subst => out.push(b'\\'),
            _ => {}
        }
        if !(shell == Shell::Bash && b == b'\\') {
            out.push(b);
        }
    }
    OsString::from_vec(out)
}

/// conda's prompt update: remove the current modifier from PS1, put the new
/// one in front.
fn replace_modifier(ps1: &OsStr, old: &OsStr, new: &OsStr) -> OsString {
    let ps1 = ps1.as_bytes();
    let old = old.as_bytes();
    let stripped: Vec<u8> = match (
        old.is_empty(),
        ps1.windows(old.len().max(1)).position(|w| w == old),
    ) {
        (false, Some(at)) => [&ps1[..at], &ps1[at + old.len()..]].concat(),
        _ => ps1.to_vec(),
    };
    OsString::from_vec([new.as_bytes(), &stripped].concat())
}

/// The code that undoes the activation of the env active in `caller`.
/// The code that undoes the activation of the active env. `judge` is asked
/// about each env whose scripts the code sources (the active env's
/// deactivate.d, the previous env's activate.d) before they are sourced.
pub fn render_deactivation(
    shell: Shell,
    caller: &Environ,
    ps1: Option<&OsStr>,
    judge: impl Fn(&Path) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut script = Script::new(shell);
    let Some(prefix) = caller
        .get("CONDA_PREFIX")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
    else {
        return Ok(script.into_bytes()); // nothing active: nothing to do, as conda
    };
    let level: u32 = caller
        .get_str("CONDA_SHLVL")
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let saved_name = OsString::from(saved_state_name(level));
    let saved = caller.get(&saved_name).and_then(decode_saved).ok_or_else(|| {
        Error::NotActivatedByCenv(format!(
            "the active env {} was not activated by cenv (no {} in the environment); deactivate it with the tool that activated it",
            prefix.display(),
            saved_name.to_string_lossy()
        ))
    })?;
    let scripts = scripts_in(&prefix, DEACTIVATE_DIR, shell.script_extension(), true)?;
    if !scripts.is_empty() {
        judge(&prefix)?;
    }
    for path in scripts {
        script.source(&path);
    }
    let mut restored_modifier = OsString::new();
    let mut restored_prefix = None;
    for (name, value) in &saved {
        match value {
            Some(value) => script.export(name, value),
            None => script.unset(name),
        }
        if name == "CONDA_PROMPT_MODIFIER" {
            restored_modifier = value.clone().unwrap_or_default();
        }
        if name == "CONDA_PREFIX" {
            restored_prefix = value.clone().filter(|v| !v.is_empty()).map(PathBuf::from);
        }
    }
    script.unset(&saved_name);
    if let Some(ps1) = ps1 {
        let current = caller.get("CONDA_PROMPT_MODIFIER").unwrap_or_default();
        script.set_prompt(ps1, current, &restored_modifier);
    }
    // Back in the env that was active before: its activate.d scripts run
    // again, as conda runs them when it deactivates to a lower level.
    if let Some(previous) = restored_prefix {
        let scripts = scripts_in(&previous, ACTIVATE_DIR, shell.script_extension(), false)?;
        if !scripts.is_empty() {
            judge(&previous)?;
        }
        for path in scripts {
            script.source(&path);
        }
    }
    Ok(script.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_quoting() {
        assert_eq!(quote(Shell::Bash, b"a b"), b"'a b'");
        assert_eq!(quote(Shell::Zsh, b"it's"), b"'it'\\''s'");
        assert_eq!(quote(Shell::Bash, b"$x `y` \\n"), b"'$x `y` \\n'");
    }

    #[test]
    fn fish_quoting() {
        assert_eq!(quote(Shell::Fish, b"it's \\ $x"), b"'it\\'s \\\\ $x'");
        assert_eq!(quote(Shell::Fish, b"a\xffb"), b"'a'\\Xff'b'");
    }

    #[test]
    fn saved_state_round_trips() {
        let saved = vec![
            (OsString::from("PATH"), Some(OsString::from("/usr/bin"))),
            (OsString::from("GONE"), None),
            (
                OsString::from("BYTES"),
                Some(OsString::from_vec(b"a;=\xff\n".to_vec())),
            ),
            (OsString::from("EMPTY"), Some(OsString::new())),
        ];
        assert_eq!(decode_saved(&encode_saved(&saved)).unwrap(), saved);
        assert!(decode_saved(OsStr::new("X=zz;")).is_none());
    }

    #[test]
    fn prompt_text_is_escaped_for_each_shell() {
        let m = OsStr::new("($(id)`x`\\%n\x1b) ");
        assert_eq!(
            prompt_escape(Shell::Bash, m, true),
            r"(\\$(id)\\`x\\`\\\\\\\\%n\\\\x1b) "
        );
        assert_eq!(prompt_escape(Shell::Zsh, m, true), r"(\$(id)\`x\`\\\\%%n\\x1b) ");
        assert_eq!(prompt_escape(Shell::Zsh, m, false), r"($(id)`x`\\%%n\x1b) ");
    }

    #[test]
    fn prompt_modifier_is_replaced_not_stacked() {
        let r = replace_modifier(OsStr::new("(a) $ "), OsStr::new("(a) "), OsStr::new("(b) "));
        assert_eq!(r, "(b) $ ");
        let r = replace_modifier(OsStr::new("$ "), OsStr::new(""), OsStr::new("(b) "));
        assert_eq!(r, "(b) $ ");
    }
}
