//! `api --starts N`: N starts of each engine we start, each split into phases (spawn →
//! load begins → weights read → on the device → ready → first token) from our clock and
//! the engine's own log lines, with the model file's page-cache residency before and
//! after. The first start is made cold where the host allows it (the model file's pages
//! dropped with `posix_fadvise(POSIX_FADV_DONTNEED)`, no root needed); otherwise the
//! results say why not. After each start one request (the suite's first prompt) is sent
//! at once: its record is an ordinary run (run index = start − 1), and its time to first
//! token closes the start's timeline. No fairness check runs in between: the request
//! right after the start is what is measured.
//!
//! The math is [`crate::measure::startup`], the log lines each engine's `start_mark` ([`crate::engines::start_marks`]),
//! the page cache [`crate::host::pagecache`].

use super::Inputs;
use super::bringup::LeftOut;
use super::finish::{Finished, finish};
use super::plan::{EnginePlan, Plan, Schedule, Source};
use crate::cli::ApiArgs;
use crate::config::Settings;
use crate::engine::EngineKind;
use crate::error::UserError;
use crate::host::pagecache;
use crate::measure::startup::{self, MarkKind};
use crate::output::Session;
use crate::results::{
    ColdStart, EngineInfo, Mode, PageCache, StartMark, StartPhase, StartRun, StartsReport,
};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `--starts` applies to engines we start, one request at a time: refuse (exit 2) a
/// plan it cannot measure.
pub fn check(plan: &Plan) -> anyhow::Result<()> {
    if !matches!(plan.schedule, Schedule::Sequential | Schedule::Interleaved) {
        return Err(UserError::new(
            "--starts measures starts, one request after each: it takes no load mode \
             (--concurrency, --rate, --sweep, --find)",
        )
        .into());
    }
    if plan
        .engines
        .iter()
        .any(|e| matches!(e.source, Source::External { .. }))
    {
        return Err(UserError::new(
            "--starts starts the engines itself: it cannot start a server given with --url",
        )
        .into());
    }
    Ok(())
}

/// Run `n` starts of every planned engine; write the results; the exit code.
pub async fn run(
    plan: &Plan,
    settings: &Settings,
    inputs: &Inputs,
    args: &ApiArgs,
    n: u32,
) -> anyhow::Result<i32> {
    check(plan)?;
    let started_at = chrono::Local::now().to_rfc3339();
    let mut session = Session::create(
        &args.output.out_dir,
        Mode::Api,
        n,
        &crate::output::stamp_now(),
    )?;
    inputs.log_to(&mut session, settings, "api --starts");
    let progress = super::progress::Progress::new(0, args.output.quiet);
    let http = crate::client::stream::http_client(4).context("building the HTTP client")?;
    let mut done = Finished {
        tokenizer: Some(inputs.tokenizer.clone()),
        ..Finished::default()
    };
    for ep in &plan.engines {
        progress.stage(&format!("{}: {n} starts", ep.key));
        match engine_starts(ep, n, settings, inputs, &http, &mut session).await {
            Ok(info) => {
                if let Some(r) = &info.starts {
                    session.log(&crate::export::starts::console(&info.engine, r));
                }
                done.engines.push(info);
            }
            Err(lo) => done.leave_out(lo, &progress, &mut session),
        }
    }
    progress.done();
    finish(session, Mode::Api, settings, started_at, done, &args.output)
}

/// What one engine's starts share.
struct EngineCtx<'a> {
    key: &'a str,
    kind: EngineKind,
    settings: &'a Settings,
    inputs: &'a Inputs,
    http: &'a crate::client::http::HttpClient,
}

/// `n` starts of one engine. Its first start failing leaves it out; a later one failing
/// is recorded in its [`StartRun`] and the next is tried.
async fn engine_starts(
    ep: &EnginePlan,
    n: u32,
    settings: &Settings,
    inputs: &Inputs,
    http: &crate::client::http::HttpClient,
    session: &mut Session,
) -> Result<EngineInfo, LeftOut> {
    let key = ep.key.as_str();
    let section = crate::server::section(settings, key)
        .map_err(|e| LeftOut::from_error(key, "openai", ep.named, &e))?;
    let ctx = EngineCtx {
        key,
        kind: Settings::kind_of(key, section),
        settings,
        inputs,
        http,
    };
    let mut report = StartsReport {
        asked: n,
        ..Default::default()
    };
    if crate::engines::start_marks(ctx.kind).is_none() {
        report.notes.push(format!(
            "{} logs no start-up lines we read: its phases are ours only (spawn, ready, first token)",
            ctx.kind
        ));
    }
    let mut info: Option<EngineInfo> = None;
    for index in 1..=n {
        let model = model_file(settings, key, ctx.kind);
        if report.model_file.is_none() {
            report.model_file = model.as_ref().map(|p| p.display().to_string());
        }
        if index == 1 {
            report.cold = make_cold(model.as_deref());
            session.log(&format!("{key}: cold start: {}", report.cold.how));
        }
        match one_start(&ctx, index, model.as_deref(), session).await {
            Ok((run, started)) => {
                info.get_or_insert(started);
                report.starts.push(run);
            }
            Err(e) if info.is_none() => {
                let e = e.context(format!("starting engine `{key}`"));
                return Err(LeftOut::from_error(key, ctx.kind.as_str(), ep.named, &e));
            }
            Err(e) => {
                session.log(&format!("{key}: start {index} failed: {e:#}"));
                report.starts.push(StartRun {
                    index,
                    error: Some(format!("{e:#}")),
                    ..Default::default()
                });
            }
        }
    }
    if report.model_file.is_none() {
        report
            .notes
            .push("the engine's model file is not known here: no page-cache residency".into());
    }
    let mut info = info.unwrap_or_default();
    info.notes.push(format!(
        "--starts {n}: no fairness check; each start's first request is the first thing the engine served"
    ));
    info.starts = Some(Box::new(report));
    Ok(info)
}

/// One start: residency before, spawn, ready, one request, residency after, the
/// engine's log read for its marks, stop. The engine is stopped on every path
/// ([`crate::server::RunningEngine`] kills its group when dropped).
async fn one_start(
    ctx: &EngineCtx<'_>,
    index: u32,
    model: Option<&Path>,
    session: &mut Session,
) -> anyhow::Result<(StartRun, EngineInfo)> {
    let cache_before = model.and_then(|m| page_cache(m, session));
    let log_dir = session.paths.logging_dir.clone();
    let running = crate::server::start_for(ctx.settings, ctx.key, &log_dir, None).await?;
    let (spawned, ready) = running.clock().unwrap_or((Instant::now(), Instant::now()));
    let spawn_wall = running.spawned_wall();
    // Run indexes count from 0, as in every other mode: start 1's request is run 0.
    let record = first_request(ctx, &running, index - 1, spawned).await;
    let first_token_ms = record
        .timeline
        .as_ref()
        .and_then(|t| Some(t.sent_ms + t.events_ms.first()?));
    let ttft_ms = record.ttft_ms;
    let error = (!record.ok).then(|| record.error.clone().unwrap_or_else(|| "failed".into()));
    session.record(record)?;
    let cache_after = model.and_then(|m| page_cache(m, session));
    let log_text = running
        .log_path
        .as_deref()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .unwrap_or_default();
    let log_path = running.log_path.as_ref().map(|p| p.display().to_string());
    let info = running.info.clone();
    if let Err(e) = running.stop().await {
        session.log(&format!("stopping {}: {e:#}", ctx.key));
    }
    let log_marks = crate::engines::start_marks(ctx.kind)
        .map(|read| crate::measure::startup::marks(read, &log_text))
        .unwrap_or_default();
    let mut ours = vec![
        (MarkKind::Spawn, 0.0),
        (MarkKind::Ready, ms(ready - spawned)),
    ];
    if let Some(ft) = first_token_ms {
        ours.push((MarkKind::FirstToken, ft));
    }
    let marks = startup::timeline(&ours, startup::anchor(&log_marks, spawn_wall));
    for why in startup::out_of_order(&marks) {
        session.log(&format!("{}: start {index}: out of order: {why}", ctx.key));
    }
    let run = StartRun {
        index,
        cache_before,
        cache_after,
        phases: startup::phases(&marks)
            .into_iter()
            .map(|(from, to, ms)| StartPhase { from, to, ms })
            .collect(),
        marks: marks
            .into_iter()
            .map(|m| StartMark {
                kind: m.kind,
                at_ms: m.at_ms,
                source: if m.line.is_some() {
                    "engine log"
                } else {
                    "inferbench"
                }
                .into(),
                line: m.line,
            })
            .collect(),
        ready_ms: Some(ms(ready - spawned)),
        ttft_ms,
        first_token_ms,
        error,
        log: log_path,
    };
    session.log(&format!(
        "{}: start {index}: ready after {:.0} ms, first token at {} ms after spawn, page cache before {}",
        ctx.key,
        ms(ready - spawned),
        first_token_ms.map_or("–".into(), |f| format!("{f:.0}")),
        run.cache_before
            .as_ref()
            .map_or("unknown".into(), |c| format!(
                "{:.1}% ({})",
                c.resident_share * 100.0,
                c.state
            ))
    ));
    Ok((run, info))
}

/// The suite's first prompt, sent right after the start; its timeline is on the spawn's
/// clock (`origin`).
async fn first_request(
    ctx: &EngineCtx<'_>,
    running: &crate::server::RunningEngine,
    run_index: u32,
    origin: Instant,
) -> crate::results::RunRecord {
    let target = &running.target;
    let sampling = ctx.settings.sampling();
    let Some((p, input)) = ctx.inputs.prompts.first() else {
        let mut r = crate::results::RunRecord::new(
            &target.name,
            Mode::Api,
            &target.endpoint,
            "",
            "",
            run_index,
            sampling,
            &ctx.inputs.template_name,
        );
        r.error = Some("no prompt to send".into());
        return r;
    };
    let timeout = Duration::from_secs_f64(ctx.settings.timeout_seconds);
    let spec = crate::client::stream::build_spec(target, input, &sampling, true, timeout);
    let mut trace = crate::client::stream::execute(ctx.http, &spec, origin, Instant::now()).await;
    if target.error_text_is_failure {
        crate::client::stream::apply_error_text_rule(&mut trace);
    }
    let base = crate::results::RunRecord::new(
        &target.name,
        Mode::Api,
        &target.endpoint,
        &p.id,
        p.tier.as_str(),
        run_index,
        sampling.clone(),
        &ctx.inputs.template_name,
    );
    let checks = crate::record::Checks {
        tolerance_pct: ctx.settings.tolerance_pct,
        roofline: None,
    };
    let mut record = crate::record::record_from_trace(
        base,
        &trace,
        ctx.inputs.tokenizer.count(&trace.text),
        &checks,
    );
    let applied = crate::engines::api_sampling_applied(target.kind, &sampling);
    crate::record::api_checks(&mut record, target, applied, ctx.settings.cache_prompt);
    record
}

/// The file the engine reads its weights from: Ollama's model blob (from its manifest,
/// once the model is registered), else the configured `model_path` when it is a file.
fn model_file(settings: &Settings, key: &str, kind: EngineKind) -> Option<PathBuf> {
    let section = settings.file.servers.get(key)?;
    if kind == EngineKind::Ollama {
        let dir = crate::engines::ollama::server::models_dir(section, settings);
        let name = crate::engines::ollama::server::model_name(section);
        let manifest = crate::engines::ollama::manifest_path(&dir, &name);
        let text = std::fs::read_to_string(manifest).ok()?;
        return crate::engines::ollama::server::model_blob(&dir, &text).filter(|p| p.is_file());
    }
    let path = settings.path_of(section.model_path.as_deref()?);
    path.is_file().then_some(path)
}

/// Drop the model file's pages before the first start, and say whether it worked.
fn make_cold(model: Option<&Path>) -> ColdStart {
    let Some(model) = model else {
        return ColdStart {
            dropped: false,
            how: "not made cold: the engine's model file is not known here (Ollama: not \
                  registered yet)"
                .into(),
        };
    };
    if let Err(e) = pagecache::drop_cached(model) {
        return ColdStart {
            dropped: false,
            how: format!("not made cold: {e:#}"),
        };
    }
    match pagecache::residency(model) {
        Ok(r) if startup::cache_state(r.share()) == "cold" => ColdStart {
            dropped: true,
            how: "posix_fadvise(POSIX_FADV_DONTNEED) on the model file (its clean pages; \
                  /proc/sys/vm/drop_caches is not used: it needs root)"
                .into(),
        },
        Ok(r) => ColdStart {
            dropped: false,
            how: format!(
                "not made cold: after posix_fadvise(POSIX_FADV_DONTNEED) {:.1}% of the model \
                 file is still in the page cache ({})",
                r.share() * 100.0,
                holders(model)
            ),
        },
        Err(e) => ColdStart {
            dropped: false,
            how: format!("dropped, but the page cache could not be read after: {e:#}"),
        },
    }
}

/// Who keeps a file's pages: the processes that map it, or what else may.
fn holders(model: &Path) -> String {
    let by = pagecache::mapped_by(model);
    if by.is_empty() {
        return "no process maps it: the file system keeps its pages".into();
    }
    let list: Vec<String> = by
        .iter()
        .map(|(pid, comm)| format!("pid {pid} {comm}"))
        .collect();
    format!("mapped by a running process: {}", list.join(", "))
}

/// The model file's page-cache state now (`None`, logged, when it cannot be read).
fn page_cache(model: &Path, session: &mut Session) -> Option<PageCache> {
    match pagecache::residency(model) {
        Ok(r) => Some(PageCache {
            resident_share: r.share(),
            resident_bytes: r.resident_bytes(),
            file_bytes: r.file_bytes,
            state: startup::cache_state(r.share()).into(),
        }),
        Err(e) => {
            session.log(&format!("page cache of {}: {e:#}", model.display()));
            None
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
