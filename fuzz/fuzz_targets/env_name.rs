//! Env names: an accepted name is `[A-Za-z0-9][A-Za-z0-9._+-]*`, at most
//! 255 bytes, so it can never walk out of an envs directory or mean
//! anything to a shell.
#![no_main]

use cenv::conda::name::validate_env_name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else { return };
    if validate_env_name(name).is_ok() {
        let bytes = name.as_bytes();
        assert!(!bytes.is_empty() && bytes.len() <= 255);
        assert!(bytes[0].is_ascii_alphanumeric());
        assert!(bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(b)));
        assert!(name != "." && name != ".." && !name.contains('/'));
    }
});
