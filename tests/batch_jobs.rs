//! cenv in batch jobs on a real SLURM (22.05, one node, started by
//! tests/slurm/cluster.sh from tests/run-all.sh): each test is a real job
//! submitted by a test user, and reads what the job record (jobcomp/filetxt),
//! the job's output file and the audit log say.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use common::*;

/// The cluster's config, from tests/run-all.sh; under CI it must be there.
fn slurm_conf() -> Option<PathBuf> {
    match std::env::var_os("SLURM_CONF")
        .map(PathBuf::from)
        .filter(|p| p.exists())
    {
        Some(conf) => Some(conf),
        None => {
            skip("no SLURM cluster (SLURM_CONF; tests/run-all.sh starts one as root)");
            None
        }
    }
}

macro_rules! require_slurm {
    () => {{
        require_root!();
        match slurm_conf() {
            Some(conf) => conf,
            None => return,
        }
    }};
}

/// A sandbox with an env `cv` and a submit directory `work/` the test users
/// may write, a `cenv` on a PATH directory of its own (for `#!` scripts),
/// and the config the jobs' cenv reads (`CENV_CONFIG`).
struct Batch {
    sb: Sandbox,
    conf: PathBuf,
    _cluster: ClusterUse,
}

/// The tests share the one cluster; the test that breaks the node's plugin
/// for a while has it alone.
static CLUSTER: RwLock<()> = RwLock::new(());

enum ClusterUse {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

impl Batch {
    fn new(conf: PathBuf) -> Batch {
        Batch::with(
            conf,
            ClusterUse::Shared(CLUSTER.read().unwrap_or_else(|e| e.into_inner())),
        )
    }

    /// A sandbox for a test that must have the cluster to itself.
    fn alone(conf: PathBuf) -> Batch {
        Batch::with(
            conf,
            ClusterUse::Alone(CLUSTER.write().unwrap_or_else(|e| e.into_inner())),
        )
    }

    fn with(conf: PathBuf, cluster: ClusterUse) -> Batch {
        Batch::with_envs(conf, cluster, &["cv"])
    }

    fn with_envs(conf: PathBuf, cluster: ClusterUse, envs: &[&str]) -> Batch {
        let sb = shared_sandbox(envs, |sb| envs_config(&[&sb.path("envs")]).to_string());
        sb.mkdir("bin");
        std::os::unix::fs::symlink(cenv_binary(), sb.path("bin/cenv")).unwrap();
        fs::set_permissions(sb.path("cenv.toml"), fs::Permissions::from_mode(0o644)).unwrap();
        Batch {
            sb,
            conf,
            _cluster: cluster,
        }
    }

    /// The node's system config naming this sandbox's envs, plus `extra`:
    /// the plugin runs `--cenv` tasks only under a system config, and a job
    /// exported with --export=NONE carries no CENV_CONFIG. Callers hold
    /// machine_lock.
    fn site_config(&self, extra: &str) -> Option<SystemConfig> {
        write_system_config(&envs_config(&[&self.sb.path("envs")]).raw(extra).to_string())
    }

    fn work(&self) -> PathBuf {
        self.sb.path("work")
    }

    /// A job script in the submit directory.
    fn script(&self, name: &str, text: &str) -> PathBuf {
        let path = self.sb.write(&format!("work/{name}"), text);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A SLURM command run by `user` from the submit directory, with cenv on
    /// PATH and the sandbox config as CENV_CONFIG.
    fn slurm(&self, user: &str, program: &str) -> Command {
        let mut cmd = as_user(user, program);
        cmd.env("SLURM_CONF", &self.conf)
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", self.sb.path("bin").display()),
            )
            .env("CENV_CONFIG", self.sb.path("cenv.toml"))
            .current_dir(self.work());
        cmd
    }

    /// `sbatch --parsable ARGS SCRIPT` as `user`; returns the job id.
    fn submit(&self, user: &str, args: &[&str], script: &Path) -> String {
        let out = self
            .slurm(user, "sbatch")
            .arg("--parsable")
            .args(args)
            .arg(script)
            .output()
            .unwrap();
        assert!(out.status.success(), "sbatch: {}", stderr(&out));
        stdout(&out).trim().split(';').next().unwrap().to_owned()
    }

    /// The record of a finished job (jobcomp/filetxt), waiting up to `limit`.
    fn record(&self, job: &str, limit: Duration) -> String {
        let log = self.conf.parent().unwrap().join("jobcomp.log");
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with(&format!("JobId={job} "))) {
                return line.to_owned();
            }
            assert!(start.elapsed() < limit, "job {job} did not finish in {limit:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The records of the `count` finished jobs named `name` (an array's
    /// tasks: their job ids are not consecutive when other jobs interleave).
    fn records_named(&self, name: &str, count: usize, limit: Duration) -> Vec<String> {
        let log = self.conf.parent().unwrap().join("jobcomp.log");
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let records: Vec<String> = text
                .lines()
                .filter(|l| l.split(' ').any(|f| f == format!("Name={name}")))
                .map(str::to_owned)
                .collect();
            if records.len() >= count {
                return records;
            }
            assert!(
                start.elapsed() < limit,
                "{} of {count} jobs named {name} finished in {limit:?}",
                records.len()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn output(&self, job: &str) -> String {
        fs::read_to_string(self.work().join(format!("slurm-{job}.out"))).unwrap_or_default()
    }
}

fn field<'a>(record: &'a str, key: &str) -> &'a str {
    record
        .split(' ')
        .find_map(|f| f.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
}

/// Limits the env `cv` to the research group (bob is outside it); the
/// directories stay readable, so the refusal is the policy's, not a permission error.
fn open_to_the_research_group_only(batch: &Batch) {
    fs::write(
        batch.sb.path("cenv.toml"),
        envs_config(&[&batch.sb.path("envs")])
            .list("default_groups", &[RESEARCH])
            .to_string(),
    )
    .unwrap();
    for chmod_path in ["envs", "envs/cv", "envs/cv/bin", "envs/cv/conda-meta"] {
        fs::set_permissions(batch.sb.path(chmod_path), fs::Permissions::from_mode(0o2755)).unwrap();
    }
}

#[test]
fn an_sbatch_script_that_execs_cenv_runs_numpy_confined_with_the_jobs_variables() {
    let conf = require_slurm!();
    let g = require_genuine!();
    let batch = Batch::new(conf);
    fs::write(batch.sb.path("cenv.toml"), envs_config(&[&g.envs()]).to_string()).unwrap();
    let script = batch.script(
        "job.sh",
        "#!/bin/bash\n\
         echo \"BEFORE HOME=$HOME PWD=$PWD TMPDIR=${TMPDIR-} JOB=$SLURM_JOB_ID\"\n\
         exec cenv run genuine python -c '\n\
import os, numpy\n\
print(\"NUMPY\", numpy.__version__)\n\
print(\"AFTER HOME=%s PWD=%s TMPDIR=%s JOB=%s\" % (os.environ[\"HOME\"], os.getcwd(), os.environ.get(\"TMPDIR\", \"\"), os.environ[\"SLURM_JOB_ID\"]))\n\
print(\"SLURM_VARS\", len([k for k in os.environ if k.startswith(\"SLURM_\")]))\n\
status = open(\"/proc/self/status\").read()\n\
print(\"NNP\", status.split(\"NoNewPrivs:\")[1].split()[0], \"UMASK\", status.split(\"Umask:\")[1].split()[0])\n\
try:\n\
\x20   open(os.environ[\"CONDA_PREFIX\"] + \"/planted\", \"w\"); print(\"WROTE-ENV\")\n\
except OSError: print(\"ENV-READ-ONLY\")\n\
'\n",
    );
    let job = batch.submit(ALICE, &["--export=ALL,TMPDIR=/tmp"], &script);
    let record = batch.record(&job, Duration::from_secs(60));
    let out = batch.output(&job);
    assert_eq!(field(&record, "ExitCode"), "0:0", "{record}\n{out}");
    assert!(out.contains("NUMPY "), "{out}");
    let before = out
        .lines()
        .find(|l| l.starts_with("BEFORE "))
        .unwrap()
        .trim_start_matches("BEFORE ");
    let after = out
        .lines()
        .find(|l| l.starts_with("AFTER "))
        .unwrap()
        .trim_start_matches("AFTER ");
    assert_eq!(
        before, after,
        "activation changed HOME, the submit dir, TMPDIR or the job id"
    );
    assert!(out.contains("NNP 1 UMASK 0027"), "{out}");
    assert!(out.contains("ENV-READ-ONLY"), "{out}");
    let vars: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("SLURM_VARS "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(vars > 10, "{out}");
}

#[test]
fn srun_steps_array_tasks_and_the_shebang_form_run_and_are_audited_with_their_job() {
    let conf = require_slurm!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let batch = Batch::new(conf);
    let mark = unique_marker("step");
    // srun cenv run: a step
    let out = batch
        .slurm(ALICE, "srun")
        .args([
            "-n1",
            "cenv",
            "run",
            "cv",
            "sh",
            "-c",
            "echo STEP $SLURM_JOB_ID $SLURM_STEP_ID",
            &mark,
        ])
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.starts_with("STEP "), "{text}");
    let job = text.split_whitespace().nth(1).unwrap().to_owned();
    assert!(
        syslog.line_with(&mark).contains(&format!(" ; JOB={job} ; ")),
        "{}",
        syslog.line_with(&mark)
    );
    // an array job
    let array_mark = unique_marker("array");
    let script = batch.script(
        "array.sh",
        &format!("#!/bin/bash\nexec cenv run cv sh -c 'echo TASK $SLURM_ARRAY_TASK_ID' {array_mark}\n"),
    );
    let name = unique_marker("array");
    let array = batch.submit(ALICE, &["--array=0-2", &format!("--job-name={name}")], &script);
    for record in batch.records_named(&name, 3, Duration::from_secs(120)) {
        assert_eq!(field(&record, "ExitCode"), "0:0", "{record}");
    }
    let lines = syslog.lines_with(&array_mark);
    for task in 0..3 {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!(" ; JOB={array}_{task} ; "))),
            "{lines:#?}"
        );
    }
    // the shebang form: cenv is the interpreter of the job script
    let shebang_mark = unique_marker("shebang");
    let script = batch.script(
        "shebang.py",
        &format!("#!/usr/bin/env -S cenv run cv python\nimport os, sys\nprint('SHEBANG', os.environ['CONDA_DEFAULT_ENV'], sys.argv[0].endswith('slurm_script'))\n# {shebang_mark}\n"),
    );
    let shebang_name = unique_marker("shebang-job");
    let job = batch.submit(ALICE, &[&format!("--job-name={shebang_name}")], &script);
    let record = batch.record(&job, Duration::from_secs(60));
    assert_eq!(
        field(&record, "ExitCode"),
        "0:0",
        "{record}\n{}",
        batch.output(&job)
    );
    assert!(
        batch.output(&job).contains("SHEBANG cv True"),
        "{}",
        batch.output(&job)
    );
    let line = syslog.line_with(&format!(" ; JOBNAME={shebang_name} ; "));
    assert!(
        line.contains(&format!(" ; JOB={job} ; ")) && line.contains("slurm_script"),
        "{line}"
    );
}

#[test]
fn exit_codes_reach_the_job_record_with_cenvs_message_in_the_output() {
    let conf = require_slurm!();
    let batch = Batch::new(conf);
    let cases = [
        ("seven.sh", "exec cenv run cv sh -c 'exit 7'", ALICE, "7:0", ""),
        (
            "missing.sh",
            "exec cenv run cv no-such-command-x",
            ALICE,
            "127:0",
            "no-such-command-x: command not found",
        ),
        ("refused.sh", "exec cenv run cv true", BOB, "125:0", ""),
    ];
    // the env is open to the research group only: bob is refused
    open_to_the_research_group_only(&batch);
    for (name, line, user, code, message) in cases {
        let script = batch.script(name, &format!("#!/bin/bash\n{line}\n"));
        let job = batch.submit(user, &[], &script);
        let record = batch.record(&job, Duration::from_secs(60));
        assert_eq!(
            field(&record, "ExitCode"),
            code,
            "{name}: {record}\n{}",
            batch.output(&job)
        );
        let out = batch.output(&job);
        assert!(out.contains(message), "{name}: {out}");
        if user == BOB {
            assert!(out.contains(&format!("{BOB} may not use env 'cv'")), "{out}");
        }
    }
}

/// Waits until `path` exists.
fn wait_for_file(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn scancel_delivers_sigterm_to_the_python_process_itself() {
    let conf = require_slurm!();
    let batch = Batch::new(conf);
    let waiter = |tag: &str| {
        format!(
            "import signal, sys, time, os\n\
             def term(*a):\n    open('{work}/{tag}.term', 'w').write(str(os.getpid()))\n    sys.exit(0)\n\
             signal.signal(signal.SIGTERM, term)\n\
             parent = open('/proc/%d/comm' % os.getppid()).read().strip()\n\
             open('{work}/{tag}.ready', 'w').write('%d %s' % (os.getpid(), parent))\n\
             time.sleep(120)\n",
            work = batch.work().display()
        )
    };
    let exec_form = batch.script(
        "exec.sh",
        &format!("#!/bin/bash\nexec cenv run cv python -c \"{}\"\n", waiter("exec")),
    );
    let shebang_form = batch.script(
        "shebang-wait.py",
        &format!("#!/usr/bin/env -S cenv run cv python\n{}", waiter("shebang")),
    );
    for (tag, script, cancel) in [
        ("exec", exec_form.clone(), vec!["--batch", "--signal=TERM"]),
        ("shebang", shebang_form, vec!["--batch", "--signal=TERM"]),
        ("plain", exec_form, vec![]),
    ] {
        let tag_file = if tag == "plain" { "exec" } else { tag };
        let _ = fs::remove_file(batch.work().join(format!("{tag_file}.ready")));
        let _ = fs::remove_file(batch.work().join(format!("{tag_file}.term")));
        let job = batch.submit(ALICE, &[], &script);
        wait_for_file(
            &batch.work().join(format!("{tag_file}.ready")),
            Duration::from_secs(60),
        );
        let ready = fs::read_to_string(batch.work().join(format!("{tag_file}.ready"))).unwrap();
        let (python, parent) = ready.split_once(' ').unwrap();
        // no wrapper: the process slurmstepd started is python itself
        assert_eq!(parent, "slurmstepd", "{tag}: python's parent is not slurmstepd");
        ok(batch
            .slurm(ALICE, "scancel")
            .args(&cancel)
            .arg(&job)
            .output()
            .unwrap());
        wait_for_file(
            &batch.work().join(format!("{tag_file}.term")),
            Duration::from_secs(30),
        );
        // SIGTERM reached python itself (with --batch only the step's own
        // process is signalled: a wrapper that did not pass it on would
        // leave python waiting)
        assert_eq!(
            fs::read_to_string(batch.work().join(format!("{tag_file}.term"))).unwrap(),
            python,
            "{tag}"
        );
        batch.record(&job, Duration::from_secs(60));
    }
}

#[test]
fn a_time_limit_kills_the_job() {
    let conf = require_slurm!();
    let batch = Batch::new(conf);
    let script = batch.script("long.sh", "#!/bin/bash\nexec cenv run cv sleep 600\n");
    let job = batch.submit(ALICE, &["--time=1"], &script);
    let record = batch.record(&job, Duration::from_secs(200));
    assert_eq!(field(&record, "JobState"), "TIMEOUT", "{record}");
}

#[test]
fn fifty_array_tasks_all_succeed_with_fifty_audit_lines() {
    let conf = require_slurm!();
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let batch = Batch::new(conf);
    let mark = unique_marker("fifty");
    let script = batch.script(
        "fifty.sh",
        &format!("#!/bin/bash\nexec cenv run cv true {mark}\n"),
    );
    let array = batch.submit(ALICE, &["--array=0-49", &format!("--job-name={mark}")], &script);
    let records = batch.records_named(&mark, 50, Duration::from_secs(400));
    assert_eq!(records.len(), 50);
    for record in records {
        assert_eq!(field(&record, "ExitCode"), "0:0", "{record}");
    }
    let start = Instant::now();
    loop {
        let lines = syslog.lines_with(&mark);
        if lines.len() >= 50 || start.elapsed() > Duration::from_secs(10) {
            assert_eq!(lines.len(), 50, "{lines:#?}");
            for task in 0..50 {
                assert!(
                    lines
                        .iter()
                        .any(|l| l.contains(&format!(" ; JOB={array}_{task} ; "))),
                    "task {task}"
                );
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn audit_lines_of_a_job_reach_a_central_log_host() {
    let conf = require_slurm!();
    let _lock = machine_lock();
    let batch = Batch::new(conf);
    // stop the suite's rsyslogd; a node rsyslogd forwards authpriv to a
    // central one listening on loopback TCP
    Syslog::start().stop();
    let dir = batch.sb.mkdir("syslog");
    let port = 10514 + (std::process::id() % 1000) as u16;
    let central_log = dir.join("central.log");
    fs::write(
        dir.join("central.conf"),
        format!(
            "module(load=\"imtcp\")\ninput(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
             template(name=\"central\" type=\"string\" string=\"%hostname% %syslogtag%%msg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{}\" template=\"central\")\n",
            central_log.display()
        ),
    )
    .unwrap();
    fs::write(
        dir.join("node.conf"),
        format!(
            "module(load=\"imuxsock\" SysSock.Name=\"/dev/log\")\n\
             authpriv.* action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" protocol=\"tcp\")\n"
        ),
    )
    .unwrap();
    let daemon = |name: &str| {
        sh(&[
            "rsyslogd",
            "-f",
            dir.join(format!("{name}.conf")).to_str().unwrap(),
            "-i",
            dir.join(format!("{name}.pid")).to_str().unwrap(),
        ]);
    };
    daemon("central");
    std::thread::sleep(Duration::from_millis(300));
    daemon("node");
    let mark = unique_marker("central");
    let script = batch.script(
        "central.sh",
        &format!("#!/bin/bash\nexec cenv run cv true {mark}\n"),
    );
    let job = batch.submit(ALICE, &[], &script);
    batch.record(&job, Duration::from_secs(60));
    let start = Instant::now();
    let mut line = None;
    while line.is_none() && start.elapsed() < Duration::from_secs(15) {
        line = fs::read_to_string(&central_log)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains(&mark))
            .map(str::to_owned);
        std::thread::sleep(Duration::from_millis(200));
    }
    for name in ["node", "central"] {
        if let Ok(pid) = fs::read_to_string(dir.join(format!("{name}.pid"))) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = fs::remove_file("/dev/log");
    let line = line.expect("the job's audit line never reached the central log");
    let host = ok(Command::new("hostname").output().unwrap());
    assert!(line.starts_with(host.trim().split('.').next().unwrap()), "{line}");
    assert!(line.contains(&format!(" ; JOB={job} ; ")), "{line}");
}

// ---- the SPANK plugin: srun --cenv=ENV, #SBATCH --cenv=ENV ----

/// Whether the cluster loads cenv's plugin (tests/run-all.sh builds it and
/// names it in plugstack.conf); under CI it must.
fn plugin_loaded(conf: &Path) -> bool {
    let plugstack = fs::read_to_string(conf.parent().unwrap().join("plugstack.conf")).unwrap_or_default();
    if plugstack.contains("cenv_spank") {
        return true;
    }
    skip("the cluster does not load cenv's SPANK plugin (CENV_SPANK_PLUGIN)");
    false
}

/// What a task reports about itself: its env, NoNewPrivs, umask, whether
/// it can write into the env.
const TASK_PROBE: &str = "import os\n\
s = open('/proc/self/status').read()\n\
nnp = s.split('NoNewPrivs:')[1].split()[0]\n\
umask = s.split('Umask:')[1].split()[0]\n\
prefix = os.environ.get('CONDA_PREFIX', '-')\n\
try:\n\
\x20   open(prefix + '/planted', 'w'); w = 'WRITABLE'\n\
except OSError: w = 'READ-ONLY'\n\
print('TASK', os.environ.get('SLURM_PROCID'), prefix, nnp, umask, w, flush=True)\n";

#[test]
fn srun_with_cenv_confines_and_activates_every_task() {
    let conf = require_slurm!();
    if !plugin_loaded(&conf) {
        return;
    }
    let _lock = machine_lock();
    let syslog = Syslog::start();
    let batch = Batch::new(conf);
    let Some(_config) = batch.site_config("") else {
        return;
    };
    let probe = batch.script("probe.py", TASK_PROBE);
    let out = batch
        .slurm(ALICE, "srun")
        .args(["-n2", "--cenv=cv", "python"])
        .arg(&probe)
        .output()
        .unwrap();
    let text = ok(&out);
    let env = batch.sb.path("envs/cv");
    for task in ["0", "1"] {
        let expected = format!("TASK {task} {} 1 0027 READ-ONLY", env.display());
        assert!(
            text.lines().any(|l| l == expected),
            "no {expected:?} in:\n{text}{}",
            stderr(&out)
        );
    }
    let lines = syslog.lines_with(&probe.display().to_string());
    assert!(
        lines.len() >= 2 && lines.iter().all(|l| l.contains(" ; JOB=")),
        "{lines:#?}"
    );
    // without the option the task is untouched: no activation, no confinement, no audit line
    let out = batch
        .slurm(ALICE, "srun")
        .args(["-n1", "python3"])
        .arg(&probe)
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("TASK 0 - 0 "), "{text}");
    // an array job with the option: every task confined, its line with JOB=ARRAY_TASK
    let name = unique_marker("spank-array");
    let script = batch.script(
        "spank-array.py",
        &format!("#!/usr/bin/env python3\n#SBATCH --cenv=cv\n{TASK_PROBE}# {name}\n"),
    );
    let array = batch.submit(ALICE, &["--array=0-1", &format!("--job-name={name}")], &script);
    for record in batch.records_named(&name, 2, Duration::from_secs(120)) {
        assert_eq!(field(&record, "ExitCode"), "0:0", "{record}");
    }
    let lines = syslog.lines_with(&format!("JOBNAME={name}"));
    for task in 0..2 {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!(" ; JOB={array}_{task} ; "))),
            "{lines:#?}"
        );
    }
}

#[test]
fn sbatch_with_cenv_reaches_the_steps_of_the_job_and_a_refusal_fails_the_task_with_125() {
    let conf = require_slurm!();
    if !plugin_loaded(&conf) {
        return;
    }
    let _lock = machine_lock();
    let batch = Batch::new(conf);
    let Some(config) = batch.site_config("") else {
        return;
    };
    let probe = batch.script("step-probe.py", TASK_PROBE);
    let script = batch.script(
        "with-option.sh",
        &format!(
            "#!/bin/bash\n#SBATCH --cenv=cv\nsrun -n1 python {}\n",
            probe.display()
        ),
    );
    let job = batch.submit(ALICE, &[], &script);
    let record = batch.record(&job, Duration::from_secs(60));
    let out = batch.output(&job);
    assert_eq!(field(&record, "ExitCode"), "0:0", "{record}\n{out}");
    let env = batch.sb.path("envs/cv");
    assert!(
        out.contains(&format!("TASK 0 {} 1 0027 READ-ONLY", env.display())),
        "{out}"
    );
    // bob is outside the env's group: his task fails with cenv's message and 125
    open_to_the_research_group_only(&batch);
    config.rewrite(
        &envs_config(&[&batch.sb.path("envs")])
            .list("default_groups", &[RESEARCH])
            .to_string(),
    );
    let script = batch.script("refused.sh", "#!/bin/bash\n#SBATCH --cenv=cv\nexec true\n");
    let job = batch.submit(BOB, &[], &script);
    let record = batch.record(&job, Duration::from_secs(60));
    let out = batch.output(&job);
    assert_eq!(field(&record, "ExitCode"), "125:0", "{record}\n{out}");
    assert!(out.contains(&format!("{BOB} may not use env 'cv'")), "{out}");
}

/// What docs/batch-jobs.md says of precedence: `sbatch --cenv` over the
/// script's `#SBATCH --cenv`, a step's `srun --cenv` over the job's, another
/// env's activation on top of the batch step's (CONDA_SHLVL 2, the job's own
/// env again stays at 1), and a prefix accepted where a name is.
#[test]
fn the_innermost_cenv_option_wins_and_a_prefix_is_accepted() {
    let conf = require_slurm!();
    if !plugin_loaded(&conf) {
        return;
    }
    let _lock = machine_lock();
    let batch = Batch::with_envs(
        conf,
        ClusterUse::Shared(CLUSTER.read().unwrap_or_else(|e| e.into_inner())),
        &["cv", "other"],
    );
    let Some(_config) = batch.site_config("") else {
        return;
    };
    let probe = batch.script(
        "shlvl.py",
        "import os\nprint('STEP', os.environ.get('CONDA_PREFIX'), os.environ.get('CONDA_SHLVL'), flush=True)\n",
    );
    let other = batch.sb.path("envs/other");
    let script = batch.script(
        "precedence.sh",
        &format!(
            "#!/bin/bash\n#SBATCH --cenv=cv\necho \"BATCH $CONDA_PREFIX $CONDA_SHLVL\"\n\
             srun -n1 python {probe}\nsrun -n1 --cenv=cv python {probe}\n",
            probe = probe.display()
        ),
    );
    // the command line's option, a prefix, over the script's #SBATCH --cenv=cv
    let job = batch.submit(ALICE, &[&format!("--cenv={}", other.display())], &script);
    let record = batch.record(&job, Duration::from_secs(60));
    let out = batch.output(&job);
    assert_eq!(field(&record, "ExitCode"), "0:0", "{record}\n{out}");
    let cv = batch.sb.path("envs/cv");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("BATCH") || l.starts_with("STEP"))
        .collect();
    assert_eq!(
        lines,
        [
            format!("BATCH {} 1", other.display()),
            // the job's own env again: as conda re-activating the active env
            format!("STEP {} 1", other.display()),
            // another env: on top of the batch step's
            format!("STEP {} 2", cv.display()),
        ],
        "{out}"
    );
}

#[test]
fn a_cenv_job_exported_with_export_none_is_still_confined() {
    let conf = require_slurm!();
    if !plugin_loaded(&conf) {
        return;
    }
    let _lock = machine_lock();
    let batch = Batch::new(conf);
    // no CENV_CONFIG reaches such a job: the system config names the envs
    let Some(_config) = batch.site_config("") else {
        return;
    };
    let env = batch.sb.path("envs/cv");
    // the three ways sites export nothing: the option, the script's
    // directive, the variable many set for everyone
    for (how, args, header, variable) in [
        ("--export=NONE", &["--export=NONE"][..], "", None),
        ("#SBATCH --export=NONE", &[][..], "#SBATCH --export=NONE\n", None),
        ("SBATCH_EXPORT=NONE", &[][..], "", Some(("SBATCH_EXPORT", "NONE"))),
    ] {
        let script = batch.script(
            "export-none.py",
            &format!("#!/usr/bin/env python3\n#SBATCH --cenv=cv\n{header}{TASK_PROBE}"),
        );
        let mut sbatch = batch.slurm(ALICE, "sbatch");
        if let Some((name, value)) = variable {
            sbatch.env(name, value);
        }
        let out = sbatch.arg("--parsable").args(args).arg(&script).output().unwrap();
        assert!(out.status.success(), "{how}: sbatch: {}", stderr(&out));
        let job = stdout(&out).trim().split(';').next().unwrap().to_owned();
        let record = batch.record(&job, Duration::from_secs(60));
        let output = batch.output(&job);
        assert_eq!(field(&record, "ExitCode"), "0:0", "{how}: {record}\n{output}");
        assert!(
            output.contains(&format!("TASK 0 {} 1 0027 READ-ONLY", env.display())),
            "{how}: the task ran unconfined: {output}"
        );
    }
}

#[test]
fn a_node_without_the_system_config_refuses_cenv_tasks() {
    let conf = require_slurm!();
    if !plugin_loaded(&conf) {
        return;
    }
    let _lock = machine_lock();
    let batch = Batch::new(conf);
    // the job's own CENV_CONFIG is there; the node's config is not
    let _absent = test_system_config().map(HostFile::absent);
    let script = batch.script(
        "no-site-config.py",
        &format!("#!/usr/bin/env python3\n#SBATCH --cenv=cv\n{TASK_PROBE}"),
    );
    let job = batch.submit(ALICE, &[], &script);
    let record = batch.record(&job, Duration::from_secs(60));
    let output = batch.output(&job);
    assert_eq!(field(&record, "ExitCode"), "125:0", "{record}\n{output}");
    assert!(!output.contains("TASK "), "the task ran: {output}");
    assert!(output.contains("no system config"), "{output}");
}

/// A copy of the plugin that claims to be built for Slurm 23.02: its
/// `plugin_version` (what slurmstepd checks) and its release mark (what the
/// health check reads) patched, found through the symbol table.
fn plugin_built_for_another_release(plugin: &Path, copy: &Path) {
    let mut bytes = fs::read(plugin).unwrap();
    let symbols = stdout(
        &Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(plugin)
            .output()
            .unwrap(),
    );
    let sections = stdout(
        &Command::new("readelf")
            .args(["-SW"])
            .arg(plugin)
            .output()
            .unwrap(),
    );
    let file_offset = |symbol: &str| -> usize {
        let address = symbols
            .lines()
            .find(|l| l.ends_with(&format!(" {symbol}")))
            .and_then(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
            .unwrap_or_else(|| panic!("no symbol {symbol}"));
        for line in sections.lines().filter(|l| l.contains("PROGBITS")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "PROGBITS").unwrap();
            let (addr, off, size) = (
                u64::from_str_radix(words[at + 1], 16).unwrap(),
                u64::from_str_radix(words[at + 2], 16).unwrap(),
                u64::from_str_radix(words[at + 3], 16).unwrap(),
            );
            if (addr..addr + size).contains(&address) {
                return (address - addr + off) as usize;
            }
        }
        panic!("{symbol} lies in no section");
    };
    let version = file_offset("plugin_version");
    bytes[version..version + 4].copy_from_slice(&((23u32 << 16) | (2 << 8)).to_le_bytes());
    let mark = file_offset("cenv_spank_built_for");
    let release = b"cenv-spank-built-for-slurm-23.02";
    bytes[mark..mark + release.len()].copy_from_slice(release);
    fs::write(copy, bytes).unwrap();
    fs::set_permissions(copy, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Puts the node's plugstack back and resumes the node when dropped.
struct NodeRestore {
    plugstack: PathBuf,
    good: String,
    node: String,
    conf: PathBuf,
}

impl NodeRestore {
    fn resume(&self) {
        let _ = Command::new("scontrol")
            .env("SLURM_CONF", &self.conf)
            .args(["update", &format!("NodeName={}", self.node), "State=RESUME"])
            .output();
    }

    /// The node's state and the reason it was drained for (sinfo).
    fn state(&self) -> String {
        stdout(
            &Command::new("sinfo")
                .env("SLURM_CONF", &self.conf)
                .args(["-h", "-N", "-n", &self.node, "-o", "%t|%E"])
                .output()
                .unwrap(),
        )
        .trim()
        .to_owned()
    }
}

impl Drop for NodeRestore {
    fn drop(&mut self) {
        let _ = fs::write(&self.plugstack, &self.good);
        self.resume();
    }
}

const HEALTHCHECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/slurm/cenv-slurm-healthcheck"
);

#[test]
fn a_node_that_cannot_load_the_plugin_never_runs_a_cenv_task_and_its_health_check_drains_it() {
    let conf = require_slurm!();
    if !plugin_loaded(&conf) {
        return;
    }
    let _lock = machine_lock();
    let batch = Batch::alone(conf.clone());
    let Some(_config) = batch.site_config("") else {
        return;
    };
    let dir = conf.parent().unwrap();
    let plugstack = dir.join("plugstack.conf");
    let good = fs::read_to_string(&plugstack).unwrap();
    let plugin = PathBuf::from(good.split_whitespace().nth(1).unwrap());
    let node = stdout(&Command::new("hostname").arg("-s").output().unwrap())
        .trim()
        .to_owned();
    let restore = NodeRestore {
        plugstack: plugstack.clone(),
        good: good.clone(),
        node,
        conf: conf.clone(),
    };
    // the submit host's plugin loads (its own plugstack): only the node's is broken
    let submit_plugstack = batch.sb.write("submit/plugstack.conf", &good);
    let submit_conf = batch.sb.write(
        "submit/slurm.conf",
        &fs::read_to_string(&conf)
            .unwrap()
            .lines()
            .map(|l| match l.starts_with("PlugStackConfig=") {
                true => format!("PlugStackConfig={}\n", submit_plugstack.display()),
                false => format!("{l}\n"),
            })
            .collect::<String>(),
    );
    for file in [&submit_plugstack, &submit_conf] {
        fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let patched = batch.sb.path("submit/cenv_spank-23.02.so");
    plugin_built_for_another_release(&plugin, &patched);
    let healthcheck = || {
        Command::new(HEALTHCHECK)
            .env("SLURM_CONF", &conf)
            .env("CENV_PLUGSTACK", &plugstack)
            .env("CENV_SYSTEM_CONFIG", test_system_config().unwrap())
            .env("CENV_BINARY", cenv_binary())
            .env("CENV_NODE", &restore.node)
            .output()
            .unwrap()
    };
    let probe = format!("#!/usr/bin/env python3\n#SBATCH --cenv=cv\n{TASK_PROBE}");
    let submit = |name: &str| {
        let script = batch.script(name, &probe);
        let out = batch
            .slurm(ALICE, "sbatch")
            .env("SLURM_CONF", &submit_conf)
            .arg("--parsable")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "sbatch: {}", stderr(&out));
        let job = stdout(&out).trim().split(';').next().unwrap().to_owned();
        batch.record(&job, Duration::from_secs(60));
        batch.output(&job)
    };
    for (case, line, problem) in [
        (
            "a stale plugstack line",
            "required /nonexistent/cenv_spank.so".to_owned(),
            "does not exist",
        ),
        (
            "a plugin built for another Slurm release",
            format!("required {}", patched.display()),
            "is built for Slurm 23.02, this slurmd is 22.05",
        ),
    ] {
        fs::write(&plugstack, format!("{line}\n")).unwrap();
        // the health check drains the node before a job lands there
        let checked = healthcheck();
        assert_eq!(checked.status.code(), Some(1), "{case}: {}", stdout(&checked));
        assert!(stdout(&checked).contains(problem), "{case}: {}", stdout(&checked));
        let state = restore.state();
        assert!(
            state.starts_with("drain") && state.contains("|cenv: "),
            "{case}: {state}"
        );
        // where no check ran yet: the shipped `required` line keeps the
        // task from running at all (Slurm drains the node itself)
        restore.resume();
        let output = submit(&format!("{case}.py").replace(' ', "-"));
        assert!(
            !output.contains("TASK "),
            "{case}: the task ran without the plugin: {output}"
        );
        restore.resume();
    }
    // control: with `optional` (what the package no longer ships) the same
    // node runs the task unconfined, unactivated and unaudited
    fs::write(&plugstack, "optional /nonexistent/cenv_spank.so\n").unwrap();
    let output = submit("optional.py");
    assert!(output.contains("TASK 0 - 0 "), "control: {output}");
    // repaired: the check passes, and resumes a node it drained itself
    fs::write(&plugstack, &good).unwrap();
    let _ = Command::new("scontrol")
        .env("SLURM_CONF", &conf)
        .args([
            "update",
            &format!("NodeName={}", restore.node),
            "State=DRAIN",
            "Reason=cenv: a test",
        ])
        .output();
    let checked = healthcheck();
    assert_eq!(checked.status.code(), Some(0), "{}", stdout(&checked));
    assert!(restore.state().starts_with("idle"), "{}", restore.state());
}
