//! One syslog line for every run and every refusal, in sudo's format, so that
//! existing log tooling reads it:
//!
//! ```text
//! alice : TTY=pts/0 ; ENV=project-cv ; PREFIX=/opt/miniconda/envs/project-cv ; PWD=/home/alice ; USER=alice ; UMASK=027 ; LANDLOCK=enforced (ABI 7) ; COMMAND=/opt/miniconda/envs/project-cv/bin/python train.py
//! alice : command refused ; TTY=pts/0 ; ENV=project-cv ; REASON=not in group ai-researchers ; PWD=/home/alice ; COMMAND=python train.py
//! ```
//!
//! Facility authpriv, ident `cenv` with the pid; runs at notice, refusals at
//! warning. The first field is the invoking user (the user sudo or pkexec
//! ran it for, or root); `USER=` is the user the command runs as.
//!
//! cenv speaks the local syslog protocol itself over `/dev/log` (a datagram
//! per message, as syslog(3) sends them) instead of calling syslog(3): it must
//! know whether a daemon received the line — `audit = "required"` refuses to
//! run otherwise — and syslog(3) drops messages silently when no daemon runs.
//! The socket is connected at start, before any confinement. Every run —
//! `cenv run`, a SLURM task, a shell's activation — goes through one front
//! door, [`audited`], which writes what it ended in. Control
//! characters and invalid UTF-8 in every field are escaped, and lines longer
//! than sudo's 960-byte limit are split, so one run can never forge or garble
//! another line (sudo CVE-2023-28486/28487).
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixDatagram, UnixStream};

use crate::config::AuditMode;
use crate::error::{Error, Outcome};
pub use crate::system::escape::escape;
use crate::system::output::Described;

/// Where the local syslog daemon listens.
pub const SYSLOG_SOCKET: &str = "/dev/log";

const LOG_AUTHPRIV: u8 = 10 << 3;
/// Priority of a run.
pub const NOTICE: u8 = LOG_AUTHPRIV | 5;
/// Priority of a refusal.
pub const WARNING: u8 = LOG_AUTHPRIV | 4;

/// The longest message body sent in one datagram (sudo-rs's limit).
const MAX_BODY: usize = 960;

#[derive(Debug)]
enum Connection {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

/// A connection to the local syslog daemon, or why there is none.
#[derive(Debug)]
pub struct AuditLog {
    connection: Result<Connection, io::Error>,
}

impl AuditLog {
    /// Connects to `/dev/log`. Failure is remembered, not fatal: whether it
    /// stops the run depends on the config's `audit` setting.
    pub fn connect() -> AuditLog {
        Self::connect_to(SYSLOG_SOCKET)
    }

    fn connect_to(path: &str) -> AuditLog {
        let connection = UnixDatagram::unbound()
            .and_then(|socket| socket.connect(path).map(|()| Connection::Datagram(socket)))
            .or_else(|e| match e.raw_os_error() {
                // a daemon that listens on a stream socket
                Some(libc::EPROTOTYPE) => UnixStream::connect(path).map(Connection::Stream),
                _ => Err(e),
            });
        AuditLog { connection }
    }

    /// Why no daemon is reachable, if none is.
    pub fn unavailable(&self) -> Option<&io::Error> {
        self.connection.as_ref().err()
    }

    /// `audit = "required"` refuses to run when no daemon can receive the
    /// line; best-effort runs (and says so when a line cannot be sent).
    pub fn require(&self, mode: AuditMode) -> Result<(), Error> {
        let Some(e) = self.unavailable() else {
            return Ok(());
        };
        match mode {
            AuditMode::Required => Err(Error::AuditUnavailable {
                socket: SYSLOG_SOCKET.into(),
                source: io::Error::new(e.kind(), e.to_string()),
            }),
            AuditMode::BestEffort => Ok(()),
        }
    }

    /// Whether the daemon is there, as `-v` tells it.
    pub fn status(&self, mode: AuditMode) -> AuditStatus<'_> {
        AuditStatus { audit: self, mode }
    }

    /// Sends one line; a line that cannot be sent is one warning on stderr.
    pub fn log(&self, priority: u8, line: &str) {
        if let Err(e) = self.send(priority, line) {
            crate::system::output::warning(&format!(
                "this run is not in the audit log: no syslog daemon at {SYSLOG_SOCKET} ({e})"
            ));
        }
    }

    /// Sends one audit line, split into several messages if it is long.
    pub fn send(&self, priority: u8, line: &str) -> io::Result<()> {
        let connection = match &self.connection {
            Ok(c) => c,
            Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
        };
        for body in split_line(line) {
            // the pid at sending time: after the pty relay's fork, the
            // command's own process sends the line
            let mut message = format!("<{priority}>cenv[{}]: {body}", std::process::id()).into_bytes();
            match connection {
                Connection::Datagram(socket) => {
                    socket.send(&message)?;
                }
                Connection::Stream(stream) => {
                    message.push(0);
                    (&*stream).write_all(&message)?;
                }
            }
        }
        Ok(())
    }
}

/// The daemon's presence, with the config's `audit` setting.
#[derive(Debug)]
pub struct AuditStatus<'a> {
    audit: &'a AuditLog,
    mode: AuditMode,
}

impl Described for AuditStatus<'_> {
    fn step(&self) -> &'static str {
        "audit"
    }

    fn describe(&self) -> String {
        match self.audit.unavailable() {
            None => format!("connected to {SYSLOG_SOCKET}"),
            Some(e) => format!("no syslog daemon ({e}); audit = {:?}", self.mode),
        }
    }
}

/// The one audited front door of every run — `cenv run`, a SLURM task, a
/// shell's activation: `step` does the work with the trail; what it ends in
/// is written to the log here, and nowhere else. A success is the run's
/// line (unless the step sent it itself, right before its exec); a failure
/// is one line saying what it was — refused, not found, not executable,
/// failed — or, after the run's line was sent, that the run did not start.
/// `invoker` names who started cenv when the step did not get that far.
pub fn audited<T>(
    audit: &AuditLog,
    trail: &mut Trail,
    invoker: impl FnOnce() -> String,
    step: impl FnOnce(&mut Trail) -> Result<T, Error>,
) -> Result<T, Error> {
    let result = step(trail);
    if trail.invoker.is_empty() {
        trail.invoker = invoker();
    }
    match &result {
        Ok(_) if !trail.run_logged => audit.log(NOTICE, &trail.run_line()),
        Ok(_) | Err(Error::AuditUnavailable { .. }) => {}
        // the run's line is already in the log: one more line says it did
        // not start, under the same pid — never a second outcome
        Err(e) if trail.run_logged => audit.log(WARNING, &trail.exec_failed_line(&e.audit_reason())),
        Err(e) => {
            let outcome = e.outcome();
            let priority = match outcome {
                Outcome::NotFound | Outcome::NotExecutable => NOTICE,
                Outcome::Refused | Outcome::Failed | Outcome::LookupFailed => WARNING,
            };
            audit.log(priority, &trail.failure_line(outcome, &e.audit_reason()));
        }
    }
    result
}

/// Splits a line into bodies of at most 960 bytes; continuations start with
/// `(command continued)`, as sudo marks them.
pub fn split_line(line: &str) -> Vec<String> {
    const CONTINUED: &str = "(command continued) ";
    let mut parts = Vec::new();
    let mut rest = line;
    let mut prefix = "";
    loop {
        let room = MAX_BODY - prefix.len();
        if rest.len() <= room {
            parts.push(format!("{prefix}{rest}"));
            return parts;
        }
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(format!("{prefix}{}", &rest[..cut]));
        rest = &rest[cut..];
        prefix = CONTINUED;
    }
}

/// Escapes one field of the line: everything [`escape`] escapes, and `;`
/// (as `\x3b`), so a value can never contain the ` ; ` that separates fields
/// — a working directory named `d ; USER=root` stays one field.
pub fn field(bytes: &[u8]) -> String {
    escape(bytes).replace(';', "\\x3b")
}

/// The first field, the invoking user: a field in which `:` (the separator
/// after it) is escaped too.
pub fn invoker_field(bytes: &[u8]) -> String {
    field(bytes).replace(':', "\\x3a")
}

/// The words of a command line, each escaped, joined by spaces.
pub fn escape_command<'a>(words: impl IntoIterator<Item = &'a OsStr>) -> String {
    words
        .into_iter()
        .map(|w| field(w.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything the audit line says about a run.
#[derive(Debug, Clone, Default)]
pub struct Trail {
    /// Who started cenv (the user sudo or pkexec ran it for, root, or the caller).
    pub invoker: String,
    pub tty: String,
    pub env: String,
    pub prefix: String,
    pub pwd: String,
    /// The user the command runs as.
    pub user: String,
    pub umask: String,
    pub landlock: String,
    /// The batch job the run belongs to (`JOB=`), escaped; empty outside one.
    pub job: String,
    /// The batch job's name (`JOBNAME=`): for a job script run through its
    /// `#!` line, COMMAND names the spool copy, gone after the job.
    pub job_name: String,
    /// The env's notice (`deprecated`, `deprecated, past until DAY`),
    /// escaped; empty for an env without one.
    pub notice: String,
    /// The command as it will be executed (resolved path first), escaped.
    pub command: String,
    /// Set once the run's line is sent, right before exec.
    pub run_logged: bool,
}

impl Trail {
    pub fn run_line(&self) -> String {
        format!(
            "{} : TTY={} ; ENV={} ; PREFIX={} ; PWD={} ; USER={} ; UMASK={} ; LANDLOCK={}{} ; COMMAND={}",
            self.invoker,
            self.tty,
            self.env,
            self.prefix,
            self.pwd,
            self.user,
            self.umask,
            self.landlock,
            self.job_fields(),
            self.command
        )
    }

    fn job_fields(&self) -> String {
        let mut fields = String::new();
        if !self.job.is_empty() {
            fields.push_str(&format!(" ; JOB={}", self.job));
        }
        if !self.job_name.is_empty() {
            fields.push_str(&format!(" ; JOBNAME={}", self.job_name));
        }
        if !self.notice.is_empty() {
            fields.push_str(&format!(" ; NOTICE={}", self.notice));
        }
        fields
    }

    /// The line of a run that ended before its command started: refused,
    /// command not found, not executable, or failed.
    pub fn failure_line(&self, outcome: Outcome, reason: &str) -> String {
        self.outcome_line(outcome.words(), reason)
    }

    /// The line sent when execve(2) failed after the run's line was sent:
    /// the same pid, and says the command did not start.
    pub fn exec_failed_line(&self, reason: &str) -> String {
        self.outcome_line("exec failed, the run above did not start", reason)
    }

    fn outcome_line(&self, words: &str, reason: &str) -> String {
        format!(
            "{} : {words} ; TTY={} ; ENV={} ; REASON={} ; PWD={}{} ; COMMAND={}",
            self.invoker,
            self.tty,
            self.env,
            field(reason.as_bytes()),
            self.pwd,
            self.job_fields(),
            self.command
        )
    }
}

/// The batch job a run belongs to and its name, from the variables the
/// scheduler sets (SLURM; PBS/Torque; LSF): `1234`, `1234_5` for a SLURM array
/// task. Informational only — a caller can set these variables — and never
/// used for a decision; escaped like every field.
pub fn batch_job(environ: &crate::system::environ::Environ) -> (String, String) {
    let get = |name: &str| {
        environ
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| field(v.as_bytes()))
    };
    let job = match (get("SLURM_ARRAY_JOB_ID"), get("SLURM_ARRAY_TASK_ID")) {
        (Some(array), Some(task)) => Some(format!("{array}_{task}")),
        _ => get("SLURM_JOB_ID").or_else(|| get("PBS_JOBID")).or_else(|| {
            match (get("LSB_JOBID"), get("LSB_JOBINDEX")) {
                (Some(id), Some(index)) if index != "0" => Some(format!("{id}[{index}]")),
                (id, _) => id,
            }
        }),
    };
    let name = get("SLURM_JOB_NAME")
        .or_else(|| get("PBS_JOBNAME"))
        .or_else(|| get("LSB_JOBNAME"));
    (job.unwrap_or_default(), name.unwrap_or_default())
}

/// The terminal on stdin, as sudo names it (`pts/0`), or `unknown`.
pub fn tty_name() -> String {
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return "unknown".into();
    }
    match std::fs::read_link("/proc/self/fd/0") {
        Ok(path) => {
            let text = path.as_os_str().as_bytes();
            field(text.strip_prefix(b"/dev/").unwrap_or(text))
        }
        Err(_) => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_jobs_are_named_in_the_line() {
        use crate::system::environ::Environ;
        let slurm = Environ::from_pairs([("SLURM_JOB_ID", "41"), ("SLURM_JOB_NAME", "train ; x")]);
        assert_eq!(batch_job(&slurm), ("41".into(), "train \\x3b x".into()));
        let array = Environ::from_pairs([
            ("SLURM_JOB_ID", "43"),
            ("SLURM_ARRAY_JOB_ID", "40"),
            ("SLURM_ARRAY_TASK_ID", "3"),
        ]);
        assert_eq!(batch_job(&array).0, "40_3");
        assert_eq!(
            batch_job(&Environ::from_pairs([("PBS_JOBID", "7.pbs")])).0,
            "7.pbs"
        );
        let lsf = Environ::from_pairs([("LSB_JOBID", "9"), ("LSB_JOBINDEX", "2")]);
        assert_eq!(batch_job(&lsf).0, "9[2]");
        assert_eq!(batch_job(&Environ::new()), (String::new(), String::new()));
        let trail = Trail {
            job: "41".into(),
            job_name: "train".into(),
            command: "x".into(),
            ..Trail::default()
        };
        assert!(
            trail
                .run_line()
                .ends_with(" ; JOB=41 ; JOBNAME=train ; COMMAND=x"),
            "{}",
            trail.run_line()
        );
    }

    #[test]
    fn field_separators_are_escaped_in_values() {
        assert_eq!(field(b"d ; USER=root"), "d \\x3b USER=root");
        assert_eq!(invoker_field(b"a : b;c"), "a \\x3a b\\x3bc");
    }

    #[test]
    fn long_lines_are_split_with_continuation_marks() {
        let line = "x".repeat(2500);
        let parts = split_line(&line);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= MAX_BODY));
        assert!(parts[1].starts_with("(command continued) "));
        let rejoined: String = parts
            .iter()
            .map(|p| p.trim_start_matches("(command continued) "))
            .collect();
        assert_eq!(rejoined, line);
        assert_eq!(split_line("short"), vec!["short".to_string()]);
    }

    #[test]
    fn split_respects_char_boundaries() {
        let line = "é".repeat(1000);
        for part in split_line(&line) {
            assert!(part.len() <= MAX_BODY);
        }
    }

    #[test]
    fn lines_have_sudos_shape() {
        let trail = Trail {
            invoker: "alice".into(),
            tty: "pts/0".into(),
            env: "project-cv".into(),
            prefix: "/opt/miniconda/envs/project-cv".into(),
            pwd: "/home/alice/proj".into(),
            user: "alice".into(),
            umask: "027".into(),
            landlock: "enforced (ABI 7)".into(),
            command: "/opt/miniconda/envs/project-cv/bin/python train.py".into(),
            run_logged: false,
            ..Trail::default()
        };
        assert_eq!(
            trail.run_line(),
            "alice : TTY=pts/0 ; ENV=project-cv ; PREFIX=/opt/miniconda/envs/project-cv ; PWD=/home/alice/proj ; USER=alice ; UMASK=027 ; LANDLOCK=enforced (ABI 7) ; COMMAND=/opt/miniconda/envs/project-cv/bin/python train.py"
        );
        assert!(trail
            .failure_line(Outcome::Refused, "not in group ai-researchers\n")
            .contains(
                "command refused ; TTY=pts/0 ; ENV=project-cv ; REASON=not in group ai-researchers\\x0a ;"
            ));
    }

    #[test]
    fn a_missing_socket_is_reported_not_fatal() {
        let log = AuditLog::connect_to("/nonexistent/cenv-test-log");
        assert!(log.unavailable().is_some());
        assert!(log.send(NOTICE, "x").is_err());
    }
}
