//! `ausearch --format raw` output, whose paths and program names any user
//! chooses (a file name is theirs): any bytes give writes or nothing, never
//! a panic, and the lines `cenv changes` prints from them stay one per
//! writer — a hex-encoded newline or escape in a name cannot add a line.
#![no_main]

use std::path::Path;

use cenv::tools::writes::{format_writers, join, parse_raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let writes = parse_raw(&text);
    let (per_revision, unmatched) = join(Path::new("/envs/cv"), &[Some(0), None, Some(1_800_000_000)], &writes);
    for writers in per_revision.iter().chain([&unmatched]) {
        let lines = format_writers(writers, "  ");
        assert_eq!(lines.lines().count(), writers.len(), "{lines:?}");
        assert!(!lines.chars().any(|c| c.is_control() && c != '\n'), "{lines:?}");
    }
});
