//! `cenv run -v`: each step of the pipeline and what it decided, on stderr —
//! the answer to an admin's "why was this refused, or allowed?".
#![forbid(unsafe_code)]

use crate::output::message;

/// Reports pipeline steps when verbose, and nothing otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Explain {
    verbose: bool,
}

impl Explain {
    pub fn new(verbose: bool) -> Explain {
        Explain { verbose }
    }

    /// One line, `cenv: STEP: DECISION`, escaped like every message.
    pub fn step(&self, step: &str, decision: impl FnOnce() -> String) {
        if self.verbose {
            message(&crate::escape::text(&format!("{step}: {}", decision())));
        }
    }
}
