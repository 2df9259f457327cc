//! `cenv snapshot`: a dated explicit file and JSON export per env in a
//! directory, for a daily timer run by the env admin. A new version is
//! written only when the env's packages changed (its content hash, which is
//! part of the file name, differs from the newest one's), each file is
//! written to a temporary name and renamed into place, at most `--keep`
//! versions per env stay, and `MANIFEST` says what the last run did.
//!
//! So that a daily run over 1,000 envs costs a directory listing each and not
//! a parse of every record, each env's `conda-meta/` and `site-packages`
//! entries (name, size, inode, modification and change times) are hashed
//! into a fingerprint kept beside the versions (`.fingerprint`); when it and
//! the newest version are unchanged, the records are not read. The change
//! time cannot be set back by anyone but root, so a rewritten record is seen.
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::SnapshotArgs;
use crate::conda::discover::discover;
use crate::conda::export::{explicit, export, Export};
use crate::conda::SearchPath;
use crate::config;
use crate::error::{Error, Result};
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::system::wholefile::write_atomically;
use crate::tools::json;

/// What happened to one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotOutcome {
    /// A new version was written: the explicit file (the JSON beside it).
    Written(PathBuf),
    /// The newest version already has these packages.
    Unchanged(PathBuf),
    /// The env could not be exported; the other envs were still done.
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvSnapshot {
    pub name: String,
    pub prefix: PathBuf,
    pub outcome: SnapshotOutcome,
    /// Older versions removed by `--keep`.
    pub pruned: Vec<PathBuf>,
}

/// The content hash of an export: its packages and pip packages, not the
/// prefix or cenv's version, so that a copy or an upgrade of cenv is no change.
fn content_hash(export: &Export) -> String {
    let canonical = serde_json::to_vec(&(&export.packages, &export.pip)).unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `YYYYMMDDTHHMMSSZ` in UTC (Howard Hinnant's days-to-civil).
pub fn utc_stamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::System { what, source }
}

/// The versions of `name` in `dir`, oldest first: `NAME@STAMP-HASH.txt`.
pub fn versions(dir: &Path, name: &str) -> Result<Vec<String>> {
    let prefix = format!("{name}@");
    let mut found: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| f.starts_with(&prefix) && f.ends_with(".txt"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_error(format!("cannot list {}", dir.display()))(e)),
    };
    // by the time in the name, then — two versions in one second — by
    // which file was written first: the hash after the time says nothing
    // about order
    let written = |file: &String| {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(dir.join(file)).map_or((0, 0), |m| (m.mtime(), m.mtime_nsec()))
    };
    found.sort_by_cached_key(|file| (stamp_of(file).to_owned(), written(file), file.clone()));
    Ok(found)
}

/// The time part of a version's file name: `NAME@STAMP-HASH.txt` → `STAMP`.
pub fn stamp_of(file: &str) -> &str {
    let after = file.split_once('@').map_or(file, |(_, rest)| rest);
    after.rsplit_once('-').map_or(after, |(stamp, _)| stamp)
}

/// A hash of what the metadata of `prefix` looks like from its directory
/// entries: `conda-meta/` and `lib/python*/site-packages` (where pip adds).
fn fingerprint(prefix: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut hasher = Sha256::new();
    let mut add = |path: &Path| -> std::io::Result<()> {
        let mut entries: Vec<(std::ffi::OsString, fs::Metadata)> = fs::read_dir(path)?
            .map(|e| e.and_then(|e| Ok((e.file_name(), e.metadata()?))))
            .collect::<std::io::Result<_>>()?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let own = fs::symlink_metadata(path)?;
        for (name, m) in std::iter::once((path.as_os_str().to_owned(), own)).chain(entries) {
            hasher.update(name.as_encoded_bytes());
            for n in [
                m.ino(),
                m.size(),
                m.mtime() as u64,
                m.mtime_nsec() as u64,
                m.ctime() as u64,
                m.ctime_nsec() as u64,
            ] {
                hasher.update(n.to_le_bytes());
            }
        }
        Ok(())
    };
    add(&prefix.join("conda-meta"))?;
    if let Ok(lib) = fs::read_dir(prefix.join("lib")) {
        let mut sites: Vec<PathBuf> = lib
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .map(|e| e.path().join("site-packages"))
            .filter(|p| p.is_dir())
            .collect();
        sites.sort();
        for site in sites {
            add(&site)?;
        }
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Snapshots one env into `dir/NAME/`.
fn snapshot_env(
    name: &str,
    prefix: &Path,
    dir: &Path,
    keep: Option<usize>,
    stamp: &str,
) -> Result<EnvSnapshot> {
    crate::conda::name::validate_env_name(name)?;
    let env_dir = dir.join(name);
    crate::trust::require_roots_own_tree(&env_dir)?;
    fs::create_dir_all(&env_dir).map_err(io_error(format!("cannot create {}", env_dir.display())))?;
    let existing = versions(&env_dir, name)?;
    let seen = fingerprint(prefix).ok();
    let remembered = env_dir.join(".fingerprint");
    // `FINGERPRINT NEWEST-VERSION`, written after a successful snapshot
    if let (Some(seen), Some(newest), Ok(kept)) = (&seen, existing.last(), fs::read_to_string(&remembered)) {
        if kept.trim_end() == format!("{seen} {newest}") {
            return Ok(EnvSnapshot {
                name: name.to_owned(),
                prefix: prefix.to_path_buf(),
                outcome: SnapshotOutcome::Unchanged(env_dir.join(newest)),
                pruned: prune(&env_dir, name, keep)?,
            });
        }
    }
    let export = export(prefix)?;
    let hash = content_hash(&export);
    let outcome = match existing.last() {
        Some(newest) if newest.ends_with(&format!("-{hash}.txt")) => {
            SnapshotOutcome::Unchanged(env_dir.join(newest))
        }
        _ => {
            let base = env_dir.join(format!("{name}@{stamp}-{hash}"));
            let mut json = serde_json::to_vec_pretty(&export).unwrap_or_default();
            json.push(b'\n');
            write_atomically(&base.with_extension("json"), &json, None)?;
            let text = base.with_extension("txt");
            write_atomically(&text, explicit(&export).as_bytes(), None)?;
            SnapshotOutcome::Written(text)
        }
    };
    let pruned = prune(&env_dir, name, keep)?;
    if let (Some(seen), SnapshotOutcome::Written(newest) | SnapshotOutcome::Unchanged(newest)) =
        (seen, &outcome)
    {
        let newest = newest.file_name().unwrap_or_default().to_string_lossy();
        write_atomically(&remembered, format!("{seen} {newest}\n").as_bytes(), None)?;
    }
    Ok(EnvSnapshot {
        name: name.to_owned(),
        prefix: prefix.to_path_buf(),
        outcome,
        pruned,
    })
}

/// Removes the oldest versions beyond `keep` (the explicit file and its
/// JSON), and the JSON a run interrupted between its two files left without
/// an explicit file — only one older than the newest version, so that the
/// JSON another run is writing at this moment is never taken.
fn prune(env_dir: &Path, name: &str, keep: Option<usize>) -> Result<Vec<PathBuf>> {
    let mut pruned = Vec::new();
    let all = versions(env_dir, name)?;
    if let Some(newest) = all.last() {
        remove_orphaned_json(env_dir, name, newest.trim_end_matches(".txt"))?;
    }
    let Some(keep) = keep else {
        return Ok(pruned);
    };
    for old in &all[..all.len().saturating_sub(keep.max(1))] {
        let text = env_dir.join(old);
        for file in [text.with_extension("json"), text.clone()] {
            match fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(format!("cannot remove {}", file.display()))(e)),
            }
        }
        pruned.push(text);
    }
    Ok(pruned)
}

fn remove_orphaned_json(env_dir: &Path, name: &str, newest: &str) -> Result<()> {
    let prefix = format!("{name}@");
    let Ok(entries) = fs::read_dir(env_dir) else {
        return Ok(());
    };
    for file in entries.flatten().filter_map(|e| e.file_name().into_string().ok()) {
        let Some(base) = file.strip_suffix(".json").filter(|b| b.starts_with(&prefix)) else {
            continue;
        };
        if stamp_of(base) < stamp_of(newest) && !env_dir.join(format!("{base}.txt")).exists() {
            let path = env_dir.join(&file);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(format!("cannot remove {}", path.display()))(e)),
            }
        }
    }
    Ok(())
}

/// Snapshots every env of `envs` into `dir`, in parallel, and writes
/// `dir/MANIFEST`. An env that fails is reported and the others are done.
pub fn snapshot_all(envs: &[(String, PathBuf)], dir: &Path, keep: Option<usize>) -> Result<Vec<EnvSnapshot>> {
    crate::trust::require_roots_own_tree(dir)?;
    fs::create_dir_all(dir).map_err(io_error(format!("cannot create {}", dir.display())))?;
    let stamp = utc_stamp(SystemTime::now());
    let results = crate::system::parallel::map(envs, |(name, prefix)| {
        snapshot_env(name, prefix, dir, keep, &stamp).unwrap_or_else(|e| EnvSnapshot {
            name: name.clone(),
            prefix: prefix.clone(),
            outcome: SnapshotOutcome::Failed(e.to_string()),
            pruned: Vec::new(),
        })
    });
    let mut manifest = format!("# cenv snapshot {stamp}: env, what was done, file\n");
    for r in &results {
        let (what, file) = match &r.outcome {
            SnapshotOutcome::Written(f) => ("written", f.display().to_string()),
            SnapshotOutcome::Unchanged(f) => ("unchanged", f.display().to_string()),
            SnapshotOutcome::Failed(why) => ("failed", crate::system::escape::text(why)),
        };
        manifest.push_str(&format!("{}\t{what}\t{file}\n", r.name));
        // what --keep removed this run: the record of what is gone is here
        for old in &r.pruned {
            manifest.push_str(&format!("{}\tpruned\t{}\n", r.name, old.display()));
        }
    }
    write_atomically(&dir.join("MANIFEST"), manifest.as_bytes(), None)?;
    Ok(results)
}

pub fn snapshot(process: &Process, args: SnapshotArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let search = SearchPath::for_caller(&loaded.config, process);
    let envs = discover(&loaded.config, &search);
    let results = crate::tools::snapshot::snapshot_all(&envs, &args.dir, args.keep.map(|k| k as usize))?;
    let failed = results
        .iter()
        .any(|r| matches!(r.outcome, crate::tools::snapshot::SnapshotOutcome::Failed(_)));
    if args.json {
        json(&results)?;
    } else {
        let mut text = String::new();
        for r in &results {
            let line = match &r.outcome {
                crate::tools::snapshot::SnapshotOutcome::Written(f) => {
                    format!("written: {}", escape::path(f))
                }
                crate::tools::snapshot::SnapshotOutcome::Unchanged(f) => {
                    format!("unchanged since {}", escape::path(f))
                }
                crate::tools::snapshot::SnapshotOutcome::Failed(why) => {
                    format!("FAILED: {}", escape::text(why))
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn two_versions_in_one_second_are_ordered_by_when_they_were_written() {
        let dir = std::env::temp_dir().join(format!("cenv-versions-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // the later version's hash sorts first
        fs::write(dir.join("lab@20261130T095451Z-ffff.txt"), "first").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.join("lab@20261130T095451Z-0000.txt"), "second").unwrap();
        fs::write(dir.join("lab@20261129T000000Z-9999.txt"), "yesterday").unwrap();
        let order = versions(&dir, "lab").unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            order,
            [
                "lab@20261129T000000Z-9999.txt",
                "lab@20261130T095451Z-ffff.txt",
                "lab@20261130T095451Z-0000.txt"
            ]
        );
    }

    #[test]
    fn a_json_left_without_its_explicit_file_is_removed_once_a_newer_version_exists() {
        let dir = std::env::temp_dir().join(format!("cenv-prune-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for file in [
            "cv@20260101T000000Z-aaaa.json", // interrupted before its .txt
            "cv@20260102T000000Z-bbbb.json",
            "cv@20260102T000000Z-bbbb.txt",
            "cv@20260103T000000Z-cccc.json", // being written by another run
            "other@20260101T000000Z-dddd.json",
        ] {
            fs::write(dir.join(file), "x").unwrap();
        }
        prune(&dir, "cv", None).unwrap();
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            left,
            [
                "cv@20260102T000000Z-bbbb.json",
                "cv@20260102T000000Z-bbbb.txt",
                "cv@20260103T000000Z-cccc.json",
                "other@20260101T000000Z-dddd.json"
            ]
        );
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_709_551_353)),
            "20240304T112233Z"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
    }
}
