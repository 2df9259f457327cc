//! Shared helpers for the integration tests: a temporary directory tree that
//! test users can read, conda-layout envs built in it, the real `cenv` binary,
//! and real users to run it as when the tests run as root (as CI does).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};

pub const ALICE: &str = "cenvt-alice";
pub const BOB: &str = "cenvt-bob";
pub const ADMIN: &str = "cenvt-admin";
pub const RESEARCH: &str = "cenvt-research";

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether a skip is a failure: `CI` set to anything but `false`.
pub fn skips_fail() -> bool {
    std::env::var_os("CI").is_some_and(|v| v != "false")
}

/// A test that cannot do its work here says why. Under CI (see
/// [`skips_fail`]) that is a failure; otherwise the reason is printed and
/// appended to `$CENV_TEST_SKIP_LOG`, so tests/run-all.sh can count skips
/// (cargo test hides a passing test's stderr).
pub fn skip(reason: &str) {
    if skips_fail() {
        panic!("CI is set: a skip is a failure ({reason})");
    }
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    eprintln!("skipped: {reason}");
    if let Some(log) = std::env::var_os("CENV_TEST_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut file) = fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(file, "{test}: {reason}");
        }
    }
}

/// Tests that need root say why they skip; under CI a skip is a failure.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            $crate::common::skip("this test needs root (real users, privilege drop)");
            return;
        }
    };
}

/// A user of the test suite, created for real when running as root.
#[derive(Debug, Clone, Copy)]
pub struct TestUser {
    pub uid: u32,
    pub gid: u32,
}

pub fn user(name: &str) -> TestUser {
    ensure_test_users();
    let u = nix::unistd::User::from_name(name)
        .unwrap()
        .unwrap_or_else(|| panic!("no user {name}"));
    TestUser {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }
}

pub fn group_gid(name: &str) -> u32 {
    ensure_test_users();
    nix::unistd::Group::from_name(name).unwrap().unwrap().gid.as_raw()
}

/// Creates the test users and groups once (idempotent across test binaries).
pub fn ensure_test_users() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if !is_root() {
            return;
        }
        let group_exists = |g: &str| nix::unistd::Group::from_name(g).ok().flatten().is_some();
        let user_exists = |u: &str| nix::unistd::User::from_name(u).ok().flatten().is_some();
        if !group_exists(RESEARCH) {
            sh(&["groupadd", "--system", RESEARCH]);
        }
        // the env admin is a member of the research group, as the admin
        // guide says it must be (otherwise each chmod it runs clears the
        // setgid bit of the envs' directories)
        for (name, groups) in [(ADMIN, RESEARCH), (ALICE, RESEARCH), (BOB, "")] {
            if !user_exists(name) {
                let mut args = vec!["useradd", "--create-home", "--shell", "/bin/bash"];
                if !groups.is_empty() {
                    args.extend(["--groups", groups]);
                }
                args.push(name);
                sh(&args);
            } else if !groups.is_empty() {
                sh(&["usermod", "--append", "--groups", groups, name]);
            }
        }
    });
}

pub fn sh(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(status.success(), "{args:?} failed: {status}");
}

/// The cenv binary, copied to a place every test user can execute (the build
/// directory may be under /root). One copy per build, reused across runs.
pub fn cenv_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let source = PathBuf::from(env!("CARGO_BIN_EXE_cenv"));
        let meta = fs::metadata(&source).unwrap();
        let dir = PathBuf::from("/var/tmp/cenv-test-bin");
        fs::create_dir_all(&dir).unwrap();
        if is_root() {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let target = dir.join(format!(
            "cenv-{}-{}-{}",
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec()
        ));
        if !target.exists() {
            let partial = dir.join(format!(".partial-{}", std::process::id()));
            fs::copy(&source, &partial).unwrap();
            fs::set_permissions(&partial, fs::Permissions::from_mode(0o755)).unwrap();
            fs::rename(&partial, &target).unwrap();
        }
        target
    })
}

/// A temporary directory tree readable by the test users, removed on drop.
pub struct Sandbox {
    pub root: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Sandbox {
    pub fn new() -> Sandbox {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // As root the trees live under /srv, not /tmp: the Landlock rule denies
        // creating entries directly in the ancestors of an env, and tests check
        // that /tmp stays writable.
        let base = if is_root() {
            PathBuf::from("/srv/cenv-tests")
        } else {
            std::env::temp_dir()
        };
        fs::create_dir_all(&base).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let root = base.join(format!("cenv-test-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        // canonical, so expected prefixes compare equal to what cenv prints
        let root = fs::canonicalize(&root).unwrap();
        let sandbox = Sandbox { root };
        sandbox.mkdir("home");
        sandbox
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }

    pub fn write_executable(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.write(rel, content);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A conda-layout env: `conda-meta/` (with a python record), `bin/python`
    /// (the system Python, with a pyvenv.cfg so that `sys.prefix` is the env).
    pub fn make_env(&self, rel: &str) -> PathBuf {
        let prefix = self.mkdir(rel);
        self.write(
            &format!("{rel}/conda-meta/python-3.11.2-h0_0.json"),
            "{\"name\": \"python\", \"version\": \"3.11.2\", \"build\": \"h0_0\"}\n",
        );
        self.mkdir(&format!("{rel}/bin"));
        symlink("/usr/bin/python3", prefix.join("bin/python")).unwrap();
        self.write(
            &format!("{rel}/pyvenv.cfg"),
            "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n",
        );
        prefix
    }

    /// Writes a config file and returns its path.
    pub fn config(&self, text: &str) -> PathBuf {
        self.write("cenv.toml", text)
    }

    /// The home directory handed to the runner.
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Gives the home directory to the user the commands run as.
    pub fn chown_home_to_runner(&self) {
        if let Some(u) = runner() {
            chown_tree(&self.home(), u.uid, u.gid);
        }
    }

    /// `cenv --config <sandbox>/cenv.toml` run as an ordinary user: the test
    /// user alice when the tests run as root, the current user otherwise. The
    /// environment is minimal and fixed.
    pub fn cenv(&self) -> Command {
        let mut cmd = Command::new(cenv_binary());
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.home())
            .env("LANG", "C.UTF-8")
            .current_dir(&self.root);
        if self.path("cenv.toml").exists() {
            cmd.arg("--config").arg(self.path("cenv.toml"));
        }
        if let Some(u) = runner() {
            cmd.uid(u.uid).gid(u.gid);
        }
        cmd
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Who ordinary-user runs are made as: alice when root, else nobody to switch to.
pub fn runner() -> Option<TestUser> {
    is_root().then(|| user(ALICE))
}

pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// Parses `env -0` output into (name, value) pairs.
pub fn parse_env0(bytes: &[u8]) -> Vec<(String, String)> {
    bytes
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let s = String::from_utf8_lossy(r);
            let (n, v) = s.split_once('=').unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect()
}

pub fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Runs `cmd`, asserts success, returns the environment printed by `env -0`.
pub fn run_env(mut cmd: Command) -> Vec<(String, String)> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_env0(&out.stdout)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Serializes tests that touch machine-wide state (system config, users, syslog).
pub fn machine_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A command run as `user` with their groups from the user database, through
/// util-linux's setpriv (std's Command::uid would drop the supplementary groups).
pub fn as_user(name: &str, program: impl AsRef<OsStr>) -> Command {
    ensure_test_users();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", name, "--regid", name, "--init-groups", "--"])
        .arg(program);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8");
    if let Some(u) = nix::unistd::User::from_name(name).unwrap() {
        cmd.env("HOME", &u.dir).current_dir(&u.dir);
    }
    cmd
}

/// The system config path compiled into this test build, if the suite was
/// built with `CENV_SYSTEM_CONFIG` (tests/run-all.sh does).
pub fn test_system_config() -> Option<&'static Path> {
    option_env!("CENV_SYSTEM_CONFIG").map(Path::new)
}

/// The system config of the test build, written for one test and removed
/// when dropped (on every path out of the test). The directory and file are
/// root-owned and not writable by group or others, as a real system config
/// must be.
#[derive(Debug)]
pub struct SystemConfig {
    path: PathBuf,
}

impl SystemConfig {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the config's text.
    pub fn rewrite(&self, text: &str) {
        fs::write(&self.path, text).unwrap();
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o644)).unwrap();
    }
}

impl std::ops::Deref for SystemConfig {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for SystemConfig {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for SystemConfig {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Writes the system config of the test build (root only; callers hold
/// machine_lock); `None` (a skip) when the suite was built without one.
#[must_use = "the config is removed when the guard is dropped"]
pub fn write_system_config(text: &str) -> Option<SystemConfig> {
    let Some(path) = test_system_config() else {
        skip("built without CENV_SYSTEM_CONFIG=PATH (tests/run-all.sh sets it)");
        return None;
    };
    assert_ne!(
        path,
        Path::new("/etc/cenv/cenv.toml"),
        "tests never write the real system config"
    );
    let dir = path.parent().unwrap();
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let config = SystemConfig {
        path: path.to_owned(),
    };
    config.rewrite(text);
    Some(config)
}

/// A shared-server layout: `envs/` owned by the admin, group research, mode
/// 2750 (setgid), each env inside it 2750/0640 with executables 0750, and the
/// package cache `pkgs/` beside it, hard-linked into the envs.
pub fn shared_layout(sb: &Sandbox, envs: &[&str]) {
    let admin = user(ADMIN);
    let research = group_gid(RESEARCH);
    sb.mkdir("pkgs/numpy-1.0-0/lib");
    sb.write("pkgs/numpy-1.0-0/lib/numpy.py", "VALUE = 1\n");
    for name in envs {
        let rel = format!("envs/{name}");
        sb.make_env(&rel);
        sb.mkdir(&format!("{rel}/lib"));
        fs::hard_link(
            sb.path("pkgs/numpy-1.0-0/lib/numpy.py"),
            sb.path(&format!("{rel}/lib/numpy.py")),
        )
        .unwrap();
        sb.write(&format!("{rel}/lib/data.txt"), "data\n");
    }
    for top in ["envs", "pkgs"] {
        chown_tree(&sb.path(top), admin.uid, research);
        set_shared_modes(&sb.path(top));
    }
}

pub fn set_shared_modes(path: &Path) {
    let meta = fs::symlink_metadata(path).unwrap();
    if meta.file_type().is_symlink() {
        return;
    }
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o2750)).unwrap();
        for entry in fs::read_dir(path).unwrap() {
            set_shared_modes(&entry.unwrap().path());
        }
    } else {
        let mode = if meta.permissions().mode() & 0o100 != 0 {
            0o750
        } else {
            0o640
        };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Parses /proc/self/status-style "Key:\tvalue" lines.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// A marker no earlier run and no other test can have written: the test's
/// name, this process, a counter and the time. Audit lines are found by it.
pub fn unique_marker(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{what}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A real rsyslogd owned by the tests, receiving on /dev/log and writing the
/// authpriv facility to a file with facility and severity on each line.
///
/// A handle reads the log only from where it stood when the handle was made:
/// lines an earlier run (or an earlier test) wrote never satisfy a lookup.
pub struct Syslog {
    pub log_file: PathBuf,
    /// The length of the log when this handle was made.
    start: u64,
}

const RSYSLOG_CONF: &str = "/etc/cenv-test/rsyslog.conf";
const RSYSLOG_PID: &str = "/run/cenv-test-rsyslogd.pid";
const SYSLOG_LOG: &str = "/var/log/cenv-test/audit.log";

impl Syslog {
    /// Starts the daemon if it is not running (root only; hold machine_lock).
    pub fn start() -> Syslog {
        let log_file = PathBuf::from(SYSLOG_LOG);
        fs::create_dir_all("/etc/cenv-test").unwrap();
        fs::create_dir_all(log_file.parent().unwrap()).unwrap();
        // one worker: lines are written in the order they arrived, so a
        // sentinel sent after a run's line is written after it
        fs::write(
            RSYSLOG_CONF,
            format!(
                "main_queue(queue.workerThreads=\"1\")\n\
                 module(load=\"imuxsock\" SysSock.Name=\"/dev/log\")\n\
                 template(name=\"cenvtest\" type=\"string\" string=\"%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n\")\n\
                 authpriv.* action(type=\"omfile\" file=\"{}\" template=\"cenvtest\")\n",
                log_file.display()
            ),
        )
        .unwrap();
        if running_syslog_pid().is_none() {
            assert!(
                std::os::unix::net::UnixDatagram::unbound()
                    .unwrap()
                    .connect("/dev/log")
                    .is_err(),
                "a syslog daemon the tests did not start owns /dev/log; stop it to run the audit tests"
            );
            let _ = fs::remove_file("/dev/log");
            sh(&["rsyslogd", "-f", RSYSLOG_CONF, "-i", RSYSLOG_PID]);
            for _ in 0..100 {
                if Path::new("/dev/log").exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(Path::new("/dev/log").exists(), "rsyslogd did not create /dev/log");
        }
        let start = fs::metadata(&log_file).map(|m| m.len()).unwrap_or(0);
        Syslog { log_file, start }
    }

    /// Stops the daemon and waits until /dev/log is gone.
    pub fn stop(&self) {
        if let Some(pid) = running_syslog_pid() {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM)
                .unwrap();
            for _ in 0..250 {
                if running_syslog_pid().is_none() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let _ = fs::remove_file("/dev/log");
    }

    /// What the log holds since this handle was made.
    pub fn text(&self) -> String {
        use std::io::{Read, Seek};
        let Ok(mut file) = fs::File::open(&self.log_file) else {
            return String::new();
        };
        let mut bytes = Vec::new();
        if file.seek(std::io::SeekFrom::Start(self.start)).is_ok() {
            let _ = file.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits (up to 5 s) for a line of cenv's (sudo logs the same command
    /// line too) containing `marker` and returns it.
    pub fn line_with(&self, marker: &str) -> String {
        self.wait_for_line(|l| is_cenvs(l) && l.contains(marker))
            .unwrap_or_else(|| {
                panic!(
                    "no audit line of cenv's containing {marker:?} in {} since this test began",
                    self.log_file.display()
                )
            })
    }

    fn wait_for_line(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        for _ in 0..250 {
            if let Some(line) = self.text().lines().find(|l| matches(l)) {
                return Some(line.to_owned());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// The log since this handle was made, once everything sent to the
    /// daemon before this call is in it: a sentinel line goes through the
    /// same socket and the same queue, and is waited for.
    pub fn settled_text(&self) -> String {
        let sentinel = unique_marker("sentinel");
        let socket = std::os::unix::net::UnixDatagram::unbound().unwrap();
        // authpriv.info, as the daemon files it with cenv's lines
        socket
            .send_to(format!("<86>cenv-test: {sentinel}").as_bytes(), "/dev/log")
            .expect("sending the sentinel line to /dev/log");
        self.wait_for_line(|l| l.contains(&sentinel))
            .expect("the sentinel line never reached the log");
        self.text()
    }

    /// Every line of cenv's containing `marker`, counted once the log has
    /// settled.
    pub fn lines_with(&self, marker: &str) -> Vec<String> {
        self.settled_text()
            .lines()
            .filter(|l| is_cenvs(l) && l.contains(marker))
            .map(str::to_owned)
            .collect()
    }
}

/// Whether a line of the test log (`FACILITY.SEVERITY TAG MESSAGE`) is
/// cenv's own.
fn is_cenvs(line: &str) -> bool {
    line.split(' ').nth(1).is_some_and(|tag| tag.starts_with("cenv["))
}

fn running_syslog_pid() -> Option<i32> {
    let pid: i32 = fs::read_to_string(RSYSLOG_PID).ok()?.trim().parse().ok()?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
        .ok()
        .map(|()| pid)
}

/// Genuine conda envs installed by rattler from a channel the tests build
/// (tests/genuine/genuine.py), laid out as on a shared server: `envs/`
/// (cenvt-admin, group cenvt-research, 2750 setgid) and the package cache
/// `pkgs/` beside it. Built once per test process; the channel is cached.
pub struct Genuine {
    pub root: PathBuf,
    /// The local channel the envs were installed from.
    pub channel: PathBuf,
}

impl Genuine {
    pub fn envs(&self) -> PathBuf {
        self.root.join("envs")
    }
    pub fn prefix(&self, name: &str) -> PathBuf {
        self.root.join("envs").join(name)
    }
    pub fn pkgs(&self) -> PathBuf {
        self.root.join("pkgs")
    }
}

/// The Python with py-rattler that tests/run-all.sh prepares.
pub fn test_python() -> Option<PathBuf> {
    std::env::var_os("CENV_TEST_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

pub const GENUINE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/genuine/genuine.py");

pub fn genuine() -> Option<&'static Genuine> {
    static GENUINE: OnceLock<Option<Genuine>> = OnceLock::new();
    GENUINE
        .get_or_init(|| {
            if !is_root() {
                return None;
            }
            let python = test_python()?;
            let run = |args: &[&OsStr]| {
                let out = Command::new(&python)
                    .arg(GENUINE_SCRIPT)
                    .args(args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "genuine.py {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                eprintln!("genuine.py {:?}: {report}", args[0]);
                report
            };
            let channel = run(&[os("channel"), os("/var/cache/cenv-tests")]);
            let channel = channel["channel"].as_str().unwrap().to_owned();
            // roots of test processes that are gone (killed before their
            // cleanup) are leftovers; a live process's root is its own
            for entry in fs::read_dir("/srv").unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let owner_gone = name
                    .strip_prefix("cenv-genuine-")
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                if owner_gone {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
            let root = PathBuf::from(format!("/srv/cenv-genuine-{}", std::process::id()));
            fs::create_dir_all(&root).unwrap();
            fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
            run(&[os("install"), os(&channel), root.as_os_str()]);
            let admin = user(ADMIN);
            let research = group_gid(RESEARCH);
            for top in ["envs", "pkgs"] {
                chown_tree(&root.join(top), admin.uid, research);
                set_shared_modes(&root.join(top));
            }
            Some(Genuine {
                root,
                channel: PathBuf::from(channel),
            })
        })
        .as_ref()
}

/// The genuine root with one more env, `jupyter`: ipykernel and
/// jupyter_server with their dependencies, installed by rattler from the
/// same channel (genuine.py repackages them from their PyPI wheels).
pub fn genuine_jupyter() -> Option<&'static Genuine> {
    static JUPYTER: OnceLock<Option<&'static Genuine>> = OnceLock::new();
    *JUPYTER.get_or_init(|| {
        let g = genuine()?;
        let out = Command::new(test_python()?)
            .arg(GENUINE_SCRIPT)
            .arg("jupyter")
            .arg(&g.channel)
            .arg(&g.root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "genuine.py jupyter: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let admin = user(ADMIN);
        let research = group_gid(RESEARCH);
        for top in ["envs", "pkgs"] {
            chown_tree(&g.root.join(top), admin.uid, research);
            set_shared_modes(&g.root.join(top));
        }
        Some(g)
    })
}

/// For tests that need the genuine envs: under CI they must be there.
#[macro_export]
macro_rules! require_genuine {
    () => {{
        $crate::require_root!();
        match $crate::common::genuine() {
            Some(g) => g,
            None => {
                $crate::common::skip(
                    "set CENV_TEST_PYTHON to a Python with py-rattler (tests/run-all.sh does)",
                );
                return;
            }
        }
    }};
}

/// `cenv --config <sandbox>/cenv.toml ...` run by `user` with their real
/// groups, from the sandbox's `work/` directory.
pub fn cenv_as(sb: &Sandbox, user: &str) -> Command {
    let mut cmd = as_user(user, cenv_binary());
    cmd.arg("--config")
        .arg(sb.path("cenv.toml"))
        .current_dir(sb.path("work"));
    cmd
}

/// A sandbox with the shared layout of `envs`, `config` as its config file,
/// and a world-writable (sticky) `work/` directory that is not an ancestor of
/// the envs, where the commands run.
pub fn shared_sandbox(envs: &[&str], config: impl FnOnce(&Sandbox) -> String) -> Sandbox {
    let sb = Sandbox::new();
    shared_layout(&sb, envs);
    let text = config(&sb);
    sb.config(&text);
    let work = sb.mkdir("work");
    fs::set_permissions(&work, fs::Permissions::from_mode(0o1777)).unwrap();
    sb
}

/// A real terminal for a test: a pseudo-terminal whose slave is the
/// controlling terminal of a `sh -c SCRIPT` session (started with
/// util-linux's `setsid -c`), as root's login shell has its terminal. The
/// test types into the master and reads what the terminal shows.
pub struct Terminal {
    master: fs::File,
    pub slave_path: PathBuf,
    output: std::sync::Arc<Mutex<Vec<u8>>>,
    pub child: std::process::Child,
}

impl Terminal {
    /// Starts `sh -c script` (as root, in `dir`) on a new terminal of
    /// `rows` x `cols`.
    pub fn start(script: &str, dir: &Path, rows: u16, cols: u16) -> Terminal {
        use std::io::Read;
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave_path = fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
        ))
        .unwrap();
        sh(&[
            "stty",
            "-F",
            slave_path.to_str().unwrap(),
            "rows",
            &rows.to_string(),
            "cols",
            &cols.to_string(),
        ]);
        let stdio = |fd: &std::os::fd::OwnedFd| std::process::Stdio::from(fd.try_clone().unwrap());
        let child = Command::new("setsid")
            .args(["-c", "sh", "-c", script])
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("TERM", "xterm")
            .stdin(stdio(&pty.slave))
            .stdout(stdio(&pty.slave))
            .stderr(stdio(&pty.slave))
            .spawn()
            .unwrap();
        drop(pty.slave);
        let master = fs::File::from(pty.master);
        let output = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal {
            master,
            slave_path,
            output,
            child,
        }
    }

    /// Everything the terminal showed so far, carriage returns removed.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).replace('\r', "")
    }

    /// Whether the terminal shows `text` within `seconds`.
    pub fn shows_within(&self, text: &str, seconds: u64) -> bool {
        for _ in 0..seconds * 100 {
            if self.screen().contains(text) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }

    /// Waits (up to 20 s) until the terminal shows `text`.
    pub fn wait_for(&self, text: &str) -> String {
        for _ in 0..2000 {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the terminal never showed {text:?}; it shows:\n{}", self.screen());
    }

    /// Types `bytes` on the terminal's keyboard.
    pub fn type_keys(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
    }

    /// Resizes the terminal (its foreground process group gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) {
        sh(&[
            "stty",
            "-F",
            self.slave_path.to_str().unwrap(),
            "rows",
            &rows.to_string(),
            "cols",
            &cols.to_string(),
        ]);
    }

    /// Waits for the session's shell to end; returns what the terminal showed.
    pub fn finish(mut self) -> String {
        for _ in 0..2000 {
            if self.child.try_wait().unwrap().is_some() {
                std::thread::sleep(std::time::Duration::from_millis(100));
                return self.screen();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        panic!("the terminal's shell did not end; it shows:\n{}", self.screen());
    }
}

/// A sudoers rule for a test, removed when dropped.
pub struct SudoRule {
    path: PathBuf,
}

impl SudoRule {
    /// `USER ALL=(root) NOPASSWD: <the cenv binary>` in /etc/sudoers.d.
    pub fn allow(user: &str, name: &str) -> SudoRule {
        SudoRule::line(
            name,
            &format!("{user} ALL=(root) NOPASSWD: {}", cenv_binary().display()),
        )
    }

    /// One sudoers line of the test's own, in /etc/sudoers.d.
    pub fn line(name: &str, line: &str) -> SudoRule {
        let path = PathBuf::from(format!("/etc/sudoers.d/cenv-test-{name}"));
        fs::write(&path, format!("{line}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o440)).unwrap();
        SudoRule { path }
    }
}

impl Drop for SudoRule {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// `sudo -n cenv ARGS...` run by `user` (who needs a [`SudoRule`]).
pub fn sudo_cenv(user: &str) -> Command {
    let mut cmd = as_user(user, "sudo");
    cmd.args(["-n", "--"]).arg(cenv_binary());
    cmd
}

/// A file of the host a test replaces, hides or links for its duration.
/// What stood there before — a file with its content, mode and owner, a
/// symlink, or nothing — comes back when the guard is dropped, on every
/// path out of the test (a failed assertion too), and parent directories the
/// guard created are removed again. New content is written to a temporary
/// file and renamed over the path: never through a link that stands there
/// (a write through `/etc/python3.11/sitecustomize.py`-style links changes
/// another package's file).
pub struct HostFile {
    path: PathBuf,
    saved: Saved,
    created_dirs: Vec<PathBuf>,
}

enum Saved {
    Absent,
    File {
        bytes: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Symlink(PathBuf),
}

impl HostFile {
    fn save(path: &Path) -> HostFile {
        use std::os::unix::fs::MetadataExt;
        let saved = match fs::symlink_metadata(path) {
            Err(_) => Saved::Absent,
            Ok(m) if m.file_type().is_symlink() => Saved::Symlink(fs::read_link(path).unwrap()),
            Ok(m) if m.is_file() => Saved::File {
                bytes: fs::read(path).unwrap(),
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
            },
            Ok(_) => panic!("{} is not a file: a test will not replace it", path.display()),
        };
        let mut created_dirs = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| !d.exists()) {
            created_dirs.push(d.to_owned());
            dir = d.parent();
        }
        if !created_dirs.is_empty() {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        HostFile {
            path: path.to_owned(),
            saved,
            created_dirs,
        }
    }

    /// Whatever `path` is now comes back at the drop (a file a command
    /// under test rewrites).
    pub fn preserve(path: impl AsRef<Path>) -> HostFile {
        HostFile::save(path.as_ref())
    }

    /// `path` holds `content` (mode `mode`, owned by root) until the drop.
    pub fn write(path: impl AsRef<Path>, content: impl AsRef<[u8]>, mode: u32) -> HostFile {
        let guard = HostFile::save(path.as_ref());
        replace_file(&guard.path, content.as_ref(), mode, 0, 0);
        guard
    }

    /// `path` is a symlink to `target` until the drop.
    pub fn symlink(path: impl AsRef<Path>, target: impl AsRef<Path>) -> HostFile {
        let guard = HostFile::save(path.as_ref());
        let temporary = temporary_sibling(&guard.path);
        symlink(target, &temporary).unwrap();
        fs::rename(&temporary, &guard.path).unwrap();
        guard
    }

    /// `path` does not exist until the drop.
    pub fn absent(path: impl AsRef<Path>) -> HostFile {
        let guard = HostFile::save(path.as_ref());
        let _ = fs::remove_file(&guard.path);
        guard
    }

    /// The content the file had before the test, if it was a file.
    pub fn original(&self) -> Option<&[u8]> {
        match &self.saved {
            Saved::File { bytes, .. } => Some(bytes),
            _ => None,
        }
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        match &self.saved {
            Saved::Absent => {
                let _ = fs::remove_file(&self.path);
            }
            Saved::File {
                bytes,
                mode,
                uid,
                gid,
            } => replace_file(&self.path, bytes, *mode, *uid, *gid),
            Saved::Symlink(target) => {
                let temporary = temporary_sibling(&self.path);
                symlink(target, &temporary).unwrap();
                fs::rename(&temporary, &self.path).unwrap();
            }
        }
        for dir in &self.created_dirs {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap().to_string_lossy();
    path.with_file_name(format!(".{name}.cenv-test-{}", std::process::id()))
}

/// Writes `bytes` to a new file beside `path` and renames it over `path`.
fn replace_file(path: &Path, bytes: &[u8], mode: u32, uid: u32, gid: u32) {
    let temporary = temporary_sibling(path);
    let _ = fs::remove_file(&temporary);
    fs::write(&temporary, bytes).unwrap();
    fs::set_permissions(&temporary, fs::Permissions::from_mode(mode)).unwrap();
    if is_root() {
        lchown(&temporary, Some(uid), Some(gid)).unwrap();
    }
    fs::rename(&temporary, path).unwrap();
}

/// A directory of the host whose mode a test sets for its duration (made
/// when missing, and then removed again if empty); the old mode comes back
/// when the guard is dropped.
pub struct HostDir {
    path: PathBuf,
    old_mode: Option<u32>,
}

impl HostDir {
    pub fn with_mode(path: impl AsRef<Path>, mode: u32) -> HostDir {
        let path = path.as_ref().to_owned();
        let old_mode = fs::symlink_metadata(&path).ok().map(|m| {
            assert!(m.is_dir(), "{} is not a directory", path.display());
            m.permissions().mode() & 0o7777
        });
        if old_mode.is_none() {
            fs::create_dir(&path).unwrap();
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        HostDir { path, old_mode }
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        match self.old_mode {
            Some(mode) => {
                let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(mode));
            }
            None => {
                let _ = fs::remove_dir(&self.path);
            }
        }
    }
}

/// A kernel setting under /proc/sys a test needs for its duration (the old
/// value comes back when the guard is dropped). `None` when the kernel has
/// no such setting.
pub struct HostSysctl {
    path: PathBuf,
    old: String,
}

impl HostSysctl {
    pub fn set(name: &str, value: &str) -> Option<HostSysctl> {
        let path = PathBuf::from("/proc/sys").join(name.replace('.', "/"));
        let old = fs::read_to_string(&path).ok()?;
        fs::write(&path, value).unwrap_or_else(|e| panic!("setting {name} = {value}: {e}"));
        Some(HostSysctl { path, old })
    }
}

impl Drop for HostSysctl {
    fn drop(&mut self) {
        let _ = fs::write(&self.path, self.old.trim());
    }
}

// ---- the vocabulary every test file shares ----

/// The command succeeded; its stdout.
pub fn ok(out: impl std::borrow::Borrow<Output>) -> String {
    let out = out.borrow();
    assert!(
        out.status.success(),
        "expected success, got {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// cenv refused or failed (exit 125); its stderr.
pub fn refused(out: impl std::borrow::Borrow<Output>) -> String {
    let out = out.borrow();
    assert_eq!(
        out.status.code(),
        Some(125),
        "expected a refusal (125)\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

/// cenv refused, and its message says `needle`.
pub fn refused_with(out: impl std::borrow::Borrow<Output>, needle: &str) {
    let err = refused(out);
    assert!(err.contains(needle), "{needle:?} not in: {err}");
}

pub fn chmod(path: impl AsRef<Path>, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Gives `path` to `user_name` and the research group, as the env admin's
/// files are.
pub fn chown(path: impl AsRef<Path>, user_name: &str) {
    let u = user(user_name);
    lchown(path.as_ref(), Some(u.uid), Some(group_gid(RESEARCH))).unwrap();
}

/// `cenv --config <sandbox config> ARGS...` run by `user`; its output.
pub fn run_as(sb: &Sandbox, user: &str, args: &[&str]) -> Output {
    cenv_as(sb, user).args(args).output().unwrap()
}

/// A config file's text, built from its parts instead of by hand:
/// `envs_config(&[&envs]).set("umask", "\"077\"").table("envs.cv").list("groups", &[RESEARCH])`.
#[derive(Debug, Clone, Default)]
pub struct ConfigText {
    text: String,
}

/// A config whose `envs_dirs` are `dirs`.
pub fn envs_config(dirs: &[&Path]) -> ConfigText {
    ConfigText::default().paths("envs_dirs", dirs)
}

impl ConfigText {
    /// `key = VALUE`, the value as TOML writes it (`false`, `"077"`).
    pub fn set(mut self, key: &str, value: impl std::fmt::Display) -> ConfigText {
        self.text.push_str(&format!("{key} = {value}\n"));
        self
    }

    /// `key = "TEXT"`.
    pub fn string(self, key: &str, value: &str) -> ConfigText {
        self.set(key, format!("{value:?}"))
    }

    /// `key = ["A", "B"]`.
    pub fn list(self, key: &str, values: &[&str]) -> ConfigText {
        let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        self.set(key, format!("[{}]", items.join(", ")))
    }

    /// `key = ["/a", "/b"]`.
    pub fn paths(self, key: &str, paths: &[&Path]) -> ConfigText {
        let items: Vec<String> = paths
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        self.set(key, format!("[{}]", items.join(", ")))
    }

    /// `[name]`: what follows belongs to that table.
    pub fn table(mut self, name: &str) -> ConfigText {
        self.text.push_str(&format!("[{name}]\n"));
        self
    }

    /// Lines written by hand (a case the builder has no word for).
    pub fn raw(mut self, text: &str) -> ConfigText {
        self.text.push_str(text);
        self
    }
}

impl std::fmt::Display for ConfigText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<ConfigText> for String {
    fn from(config: ConfigText) -> String {
        config.text
    }
}
