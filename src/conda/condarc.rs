//! Reads the one setting cenv takes from a caller's `~/.condarc`: `envs_dirs`
//! (or its older alias `envs_path`).
//!
//! `.condarc` is YAML. cenv does not need a YAML library for one list of paths:
//! it understands the block form (`envs_dirs:` followed by `- path` lines) and
//! the flow form (`envs_dirs: [a, b]`), with optional quotes and comments,
//! which is what `conda config --add envs_dirs` writes. Anything it cannot read
//! is ignored, as a caller's own file only ever widens the caller's own search.
#![forbid(unsafe_code)]

/// The `envs_dirs` entries of a `.condarc` text, in order.
pub fn envs_dirs(text: &str) -> Vec<String> {
    let mut dirs = Vec::new();
    let mut in_list = false;
    for raw in text.lines() {
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let top_level = !line.starts_with([' ', '\t', '-']);
        if top_level {
            in_list = false;
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            if !matches!(key.trim(), "envs_dirs" | "envs_path") {
                continue;
            }
            let rest = rest.trim();
            if let Some(flow) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                dirs.extend(flow.split(',').map(unquote).filter(|d| !d.is_empty()));
            } else if rest.is_empty() {
                in_list = true;
            }
        } else if in_list {
            if let Some(item) = line.trim_start().strip_prefix('-') {
                let item = unquote(item);
                if !item.is_empty() {
                    dirs.push(item);
                }
            }
        }
    }
    dirs
}

/// The top-level `changeps1:` setting, when the file has one.
pub fn changeps1(text: &str) -> Option<bool> {
    text.lines().map(strip_comment).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "changeps1" && !line.starts_with([' ', '\t'])).then(|| {
            !matches!(
                unquote(value).to_ascii_lowercase().as_str(),
                "false" | "no" | "off" | "0"
            )
        })
    })
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(pos) => &line[..pos],
        None => line,
    }
}

fn unquote(item: &str) -> String {
    let item = item.trim();
    let unquoted = item
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| item.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(item);
    unquoted.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_list() {
        let text = "channels:\n  - defaults\nenvs_dirs:\n  - /data/envs   # big disk\n  - '~/my envs'\n  - \"/q\"\npkgs_dirs:\n  - /p\n";
        assert_eq!(envs_dirs(text), ["/data/envs", "~/my envs", "/q"]);
    }

    #[test]
    fn flow_list_and_alias() {
        assert_eq!(envs_dirs("envs_path: [/a, '/b']\n"), ["/a", "/b"]);
    }

    #[test]
    fn unindented_dash_list() {
        assert_eq!(envs_dirs("envs_dirs:\n- /a\n- /b\nchannels: []\n"), ["/a", "/b"]);
    }

    #[test]
    fn changeps1_setting() {
        assert_eq!(changeps1("changeps1: false\n"), Some(false));
        assert_eq!(changeps1("channels: []\nchangeps1: True # yes\n"), Some(true));
        assert_eq!(changeps1("envs_dirs: []\n"), None);
        assert_eq!(changeps1("x:\n  changeps1: false\n"), None);
    }

    #[test]
    fn nothing_relevant() {
        assert!(envs_dirs("channels:\n  - conda-forge\n").is_empty());
        assert!(envs_dirs("").is_empty());
    }
}
