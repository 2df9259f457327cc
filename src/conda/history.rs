//! The change history of an env: the revisions `conda-meta/history` records
//! (`==> DATE <==`, `# cmd: ...`, `+channel::name-version-build` linked,
//! `-...` unlinked), read as packages added, removed and upgraded; and the
//! difference between a snapshot (an explicit or JSON export) and the live
//! env. Who made a change is not in conda's history; the auditd watch that
//! `cenv audit-rules` prints records it.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::conda::export::Export;
use crate::conda::files::{PrefixDir, HISTORY_LIMIT};
use crate::error::{Error, Result};

/// A package as a history line or an explicit URL names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Dist {
    pub name: String,
    pub version: String,
    pub build: String,
}

impl Dist {
    /// `conda-forge::numpy-1.26.4-py311_0` or `numpy-1.26.4-py311_0.conda`.
    pub fn parse(text: &str) -> Option<Dist> {
        let text = text.rsplit_once("::").map_or(text, |(_, rest)| rest);
        let text = text
            .strip_suffix(".conda")
            .or_else(|| text.strip_suffix(".tar.bz2"))
            .unwrap_or(text);
        let mut parts = text.rsplitn(3, '-');
        let build = parts.next()?;
        let version = parts.next()?;
        let name = parts.next()?;
        if [name, version, build].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Dist {
            name: name.to_owned(),
            version: version.to_owned(),
            build: build.to_owned(),
        })
    }

    /// `name version build`.
    pub fn label(&self) -> String {
        format!("{} {} {}", self.name, self.version, self.build)
    }
}

/// A package whose version or build changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upgrade {
    pub name: String,
    pub from: Dist,
    pub to: Dist,
}

/// One revision of `conda-meta/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    pub number: usize,
    pub date: String,
    pub command: Option<String>,
    pub added: Vec<Dist>,
    pub removed: Vec<Dist>,
    pub upgraded: Vec<Upgrade>,
}

/// Pairs removed and added packages of the same name into upgrades.
pub fn pair(added: Vec<Dist>, removed: Vec<Dist>) -> (Vec<Dist>, Vec<Dist>, Vec<Upgrade>) {
    let mut removed_by_name: BTreeMap<String, Dist> =
        removed.into_iter().map(|d| (d.name.clone(), d)).collect();
    let mut still_added = Vec::new();
    let mut upgraded = Vec::new();
    for dist in added {
        match removed_by_name.remove(&dist.name) {
            Some(from) if from != dist => upgraded.push(Upgrade {
                name: dist.name.clone(),
                from,
                to: dist,
            }),
            Some(_) => {}
            None => still_added.push(dist),
        }
    }
    still_added.sort();
    upgraded.sort_by(|a, b| a.name.cmp(&b.name));
    (still_added, removed_by_name.into_values().collect(), upgraded)
}

/// Parses the text of a history file; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Revision>> {
    struct Open {
        date: String,
        command: Option<String>,
        added: Vec<Dist>,
        removed: Vec<Dist>,
    }
    let mut revisions = Vec::new();
    let mut open: Option<Open> = None;
    let close = |open: Open, revisions: &mut Vec<Revision>| {
        let (added, removed, upgraded) = pair(open.added, open.removed);
        revisions.push(Revision {
            number: revisions.len(),
            date: open.date,
            command: open.command,
            added,
            removed,
            upgraded,
        });
    };
    for (index, line) in text.lines().enumerate() {
        let bad = |why: &str| Error::EnvMetadata {
            path: path.to_path_buf(),
            message: format!(
                "line {}: {why}: {:?} (a conda history has \"==> DATE <==\" headers, \"# \" comments and \
                 \"+\"/\"-\" package lines; restore the file from a backup or move it aside)",
                index + 1,
                crate::system::escape::text(line)
            ),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(date) = trimmed.strip_prefix("==>").and_then(|l| l.strip_suffix("<==")) {
            if let Some(done) = open.take() {
                close(done, &mut revisions);
            }
            open = Some(Open {
                date: date.trim().to_owned(),
                command: None,
                added: Vec::new(),
                removed: Vec::new(),
            });
            continue;
        }
        let Some(current) = open.as_mut() else {
            return Err(bad("before the first \"==> DATE <==\" header"));
        };
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(cmd) = comment.trim_start().strip_prefix("cmd:") {
                current.command = Some(cmd.trim().to_owned());
            }
        } else if let Some(dist) = trimmed.strip_prefix('+') {
            current
                .added
                .push(Dist::parse(dist).ok_or_else(|| bad("not a package"))?);
        } else if let Some(dist) = trimmed.strip_prefix('-') {
            current
                .removed
                .push(Dist::parse(dist).ok_or_else(|| bad("not a package"))?);
        } else {
            return Err(bad("not a history line"));
        }
    }
    if let Some(done) = open {
        close(done, &mut revisions);
    }
    Ok(revisions)
}

/// The revisions of the env at `prefix` (an env without a history has none).
pub fn revisions(prefix: &Path) -> Result<Vec<Revision>> {
    let Some(bytes) = PrefixDir::open(prefix)?.read("conda-meta/history", HISTORY_LIMIT)? else {
        return Ok(Vec::new());
    };
    parse(
        &String::from_utf8_lossy(&bytes),
        &prefix.join("conda-meta/history"),
    )
}

/// A `--since` date as history writes dates (local time, `YYYY-MM-DD` or
/// `YYYY-MM-DD HH:MM:SS`), from `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`, ISO
/// 8601's `YYYY-MM-DDTHH:MM[:SS]` (local), the same with `Z` or `±HH:MM`
/// (converted to local time), or a snapshot file's stamp `YYYYMMDDTHHMMSSZ`.
pub fn normalize_since(date: &str) -> Result<String> {
    let bad = || {
        Error::Usage(format!(
            "--since {}: not a date; write YYYY-MM-DD, \"YYYY-MM-DD HH:MM:SS\", ISO 8601 \
             (2026-11-30T14:00, 2026-11-30T14:00:00Z, ...+01:00) or a snapshot's 20261130T140000Z",
            crate::system::escape::text(date)
        ))
    };
    if !date.is_ascii() {
        return Err(bad());
    }
    // a snapshot's stamp: the same instant, ISO 8601's extended form
    let expanded;
    let date = match date.as_bytes() {
        [y @ .., b'Z'] if y.len() == 15 && y[8] == b'T' => {
            let d = &date[..15];
            expanded = format!(
                "{}-{}-{}T{}:{}:{}Z",
                &d[0..4],
                &d[4..6],
                &d[6..8],
                &d[9..11],
                &d[11..13],
                &d[13..15]
            );
            expanded.as_str()
        }
        _ => date,
    };
    let digits = |range: std::ops::Range<usize>| {
        date.get(range.clone())
            .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<i64>().ok())
    };
    let day_shape = date.len() >= 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-';
    let (Some(year), Some(month), Some(day), true) = (digits(0..4), digits(5..7), digits(8..10), day_shape)
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    if date.len() == 10 {
        return Ok(date.to_owned());
    }
    if !matches!(date.as_bytes()[10], b' ' | b'T') || date.as_bytes().get(13) != Some(&b':') {
        return Err(bad());
    }
    let (Some(hour), Some(minute)) = (digits(11..13), digits(14..16)) else {
        return Err(bad());
    };
    let mut rest = &date[16..];
    let mut second = 0;
    if rest.starts_with(':') {
        second = digits(17..19).ok_or_else(bad)?;
        rest = &date[19..];
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let offset = match rest {
        "" => None,
        "Z" => Some(0),
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let zone = rest[1..].replace(':', "");
            let (Some(h), Some(m)) = (
                zone.get(0..2).and_then(|t| t.parse::<i64>().ok()),
                zone.get(2..4).and_then(|t| t.parse::<i64>().ok()),
            ) else {
                return Err(bad());
            };
            if zone.len() != 4 || !zone.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            Some(sign * (h * 3600 + m * 60))
        }
    };
    match offset {
        None => Ok(format!(
            "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
        )),
        Some(offset) => {
            let utc = crate::system::clock::days_from_civil(year, month, day) * 86_400
                + hour * 3600
                + minute * 60
                + second;
            Ok(crate::system::clock::format_local(utc - offset))
        }
    }
}

/// Whether a revision's date is at or after `since` (both local time as
/// history writes them, so the text order is the time order; `since` from
/// [`normalize_since`]).
pub fn is_since(revision: &Revision, since: &str) -> bool {
    revision.date.as_str() >= since
}

/// Where the revisions of `cenv changes` came from.
pub const SOURCE_HISTORY: &str = "conda-meta/history";

/// The revisions of an env whose history is empty, from the times of its
/// package records: the packages present now, grouped by the minute their
/// record was written. Removals leave no record and show nowhere here.
pub fn revisions_from_records(prefix: &Path) -> Result<Vec<Revision>> {
    use std::os::unix::fs::MetadataExt;
    let meta = prefix.join("conda-meta");
    let names = PrefixDir::open(prefix)?.list("conda-meta")?;
    let mut by_time: BTreeMap<i64, Vec<Dist>> = BTreeMap::new();
    for name in names {
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        let (Some(dist), Ok(m)) = (Dist::parse(stem), std::fs::symlink_metadata(meta.join(&name))) else {
            continue;
        };
        by_time.entry(m.mtime()).or_default().push(dist);
    }
    let mut revisions: Vec<Revision> = Vec::new();
    let mut minute_of_last = None;
    for (time, mut dists) in by_time {
        let minute = time.div_euclid(60);
        match revisions.last_mut() {
            Some(last) if minute_of_last == Some(minute) => last.added.append(&mut dists),
            _ => revisions.push(Revision {
                number: revisions.len(),
                date: crate::system::clock::format_local(time),
                command: None,
                added: dists,
                removed: Vec::new(),
                upgraded: Vec::new(),
            }),
        }
        minute_of_last = Some(minute);
    }
    for r in &mut revisions {
        r.added.sort();
    }
    Ok(revisions)
}

/// The lines `cenv changes` prints for one revision of an env.
pub fn format_revision(env: &str, r: &Revision) -> String {
    let mut text = format!(
        "{env}  rev {}  {}  {}\n",
        r.number,
        crate::system::escape::text(&r.date),
        r.command
            .as_deref()
            .map_or_else(|| "(no command recorded)".to_owned(), crate::system::escape::text)
    );
    for u in &r.upgraded {
        text.push_str(&format!(
            "    ~ {} {} {} -> {} {}\n",
            crate::system::escape::text(&u.name),
            crate::system::escape::text(&u.from.version),
            crate::system::escape::text(&u.from.build),
            crate::system::escape::text(&u.to.version),
            crate::system::escape::text(&u.to.build)
        ));
    }
    for d in &r.added {
        text.push_str(&format!("    + {}\n", crate::system::escape::text(&d.label())));
    }
    for d in &r.removed {
        text.push_str(&format!("    - {}\n", crate::system::escape::text(&d.label())));
    }
    text
}

/// Where the "who" of a change is, since conda's history does not say.
pub const WHO_NOTE: &str = "conda's history does not record who made a change. The auditd watch \
that `cenv audit-rules` prints does: ausearch -k cenv_env_write -ts DATE TIME (as root; \
`cenv changes` run by root itself joins the two by time).";

/// What `cenv changes` says when it joined auditd's records in.
pub const JOINED_NOTE: &str = "who: from auditd (ausearch -k cenv_env_write), joined with conda's \
history by time, best effort: a write under the env from 10 minutes before a revision's date to \
1 minute after is shown under that revision, so an unrelated write in that window shows there \
too; a write near no revision (pip, a copy by hand) is listed apart. A write leaves a record \
only where the watch covers the env and only while auditd runs.";

/// What differs between a snapshot and the live env.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// In the env, not in the snapshot.
    pub added: Vec<Dist>,
    /// In the snapshot, not in the env.
    pub removed: Vec<Dist>,
    pub changed: Vec<Upgrade>,
}

impl Difference {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The packages a snapshot file lists: an explicit file (the URLs after
/// `@EXPLICIT`) or the JSON of `cenv export --format json`.
pub fn snapshot_packages(text: &str, path: &Path) -> Result<Vec<Dist>> {
    let bad = |line: usize, why: &str| Error::EnvMetadata {
        path: path.to_path_buf(),
        message: format!("line {line}: {why} (give a file `cenv export` or `cenv snapshot` wrote)"),
    };
    if text.trim_start().starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(e.line(), &e.to_string()))?;
        let packages = value["packages"]
            .as_array()
            .ok_or_else(|| bad(1, "no \"packages\" list"))?;
        return packages
            .iter()
            .map(|p| {
                let field = |f: &str| p[f].as_str().map(str::to_owned);
                Some(Dist {
                    name: field("name")?,
                    version: field("version")?,
                    build: field("build")?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(1, "a package without name, version and build"));
    }
    let mut explicit = false;
    let mut packages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "@EXPLICIT" {
            explicit = true;
            continue;
        }
        if !explicit {
            return Err(bad(index + 1, "a package before the @EXPLICIT line"));
        }
        let url = line.split('#').next().unwrap_or_default();
        let file = url.rsplit('/').next().unwrap_or_default();
        packages.push(Dist::parse(file).ok_or_else(|| bad(index + 1, "not a package URL"))?);
    }
    if !explicit {
        return Err(bad(1, "no @EXPLICIT line"));
    }
    Ok(packages)
}

/// Compares the packages of a snapshot with the live env's.
pub fn difference(snapshot: Vec<Dist>, live: &Export) -> Difference {
    let live: Vec<Dist> = live
        .packages
        .iter()
        .map(|p| Dist {
            name: p.name.clone(),
            version: p.version.clone(),
            build: p.build.clone(),
        })
        .collect();
    let (added, removed, changed) = pair(live, snapshot);
    Difference {
        added,
        removed,
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_iso_8601_and_snapshot_stamps() {
        assert_eq!(normalize_since("2026-11-30").unwrap(), "2026-11-30");
        assert_eq!(
            normalize_since("2026-11-30 14:05:06").unwrap(),
            "2026-11-30 14:05:06"
        );
        assert_eq!(
            normalize_since("2026-11-30T14:05:06").unwrap(),
            "2026-11-30 14:05:06"
        );
        assert_eq!(
            normalize_since("2026-11-30T14:05").unwrap(),
            "2026-11-30 14:05:00"
        );
        // an instant: converted to local time, as history writes it
        let utc = crate::system::clock::days_from_civil(2026, 11, 30) * 86_400 + 14 * 3600 + 5 * 60 + 6;
        let local = crate::system::clock::format_local(utc);
        assert_eq!(normalize_since("2026-11-30T14:05:06Z").unwrap(), local);
        assert_eq!(normalize_since("20261130T140506Z").unwrap(), local);
        assert_eq!(normalize_since("2026-11-30T15:05:06+01:00").unwrap(), local);
        assert_eq!(normalize_since("2026-11-30T09:05:06-0500").unwrap(), local);
        assert_eq!(crate::system::clock::days_from_civil(1970, 1, 1), 0);
        assert_eq!(crate::system::clock::days_from_civil(2000, 3, 1), 11_017);
        for bad in [
            "2026-13-01",
            "2026-11-30T25:00",
            "yesterday",
            "2026-11-30T14:05:06+1",
            "2026-11-30 14",
        ] {
            assert!(normalize_since(bad).is_err(), "{bad}");
        }
    }

    fn dist(name: &str, version: &str, build: &str) -> Dist {
        Dist {
            name: name.into(),
            version: version.into(),
            build: build.into(),
        }
    }

    #[test]
    fn dists_parse_from_history_lines_and_file_names() {
        assert_eq!(
            Dist::parse("conda-forge::python-dateutil-2.8.2-pyhd8ed1ab_0"),
            Some(dist("python-dateutil", "2.8.2", "pyhd8ed1ab_0"))
        );
        assert_eq!(
            Dist::parse("numpy-1.26.4-py311_0.conda"),
            Some(dist("numpy", "1.26.4", "py311_0"))
        );
        assert_eq!(Dist::parse("numpy-1.26.4"), None);
        assert_eq!(Dist::parse("--"), None);
    }

    #[test]
    fn revisions_with_commands_and_upgrades() {
        let text = "==> 2024-01-02 10:00:00 <==\n# cmd: conda create -n x python numpy\n\
                    # conda version: 24.1.0\n+defaults::python-3.11.7-h0_0\n+defaults::numpy-1.26.3-py311_0\n\
                    \n==> 2024-03-04 11:22:33 <==\n# cmd: conda install numpy=1.26.4 six\n\
                    -defaults::numpy-1.26.3-py311_0\n+defaults::numpy-1.26.4-py311_0\n+defaults::six-1.16.0-py_0\n\
                    # update specs: ['numpy=1.26.4', 'six']\n";
        let revisions = parse(text, Path::new("h")).unwrap();
        assert_eq!(revisions.len(), 2);
        assert_eq!(
            revisions[0].command.as_deref(),
            Some("conda create -n x python numpy")
        );
        assert_eq!(revisions[0].added.len(), 2);
        let second = &revisions[1];
        assert_eq!(second.date, "2024-03-04 11:22:33");
        assert_eq!(second.added, [dist("six", "1.16.0", "py_0")]);
        assert!(second.removed.is_empty());
        assert_eq!(second.upgraded[0].from.version, "1.26.3");
        assert_eq!(second.upgraded[0].to.version, "1.26.4");
        assert!(is_since(second, "2024-03-04"));
        assert!(!is_since(&revisions[0], "2024-03-04"));
        let table: String = revisions.iter().map(|r| format_revision("x", r)).collect();
        assert!(
            table.contains("x  rev 1  2024-03-04 11:22:33  conda install numpy=1.26.4 six\n"),
            "{table}"
        );
        assert!(
            table.contains("    ~ numpy 1.26.3 py311_0 -> 1.26.4 py311_0\n"),
            "{table}"
        );
    }

    #[test]
    fn garbage_names_the_file_and_line() {
        let text = "==> 2024-01-02 10:00:00 <==\n+defaults::python-3.11.7-h0_0\nrm -rf /\n";
        let err = parse(text, Path::new("/e/conda-meta/history"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/e/conda-meta/history") && err.contains("line 3"),
            "{err}"
        );
        let err = parse("+x-1-0\n", Path::new("h")).unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("before the first"),
            "{err}"
        );
        let err = parse("==> d <==\n+notapackage\n", Path::new("h"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn dates() {
        assert!(normalize_since("2024-03-04").is_ok());
        assert!(normalize_since("2024-03-04 10:00:00").is_ok());
        assert!(normalize_since("yesterday").is_err());
        assert!(normalize_since("2024-3-4").is_err());
    }

    #[test]
    fn snapshot_files_of_both_formats() {
        let explicit = "# platform: linux-64\n@EXPLICIT\n\
                        https://c.example/linux-64/python-3.11.7-h0_0.conda#0123456789abcdef0123456789abcdef\n\
                        https://c.example/noarch/six-1.16.0-py_0.tar.bz2\n";
        let packages = snapshot_packages(explicit, Path::new("s")).unwrap();
        assert_eq!(
            packages,
            [dist("python", "3.11.7", "h0_0"), dist("six", "1.16.0", "py_0")]
        );
        let json = r#"{"packages": [{"name": "six", "version": "1.16.0", "build": "py_0"}]}"#;
        assert_eq!(
            snapshot_packages(json, Path::new("s")).unwrap(),
            [dist("six", "1.16.0", "py_0")]
        );
        let err = snapshot_packages("https://x/y-1-0.conda\n", Path::new("/s.txt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/s.txt") && err.contains("line 1"), "{err}");
    }
}
