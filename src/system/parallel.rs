//! The scans of `list`, `doctor` and `verify` run on rayon's thread pool —
//! when there is one. Where threads cannot be created (a tight
//! `RLIMIT_NPROC`, a cgroup's pids limit), rayon's global pool would panic
//! ("global thread pool has not been initialized"); cenv then does the same
//! work on one thread instead.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use rayon::prelude::*;

/// Whether rayon's global pool is up (started on first use).
pub fn available() -> bool {
    static POOL: OnceLock<bool> = OnceLock::new();
    *POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().build_global().is_ok())
}

/// `items.map(f)`, in parallel when threads can be had.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    if available() {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

/// `items.filter_map(f)`, in parallel when threads can be had.
pub fn filter_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Option<R> + Sync + Send) -> Vec<R> {
    if available() {
        items.par_iter().filter_map(f).collect()
    } else {
        items.iter().filter_map(f).collect()
    }
}
