//! Writing to standard output and standard error without ever panicking.
//!
//! `println!` and `eprintln!` panic when the write fails, and with
//! `panic = "abort"` that is an abort (exit 134) — `cenv list >/dev/full`,
//! `cenv run nosuchenv id 2>/dev/full`. Here a failed write to stderr is
//! ignored (there is nowhere left to report it), a closed stdout ends cenv
//! the conventional way (exit 141, as a shell reports a death by SIGPIPE,
//! silently), and any other stdout failure is cenv's own failure (125).
#![forbid(unsafe_code)]

use std::io::Write;

use crate::error::{Error, Result};

/// Writes one line to stderr, prefixed with `cenv: `; failures are ignored.
pub fn message(text: &str) {
    let mut line = Vec::with_capacity(text.len() + 7);
    line.extend_from_slice(b"cenv: ");
    line.extend_from_slice(text.as_bytes());
    line.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&line);
}

/// A warning line on stderr (`cenv: warning: ...`).
pub fn warning(text: &str) {
    message(&format!("warning: {text}"));
}

/// Writes everything to stdout and flushes; returns exit status 0.
pub fn write_stdout(bytes: &[u8]) -> Result<u8> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::BrokenPipe),
        Err(e) => Err(Error::system("writing to standard output", e)),
    }
}

/// Opens `/dev/null` in place of any of fds 0–2 that is closed, so that no
/// file cenv opens can become the command's stdin, stdout or stderr by
/// accident (as sudo does). Returns false if that was impossible.
pub fn ensure_standard_descriptors() -> bool {
    use std::os::fd::IntoRawFd;
    for fd in 0..=2 {
        if crate::system::sys::fd_is_open(fd) {
            continue;
        }
        match nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        ) {
            // the lowest free descriptor: this one; it stays open for good
            Ok(null) => {
                let _ = null.into_raw_fd();
            }
            Err(_) => return false,
        }
    }
    true
}

/// A decision that can say what it decided, for `cenv run -v`: the step's
/// name and one line. Each step of the pipeline returns such a value, so
/// the narration comes from what was decided, not from text beside it.
pub trait Described {
    /// The step, as `-v` names it (`config`, `caller`, `policy`, ...).
    fn step(&self) -> &'static str;
    /// What was decided, in one line.
    fn describe(&self) -> String;
}
