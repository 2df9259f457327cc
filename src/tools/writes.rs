//! Who wrote into an env: the records auditd keeps for the watch that
//! `cenv audit-rules` prints (key `cenv_env_write`), read with `ausearch` and
//! joined with the revisions of `conda-meta/history` by time — conda's
//! history says what changed and when, never who. The join is best effort
//! and says so: a write is shown under the revision whose date follows it
//! within [`BEFORE`] seconds (conda writes the history line when a
//! transaction ends), so another write in that window lands there too; a
//! write near no revision (a `pip install`, a file copied by hand) is listed
//! on its own. Only root reads the audit log, so only root's own `cenv
//! changes` joins (through sudo cenv acts as the invoker, who may not read it).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::system::sys::epoch_to_local;

/// The key of the auditd watch `cenv audit-rules` prints.
pub const KEY: &str = "cenv_env_write";
/// How long before a revision's date a write still counts as its own.
pub const BEFORE: i64 = 600;
/// How long after: conda may finish a few writes after the history line.
pub const AFTER: i64 = 60;
/// The most `ausearch` output read (a week of a busy server's writes).
const OUTPUT_LIMIT: usize = 256 << 20;
/// Where Debian and EL install ausearch; never looked up through PATH, since
/// root's PATH is not cenv's to trust.
const AUSEARCH: [&str; 2] = ["/usr/sbin/ausearch", "/sbin/ausearch"];

/// One write auditd recorded under the watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Seconds since the epoch.
    pub time: i64,
    /// The login user (auid): who logged in, whatever they became since.
    pub login: String,
    /// The user the writing process ran as.
    pub user: String,
    /// The program that wrote.
    pub exe: String,
    /// The paths the record names, absolute.
    pub paths: Vec<PathBuf>,
}

/// The writes of one person through one program, summed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Writer {
    pub login: String,
    pub user: String,
    pub exe: String,
    pub writes: usize,
    /// Local time of the first and the last write, `YYYY-MM-DD HH:MM:SS`.
    pub first: String,
    pub last: String,
}

/// The writes `ausearch -k cenv_env_write` finds from `start` on (all the
/// logs when `None`). `Ok(None)` when ausearch is not installed.
pub fn search(start: Option<i64>) -> Result<Option<Vec<Write>>, String> {
    let Some(ausearch) = AUSEARCH.iter().find(|p| Path::new(p).exists()) else {
        return Ok(None);
    };
    let mut command = Command::new(ausearch);
    // ausearch reads -ts in the locale's %x format; the C locale's is %m/%d/%y
    command
        .env_clear()
        .env("LC_ALL", "C")
        .args(["--input-logs", "--format", "raw", "-k", KEY]);
    if let Some(start) = start {
        let [y, mo, d, h, mi, s] =
            epoch_to_local(start).ok_or_else(|| format!("cannot express {start} in local time"))?;
        command.args([
            "-ts".to_owned(),
            format!("{mo:02}/{d:02}/{:02}", y.rem_euclid(100)),
            format!("{h:02}:{mi:02}:{s:02}"),
        ]);
    }
    // read up to the cap as it comes, never the whole output first
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{ausearch}: {e}"))?;
    let mut stdout = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        pipe.take(OUTPUT_LIMIT as u64 + 1)
            .read_to_end(&mut stdout)
            .map_err(|e| format!("{ausearch}: {e}"))?;
    }
    if stdout.len() > OUTPUT_LIMIT {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "{ausearch} printed more than {} MiB; narrow it with --since",
            OUTPUT_LIMIT >> 20
        ));
    }
    let out = child.wait_with_output().map_err(|e| format!("{ausearch}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // exit 1 with "<no matches>" is an empty answer, not a failure
        if stderr.contains("<no matches>") {
            return Ok(Some(Vec::new()));
        }
        return Err(format!(
            "{ausearch} failed: {}",
            crate::system::escape::text(stderr.trim())
        ));
    }
    Ok(Some(parse_raw(&String::from_utf8_lossy(&stdout))))
}

/// Reads `ausearch --format raw`: records `type=T msg=audit(SECS.MS:SERIAL):
/// key=value ...`, an event being the records that share a serial. auditd's
/// ENRICHED format appends the names (`AUID="alice"`) after a 0x1d byte.
pub fn parse_raw(text: &str) -> Vec<Write> {
    #[derive(Default)]
    struct Event {
        time: i64,
        keyed: bool,
        /// The system call failed (`success=no`): an attempt, not a write.
        failed: bool,
        login: Option<String>,
        user: Option<String>,
        exe: String,
        cwd: Option<PathBuf>,
        names: Vec<PathBuf>,
    }
    let mut events: BTreeMap<(i64, u64), Event> = BTreeMap::new();
    for line in text.lines() {
        let (raw, enriched) = line.split_once('\u{1d}').unwrap_or((line, ""));
        let mut fields = raw.split_whitespace();
        let Some(kind) = fields.next().and_then(|f| f.strip_prefix("type=")) else {
            continue;
        };
        let Some((time, serial)) = fields
            .next()
            .and_then(|f| f.strip_prefix("msg=audit("))
            .and_then(|f| f.strip_suffix("):"))
            .and_then(|f| f.split_once(':'))
        else {
            continue;
        };
        let (Some(time), Ok(serial)) = (
            time.split('.').next().and_then(|s| s.parse::<i64>().ok()),
            serial.parse::<u64>(),
        ) else {
            continue;
        };
        let values: BTreeMap<&str, &str> = fields.filter_map(|f| f.split_once('=')).collect();
        let names: BTreeMap<&str, &str> = enriched
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .collect();
        let event = events.entry((time, serial)).or_default();
        event.time = time;
        match kind {
            "SYSCALL" => {
                event.keyed = values.get("key").map(|k| value(k)) == Some(KEY.into());
                event.failed = values.get("success") == Some(&"no");
                event.login = Some(name_or_id(names.get("AUID"), values.get("auid")));
                event.user = Some(name_or_id(names.get("UID"), values.get("uid")));
                event.exe = values.get("exe").map_or_else(String::new, |e| value(e));
            }
            "CWD" => event.cwd = values.get("cwd").map(|c| PathBuf::from(value_os(c))),
            "PATH" => {
                if let Some(name) = values.get("name").filter(|n| **n != "(null)") {
                    event.names.push(PathBuf::from(value_os(name)));
                }
            }
            _ => {}
        }
    }
    events
        .into_values()
        .filter(|e| e.keyed && !e.failed)
        .map(|e| Write {
            time: e.time,
            login: e.login.unwrap_or_default(),
            user: e.user.unwrap_or_default(),
            exe: e.exe,
            paths: e
                .names
                .into_iter()
                .map(|n| match &e.cwd {
                    Some(cwd) if n.is_relative() => cwd.join(n),
                    _ => n,
                })
                .collect(),
        })
        .collect()
}

/// A raw audit value: `"text"` as it is, else hex-encoded bytes (auditd
/// encodes a value with spaces, quotes or control characters).
fn value_os(raw: &str) -> OsString {
    if let Some(text) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return text.into();
    }
    let bytes = raw.as_bytes();
    if bytes.len() % 2 == 0 && bytes.iter().all(u8::is_ascii_hexdigit) {
        let decoded = bytes
            .chunks(2)
            .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect();
        return OsString::from_vec(decoded);
    }
    raw.into()
}

fn value(raw: &str) -> String {
    value_os(raw).to_string_lossy().into_owned()
}

/// The enriched name (`"alice"`) when auditd gave one, else the number;
/// "unset" for the auid of a process no login started (a daemon, cron's
/// children keep theirs).
fn name_or_id(name: Option<&&str>, id: Option<&&str>) -> String {
    match (name, id) {
        (Some(name), _) => value(name),
        (None, Some(&"4294967295")) => "unset".into(),
        (None, Some(id)) => (*id).to_owned(),
        (None, None) => "?".into(),
    }
}

pub use crate::system::clock::{format_local, local_epoch, parse_local};

/// The writes under `prefix`, as each revision's (by its epoch; `None` for
/// a date that cannot be read) and those near no revision.
pub fn join(prefix: &Path, revisions: &[Option<i64>], writes: &[Write]) -> (Vec<Vec<Writer>>, Vec<Writer>) {
    let mut per_revision: Vec<Vec<&Write>> = vec![Vec::new(); revisions.len()];
    let mut unmatched = Vec::new();
    for write in writes
        .iter()
        .filter(|w| w.paths.iter().any(|p| p.starts_with(prefix)))
    {
        // the earliest revision dated at most AFTER before the write and at
        // most BEFORE after it
        let owner = revisions.iter().enumerate().find_map(|(i, date)| {
            let date = (*date)?;
            (write.time <= date + AFTER && date - write.time <= BEFORE).then_some(i)
        });
        match owner {
            Some(i) => per_revision[i].push(write),
            None => unmatched.push(write),
        }
    }
    (
        per_revision.into_iter().map(|w| summarize(&w)).collect(),
        summarize(&unmatched),
    )
}

/// The writes grouped by who and through what, most writes first.
pub fn summarize(writes: &[&Write]) -> Vec<Writer> {
    let mut groups: BTreeMap<(&str, &str, &str), (usize, i64, i64)> = BTreeMap::new();
    for w in writes {
        let entry = groups
            .entry((&w.login, &w.user, &w.exe))
            .or_insert((0, w.time, w.time));
        entry.0 += 1;
        entry.1 = entry.1.min(w.time);
        entry.2 = entry.2.max(w.time);
    }
    let mut writers: Vec<Writer> = groups
        .into_iter()
        .map(|((login, user, exe), (writes, first, last))| Writer {
            login: login.to_owned(),
            user: user.to_owned(),
            exe: exe.to_owned(),
            writes,
            first: format_local(first),
            last: format_local(last),
        })
        .collect();
    writers.sort_by(|a, b| b.writes.cmp(&a.writes).then(a.first.cmp(&b.first)));
    writers
}

/// One line per writer, each starting with `indent`.
pub fn format_writers(writers: &[Writer], indent: &str) -> String {
    use crate::system::escape::text;
    writers
        .iter()
        .map(|w| {
            format!(
                "{indent}{} (login {}) with {}: {} write{}, {} to {}\n",
                text(&w.user),
                text(&w.login),
                text(&w.exe),
                w.writes,
                if w.writes == 1 { "" } else { "s" },
                w.first,
                w.last
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "type=SYSCALL msg=audit(1795983013.356:4): arch=c000003e syscall=257 success=yes exit=3 items=2 ppid=1 pid=2 auid=1001 uid=1002 gid=1002 comm=\"python\" exe=\"/opt/conda/bin/python3.11\" key=\"cenv_env_write\"\u{1d}ARCH=x86_64 SYSCALL=openat AUID=\"alice\" UID=\"conda-user\" GID=\"conda-user\"
type=CWD msg=audit(1795983013.356:4): cwd=\"/opt/conda/envs/cv\"
type=PATH msg=audit(1795983013.356:4): item=0 name=\"lib/\" inode=1 nametype=PARENT
type=PATH msg=audit(1795983013.356:4): item=1 name=2F6F70742F636F6E64612F656E76732F63762F6120622E7079 inode=2 nametype=CREATE
type=SYSCALL msg=audit(1795983099.001:5): arch=c000003e syscall=83 success=yes exit=0 items=2 auid=4294967295 uid=0 comm=\"mkdir\" exe=\"/usr/bin/mkdir\" key=\"other\"
type=PATH msg=audit(1795983099.001:5): item=0 name=\"/opt/conda/envs/cv/x\" nametype=CREATE
type=SYSCALL msg=audit(1795983100.5:6): syscall=83 auid=4294967295 uid=0 exe=\"/usr/bin/mkdir\" key=\"cenv_env_write\"
type=PATH msg=audit(1795983100.5:6): item=0 name=\"/opt/other/y\" nametype=CREATE
";

    #[test]
    fn raw_records_become_writes_with_names_and_absolute_paths() {
        let writes = parse_raw(RAW);
        assert_eq!(writes.len(), 2, "the event with another key is not ours");
        let first = &writes[0];
        assert_eq!(first.time, 1795983013);
        assert_eq!(first.login, "alice");
        assert_eq!(first.user, "conda-user");
        assert_eq!(first.exe, "/opt/conda/bin/python3.11");
        assert_eq!(
            first.paths,
            [
                PathBuf::from("/opt/conda/envs/cv/lib/"),
                PathBuf::from("/opt/conda/envs/cv/a b.py")
            ]
        );
        assert_eq!(writes[1].login, "unset");
        assert_eq!(writes[1].user, "0");
    }

    #[test]
    fn a_failed_attempt_is_no_write() {
        let denied = "type=SYSCALL msg=audit(1795983200.1:7): syscall=257 success=no exit=-13 auid=1003 uid=1003 exe=\"/usr/bin/touch\" key=\"cenv_env_write\"\n\
                      type=PATH msg=audit(1795983200.1:7): item=0 name=\"/opt/conda/envs/cv/bin/x\" nametype=CREATE\n";
        assert!(parse_raw(denied).is_empty());
        assert_eq!(parse_raw(&format!("{RAW}{denied}")).len(), 2);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let text = "no\ntype=SYSCALL msg=audit(x:y): key=\"cenv_env_write\"\n\u{1d}\u{1d}type=\ntype=PATH msg=audit(1.2:3):";
        assert!(parse_raw(text).is_empty());
    }

    #[test]
    fn writes_join_the_revision_that_follows_them_else_stand_alone() {
        let write = |time: i64, path: &str| Write {
            time,
            login: "alice".into(),
            user: "conda-user".into(),
            exe: "/usr/bin/python3".into(),
            paths: vec![PathBuf::from(path)],
        };
        let writes = [
            write(1_000, "/envs/cv/lib/a"),
            write(1_550, "/envs/cv/conda-meta/history"),
            write(1_610, "/envs/cv/lib/late"),
            write(5_000, "/envs/cv/lib/pip-installed"),
            write(1_500, "/envs/cvx/lib/not-this-env"),
        ];
        let (per_revision, unmatched) =
            join(Path::new("/envs/cv"), &[Some(1_550), None, Some(9_000)], &writes);
        assert_eq!(per_revision[0].len(), 1);
        assert_eq!(
            per_revision[0][0].writes, 3,
            "1,000 is 550 s before, 1,550 at, 1,610 60 s after; the other env not counted"
        );
        assert!(per_revision[1].is_empty() && per_revision[2].is_empty());
        assert_eq!(unmatched[0].writes, 1, "5,000 is near no revision");
    }

    #[test]
    fn local_times_round_trip() {
        let epoch = local_epoch("2026-03-04 11:22:33").unwrap();
        assert_eq!(format_local(epoch), "2026-03-04 11:22:33");
        assert_eq!(local_epoch("2026-03-04").unwrap() + 40_953, epoch);
        assert_eq!(parse_local("2026-03-0x"), None);
        assert_eq!(parse_local("garbage"), None);
    }
}
