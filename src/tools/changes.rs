//! `cenv changes`: the revisions of conda-meta/history, joined — for root
//! itself — with who wrote under the env, from auditd ([`crate::tools::writes`]).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::ChangesArgs;
use crate::conda::discover::discover;
use crate::conda::{resolve, EnvSpec, SearchPath};
use crate::config::{self};
use crate::error::Result;
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::tools::json;

pub fn changes(process: &Process, args: ChangesArgs, cli_config: Option<&Path>) -> Result<u8> {
    let since = args
        .since
        .as_deref()
        .map(crate::conda::history::normalize_since)
        .transpose()?;
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
        revision: crate::conda::history::Revision,
        /// auditd's writes joined by time; absent when not joined
        #[serde(skip_serializing_if = "Option::is_none")]
        writers: Option<Vec<crate::tools::writes::Writer>>,
    }
    #[derive(Serialize)]
    struct EnvChanges {
        name: String,
        prefix: PathBuf,
        /// where the revisions come from: conda-meta/history, the
        /// snapshots, or the records' times
        source: String,
        revisions: Vec<RevisionWithWriters>,
        /// writes near no revision; absent when not joined
        #[serde(skip_serializing_if = "Option::is_none")]
        writes_near_no_revision: Option<Vec<crate::tools::writes::Writer>>,
    }
    let mut all = Vec::new();
    for (name, prefix) in envs {
        let (source, mut revisions) = revisions_of(&name, &prefix, args.snapshots.as_deref())?;
        if let Some(since) = &since {
            revisions.retain(|r| crate::conda::history::is_since(r, since));
        }
        all.push((name, prefix, source, revisions));
    }
    let (writes, join_state) = audited_writes(process, since.as_deref());
    let all: Vec<EnvChanges> = all
        .into_iter()
        .map(|(name, prefix, source, revisions)| {
            let (mut per_revision, unmatched) = match &writes {
                Some(writes) => {
                    let dates: Vec<Option<i64>> = revisions
                        .iter()
                        .map(|r| crate::tools::writes::local_epoch(&r.date))
                        .collect();
                    let (per_revision, unmatched) = crate::tools::writes::join(&prefix, &dates, writes);
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
                source,
                writes_near_no_revision: unmatched,
            }
        })
        .collect();
    if args.json {
        return json(&serde_json::json!({
            "envs": all,
            "who": crate::conda::history::WHO_NOTE,
            "auditd": join_state,
        }));
    }
    let mut text = String::new();
    for env in &all {
        let name = escape::text(&env.name);
        if env.source != crate::conda::history::SOURCE_HISTORY {
            text.push_str(&format!(
                "{name}: conda-meta/history is empty (rattler and pixi write none): from {}\n",
                escape::text(&env.source)
            ));
        }
        if env.revisions.is_empty() {
            text.push_str(&format!("{name}: no revisions recorded\n"));
        }
        for r in &env.revisions {
            text.push_str(&crate::conda::history::format_revision(&name, &r.revision));
            match &r.writers {
                Some(writers) if writers.is_empty() => text
                    .push_str("    who (auditd, by time): no write under the env recorded near this date\n"),
                Some(writers) => {
                    text.push_str("    who (auditd, by time, best effort):\n");
                    text.push_str(&crate::tools::writes::format_writers(writers, "      "));
                }
                None => {}
            }
        }
        if let Some(unmatched) = env.writes_near_no_revision.as_deref().filter(|u| !u.is_empty()) {
            text.push_str(&format!(
                "{name}  writes near no conda revision (pip? by hand?), from auditd:\n"
            ));
            text.push_str(&crate::tools::writes::format_writers(unmatched, "      "));
        }
    }
    match &writes {
        Some(_) => text.push_str(&format!("\n{}\n", crate::conda::history::JOINED_NOTE)),
        None => text.push_str(&format!(
            "\n{}\n(not joined here: {join_state})\n",
            crate::conda::history::WHO_NOTE
        )),
    }
    write_stdout(text.as_bytes())
}

/// The revisions of one env and where they come from: conda's history;
/// where that is empty, the snapshots in `snapshots` (if any of this env),
/// else the times its package records were written.
fn revisions_of(
    name: &str,
    prefix: &Path,
    snapshots: Option<&Path>,
) -> Result<(String, Vec<crate::conda::history::Revision>)> {
    use crate::conda::history;
    let revisions = history::revisions(prefix)?;
    if !revisions.is_empty() {
        return Ok((history::SOURCE_HISTORY.to_owned(), revisions));
    }
    if let Some(dir) = snapshots {
        let revisions = revisions_from_snapshots(dir, name)?;
        if !revisions.is_empty() {
            return Ok((
                format!(
                    "the snapshots in {} (each change dated by the snapshot that first shows it)",
                    dir.join(name).display()
                ),
                revisions,
            ));
        }
    }
    Ok((
        "the times its package records were written (the packages there now; removals leave no trace)"
            .to_owned(),
        history::revisions_from_records(prefix)?,
    ))
}

/// auditd's writes for `cenv changes`, when root itself asks (only root
/// reads the audit log; through sudo cenv acts as the invoker, and uid 0 in
/// a user namespace is not root), from the earliest moment the writes of a
/// revision after `since` can start. With why not, or "joined".
fn audited_writes(
    process: &Process,
    since: Option<&str>,
) -> (Option<Vec<crate::tools::writes::Write>>, String) {
    if process.real_uid != 0
        || process.effective_uid != 0
        || crate::identity::nested_user_namespace_uid().is_some()
    {
        return (None, "only root reads auditd's log".into());
    }
    let start = since
        .and_then(crate::tools::writes::local_epoch)
        .map(|s| s - crate::tools::writes::BEFORE);
    match crate::tools::writes::search(start) {
        Ok(Some(writes)) => (Some(writes), "joined".into()),
        Ok(None) => (None, "ausearch is not installed (package auditd)".into()),
        Err(why) => (None, why),
    }
}

/// The seconds since the epoch of a snapshot stamp `YYYYMMDDTHHMMSSZ`.
pub fn stamp_epoch(stamp: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<i64>().ok();
    (stamp.len() == 16 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z')).then_some(())?;
    Some(
        crate::system::clock::days_from_civil(n(0..4)?, n(4..6)?, n(6..8)?) * 86_400
            + n(9..11)? * 3600
            + n(11..13)? * 60
            + n(13..15)?,
    )
}

/// The revisions of an env whose history is empty (rattler and pixi write
/// none), from its snapshots: one per version in `dir` (`cenv snapshot
/// --dir DIR`), each with what changed since the one before — the first
/// lists everything. The date is the snapshot's: the change happened
/// before it, after the version before.
pub fn revisions_from_snapshots(dir: &Path, name: &str) -> Result<Vec<crate::conda::history::Revision>> {
    let env_dir = dir.join(name);
    let files = crate::tools::snapshot::versions(&env_dir, name)?;
    let mut revisions = Vec::new();
    let mut before = std::collections::BTreeSet::new();
    for file in files {
        let path = env_dir.join(&file);
        // a file, never a link or a FIFO, and of a snapshot's size
        let text = crate::system::wholefile::read_regular_nofollow(&path, crate::conda::files::HISTORY_LIMIT)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|source| crate::error::Error::System {
                what: format!("cannot read {}", path.display()),
                source,
            })?;
        let now: std::collections::BTreeSet<crate::conda::history::Dist> =
            crate::conda::history::snapshot_packages(&text, &path)?
                .into_iter()
                .collect();
        let added: Vec<crate::conda::history::Dist> = now.difference(&before).cloned().collect();
        let removed: Vec<crate::conda::history::Dist> = before.difference(&now).cloned().collect();
        before = now;
        if !revisions.is_empty() && added.is_empty() && removed.is_empty() {
            continue;
        }
        let (added, removed, upgraded) = crate::conda::history::pair(added, removed);
        let stamp = crate::tools::snapshot::stamp_of(&file);
        revisions.push(crate::conda::history::Revision {
            number: revisions.len(),
            date: stamp_epoch(stamp).map_or_else(|| stamp.to_owned(), crate::system::clock::format_local),
            command: Some(format!("(snapshot {file})")),
            added,
            removed,
            upgraded,
        });
    }
    Ok(revisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_stamps_are_utc_instants() {
        let utc = crate::system::clock::days_from_civil(2026, 11, 30) * 86_400 + 14 * 3600 + 5 * 60 + 6;
        assert_eq!(stamp_epoch("20261130T140506Z"), Some(utc));
        assert_eq!(stamp_epoch("20261130T140506"), None);
        assert_eq!(stamp_epoch("2026-11-30T14:05:06Z"), None);
    }
}
