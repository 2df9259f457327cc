//! `cenv doctor`: each finding with its fix, the machine checks of `--all`.

use super::*;

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
            "a record the group cannot read (rattler writes them 0600)",
            |sb| {
                fs::set_permissions(
                    sb.path("envs/cv/conda-meta/python-3.11.2-h0_0.json"),
                    fs::Permissions::from_mode(0o600),
                )
                .unwrap()
            },
            "error",
            "envs/cv/conda-meta/python-3.11.2-h0_0.json",
            "not readable by the group cenvt-research (mode 0600)",
            "chmod g+r",
        ),
        (
            "a directory whose setgid bit a chmod cleared",
            |sb| fs::set_permissions(sb.path("envs/cv/lib"), fs::Permissions::from_mode(0o0750)).unwrap(),
            "warning",
            "envs/cv/lib",
            "the setgid bit is not set (mode 0750)",
            "chmod g+s",
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
fn doctor_finds_links_leading_outside_among_thousands_with_few_descriptors() {
    require_root!();
    // an env with 3,000 links in bin/, run with 256 descriptors: resolving
    // each must not hold one, and a link that cannot be resolved (dangling,
    // or no descriptor left) is still judged by its text
    let sb = shared(&["cv"], "");
    let bin = sb.path("envs/cv/bin");
    for i in 0..3000 {
        std::os::unix::fs::symlink("python", bin.join(format!("tool{i}"))).unwrap();
    }
    std::os::unix::fs::symlink("../../../../../../../../etc/shadow", bin.join("shadow")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../no/such/file", bin.join("dangling")).unwrap();
    let out = cenv_as(&sb, ALICE)
        .args(["doctor", "--json", "cv"])
        .output()
        .unwrap();
    let limited = std::process::Command::new("prlimit")
        .args(["--nofile=256:256", "--"])
        .arg("setpriv")
        .args(["--reuid", ALICE, "--regid", ALICE, "--init-groups", "--"])
        .arg(cenv_binary())
        .arg("--config")
        .arg(sb.path("cenv.toml"))
        .args(["doctor", "--json", "cv"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    for out in [out, limited] {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)));
        for link in ["shadow", "dangling"] {
            assert!(
                has_finding(&report, "warning", &bin.join(link), "outside the env", "ls -l"),
                "{link}: {report:#}"
            );
        }
    }
}

#[test]
fn doctor_says_when_the_env_admin_is_not_in_the_group_and_fixes_many_files_with_one_command() {
    require_root!();
    // an envs root bob owns with the research group he is not in: each chmod
    // he runs would clear the setgid bit
    let sb = shared(&["cv"], "");
    let envs = sb.path("envs");
    std::os::unix::fs::lchown(&envs, Some(user(BOB).uid), None).unwrap();
    chmod(&envs, 0o2750);
    let (_, report) = doctor_json(&sb, &["cv"]);
    assert!(
        has_finding(
            &report,
            "warning",
            &envs,
            &format!("its owner {BOB} is not a member of its group {RESEARCH}"),
            &format!("usermod -aG {RESEARCH} {BOB}")
        ),
        "{report:#}"
    );
    // thirty records rattler wrote 0600: ten listed, and one command for all
    let sb = shared(&["cv"], "");
    for i in 0..30 {
        let record = sb.write(&format!("envs/cv/conda-meta/pkg{i}-1.0-0.json"), "{}");
        chown(&record, ADMIN);
        chmod(&record, 0o600);
    }
    let (status, report) = doctor_json(&sb, &["cv"]);
    assert_eq!(status, Some(2));
    assert!(
        has_finding(
            &report,
            "info",
            &sb.path("envs/cv"),
            "20 more files with the problem 'not readable by the group'",
            &format!("chmod -R g+rX {}", sb.path("envs/cv").display())
        ),
        "{report:#}"
    );
}

#[test]
fn doctor_fix_brings_an_env_to_the_sites_modes_and_changes_nothing_else() {
    require_root!();
    let sb = shared(&["cv"], "");
    let env = sb.path("envs/cv");
    // what installers leave: archive modes, rattler's 0600 records, a
    // directory a chmod stripped of setgid, a setuid file; and a file
    // another user planted, which --fix must not touch
    let broken: [(&str, u32); 5] = [
        ("lib/data.txt", 0o664),
        ("conda-meta/python-3.11.2-h0_0.json", 0o600),
        ("lib", 0o770),
        ("bin", 0o2757),
        ("pyvenv.cfg", 0o4644),
    ];
    for (rel, mode) in broken {
        chmod(env.join(rel), mode);
    }
    let planted = sb.write("envs/cv/lib/planted.py", "x = 1\n");
    chown(&planted, BOB);
    chmod(&planted, 0o666);
    let mode_of = |rel: &str| fs::symlink_metadata(env.join(rel)).unwrap().permissions().mode() & 0o7777;
    // not the owner: refused before anything changes
    let refused = cenv_as(&sb, ALICE)
        .args(["doctor", "--fix", "cv"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!("run it as its owner ({ADMIN}) or as root")),
        "{}",
        stderr(&refused)
    );
    // a dry run says what it would do, and does nothing
    // (exit status 2: what doctor finds before the fix has errors)
    let dry = stdout(
        &cenv_as(&sb, ADMIN)
            .args(["doctor", "--fix", "--dry-run", "cv"])
            .output()
            .unwrap(),
    );
    assert!(
        dry.contains(&format!(
            "would: chmod 0640 {} (was 0600)",
            env.join("conda-meta/python-3.11.2-h0_0.json").display()
        )),
        "{dry}"
    );
    assert_eq!(mode_of("lib/data.txt"), 0o664);
    // the env admin fixes it: every change printed
    let out = cenv_as(&sb, ADMIN)
        .args(["doctor", "--fix", "cv"])
        .output()
        .unwrap();
    let text = stdout(&out);
    for (rel, was, now) in [
        ("lib/data.txt", 0o664, 0o644),
        ("conda-meta/python-3.11.2-h0_0.json", 0o600, 0o640),
        ("lib", 0o770, 0o2750),
        ("bin", 0o2757, 0o2755),
        ("pyvenv.cfg", 0o4644, 0o644),
    ] {
        assert!(
            text.contains(&format!(
                "fixed: chmod {now:04o} {} (was {was:04o})",
                env.join(rel).display()
            )),
            "{rel}: {text}"
        );
        assert_eq!(mode_of(rel), now, "{rel}");
    }
    assert!(
        text.contains(&format!(
            "left: {}: owned by {BOB}, not the env's owner {ADMIN}",
            planted.display()
        )),
        "{text}"
    );
    assert_eq!(
        mode_of("lib/planted.py"),
        0o666,
        "a file of another user was changed"
    );
    // what doctor still finds is the planted file only
    let (_, report) = doctor_json(&sb, &["cv"]);
    let paths: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().all(|p| *p == planted.to_str().unwrap()),
        "{report:#}"
    );
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
                t.lines().any(|l| {
                    !l.trim_start().starts_with('#')
                        && (l.contains("cenv-session") || l.contains("pam_umask"))
                })
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
                    "no PAM service sets the research group's umask",
                    "Debian/Ubuntu: put your group into /etc/pam.d/cenv-session, then pam-auth-update --enable cenv"
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
    // root itself asks the kernel: a rule only in a file is not a watch; a
    // loaded one is. With a real auditd, and the rules installed and loaded
    // the way the docs say: cenv audit-rules --install
    let Some(_config) = write_system_config(&envs_config(&[&envs]).to_string()) else {
        return;
    };
    let Some(mut auditd) = AuditDaemon::start() else {
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
            "cenv audit-rules --install"
        ),
        "{report:#}"
    );
    {
        let _only_a_file = HostFile::write(
            "/etc/audit/rules.d/cenv-test.rules",
            format!("-w {} -p wa -k cenv_env_write\n", envs.display()),
            0o640,
        );
        let report = root_doctor();
        assert!(
            has_finding(
                &report,
                "warning",
                &envs,
                "a rules file watches it, but the kernel has not loaded the rule",
                "augenrules --load"
            ),
            "{report:#}"
        );
    }
    // --install writes the file and loads it (augenrules rewrites
    // audit.rules from rules.d: both come back as they were)
    let _rules_file = HostFile::preserve("/etc/audit/rules.d/cenv.rules");
    let _merged = HostFile::preserve("/etc/audit/audit.rules");
    let installed = Command::new(cenv_binary())
        .args(["audit-rules", "--install"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    let said = ok(&installed);
    assert!(
        said.contains("wrote /etc/audit/rules.d/cenv.rules") && said.contains("augenrules --load"),
        "{said}"
    );
    let rules = fs::read_to_string("/etc/audit/rules.d/cenv.rules").unwrap();
    assert!(
        rules.contains(&format!("-w {} -p wa -k cenv_env_write", envs.display())),
        "{rules}"
    );
    assert!(
        rules.contains("-w /etc/cenv -p wa -k cenv_config") || rules.contains("# skipped /etc/cenv"),
        "{rules}"
    );
    // the loaded watches go when the test ends
    for line in rules.lines().filter(|l| l.starts_with("-w ")) {
        auditd.loaded(line);
    }
    let report = root_doctor();
    assert!(
        !has_finding(&report, "warning", &envs, "auditd", ""),
        "{report:#}"
    );
    // an ordinary user is told that only root installs them
    let refused = cenv_as(&sb, ALICE)
        .args(["audit-rules", "--install"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("run it as root"),
        "{}",
        stderr(&refused)
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
