//! The API schedules over engines that are up: sequential, interleaved (A,B,A,B) and load
//! steps. Every record reaches the session's JSONL the moment it is finished. While one
//! engine is measured, the other resident engines are watched: a run during which a
//! neighbour used more than [`NEIGHBOUR_CORES`] of a core is flagged `neighbour_busy`
//! (CLI mode watches its long-lived processes with the same `Neighbours`).

use super::Inputs;
use super::bringup::{Engine, bring_down, bring_up};
use super::finish::{Finished, finish};
use super::plan::{Plan, Schedule, WorkerPlan};
use super::progress::Progress;
use crate::cli::ApiArgs;
use crate::config::Settings;
use crate::load::executor::{LoadOptions, LoadPrompt, RecordHook, TokenCounter, run_load};
use crate::load::input_sweep::InputSweep;
use crate::load::report::StepReport;
use crate::load::schedule::LoadSteps;
use crate::load::search::{Search, SearchPlan};
use crate::output::Session;
use crate::prompt::Prompt;
use crate::record::record_from_trace;
use crate::results::{Flag, InputSweepReport, Mode, RunRecord, Sampling, SearchReport};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A neighbour using more than this many cores during a run disturbs it.
pub const NEIGHBOUR_CORES: f64 = 0.1;
/// Flag kind: another engine on the machine was busy during this run.
pub const NEIGHBOUR_BUSY: &str = "neighbour_busy";
/// How often a load step says how far it is when there is no progress bar.
const LOAD_TICK: Duration = Duration::from_secs(10);

/// Flag kind: a load step asked for more streams than the engine serves at once.
pub const QUEUED_IN_ENGINE: &str = "queued_in_engine";

/// Streams a schedule needs at once: the highest closed-loop concurrency, or about one
/// second of open-loop arrivals; `None` for one request at a time. Pure.
pub fn streams_needed(schedule: &Schedule) -> Option<u32> {
    match schedule {
        Schedule::Load { steps, .. } => steps
            .iter()
            .map(|s| match s.arrival {
                crate::results::Arrival::Closed { concurrency } => concurrency,
                crate::results::Arrival::Open { rate, .. } => rate.ceil().clamp(1.0, 4096.0) as u32,
            })
            .max(),
        _ => None,
    }
}

/// The flag for a step that had more requests in flight than the engine serves at once:
/// the rest waited in the engine's queue, which shows in TTFT. Pure.
pub fn capacity_flag(max_in_flight: u64, capacity: &crate::results::Capacity) -> Option<Flag> {
    (max_in_flight > u64::from(capacity.streams)).then(|| Flag {
        kind: QUEUED_IN_ENGINE.into(),
        message: format!(
            "requests queued inside the engine: up to {} in flight, but it serves {} at once \
             ({}); their wait is in TTFT",
            max_in_flight, capacity.streams, capacity.source
        ),
    })
}

/// The flag for a neighbour that used `cpu_s` CPU seconds during `wall_s` of a run, when
/// that is more than [`NEIGHBOUR_CORES`]. Pure.
pub fn neighbour_flag(neighbour: &str, cpu_s: f64, wall_s: f64) -> Option<Flag> {
    if wall_s <= 0.0 {
        return None;
    }
    let cores = cpu_s / wall_s;
    (cores > NEIGHBOUR_CORES).then(|| Flag {
        kind: NEIGHBOUR_BUSY.into(),
        message: format!(
            "engine `{neighbour}` used {cores:.2} cores during this run ({cpu_s:.2} CPU s in \
             {wall_s:.2} s; more than {NEIGHBOUR_CORES} disturbs the measurement)"
        ),
    })
}

/// CPU time of the other engines' long-lived processes (name, process-tree root), to
/// compare before and after a run: API mode's resident servers, CLI mode's `ollama serve`.
pub(super) struct Neighbours(pub(super) Vec<(String, u32)>);

impl Neighbours {
    fn of(engines: &[Engine], me: usize) -> Neighbours {
        Neighbours(
            engines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != me)
                .filter_map(|(_, e)| e.pid().map(|p| (e.target.name.clone(), p)))
                .collect(),
        )
    }

    pub(super) fn snapshot(&self) -> Vec<Option<f64>> {
        self.0
            .iter()
            .map(|(_, pid)| crate::measure::resources::tree_cpu_seconds(*pid))
            .collect()
    }

    /// CPU seconds each neighbour used since `before` (where both readings exist).
    pub(super) fn used(&self, before: &[Option<f64>]) -> Vec<(&str, f64)> {
        self.0
            .iter()
            .zip(before)
            .zip(self.snapshot())
            .filter_map(|(((name, _), a), b)| Some((name.as_str(), (b? - (*a)?).max(0.0))))
            .collect()
    }

    /// Flags for every neighbour that was busy since `before`, over `wall_s`.
    pub(super) fn flags(&self, before: &[Option<f64>], wall_s: f64) -> Vec<Flag> {
        self.used(before)
            .into_iter()
            .filter_map(|(name, cpu_s)| neighbour_flag(name, cpu_s, wall_s))
            .collect()
    }
}

/// What every measured request shares.
struct Ctx<'a> {
    http: crate::client::http::HttpClient,
    origin: Instant,
    sampling: Sampling,
    timeout: Duration,
    inputs: &'a Inputs,
    progress: &'a Progress,
    /// `--metrics-interval`: how often load steps scrape the server's `/metrics`.
    scrape: Option<Duration>,
    /// Prompt caching allowed (`inferbench.cache_prompt`): when not, a run served from the
    /// engine's prompt cache is flagged.
    cache_prompt: bool,
    /// `--calibrate`: every load step's shape sent again to the synthetic engine.
    calibrate: bool,
}

/// Run the plan's API schedule; write the results; the exit code.
pub async fn run(
    plan: &Plan,
    settings: &Settings,
    inputs: &Inputs,
    args: &ApiArgs,
) -> anyhow::Result<i32> {
    let started_at = chrono::Local::now().to_rfc3339();
    let scrape = crate::scrape::interval_from_flag(
        args.load
            .metrics_interval
            .unwrap_or(crate::scrape::DEFAULT_INTERVAL.as_secs_f64()),
    )?;
    let mut session = Session::create(
        &args.output.out_dir,
        Mode::Api,
        settings.num_runs,
        &crate::output::stamp_now(),
    )?;
    inputs.log_to(&mut session, settings, "api");
    // --no-interleave: the seed's order, each engine started, measured and stopped before
    // the next starts. Otherwise every engine is brought up (and checked) first.
    let one_at_a_time = args.order.no_interleave || plan.engines.len() == 1;
    session.log(&format!(
        "schedule: {}{}",
        plan.schedule.describe(),
        if one_at_a_time {
            "; one engine up at a time"
        } else {
            "; every engine up and checked before any is measured"
        }
    ));
    let per_engine =
        inputs.prompts.len() as u64 * settings.num_runs as u64 + settings.warmup_runs as u64;
    let total = match plan.schedule {
        Schedule::Load { .. } => 0,
        _ => per_engine * plan.engines.len() as u64,
    };
    let progress = Progress::new(total, args.output.quiet);
    let ctx = Ctx {
        http: crate::client::stream::http_client(4).context("building the HTTP client")?,
        origin: Instant::now(),
        sampling: settings.sampling(),
        timeout: Duration::from_secs_f64(settings.timeout_seconds),
        inputs,
        progress: &progress,
        scrape,
        cache_prompt: settings.cache_prompt,
        calibrate: args.load.calibrate,
    };
    let managed: Vec<String> = plan
        .engines
        .iter()
        .filter(|e| matches!(e.source, super::plan::Source::Managed))
        .map(|e| e.key.clone())
        .collect();
    let mut done = Finished {
        workload: inputs.workload.as_ref().map(|w| w.workload.info()),
        tokenizer: Some(inputs.tokenizer.clone()),
        doctor: super::finish::survey(settings, &managed, crate::doctor::Mode::Api, &mut session)
            .await,
        ..Finished::default()
    };
    if let Some(w) = &inputs.workload {
        let info = w.workload.info();
        session.log(&format!(
            "workload {} {:?}, seed {}, {} requests, content hash {}; {}",
            info.source,
            info.params,
            info.seed,
            info.requests,
            info.content_hash,
            info.notes.join("; ")
        ));
    }
    let streams = streams_needed(&plan.schedule);
    if one_at_a_time {
        for ep in &plan.engines {
            progress.stage(&format!("{}: starting and checking", ep.key));
            match bring_up(ep, settings, inputs, &plan.bound, streams, &mut session).await {
                Ok(engine) => {
                    let up = vec![engine];
                    let measured =
                        measure_all(plan, &up, &ctx, settings, &mut session, &mut done).await;
                    for e in up {
                        done.engines.push(bring_down(e, &mut session).await);
                    }
                    done.load.extend(measured?);
                }
                Err(lo) => done.leave_out(lo, &progress, &mut session),
            }
        }
    } else {
        let mut up = Vec::new();
        for ep in &plan.engines {
            progress.stage(&format!("{}: starting and checking", ep.key));
            match bring_up(ep, settings, inputs, &plan.bound, streams, &mut session).await {
                Ok(engine) => up.push(engine),
                Err(lo) => done.leave_out(lo, &progress, &mut session),
            }
        }
        let measured = measure_all(plan, &up, &ctx, settings, &mut session, &mut done).await;
        for e in up {
            done.engines.push(bring_down(e, &mut session).await);
        }
        done.load.extend(measured?);
    }
    progress.done();
    finish(session, Mode::Api, settings, started_at, done, &args.output)
}

/// Measure every engine that is up, in the plan's schedule.
async fn measure_all(
    plan: &Plan,
    up: &[Engine],
    ctx: &Ctx<'_>,
    settings: &Settings,
    session: &mut Session,
    done: &mut Finished,
) -> anyhow::Result<Vec<StepReport>> {
    let schedule = &plan.schedule;
    let inputs = ctx.inputs;
    match schedule {
        Schedule::Load {
            steps,
            slo,
            preconnect,
            search,
            precision,
            input,
        } => {
            let load = LoadSteps {
                steps: steps.clone(),
                slo: *slo,
                preconnect: *preconnect,
                precision: *precision,
            };
            let mut reports = Vec::new();
            for i in 0..up.len() {
                let neighbours = Neighbours::of(up, i);
                let (mut steps, found, swept) = load_engine(
                    &up[i],
                    &neighbours,
                    &load,
                    (search.as_deref(), input.as_deref()),
                    ctx,
                    settings,
                    session,
                )
                .await?;
                done.search.extend(found);
                done.input_sweep
                    .extend(swept.map(|r| (up[i].target.name.clone(), r)));
                for r in &mut steps {
                    mark_worker(r, &plan.worker, settings, &up[i].target.name, inputs);
                }
                reports.extend(steps);
            }
            Ok(reports)
        }
        Schedule::Sequential | Schedule::Interleaved => {
            let neighbours: Vec<Neighbours> =
                (0..up.len()).map(|i| Neighbours::of(up, i)).collect();
            let order = schedule.order(
                up.len(),
                inputs.prompts.len(),
                settings.num_runs,
                settings.warmup_runs,
            );
            for slot in order {
                let (engine, (p, input)) = (&up[slot.engine], &inputs.prompts[slot.prompt]);
                // An engine whose process exited is sent nothing more.
                if engine.exited().is_some() {
                    continue;
                }
                let watch = &neighbours[slot.engine];
                let r = measure_one(engine, watch, ctx, p, input, slot.run, slot.warmup).await;
                session.record(r)?;
            }
            Ok(Vec::new())
        }
    }
}

/// Fill a step report's worker block with what only the plan knows: the shard's whole
/// step, the start instant, and the hashes every worker of one run shares.
fn mark_worker(
    report: &mut StepReport,
    plan: &WorkerPlan,
    settings: &Settings,
    engine: &str,
    inputs: &Inputs,
) {
    let Some(w) = report.worker.as_mut() else {
        return;
    };
    // Values only: where a value came from (flag, env, file) may differ between workers.
    let values: serde_json::Map<String, serde_json::Value> = settings
        .effective_json()
        .get("settings")
        .and_then(|s| s.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.get("value").cloned().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    w.config_hash = crate::merge::fingerprint(&serde_json::json!({
        "settings": values,
        "plan": plan.shared,
        "engine": engine,
        "template": inputs.template_name,
    }));
    // What the step sent: the `--workload` (its content hash) where there is one, else
    // the prompt suite as rendered.
    w.workload_hash = match &inputs.workload {
        Some(wl) => wl.workload.hash.clone(),
        None => {
            let prompts: Vec<serde_json::Value> = inputs
                .prompts
                .iter()
                .map(|(p, input)| serde_json::json!({"id": p.id, "input": input}))
                .collect();
            crate::merge::fingerprint(&serde_json::Value::Array(prompts))
        }
    };
    if let Some((label, arrival)) = plan.whole.get(report.index) {
        w.whole_step = label.clone();
        w.whole_arrival = *arrival;
    }
    w.start_at = plan.start_at.clone();
}

/// The processes of an engine we started (its process tree), whose GPU memory the
/// telemetry attributes to it per device; none for a server given by URL.
fn engine_pids(engine: &Engine) -> Vec<u32> {
    engine
        .pid()
        .map(crate::measure::resources::process_tree)
        .unwrap_or_default()
}

/// One measured (or warm-up) request.
async fn measure_one(
    engine: &Engine,
    neighbours: &Neighbours,
    ctx: &Ctx<'_>,
    p: &Prompt,
    input: &crate::client::PromptInput,
    run_index: u32,
    warmup: bool,
) -> RunRecord {
    let target = &engine.target;
    ctx.progress.status(&format!(
        "{} {}{}",
        target.name,
        p.id,
        if warmup { " (warm-up)" } else { "" }
    ));
    let spec = crate::client::stream::build_spec(target, input, &ctx.sampling, true, ctx.timeout);
    if let Some(s) = &engine.sampler {
        s.reset_peak();
    }
    let cpu_before = neighbours.snapshot();
    let telemetry = crate::measure::telemetry::shared();
    telemetry.set_engine_pids(&engine_pids(engine));
    let window = telemetry.mark();
    let scheduled = Instant::now();
    let died = async {
        match &engine.watch {
            Some(w) => w.died_error().await,
            None => std::future::pending().await,
        }
    };
    let mut trace = crate::client::stream::execute_until(
        &ctx.http,
        &spec,
        ctx.origin,
        scheduled,
        &crate::client::stream::Activity::default(),
        died,
    )
    .await;
    let wall_s = scheduled.elapsed().as_secs_f64();
    let busy = neighbours.flags(&cpu_before, wall_s);
    if let Some(w) = &engine.watch {
        // A failure its death would explain: look now, before the next run is sent.
        w.look_after(trace.error.as_ref()).await;
    }
    if target.error_text_is_failure {
        crate::client::stream::apply_error_text_rule(&mut trace);
    }
    let mut base = RunRecord::new(
        &target.name,
        Mode::Api,
        &target.endpoint,
        &p.id,
        p.tier.as_str(),
        run_index,
        ctx.sampling.clone(),
        &ctx.inputs.template_name,
    );
    base.warmup = warmup;
    let mut record = record_from_trace(
        base,
        &trace,
        ctx.inputs.tokenizer.count(&trace.text),
        &engine.checks,
    );
    let applied = crate::engines::api_sampling_applied(target.kind, &ctx.sampling);
    crate::record::api_checks(&mut record, target, applied, ctx.cache_prompt);
    record.flags.extend(busy);
    // The window ends here, after the pure record building (microseconds).
    let t = telemetry.window(window, record.output_tokens);
    record.flags.extend(crate::measure::throttle::flag(&t));
    record.telemetry = Some(t);
    if let Some(s) = &engine.sampler {
        record.memory = Some(crate::results::MemoryStats {
            rss_peak_mib: s.peak_mib(),
            rss_after_load_mib: engine.info.rss_after_load_mib,
            gpu_mib: s.gpu_peak_mib(),
        });
    }
    ctx.progress.finished(&record);
    record
}

/// The load steps against one engine: every record written through as it finishes,
/// every step's report logged and printed as it ends. With `--find` the search chooses
/// the steps; with `--sweep input:…` each step runs on its own prompts and the sweep's
/// report comes back too.
async fn load_engine(
    engine: &Engine,
    neighbours: &Neighbours,
    load: &LoadSteps,
    (search, input): (Option<&SearchPlan>, Option<&InputSweep>),
    ctx: &Ctx<'_>,
    settings: &Settings,
    session: &mut Session,
) -> anyhow::Result<(
    Vec<StepReport>,
    Option<SearchReport>,
    Option<InputSweepReport>,
)> {
    let prompts = load_prompts(ctx.inputs);
    let counts = LoadCounts::default();
    let opts = load_options(engine, ctx, settings, session, &counts);
    session.log(&format!(
        "load run against {} ({}), template {}",
        engine.target.url(),
        engine.target.name,
        ctx.inputs.template_name
    ));
    let ticker = spawn_ticker(ctx.progress, &counts, &engine.target.name);
    let progress = ctx.progress;
    let mut step_cpu = neighbours.snapshot();
    let mut step_t0 = Instant::now();
    let mut busy: Vec<Vec<Flag>> = Vec::new();
    let telemetry = crate::measure::telemetry::shared();
    telemetry.set_engine_pids(&engine_pids(engine));
    let mut step_window = telemetry.mark();
    let mut step_telemetry = Vec::new();
    let mut sink = |report: &StepReport, records: Vec<RunRecord>| -> anyhow::Result<()> {
        for r in records {
            session.adopt(r);
        }
        let flags = neighbours.flags(&step_cpu, step_t0.elapsed().as_secs_f64());
        let line = crate::export::console::step_line(report);
        let extra: String = flags
            .iter()
            .map(|f| format!(" [{}: {}]", f.kind, f.message))
            .collect();
        session.log(&format!("{line}{extra}"));
        progress.println(&format!("{line}{extra}"));
        busy.push(flags);
        step_telemetry.push(telemetry.window(step_window, Some(report.output_tokens)));
        step_window = telemetry.mark();
        step_cpu = neighbours.snapshot();
        step_t0 = Instant::now();
        Ok(())
    };
    let mut swept = None;
    let sweep_prompts = ctx
        .inputs
        .input_sweep
        .as_deref()
        .filter(|_| input.is_some());
    let result = match (search, sweep_prompts) {
        (None, Some(prompts)) => {
            super::input_sweep::run_steps(engine, prompts, &ctx.sampling, load, &opts, &mut sink)
                .await
                .map(|(r, records)| {
                    swept = Some(records);
                    (r, None)
                })
        }
        (None, None) => run_load(
            &engine.target,
            &prompts,
            &ctx.sampling,
            load,
            &opts,
            &mut sink,
        )
        .await
        .map(|r| (r, None)),
        (Some(plan), _) => {
            let mut probe = |line: &str| progress.println(line);
            search_load(
                plan,
                &engine.target,
                &prompts,
                &ctx.sampling,
                load,
                &opts,
                &mut sink,
                &mut probe,
            )
            .await
            .map(|(r, s)| (r, Some(s)))
        }
    };
    if let Some(t) = ticker {
        t.abort();
    }
    let (mut reports, found) = result?;
    if let Some(f) = &found {
        for line in crate::export::console::search_lines(f) {
            session.log(&line);
        }
    }
    annotate_steps(
        engine,
        &mut reports,
        busy,
        step_telemetry,
        progress,
        session,
    );
    if found.is_none() && swept.is_none() {
        let (sampling, full) = (&ctx.sampling, ctx.calibrate);
        let (p, s) = (progress, &mut *session);
        super::calibrate::calibrate_steps(
            engine,
            &mut reports,
            load,
            &prompts,
            sampling,
            &opts,
            full,
            (p, s),
        )
        .await;
    } else if ctx.calibrate {
        let line =
            "--calibrate: not run for a --find search or an input sweep (plain load steps only)";
        session.log(line);
        progress.println(line);
    }
    let swept = match (input, swept) {
        (Some(sweep), Some(records)) => {
            progress.stage(&format!("{}: input sweep report", engine.target.name));
            Some(super::input_sweep::finish(engine, sweep, &records, settings, session).await)
        }
        _ => None,
    };
    Ok((reports, found, swept))
}

/// The prompts of a load run: the workload's, else the prompt suite's.
fn load_prompts(inputs: &Inputs) -> Vec<LoadPrompt> {
    match &inputs.workload {
        Some(w) => w.prompts.clone(),
        None => inputs
            .prompts
            .iter()
            .map(|(p, input)| LoadPrompt {
                id: p.id.clone(),
                tier: p.tier.as_str().to_string(),
                input: input.clone(),
            })
            .collect(),
    }
}

/// Requests of a load run finished so far, and how many of them failed.
#[derive(Default)]
struct LoadCounts {
    finished: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

/// The load executor's options for one engine: every record counted in `counts` and
/// written to the session's JSONL as it finishes.
fn load_options(
    engine: &Engine,
    ctx: &Ctx<'_>,
    settings: &Settings,
    session: &Session,
    counts: &LoadCounts,
) -> LoadOptions {
    let writer = session.record_writer();
    let (f2, x2) = (counts.finished.clone(), counts.failed.clone());
    let on_record: RecordHook = Arc::new(move |r: &RunRecord| {
        f2.fetch_add(1, Ordering::Relaxed);
        if !r.ok {
            x2.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = writer.write(r) {
            tracing::error!("{e:#}");
        }
    });
    let count_tokens: Option<TokenCounter> = ctx.inputs.tokenizer.is_configured().then(|| {
        let t = ctx.inputs.tokenizer.clone();
        Arc::new(move |text: &str| t.count(text)) as TokenCounter
    });
    LoadOptions {
        timeout: Duration::from_secs_f64(settings.timeout_seconds),
        seed: settings.seed,
        template: ctx.inputs.template_name.clone(),
        count_tokens,
        on_record: Some(on_record),
        scrape: ctx.scrape,
        cache_prompt: ctx.cache_prompt,
        workload: ctx.inputs.workload.as_ref().map(|w| w.run.clone()),
        engine: engine.watch.clone(),
    }
}

/// A line every LOAD_TICK saying how far a long step is, where no progress bar shows the
/// count (stdout not a terminal); abort the task it returns when the run ends.
fn spawn_ticker(
    progress: &Progress,
    counts: &LoadCounts,
    name: &str,
) -> Option<tokio::task::JoinHandle<()>> {
    if !matches!(progress, Progress::Lines) {
        return None;
    }
    let (f, x, name) = (
        counts.finished.clone(),
        counts.failed.clone(),
        name.to_string(),
    );
    Some(tokio::spawn(async move {
        let t0 = Instant::now();
        loop {
            tokio::time::sleep(LOAD_TICK).await;
            let line = format!(
                "{name}: {} requests finished ({} failed) after {:.0} s",
                f.load(Ordering::Relaxed),
                x.load(Ordering::Relaxed),
                t0.elapsed().as_secs_f64()
            );
            eprintln!("{line}");
        }
    }))
}

/// What the steps' reports learn after the run: each step's precision (logged and
/// printed), its neighbours' flags, its telemetry window, and a flag where it had more
/// requests in flight than the engine serves at once.
fn annotate_steps(
    engine: &Engine,
    reports: &mut [StepReport],
    busy: Vec<Vec<Flag>>,
    mut step_telemetry: Vec<crate::results::RunTelemetry>,
    progress: &Progress,
    session: &mut Session,
) {
    for r in reports.iter() {
        if let Some(p) = &r.precision {
            let line = format!(
                "{} {}: {}",
                r.engine,
                r.step,
                crate::load::precision::describe(p)
            );
            session.log(&line);
            progress.println(&line);
        }
    }
    for (report, flags) in reports.iter_mut().zip(busy) {
        report.flags.extend(flags);
        if !step_telemetry.is_empty() {
            report.telemetry = Some(step_telemetry.remove(0));
        }
        if let Some(f) = engine
            .info
            .capacity
            .as_ref()
            .and_then(|c| capacity_flag(report.max_in_flight, c))
        {
            let line = format!(
                "{} {}: [{}: {}]",
                report.engine, report.step, f.kind, f.message
            );
            session.log(&line);
            progress.println(&line);
            report.flags.push(f);
        }
    }
}

/// A `--find` search against one engine: probe after probe, each batch a load step of its
/// own (its records and report go to `sink` like any step's), until the search is over.
/// Each decided probe is announced through `say`. Returns every step and the search.
#[allow(clippy::too_many_arguments)]
async fn search_load(
    plan: &SearchPlan,
    target: &crate::engine::ApiTarget,
    prompts: &[LoadPrompt],
    sampling: &Sampling,
    load: &LoadSteps,
    opts: &LoadOptions,
    sink: &mut (dyn FnMut(&StepReport, Vec<RunRecord>) -> anyhow::Result<()> + Send),
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<(Vec<StepReport>, SearchReport)> {
    let mut search = Search::new(plan.cfg.clone());
    let mut reports: Vec<StepReport> = Vec::new();
    say(&format!("{}: {}", target.name, plan.describe()));
    while let Some(run) = search.next_run() {
        let step = plan
            .step(run, reports.len())
            .map_err(|e| crate::error::UserError::new(e.to_string()))?;
        let one = LoadSteps {
            steps: vec![step],
            slo: Some(plan.slo),
            ..load.clone()
        };
        let done = run_load(target, prompts, sampling, &one, opts, sink).await?;
        let (good, total) = done
            .iter()
            .filter_map(|r| r.goodput.as_ref())
            .fold((0, 0), |(g, t), x| (g + x.good, t + x.total));
        let probes_before = search.report(&target.name, plan.slo).probes.len();
        search.observe(good, total);
        let found = search.report(&target.name, plan.slo);
        if let Some(p) = found.probes.get(probes_before) {
            say(&format!(
                "{}: {}",
                target.name,
                crate::export::console::probe_line(&found, p)
            ));
        }
        reports.extend(done);
    }
    let found = search.report(&target.name, plan.slo);
    if let Some(line) = crate::export::console::search_lines(&found).first() {
        say(line);
    }
    Ok((reports, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_beyond_the_engines_slots_is_flagged() {
        let cap = crate::results::Capacity {
            streams: 4,
            source: "llama-server /props total_slots".into(),
            asked: None,
        };
        assert_eq!(capacity_flag(4, &cap), None);
        let f = capacity_flag(32, &cap).expect("flagged");
        assert_eq!(f.kind, QUEUED_IN_ENGINE);
        assert!(
            f.message.starts_with(
                "requests queued inside the engine: up to 32 in flight, but it serves 4"
            ),
            "{}",
            f.message
        );
    }

    #[test]
    fn streams_needed_follow_the_load_steps() {
        use crate::load::schedule::{LoadSpec, plan_steps};
        let load = |spec: LoadSpec| Schedule::Load {
            steps: plan_steps(&spec, 1).expect("steps"),
            slo: None,
            preconnect: true,
            search: None,
            precision: None,
            input: None,
        };
        assert_eq!(streams_needed(&Schedule::Sequential), None);
        let sweep = LoadSpec {
            sweep: Some("1,8,32".into()),
            ..LoadSpec::default()
        };
        assert_eq!(streams_needed(&load(sweep)), Some(32));
        let rate = LoadSpec {
            rate: Some(2.5),
            ..LoadSpec::default()
        };
        assert_eq!(streams_needed(&load(rate)), Some(3));
    }

    #[test]
    fn a_busy_neighbour_is_flagged_an_idle_one_is_not() {
        assert_eq!(neighbour_flag("b", 0.05, 1.0), None);
        assert_eq!(neighbour_flag("b", 0.1, 1.0), None);
        let f = neighbour_flag("b", 0.5, 2.0).expect("flagged");
        assert_eq!(f.kind, NEIGHBOUR_BUSY);
        assert!(
            f.message.starts_with("engine `b` used 0.25 cores"),
            "{}",
            f.message
        );
        assert_eq!(neighbour_flag("b", 1.0, 0.0), None);
    }
}
