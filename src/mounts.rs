//! Where the same directory is visible under another path: bind mounts, as
//! `/proc/self/mountinfo` lists them. Landlock judges a file by the path it
//! is reached through, and the policy must judge an env by what it is, not by
//! the alias a caller names it with.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The mounts of this process's mount namespace.
pub fn current() -> Vec<Mount> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// One line of /proc/self/mountinfo, as far as aliasing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    device: String,
    root: PathBuf,
    mount_point: PathBuf,
}

pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields.len() > 4).then(|| Mount {
                device: fields[2].to_owned(),
                root: PathBuf::from(unescape_mountinfo(fields[3])),
                mount_point: PathBuf::from(unescape_mountinfo(fields[4])),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
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
    String::from_utf8_lossy(&out).into_owned()
}

/// Other paths at which `path` (or a part of it) is mounted.
pub fn mount_aliases(path: &Path, mounts: &[Mount]) -> Vec<PathBuf> {
    let Some(own) = mounts
        .iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
    else {
        return Vec::new();
    };
    let Ok(rest) = path.strip_prefix(&own.mount_point) else {
        return Vec::new();
    };
    let in_fs = own.root.join(rest);
    let mut aliases = Vec::new();
    for other in mounts.iter().filter(|m| m.device == own.device && *m != own) {
        if let Ok(below) = in_fs.strip_prefix(&other.root) {
            aliases.push(other.mount_point.join(below));
        } else if other.root.starts_with(&in_fs) {
            aliases.push(other.mount_point.clone());
        }
    }
    aliases.retain(|a| a != path);
    aliases
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
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts[2].mount_point, PathBuf::from("/srv/lib x"));
        let mut aliases = mount_aliases(Path::new("/opt/conda/envs/cv"), &mounts);
        aliases.sort();
        assert_eq!(
            aliases,
            vec![PathBuf::from("/mnt/envs/cv"), PathBuf::from("/srv/lib x")]
        );
        assert!(mount_aliases(Path::new("/proc/1"), &mounts).is_empty());
    }
}
