//! cenv in batch jobs on a real SLURM (22.05, one node, started by
//! tests/slurm/cluster.sh from tests/run-all.sh): each test is a real job
//! submitted by a test user, and reads what the job record (jobcomp/filetxt),
//! the job's output file and the audit log say.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
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
}

impl Batch {
    fn new(conf: PathBuf) -> Batch {
        let sb = shared_sandbox(&["cv"], |sb| {
            format!("envs_dirs = [\"{}\"]\n", sb.path("envs").display())
        });
        sb.mkdir("bin");
        std::os::unix::fs::symlink(cenv_binary(), sb.path("bin/cenv")).unwrap();
        fs::set_permissions(sb.path("cenv.toml"), fs::Permissions::from_mode(0o644)).unwrap();
        Batch { sb, conf }
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

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}: {}{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Limits the env `cv` to the research group (bob is outside it); the
/// directories stay readable, so the refusal is the policy's, not a permission error.
fn open_to_the_research_group_only(batch: &Batch) {
    fs::write(
        batch.sb.path("cenv.toml"),
        format!(
            "envs_dirs = [\"{}\"]\ndefault_groups = [\"{RESEARCH}\"]\n",
            batch.sb.path("envs").display()
        ),
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
    fs::write(
        batch.sb.path("cenv.toml"),
        format!("envs_dirs = [\"{}\"]\n", g.envs().display()),
    )
    .unwrap();
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
        ok(&batch
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
    let host = ok(&Command::new("hostname").output().unwrap());
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
    let batch = Batch::new(conf);
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
    let script = batch.script("refused.sh", "#!/bin/bash\n#SBATCH --cenv=cv\nexec true\n");
    let job = batch.submit(BOB, &[], &script);
    let record = batch.record(&job, Duration::from_secs(60));
    let out = batch.output(&job);
    assert_eq!(field(&record, "ExitCode"), "125:0", "{record}\n{out}");
    assert!(out.contains(&format!("{BOB} may not use env 'cv'")), "{out}");
}
