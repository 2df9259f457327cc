//! `cenv snapshot`, `cenv diff` and `cenv changes` over versions of an env.

use super::*;

#[test]
fn snapshot_writes_a_version_only_on_change_and_diff_and_changes_name_it() {
    let g = require_genuine!();
    let sb = Sandbox::new();
    let envs = sb.mkdir("envs");
    sh(&[
        "cp",
        "-a",
        g.prefix("genuine-py").to_str().unwrap(),
        envs.join("lab").to_str().unwrap(),
    ]);
    let prefix = envs.join("lab");
    sb.config(&envs_config(&[&envs]).to_string());
    sb.chown_home_to_runner();
    sb.mkdir("work");
    let snaps = sb.home().join("snaps");
    let snapshot = |extra: &[&str]| {
        let out = cenv_as(&sb, ALICE)
            .args(["snapshot", "--all", "--dir"])
            .arg(&snaps)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        stdout(&out)
    };

    let first = snapshot(&[]);
    assert!(first.starts_with("lab: written: "), "{first}");
    // a second place for the snapshots `changes --snapshots` reads below
    let snaps2 = sb.home().join("snaps2");
    let into_snaps2 = || {
        let out = cenv_as(&sb, ALICE)
            .args(["snapshot", "--all", "--dir"])
            .arg(&snaps2)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    };
    into_snaps2();
    // as if taken last night: the next one is a later version
    for file in snapshot_files(&snaps2.join("lab")) {
        let (name, rest) = file.split_once('@').unwrap();
        let older = format!("{name}@20260101T000000Z{}", &rest[16..]);
        fs::rename(snaps2.join("lab").join(&file), snaps2.join("lab").join(older)).unwrap();
    }
    let written = snapshot_files(&snaps.join("lab"));
    assert_eq!(written.len(), 2, "{written:?}"); // the explicit file and the JSON
    let manifest = fs::read_to_string(snaps.join("MANIFEST")).unwrap();
    assert!(manifest.contains("lab\twritten\t"), "{manifest}");
    // nothing changed: nothing new written, the MANIFEST says so
    let again = snapshot(&[]);
    assert!(again.starts_with("lab: unchanged since "), "{again}");
    assert_eq!(snapshot_files(&snaps.join("lab")), written);
    assert!(fs::read_to_string(snaps.join("MANIFEST"))
        .unwrap()
        .contains("lab\tunchanged\t"));
    // a record rewritten with the same content: the fingerprint differs, the
    // packages do not, so still no new version
    let python_record = prefix.join("conda-meta/python-3.11.2-debian_0.json");
    fs::write(&python_record, fs::read(&python_record).unwrap()).unwrap();
    let touched = snapshot(&[]);
    assert!(touched.starts_with("lab: unchanged since "), "{touched}");
    assert_eq!(snapshot_files(&snaps.join("lab")), written);
    // last night's file, kept aside: --keep below prunes it from the directory
    let before = sb.path("before.txt");
    fs::copy(snaps.join("lab").join(&written[1]), &before).unwrap();
    fs::set_permissions(&before, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(before.to_string_lossy().ends_with(".txt"));
    let same = cenv_as(&sb, ALICE)
        .args(["diff", "lab"])
        .arg(&before)
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));

    // one more package, installed by rattler as a transaction on the env;
    // rattler keeps no conda-meta/history, so the test writes what conda would
    genuine_add(g, &prefix, "numpy");
    // as the admin's umask would leave it (rattler writes records 0600 as root)
    chown_tree(&prefix, user(ADMIN).uid, group_gid(RESEARCH));
    set_shared_modes(&prefix);
    // rattler wrote no history: changes says so and shows what the records'
    // times show, or what the snapshots show
    into_snaps2();
    let from_records = cenv_as(&sb, ALICE).args(["changes", "lab"]).output().unwrap();
    let text = stdout(&from_records);
    assert!(from_records.status.success(), "{}", stderr(&from_records));
    assert!(
        text.contains("lab: conda-meta/history is empty (rattler and pixi write none): from the times its package records were written"),
        "{text}"
    );
    assert!(text.contains("    + numpy 1.26.4 py311_0\n"), "{text}");
    let from_snapshots = cenv_as(&sb, ALICE)
        .args(["changes", "lab", "--json", "--snapshots"])
        .arg(&snaps2)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&from_snapshots.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&from_snapshots)));
    let env = &json["envs"][0];
    assert!(
        env["source"].as_str().unwrap().starts_with("the snapshots in "),
        "{json}"
    );
    let revisions = env["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{json}");
    assert_eq!(
        revisions[1]["added"],
        serde_json::json!([{"name": "numpy", "version": "1.26.4", "build": "py311_0"}]),
        "{json}"
    );
    assert_eq!(revisions[1]["removed"], serde_json::json!([]), "{json}");
    // --since as the snapshot names write it: the second revision only
    let stamp = revisions[1]["command"]
        .as_str()
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap()[..16]
        .to_owned();
    let since = cenv_as(&sb, ALICE)
        .args(["changes", "lab", "--json", "--since", &stamp, "--snapshots"])
        .arg(&snaps2)
        .output()
        .unwrap();
    let since: serde_json::Value = serde_json::from_slice(&since.stdout).unwrap();
    assert_eq!(
        since["envs"][0]["revisions"].as_array().unwrap().len(),
        1,
        "{since}"
    );
    fs::write(
        prefix.join("conda-meta/history"),
        "==> 2026-01-05 09:00:00 <==\n# cmd: conda create -p lab python\n# conda version: 24.11.0\n\
         +file:///channel::python-3.11.2-debian_0\n\
         ==> 2026-02-10 14:30:00 <==\n# cmd: conda install -n lab numpy\n# conda version: 24.11.0\n\
         +file:///channel::numpy-1.26.4-py311_0\n# update specs: ['numpy']\n",
    )
    .unwrap();
    let third = snapshot(&["--keep", "1"]);
    assert!(third.contains("lab: written: "), "{third}");
    assert!(third.contains("lab: removed "), "{third}");
    let kept = snapshot_files(&snaps.join("lab"));
    assert_eq!(kept.len(), 2, "--keep 1 leaves one version: {kept:?}");
    assert_ne!(kept, written);
    // the MANIFEST names what --keep removed
    let manifest = fs::read_to_string(snaps.join("MANIFEST")).unwrap();
    assert!(
        manifest.contains(&format!(
            "lab\tpruned\t{}",
            snaps.join("lab").join(&written[1]).display()
        )),
        "{manifest}"
    );

    let diff = cenv_as(&sb, ALICE)
        .args(["diff", "lab"])
        .arg(&before)
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1), "{}", stderr(&diff));
    assert_eq!(stdout(&diff), "+ numpy 1.26.4 py311_0  (not in the snapshot)\n");
    let json = cenv_as(&sb, ALICE)
        .args(["diff", "--json", "lab"])
        .arg(&before)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["added"][0]["name"], "numpy");
    assert_eq!(json["removed"], serde_json::json!([]));

    let changes = cenv_as(&sb, ALICE).args(["changes", "lab"]).output().unwrap();
    let text = stdout(&changes);
    assert!(changes.status.success(), "{}", stderr(&changes));
    assert!(
        text.contains(
            "lab  rev 0  2026-01-05 09:00:00  conda create -p lab python\n    + python 3.11.2 debian_0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "lab  rev 1  2026-02-10 14:30:00  conda install -n lab numpy\n    + numpy 1.26.4 py311_0\n"
        ),
        "{text}"
    );
    assert!(text.contains("ausearch -k cenv_env_write"), "{text}");
    let since = cenv_as(&sb, ALICE)
        .args(["changes", "lab", "--since", "2026-02-01", "--json"])
        .output()
        .unwrap();
    let since: serde_json::Value = serde_json::from_slice(&since.stdout).unwrap();
    let revisions = since["envs"][0]["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0]["command"], "conda install -n lab numpy");

    // garbage in the history: the file and the line, exit 125, no crash
    let mut history = fs::read_to_string(prefix.join("conda-meta/history")).unwrap();
    history.push_str("\u{1b}]0;owned\u{7} not a history line\n");
    fs::write(prefix.join("conda-meta/history"), history).unwrap();
    let bad = cenv_as(&sb, ALICE).args(["changes", "lab"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(125));
    let err = stderr(&bad);
    assert!(
        err.contains(prefix.join("conda-meta/history").to_str().unwrap()) && err.contains("line 10"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "escaped: {err}");
    // a corrupted record: snapshot says which env and file, does the others, exits 1
    fs::write(prefix.join("conda-meta/numpy-1.26.4-py311_0.json"), "{\"name\": ").unwrap();
    let out = cenv_as(&sb, ALICE)
        .args(["snapshot", "--all", "--dir"])
        .arg(&snaps)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("lab: FAILED: ") && stdout(&out).contains("numpy-1.26.4-py311_0.json"),
        "{}",
        stdout(&out)
    );
    assert!(fs::read_to_string(snaps.join("MANIFEST"))
        .unwrap()
        .contains("lab\tfailed\t"));
    assert_eq!(
        snapshot_files(&snaps.join("lab")),
        kept,
        "a failed export leaves the versions alone"
    );
}
