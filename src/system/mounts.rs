//! Where the same directory is visible under another path: bind mounts, as
//! `/proc/self/mountinfo` lists them. Landlock judges a file by the path it
//! is reached through, and the policy must judge an env by what it is, not by
//! the alias a caller names it with.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The mount table of this process's mount namespace, as read once.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    text: String,
}

/// One line of the table, as far as aliasing needs it, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount<'a> {
    device: &'a str,
    root: Cow<'a, str>,
    mount_point: Cow<'a, str>,
}

impl Mounts {
    /// Reads `/proc/self/mountinfo` (empty if it cannot be read).
    pub fn current() -> Mounts {
        let mut text = String::with_capacity(16 * 1024);
        if let Ok(mut file) = std::fs::File::open("/proc/self/mountinfo") {
            let _ = file.read_to_string(&mut text);
        }
        Mounts { text }
    }

    pub fn parse(text: &str) -> Mounts {
        Mounts {
            text: text.to_owned(),
        }
    }

    fn entries(&self) -> impl Iterator<Item = Mount<'_>> {
        self.text.lines().filter_map(|line| {
            let mut fields = line.split(' ').skip(2);
            Some(Mount {
                device: fields.next()?,
                root: unescape_mountinfo(fields.next()?),
                mount_point: unescape_mountinfo(fields.next()?),
            })
        })
    }

    /// Other paths at which `path` (or a part of it) is mounted.
    pub fn aliases(&self, path: &Path) -> Vec<PathBuf> {
        let Some(own) = self
            .entries()
            .filter(|m| path.starts_with(m.mount_point.as_ref()))
            .max_by_key(|m| Path::new(m.mount_point.as_ref()).components().count())
        else {
            return Vec::new();
        };
        let Ok(rest) = path.strip_prefix(own.mount_point.as_ref()) else {
            return Vec::new();
        };
        let in_fs = Path::new(own.root.as_ref()).join(rest);
        let mut aliases = Vec::new();
        for other in self.entries().filter(|m| m.device == own.device && *m != own) {
            let (root, mount_point) = (
                Path::new(other.root.as_ref()),
                Path::new(other.mount_point.as_ref()),
            );
            if let Ok(below) = in_fs.strip_prefix(root) {
                aliases.push(mount_point.join(below));
            } else if root.starts_with(&in_fs) {
                aliases.push(mount_point.to_owned());
            }
        }
        aliases.retain(|a| a != path);
        aliases
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> Cow<'_, str> {
    if !field.contains('\\') {
        return Cow::Borrowed(field);
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_aliases() {
        let text = "22 1 254:0 / / rw - ext4 /dev/vda rw\n\
                    30 22 254:0 /opt/conda/envs /mnt/envs rw - ext4 /dev/vda rw\n\
                    31 22 254:0 /opt/conda/envs/cv/lib /srv/lib\\040x rw - ext4 /dev/vda rw\n\
                    32 22 0:5 / /proc rw - proc proc rw\n";
        let mounts = Mounts::parse(text);
        assert_eq!(mounts.entries().nth(2).unwrap().mount_point, "/srv/lib x");
        let mut aliases = mounts.aliases(Path::new("/opt/conda/envs/cv"));
        aliases.sort();
        assert_eq!(
            aliases,
            vec![PathBuf::from("/mnt/envs/cv"), PathBuf::from("/srv/lib x")]
        );
        assert!(mounts.aliases(Path::new("/proc/1")).is_empty());
    }
}
