//! After an engine's load steps: each step's calibration (see [`crate::load::calibrate`]),
//! logged and printed as it ends, kept in the step's report.

use super::bringup::Engine;
use super::progress::Progress;
use crate::load::calibrate::calibrate_step;
use crate::load::executor::{LoadOptions, LoadPrompt};
use crate::load::schedule::LoadSteps;
use crate::output::Session;
use crate::results::{Sampling, StepReport};

/// Calibrate every step of `reports` (run as `load` against `engine`): in full with
/// `full` (`--calibrate`), else where the cheap default fits.
#[allow(clippy::too_many_arguments)]
pub(super) async fn calibrate_steps(
    engine: &Engine,
    reports: &mut [StepReport],
    load: &LoadSteps,
    prompts: &[LoadPrompt],
    sampling: &Sampling,
    opts: &LoadOptions,
    full: bool,
    (progress, session): (&Progress, &mut Session),
) {
    for report in reports.iter_mut() {
        let Some(step) = load.steps.iter().find(|s| s.index == report.index) else {
            continue;
        };
        if full {
            progress.stage(&format!(
                "{} {}: calibrating the client against the synthetic engine",
                report.engine, report.step
            ));
        }
        let c = calibrate_step(&engine.target, report, step, prompts, sampling, opts, full).await;
        report.calibration = Some(c);
        let line = crate::export::calibration::step_line(report);
        session.log(&line);
        if full
            || report
                .calibration
                .as_ref()
                .is_some_and(|c| c.skipped.is_none())
        {
            progress.println(&line);
        }
    }
}
