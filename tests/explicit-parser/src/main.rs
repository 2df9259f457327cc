//! Reads an @EXPLICIT file with rattler's `ExplicitEnvironmentSpec` (the
//! parser pixi and rattler-based installers use) and prints what it
//! understood as JSON: the platform, and each package's URL and archive hash.
//! tests/tools.rs holds `cenv export` to it.

use std::path::Path;

use rattler_conda_types::{ExplicitEnvironmentSpec, PackageArchiveHash};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let path = std::env::args_os().nth(1).expect("usage: cenv-explicit-parser FILE");
    let spec = match ExplicitEnvironmentSpec::from_path(Path::new(&path)) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("rattler rejects {}: {e}", Path::new(&path).display());
            std::process::exit(1);
        }
    };
    let packages: Vec<serde_json::Value> = spec
        .packages
        .iter()
        .map(|entry| {
            let (md5, sha256) = match entry.package_archive_hash() {
                Ok(Some(PackageArchiveHash::Md5(h))) => (Some(hex(&h)), None),
                Ok(Some(PackageArchiveHash::Sha256(h))) => (None, Some(hex(&h))),
                Ok(None) => (None, None),
                Err(e) => {
                    eprintln!("rattler rejects the hash of {}: {e}", entry.url);
                    std::process::exit(1);
                }
            };
            let mut url = entry.url.clone();
            url.set_fragment(None);
            serde_json::json!({ "url": url.as_str(), "md5": md5, "sha256": sha256 })
        })
        .collect();
    let platform = spec.platform.map(|p| p.to_string());
    println!("{}", serde_json::json!({ "platform": platform, "packages": packages }));
}
