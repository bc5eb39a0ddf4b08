//! The results document of one invocation: the records and step reports of the run, with
//! the environment, the effective config and the summaries computed here, so every mode
//! writes the same shape.

use crate::config::Settings;
use crate::results::{EngineInfo, Mode, ResultsDoc, RunRecord, SCHEMA_VERSION, StepReport};

/// The document of one invocation. Reads the clock (`finished_at`) and the host
/// ([`crate::environment::collect`]); everything else comes from the arguments.
pub fn assemble(
    mode: Mode,
    settings: &Settings,
    started_at: String,
    engines: Vec<EngineInfo>,
    runs: Vec<RunRecord>,
    load: Vec<StepReport>,
) -> ResultsDoc {
    ResultsDoc {
        schema_version: SCHEMA_VERSION,
        tool: format!("inferbench {}", env!("CARGO_PKG_VERSION")),
        mode,
        started_at,
        finished_at: chrono::Local::now().to_rfc3339(),
        environment: crate::environment::collect(),
        config: settings.effective_json(),
        engines,
        summaries: super::summary::summarize_runs(&runs),
        runs,
        load,
        search: Vec::new(),
        workload: None,
        parity: None,
    }
}
