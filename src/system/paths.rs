//! Canonical paths, resolved once. `realpath(3)` (what
//! `std::fs::canonicalize` calls) reads every component with its own
//! readlink(2) — seven system calls for `/srv/lab/shared/miniconda/envs/cv`,
//! every time the path is asked for. Here a path is opened once (`O_PATH`)
//! and the kernel names what was opened (`/proc/self/fd/N`); each answer is
//! remembered for the rest of the process, so that the pipeline resolves a
//! path once however many steps need it.
#![forbid(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// Paths resolved so far in this process: (as asked, canonical).
static RESOLVED: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// Up to this many components, realpath(3) (one readlink each) costs no
/// more than open + readlink + close.
const SHORT: usize = 3;

/// `path` with every symlink, `.` and `..` resolved, as `realpath(3)`.
pub fn canonical(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    if let Some(known) = remembered(path) {
        return Ok(known);
    }
    let resolved = if !path.is_absolute() || path.components().count() <= SHORT {
        std::fs::canonicalize(path)?
    } else {
        by_descriptor(path)?
    };
    remember(path, &resolved);
    Ok(resolved)
}

/// Records that `path` is canonical as it is (a path the kernel named:
/// `getcwd(2)`, a descriptor's `/proc/self/fd` link).
pub fn known_canonical(path: &Path) {
    remember(path, path);
}

/// Remembers `asked` → `canonical`, and every ancestor of `canonical` as
/// canonical itself (a directory above a canonical path is one).
fn remember(asked: &Path, canonical: &Path) {
    let Ok(mut resolved_paths) = RESOLVED.lock() else {
        return;
    };
    let mut add = |asked: &Path, canonical: &Path| {
        if !resolved_paths.iter().any(|(a, _)| a == asked) {
            resolved_paths.push((asked.to_owned(), canonical.to_owned()));
        }
    };
    add(asked, canonical);
    for ancestor in canonical.ancestors().skip(1) {
        add(ancestor, ancestor);
    }
}

fn remembered(path: &Path) -> Option<PathBuf> {
    let resolved_paths = RESOLVED.lock().ok()?;
    resolved_paths
        .iter()
        .find(|(asked, _)| asked == path)
        .map(|(_, canonical)| canonical.clone())
}

/// Opens `path` with `O_PATH` and reads what the kernel calls it. Without
/// `/proc`, or for a name the kernel cannot give as a path from `/` (a
/// deleted directory, one outside this process's root), realpath(3).
fn by_descriptor(path: &Path) -> io::Result<PathBuf> {
    let fd = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())?;
    let named = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    crate::system::process::close_at_exec(fd);
    match named {
        Ok(named)
            if named.is_absolute() && !named.as_os_str().as_encoded_bytes().ends_with(b" (deleted)") =>
        {
            Ok(named)
        }
        _ => std::fs::canonicalize(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_as_realpath_does() {
        let dir = std::env::temp_dir().join(format!("cenv-paths-{}", std::process::id()));
        let deep = dir.join("a/b/c/d");
        std::fs::create_dir_all(&deep).unwrap();
        std::os::unix::fs::symlink(dir.join("a/b"), dir.join("link")).unwrap();
        for asked in [
            dir.join("link/c/d"),
            dir.join("a/b/c/../c/d"),
            dir.join("a/./b/c/d"),
            deep.clone(),
        ] {
            assert_eq!(
                canonical(&asked).unwrap(),
                std::fs::canonicalize(&asked).unwrap(),
                "{asked:?}"
            );
        }
        assert!(canonical(dir.join("missing/x/y")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
