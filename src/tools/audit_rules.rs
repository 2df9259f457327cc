//! `cenv audit-rules`: the auditd watches for the envs roots and package
//! caches, as lines `auditctl` reads.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::config::{self};
use crate::error::Result;
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;

pub fn audit_rules(process: &Process, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let config = &loaded.config;
    let mut paths: Vec<PathBuf> = config.envs_dirs.clone();
    paths.extend(config.readonly_paths());
    if let Some(base) = &config.base_prefix {
        paths.push(base.join("envs"));
    }
    let mut unique: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !unique.contains(&path) {
            unique.push(path);
        }
    }
    let mut text = String::from("# auditd rules from `cenv audit-rules`: writes and attribute changes in the shared envs\n# install: cenv audit-rules > /etc/audit/rules.d/cenv.rules && augenrules --load\n");
    for path in unique {
        // a watch on a path that does not exist makes `augenrules --load` fail
        if path.is_dir() {
            text.push_str(&format!("-w {} -p wa -k cenv_env_write\n", escape::path(&path)));
        } else {
            text.push_str(&format!("# skipped {}: it does not exist\n", escape::path(&path)));
        }
    }
    write_stdout(text.as_bytes())
}
