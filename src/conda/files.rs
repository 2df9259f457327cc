//! Reading an env's metadata without trusting it: `conda-meta/state`,
//! `etc/conda/env_vars.d/*`, `conda-meta/history`, the package records and
//! the activate.d/deactivate.d listings.
//!
//! Each is opened relative to the prefix's directory descriptor, one
//! component at a time, never following a symlink (`O_NOFOLLOW`), without
//! blocking (`O_NONBLOCK`: a FIFO cannot hang cenv), must be a regular file,
//! and is read up to a cap (`/dev/zero` or a huge file cannot grow cenv
//! without bound). A symlink where metadata belongs is refused, not followed:
//! a link can lead to a file nobody judged, or one only root may read.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode};

use crate::error::{Error, Result};

/// The most cenv reads of a variables file (`state`, `env_vars.d/*`).
pub const ENV_VARS_LIMIT: u64 = 1 << 20;
/// The most cenv reads of `conda-meta/history`.
pub const HISTORY_LIMIT: u64 = 16 << 20;
/// The most cenv reads of one package record (a record lists every file of
/// its package; the largest packages have tens of thousands).
pub const RECORD_LIMIT: u64 = 64 << 20;

/// A prefix opened as a directory, for reading below it.
#[derive(Debug)]
pub struct PrefixDir {
    path: PathBuf,
    fd: OwnedFd,
    /// Directories below it found missing (`etc`): asked again, they are
    /// missing still, without another system call.
    missing: std::sync::Mutex<Vec<String>>,
}

impl PrefixDir {
    pub fn open(prefix: &Path) -> Result<PrefixDir> {
        let fd = nix::fcntl::open(
            prefix,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::PrefixAccess {
            path: prefix.to_owned(),
            source: e.into(),
        })?;
        Ok(PrefixDir {
            path: prefix.to_owned(),
            fd,
            missing: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// A prefix already opened (a directory descriptor), with the paths
    /// below it already found missing (`etc`, `conda-meta/state`): the
    /// trust check's view, so that what is read is what was judged.
    pub fn from_opened(prefix: &Path, fd: OwnedFd, missing: Vec<String>) -> PrefixDir {
        PrefixDir {
            path: prefix.to_owned(),
            fd,
            missing: std::sync::Mutex::new(missing),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `relative`, or a directory above it, was found missing.
    fn known_missing(&self, relative: &str) -> bool {
        self.missing.lock().is_ok_and(|missing| {
            missing.iter().any(|m| {
                relative == m
                    || relative
                        .strip_prefix(m.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        })
    }

    fn note_missing(&self, relative: String) {
        if let Ok(mut missing) = self.missing.lock() {
            missing.push(relative);
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn error(&self, relative: &str, message: impl Into<String>) -> Error {
        Error::EnvMetadata {
            path: self.path.join(relative),
            message: message.into(),
        }
    }

    fn refusal(&self, relative: &str, errno: Errno) -> Error {
        match errno {
            Errno::ELOOP => self.error(
                relative,
                "it is a symbolic link (or one is on the way), and cenv does not follow links in an \
                 env's metadata: replace it with the file it points to",
            ),
            Errno::ENOTDIR => self.error(relative, "a component on the way is not a directory"),
            other => self.error(relative, other.desc()),
        }
    }

    /// Opens the directory `relative` (`a/b/c`) below the prefix, no
    /// component a symlink; None when it does not exist.
    pub fn open_dir(&self, relative: &str) -> Result<Option<OwnedFd>> {
        if self.known_missing(relative) {
            return Ok(None);
        }
        let mut current: Option<OwnedFd> = None;
        let mut walked = 0;
        for name in relative.split('/').filter(|c| !c.is_empty()) {
            let dir = current.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            walked += 1;
            match openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => current = Some(fd),
                Err(Errno::ENOENT) => {
                    let gone: Vec<&str> = relative
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .take(walked)
                        .collect();
                    self.note_missing(gone.join("/"));
                    return Ok(None);
                }
                Err(e) => return Err(self.refusal(relative, e)),
            }
        }
        match current {
            Some(fd) => Ok(Some(fd)),
            None => self
                .fd
                .as_fd()
                .try_clone_to_owned()
                .map(Some)
                .map_err(|e| self.error(relative, e.to_string())),
        }
    }

    /// Opens the regular file `relative` for reading; None when it does not
    /// exist. Returns it with its stat, as opened.
    pub fn open_file(&self, relative: &str) -> Result<Option<(std::fs::File, FileStat)>> {
        let (dir, name) = match relative.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", relative),
        };
        if self.known_missing(relative) {
            return Ok(None);
        }
        let Some(dir_fd) = self.open_dir(dir)? else {
            return Ok(None);
        };
        let opened = open_regular_in(dir_fd.as_fd(), OsStr::new(name)).map_err(|e| match e {
            OpenError::Errno(errno) => self.refusal(relative, errno),
            OpenError::NotRegular => self.error(
                relative,
                "it is not a regular file (a FIFO, device, socket or directory): refused",
            ),
        })?;
        if opened.is_none() {
            self.note_missing(relative.to_owned());
        }
        Ok(opened)
    }

    /// The whole of the regular file `relative`, at most `limit` bytes;
    /// None when it does not exist.
    pub fn read(&self, relative: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let Some((file, st)) = self.open_file(relative)? else {
            return Ok(None);
        };
        crate::system::wholefile::read_capped(&file, st.st_size as u64, limit)
            .map(Some)
            .map_err(|message| self.error(relative, message))
    }

    /// The names in the directory `relative`, sorted by bytes; empty when it
    /// does not exist.
    pub fn list(&self, relative: &str) -> Result<Vec<OsString>> {
        let Some(fd) = self.open_dir(relative)? else {
            return Ok(Vec::new());
        };
        list_dir(fd).map_err(|e| self.error(relative, e.desc()))
    }
}

/// Why a file could not be opened as a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    Errno(Errno),
    NotRegular,
}

/// Opens `name` in `dir` for reading: no symlink followed, no blocking, a
/// regular file only. None when it does not exist.
pub fn open_regular_in(
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> std::result::Result<Option<(std::fs::File, FileStat)>, OpenError> {
    let fd = match openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(OpenError::Errno(e)),
    };
    let st = fstat(&fd).map_err(OpenError::Errno)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(OpenError::NotRegular);
    }
    Ok(Some((std::fs::File::from(fd), st)))
}

fn list_dir(fd: OwnedFd) -> nix::Result<Vec<OsString>> {
    let mut dir = nix::dir::Dir::from_fd(fd)?;
    let mut names: Vec<OsString> = dir
        .iter()
        .flatten()
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// A path from a package record, checked to stay inside the prefix: never
/// absolute, never `..` (a conda record never has either).
pub fn record_path_is_safe(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && !path.contains('\0') && path.split('/').all(|c| c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths_stay_inside() {
        assert!(record_path_is_safe("lib/python3.11/os.py"));
        assert!(record_path_is_safe("bin/..x"));
        for bad in ["/etc/shadow", "../../../etc/shadow", "lib/../../x", "", "a\0b"] {
            assert!(!record_path_is_safe(bad), "{bad:?}");
        }
    }

    #[test]
    fn refuses_symlinks_fifos_and_oversized_files() {
        let dir = std::env::temp_dir().join(format!("cenv-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conda-meta")).unwrap();
        std::fs::write(dir.join("conda-meta/state"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("conda-meta/link")).unwrap();
        nix::unistd::mkfifo(&dir.join("conda-meta/fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::write(dir.join("conda-meta/big"), vec![b'x'; 2048]).unwrap();
        let prefix = PrefixDir::open(&dir).unwrap();
        assert_eq!(prefix.read("conda-meta/state", 10).unwrap().unwrap(), b"{}");
        assert!(prefix.read("conda-meta/missing", 10).unwrap().is_none());
        let link = prefix.read("conda-meta/link", 10).unwrap_err().to_string();
        assert!(link.contains("symbolic link"), "{link}");
        let fifo = prefix.read("conda-meta/fifo", 10).unwrap_err().to_string();
        assert!(fifo.contains("not a regular file"), "{fifo}");
        let big = prefix.read("conda-meta/big", 1024).unwrap_err().to_string();
        assert!(big.contains("larger than"), "{big}");
        assert_eq!(prefix.list("conda-meta").unwrap().len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
