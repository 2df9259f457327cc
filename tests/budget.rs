//! What `cenv run` and `cenv list` cost, counted rather than timed: the
//! system calls cenv makes from its start to the exec of the command, under
//! strace. A count does not move with the machine's load, so it can be
//! asserted (bench/run-overhead.sh and bench/syscalls.sh print it beside the
//! timings). Run as an ordinary user (alice, when the tests run as root),
//! with every check on: policy, the trust walk, Landlock, the audit line.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;

use common::*;

/// The system calls of one traced command, in order, from the first
/// execve (cenv's start) up to the next execve or execveat (the command's);
/// each with its line.
fn traced(sb: &Sandbox, args: &[&str]) -> Vec<(String, String)> {
    let out_dir = sb.mkdir("trace");
    fs::set_permissions(&out_dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let file = out_dir.join(format!("t{}", args.len()));
    let _ = fs::remove_file(&file);
    let mut cmd = match runner() {
        Some(_) => as_user(ALICE, "strace"),
        None => std::process::Command::new("strace"),
    };
    cmd.args(["-f", "-qq", "-o"])
        .arg(&file)
        .arg(cenv_binary())
        .arg("--config")
        .arg(sb.path("cenv.toml"))
        .args(args)
        .current_dir(&sb.root)
        .env("HOME", sb.home());
    let out = cmd
        .output()
        .expect("strace is needed (tests/run-all.sh installs it)");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let text = fs::read_to_string(&file).unwrap();
    let mut calls: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| {
            // "PID name(" with -f, resumed lines ("<... name resumed>") not counted twice
            let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && rest[name.len()..].starts_with('(')).then(|| (name, line.to_owned()))
        })
        .collect();
    let start = calls.iter().position(|(n, _)| n == "execve").expect("no execve") + 1;
    calls.drain(..start);
    if let Some(end) = calls.iter().position(|(n, _)| n == "execve" || n == "execveat") {
        calls.truncate(end);
    }
    calls
}

fn count(calls: &[(String, String)], name: &str) -> usize {
    calls.iter().filter(|(n, _)| n == name).count()
}

fn by_name(calls: &[(String, String)]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for (name, _) in calls {
        *counts.entry(name.as_str()).or_insert(0) += 1;
    }
    counts
}

/// The paths opened by name (not relative to a descriptor), with how often.
fn opened_by_path(calls: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut opened = BTreeMap::new();
    for (name, line) in calls {
        if name != "openat" || !line.contains("openat(AT_FDCWD, \"") {
            continue;
        }
        let path = line.split('"').nth(1).unwrap_or_default().to_owned();
        *opened.entry(path).or_insert(0) += 1;
    }
    opened
}

/// The envs root's parent and the sandbox hold a few entries; the budget
/// leaves out the Landlock grants (two calls each: an O_PATH open and the
/// rule), whose number is the number of entries beside the env's ancestors
/// — a property of the machine, not of cenv.
const BUDGET_BESIDE_GRANTS: usize = 150;

#[test]
fn a_run_stays_within_its_budget_of_system_calls() {
    let sb = Sandbox::new();
    let prefix = sb.make_env("envs/cv");
    symlink("/usr/bin/true", prefix.join("bin/true")).unwrap();
    let group = runner().map_or_else(
        || {
            nix::unistd::Group::from_gid(nix::unistd::getgid())
                .unwrap()
                .unwrap()
                .name
        },
        |_| ALICE.to_owned(),
    );
    sb.config(
        &envs_config(&[&sb.path("envs")])
            .table("envs.cv")
            .list("groups", &[&group])
            .to_string(),
    );
    sb.chown_home_to_runner();
    let _syslog = is_root().then(Syslog::start);
    let calls = traced(&sb, &["run", "cv", "true"]);
    let counts = by_name(&calls);
    let grants = count(&calls, "landlock_add_rule");
    assert!(grants > 0, "no Landlock rule was built: {counts:?}");
    let beside_grants = calls.len() - 2 * grants;
    eprintln!(
        "cenv run cv true: {} system calls, {grants} Landlock grants, {beside_grants} beside them: {counts:?}",
        calls.len()
    );
    assert!(
        beside_grants <= BUDGET_BESIDE_GRANTS,
        "{beside_grants} system calls beside the {grants} grants (budget {BUDGET_BESIDE_GRANTS}): {counts:?}"
    );
    // each path resolved once: the prefix and the home directory through
    // their descriptors, /tmp by realpath, the command's file and its symlink
    assert!(count(&calls, "readlink") <= 5, "{counts:?}");
    // no ACL is read where the mode's group bits say none can grant write
    assert_eq!(count(&calls, "getxattr"), 0, "{counts:?}");
    // nothing opened twice by path; one user and one group lookup
    let twice: Vec<(String, usize)> = opened_by_path(&calls)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "opened more than once: {twice:?}");
    // descriptors are left for the exec to close: only the C library closes
    // its own (the user database and nsswitch.conf, nscd's socket probes,
    // the loader's libraries)
    let own_closes = closes_of_cenvs_own(&calls);
    assert!(own_closes.is_empty(), "closed one by one: {own_closes:?}");
}

/// The descriptors cenv closed itself, by what they were opened as: every
/// close(2) whose descriptor was not opened by the C library.
fn closes_of_cenvs_own(calls: &[(String, String)]) -> Vec<String> {
    let mut open: BTreeMap<String, String> = BTreeMap::new();
    let mut own = Vec::new();
    for (name, line) in calls {
        let result = line
            .rsplit_once("= ")
            .map(|(_, r)| r.split_whitespace().next().unwrap_or_default());
        match name.as_str() {
            "openat" | "socket" => {
                if let Some(fd) = result.filter(|r| r.parse::<i32>().is_ok()) {
                    let what = if name == "socket" {
                        "a socket".to_owned()
                    } else {
                        line.split('"').nth(1).unwrap_or_default().to_owned()
                    };
                    open.insert(fd.to_owned(), what);
                }
            }
            "close" => {
                let fd = line.split(['(', ')']).nth(1).unwrap_or_default().to_owned();
                let what = open.remove(&fd).unwrap_or_default();
                let the_librarys = what == "a socket"
                    || what.starts_with("/etc/")
                    || what.starts_with("/lib")
                    || what.starts_with("/usr/lib");
                if !the_librarys {
                    own.push(format!("{what} (fd {fd})"));
                }
            }
            _ => {}
        }
    }
    own
}

/// `cenv list` costs the same number of system calls for each env, whatever
/// their number: stat, conda-meta/ opened, listed and closed, access(2).
#[test]
fn list_costs_a_constant_number_of_system_calls_per_env() {
    let sb = Sandbox::new();
    let make = |from: usize, to: usize| {
        for i in from..to {
            sb.mkdir(&format!("envs/env{i:04}/conda-meta"));
        }
    };
    sb.config(&envs_config(&[&sb.path("envs")]).to_string());
    let file_calls = |calls: &[(String, String)]| {
        calls
            .iter()
            .filter(|(n, _)| {
                matches!(
                    n.as_str(),
                    "openat"
                        | "statx"
                        | "newfstatat"
                        | "access"
                        | "getdents64"
                        | "close"
                        | "readlink"
                        | "lseek"
                )
            })
            .count()
    };
    make(0, 10);
    let ten = file_calls(&traced(&sb, &["list"]));
    make(10, 110);
    let hundred_ten = file_calls(&traced(&sb, &["list"]));
    make(110, 310);
    let three_hundred_ten = file_calls(&traced(&sb, &["list"]));
    let per_env = (hundred_ten - ten) / 100;
    eprintln!(
        "cenv list: {ten} file system calls for 10 envs, {hundred_ten} for 110, {three_hundred_ten} for 310"
    );
    assert_eq!(hundred_ten - ten, 100 * per_env, "not a whole number per env");
    assert_eq!(
        three_hundred_ten - hundred_ten,
        200 * per_env,
        "the cost per env grows with the number of envs"
    );
    // 5 where the file system fills getdents64's buffer (ext4, xfs, btrfs,
    // tmpfs, overlayfs), 6 where a listing needs the call that returns 0
    assert!(per_env <= 6, "{per_env} file system calls per env");
}
