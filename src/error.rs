//! Errors a caller branches on, and the mapping of errors to exit codes.
//!
//! Exit codes: 0 success; 1 a runtime failure (or every run failed); 2 bad input the user
//! must fix (config, flags, a missing model or binary, a port in use), with a one-line
//! message saying what is wrong and how to fix it.

use crate::config::ConfigError;

/// Bad input detected outside the config file: the message names what is wrong and how
/// to fix it. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

impl UserError {
    pub fn new(msg: impl Into<String>) -> Self {
        UserError(msg.into())
    }
}

/// Every run of the benchmark failed. Exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("all {0} runs failed; see the log and the JSONL records for the reasons")]
pub struct AllRunsFailed(pub usize);

/// The exit code for an error: 2 for input the user must fix, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<UserError>().is_some()
            || cause
                .downcast_ref::<crate::engine::launch::StartError>()
                .is_some()
            || cause
                .downcast_ref::<crate::engine::fairness::TemplateMismatch>()
                .is_some()
        {
            return 2;
        }
    }
    1
}
