//! env_vars.d files and conda-meta/state: any bytes give variables or a
//! clear error, never a panic; no variable is named PATH or has an invalid
//! name.
#![no_main]

use std::path::PathBuf;

use cenv::conda::activate::env_vars_from;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // pieces separated by 0xff: env_vars.d files, the last one is state
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let state = pieces.pop().map(|s| (PathBuf::from("/env/conda-meta/state"), s.to_vec()));
    let files: Vec<(PathBuf, Vec<u8>)> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| (PathBuf::from(format!("/env/etc/conda/env_vars.d/{i}.json")), p.to_vec()))
        .collect();
    let mut warnings = Vec::new();
    if let Ok(vars) = env_vars_from(&files, state.as_ref(), &mut warnings) {
        for (name, _) in vars {
            assert!(!name.eq_ignore_ascii_case("PATH"));
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            assert!(!name.as_bytes()[0].is_ascii_digit());
        }
    }
});
