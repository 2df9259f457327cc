//! `cenv run` end to end: the real binary, run as an ordinary user, against
//! conda-layout envs built in temporary directories.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::*;

fn sandbox_with_envs(names: &[&str]) -> Sandbox {
    let sb = Sandbox::new();
    for name in names {
        sb.make_env(&format!("envs/{name}"));
    }
    sb.config(&envs_config(&[&sb.path("envs")]).to_string());
    sb
}

fn env_of(sb: &Sandbox, args: &[&str]) -> Vec<(String, String)> {
    let mut cmd = sb.cenv();
    cmd.arg("run").args(args).args(["env", "-0"]);
    run_env(cmd)
}

// ---- activation, case by case (conda/activate.py behaviour) ----

#[test]
fn fresh_shell_activation() {
    let sb = sandbox_with_envs(&["cv"]);
    let prefix = sb.path("envs/cv");
    let env = env_of(&sb, &["cv"]);
    assert_eq!(
        get(&env, "PATH"),
        Some(format!("{}/bin:/usr/local/bin:/usr/bin:/bin", prefix.display()).as_str())
    );
    assert_eq!(get(&env, "CONDA_PREFIX"), Some(prefix.to_str().unwrap()));
    assert_eq!(get(&env, "CONDA_SHLVL"), Some("1"));
    assert_eq!(get(&env, "CONDA_DEFAULT_ENV"), Some("cv"));
    assert_eq!(get(&env, "CONDA_PROMPT_MODIFIER"), Some("(cv) "));
    // no base install configured: no conda executables to point at
    assert_eq!(get(&env, "CONDA_EXE"), None);
    assert_eq!(get(&env, "CONDA_PYTHON_EXE"), None);
    // the caller's variables are kept
    assert_eq!(get(&env, "LANG"), Some("C.UTF-8"));
}

#[test]
fn already_activated_shell_replaces_the_bin_entry() {
    let sb = sandbox_with_envs(&["old", "new"]);
    let old = sb.path("envs/old");
    let new = sb.path("envs/new");
    sb.write(
        "envs/old/etc/conda/deactivate.d/b.sh",
        "export DEACT_ORDER=\"${DEACT_ORDER}b\"\n",
    );
    sb.write(
        "envs/old/etc/conda/deactivate.d/a.sh",
        "export DEACT_ORDER=\"${DEACT_ORDER}a\"; export SAW_OLD_PREFIX=\"$CONDA_PREFIX\"\n",
    );
    let mut cmd = sb.cenv();
    cmd.env("PATH", format!("/x:{}/bin:/usr/bin", old.display()))
        .env("CONDA_PREFIX", &old)
        .env("CONDA_SHLVL", "1")
        .env("CONDA_DEFAULT_ENV", "old")
        .args(["run", "new", "env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(
        get(&env, "PATH"),
        Some(format!("/x:{}/bin:/usr/bin", new.display()).as_str())
    );
    assert_eq!(get(&env, "CONDA_SHLVL"), Some("2"));
    assert_eq!(get(&env, "CONDA_PREFIX"), Some(new.to_str().unwrap()));
    assert_eq!(get(&env, "CONDA_PREFIX_1"), Some(old.to_str().unwrap()));
    assert_eq!(get(&env, "CONDA_DEFAULT_ENV"), Some("new"));
    // the old env's deactivate.d scripts ran, in reverse order, before the exports
    assert_eq!(get(&env, "DEACT_ORDER"), Some("ba"));
    assert_eq!(get(&env, "SAW_OLD_PREFIX"), Some(old.to_str().unwrap()));
}

#[test]
fn old_prefix_missing_from_path_puts_new_bin_first() {
    let sb = sandbox_with_envs(&["new"]);
    let new = sb.path("envs/new");
    let mut cmd = sb.cenv();
    cmd.env("PATH", "/usr/bin:/bin")
        .env("CONDA_PREFIX", "/gone")
        .env("CONDA_SHLVL", "1");
    cmd.args(["run", "new", "env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(
        get(&env, "PATH"),
        Some(format!("{}/bin:/usr/bin:/bin", new.display()).as_str())
    );
    assert_eq!(get(&env, "CONDA_PREFIX_1"), Some("/gone"));
}

#[test]
fn reactivating_the_active_prefix_keeps_the_level() {
    let sb = sandbox_with_envs(&["cv"]);
    let prefix = sb.path("envs/cv");
    let mut cmd = sb.cenv();
    cmd.env("PATH", format!("/a:{}/bin:/usr/bin", prefix.display()))
        .env("CONDA_PREFIX", &prefix)
        .env("CONDA_SHLVL", "1")
        .env("CONDA_DEFAULT_ENV", "cv")
        .args(["run", "cv", "env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(get(&env, "CONDA_SHLVL"), Some("1"));
    assert_eq!(
        get(&env, "PATH"),
        Some(format!("/a:{}/bin:/usr/bin", prefix.display()).as_str())
    );
    assert_eq!(get(&env, "CONDA_PREFIX_1"), None);
}

#[test]
fn base_env_and_conda_executables() {
    let sb = Sandbox::new();
    let base = sb.make_env("miniconda");
    sb.write_executable("miniconda/bin/conda", "#!/bin/sh\n");
    sb.make_env("miniconda/envs/cv");
    sb.config(&format!("envs_dirs = []\nbase_prefix = \"{}\"\n", base.display()));
    let env = env_of(&sb, &["base"]);
    assert_eq!(get(&env, "CONDA_DEFAULT_ENV"), Some("base"));
    assert_eq!(get(&env, "CONDA_PROMPT_MODIFIER"), Some("(base) "));
    let expected_path = format!(
        "{0}/bin:{0}/condabin:/usr/local/bin:/usr/bin:/bin",
        base.display()
    );
    assert_eq!(get(&env, "PATH"), Some(expected_path.as_str()));
    assert_eq!(
        get(&env, "CONDA_EXE"),
        Some(format!("{}/bin/conda", base.display()).as_str())
    );
    assert_eq!(
        get(&env, "_CONDA_EXE"),
        Some(format!("{}/bin/conda", base.display()).as_str())
    );
    assert_eq!(
        get(&env, "CONDA_PYTHON_EXE"),
        Some(format!("{}/bin/python", base.display()).as_str())
    );
    assert_eq!(get(&env, "_CONDA_ROOT"), Some(base.to_str().unwrap()));
    // `root` is the same env; a named env under base/envs is found too
    assert_eq!(get(&env_of(&sb, &["root"]), "CONDA_DEFAULT_ENV"), Some("base"));
    assert_eq!(get(&env_of(&sb, &["cv"]), "CONDA_DEFAULT_ENV"), Some("cv"));
}

#[test]
fn base_without_base_prefix_is_a_clear_error() {
    let sb = sandbox_with_envs(&[]);
    let out = sb.cenv().args(["run", "base", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("no base_prefix is set"), "{}", stderr(&out));
}

#[test]
fn env_outside_an_envs_directory_is_named_by_its_path() {
    let sb = Sandbox::new();
    let prefix = sb.make_env("projects/cv-env");
    let mut cmd = sb.cenv();
    cmd.arg("run").arg("-p").arg(&prefix).args(["env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(get(&env, "CONDA_DEFAULT_ENV"), Some(prefix.to_str().unwrap()));
    assert_eq!(
        get(&env, "CONDA_PROMPT_MODIFIER"),
        Some(format!("({}) ", prefix.display()).as_str())
    );
}

#[test]
fn state_vars_override_package_vars_and_are_upper_cased() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write(
        "envs/cv/etc/conda/env_vars.d/b.json",
        r#"{"from_b": "b", "shared": "from-b"}"#,
    );
    sb.write(
        "envs/cv/etc/conda/env_vars.d/a.json",
        r#"{"shared": "from-a", "ONLY_A": "a"}"#,
    );
    sb.write(
        "envs/cv/conda-meta/state",
        r#"{"env_vars": {"shared": "from-state", "data_dir": "/data/cv"}}"#,
    );
    let env = env_of(&sb, &["cv"]);
    assert_eq!(get(&env, "SHARED"), Some("from-state"));
    assert_eq!(get(&env, "FROM_B"), Some("b"));
    assert_eq!(get(&env, "ONLY_A"), Some("a"));
    assert_eq!(get(&env, "DATA_DIR"), Some("/data/cv"));
    assert_eq!(get(&env, "shared"), None);
}

#[test]
fn unset_marker_sets_nothing_and_removes_nothing() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write(
        "envs/cv/etc/conda/env_vars.d/pkg.json",
        r#"{"FROM_PKG": "x", "KEEP_ME": "pkg"}"#,
    );
    sb.write(
        "envs/cv/conda-meta/state",
        r#"{"env_vars": {"FROM_PKG": "***unset***", "KEEP_ME": "***unset***"}}"#,
    );
    let mut cmd = sb.cenv();
    cmd.env("KEEP_ME", "caller").args(["run", "cv", "env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(get(&env, "FROM_PKG"), None);
    assert_eq!(get(&env, "KEEP_ME"), Some("caller"));
    assert_eq!(get(&env, "__CONDA_SHLVL_0_KEEP_ME"), None);
}

#[test]
fn overwritten_caller_variable_is_saved_for_deactivation() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write(
        "envs/cv/conda-meta/state",
        r#"{"env_vars": {"OMP_NUM_THREADS": "4"}}"#,
    );
    let mut cmd = sb.cenv();
    cmd.env("OMP_NUM_THREADS", "64").args(["run", "cv", "env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(get(&env, "OMP_NUM_THREADS"), Some("4"));
    assert_eq!(get(&env, "__CONDA_SHLVL_0_OMP_NUM_THREADS"), Some("64"));
}

#[test]
fn path_is_reserved_and_invalid_names_are_skipped_with_a_warning() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write(
        "envs/cv/conda-meta/state",
        r#"{"env_vars": {"PATH": "/evil", "BAD-NAME": "x", "1X": "y", "GOOD": "z"}}"#,
    );
    let out = sb.cenv().args(["run", "cv", "env", "-0"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let env = parse_env0(&out.stdout);
    assert!(get(&env, "PATH")
        .unwrap()
        .ends_with(":/usr/local/bin:/usr/bin:/bin"));
    assert!(!get(&env, "PATH").unwrap().contains("/evil"));
    assert_eq!(get(&env, "GOOD"), Some("z"));
    assert_eq!(get(&env, "BAD-NAME"), None);
    let err = stderr(&out);
    assert!(err.contains("PATH is reserved"), "{err}");
    assert!(err.contains("\"BAD-NAME\" is not a valid variable name"), "{err}");
    assert!(err.contains("\"1X\" is not a valid variable name"), "{err}");
}

#[test]
fn invalid_state_json_is_a_clear_error() {
    let sb = sandbox_with_envs(&["cv"]);
    let state = sb.write("envs/cv/conda-meta/state", "{\"env_vars\": {");
    let out = sb.cenv().args(["run", "cv", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains(state.to_str().unwrap()), "{}", stderr(&out));
}

#[test]
fn activate_scripts_run_sorted_after_the_exports_and_may_export_and_unset() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write("envs/cv/conda-meta/state", r#"{"env_vars": {"STATE_VAR": "s"}}"#);
    sb.write(
        "envs/cv/etc/conda/activate.d/20-second.sh",
        "export ORDER=\"${ORDER}2\"\nunset TO_REMOVE\n",
    );
    sb.write("envs/cv/etc/conda/activate.d/10-first.sh", "export ORDER=\"${ORDER}1\"\nexport SAW_STATE=\"$STATE_VAR\"\nexport SAW_PREFIX=\"$CONDA_PREFIX\"\nexport MULTI='line one\nline two'\n");
    sb.write(
        "envs/cv/etc/conda/activate.d/ignored.csh",
        "setenv NOT_SOURCED 1\n",
    );
    let mut cmd = sb.cenv();
    cmd.env("TO_REMOVE", "x").args(["run", "cv", "env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(get(&env, "ORDER"), Some("12"));
    assert_eq!(get(&env, "SAW_STATE"), Some("s"));
    assert_eq!(
        get(&env, "SAW_PREFIX"),
        Some(sb.path("envs/cv").to_str().unwrap())
    );
    assert_eq!(get(&env, "MULTI"), Some("line one\nline two"));
    assert_eq!(get(&env, "TO_REMOVE"), None);
    assert_eq!(get(&env, "NOT_SOURCED"), None);
}

#[test]
fn script_output_goes_to_the_callers_stdout_and_the_shell_leaves_no_trace() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write("envs/cv/etc/conda/activate.d/noop.sh", "echo activating >&2\n");
    let with_script = sb.cenv().args(["run", "cv", "env", "-0"]).output().unwrap();
    assert!(with_script.status.success());
    assert!(stderr(&with_script).contains("activating"));
    std::fs::remove_file(sb.path("envs/cv/etc/conda/activate.d/noop.sh")).unwrap();
    let without = sb.cenv().args(["run", "cv", "env", "-0"]).output().unwrap();
    // the shell path and the direct path produce the same environment
    let mut a = parse_env0(&with_script.stdout);
    let mut b = parse_env0(&without.stdout);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn a_script_that_exits_stops_the_run() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write("envs/cv/etc/conda/activate.d/bad.sh", "exit 3\n");
    let out = sb.cenv().args(["run", "cv", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("activation scripts of"), "{}", stderr(&out));
}

#[test]
fn unset_path_starts_from_usr_bin() {
    let sb = sandbox_with_envs(&["cv"]);
    let mut cmd = sb.cenv();
    cmd.env_remove("PATH").args(["run", "cv", "/usr/bin/env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(
        get(&env, "PATH"),
        Some(format!("{}/bin:/usr/bin", sb.path("envs/cv").display()).as_str())
    );
}

// ---- resolving names ----

#[test]
fn config_dirs_are_searched_in_order() {
    let sb = Sandbox::new();
    sb.make_env("first/cv");
    sb.make_env("second/cv");
    sb.make_env("second/only-second");
    sb.mkdir("first/not-an-env/bin");
    sb.make_env("second/not-an-env");
    sb.config(&envs_config(&[&sb.path("first"), &sb.path("second")]).to_string());
    assert_eq!(
        get(&env_of(&sb, &["cv"]), "CONDA_PREFIX"),
        Some(sb.path("first/cv").to_str().unwrap())
    );
    assert_eq!(
        get(&env_of(&sb, &["only-second"]), "CONDA_PREFIX"),
        Some(sb.path("second/only-second").to_str().unwrap())
    );
    // a directory without conda-meta/ is not an env: the search goes on
    assert_eq!(
        get(&env_of(&sb, &["not-an-env"]), "CONDA_PREFIX"),
        Some(sb.path("second/not-an-env").to_str().unwrap())
    );
}

#[test]
fn conda_places_follow_the_config_for_an_unprivileged_caller() {
    let sb = Sandbox::new();
    sb.make_env("system/shared");
    sb.make_env("from-var/shared");
    sb.make_env("from-var/mine");
    sb.make_env("from-condarc/rc-env");
    sb.make_env("home/.conda/envs/home-env");
    sb.write(
        "home/.condarc",
        &format!("envs_dirs:\n  - {}\n", sb.path("from-condarc").display()),
    );
    sb.config(&envs_config(&[&sb.path("system")]).to_string());
    sb.chown_home_to_runner();
    let run = |name: &str| {
        let mut cmd = sb.cenv();
        cmd.env("CONDA_ENVS_PATH", sb.path("from-var"))
            .args(["run", name, "env", "-0"]);
        get(&run_env(cmd), "CONDA_PREFIX").unwrap().to_owned()
    };
    assert_eq!(run("shared"), sb.path("system/shared").to_str().unwrap());
    assert_eq!(run("mine"), sb.path("from-var/mine").to_str().unwrap());
    assert_eq!(run("rc-env"), sb.path("from-condarc/rc-env").to_str().unwrap());
    assert_eq!(
        run("home-env"),
        sb.path("home/.conda/envs/home-env").to_str().unwrap()
    );
}

#[test]
fn cenv_config_variable_selects_the_config_for_an_unprivileged_caller() {
    let sb = sandbox_with_envs(&["cv"]);
    let config = sb.path("cenv.toml");
    let other = sb.write("other.toml", &envs_config(&[&sb.path("envs")]).to_string());
    std::fs::remove_file(&config).unwrap();
    let mut cmd = sb.cenv();
    cmd.env("CENV_CONFIG", &other).args(["run", "cv", "true"]);
    assert!(cmd.status().unwrap().success());
}

#[test]
fn bad_names_are_rejected_with_a_reason() {
    let sb = sandbox_with_envs(&["cv"]);
    for (name, reason) in [
        ("..", "start with a letter or digit"),
        ("../cv", "cannot contain '/'"),
        ("a/b", "cannot contain '/'"),
        ("", "empty"),
        ("-x", "start with a letter or digit"),
        (".hidden", "start with a letter or digit"),
        ("a b", "only contain letters"),
        (&"x".repeat(256), "longer than 255"),
    ] {
        let out = sb.cenv().args(["run", "--", name, "true"]).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{name:?}");
        assert!(stderr(&out).contains(reason), "{name:?}: {}", stderr(&out));
    }
}

#[test]
fn non_utf8_name_is_rejected() {
    let sb = sandbox_with_envs(&["cv"]);
    let out = sb
        .cenv()
        .arg("run")
        .arg(std::ffi::OsStr::from_bytes(b"c\xffv"))
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("invalid env name"), "{}", stderr(&out));
}

#[test]
fn missing_env_says_what_was_searched_and_suggests() {
    let sb = sandbox_with_envs(&["project-cv"]);
    let out = sb.cenv().args(["run", "projct-cv", "python"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    let expected = format!(
        "cenv: no env named 'projct-cv' in {}, {}/.conda/envs (did you mean 'project-cv'?)",
        sb.path("envs").display(),
        sb.home().display()
    );
    assert!(err.lines().any(|l| l == expected), "{err}");
}

#[test]
fn prefix_without_conda_meta_is_refused() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("not-an-env/bin");
    let out = sb
        .cenv()
        .arg("run")
        .arg("-p")
        .arg(dir.parent().unwrap())
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("is not a conda env: it has no conda-meta/"),
        "{}",
        stderr(&out)
    );
    let out = sb
        .cenv()
        .arg("run")
        .arg("-p")
        .arg(sb.path("nowhere"))
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
}

#[test]
fn symlinked_prefix_is_canonicalized() {
    let sb = Sandbox::new();
    let real = sb.make_env("real/cv");
    symlink(&real, sb.path("link")).unwrap();
    let mut cmd = sb.cenv();
    cmd.arg("run").arg("-p").arg(sb.path("link")).args(["env", "-0"]);
    let env = run_env(cmd);
    assert_eq!(get(&env, "CONDA_PREFIX"), Some(real.to_str().unwrap()));
    assert!(get(&env, "PATH")
        .unwrap()
        .starts_with(&format!("{}/bin:", real.display())));
}

#[test]
fn python_sees_the_env_as_its_prefix() {
    let sb = sandbox_with_envs(&["cv"]);
    let out = sb
        .cenv()
        .args(["run", "cv", "python", "-c", "import sys; print(sys.prefix)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), sb.path("envs/cv").to_str().unwrap());
}

#[test]
fn config_errors_name_line_and_column() {
    let sb = sandbox_with_envs(&["cv"]);
    let config = sb.config("envs_dirs = []\nenv_dirs = [\"/x\"]\n");
    let out = sb.cenv().args(["run", "cv", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    let expected = format!("cenv: {}:2:1: unknown field `env_dirs`", config.display());
    assert!(err.lines().any(|l| l.starts_with(&expected)), "{err}");
}

// ---- exec ----

#[test]
fn not_found_is_127_and_not_executable_is_126() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write("envs/cv/bin/not-exec", "#!/bin/sh\n");
    let out = sb.cenv().args(["run", "cv", "no-such-command"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("no-such-command: command not found"),
        "{}",
        stderr(&out)
    );
    let out = sb.cenv().args(["run", "cv", "not-exec"]).output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(
        stderr(&out).contains("not-exec: cannot execute"),
        "{}",
        stderr(&out)
    );
    let out = sb.cenv().args(["run", "cv", "./missing/path"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    let out = sb
        .cenv()
        .arg("run")
        .arg("cv")
        .arg(sb.path("envs/cv/bin"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    sb.write_executable("envs/cv/bin/bad-interp", "#!/nonexistent/interpreter\n");
    let out = sb.cenv().args(["run", "cv", "bad-interp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("interpreter was not found"),
        "{}",
        stderr(&out)
    );
    let out = sb.cenv().args(["run", "cv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn command_from_the_env_wins_over_the_system() {
    let sb = sandbox_with_envs(&["cv"]);
    sb.write_executable("envs/cv/bin/ls", "#!/bin/sh\necho env-ls\n");
    let out = sb.cenv().args(["run", "cv", "ls"]).output().unwrap();
    assert_eq!(stdout(&out), "env-ls\n");
}

#[test]
fn exit_code_is_the_commands_own() {
    let sb = sandbox_with_envs(&["cv"]);
    let out = sb
        .cenv()
        .args(["run", "cv", "python", "-c", "raise SystemExit(7)"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let out = sb
        .cenv()
        .args(["run", "cv", "--", "python", "-c", "raise SystemExit(0)"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn stdin_passes_through() {
    let sb = sandbox_with_envs(&["cv"]);
    let mut child = sb
        .cenv()
        .args([
            "run",
            "cv",
            "python",
            "-c",
            "import sys; print(sys.stdin.read().upper(), end='')",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\nworld\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "HELLO\nWORLD\n");
}

#[test]
fn the_command_is_the_process_and_receives_signals_itself() {
    let sb = sandbox_with_envs(&["cv"]);
    let script = "import os, signal, sys, time\n\
                  signal.signal(signal.SIGUSR1, lambda *a: (os.write(1, b'got SIGUSR1\\n'), os._exit(3)))\n\
                  print(os.getpid(), flush=True)\n\
                  time.sleep(30)\n";
    let mut child = sb
        .cenv()
        .args(["run", "cv", "python", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let pid: u32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    // no wrapper: the pid we started is python's own pid
    assert_eq!(pid, child.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got SIGUSR1");
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

#[test]
fn non_utf8_arguments_pass_through_byte_for_byte() {
    let sb = sandbox_with_envs(&["cv"]);
    let out = sb
        .cenv()
        .args([
            "run",
            "cv",
            "python",
            "-c",
            "import os, sys; print(os.fsencode(sys.argv[1]).hex(), sys.argv[2])",
        ])
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9\xff\x01"))
        .arg("-p")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "636166e9ff01 -p");
}

#[test]
fn argv0_is_left_as_given() {
    let sb = sandbox_with_envs(&["cv"]);
    let out = sb
        .cenv()
        .args(["run", "cv", "python", "-c", "import sys; print(sys.orig_argv[0])"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "python");
}

/// A Python script that reports what it sees of itself: its path, the
/// directory it would find data in, its argv, its name in `ps`, and a re-run
/// of itself through `sys.argv[0]` (as reloaders and multiprocessing do).
const SELF_REPORT: &str = r#"import json, os, subprocess, sys
if sys.argv[1:] == ["child"]:
    print("child of", __file__)
    sys.exit(0)
child = subprocess.run([sys.executable, sys.argv[0], "child"], capture_output=True, text=True)
print(json.dumps({
    "file": __file__,
    "here": os.path.dirname(os.path.abspath(__file__)),
    "argv": sys.argv,
    "comm": open("/proc/self/comm").read().strip(),
    "cmdline": open("/proc/self/cmdline").read().split("\0")[:-1],
    "rerun": [child.returncode, child.stdout.strip(), child.stderr.strip()],
}))
"#;

/// What `command` reports run through cenv, and run directly with the env's
/// `bin/` first in PATH (what `conda activate` gives), as the same user.
fn through_cenv_and_directly(sb: &Sandbox, env: &str, command: &str) -> (String, String) {
    let through = ok(sb.cenv().args(["run", env, command]).output().unwrap());
    let mut direct = Command::new(command);
    direct
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}/bin:/usr/local/bin:/usr/bin:/bin",
                sb.path("envs").join(env).display()
            ),
        )
        .env("HOME", sb.home())
        .env("LANG", "C.UTF-8")
        .current_dir(&sb.root);
    if let Some(u) = runner() {
        direct.uid(u.uid).gid(u.gid);
    }
    (through, ok(direct.output().unwrap()))
}

#[test]
fn a_script_sees_its_own_path_and_name_as_after_conda_activate() {
    let sb = sandbox_with_envs(&["cv"]);
    let prefix = sb.path("envs/cv");
    let shebang = format!("#!{}/bin/python\n", prefix.display());
    // an entry point in bin/, a symlinked one (bin/entry -> ../lib/...), and
    // scripts outside the env, by absolute and by relative path
    sb.write_executable("envs/cv/bin/tool", &format!("{shebang}{SELF_REPORT}"));
    sb.write_executable("envs/cv/lib/tool/main.py", &format!("{shebang}{SELF_REPORT}"));
    symlink("../lib/tool/main.py", prefix.join("bin/entry")).unwrap();
    let outside = sb.write_executable("outside.py", &format!("{shebang}{SELF_REPORT}"));
    // (as typed, the script's path as the kernel hands it over, and as
    // Python makes __file__ of it: absolute, not normalised)
    let relative = sb.root.join("./outside.py");
    let cases = [
        ("tool", prefix.join("bin/tool"), prefix.join("bin/tool")),
        ("entry", prefix.join("bin/entry"), prefix.join("bin/entry")),
        (outside.to_str().unwrap(), outside.clone(), outside.clone()),
        ("./outside.py", "./outside.py".into(), relative),
    ];
    for (command, argv0, path) in cases {
        let (through, direct) = through_cenv_and_directly(&sb, "cv", command);
        assert_eq!(through, direct, "{command}: through cenv, then directly");
        let report: serde_json::Value = serde_json::from_str(&through).unwrap();
        assert_eq!(report["file"], path.to_str().unwrap(), "{command}: {report}");
        assert_eq!(report["argv"][0], argv0.to_str().unwrap(), "{command}: {report}");
        assert_eq!(
            report["rerun"],
            serde_json::json!([0, format!("child of {}", path.display()), ""]),
            "{command}: the re-run through sys.argv[0]: {report}"
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(report["comm"], name, "{command}: the name in ps: {report}");
        assert!(!through.contains("/dev/fd"), "{command}: {through}");
    }
}

#[test]
fn sigpipe_is_not_left_ignored_for_the_command() {
    let sb = sandbox_with_envs(&["cv"]);
    let out = sb
        .cenv()
        .args(["run", "cv", "cat", "/proc/self/status"])
        .output()
        .unwrap();
    let status = stdout(&out);
    let ignored = u64::from_str_radix(status_field(&status, "SigIgn").unwrap(), 16).unwrap();
    assert_eq!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE ignored: {ignored:x}"
    );
}

#[test]
fn the_binary_renders_its_man_page() {
    let sb = Sandbox::new();
    let out = sb.cenv().arg("man-page").output().unwrap();
    assert!(out.status.success());
    let page = stdout(&out);
    assert!(
        page.contains(".TH cenv 1") && page.contains("run") && page.contains("doctor"),
        "{page}"
    );
}
