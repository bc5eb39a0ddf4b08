//! `--sweep input:…` against one engine (the pure parts are [`crate::load::input_sweep`]):
//! its prompts of exact lengths built before any engine starts ([`build_prompts`]), each
//! prefill and decode step run through the load executor on its own prompts
//! ([`run_steps`]), then llama-bench beside a llama-server we started and the report
//! ([`finish`]).

use super::Inputs;
use super::bringup::Engine;
use crate::client::PromptInput;
use crate::config::Settings;
use crate::error::UserError;
use crate::load::executor::{LoadOptions, LoadPrompt, WorkloadRun, run_load};
use crate::load::input_sweep::{BenchFigures, InputSweep, bench_commands, bench_figures, label};
use crate::load::report::StepReport;
use crate::load::schedule::LoadSteps;
use crate::output::Session;
use crate::results::{BenchRun, InputSweepReport, RunRecord, Sampling};
use std::time::Duration;

/// How long one llama-bench command may run.
const BENCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// One step's prompts (warm-up and measured, each distinct) and their lengths.
#[derive(Clone)]
pub struct StepPrompts {
    pub prompts: Vec<LoadPrompt>,
    pub run: WorkloadRun,
}

/// The prompts of every step of the sweep, by step index: synthetic prompts of exactly
/// the step's input length (our tokenizer, the reference template), seeded by
/// `inferbench.seed` + step index. Errors (exit 2) without a tokenizer.
pub fn build_prompts(
    sweep: &InputSweep,
    settings: &Settings,
    inputs: &Inputs,
) -> anyhow::Result<Vec<StepPrompts>> {
    use crate::workload::synthetic::{Dist, Length, Spec, build};
    let template = crate::prompt::template::ChatTemplate::resolve(
        &settings.chat_template,
        &settings.base_dir,
    )?;
    let tokenizer = inputs.tokenizer.get().ok_or_else(|| {
        UserError::new(
            "--sweep input: builds prompts of exact token lengths with our tokenizer: set inferbench.tokenizer or give --tokenizer tokenizer.json",
        )
    })?;
    let tokens = super::TemplateTokens {
        template: &template,
        tokenizer,
    };
    let steps = sweep.steps(settings.seed);
    let mut out = Vec::with_capacity(steps.len());
    for step in &steps {
        let Some((length, phase)) = sweep.step_of(step.index) else {
            continue;
        };
        let n = (step.warmup + step.requests.unwrap_or(1)) as usize;
        let output = sweep.output_tokens(phase);
        let spec = Spec {
            input: Length {
                mean: length as f64,
                sd: 0.0,
            },
            output: Length {
                mean: f64::from(output),
                sd: 0.0,
            },
            dist: Dist::Fixed,
            count: Some(n),
        };
        let w = build(&spec, step.seed, n, &tokens).map_err(|e| UserError::new(e.to_string()))?;
        let crate::workload::Items::Requests(items) = &w.items else {
            continue;
        };
        let mut prompts = Vec::with_capacity(items.len());
        for it in items {
            prompts.push(LoadPrompt {
                id: format!("in{length}-{}-{}", phase.as_str(), prompts.len()),
                tier: "input_sweep".into(),
                input: PromptInput {
                    messages: it.messages.clone(),
                    rendered: template.render(&it.messages, true)?,
                },
            });
        }
        let run = WorkloadRun {
            lengths: vec![(Some(output), true); prompts.len()],
            label: Some(label(length, phase)),
            ..WorkloadRun::default()
        };
        out.push(StepPrompts { prompts, run });
    }
    Ok(out)
}

/// Run every step of the sweep against `engine`, each on its own prompts; every step's
/// report and records go to `sink` as the step ends. Returns the step reports and the
/// measured records (for the sweep's report). Stops after a step during which the
/// engine's process died.
#[allow(clippy::too_many_arguments)]
pub async fn run_steps(
    engine: &Engine,
    prompts: &[StepPrompts],
    sampling: &Sampling,
    load: &LoadSteps,
    opts: &LoadOptions,
    sink: &mut (dyn FnMut(&StepReport, Vec<RunRecord>) -> anyhow::Result<()> + Send),
) -> anyhow::Result<(Vec<StepReport>, Vec<RunRecord>)> {
    let mut reports = Vec::new();
    let mut records = Vec::new();
    for (step, sp) in load.steps.iter().zip(prompts) {
        let one = LoadSteps {
            steps: vec![step.clone()],
            ..load.clone()
        };
        let mut o = opts.clone();
        o.workload = Some(sp.run.clone());
        let mut keep = |report: &StepReport, recs: Vec<RunRecord>| -> anyhow::Result<()> {
            records.extend(recs.iter().filter(|r| !r.warmup).cloned());
            sink(report, recs)
        };
        let done = run_load(&engine.target, &sp.prompts, sampling, &one, &o, &mut keep).await?;
        let died = done.iter().any(|r| r.engine_exit.is_some());
        reports.extend(done);
        if died {
            break;
        }
    }
    Ok((reports, records))
}

/// llama-bench beside the engine, where it is a llama-server we started: its figures,
/// and what ran (or why not). Every outcome is logged; a missing or failing llama-bench
/// is a note, never an error.
async fn bench(
    engine: &Engine,
    sweep: &InputSweep,
    settings: &Settings,
    session: &mut Session,
) -> (BenchFigures, BenchRun) {
    let not = |why: String| {
        (
            BenchFigures::default(),
            BenchRun {
                ran: false,
                commands: Vec::new(),
                note: Some(why),
            },
        )
    };
    if engine.target.kind != crate::engine::EngineKind::LlamaCpp || engine.running.is_none() {
        return not(
            "not run: llama-bench is llama.cpp's own benchmark, for a llama-server inferbench started".into(),
        );
    }
    let cmds = match bench_commands(&engine.info.command, sweep) {
        Ok(c) => c,
        Err(why) => return not(format!("not run: {why}")),
    };
    if !cmds[0].program.is_file() {
        return not(format!(
            "not run: {} is absent (llama-bench is looked for beside the llama-server we started)",
            cmds[0].program.display()
        ));
    }
    let grace = Duration::from_secs_f64(settings.stop_grace_seconds);
    let mut run = BenchRun {
        ran: false,
        commands: cmds.iter().map(|c| c.argv()).collect(),
        note: None,
    };
    let mut rows = Vec::new();
    for cmd in &cmds {
        session.log(&format!("llama-bench: {}", cmd.argv().join(" ")));
        let outcome = match crate::climode::exec::run_process(cmd, BENCH_TIMEOUT, grace).await {
            Ok(o) => o,
            Err(e) => {
                run.note = Some(format!("failed to start: {e:#}"));
                return (BenchFigures::default(), run);
            }
        };
        if !outcome.success() {
            run.note = Some(format!("failed: {}", outcome.failure_reason()));
            return (BenchFigures::default(), run);
        }
        match crate::engines::llamacpp::cli::parse_bench_json(&outcome.stdout_text()) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                run.note = Some(format!("its output is not the JSON rows expected: {e}"));
                return (BenchFigures::default(), run);
            }
        }
        session.log(&format!(
            "llama-bench: done in {:.1} s",
            outcome.wall_ms / 1000.0
        ));
    }
    run.ran = true;
    (bench_figures(&rows, sweep.decode_tokens), run)
}

/// After the steps: llama-bench where it applies, then the sweep's report, logged.
pub async fn finish(
    engine: &Engine,
    sweep: &InputSweep,
    records: &[RunRecord],
    settings: &Settings,
    session: &mut Session,
) -> InputSweepReport {
    let (figures, run) = bench(engine, sweep, settings, session).await;
    if let Some(note) = &run.note {
        session.log(&format!("{}: llama-bench {note}", engine.target.name));
    }
    let report = crate::load::input_sweep::report(sweep, records, &figures, run);
    for line in crate::export::input_sweep::console(&engine.target.name, &report).lines() {
        session.log(line);
    }
    report
}
