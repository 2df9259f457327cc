//! `cenv usage` reads log lines anyone who can log can write (logger(1)):
//! any bytes give an event or nothing, never a panic; an event's env and
//! user are non-empty, and a line with a time gives one it can print.
#![no_main]

use cenv::tools::usage::parse_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Some(event) = parse_line(line, 2026) {
            assert!(!event.env.is_empty() && !event.invoker.is_empty());
            assert!(!event.invoker.contains(' '));
            if let Some(t) = event.time {
                let _ = cenv::system::clock::format_local(t);
            }
        }
    }
});
