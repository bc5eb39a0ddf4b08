//! `inferbench doctor`: the checks of [`crate::doctor::checks_for`], with `--deep`'s after
//! them, printed as lines or JSON.
//!
//! - [`deep`]: `--deep`, each server through the pipeline's own bring-up (start,
//!   readiness, fairness), one short request, stop.
//!
//! The imports run one way: this command → [`crate::pipeline`] (whose bring-up `--deep`
//! uses) → [`crate::doctor`] (whose [`survey`](crate::doctor::survey) the pipeline records
//! in every result).

pub mod deep;

use crate::cli::DoctorArgs;
use crate::doctor::{checks_for, render, report, selected};
use std::time::Instant;

/// `inferbench doctor`. Returns the exit code: 0 when nothing failed, 2 otherwise.
pub async fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let overrides = crate::config::Overrides {
        engines: args.engines.clone(),
        ..Default::default()
    };
    let settings = crate::config::load(
        args.config.as_deref(),
        &crate::config::ProcessEnv,
        &overrides,
    )?;
    let chosen = selected(&settings, args.mode)?;
    let mut all = checks_for(&settings, &chosen).await;
    if args.deep {
        crate::process::install_signal_handlers()?;
        all.extend(deep::checks(&settings, &chosen).await);
    }
    let names: Vec<String> = chosen.iter().map(|s| s.key.clone()).collect();
    let report = report(&settings, &names, args.mode, args.deep, t0, &all);
    if args.json {
        println!("{}", render::json(&report)?);
    } else {
        print!("{}", render::text(&report));
    }
    Ok(report.exit_code)
}
