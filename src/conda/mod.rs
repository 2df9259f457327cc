//! What a conda prefix is and how conda treats it: valid env names, finding an
//! env by name, reading `~/.condarc`, and computing the activated environment.
//!
//! Everything here is pure with respect to the process: it reads files and
//! computes values, and changes nothing (no environment, no credentials).
#![forbid(unsafe_code)]

pub mod activate;
pub mod condarc;
pub mod files;
pub mod name;
pub mod records;
pub mod resolve;

pub use activate::{plan_activation, ActivationPlan, BaseInstall};
pub use resolve::{resolve, EnvSpec, ResolvedEnv, SearchPath};
