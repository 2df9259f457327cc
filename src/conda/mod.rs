//! What a conda prefix is and how conda treats it: valid env names, finding an
//! env by name and the envs there are, reading `~/.condarc` and an env's
//! metadata (records, history), its export, and the activated environment.
//!
//! Everything here is pure with respect to the process: it reads files and
//! computes values, and changes nothing (no environment, no credentials).
#![forbid(unsafe_code)]

pub mod activate;
pub mod condarc;
pub mod discover;
pub mod export;
pub mod files;
pub mod history;
pub mod name;
pub mod records;
pub mod resolve;

pub use activate::{plan_activation, plan_activation_in, ActivationPlan, BaseInstall};
pub use resolve::{resolve, EnvSpec, ResolvedEnv, SearchPath};
