//! Identity, umask, capabilities, no_new_privs and the Landlock rule, proven
//! as root with real users (cenvt-admin owns the envs, cenvt-alice is in the
//! research group, cenvt-bob is not), real sudo, and a real kernel.

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const PROBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/write_probe.py");
const NO_LANDLOCK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/no_landlock.py");
const STATUS: &str = "import os; print(open('/proc/self/status').read(), end='')";

fn shared(envs: &[&str]) -> Sandbox {
    shared_sandbox(envs, |sb| {
        envs_config(&[&sb.path("envs")])
            .paths("readonly_paths", &[&sb.path("pkgs")])
            .to_string()
    })
}

fn probe_results(output: &str) -> HashMap<String, String> {
    output
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn assert_env_read_only_and_rest_writable(results: &HashMap<String, String>) {
    let denied = [
        "create",
        // an ancestor of the env gets no grant: no new entries directly in it
        "create_in_envs_root",
        "create_in_bin",
        "open_for_write",
        "truncate",
        "unlink",
        "rename_within",
        "rename_in",
        "hard_link_in",
        "symlink",
        "mkdir",
        "rmdir",
        "mkfifo",
        "write_env_file_via_pkgs_link",
        "write_env_hardlink_in_env",
    ];
    for op in denied {
        assert_eq!(
            results.get(op).map(String::as_str),
            Some("EACCES"),
            "{op}: {results:?}"
        );
    }
    let out = results.get("rename_out").map(String::as_str);
    assert!(matches!(out, Some("EACCES" | "EXDEV")), "rename_out: {results:?}");
    for op in ["write_home", "write_cwd", "write_tmp", "write_dev_null"] {
        assert_eq!(
            results.get(op).map(String::as_str),
            Some("OK"),
            "{op}: {results:?}"
        );
    }
}

fn probe_args(sb: &Sandbox, env: &str, user: &str) -> Vec<PathBuf> {
    let home = nix::unistd::User::from_name(user).unwrap().unwrap().dir;
    vec![
        PathBuf::from(PROBE),
        sb.path(&format!("envs/{env}")),
        sb.path("pkgs/numpy-1.0-0/lib/numpy.py"),
        home,
        sb.path("work"),
    ]
}

/// Asserts what /proc/self/status of a command run as `name` shows: its uids
/// and gids, the research group among its groups, and empty capability sets.
fn assert_status_of(status: &str, name: &str, cap_sets: &[&str]) {
    let u = user(name);
    assert_eq!(
        status_field(status, "Uid"),
        Some(format!("{0}\t{0}\t{0}\t{0}", u.uid).as_str())
    );
    assert_eq!(
        status_field(status, "Gid"),
        Some(format!("{0}\t{0}\t{0}\t{0}", u.gid).as_str())
    );
    let groups: Vec<u32> = status_field(status, "Groups")
        .unwrap()
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    assert!(groups.contains(&group_gid(RESEARCH)), "{groups:?}");
    for cap in cap_sets {
        assert_eq!(status_field(status, cap), Some("0000000000000000"), "{cap}");
    }
}

#[test]
fn alice_runs_as_herself_with_no_capabilities_umask_027_and_no_new_privs() {
    require_root!();
    let sb = shared(&["cv"]);
    let status = ok(cenv_as(&sb, ALICE)
        .args(["run", "cv", "python", "-c", STATUS])
        .output()
        .unwrap());
    assert_status_of(&status, ALICE, &["CapEff", "CapPrm", "CapInh", "CapAmb"]);
    assert_eq!(status_field(&status, "NoNewPrivs"), Some("1"));
    assert_eq!(status_field(&status, "Umask"), Some("0027"));
    // a file she creates in her home gets mode 0640
    let home = nix::unistd::User::from_name(ALICE).unwrap().unwrap().dir;
    let target = home.join("cenv-umask-check");
    let _ = fs::remove_file(&target);
    ok(cenv_as(&sb, ALICE)
        .args([
            "run",
            "cv",
            "python",
            "-c",
            "open('cenv-umask-check', 'w').write('x')",
        ])
        .current_dir(&home)
        .output()
        .unwrap());
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o640);
    fs::remove_file(target).unwrap();
}

#[test]
fn a_stricter_umask_may_be_asked_for_a_looser_one_is_refused() {
    require_root!();
    let sb = shared(&["cv"]);
    let status = ok(cenv_as(&sb, ALICE)
        .args(["run", "--umask", "077", "cv", "python", "-c", STATUS])
        .output()
        .unwrap());
    assert_eq!(status_field(&status, "Umask"), Some("0077"));
    let out = cenv_as(&sb, ALICE)
        .args(["run", "--umask", "022", "cv", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("looser than the configured umask 027"),
        "{}",
        stderr(&out)
    );
    // the configured umask and the caller's (022, the test's own) together
    sb.config(
        &envs_config(&[&sb.path("envs")])
            .string("umask", "007")
            .to_string(),
    );
    let status = ok(cenv_as(&sb, ALICE)
        .args(["run", "cv", "python", "-c", STATUS])
        .output()
        .unwrap());
    assert_eq!(status_field(&status, "Umask"), Some("0027"));
}

#[test]
fn the_env_owner_cannot_write_into_the_env_under_cenv() {
    require_root!();
    let sb = shared(&["cv"]);
    // Control: without cenv the owner can write into the env (permissions allow it).
    let control = ok(as_user(ADMIN, "/usr/bin/python3")
        .args(probe_args(&sb, "cv", ADMIN))
        .current_dir(sb.path("work"))
        .output()
        .unwrap());
    let control = probe_results(&control);
    assert_eq!(
        control.get("create").map(String::as_str),
        Some("OK"),
        "{control:?}"
    );
    assert_eq!(
        control.get("write_env_file_via_pkgs_link").map(String::as_str),
        Some("OK"),
        "{control:?}"
    );

    shared_layout(&sb, &[]);
    let _ = fs::remove_dir_all(sb.path("envs/cv"));
    shared_layout(&sb, &["cv"]);
    let out = ok(cenv_as(&sb, ADMIN)
        .args(["run", "cv", "python"])
        .args(probe_args(&sb, "cv", ADMIN))
        .output()
        .unwrap());
    assert_env_read_only_and_rest_writable(&probe_results(&out));
}

#[test]
fn landlock_off_leaves_the_env_writable_for_its_owner() {
    require_root!();
    let sb = shared(&["cv"]);
    sb.config(
        &envs_config(&[&sb.path("envs")])
            .string("landlock", "off")
            .to_string(),
    );
    let out = ok(cenv_as(&sb, ADMIN)
        .args(["run", "cv", "python"])
        .args(probe_args(&sb, "cv", ADMIN))
        .output()
        .unwrap());
    assert_eq!(probe_results(&out).get("create").map(String::as_str), Some("OK"));
}

#[test]
fn activate_scripts_run_confined_as_the_caller() {
    require_root!();
    let sb = shared(&["cv"]);
    let script = sb.write(
        "envs/cv/etc/conda/activate.d/try-write.sh",
        "if touch \"$CONDA_PREFIX/planted\" 2>/dev/null; then export SCRIPT_WROTE=yes; else export SCRIPT_WROTE=no; fi\n\
         export SCRIPT_UID=$(id -u) SCRIPT_UMASK=$(umask)\n",
    );
    chown_tree(&sb.path("envs/cv/etc"), user(ADMIN).uid, group_gid(RESEARCH));
    fs::set_permissions(&script, fs::Permissions::from_mode(0o640)).unwrap();
    let out = ok(cenv_as(&sb, ADMIN).args(["run", "cv", "env"]).output().unwrap());
    assert!(out.contains("SCRIPT_WROTE=no\n"), "{out}");
    assert!(
        out.contains(&format!("SCRIPT_UID={}\n", user(ADMIN).uid)),
        "{out}"
    );
    assert!(out.contains("SCRIPT_UMASK=0027\n"), "{out}");
    assert!(!sb.path("envs/cv/planted").exists());
}

#[test]
fn a_bind_mount_of_the_env_is_read_only_too() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"]);
    let alias = sb.mkdir("work/alias");
    sh(&[
        "mount",
        "--bind",
        sb.path("envs/cv").to_str().unwrap(),
        alias.to_str().unwrap(),
    ]);
    let out = cenv_as(&sb, ADMIN)
        .args(["run", "cv", "python", "-c"])
        .arg(format!(
            "open('{}/lib/data.txt', 'a').write('x')",
            alias.display()
        ))
        .output()
        .unwrap();
    sh(&["umount", alias.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PermissionError"), "{}", stderr(&out));
}

#[test]
fn root_via_sudo_runs_as_the_sudo_user() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"]);
    let sudoers = Path::new("/etc/sudoers.d/cenv-test");
    fs::write(
        sudoers,
        format!("{ALICE} ALL=(root) NOPASSWD: {}\n", cenv_binary().display()),
    )
    .unwrap();
    fs::set_permissions(sudoers, fs::Permissions::from_mode(0o440)).unwrap();
    // As root, --config is not honoured: name the env by path.
    let out = as_user(ALICE, "sudo")
        .args(["-n", "--"])
        .arg(cenv_binary())
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .args(["python", "-c"])
        .arg(format!("{STATUS}; import os; print('HOME=' + os.environ['HOME']); print('SUDO_USER=' + os.environ.get('SUDO_USER', '-'))"))
        .env("LD_PRELOAD", "")
        .env("PYTHONPATH", "/tmp/evil")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    fs::remove_file(sudoers).unwrap();
    let status = ok(out);
    assert_status_of(
        &status,
        ALICE,
        &["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"],
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), Some("1"));
    assert_eq!(status_field(&status, "Umask"), Some("0027"));
    let home = nix::unistd::User::from_name(ALICE).unwrap().unwrap().dir;
    assert!(status.contains(&format!("HOME={}\n", home.display())), "{status}");
    assert!(status.contains("SUDO_USER=-\n"), "env reset drops what sudo set");
}

#[test]
fn root_with_user_flag_drops_and_resets_the_environment() {
    require_root!();
    let sb = shared(&["cv"]);
    let alice = user(ALICE);
    let out = Command::new(cenv_binary())
        .args(["run", "--user", ALICE, "-p"])
        .arg(sb.path("envs/cv"))
        .args([
            "python",
            "-c",
            "import os, sys; print(os.getuid(), os.getgid()); print(sorted(os.environ))",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LD_LIBRARY_PATH", "/tmp")
        .env("PYTHONSTARTUP", "/tmp/x")
        .env("BASH_ENV", "/tmp/x")
        .env("IFS", "x")
        .env("LANG", "C.UTF-8")
        .env("TERM", "../../evil")
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    let out = ok(out);
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), format!("{} {}", alice.uid, alice.gid));
    let names = lines.next().unwrap();
    for gone in ["LD_LIBRARY_PATH", "PYTHONSTARTUP", "BASH_ENV", "'IFS'", "'TERM'"] {
        assert!(!names.contains(gone), "{gone} kept: {names}");
    }
    for kept in [
        "'LANG'",
        "'HOME'",
        "'USER'",
        "'LOGNAME'",
        "'SHELL'",
        "'CONDA_PREFIX'",
    ] {
        assert!(names.contains(kept), "{kept} missing: {names}");
    }
}

#[test]
fn a_user_flag_or_sudo_uid_from_an_ordinary_user_gives_nothing() {
    require_root!();
    let sb = shared(&["cv"]);
    let out = cenv_as(&sb, ALICE)
        .args(["run", "--user", BOB, "cv", "id", "-u"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("--user is accepted only when cenv is started by root"),
        "{}",
        stderr(&out)
    );
    // SUDO_UID from a non-root caller is ignored: the run is alice's own
    let out = ok(cenv_as(&sb, ALICE)
        .env("SUDO_UID", "0")
        .env("SUDO_USER", "root")
        .args(["run", "cv", "id", "-u"])
        .output()
        .unwrap());
    assert_eq!(out.trim(), user(ALICE).uid.to_string());
}

#[test]
fn a_privileged_run_ignores_config_from_the_caller() {
    require_root!();
    let sb = shared(&["cv"]);
    let out = Command::new(cenv_binary())
        .arg("--config")
        .arg(sb.path("cenv.toml"))
        .args(["run", "--user", ALICE, "cv", "true"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("CONDA_ENVS_PATH", sb.path("envs"))
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    // neither --config nor CONDA_ENVS_PATH points a privileged run at the env
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("ignoring config"), "{err}");
    assert!(
        err.contains("no env named 'cv'") && !err.contains(sb.path("envs").to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn a_setuid_or_setgid_install_is_refused() {
    require_root!();
    let sb = shared(&["cv"]);
    for mode in [0o4755, 0o2755] {
        let copy = sb.path("work/cenv-setuid");
        fs::copy(cenv_binary(), &copy).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(mode)).unwrap();
        let out = as_user(ALICE, &copy)
            .args(["run", "-p"])
            .arg(sb.path("envs/cv"))
            .arg("true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "mode {mode:o}");
        assert!(
            stderr(&out).contains(&format!("chmod u-s,g-s {}", copy.display())),
            "{}",
            stderr(&out)
        );
        fs::remove_file(&copy).unwrap();
    }
}

#[test]
fn enforce_fails_closed_without_landlock_and_best_effort_warns() {
    require_root!();
    let sb = shared(&["cv"]);
    let out = as_user(ALICE, "/usr/bin/python3")
        .arg(NO_LANDLOCK)
        .arg(cenv_binary())
        .arg("--config")
        .arg(sb.path("cenv.toml"))
        .args(["run", "cv", "true"])
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Landlock cannot make the env read-only"),
        "{}",
        stderr(&out)
    );

    sb.config(
        &envs_config(&[&sb.path("envs")])
            .string("landlock", "best-effort")
            .to_string(),
    );
    let out = as_user(ALICE, "/usr/bin/python3")
        .arg(NO_LANDLOCK)
        .arg(cenv_binary())
        .arg("--config")
        .arg(sb.path("cenv.toml"))
        .args(["run", "cv", "echo", "ran"])
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    assert_eq!(ok(&out), "ran\n");
    assert!(stderr(&out).contains("warning: Landlock"), "{}", stderr(&out));
}

#[test]
fn clean_env_gives_an_ordinary_user_the_reset_environment() {
    require_root!();
    let sb = shared(&["cv"]);
    let out = ok(cenv_as(&sb, ALICE)
        .env("PYTHONPATH", "/tmp/evil")
        .env("MY_SETTING", "1")
        .args(["run", "--clean-env", "cv", "env"])
        .output()
        .unwrap());
    assert!(!out.contains("PYTHONPATH="), "{out}");
    assert!(!out.contains("MY_SETTING="), "{out}");
    assert!(out.contains("USER=cenvt-alice\n"), "{out}");
    let out = ok(cenv_as(&sb, ALICE)
        .env("MY_SETTING", "1")
        .args(["run", "cv", "env"])
        .output()
        .unwrap());
    assert!(
        out.contains("MY_SETTING=1\n"),
        "an unprivileged run keeps the caller's environment"
    );
}

#[test]
fn setuid_programs_grant_nothing_inside_a_run() {
    require_root!();
    let sb = shared(&["cv"]);
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "sudo", "-n", "true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no new privileges"), "{}", stderr(&out));
}

// ---- the caller's own places stay writable (Landlock can only grant) ----

/// An env of alice's own at `prefix` (created, chowned to her).
fn own_env(sb: &Sandbox, prefix: &Path) {
    fs::create_dir_all(prefix.join("conda-meta")).unwrap();
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::write(
        prefix.join("conda-meta/python-3.11.2-h0_0.json"),
        "{\"name\": \"python\", \"version\": \"3.11.2\", \"build\": \"h0_0\"}",
    )
    .unwrap();
    let alice = user(ALICE);
    chown_tree(prefix, alice.uid, alice.gid);
    let _ = sb;
}

#[test]
fn a_run_never_loses_the_right_to_create_in_home_working_directory_or_tmpdir() {
    require_root!();
    let sb = shared(&["cv"]);
    let alice = user(ALICE);
    let home = nix::unistd::User::from_name(ALICE).unwrap().unwrap().dir;
    let proj = sb.mkdir("alice-proj");
    let tmpdir = sb.mkdir("alice-tmp");
    chown_tree(&proj, alice.uid, alice.gid);
    chown_tree(&tmpdir, alice.uid, alice.gid);
    let conda_home = home.join(".conda");
    let envs = [
        ("home", home.join(".conda/envs/penv")),
        ("cwd", proj.join("env")),
        ("tmpdir", tmpdir.join("env")),
    ];
    let probe = "for d in \"$HOME\" . \"$TMPDIR\" /tmp; do f=\"$d/cenv-own-$$\"; touch \"$f\" && rm \"$f\" && echo \"OK $d\"; done";
    for (label, prefix) in &envs {
        own_env(&sb, prefix);
        chown_tree(&conda_home, alice.uid, alice.gid);
        let out = as_user(ALICE, cenv_binary())
            .args(["run", "-v", "-p"])
            .arg(prefix)
            .args(["sh", "-c", probe])
            .env("TMPDIR", &tmpdir)
            .current_dir(&proj)
            .output()
            .unwrap();
        let text = stdout(&out);
        assert_eq!(text.matches("OK ").count(), 4, "{label}: {text}{}", stderr(&out));
        assert!(
            stderr(&out).contains("the env is writable: it is your own env"),
            "{label}: {}",
            stderr(&out)
        );
    }
    let _ = fs::remove_dir_all(&conda_home);
    // an env someone else owns, below alice's working directory: the working
    // directory wins, and the run says why the env is not read-only
    let theirs = proj.join("their-env");
    own_env(&sb, &theirs);
    chown_tree(&theirs, 0, 0);
    let out = as_user(ALICE, cenv_binary())
        .args(["run", "-v", "-p"])
        .arg(&theirs)
        .args(["sh", "-c", "touch ./made-$$ && echo MADE"])
        .current_dir(&proj)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("MADE"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("it lies in your working directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_env_of_a_shared_root_is_read_only_during_a_run_of_another() {
    require_root!();
    let sb = Sandbox::new();
    let names: Vec<String> = (0..1000).map(|i| format!("env{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).take(3).collect();
    shared_layout(&sb, &refs);
    for name in names.iter().skip(3) {
        fs::create_dir_all(sb.path(&format!("envs/{name}/conda-meta"))).unwrap();
    }
    let admin = user(ADMIN);
    chown_tree(&sb.path("envs"), admin.uid, group_gid(RESEARCH));
    sb.config(&envs_config(&[&sb.path("envs")]).to_string());
    let work = sb.mkdir("work");
    fs::set_permissions(&work, fs::Permissions::from_mode(0o1777)).unwrap();
    // the envs' owner runs env0 and tries to change env1, env999 and env0
    let probe = format!(
        "import errno\nfor p in ['{0}/env1/lib/data.txt', '{0}/env999/planted', '{0}/env0/lib/data.txt', '{0}/new-env']:\n  try:\n    open(p, 'a'); print('WRITTEN', p)\n  except OSError as e: print(errno.errorcode[e.errno], p)",
        sb.path("envs").display()
    );
    let out = cenv_as(&sb, ADMIN)
        .args(["run", "-v", "env0", "python", "-c", &probe])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(text.matches("EACCES").count(), 4, "{text}{}", stderr(&out));
    let err = stderr(&out);
    let landlock = err
        .lines()
        .find(|l| l.starts_with("cenv: landlock:"))
        .unwrap_or_default();
    assert!(
        landlock.contains(&format!("read-only: {}", sb.path("envs").display())),
        "{landlock}"
    );
    assert!(
        !landlock.contains("env999"),
        "the root is one tree, not 1,000: {landlock}"
    );
}
