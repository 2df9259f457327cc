//! Puts the git commit into `cenv --version` when built from a checkout
//! (`cenv 0.1.0 (a1b2c3d)`); a build from a source tarball says the version
//! alone. Reads .git directly, so a build needs no git binary.

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-env-changed=CENV_SYSTEM_CONFIG");
    let commit = std::fs::read_to_string(".git/HEAD").ok().and_then(|head| {
        let head = head.trim();
        match head.strip_prefix("ref: ") {
            Some(reference) => {
                println!("cargo:rerun-if-changed=.git/{reference}");
                std::fs::read_to_string(format!(".git/{reference}"))
                    .ok()
                    .or_else(|| packed_ref(reference))
            }
            None => Some(head.to_owned()),
        }
    });
    let version = env!("CARGO_PKG_VERSION");
    let long = match commit.map(|c| c.trim().chars().take(7).collect::<String>()) {
        Some(short) if short.len() == 7 => format!("{version} ({short})"),
        _ => version.to_owned(),
    };
    println!("cargo:rustc-env=CENV_LONG_VERSION={long}");
}

fn packed_ref(reference: &str) -> Option<String> {
    println!("cargo:rerun-if-changed=.git/packed-refs");
    let packed = std::fs::read_to_string(".git/packed-refs").ok()?;
    packed
        .lines()
        .find(|l| l.ends_with(reference))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
}
