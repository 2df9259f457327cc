//! Puts the git commit into `cenv --version` when built from a checkout
//! (`cenv 0.1.0 (a1b2c3d)`) — a clone or a worktree; a build from a source
//! tarball says the version alone. Reads the git directory itself, so a
//! build needs no git binary.
//!
//! And links GCC's unwinder statically, as `gcc -static-libgcc` would:
//! Rust's standard library asks for `-lgcc_s`, one more shared library to
//! find, map and relocate at every start, although with `panic = "abort"`
//! cenv only uses the unwinder to print a backtrace. A directory holding
//! `libgcc_eh.a` under the name `libgcc_s.a`, searched first, makes the
//! linker take the archive: `cenv --version` starts ~0.07 ms (10%) faster
//! and 27,000 instructions shorter here (bench/RESULTS.md). libgcc's licence
//! (the GCC Runtime Library Exception) allows the static link.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    link_unwinder_statically();
    println!("cargo:rerun-if-env-changed=CENV_SYSTEM_CONFIG");
    let version = env!("CARGO_PKG_VERSION");
    let long = match commit().map(|c| c.trim().chars().take(7).collect::<String>()) {
        Some(short) if short.len() == 7 && short.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("{version} ({short})")
        }
        _ => version.to_owned(),
    };
    println!("cargo:rustc-env=CENV_LONG_VERSION={long}");
}

/// The commit checked out, read from the git directory itself: `.git` as a
/// directory (a clone), or a `.git` file naming it (`gitdir: …`, a
/// worktree, whose refs live in the common directory). None without one (a
/// release tarball).
fn commit() -> Option<String> {
    let dot_git = PathBuf::from(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else {
        println!("cargo:rerun-if-changed=.git");
        let pointer = std::fs::read_to_string(&dot_git).ok()?;
        PathBuf::from(pointer.trim().strip_prefix("gitdir: ")?)
    };
    let common_dir = std::fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.clone());
    println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return Some(head.to_owned());
    };
    for dir in [&git_dir, &common_dir] {
        let file = dir.join(reference);
        println!("cargo:rerun-if-changed={}", file.display());
        if let Ok(id) = std::fs::read_to_string(&file) {
            return Some(id);
        }
    }
    let packed = common_dir.join("packed-refs");
    println!("cargo:rerun-if-changed={}", packed.display());
    std::fs::read_to_string(packed)
        .ok()?
        .lines()
        .find(|l| l.ends_with(reference))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
}

fn link_unwinder_statically() {
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    println!("cargo:rerun-if-env-changed=CC");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(&cc).arg("-print-file-name=libgcc_eh.a").output() else {
        return;
    };
    // without the archive, the compiler prints the bare name back
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !archive.is_absolute() || !archive.is_file() {
        return;
    }
    let dir = PathBuf::from(target("OUT_DIR")).join("static-unwinder");
    if std::fs::create_dir_all(&dir).is_err() || std::fs::copy(&archive, dir.join("libgcc_s.a")).is_err() {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}
