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

use super::report::{StepExtras, StepReport, step_report};
use super::schedule::{Arrival, Step, parse_slo, plan_steps};
use crate::cli::LoadArgs;
use crate::client::http::HttpClient;
use crate::client::stream::{apply_error_text_rule, build_spec, execute, http_client};
use crate::client::{PromptInput, RequestSpec, Trace};
use crate::engine::ApiTarget;
use crate::error::UserError;
use crate::results::{Mode, RunRecord, Sampling};
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
}

/// Connections whose bare TCP connect is timed with `--preconnect`.
const CONNECT_SAMPLES: usize = 32;
/// Connects `--preconnect` keeps pending at once.
const PRECONNECT_PARALLEL: usize = 128;
/// How long `--preconnect` waits for one connection.
const PRECONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Run every step the load flags ask for against `target`, cycling through `prompts`.
/// After each step, `sink` receives its report and (by value, so no copy stays here) its
/// records, warm-up included and marked.
/// Returns the step reports.
pub async fn run_load(
    target: &ApiTarget,
    prompts: &[LoadPrompt],
    sampling: &Sampling,
    load: &LoadArgs,
    opts: &LoadOptions,
    sink: &mut (dyn FnMut(&StepReport, Vec<RunRecord>) -> anyhow::Result<()> + Send),
) -> anyhow::Result<Vec<StepReport>> {
    let steps = plan_steps(load, opts.seed).map_err(|e| UserError::new(e.to_string()))?;
    if steps.is_empty() {
        return Err(UserError::new(
            "no load mode given; add --concurrency N, --rate R or --sweep STEPS",
        )
        .into());
    }
    if prompts.is_empty() {
        return Err(UserError::new("the prompt suite is empty; nothing to send").into());
    }
    let slo = load
        .slo
        .as_deref()
        .map(parse_slo)
        .transpose()
        .map_err(|e| UserError::new(e.to_string()))?;
    let max_in_flight = steps.iter().map(connections_for).max().unwrap_or(1);
    ensure_fd_limit(max_in_flight)?;
    let http = http_client(max_in_flight).context("building the HTTP client")?;
    let specs: Arc<Vec<(LoadPrompt, RequestSpec)>> = Arc::new(
        prompts
            .iter()
            .map(|p| {
                let spec = build_spec(target, &p.input, sampling, true, opts.timeout);
                (p.clone(), spec)
            })
            .collect(),
    );
    let mut reports = Vec::new();
    for step in &steps {
        let label = step.label();
        tracing::info!(engine = %target.name, step = %label, "load step");
        let connect_ms = if !load.no_preconnect {
            preconnect(&http, target, connections_for(step)).await?
        } else {
            Vec::new()
        };
        let ctx = Arc::new(Ctx {
            target: target.clone(),
            sampling: sampling.clone(),
            opts: opts.clone(),
            label: label.clone(),
            warmup: step.warmup,
            specs: specs.clone(),
            origin: Instant::now(),
            wall_origin: chrono::Local::now(),
        });
        let cpu0 = cpu_seconds();
        let idle0 = crate::timer::idle_spin();
        let t0 = Instant::now();
        let mut records = match step.arrival {
            Arrival::Closed { concurrency } => closed_loop(&ctx, step, concurrency, &http).await,
            Arrival::Open { .. } => open_loop(&ctx, step, &http).await,
        };
        let wall_s = t0.elapsed().as_secs_f64();
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
            slo,
        };
        let report = step_report(
            &target.name,
            &label,
            step.index,
            step.arrival,
            &records,
            &extras,
        );
        sink(&report, records)?;
        reports.push(report);
    }
    Ok(reports)
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

/// What every request task of a step shares.
struct Ctx {
    target: ApiTarget,
    sampling: Sampling,
    opts: LoadOptions,
    label: String,
    warmup: u64,
    specs: Arc<Vec<(LoadPrompt, RequestSpec)>>,
    /// The step's clock: every instant is an offset from here.
    origin: Instant,
    wall_origin: chrono::DateTime<chrono::Local>,
}

impl Ctx {
    /// Send request number `idx` meant for `scheduled`, and record it.
    async fn send(&self, http: &HttpClient, idx: u64, scheduled: Instant) -> RunRecord {
        let (prompt, spec) = &self.specs[(idx % self.specs.len() as u64) as usize];
        let mut trace = execute(http, spec, self.origin, scheduled).await;
        if self.target.error_text_is_failure {
            apply_error_text_rule(&mut trace);
        }
        self.record(prompt, idx, trace)
    }

    fn record(&self, prompt: &LoadPrompt, idx: u64, trace: Trace) -> RunRecord {
        let mut r = RunRecord::new(
            &self.target.name,
            Mode::Api,
            &self.target.endpoint,
            &prompt.id,
            &prompt.tier,
            u32::try_from(idx).unwrap_or(u32::MAX),
            self.sampling.clone(),
            &self.opts.template,
        );
        r.warmup = idx < self.warmup;
        r.load_step = Some(self.label.clone());
        let sent = chrono::Duration::from_std(trace.timeline.sent).unwrap_or_default();
        r.started_at = (self.wall_origin + sent).to_rfc3339();
        fill_record(&mut r, trace, self.opts.count_tokens.as_ref());
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
    crate::runner::fill_from_trace(r, trace, tokenizer);
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
                if !step.may_send(idx, start.since(scheduled)) {
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

async fn open_loop(ctx: &Arc<Ctx>, step: &Step, http: &HttpClient) -> Vec<RunRecord> {
    let Some(arrivals) = step.open_arrivals() else {
        return Vec::new();
    };
    let mut set = tokio::task::JoinSet::new();
    let mut records = Vec::new();
    let mut measure_offset: Option<Duration> = None;
    for (idx, offset) in (0u64..).zip(arrivals) {
        if idx == step.warmup {
            measure_offset = Some(offset);
        }
        let since = measure_offset.map(|m| offset.saturating_sub(m));
        if !step.may_send(idx, since) {
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
