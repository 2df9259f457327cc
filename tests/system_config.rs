//! The system config — the one file a privileged run reads — and the
//! settings only it may hold: who may run as root, how login shells are set
//! up, and what a user's own config may and may not change.
//!
//! Every test here writes the test build's system config
//! (`CENV_SYSTEM_CONFIG`), so every test holds `machine_lock`, and no test of
//! another file runs while one of these does (cargo runs test binaries one
//! after another): a user's `--config` elsewhere is never layered over a
//! config some other test wrote.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const STATUS: &str = "import os; print(open('/proc/self/status').read(), end='')";
const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

fn shared(envs: &[&str], extra_config: &str) -> Sandbox {
    shared_sandbox(envs, |sb| {
        envs_config(&[&sb.path("envs")]).raw(extra_config).to_string()
    })
}

#[test]
fn root_as_the_target_and_root_without_a_caller_are_refused() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    let root_cenv = || {
        let mut cmd = Command::new(cenv_binary());
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(sb.path("work"));
        cmd
    };
    for (extra_env, args) in [
        (Some(("SUDO_UID", "0")), vec![]),
        (None, vec!["--user", "root"]),
        (None, vec!["--user", "0"]),
    ] {
        let mut cmd = root_cenv();
        if let Some((k, v)) = extra_env {
            cmd.env(k, v);
        }
        let out = cmd
            .arg("run")
            .args(&args)
            .arg("-p")
            .arg(sb.path("envs/cv"))
            .arg("true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(stderr(&out).contains("uid 0"), "{}", stderr(&out));
    }
    let out = root_cenv()
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("--user NAME") && err.contains("allow_root = true"),
        "{err}"
    );

    // allow_root: runs as root, every capability set empty, Landlock in force
    // Root without capabilities is held to file permissions like anyone: use
    // a world-readable env of root's own.
    let Some(_config) = write_system_config("allow_root = true\n") else {
        return;
    };
    let root_env = sb.make_env("public/root-env");
    sb.write("public/root-env/data.txt", "x");
    let out = root_cenv()
        .args(["run", "-p"])
        .arg(&root_env)
        .args(["python", "-c"])
        .arg(format!("{STATUS}\nimport errno\ntry:\n open('{}/data.txt','a')\n print('WRITE=OK')\nexcept OSError as e:\n print('WRITE=' + errno.errorcode[e.errno])", root_env.display()))
        .output()
        .unwrap();
    let status = ok(out);
    assert_eq!(status_field(&status, "Uid"), Some("0\t0\t0\t0"));
    for cap in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] {
        assert_eq!(status_field(&status, cap), Some("0000000000000000"), "{cap}");
    }
    assert!(status.contains("WRITE=EACCES"), "{status}");
}

fn root_run(sb: &Sandbox) -> Output {
    Command::new(cenv_binary())
        .args(["run", "--user", ALICE, "cv", "echo", "ran"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(sb.path("work"))
        .output()
        .unwrap()
}

#[test]
fn the_system_config_must_be_root_owned_and_not_writable_by_others() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    let text = envs_config(&[&sb.path("envs")]).to_string();
    let Some(path) = write_system_config(&text) else {
        return;
    };
    let dir = path.parent().unwrap().to_owned();
    assert_eq!(ok(root_run(&sb)), "ran\n");

    let alice = user(ALICE);
    std::os::unix::fs::lchown(&path, Some(alice.uid), None).unwrap();
    let err = refused(root_run(&sb));
    assert!(
        err.contains(&format!(
            "refusing config {}: the file is owned by {ALICE}, not root; fix: chown root {}",
            path.display(),
            path.display()
        )),
        "{err}"
    );
    std::os::unix::fs::lchown(&path, Some(0), None).unwrap();

    chmod(&path, 0o664);
    let err = refused(root_run(&sb));
    assert!(
        err.contains("writable by its group") && err.contains("chmod go-w"),
        "{err}"
    );
    chmod(&path, 0o644);

    chmod(&dir, 0o777);
    let err = refused(root_run(&sb));
    assert!(
        err.contains(&format!(
            "refusing config {}: the directory is writable by everyone",
            dir.display()
        )),
        "{err}"
    );
    chmod(&dir, 0o755);

    path.rewrite("envs_dirs = [\n");
    let err = refused(root_run(&sb));
    assert!(
        err.contains(&format!("{}:1:14: unclosed array", path.display())),
        "{err}"
    );

    path.rewrite(&format!("{text}allow_rot = true\n"));
    let err = refused(root_run(&sb));
    assert!(
        err.contains(&format!("{}:2:1: unknown field `allow_rot`", path.display())),
        "{err}"
    );
}

#[test]
fn a_symlinked_system_config_is_judged_where_it_leads_and_a_dangling_one_is_refused() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    let Some(path) = test_system_config() else {
        skip("built without CENV_SYSTEM_CONFIG=PATH (tests/run-all.sh sets it)");
        return;
    };
    // config management keeps the file elsewhere; the research group may
    // write that directory
    let shared_conf = sb.mkdir("conf");
    let target = sb.write("conf/cenv.toml", &envs_config(&[&sb.path("envs")]).to_string());
    chmod(&target, 0o644);
    let _dir = HostDir::with_mode(path.parent().unwrap(), 0o755);
    let _link = HostFile::symlink(path, &target);
    assert_eq!(ok(root_run(&sb)), "ran\n", "control: a root-only target is used");
    std::os::unix::fs::lchown(&shared_conf, Some(0), Some(group_gid(RESEARCH))).unwrap();
    chmod(&shared_conf, 0o2775);
    let err = refused(root_run(&sb));
    assert!(
        err.contains(&format!("above the file it leads to, {}", target.display()))
            && err.contains("writable by the group"),
        "{err}"
    );
    let out = Command::new(cenv_binary()).arg("check-config").output().unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    // a member removes the file: the link leads nowhere, and that is no
    // reason to run with the defaults
    chmod(&shared_conf, 0o755);
    fs::remove_file(&target).unwrap();
    let err = refused(root_run(&sb));
    assert!(err.contains(&path.display().to_string()), "{err}");
}

/// The login integration installed system-wide for a test, as the package
/// installs it; everything it replaced comes back when it is dropped.
struct LoginInstall {
    _files: Vec<HostFile>,
}

const PROFILE_D: &str = "/etc/profile.d/cenv.sh";
const FISH_CONF: &str = "/etc/fish/conf.d/cenv.fish";
const ZPROFILE: &str = "/etc/zsh/zprofile";
const LINKED_BINARY: &str = "/usr/local/bin/cenv";

impl LoginInstall {
    fn new() -> LoginInstall {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |rel: &str| fs::read(repo.join(rel)).unwrap();
        let mut with_snippet = fs::read(ZPROFILE).unwrap_or_default();
        with_snippet.extend(read("packaging/zsh/zprofile-snippet.zsh"));
        LoginInstall {
            _files: vec![
                HostFile::write(PROFILE_D, read("packaging/profile.d/cenv.sh"), 0o644),
                HostFile::write(FISH_CONF, read("packaging/fish/cenv.fish"), 0o644),
                HostFile::write(ZPROFILE, with_snippet, 0o644),
                HostFile::symlink(LINKED_BINARY, cenv_binary()),
            ],
        }
    }
}

fn login(user: &str, shell: &str, command: &str) -> Output {
    let flags: &[&str] = match shell {
        "fish" => &["-l", "-c"],
        _ => &["-l", "-c"],
    };
    as_user(user, format!("/usr/bin/{shell}"))
        .args(flags)
        .arg(command)
        .output()
        .unwrap()
}

#[test]
fn login_shells_get_the_umask_and_the_default_env_of_their_group() {
    require_root!();
    let _lock = machine_lock();
    let sb = Sandbox::new();
    shared_layout(&sb, &["cv", "other"]);
    for rel in ["envs", "envs/other", "envs/other/conda-meta", "envs/other/bin"] {
        fs::set_permissions(sb.path(rel), fs::Permissions::from_mode(0o2755)).unwrap();
    }
    let config = envs_config(&[&sb.path("envs")])
        .list("login_umask_groups", &[RESEARCH])
        .table("default_envs")
        .string(RESEARCH, "cv")
        .to_string();
    let Some(_config) = write_system_config(&config) else {
        return;
    };
    let _install = LoginInstall::new();
    for shell in SHELLS {
        let probe = if shell == "fish" {
            "umask; echo \"[$CONDA_DEFAULT_ENV]\"; functions -q cenv; and echo function"
        } else {
            "umask; echo \"[${CONDA_DEFAULT_ENV-}]\"; type cenv >/dev/null 2>&1 && echo function"
        };
        // zsh prints a umask with three digits, bash and fish with four
        let normal = |out: &Output| {
            stdout(out)
                .replacen("027\n", "0027\n", 1)
                .replacen("022\n", "0022\n", 1)
                .replace("00027", "0027")
                .replace("00022", "0022")
        };
        let alice = login(ALICE, shell, probe);
        assert_eq!(
            normal(&alice),
            "0027\n[cv]\nfunction\n",
            "{shell}: {}",
            stderr(&alice)
        );
        assert_eq!(stderr(&alice), "", "{shell}");
        let bob = login(BOB, shell, probe);
        assert_eq!(normal(&bob), "0022\n[]\nfunction\n", "{shell}: {}", stderr(&bob));
        assert_eq!(stderr(&bob), "", "{shell}: silent when nothing applies");
    }
    // a user's own choice of default env
    let bob_home = nix::unistd::User::from_name(BOB).unwrap().unwrap().dir;
    fs::create_dir_all(bob_home.join(".config/cenv")).unwrap();
    fs::write(bob_home.join(".config/cenv/default-env"), "other\n").unwrap();
    let bob = login(BOB, "bash", "echo \"[${CONDA_DEFAULT_ENV-}]\"");
    fs::remove_dir_all(bob_home.join(".config/cenv")).unwrap();
    assert_eq!(stdout(&bob), "[other]\n", "{}", stderr(&bob));
}

/// Debian's ~/.bashrc, read after profile.d, sets PS1 afresh: the default
/// env's `(cv) ` is put back in front at the first prompt.
#[test]
fn the_default_env_shows_in_the_prompt_after_debians_bashrc_resets_it() {
    require_root!();
    let _lock = machine_lock();
    let sb = Sandbox::new();
    shared_layout(&sb, &["cv"]);
    let config = envs_config(&[&sb.path("envs")])
        .table("default_envs")
        .string(RESEARCH, "cv")
        .to_string();
    let Some(_config) = write_system_config(&config) else {
        return;
    };
    let _install = LoginInstall::new();
    let home = nix::unistd::User::from_name(ALICE).unwrap().unwrap().dir;
    // what /etc/skel gives every Debian user
    let _profile = HostFile::write(
        home.join(".profile"),
        "if [ -n \"$BASH_VERSION\" ] && [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n",
        0o644,
    );
    let _bashrc = HostFile::write(
        home.join(".bashrc"),
        "case $- in *i*) ;; *) return;; esac\nPS1='${debian_chroot:+($debian_chroot)}\\u@\\h:\\w\\$ '\n",
        0o644,
    );
    let mut child = as_user(ALICE, "/usr/bin/bash")
        .args(["--login", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"PS1=[$PS1]\"\ncenv deactivate\necho \"PS1=[$PS1]\"\nexit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("PS1=")).collect();
    assert_eq!(
        lines,
        [
            "PS1=[(cv) ${debian_chroot:+($debian_chroot)}\\u@\\h:\\w\\$ ]",
            "PS1=[${debian_chroot:+($debian_chroot)}\\u@\\h:\\w\\$ ]"
        ],
        "{text}{}",
        stderr(&out)
    );
}

/// `audit_login = false` keeps a login's activation of the default env out
/// of the audit trail (every `su - user -c` is a login); a refused one and
/// every run are still logged.
#[test]
fn audit_login_false_keeps_login_activations_out_of_the_trail_but_not_refusals() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = Sandbox::new();
    shared_layout(&sb, &["cv"]);
    let _install = LoginInstall::new();
    // bob (not in the group) chose cv for himself: his login's activation is refused
    let bob_home = nix::unistd::User::from_name(BOB).unwrap().unwrap().dir;
    let _choice = HostFile::write(bob_home.join(".config/cenv/default-env"), "cv\n", 0o644);
    let activations = |since: &Syslog, user: &str| {
        since
            .settled_text()
            .lines()
            .filter(|l| l.contains("cenv[") && l.contains(&format!("{user} : ")))
            .filter(|l| l.contains("COMMAND=activate --shell bash"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    for audit_login in [true, false] {
        let config = envs_config(&[&sb.path("envs")])
            .raw(&format!("audit_login = {audit_login}\n"))
            .table("default_envs")
            .string(RESEARCH, "cv")
            .to_string();
        let Some(_config) = write_system_config(&config) else {
            return;
        };
        let since = Syslog::start();
        let mark = unique_marker("login-run");
        let alice = login(
            ALICE,
            "bash",
            &format!("echo \"[${{CONDA_DEFAULT_ENV-}}]\"; cenv run cv true {mark}"),
        );
        assert_eq!(stdout(&alice), "[cv]\n", "{}", stderr(&alice));
        since.line_with(&mark);
        let lines = activations(&since, ALICE);
        assert_eq!(
            lines.len(),
            usize::from(audit_login),
            "audit_login = {audit_login}: {lines:?}"
        );
        let bob = login(BOB, "bash", "echo \"[${CONDA_DEFAULT_ENV-}]\"");
        assert_eq!(stdout(&bob), "[]\n", "{}", stderr(&bob));
        let refused = activations(&since, BOB);
        assert_eq!(refused.len(), 1, "audit_login = {audit_login}: {refused:?}");
        assert!(refused[0].contains("refused"), "{}", refused[0]);
    }
    drop(syslog);
}

#[test]
fn sudo_i_never_activates_the_invokers_default_env_in_roots_login_shell() {
    require_root!();
    let _lock = machine_lock();
    let sb = Sandbox::new();
    shared_layout(&sb, &["cv"]);
    let config = envs_config(&[&sb.path("envs")])
        .table("default_envs")
        .string(RESEARCH, "cv")
        .to_string();
    let Some(_config) = write_system_config(&config) else {
        return;
    };
    let _install = LoginInstall::new();
    // alice chose cv for herself too
    let alice_home = nix::unistd::User::from_name(ALICE).unwrap().unwrap().dir;
    let _choice = HostFile::write(alice_home.join(".config/cenv/default-env"), "cv\n", 0o644);
    let _rule = SudoRule::line("sudo-i", &format!("{ALICE} ALL=(root) NOPASSWD: ALL"));
    let sudo_i = |args: &[&str]| {
        as_user(ALICE, "sudo")
            .args(["-n", "-i"])
            .args(args)
            .output()
            .unwrap()
    };
    // control: alice's own login shell activates cv
    let own = login(ALICE, "bash", "echo \"[${CONDA_DEFAULT_ENV-}]\"");
    assert_eq!(stdout(&own), "[cv]\n", "{}", stderr(&own));
    // root's login shell, reached through sudo -i, gets nothing of hers
    let out = sudo_i(&["printenv", "USER", "PATH"]);
    let text = stdout(&out);
    assert!(text.starts_with("root\n"), "{text}{}", stderr(&out));
    assert!(
        !text.contains("envs/cv"),
        "the env's bin/ is in root's PATH: {text}"
    );
    let out = sudo_i(&["printenv", "CONDA_DEFAULT_ENV"]);
    assert_eq!(stdout(&out), "", "an env is active in root's shell");
    // nor does `cenv activate` typed in it print code for root's shell
    let out = sudo_i(&["cenv", "activate", "cv"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("for a shell of root's"), "{}", stderr(&out));
}

#[test]
fn allow_root_is_warned_about_and_a_root_run_cannot_write_system_directories() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    let Some(config) = write_system_config("allow_root = true\n") else {
        return;
    };
    let out = Command::new(cenv_binary()).arg("check-config").output().unwrap();
    let checked = stdout(&out);
    let env = sb.make_env("public/root-env");
    let probe = format!(
        "import errno\n\
         for path in ['/etc/cenv-landlock-probe', '/usr/cenv-landlock-probe', '{}/x']:\n\
         \x20   try:\n\
         \x20       open(path, 'w'); print(path, 'WRITTEN')\n\
         \x20   except OSError as e:\n\
         \x20       print(path, errno.errorcode[e.errno])\n",
        sb.path("work").display()
    );
    let out = Command::new(cenv_binary())
        .args(["run", "-p"])
        .arg(&env)
        .args(["python", "-c", &probe])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(config);
    let _ = fs::remove_file("/etc/cenv-landlock-probe");
    let _ = fs::remove_file("/usr/cenv-landlock-probe");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        checked.contains("allow_root = true") && checked.contains("/etc/shadow"),
        "{checked}"
    );
    let text = stdout(&out);
    assert!(text.contains("/etc/cenv-landlock-probe EACCES"), "{text}");
    assert!(text.contains("/usr/cenv-landlock-probe EACCES"), "{text}");
    assert!(text.contains("/work/x WRITTEN"), "{text}");
}

/// Lets users outside the research group read the env, so that the policy —
/// not file permissions — is what refuses them.
fn readable_by_all(sb: &Sandbox) {
    for rel in ["envs", "envs/cv", "envs/cv/bin", "envs/cv/conda-meta"] {
        chmod(sb.path(rel), 0o2755);
    }
}

#[test]
fn a_users_own_config_cannot_lift_the_system_policy() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    readable_by_all(&sb);
    let Some(path) = write_system_config(
        &envs_config(&[&sb.path("envs")])
            .table("envs.cv")
            .list("groups", &[RESEARCH])
            .to_string(),
    ) else {
        return;
    };
    let empty = sb.write("work/empty.toml", "");
    let lifting = sb.write(
        "work/lift.toml",
        &format!("trusted_owners = [\"{BOB}\"]\nstrict_permissions = false\nlandlock = \"off\"\numask = \"000\"\n[envs.cv]\nusers = [\"{BOB}\"]\n"),
    );
    for file in [&empty, &lifting] {
        chmod(file, 0o644);
        let out = as_user(BOB, cenv_binary())
            .env("CENV_CONFIG", file)
            .args(["run", "cv", "id", "-un"])
            .current_dir(sb.path("work"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{file:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains(&format!("{BOB} may not use env 'cv'")),
            "{}",
            stderr(&out)
        );
    }
    let out = as_user(BOB, cenv_binary())
        .env("CENV_CONFIG", &lifting)
        .args(["run", "cv", "true"])
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    for key in ["trusted_owners", "[envs.*] tables"] {
        assert!(
            stderr(&out).contains(&format!("ignoring {key}")),
            "{}",
            stderr(&out)
        );
    }
    // a member of the group still runs, with the system's umask, not 000
    let out = as_user(ALICE, cenv_binary())
        .env("CENV_CONFIG", &lifting)
        .args(["run", "cv", "sh", "-c", "umask"])
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    drop(path);
    assert_eq!(stdout(&out).trim(), "0027", "{}", stderr(&out));
}

#[test]
fn a_users_base_prefix_cannot_rename_a_restricted_env_to_base() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    readable_by_all(&sb);
    let Some(_config) = write_system_config(
        &envs_config(&[&sb.path("envs")])
            .table("envs.cv")
            .list("groups", &[RESEARCH])
            .to_string(),
    ) else {
        return;
    };
    let mine = sb.write(
        "work/base.toml",
        &format!("base_prefix = \"{}\"\n", sb.path("envs/cv").display()),
    );
    chmod(&mine, 0o644);
    let out = as_user(BOB, cenv_binary())
        .env("CENV_CONFIG", &mine)
        .args(["run", "base", "id", "-un"])
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "it ran: {}", stdout(&out));
    assert!(stderr(&out).contains("ignoring base_prefix"), "{}", stderr(&out));
}

#[test]
fn a_bind_mount_of_a_restricted_env_is_judged_by_the_env_it_is() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    readable_by_all(&sb);
    let Some(path) = write_system_config(
        &envs_config(&[&sb.path("envs")])
            .table("envs.cv")
            .list("groups", &[RESEARCH])
            .to_string(),
    ) else {
        return;
    };
    let alias = sb.mkdir("alias");
    sh(&[
        "mount",
        "--bind",
        sb.path("envs").to_str().unwrap(),
        alias.to_str().unwrap(),
    ]);
    let out = as_user(BOB, cenv_binary())
        .args(["run", "-p"])
        .arg(alias.join("cv"))
        .args(["id", "-un"])
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    sh(&["umount", alias.to_str().unwrap()]);
    drop(path);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("{BOB} may not use env")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_config_warns_about_settings_that_weaken_a_run_and_about_the_directories_above() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared(&["cv"], "");
    let weak = sb.write(
        "etc/weak.toml",
        "envs_dirs = [\"envs\", \"~/envs\", \"/opt/*/envs\"]\numask = \"022\"\nlandlock = \"off\"\n\
         notebook_any_ip = true\n[envs.x]\numask = \"002\"\nlandlock = \"off\"\n",
    );
    let out = Command::new(cenv_binary())
        .arg("check-config")
        .arg(&weak)
        .output()
        .unwrap();
    let report = stdout(&out);
    for expected in [
        "envs_dirs: envs is not an absolute path",
        "envs_dirs: ~/envs contains '~'",
        "envs_dirs: /opt/*/envs contains a glob character",
        "umask = \"022\" is looser than 027",
        "[envs.x] umask = \"002\" is looser",
        "landlock = \"off\"",
        "[envs.x] landlock = \"off\"",
        "notebook_any_ip = true: cenv notebook may serve beyond loopback",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }
    // a directory above the config that someone else owns
    let owned = sb.mkdir("bob-owns/etc");
    let alice = user(BOB);
    std::os::unix::fs::lchown(sb.path("bob-owns"), Some(alice.uid), None).unwrap();
    let config = sb.write("bob-owns/etc/cenv.toml", "");
    let _ = owned;
    let out = Command::new(cenv_binary())
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("bob-owns") && stdout(&out).contains(&format!("owned by {BOB}")),
        "{}",
        stdout(&out)
    );
}

/// One envs root per lab group (`2750 root:<lab>`): a root the caller cannot
/// enter is passed over as conda passes over envs dirs it cannot read, the
/// env found in the caller's lab's root; a name found nowhere is "not
/// accessible" in the first closed root; `list` shows a policy's name once.
#[test]
fn a_closed_envs_root_is_passed_over_and_a_policy_name_listed_once() {
    require_root!();
    let _lock = machine_lock();
    let sb = Sandbox::new();
    for env in [
        "lab-a/only-a",
        "lab-a/both",
        "lab-b/only-b",
        "lab-b/both",
        "lab-c/shadow",
        "lab-b/shadow",
    ] {
        sb.make_env(env);
    }
    // lab-a is another lab's: alice cannot look into it
    fs::set_permissions(sb.path("lab-a"), fs::Permissions::from_mode(0o700)).unwrap();
    // lab-c she can search, but its env shadow is closed to her: that stops
    // the search, lab-b's shadow never stands in for it
    fs::set_permissions(sb.path("lab-c/shadow"), fs::Permissions::from_mode(0o700)).unwrap();
    let config = envs_config(&[&sb.path("lab-a"), &sb.path("lab-c"), &sb.path("lab-b")])
        .table("envs.only-a")
        .list("groups", &[RESEARCH])
        .table("envs.only-b")
        .list("groups", &[RESEARCH])
        .to_string();
    let Some(_config) = write_system_config(&config) else {
        return;
    };
    let cenv = |args: &[&str]| as_user(ALICE, cenv_binary()).args(args).output().unwrap();
    let ran = cenv(&["run", "only-b", "printenv", "CONDA_PREFIX"]);
    assert_eq!(
        stdout(&ran),
        format!("{}\n", sb.path("lab-b/only-b").display()),
        "{}",
        stderr(&ran)
    );
    let both = cenv(&["run", "both", "printenv", "CONDA_PREFIX"]);
    assert_eq!(stdout(&both), format!("{}\n", sb.path("lab-b/both").display()));
    let nowhere = cenv(&["run", "nowhere", "true"]);
    assert_eq!(nowhere.status.code(), Some(125));
    assert!(
        stderr(&nowhere).contains(&format!(
            "env 'nowhere' in {} is not accessible to you",
            sb.path("lab-a").display()
        )),
        "{}",
        stderr(&nowhere)
    );
    let shadow = cenv(&["run", "shadow", "true"]);
    assert_eq!(shadow.status.code(), Some(125), "{}", stdout(&shadow));
    assert!(
        stderr(&shadow).contains(&format!(
            "env 'shadow' in {} is not accessible to you",
            sb.path("lab-c").display()
        )),
        "{}",
        stderr(&shadow)
    );
    let listed = stdout(&cenv(&["list"]));
    let rows = |name: &str| {
        listed
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .count()
    };
    assert_eq!(rows("only-b"), 1, "{listed}");
    assert_eq!(rows("only-a"), 1, "{listed}");
}

/// `cenv access` says what `cenv run` does: for every user and env of the
/// sandbox, "may use" exactly when the run starts — asked by the user, and
/// by root for the user (--user).
#[test]
fn access_agrees_with_run_for_every_user_and_env() {
    require_root!();
    let _lock = machine_lock();
    let sb = Sandbox::new();
    shared_layout(&sb, &["open", "research", "bobs", "nobody"]);
    // the open env lets others in by permissions too
    for rel in ["envs", "envs/open", "envs/open/conda-meta", "envs/open/bin"] {
        fs::set_permissions(sb.path(rel), fs::Permissions::from_mode(0o2755)).unwrap();
    }
    let config = envs_config(&[&sb.path("envs")])
        .table("envs.research")
        .list("groups", &[RESEARCH])
        .table("envs.bobs")
        .list("users", &[BOB])
        .table("envs.nobody")
        .list("groups", &["cenv-no-such-group"])
        .to_string();
    let Some(_config) = write_system_config(&config) else {
        return;
    };
    let envs = ["open", "research", "bobs", "nobody"];
    for user in [ALICE, BOB, ADMIN] {
        let as_them = as_user(user, cenv_binary())
            .args(["access", "--json"])
            .output()
            .unwrap();
        let by_root = Command::new(cenv_binary())
            .args(["access", "--json", "--user", user])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        for (who, out) in [("the user", &as_them), ("root", &by_root)] {
            assert!(out.status.success(), "{who} for {user}: {}", stderr(out));
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for env in envs {
                let row = json["envs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["env"] == env)
                    .unwrap_or_else(|| panic!("no {env} for {user}: {json}"));
                let ran = as_user(user, cenv_binary())
                    .args(["run", env, "true"])
                    .output()
                    .unwrap();
                assert_eq!(
                    row["may_use"].as_bool(),
                    Some(ran.status.success()),
                    "{who} says {row} for {user}, and run said: {}",
                    stderr(&ran)
                );
            }
        }
    }
    // why, as the user reads it
    let alice = stdout(&as_user(ALICE, cenv_binary()).arg("access").output().unwrap());
    assert!(
        alice.contains(&format!("member of the group {RESEARCH}")),
        "{alice}"
    );
    assert!(alice.contains("no such group cenv-no-such-group"), "{alice}");
    // another account's answer is root's to give
    let refused = as_user(ALICE, cenv_binary())
        .args(["access", "--user", BOB])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(125), "{}", stdout(&refused));
    // one env: who it is open to
    let env = stdout(
        &as_user(ALICE, cenv_binary())
            .args(["access", "--env", "research"])
            .output()
            .unwrap(),
    );
    assert!(
        env.contains(&format!("group {RESEARCH}: ")) && env.contains(ALICE),
        "{env}"
    );
}

/// An env that announces its retirement: the notice once on stderr (never
/// in a command's output, nor in the code activate prints), in the audit
/// line, in list, info and usage; past its until day, refused when the site
/// says so.
#[test]
fn a_deprecated_env_says_so_everywhere_but_stdout() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = Sandbox::new();
    shared_layout(&sb, &["soon", "old", "new"]);
    let policy = |after_until: &str| {
        envs_config(&[&sb.path("envs")])
            .string("after_until", after_until)
            .table("envs.soon")
            .string("description", "the soon env")
            .string("deprecated", "moving to new")
            .string("successor", "new")
            .string("until", "2999-12-31")
            .table("envs.old")
            .string("deprecated", "TF 1.15 is unmaintained")
            .string("successor", "new")
            .string("until", "2020-01-01")
            .to_string()
    };
    let Some(config) = write_system_config(&policy("warn")) else {
        return;
    };
    let cenv = |args: &[&str]| as_user(ALICE, cenv_binary()).args(args).output().unwrap();
    let mark = unique_marker("soon");
    let ran = cenv(&["run", "soon", "printf", &mark]);
    assert_eq!(stdout(&ran), mark, "the command's output is its own");
    let notice = "env 'soon' is deprecated: moving to new; use 'new' instead; until 2999-12-31";
    assert_eq!(stderr(&ran).matches(notice).count(), 1, "{}", stderr(&ran));
    let line = syslog.line_with(&mark);
    assert!(line.contains(" ; NOTICE=deprecated ; COMMAND="), "{line}");
    // activate prints code for the shell on stdout: the notice is not in it
    let activated = cenv(&["activate", "--shell", "bash", "soon"]);
    assert!(activated.status.success(), "{}", stderr(&activated));
    assert!(
        !stdout(&activated).contains("deprecated"),
        "{}",
        stdout(&activated)
    );
    assert_eq!(
        stderr(&activated).matches(notice).count(),
        1,
        "{}",
        stderr(&activated)
    );
    // past its until day: a warning by default, a refusal when the site says so
    let mark = unique_marker("old");
    let old = cenv(&["run", "old", "printf", &mark]);
    assert_eq!(stdout(&old), mark, "{}", stderr(&old));
    assert!(syslog
        .line_with(&mark)
        .contains("NOTICE=deprecated, past until 2020-01-01"));
    config.rewrite(&policy("refuse"));
    let mark = unique_marker("old-refused");
    let refused = cenv(&["run", "old", "printf", &mark]);
    assert_eq!(refused.status.code(), Some(125));
    assert!(
        stderr(&refused).contains("env 'old' is deprecated: TF 1.15 is unmaintained; use 'new' instead; until 2020-01-01: that day has passed"),
        "{}",
        stderr(&refused)
    );
    let line = syslog.line_with(&mark);
    assert!(
        line.contains("command refused") && line.contains("REASON=deprecated env, past until 2020-01-01"),
        "{line}"
    );
    // list, info, usage show it
    let listed = stdout(&cenv(&["list"]));
    let row = listed
        .lines()
        .find(|l| l.starts_with("soon "))
        .unwrap_or_default()
        .to_owned();
    assert!(
        row.ends_with("yes (deprecated: use new, until 2999-12-31)"),
        "{listed}"
    );
    let info = stdout(&cenv(&["info", "soon"]));
    assert!(info.contains("description:     the soon env"), "{info}");
    let usage = Command::new(cenv_binary())
        .args(["usage", "--json", "--log"])
        .arg(&syslog.log_file)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&usage.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&usage)));
    let soon = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "soon")
        .cloned()
        .unwrap();
    assert_eq!(soon["deprecated"]["successor"], "new", "{soon}");
    assert!(soon["runs"].as_u64().unwrap() >= 1, "{soon}");
}
