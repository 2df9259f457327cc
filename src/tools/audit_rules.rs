//! `cenv audit-rules`: the auditd watches for the shared envs (the base
//! install, the envs roots, the package caches) and for /etc/cenv, as lines
//! `auditctl` reads; with `--install`, written to
//! /etc/audit/rules.d/cenv.rules and loaded.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::cli::AuditRulesArgs;
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;

/// Where `--install` writes the rules (augenrules merges rules.d).
pub const RULES_FILE: &str = "/etc/audit/rules.d/cenv.rules";
/// The key of the watches on the shared envs.
pub const ENV_KEY: &str = "cenv_env_write";
/// The key of the watch on cenv's own configuration.
pub const CONFIG_KEY: &str = "cenv_config";

/// The trees to watch for writes: the base install (its envs/ and pkgs/
/// with it), every configured envs root and read-only tree not inside it.
pub fn watched_trees(config: &Config) -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = Vec::new();
    trees.extend(config.base_prefix.iter().cloned());
    trees.extend(
        config
            .envs_dirs
            .iter()
            .filter(|d| !config.user_envs_dirs.contains(d))
            .cloned(),
    );
    trees.extend(config.readonly_paths());
    let mut unique: Vec<PathBuf> = Vec::new();
    for tree in trees {
        if !unique.iter().any(|u| tree.starts_with(u)) {
            unique.retain(|u| !u.starts_with(&tree));
            unique.push(tree);
        }
    }
    unique
}

/// The rules file's text.
pub fn rules_text(config: &Config) -> String {
    let mut text = format!(
        "# auditd rules from `cenv audit-rules`: writes and attribute changes in the shared envs\n\
         # ({ENV_KEY}) and in cenv's configuration ({CONFIG_KEY}). Install as root: cenv audit-rules --install\n"
    );
    let mut watch = |path: &Path, key: &str| {
        // a watch on a path that does not exist makes `augenrules --load` fail
        if path.is_dir() {
            text.push_str(&format!("-w {} -p wa -k {key}\n", escape::path(path)));
        } else {
            text.push_str(&format!("# skipped {}: it does not exist\n", escape::path(path)));
        }
    };
    for tree in watched_trees(config) {
        watch(&tree, ENV_KEY);
    }
    watch(Path::new("/etc/cenv"), CONFIG_KEY);
    text
}

pub fn audit_rules(process: &Process, args: AuditRulesArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let text = rules_text(&loaded.config);
    if !args.install {
        return write_stdout(text.as_bytes());
    }
    if process.effective_uid != 0 || process.real_uid != 0 {
        return Err(Error::Usage(
            "--install writes /etc/audit/rules.d/cenv.rules and loads it: run it as root (sudo cenv audit-rules \
             --install), or print the rules with `cenv audit-rules`"
                .into(),
        ));
    }
    let file = Path::new(RULES_FILE);
    let dir = file.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{} does not exist: is auditd installed? (apt install auditd / dnf install audit)",
            dir.display()
        )));
    }
    crate::trust::require_roots_own_tree(file)?;
    crate::system::wholefile::write_atomically(file, text.as_bytes(), Some(0o640))?;
    let mut out = format!("wrote {}\n", file.display());
    let augenrules = ["/usr/sbin/augenrules", "/sbin/augenrules"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .ok_or_else(|| {
            Error::Usage("augenrules was not found in /usr/sbin or /sbin: is auditd installed?".into())
        })?;
    // by its absolute path, with an empty environment: root never runs a
    // program some PATH names
    let loaded_rules = std::process::Command::new(augenrules)
        .arg("--load")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| Error::system(format!("running {augenrules} --load"), e))?;
    if !loaded_rules.status.success() {
        write_stdout(out.as_bytes())?;
        return Err(Error::Usage(format!(
            "{augenrules} --load failed ({}): {} — is auditd running? (systemctl start auditd)",
            loaded_rules.status,
            escape::text(String::from_utf8_lossy(&loaded_rules.stderr).trim())
        )));
    }
    out.push_str(&format!("loaded with {augenrules} --load\n"));
    write_stdout(out.as_bytes())
}
