//! The shape of the house holds: the layout docs/design.md draws is the one
//! on disk, imports point down through the four layers (and the tools never
//! reach into the run pipeline), and `unsafe` lives in `system/sys.rs` only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, relative to the crate root.
fn sources() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.insert(path.strip_prefix(root()).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("src"), &mut out);
    out
}

#[test]
fn the_layout_docs_design_md_draws_is_the_one_on_disk() {
    let design = std::fs::read_to_string(root().join("docs/design.md")).unwrap();
    let block = design
        .split("<!-- layout: checked by tests/house.rs -->")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("docs/design.md has the layout block");
    let mut drawn = BTreeSet::new();
    for line in block.lines().skip(1) {
        let line = line.split('#').next().unwrap();
        let mut words = line.split_whitespace();
        let Some(dir) = words.next() else { continue };
        for file in words {
            drawn.insert(format!("{dir}{file}"));
        }
    }
    let on_disk = sources();
    let missing: Vec<_> = on_disk.difference(&drawn).collect();
    let gone: Vec<_> = drawn.difference(&on_disk).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "docs/design.md's layout is out of date: not drawn {missing:?}; drawn but not on disk {gone:?}"
    );
}

/// The layer of a module: 0 `error` and `cli` (import nothing of cenv), 1
/// `system`, 2 `config` and `conda`, 3 the decisions, 4 the front ends, 5
/// the top (`lib`, `main`, `manual`).
fn layer(module: &str) -> u8 {
    match module {
        "error" | "cli" => 0,
        "system" => 1,
        "config" | "conda" => 2,
        "identity" | "policy" | "trust" | "confine" | "audit" => 3,
        "run" | "tools" | "shell" | "jupyter" => 4,
        "lib" | "main" | "manual" => 5,
        other => panic!("a module no layer holds: {other}; give it one in docs/design.md and here"),
    }
}

/// Imports within one layer that are part of the design (one direction
/// only, so no circle): the env model reads the config; the decisions build
/// on each other in this order; a notebook is a run.
const SAME_LAYER: [(&str, &str); 8] = [
    ("conda", "config"),
    ("identity", "audit"),
    ("trust", "identity"),
    ("confine", "identity"),
    ("policy", "identity"),
    ("policy", "trust"),
    ("policy", "audit"),
    ("jupyter", "run"),
];

#[test]
fn imports_point_down_through_the_four_layers() {
    let mut wrong = Vec::new();
    for file in sources() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        let parts: Vec<&str> = file
            .trim_start_matches("src/")
            .trim_end_matches(".rs")
            .split('/')
            .collect();
        let from = parts[0];
        for line in text.lines() {
            let code = line.split("//").next().unwrap();
            for reference in code.split("crate::").skip(1) {
                let to: String = reference
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if to.is_empty() || to == from {
                    continue;
                }
                let allowed = layer(&to) < layer(from) || SAME_LAYER.contains(&(from, to.as_str()));
                if !allowed {
                    wrong.push(format!("{file}: crate::{to}"));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "imports that do not point down: {wrong:#?}");
}

#[test]
fn the_tools_never_import_the_run_pipeline() {
    for file in sources().iter().filter(|f| f.starts_with("src/tools/")) {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(!text.contains("crate::run"), "{file} imports crate::run");
    }
}

#[test]
fn unsafe_code_lives_in_system_sys_rs_only() {
    for file in sources().iter().filter(|f| *f != "src/system/sys.rs") {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            let mentions = code.contains("unsafe") && !code.contains("unsafe_code");
            assert!(
                !mentions,
                "{file}:{}: unsafe outside system/sys.rs: {line}",
                n + 1
            );
        }
    }
}
