//! `cenv verify NAME`: the env's files against the installer's records.
//!
//! Every path in every `conda-meta/*.json` `paths_data` must exist, have the
//! recorded size (unless a prefix placeholder was rewritten at install) and
//! the recorded SHA-256 — `sha256_in_prefix` when present, else `sha256`.
//! conda's own `doctor` skips files without `sha256_in_prefix`; rattler omits
//! it when it equals `sha256`, so cenv checks them all. Files in `bin/` that
//! no record lists are reported too: that is how a planted script looks.
//! Hashing is parallel (rayon) with `sha2`, which uses the CPU's SHA
//! extensions when it has them.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::io::{IsTerminal, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::conda::records::{read_record, record_files, RecordedPath};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    Missing,
    Altered,
    Unrecorded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    pub problem: Problem,
    pub path: String,
    pub package: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub prefix: PathBuf,
    pub packages: usize,
    pub files_checked: usize,
    pub discrepancies: Vec<Discrepancy>,
}

struct Job {
    package: String,
    recorded: RecordedPath,
}

pub fn verify(prefix: &Path) -> Result<Report> {
    let mut jobs = Vec::new();
    let records = record_files(prefix);
    for file in &records {
        let record = read_record(file)?;
        let package = format!("{}-{}-{}", record.name, record.version, record.build);
        jobs.extend(record.paths().into_iter().map(|recorded| Job {
            package: package.clone(),
            recorded,
        }));
    }
    let recorded: HashSet<&str> = jobs.iter().map(|j| j.recorded.path.as_str()).collect();
    let done = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let total = jobs.len();
    let discrepancies: Vec<Discrepancy> = std::thread::scope(|scope| {
        if std::io::stderr().is_terminal() {
            scope.spawn(|| progress(&done, &finished, total));
        }
        let found: Vec<Discrepancy> = jobs
            .par_iter()
            .filter_map(|job| {
                let result = check(prefix, job);
                done.fetch_add(1, Ordering::Relaxed);
                result
            })
            .collect();
        finished.store(true, Ordering::Relaxed);
        found
    });
    let mut discrepancies = discrepancies;
    discrepancies.extend(unrecorded_in_bin(prefix, &recorded));
    discrepancies.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Report {
        prefix: prefix.to_owned(),
        packages: records.len(),
        files_checked: total,
        discrepancies,
    })
}

fn progress(done: &AtomicUsize, finished: &AtomicBool, total: usize) {
    while !finished.load(Ordering::Relaxed) {
        eprint!("\rcenv verify: {}/{} files", done.load(Ordering::Relaxed), total);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprint!("\r\x1b[K");
}

fn check(prefix: &Path, job: &Job) -> Option<Discrepancy> {
    let recorded = &job.recorded;
    let path = prefix.join(&recorded.path);
    let discrepancy = |problem, detail: String| {
        Some(Discrepancy {
            problem,
            path: recorded.path.clone(),
            package: job.package.clone(),
            detail,
        })
    };
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(_) => return discrepancy(Problem::Missing, "recorded by the installer, not on disk".into()),
    };
    match recorded.path_type.as_deref() {
        Some("directory") => {
            return (!meta.is_dir()).then(|| Discrepancy {
                problem: Problem::Altered,
                path: recorded.path.clone(),
                package: job.package.clone(),
                detail: "recorded as a directory".into(),
            })
        }
        Some("softlink") => {
            return (!meta.file_type().is_symlink()).then(|| Discrepancy {
                problem: Problem::Altered,
                path: recorded.path.clone(),
                package: job.package.clone(),
                detail: "recorded as a symlink, now a regular file".into(),
            })
        }
        _ => {}
    }
    if meta.file_type().is_symlink() {
        return None;
    }
    if recorded.prefix_placeholder.is_none() {
        if let Some(size) = recorded.size_in_bytes {
            if meta.size() != size {
                return discrepancy(
                    Problem::Altered,
                    format!("size {} bytes, recorded {size}", meta.size()),
                );
            }
        }
    }
    let expected = recorded.expected_sha256()?;
    match sha256_of(&path, meta.size()) {
        Ok(actual) if actual.eq_ignore_ascii_case(expected) => None,
        Ok(actual) => discrepancy(Problem::Altered, format!("sha256 {actual}, recorded {expected}")),
        Err(e) => discrepancy(Problem::Altered, format!("cannot read it: {e}")),
    }
}

fn sha256_of(path: &Path, size: u64) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    // Most files of an env are small: read them whole, with one allocation of
    // their own size; stream the big ones through a buffer.
    if size <= 1 << 20 {
        hasher.update(std::fs::read(path)?);
    } else {
        let mut file = std::fs::File::open(path)?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    Ok(hex)
}

fn unrecorded_in_bin(prefix: &Path, recorded: &HashSet<&str>) -> Vec<Discrepancy> {
    let Ok(entries) = std::fs::read_dir(prefix.join("bin")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let rel = format!("bin/{}", e.file_name().to_string_lossy());
            (!recorded.contains(rel.as_str())).then(|| Discrepancy {
                problem: Problem::Unrecorded,
                path: rel,
                package: String::new(),
                detail: "in bin/ but in no package record: was it planted?".into(),
            })
        })
        .collect()
}
