//! The one result model that every exporter reads.
//!
//! A [`RunRecord`] is one request (API mode) or one process (CLI mode). Records are
//! appended to a JSONL file as they are produced; the final JSON document
//! ([`ResultsDoc`]) holds the environment, the effective config, every record and the
//! summaries. `schema/results.schema.json` describes it.

use crate::measure::metrics::{Timeline, TokenSource, ms_between};
use crate::measure::stats::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Version of the JSON results layout; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Benchmark mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Api,
    Cli,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Api => "api",
            Mode::Cli => "cli",
        }
    }
}

/// Sampling settings sent with (and recorded for) every request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub max_tokens: u32,
    pub temperature: f64,
    pub seed: Option<u64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    /// Ask the engine to ignore end-of-sequence so every run produces `max_tokens`
    /// (sent only to engines that support it).
    #[serde(default)]
    pub ignore_eos: bool,
}

/// What the engine reported about a run on its own clock (llama.cpp `timings`, Ollama
/// durations, a CLI perf block, the PyTorch server's final chunk, Uzu's bench output).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineReport {
    /// Where these figures were read, e.g. "llama.cpp timings", "ollama durations",
    /// "common_perf_print".
    pub source: String,
    pub prompt_tokens: Option<u64>,
    pub prompt_ms: Option<f64>,
    pub prefill_tps: Option<f64>,
    pub decode_tokens: Option<u64>,
    pub decode_ms: Option<f64>,
    pub decode_tps: Option<f64>,
    pub load_ms: Option<f64>,
    pub total_ms: Option<f64>,
    /// Tokens served from a prompt cache (llama.cpp `cache_n`).
    pub cached_tokens: Option<u64>,
}

/// Memory of the engine (process tree) during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Peak resident set size of the engine process tree during the run, MiB.
    pub rss_peak_mib: Option<f64>,
    /// Resident set size right after the model loaded, MiB.
    pub rss_after_load_mib: Option<f64>,
    /// GPU memory used by the engine (NVML), MiB.
    pub gpu_mib: Option<f64>,
}

/// Something about a run that a reader must see next to its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// Machine-readable kind, e.g. "above_roofline", "clock_mismatch", "token_count_mismatch",
    /// "template_mismatch_allowed", "client_bottleneck".
    pub kind: String,
    pub message: String,
}

/// One measured request or process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub engine: String,
    pub mode: Mode,
    /// The endpoint (API) or program (CLI) that was measured, e.g. "/v1/chat/completions".
    pub endpoint: String,
    pub prompt_id: String,
    pub tier: String,
    /// 0-based repetition index of this prompt.
    pub run_index: u32,
    /// Excluded from summaries when true.
    #[serde(default)]
    pub warmup: bool,
    pub ok: bool,
    pub error: Option<String>,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,

    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    /// Mean gap between content events.
    pub icl_ms: Option<f64>,
    pub decode_tps: Option<f64>,
    pub e2e_tps: Option<f64>,
    pub prefill_tps: Option<f64>,
    pub ttft_from_scheduled_ms: Option<f64>,
    pub e2e_from_scheduled_ms: Option<f64>,
    pub send_lag_ms: Option<f64>,
    /// Where `decode_tps` came from: "client_clock" (our timestamps) or "engine_clock".
    pub decode_tps_source: Option<String>,

    pub output_tokens: Option<u64>,
    pub output_tokens_source: Option<TokenSource>,
    /// Our tokenizer's count of the output text, kept beside the chosen count as a check.
    pub output_tokens_tokenizer: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub prompt_tokens_source: Option<TokenSource>,
    pub content_events: u64,
    pub finish_reason: Option<String>,

    /// Wall time of the whole process, spawn to exit (CLI mode), ms.
    pub wall_ms: Option<f64>,
    /// Raw instants of the request (API mode).
    pub timeline: Option<TimelineMs>,
    pub engine_report: Option<EngineReport>,
    pub memory: Option<MemoryStats>,
    #[serde(default)]
    pub flags: Vec<Flag>,
    pub sampling: Sampling,
    /// Name of the chat template used to render the prompt.
    pub template: String,
    /// The generated text (escape before showing it anywhere).
    pub output_text: String,
    /// The load step this run belongs to (e.g. "c=16", "rate=2/s"); absent when sequential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_step: Option<String>,
}

impl RunRecord {
    /// A record with identity filled and every measurement empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: &str,
        mode: Mode,
        endpoint: &str,
        prompt_id: &str,
        tier: &str,
        run_index: u32,
        sampling: Sampling,
        template: &str,
    ) -> Self {
        RunRecord {
            engine: engine.to_string(),
            mode,
            endpoint: endpoint.to_string(),
            prompt_id: prompt_id.to_string(),
            tier: tier.to_string(),
            run_index,
            warmup: false,
            ok: false,
            error: None,
            started_at: chrono::Local::now().to_rfc3339(),
            ttft_ms: None,
            tpot_ms: None,
            e2e_ms: None,
            icl_ms: None,
            decode_tps: None,
            e2e_tps: None,
            prefill_tps: None,
            ttft_from_scheduled_ms: None,
            e2e_from_scheduled_ms: None,
            send_lag_ms: None,
            decode_tps_source: None,
            output_tokens: None,
            output_tokens_source: None,
            output_tokens_tokenizer: None,
            prompt_tokens: None,
            prompt_tokens_source: None,
            content_events: 0,
            finish_reason: None,
            wall_ms: None,
            timeline: None,
            engine_report: None,
            memory: None,
            flags: Vec::new(),
            sampling,
            template: template.to_string(),
            output_text: String::new(),
            load_step: None,
        }
    }

    /// Mark the run failed with a reason.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.ok = false;
        self.error = Some(reason.into());
    }

    pub fn flag(&mut self, kind: &str, message: impl Into<String>) {
        self.flags.push(Flag {
            kind: kind.to_string(),
            message: message.into(),
        });
    }
}

/// A request's raw instants in milliseconds: `scheduled_ms`/`sent_ms` from the benchmark
/// origin, everything else from `sent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineMs {
    pub scheduled_ms: f64,
    pub sent_ms: f64,
    pub first_byte_ms: Option<f64>,
    pub end_ms: Option<f64>,
    /// One offset per content event, from `sent`.
    pub events_ms: Vec<f64>,
}

impl TimelineMs {
    pub fn from_timeline(t: &Timeline) -> Self {
        let rel = |d: Duration| ms_between(t.sent, d);
        TimelineMs {
            scheduled_ms: ms_between(Duration::ZERO, t.scheduled),
            sent_ms: ms_between(Duration::ZERO, t.sent),
            first_byte_ms: t.first_byte.map(rel),
            end_ms: t.end.map(rel),
            events_ms: t.content_events.iter().copied().map(rel).collect(),
        }
    }
}

/// Summaries of one group of runs (engine × mode × tier, or engine × mode overall).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub engine: String,
    pub mode: Mode,
    /// A tier name, or "all".
    pub tier: String,
    pub runs: usize,
    pub ok: usize,
    pub failed: usize,
    /// metric name → summary over successful, non-warm-up runs.
    pub metrics: BTreeMap<String, Summary>,
}

/// Facts about the machine the benchmark ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub os: String,
    pub kernel: Option<String>,
    pub arch: String,
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub gpus: Vec<String>,
    pub tool_version: String,
    pub hostname: Option<String>,
}

/// An engine's life-cycle facts (API mode): how it was started and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub engine: String,
    pub kind: String,
    pub mode: Option<Mode>,
    pub base_url: Option<String>,
    pub command: Vec<String>,
    pub load_ms: Option<f64>,
    pub rss_after_load_mib: Option<f64>,
    pub template: Option<String>,
    pub fairness: Option<String>,
    /// Batch-1 decode ceiling (memory bandwidth ÷ bytes read per token), tok/s.
    #[serde(default)]
    pub roofline_tps: Option<f64>,
    pub notes: Vec<String>,
}

/// The whole results document written as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultsDoc {
    pub schema_version: u32,
    pub tool: String,
    pub mode: Mode,
    pub started_at: String,
    pub finished_at: String,
    pub environment: Environment,
    /// The effective configuration with the origin of each value.
    pub config: serde_json::Value,
    pub engines: Vec<EngineInfo>,
    pub runs: Vec<RunRecord>,
    pub summaries: Vec<GroupSummary>,
    /// One report per load step (`--concurrency`, `--rate`, `--sweep`); empty when sequential.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load: Vec<crate::load::report::StepReport>,
}

impl ResultsDoc {
    /// The document of one invocation: environment, effective config and summaries are
    /// computed here so every mode writes the same shape.
    pub fn assemble(
        mode: Mode,
        settings: &crate::config::Settings,
        started_at: String,
        engines: Vec<EngineInfo>,
        runs: Vec<RunRecord>,
        load: Vec<crate::load::report::StepReport>,
    ) -> ResultsDoc {
        ResultsDoc {
            schema_version: SCHEMA_VERSION,
            tool: format!("inferbench {}", env!("CARGO_PKG_VERSION")),
            mode,
            started_at,
            finished_at: chrono::Local::now().to_rfc3339(),
            environment: crate::environment::collect(),
            config: settings.effective_json(),
            engines,
            summaries: crate::measure::summary::summarize_runs(&runs),
            runs,
            load,
        }
    }
}
