//! Conformance with conda's own activation tests (conda/conda
//! `tests/test_activate.py`, `ActivatorUnitTests` and `ShellWrapperUnitTests`).
//! Each test below is one case of theirs that applies to POSIX activation of
//! a prefix, with the expected values taken from conda's test, written here
//! in our own code and checked against what `cenv run PREFIX env -0` gives.
//!
//! | conda test                                   | here                                   |
//! |----------------------------------------------|----------------------------------------|
//! | test_activate_environment_not_found          | environment_not_found                  |
//! | test_PS1                                     | ps1_base                               |
//! | test_PS1_no_changeps1                        | ps1_no_changeps1                       |
//! | test_add_prefix_to_path_posix                | add_prefix_to_path_posix               |
//! | test_replace_prefix_in_path_1                | replace_prefix_in_path                 |
//! | test_default_env                             | default_env                            |
//! | test_build_activate_dont_activate_unset_var  | build_activate_dont_activate_unset_var |
//! | test_build_activate_shlvl_warn_clobber_vars  | build_activate_shlvl_warn_clobber_vars |
//! | test_build_activate_shlvl_0                  | build_activate_shlvl_0                 |
//! | test_build_activate_shlvl_1                  | build_activate_shlvl_1                 |
//! | test_build_activate_restore_unset_env_vars   | build_activate_restore_unset_env_vars  |
//! | test_activate_same_environment               | activate_same_environment              |
//! | test_get_env_vars_big_whitespace             | get_env_vars_big_whitespace            |
//! | test_get_env_vars_empty_file                 | get_env_vars_empty_file                |
//! | test_posix_basic (activate and reactivate)   | posix_basic                            |
//!
//! Not applicable to `cenv run`: the `--stack` cases (test_build_stack_*,
//! test_build_deactivate_shlvl_2_from_stack — cenv activates without
//! stacking, as `conda activate` does by default), the deactivation cases
//! (test_remove_prefix_from_path_*, test_build_deactivate_* — deactivation
//! belongs to the shell integration), and everything Windows, cmd.exe,
//! PowerShell, csh, fish or xonsh specific.
//!
//! Deliberate differences from conda: none in these cases. `cenv run` sets
//! the variables in the environment of the command rather than printing
//! `PS1=...`; the prompt itself belongs to the shell integration.

mod common;

use common::*;

const ENV_VARS_FILE: &str =
    r#"{"version": 1, "env_vars": {"ENV_ONE": "one", "ENV_TWO": "you", "ENV_THREE": "me"}}"#;

/// conda's tempdir with conda-meta/, activate.d/see-me.sh and dont-see-me.bat,
/// pkg_a.json and pkg_b.json in env_vars.d. Returns its prefix.
fn conda_test_prefix(sb: &Sandbox, rel: &str, state: Option<&str>) -> std::path::PathBuf {
    let prefix = sb.mkdir(rel);
    sb.mkdir(&format!("{rel}/conda-meta"));
    sb.write(
        &format!("{rel}/etc/conda/activate.d/see-me.sh"),
        "export SAW_SEE_ME=\"${SAW_SEE_ME}activate;\"\n",
    );
    sb.write(
        &format!("{rel}/etc/conda/activate.d/dont-see-me.bat"),
        "set DONT_SEE_ME=1\n",
    );
    sb.write(
        &format!("{rel}/etc/conda/env_vars.d/pkg_a.json"),
        "{\n    \"PKG_A_ENV\": \"yerp\"\n}\n",
    );
    sb.write(
        &format!("{rel}/etc/conda/env_vars.d/pkg_b.json"),
        "{\n    \"PKG_B_ENV\": \"berp\"\n}\n",
    );
    if let Some(state) = state {
        sb.write(&format!("{rel}/conda-meta/state"), state);
    }
    prefix
}

fn activate(sb: &Sandbox, prefix: &std::path::Path, env: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut cmd = sb.cenv();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("run").arg("-p").arg(prefix).args(["env", "-0"]);
    run_env(cmd)
}

fn assert_vars(env: &[(String, String)], expected: &[(&str, &str)]) {
    for (name, value) in expected {
        assert_eq!(get(env, name), Some(*value), "{name} in {env:?}");
    }
}

#[test]
fn environment_not_found() {
    let sb = Sandbox::new();
    let td = sb.mkdir("td");
    let out = sb
        .cenv()
        .arg("run")
        .arg("-p")
        .arg(&td)
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let out = sb
        .cenv()
        .args(["run", "-p", "/not/an/environment", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let out = sb
        .cenv()
        .args(["run", "wontfindmeIdontexist_abc123", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("no env named 'wontfindmeIdontexist_abc123'"),
        "{}",
        stderr(&out)
    );
}

fn with_base(sb: &Sandbox) -> std::path::PathBuf {
    let base = sb.make_env("miniconda");
    sb.config(&format!("envs_dirs = []\nbase_prefix = \"{}\"\n", base.display()));
    base
}

#[test]
fn ps1_base() {
    let sb = Sandbox::new();
    with_base(&sb);
    let mut cmd = sb.cenv();
    cmd.env("CONDA_CHANGEPS1", "yes")
        .args(["run", "base", "env", "-0"]);
    assert_eq!(get(&run_env(cmd), "CONDA_PROMPT_MODIFIER"), Some("(base) "));
}

#[test]
fn ps1_no_changeps1() {
    let sb = Sandbox::new();
    with_base(&sb);
    let mut cmd = sb.cenv();
    cmd.env("CONDA_CHANGEPS1", "no")
        .args(["run", "base", "env", "-0"]);
    assert_eq!(get(&run_env(cmd), "CONDA_PROMPT_MODIFIER"), Some(""));
}

#[test]
fn add_prefix_to_path_posix() {
    let sb = Sandbox::new();
    let base = with_base(&sb);
    let prefix = sb.make_env("usr/mytest/prefix");
    let env = activate(
        &sb,
        &prefix,
        &[("PATH", "/path1/bin:/path2/bin:/usr/local/bin:/usr/bin:/bin")],
    );
    let expected = format!(
        "{}/bin:{}/condabin:/path1/bin:/path2/bin:/usr/local/bin:/usr/bin:/bin",
        prefix.display(),
        base.display()
    );
    assert_eq!(get(&env, "PATH"), Some(expected.as_str()));
}

#[test]
fn replace_prefix_in_path() {
    let sb = Sandbox::new();
    let new_prefix = sb.make_env("mytestpath-new");
    let original = "/usr/local/bin:/usr/bin:/bin";
    let old = sb.path("mytestpath");
    let path = format!("/keep/this/path:{}/bin:{original}", old.display());
    let env = activate(
        &sb,
        &new_prefix,
        &[
            ("PATH", &path),
            ("CONDA_PREFIX", old.to_str().unwrap()),
            ("CONDA_SHLVL", "1"),
        ],
    );
    let expected = format!("/keep/this/path:{}/bin:{original}", new_prefix.display());
    assert_eq!(get(&env, "PATH"), Some(expected.as_str()));
}

#[test]
fn default_env() {
    let sb = Sandbox::new();
    with_base(&sb);
    let td = sb.make_env("td");
    let named = sb.make_env("td/envs/named-env");
    let mut cmd = sb.cenv();
    cmd.args(["run", "base", "env", "-0"]);
    assert_eq!(get(&run_env(cmd), "CONDA_DEFAULT_ENV"), Some("base"));
    assert_eq!(
        get(&activate(&sb, &td, &[]), "CONDA_DEFAULT_ENV"),
        Some(td.to_str().unwrap())
    );
    assert_eq!(
        get(&activate(&sb, &named, &[]), "CONDA_DEFAULT_ENV"),
        Some("named-env")
    );
}

#[test]
fn build_activate_dont_activate_unset_var() {
    let sb = Sandbox::new();
    let state =
        r#"{"version": 1, "env_vars": {"ENV_ONE": "one", "ENV_TWO": "you", "ENV_THREE": "***unset***"}}"#;
    let td = conda_test_prefix(&sb, "td", Some(state));
    let env = activate(&sb, &td, &[("CONDA_SHLVL", "0"), ("CONDA_PREFIX", "")]);
    let td_s = td.to_str().unwrap();
    let modifier = format!("({td_s}) ");
    assert_vars(
        &env,
        &[
            ("CONDA_PREFIX", td_s),
            ("CONDA_SHLVL", "1"),
            ("CONDA_DEFAULT_ENV", td_s),
            ("CONDA_PROMPT_MODIFIER", &modifier),
            ("PKG_A_ENV", "yerp"),
            ("PKG_B_ENV", "berp"),
            ("ENV_ONE", "one"),
            ("ENV_TWO", "you"),
        ],
    );
    assert_eq!(get(&env, "ENV_THREE"), None);
    // activate_scripts == (see-me.sh,): the .bat is not sourced
    assert_eq!(get(&env, "SAW_SEE_ME"), Some("activate;"));
    assert_eq!(get(&env, "DONT_SEE_ME"), None);
}

#[test]
fn build_activate_shlvl_warn_clobber_vars() {
    let sb = Sandbox::new();
    let state = r#"{"version": 1, "env_vars": {"ENV_ONE": "one", "ENV_TWO": "you", "ENV_THREE": "me", "PKG_A_ENV": "teamnope"}}"#;
    let td = conda_test_prefix(&sb, "td", Some(state));
    let env = activate(&sb, &td, &[("CONDA_SHLVL", "0"), ("CONDA_PREFIX", "")]);
    assert_vars(
        &env,
        &[
            ("PKG_A_ENV", "teamnope"),
            ("PKG_B_ENV", "berp"),
            ("ENV_ONE", "one"),
            ("ENV_TWO", "you"),
            ("ENV_THREE", "me"),
        ],
    );
}

#[test]
fn build_activate_shlvl_0() {
    let sb = Sandbox::new();
    let td = conda_test_prefix(&sb, "td", Some(ENV_VARS_FILE));
    // without the scripts the variables come out in conda's export order
    std::fs::remove_dir_all(sb.path("td/etc/conda/activate.d")).unwrap();
    let env = activate(&sb, &td, &[("CONDA_SHLVL", "0"), ("CONDA_PREFIX", "")]);
    let td_s = td.to_str().unwrap();
    let modifier = format!("({td_s}) ");
    let expected = [
        ("CONDA_PREFIX", td_s),
        ("CONDA_SHLVL", "1"),
        ("CONDA_DEFAULT_ENV", td_s),
        ("CONDA_PROMPT_MODIFIER", modifier.as_str()),
        ("PKG_A_ENV", "yerp"),
        ("PKG_B_ENV", "berp"),
        ("ENV_ONE", "one"),
        ("ENV_TWO", "you"),
        ("ENV_THREE", "me"),
    ];
    assert_vars(&env, &expected);
    let order: Vec<&str> = env
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| expected.iter().any(|(e, _)| e == n))
        .collect();
    assert_eq!(order, expected.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    let path = get(&env, "PATH").unwrap();
    assert!(path.starts_with(&format!("{td_s}/bin:")), "{path}");
}

#[test]
fn build_activate_shlvl_1() {
    let sb = Sandbox::new();
    let td = conda_test_prefix(&sb, "td", Some(ENV_VARS_FILE));
    let old_path = "/old/prefix/bin:/some/condabin:/usr/bin:/bin";
    let env = activate(
        &sb,
        &td,
        &[
            ("CONDA_SHLVL", "1"),
            ("CONDA_PREFIX", "/old/prefix"),
            ("PATH", old_path),
            ("CONDA_ENV_PROMPT", "({default_env})"),
        ],
    );
    let td_s = td.to_str().unwrap();
    let modifier = format!("({td_s})");
    let new_path = format!("{td_s}/bin:/some/condabin:/usr/bin:/bin");
    assert_vars(
        &env,
        &[
            ("PATH", &new_path),
            ("CONDA_PREFIX", td_s),
            ("CONDA_SHLVL", "2"),
            ("CONDA_DEFAULT_ENV", td_s),
            ("CONDA_PROMPT_MODIFIER", &modifier),
            ("PKG_A_ENV", "yerp"),
            ("PKG_B_ENV", "berp"),
            ("ENV_ONE", "one"),
            ("ENV_TWO", "you"),
            ("ENV_THREE", "me"),
            ("CONDA_PREFIX_1", "/old/prefix"),
        ],
    );
    assert!(!get(&env, "PATH").unwrap().contains("/old/prefix"));
}

#[test]
fn build_activate_restore_unset_env_vars() {
    let sb = Sandbox::new();
    let td = conda_test_prefix(&sb, "td", Some(ENV_VARS_FILE));
    let env = activate(
        &sb,
        &td,
        &[
            ("CONDA_SHLVL", "1"),
            ("CONDA_PREFIX", "/old/prefix"),
            ("PATH", "/old/prefix/bin:/usr/bin"),
            ("CONDA_ENV_PROMPT", "({default_env})"),
            ("ENV_ONE", "already_set_env_var"),
        ],
    );
    assert_vars(
        &env,
        &[
            ("ENV_ONE", "one"),
            ("__CONDA_SHLVL_1_ENV_ONE", "already_set_env_var"),
            ("CONDA_PREFIX_1", "/old/prefix"),
        ],
    );
}

#[test]
fn activate_same_environment() {
    let sb = Sandbox::new();
    let td = conda_test_prefix(&sb, "td", None);
    sb.write(
        "td/etc/conda/deactivate.d/see-me.sh",
        "export SAW_SEE_ME=\"${SAW_SEE_ME}deactivate;\"\n",
    );
    sb.write("td/etc/conda/deactivate.d/dont-see-me.bat", "set DONT_SEE_ME=1\n");
    let td_s = td.to_str().unwrap();
    let path = format!("/usr/local/bin:{td_s}/bin:/usr/bin");
    let env = activate(
        &sb,
        &td,
        &[("CONDA_SHLVL", "1"), ("CONDA_PREFIX", td_s), ("PATH", &path)],
    );
    let modifier = format!("({td_s}) ");
    assert_vars(
        &env,
        &[
            ("PATH", &path),
            ("CONDA_SHLVL", "1"),
            ("CONDA_PROMPT_MODIFIER", &modifier),
        ],
    );
    // deactivate_scripts then activate_scripts, each only the .sh
    assert_eq!(get(&env, "SAW_SEE_ME"), Some("deactivate;activate;"));
    assert_eq!(get(&env, "DONT_SEE_ME"), None);
    assert_eq!(get(&env, "CONDA_PREFIX_1"), None);
}

#[test]
fn get_env_vars_big_whitespace() {
    let sb = Sandbox::new();
    let td = sb.make_env("td");
    sb.write(
        "td/conda-meta/state",
        "\n                    {\n                      \"version\": 1,\n                      \"env_vars\": {\n                        \"ENV_ONE\": \"one\",\n                        \"ENV_TWO\": \"you\",\n                        \"ENV_THREE\": \"me\"\n                      }}",
    );
    assert_vars(
        &activate(&sb, &td, &[]),
        &[("ENV_ONE", "one"), ("ENV_TWO", "you"), ("ENV_THREE", "me")],
    );
}

#[test]
fn get_env_vars_empty_file() {
    let sb = Sandbox::new();
    let td = sb.make_env("td");
    sb.write("td/conda-meta/env_vars", "\n                ");
    let env = activate(&sb, &td, &[]);
    assert_eq!(get(&env, "CONDA_SHLVL"), Some("1"));
}

#[test]
fn posix_basic() {
    let sb = Sandbox::new();
    let prefix = sb.make_env("tmp/abcd efgh");
    sb.write(
        "tmp/abcd efgh/etc/conda/activate.d/ignore.txt",
        "export IGNORED=1\n",
    );
    sb.write(
        "tmp/abcd efgh/etc/conda/deactivate.d/ignore.txt",
        "export IGNORED=1\n",
    );
    sb.write(
        "tmp/abcd efgh/etc/conda/activate.d/activate1.sh",
        "export TRACE=\"${TRACE}activate1;\"\n",
    );
    sb.write(
        "tmp/abcd efgh/etc/conda/deactivate.d/deactivate1.sh",
        "export TRACE=\"${TRACE}deactivate1;\"\n",
    );
    let p = prefix.to_str().unwrap();
    let env = activate(&sb, &prefix, &[("PATH", "/usr/bin:/bin")]);
    let modifier = format!("({p}) ");
    let path = format!("{p}/bin:/usr/bin:/bin");
    assert_vars(
        &env,
        &[
            ("PATH", &path),
            ("CONDA_PREFIX", p),
            ("CONDA_SHLVL", "1"),
            ("CONDA_DEFAULT_ENV", p),
            ("CONDA_PROMPT_MODIFIER", &modifier),
            ("TRACE", "activate1;"),
        ],
    );
    assert_eq!(get(&env, "IGNORED"), None);
    // reactivate
    let env = activate(
        &sb,
        &prefix,
        &[("PATH", &path), ("CONDA_PREFIX", p), ("CONDA_SHLVL", "1")],
    );
    assert_vars(
        &env,
        &[
            ("PATH", &path),
            ("CONDA_SHLVL", "1"),
            ("CONDA_PROMPT_MODIFIER", &modifier),
            ("TRACE", "deactivate1;activate1;"),
        ],
    );
}
