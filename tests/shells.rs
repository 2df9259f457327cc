//! Shell and login integration with real bash, zsh and fish, real login
//! shells (profile.d, zprofile, fish conf.d) and real Linux-PAM (runuser).

mod common;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// Envs `a` and `b` (open to anyone who can read them), with activate.d and
/// deactivate.d scripts for POSIX shells and fish that undo each other.
fn fixture() -> Sandbox {
    let sb = Sandbox::new();
    for env in ["a", "b"] {
        let upper = env.to_uppercase();
        sb.make_env(&format!("envs/{env}"));
        sb.write(
            &format!("envs/{env}/conda-meta/state"),
            &format!(r#"{{"env_vars": {{"FROM_STATE_{upper}": "state of {env}"}}}}"#),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/activate.d/1-first.sh"),
            &format!("export TRACE=\"${{TRACE-}}{env}:a1;\"\nexport SCRIPT_{upper}=on\n"),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/activate.d/2-second.sh"),
            &format!("export TRACE=\"${{TRACE-}}{env}:a2;\"\n"),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/deactivate.d/1-first.sh"),
            &format!("export TRACE=\"${{TRACE-}}{env}:d1;\"\nunset SCRIPT_{upper}\n"),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/deactivate.d/2-second.sh"),
            &format!("export TRACE=\"${{TRACE-}}{env}:d2;\"\n"),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/activate.d/1-first.fish"),
            &format!("set -gx TRACE \"$TRACE\"'{env}:a1;'\nset -gx SCRIPT_{upper} on\n"),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/activate.d/2-second.fish"),
            &format!("set -gx TRACE \"$TRACE\"'{env}:a2;'\n"),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/deactivate.d/1-first.fish"),
            &format!("set -gx TRACE \"$TRACE\"'{env}:d1;'\nset -e SCRIPT_{upper}\n"),
        );
        sb.write(
            &format!("envs/{env}/etc/conda/deactivate.d/2-second.fish"),
            &format!("set -gx TRACE \"$TRACE\"'{env}:d2;'\n"),
        );
    }
    sb.config(&envs_config(&[&sb.path("envs")]).to_string());
    sb.mkdir("out");
    fs::set_permissions(sb.path("out"), fs::Permissions::from_mode(0o1777)).unwrap();
    sb
}

/// Runs `body` in `shell` (no rc files) as the ordinary test user, after the
/// cenv function is defined. `dump NAME` writes `env -0` to out/NAME.
fn shell_command(sb: &Sandbox, shell: &str, body: &str) -> Command {
    let exe = cenv_binary().display().to_string();
    let (program, flags, prelude) = match shell {
        "bash" => (
            "/usr/bin/bash",
            vec!["--norc", "--noprofile", "-c"],
            format!("eval \"$('{exe}' shell-init bash)\"\ndump() {{ /usr/bin/env -0 > \"$OUT/$1\"; }}\n"),
        ),
        "zsh" => (
            "/usr/bin/zsh",
            vec!["-f", "-c"],
            format!("eval \"$('{exe}' shell-init zsh)\"\ndump() {{ /usr/bin/env -0 > \"$OUT/$1\"; }}\n"),
        ),
        _ => (
            "/usr/bin/fish",
            vec!["--no-config", "-c"],
            format!(
                "'{exe}' shell-init fish | source\nfunction dump; /usr/bin/env -0 > \"$OUT/$argv[1]\"; end\n"
            ),
        ),
    };
    let mut cmd = Command::new(program);
    cmd.args(flags).arg(format!("{prelude}{body}"));
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", sb.home())
        .env("LANG", "C.UTF-8")
        .env("CENV_CONFIG", sb.path("cenv.toml"))
        .env("OUT", sb.path("out"))
        .current_dir(&sb.root);
    if let Some(u) = runner() {
        use std::os::unix::process::CommandExt;
        cmd.uid(u.uid).gid(u.gid);
    }
    cmd
}

fn in_shell(sb: &Sandbox, shell: &str, body: &str) -> Output {
    shell_command(sb, shell, body).output().unwrap()
}

fn dumped(sb: &Sandbox, name: &str) -> Vec<(String, String)> {
    let mut env = parse_env0(&fs::read(sb.path(&format!("out/{name}"))).unwrap());
    env.retain(|(n, _)| n != "_");
    env.sort();
    env
}

#[test]
fn activate_gives_the_variables_of_cenv_run() {
    for shell in SHELLS {
        let sb = fixture();
        let out = in_shell(
            &sb,
            shell,
            "cenv run a /usr/bin/env -0 > \"$OUT/run\"\ncenv activate a\ndump activated\n",
        );
        ok(&out);
        let mut activated = dumped(&sb, "activated");
        activated.retain(|(n, _)| n != "__CENV_SAVED_1");
        let mut run = parse_env0(&fs::read(sb.path("out/run")).unwrap());
        run.retain(|(n, _)| n != "_");
        run.sort();
        assert_eq!(activated, run, "{shell}");
        assert_eq!(get(&activated, "FROM_STATE_A"), Some("state of a"), "{shell}");
        assert_eq!(get(&activated, "SCRIPT_A"), Some("on"), "{shell}");
        assert_eq!(
            get(&activated, "CONDA_PREFIX"),
            Some(sb.path("envs/a").to_str().unwrap())
        );
    }
}

#[test]
fn deactivate_restores_the_environment_exactly() {
    for shell in SHELLS {
        let sb = fixture();
        let out = in_shell(
            &sb,
            shell,
            "dump before\ncenv activate a\ncenv deactivate\ndump after\n",
        );
        ok(&out);
        let before = dumped(&sb, "before");
        let mut after = dumped(&sb, "after");
        // the scripts' trace is the one thing meant to remain
        assert_eq!(
            get(&after, "TRACE"),
            Some("a:a1;a:a2;a:d2;a:d1;"),
            "{shell}: scripts in order"
        );
        after.retain(|(n, _)| n != "TRACE");
        assert_eq!(before, after, "{shell}");
    }
}

#[test]
fn a_second_activation_replaces_the_first_and_deactivation_goes_back() {
    for shell in SHELLS {
        let sb = fixture();
        let body = "dump before\ncenv activate a\ndump a\ncenv activate b\ndump b\ncenv deactivate\ndump back_to_a\ncenv deactivate\ndump after\n";
        ok(in_shell(&sb, shell, body));
        let (a, b, back) = (dumped(&sb, "a"), dumped(&sb, "b"), dumped(&sb, "back_to_a"));
        let a_bin = format!("{}/bin", sb.path("envs/a").display());
        let b_bin = format!("{}/bin", sb.path("envs/b").display());
        assert_eq!(
            get(&b, "CONDA_PREFIX"),
            Some(sb.path("envs/b").to_str().unwrap()),
            "{shell}"
        );
        assert_eq!(get(&b, "CONDA_SHLVL"), Some("2"));
        assert_eq!(
            get(&b, "CONDA_PREFIX_1"),
            Some(sb.path("envs/a").to_str().unwrap())
        );
        let b_path = get(&b, "PATH").unwrap();
        assert!(
            b_path.starts_with(&b_bin) && !b_path.contains(&a_bin),
            "{shell}: {b_path}"
        );
        assert_eq!(get(&b, "SCRIPT_A"), None, "{shell}: a's deactivate.d ran");
        assert_eq!(get(&b, "SCRIPT_B"), Some("on"));
        // back to a: a's variables and scripts again
        assert_eq!(get(&back, "CONDA_PREFIX"), get(&a, "CONDA_PREFIX"), "{shell}");
        assert_eq!(get(&back, "PATH"), get(&a, "PATH"));
        assert_eq!(get(&back, "SCRIPT_A"), Some("on"));
        assert_eq!(get(&back, "SCRIPT_B"), None);
        assert_eq!(
            get(&back, "TRACE"),
            Some("a:a1;a:a2;a:d2;a:d1;b:a1;b:a2;b:d2;b:d1;a:a1;a:a2;"),
            "{shell}"
        );
        let mut after = dumped(&sb, "after");
        after.retain(|(n, _)| n != "TRACE");
        assert_eq!(dumped(&sb, "before"), after, "{shell}");
    }
}

#[test]
fn a_refused_env_leaves_the_shell_untouched() {
    for shell in SHELLS {
        let sb = fixture();
        sb.config(
            &envs_config(&[&sb.path("envs")])
                .table("envs.b")
                .list("users", &["nobody-else-x"])
                .to_string(),
        );
        let status = if shell == "fish" { "$status" } else { "$?" };
        let body = format!("dump before\ncenv activate b\necho status={status}\ncenv activate no-such-env\necho status={status}\ndump after\n");
        let out = in_shell(&sb, shell, &body);
        assert_eq!(
            stdout(&out),
            "status=125\nstatus=125\n",
            "{shell}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("may not use env 'b'"),
            "{shell}: {}",
            stderr(&out)
        );
        assert_eq!(dumped(&sb, "before"), dumped(&sb, "after"), "{shell}");
    }
}

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
    /// Text the shells find hard: quotes, $, backticks, backslashes,
    /// newlines, spaces, globs, braces, unicode.
    fn text(&mut self) -> String {
        let pieces = [
            "'",
            "\"",
            "$",
            "$HOME",
            "`id`",
            "\\",
            "\\'",
            "\n",
            " ",
            "*",
            "?",
            "{a,b}",
            "%s",
            "é",
            "日本",
            "-e",
            ";",
            "|",
            "&",
            "(",
            ")",
            "#",
            "!",
            "x",
            "\t",
            "''",
            "$(echo hi)",
        ];
        let n = self.next() % 8;
        (0..n).map(|_| *self.pick(&pieces)).collect()
    }
    /// Raw bytes, not UTF-8 in general (no NUL: environment values cannot hold it).
    fn bytes(&mut self) -> Vec<u8> {
        let n = self.next() % 10;
        (0..n).map(|_| (self.next() % 255 + 1) as u8).collect()
    }
}

#[test]
fn any_value_round_trips_through_each_shell() {
    const VARS: usize = 6;
    for shell in SHELLS {
        let sb = fixture();
        let mut rng = Rng(0x5eed_0000 + shell.len() as u64);
        for round in 0..12 {
            // values the env sets (from JSON: any text) ...
            let texts: Vec<String> = (0..VARS).map(|_| rng.text()).collect();
            let state = serde_json::json!({"env_vars": (0..VARS).map(|i| (format!("PROP_{i}"), serde_json::Value::String(texts[i].clone()))).collect::<serde_json::Map<_, _>>()});
            sb.write("envs/a/conda-meta/state", &state.to_string());
            // ... overwriting what the caller had (any bytes), which deactivation restores
            let originals: Vec<Vec<u8>> = (0..VARS).map(|_| rng.bytes()).collect();
            // (`true` last: zsh -c execs its last command with SHLVL - 1; and fish
            // keeps bytes that are not UTF-8 only in a UTF-8 locale, which
            // shell_command sets)
            let body = "/usr/bin/env -0 > \"$OUT/before\"\ncenv activate a\n/usr/bin/env -0 > \"$OUT/activated\"\ncenv deactivate\n/usr/bin/env -0 > \"$OUT/after\"\ntrue\n";
            let mut cmd_out = shell_command(&sb, shell, body);
            for (i, value) in originals.iter().enumerate() {
                cmd_out.env(format!("PROP_{i}"), OsStr::from_bytes(value));
            }
            let out = cmd_out.output().unwrap();
            assert!(out.status.success(), "{shell} round {round}: {}", stderr(&out));
            let raw = |name: &str| -> Vec<(OsString, OsString)> {
                let bytes = fs::read(sb.path(&format!("out/{name}"))).unwrap();
                let mut v: Vec<(OsString, OsString)> = bytes
                    .split(|&b| b == 0)
                    .filter(|r| !r.is_empty())
                    .map(|r| {
                        let eq = r.iter().position(|&b| b == b'=').unwrap();
                        (
                            OsString::from_vec(r[..eq].to_vec()),
                            OsString::from_vec(r[eq + 1..].to_vec()),
                        )
                    })
                    .filter(|(n, _)| n != "_")
                    .collect();
                v.sort();
                v
            };
            let activated = raw("activated");
            for (i, text) in texts.iter().enumerate() {
                let value = activated
                    .iter()
                    .find(|(n, _)| n == &OsString::from(format!("PROP_{i}")))
                    .map(|(_, v)| v.clone());
                assert_eq!(
                    value,
                    Some(OsString::from(text)),
                    "{shell} round {round}: PROP_{i}"
                );
            }
            let before = raw("before");
            for (i, value) in originals.iter().enumerate() {
                let seen = before
                    .iter()
                    .find(|(n, _)| n == &OsString::from(format!("PROP_{i}")))
                    .map(|(_, v)| v.as_bytes().to_vec());
                assert_eq!(
                    seen.as_deref(),
                    Some(&value[..]),
                    "{shell} round {round}: the shell kept PROP_{i} as given"
                );
            }
            let mut after = raw("after");
            after.retain(|(n, _)| n != "TRACE");
            assert_eq!(
                before, after,
                "{shell} round {round}: deactivation restored every byte"
            );
        }
    }
}

#[test]
fn prompt_shows_the_env_unless_turned_off() {
    let sb = fixture();
    let out = in_shell(
        &sb,
        "bash",
        "PS1='$ '\ncenv activate a\necho \"[$PS1]\"\ncenv deactivate\necho \"[$PS1]\"\n",
    );
    ok(&out);
    assert_eq!(stdout(&out), "[(a) $ ]\n[$ ]\n");
    let out = in_shell(
        &sb,
        "zsh",
        "PS1='%% '\nexport CENV_CHANGEPS1=no\ncenv activate a\necho \"[$PS1]\"\n",
    );
    ok(&out);
    assert_eq!(stdout(&out), "[%% ]\n");
    // fish shows CONDA_PROMPT_MODIFIER through its prompt wrapper
    let script = format!(
        "functions -e __cenv_fish_prompt_orig\nfunction fish_prompt; echo -n '> '; end\n'{}' shell-init fish | source\ncenv activate a\nfish_prompt\n",
        cenv_binary().display()
    );
    let out = in_shell(&sb, "fish", &script);
    ok(&out);
    assert_eq!(stdout(&out), "(a) > ");
    sb.write("home/.condarc", "changeps1: false\n");
    sb.chown_home_to_runner();
    let out = in_shell(&sb, "bash", "PS1='$ '\ncenv activate a\necho \"[$PS1]\"\n");
    assert_eq!(stdout(&out), "[$ ]\n");
}

#[test]
fn activate_without_the_shell_function_explains_itself() {
    let sb = fixture();
    let out = sb.cenv().args(["activate", "a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("cenv shell-init bash"), "{}", stderr(&out));
    let help = sb.cenv().args(["activate", "--help"]).output().unwrap();
    assert!(
        stdout(&help).contains("Landlock cannot be applied to a shell that is already running"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn cenv_shell_is_confined_and_exits_with_the_shells_code() {
    require_root!();
    let sb = Sandbox::new();
    shared_layout(&sb, &["cv"]);
    sb.config(&envs_config(&[&sb.path("envs")]).to_string());
    let mut cmd = as_user(ADMIN, cenv_binary());
    cmd.arg("--config")
        .arg(sb.path("cenv.toml"))
        .args(["shell", "cv"])
        .env("SHELL", "/usr/bin/bash");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"in $CONDA_DEFAULT_ENV as $(id -un)\"\ntouch \"$CONDA_PREFIX/planted\" 2>/dev/null || echo DENIED\nexit 3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("in cv as {ADMIN}\nDENIED\n"));
    assert!(!sb.path("envs/cv/planted").exists());
}

#[test]
fn completion_loads_and_completes_env_names() {
    let sb = fixture();
    let exe = cenv_binary().display().to_string();
    // the completion files call `cenv` from PATH, as a package installs it
    sb.mkdir("cenv-bin");
    std::os::unix::fs::symlink(cenv_binary(), sb.path("cenv-bin/cenv")).unwrap();
    // a python on PATH too: `run a <TAB>` offers the env's once, first
    std::os::unix::fs::symlink("/usr/bin/python3", sb.path("cenv-bin/python")).unwrap();
    let on_path = format!("PATH='{}':\"$PATH\"\n", sb.path("cenv-bin").display());
    let fish_path = format!("set -x PATH '{}' $PATH\n", sb.path("cenv-bin").display());
    let bash = in_shell(&sb, "bash", &format!("{on_path}eval \"$('{exe}' completions bash)\"\nCOMP_WORDS=(cenv run '')\nCOMP_CWORD=2\n_cenv\necho \"${{COMPREPLY[*]}}\"\nCOMP_WORDS=(cenv '')\nCOMP_CWORD=1\n_cenv\necho \"${{COMPREPLY[*]}}\"\n"));
    ok(&bash);
    let text = stdout(&bash);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "a b");
    assert!(
        lines[1].contains("activate") && lines[1].contains("run"),
        "{}",
        lines[1]
    );
    // zsh: load the function, and drive it with compadd standing in for
    // the completion system (it prints what follows --)
    let zsh = in_shell(&sb, "zsh", &format!("{on_path}eval \"$('{exe}' completions zsh)\"\ncompadd() {{ local -a a; a=(\"$@\"); print -r -- \"${{(j: :)a[${{a[(i)--]}}+1,-1]}}\" }}\n_files() {{ print files }}\nwords=(cenv activate '')\nCURRENT=3\n_cenv\nwords=(cenv run a python '')\nCURRENT=5\n_cenv\nwords=(cenv kernel '')\nCURRENT=3\n_cenv\nwords=(cenv kernel install '')\nCURRENT=4\n_cenv\nwords=(cenv run a '')\nCURRENT=4\n_cenv\n"));
    ok(&zsh);
    let text = stdout(&zsh);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..4],
        ["a b", "files", "install list remove sync", "a b"],
        "{text}"
    );
    // run ENV <TAB>: the env's own commands, then the others without them
    assert_eq!(lines[4], "python", "{text}");
    let others: Vec<&str> = lines[5].split(' ').collect();
    assert!(others.contains(&"cenv") && !others.contains(&"python"), "{text}");
    let fish = in_shell(&sb, "fish", &format!("{fish_path}'{exe}' completions fish | source\ncomplete -C 'cenv run '\ncomplete -C 'cenv activate --shell fish '\n"));
    ok(&fish);
    assert_eq!(stdout(&fish), "a\nb\na\nb\n");
    let fish = in_shell(&sb, "fish", &format!("{fish_path}'{exe}' completions fish | source\ncomplete -C 'cenv run a ' | string replace -r '\\t.*' ''\necho ==\ncomplete -C 'cenv kernel '\n"));
    ok(&fish);
    let text = stdout(&fish);
    let (commands, kernel) = text.split_once("==\n").unwrap();
    let commands: Vec<&str> = commands.lines().collect();
    assert_eq!(commands[0], "python", "{text}");
    assert_eq!(commands.iter().filter(|c| **c == "python").count(), 1, "{text}");
    assert!(commands.contains(&"cenv"), "{text}");
    assert!(kernel.lines().any(|l| l.starts_with("sync")), "{text}");
    // bash: run a <TAB>, the env's first, each once; kernel <TAB>
    let bash = in_shell(&sb, "bash", &format!("{on_path}eval \"$('{exe}' completions bash)\"\nCOMP_WORDS=(cenv run a '')\nCOMP_CWORD=3\n_cenv\necho \"${{COMPREPLY[0]}} $(printf '%s\\n' \"${{COMPREPLY[@]}}\" | grep -cx python) $(printf '%s\\n' \"${{COMPREPLY[@]}}\" | grep -cx cenv)\"\nCOMP_WORDS=(cenv kernel '')\nCOMP_CWORD=2\n_cenv\necho \"${{COMPREPLY[*]}}\"\nCOMP_WORDS=(cenv kernel install '')\nCOMP_CWORD=3\n_cenv\necho \"${{COMPREPLY[*]}}\"\n"));
    ok(&bash);
    assert_eq!(
        stdout(&bash),
        "python 1 1\ninstall list remove sync\na b\n",
        "{}",
        stderr(&bash)
    );
}

#[test]
fn list_names_prints_the_visible_envs() {
    let sb = fixture();
    let out = sb.cenv().args(["list", "--names"]).output().unwrap();
    ok(&out);
    assert_eq!(stdout(&out), "a\nb\n");
}

// ---- login shells and PAM, for real (root) ----

/// Installs the login integration system-wide for the duration of a test and
/// removes it again.
#[test]
fn pam_sets_umask_027_for_members_of_the_group_only() {
    require_root!();
    let _lock = machine_lock();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let service = "/etc/pam.d/runuser-l";
    let umask_of = |user: &str| {
        let out = Command::new("runuser")
            .args(["-l", user, "-c", "umask"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    ensure_test_users();
    // control: without the include, members keep the default
    let before = umask_of(ALICE);
    assert_ne!(before, "0027");
    let session = fs::read_to_string(repo.join("pam/cenv-session"))
        .unwrap()
        .replace("ai-researchers", RESEARCH);
    let (alice, bob) = {
        let _session = HostFile::write("/etc/pam.d/cenv-session", session, 0o644);
        let original = fs::read_to_string(service).unwrap();
        let _service = HostFile::write(
            service,
            format!("{original}session include cenv-session\n"),
            0o644,
        );
        (umask_of(ALICE), umask_of(BOB))
    };
    assert_eq!(alice, "0027");
    assert_eq!(bob, before);
}

#[test]
fn activate_and_deactivate_never_print_code_for_a_shell_of_roots() {
    require_root!();
    let sb = fixture();
    // root's own shell, and root's shell after `sudo -s` (SUDO_UID set):
    // what it evaluates would run the env admin's scripts as root
    for sudo_uid in [None, Some(user(ALICE).uid.to_string())] {
        let root_cenv = |args: &[&str]| {
            let mut cmd = Command::new(cenv_binary());
            cmd.args(args)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("CONDA_PREFIX", sb.path("envs/a"))
                .env("CONDA_SHLVL", "1");
            if let Some(uid) = &sudo_uid {
                cmd.env("SUDO_UID", uid);
            }
            cmd.output().unwrap()
        };
        let env = sb.path("envs/a");
        for out in [
            root_cenv(&["activate", "--shell", "bash", "-p", env.to_str().unwrap()]),
            root_cenv(&["deactivate", "--shell", "bash"]),
        ] {
            assert_eq!(out.status.code(), Some(125), "{sudo_uid:?}: {}", stdout(&out));
            assert_eq!(stdout(&out), "", "no code for root's shell to evaluate");
            assert!(
                stderr(&out).contains("for a shell of root's")
                    && stderr(&out).contains("cenv run ENV COMMAND"),
                "{}",
                stderr(&out)
            );
        }
    }
}

/// ripgrep's ci/test-complete, for cenv: every subcommand `cenv --help`
/// lists and every flag each subcommand's `--help` lists is offered by the
/// completion of each shell, and no hidden subcommand is.
#[test]
fn completion_offers_every_subcommand_and_flag_of_help() {
    let help = |args: &[&str]| {
        let out = Command::new(cenv_binary())
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        stdout(&out)
    };
    let top = help(&[]);
    let subcommands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|s| s != "help")
        .collect();
    assert!(subcommands.len() >= 10, "{subcommands:?}");
    for shell in SHELLS {
        let out = Command::new(cenv_binary())
            .args(["completions", shell])
            .output()
            .unwrap();
        let completion = stdout(&out);
        assert!(
            !completion.contains("login-init"),
            "{shell}: offers a hidden subcommand"
        );
        assert!(
            !completion.contains(cenv_binary().to_str().unwrap()),
            "{shell}: names the build's binary"
        );
        // nested subcommands (cenv kernel install ...) are offered too
        let mut all = Vec::new();
        for sub in &subcommands {
            let text = help(&[sub.as_str()]);
            match text.split("Commands:").nth(1) {
                Some(children) => {
                    for child in children
                        .lines()
                        .skip(1)
                        .take_while(|l| !l.trim().is_empty())
                        .filter_map(|l| l.split_whitespace().next())
                        .filter(|c| *c != "help")
                    {
                        assert!(completion.contains(child), "{shell}: no {sub} {child}");
                        all.push(format!("{sub} {child}"));
                    }
                }
                None => all.push(sub.clone()),
            }
        }
        assert!(all.iter().any(|s| s == "kernel install"), "{all:?}");
        for sub in &all {
            let top_word = sub.split(' ').next().unwrap();
            assert!(completion.contains(top_word), "{shell}: no subcommand {sub}");
            let words: Vec<&str> = sub.split(' ').collect();
            let options = help(&words);
            let options = options.split("Options:").nth(1).unwrap_or_default();
            // the flag column of each option line: "  -p, --prefix <PATH>  help..."
            let columns: Vec<&str> = options
                .lines()
                .take_while(|l| l.is_empty() || l.starts_with(' '))
                .map(str::trim_start)
                .filter(|l| l.starts_with('-'))
                .map(|l| l.split("  ").next().unwrap_or(""))
                .collect();
            for word in columns
                .iter()
                .flat_map(|c| c.split(|c: char| c.is_whitespace() || c == ','))
            {
                let is_flag =
                    (word.starts_with("--") && word.len() > 2) || (word.len() == 2 && word.starts_with('-'));
                if !is_flag || word.contains('<') {
                    continue;
                }
                let flag = word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
                // fish: `... from SUB' -l LONG` (nested: `from kernel; and
                // __fish_seen_subcommand_from install' -l LONG`), a value's
                // completion after it
                let fish_option = |option: String| {
                    [format!("{option}\n"), format!("{option} ")]
                        .iter()
                        .any(|o| completion.contains(o.as_str()))
                };
                let from = match sub.split_once(' ') {
                    Some((parent, child)) => {
                        format!("from {parent}; and __fish_seen_subcommand_from {child}'")
                    }
                    None => format!("from {sub}'"),
                };
                let offered = match flag.strip_prefix("--") {
                    Some(long) if shell == "fish" => fish_option(format!("{from} -l {long}")),
                    None if shell == "fish" => fish_option(format!("{from} -s {}", &flag[1..])),
                    _ => completion.contains(flag),
                };
                assert!(offered, "{shell}: {sub} {flag} is not completed");
            }
        }
    }
}

#[test]
fn zsh_completion_loads_under_emulate_ksh() {
    // EL's /etc/zprofile runs `emulate -L ksh` around what it sources
    let out = Command::new("zsh")
        .args(["-f", "-c"])
        .arg(format!(
            "autoload -U compinit && compinit -u; emulate -L ksh; eval \"$({} completions zsh)\" && echo LOADED",
            cenv_binary().display()
        ))
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("LOADED"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(!stderr(&out).contains("bad output format"), "{}", stderr(&out));
}

/// A login shell evaluates the function and completion before ~/.zshrc
/// runs compinit: the completion registers itself at the first prompt.
#[test]
fn zsh_completion_evaluated_before_compinit_registers_at_the_first_prompt() {
    let out = Command::new("zsh")
        .args(["-f", "-c"])
        .arg(format!(
            "eval \"$({} shell-init zsh)\"; print -r -- \"before=${{+_comps}}\"; \
             autoload -U compinit && compinit -u -D; \
             for f in $precmd_functions; do $f; done; \
             print -r -- \"after=${{_comps[cenv]}} hooks=${{#precmd_functions}}\"",
            cenv_binary().display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "before=0\nafter=_cenv hooks=0\n",
        "{}",
        stderr(&out)
    );
}
