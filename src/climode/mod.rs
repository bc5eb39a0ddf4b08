//! CLI mode (`inferbench cli`, the seed's subprocess_benchmark.py): each engine's own
//! command-line tool run as a subprocess, one process per run, with parsers of what it
//! prints that cannot mistake prefill for decode, and a second clock on every figure.
//!
//! This module is CLI mode's engine-neutral machinery; each engine's own command line and
//! parsers of its output live in its folder (`engines/<name>/cli.rs`), and the
//! driver that prepares engines and runs cases is `pipeline/cli_runner.rs`, above both.
//!
//! - [`parse`]: pure helpers (escape codes, log prefixes, numbers, Go durations).
//! - [`exec`]: run one process: own process group, stdin closed, stdout reads stamped on
//!   our clock, spawn → exit wall time, timeout kills the group.
//! - [`memory`]: peak RSS of that run's process group only.
//! - [`record`]: one process's outcome → a [`crate::results::RunRecord`] (our clock, token counts,
//!   cross-checks, roofline).
//! - [`AdapterInputs`]: what every engine's `cli::setup` is built from.
//!
//! Data flow of one run (`CliRunner::run_case`): settings + prompt → [`Case`] → engine
//! `command` → [`exec::run_process`] → engine `interpret` → [`Interpreted`] →
//! [`build_record`] (our clock, token counts, cross-checks, roofline) → the pipeline's
//! session (on disk before the next process starts).
//!
//! Which figure is which in a CLI-mode [`crate::results::RunRecord`]:
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
pub mod memory;
pub mod parse;
pub mod record;

pub use record::{Checks, build_record};

use crate::client::PromptInput;
use crate::config::{EngineSection, Settings};
use crate::results::{EngineReport, Flag, Sampling};
use std::path::{Path, PathBuf};

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

/// Everything the CLI driver's `prepare` needs besides the engine's own section.
pub struct PrepareCtx<'a> {
    pub settings: &'a Settings,
    pub template: &'a crate::prompt::template::ChatTemplate,
    pub workdir: &'a Path,
}

/// A CLI tool or the model it runs is not there: the engine is not installed on this
/// machine. An engine the config enables but `--engines` does not name is skipped with
/// this as its reason; any other preparation error leaves the engine out loudly. A user
/// error (exit code 2, [`crate::exit::exit_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; install it with scripts/setup.sh or set the path in benchmark_config.json")]
pub struct NotInstalled(pub String);

pub fn missing(what: &str) -> NotInstalled {
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

/// What the CLI driver's `prepare` has resolved for every kind of engine, from which each kind's
/// adapter is built.
pub struct AdapterInputs<'a> {
    pub key: &'a str,
    pub section: &'a EngineSection,
    pub ctx: &'a PrepareCtx<'a>,
    pub threads: u32,
    pub extra_args: Vec<String>,
    /// The resolved device (`auto` decided on this host).
    pub device: &'a str,
    pub tokenizer_path: Option<&'a Path>,
}

/// A model file that must be there: `engines.KEY.model_path` (or the server's), existing
/// as `exists` says.
pub fn required_model(
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

/// The optional sampling flags that llama.cpp's tools and `generate.py` spell alike:
/// `--seed`, `--top-p`, `--top-k`, `--ignore-eos`, each only when set.
pub fn optional_sampling_flags(
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

/// A prompt id made safe for a file name.
pub fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
