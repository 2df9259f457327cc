//! The tools around `cenv run` — list, info, doctor, verify, audit-rules,
//! export, snapshot, changes, diff — one module per command, against real
//! layouts built by the tests and the genuine (rattler-installed) envs.
//! One test binary: the genuine envs are built once for all of them.

#[path = "../common/mod.rs"]
mod common;

mod changes;
mod doctor;
mod export;
mod list;
mod snapshot;
mod usage;
mod verify;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::*;

fn shared(envs: &[&str], extra: &str) -> Sandbox {
    let sb = shared_sandbox(envs, |sb| envs_config(&[&sb.path("envs")]).raw(extra).to_string());
    // the fixtures' bin/python leads to the system python: not what doctor is about here
    for env in envs {
        let _ = fs::remove_file(sb.path(&format!("envs/{env}/bin/python")));
    }
    sb
}

/// Compares `actual` with tests/snapshots/NAME after replacing the sandbox
/// root; CENV_UPDATE_SNAPSHOTS=1 rewrites the file.
fn snapshot(name: &str, actual: &str, replacements: &[(&str, &str)]) {
    let mut text = actual.to_owned();
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("CENV_UPDATE_SNAPSHOTS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &text).unwrap();
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no snapshot {}: run with CENV_UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(
        text, expected,
        "snapshot {name} changed (the --json schema is meant to be stable)"
    );
}

fn root_str(sb: &Sandbox) -> String {
    sb.root.display().to_string()
}

fn doctor_json(sb: &Sandbox, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = cenv_as(sb, ALICE)
        .args(["doctor", "--json"])
        .args(args)
        .output()
        .unwrap();
    let value: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), value)
}

fn has_finding(report: &serde_json::Value, severity: &str, path: &Path, problem: &str, fix: &str) -> bool {
    report["findings"].as_array().unwrap().iter().any(|f| {
        f["severity"] == severity
            && f["path"] == path.to_str().unwrap()
            && f["problem"].as_str().unwrap().contains(problem)
            && f["fix"].as_str().unwrap().starts_with(fix)
    })
}

/// A copy of the genuine env inside its envs root, free to be damaged.
fn genuine_copy(g: &Genuine, name: &str) -> std::path::PathBuf {
    let copy = g.prefix(name);
    let _ = fs::remove_dir_all(&copy);
    sh(&[
        "cp",
        "-a",
        g.prefix("genuine").to_str().unwrap(),
        copy.to_str().unwrap(),
    ]);
    copy
}

fn verify(prefix: &Path) -> (Option<i32>, serde_json::Value, Output) {
    let out = Command::new(cenv_binary())
        .args(["verify", "--json", "-p"])
        .arg(prefix)
        .output()
        .unwrap();
    let value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), value, out)
}

fn discrepancy<'a>(report: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
}

fn genuine_add(g: &Genuine, prefix: &Path, spec: &str) {
    let channel = fs::read_to_string(
        g.prefix("genuine-py")
            .join("conda-meta/python-3.11.2-debian_0.json"),
    )
    .unwrap();
    let channel: serde_json::Value = serde_json::from_str(&channel).unwrap();
    let channel = channel["channel"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap()
        .to_owned();
    let out = Command::new(test_python().unwrap())
        .arg(GENUINE_SCRIPT)
        .args(["add", channel.trim_end_matches('/')])
        .arg(prefix)
        .arg(g.pkgs())
        .arg(spec)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("\"added\": [\"{spec}\"]")),
        "{}",
        stdout(&out)
    );
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| !f.starts_with('.')) // the fingerprint
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A real auditd for one test: the one already running, else one started
/// here (`auditd -n`) and stopped by pid. Removes the watches the test added,
/// puts the kernel's audit "enabled" flag back and, when the audit log did
/// not exist before, removes the log it made.
struct AuditDaemon {
    started: Option<Child>,
    watches: Vec<Vec<String>>,
    log_existed: bool,
    enabled_before: String,
}

/// A value `auditctl -s` prints ("enabled", "pid").
fn audit_status(field: &str) -> String {
    let status = stdout(&Command::new("auditctl").arg("-s").output().unwrap());
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(' ').map(str::to_owned))
        .unwrap_or_default()
}

const AUDIT_LOG: &str = "/var/log/audit/audit.log";

impl AuditDaemon {
    fn start() -> Option<AuditDaemon> {
        if !Path::new("/usr/sbin/auditd").exists() {
            skip("auditd is not installed (tests/run-all.sh installs it)");
            return None;
        }
        let log_existed = Path::new(AUDIT_LOG).exists();
        let enabled_before = audit_status("enabled");
        let running = Command::new("pgrep").args(["-x", "auditd"]).output().unwrap();
        let started = if running.status.success() {
            None
        } else {
            let child = Command::new("/usr/sbin/auditd")
                .arg("-n")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            Some(child)
        };
        let daemon = AuditDaemon {
            started,
            watches: Vec::new(),
            log_existed,
            enabled_before,
        };
        for _ in 0..100 {
            if !matches!(audit_status("pid").as_str(), "" | "0") {
                return Some(daemon);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("auditd did not register with the kernel");
    }

    /// A rule something else loaded (`cenv audit-rules --install`), to be
    /// removed when the test ends.
    fn loaded(&mut self, rule: &str) {
        self.watches
            .push(rule.split_whitespace().map(str::to_owned).collect());
    }

    /// Applies an auditctl rule line (`-w PATH -p wa -k KEY`).
    fn watch(&mut self, rule: &str) {
        let args: Vec<String> = rule.split_whitespace().map(str::to_owned).collect();
        let out = Command::new("auditctl").args(&args).output().unwrap();
        assert!(out.status.success(), "auditctl {rule}: {}", stderr(&out));
        self.watches.push(args);
    }
}

impl Drop for AuditDaemon {
    fn drop(&mut self) {
        for args in &self.watches {
            let removal: Vec<&str> = args
                .iter()
                .map(|a| if a == "-w" { "-W" } else { a.as_str() })
                .collect();
            let _ = Command::new("auditctl").args(&removal).output();
        }
        if let Some(child) = &mut self.started {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
            if !self.enabled_before.is_empty() {
                let _ = Command::new("auditctl")
                    .args(["-e", &self.enabled_before])
                    .output();
            }
            if !self.log_existed {
                for entry in fs::read_dir("/var/log/audit").into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().starts_with("audit.log") {
                        let _ = fs::remove_file(entry.path());
                    }
                }
            }
        }
    }
}
