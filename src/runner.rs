//! API mode (the seed's api_benchmark.py): for each engine, bring it up (or use the URL
//! given), check fairness, warm up, run every prompt `num_runs` times one request at a
//! time, persist each record before the next request, bring the engine down; then write
//! the summaries and reports.
//!
//! [`record_from_trace`] turns a [`Trace`] into a [`RunRecord`] and is pure: token-count
//! precedence, failure rules and the cross-checks between two clocks and two token
//! counts all live there.

use crate::cli::{ApiArgs, Endpoint};
use crate::client::{PromptInput, Trace};
use crate::config::Settings;
use crate::engine::ApiTarget;
use crate::measure::metrics::{self, TokenSource, choose_token_count};
use crate::measure::roofline::{self, Roofline};
use crate::output::Session;
use crate::prompt::Prompt;
use crate::results::{EngineInfo, Mode, ResultsDoc, RunRecord, TimelineMs};
use anyhow::Context;
use std::time::{Duration, Instant};

/// Checks applied while turning a trace into a record.
#[derive(Debug, Clone)]
pub struct Checks {
    /// Relative tolerance (%) for clock and token-count cross-checks.
    pub tolerance_pct: f64,
    /// Physical decode ceiling for this engine's model and memory system, if known.
    pub roofline: Option<Roofline>,
}

/// Relative difference |a − b| / max(|a|, |b|) in percent.
pub fn rel_diff_pct(a: f64, b: f64) -> f64 {
    let m = a.abs().max(b.abs());
    if m == 0.0 {
        0.0
    } else {
        (a - b).abs() / m * 100.0
    }
}

/// Fill a record's measurements from a trace: text, token counts by the documented
/// precedence (usage, engine report, our tokenizer, content events) with their sources,
/// every metric of [`metrics::compute`], and the outcome. Pure; takes the trace by value
/// so the load executor does not copy texts.
pub fn fill_from_trace(r: &mut RunRecord, trace: Trace, tokenizer_count: Option<u64>) {
    let t = &trace.timeline;
    r.timeline = Some(TimelineMs::from_timeline(t));
    r.content_events = t.content_events.len() as u64;
    r.output_tokens_tokenizer = tokenizer_count;

    let usage_out = trace.usage.and_then(|u| u.completion_tokens);
    let usage_prompt = trace.usage.and_then(|u| u.prompt_tokens);
    let report = trace.engine_report.as_ref();
    let out = choose_token_count(
        usage_out,
        report.and_then(|e| e.decode_tokens),
        tokenizer_count,
        t.content_events.len(),
    );
    let prompt = match (usage_prompt, report.and_then(|e| e.prompt_tokens)) {
        (Some(n), _) => Some((n, TokenSource::Usage)),
        (None, Some(n)) => Some((n, TokenSource::EngineReport)),
        _ => None,
    };
    r.output_tokens = out.map(|c| c.count);
    r.output_tokens_source = out.map(|c| c.source);
    r.prompt_tokens = prompt.map(|p| p.0);
    r.prompt_tokens_source = prompt.map(|p| p.1);

    let m = metrics::compute(t, r.output_tokens, r.prompt_tokens);
    r.ttft_ms = m.ttft_ms;
    r.tpot_ms = m.tpot_ms;
    r.e2e_ms = m.e2e_ms;
    r.icl_ms = m.icl_ms;
    r.decode_tps = m.decode_tps;
    r.e2e_tps = m.e2e_tps;
    r.prefill_tps = m.prefill_tps;
    r.ttft_from_scheduled_ms = m.ttft_from_scheduled_ms;
    r.e2e_from_scheduled_ms = m.e2e_from_scheduled_ms;
    r.send_lag_ms = Some(m.send_lag_ms);
    r.decode_tps_source = m.decode_tps.map(|_| "client_clock".to_string());

    let no_content = t.content_events.is_empty();
    r.finish_reason = trace.finish_reason;
    r.engine_report = trace.engine_report;
    r.output_text = trace.text;
    match trace.error {
        Some(err) => r.fail(err.to_string()),
        None if no_content => r.fail("the response carried no generated text"),
        None => r.ok = true,
    }
}

/// Fill `base` (identity already set) from a trace, then cross-check what has two
/// sources and apply the physical bound. Pure.
pub fn record_from_trace(
    mut r: RunRecord,
    trace: &Trace,
    tokenizer_count: Option<u64>,
    checks: &Checks,
) -> RunRecord {
    fill_from_trace(&mut r, trace.clone(), tokenizer_count);
    if !r.ok {
        return r;
    }
    let usage_out = trace.usage.and_then(|u| u.completion_tokens);
    let report = trace.engine_report.as_ref();

    // Two clocks: our decode rate against the engine's own.
    if let (Some(ours), Some(theirs)) = (r.decode_tps, report.and_then(|e| e.decode_tps)) {
        let d = rel_diff_pct(ours, theirs);
        if d > checks.tolerance_pct {
            r.flag(
                "clock_mismatch",
                format!(
                    "decode {ours:.2} tok/s by our clock vs {theirs:.2} tok/s reported by the engine ({d:.1}% apart)"
                ),
            );
        }
    }
    // Two token counts: the server's against our tokenizer.
    if let (Some(server), Some(ours)) = (usage_out, tokenizer_count) {
        let d = rel_diff_pct(server as f64, ours as f64);
        if d > checks.tolerance_pct && server.abs_diff(ours) > 2 {
            r.flag(
                "token_count_mismatch",
                format!(
                    "server counted {server} output tokens, our tokenizer {ours} ({d:.1}% apart)"
                ),
            );
        }
    }
    // The physical bound: a figure above it is a measurement bug, not a fast engine.
    if let Some(roof) = &checks.roofline {
        roofline::apply(&mut r, roof);
    }
    r
}

/// One engine to benchmark: already running at a URL, or started by us.
enum Planned {
    External(ApiTarget),
    Managed(String),
}

/// Count tokens of a text with an optional tokenizer; a tokenizer error counts as absent.
fn count_tokens(tok: Option<&crate::prompt::tokenizer::TokenCounter>, text: &str) -> Option<u64> {
    tok.and_then(|t| t.count(text).ok())
}

/// The progress bar: runs done, current engine and prompt, latest tok/s.
fn progress(total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// `inferbench api`.
pub async fn run_api(args: ApiArgs) -> anyhow::Result<i32> {
    let mut overrides = args.common.overrides();
    overrides.allow_template_mismatch = args.allow_template_mismatch;
    let mut settings = crate::config::load(
        args.common.config.as_deref(),
        &crate::config::ProcessEnv,
        &overrides,
    )?;
    if let Some(t) = &args.tokenizer {
        settings.tokenizer = Some(t.clone());
    }
    crate::process::install_signal_handlers().context("installing signal handlers")?;

    let (system, prompts) = crate::prompt::suite::suite_for(&settings)?;
    let template = crate::prompt::template::ChatTemplate::resolve(
        &settings.chat_template,
        &settings.base_dir,
    )?;
    let tokenizer = match &settings.tokenizer {
        Some(p) => Some(
            crate::prompt::tokenizer::TokenCounter::from_file(p)
                .with_context(|| format!("loading tokenizer {}", p.display()))?,
        ),
        None => None,
    };
    let inputs: Vec<(Prompt, PromptInput)> = prompts
        .into_iter()
        .map(|p| {
            let input = template.prompt_input(&system, &p.text)?;
            Ok((p, input))
        })
        .collect::<anyhow::Result<_>>()?;

    let planned: Vec<Planned> = match &args.url {
        Some(url) => vec![Planned::External(ApiTarget::openai(
            "openai",
            url,
            args.model.clone(),
            args.endpoint == Endpoint::Chat,
        ))],
        None => settings
            .file
            .servers
            .iter()
            .filter(|(k, s)| settings.selected(k, s))
            .map(|(k, _)| Planned::Managed(k.clone()))
            .collect(),
    };
    if planned.is_empty() {
        return Err(crate::error::UserError::new(
            "no engine selected: enable one in the config's `servers` section, name one with --engines, or give --url",
        )
        .into());
    }

    let stamp = crate::output::stamp_now();
    let started_at = chrono::Local::now().to_rfc3339();
    let mut session = Session::create(&args.output.out_dir, Mode::Api, settings.num_runs, &stamp)?;
    session.log(&format!(
        "inferbench api: effective config\n{}",
        serde_json::to_string_pretty(&settings.effective_json())?
    ));
    session.log(&format!("chat template: {}", template.name));
    for (p, input) in &inputs {
        session.log(&format!(
            "prompt {} ({}), rendered:\n{}",
            p.id,
            p.tier.as_str(),
            input.rendered
        ));
    }

    let per_engine = inputs.len() as u64 * settings.num_runs as u64 + settings.warmup_runs as u64;
    let pb = progress(per_engine * planned.len() as u64, args.output.quiet);
    let ctx = Ctx {
        http: crate::client::stream::http_client(4).context("building the HTTP client")?,
        origin: Instant::now(),
        sampling: settings.sampling(),
        timeout: Duration::from_secs_f64(settings.timeout_seconds),
        template_name: template.name.clone(),
        tokenizer: tokenizer.as_ref(),
        pb: &pb,
    };
    // ABAB: with two or more engines, all are brought up first and each round of runs
    // visits every engine in turn, so drift of the machine (thermal, background load)
    // hits all engines alike. --no-interleave keeps the seed's one-engine-at-a-time order.
    let interleave = planned.len() > 1 && !args.no_interleave;
    session.log(&format!(
        "schedule: {}",
        if interleave {
            "interleaved (ABAB) across engines"
        } else {
            "one engine after another"
        }
    ));
    let mut engines_info: Vec<EngineInfo> = Vec::new();
    let mut skipped: Vec<anyhow::Error> = Vec::new();
    if interleave {
        let mut slots = Vec::new();
        for plan in planned {
            match bring_up(plan, &settings, &mut session, &ctx, &inputs).await {
                Ok(slot) => slots.push(slot),
                Err(e) => {
                    if let Err(e) = skip_missing(e, &settings, &mut skipped, &mut session) {
                        for slot in slots {
                            bring_down(slot, &mut session).await;
                        }
                        return Err(e);
                    }
                }
            }
        }
        if slots.is_empty() && !skipped.is_empty() {
            return Err(skipped.remove(0));
        }
        for (p, input) in &inputs {
            for run_index in 0..settings.num_runs {
                for slot in &slots {
                    let rec = measure(slot, &ctx, p, input, run_index, false).await;
                    session.record(rec)?;
                }
            }
        }
        for slot in slots {
            engines_info.push(bring_down(slot, &mut session).await);
        }
    } else {
        let n_planned = planned.len();
        for plan in planned {
            let slot = match bring_up(plan, &settings, &mut session, &ctx, &inputs).await {
                Ok(slot) => slot,
                Err(e) => {
                    skip_missing(e, &settings, &mut skipped, &mut session)?;
                    continue;
                }
            };
            for (p, input) in &inputs {
                for run_index in 0..settings.num_runs {
                    let rec = measure(&slot, &ctx, p, input, run_index, false).await;
                    session.record(rec)?;
                }
            }
            engines_info.push(bring_down(slot, &mut session).await);
        }
        if engines_info.is_empty() && skipped.len() == n_planned {
            return Err(skipped.remove(0));
        }
    }
    pb.finish_and_clear();
    for e in &skipped {
        eprintln!("warning: skipped an engine that is not installed: {e:#}");
    }
    finish(
        session,
        Mode::Api,
        &settings,
        started_at,
        engines_info,
        &args.output,
    )
}

/// A failed start is skipped when the engine is not installed (binary or model missing)
/// and was enabled by the config rather than named with `--engines`: the error is kept in
/// `skipped`, logged, and reported at the end; when every engine is skipped the first
/// error is the result. Any other failure is returned.
fn skip_missing(
    e: anyhow::Error,
    settings: &Settings,
    skipped: &mut Vec<anyhow::Error>,
    session: &mut Session,
) -> anyhow::Result<()> {
    let missing = e.chain().any(|c| {
        c.downcast_ref::<crate::engine::launch::StartError>()
            .is_some_and(|s| s.is_missing_engine())
    });
    if missing && settings.engine_filter.is_none() {
        session.log(&format!("skipped: {e:#}"));
        skipped.push(e);
        Ok(())
    } else {
        Err(e)
    }
}

/// What every measured request shares.
struct Ctx<'a> {
    http: crate::client::http::HttpClient,
    origin: Instant,
    sampling: crate::results::Sampling,
    timeout: Duration,
    template_name: String,
    tokenizer: Option<&'a crate::prompt::tokenizer::TokenCounter>,
    pb: &'a indicatif::ProgressBar,
}

/// One engine that is up and being measured.
struct Slot {
    target: ApiTarget,
    running: Option<crate::server::RunningEngine>,
    info: EngineInfo,
    checks: Checks,
    sampler: Option<crate::measure::resources::RssSampler>,
}

/// Start the engine (or take the URL), record its load, check fairness, set up memory
/// sampling and the physical ceiling, and run the warm-up requests.
async fn bring_up(
    plan: Planned,
    settings: &Settings,
    session: &mut Session,
    ctx: &Ctx<'_>,
    inputs: &[(Prompt, PromptInput)],
) -> anyhow::Result<Slot> {
    let (target, running) = match plan {
        Planned::External(t) => (t, None),
        Planned::Managed(key) => {
            ctx.pb.set_message(format!("starting {key}"));
            let running = crate::server::start(settings, &key, &session.paths.logging_dir)
                .await
                .with_context(|| format!("starting engine `{key}`"))?;
            (running.target.clone(), Some(running))
        }
    };
    let mut info = running
        .as_ref()
        .map(|r| r.info.clone())
        .unwrap_or_else(|| EngineInfo {
            engine: target.name.clone(),
            kind: target.kind.clone(),
            mode: Some(Mode::Api),
            base_url: Some(target.base_url.clone()),
            notes: vec!["server given with --url; not started by inferbench".into()],
            ..Default::default()
        });
    info.template = Some(ctx.template_name.clone());
    session.log(&format!(
        "engine {} ({}) at {}{}",
        target.name,
        target.kind,
        target.url(),
        info.load_ms
            .map(|l| format!(", ready after {l:.0} ms"))
            .unwrap_or_default()
    ));
    let roofline = match &running {
        Some(_) => engine_roofline(settings, &target.name),
        None => None,
    };
    match &roofline {
        Some(roof) => {
            session.log(&format!("{}: {}", target.name, roof.describe()));
            info.notes.push(roof.describe());
            info.roofline_tps = Some(roof.ceiling_tps);
            info.roofline_tps = Some(roof.ceiling_tps);
        }
        None if running.is_some() => info.notes.push(
            "no physical ceiling: unknown model size or no bandwidth for this device \
             (set inferbench.memory_bandwidth_gbps)"
                .into(),
        ),
        None => {}
    }
    let sampler = running
        .as_ref()
        .and_then(|r| r.memory_sampler(Duration::from_millis(100)));
    if let Some(s) = &sampler
        && info.rss_after_load_mib.is_none()
    {
        info.rss_after_load_mib = s.current_mib();
    }
    let mut slot = Slot {
        target,
        running,
        info,
        checks: Checks {
            tolerance_pct: settings.tolerance_pct,
            roofline,
        },
        sampler,
    };
    // Fairness: the prompt the engine will see must be the reference rendering.
    if let Some((p, input)) = inputs.first() {
        ctx.pb
            .set_message(format!("{}: checking the prompt it sees", slot.target.name));
        let checked = crate::engine::fairness::check(
            &slot.target,
            input,
            &ctx.sampling,
            ctx.tokenizer,
            settings.allow_template_mismatch,
        )
        .await
        .with_context(|| format!("fairness check of `{}`", slot.target.name));
        let outcome = match checked {
            Ok(o) => o,
            Err(e) => {
                bring_down(slot, session).await;
                return Err(e);
            }
        };
        session.log(&format!(
            "{}: fairness {}",
            slot.target.name,
            outcome.summary()
        ));
        slot.info.fairness = Some(outcome.summary());
        for w in 0..settings.warmup_runs {
            let rec = measure(&slot, ctx, p, input, w, true).await;
            session.record(rec)?;
        }
    }
    Ok(slot)
}

/// One measured (or warm-up) request against a slot.
async fn measure(
    slot: &Slot,
    ctx: &Ctx<'_>,
    p: &Prompt,
    input: &PromptInput,
    run_index: u32,
    warmup: bool,
) -> RunRecord {
    let target = &slot.target;
    ctx.pb.set_message(format!(
        "{} {}{}",
        target.name,
        p.id,
        if warmup { " (warm-up)" } else { "" }
    ));
    let spec = crate::client::stream::build_spec(target, input, &ctx.sampling, true, ctx.timeout);
    if let Some(s) = &slot.sampler {
        s.reset_peak();
    }
    let scheduled = Instant::now();
    let mut trace = crate::client::stream::execute(&ctx.http, &spec, ctx.origin, scheduled).await;
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
        &ctx.template_name,
    );
    base.warmup = warmup;
    let mut record = record_from_trace(
        base,
        &trace,
        count_tokens(ctx.tokenizer, &trace.text),
        &slot.checks,
    );
    if let Some(s) = &slot.sampler {
        record.memory = Some(crate::results::MemoryStats {
            rss_peak_mib: s.peak_mib(),
            rss_after_load_mib: slot.info.rss_after_load_mib,
            gpu_mib: s.gpu_peak_mib(),
        });
    }
    if let Some(tps) = record.decode_tps.filter(|_| record.ok) {
        ctx.pb
            .set_message(format!("{} {} {tps:.1} tok/s", target.name, p.id));
    }
    ctx.pb.inc(1);
    record
}

/// Stop a managed engine (SIGTERM, grace, SIGKILL); returns its facts for the results.
async fn bring_down(slot: Slot, session: &mut Session) -> EngineInfo {
    if let Some(r) = slot.running
        && let Err(e) = r.stop().await
    {
        session.log(&format!("stopping {}: {e:#}", slot.target.name));
    }
    slot.info
}

/// The physical decode ceiling of a managed engine: its model file's bytes per token and
/// the memory bandwidth (configured, or probed on the host for `device: cpu`).
fn engine_roofline(settings: &Settings, key: &str) -> Option<Roofline> {
    let section = settings.file.servers.get(key)?;
    let model = settings.path_of(section.model_path.as_deref()?);
    let device = section.device.as_deref().unwrap_or(&settings.device);
    let is_gguf = model.extension().is_some_and(|e| e == "gguf");
    let bytes = if Settings::kind_of(key, section) == "pytorch" && is_gguf {
        // transformers dequantizes a GGUF to the torch dtype: size it at that dtype.
        let dtype = section.torch_dtype.as_deref().unwrap_or("float32");
        roofline::gguf_bytes_dequantized(&model, roofline::torch_dtype_bytes(dtype, device))
    } else {
        roofline::model_bytes(&model)
    }
    .ok()?;
    if settings.memory_bandwidth_gbps.is_none() && device != "cpu" {
        // The host probe measures system RAM, not a GPU's memory.
        return None;
    }
    let bw = crate::measure::bandwidth::resolve(settings.memory_bandwidth_gbps).ok()?;
    Some(Roofline::new(bytes.bytes_per_token, bw.gbps, &bw.source))
}

/// Summaries, the JSON document and the reports; the exit code (non-zero when every
/// measured run failed).
pub fn finish(
    mut session: Session,
    mode: Mode,
    settings: &Settings,
    started_at: String,
    engines: Vec<EngineInfo>,
    output: &crate::cli::OutputArgs,
) -> anyhow::Result<i32> {
    let runs = session.records().to_vec();
    let doc = ResultsDoc::assemble(mode, settings, started_at, engines, runs, Vec::new());
    session.write_exports(&doc, output.html, output.csv)?;
    if !output.quiet {
        println!("{}", crate::export::markdown::console_summary(&doc));
    }
    println!("report:  {}", session.paths.report.display());
    println!("results: {}", session.paths.json.display());
    println!("records: {}", session.paths.jsonl.display());
    println!("log:     {}", session.paths.log.display());
    let measured: Vec<&RunRecord> = doc.runs.iter().filter(|r| !r.warmup).collect();
    if !measured.is_empty() && measured.iter().all(|r| !r.ok) {
        return Err(crate::error::AllRunsFailed(measured.len()).into());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{RequestError, Usage};
    use crate::measure::metrics::Timeline;
    use crate::results::{EngineReport, Sampling};

    fn base() -> RunRecord {
        RunRecord::new(
            "e",
            Mode::Api,
            "/v1/chat/completions",
            "short-01",
            "short",
            0,
            Sampling {
                max_tokens: 128,
                temperature: 0.0,
                seed: Some(42),
                top_p: None,
                top_k: None,
                ignore_eos: false,
            },
            "gemma3",
        )
    }

    fn trace(n_events: u64, itl_ms: u64, usage: Option<u64>) -> Trace {
        let ms = Duration::from_millis;
        Trace {
            timeline: Timeline {
                scheduled: ms(0),
                sent: ms(0),
                first_byte: Some(ms(10)),
                content_events: (0..n_events).map(|i| ms(50 + i * itl_ms)).collect(),
                end: Some(ms(50 + n_events * itl_ms)),
            },
            text: "가".repeat(n_events as usize),
            usage: usage.map(|u| Usage {
                prompt_tokens: Some(20),
                completion_tokens: Some(u),
            }),
            ..Default::default()
        }
    }

    const CHECKS: &Checks = &Checks {
        tolerance_pct: 10.0,
        roofline: None,
    };

    #[test]
    fn usage_wins_over_tokenizer() {
        // 32 events carrying 4 tokens each; the tokenizer would say 96.
        let r = record_from_trace(base(), &trace(32, 5, Some(128)), Some(96), CHECKS);
        assert!(r.ok);
        assert_eq!(r.output_tokens, Some(128));
        assert_eq!(r.output_tokens_source, Some(TokenSource::Usage));
        assert_eq!(r.icl_ms, Some(5.0));
        assert_eq!(r.prompt_tokens, Some(20));
        assert!(r.flags.iter().any(|f| f.kind == "token_count_mismatch"));
    }

    #[test]
    fn tokenizer_then_events_when_no_usage() {
        let r = record_from_trace(base(), &trace(10, 5, None), Some(12), CHECKS);
        assert_eq!(r.output_tokens_source, Some(TokenSource::Tokenizer));
        let r = record_from_trace(base(), &trace(10, 5, None), None, CHECKS);
        assert_eq!(r.output_tokens, Some(10));
        assert_eq!(r.output_tokens_source, Some(TokenSource::Events));
    }

    #[test]
    fn errors_fail_the_run_and_keep_partial_data() {
        let mut t = trace(3, 5, None);
        t.error = Some(RequestError::Truncated("no [DONE]".into()));
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(!r.ok);
        assert!(r.error.unwrap().contains("no [DONE]"));
        assert_eq!(r.content_events, 3);
    }

    #[test]
    fn uzu_error_text_with_zero_usage_is_a_failure() {
        let mut t = trace(1, 5, Some(0));
        t.text = "Error: model not loaded".into();
        // The same text from an engine without that quirk is ordinary output.
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(r.ok);
        crate::client::stream::apply_error_text_rule(&mut t);
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(!r.ok);
        assert!(r.error.unwrap().contains("Error: model not loaded"));
    }

    #[test]
    fn clock_mismatch_and_roofline_are_flagged() {
        let mut t = trace(101, 5, Some(101));
        t.engine_report = Some(EngineReport {
            source: "llama.cpp timings".into(),
            decode_tps: Some(150.0),
            ..Default::default()
        });
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(r.ok);
        assert_eq!(r.decode_tps, Some(200.0));
        assert!(
            r.flags.iter().any(|f| f.kind == "clock_mismatch"),
            "{:?}",
            r.flags
        );
        let checks = Checks {
            tolerance_pct: 10.0,
            roofline: Some(Roofline::new(1_000_000, 0.12, "test")),
        };
        let r = record_from_trace(base(), &t, None, &checks);
        assert!(!r.ok, "a figure above the ceiling is not a result");
        assert!(r.flags.iter().any(|f| f.kind == "above_roofline"));
    }

    #[test]
    fn no_content_is_a_failure() {
        let r = record_from_trace(base(), &trace(0, 5, Some(0)), None, CHECKS);
        assert!(!r.ok);
    }
}
