//! Runs load steps against one engine server and turns what happened into records and
//! step reports.
//!
//! - **Closed loop**: N tasks; each takes the next request number, sends, waits for the
//!   end of the stream, and goes again. A request's scheduled instant is when its task
//!   became free, so send lag is the client's own overhead.
//! - **Open loop**: one dispatcher sleeps until each seeded arrival instant (a
//!   sub-millisecond timer, see [`crate::timer::sleep_until`]) and spawns the request; the
//!   scheduled instant is the arrival, so a client that falls behind shows as send lag
//!   and as latency "from scheduled" (coordinated omission made visible, not hidden).
//! - **Preconnect** (default; `--no-preconnect` turns it off): before a step's clock
//!   starts, as many connections as requests will be in flight are opened (concurrent
//!   small GETs leave them idle in the pool) and a sample of bare TCP connects is timed
//!   and reported apart. Either way connection set-up is kept out of TTFT: a request's
//!   `sent` is its first byte written (see [`crate::client::http`]).
//! - **Client headroom**: the process's CPU time (getrusage; with `--busy-poll`, less the
//!   time spent spinning idle) over the step's wall time and the send-lag distribution go
//!   into the step report, which flags
//!   `client_bottleneck` (see [`super::report`]).
//!
//! Every step's records and report are handed to a sink as soon as the step ends, so
//! nothing is lost if a later step fails.

use super::precision::{PrecisionRule, Running};
use super::report::{StepExtras, StepReport, step_histograms, step_report};
use super::schedule::{Arrival, LoadSteps, Step};
use crate::client::http::HttpClient;
use crate::client::stream::{apply_error_text_rule, build_spec, execute_until};
use crate::client::{Message, PromptInput, RequestError, RequestSpec, Trace};
use crate::engine::ApiTarget;
use crate::error::UserError;
use crate::results::{Mode, Retries, RunRecord, Sampling};
use anyhow::Context;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// One prompt of the suite, ready to send.
#[derive(Debug, Clone)]
pub struct LoadPrompt {
    pub id: String,
    pub tier: String,
    pub input: PromptInput,
}

/// Counts tokens of generated text when the server reports none (our tokenizer).
pub type TokenCounter = Arc<dyn Fn(&str) -> Option<u64> + Send + Sync>;

/// Called with every record the moment its request ends (warm-up included), from the
/// request's task: the session writes it through to the JSONL, so a step killed half way
/// loses no finished request.
pub type RecordHook = Arc<dyn Fn(&RunRecord) + Send + Sync>;

/// Settings of a load run beyond the flags.
#[derive(Clone)]
pub struct LoadOptions {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Seed of the arrival generator (step i uses seed + i).
    pub seed: u64,
    /// Name of the chat template the prompts were rendered with (recorded per run).
    pub template: String,
    pub count_tokens: Option<TokenCounter>,
    pub on_record: Option<RecordHook>,
    /// Scrape the server's `/metrics` every this often during each step (see
    /// [`crate::scrape`]); `None`: not at all.
    pub scrape: Option<Duration>,
    /// Prompt caching is allowed (`inferbench.cache_prompt`); when not, a record whose
    /// engine reports cached prompt tokens is flagged `served_from_prompt_cache`.
    pub cache_prompt: bool,
    /// What a `--workload` adds (per-request lengths, a trace's arrivals, sessions).
    pub workload: Option<WorkloadRun>,
    /// The engine's process, when we started it: once it exits, nothing more is sent,
    /// its outstanding requests end at once, and the steps stop.
    pub engine: Option<crate::liveness::EngineWatch>,
}

/// Renders a conversation into what a request sends (messages and our rendering).
pub type Renderer = Arc<dyn Fn(&[Message]) -> anyhow::Result<PromptInput> + Send + Sync>;

/// What a `--workload` adds to a load run (see [`crate::workload`]).
#[derive(Clone, Default)]
pub struct WorkloadRun {
    /// Per prompt, in the order of the prompts: the output length asked for and whether
    /// to send `ignore_eos` (see [`sampling_for`]).
    pub lengths: Vec<(Option<u32>, bool)>,
    /// Trace replay: the open-loop arrival offsets from the step's start, used instead of
    /// the generated ones (the same dispatcher, so send lag is measured alike).
    pub schedule: Option<Arc<Vec<Duration>>>,
    /// The steps' label instead of the arrival's (e.g. "trace x1").
    pub label: Option<String>,
    /// Multi-turn sessions, sent by the closed loop's workers.
    pub sessions: Option<SessionRun>,
}

/// Multi-turn sessions: each closed-loop worker holds one session at a time.
#[derive(Clone)]
pub struct SessionRun {
    pub sessions: Arc<Vec<crate::workload::Session>>,
    /// Pause between a session's turns (after the answer, before the next turn is due).
    pub think: Option<Duration>,
    pub render: Renderer,
    /// Recorded as the tier of every turn (the workload's source).
    pub tier: String,
}

/// The sampling of one workload request: its output length (else the settings') and
/// `ignore_eos` when it asks for an exact length. Pure.
pub fn sampling_for(base: &Sampling, max_tokens: Option<u32>, exact: bool) -> Sampling {
    let mut s = base.clone();
    if let Some(n) = max_tokens {
        s.max_tokens = n;
    }
    s.ignore_eos = s.ignore_eos || exact;
    s
}

/// Connections whose bare TCP connect is timed with `--preconnect`.
const CONNECT_SAMPLES: usize = 32;
/// Connects `--preconnect` keeps pending at once.
const PRECONNECT_PARALLEL: usize = 128;
/// How long `--preconnect` waits for one connection.
const PRECONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Run every step of `load` against `target`, cycling through `prompts`. Each record goes
/// to `opts.on_record` as its request ends; after each step, `sink` receives the step's
/// report and (by value, so no copy stays here) its records, warm-up included and marked.
/// Returns the step reports.
pub async fn run_load(
    target: &ApiTarget,
    prompts: &[LoadPrompt],
    sampling: &Sampling,
    load: &LoadSteps,
    opts: &LoadOptions,
    sink: &mut (dyn FnMut(&StepReport, Vec<RunRecord>) -> anyhow::Result<()> + Send),
) -> anyhow::Result<Vec<StepReport>> {
    let steps = &load.steps;
    if steps.is_empty() {
        return Err(UserError::new(
            "no load mode given; add --concurrency N, --rate R or --sweep STEPS",
        )
        .into());
    }
    if prompts.is_empty() {
        return Err(UserError::new("the prompt suite is empty; nothing to send").into());
    }
    let run = LoadRun {
        target,
        sampling,
        load,
        opts,
        http: load_client(steps)?,
        probe: super::watchdog::Probe::new(&target.base_url, target.protocol.is_ndjson()),
        specs: request_specs(target, prompts, sampling, opts),
        scrape: scrape_setup(target, opts.scrape).await,
    };
    let mut reports = Vec::new();
    for step in steps {
        let label = match opts.workload.as_ref().and_then(|w| w.label.clone()) {
            Some(l) => l,
            None => step.label(),
        };
        let (report, records) = run_step(&run, step, &label).await?;
        let died = report.engine_exit.clone();
        sink(&report, records)?;
        reports.push(report);
        if let Some(exit) = died {
            tracing::error!(
                engine = %target.name,
                "the engine's process ended ({}) at {} during step {label}; no further step is run",
                exit.how,
                exit.at
            );
            break;
        }
    }
    Ok(reports)
}

/// What every step of a load run shares.
struct LoadRun<'a> {
    target: &'a ApiTarget,
    sampling: &'a Sampling,
    load: &'a LoadSteps,
    opts: &'a LoadOptions,
    http: HttpClient,
    /// Asks the engine whether it is idle, for the stall watchdog.
    probe: super::watchdog::Probe,
    /// Per prompt: the prompt, its request and its sampling.
    specs: Arc<Vec<(LoadPrompt, RequestSpec, Sampling)>>,
    scrape: Option<ScrapeSetup>,
}

/// The HTTP client of a load run, with connections for its busiest step (and file
/// descriptors for them).
fn load_client(steps: &[Step]) -> anyhow::Result<HttpClient> {
    let max_in_flight = steps.iter().map(connections_for).max().unwrap_or(1);
    ensure_fd_limit(max_in_flight)?;
    // A closed loop never has more requests in flight than its concurrency: it gets as
    // many connections, never more (see `Connector`: a server with a thread per
    // connection leaves a request on an extra one unread).
    let closed = steps
        .iter()
        .all(|s| matches!(s.arrival, Arrival::Closed { .. }));
    if closed {
        HttpClient::capped(max_in_flight)
    } else {
        HttpClient::new(max_in_flight)
    }
    .context("building the HTTP client")
}

/// Every prompt's request, with its sampling (a workload's length, else the settings').
fn request_specs(
    target: &ApiTarget,
    prompts: &[LoadPrompt],
    sampling: &Sampling,
    opts: &LoadOptions,
) -> Arc<Vec<(LoadPrompt, RequestSpec, Sampling)>> {
    let lengths = opts.workload.as_ref().map(|w| w.lengths.as_slice());
    Arc::new(
        prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let sampling = match lengths.and_then(|l| l.get(i)) {
                    Some(&(n, exact)) => sampling_for(sampling, n, exact),
                    None => sampling.clone(),
                };
                let spec = build_spec(target, &p.input, &sampling, true, opts.timeout);
                (p.clone(), spec, sampling)
            })
            .collect(),
    )
}

/// One load step: connections opened, its clock started (at `--start-at` if given), its
/// requests sent and watched, the client's CPU and the server's metrics sampled. Returns
/// its report and its records in the order they were sent.
async fn run_step(
    run: &LoadRun<'_>,
    step: &Step,
    label: &str,
) -> anyhow::Result<(StepReport, Vec<RunRecord>)> {
    let (target, opts) = (run.target, run.opts);
    tracing::info!(engine = %target.name, step = %label, "load step");
    let connect_ms = if run.load.preconnect {
        preconnect(&run.http, target, connections_for(step)).await?
    } else {
        Vec::new()
    };
    // --start-at: the step's clock starts at the shared instant, not before.
    let start_late_ms = match step.not_before_unix_ns {
        Some(at) => Some(wait_until_unix_ns(at).await),
        None => None,
    };
    let ctx = Arc::new(Ctx {
        target: target.clone(),
        sampling: run.sampling.clone(),
        opts: opts.clone(),
        label: label.to_string(),
        warmup: step.warmup,
        shard: step.shard,
        specs: run.specs.clone(),
        origin: Instant::now(),
        wall_origin: chrono::Local::now(),
        watch: run.load.precision.map(Watch::new),
        inflight: Arc::default(),
    });
    let _watchdog =
        super::watchdog::spawn(ctx.inflight.clone(), run.probe.clone(), target.name.clone());
    let sampler = run.scrape.as_ref().map(|s| s.start(ctx.origin));
    let cpu0 = cpu_seconds();
    let idle0 = crate::timer::idle_spin();
    let t0 = Instant::now();
    let mut records = match step.arrival {
        Arrival::Closed { concurrency } => {
            match opts.workload.as_ref().and_then(|w| w.sessions.clone()) {
                Some(sessions) => session_loop(&ctx, step, concurrency, &run.http, sessions).await,
                None => closed_loop(&ctx, step, concurrency, &run.http).await,
            }
        }
        Arrival::Open { .. } => open_loop(&ctx, step, &run.http).await,
    };
    let wall_s = t0.elapsed().as_secs_f64();
    let server_metrics = match sampler {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    // With --busy-poll, time spent spinning idle is not work.
    let idle_s = (crate::timer::idle_spin() - idle0).as_secs_f64();
    let cpu_s = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) => Some((b - a - idle_s).max(0.0)),
        _ => None,
    };
    records.sort_by(|a, b| {
        let sent = |r: &RunRecord| r.timeline.as_ref().map(|t| t.sent_ms).unwrap_or(0.0);
        sent(a).total_cmp(&sent(b))
    });
    let extras = StepExtras {
        cpu_s,
        wall_s: Some(wall_s),
        cores_available: tokio::runtime::Handle::current().metrics().num_workers(),
        connect_ms,
        slo: run.load.slo,
    };
    let mut report = step_report(
        &target.name,
        label,
        step.index,
        step.arrival,
        &records,
        &extras,
    );
    report.server_metrics = server_metrics;
    complete_report(&mut report, &ctx, step, &records, start_late_ms);
    Ok((report, records))
}

/// What a step's report holds beyond its records' statistics: the precision reached
/// (`--target-ci`), how the engine's process ended if it died, and the worker's facts
/// for a later merge.
fn complete_report(
    report: &mut StepReport,
    ctx: &Ctx,
    step: &Step,
    records: &[RunRecord],
    start_late_ms: Option<f64>,
) {
    if let Some(w) = &ctx.watch {
        let values: Vec<f64> = records
            .iter()
            .filter(|r| r.ok && !r.warmup)
            .filter_map(|r| w.rule.metric.of(r))
            .collect();
        report.precision = Some(super::precision::report(&values, &w.rule, w.met()));
    }
    report.engine_exit = ctx.opts.engine.as_ref().and_then(|w| w.exited()).cloned();
    let origin_utc = ctx.wall_origin.with_timezone(&chrono::Utc);
    report.worker = Some(crate::results::WorkerStep {
        shard: step.shard,
        // The caller, which knows the configuration and the whole plan, fills these.
        config_hash: String::new(),
        workload_hash: String::new(),
        whole_step: ctx.label.clone(),
        whole_arrival: step.arrival,
        start_at: None,
        origin_unix_ns: origin_utc.timestamp_nanos_opt().unwrap_or(0),
        origin_utc: origin_utc.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        start_late_ms,
        good: report.goodput.as_ref().map(|g| g.good),
        histograms: step_histograms(records),
    });
}

/// What a load run scrapes, decided once before its first step.
enum ScrapeSetup {
    On {
        client: reqwest::Client,
        at: crate::scrape::Endpoints,
        interval: Duration,
    },
    /// Nothing to scrape, and why (every step's report says it).
    Off { interval: Duration, note: String },
}

impl ScrapeSetup {
    fn start(&self, origin: Instant) -> StepScrape {
        match self {
            ScrapeSetup::On {
                client,
                at,
                interval,
            } => StepScrape::Running(crate::scrape::Sampler::start(
                client.clone(),
                at.clone(),
                *interval,
                origin,
            )),
            ScrapeSetup::Off { interval, note } => StepScrape::Off(crate::results::ServerMetrics {
                interval_s: interval.as_secs_f64(),
                note: Some(note.clone()),
                ..Default::default()
            }),
        }
    }
}

enum StepScrape {
    Running(crate::scrape::Sampler),
    Off(crate::results::ServerMetrics),
}

impl StepScrape {
    async fn finish(self) -> crate::results::ServerMetrics {
        match self {
            StepScrape::Running(s) => s.finish().await,
            StepScrape::Off(m) => m,
        }
    }
}

/// Probe the target's `/metrics` once (and llama-server's `/slots`).
async fn scrape_setup(target: &ApiTarget, interval: Option<Duration>) -> Option<ScrapeSetup> {
    let interval = interval?;
    let off = |note: String| {
        tracing::info!(engine = %target.name, "server metrics: {note}");
        Some(ScrapeSetup::Off { interval, note })
    };
    let client = match crate::scrape::client(interval) {
        Ok(c) => c,
        Err(e) => return off(format!("{e:#}")),
    };
    let slots = target.kind == crate::engine::EngineKind::LlamaCpp;
    match crate::scrape::probe(&client, &target.base_url, slots).await {
        crate::scrape::Probe::Available(at) => Some(ScrapeSetup::On {
            client,
            at,
            interval,
        }),
        crate::scrape::Probe::Unavailable(note) => off(note),
    }
}

/// Sleep until the wall-clock instant `at` (unix ns); how late the wake-up was, ms
/// (negative never: an instant already past returns at once with how long ago it was).
async fn wait_until_unix_ns(at: i64) -> f64 {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(at);
    if at > now {
        let wait = Duration::from_nanos((at - now) as u64);
        crate::timer::sleep_until(Instant::now() + wait).await;
    }
    let woke = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(at);
    (woke - at) as f64 / 1e6
}

/// Requests in flight a step needs connections for.
fn connections_for(step: &Step) -> usize {
    match step.arrival {
        Arrival::Closed { concurrency } => concurrency as usize,
        // About one second of arrivals; an open loop can exceed it when the server slows.
        Arrival::Open { rate, .. } => (rate.ceil() as usize).clamp(1, 4096),
    }
}

/// Raise the open-files limit and check that `needed` sockets fit under it.
fn ensure_fd_limit(needed: usize) -> anyhow::Result<()> {
    crate::mock::raise_fd_limit();
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit};
        if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let want = needed as u64 + 64;
            if soft < want {
                return Err(UserError::new(format!(
                    "the open-files limit ({soft}) is below the {want} sockets this load needs; raise it (ulimit -n {want}) or lower --concurrency/--rate"
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        let u = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        Some(secs(u.user_time()) + secs(u.system_time()))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Open `n` connections into the client's pool and time a sample of bare TCP connects.
async fn preconnect(http: &HttpClient, target: &ApiTarget, n: usize) -> anyhow::Result<Vec<f64>> {
    let url = reqwest::Url::parse(&target.base_url)
        .with_context(|| format!("base URL {:?}", target.base_url))?;
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let mut connect_ms = Vec::new();
    for _ in 0..n.min(CONNECT_SAMPLES) {
        let t = Instant::now();
        match tokio::net::TcpStream::connect((host.as_str(), port)).await {
            Ok(s) => {
                connect_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                drop(s);
            }
            Err(e) => {
                return Err(UserError::new(format!(
                    "could not connect to {host}:{port} before the load step: {e}; is the server running?"
                ))
                .into());
            }
        }
    }
    // Small GETs, each holding its response (and so its connection) until all have one:
    // only then is every one of the n connections distinct and open. At most
    // PRECONNECT_PARALLEL connects are pending at a time, so that a server slow to
    // accept does not overflow its listen queue. Bodies are drained afterwards so the
    // connections go back to the pool idle. Any status will do.
    let probe = if target.protocol.is_ndjson() {
        format!("{}/api/version", target.base_url)
    } else {
        format!("{}/v1/models", target.base_url)
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(PRECONNECT_PARALLEL));
    let all_open = Arc::new(tokio::sync::Barrier::new(n));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (http, probe, gate, all_open) =
            (http.clone(), probe.clone(), gate.clone(), all_open.clone());
        set.spawn(async move {
            let response = tokio::time::timeout(PRECONNECT_TIMEOUT, async {
                let _permit = gate.acquire().await.ok()?;
                http.send(http::Method::GET, &probe, &[], bytes::Bytes::new())
                    .await
                    .ok()
            })
            .await
            .ok()
            .flatten();
            all_open.wait().await;
            match response {
                Some(r) => r.response.into_body().collect().await.is_ok(),
                None => false,
            }
        });
    }
    let mut opened = 0;
    while let Some(done) = set.join_next().await {
        opened += usize::from(matches!(done, Ok(true)));
    }
    if opened < n {
        tracing::warn!("opened {opened} of {n} connections before the load step");
    }
    Ok(connect_ms)
}

/// `--target-ci` during one step: the watched metric's running mean and variance over
/// measured, successful requests, and whether the rule was met (then no more are sent).
struct Watch {
    rule: PrecisionRule,
    running: std::sync::Mutex<Running>,
    met: std::sync::atomic::AtomicBool,
}

impl Watch {
    fn new(rule: PrecisionRule) -> Watch {
        Watch {
            rule,
            running: std::sync::Mutex::new(Running::default()),
            met: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn add(&self, r: &RunRecord) {
        if r.warmup || !r.ok {
            return;
        }
        let Some(v) = self.rule.metric.of(r) else {
            return;
        };
        if let Ok(mut run) = self.running.lock() {
            run.push(v);
            if run.met(&self.rule) {
                self.met.store(true, Ordering::Relaxed);
            }
        }
    }

    fn met(&self) -> bool {
        self.met.load(Ordering::Relaxed)
    }
}

/// What every request task of a step shares.
struct Ctx {
    target: ApiTarget,
    sampling: Sampling,
    opts: LoadOptions,
    label: String,
    warmup: u64,
    /// `--shard`: local request k is global request k·N + I.
    shard: Option<crate::results::Shard>,
    specs: Arc<Vec<(LoadPrompt, RequestSpec, Sampling)>>,
    /// The step's clock: every instant is an offset from here.
    origin: Instant,
    wall_origin: chrono::DateTime<chrono::Local>,
    /// `--target-ci`: the running interval of the watched metric.
    watch: Option<Watch>,
    /// The step's requests in flight, watched for a stall ([`super::watchdog`]).
    inflight: Arc<super::watchdog::Inflight>,
}

impl Ctx {
    /// The whole schedule's number of this worker's request `local`.
    fn global(&self, local: u64) -> u64 {
        self.shard.map_or(local, |s| s.global(local))
    }

    /// Send this worker's request number `idx` meant for `scheduled`, and record it. The
    /// prompt and the recorded run index follow the whole schedule's number.
    async fn send(&self, http: &HttpClient, idx: u64, scheduled: Instant) -> RunRecord {
        let global = self.global(idx);
        let (prompt, spec, sampling) = &self.specs[(global % self.specs.len() as u64) as usize];
        let trace = self.attempt(http, spec, scheduled).await;
        self.deliver(prompt, sampling, idx, trace)
    }

    /// Send one request and apply the engine's error-text rule to what came back. It
    /// ends early when the watchdog finds it stalled or the engine's process exits. A
    /// request the watchdog found unwritten on its connection while the engine sat idle
    /// (it never reached the engine) is sent once more, on a new connection, and the
    /// retry is recorded; its wait shows as send lag, never as TTFT.
    async fn attempt(&self, http: &HttpClient, spec: &RequestSpec, scheduled: Instant) -> Trace {
        let first = self.inflight.register();
        let mut trace = self.attempt_once(http, spec, scheduled, first).await;
        if let Some(e @ RequestError::NotSent(_)) = &trace.error {
            let first_error = e.to_string();
            tracing::warn!("sending again on a new connection: {first_error}");
            let mut again = spec.clone();
            again.timeout = spec.timeout.saturating_sub(scheduled.elapsed());
            let ticket = self.inflight.register_retry();
            trace = self
                .attempt_once(&http.fresh_only(), &again, scheduled, ticket)
                .await;
            trace.retries = Some(Retries {
                count: 1 + trace.retries.as_ref().map_or(0, |r| r.count),
                first_error,
            });
        }
        // A failure its death would explain: look at the process before anything more is
        // sent (the poll alone leaves a tenth of a second of refused requests).
        if let Some(w) = &self.opts.engine {
            w.look_after(trace.error.as_ref()).await;
        }
        if trace.error.is_none() {
            self.inflight
                .note_healthy(super::watchdog::longest_silence(&trace.timeline));
        }
        if self.target.error_text_is_failure {
            apply_error_text_rule(&mut trace);
        }
        trace
    }

    /// One attempt of a request under `ticket`, ended early by the watchdog's verdict or
    /// the engine's death.
    async fn attempt_once(
        &self,
        http: &HttpClient,
        spec: &RequestSpec,
        scheduled: Instant,
        mut ticket: super::watchdog::Ticket,
    ) -> Trace {
        let activity = ticket.activity.clone();
        let engine = self.opts.engine.clone();
        let stop = async {
            match &engine {
                Some(w) => tokio::select! {
                    e = ticket.verdict() => e,
                    e = w.died_error() => e,
                },
                None => ticket.verdict().await,
            }
        };
        execute_until(http, spec, self.origin, scheduled, &activity, stop).await
    }

    /// Record this worker's request `idx` (the run index is the whole schedule's number)
    /// and hand the record to the hook and the precision watch.
    fn deliver(
        &self,
        prompt: &LoadPrompt,
        sampling: &Sampling,
        idx: u64,
        trace: Trace,
    ) -> RunRecord {
        let record = self.record(prompt, sampling, idx, self.global(idx), trace);
        if let Some(hook) = &self.opts.on_record {
            hook(&record);
        }
        if let Some(w) = &self.watch {
            w.add(&record);
        }
        record
    }

    /// Send no more requests in this step: `--target-ci` was met, or the engine's
    /// process exited.
    fn enough(&self) -> bool {
        self.watch.as_ref().is_some_and(|w| w.met()) || self.engine_gone()
    }

    fn engine_gone(&self) -> bool {
        self.opts
            .engine
            .as_ref()
            .is_some_and(|w| w.exited().is_some())
    }

    fn record(
        &self,
        prompt: &LoadPrompt,
        sampling: &Sampling,
        idx: u64,
        global: u64,
        trace: Trace,
    ) -> RunRecord {
        let mut r = RunRecord::new(
            &self.target.name,
            Mode::Api,
            &self.target.endpoint,
            &prompt.id,
            &prompt.tier,
            u32::try_from(global).unwrap_or(u32::MAX),
            sampling.clone(),
            &self.opts.template,
        );
        r.warmup = idx < self.warmup;
        r.load_step = Some(self.label.clone());
        let sent = chrono::Duration::from_std(trace.timeline.sent).unwrap_or_default();
        r.started_at = (self.wall_origin + sent).to_rfc3339();
        fill_record(&mut r, trace, self.opts.count_tokens.as_ref());
        let applied = crate::engines::api_sampling_applied(self.target.kind, sampling);
        crate::record::api_checks(&mut r, &self.target, applied, self.opts.cache_prompt);
        if self.opts.workload.is_some() {
            r.workload_item = Some(prompt.id.clone());
        }
        r
    }
}

/// Fill a record's measurements from a trace. Under load our tokenizer runs only when the
/// server reported no count (tokenizing every response would load the client).
pub fn fill_record(r: &mut RunRecord, trace: Trace, count_tokens: Option<&TokenCounter>) {
    let usage = trace.usage.unwrap_or_default();
    let engine_tokens = trace.engine_report.as_ref().and_then(|e| e.decode_tokens);
    let tokenizer = match (usage.completion_tokens, engine_tokens, count_tokens) {
        (None, None, Some(count)) if !trace.text.is_empty() => count(&trace.text),
        _ => None,
    };
    crate::record::fill_from_trace(r, trace, tokenizer);
    // Thousands of records stay in memory until the results document is written.
    r.output_text.shrink_to_fit();
}

/// The instant the first measured request was scheduled, shared by a step's tasks.
struct MeasureStart(OnceLock<Instant>);

impl MeasureStart {
    fn since(&self, now: Instant) -> Option<Duration> {
        self.0.get().map(|s| now.saturating_duration_since(*s))
    }
}

async fn closed_loop(
    ctx: &Arc<Ctx>,
    step: &Step,
    concurrency: u32,
    http: &HttpClient,
) -> Vec<RunRecord> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Arc::new(MeasureStart(OnceLock::new()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (ctx, next, start, http, step) = (
            ctx.clone(),
            next.clone(),
            start.clone(),
            http.clone(),
            step.clone(),
        );
        set.spawn(async move {
            let mut out = Vec::new();
            loop {
                // Free now: this is when the next request is due.
                let scheduled = Instant::now();
                let idx = next.fetch_add(1, Ordering::Relaxed);
                if idx == step.warmup {
                    let _ = start.0.set(scheduled);
                }
                if !step.may_send(idx, start.since(scheduled)) || ctx.enough() {
                    break;
                }
                out.push(ctx.send(&http, idx, scheduled).await);
            }
            out
        });
    }
    let mut records = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(mut v) => records.append(&mut v),
            Err(e) => tracing::error!("a load worker failed: {e}"),
        }
    }
    records
}

/// Multi-turn sessions (`--workload multiturn:...`, `sharegpt:FILE,turns=all`):
/// `concurrency` virtual users; each takes the next session (from the start again when
/// all were taken) and sends its turns in order, turn k+1 with the history and the
/// engine's real answer to turn k, after the think time. A turn is due (its scheduled
/// instant) when its think time is over. Requests are numbered across users in the order
/// they are sent, and the step's bounds apply to that number. A failed turn ends its
/// session (the history would lack an answer); the user goes on with the next.
async fn session_loop(
    ctx: &Arc<Ctx>,
    step: &Step,
    concurrency: u32,
    http: &HttpClient,
    run: SessionRun,
) -> Vec<RunRecord> {
    use crate::workload::multiturn::{answered, history_with};
    let next_request = Arc::new(AtomicU64::new(0));
    let next_session = Arc::new(AtomicU64::new(0));
    let start = Arc::new(MeasureStart(OnceLock::new()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (ctx, next_request, next_session, start, http, step, run) = (
            ctx.clone(),
            next_request.clone(),
            next_session.clone(),
            start.clone(),
            http.clone(),
            step.clone(),
            run.clone(),
        );
        set.spawn(async move {
            let mut out = Vec::new();
            if run.sessions.is_empty() {
                return out;
            }
            'user: loop {
                // Sharded: this worker's n-th session is the whole schedule's global(n), so
                // workers hold disjoint sessions, as they hold disjoint requests.
                let n = ctx.global(next_session.fetch_add(1, Ordering::Relaxed));
                let session = &run.sessions[(n % run.sessions.len() as u64) as usize];
                let mut history = Vec::new();
                for (k, turn) in session.turns.iter().enumerate() {
                    if k > 0
                        && let Some(t) = run.think
                    {
                        tokio::time::sleep(t).await;
                    }
                    let scheduled = Instant::now();
                    let idx = next_request.fetch_add(1, Ordering::Relaxed);
                    if idx == step.warmup {
                        let _ = start.0.set(scheduled);
                    }
                    if !step.may_send(idx, start.since(scheduled)) || ctx.enough() {
                        break 'user;
                    }
                    let messages = history_with(&history, turn);
                    let input = match (run.render)(&messages) {
                        Ok(i) => i,
                        Err(e) => {
                            tracing::error!("rendering turn {k} of {}: {e:#}", session.id);
                            break 'user;
                        }
                    };
                    let sampling = sampling_for(&ctx.sampling, turn.max_tokens, turn.exact_output);
                    let prompt = LoadPrompt {
                        id: format!("{}/t{k}", session.id),
                        tier: run.tier.clone(),
                        input,
                    };
                    let spec = build_spec(
                        &ctx.target,
                        &prompt.input,
                        &sampling,
                        true,
                        ctx.opts.timeout,
                    );
                    let trace = ctx.attempt(&http, &spec, scheduled).await;
                    let answer = trace.text.clone();
                    let record = ctx.deliver(&prompt, &sampling, idx, trace);
                    let ok = record.ok;
                    out.push(record);
                    if !ok {
                        continue 'user;
                    }
                    history = answered(messages, &answer);
                }
            }
            out
        });
    }
    let mut records = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(mut v) => records.append(&mut v),
            Err(e) => tracing::error!("a session worker failed: {e}"),
        }
    }
    records
}

/// The arrival offsets of an open-loop step: a replayed trace's, else the seeded ones.
fn arrivals_of(ctx: &Ctx, step: &Step) -> Option<Box<dyn Iterator<Item = Duration> + Send>> {
    match ctx.opts.workload.as_ref().and_then(|w| w.schedule.clone()) {
        Some(offsets) => Some(Box::new((0..offsets.len()).map(move |i| offsets[i]))),
        None => step
            .open_arrivals()
            .map(|a| Box::new(a) as Box<dyn Iterator<Item = Duration> + Send>),
    }
}

async fn open_loop(ctx: &Arc<Ctx>, step: &Step, http: &HttpClient) -> Vec<RunRecord> {
    let Some(arrivals) = arrivals_of(ctx, step) else {
        return Vec::new();
    };
    let mut set = tokio::task::JoinSet::new();
    let mut records = Vec::new();
    let mut measure_offset: Option<Duration> = None;
    // Sharded: the whole sequence is drawn (same seed), this worker's numbers are sent.
    let own = arrivals
        .enumerate()
        .filter(|(g, _)| ctx.shard.is_none_or(|s| s.owns(*g as u64)))
        .map(|(_, offset)| offset);
    for (idx, offset) in (0u64..).zip(own) {
        if idx == step.warmup {
            measure_offset = Some(offset);
        }
        let since = measure_offset.map(|m| offset.saturating_sub(m));
        if !step.may_send(idx, since) || ctx.enough() {
            break;
        }
        let at = ctx.origin + offset;
        crate::timer::sleep_until(at).await;
        let (ctx2, http) = (ctx.clone(), http.clone());
        set.spawn(async move { ctx2.send(&http, idx, at).await });
        // Collect what has finished, so memory does not grow with the step's length.
        while let Some(done) = set.try_join_next() {
            if let Ok(r) = done {
                records.push(r);
            }
        }
    }
    while let Some(done) = set.join_next().await {
        match done {
            Ok(r) => records.push(r),
            Err(e) => tracing::error!("a load request task failed: {e}"),
        }
    }
    records
}
