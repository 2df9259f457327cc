//! Who may use which env, whether the env can be trusted, and whether the
//! config can be trusted — as root, with real users and real permissions.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::{Command, Output};

use common::*;

fn shared(envs: &[&str], extra_config: &str) -> Sandbox {
    shared_sandbox(envs, |sb| {
        envs_config(&[&sb.path("envs")]).raw(extra_config).to_string()
    })
}

/// Lets users outside the research group read the envs, so that the policy
/// — not file permissions — is what admits or refuses them.
fn readable_by_all(sb: &Sandbox, envs: &[&str]) {
    chmod(sb.path("envs"), 0o2755);
    for env in envs {
        for rel in ["", "/bin", "/conda-meta"] {
            chmod(sb.path(&format!("envs/{env}{rel}")), 0o2755);
        }
    }
}

/// `cenv run ARGS...` as `user`.
fn cenv_run(sb: &Sandbox, user: &str, args: &[&str]) -> Output {
    cenv_as(sb, user).arg("run").args(args).output().unwrap()
}

#[test]
fn a_group_restricted_env_admits_members_and_refuses_others() {
    require_root!();
    let sb = shared(
        &["project-cv"],
        &format!("[envs.project-cv]\ngroups = [\"{RESEARCH}\"]\n"),
    );
    assert_eq!(ok(cenv_run(&sb, ALICE, &["project-cv", "echo", "ok"])), "ok\n");
    let err = refused(cenv_run(&sb, BOB, &["project-cv", "echo", "ok"]));
    let expected = format!(
        "cenv: {BOB} may not use env 'project-cv': it is open to the group {RESEARCH}, and {BOB} is not a member (ask the env's admin: {ADMIN})"
    );
    assert!(err.lines().any(|l| l == expected), "{err}");
    assert!(err.lines().any(|l| l == expected), "{err}");
    // with the envs readable, the answer is the same, and the policy follows
    // the env, not how it was named
    readable_by_all(&sb, &["project-cv"]);
    let err = refused(cenv_run(&sb, BOB, &["project-cv", "echo", "ok"]));
    assert!(err.lines().any(|l| l == expected), "{err}");
    let out = cenv_as(&sb, BOB)
        .arg("run")
        .arg("-p")
        .arg(sb.path("envs/project-cv"))
        .args(["echo", "ok"])
        .output()
        .unwrap();
    refused(&out);
}

#[test]
fn a_users_list_admits_named_users_only() {
    require_root!();
    let sb = shared(&["cv"], &format!("[envs.cv]\nusers = [\"{BOB}\"]\n"));
    readable_by_all(&sb, &["cv"]);
    assert_eq!(ok(cenv_run(&sb, BOB, &["cv", "echo", "ok"])), "ok\n");
    let err = refused(cenv_run(&sb, ALICE, &["cv", "true"]));
    assert!(
        err.contains(&format!(
            "it is open to the user {BOB}, and {ALICE} is not one of them"
        )),
        "{err}"
    );
}

#[test]
fn users_and_groups_together_and_default_groups() {
    require_root!();
    let sb = shared(
        &["cv", "open"],
        &format!(
            "default_groups = [\"{RESEARCH}\"]\n[envs.cv]\ngroups = [\"{RESEARCH}\"]\nusers = [\"{BOB}\"]\n"
        ),
    );
    readable_by_all(&sb, &["cv", "open"]);
    ok(cenv_run(&sb, BOB, &["cv", "true"]));
    ok(cenv_run(&sb, ALICE, &["cv", "true"]));
    // `open` has no table: default_groups applies
    ok(cenv_run(&sb, ALICE, &["open", "true"]));
    let err = refused(cenv_run(&sb, BOB, &["open", "true"]));
    assert!(err.contains(&format!("open to the group {RESEARCH}")), "{err}");
}

#[test]
fn a_group_given_by_gid_works_too() {
    require_root!();
    let gid = group_gid(RESEARCH);
    let sb = shared(&["cv"], &format!("[envs.cv]\ngroups = [{gid}]\n"));
    readable_by_all(&sb, &["cv"]);
    ok(cenv_run(&sb, ALICE, &["cv", "true"]));
    refused(cenv_run(&sb, BOB, &["cv", "true"]));
}

#[test]
fn per_env_overrides_apply() {
    require_root!();
    let sb = shared(&["cv"], "[envs.cv]\numask = \"077\"\nlandlock = \"off\"\n");
    let status = ok(cenv_run(&sb, ADMIN, &["cv", "cat", "/proc/self/status"]));
    assert_eq!(status_field(&status, "Umask"), Some("0077"));
    // landlock off for this env: its owner can write into it through cenv
    let target = sb.path("envs/cv/written-by-admin");
    ok(cenv_run(&sb, ADMIN, &["cv", "touch", target.to_str().unwrap()]));
    assert!(target.exists());
}

// ---- trust ----

/// Runs `cv` as alice after `damage` and expects a refusal naming `path` and `fix`.
fn assert_refused_for(damage: impl FnOnce(&Sandbox), path: &str, fix: &str) {
    assert_command_refused_for(damage, "true", path, fix)
}

fn assert_command_refused_for(damage: impl FnOnce(&Sandbox), command: &str, path: &str, fix: &str) {
    let sb = shared(&["cv"], "");
    damage(&sb);
    let err = refused(cenv_run(&sb, ALICE, &["cv", command]));
    let path = sb.path(path);
    assert!(
        err.contains(&format!("{} ", path.display())),
        "path {}: {err}",
        path.display()
    );
    assert!(
        err.contains(&format!("fix: {fix} {}", path.display())),
        "fix {fix}: {err}"
    );
}

#[test]
fn group_writable_paths_with_an_untrusted_group_are_refused() {
    require_root!();
    for rel in [
        "envs/cv",
        "envs/cv/bin",
        "envs/cv/conda-meta",
        "envs/cv/etc/conda/activate.d",
    ] {
        assert_refused_for(
            |sb| {
                sb.mkdir("envs/cv/etc/conda/activate.d");
                lchown_to(sb, "envs/cv/etc", ADMIN);
                chmod(sb.path(rel), 0o2770);
            },
            rel,
            "chmod g-w",
        );
    }
}

fn lchown_to(sb: &Sandbox, rel: &str, owner: &str) {
    chown_tree(&sb.path(rel), user(owner).uid, group_gid(RESEARCH));
}

#[test]
fn world_writable_paths_are_refused() {
    require_root!();
    for rel in ["envs/cv", "envs/cv/bin", "envs/cv/conda-meta"] {
        assert_refused_for(|sb| chmod(sb.path(rel), 0o2757), rel, "chmod o-w");
    }
}

#[test]
fn paths_owned_by_someone_untrusted_are_refused() {
    require_root!();
    for rel in ["envs/cv", "envs/cv/bin", "envs/cv/conda-meta"] {
        assert_refused_for(|sb| lchown_to(sb, rel, BOB), rel, "chown root");
    }
}

#[test]
fn a_planted_or_writable_command_or_script_is_refused() {
    require_root!();
    assert_command_refused_for(
        |sb| {
            sb.write_executable("envs/cv/bin/tool", "#!/bin/sh\necho tool\n");
            lchown_to(sb, "envs/cv/bin/tool", BOB);
        },
        "tool",
        "envs/cv/bin/tool",
        "chown root",
    );
    let sb = shared(&["cv"], "");
    sb.write_executable("envs/cv/bin/tool", "#!/bin/sh\necho tool\n");
    lchown_to(&sb, "envs/cv/bin/tool", ADMIN);
    chmod(sb.path("envs/cv/bin/tool"), 0o775);
    let err = refused(cenv_run(&sb, ALICE, &["cv", "tool"]));
    assert!(
        err.contains(&format!(
            "fix: chmod g-w {}",
            sb.path("envs/cv/bin/tool").display()
        )),
        "{err}"
    );
    assert_refused_for(
        |sb| {
            sb.write("envs/cv/etc/conda/activate.d/x.sh", "true\n");
            lchown_to(sb, "envs/cv/etc", ADMIN);
            chmod(sb.path("envs/cv/etc/conda/activate.d/x.sh"), 0o666);
        },
        "envs/cv/etc/conda/activate.d/x.sh",
        "chmod o-w",
    );
}

#[test]
fn a_world_writable_ancestor_needs_the_sticky_bit() {
    require_root!();
    let sb = shared(&["cv"], "");
    chmod(&sb.root, 0o777);
    let err = refused(cenv_run(&sb, ALICE, &["cv", "true"]));
    assert!(
        err.contains(&format!("fix: chmod o-w {}", sb.root.display())),
        "{err}"
    );
    chmod(&sb.root, 0o1777);
    ok(cenv_run(&sb, ALICE, &["cv", "true"]));
    chmod(&sb.root, 0o755);
}

#[test]
fn trusted_groups_and_owners_can_be_configured() {
    require_root!();
    let sb = shared(&["cv"], &format!("trusted_groups = [\"{RESEARCH}\"]\n"));
    chmod(sb.path("envs/cv/bin"), 0o2770);
    ok(cenv_run(&sb, ALICE, &["cv", "true"]));
    let sb = shared(&["cv"], &format!("trusted_owners = [\"{ADMIN}\", \"{BOB}\"]\n"));
    lchown_to(&sb, "envs/cv/bin", BOB);
    ok(cenv_run(&sb, ALICE, &["cv", "true"]));
    // naming trusted_owners replaces the default (the envs root's owner)
    sb.config(
        &envs_config(&[&sb.path("envs")])
            .list("trusted_owners", &[BOB])
            .to_string(),
    );
    let err = refused(cenv_run(&sb, ALICE, &["cv", "true"]));
    assert!(
        err.contains(&format!("owned by {ADMIN}, who is not a trusted owner")),
        "{err}"
    );
}

#[test]
fn strict_permissions_false_warns_and_runs() {
    require_root!();
    let sb = shared(&["cv"], "strict_permissions = false\n");
    chmod(sb.path("envs/cv/bin"), 0o2777);
    let out = cenv_run(&sb, ALICE, &["cv", "echo", "ran"]);
    assert_eq!(ok(&out), "ran\n");
    let err = stderr(&out);
    assert!(
        err.contains("warning: env 'cv' would be refused") && err.contains("chmod o-w"),
        "{err}"
    );
}

#[test]
fn a_bin_swapped_for_a_symlink_after_the_check_is_not_followed() {
    require_root!();
    let sb = shared(&["cv"], "[envs.cv]\nlandlock = \"off\"\n");
    sb.write_executable("evil/python", "#!/bin/sh\necho EVIL\n");
    // The admin's own activation script swaps bin/ between the check and exec.
    sb.write(
        "envs/cv/etc/conda/activate.d/swap.sh",
        "mv \"$CONDA_PREFIX/bin\" \"$CONDA_PREFIX/bin.real\"\nln -s \"$EVIL_DIR\" \"$CONDA_PREFIX/bin\"\n",
    );
    lchown_to(&sb, "envs/cv/etc", ADMIN);
    chmod(sb.path("envs/cv/etc/conda/activate.d/swap.sh"), 0o640);
    let out = cenv_as(&sb, ADMIN)
        .env("EVIL_DIR", sb.path("evil"))
        .args(["run", "cv", "python", "-c", "print('GOOD')"])
        .output()
        .unwrap();
    let err = refused(&out);
    assert!(!stdout(&out).contains("EVIL"), "followed the swapped bin");
    assert!(
        err.contains(&format!(
            "{} changed after cenv checked it",
            sb.path("envs/cv/bin").display()
        )),
        "{err}"
    );
}

#[test]
fn a_symlinked_component_is_judged_as_a_symlink() {
    require_root!();
    let sb = shared(&["cv"], "");
    fs::rename(sb.path("envs/cv/conda-meta"), sb.path("envs/cv/conda-meta.real")).unwrap();
    symlink(sb.path("envs/cv/conda-meta.real"), sb.path("envs/cv/conda-meta")).unwrap();
    let err = refused(cenv_run(&sb, ALICE, &["cv", "true"]));
    assert!(err.contains("conda-meta is a symlink"), "{err}");
}

// ---- the system config ----

#[test]
fn check_config_reports_every_problem_and_exits_non_zero() {
    require_root!();
    let sb = shared(&["cv"], "");
    let good = sb.write(
        "etc/good.toml",
        &envs_config(&[&sb.path("envs")])
            .list("default_groups", &[RESEARCH])
            .table("envs.cv")
            .list("users", &[BOB])
            .to_string(),
    );
    let out = Command::new(cenv_binary())
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), format!("{}: OK\n", good.display()));

    let bad = sb.write(
        "etc/bad.toml",
        &envs_config(&[&sb.path("envs")])
            .list("default_groups", &["no-such-group-x"])
            .table("envs.missing-env")
            .list("users", &["no-such-user-x"])
            .to_string(),
    );
    chmod(&bad, 0o666);
    let out = Command::new(cenv_binary())
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    for expected in [
        "writable by everyone",
        "default_groups: no group named 'no-such-group-x'",
        "[envs.missing-env] users: no user named 'no-such-user-x'",
        "[envs.missing-env]: no such env",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }

    let syntax = sb.write("etc/syntax.toml", "envs_dirs = [\"/x\"]\numask = 27\n");
    let out = Command::new(cenv_binary())
        .arg("check-config")
        .arg(&syntax)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!("{}:2:9:", syntax.display())),
        "{}",
        stdout(&out)
    );
}
