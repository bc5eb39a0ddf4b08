//! CLI mode through the pipeline: each selected `engines.*` entry prepared (program and
//! model found, roofline, `ollama serve` for Ollama's client) or left out with its reason,
//! then one subprocess per run, each record on disk before the next process starts, then
//! the same finish as API mode.

use super::bringup::LeftOut;
use super::finish::{Finished, finish};
use super::plan::Plan;
use super::progress::Progress;
use crate::climode::{self, Adapter, PrepareCtx};
use crate::config::Settings;
use crate::results::{Mode, RunRecord};
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
    let mut session =
        crate::output::Session::create(&args.output.out_dir, Mode::Cli, settings.num_runs, &stamp)?;
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
    let all_cases = climode::cases(
        &system,
        &prompts,
        &template,
        settings.num_runs,
        settings.warmup_runs,
    )?;
    let progress = Progress::new(
        (all_cases.len() * plan.engines.len()) as u64,
        args.output.quiet,
    );
    let keys: Vec<String> = plan.engines.iter().map(|e| e.key.clone()).collect();
    let mut done = Finished {
        doctor: super::finish::survey(settings, &keys, crate::doctor::Mode::Cli, &mut session)
            .await,
        ..Finished::default()
    };
    let mut bandwidth = None;

    // Bring-up of every engine first: one that cannot run is left out before anything is
    // measured.
    let mut prepared = Vec::new();
    for ep in &plan.engines {
        let Some(section) = settings.file.engines.get(&ep.key) else {
            continue;
        };
        let kind = Settings::kind_of(&ep.key, section).to_string();
        match climode::prepare(&ep.key, section, &ctx) {
            Ok(mut prep) => {
                let (roof, bw) = super::gpu::cli_roofline(&prep, &mut bandwidth, settings).await;
                match roof {
                    Ok(r) => {
                        session.log(&format!("{}: {}", ep.key, r.describe()));
                        prepared.push((prep, Some(r), bw));
                    }
                    Err(e) => {
                        prep.notes.push(format!("no roofline: {e:#}"));
                        prepared.push((prep, None, bw));
                    }
                }
            }
            Err(e) => {
                let lo = LeftOut::from_error(&ep.key, &kind, ep.named, &e);
                done.leave_out(lo, &progress, &mut session);
            }
        }
    }

    for (mut prep, roof, bw) in prepared {
        // `ollama run` is a client: the model runs in `ollama serve`. Start the server of
        // the config's Ollama entry for this engine's runs (or use one already listening).
        let mut ollama_server = None;
        if let Adapter::Ollama(o) = &mut prep.adapter {
            match climode::start_ollama_server(settings, &session.paths.logging_dir).await {
                Ok(Some((host, server, note))) => {
                    o.host = Some(host);
                    prep.notes.push(note);
                    ollama_server = server;
                }
                Ok(None) => prep.notes.push(
                    "no Ollama entry in `servers`: `ollama serve` must already be running".into(),
                ),
                Err(e) => {
                    let lo = LeftOut::from_error(&prep.key, &prep.kind, true, &e);
                    done.leave_out(lo, &progress, &mut session);
                    continue;
                }
            }
        }
        let mut on_run = |r: &RunRecord| progress.finished(r);
        // Every run's GPU/CPU telemetry goes on its record; the engine's GPU memory is
        // the device delta over its runs.
        let mut sink =
            super::gpu::Telemetered::new(&mut session, crate::measure::telemetry::shared());
        let info = climode::run_engine(
            &mut prep,
            &all_cases,
            settings,
            &template.name,
            roof.as_ref(),
            origin,
            &mut sink,
            &mut on_run,
        )
        .await
        .map(|mut info| {
            info.gpu_memory = Some(sink.gpu_memory());
            info.bandwidth = bw;
            info
        });
        if let Some(server) = ollama_server
            && let Err(e) = server.stop().await
        {
            session.log(&format!("stopping ollama serve: {e:#}"));
        }
        done.engines.push(info?);
    }
    progress.done();
    finish(session, Mode::Cli, settings, started_at, done, &args.output)
}
