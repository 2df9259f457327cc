//! An ordered set of environment variables, as raw bytes.
//!
//! The environment a command receives is built here, never in the process's own
//! environment: cenv reads its caller's variables once, computes the new set as a
//! value, and hands that value to execve(2). Order is preserved (new variables
//! are appended) so that what the command sees is predictable.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environ {
    vars: Vec<(OsString, OsString)>,
}

impl Environ {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes over name/value pairs; a later duplicate name wins, as getenv(3)
    /// would see the first one but a shell export overwrites.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut environ = Environ::new();
        for (name, value) in pairs {
            environ.set(name, value);
        }
        environ
    }

    /// Parses the output of `env -0`: NUL-terminated `NAME=value` records.
    pub fn from_nul_separated(bytes: &[u8]) -> Self {
        let mut environ = Environ::new();
        for record in bytes.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            if let Some(eq) = record.iter().position(|&b| b == b'=') {
                environ.set(
                    OsStr::from_bytes(&record[..eq]),
                    OsStr::from_bytes(&record[eq + 1..]),
                );
            }
        }
        environ
    }

    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<&OsStr> {
        let name = name.as_ref();
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// The value as UTF-8, if it is set and valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(OsStr::to_str)
    }

    pub fn contains(&self, name: impl AsRef<OsStr>) -> bool {
        self.get(name).is_some()
    }

    /// Sets a variable, keeping its position if it already exists.
    pub fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        let name = name.into();
        let value = value.into();
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }

    pub fn remove(&mut self, name: impl AsRef<OsStr>) {
        let name = name.as_ref();
        self.vars.retain(|(n, _)| n != name);
    }

    /// Keeps only the variables for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&OsStr, &OsStr) -> bool) {
        self.vars.retain(|(n, v)| keep(n, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars.iter().map(|(n, v)| (n.as_os_str(), v.as_os_str()))
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// `NAME=value` records as execve(2) wants them. Names containing `=` or
    /// NUL cannot be represented and are dropped; values with NUL likewise.
    pub fn to_exec_records(&self) -> Vec<std::ffi::CString> {
        self.vars
            .iter()
            .filter_map(|(name, value)| {
                let mut record = Vec::with_capacity(name.len() + value.len() + 1);
                record.extend_from_slice(name.as_bytes());
                record.push(b'=');
                record.extend_from_slice(value.as_bytes());
                if name.as_bytes().contains(&b'=') || name.is_empty() {
                    return None;
                }
                std::ffi::CString::new(record).ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_position_and_remove_drops() {
        let mut e = Environ::from_pairs([("A", "1"), ("B", "2")]);
        e.set("A", "3");
        e.set("C", "4");
        e.remove("B");
        let names: Vec<_> = e.iter().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(names, ["A", "C"]);
        assert_eq!(e.get_str("A"), Some("3"));
    }

    #[test]
    fn parses_env_dash_zero_with_newlines_and_equals() {
        let e = Environ::from_nul_separated(b"A=x\ny\0B=a=b\0\0");
        assert_eq!(e.get_str("A"), Some("x\ny"));
        assert_eq!(e.get_str("B"), Some("a=b"));
    }
}
