//! The adversarial suite: each test is an attack, tried for real as root in
//! CI with the test users (cenvt-admin owns the envs; cenvt-alice is in the
//! research group; cenvt-bob, outside it, plays the other researcher or the
//! attacker). Grouped by the actors of SECURITY.md's threat model, so that a
//! reviewer goes from a guarantee to the attack that tests it.
//!
//! Attacks by root on someone's behalf live in `root_started.rs`; the write
//! forms under Landlock (create, truncate, rename, mkdir, symlink, mkfifo,
//! link, through pkgs/ and a bind mount) in `confine.rs`; ownership and mode
//! refusals (group-/world-writable paths, a symlinked bin/ or prefix, a
//! world-writable non-sticky parent, an o+w activate.d script) in
//! `policy.rs`. SECURITY.md's "How this is tested" maps all of them.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

fn sandbox() -> Sandbox {
    shared_sandbox(&["cv"], |sb| envs_config(&[&sb.path("envs")]).to_string())
}

#[test]
fn env_vars_d_written_by_a_group_member_is_refused_everywhere() {
    require_root!();
    let sb = sandbox();
    let dir = sb.mkdir("envs/cv/etc/conda/env_vars.d");
    for d in ["envs/cv/etc", "envs/cv/etc/conda"] {
        chown(sb.path(d), ADMIN);
        chmod(sb.path(d), 0o2750);
    }
    chown(&dir, ADMIN);
    chmod(&dir, 0o2770); // the group may write here
    let evil = sb.write(
        "envs/cv/etc/conda/env_vars.d/evil.json",
        "{\"LD_PRELOAD\": \"/tmp/evil.so\"}",
    );
    // written by another member (bob, here) — or, with the directory
    // group-writable, by anyone in the group
    chown(&evil, BOB);
    chmod(&evil, 0o640);
    let out = run_as(&sb, ALICE, &["run", "cv", "true"]);
    refused_with(&out, "env_vars.d");
    // the file alone, in a directory only the admin writes
    chmod(&dir, 0o2750);
    let out = run_as(&sb, ALICE, &["run", "cv", "true"]);
    refused_with(&out, &format!("evil.json is owned by {BOB}"));
    // info and activate say the same
    let info = run_as(&sb, ALICE, &["info", "cv"]);
    assert!(
        stdout(&info).contains("trust check:     REFUSED"),
        "{}",
        stdout(&info)
    );
    let activate = run_as(&sb, ALICE, &["activate", "--shell", "bash", "cv"]);
    refused_with(&activate, "evil.json");
}

#[test]
fn conda_meta_state_writable_by_the_group_or_a_symlink_is_refused() {
    require_root!();
    let sb = sandbox();
    let state = sb.write(
        "envs/cv/conda-meta/state",
        "{\"env_vars\": {\"PYTHONPATH\": \"/tmp/evil\"}}",
    );
    chown(&state, ADMIN);
    chmod(&state, 0o660);
    refused_with(
        run_as(&sb, ALICE, &["run", "cv", "true"]),
        "conda-meta/state is writable by the group",
    );
    fs::remove_file(&state).unwrap();
    std::os::unix::fs::symlink("/tmp/alices-state.json", &state).unwrap();
    refused_with(
        run_as(&sb, ALICE, &["run", "cv", "true"]),
        "conda-meta/state is a symlink",
    );
}

#[test]
fn an_acl_granting_write_to_another_user_counts_as_writable() {
    require_root!();
    let sb = sandbox();
    let bin = sb.path("envs/cv/bin");
    sh(&["setfacl", "-m", &format!("u:{BOB}:rwx"), bin.to_str().unwrap()]);
    let out = run_as(&sb, ALICE, &["run", "cv", "true"]);
    refused_with(
        &out,
        &format!("grants write to the user {BOB} through a POSIX ACL"),
    );
    assert!(
        stderr(&out).contains(&format!("setfacl -x u:{BOB}")),
        "{}",
        stderr(&out)
    );
    sh(&["setfacl", "-b", bin.to_str().unwrap()]);
    assert!(run_as(&sb, ALICE, &["run", "cv", "true"]).status.success());
}

/// bob swaps `bin/python` and his own `bin/.evil` (renameat2 with
/// RENAME_EXCHANGE) in a loop, through an ACL that lets him traverse the
/// env and write its `bin/`, while alice runs `python` 200 times. Returns
/// each run's output and the number of swaps that succeeded.
fn race_bob_swapping_bin_python(sb: &Sandbox) -> (Vec<Output>, u64) {
    let bin = sb.path("envs/cv/bin");
    for dir in [sb.path("envs"), sb.path("envs/cv")] {
        sh(&["setfacl", "-m", &format!("u:{BOB}:x"), dir.to_str().unwrap()]);
    }
    sh(&["setfacl", "-m", &format!("u:{BOB}:rwx"), bin.to_str().unwrap()]);
    let evil = sb.write("envs/cv/bin/.evil", "#!/bin/sh\necho EVIL-RAN\n");
    chown(&evil, BOB);
    chmod(&evil, 0o755);
    bob_swaps_while_alice_runs(
        sb,
        &bin.join("python"),
        &evil,
        &["cv", "python", "-c", "print('GOOD')"],
    )
}

/// bob exchanges `a` and `b` (renameat2 with RENAME_EXCHANGE) in a loop
/// while alice runs `cenv run ARGS` 200 times. Returns each run's output
/// and the number of swaps that succeeded.
fn bob_swaps_while_alice_runs(sb: &Sandbox, a: &Path, b: &Path, command: &[&str]) -> (Vec<Output>, u64) {
    let count = sb.path("work/swaps");
    let swapper = sb.write(
        "work/swap.py",
        &format!(
            "import ctypes, os, time\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             a, b = b'{a}', b'{b}'\n\
             swaps = 0\n\
             end = time.time() + 60\n\
             while time.time() < end:\n\
             \x20   if libc.renameat2(-100, a, -100, b, 2) == 0: swaps += 1\n\
             \x20   if swaps % 100 == 1:\n\
             \x20       open('{count}.new', 'w').write(str(swaps)); os.replace('{count}.new', '{count}')\n",
            a = a.display(),
            b = b.display(),
            count = count.display(),
        ),
    );
    chmod(&swapper, 0o644);
    let mut swapping = as_user(BOB, "python3").arg(&swapper).spawn().unwrap();
    // the race starts once the swapper has swapped
    for _ in 0..500 {
        if count.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run: Vec<&str> = ["run"].iter().chain(command).copied().collect();
    let outputs: Vec<Output> = (0..200).map(|_| run_as(sb, ALICE, &run)).collect();
    let _ = swapping.kill();
    let _ = swapping.wait();
    let swaps = fs::read_to_string(&count)
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    (outputs, swaps)
}

#[test]
fn swapping_bin_python_in_a_loop_never_runs_the_swapped_file() {
    require_root!();
    let sb = sandbox();
    let (outputs, swaps) = race_bob_swapping_bin_python(&sb);
    assert!(
        swaps > 1000,
        "the swapper swapped {swaps} times: the race never happened"
    );
    let evil_runs = outputs.iter().filter(|o| stdout(o).contains("EVIL-RAN")).count();
    let refused = outputs.iter().filter(|o| o.status.code() == Some(125)).count();
    assert_eq!(evil_runs, 0, "alice's runs executed bob's file");
    assert_eq!(refused, 200, "every run must be refused while bob can write bin/");
}

#[test]
fn with_strict_permissions_off_the_file_executed_is_the_file_judged() {
    require_root!();
    // the check only warns: a run goes ahead whatever it found, so what
    // matters is that the warning describes the very file that runs — the
    // race between the check and the exec stays closed
    let sb = shared_sandbox(&["cv"], |sb| {
        envs_config(&[&sb.path("envs")])
            .set("strict_permissions", false)
            .to_string()
    });
    let (outputs, swaps) = race_bob_swapping_bin_python(&sb);
    assert!(
        swaps > 1000,
        "the swapper swapped {swaps} times: the race never happened"
    );
    let judged_bobs =
        |o: &Output| stderr(o).contains(&format!("is owned by {BOB}, who is not a trusted owner"));
    let ran_bobs = |o: &Output| stdout(o).contains("EVIL-RAN");
    let mismatches: Vec<String> = outputs
        .iter()
        .filter(|o| judged_bobs(o) != ran_bobs(o))
        .map(|o| format!("stdout {:?} stderr {:?}", stdout(o), stderr(o)))
        .collect();
    assert!(
        mismatches.is_empty(),
        "the file judged was not the file run: {mismatches:#?}"
    );
    let (bobs, goods) = (
        outputs.iter().filter(|o| ran_bobs(o)).count(),
        outputs.iter().filter(|o| stdout(o).contains("GOOD")).count(),
    );
    assert!(
        bobs > 0 && goods > 0,
        "both files must have run: bob's {bobs}, python {goods}"
    );
}

#[test]
fn a_path_through_a_directory_the_check_does_not_judge_is_never_executed_by_path() {
    require_root!();
    // `bin/py -> ../lib/pylink/python3`, `lib/pylink -> /usr/bin`, and lib/
    // is bob's to change (an ACL). The check judges bin/ and the file the
    // path resolves to with every directory above it, not lib/: so this
    // command is executed through the descriptor judged, not by its path,
    // and bob's swapping lib/pylink for his own link between the check and
    // the exec never runs his file.
    let sb = sandbox();
    let lib = sb.mkdir("envs/cv/lib");
    chown(&lib, ADMIN);
    chmod(&lib, 0o2750);
    for dir in [sb.path("envs"), sb.path("envs/cv")] {
        sh(&["setfacl", "-m", &format!("u:{BOB}:x"), dir.to_str().unwrap()]);
    }
    sh(&["setfacl", "-m", &format!("u:{BOB}:rwx"), lib.to_str().unwrap()]);
    let bobs = sb.mkdir("work/bobs");
    let evil = sb.write("work/bobs/python3", "#!/bin/sh\necho EVIL-RAN\n");
    for path in [&bobs, &evil] {
        chown(path, BOB);
        chmod(path, 0o755);
    }
    std::os::unix::fs::symlink("/usr/bin", lib.join("pylink")).unwrap();
    std::os::unix::fs::symlink(&bobs, lib.join(".evil")).unwrap();
    std::os::unix::fs::symlink("../lib/pylink/python3", sb.path("envs/cv/bin/py")).unwrap();
    let (outputs, swaps) = bob_swaps_while_alice_runs(
        &sb,
        &lib.join("pylink"),
        &lib.join(".evil"),
        &["cv", "py", "-c", "print('GOOD')"],
    );
    assert!(
        swaps > 1000,
        "the swapper swapped {swaps} times: the race never happened"
    );
    let evil_runs = outputs.iter().filter(|o| stdout(o).contains("EVIL-RAN")).count();
    let goods = outputs.iter().filter(|o| stdout(o).contains("GOOD")).count();
    assert_eq!(evil_runs, 0, "alice's runs executed bob's file");
    // a run that judged bob's link is refused; one that judged /usr/bin runs
    assert!(goods > 0, "no run judged the good link: {goods} of 200 ran");
}

#[test]
fn a_link_another_user_owns_in_a_sticky_directory_is_never_followed_by_path() {
    require_root!();
    // lab/ is sticky and writable by bob's group (as /tmp, or a shared
    // project directory): the check accepts it above an env, since there
    // only an entry's owner can replace it. alice's env links bin/python
    // to ../../py, which bob owns: bob can swap his own link, so the
    // command runs through the descriptor judged, never by its path.
    let sb = sandbox();
    let lab = sb.mkdir("lab");
    sh(&["chown", &format!("root:{BOB}"), lab.to_str().unwrap()]);
    chmod(&lab, 0o1775);
    let env = sb.make_env("lab/env");
    fs::remove_file(env.join("bin/python")).unwrap();
    std::os::unix::fs::symlink("../../py", env.join("bin/python")).unwrap();
    let alice = user(ALICE);
    chown_tree(&env, alice.uid, alice.gid);
    let bobs = sb.mkdir("work/bobs-py");
    let evil = sb.write("work/bobs-py/python3", "#!/bin/sh\necho EVIL-RAN\n");
    for path in [&bobs, &evil] {
        chown(path, BOB);
        chmod(path, 0o755);
    }
    let bob = user(BOB);
    for (link, target) in [
        (lab.join("py"), Path::new("/usr/bin/python3")),
        (lab.join(".evil"), evil.as_path()),
    ] {
        std::os::unix::fs::symlink(target, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(bob.uid), Some(bob.gid)).unwrap();
    }
    let prefix = env.to_str().unwrap().to_owned();
    let (outputs, swaps) = bob_swaps_while_alice_runs(
        &sb,
        &lab.join("py"),
        &lab.join(".evil"),
        &["-p", &prefix, "python", "-c", "print('GOOD')"],
    );
    assert!(
        swaps > 1000,
        "the swapper swapped {swaps} times: the race never happened"
    );
    let evil_runs = outputs.iter().filter(|o| stdout(o).contains("EVIL-RAN")).count();
    let goods = outputs.iter().filter(|o| stdout(o).contains("GOOD")).count();
    assert_eq!(evil_runs, 0, "alice's runs executed bob's file");
    assert!(goods > 0, "no run judged the good link: {goods} of 200 ran");
}

#[test]
fn a_deactivate_script_made_writable_after_activation_is_not_sourced_by_deactivate() {
    require_root!();
    let sb = sandbox();
    let script = sb.write("envs/cv/etc/conda/deactivate.d/tool.sh", "export TOOL_GONE=1\n");
    for dir in [
        "envs/cv/etc",
        "envs/cv/etc/conda",
        "envs/cv/etc/conda/deactivate.d",
    ] {
        chown(sb.path(dir), ADMIN);
        chmod(sb.path(dir), 0o2750);
    }
    chown(&script, ADMIN);
    chmod(&script, 0o640);
    let ready = sb.path("work/activated");
    let go = sb.path("work/go");
    let pwned = sb.path("work/PWNED-deactivate");
    let bash = format!(
        "eval \"$({cenv} shell-init bash)\"; cenv activate cv || exit 9; touch {ready}; \
         while [ ! -e {go} ]; do sleep 0.05; done; cenv deactivate; echo \"rc=$? [${{CONDA_PREFIX-}}]\"",
        cenv = cenv_binary().display(),
        ready = ready.display(),
        go = go.display(),
    );
    let shell = as_user(ALICE, "bash")
        .args(["-c", &bash])
        .env("CENV_CONFIG", sb.path("cenv.toml"))
        .current_dir(sb.path("work"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ready.exists(), "the activation did not happen");
    // meanwhile the script becomes the group's to write, and a member does
    chmod(&script, 0o660);
    fs::write(&script, format!("touch {}\n", pwned.display())).unwrap();
    fs::write(&go, "").unwrap();
    let out = shell.wait_with_output().unwrap();
    assert!(
        !pwned.exists(),
        "cenv deactivate sourced a script the group could write"
    );
    assert!(
        stdout(&out).starts_with("rc=125 ["),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("is writable by the group"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_field_separator_in_the_working_directory_cannot_forge_the_audit_line() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = sandbox();
    let forged = sb.mkdir("work/d ; USER=root ; COMMAND=/bin/true");
    chmod(&forged, 0o777);
    let marker = unique_marker("forge");
    let out = cenv_as(&sb, ALICE)
        .current_dir(&forged)
        .args(["run", "cv", "true", &marker])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line = syslog.line_with(&marker);
    let body = line.split_once(": ").unwrap().1;
    let (invoker, fields) = body.split_once(" : ").unwrap();
    assert_eq!(invoker, ALICE);
    let users: Vec<&str> = fields.split(" ; ").filter(|f| f.starts_with("USER=")).collect();
    assert_eq!(users, [format!("USER={ALICE}")], "{line}");
    let commands: Vec<&str> = fields
        .split(" ; ")
        .filter(|f| f.starts_with("COMMAND="))
        .collect();
    assert_eq!(commands.len(), 1, "{line}");
    assert!(
        line.contains("d \\x3b USER=root \\x3b COMMAND=/bin/true"),
        "{line}"
    );
}

/// An env whose directory name is shell code, in a place alice searches.
fn crafted_env(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let env = sb.make_env(&format!("alice-envs/{name}"));
    let alice = user(ALICE);
    chown_tree(&sb.path("alice-envs"), alice.uid, alice.gid);
    env
}

#[test]
fn completion_never_runs_an_env_directory_name() {
    require_root!();
    let sb = sandbox();
    // no `/` in the name: a directory can be called this, in work/ the
    // command substitution would create work/PWNED-completion
    let pwned = sb.path("work/PWNED-completion");
    let crafted = crafted_env(&sb, "$(touch PWNED-completion)`touch PWNED-completion`");
    assert!(crafted.join("conda-meta").is_dir());
    crafted_env(&sb, "good-env");
    let script = format!(
        "eval \"$({cenv} shell-init bash)\"; COMP_WORDS=(cenv run ''); COMP_CWORD=2; _cenv; \
         printf '[%s]\\n' \"${{COMPREPLY[@]}}\"",
        cenv = cenv_binary().display()
    );
    let out = as_user(ALICE, "bash")
        .args(["-c", &script])
        .env("CONDA_ENVS_PATH", sb.path("alice-envs"))
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    assert!(!pwned.exists(), "completion ran a directory name");
    assert!(
        stdout(&out).contains("[good-env]"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        !stdout(&out).contains("touch"),
        "a name cenv run refuses was offered: {}",
        stdout(&out)
    );
}

#[test]
fn the_prompt_shows_a_crafted_prefix_literally_and_runs_nothing() {
    require_root!();
    let sb = sandbox();
    let pwned = sb.path("work/PWNED-prompt");
    let env = crafted_env(
        &sb,
        &format!("$(touch {})`touch {}`%n", pwned.display(), pwned.display()),
    );
    let bash = format!(
        "PS1='$ '; eval \"$({cenv} shell-init bash)\"; cenv activate -p \"$ENV_PATH\" && echo \"PROMPT=${{PS1@P}}\"",
        cenv = cenv_binary().display()
    );
    let zsh = format!(
        "setopt promptsubst; PS1='$ '; eval \"$({cenv} shell-init zsh)\"; cenv activate -p \"$ENV_PATH\" && \
         print -r -- \"PROMPT=${{(%)${{(e)PS1}}}}\"",
        cenv = cenv_binary().display()
    );
    for (shell, script) in [("bash", bash), ("zsh", zsh)] {
        let out = as_user(ALICE, shell)
            .args(["-c", &script])
            .env("ENV_PATH", &env)
            .current_dir(sb.path("work"))
            .output()
            .unwrap();
        assert!(
            !pwned.exists(),
            "{shell}: the prompt ran a path: {}",
            stdout(&out)
        );
        let text = stdout(&out);
        assert!(
            text.contains("$(touch ") && text.contains("`touch "),
            "{shell}: {text}{}",
            stderr(&out)
        );
        assert!(text.contains("%n"), "{shell}: % sequence expanded: {text}");
    }
}

#[test]
fn fishs_prompt_shows_a_crafted_prefix_and_obeys_none_of_its_escapes() {
    require_root!();
    let sb = sandbox();
    // a title-setting escape and a right-to-left override in the path
    let env = crafted_env(&sb, "x\u{1b}]0;PWNED-TITLE\u{7}y\u{202e}z");
    let fish = format!(
        "function fish_prompt; echo -n '$ '; end; {cenv} shell-init fish | source; \
         cenv activate -p \"$ENV_PATH\"; and fish_prompt",
        cenv = cenv_binary().display()
    );
    let out = as_user(ALICE, "fish")
        .args(["-c", &fish])
        .env("ENV_PATH", &env)
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = &out.stdout;
    assert!(
        String::from_utf8_lossy(shown).contains("PWNED-TITLE"),
        "{}",
        stdout(&out)
    );
    assert!(
        !shown.contains(&0x1b) && !shown.contains(&0x07),
        "fish's prompt printed raw escapes: {shown:?}"
    );
    assert!(
        !stdout(&out).contains('\u{202e}'),
        "fish's prompt printed a bidirectional override"
    );
}

#[test]
fn terminal_escapes_from_an_env_are_escaped_in_every_report() {
    require_root!();
    let sb = sandbox();
    let env = crafted_env(&sb, "escapes");
    fs::create_dir_all(env.join("etc/conda/env_vars.d")).unwrap();
    fs::write(
        env.join("etc/conda/env_vars.d/x.json"),
        "{\"TITLE\": \"\\u001b]0;owned\\u0007\\u001b[2J\", \"FAKE\": \"x\\ntrust check:     trusted\"}",
    )
    .unwrap();
    let alice = user(ALICE);
    chown_tree(&sb.path("alice-envs"), alice.uid, alice.gid);
    crafted_env(&sb, "new\nline\x1b[31m");
    // shown as "spoofpdf": a right-to-left override reverses what follows
    crafted_env(&sb, "spoof\u{202e}fdp");
    let run = |args: &[&str]| {
        as_user(ALICE, cenv_binary())
            .args(args)
            .env("CONDA_ENVS_PATH", sb.path("alice-envs"))
            .current_dir(sb.path("work"))
            .output()
            .unwrap()
    };
    for args in [
        &["info", "escapes"][..],
        &["list"][..],
        &["doctor", "escapes"][..],
        &["verify", "escapes"][..],
    ] {
        let out = run(args);
        let bytes = &out.stdout;
        assert!(
            !bytes.contains(&0x1b),
            "{args:?} printed a raw escape: {}",
            stdout(&out)
        );
        assert!(!bytes.contains(&0x07), "{args:?} printed a raw BEL");
    }
    let info = stdout(&run(&["info", "escapes"]));
    assert_eq!(
        info.lines().filter(|l| l.starts_with("trust check:")).count(),
        1,
        "{info}"
    );
    assert!(info.contains("\\x1b]0;owned\\x07"), "{info}");
    let list = stdout(&run(&["list"]));
    assert!(list.contains("new\\x0aline\\x1b[31m"), "{list}");
    assert!(
        list.contains("spoof\\xe2\\x80\\xaefdp") && !list.contains('\u{202e}'),
        "{list}"
    );
    // JSON stays exact
    let json = stdout(&run(&["info", "--json", "escapes"]));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["env_vars"]["TITLE"], "\u{1b}]0;owned\u{7}\u{1b}[2J");
}

#[test]
fn cenv_never_aborts_on_full_output_or_when_no_thread_can_be_had() {
    require_root!();
    let sb = sandbox();
    let full = || fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = cenv_as(&sb, ALICE)
        .args(["run", "nosuchenv", "id"])
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    for args in [&["check-config"][..], &["list"][..], &["info", "cv"][..]] {
        let out = cenv_as(&sb, ALICE).args(args).stdout(full()).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("No space left on device"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    for args in [&["list"][..], &["doctor", "--all"][..], &["verify", "cv"][..]] {
        let out = as_user(ALICE, "prlimit")
            .arg("--nproc=1")
            .arg(cenv_binary())
            .arg("--config")
            .arg(sb.path("cenv.toml"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{args:?} under --nproc=1: {:?} {}",
            out.status,
            stderr(&out)
        );
    }
}

#[test]
fn a_missing_command_is_logged_as_not_found_not_as_a_refusal() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = sandbox();
    let marker = unique_marker("no-such-command");
    let out = run_as(&sb, ALICE, &["run", "cv", &marker]);
    assert_eq!(out.status.code(), Some(127));
    let line = syslog.line_with(&marker);
    assert!(line.starts_with("authpriv.notice"), "{line}");
    assert!(line.contains(": command not found ;"), "{line}");
}

#[test]
fn a_callers_umask_077_is_never_loosened() {
    require_root!();
    let sb = sandbox();
    let out = as_user(ALICE, "sh")
        .arg("-c")
        .arg(format!(
            "umask 077; exec {} --config {} run cv sh -c umask",
            cenv_binary().display(),
            sb.path("cenv.toml").display()
        ))
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "0077", "{}", stderr(&out));
}

#[test]
fn another_user_cannot_read_an_envs_variables_from_the_activation_shells_command_line() {
    require_root!();
    let sb = sandbox();
    let secret = unique_marker("licence-token");
    sb.write(
        "envs/cv/etc/conda/env_vars.d/licence.json",
        &format!("{{\"LICENCE_TOKEN\": \"{secret}\"}}\n"),
    );
    let ready = sb.path("work/activating");
    sb.write(
        "envs/cv/etc/conda/activate.d/slow.sh",
        &format!("touch {}; sleep 3\n", ready.display()),
    );
    for dir in [
        "envs/cv/etc",
        "envs/cv/etc/conda",
        "envs/cv/etc/conda/env_vars.d",
        "envs/cv/etc/conda/activate.d",
    ] {
        chown(sb.path(dir), ADMIN);
        chmod(sb.path(dir), 0o2750);
    }
    for file in [
        "envs/cv/etc/conda/env_vars.d/licence.json",
        "envs/cv/etc/conda/activate.d/slow.sh",
    ] {
        chown(sb.path(file), ADMIN);
        chmod(sb.path(file), 0o640);
    }
    let run = cenv_as(&sb, ALICE)
        .args([
            "run",
            "cv",
            "sh",
            "-c",
            "test -n \"$LICENCE_TOKEN\" && echo TOKEN-SET",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(ready.exists(), "the activate.d script never ran");
    // bob, another user of the machine, reads every command line there is
    let seen = as_user(BOB, "sh")
        .args([
            "-c",
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done 2>/dev/null",
        ])
        .output()
        .unwrap();
    let out = run.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "TOKEN-SET\n", "the run did not get the variable");
    assert!(
        stdout(&seen).contains("cenv-activate"),
        "the activation shell was not running while bob looked: {}",
        stdout(&seen)
    );
    assert!(
        !stdout(&seen).contains(&secret),
        "bob read the env's variable from a command line"
    );
}

// ======== an attacker with a researcher's account: code running inside a run ========

#[test]
fn a_descriptor_into_the_env_opened_before_the_run_does_not_get_around_landlock() {
    require_root!();
    let sb = sandbox();
    // the env's owner opens bin/ and hands it to the run as fd 3
    let probe = "import errno, os\n\
                 for how, act in [('dir_fd', lambda: os.open('x', os.O_CREAT | os.O_WRONLY, dir_fd=3)),\n\
                                  ('proc', lambda: open('/proc/self/fd/3/y', 'w'))]:\n\
                 \x20   try:\n\
                 \x20       act(); print(how, 'WRITTEN')\n\
                 \x20   except OSError as e:\n\
                 \x20       print(how, errno.errorcode[e.errno])\n";
    let out = as_user(ADMIN, "sh")
        .arg("-c")
        .arg(format!(
            "exec 3<'{}'; exec {} --config {} run cv python -c \"$PROBE\"",
            sb.path("envs/cv/bin").display(),
            cenv_binary().display(),
            sb.path("cenv.toml").display()
        ))
        .env("PROBE", probe)
        .current_dir(sb.path("work"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("dir_fd EACCES"), "{text}{}", stderr(&out));
    assert!(text.contains("proc EACCES"), "{text}");
}

#[test]
fn a_nested_run_stays_confined_in_both_envs() {
    require_root!();
    let sb = shared_sandbox(&["cv", "other"], |sb| {
        envs_config(&[&sb.path("envs")]).to_string()
    });
    let inner = format!(
        "{} --config {} run other python -c \"import os\nfor p in ['{}', '{}']:\n  try:\n    open(p + '/lib/data.txt', 'a'); print('WRITTEN', p)\n  except OSError as e: print('DENIED', p)\"",
        cenv_binary().display(),
        sb.path("cenv.toml").display(),
        sb.path("envs/cv").display(),
        sb.path("envs/other").display()
    );
    let out = cenv_as(&sb, ADMIN)
        .args(["run", "cv", "sh", "-c", &inner])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(text.matches("DENIED").count(), 2, "{text}{}", stderr(&out));
}

#[test]
fn huge_argument_lists_and_environments_pass_or_fail_cleanly() {
    require_root!();
    let sb = sandbox();
    let args: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let out = cenv_as(&sb, ALICE)
        .args(["run", "cv", "sh", "-c", "echo $#", "sh"])
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "100000", "{}", stderr(&out));
    let mut cmd = cenv_as(&sb, ALICE);
    for i in 0..5000 {
        cmd.env(format!("CENV_TEST_VAR_{i}"), "x".repeat(20));
    }
    let out = cmd
        .args(["run", "cv", "sh", "-c", "env | grep -c CENV_TEST_VAR_"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "5000", "{}", stderr(&out));
}

#[test]
fn non_utf8_names_paths_and_arguments_are_handled() {
    require_root!();
    let sb = sandbox();
    let raw = OsStr::from_bytes(b"caf\xe9");
    let out = cenv_as(&sb, ALICE)
        .arg("run")
        .arg(raw)
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("valid UTF-8"), "{}", stderr(&out));
    let env = sb.make_env("public/\u{1F600}-\u{e9}");
    let raw_dir = sb.path("public").join(OsStr::from_bytes(b"raw\xff"));
    fs::rename(&env, &raw_dir).unwrap();
    let out = cenv_as(&sb, ALICE)
        .arg("run")
        .arg("-p")
        .arg(&raw_dir)
        .args([
            "python",
            "-c",
            "import sys, os; print(os.fsencode(sys.argv[1]).hex())",
        ])
        .arg(OsStr::from_bytes(b"\xff\xfe"))
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "fffe", "{}", stderr(&out));
}

#[test]
fn few_descriptors_and_closed_standard_streams_give_a_run_or_a_clear_error() {
    require_root!();
    let sb = sandbox();
    for limit in 3..=8 {
        let out = as_user(ALICE, "prlimit")
            .arg(format!("--nofile={limit}"))
            .arg(cenv_binary())
            .arg("--config")
            .arg(sb.path("cenv.toml"))
            .args(["run", "cv", "true"])
            .current_dir(sb.path("work"))
            .output()
            .unwrap();
        // with 3 descriptors the dynamic loader itself fails (127) before cenv runs
        let loader =
            out.status.code() == Some(127) && stderr(&out).contains("error while loading shared libraries");
        assert!(
            matches!(out.status.code(), Some(0 | 125)) || loader,
            "--nofile={limit}: {:?} {}",
            out.status,
            stderr(&out)
        );
    }
    // closed stdin, stdout and stderr: nothing cenv opens takes their place
    let report = sb.path("work/fds.txt");
    let out = as_user(ALICE, "sh")
        .arg("-c")
        .arg(format!(
            "exec {} --config {} run cv sh -c 'ls -l /proc/self/fd > {}' <&- >&- 2>&-",
            cenv_binary().display(),
            sb.path("cenv.toml").display(),
            report.display()
        ))
        .current_dir(sb.path("work"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let fds = fs::read_to_string(&report).unwrap();
    for fd in ["0", "2"] {
        let line = fds
            .lines()
            .find(|l| l.contains(&format!(" {fd} -> ")))
            .unwrap_or_default();
        assert!(line.ends_with("/dev/null"), "fd {fd}: {fds}");
    }
}

#[test]
fn a_device_or_fifo_as_any_file_a_command_takes_is_refused_without_hanging() {
    require_root!();
    let sb = sandbox();
    let fifo = sb.path("work/fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let as_alice = |args: &[&OsStr], env: Option<(&str, &Path)>| {
        let mut cmd = as_user(ALICE, "timeout");
        cmd.arg("10")
            .arg(cenv_binary())
            .args(args)
            .current_dir(sb.path("work"));
        if let Some((name, value)) = env {
            cmd.env(name, value);
        }
        cmd.output().unwrap()
    };
    for file in [Path::new("/dev/zero"), fifo.as_path()] {
        // every place a command takes a file: --config, CENV_CONFIG,
        // check-config's argument, diff's snapshot
        let config = sb.path("cenv.toml");
        let cases: Vec<(&str, std::process::Output, &str)> = vec![
            (
                "--config",
                as_alice(&[os("--config"), file.as_os_str(), os("list")], None),
                "a config must be a regular file",
            ),
            (
                "CENV_CONFIG",
                as_alice(&[os("list")], Some(("CENV_CONFIG", file))),
                "a config must be a regular file",
            ),
            (
                "check-config",
                as_alice(&[os("check-config"), file.as_os_str()], None),
                "not a regular file",
            ),
            (
                "diff",
                as_alice(
                    &[
                        os("--config"),
                        config.as_os_str(),
                        os("diff"),
                        os("cv"),
                        file.as_os_str(),
                    ],
                    None,
                ),
                "not a regular file",
            ),
        ];
        for (what, out, says) in cases {
            assert_ne!(out.status.code(), Some(124), "{what} {file:?}: it hung");
            assert!(!out.status.success(), "{what} {file:?}: {}", stdout(&out));
            assert!(
                stderr(&out).contains(says) || stdout(&out).contains(says),
                "{what} {file:?}: {}{}",
                stdout(&out),
                stderr(&out)
            );
        }
    }
}

#[test]
fn sudo_uid_set_by_an_ordinary_user_changes_nothing() {
    require_root!();
    let sb = sandbox();
    let out = cenv_as(&sb, ALICE)
        .env("SUDO_UID", "0")
        .env("SUDO_USER", "root")
        .env("PKEXEC_UID", user(BOB).uid.to_string())
        .args(["run", "cv", "id", "-un"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), ALICE, "{}", stderr(&out));
    let out = cenv_as(&sb, ALICE)
        .args(["run", "--user", BOB, "cv", "id", "-un"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let _ = Command::new("true").status();
}
