//! The admin and researcher tools around `cenv run`: `list`, `info`,
//! `doctor`, `verify` and `audit-rules`. They read and report; they change
//! nothing.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{
    ChangesArgs, DiffArgs, DoctorArgs, EnvArgs, ExportArgs, ExportFormat, ListArgs, SnapshotArgs,
};
use crate::conda::{resolve, EnvSpec, SearchPath};
use crate::config::{self, LoadedConfig};
use crate::doctor::{self, Finding};
use crate::error::{Error, Result};
use crate::escape;
use crate::inventory::{discover, env_info, format_info, format_table, list_envs};
use crate::output::write_stdout;
use crate::process::Process;
use crate::verify::{verify, Problem};

fn json<T: Serialize>(value: &T) -> Result<u8> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Usage(e.to_string()))?;
    text.push('\n');
    write_stdout(text.as_bytes())
}

fn spec(args: &EnvArgs) -> EnvSpec {
    spec_of(args.prefix.clone(), args.name.clone())
}

/// `-p PREFIX` when given, else the NAME (clap requires one of them).
fn spec_of(prefix: Option<PathBuf>, name: Option<String>) -> EnvSpec {
    match (prefix, name) {
        (Some(prefix), _) => EnvSpec::Prefix(prefix),
        (None, name) => EnvSpec::Name(name.unwrap_or_default()),
    }
}

pub fn list(process: &Process, args: ListArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
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
            envs: &'a [crate::inventory::ListedEnv],
        }
        return json(&Listing { envs: &envs });
    }
    write_stdout(format_table(&envs).as_bytes())
}

pub fn info(process: &Process, args: EnvArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let info = env_info(process, &loaded, &spec(&args))?;
    if args.json {
        return json(&info);
    }
    write_stdout(format_info(&info).as_bytes())
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
        .filter_map(|d| std::fs::canonicalize(d).ok())
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
            .any(|d| d == root || std::fs::canonicalize(d).is_ok_and(|c| &c == root))
        {
            findings.extend(doctor::check_envs_root(root, config));
        }
    }
    for (prefix, root) in &targets {
        findings.extend(doctor::check_env_tree(prefix, root.as_deref(), config));
    }
    if args.all {
        findings.extend(doctor::check_umask(config));
        findings.extend(doctor::check_login_integration());
        let mut watched: Vec<PathBuf> = config.envs_dirs.iter().filter(|d| d.is_dir()).cloned().collect();
        watched.extend(config.readonly_paths());
        findings.extend(doctor::check_audit_watch(&watched, process.is_privileged()));
        let prefixes: Vec<PathBuf> = targets.iter().map(|(p, _)| p.clone()).collect();
        findings.extend(doctor::check_exposed_servers(&prefixes));
    }
    let status = doctor::exit_status(&findings);
    if args.json {
        #[derive(Serialize)]
        struct DoctorReport<'a> {
            findings: &'a [Finding],
            errors: usize,
            warnings: usize,
        }
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        json(&DoctorReport {
            findings: &findings,
            errors: count(doctor::Severity::Error),
            warnings: count(doctor::Severity::Warning),
        })?;
    } else {
        let text: String = findings.iter().map(|f| escape::text(&f.line()) + "\n").collect();
        write_stdout(text.as_bytes())?;
    }
    Ok(status)
}

pub fn verify_env(process: &Process, args: EnvArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let search = SearchPath::for_caller(&loaded.config, process);
    let env = resolve(&spec(&args), &loaded.config, &search, &loaded.path)?;
    let report = verify(&env.prefix)?;
    let status = u8::from(!report.discrepancies.is_empty());
    if args.json {
        json(&report)?;
    } else {
        let mut text = String::new();
        for d in &report.discrepancies {
            let problem = match d.problem {
                Problem::Missing => "missing",
                Problem::Altered => "altered",
                Problem::Unrecorded => "unrecorded",
                Problem::Invalid => "invalid",
            };
            let package = if d.package.is_empty() {
                String::new()
            } else {
                format!(" ({})", escape::text(&d.package))
            };
            text.push_str(&format!(
                "{problem}: {}{package}: {}\n",
                escape::path(&report.prefix.join(&d.path)),
                escape::text(&d.detail)
            ));
        }
        text.push_str(&format!(
            "{}: {} files of {} packages checked, {} discrepancies\n",
            escape::path(&report.prefix),
            report.files_checked,
            report.packages,
            report.discrepancies.len()
        ));
        write_stdout(text.as_bytes())?;
    }
    Ok(status)
}

pub fn export_env(process: &Process, args: ExportArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let search = SearchPath::for_caller(&loaded.config, process);
    let env = resolve(
        &spec_of(args.prefix, args.name),
        &loaded.config,
        &search,
        &loaded.path,
    )?;
    let export = crate::export::export(&env.prefix)?;
    match args.format {
        ExportFormat::Json => json(&export),
        ExportFormat::Explicit => write_stdout(crate::export::explicit(&export).as_bytes()),
    }
}

pub fn snapshot(process: &Process, args: SnapshotArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let search = SearchPath::for_caller(&loaded.config, process);
    let envs = discover(&loaded.config, &search);
    let results = crate::snapshot::snapshot_all(&envs, &args.dir, args.keep.map(|k| k as usize))?;
    let failed = results
        .iter()
        .any(|r| matches!(r.outcome, crate::snapshot::Outcome::Failed(_)));
    if args.json {
        json(&results)?;
    } else {
        let mut text = String::new();
        for r in &results {
            let line = match &r.outcome {
                crate::snapshot::Outcome::Written(f) => format!("written: {}", escape::path(f)),
                crate::snapshot::Outcome::Unchanged(f) => format!("unchanged since {}", escape::path(f)),
                crate::snapshot::Outcome::Failed(why) => format!("FAILED: {}", escape::text(why)),
            };
            text.push_str(&format!("{}: {line}\n", escape::text(&r.name)));
            for old in &r.pruned {
                text.push_str(&format!(
                    "{}: removed {}\n",
                    escape::text(&r.name),
                    escape::path(old)
                ));
            }
        }
        write_stdout(text.as_bytes())?;
    }
    Ok(u8::from(failed))
}

pub fn changes(process: &Process, args: ChangesArgs, cli_config: Option<&Path>) -> Result<u8> {
    if let Some(since) = &args.since {
        crate::history::check_date(since)?;
    }
    let loaded = config::load(process, cli_config)?;
    let search = SearchPath::for_caller(&loaded.config, process);
    let envs: Vec<(String, PathBuf)> = if args.all {
        discover(&loaded.config, &search)
    } else {
        args.names
            .iter()
            .map(|name| {
                let env = resolve(
                    &EnvSpec::Name(name.clone()),
                    &loaded.config,
                    &search,
                    &loaded.path,
                )?;
                Ok((name.clone(), env.prefix))
            })
            .collect::<Result<_>>()?
    };
    #[derive(Serialize)]
    struct RevisionWithWriters {
        #[serde(flatten)]
        revision: crate::history::Revision,
        /// auditd's writes joined by time; absent when not joined
        #[serde(skip_serializing_if = "Option::is_none")]
        writers: Option<Vec<crate::writes::Writer>>,
    }
    #[derive(Serialize)]
    struct EnvChanges {
        name: String,
        prefix: PathBuf,
        revisions: Vec<RevisionWithWriters>,
        /// writes near no revision; absent when not joined
        #[serde(skip_serializing_if = "Option::is_none")]
        writes_near_no_revision: Option<Vec<crate::writes::Writer>>,
    }
    let mut all = Vec::new();
    for (name, prefix) in envs {
        let mut revisions = crate::history::revisions(&prefix)?;
        if let Some(since) = &args.since {
            revisions.retain(|r| crate::history::is_since(r, since));
        }
        all.push((name, prefix, revisions));
    }
    let (writes, join_state) = audited_writes(process, args.since.as_deref());
    let all: Vec<EnvChanges> = all
        .into_iter()
        .map(|(name, prefix, revisions)| {
            let (mut per_revision, unmatched) = match &writes {
                Some(writes) => {
                    let dates: Vec<Option<i64>> = revisions
                        .iter()
                        .map(|r| crate::writes::local_epoch(&r.date))
                        .collect();
                    let (per_revision, unmatched) = crate::writes::join(&prefix, &dates, writes);
                    (per_revision.into_iter().map(Some).collect(), Some(unmatched))
                }
                None => (vec![None; revisions.len()], None),
            };
            EnvChanges {
                revisions: revisions
                    .into_iter()
                    .zip(per_revision.drain(..))
                    .map(|(revision, writers)| RevisionWithWriters { revision, writers })
                    .collect(),
                name,
                prefix,
                writes_near_no_revision: unmatched,
            }
        })
        .collect();
    if args.json {
        return json(&serde_json::json!({
            "envs": all,
            "who": crate::history::WHO_NOTE,
            "auditd": join_state,
        }));
    }
    let mut text = String::new();
    for env in &all {
        let name = escape::text(&env.name);
        if env.revisions.is_empty() {
            text.push_str(&format!("{name}: no revisions recorded in conda-meta/history\n"));
        }
        for r in &env.revisions {
            text.push_str(&crate::history::format_revision(&name, &r.revision));
            match &r.writers {
                Some(writers) if writers.is_empty() => text
                    .push_str("    who (auditd, by time): no write under the env recorded near this date\n"),
                Some(writers) => {
                    text.push_str("    who (auditd, by time, best effort):\n");
                    text.push_str(&crate::writes::format_writers(writers, "      "));
                }
                None => {}
            }
        }
        if let Some(unmatched) = env.writes_near_no_revision.as_deref().filter(|u| !u.is_empty()) {
            text.push_str(&format!(
                "{name}  writes near no conda revision (pip? by hand?), from auditd:\n"
            ));
            text.push_str(&crate::writes::format_writers(unmatched, "      "));
        }
    }
    match &writes {
        Some(_) => text.push_str(&format!("\n{}\n", crate::history::JOINED_NOTE)),
        None => text.push_str(&format!(
            "\n{}\n(not joined here: {join_state})\n",
            crate::history::WHO_NOTE
        )),
    }
    write_stdout(text.as_bytes())
}

/// auditd's writes for `cenv changes`, when root itself asks (only root
/// reads the audit log; through sudo cenv acts as the invoker, and uid 0 in
/// a user namespace is not root), from the earliest moment the writes of a
/// revision after `since` can start. With why not, or "joined".
fn audited_writes(process: &Process, since: Option<&str>) -> (Option<Vec<crate::writes::Write>>, String) {
    if process.real_uid != 0
        || process.effective_uid != 0
        || crate::identity::nested_user_namespace_uid().is_some()
    {
        return (None, "only root reads auditd's log".into());
    }
    let start = since
        .and_then(crate::writes::local_epoch)
        .map(|s| s - crate::writes::BEFORE);
    match crate::writes::search(start) {
        Ok(Some(writes)) => (Some(writes), "joined".into()),
        Ok(None) => (None, "ausearch is not installed (package auditd)".into()),
        Err(why) => (None, why),
    }
}

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
    let text = crate::wholefile::read_limited(&file, SNAPSHOT_LIMIT)?;
    let snapshot = crate::history::snapshot_packages(&text, &file)?;
    let live = crate::export::export(&env.prefix)?;
    let difference = crate::history::difference(snapshot, &live);
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
