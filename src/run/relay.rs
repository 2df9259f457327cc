//! The one case where cenv does not exec in place: a run dropped from root
//! while root's terminal is within reach — one of fds 0–2 is a terminal, or
//! the process has a controlling terminal at all (`/dev/tty` opens), even
//! with every standard descriptor redirected.
//!
//! That terminal is root's. A process the command leaves behind would keep
//! a descriptor to it and read what root types next, or push input into
//! root's shell with TIOCSTI — job control does not protect a terminal from
//! a process that no longer belongs to its session, and `/dev/tty` reaches
//! the controlling terminal whatever fds 0–2 are. So cenv does what `sudo`
//! (`use_pty`, which decides by opening `/dev/tty` too), `su --pty` and
//! `runuser --pty` do: the command gets a new pseudo-terminal as the
//! controlling terminal of a new session, in place of each of fds 0–2 that
//! was a terminal, and cenv stays behind as the parent, relaying bytes
//! between root's terminal and the new one, the window size and signals,
//! and exits with the command's status (128+N for a signal, as a shell
//! reports it). When the command exits the pseudo-terminal is closed: what
//! it left behind gets EIO and never had root's terminal to read.
//!
//! The parent stays root — so the user the command runs as can neither
//! ptrace nor signal it — but keeps only CAP_KILL (to forward signals to
//! the command) and sets no_new_privs. A run from root with no terminal at
//! all still exec()s, in a session of its own.
#![forbid(unsafe_code)]

use std::io;
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
use crate::system::output::Described;
use crate::system::sys::{self, Forked};

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

/// The process's controlling terminal, opened (as `/dev/tty`), if it has
/// one.
pub fn controlling_terminal() -> Option<OwnedFd> {
    nix::fcntl::open(
        "/dev/tty",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()
}

/// For a run dropped from root: root's terminal — one of fds 0–2, or the
/// controlling terminal behind /dev/tty with every one of them redirected —
/// never reaches the command. With one, from here on this is the command's
/// side of a new pseudo-terminal, and the parent relays; without any, the
/// command gets a session of its own.
pub fn keep_roots_terminal_from_the_command(show: &mut dyn FnMut(&dyn Described)) -> Result<()> {
    let ttys = terminals();
    let controlling = controlling_terminal();
    if ttys.contains(&true) || controlling.is_some() {
        show(&NewTerminal);
        return continue_on_new_terminal(ttys, controlling);
    }
    leave_session();
    Ok(())
}

/// The decision to give the command a terminal of its own.
struct NewTerminal;

impl Described for NewTerminal {
    fn step(&self) -> &'static str {
        "terminal"
    }

    fn describe(&self) -> String {
        "started by root with a terminal: the command gets a new pseudo-terminal, cenv relays".into()
    }
}

/// A run from root with no terminal at all: a session of its own all the
/// same, so it can never acquire root's. Fails only where it cannot matter:
/// cenv already leads its process group, and a process with no controlling
/// terminal has none to keep.
pub fn leave_session() {
    let _ = setsid();
}

/// Where the relay meets root: fds 0–2 that are terminals, or the
/// controlling terminal opened when none of them is.
enum UserTerminal {
    Standard([bool; 3]),
    Opened(OwnedFd),
}

impl UserTerminal {
    /// The descriptor whose mode and size are copied.
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            UserTerminal::Standard(ttys) => borrow((0..3).find(|&fd| ttys[fd as usize]).unwrap_or(0)),
            UserTerminal::Opened(fd) => fd.as_fd(),
        }
    }

    /// The descriptor keystrokes are read from.
    fn input(&self) -> Option<BorrowedFd<'_>> {
        match self {
            UserTerminal::Standard(ttys) => ttys[0].then(|| borrow(0)),
            UserTerminal::Opened(fd) => Some(fd.as_fd()),
        }
    }

    /// The descriptor the command's terminal output goes to.
    fn output(&self) -> BorrowedFd<'_> {
        match self {
            UserTerminal::Standard(ttys) => {
                borrow([1, 2, 0].into_iter().find(|&fd| ttys[fd as usize]).unwrap_or(1))
            }
            UserTerminal::Opened(fd) => fd.as_fd(),
        }
    }
}

/// Moves the rest of the run onto a new pseudo-terminal. `ttys` says which
/// of fds 0–2 are terminals; `controlling` is the controlling terminal,
/// used as root's end when none of them is. Returns in the child, which is
/// the leader of a new session whose controlling terminal is the
/// pseudo-terminal; the parent relays until the command exits and then
/// exits with its status — it never returns.
pub fn continue_on_new_terminal(ttys: [bool; 3], controlling: Option<OwnedFd>) -> Result<()> {
    let fail = |what: &str, e: io::Error| {
        Error::system(format!("giving the command a terminal of its own: {what}"), e)
    };
    let user = match controlling {
        Some(fd) if !ttys.contains(&true) => UserTerminal::Opened(fd),
        _ => UserTerminal::Standard(ttys),
    };
    let termios = tcgetattr(user.fd()).ok();
    let size = sys::window_size(user.fd()).ok();
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
            drop(user);
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
            let relay = Relay::new(pty.master, Pid::from_raw(child), signal_fd, user);
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
    user: UserTerminal,
    /// Whether keystrokes are still read (until end of input or a hang-up).
    reading_input: bool,
    saved_mode: Option<Termios>,
    /// Keystrokes read but not yet taken by the pseudo-terminal.
    pending: Vec<u8>,
}

/// What the relay copies after the command exited, at most: a process left
/// behind that keeps writing cannot hold root's terminal.
const DRAIN_LIMIT: usize = 1 << 20;

impl Relay {
    fn new(master: OwnedFd, child: Pid, signals: SignalFd, user: UserTerminal) -> Relay {
        let _ = fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        Relay {
            master,
            child,
            signals,
            reading_input: user.input().is_some(),
            user,
            saved_mode: None,
            pending: Vec::new(),
        }
    }

    fn in_foreground(&self) -> bool {
        tcgetpgrp(self.user.fd()).is_ok_and(|pgrp| pgrp == getpgrp())
    }

    /// Raw mode on the user's terminal while cenv is in its foreground, so
    /// that ^C, ^Z and every other key reach the command's terminal as bytes
    /// and its own line discipline acts on them.
    fn enter_raw_mode(&mut self) {
        if self.user.input().is_none() || self.saved_mode.is_some() || !self.in_foreground() {
            return;
        }
        let Ok(mode) = tcgetattr(self.user.fd()) else {
            return;
        };
        let mut raw = mode.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(self.user.fd(), SetArg::TCSADRAIN, &raw).is_ok() {
            self.saved_mode = Some(mode);
        }
    }

    fn leave_raw_mode(&mut self) {
        if let Some(mode) = self.saved_mode.take() {
            let _ = tcsetattr(self.user.fd(), SetArg::TCSADRAIN, &mode);
        }
    }

    fn copy_window_size(&self) {
        if let Ok(size) = sys::window_size(self.user.fd()) {
            let _ = sys::set_window_size(self.master.as_fd(), &size);
        }
    }

    fn run(mut self) -> u8 {
        self.enter_raw_mode();
        // Once every descriptor of the pseudo-terminal's other end is
        // closed, the master reports a hang-up on every poll: it leaves the
        // poll set then (a command may keep running without its terminal).
        let mut master_open = true;
        let mut buffer = [0u8; 8192];
        let status = loop {
            let read_input =
                master_open && self.reading_input && self.saved_mode.is_some() && self.pending.is_empty();
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            let master_at = master_open.then(|| {
                let events = match self.pending.is_empty() {
                    true => PollFlags::POLLIN,
                    false => PollFlags::POLLIN | PollFlags::POLLOUT,
                };
                fds.push(PollFd::new(self.master.as_fd(), events));
                fds.len() - 1
            });
            let input_at = match (read_input, self.user.input()) {
                (true, Some(input)) => {
                    fds.push(PollFd::new(input, PollFlags::POLLIN));
                    Some(fds.len() - 1)
                }
                _ => None,
            };
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => break self.wait_for_exit(),
            }
            let ready = |at: Option<usize>| at.and_then(|i| fds[i].revents()).unwrap_or(PollFlags::empty());
            let signal_ready = !ready(Some(0)).is_empty();
            let master_ready = ready(master_at);
            let input_ready = ready(input_at);
            drop(fds);

            if master_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                match read(&self.master, &mut buffer) {
                    Ok(0) | Err(Errno::EIO) => master_open = false,
                    Ok(n) => write_all(self.user.output(), &buffer[..n]),
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    Err(_) => master_open = false,
                }
            }
            if master_ready.contains(PollFlags::POLLOUT) {
                self.flush_pending();
            }
            if !input_ready.is_empty() {
                let input = self.user.input().expect("polled, so present");
                match read(input, &mut buffer) {
                    Ok(n) if n > 0 => {
                        self.pending.extend_from_slice(&buffer[..n]);
                        self.flush_pending();
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    // end of input or a hung-up terminal: stop reading it
                    _ => self.reading_input = false,
                }
            }
            if signal_ready {
                if let Some(status) = self.handle_signals() {
                    break status;
                }
            }
        };
        if master_open {
            self.drain_output(&mut buffer);
        }
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

    /// What the command wrote before it exited — what is there now, and at
    /// most [`DRAIN_LIMIT`] bytes: a process left behind that keeps writing
    /// cannot hold the relay, and so root's terminal.
    fn drain_output(&self, buffer: &mut [u8]) {
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            match read(&self.master, buffer) {
                Ok(n) if n > 0 => {
                    write_all(self.user.output(), &buffer[..n]);
                    drained += n;
                }
                _ => break,
            }
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

/// Writes all of `bytes` to the terminal `fd`; gives up when it cannot be
/// written (a hung-up terminal).
fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(1000u16));
            }
            Err(_) => return,
        }
    }
}
