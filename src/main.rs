//! The binary hands over to the library. `#![no_main]`: std's start-up code
//! probes the main thread's stack (reading /proc/self/maps with sscanf), a
//! tenth of what `cenv run` costs before its exec; cenv does itself the two
//! things of that start-up it needs — SIGPIPE ignored while cenv runs
//! (restored for the command) and fds 0–2 open — in `cenv::main_status`.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    std::ffi::c_int::from(cenv::main_status())
}
