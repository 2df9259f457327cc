//! Accounts from a directory, as almost every site has them: a real OpenLDAP
//! (`slapd`) on 127.0.0.1 and NSS through `nslcd`/`libnss-ldapd`, started
//! and stopped by the test, `/etc/nsswitch.conf` and `/etc/nslcd.conf`
//! changed only while it runs and restored on every path out.
//!
//! The directory: 200 users (`ldapu000`…, one with uid 3,000,000,000), 50
//! small groups, `hpc-users` with 60,000 members, `students` with 20,000,
//! and `LDAPCaps`. What is checked: a huge group is a group (its gid is all a
//! policy needs), a directory that is down or hung is said to be a lookup
//! failure — on screen, in the audit line, in `list` and `check-config` —
//! never "not a member"; a group name that does not exist (`ldapcaps`) is
//! named as such; and how many questions each command asks the directory
//! (counted as connections to nslcd's socket), a caller whose policy names
//! only local groups asking none.

mod common;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const BASE: &str = "dc=cenv,dc=test";
const NSLCD_SOCKET: &str = "/run/nslcd/socket";
const NSLCD_PID: &str = "/run/nslcd/nslcd.pid";
/// A member of hpc-users, students and LDAPCaps.
const MEMBER: &str = "ldapu001";
/// In none of them.
const OUTSIDER: &str = "ldapu150";

/// slapd and nslcd for one test, and the host files they need; all of it
/// stopped, removed and restored when dropped.
struct Directory {
    dir: PathBuf,
    slapd: Option<u32>,
    _files: Vec<HostFile>,
}

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn pid_in(file: &Path) -> Option<u32> {
    fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..250 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not happen within 5 s");
}

fn kill(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// Whether `pid` is an nslcd (a stale pid file may name anything).
fn is_nslcd(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "nslcd")
}

/// The directory's content, as LDIF.
fn ldif() -> String {
    let mut text = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: cenv\no: cenv tests\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for i in 0..200u64 {
        let uid = if i == 199 { 3_000_000_000 } else { 70_000 + i };
        text.push_str(&format!(
            "dn: uid=ldapu{i:03},ou=people,{BASE}\nobjectClass: account\nobjectClass: posixAccount\n\
             uid: ldapu{i:03}\ncn: ldapu{i:03}\nuidNumber: {uid}\ngidNumber: 70000\n\
             homeDirectory: /nonexistent\nloginShell: /bin/sh\n\n"
        ));
    }
    let group = |text: &mut String, name: &str, gid: u32, members: &mut dyn Iterator<Item = String>| {
        text.push_str(&format!(
            "dn: cn={name},ou=groups,{BASE}\nobjectClass: posixGroup\ncn: {name}\ngidNumber: {gid}\n"
        ));
        for m in members {
            text.push_str(&format!("memberUid: {m}\n"));
        }
        text.push('\n');
    };
    group(&mut text, "ldapusers", 70_000, &mut std::iter::empty());
    for g in 0..50u32 {
        group(
            &mut text,
            &format!("ldapg{g:02}"),
            71_000 + g,
            &mut (0..4).map(|k| format!("ldapu{:03}", (g * 4 + k) % 200)),
        );
    }
    // the campus-wide groups: the members that exist, and many that do not
    // (a directory's member lists name accounts from everywhere)
    let mut big = |name: &str, gid: u32, size: usize| {
        let mut members = (0..100)
            .chain(std::iter::once(199))
            .map(|i| format!("ldapu{i:03}"))
            .chain((101..size).map(|i| format!("campus.member{i:06}")));
        group(&mut text, name, gid, &mut members);
    };
    big("hpc-users", 72_000, 60_000);
    big("students", 72_001, 20_000);
    group(
        &mut text,
        "LDAPCaps",
        72_002,
        &mut std::iter::once(MEMBER.to_owned()),
    );
    text
}

impl Directory {
    /// None (a skip, a failure under CI) when slapd or nslcd is missing.
    fn start() -> Option<Directory> {
        let (Some(slapd), Some(slapadd), Some(nslcd)) = (tool("slapd"), tool("slapadd"), tool("nslcd"))
        else {
            skip("slapd, slapadd or nslcd missing (apt install slapd nslcd libnss-ldapd; tests/run-all.sh does)");
            return None;
        };
        assert!(
            pid_in(Path::new(NSLCD_PID)).is_none_or(|p| !is_nslcd(p)),
            "an nslcd the tests did not start is running; stop it to run the directory tests"
        );
        // a pid file an nslcd left behind names no nslcd: never signalled
        let _ = fs::remove_file(NSLCD_PID);
        // root's own directory, made fresh (never one another user made
        // first: slapd runs as root and reads its config from here)
        let dir = PathBuf::from(format!(
            "/var/tmp/cenv-ldap-{}-{}",
            std::process::id(),
            unique_marker("dir").replace(|c: char| !c.is_ascii_alphanumeric(), "")
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("a fresh directory for slapd");
        fs::create_dir(dir.join("db")).unwrap();
        let port = {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
            listener.local_addr().unwrap().port()
        };
        let conf = dir.join("slapd.conf");
        fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/nis.schema\npidfile {dir}/slapd.pid\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\nsizelimit unlimited\n\
                 database mdb\nmaxsize 1073741824\nsuffix \"{BASE}\"\n\
                 directory {dir}/db\nindex objectClass eq\nindex uid,memberUid,cn,uidNumber,gidNumber eq\n\
                 access to * by * read\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        fs::write(dir.join("data.ldif"), ldif()).unwrap();
        let loaded = Command::new(&slapadd)
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(dir.join("data.ldif"))
            .arg("-q")
            .output()
            .unwrap();
        assert!(loaded.status.success(), "slapadd: {}", stderr(&loaded));
        let mut directory = Directory {
            dir: dir.clone(),
            slapd: None,
            _files: Vec::new(),
        };
        let started = Command::new(&slapd)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        assert!(started.status.success(), "slapd: {}", stderr(&started));
        wait_for("slapd's pid file", || pid_in(&dir.join("slapd.pid")).is_some());
        directory.slapd = pid_in(&dir.join("slapd.pid"));
        wait_for("slapd listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        // NSS: nslcd's config (the package's conffile: restored as it was) and
        // the ldap service after files; nothing caches in between
        let nsswitch = fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
        let with_ldap: String = nsswitch
            .lines()
            .map(|l| match l.split_once(':') {
                Some((db @ ("passwd" | "group"), services)) if !services.contains("ldap") => {
                    format!("{db}:{services} ldap\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        directory._files = vec![
            HostFile::write(
                "/etc/nslcd.conf",
                format!(
                    "uid nslcd\ngid nslcd\nuri ldap://127.0.0.1:{port}/\nbase {BASE}\n\
                     timelimit 3\nbind_timelimit 3\nreconnect_sleeptime 1\nreconnect_retrytime 1\n"
                ),
                0o640,
            ),
            HostFile::write("/etc/nsswitch.conf", with_ldap, 0o644),
        ];
        let gid = nix::unistd::Group::from_name("nslcd").unwrap().map(|g| g.gid);
        nix::unistd::chown("/etc/nslcd.conf", None, gid).unwrap();
        directory.start_nslcd(&nslcd);
        Some(directory)
    }

    fn start_nslcd(&self, nslcd: &Path) {
        let started = Command::new(nslcd).output().unwrap();
        assert!(started.status.success(), "nslcd: {}", stderr(&started));
        wait_for("nslcd's socket", || Path::new(NSLCD_SOCKET).exists());
        wait_for("an LDAP user through NSS", || {
            nix::unistd::User::from_name(MEMBER).ok().flatten().is_some()
        });
    }

    /// Stops the nslcd the test started (the pid file's, if it is an
    /// nslcd): SIGTERM, then SIGKILL; never panics (it runs in Drop).
    fn stop_nslcd(&self) {
        if let Some(pid) = pid_in(Path::new(NSLCD_PID)).filter(|p| is_nslcd(*p)) {
            kill(pid, nix::sys::signal::Signal::SIGTERM);
            for _ in 0..250 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if alive(pid) {
                kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        let _ = fs::remove_file(NSLCD_SOCKET);
    }

    fn restart_nslcd(&self) {
        self.start_nslcd(&tool("nslcd").unwrap());
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        self.stop_nslcd();
        if let Some(pid) = self.slapd {
            kill(pid, nix::sys::signal::Signal::SIGCONT);
            kill(pid, nix::sys::signal::Signal::SIGTERM);
            for _ in 0..250 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `program` run by an account, as `setpriv --init-groups` starts it (the
/// groups initgroups gives, through NSS), from `/`: the directory's users
/// have no home.
fn by(user: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let account = nix::unistd::User::from_name(user)
        .unwrap()
        .unwrap_or_else(|| panic!("no user {user}"));
    let mut cmd = Command::new("setpriv");
    cmd.arg("--reuid")
        .arg(account.uid.to_string())
        .arg("--regid")
        .arg(account.gid.to_string())
        .args(["--init-groups", "--"])
        .arg(program);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", &account.dir)
        .current_dir("/");
    cmd
}

fn cenv_by(user: &str, args: &[&str]) -> Output {
    by(user, cenv_binary()).args(args).output().unwrap()
}

/// How many connections to nslcd a command made: one per NSS request.
fn nss_requests(user: &str, args: &[&str]) -> (usize, Output) {
    let trace = std::env::temp_dir().join(format!("cenv-nss-{}-{}", std::process::id(), unique_marker("t")));
    let out = by(user, "strace")
        .args(["-f", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .arg(cenv_binary())
        .args(args)
        .output()
        .unwrap();
    let text = fs::read_to_string(&trace).unwrap_or_default();
    let _ = fs::remove_file(&trace);
    (text.lines().filter(|l| l.contains(NSLCD_SOCKET)).count(), out)
}

/// Envs open to anyone file permissions allow (the LDAP users are in no
/// local group), each with a policy naming a directory group.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    for env in ["cv", "caps", "campus", "local"] {
        sb.make_env(&format!("envs/{env}"));
    }
    for dir in [sb.root.clone(), sb.path("envs")] {
        let mode = fs::metadata(&dir).unwrap().permissions().mode();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o055)).unwrap();
    }
    sb
}

fn policy(sb: &Sandbox) -> String {
    envs_config(&[&sb.path("envs")])
        .table("envs.cv")
        .list("groups", &["hpc-users"])
        .table("envs.caps")
        .list("groups", &["ldapcaps"])
        .table("envs.campus")
        .list("groups", &["students"])
        .table("envs.local")
        .list("groups", &[RESEARCH])
        .to_string()
}

#[test]
fn directory_groups_of_any_size_decide_by_gid_and_a_lookup_failure_is_never_a_refusal() {
    require_root!();
    let _lock = machine_lock();
    let Some(directory) = Directory::start() else {
        return;
    };
    let syslog = Syslog::start();
    let sb = sandbox();
    let Some(_config) = write_system_config(&policy(&sb)) else {
        return;
    };
    // NSS sees the 60,000 members (as `getent` and `id` do)
    let id = Command::new("id").arg(MEMBER).output().unwrap();
    assert!(stdout(&id).contains("(hpc-users)"), "{}", stdout(&id));

    // a member of the 60,000-member group runs; an outsider is refused as one
    let ran = cenv_by(MEMBER, &["run", "cv", "true"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    let refused = cenv_by(OUTSIDER, &["run", "cv", "true"]);
    assert_eq!(refused.status.code(), Some(125));
    assert!(
        stderr(&refused).contains(&format!("{OUTSIDER} may not use env 'cv': it is open to the group hpc-users, and {OUTSIDER} is not a member")),
        "{}",
        stderr(&refused)
    );
    assert!(
        !stderr(&refused).contains("no group named"),
        "{}",
        stderr(&refused)
    );
    // the 20,000-member group too; and uid 3,000,000,000
    assert!(cenv_by(MEMBER, &["run", "campus", "true"]).status.success());
    let big_uid = cenv_by("ldapu199", &["run", "cv", "id", "-u"]);
    assert_eq!(stdout(&big_uid), "3000000000\n", "{}", stderr(&big_uid));
    // a policy group no directory has: named as such (case-sensitive)
    let caps = cenv_by(MEMBER, &["run", "caps", "true"]);
    assert_eq!(caps.status.code(), Some(125));
    assert!(
        stderr(&caps).contains("no group named ldapcaps exists (group names are case-sensitive"),
        "{}",
        stderr(&caps)
    );
    let checked = stdout(&Command::new(cenv_binary()).arg("check-config").output().unwrap());
    assert!(
        !checked.contains("'hpc-users'") && !checked.contains("'students'"),
        "{checked}"
    );
    assert!(checked.contains("no group named 'ldapcaps'"), "{checked}");

    // how many questions: one for the caller, one per policy group resolved by name
    let (run_requests, out) = nss_requests(MEMBER, &["run", "cv", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        run_requests <= 2,
        "cenv run asked the directory {run_requests} times"
    );
    let (list_requests, out) = nss_requests(MEMBER, &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        list_requests <= 4,
        "cenv list asked the directory {list_requests} times (1 for the caller, 1 per directory group)"
    );
    // a local caller whose env names only local groups never asks it
    let (local_requests, out) = nss_requests(ALICE, &["run", "local", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(local_requests, 0, "a local-only run asked the directory");
    // root starting a run for a directory user: the user, their group list
    // (initgroups), the policy group — each asked once
    let trace = std::env::temp_dir().join(format!("cenv-nss-root-{}", std::process::id()));
    let out = Command::new("strace")
        .args(["-f", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .arg(cenv_binary())
        .args(["run", "--user", MEMBER, "cv", "true"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let root_requests = fs::read_to_string(&trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(NSLCD_SOCKET))
        .count();
    let _ = fs::remove_file(&trace);
    eprintln!(
        "NSS requests to nslcd: run {run_requests}, list {list_requests}, local run {local_requests}, run from root {root_requests}"
    );
    assert!(
        root_requests <= 3,
        "a run root started for {MEMBER} asked the directory {root_requests} times"
    );

    // the directory is down: alice (a local user) asks for an env whose
    // policy names a directory group — a lookup failure, said as such
    directory.stop_nslcd();
    let mark = unique_marker("ldap-down");
    let down = cenv_by(ALICE, &["run", "cv", "echo", &mark]);
    assert_eq!(down.status.code(), Some(125));
    let err = stderr(&down);
    assert!(
        err.contains("cannot tell whether cenvt-alice may use env 'cv': looking up group hpc-users failed")
            && !err.contains("not a member"),
        "{err}"
    );
    let line = syslog.line_with(&mark);
    assert!(
        line.contains(" : user database lookup failed ; ")
            && line.contains("REASON=lookup failed: group hpc-users: "),
        "{line}"
    );
    let listed = cenv_by(ALICE, &["list"]);
    let text = stdout(&listed);
    let row = text
        .lines()
        .find(|l| l.starts_with("cv "))
        .unwrap_or_default()
        .to_owned();
    assert!(
        row.contains("lookup failed") && !row.contains("not in group"),
        "{text}"
    );
    let checked = stdout(&Command::new(cenv_binary()).arg("check-config").output().unwrap());
    assert!(
        checked.contains("cannot check the group 'hpc-users': looking up group hpc-users failed"),
        "{checked}"
    );
    // and local-only policy still works without the directory
    assert!(cenv_by(ALICE, &["run", "local", "true"]).status.success());

    // the directory hangs (slapd stopped, not gone): nslcd gives up after
    // its timelimit, and cenv says so
    directory.restart_nslcd();
    let slapd = directory.slapd.unwrap();
    kill(slapd, nix::sys::signal::Signal::SIGSTOP);
    let hung = cenv_by(ALICE, &["run", "cv", "true"]);
    kill(slapd, nix::sys::signal::Signal::SIGCONT);
    assert_eq!(hung.status.code(), Some(125));
    assert!(
        stderr(&hung).contains("looking up group hpc-users failed")
            && !stderr(&hung).contains("not a member"),
        "{}",
        stderr(&hung)
    );
    drop(directory);
}
