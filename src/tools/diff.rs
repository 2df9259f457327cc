//! `cenv diff NAME FILE`: the packages that differ between a snapshot and
//! the env.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::cli::DiffArgs;
use crate::conda::{resolve, EnvSpec, SearchPath};
use crate::config::{self};
use crate::error::{Error, Result};
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::tools::json;

/// The largest snapshot file `cenv diff` reads.
const SNAPSHOT_LIMIT: u64 = 64 << 20;

pub fn diff(process: &Process, args: DiffArgs, cli_config: Option<&Path>) -> Result<u8> {
    let (spec, file) = match (args.prefix, args.operands.as_slice()) {
        (Some(prefix), [file]) => (EnvSpec::Prefix(prefix), file),
        (None, [name, file]) => (EnvSpec::Name(name.clone()), file),
        _ => {
            return Err(Error::Usage(
                "give the env and the snapshot file: cenv diff NAME FILE (or cenv diff -p PREFIX FILE)"
                    .into(),
            ))
        }
    };
    let loaded = config::load(process, cli_config)?;
    let search = SearchPath::for_caller(&loaded.config, process);
    let env = resolve(&spec, &loaded.config, &search, &loaded.path)?;
    let file = PathBuf::from(file);
    let text = crate::system::wholefile::read_limited(&file, SNAPSHOT_LIMIT)?;
    let snapshot = crate::conda::history::snapshot_packages(&text, &file)?;
    let live = crate::conda::export::export(&env.prefix)?;
    let difference = crate::conda::history::difference(snapshot, &live);
    let status = u8::from(!difference.is_empty());
    if args.json {
        json(&difference)?;
        return Ok(status);
    }
    let mut out = String::new();
    for d in &difference.added {
        out.push_str(&format!(
            "+ {}  (not in the snapshot)\n",
            escape::text(&d.label())
        ));
    }
    for d in &difference.removed {
        out.push_str(&format!(
            "- {}  (no longer in the env)\n",
            escape::text(&d.label())
        ));
    }
    for c in &difference.changed {
        out.push_str(&format!(
            "~ {} {} {} -> {} {}\n",
            escape::text(&c.name),
            escape::text(&c.from.version),
            escape::text(&c.from.build),
            escape::text(&c.to.version),
            escape::text(&c.to.build)
        ));
    }
    if difference.is_empty() {
        out.push_str(&format!(
            "{}: the same packages as {}\n",
            escape::path(&env.prefix),
            escape::path(&file)
        ));
    }
    write_stdout(out.as_bytes())?;
    Ok(status)
}
