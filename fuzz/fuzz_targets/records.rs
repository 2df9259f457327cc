//! Package records: any bytes parse or fail cleanly, and a path the safety
//! check lets through can never leave the prefix.
#![no_main]

use std::path::{Component, Path};

use cenv::conda::files::record_path_is_safe;
use cenv::conda::records::PackageRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = serde_json::from_slice::<PackageRecord>(data) {
        for recorded in record.paths() {
            check(&recorded.path);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});

fn check(path: &str) {
    if record_path_is_safe(path) {
        let p = Path::new(path);
        assert!(p.is_relative(), "{path:?}");
        assert!(
            p.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
            "{path:?}"
        );
    }
}
