//! `cenv list`: every env visible from the configured roots (and conda's
//! places, for an unprivileged caller), its Python, owner and group, and
//! whether you may use it — metadata only, nothing of an env runs.
#![forbid(unsafe_code)]

use std::path::Path;

use serde::Serialize;

use crate::cli::ListArgs;
use crate::conda::discover::discover;
use crate::conda::SearchPath;
use crate::config::{self};
use crate::error::Result;
use crate::policy::{list_envs, ListedEnv};
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::tools::json;

pub fn list(process: &Process, args: ListArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    if let Some(name) = &args.commands {
        return commands(process, &loaded, name);
    }
    if args.names {
        let search = SearchPath::for_caller(&loaded.config, process);
        let mut names: Vec<String> = discover(&loaded.config, &search)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.dedup();
        // only names `cenv run NAME` accepts: they are safe for any shell
        let text: String = names
            .iter()
            .filter(|n| crate::conda::name::validate_env_name(n).is_ok())
            .map(|n| format!("{n}\n"))
            .collect();
        return write_stdout(text.as_bytes());
    }
    let envs = list_envs(process, &loaded);
    if args.json {
        #[derive(Serialize)]
        struct Listing<'a> {
            envs: &'a [ListedEnv],
        }
        return json(&Listing { envs: &envs });
    }
    write_stdout(format_table(&envs).as_bytes())
}

/// The table `cenv list` prints.
pub fn format_table(envs: &[ListedEnv]) -> String {
    use crate::system::escape;
    let mut rows = vec![[
        "NAME".to_owned(),
        "PREFIX".to_owned(),
        "PYTHON".to_owned(),
        "OWNER:GROUP".to_owned(),
        "USE".to_owned(),
    ]];
    for env in envs {
        // names and paths come from anyone who can create a directory:
        // escaped, so none can fake a row or drive the terminal
        let mut owner_group = escape::text(&env.owner);
        owner_group.push(':');
        owner_group.push_str(&escape::text(&env.group));
        rows.push([
            escape::text(&env.name),
            escape::path(&env.prefix),
            env.python.as_deref().map_or_else(|| "-".into(), escape::text),
            owner_group,
            {
                let mut cell = match (&env.may_use, &env.reason) {
                    (true, _) => "yes".to_owned(),
                    (false, Some(reason)) => format!("no: {}", escape::text(reason)),
                    (false, None) => "no".into(),
                };
                // a retirement shows where the eye reads whether to use it
                if let Some(d) = &env.deprecated {
                    cell.push_str(" (deprecated");
                    if let Some(successor) = &d.successor {
                        cell.push_str(&format!(": use {}", escape::text(successor)));
                    }
                    if let Some(until) = &d.until {
                        cell.push_str(&format!(", until {}", escape::text(until)));
                    }
                    cell.push(')');
                }
                cell
            },
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::with_capacity(rows.len() * (widths.iter().sum::<usize>() + 10));
    for row in &rows {
        let start = out.len();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            for _ in cell.chars().count()..widths[c] {
                out.push(' ');
            }
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
        out.push('\n');
    }
    out
}

/// `cenv list --commands NAME`: the names of the executables in the env's
/// `bin/`, sorted, for completing `cenv run NAME <TAB>`. Resolution only:
/// names of files anyone who can read the directory sees with ls(1); only
/// names a shell reads back as one word are printed.
fn commands(process: &Process, loaded: &config::LoadedConfig, name: &str) -> Result<u8> {
    use std::os::unix::fs::PermissionsExt;
    let search = SearchPath::for_caller(&loaded.config, process);
    let env = crate::conda::resolve::resolve(
        &crate::conda::EnvSpec::Name(name.to_owned()),
        &loaded.config,
        &search,
        &loaded.path,
    )?;
    let bin = env.prefix.join("bin");
    let entries = std::fs::read_dir(&bin).map_err(|source| crate::error::Error::PrefixAccess {
        path: bin.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| {
            std::fs::metadata(e.path()).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-@%,:=".contains(&b))
        })
        .collect();
    names.sort();
    let text: String = names.iter().map(|n| format!("{n}\n")).collect();
    write_stdout(text.as_bytes())
}
