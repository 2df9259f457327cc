//! The docs name real things: every test (or fuzz target) SECURITY.md's "How
//! this is tested" table cites exists, so the map from a guarantee to its test cannot rot.

use std::path::Path;

#[test]
fn every_test_security_md_cites_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let security = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let table = security
        .split("## How this is tested")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("SECURITY.md has a 'How this is tested' section");
    let mut sources = String::new();
    for entry in std::fs::read_dir(root.join("tests")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "rs") {
            sources.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    let mut cited = 0;
    for name in table.split('`').skip(1).step_by(2) {
        let is_test_name = name.contains('_')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if is_test_name {
            cited += 1;
            let fuzz_target = root.join("fuzz/fuzz_targets").join(format!("{name}.rs"));
            assert!(
                sources.contains(&format!("fn {name}(")) || fuzz_target.exists(),
                "SECURITY.md cites a test (or fuzz target) that does not exist: {name}"
            );
        }
    }
    assert!(cited > 30, "only {cited} tests cited");
}
