//! The one case where cenv does not exec in place: a run dropped from root
//! whose stdin, stdout or stderr is a terminal.
//!
//! That terminal is root's. A process the command leaves behind would keep a
//! descriptor to it and read what root types next — job control does not
//! protect a terminal from a process that no longer belongs to its session.
//! So cenv does what `sudo` (`use_pty`), `su --pty` and `runuser --pty` do:
//! the command gets a new pseudo-terminal as the controlling terminal of a
//! new session, in place of each of fds 0–2 that was a terminal, and cenv
//! stays behind as the parent, relaying bytes, the window size and signals,
//! and exits with the command's status (128+N for a signal, as a shell
//! reports it). When the command exits the pseudo-terminal is closed: what
//! it left behind gets EIO and never had root's terminal to read.
//!
//! The parent stays root — so the user the command runs as can neither
//! ptrace nor signal it — but keeps only CAP_KILL (to forward signals to
//! the command) and sets no_new_privs. Every other run still exec()s.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpgrp, getpid, isatty, read, setsid, tcgetpgrp, Pid};

use crate::error::{Error, Result};
use crate::sys::{self, Forked};

/// Signals the relay forwards to the command.
const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTSTP,
];

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    sys::standard_fd(fd)
}

/// Which of fds 0–2 are terminals.
pub fn terminals() -> [bool; 3] {
    [0, 1, 2].map(|fd| isatty(borrow(fd)).unwrap_or(false))
}

/// Moves the rest of the run onto a new pseudo-terminal. Returns in the
/// child, which is the leader of a new session whose controlling terminal
/// is the pseudo-terminal; the parent relays until the command exits and
/// then exits with its status — it never returns.
pub fn continue_on_new_terminal(ttys: [bool; 3]) -> Result<()> {
    let fail = |what: &str, e: io::Error| {
        Error::system(format!("giving the command a terminal of its own: {what}"), e)
    };
    let user_tty = (0..3).find(|&fd| ttys[fd as usize]).unwrap_or(0);
    let termios = tcgetattr(borrow(user_tty)).ok();
    let size = sys::window_size(borrow(user_tty)).ok();
    let pty = nix::pty::openpty(size.as_ref(), termios.as_ref()).map_err(|e| fail("openpty", e.into()))?;

    let mut signals = SigSet::empty();
    for signal in FORWARDED {
        signals.add(signal);
    }
    for signal in [Signal::SIGCHLD, Signal::SIGWINCH, Signal::SIGCONT] {
        signals.add(signal);
    }
    let old_mask = signals
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(|e| fail("blocking signals", e.into()))?;
    let signal_fd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| fail("signalfd", e.into()))?;

    match sys::fork().map_err(|e| fail("fork", e))? {
        Forked::Child => {
            drop(signal_fd);
            drop(pty.master);
            old_mask
                .thread_set_mask()
                .map_err(|e| fail("restoring the signal mask", e.into()))?;
            setsid().map_err(|e| fail("setsid", e.into()))?;
            sys::set_controlling_terminal(pty.slave.as_fd()).map_err(|e| fail("TIOCSCTTY", e))?;
            for (fd, is_tty) in ttys.iter().enumerate() {
                if *is_tty {
                    let result = match fd {
                        0 => nix::unistd::dup2_stdin(&pty.slave),
                        1 => nix::unistd::dup2_stdout(&pty.slave),
                        _ => nix::unistd::dup2_stderr(&pty.slave),
                    };
                    result.map_err(|e| fail("dup2", e.into()))?;
                }
            }
            // fds 0–2 are open (cenv makes sure at start-up), so the slave
            // is a descriptor of its own above them.
            drop(pty.slave);
            Ok(())
        }
        Forked::Parent { child } => {
            drop(pty.slave);
            keep_only_cap_kill();
            let relay = Relay::new(pty.master, Pid::from_raw(child), signal_fd, ttys);
            let status = relay.run();
            std::process::exit(i32::from(status));
        }
    }
}

/// The parent needs nothing of root's but the right to signal the command.
/// Best effort: failing here leaves it as privileged as sudo's monitor.
fn keep_only_cap_kill() {
    use caps::{CapSet, Capability, CapsHashSet};
    let only_kill: CapsHashSet = [Capability::CAP_KILL].into_iter().collect();
    let _ = caps::clear(None, CapSet::Bounding);
    let _ = caps::clear(None, CapSet::Ambient);
    let _ = caps::clear(None, CapSet::Inheritable);
    let _ = caps::set(None, CapSet::Effective, &only_kill);
    let _ = caps::set(None, CapSet::Permitted, &only_kill);
    let _ = nix::sys::prctl::set_no_new_privs();
}

struct Relay {
    master: OwnedFd,
    child: Pid,
    signals: SignalFd,
    /// The user's terminal cenv reads keystrokes from (fd 0), if any.
    input: Option<RawFd>,
    /// Where the command's terminal output goes: the first terminal of 1, 2, 0.
    output: RawFd,
    /// The terminal whose mode and size are copied.
    user_tty: RawFd,
    saved_mode: Option<Termios>,
    /// Keystrokes read but not yet taken by the pseudo-terminal.
    pending: Vec<u8>,
}

impl Relay {
    fn new(master: OwnedFd, child: Pid, signals: SignalFd, ttys: [bool; 3]) -> Relay {
        let _ = fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        let output = [1, 2, 0].into_iter().find(|&fd| ttys[fd as usize]).unwrap_or(1);
        Relay {
            master,
            child,
            signals,
            input: ttys[0].then_some(0),
            output,
            user_tty: (0..3).find(|&fd| ttys[fd as usize]).unwrap_or(0),
            saved_mode: None,
            pending: Vec::new(),
        }
    }

    fn in_foreground(&self) -> bool {
        tcgetpgrp(borrow(self.user_tty)).is_ok_and(|pgrp| pgrp == getpgrp())
    }

    /// Raw mode on the user's terminal while cenv is in its foreground, so
    /// that ^C, ^Z and every other key reach the command's terminal as bytes
    /// and its own line discipline acts on them.
    fn enter_raw_mode(&mut self) {
        if self.input.is_none() || self.saved_mode.is_some() || !self.in_foreground() {
            return;
        }
        let Ok(mode) = tcgetattr(borrow(self.user_tty)) else {
            return;
        };
        let mut raw = mode.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(borrow(self.user_tty), SetArg::TCSADRAIN, &raw).is_ok() {
            self.saved_mode = Some(mode);
        }
    }

    fn leave_raw_mode(&mut self) {
        if let Some(mode) = self.saved_mode.take() {
            let _ = tcsetattr(borrow(self.user_tty), SetArg::TCSADRAIN, &mode);
        }
    }

    fn copy_window_size(&self) {
        if let Ok(size) = sys::window_size(borrow(self.user_tty)) {
            let _ = sys::set_window_size(self.master.as_fd(), &size);
        }
    }

    fn run(mut self) -> u8 {
        self.enter_raw_mode();
        let mut master_open = true;
        let mut buffer = [0u8; 8192];
        let status = loop {
            let reading_input = self.input.is_some() && self.saved_mode.is_some() && self.pending.is_empty();
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            let master_events = match (master_open, self.pending.is_empty()) {
                (false, _) => PollFlags::empty(),
                (true, true) => PollFlags::POLLIN,
                (true, false) => PollFlags::POLLIN | PollFlags::POLLOUT,
            };
            fds.push(PollFd::new(self.master.as_fd(), master_events));
            if reading_input {
                fds.push(PollFd::new(borrow(0), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => break self.wait_for_exit(),
            }
            let ready = |fd: &PollFd| fd.revents().unwrap_or(PollFlags::empty());
            let signal_ready = !ready(&fds[0]).is_empty();
            let master_ready = ready(&fds[1]);
            let input_ready = fds.get(2).map(ready).unwrap_or(PollFlags::empty());
            drop(fds);

            if master_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                match read(&self.master, &mut buffer) {
                    Ok(0) | Err(Errno::EIO) => master_open = false,
                    Ok(n) => write_all(self.output, &buffer[..n]),
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    Err(_) => master_open = false,
                }
            }
            if master_ready.contains(PollFlags::POLLOUT) {
                self.flush_pending();
            }
            if !input_ready.is_empty() {
                match read(borrow(0), &mut buffer) {
                    Ok(n) if n > 0 => {
                        self.pending.extend_from_slice(&buffer[..n]);
                        self.flush_pending();
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    // end of input or a hung-up terminal: stop reading it
                    _ => self.input = None,
                }
            }
            if signal_ready {
                if let Some(status) = self.handle_signals() {
                    break status;
                }
            }
        };
        self.drain_output(&mut buffer);
        self.leave_raw_mode();
        status
    }

    fn flush_pending(&mut self) {
        match nix::unistd::write(&self.master, &self.pending) {
            Ok(n) => {
                self.pending.drain(..n);
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => self.pending.clear(),
        }
    }

    /// What the command wrote before it exited; leftover processes that keep
    /// writing cannot hold the relay: it reads only what is there now.
    fn drain_output(&self, buffer: &mut [u8]) {
        while let Ok(n) = read(&self.master, buffer) {
            if n == 0 {
                break;
            }
            write_all(self.output, &buffer[..n]);
        }
    }

    /// Returns the exit status once the command has exited.
    fn handle_signals(&mut self) -> Option<u8> {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            match signal {
                Signal::SIGCHLD => {
                    if let Some(status) = self.reap() {
                        return Some(status);
                    }
                }
                Signal::SIGWINCH => self.copy_window_size(),
                Signal::SIGCONT => self.resume(),
                other => {
                    let _ = kill(self.child, other);
                }
            }
        }
        None
    }

    fn reap(&mut self) -> Option<u8> {
        loop {
            match waitpid(self.child, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED)) {
                Ok(WaitStatus::Exited(_, code)) => return Some(code as u8),
                Ok(WaitStatus::Signaled(_, signal, _)) => return Some(128 + signal as u8),
                Ok(WaitStatus::Stopped(..)) => self.suspend(),
                Ok(WaitStatus::StillAlive) => return None,
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(_) => return Some(crate::error::EXIT_CENV_FAILURE),
            }
        }
    }

    /// The command stopped (^Z on its terminal): stop cenv too, so the
    /// user's shell sees the job stop; carry on when it is continued.
    fn suspend(&mut self) {
        self.leave_raw_mode();
        let _ = kill(getpid(), Signal::SIGSTOP);
        self.resume();
    }

    fn resume(&mut self) {
        self.enter_raw_mode();
        self.copy_window_size();
        let _ = kill(self.child, Signal::SIGCONT);
    }

    fn wait_for_exit(&self) -> u8 {
        loop {
            match waitpid(self.child, None) {
                Ok(WaitStatus::Exited(_, code)) => return code as u8,
                Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as u8,
                Err(Errno::EINTR) | Ok(_) => {}
                Err(_) => return crate::error::EXIT_CENV_FAILURE,
            }
        }
    }
}

fn write_all(fd: RawFd, mut bytes: &[u8]) {
    let mut out = match fd {
        2 => Box::new(io::stderr()) as Box<dyn Write>,
        1 => Box::new(io::stdout()),
        _ => {
            // the terminal on fd 0, opened read-write as terminals are
            while !bytes.is_empty() {
                match nix::unistd::write(borrow(0), bytes) {
                    Ok(n) => bytes = &bytes[n..],
                    Err(Errno::EINTR) => {}
                    Err(_) => return,
                }
            }
            return;
        }
    };
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}
