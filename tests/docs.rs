//! The docs name real things: every test SECURITY.md's "How this is tested"
//! table cites is a `#[test]` in the file the table names for it (or a fuzz
//! target), so the map from a guarantee to its test cannot rot.

use std::path::Path;

/// Whether `source` holds `fn name(` directly under a `#[test]` attribute
/// (other attributes and doc comments may stand between them).
fn is_test_in(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        line.trim_start().starts_with(&format!("fn {name}("))
            && lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim())
                .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
                .any(|l| l == "#[test]")
    })
}

#[test]
fn every_test_security_md_cites_is_a_test_in_the_file_it_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let security = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let table = security
        .split("## How this is tested")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("SECURITY.md has a 'How this is tested' section");
    let mut cited = 0;
    for row in table.lines().filter(|l| l.starts_with('|')) {
        let mut file: Option<String> = None;
        for word in row.split('`').skip(1).step_by(2) {
            if word.ends_with(".rs") {
                file = Some(word.to_owned());
                continue;
            }
            let is_test_name = word.contains('_')
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !is_test_name {
                continue;
            }
            cited += 1;
            if root.join("fuzz/fuzz_targets").join(format!("{word}.rs")).exists() {
                continue;
            }
            let file = file
                .as_deref()
                .unwrap_or_else(|| panic!("SECURITY.md cites {word} before naming its file: {row}"));
            let source = std::fs::read_to_string(root.join("tests").join(file))
                .or_else(|_| std::fs::read_to_string(root.join("src").join(file)))
                .unwrap_or_else(|e| panic!("SECURITY.md names {file}, which cannot be read: {e}"));
            assert!(
                is_test_in(&source, word),
                "SECURITY.md cites {word} in {file}, where no #[test] of that name exists"
            );
        }
    }
    assert!(cited > 30, "only {cited} tests cited");
}

#[test]
fn a_test_is_found_only_under_its_attribute() {
    let source =
        "#[test]\n/// doc\nfn a_test() {}\nfn helper_fn() {}\n#[test]\n#[ignore]\nfn other_test() {}\n";
    assert!(is_test_in(source, "a_test"));
    assert!(is_test_in(source, "other_test"));
    assert!(!is_test_in(source, "helper_fn"));
    assert!(!is_test_in(source, "missing_fn"));
}
