//! `cenv export`: explicit files rattler reads back, pip packages named.

use super::*;

fn export(args: &[&str], prefix: &Path) -> Output {
    Command::new(cenv_binary())
        .arg("export")
        .args(args)
        .arg("-p")
        .arg(prefix)
        .output()
        .unwrap()
}

#[test]
fn export_lists_every_package_and_rattler_rebuilds_an_identical_env() {
    let g = require_genuine!();
    let sb = Sandbox::new();
    let original = g.prefix("genuine");
    let out = export(&[], &original);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let body: Vec<&str> = text.split_once("@EXPLICIT\n").unwrap().1.lines().collect();
    // one URL#MD5 per record, python (which the others need) first
    assert_eq!(body.len(), 3, "{text}");
    assert!(
        body[0].contains("/linux-64/python-3.11.2-debian_0.tar.bz2#"),
        "{text}"
    );
    for line in &body {
        let (url, md5) = line.split_once('#').unwrap();
        let archive = url.strip_prefix("file://").unwrap();
        let digest = Command::new("md5sum").arg(archive).output().unwrap();
        assert!(stdout(&digest).starts_with(md5), "{line}: {}", stdout(&digest));
    }
    assert!(text.contains("# platform: linux-64\n"), "{text}");
    let spec = sb.write("genuine.txt", &text);

    // rattler's own parser of explicit files reads back every URL and MD5
    let parser = std::env::var_os("CENV_TEST_EXPLICIT_PARSER");
    if let Some(parser) = parser {
        let out = Command::new(parser).arg(&spec).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(parsed["platform"], "linux-64");
        let read_back: Vec<String> = parsed["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}#{}", p["url"].as_str().unwrap(), p["md5"].as_str().unwrap()))
            .collect();
        assert_eq!(read_back, body);
    } else {
        skip("rattler's parser: set CENV_TEST_EXPLICIT_PARSER (tests/run-all.sh does)");
    }

    // rattler installs exactly that file into a new prefix (archives read and
    // hashed by rattler, each MD5 checked against the line)
    let rebuilt = sb.path("rebuilt");
    let out = Command::new(test_python().unwrap())
        .arg(GENUINE_SCRIPT)
        .arg("rebuild")
        .arg(&spec)
        .arg(&rebuilt)
        .arg(sb.path("pkgs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let records = |prefix: &Path| {
        let out = export(&["--format", "json"], prefix);
        assert!(out.status.success(), "{}", stderr(&out));
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        value["packages"].clone()
    };
    let before = records(&original);
    assert_eq!(before.as_array().unwrap().len(), 3);
    for package in before.as_array().unwrap() {
        for field in [
            "name", "version", "build", "channel", "subdir", "url", "sha256", "md5", "size",
        ] {
            assert!(!package[field].is_null(), "{field} missing: {package}");
        }
    }
    assert_eq!(records(&rebuilt), before);
    let (status, report, out) = verify(&rebuilt);
    assert_eq!(status, Some(0), "{report:#} {}", stderr(&out));
}

#[test]
fn export_names_pip_packages_and_explains_a_record_it_cannot_use() {
    let sb = Sandbox::new();
    let prefix = sb.make_env("envs/mixed");
    sb.write(
        "envs/mixed/conda-meta/python-3.11.2-h0_0.json",
        r#"{"name": "python", "version": "3.11.2", "build": "h0_0", "url": "https://conda.anaconda.org/conda-forge/linux-64/python-3.11.2-h0_0.conda", "md5": "0123456789abcdef0123456789abcdef", "subdir": "linux-64", "files": ["lib/python3.11/site-packages/numpy-1.26.4.dist-info/METADATA"]}"#,
    );
    sb.write(
        "envs/mixed/lib/python3.11/site-packages/numpy-1.26.4.dist-info/METADATA",
        "",
    );
    sb.write(
        "envs/mixed/lib/python3.11/site-packages/torch-2.1.0.dist-info/METADATA",
        "",
    );
    let out = export(&[], &prefix);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("# not in this file, installed by pip: torch==2.1.0\n"),
        "{text}"
    );
    assert!(!text.contains("numpy"), "{text}");
    assert!(text.ends_with(
        "@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/python-3.11.2-h0_0.conda#0123456789abcdef0123456789abcdef\n"
    ), "{text}");

    // a record without a URL: exit 125, the file named, the way out said
    let record = sb.write(
        "envs/mixed/conda-meta/zlib-1.3-0.json",
        r#"{"name": "zlib", "version": "1.3", "build": "0"}"#,
    );
    let out = export(&[], &prefix);
    assert_eq!(out.status.code(), Some(125));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains(record.to_str().unwrap()) && err.contains("no \"url\""),
        "{err}"
    );
    assert!(err.contains("reinstall"), "{err}");

    // a corrupted record: the file and the line
    fs::write(&record, "{\"name\": \"zlib\",\n  \"version\": 1.3,,\n").unwrap();
    let out = export(&[], &prefix);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains(record.to_str().unwrap()) && err.contains("line 2"),
        "{err}"
    );
}
