//! `cenv run -v`: each step of the pipeline and what it decided, on stderr —
//! the answer to an admin's "why was this refused, or allowed?". Every step
//! returns a value that describes itself ([`Described`]); this only prints.
#![forbid(unsafe_code)]

use crate::system::output::{message, Described};

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
    pub fn show(&self, decision: &dyn Described) {
        if self.verbose {
            message(&crate::system::escape::text(&format!(
                "{}: {}",
                decision.step(),
                decision.describe()
            )));
        }
    }
}
