//! What an installer recorded in `conda-meta/`: the package records
//! (`<name>-<version>-<build>.json`, with `paths_data`), the Python version
//! (cheaply, from the record's file name), and `conda-meta/history`.
#![forbid(unsafe_code)]

use std::path::Path;

use serde::Deserialize;

use crate::conda::files::{PrefixDir, HISTORY_LIMIT, RECORD_LIMIT};
use crate::error::{Error, Result};

/// One installed file as a conda or rattler PrefixRecord describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordedPath {
    #[serde(rename = "_path")]
    pub path: String,
    #[serde(default)]
    pub path_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// The hash of the file as installed, when a prefix placeholder was
    /// rewritten (rattler omits it when it equals `sha256`).
    #[serde(default)]
    pub sha256_in_prefix: Option<String>,
    #[serde(default)]
    pub size_in_bytes: Option<u64>,
    #[serde(default)]
    pub prefix_placeholder: Option<String>,
}

impl RecordedPath {
    /// The hash the file in the prefix must have.
    pub fn expected_sha256(&self) -> Option<&str> {
        self.sha256_in_prefix.as_deref().or(self.sha256.as_deref())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
struct PathsData {
    #[serde(default)]
    paths: Vec<RecordedPath>,
}

/// The part of a package record cenv reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub build: String,
    #[serde(default)]
    pub build_number: u64,
    /// Where the package came from; what an export writes.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub subdir: Option<String>,
    /// The hashes and size of the package archive (not of its files).
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    /// Match specs of the packages this one needs (`python >=3.11,<3.12`).
    #[serde(default)]
    pub depends: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    paths_data: Option<PathsData>,
}

impl PackageRecord {
    /// The recorded files: `paths_data` when present, else the plain
    /// `files` list (older records), which has no hashes.
    pub fn paths(&self) -> Vec<RecordedPath> {
        match &self.paths_data {
            Some(data) if !data.paths.is_empty() => data.paths.clone(),
            _ => self
                .files
                .iter()
                .map(|f| RecordedPath {
                    path: f.clone(),
                    path_type: None,
                    sha256: None,
                    sha256_in_prefix: None,
                    size_in_bytes: None,
                    prefix_placeholder: None,
                })
                .collect(),
        }
    }
}

/// The names of the `conda-meta/*.json` record files of a prefix, sorted.
pub fn record_files(prefix: &PrefixDir) -> Result<Vec<String>> {
    Ok(prefix
        .list("conda-meta")?
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect())
}

/// Reads `conda-meta/NAME` as a package record (at most [`RECORD_LIMIT`]
/// bytes, no symlink, a regular file).
pub fn read_record(prefix: &PrefixDir, name: &str) -> Result<PackageRecord> {
    let relative = format!("conda-meta/{name}");
    let path = prefix.path().join(&relative);
    let text = prefix
        .read(&relative, RECORD_LIMIT)?
        .ok_or_else(|| Error::EnvMetadata {
            path: path.clone(),
            message: "it disappeared while cenv read the records".into(),
        })?;
    serde_json::from_slice(&text).map_err(|e| Error::EnvMetadata {
        path,
        message: format!(
            "not a package record (line {} column {}): {e}",
            e.line(),
            e.column()
        ),
    })
}

/// The Python version, from the name of `conda-meta/python-<version>-<build>.json`
/// (no Python is run and no record is parsed).
pub fn python_version(prefix: &Path) -> Option<String> {
    let names = PrefixDir::open(prefix).ok()?.list("conda-meta").ok()?;
    python_version_in(names.iter().map(|n| n.as_os_str()))
}

/// [`python_version`] from the names in `conda-meta/`, listed already.
pub fn python_version_in<'a>(names: impl IntoIterator<Item = &'a std::ffi::OsStr>) -> Option<String> {
    let mut versions: Vec<&str> = names
        .into_iter()
        .filter_map(|name| {
            let name = name.to_str()?;
            let rest = name.strip_prefix("python-")?.strip_suffix(".json")?;
            let (version, _build) = rest.split_once('-')?;
            version
                .starts_with(|c: char| c.is_ascii_digit())
                .then_some(version)
        })
        .collect();
    // one record per package in a sound env; the order of a listing is the
    // file system's, so take the same one whatever it is
    versions.sort_unstable();
    versions.first().map(|v| (*v).to_owned())
}

/// The last transaction in `conda-meta/history`: its date and command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastChange {
    pub date: String,
    pub command: Option<String>,
}

/// The last transaction of `conda-meta/history` (read as
/// [`crate::conda::files`] reads metadata: at most [`HISTORY_LIMIT`] bytes).
pub fn last_change(prefix: &Path) -> Result<Option<LastChange>> {
    let Some(bytes) = PrefixDir::open(prefix)?.read("conda-meta/history", HISTORY_LIMIT)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut last: Option<LastChange> = None;
    for line in text.lines() {
        if let Some(date) = line.strip_prefix("==> ").and_then(|l| l.strip_suffix(" <==")) {
            last = Some(LastChange {
                date: date.trim().to_owned(),
                command: None,
            });
        } else if let (Some(change), Some(cmd)) = (last.as_mut(), line.strip_prefix("# cmd:")) {
            change.command = Some(cmd.trim().to_owned());
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_version_from_file_name() {
        let dir = std::env::temp_dir().join(format!("cenv-records-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conda-meta")).unwrap();
        std::fs::write(
            dir.join("conda-meta/python-dateutil-2.8.2-pyhd8ed1ab_0.json"),
            "{}",
        )
        .unwrap();
        assert_eq!(python_version(&dir), None);
        std::fs::write(dir.join("conda-meta/python-3.11.7-hab00c5b_1_cpython.json"), "{}").unwrap();
        assert_eq!(python_version(&dir).as_deref(), Some("3.11.7"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn history_last_change() {
        let dir = std::env::temp_dir().join(format!("cenv-history-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conda-meta")).unwrap();
        std::fs::write(
            dir.join("conda-meta/history"),
            "==> 2024-01-02 10:00:00 <==\n# cmd: conda create -n x python\n+defaults::python-3.11\n\
             ==> 2024-03-04 11:22:33 <==\n# cmd: conda install numpy\n# conda version: 24.1\n+defaults::numpy-1.26\n",
        )
        .unwrap();
        assert_eq!(
            last_change(&dir).unwrap(),
            Some(LastChange {
                date: "2024-03-04 11:22:33".into(),
                command: Some("conda install numpy".into())
            })
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn record_paths_prefer_paths_data() {
        let record: PackageRecord = serde_json::from_str(
            r#"{"name": "x", "version": "1", "build": "0", "files": ["a"],
                "paths_data": {"paths": [{"_path": "a", "path_type": "hardlink", "sha256": "00", "sha256_in_prefix": "11", "size_in_bytes": 3}]}}"#,
        )
        .unwrap();
        let paths = record.paths();
        assert_eq!(paths[0].expected_sha256(), Some("11"));
    }
}
