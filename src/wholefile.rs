//! Whole files named by the caller: read with a size cap (a FIFO or a huge
//! file cannot hang or exhaust cenv), and written through a temporary file
//! in the same directory renamed into place, so a reader never sees half a
//! file and a planted symlink at the name is replaced, never followed.
#![forbid(unsafe_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads `path` as text, refusing one larger than `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<String> {
    let what = || format!("cannot read {}", path.display());
    let file = fs::File::open(path).map_err(|source| Error::System { what: what(), source })?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::System { what: what(), source })?;
    if bytes.len() as u64 > limit {
        return Err(Error::EnvMetadata {
            path: path.to_path_buf(),
            message: format!("larger than {} MiB", (limit >> 20).max(1)),
        });
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
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
