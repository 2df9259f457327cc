//! Jupyter through cenv, with real Jupyter: the env `jupyter` (ipykernel and
//! jupyter_server from their PyPI wheels, installed by rattler), kernels
//! started by jupyter_client's KernelManager from the kernelspecs `cenv
//! kernel install` writes, and `cenv notebook` serving for real. The kernels
//! run `cenv run` without --config, so these tests use the test build's
//! system config, as a server would.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const KERNEL_CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jupyter/kernel_check.py");

fn jupyter() -> Option<&'static Genuine> {
    let found = genuine_jupyter();
    if found.is_none() {
        skip("set CENV_TEST_PYTHON (py-rattler, jupyter_client; tests/run-all.sh does)");
    }
    found
}

/// The system config of the test build for these tests: the genuine envs,
/// `jupyter` open to the research group and its admin only. Removed when
/// dropped.
fn jupyter_system_config(g: &Genuine, extra: &str) -> Option<SystemConfig> {
    write_system_config(
        &envs_config(&[&g.envs()])
            .raw(extra)
            .table("envs.jupyter")
            .list("groups", &[RESEARCH])
            .list("users", &[ADMIN])
            .to_string(),
    )
}

/// A Jupyter data directory of `who`'s own (JUPYTER_DATA_DIR), in the sandbox.
fn data_dir(sb: &Sandbox, who: &str) -> PathBuf {
    let dir = sb.mkdir(&format!("jupyter-{who}"));
    let u = user(who);
    chown_tree(&dir, u.uid, u.gid);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn cenv_for(who: &str, data: &Path) -> Command {
    let mut cmd = as_user(who, cenv_binary());
    cmd.env("JUPYTER_DATA_DIR", data);
    cmd
}

/// kernel_check.py run by `who`, with their Jupyter data dir (and more
/// kernel places in JUPYTER_PATH).
fn kernel_check(
    who: &str,
    data: &Path,
    jupyter_path: Option<&Path>,
    kernel: &str,
    mode: &str,
) -> (serde_json::Value, String) {
    let mut cmd = as_user(who, test_python().unwrap());
    cmd.arg(KERNEL_CHECK)
        .args([kernel, mode])
        .env("JUPYTER_DATA_DIR", data)
        .env("JUPYTER_RUNTIME_DIR", data.join("runtime"));
    if let Some(path) = jupyter_path {
        cmd.env("JUPYTER_PATH", path);
    }
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert!(
        out.status.success(),
        "kernel_check {mode}: {err}\n{}",
        stdout(&out)
    );
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{err}", stdout(&out)));
    (report, err)
}

#[test]
fn a_kernel_from_cenv_kernel_install_is_a_confined_audited_cenv_run() {
    require_root!();
    let _lock = machine_lock();
    let Some(g) = jupyter() else { return };
    let Some(_config) = jupyter_system_config(g, "") else {
        return;
    };
    let syslog = Syslog::start();
    let sb = Sandbox::new();
    let alice_data = data_dir(&sb, ALICE);

    let installed = ok(cenv_for(ALICE, &alice_data)
        .args(["kernel", "install", "jupyter"])
        .output()
        .unwrap());
    let kernel_dir = alice_data.join("kernels/cenv-jupyter");
    assert_eq!(
        installed,
        format!(
            "kernels directory: {}\njupyter: installed {}\n",
            alice_data.join("kernels").display(),
            kernel_dir.display()
        )
    );
    let spec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(kernel_dir.join("kernel.json")).unwrap()).unwrap();
    assert_eq!(
        spec["argv"],
        serde_json::json!([
            cenv_binary(),
            "run",
            "jupyter",
            "python",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}"
        ])
    );
    assert_eq!(spec["display_name"], "Python 3.11 (jupyter)");
    assert!(
        kernel_dir.join("logo-64x64.png").exists(),
        "the env's logo comes along"
    );

    // --all: the envs without ipykernel are named with the reason
    let all = ok(cenv_for(ALICE, &alice_data)
        .args(["kernel", "install", "--all"])
        .output()
        .unwrap());
    assert!(all.contains("jupyter: installed "), "{all}");
    assert!(
        all.contains("genuine: skipped: no ipykernel in its records (its admin can add it: conda install -n genuine ipykernel)\n"),
        "{all}"
    );
    assert!(all.contains("genuine-py: skipped: no ipykernel"), "{all}");
    assert!(!alice_data.join("kernels/cenv-genuine").exists());
    let list = ok(cenv_for(ALICE, &alice_data)
        .args(["kernel", "list"])
        .output()
        .unwrap());
    assert!(
        list.contains(&format!(
            "cenv-jupyter  Python 3.11 (jupyter)  ok  {}",
            kernel_dir.display()
        )),
        "{list}"
    );

    let json = ok(cenv_for(ALICE, &alice_data)
        .args(["kernel", "list", "--json"])
        .output()
        .unwrap());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["kernel"], "cenv-jupyter", "{json}");
    assert_eq!(json[0]["env"], "jupyter");
    assert_eq!(json[0]["ok"], true);

    // started as Jupyter starts it
    let (report, _) = kernel_check(ALICE, &alice_data, None, "cenv-jupyter", "full");
    assert_eq!(
        report["prefix"],
        g.prefix("jupyter").to_str().unwrap(),
        "{report}"
    );
    assert_eq!(report["umask"], "0o27", "{report}");
    assert_eq!(
        report["launched_pid"], report["kernel_pid"],
        "the process Jupyter started is the kernel itself: cenv exec'd, no wrapper: {report}"
    );
    // the kernel is what `conda activate` then `python` gives: its name in
    // ps, its argv[0] as the kernelspec has it, its executable in the env
    assert_eq!(
        report["process"],
        serde_json::json!({
            "executable": g.prefix("jupyter").join("bin/python"),
            "comm": "python",
            "argv0": "python",
        }),
        "{report}"
    );
    assert_eq!(report["interrupt"]["status"], "error", "{report}");
    assert_eq!(report["interrupt"]["ename"], "KeyboardInterrupt", "{report}");
    assert_eq!(report["after_interrupt"], "still alive");
    assert_eq!(report["alive_after_shutdown"], false, "{report}");
    let line = syslog.line_with(&format!("{ALICE} : TTY=unknown ; ENV=jupyter ;"));
    assert!(
        line.contains("-m ipykernel_launcher -f ") && line.contains("UMASK=027"),
        "{line}"
    );

    // bob is not in the research group: he cannot install it, and a kernel
    // root installed for everyone (a JupyterHub's place) does not start for
    // him; he sees cenv's message, the audit log a refusal
    let bob_data = data_dir(&sb, BOB);
    let refused = cenv_for(BOB, &bob_data)
        .args(["kernel", "install", "jupyter"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(125));
    assert!(
        stderr(&refused).contains("may not use env 'jupyter'"),
        "{}",
        stderr(&refused)
    );
    let hub = sb.path("hub");
    let root_install = Command::new(cenv_binary())
        .args(["kernel", "install", "--all", "--prefix"])
        .arg(&hub)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(ok(root_install).contains("jupyter: installed "));
    // root never publishes a launcher another user can change: every
    // Jupyter user would run it
    let alices = sb.mkdir("alices-bin");
    fs::copy(cenv_binary(), alices.join("cenv")).unwrap();
    chown(&alices, ALICE);
    chown(alices.join("cenv"), ALICE);
    let planted = Command::new(alices.join("cenv"))
        .args(["kernel", "install", "--all", "--prefix"])
        .arg(sb.path("hub2"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(planted.status.code(), Some(125), "{}", stdout(&planted));
    assert!(
        stderr(&planted).contains("not writing kernels that run"),
        "{}",
        stderr(&planted)
    );
    assert!(!sb.path("hub2/share").exists());
    let mode = fs::metadata(hub.join("share/jupyter/kernels/cenv-jupyter/kernel.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "readable by every user of the hub");
    // sync: kernels whose env is gone or lost ipykernel go, the others stay
    let hub_kernels = hub.join("share/jupyter/kernels");
    for (kernel, env) in [("cenv-gone", "gone"), ("cenv-genuine", "genuine")] {
        fs::create_dir_all(hub_kernels.join(kernel)).unwrap();
        fs::write(
            hub_kernels.join(kernel).join("kernel.json"),
            serde_json::json!({
                "argv": [cenv_binary(), "run", env, "python"],
                "display_name": env,
                "metadata": {"cenv": {"env": env}},
            })
            .to_string(),
        )
        .unwrap();
    }
    // a kernel someone wrote by hand under a cenv- name is not cenv's to remove
    fs::create_dir_all(hub_kernels.join("cenv-mine")).unwrap();
    fs::write(
        hub_kernels.join("cenv-mine/kernel.json"),
        r#"{"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "mine"}"#,
    )
    .unwrap();
    let synced = ok(Command::new(cenv_binary())
        .args(["kernel", "sync", "--prefix"])
        .arg(&hub)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap());
    assert!(synced.contains("jupyter: installed "), "{synced}");
    assert!(
        synced.contains(&format!(
            "cenv-gone: removed {}: ",
            hub_kernels.join("cenv-gone").display()
        )) && synced.contains("cenv-genuine: removed ")
            && synced.contains("no ipykernel in its records"),
        "{synced}"
    );
    assert!(!hub_kernels.join("cenv-gone").exists() && !hub_kernels.join("cenv-genuine").exists());
    assert!(hub_kernels.join("cenv-jupyter/kernel.json").exists());
    assert!(
        synced.contains("cenv-mine: kept: not a kernel cenv wrote"),
        "{synced}"
    );
    assert!(hub_kernels.join("cenv-mine/kernel.json").exists());
    let hub_list = ok(cenv_for(BOB, &bob_data)
        .args(["kernel", "list", "--prefix"])
        .arg(&hub)
        .output()
        .unwrap());
    assert!(
        hub_list.contains("cenv-jupyter  Python 3.11 (jupyter)  not open to you: "),
        "{hub_list}"
    );
    let (report, err) = kernel_check(
        BOB,
        &bob_data,
        Some(&hub.join("share/jupyter")),
        "cenv-jupyter",
        "refused",
    );
    assert_eq!(report["exit_code"], 125, "{report}\n{err}");
    assert!(
        err.contains("cenv: ") && err.contains("may not use env 'jupyter'"),
        "{err}"
    );
    let refusal = syslog.line_with(&format!("{BOB} : command refused ; TTY=unknown ; ENV=jupyter"));
    assert!(refusal.contains("ipykernel_launcher"), "{refusal}");

    let removed = ok(cenv_for(ALICE, &alice_data)
        .args(["kernel", "remove", "jupyter"])
        .output()
        .unwrap());
    assert_eq!(removed, format!("removed {}\n", kernel_dir.display()));
    assert!(!kernel_dir.exists());
    let again = cenv_for(ALICE, &alice_data)
        .args(["kernel", "remove", "jupyter"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(125));
    assert!(
        stderr(&again).contains("no kernel cenv-jupyter in "),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_cell_cannot_write_into_the_env_even_for_its_owner() {
    require_root!();
    let _lock = machine_lock();
    let Some(g) = jupyter() else { return };
    let Some(_config) = jupyter_system_config(g, "") else {
        return;
    };
    let sb = Sandbox::new();
    // the env admin owns the env: file permissions would let the write
    // through, Landlock does not
    let data = data_dir(&sb, ADMIN);
    ok(cenv_for(ADMIN, &data)
        .args(["kernel", "install", "jupyter"])
        .output()
        .unwrap());
    let (report, _) = kernel_check(ADMIN, &data, None, "cenv-jupyter", "write");
    assert_eq!(report["write"], "PermissionError 13", "{report}");
    assert!(!g.prefix("jupyter").join("planted.py").exists());
}

/// Reads `cenv notebook`'s stderr — cenv's banner, then Jupyter's log — up
/// to the URL with the token Jupyter prints once it serves; returns (port,
/// token, everything read). cenv's own banner never holds the token: the
/// port could be taken by someone else before Jupyter binds it.
fn notebook_banner(child: &mut std::process::Child) -> (u16, String, String) {
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    let mut port: Option<u16> = None;
    let mut cenvs_banner = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("ssh -N -L ") {
            port = rest.split(':').next().and_then(|p| p.parse().ok());
        }
        if port.is_none() || line.contains("then open the") {
            cenvs_banner.push_str(&line);
        }
        let url = port.map(|p| format!("http://127.0.0.1:{p}/"));
        if let Some(at) = url
            .as_deref()
            .and_then(|u| line.find(u))
            .filter(|_| !line.contains("then open the"))
        {
            if let Some(token) = line[at..].split_once("?token=").map(|(_, t)| t.trim().to_owned()) {
                assert!(
                    !cenvs_banner.contains(&token),
                    "cenv printed the token: {cenvs_banner}"
                );
                // keep draining the server's log so it never blocks on a full pipe
                std::thread::spawn(move || {
                    let mut sink = Vec::new();
                    let _ = reader.read_to_end(&mut sink);
                });
                return (port.unwrap(), token, seen);
            }
        }
        line.clear();
    }
    panic!("cenv notebook printed no URL: {seen}");
}

/// A request with the token in the Authorization header; the whole answer.
fn http_request(port: u16, method: &str, path: &str, token: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: token {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The kernel's Landlock ABI version (0 without Landlock).
fn landlock_abi() -> i64 {
    // SAFETY: with a NULL attribute, size 0 and the VERSION flag the call
    // reads no memory and only returns a number.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    version.max(0)
}

/// A path removed (recursively) when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Listening TCP sockets on `port` from /proc/net/tcp and tcp6, as
/// (local address hex, port).
fn listeners_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in fs::read_to_string(file).unwrap().lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, hex_port) = fields[1].rsplit_once(':').unwrap();
            if fields[3] == "0A" && u16::from_str_radix(hex_port, 16).unwrap() == port {
                found.push(address.to_owned());
            }
        }
    }
    found
}

/// The server `cenv notebook` became, stopped with SIGTERM when dropped
/// (also when an assertion fails).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

#[test]
fn cenv_notebook_serves_on_loopback_only_and_says_how_to_reach_it() {
    require_root!();
    let _lock = machine_lock();
    let Some(g) = jupyter() else { return };
    // the admin's choice: a notebook's run may listen on its own port only
    let Some(_config) = jupyter_system_config(g, "notebook_restrict_binds = true\n") else {
        return;
    };
    let sb = Sandbox::new();
    let data = data_dir(&sb, ALICE);
    ok(cenv_for(ALICE, &data)
        .args(["kernel", "install", "jupyter"])
        .output()
        .unwrap());
    // kernels talk to the server over Unix sockets here, whose paths must
    // stay under 108 bytes: a short runtime directory
    let runtime = PathBuf::from(format!("/tmp/cenv-jr-{}", std::process::id()));
    let _ = fs::remove_dir_all(&runtime);
    fs::create_dir(&runtime).unwrap();
    let alice = user(ALICE);
    chown_tree(&runtime, alice.uid, alice.gid);
    let _runtime_cleanup = RemoveOnDrop(runtime.clone());
    let mut server = Server(
        cenv_for(ALICE, &data)
            .env("JUPYTER_RUNTIME_DIR", &runtime)
            .args(["notebook", "jupyter"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut server.0;
    let (port, token, banner) = notebook_banner(child);
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        banner.contains(&format!(
            "    ssh -N -L {port}:127.0.0.1:{port} {ALICE}@{}\n",
            host.trim()
        )),
        "{banner}"
    );
    assert_eq!(token.len(), 48, "{banner}");
    // up, and answering with the token only
    let mut status = None;
    for _ in 0..300 {
        status = http_get(port, &format!("/api/status?token={token}"));
        if status.as_deref().is_some_and(|s| s.starts_with("HTTP/1.1 200")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = status.unwrap_or_default();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}\n{banner}");
    let without_token = http_get(port, "/api/status").unwrap();
    assert!(without_token.starts_with("HTTP/1.1 403"), "{without_token}");
    // the process cenv started is the server itself, listening on loopback
    // only, and named as `conda activate` then `jupyter-server` names it: the
    // script by its own path, so that `pgrep -f bin/jupyter-server` and
    // monitoring find it
    let exe = fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    assert!(exe.starts_with(g.prefix("jupyter")), "{exe:?}");
    let cmdline =
        String::from_utf8_lossy(&fs::read(format!("/proc/{}/cmdline", child.id())).unwrap()).into_owned();
    assert!(
        cmdline.contains(&format!(
            "\0{}\0--ip=127.0.0.1\0--port={port}\0--port-retries=0\0--no-browser",
            g.prefix("jupyter").join("bin/jupyter-server").display()
        )),
        "{cmdline:?}"
    );
    assert!(!cmdline.contains("/dev/fd"), "{cmdline:?}");
    assert!(
        !cmdline.contains(&token),
        "the token is not in the process list: {cmdline:?}"
    );
    let comm = fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap();
    assert_eq!(comm.trim(), "jupyter-server", "its name in ps");
    let listening = listeners_on(port);
    assert!(!listening.is_empty());
    assert!(
        listening.iter().all(|a| a == "0100007F"),
        "only 127.0.0.1 listens on {port}: {listening:?}"
    );
    // a kernel the server starts (through cenv run, from the kernelspec)
    // works over Unix sockets, and nothing in the run may listen on
    // another TCP port: Landlock's network rule (ABI 4 and later)
    let created = http_request(
        port,
        "POST",
        "/api/kernels",
        &token,
        r#"{"name": "cenv-jupyter"}"#,
    );
    let body = created.split("\r\n\r\n").nth(1).unwrap_or_default();
    let kernel: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {created}"));
    let id = kernel["id"].as_str().unwrap().to_owned();
    // a restart returns once the server has the kernel's answer again
    let restarted = http_request(port, "POST", &format!("/api/kernels/{id}/restart"), &token, "");
    assert!(restarted.starts_with("HTTP/1.1 200"), "{restarted}");
    let connection_file = runtime.join(format!("kernel-{id}.json"));
    let (report, _) = kernel_check(ALICE, &data, None, connection_file.to_str().unwrap(), "connect");
    assert_eq!(report["transport"], "ipc", "{report}");
    let abi = landlock_abi();
    if abi >= 4 {
        assert_eq!(report["bind"], "PermissionError 13", "{report}");
    } else {
        skip(&format!(
            "Landlock ABI {abi} < 4: binds cannot be restricted on this kernel"
        ));
        assert_eq!(report["bind"], "BOUND", "{report}");
    }
    // doctor, which flags servers from shared envs beyond loopback, stays quiet
    let doctor = Command::new(cenv_binary())
        .args(["doctor", "--all", "--json"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let report = stdout(&doctor);
    assert!(!report.contains(&format!(":{port}")), "{report}");
    drop(server);

    // an address beyond loopback is refused before anything starts
    for args in [&["--ip=0.0.0.0"][..], &["--ServerApp.ip", "::"][..]] {
        let out = cenv_for(ALICE, &data)
            .args(["notebook", "jupyter", "--"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(
            stderr(&out).contains("notebook_any_ip = true"),
            "{}",
            stderr(&out)
        );
    }
    // a user's own config cannot lift the system's refusal
    let lifting = sb.write("work/lift.toml", "notebook_any_ip = true\n");
    fs::set_permissions(&lifting, fs::Permissions::from_mode(0o644)).unwrap();
    let out = cenv_for(ALICE, &data)
        .env("CENV_CONFIG", &lifting)
        .args(["notebook", "jupyter", "--", "--ip=0.0.0.0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ignoring notebook_any_ip"),
        "{}",
        stderr(&out)
    );
    // an env without a Jupyter server: the packages that would be one
    let out = cenv_for(ALICE, &data)
        .args(["notebook", "genuine"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out)
            .contains("has no Jupyter server: none of jupyter-lab, jupyter-notebook, jupyter-server in ")
            && stderr(&out).contains("(packages jupyterlab, notebook, jupyter_server)"),
        "{}",
        stderr(&out)
    );
    // root is not who a notebook serves as
    let out = Command::new(cenv_binary())
        .args(["notebook", "jupyter"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("run it as yourself"), "{}", stderr(&out));
}
