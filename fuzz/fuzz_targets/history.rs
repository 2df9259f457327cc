//! conda-meta/history and snapshot files: any bytes give revisions or an
//! error naming the line, never a panic; every package parsed has a name,
//! a version and a build.
#![no_main]

use std::path::Path;

use cenv::conda::history::{parse, snapshot_packages};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse(&text, Path::new("/env/conda-meta/history")) {
        Ok(revisions) => {
            for r in &revisions {
                for d in r
                    .added
                    .iter()
                    .chain(&r.removed)
                    .chain(r.upgraded.iter().flat_map(|u| [&u.from, &u.to]))
                {
                    assert!(!d.name.is_empty() && !d.version.is_empty() && !d.build.is_empty());
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("line "), "{e}"),
    }
    if let Ok(packages) = snapshot_packages(&text, Path::new("/snapshots/x.txt")) {
        assert!(packages.iter().all(|d| !d.name.is_empty()));
    }
});
