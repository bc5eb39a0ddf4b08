//! The mapping of errors to exit codes, at the top of the crate (it knows every error
//! type, so no module below needs to know it).
//!
//! Exit codes: 0 success; 1 a runtime failure (every run failed, an engine left out or
//! every run of an engine failed); 2 bad input the user must fix (config, flags, a missing
//! model or binary, a port in use, a template mismatch), with a one-line message saying
//! what is wrong and how to fix it.

/// The exit code for an error: 2 for input the user must fix, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.downcast_ref::<crate::config::ConfigError>().is_some()
            || cause.downcast_ref::<crate::error::UserError>().is_some()
            || cause
                .downcast_ref::<crate::engines::launch::StartError>()
                .is_some()
            || cause
                .downcast_ref::<crate::engines::fairness::TemplateMismatch>()
                .is_some()
            || cause.is::<crate::climode::NotInstalled>()
            || cause
                .downcast_ref::<crate::pipeline::plan::PlanError>()
                .is_some()
            || cause
                .downcast_ref::<crate::load::schedule::LoadError>()
                .is_some()
        {
            return 2;
        }
    }
    1
}
