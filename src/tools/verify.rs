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
use std::io::{IsTerminal, Read, Write};
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::EnvArgs;
use crate::conda::files::{record_path_is_safe, PrefixDir};
use crate::conda::records::{read_record, record_files, RecordedPath};
use crate::conda::resolve;
use crate::conda::SearchPath;
use crate::config;
use crate::error::Result;
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::tools::{json, spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    Missing,
    Altered,
    Unrecorded,
    /// A record names a path outside the env (absolute, or with `..`).
    Invalid,
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
    let dir = PrefixDir::open(prefix)?;
    let mut jobs = Vec::new();
    let records = record_files(&dir)?;
    for file in &records {
        let record = read_record(&dir, file)?;
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
            // no progress line where no thread can be had
            let _ = std::thread::Builder::new().spawn_scoped(scope, || progress(&done, &finished, total));
        }
        let found: Vec<Discrepancy> = crate::system::parallel::filter_map(&jobs, |job| {
            let result = check(&dir, job);
            done.fetch_add(1, Ordering::Relaxed);
            result
        });
        finished.store(true, Ordering::Relaxed);
        found
    });
    let mut discrepancies = discrepancies;
    discrepancies.extend(unrecorded_in_bin(&dir, &recorded));
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
        let _ = write!(
            std::io::stderr(),
            "\rcenv verify: {}/{} files",
            done.load(Ordering::Relaxed),
            total
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = write!(std::io::stderr(), "\r\x1b[K");
}

/// Opens `path` below the prefix, never leaving it: symlinks on the way
/// are followed only while they stay beneath the prefix (openat2's
/// RESOLVE_BENEATH), the last component is never followed.
fn open_beneath(prefix: &PrefixDir, path: &str, flags: OFlag) -> nix::Result<OwnedFd> {
    // openat2 validates flags strictly: O_PATH takes no others but these
    let extra = if flags.contains(OFlag::O_PATH) {
        OFlag::empty()
    } else {
        OFlag::O_NOCTTY
    };
    let flags = flags | extra | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(prefix.fd(), path, how) {
        // before Linux 5.6: no symlink on the way at all
        Err(Errno::ENOSYS) => {
            let mut current = prefix.fd().try_clone_to_owned().map_err(|_| Errno::EBADF)?;
            let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            for (i, name) in components.iter().enumerate() {
                let last = i + 1 == components.len();
                let f = if last {
                    flags
                } else {
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
                };
                current = openat(&current, *name, f, Mode::empty())?;
            }
            Ok(current)
        }
        other => other,
    }
}

fn check(prefix: &PrefixDir, job: &Job) -> Option<Discrepancy> {
    let recorded = &job.recorded;
    let discrepancy = |problem, detail: String| {
        Some(Discrepancy {
            problem,
            path: recorded.path.clone(),
            package: job.package.clone(),
            detail,
        })
    };
    if !record_path_is_safe(&recorded.path) {
        return discrepancy(
            Problem::Invalid,
            "the record names a path outside the env (absolute, or with ..): refused, not read".into(),
        );
    }
    let st = match open_beneath(prefix, &recorded.path, OFlag::O_PATH).and_then(|fd| fstat(&fd)) {
        Ok(st) => st,
        Err(Errno::ENOENT) => {
            return discrepancy(Problem::Missing, "recorded by the installer, not on disk".into())
        }
        Err(Errno::EXDEV | Errno::ELOOP) => {
            return discrepancy(
                Problem::Altered,
                "a symlink on the way leads outside the env".into(),
            )
        }
        Err(e) => return discrepancy(Problem::Altered, format!("cannot check it: {}", e.desc())),
    };
    let kind = st.st_mode & libc::S_IFMT;
    match recorded.path_type.as_deref() {
        Some("directory") => {
            return (kind != libc::S_IFDIR)
                .then(|| discrepancy(Problem::Altered, "recorded as a directory".into()))
                .flatten()
        }
        Some("softlink") => {
            return (kind != libc::S_IFLNK)
                .then(|| {
                    discrepancy(
                        Problem::Altered,
                        "recorded as a symlink, now a regular file".into(),
                    )
                })
                .flatten()
        }
        _ => {}
    }
    if kind == libc::S_IFLNK {
        return None;
    }
    if kind != libc::S_IFREG {
        return discrepancy(
            Problem::Altered,
            "not a regular file (a FIFO, device, socket or directory)".into(),
        );
    }
    let size = st.st_size as u64;
    if recorded.prefix_placeholder.is_none() {
        if let Some(recorded_size) = recorded.size_in_bytes {
            if size != recorded_size {
                return discrepancy(
                    Problem::Altered,
                    format!("size {size} bytes, recorded {recorded_size}"),
                );
            }
        }
    }
    let expected = recorded.expected_sha256()?;
    let file = open_beneath(prefix, &recorded.path, OFlag::O_RDONLY | OFlag::O_NONBLOCK);
    match file
        .map_err(std::io::Error::from)
        .and_then(|fd| sha256_of(fd, size))
    {
        Ok(actual) if actual.eq_ignore_ascii_case(expected) => None,
        Ok(actual) => discrepancy(Problem::Altered, format!("sha256 {actual}, recorded {expected}")),
        Err(e) => discrepancy(Problem::Altered, format!("cannot read it: {e}")),
    }
}

fn sha256_of(fd: OwnedFd, size: u64) -> std::io::Result<String> {
    if fstat(&fd)?.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut file = std::fs::File::from(fd);
    let mut hasher = Sha256::new();
    // Most files of an env are small: read them whole, with one allocation of
    // their own size; stream the big ones through a buffer.
    if size <= 1 << 20 {
        let mut whole = Vec::with_capacity(size as usize);
        file.read_to_end(&mut whole)?;
        hasher.update(whole);
    } else {
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

fn unrecorded_in_bin(prefix: &PrefixDir, recorded: &HashSet<&str>) -> Vec<Discrepancy> {
    let Ok(names) = prefix.list("bin") else {
        return Vec::new();
    };
    names
        .into_iter()
        .filter_map(|name| {
            let rel = format!("bin/{}", name.to_string_lossy());
            (!recorded.contains(rel.as_str())).then(|| Discrepancy {
                problem: Problem::Unrecorded,
                path: rel,
                package: String::new(),
                detail: "in bin/ but in no package record: was it planted?".into(),
            })
        })
        .collect()
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
