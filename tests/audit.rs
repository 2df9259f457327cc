//! The audit line of every run and every refusal, received by a real rsyslogd
//! that the tests start (as root).

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn shared(extra_config: &str) -> Sandbox {
    shared_sandbox(&["cv"], |sb| {
        envs_config(&[&sb.path("envs")]).raw(extra_config).to_string()
    })
}

#[test]
fn a_run_is_logged_at_authpriv_notice_with_sudos_fields() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared("");
    let mark = unique_marker("run");
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "echo", &mark])
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = syslog.line_with(&mark);
    let prefix = sb.path("envs/cv");
    let work = sb.path("work");
    let expected_tail = format!(
        ": {ALICE} : TTY=unknown ; ENV=cv ; PREFIX={} ; PWD={} ; USER={ALICE} ; UMASK=027 ; LANDLOCK=enforced (ABI ",
        prefix.display(),
        work.display()
    );
    assert!(line.starts_with("authpriv.notice cenv["), "{line}");
    assert!(line.contains(&expected_tail), "{line}");
    assert!(
        line.ends_with(&format!("), env read-only ; COMMAND=/usr/bin/echo {mark}")),
        "{line}"
    );
}

#[test]
fn the_logged_pid_is_the_commands_pid() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared("");
    let mark = unique_marker("pid");
    // std's Command::uid drops supplementary groups: let "others" into the env
    for rel in ["envs", "envs/cv", "envs/cv/conda-meta", "envs/cv/bin"] {
        fs::set_permissions(sb.path(rel), fs::Permissions::from_mode(0o2755)).unwrap();
    }
    // run cenv directly as alice (no setpriv in between) so the child pid is cenv's
    let alice = user(ALICE);
    let out = {
        use std::os::unix::process::CommandExt;
        Command::new(cenv_binary())
            .arg("--config")
            .arg(sb.path("cenv.toml"))
            .args(["run", "cv", "sh", "-c", &format!("echo $$ {mark}")])
            .uid(alice.uid)
            .gid(alice.gid)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(sb.path("work"))
            .output()
            .unwrap()
    };
    let printed_pid = stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("{}", stderr(&out)))
        .to_owned();
    let line = syslog.line_with(&mark);
    assert!(
        line.starts_with(&format!("authpriv.notice cenv[{printed_pid}]: ")),
        "{line} vs pid {printed_pid}"
    );
}

#[test]
fn a_refusal_is_logged_at_warning_with_the_reason() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared(&format!("[envs.cv]\ngroups = [\"{RESEARCH}\"]\n"));
    let mark = unique_marker("refused");
    let out = cenv_as(&sb, BOB)
        .args(["run", "cv", "python", &mark])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let line = syslog.line_with(&mark);
    assert_eq!(
        line.split_once(']').unwrap().1,
        format!(
            ": {BOB} : command refused ; TTY=unknown ; ENV=cv ; REASON=not in group {RESEARCH} ; PWD={} ; COMMAND=python {mark}",
            sb.path("work").display()
        )
    );
    assert!(line.starts_with("authpriv.warning cenv["), "{line}");
}

#[test]
fn a_run_started_by_root_names_root_and_the_target_user() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared("");
    let mark = unique_marker("root");
    let out = Command::new(cenv_binary())
        .args(["run", "--user", ALICE, "-p"])
        .arg(sb.path("envs/cv"))
        .args(["echo", &mark])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line = syslog.line_with(&mark);
    assert!(
        line.starts_with("authpriv.notice cenv[") && line.contains("]: root : TTY="),
        "{line}"
    );
    assert!(line.contains(&format!(" ; USER={ALICE} ; ")), "{line}");
}

#[test]
fn control_characters_and_invalid_utf8_are_escaped_on_one_line() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared("");
    let mark = unique_marker("escape");
    let mut nasty = b"line1\nFAKE: root : COMMAND=/bin/sh \x1b[2J".to_vec();
    nasty.extend_from_slice(b"\xff\xfe end");
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "echo", &mark])
        .arg(OsStr::from_bytes(&nasty))
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines = syslog.lines_with(&mark);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(&format!(
            "COMMAND=/usr/bin/echo {mark} line1\\x0aFAKE: root : COMMAND=/bin/sh \\x1b[2J\\xff\\xfe end"
        )),
        "{}",
        lines[0]
    );
    assert!(
        !syslog.settled_text().lines().any(|l| l.starts_with("FAKE")),
        "a forged line reached the log"
    );
}

#[test]
fn an_overlong_command_line_is_split_safely() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared("");
    let mark = unique_marker("long");
    let long_arg = "y".repeat(3000);
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "true", &mark, &long_arg])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = syslog.settled_text();
    let first = text.lines().position(|l| l.contains(&mark)).unwrap();
    let parts: Vec<&str> = text.lines().skip(first).take(4).collect();
    assert!(parts[1].contains("(command continued) yyyy"), "{parts:?}");
    let ys: usize = parts.iter().map(|p| p.matches('y').count()).sum();
    assert!(ys >= 3000, "the whole command is in the log: {ys}");
}

#[test]
fn without_a_daemon_best_effort_warns_and_required_refuses() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    syslog.stop();
    let sb = shared("");
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "echo", "ran"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ran\n");
    let warnings: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.contains("not in the audit log"))
        .map(str::to_owned)
        .collect();
    assert_eq!(warnings.len(), 1, "exactly one warning: {}", stderr(&out));

    sb.config(
        &envs_config(&[&sb.path("envs")])
            .string("audit", "required")
            .to_string(),
    );
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "echo", "ran"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("no syslog daemon is reachable at /dev/log"),
        "{}",
        stderr(&out)
    );

    // and with the daemon back, required runs
    let syslog = Syslog::start();
    let mark = unique_marker("required");
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "echo", &mark])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    syslog.line_with(&mark);
}
