//! Mechanism: system calls (the only `unsafe`, in [`sys`]), the user
//! database, mounts, the environment and the process it describes, output
//! and escaping, whole-file reads and writes. Nothing here decides anything.

pub mod clock;
pub mod environ;
pub mod escape;
pub mod mounts;
pub mod output;
pub mod parallel;
pub mod paths;
pub mod permissions;
pub mod process;
pub mod sys;
pub mod users;
pub mod wholefile;
