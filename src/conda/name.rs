//! Validation of env names, before any name touches the filesystem.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};

/// The longest name a directory entry can have on Linux.
pub const MAX_NAME_LEN: usize = 255;

/// Checks `name` against `[A-Za-z0-9][A-Za-z0-9._+-]*`, at most 255 bytes.
/// Anything else — `..`, a `/`, an empty name, NUL, a leading `-` or `.` — is
/// refused with the reason, so a name can never walk out of an envs directory.
pub fn validate_env_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("the name is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("the name is longer than 255 bytes")
    } else if name.contains('/') {
        Some("a name cannot contain '/'; to use a path, pass it with -p PATH")
    } else if name.contains('\0') {
        Some("a name cannot contain a NUL byte")
    } else if !name.as_bytes()[0].is_ascii_alphanumeric() {
        Some("a name must start with a letter or digit")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
    {
        Some("a name may only contain letters, digits and . _ + -")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidEnvName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["project-cv", "py3.11", "a", "A_b+c-d.e", "0day", &"x".repeat(255)] {
            validate_env_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_names() {
        let long = "x".repeat(256);
        for name in [
            "", ".", "..", "../etc", "a/b", "/abs", "-rf", ".hidden", "_x", "a\0b", "a b", "é", "a;b", "a$b",
            "a\nb", &long,
        ] {
            assert!(validate_env_name(name).is_err(), "{name:?} should be rejected");
        }
    }

    #[test]
    fn reason_is_specific() {
        let err = validate_env_name("a/b").unwrap_err().to_string();
        assert!(err.contains("-p PATH"), "{err}");
        let err = validate_env_name("-x").unwrap_err().to_string();
        assert!(err.contains("start with a letter or digit"), "{err}");
    }
}
