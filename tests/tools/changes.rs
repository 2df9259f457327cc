//! `cenv changes` joined with a real auditd: who wrote each revision.

use super::*;

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
    // other: made by conda long ago (an env without history would date its
    // revisions by its records' times, which are now)
    let other_env = sb.path("envs/other");
    fs::write(
        other_env.join("conda-meta/history"),
        "==> 2020-01-05 09:00:00 <==\n# cmd: conda create -n other python\n+file:///channel::python-3.11.2-h0_0\n",
    )
    .unwrap();
    chown_tree(&other_env, user(ADMIN).uid, group_gid(RESEARCH));
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
    let Some(config) = write_system_config(&envs_config(&[&sb.path("envs")]).to_string()) else {
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
        .split("other  rev 0  2020-01-05 09:00:00  conda create -n other python\n")
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
