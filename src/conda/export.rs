//! What an env is made of, from its `conda-meta/` records
//! alone, as the `@EXPLICIT` spec file `conda list --explicit --md5` writes
//! (one package URL per line with its MD5, dependencies before the packages
//! that need them) or as JSON with a stable schema. Packages installed by pip
//! cannot be part of an explicit file; they are named in comments so that a
//! rebuild does not lose them silently. No conda is run.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conda::files::PrefixDir;
use crate::conda::records::{read_record, record_files, PackageRecord};
use crate::error::{Error, Result};

/// One package of an export (the JSON schema; the field order is stable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedPackage {
    pub name: String,
    pub version: String,
    pub build: String,
    pub build_number: u64,
    pub channel: Option<String>,
    pub subdir: Option<String>,
    pub url: String,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub size: Option<u64>,
}

/// A distribution in `site-packages` that no conda record installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipPackage {
    pub name: String,
    pub version: String,
}

/// What an env is made of.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub prefix: PathBuf,
    /// The platform of the packages (`linux-64`), when any package names one
    /// other than `noarch`.
    pub platform: Option<String>,
    /// In install order: every package after the packages it depends on.
    pub packages: Vec<ExportedPackage>,
    pub pip: Vec<PipPackage>,
}

/// Reads the records of the env at `prefix` (through [`PrefixDir`]: no
/// symlink followed, sizes capped) into an [`Export`].
pub fn export(prefix: &Path) -> Result<Export> {
    let dir = PrefixDir::open(prefix)?;
    let mut records = Vec::new();
    for file in record_files(&dir)? {
        let record = read_record(&dir, &file)?;
        records.push((file, record));
    }
    let mut recorded_dists = BTreeSet::new();
    for (_, record) in &records {
        for path in record.paths() {
            if let Some(dist) = dist_info_dir(&path.path) {
                recorded_dists.insert(dist.to_owned());
            }
        }
    }
    let pip = unrecorded_dists(&dir, &recorded_dists)?;
    let ordered = install_order(records);
    let mut packages = Vec::with_capacity(ordered.len());
    for (file, record) in ordered {
        let url = record.url.clone().ok_or_else(|| Error::EnvMetadata {
            path: prefix.join("conda-meta").join(&file),
            message: "the record has no \"url\", so the package cannot be named in an export \
                      (reinstall it with conda or rattler, which record it)"
                .into(),
        })?;
        packages.push(ExportedPackage {
            name: record.name,
            version: record.version,
            build: record.build,
            build_number: record.build_number,
            channel: record.channel,
            subdir: record.subdir,
            url,
            sha256: record.sha256,
            md5: record.md5,
            size: record.size,
        });
    }
    let platform = packages
        .iter()
        .filter_map(|p| p.subdir.as_deref())
        .find(|s| *s != "noarch")
        .map(str::to_owned);
    Ok(Export {
        prefix: prefix.to_path_buf(),
        platform,
        packages,
        pip,
    })
}

/// The explicit spec file: comments, `@EXPLICIT`, one `URL#MD5` per line
/// (the URL alone when the record has no MD5), as conda writes it.
pub fn explicit(export: &Export) -> String {
    let mut text = String::from(
        "# This file may be used to create an environment using:\n\
         # $ conda create --name <env> --file <this file>\n",
    );
    if let Some(platform) = &export.platform {
        text.push_str(&format!("# platform: {}\n", one_line(platform)));
    }
    text.push_str(&format!(
        "# exported by cenv {} from {}\n",
        env!("CARGO_PKG_VERSION"),
        one_line(&export.prefix.to_string_lossy())
    ));
    for pip in &export.pip {
        text.push_str(&format!(
            "# not in this file, installed by pip: {}=={}\n",
            one_line(&pip.name),
            one_line(&pip.version)
        ));
    }
    text.push_str("@EXPLICIT\n");
    for package in &export.packages {
        text.push_str(&one_line(&package.url));
        if let Some(md5) = package.md5.as_deref().filter(|m| is_hex(m, 32)) {
            text.push('#');
            text.push_str(md5);
        }
        text.push('\n');
    }
    text
}

/// A line of the file may not be split or end early by what a record holds.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The package name a match spec names: `python >=3.11` → `python`,
/// `conda-forge::numpy[build=*_0]` → `numpy`.
fn spec_name(spec: &str) -> &str {
    let spec = spec.trim();
    let spec = spec.rsplit_once("::").map_or(spec, |(_, rest)| rest);
    let end = spec
        .find(|c: char| c.is_whitespace() || "[=<>!~".contains(c))
        .unwrap_or(spec.len());
    &spec[..end]
}

/// Orders records so that each comes after the records it depends on (what
/// a conda client installing an explicit file without a solver needs); ties
/// and cycles are broken by name, so the order is the same every time.
fn install_order(records: Vec<(String, PackageRecord)>) -> Vec<(String, PackageRecord)> {
    let mut by_name: BTreeMap<String, (String, PackageRecord)> = BTreeMap::new();
    for (file, record) in records {
        by_name.insert(record.name.clone(), (file, record));
    }
    let mut pending: BTreeMap<String, BTreeSet<String>> = by_name
        .iter()
        .map(|(name, (_, record))| {
            let needs = record
                .depends
                .iter()
                .map(|d| spec_name(d).to_owned())
                .filter(|d| d != name && by_name.contains_key(d))
                .collect();
            (name.clone(), needs)
        })
        .collect();
    let mut order = Vec::with_capacity(by_name.len());
    while !pending.is_empty() {
        let next = pending
            .iter()
            .find(|(_, needs)| needs.is_empty())
            .map(|(name, _)| name.clone())
            // a cycle: take the first by name and go on
            .unwrap_or_else(|| pending.keys().next().cloned().unwrap_or_default());
        pending.remove(&next);
        for needs in pending.values_mut() {
            needs.remove(&next);
        }
        if let Some(entry) = by_name.remove(&next) {
            order.push(entry);
        }
    }
    order
}

/// `lib/python3.11/site-packages/numpy-1.26.4.dist-info/RECORD` →
/// `lib/python3.11/site-packages/numpy-1.26.4.dist-info`.
fn dist_info_dir(path: &str) -> Option<&str> {
    let end = path
        .find(".dist-info/")
        .map(|i| i + ".dist-info".len())
        .or_else(|| path.find(".egg-info/").map(|i| i + ".egg-info".len()))
        .or_else(|| (path.ends_with(".egg-info") || path.ends_with(".dist-info")).then_some(path.len()))?;
    Some(&path[..end])
}

/// The `*.dist-info`/`*.egg-info` entries of `lib/python*/site-packages`
/// that no record lists: what pip (or another installer) put there.
fn unrecorded_dists(dir: &PrefixDir, recorded: &BTreeSet<String>) -> Result<Vec<PipPackage>> {
    let mut found = Vec::new();
    let Ok(lib) = dir.list("lib") else {
        return Ok(found);
    };
    for python in lib {
        let python = python.to_string_lossy().into_owned();
        if !python.starts_with("python") {
            continue;
        }
        let site = format!("lib/{python}/site-packages");
        let Ok(entries) = dir.list(&site) else {
            continue;
        };
        for entry in entries {
            let entry = entry.to_string_lossy().into_owned();
            let Some(stem) = entry
                .strip_suffix(".dist-info")
                .or_else(|| entry.strip_suffix(".egg-info"))
            else {
                continue;
            };
            if recorded.contains(&format!("{site}/{entry}")) {
                continue;
            }
            let (name, version) = stem.split_once('-').unwrap_or((stem, ""));
            let version = version.split('-').next().unwrap_or_default();
            found.push(PipPackage {
                name: name.to_owned(),
                version: version.to_owned(),
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, depends: &[&str]) -> (String, PackageRecord) {
        let json = serde_json::json!({
            "name": name, "version": "1", "build": "0", "depends": depends,
            "url": format!("https://conda.example/linux-64/{name}-1-0.conda"),
            "md5": "0123456789abcdef0123456789abcdef",
        });
        (format!("{name}-1-0.json"), serde_json::from_value(json).unwrap())
    }

    fn names(order: Vec<(String, PackageRecord)>) -> Vec<String> {
        order.into_iter().map(|(_, r)| r.name).collect()
    }

    #[test]
    fn spec_names() {
        assert_eq!(spec_name("python >=3.11,<3.12.0a0"), "python");
        assert_eq!(spec_name("libgcc-ng>=12"), "libgcc-ng");
        assert_eq!(spec_name("conda-forge::numpy[build=*_0]"), "numpy");
        assert_eq!(spec_name("  zlib  "), "zlib");
        assert_eq!(spec_name("python_abi 3.11.* *_cp311"), "python_abi");
    }

    #[test]
    fn dependencies_come_first_and_the_order_is_stable() {
        let records = vec![
            record("numpy", &["python >=3.11", "libblas"]),
            record("libblas", &["libgcc-ng"]),
            record("python", &["libgcc-ng >=12", "zlib"]),
            record("zlib", &[]),
            record("libgcc-ng", &[]),
            record("cenv-tool", &["python 3.11.*", "not-installed"]),
        ];
        assert_eq!(
            names(install_order(records)),
            ["libgcc-ng", "libblas", "zlib", "python", "cenv-tool", "numpy"]
        );
    }

    #[test]
    fn a_cycle_does_not_lose_packages() {
        let records = vec![record("a", &["b"]), record("b", &["a"]), record("c", &["a"])];
        assert_eq!(names(install_order(records)), ["a", "b", "c"]);
    }

    #[test]
    fn the_explicit_file_has_one_line_per_package_and_no_injected_lines() {
        let export = Export {
            prefix: PathBuf::from("/opt/envs/cv\nhttps://evil.example/x.conda"),
            platform: Some("linux-64".into()),
            packages: vec![ExportedPackage {
                name: "x".into(),
                version: "1".into(),
                build: "0".into(),
                build_number: 0,
                channel: None,
                subdir: Some("linux-64".into()),
                url: "https://conda.example/x-1-0.conda\nhttps://evil.example/y.conda".into(),
                sha256: None,
                md5: Some("not-a-hash".into()),
                size: None,
            }],
            pip: vec![PipPackage {
                name: "torch\n@EXPLICIT".into(),
                version: "2.1".into(),
            }],
        };
        let text = explicit(&export);
        let after: Vec<&str> = text.split_once("@EXPLICIT\n").unwrap().1.lines().collect();
        assert_eq!(
            after,
            ["https://conda.example/x-1-0.conda?https://evil.example/y.conda"]
        );
        let before = text.split_once("@EXPLICIT\n").unwrap().0;
        assert!(before.lines().all(|l| l.starts_with("# ")), "{text}");
    }

    #[test]
    fn dist_info_dirs() {
        assert_eq!(
            dist_info_dir("lib/python3.11/site-packages/numpy-1.26.4.dist-info/RECORD"),
            Some("lib/python3.11/site-packages/numpy-1.26.4.dist-info")
        );
        assert_eq!(
            dist_info_dir("lib/python3.11/site-packages/six-1.16.0-py3.11.egg-info"),
            Some("lib/python3.11/site-packages/six-1.16.0-py3.11.egg-info")
        );
        assert_eq!(dist_info_dir("bin/python"), None);
    }
}
