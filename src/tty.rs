//! Whether the kernel already keeps a dropped command from injecting input
//! into root's terminal with TIOCSTI.
//!
//! Since Linux 6.2, `dev.tty.legacy_tiocsti = 0` makes TIOCSTI need
//! CAP_SYS_ADMIN, which a command dropped from root never has. Only when the
//! kernel says so does cenv keep the controlling terminal; otherwise it gives
//! it up before exec (`sys::detach_controlling_terminal`).
#![forbid(unsafe_code)]

const LEGACY_TIOCSTI: &str = "/proc/sys/dev/tty/legacy_tiocsti";

pub fn kernel_blocks_tiocsti() -> bool {
    std::fs::read_to_string(LEGACY_TIOCSTI).is_ok_and(|v| v.trim() == "0")
}
