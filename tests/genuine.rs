//! The run path, confinement and policy against genuine conda envs: installed
//! by rattler from real conda packages (python, numpy, a tool with prefix
//! placeholders and activate.d scripts), hard-linked from a package cache.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use common::*;

fn config(g: &Genuine, extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.config(
        &envs_config(&[&g.envs()])
            .paths("readonly_paths", &[&g.pkgs()])
            .raw(extra)
            .to_string(),
    );
    let work = sb.mkdir("work");
    fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    sb
}

#[test]
fn the_installer_wrote_a_real_conda_prefix() {
    let g = require_genuine!();
    let prefix = g.prefix("genuine");
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(prefix.join("conda-meta/cenv-tool-1.0-0.json")).unwrap())
            .unwrap();
    let paths = record["paths_data"]["paths"].as_array().unwrap();
    let script = paths.iter().find(|p| p["_path"] == "bin/cenv-tool").unwrap();
    assert_eq!(script["prefix_placeholder"], "/opt/anaconda1anaconda2anaconda3");
    assert!(
        script["sha256_in_prefix"].is_string(),
        "rewritten at install: {script}"
    );
    // hard-linked from the package cache
    let in_env = fs::metadata(prefix.join("bin/python3.11")).unwrap();
    let in_cache = fs::metadata(g.pkgs().join("python-3.11.2-debian_0/bin/python3.11"));
    let in_cache = in_cache.unwrap_or_else(|_| {
        let dir = fs::read_dir(g.pkgs())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("python-") && e.path().is_dir())
            .unwrap();
        fs::metadata(dir.path().join("bin/python3.11")).unwrap()
    });
    assert_eq!((in_env.dev(), in_env.ino()), (in_cache.dev(), in_cache.ino()));
    assert!(prefix.join("conda-meta/history").exists());
}

#[test]
fn python_starts_with_the_env_as_its_prefix_and_imports_numpy_as_alice() {
    let g = require_genuine!();
    let sb = config(g, "");
    let out = ok(cenv_as(&sb, ALICE)
        .args([
            "run",
            "genuine",
            "python",
            "-c",
            "import sys, numpy; print(sys.prefix); print(numpy.__file__); print(int(numpy.arange(10).sum()))",
        ])
        .output()
        .unwrap());
    let prefix = g.prefix("genuine");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], prefix.to_str().unwrap());
    assert!(lines[1].starts_with(prefix.to_str().unwrap()), "{}", lines[1]);
    assert_eq!(lines[2], "45");
}

#[test]
fn the_packages_activation_scripts_and_variables_are_applied() {
    let g = require_genuine!();
    let sb = config(g, "");
    let env = parse_env0(
        &cenv_as(&sb, ALICE)
            .args(["run", "genuine", "env", "-0"])
            .output()
            .unwrap()
            .stdout,
    );
    let prefix = g.prefix("genuine");
    assert_eq!(
        get(&env, "CENV_TOOL_HOME"),
        Some(format!("{}/share/cenv-tool", prefix.display()).as_str())
    );
    assert_eq!(get(&env, "CENV_TOOL_ORDER"), Some("activate;"));
    assert_eq!(get(&env, "CENV_TOOL_MODE"), Some("packaged"), "from env_vars.d");
    assert_eq!(
        get(&env, "GENUINE_DATA"),
        Some("/data/genuine"),
        "from conda-meta/state"
    );
    assert_eq!(get(&env, "CONDA_DEFAULT_ENV"), Some("genuine"));
}

#[test]
fn the_script_with_a_rewritten_placeholder_runs() {
    let g = require_genuine!();
    let sb = config(g, "");
    let prefix = g.prefix("genuine");
    let out = ok(cenv_as(&sb, ALICE)
        .args(["run", "genuine", "cenv-tool"])
        .output()
        .unwrap());
    assert_eq!(
        out.trim(),
        format!("cenv-tool running in {0} with prefix={0}", prefix.display())
    );
}

#[test]
fn landlock_covers_the_env_and_its_hard_links_in_the_package_cache() {
    let g = require_genuine!();
    let sb = config(g, "");
    let admin_writes = |path: &std::path::Path, through_cenv: bool| {
        let probe = format!(
            "import errno\ntry:\n    open('{}', 'a').close()\n    print('OK')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])",
            path.display()
        );
        let out = if through_cenv {
            cenv_as(&sb, ADMIN)
                .args(["run", "genuine", "python", "-c", &probe])
                .output()
                .unwrap()
        } else {
            as_user(ADMIN, "/usr/bin/python3")
                .args(["-c", &probe])
                .output()
                .unwrap()
        };
        ok(out).trim().to_owned()
    };
    let numpy_init = |root: &std::path::Path| {
        fs::read_dir(root)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("numpy-") && e.path().is_dir())
            .map(|e| e.path().join("lib/python3.11/site-packages/numpy/__init__.py"))
            .unwrap()
    };
    let in_cache = numpy_init(&g.pkgs());
    let in_env = g
        .prefix("genuine")
        .join("lib/python3.11/site-packages/numpy/__init__.py");
    assert_eq!(
        fs::metadata(&in_cache).unwrap().ino(),
        fs::metadata(&in_env).unwrap().ino()
    );
    // the owner may write both paths by permissions...
    assert_eq!(admin_writes(&in_cache, false), "OK");
    assert_eq!(admin_writes(&in_env, false), "OK");
    // ...but not through cenv, by either name of the file
    assert_eq!(admin_writes(&in_cache, true), "EACCES");
    assert_eq!(admin_writes(&in_env, true), "EACCES");
}

#[test]
fn the_policy_applies_to_genuine_envs() {
    let g = require_genuine!();
    let sb = config(g, &format!("[envs.genuine]\ngroups = [\"{RESEARCH}\"]\n"));
    ok(cenv_as(&sb, ALICE)
        .args(["run", "genuine", "python", "-c", "import numpy"])
        .output()
        .unwrap());
    let out = cenv_as(&sb, BOB)
        .args(["run", "genuine", "python", "-c", "import numpy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(&format!("{BOB} may not use env 'genuine'")),
        "{}",
        stderr(&out)
    );
}

/// rattler's activation (py-rattler's shell API) and cenv's agree on the same
/// genuine env, except where rattler is known to differ from conda.
#[test]
fn cenv_and_rattler_agree_on_the_activated_environment() {
    let g = require_genuine!();
    let prefix = g.prefix("genuine");
    let python = test_python().unwrap();
    let start_path = "/usr/local/bin:/usr/bin:/bin";
    let report = Command::new(&python)
        .arg(GENUINE_SCRIPT)
        .arg("activation")
        .arg(&prefix)
        .arg(start_path)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let script = report["script"].as_str().unwrap();
    // rattler's script, sourced by bash as root, from the same starting environment
    let rattler_env = parse_env0(
        &Command::new("bash")
            .args([
                "--norc",
                "--noprofile",
                "-c",
                &format!("{script}\nexec /usr/bin/env -0"),
            ])
            .env_clear()
            .env("PATH", start_path)
            .env("HOME", "/root")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap()
            .stdout,
    );
    let sb = config(g, "");
    let mut cmd = cenv_as(&sb, ALICE);
    cmd.env_clear()
        .env("PATH", start_path)
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8");
    let cenv_env = parse_env0(&cmd.args(["run", "genuine", "env", "-0"]).output().unwrap().stdout);

    // Documented exceptions: rattler does not set CONDA_DEFAULT_ENV or
    // CONDA_PROMPT_MODIFIER, and does not honour ***unset*** (it exports the
    // marker literally); bash itself adds SHLVL, _ and PWD.
    assert_eq!(get(&rattler_env, "GENUINE_UNSET"), Some("***unset***"));
    assert_eq!(get(&cenv_env, "GENUINE_UNSET"), None);
    let exceptions = [
        "CONDA_DEFAULT_ENV",
        "CONDA_PROMPT_MODIFIER",
        "GENUINE_UNSET",
        "SHLVL",
        "_",
        "PWD",
        "OLDPWD",
    ];
    let comparable = |env: &[(String, String)]| {
        let mut v: Vec<(String, String)> = env
            .iter()
            .filter(|(n, _)| !exceptions.contains(&n.as_str()))
            .cloned()
            .collect();
        v.sort();
        v
    };
    let rattler_side = comparable(&rattler_env);
    let cenv_side = comparable(&cenv_env);
    // rattler appends the old PATH to the new one ("$new:${PATH}"): compare
    // the leading entries, which are what activation decides.
    let path_of = |env: &[(String, String)]| get(env, "PATH").unwrap().to_owned();
    assert!(
        path_of(&rattler_env).starts_with(&path_of(&cenv_env)),
        "{} vs {}",
        path_of(&rattler_env),
        path_of(&cenv_env)
    );
    let without_path =
        |v: Vec<(String, String)>| v.into_iter().filter(|(n, _)| n != "PATH").collect::<Vec<_>>();
    assert_eq!(without_path(cenv_side), without_path(rattler_side));
    assert_eq!(get(&cenv_env, "CONDA_DEFAULT_ENV"), Some("genuine"));
}
