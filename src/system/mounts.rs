//! Where the same directory is visible under another path: bind mounts, as
//! `/proc/self/mountinfo` lists them. Landlock judges a file by the path it
//! is reached through, and the policy must judge an env by what it is, not by
//! the alias a caller names it with.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The mount table of this process's mount namespace, as read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
        // plain reads: File's own read_to_string asks stat and lseek first
        let text = std::fs::File::open("/proc/self/mountinfo")
            .and_then(|file| {
                let text = crate::system::wholefile::read_all(&file, 16 * 1024, 64 << 20);
                crate::system::process::close_at_exec(file);
                text
            })
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
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

    /// The type of the file system `path` lies on (`ext4`), as mounted: the
    /// deepest mount point above it, the last mounted there.
    pub fn fs_type_of(&self, path: &Path) -> Option<&str> {
        self.text
            .lines()
            .filter_map(|line| {
                let mount_point = unescape_mountinfo(line.split(' ').nth(4)?);
                let fs_type = line.split_once(" - ")?.1.split(' ').next()?;
                path.starts_with(mount_point.as_ref())
                    .then(|| (Path::new(mount_point.as_ref()).components().count(), fs_type))
            })
            .max_by_key(|(depth, _)| *depth)
            .map(|(_, fs_type)| fs_type)
    }

    /// Whether listing the directory `path` fills a getdents64 buffer until
    /// it is full or the directory ends (see
    /// [`crate::system::sys::directory_entries`]): true only for the local
    /// file systems whose readdir is known to.
    pub fn fills_getdents(&self, path: &Path) -> bool {
        matches!(
            self.fs_type_of(path),
            Some("ext2" | "ext3" | "ext4" | "xfs" | "btrfs" | "tmpfs" | "ramfs" | "rootfs" | "overlay")
        )
    }

    /// [`Mounts::fills_getdents`] for every directory below `root` at once:
    /// the answer for `root`, and the mount points below it, where the
    /// answer may differ.
    pub fn fills_getdents_below(&self, root: &Path) -> FillsBelow {
        let mounts_below = self
            .text
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .map(|m| PathBuf::from(unescape_mountinfo(m).as_ref()))
            .filter(|m| m.starts_with(root) && m != root)
            .collect();
        FillsBelow {
            root: root.to_owned(),
            fills: self.fills_getdents(root),
            mounts_below,
        }
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

/// Whether directories below one root fill getdents64's buffer
/// ([`Mounts::fills_getdents_below`]).
#[derive(Debug, Clone)]
pub struct FillsBelow {
    root: PathBuf,
    fills: bool,
    mounts_below: Vec<PathBuf>,
}

impl FillsBelow {
    /// The answer for `dir`, when it lies below the root and on its file
    /// system; `None` otherwise (ask [`Mounts::fills_getdents`]).
    /// The answer for every directory below the root, when nothing is
    /// mounted below it.
    pub fn uniform(&self) -> Option<bool> {
        self.mounts_below.is_empty().then_some(self.fills)
    }

    pub fn get(&self, dir: &Path) -> Option<bool> {
        (dir.starts_with(&self.root) && !self.mounts_below.iter().any(|m| dir.starts_with(m)))
            .then_some(self.fills)
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

    #[test]
    fn the_file_system_of_a_path_is_the_deepest_mount_above_it_last_mounted() {
        let text = "22 1 254:0 / / rw - ext4 /dev/vda rw\n\
                    30 22 0:40 / /home rw,nosuid shared:5 - fuse.sshfs host:/home rw\n\
                    31 22 0:41 / /home/scratch rw - tmpfs tmpfs rw\n\
                    32 31 0:42 / /home/scratch rw - xfs /dev/vdb rw\n";
        let mounts = Mounts::parse(text);
        assert_eq!(mounts.fs_type_of(Path::new("/opt/conda")), Some("ext4"));
        assert_eq!(mounts.fs_type_of(Path::new("/home/alice")), Some("fuse.sshfs"));
        assert_eq!(mounts.fs_type_of(Path::new("/home/scratch/x")), Some("xfs"));
        assert_eq!(mounts.fs_type_of(Path::new("/homework")), Some("ext4"));
        assert!(mounts.fills_getdents(Path::new("/opt")));
        // FUSE answers a page at a time: the listing reads to the end
        assert!(!mounts.fills_getdents(Path::new("/home/alice")));
        assert!(!Mounts::default().fills_getdents(Path::new("/")));
    }

    #[test]
    fn a_listing_that_fills_the_buffer_is_read_to_its_end() {
        use std::os::fd::AsFd;
        // more names than one getdents64 buffer (32 KiB) holds
        let dir = std::env::temp_dir().join(format!("cenv-listing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let names: Vec<String> = (0..1500).map(|i| format!("{i:04}-{}", "x".repeat(40))).collect();
        for name in &names {
            std::fs::write(dir.join(name), "").unwrap();
        }
        for fills in [true, false] {
            let fd = std::fs::File::open(&dir).unwrap();
            let mut listed: Vec<String> = crate::system::sys::directory_entries(fd.as_fd(), fills)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n.into_string().unwrap())
                .collect();
            listed.sort();
            assert_eq!(listed, names, "fills_buffer = {fills}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
