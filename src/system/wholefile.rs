//! Whole files named by the caller: read with a size cap, without blocking,
//! and only when regular (a FIFO, a device or a huge file cannot hang or
//! exhaust cenv), and written through a temporary file
//! in the same directory renamed into place, so a reader never sees half a
//! file and a planted symlink at the name is replaced, never followed.
#![forbid(unsafe_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Opens `path` for reading without blocking (a FIFO cannot hang cenv) and
/// only if it is a regular file (a device or FIFO is refused, not read).
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    open_regular_with(path, 0)
}

/// [`open_regular`], refusing a symlink as the last component: for files in
/// trees another user owns.
pub fn open_regular_nofollow(path: &Path) -> io::Result<fs::File> {
    open_regular_with(path, libc::O_NOFOLLOW)
}

fn open_regular_with(path: &Path, flags: libc::c_int) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | flags)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device, socket or directory)",
        ));
    }
    Ok(file)
}

/// Reads the regular file `path` whole, refusing one larger than `limit`
/// bytes.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_whole(open_regular(path)?, limit)
}

/// [`read_regular`] without following a symlink at `path`.
pub fn read_regular_nofollow(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_whole(open_regular_nofollow(path)?, limit)
}

fn read_whole(file: fs::File, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {} MiB", (limit >> 20).max(1)),
        ));
    }
    Ok(bytes)
}

/// Reads `path` as text, refusing one larger than `limit` bytes, or one
/// that is not a regular file.
pub fn read_limited(path: &Path, limit: u64) -> Result<String> {
    match read_regular(path, limit) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::FileTooLarge || e.kind() == io::ErrorKind::InvalidInput => {
            Err(Error::EnvMetadata {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
        Err(source) => Err(Error::System {
            what: format!("cannot read {}", path.display()),
            source,
        }),
    }
}

/// Writes `content` to `path` atomically; with `mode`, the file gets that
/// mode whatever the umask (otherwise the umask decides).
pub fn write_atomically(path: &Path, content: &[u8], mode: Option<u32>) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        // create_new (O_EXCL) never follows a link planted at the name
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(content)?;
        if let Some(mode) = mode {
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(|source| Error::System {
        what: format!("cannot write {}", path.display()),
        source,
    })
}

/// Reads all of `file`, refusing more than `limit` bytes. `size` is what
/// its stat says (the caller has it already): the buffer is made that big
/// at once, so a file is read in one read(2) and a second that finds the
/// end — not in probes of 32 bytes that double.
pub fn read_capped(file: &std::fs::File, size: u64, limit: u64) -> std::result::Result<Vec<u8>, String> {
    let bytes = read_all(file, size, limit).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "it is larger than {} MiB, the most cenv reads of such a file",
            limit >> 20
        ));
    }
    Ok(bytes)
}

/// Reads `source` to its end, or to `limit + 1` bytes, whichever comes
/// first, into a buffer of `size_hint` bytes to start with (a /proc file
/// says 0: the hint is the caller's guess). Through `Take`, std's generic
/// reader: it reads into the buffer's spare capacity without zeroing it
/// and without asking stat and lseek first, as File's own read_to_end does.
pub fn read_all(source: impl Read, size_hint: u64, limit: u64) -> io::Result<Vec<u8>> {
    let cap = limit.saturating_add(1);
    let mut bytes: Vec<u8> = Vec::with_capacity(size_hint.saturating_add(1).min(cap) as usize);
    source.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}
