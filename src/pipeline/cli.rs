//! CLI mode through the pipeline: bring-up of every selected `engines.*` entry first
//! (program and model found, roofline, `ollama serve` for Ollama's client), or left out
//! with its reason; then the schedule's runs, one subprocess each, in API mode's order
//! (interleaved A,B,A,B by default, one engine after another with `--no-interleave`),
//! each record on disk before the next process starts and flagged when another engine's
//! long-lived process (its `ollama serve`) was busy during it; the servers stopped on
//! every exit path; the same finish as API mode.

use super::bringup::LeftOut;
use super::cli_runner::{self, CliRunner, Prepared};
use super::finish::{Finished, finish};
use super::gpu::CliTelemetry;
use super::plan::Plan;
use super::progress::Progress;
use super::run::{Neighbours, neighbour_flag};
use crate::climode::{Case, PrepareCtx};
use crate::config::Settings;
use crate::engines::Adapter;
use crate::output::Session;
use crate::results::{BandwidthReport, Mode};
use crate::server::RunningEngine;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Instant;

/// Removes the per-invocation work directory (Uzu task files) on every exit path.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An engine brought up for CLI mode: its executor and what lives beside it.
struct Up {
    runner: CliRunner,
    /// The `ollama serve` we started for an Ollama engine's client (stopped at the end).
    server: Option<RunningEngine>,
    /// The Ollama server its client talks to, ours or one already listening.
    host: Option<String>,
    bandwidth: Option<BandwidthReport>,
    telemetry: CliTelemetry<'static>,
}

/// `inferbench cli` after planning.
pub async fn run(
    plan: &Plan,
    settings: &Settings,
    args: &crate::cli::CliArgs,
) -> anyhow::Result<i32> {
    let (system, prompts) = crate::prompt::suite::suite_for(settings)?;
    let template = crate::prompt::template::ChatTemplate::resolve(
        &settings.chat_template,
        &settings.base_dir,
    )?;
    let started_at = chrono::Local::now().to_rfc3339();
    let origin = Instant::now();
    let stamp = crate::output::stamp_now();
    let mut session = Session::create(&args.output.out_dir, Mode::Cli, settings.num_runs, &stamp)?;
    // Unique per invocation, also when several run in one process (tests).
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let workdir = std::env::temp_dir().join(format!(
        "inferbench-cli-{}-{stamp}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&workdir)
        .with_context(|| format!("creating work directory {}", workdir.display()))?;
    let _cleanup = Cleanup(workdir.clone());
    crate::process::install_signal_handlers().context("installing signal handlers")?;
    session.log(&format!("schedule: {}", plan.schedule.describe()));

    let ctx = PrepareCtx {
        settings,
        template: &template,
        workdir: &workdir,
    };
    let cases = cli_runner::cases(&system, &prompts, &template)?;
    let per_engine = plan
        .schedule
        .order(1, cases.len(), settings.num_runs, settings.warmup_runs)
        .len();
    let progress = Progress::new((per_engine * plan.engines.len()) as u64, args.output.quiet);
    let keys: Vec<String> = plan.engines.iter().map(|e| e.key.clone()).collect();
    let mut done = Finished {
        doctor: super::finish::survey(settings, &keys, crate::doctor::Mode::Cli, &mut session)
            .await,
        ..Finished::default()
    };
    let mut up = bring_up(plan, &ctx, origin, &mut done, &progress, &mut session).await;
    let measured = measure(plan, &mut up, &cases, settings, &progress, &mut session).await;
    for u in up {
        // Read while the server still holds the model (before it stops).
        let served = u
            .server
            .as_ref()
            .map(RunningEngine::pid)
            .filter(|pid| *pid != 0)
            .and_then(super::gpu::server_gpu_memory);
        if let Some(server) = u.server
            && let Err(e) = server.stop().await
        {
            session.log(&format!("stopping ollama serve: {e:#}"));
        }
        let mut info = u.runner.finish();
        info.gpu_memory = Some(super::gpu::cli_gpu_memory(served, u.telemetry.gpu_memory()));
        info.bandwidth = u.bandwidth;
        done.engines.push(info);
    }
    measured?;
    progress.done();
    finish(session, Mode::Cli, settings, started_at, done, &args.output)
}

/// Every engine prepared (roofline, `ollama serve`) before anything is measured; one that
/// cannot run is left out with its reason.
async fn bring_up(
    plan: &Plan,
    ctx: &PrepareCtx<'_>,
    origin: Instant,
    done: &mut Finished,
    progress: &Progress,
    session: &mut Session,
) -> Vec<Up> {
    let settings = ctx.settings;
    let mut bandwidth = None;
    let mut up = Vec::new();
    for ep in &plan.engines {
        let Some(section) = settings.file.engines.get(&ep.key) else {
            continue;
        };
        let kind = Settings::kind_of(&ep.key, section).to_string();
        let mut prep = match cli_runner::prepare(&ep.key, section, ctx) {
            Ok(prep) => prep,
            Err(e) => {
                let lo = LeftOut::from_error(&ep.key, &kind, ep.named, &e);
                done.leave_out(lo, progress, session);
                continue;
            }
        };
        let (roof, bw) = super::gpu::cli_roofline(&prep, &mut bandwidth, settings).await;
        let roof = match roof {
            Ok(r) => {
                session.log(&format!("{}: {}", ep.key, r.describe()));
                Some(r)
            }
            Err(e) => {
                prep.notes.push(format!("no roofline: {e:#}"));
                None
            }
        };
        let (server, host) = match ollama_server(&mut prep, settings, session).await {
            Ok(s) => s,
            Err(e) => {
                let lo = LeftOut::from_error(&prep.key, &prep.kind, true, &e);
                done.leave_out(lo, progress, session);
                continue;
            }
        };
        let mut runner = CliRunner::new(prep, settings, &ctx.template.name, roof, origin);
        if let Some(b) = server
            .as_ref()
            .and_then(|s| s.info.engine_settings.get("backend"))
        {
            runner.add_engine_setting("backend", b.clone());
        }
        up.push(Up {
            runner,
            server,
            host,
            bandwidth: bw,
            telemetry: CliTelemetry::new(crate::measure::telemetry::shared()),
        });
    }
    up
}

/// `ollama run` is a client: the model runs in `ollama serve`. For an Ollama engine, start
/// the server of the config's Ollama entry (or use one already listening): the server we
/// started and the host its client talks to. Nothing for other engines.
async fn ollama_server(
    prep: &mut Prepared,
    settings: &Settings,
    session: &Session,
) -> anyhow::Result<(Option<RunningEngine>, Option<String>)> {
    let Adapter::Ollama(o) = &mut prep.adapter else {
        return Ok((None, None));
    };
    match cli_runner::start_ollama_server(settings, &session.paths.logging_dir).await? {
        Some((host, server, note)) => {
            o.host = Some(host.clone());
            prep.notes.push(note);
            Ok((server, Some(host)))
        }
        None => {
            prep.notes.push(
                "no Ollama entry in `servers`: `ollama serve` must already be running".into(),
            );
            Ok((None, o.host.clone()))
        }
    }
}

/// The other engines' long-lived processes (each `ollama serve` we started), leaving out
/// a server this engine's client talks to itself.
fn neighbours_of(up: &[Up], me: usize) -> Neighbours {
    let mine = up[me].host.as_deref();
    Neighbours(
        up.iter()
            .enumerate()
            .filter(|(j, u)| *j != me && (mine.is_none() || u.host.as_deref() != mine))
            .filter_map(|(_, u)| Some((u.runner.key().to_string(), u.server.as_ref()?.pid())))
            .filter(|(_, pid)| *pid != 0)
            .collect(),
    )
}

/// Run the schedule's cases, one process each; each record on disk before the next starts.
async fn measure(
    plan: &Plan,
    up: &mut [Up],
    cases: &[Case],
    settings: &Settings,
    progress: &Progress,
    session: &mut Session,
) -> anyhow::Result<()> {
    let neighbours: Vec<Neighbours> = (0..up.len()).map(|i| neighbours_of(up, i)).collect();
    let order = plan.schedule.order(
        up.len(),
        cases.len(),
        settings.num_runs,
        settings.warmup_runs,
    );
    for slot in order {
        let u = &mut up[slot.engine];
        let case = Case {
            run_index: slot.run,
            warmup: slot.warmup,
            ..cases[slot.prompt].clone()
        };
        let watch = &neighbours[slot.engine];
        let before = watch.snapshot();
        u.telemetry.start();
        let t0 = Instant::now();
        let mut record = u
            .runner
            .run_case(&case, &mut |line| session.log(line))
            .await?;
        let wall_s = t0.elapsed().as_secs_f64();
        let used = watch.used(&before);
        if !used.is_empty() {
            let figures: Vec<String> = used
                .iter()
                .map(|(n, cpu_s)| format!("{n} {:.3} cores ({cpu_s:.2} CPU s)", cpu_s / wall_s))
                .collect();
            session.log(&format!(
                "{} {} run {}: neighbours over {wall_s:.2} s: {}",
                record.engine,
                record.prompt_id,
                record.run_index,
                figures.join(", ")
            ));
        }
        record.flags.extend(
            used.into_iter()
                .filter_map(|(n, cpu_s)| neighbour_flag(n, cpu_s, wall_s)),
        );
        u.telemetry.stamp(&mut record);
        progress.finished(&record);
        session.record(record)?;
    }
    Ok(())
}
