//! Runs and inspections started by root — through a sudo rule, from root's
//! terminal, or by root for someone — must never hand out root's powers.
//! Each test is an attack found by review, tried for real: real sudo, real
//! users, a real terminal, a real syslog daemon. (Actor in SECURITY.md:
//! "root on someone's behalf", and the researcher who holds a sudo rule.)

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

fn shared() -> Sandbox {
    shared_sandbox(&["cv"], |_| String::new())
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

// ---- a researcher with a sudo rule for cenv ----

#[test]
fn sudo_user_flag_naming_another_user_is_refused_and_logged_as_the_invoker() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared();
    let _rule = SudoRule::allow(ALICE, "user-flag");
    let marker = unique_marker("userflag");
    for subcommand in [&["run"][..], &["shell"][..]] {
        let mut cmd = sudo_cenv(ALICE);
        cmd.args(subcommand)
            .args(["--user", BOB, "-p"])
            .arg(sb.path("envs/cv"));
        if subcommand == ["run"] {
            cmd.args(["sh", "-c", &format!("id -un; touch /tmp/{marker}")]);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert_eq!(code(&out), Some(125), "{subcommand:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("--user {BOB} refused")) && err.contains("sudo -u"),
            "{err}"
        );
        assert!(!stdout(&out).contains(BOB), "it ran as bob: {}", stdout(&out));
    }
    assert!(!Path::new(&format!("/tmp/{marker}")).exists());
    let line = syslog.line_with(&format!("REASON=--user {BOB} refused"));
    assert!(line.starts_with("authpriv.warning cenv["), "{line}");
    assert!(line.contains(&format!(": {ALICE} : command refused ;")), "{line}");
    // naming herself is allowed: it is who sudo says she is
    let out = sudo_cenv(ALICE)
        .args(["run", "--user", ALICE, "-p"])
        .arg(sb.path("envs/cv"))
        .args(["id", "-un"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), ALICE, "{}", stderr(&out));
}

/// A sudo rule for cenv tagged SETENV: the invoker may set any variable on
/// sudo's command line, sudo's own SUDO_* among them.
fn setenv_rule(name: &str) -> SudoRule {
    SudoRule::line(
        name,
        &format!("{ALICE} ALL=(root) NOPASSWD:SETENV: {}", cenv_binary().display()),
    )
}

#[test]
fn a_forged_sudo_user_cannot_fake_the_audit_lines_first_field() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared();
    let _rule = setenv_rule("forged-user");
    let marker = unique_marker("forged");
    let out = as_user(ALICE, "sudo")
        .args(["-n", "SUDO_USER=mallory : TTY=x ; USER=root\nforged line", "--"])
        .arg(cenv_binary())
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .args(["true", &marker])
        .current_dir(sb.path("work"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line = syslog.line_with(&marker);
    // the first field is who really started it, never what SUDO_USER says
    assert!(line.contains(&format!(": {ALICE} : TTY=")), "{line}");
    assert!(!line.contains("mallory"), "{line}");
    assert!(line.contains(&format!("USER={ALICE} ;")), "{line}");
}

#[test]
fn sudo_uid_set_through_a_setenv_rule_or_passed_on_by_root_is_refused() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared();
    let _rule = setenv_rule("forged-uid");
    let bob = user(BOB);
    let marker = unique_marker("forged-uid");
    // alice names bob through sudo's command line
    let out = as_user(ALICE, "sudo")
        .args(["-n", &format!("SUDO_UID={}", bob.uid), "--"])
        .arg(cenv_binary())
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .args(["sh", "-c", "id -un", &marker])
        .current_dir(sb.path("work"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(125), "{}", stdout(&out));
    assert!(!stdout(&out).contains(BOB), "it ran as bob: {}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "refusing SUDO_UID={}: it names {BOB}, but cenv was started by {ALICE}",
            bob.uid
        )) && err.contains("SETENV"),
        "{err}"
    );
    let line = syslog.line_with(&marker);
    assert!(line.contains(&format!(": {ALICE} : command refused ;")), "{line}");
    assert!(line.contains("REASON=refusing SUDO_UID="), "{line}");
    // every other command acts as the caller sudo names: refused the same
    let out = as_user(ALICE, "sudo")
        .args(["-n", &format!("SUDO_UID={}", bob.uid), "--"])
        .arg(cenv_binary())
        .args(["info", "-p"])
        .arg(sb.path("envs/cv"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(125), "{}", stdout(&out));
    // the genuine SUDO_UID through the same rule still works
    let out = as_user(ALICE, "sudo")
        .args(["-n", "--"])
        .arg(cenv_binary())
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .args(["id", "-un"])
        .current_dir(sb.path("work"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), ALICE, "{}", stderr(&out));
    // a root process passing a caller's environment on: nothing backs it
    let out = Command::new(cenv_binary())
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .args(["id", "-un"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SUDO_UID", user(ALICE).uid.to_string())
        .current_dir(sb.path("work"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(125), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no process above cenv belongs to"),
        "{}",
        stderr(&out)
    );
}

// ---- root's terminal ----

/// A command run from root's terminal by `cenv run --user alice`.
fn on_roots_terminal(sb: &Sandbox, command: &str, after: &str) -> Terminal {
    let script = format!(
        "{} run --user {ALICE} -p {} {command}; echo \"CENV-STATUS=$?\"; {after}",
        cenv_binary().display(),
        sb.path("envs/cv").display(),
    );
    Terminal::start(&script, &sb.path("work"), 24, 80)
}

fn python_file(sb: &Sandbox, name: &str, text: &str) -> String {
    let path = sb.write(&format!("work/{name}"), text);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path.display().to_string()
}

#[test]
fn a_process_left_behind_cannot_read_what_root_types_next() {
    require_root!();
    let sb = shared();
    let log = sb.path("work/leftover.log");
    let leftover = python_file(
        &sb,
        "leftover.py",
        &format!(
            "import os, signal, sys, time\n\
             if os.fork() == 0:\n\
             \x20   signal.signal(signal.SIGHUP, signal.SIG_IGN)\n\
             \x20   os.setsid()\n\
             \x20   log = open({log:?}, 'w')\n\
             \x20   deadline = time.time() + 4\n\
             \x20   while time.time() < deadline:\n\
             \x20       try:\n\
             \x20           data = os.read(0, 100)\n\
             \x20           log.write('READ:%r\\n' % data); log.flush()\n\
             \x20           if not data: time.sleep(0.1)\n\
             \x20       except OSError as e:\n\
             \x20           log.write('ERROR:%s\\n' % e.strerror); log.flush(); time.sleep(0.1)\n\
             \x20   os._exit(0)\n\
             print('COMMAND-DONE', flush=True)\n"
        ),
    );
    let mut terminal = on_roots_terminal(
        &sb,
        &format!("python {leftover}"),
        "read line; echo \"ROOT-READ=$line\"",
    );
    terminal.wait_for("CENV-STATUS=0");
    std::thread::sleep(std::time::Duration::from_millis(300));
    terminal.type_keys(b"root-secret-password\n");
    let screen = terminal.finish();
    assert!(screen.contains("ROOT-READ=root-secret-password"), "{screen}");
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let seen = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !seen.contains("root-secret"),
        "the leftover read root's keystrokes:\n{seen}"
    );
    assert!(
        seen.contains("ERROR:Input/output error") || seen.contains("READ:b''"),
        "the leftover should get EIO or end of file: {seen}"
    );
}

/// A script that pushes `echo INJECTED-BY-ALICE` into the input of its
/// terminal with TIOCSTI (on `/dev/tty`, its controlling terminal, whatever
/// its fds 0–2 are) and lists the terminals it holds.
fn tiocsti_injector(sb: &Sandbox) -> String {
    python_file(
        sb,
        "inject.py",
        "import fcntl, os, termios\n\
         try:\n\
         \x20   tty = os.open('/dev/tty', os.O_RDWR)\n\
         \x20   for c in b'echo INJECTED-BY-ALICE\\n':\n\
         \x20       fcntl.ioctl(tty, termios.TIOCSTI, bytes([c]))\n\
         \x20   print('TIOCSTI done')\n\
         except OSError as e:\n\
         \x20   print('TIOCSTI failed:', e.strerror)\n\
         # no descriptor of the command may be root's terminal\n\
         for fd in os.listdir('/proc/self/fd'):\n\
         \x20   try: print('FD', fd, os.readlink('/proc/self/fd/' + fd))\n\
         \x20   except OSError: pass\n",
    )
}

/// TIOCSTI by an unprivileged process is what the attack needs: kernels
/// from 6.2 may turn it off (dev.tty.legacy_tiocsti = 0), which would make
/// the tests below pass without proving anything. On for their duration.
fn legacy_tiocsti_on() -> Option<HostSysctl> {
    let setting = HostSysctl::set("dev.tty.legacy_tiocsti", "1");
    if setting.is_none() && !Path::new("/proc/sys/dev/tty").exists() {
        skip("no /proc/sys/dev/tty: cannot tell whether TIOCSTI is allowed");
    }
    setting
}

#[test]
fn tiocsti_from_the_command_never_reaches_roots_shell() {
    require_root!();
    let _lock = machine_lock();
    let _tiocsti = legacy_tiocsti_on();
    let sb = shared();
    let inject = tiocsti_injector(&sb);
    // control: alice's process on root's terminal without cenv does reach
    // root's shell — the attack works here, so the test below can fail
    let mut terminal = Terminal::start(
        &format!(
            "setpriv --reuid {ALICE} --regid {ALICE} --init-groups python3 {inject}; read line; echo \"ROOT-READ=$line\""
        ),
        &sb.path("work"),
        24,
        80,
    );
    let screen = terminal.wait_for("ROOT-READ=");
    assert!(screen.contains("TIOCSTI done"), "{screen}");
    terminal.type_keys(b"\n");
    let screen = terminal.finish();
    assert!(
        screen.contains("ROOT-READ=echo INJECTED-BY-ALICE"),
        "control: {screen}"
    );

    let mut terminal = on_roots_terminal(
        &sb,
        &format!("python {inject}"),
        "read line; echo \"ROOT-READ=$line\"",
    );
    terminal.wait_for("CENV-STATUS=");
    std::thread::sleep(std::time::Duration::from_millis(200));
    terminal.type_keys(b"typed-by-root\n");
    let roots = terminal.slave_path.display().to_string();
    let screen = terminal.finish();
    // the command ran and its TIOCSTI worked — on its own terminal
    assert!(screen.contains("CENV-STATUS=0"), "{screen}");
    assert!(screen.contains("TIOCSTI done"), "{screen}");
    assert!(screen.contains("ROOT-READ=typed-by-root"), "{screen}");
    assert!(!screen.contains("ROOT-READ=echo INJECTED"), "{screen}");
    for line in screen.lines().filter(|l| l.starts_with("FD ")) {
        assert!(
            !line.ends_with(&roots),
            "the command holds root's terminal: {line}\n{screen}"
        );
    }
}

#[test]
fn with_every_standard_descriptor_redirected_roots_terminal_is_still_out_of_reach() {
    require_root!();
    let _lock = machine_lock();
    let _tiocsti = legacy_tiocsti_on();
    let sb = shared();
    let inject = tiocsti_injector(&sb);
    let log = sb.path("work/leftover.log");
    // a leftover that opened /dev/tty before the command exited and reads
    // it for four seconds
    let leftover = python_file(
        &sb,
        "tty-leftover.py",
        &format!(
            "import os, signal, time\n\
             tty = os.open('/dev/tty', os.O_RDWR)\n\
             if os.fork() == 0:\n\
             \x20   signal.signal(signal.SIGHUP, signal.SIG_IGN)\n\
             \x20   os.setsid()\n\
             \x20   log = open({log:?}, 'w')\n\
             \x20   deadline = time.time() + 4\n\
             \x20   while time.time() < deadline:\n\
             \x20       try:\n\
             \x20           data = os.read(tty, 100)\n\
             \x20           log.write('READ:%r\\n' % data); log.flush()\n\
             \x20           if not data: time.sleep(0.1)\n\
             \x20       except OSError as e:\n\
             \x20           log.write('ERROR:%s\\n' % e.strerror); log.flush(); time.sleep(0.1)\n\
             \x20   os._exit(0)\n"
        ),
    );
    let out = sb.path("work/inject.out");
    // as root types it: every standard descriptor of both runs redirected
    let script = format!(
        "{cenv} run --user {ALICE} -p {env} python {inject} </dev/null >{out} 2>&1; echo \"CENV-STATUS-1=$?\"; \
         {cenv} run --user {ALICE} -p {env} python {leftover} </dev/null >/dev/null 2>&1; echo \"CENV-STATUS-2=$?\"; \
         read line; echo \"ROOT-READ=$line\"",
        cenv = cenv_binary().display(),
        env = sb.path("envs/cv").display(),
        out = out.display(),
    );
    let mut terminal = Terminal::start(&script, &sb.path("work"), 24, 80);
    terminal.wait_for("CENV-STATUS-2=");
    std::thread::sleep(std::time::Duration::from_millis(300));
    terminal.type_keys(b"root-secret-password\n");
    let roots = terminal.slave_path.display().to_string();
    let screen = terminal.finish();
    let injected = fs::read_to_string(&out).unwrap_or_default();
    assert!(
        screen.contains("CENV-STATUS-1=0") && screen.contains("CENV-STATUS-2=0"),
        "{screen}"
    );
    // TIOCSTI worked, on the command's own terminal, not root's
    assert!(injected.contains("TIOCSTI done"), "{injected}");
    assert!(screen.contains("ROOT-READ=root-secret-password"), "{screen}");
    assert!(!screen.contains("INJECTED"), "{screen}");
    for line in injected.lines().filter(|l| l.starts_with("FD ")) {
        assert!(
            !line.ends_with(&roots),
            "the command holds root's terminal: {line}"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let seen = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !seen.contains("root-secret"),
        "the leftover read root's keystrokes:\n{seen}"
    );
    assert!(
        seen.contains("ERROR:Input/output error") || seen.contains("READ:b''"),
        "the leftover should get EIO or end of file: {seen}"
    );
}

/// The CPU time (user + system, clock ticks) of the cenv process whose
/// command line holds `marker` — the relay.
fn relay_cpu_ticks(marker: &str) -> Option<u64> {
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let is_relay = String::from_utf8_lossy(&cmdline).contains(marker)
            && fs::read_link(entry.path().join("exe")).is_ok_and(|e| e == cenv_binary());
        if is_relay {
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
            return Some(fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?);
        }
    }
    None
}

#[test]
fn a_command_without_its_terminal_or_a_leftover_that_keeps_writing_cannot_hold_the_relay() {
    require_root!();
    let sb = shared();
    let marker = unique_marker("hangup");
    // the command closes every descriptor of its terminal and goes on for
    // three seconds: the relay must wait, not spin
    let terminal = on_roots_terminal(
        &sb,
        &format!("sh -c 'exec </dev/null >/dev/null 2>&1; sleep 3' {marker}"),
        "",
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = relay_cpu_ticks(&marker).expect("the relay is running");
    std::thread::sleep(std::time::Duration::from_millis(2000));
    let after = relay_cpu_ticks(&marker).unwrap_or(before);
    terminal.wait_for("CENV-STATUS=0");
    drop(terminal.finish());
    assert!(
        after - before < 50,
        "the relay used {} clock ticks of CPU in 2 s while the command slept",
        after - before
    );
    // a process left behind writing to the terminal without end: the relay
    // still ends with the command, and the leftover loses the terminal
    let marker = unique_marker("flood");
    let terminal = on_roots_terminal(&sb, &format!("sh -c '(yes {marker} >/dev/tty &); exit 3'"), "");
    assert!(
        terminal.shows_within("CENV-STATUS=3", 20),
        "the relay did not end: {}",
        &terminal.screen()[terminal.screen().len().saturating_sub(300)..]
    );
    let _ = terminal.finish();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let flooding = Command::new("pgrep")
        .args(["-f", &format!("yes {marker}")])
        .output()
        .unwrap();
    assert!(
        stdout(&flooding).is_empty(),
        "the leftover kept running: {}",
        stdout(&flooding)
    );
}

#[test]
fn ctrl_c_window_size_and_exit_codes_pass_through_the_relay() {
    require_root!();
    let sb = shared();
    let waiter = python_file(
        &sb,
        "wait.py",
        "import os, signal, sys, time\n\
         def winch(*a): print('SIZE', os.get_terminal_size().lines, os.get_terminal_size().columns, flush=True)\n\
         signal.signal(signal.SIGWINCH, winch)\n\
         signal.signal(signal.SIGINT, lambda *a: (print('GOT SIGINT', flush=True), sys.exit(5)))\n\
         winch()\n\
         print('READY', flush=True)\n\
         time.sleep(20)\n",
    );
    let script = format!(
        "{cenv} run --user {ALICE} -p {env} python {waiter}; echo \"STATUS-A=$?\"; \
         {cenv} run --user {ALICE} -p {env} sh -c 'exit 7'; echo \"STATUS-B=$?\"; \
         {cenv} run --user {ALICE} -p {env} sh -c 'kill -INT $$'; echo \"STATUS-C=$?\"; \
         {cenv} run --user {ALICE} -p {env} true; echo \"STATUS-D=$?\"",
        cenv = cenv_binary().display(),
        env = sb.path("envs/cv").display(),
    );
    let mut terminal = Terminal::start(&script, &sb.path("work"), 33, 101);
    terminal.wait_for("READY");
    assert!(terminal.screen().contains("SIZE 33 101"), "{}", terminal.screen());
    terminal.resize(40, 120);
    if !terminal.shows_within("SIZE 40 120", 5) {
        // under heavy load one resize was seen to go unnoticed; a second
        // one still tests that the relay passes the size on
        terminal.resize(41, 121);
        terminal.wait_for("SIZE 41 121");
    }
    terminal.type_keys(b"\x03");
    let screen = terminal.finish();
    assert!(screen.contains("GOT SIGINT"), "{screen}");
    assert!(screen.contains("STATUS-A=5"), "{screen}");
    assert!(screen.contains("STATUS-B=7"), "{screen}");
    assert!(screen.contains("STATUS-C=130"), "{screen}");
    assert!(screen.contains("STATUS-D=0"), "{screen}");
}

#[test]
fn without_a_terminal_a_run_from_root_still_leaves_no_cenv_process() {
    require_root!();
    let sb = shared();
    // setsid(1) without a fork (the child leads no process group): a
    // session with no controlling terminal, whatever the test runner has
    let child = Command::new("setsid")
        .arg(cenv_binary())
        .args(["run", "--user", ALICE, "-p"])
        .arg(sb.path("envs/cv"))
        .args(["sh", "-c", "echo $$; cat /proc/$$/comm"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(sb.path("work"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(pid.to_string().as_str()),
        "cenv was not replaced by the command: {text}"
    );
    // executed by its path, as a shell would: named as typed
    assert_eq!(lines.next(), Some("sh"));
}

// ---- inspections through sudo ----

/// An env of alice's own in her home directory, for `sudo cenv info/verify -p`.
fn alices_env(sb: &Sandbox) -> std::path::PathBuf {
    let env = sb.make_env("alice/env");
    let alice = user(ALICE);
    chown_tree(&sb.path("alice"), alice.uid, alice.gid);
    env
}

#[test]
fn sudo_cenv_info_does_not_read_root_only_files_for_the_caller() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared();
    let _rule = SudoRule::allow(ALICE, "info");
    let env = alices_env(&sb);
    // a root-only file in alice's env: root reads it, alice may not
    let state = env.join("conda-meta/state");
    fs::write(&state, "{\"env_vars\": {\"ROOT_SECRET\": \"hunter2\"}}").unwrap();
    std::os::unix::fs::lchown(&state, Some(0), Some(0)).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o600)).unwrap();
    let as_root = Command::new(cenv_binary())
        .args(["info", "-p"])
        .arg(&env)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        stdout(&as_root).contains("ROOT_SECRET=hunter2"),
        "control: {}",
        stdout(&as_root)
    );
    let out = sudo_cenv(ALICE).args(["info", "-p"]).arg(&env).output().unwrap();
    assert!(
        !stdout(&out).contains("hunter2") && !stderr(&out).contains("hunter2"),
        "{}",
        stdout(&out)
    );
    assert_eq!(code(&out), Some(125));
    assert!(
        stderr(&out).contains("conda-meta/state: Permission denied"),
        "{}",
        stderr(&out)
    );
    // and the drop itself: a root-only env is out of reach through sudo
    let hidden = sb.make_env("root-only/env");
    fs::set_permissions(sb.path("root-only"), fs::Permissions::from_mode(0o700)).unwrap();
    let out = sudo_cenv(ALICE)
        .args(["info", "-p"])
        .arg(&hidden)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(125), "{}", stdout(&out));
    assert!(stderr(&out).contains("Permission denied"), "{}", stderr(&out));
}

#[test]
fn sudo_cenv_list_sees_the_callers_own_envs_not_roots() {
    require_root!();
    let _lock = machine_lock();
    let _rule = SudoRule::allow(ALICE, "list");
    let alice = user(ALICE);
    let home = nix::unistd::User::from_name(ALICE).unwrap().unwrap().dir;
    let mine = home.join(".conda/envs/alices-own");
    fs::create_dir_all(mine.join("conda-meta")).unwrap();
    chown_tree(&home.join(".conda"), alice.uid, alice.gid);
    // an env in root's ~/.conda/envs: root's HOME is not the caller's
    let made_conda = !Path::new("/root/.conda").exists();
    fs::create_dir_all("/root/.conda/envs/roots-own/conda-meta").unwrap();
    let out = sudo_cenv(ALICE).args(["list", "--names"]).output().unwrap();
    let _ = fs::remove_dir_all(home.join(".conda"));
    let _ = fs::remove_dir_all(if made_conda {
        "/root/.conda"
    } else {
        "/root/.conda/envs/roots-own"
    });
    let names = stdout(&out);
    assert!(
        names.lines().any(|l| l == "alices-own"),
        "{names}{}",
        stderr(&out)
    );
    assert!(!names.contains("roots-own"), "{names}");
}

#[test]
fn sudo_cenv_verify_does_not_hash_files_outside_the_env() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared();
    let _rule = SudoRule::allow(ALICE, "verify");
    let env = alices_env(&sb);
    fs::write(
        env.join("conda-meta/evil-1-0.json"),
        r#"{"name": "evil", "version": "1", "build": "0", "paths_data": {"paths": [
            {"_path": "../../../../../../etc/shadow", "path_type": "hardlink", "sha256": "00", "size_in_bytes": 1},
            {"_path": "/etc/shadow", "path_type": "hardlink", "sha256": "00", "size_in_bytes": 1}]}}"#,
    )
    .unwrap();
    let out = sudo_cenv(ALICE)
        .args(["verify", "--json", "-p"])
        .arg(&env)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}{}", stderr(&out));
    assert_eq!(text.matches("\"problem\": \"invalid\"").count(), 2, "{text}");
    assert!(!text.contains("sha256 ") && !text.contains("size "), "{text}");

    // and the drop itself: a root-only file in alice's env, recorded with
    // its true hash, verifies for root and cannot be read through sudo
    let secret = env.join("lib/secret");
    fs::create_dir_all(secret.parent().unwrap()).unwrap();
    fs::write(&secret, "secret-bytes\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(env.join("conda-meta/evil-1-0.json")).unwrap();
    fs::write(
        env.join("conda-meta/sec-1-0.json"),
        format!(
            r#"{{"name": "sec", "version": "1", "build": "0", "paths_data": {{"paths": [
            {{"_path": "lib/secret", "path_type": "hardlink", "size_in_bytes": 13, "sha256": "{}"}}]}}}}"#,
            sha256_hex(b"secret-bytes\n")
        ),
    )
    .unwrap();
    let verify =
        |cmd: &mut Command| stdout(&cmd.args(["verify", "--json", "-p"]).arg(&env).output().unwrap());
    let as_root = verify(
        Command::new(cenv_binary())
            .env_clear()
            .env("PATH", "/usr/bin:/bin"),
    );
    assert!(!as_root.contains("lib/secret"), "control: {as_root}");
    let through_sudo = verify(&mut sudo_cenv(ALICE));
    assert!(
        through_sudo.contains("\"path\": \"lib/secret\"") && through_sudo.contains("Permission denied"),
        "{through_sudo}"
    );
}

/// The SHA-256 of `bytes`, in hex, as conda records it (sha256sum(1)).
fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    stdout(&out).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn sudo_cenv_check_config_does_not_echo_root_only_files() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared();
    let _rule = SudoRule::allow(ALICE, "check-config");
    let secret = sb.write("root-only/x.toml", "password = \"hunter2\"\n");
    fs::set_permissions(sb.path("root-only"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let out = sudo_cenv(ALICE)
        .arg("check-config")
        .arg(&secret)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1));
    assert!(
        !stdout(&out).contains("hunter2") && !stderr(&out).contains("hunter2"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("Permission denied"), "{}", stdout(&out));
}

#[test]
fn fifos_and_device_links_in_env_metadata_cannot_hang_or_flood_cenv() {
    require_root!();
    let sb = shared();
    let env = sb.make_env("public/env");
    nix::unistd::mkfifo(
        &env.join("conda-meta/history"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    fs::create_dir_all(env.join("etc/conda/env_vars.d")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", env.join("etc/conda/env_vars.d/a.json")).unwrap();
    fs::write(
        env.join("conda-meta/fifo-1-0.json"),
        r#"{"name": "fifo", "version": "1", "build": "0", "paths_data": {"paths": [
            {"_path": "lib/pipe", "path_type": "hardlink", "sha256": "00", "size_in_bytes": 0}]}}"#,
    )
    .unwrap();
    fs::create_dir_all(env.join("lib")).unwrap();
    nix::unistd::mkfifo(
        &env.join("lib/pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("timeout")
            .arg("10")
            .arg(cenv_binary())
            .args(args)
            .arg("-p")
            .arg(&env)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ne!(code(&out), Some(124), "{args:?} hung");
        out
    };
    let out = run(&["info"]);
    assert_eq!(code(&out), Some(125));
    assert!(
        stderr(&out).contains("a.json") && stderr(&out).contains("symbolic link"),
        "{}",
        stderr(&out)
    );
    fs::remove_file(env.join("etc/conda/env_vars.d/a.json")).unwrap();
    let out = run(&["info"]);
    assert!(
        stderr(&out).contains("history") && stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    let out = run(&["verify"]);
    assert!(
        stdout(&out).contains("lib/pipe") && stdout(&out).contains("not a regular file"),
        "{}",
        stdout(&out)
    );
}

// ---- root's own runs and what the audit log claims ----

#[test]
fn a_target_who_cannot_reach_the_env_is_told_permission_denied_not_tampering() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared();
    let marker = unique_marker("unreachable");
    let out = Command::new(cenv_binary())
        .args(["run", "--user", BOB, "-p"])
        .arg(sb.path("envs/cv"))
        .args(["true", &marker])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(sb.path("work"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(125));
    let err = stderr(&out);
    assert!(err.contains("Permission denied"), "{err}");
    assert!(!err.contains("changed after"), "{err}");
    let line = syslog.line_with(&marker);
    assert!(!line.contains("changed after"), "{line}");
    assert!(line.contains("Permission denied"), "{line}");
}

#[test]
fn root_inside_a_user_namespace_is_not_root_and_is_logged_as_who_it_is() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared();
    let marker = unique_marker("userns");
    let out = as_user(ALICE, "unshare")
        .args(["-Urm", "--"])
        .arg(cenv_binary())
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .args(["true", &marker])
        .env("SUDO_UID", user(BOB).uid.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("user namespace"), "{}", stderr(&out));
    let line = syslog.line_with(&marker);
    assert!(
        line.contains(&format!(
            ": {ALICE} (uid 0 in a user namespace) : command refused"
        )),
        "{line}"
    );
}

#[test]
fn a_failed_exec_after_the_run_line_is_one_run_not_a_refusal() {
    require_root!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let sb = shared();
    let marker = unique_marker("noexec");
    let bogus = sb.write(&format!("work/{marker}"), "not a program and no #! line\n");
    fs::set_permissions(&bogus, fs::Permissions::from_mode(0o755)).unwrap();
    let out = cenv_as(&sb, ALICE)
        .args(["run", "-p"])
        .arg(sb.path("envs/cv"))
        .arg(&bogus)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(126), "{}", stderr(&out));
    let lines = syslog.lines_with(&marker);
    assert!(!lines.iter().any(|l| l.contains("command refused")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("exec failed")), "{lines:#?}");
}

// ---- root writing into a tree another user owns ----

#[test]
fn root_never_writes_through_a_tree_another_user_owns_while_they_swap_it() {
    require_root!();
    let _lock = machine_lock();
    let sb = shared();
    // an env with ipykernel in its records, in the system config
    let env = sb.path("envs/cv");
    fs::write(env.join("conda-meta/ipykernel-6.29.5-0.json"), "{}").unwrap();
    let Some(_config) = write_system_config(&envs_config(&[&sb.path("envs")]).to_string()) else {
        return;
    };
    // root's own: a directory only root may enter, with a file in it
    let secret_dir = sb.mkdir("root-only");
    fs::set_permissions(&secret_dir, fs::Permissions::from_mode(0o700)).unwrap();
    let secret = sb.write("root-only/secret", "x");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    // alice's trees, where root is asked to write
    let hub = sb.mkdir("alice-hub/share/jupyter/kernels/cenv-cv");
    let snapshots = sb.mkdir("alice-snapshots/cv");
    let alice = user(ALICE);
    chown_tree(&sb.path("alice-hub"), alice.uid, alice.gid);
    chown_tree(&sb.path("alice-snapshots"), alice.uid, alice.gid);
    for target in [&hub, &snapshots] {
        std::os::unix::fs::symlink(&secret_dir, target.with_extension("link")).unwrap();
        std::os::unix::fs::lchown(target.with_extension("link"), Some(alice.uid), Some(alice.gid)).unwrap();
    }
    // alice swaps her directory and a symlink to root's in a loop
    let swapper = python_file(
        &sb,
        "swap-trees.py",
        &format!(
            "import ctypes, time\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             pairs = [(b'{hub}', b'{hub}.link'), (b'{snap}', b'{snap}.link')]\n\
             end = time.time() + 60\n\
             while time.time() < end:\n\
             \x20   for a, b in pairs: libc.renameat2(-100, a, -100, b, 2)\n",
            hub = hub.display(),
            snap = snapshots.display(),
        ),
    );
    let mut swapping = as_user(ALICE, "python3").arg(&swapper).spawn().unwrap();
    let root = |args: &[&OsStr]| {
        Command::new(cenv_binary())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let mut refused = 0;
    for _ in 0..25 {
        for args in [
            vec![
                os("kernel"),
                os("install"),
                os("cv"),
                os("--prefix"),
                sb.path("alice-hub").as_os_str(),
            ],
            vec![
                os("snapshot"),
                os("--all"),
                os("--dir"),
                sb.path("alice-snapshots").as_os_str(),
            ],
        ] {
            let out = root(&args);
            if code(&out) == Some(125) && stderr(&out).contains("refusing to write into") {
                refused += 1;
            }
        }
    }
    let _ = swapping.kill();
    let _ = swapping.wait();
    let mode = fs::metadata(&secret_dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "root changed the mode of its own directory");
    let entries: Vec<String> = fs::read_dir(&secret_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        ["secret"],
        "root wrote into its own directory through alice's link"
    );
    assert_eq!(refused, 50, "every run must be refused while alice owns the tree");
}

#[test]
fn roots_kernel_list_neither_hangs_on_a_fifo_nor_follows_a_link_in_another_users_tree() {
    require_root!();
    let sb = shared();
    let kernels = sb.mkdir("alice-hub/share/jupyter/kernels");
    let fifo = kernels.join("cenv-fifo");
    fs::create_dir(&fifo).unwrap();
    nix::unistd::mkfifo(
        &fifo.join("kernel.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let linked = kernels.join("cenv-linked");
    fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", linked.join("kernel.json")).unwrap();
    let alice = user(ALICE);
    chown_tree(&sb.path("alice-hub"), alice.uid, alice.gid);
    let out = Command::new("timeout")
        .arg("10")
        .arg(cenv_binary())
        .args(["kernel", "list", "--prefix"])
        .arg(sb.path("alice-hub"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", sb.home())
        .output()
        .unwrap();
    assert_ne!(code(&out), Some(124), "root's kernel list hung on a FIFO");
    let text = stdout(&out);
    assert!(
        text.contains("cenv-fifo") && text.contains("not a regular file"),
        "{text}{}",
        stderr(&out)
    );
    assert!(
        text.contains("cenv-linked") && text.contains("symbolic links"),
        "root followed alice's link: {text}"
    );
}
