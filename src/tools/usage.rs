//! `cenv usage`: who used which env, from the audit lines cenv itself wrote
//! to the system's authpriv log — runs, distinct users, first and last use,
//! refusals — per env or per user, over a window of time.
//!
//! Only lines in cenv's own format count: the tag `cenv[PID]:`, then `USER
//! : TTY=… ; ENV=…` for a run or `USER : OUTCOME ; TTY=… ; ENV=…` for one
//! that did not start. Another program's lines (sudo logging `COMMAND=…cenv
//! run …`, sshd) and malformed ones are skipped and counted. Anyone can
//! write a line in that format with logger(1): the report is a picture of
//! usage, not evidence, and says so.
//!
//! Reading is the cost: a log is scanned for the tag with memchr's
//! substring search over large blocks, never split into lines first, and
//! the files (rotated and compressed ones included) are read in parallel.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{UsageArgs, UsageBy};
use crate::conda::discover::discover;
use crate::conda::SearchPath;
use crate::config;
use crate::error::{Error, Result};
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;

/// What every report says first.
pub const NOT_EVIDENCE: &str =
    "a picture of usage from the log, not evidence: anyone who can log can write a line \
     that looks like cenv's (logger -p authpriv.notice -t cenv ...)";

/// One audit line of cenv's, as far as usage needs it (borrowed from the
/// line: nothing is allocated for a line whose env and user were seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    /// Seconds since the epoch; None when the line's time could not be read.
    pub time: Option<i64>,
    /// Who started cenv (the first field).
    pub invoker: &'a str,
    pub env: &'a str,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Run,
    /// A shell's activation (`COMMAND=activate --shell …`).
    Activation,
    Refused,
    /// Not found, not executable, cenv failed, a lookup failed, exec failed.
    Failed,
}

/// Parses one log line; None for anything not in cenv's format.
pub fn parse_line(line: &[u8], this_year: i32) -> Option<Event<'_>> {
    let tag = find_tag(line)?;
    parse_at(line, tag, this_year)
}

/// Where ` cenv[` starts as the line's tag (after the time and the host):
/// the index of `c`.
fn find_tag(line: &[u8]) -> Option<usize> {
    memchr::memmem::find(line, b" cenv[").map(|i| i + 1)
}

/// [`parse_line`] with the tag found at `tag` — byte by byte, with memchr:
/// a log holds millions of these, and `str` patterns cost most of the time.
fn parse_at(line: &[u8], tag: usize, this_year: i32) -> Option<Event<'_>> {
    let after_tag = &line[tag + b"cenv[".len()..];
    let close = memchr::memchr(b']', after_tag)?;
    if close == 0
        || !after_tag[..close].iter().all(u8::is_ascii_digit)
        || !after_tag[close..].starts_with(b"]: ")
    {
        return None;
    }
    let body = &after_tag[close + 3..];
    let sep = memchr::memmem::find(body, b" : ")?;
    let invoker = &body[..sep];
    if invoker.is_empty() || invoker.contains(&b' ') {
        return None;
    }
    let rest = &body[sep + 3..];
    // the fields: split at " ; " (a `;` in a value is escaped as \x3b)
    let mut fields = rest.split(|b| *b == b';').enumerate().map(|(i, f)| {
        let f = if i > 0 {
            f.strip_prefix(b" ").unwrap_or(f)
        } else {
            f
        };
        f.strip_suffix(b" ").unwrap_or(f)
    });
    let first = fields.next()?;
    let outcome = if first.starts_with(b"TTY=") {
        None
    } else {
        let kind = match first {
            b"command refused" => Kind::Refused,
            b"command not found"
            | b"command not executable"
            | b"run failed"
            | b"user database lookup failed"
            | b"exec failed, the run above did not start" => Kind::Failed,
            _ => return None,
        };
        // a line of a run that did not start: TTY comes next
        fields.next().filter(|f| f.starts_with(b"TTY="))?;
        Some(kind)
    };
    let (mut env, mut prefix, mut user, mut command): (Option<&[u8]>, bool, bool, Option<&[u8]>) =
        (None, false, false, None);
    for f in fields {
        if let Some(v) = f.strip_prefix(b"ENV=") {
            env = Some(v);
        } else if f.starts_with(b"PREFIX=") {
            prefix = true;
        } else if f.starts_with(b"USER=") {
            user = true;
        } else if let Some(c) = f.strip_prefix(b"COMMAND=") {
            command = Some(c);
        }
    }
    let kind = match outcome {
        Some(kind) => kind,
        // a run's line names its prefix, user and command
        None if prefix && user => match command? {
            c if c.starts_with(b"activate --shell ") => Kind::Activation,
            _ => Kind::Run,
        },
        None => return None,
    };
    let env = std::str::from_utf8(env.filter(|e| !e.is_empty())?).ok()?;
    let invoker = std::str::from_utf8(invoker).ok()?;
    let head = std::str::from_utf8(&line[..tag]).ok()?;
    Some(Event {
        time: line_time(head, this_year),
        invoker,
        env,
        kind,
    })
}

/// The time before the host: RFC 3339 (`2026-11-30T13:24:55.123456+01:00`,
/// rsyslog's default on Debian 12, journalctl's short-iso) or the classic
/// `Nov 30 13:24:55` (local time, no year: this year, or last year if that
/// would be in the future).
fn line_time(head: &str, this_year: i32) -> Option<i64> {
    let first = head.split(' ').next()?;
    if first.len() >= 19 && first.as_bytes()[4] == b'-' && first.as_bytes()[10] == b'T' {
        return crate::system::clock::iso_epoch(first);
    }
    let words: Vec<&str> = head.split_whitespace().collect();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == first)? as i32 + 1;
    let day: i32 = words.get(1)?.parse().ok()?;
    let clock = words.get(2)?;
    let at = |year: i32| crate::system::clock::local_epoch(&format!("{year:04}-{month:02}-{day:02} {clock}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(i64::MAX);
    match at(this_year) {
        Some(t) if t > now + 86_400 => at(this_year - 1),
        other => other,
    }
}

/// What cenv's lines in the window say of one env and one user.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    runs: u64,
    activations: u64,
    refused: u64,
    failed: u64,
    first: Option<i64>,
    last: Option<i64>,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.runs += other.runs;
        self.activations += other.activations;
        self.refused += other.refused;
        self.failed += other.failed;
        for t in [other.first, other.last].into_iter().flatten() {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }
}

/// Which lines count: the window and the env asked for.
struct Filter<'a> {
    since: Option<i64>,
    until: Option<i64>,
    env: Option<&'a str>,
    this_year: i32,
}

/// What a part of the logs held: env → user → stats, and the lines tagged
/// cenv that are not in its format.
#[derive(Debug, Default)]
struct Tallied {
    by_env: std::collections::HashMap<String, std::collections::HashMap<String, Stats>>,
    malformed: usize,
}

impl Tallied {
    fn count(&mut self, event: &Event<'_>) {
        let users = match self.by_env.get_mut(event.env) {
            Some(users) => users,
            None => self.by_env.entry(event.env.to_owned()).or_default(),
        };
        let stats = match users.get_mut(event.invoker) {
            Some(stats) => stats,
            None => users.entry(event.invoker.to_owned()).or_default(),
        };
        match event.kind {
            Kind::Run => stats.runs += 1,
            Kind::Activation => stats.activations += 1,
            Kind::Refused => stats.refused += 1,
            Kind::Failed => stats.failed += 1,
        }
        if let (Some(t), Kind::Run | Kind::Activation) = (event.time, event.kind) {
            stats.first = Some(stats.first.map_or(t, |f| f.min(t)));
            stats.last = Some(stats.last.map_or(t, |l| l.max(t)));
        }
    }

    fn merge(&mut self, other: Tallied) {
        self.malformed += other.malformed;
        for (env, users) in other.by_env {
            let mine = self.by_env.entry(env).or_default();
            for (user, stats) in users {
                mine.entry(user).or_default().add(&stats);
            }
        }
    }
}

/// Scans whole lines in `bytes` for cenv's.
fn scan(bytes: &[u8], filter: &Filter<'_>, into: &mut Tallied) {
    let finder = memchr::memmem::Finder::new(b" cenv[");
    let mut from = 0;
    while let Some(i) = finder.find(&bytes[from..]) {
        let at = from + i;
        let start = memchr::memrchr(b'\n', &bytes[from..at]).map_or(from, |p| from + p + 1);
        let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |p| at + p);
        let line = &bytes[start..end];
        match parse_at(line, at + 1 - start, filter.this_year) {
            Some(event) => {
                let in_window = match event.time {
                    Some(t) => filter.since.is_none_or(|s| t >= s) && filter.until.is_none_or(|u| t <= u),
                    None => filter.since.is_none() && filter.until.is_none(),
                };
                if in_window && filter.env.is_none_or(|e| e == event.env) {
                    into.count(&event);
                }
            }
            // the rest of a long line, split as sudo splits it
            None if memchr::memmem::find(line, b"]: (command continued) ").is_some() => {}
            None => into.malformed += 1,
        }
        from = end;
        if from >= bytes.len() {
            break;
        }
    }
}

/// Scans what `reader` gives, block by block (a line across two blocks is
/// carried over), until `limit` bytes are read and the line in progress
/// ends — or to the end when there is no limit.
fn scan_reader(mut reader: impl Read, limit: Option<u64>, filter: &Filter<'_>) -> std::io::Result<Tallied> {
    // 8 MiB at a time, less for a small part
    let block: usize = limit.map_or(8 << 20, |l| {
        usize::try_from(l).unwrap_or(8 << 20).clamp(4096, 8 << 20)
    });
    let mut tallied = Tallied::default();
    // one buffer, zeroed once: each block is read after the line carried
    // over from the one before (grown only for a line longer than it)
    let mut buffer: Vec<u8> = vec![0; block * 2];
    let mut filled = 0usize;
    let mut read_so_far: u64 = 0;
    // a "line" longer than any log line (a file without newlines, a
    // decompression bomb) is dropped, counted as not cenv's, and skipped
    // to its end: memory stays bounded
    const LONGEST: usize = 1 << 20;
    let mut skipping = false;
    loop {
        if skipping {
            match memchr::memchr(b'\n', &buffer[..filled]) {
                Some(p) => {
                    buffer.copy_within(p + 1..filled, 0);
                    filled -= p + 1;
                    skipping = false;
                }
                None => filled = 0,
            }
        } else if filled > LONGEST && memchr::memchr(b'\n', &buffer[..filled]).is_none() {
            tallied.malformed += 1;
            filled = 0;
            skipping = true;
        }
        if buffer.len() - filled < block {
            buffer.resize(filled + block, 0);
        }
        let n = reader.read(&mut buffer[filled..filled + block])?;
        filled += n;
        read_so_far += n as u64;
        let past_limit = limit.is_some_and(|l| read_so_far >= l);
        if n == 0 {
            scan(&buffer[..filled], filter, &mut tallied);
            return Ok(tallied);
        }
        let data = &buffer[..filled];
        // whole lines now; past the limit, up to the end of the line that
        // crosses it (the next part starts after it)
        let boundary = match (past_limit, limit) {
            (true, Some(l)) => {
                // from the last byte before the limit: a line that ends
                // exactly there leaves the next one to the next part
                let over = usize::try_from(read_so_far - l).unwrap_or(0);
                let at = data.len().saturating_sub(over).saturating_sub(1);
                memchr::memchr(b'\n', &data[at..]).map(|p| at + p + 1)
            }
            _ => memchr::memrchr(b'\n', data).map(|p| p + 1),
        };
        match boundary {
            Some(cut) if past_limit => {
                scan(&data[..cut], filter, &mut tallied);
                return Ok(tallied);
            }
            Some(cut) => {
                scan(&data[..cut], filter, &mut tallied);
                buffer.copy_within(cut..filled, 0);
                filled -= cut;
            }
            None => {}
        }
    }
}

/// Scans one log: a `.gz` as one stream, a plain file in parts read in
/// parallel (each starting after the first line break of its range).
fn scan_log(path: &Path, filter: &Filter<'_>) -> std::io::Result<Tallied> {
    use std::io::{Seek, SeekFrom};
    let file = std::fs::File::open(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        return scan_reader(
            flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 20, file)),
            None,
            filter,
        );
    }
    let size = file.metadata()?.len();
    const PART: u64 = 64 << 20;
    let parts: Vec<u64> = (0..size.div_ceil(PART).max(1)).map(|i| i * PART).collect();
    let results = crate::system::parallel::map(&parts, |&start| -> std::io::Result<Tallied> {
        let mut file = std::fs::File::open(path)?;
        let mut skip = 0u64;
        if start > 0 {
            // the line that crosses into this part belongs to the one before
            file.seek(SeekFrom::Start(start - 1))?;
            let mut probe = std::io::BufReader::new(&mut file);
            let mut first = Vec::new();
            skip = std::io::BufRead::read_until(&mut probe, b'\n', &mut first)? as u64;
            file.seek(SeekFrom::Start(start - 1 + skip))?;
        }
        // a line longer than the part leaves it nothing of its own
        if start - u64::from(start > 0) + skip >= start + PART {
            return Ok(Tallied::default());
        }
        let limit = PART.saturating_sub(skip.saturating_sub(1));
        let last = start + PART >= size;
        scan_reader(file, (!last).then_some(limit), filter)
    });
    let mut all = Tallied::default();
    for part in results {
        all.merge(part?);
    }
    Ok(all)
}

/// The system's authpriv logs: Debian's `/var/log/auth.log*`, EL's
/// `/var/log/secure*`, rotated and compressed ones included, oldest last.
fn system_logs() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/var/log")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    (name == "auth.log"
                        || name.starts_with("auth.log.")
                        || name == "secure"
                        || name.starts_with("secure-")
                        || name.starts_with("secure."))
                        && e.file_type().is_ok_and(|t| t.is_file())
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// What journald holds of cenv's, when no log file does (a host without a
/// syslog daemon writing files): `journalctl` by its absolute path.
fn journal() -> Option<Vec<u8>> {
    let journalctl = ["/usr/bin/journalctl", "/bin/journalctl"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let out = std::process::Command::new(journalctl)
        .args([
            "-q",
            "--no-pager",
            "-o",
            "short-iso",
            "SYSLOG_FACILITY=10",
            "SYSLOG_IDENTIFIER=cenv",
        ])
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

#[derive(Debug, Default, Serialize)]
struct Tally {
    name: String,
    runs: u64,
    activations: u64,
    refused: u64,
    failed: u64,
    /// distinct users (for an env) or envs (for a user)
    distinct: usize,
    first: Option<String>,
    last: Option<String>,
    /// an env known to the config or the envs roots with no run in the window
    unused: bool,
    /// the config's retirement notice of the env
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecated: Option<crate::config::Deprecation>,
}

pub fn usage(process: &Process, args: UsageArgs, cli_config: Option<&Path>) -> Result<u8> {
    let window = |date: &Option<String>, end: bool| -> Result<Option<i64>> {
        let Some(date) = date else { return Ok(None) };
        let local = crate::conda::history::normalize_since(date)?;
        let epoch = crate::system::clock::local_epoch(&local).ok_or_else(|| {
            Error::Usage(format!(
                "{}: not a date this machine can express",
                escape::text(date)
            ))
        })?;
        // a bare day given as --until counts the whole day
        Ok(Some(if end && local.len() == 10 {
            epoch + 86_399
        } else {
            epoch
        }))
    };
    let since = window(&args.since, false)?;
    let until = window(&args.until, true)?;
    let loaded = config::load(process, cli_config)?;
    let sources: Vec<PathBuf> = if args.log.is_empty() {
        system_logs()
    } else {
        args.log.clone()
    };
    let filter = Filter {
        since,
        until,
        env: args.env.as_deref(),
        this_year: crate::system::clock::current_year(),
    };
    let mut tallied = Tallied::default();
    let mut described = Vec::new();
    if sources.is_empty() {
        match journal() {
            Some(bytes) => {
                scan(&bytes, &filter, &mut tallied);
                described.push(match process.real_uid {
                    0 => "the journal (journalctl)".to_owned(),
                    _ => "the journal (journalctl; without root, adm or systemd-journal only what you may read)"
                        .to_owned(),
                });
            }
            None => {
                return Err(Error::Usage(
                    "no authpriv log found (/var/log/auth.log*, /var/log/secure*) and no journal to read: \
                     name the files with --log FILE..."
                        .into(),
                ))
            }
        }
    } else {
        for path in &sources {
            match scan_log(path, &filter) {
                Ok(part) => {
                    tallied.merge(part);
                    described.push(escape::path(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(Error::Usage(format!(
                        "cannot read {}: permission denied. The authpriv log is readable by root and, on Debian, \
                         the adm group (usermod -aG adm USER); or give a copy with --log FILE",
                        escape::path(path)
                    )))
                }
                Err(e) => {
                    return Err(Error::System {
                        what: format!("cannot read {}", path.display()),
                        source: e,
                    })
                }
            }
        }
    }
    // rows: per env (users distinct) or per user (envs distinct)
    let mut rows: BTreeMap<String, (Stats, BTreeSet<String>)> = BTreeMap::new();
    let mut lines = 0u64;
    for (env, users) in &tallied.by_env {
        for (user, stats) in users {
            lines += stats.runs + stats.activations + stats.refused + stats.failed;
            let (key, other) = match args.by {
                UsageBy::Env => (env, user),
                UsageBy::User => (user, env),
            };
            let row = rows.entry(key.clone()).or_default();
            row.0.add(stats);
            if stats.runs + stats.activations > 0 {
                row.1.insert(other.clone());
            }
        }
    }
    // every env the config and the envs roots know: one with no run is unused
    if args.by == UsageBy::Env {
        let search = SearchPath::for_caller(&loaded.config, process);
        let mut known: BTreeSet<String> = discover(&loaded.config, &search)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        known.extend(loaded.config.envs.keys().filter(|k| !k.contains('/')).cloned());
        for name in known
            .into_iter()
            .filter(|n| args.env.as_ref().is_none_or(|e| e == n))
        {
            rows.entry(name).or_default();
        }
    }
    let rows: Vec<Tally> = rows
        .into_iter()
        .map(|(name, (stats, distinct))| Tally {
            runs: stats.runs,
            activations: stats.activations,
            refused: stats.refused,
            failed: stats.failed,
            distinct: distinct.len(),
            first: stats.first.map(crate::system::clock::format_local),
            last: stats.last.map(crate::system::clock::format_local),
            unused: stats.runs == 0 && stats.activations == 0,
            deprecated: match args.by {
                UsageBy::Env => loaded.config.notices_for_name(&name).1,
                UsageBy::User => None,
            },
            name,
        })
        .collect();
    if args.json {
        return crate::tools::json(&serde_json::json!({
            "note": NOT_EVIDENCE,
            "sources": described,
            "by": match args.by { UsageBy::Env => "env", UsageBy::User => "user" },
            "since": since.map(crate::system::clock::format_local),
            "until": until.map(crate::system::clock::format_local),
            "lines": lines,
            "not_cenvs_format": tallied.malformed,
            "rows": rows,
        }));
    }
    let mut text = format!("cenv usage: {NOT_EVIDENCE}.\nfrom: {}\n", described.join(", "));
    if tallied.malformed > 0 {
        text.push_str(&format!(
            "skipped {} line(s) tagged cenv that are not in cenv's format\n",
            tallied.malformed
        ));
    }
    let (what, distinct) = match args.by {
        UsageBy::Env => ("ENV", "USERS"),
        UsageBy::User => ("USER", "ENVS"),
    };
    let width = rows
        .iter()
        .map(|r| escape::text(&r.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(what.len());
    text.push_str(&format!(
        "{what:<width$}  {:>6}  {:>5}  {distinct:>5}  {:<19}  {:<19}  {:>7}  {:>6}\n",
        "RUNS", "SHELL", "FIRST", "LAST", "REFUSED", "FAILED"
    ));
    for r in &rows {
        text.push_str(&format!(
            "{:<width$}  {:>6}  {:>5}  {:>5}  {:<19}  {:<19}  {:>7}  {:>6}{}\n",
            escape::text(&r.name),
            r.runs,
            r.activations,
            r.distinct,
            r.first.as_deref().unwrap_or("-"),
            r.last.as_deref().unwrap_or("-"),
            r.refused,
            r.failed,
            match (r.unused, &r.deprecated) {
                (true, Some(_)) => "  unused, deprecated",
                (false, Some(_)) => "  deprecated",
                (true, None) => "  unused",
                (false, None) => "",
            }
        ));
    }
    write_stdout(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "line" of megabytes is dropped and counted, the lines after it read.
    #[test]
    fn an_endless_line_is_dropped_not_kept() {
        let mut data = vec![b'x'; 5 << 20];
        data.extend_from_slice(b" cenv[1]: never\n2026-11-30T13:00:00Z h cenv[2]: u : TTY=x ; ENV=e ; PREFIX=/p ; PWD=/ ; USER=u ; UMASK=027 ; LANDLOCK=off ; COMMAND=c\n");
        let filter = Filter {
            since: None,
            until: None,
            env: None,
            this_year: 2026,
        };
        let t = scan_reader(std::io::Cursor::new(data), None, &filter).unwrap();
        assert_eq!(t.malformed, 1);
        assert_eq!(t.by_env["e"]["u"].runs, 1);
    }

    /// Split anywhere, the parts count every line once: a line that ends
    /// exactly at a part's end, one that crosses it, one that starts there.
    #[test]
    fn parts_count_each_line_once() {
        let line = |i: usize| {
            format!(
                "2026-11-30T13:00:{:02}+00:00 h cenv[{i}]: u{i} : TTY=x ; ENV=e{} ; PREFIX=/p ; PWD=/ ; USER=u ; UMASK=027 ; LANDLOCK=off ; COMMAND=c\n",
                i % 60,
                i % 3
            )
        };
        let text: String = (0..50).map(line).collect();
        let bytes = text.as_bytes();
        let filter = Filter {
            since: None,
            until: None,
            env: None,
            this_year: 2026,
        };
        let runs = |t: &Tallied| {
            t.by_env
                .values()
                .flat_map(|u| u.values())
                .map(|s| s.runs)
                .sum::<u64>()
        };
        for part in [100usize, 137, 138, 139, 250, 1000, bytes.len()] {
            let mut all = Tallied::default();
            let mut start = 0usize;
            while start < bytes.len() {
                // as scan_log does: skip the line that crosses into this part
                let begin = if start == 0 {
                    0
                } else {
                    start - 1 + memchr::memchr(b'\n', &bytes[start - 1..]).map_or(bytes.len(), |p| p + 1)
                };
                if begin < start + part && begin < bytes.len() {
                    let limit = (start + part - begin) as u64;
                    let last = start + part >= bytes.len();
                    let reader = std::io::Cursor::new(&bytes[begin..]);
                    all.merge(scan_reader(reader, (!last).then_some(limit), &filter).unwrap());
                }
                start += part;
            }
            assert_eq!(runs(&all), 50, "part size {part}");
        }
    }

    #[test]
    fn only_cenvs_own_lines_count() {
        let run = b"2026-11-30T13:24:55.123456+00:00 gpu1 cenv[4242]: alice : TTY=pts/0 ; ENV=cv ; PREFIX=/opt/e/cv ; PWD=/home/alice ; USER=alice ; UMASK=027 ; LANDLOCK=enforced (ABI 4) ; COMMAND=/opt/e/cv/bin/python t.py";
        let e = parse_line(run, 2026).unwrap();
        assert_eq!((e.invoker, e.env, e.kind), ("alice", "cv", Kind::Run));
        assert_eq!(
            e.time,
            crate::system::clock::iso_epoch("2026-11-30T13:24:55+00:00")
        );
        let refused = b"Nov 30 13:24:55 gpu1 cenv[77]: bob : command refused ; TTY=unknown ; ENV=cv ; REASON=not in group x ; PWD=/ ; COMMAND=true";
        assert_eq!(parse_line(refused, 2026).unwrap().kind, Kind::Refused);
        let shell = b"Nov 30 13:24:55 gpu1 cenv[77]: bob : TTY=pts/1 ; ENV=cv ; PREFIX=/p ; PWD=/ ; USER=bob ; UMASK=- ; LANDLOCK=not applied (interactive shell) ; COMMAND=activate --shell bash";
        assert_eq!(parse_line(shell, 2026).unwrap().kind, Kind::Activation);
        for other in [
            // sudo logging a command line with cenv in it
            &b"Nov 30 13:24:55 gpu1 sudo[9]: alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/cenv run cv true"[..],
            b"Nov 30 13:24:55 gpu1 notcenv[9]: alice : TTY=pts/0 ; ENV=cv ; PREFIX=/p ; PWD=/ ; USER=a ; COMMAND=x",
            b"Nov 30 13:24:55 gpu1 cenv[x]: alice : TTY=pts/0 ; ENV=cv ; PREFIX=/p ; PWD=/ ; USER=a ; COMMAND=x",
            b"Nov 30 13:24:55 gpu1 cenv[9]: alice : TTY=pts/0 ; ENV=cv ; COMMAND=x",
            b"Nov 30 13:24:55 gpu1 cenv[9]: alice : something else ; TTY=x ; ENV=cv",
            b"Nov 30 13:24:55 gpu1 cenv[9]: (command continued) more",
            b"\xff\xfe cenv[9]: alice : TTY=pts/0 ; ENV=cv ; PREFIX=/p ; PWD=/ ; USER=a ; COMMAND=x",
        ] {
            assert_eq!(parse_line(other, 2026), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
