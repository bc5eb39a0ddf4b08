//! The one result model that every exporter reads.
//!
//! A [`RunRecord`] is one request (API mode) or one process (CLI mode). Records are
//! appended to a JSONL file as they are produced; the final JSON document
//! ([`ResultsDoc`]) holds the environment, the effective config, every record and the
//! summaries. Its JSON schema is generated from these types ([`crate::schema`],
//! `inferbench schema`, `schema/results.schema.json`): doc comments are its descriptions.
//!
//! Data types only, and the [`metric`] table that names every figure of a record: what
//! computes a record, a summary or a step report lives above this file and imports it.

use crate::measure::inference::Inference;
use crate::measure::metrics::{Timeline, TokenSource, ms_between};
use crate::measure::stats::Summary;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

mod clocks;
pub use clocks::{ClockTelemetry, DRIFT, DriftTest, GpuClocks, THROTTLED, ZoneTemp};

mod calibration;
pub use calibration::{Calibration, ClientErrorBound, ErrorBar, client_error_of};

mod starts;
pub use starts::{ColdStart, MarkKind, PageCache, StartMark, StartPhase, StartRun, StartsReport};

mod shard;
pub use shard::{Shard, ShardError};

mod parity;
pub use parity::{ParityDeparture, ParityEngine, ParityPair, ParityReport, PromptParity};

/// Version of the JSON results layout; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Benchmark mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sampling {
    #[schemars(range(min = 1))]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Decode over the engine's own wall clock, where its `decode_tps` leaves part of each
    /// token's time out. Ollama: `eval_count` over `total − load − prompt_eval` durations;
    /// its `eval_duration` subtracts the time its Go sampler takes per token
    /// (`runner/ollamarunner/runner.go`: `EvalDuration = lastUpdatedAt − startedAt −
    /// samplingDuration`), which a client waits through. Our clock is checked against
    /// this one when it is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_wall_tps: Option<f64>,
}

impl EngineReport {
    /// Decode over an engine's wall clock from its own durations: `tokens` over `total −
    /// load − prompt` ms (Ollama's; see [`EngineReport::decode_wall_tps`]). Pure.
    pub fn wall_rate(
        tokens: Option<u64>,
        total_ms: Option<f64>,
        load_ms: Option<f64>,
        prompt_ms: Option<f64>,
    ) -> Option<f64> {
        let ms = total_ms? - load_ms.unwrap_or(0.0) - prompt_ms?;
        let tokens = tokens? as f64;
        (ms > 0.0).then(|| tokens * 1000.0 / ms)
    }
}

/// A request sent again because its first attempt died on a reused keep-alive
/// connection before any byte of the response came back: the server had closed the idle
/// connection and never saw the request, so it is not the server's failure. The run's
/// `sent` instant is the retry's, so the lost time is send lag, not TTFT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Retries {
    /// Attempts after the first (the client retries once, on a new connection).
    #[schemars(range(min = 1))]
    pub count: u32,
    /// Why the first attempt failed.
    pub first_error: String,
}

/// Memory of the engine (process tree) during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemoryStats {
    /// Peak resident set size of the engine process tree during the run, MiB.
    pub rss_peak_mib: Option<f64>,
    /// Resident set size right after the model loaded, MiB.
    pub rss_after_load_mib: Option<f64>,
    /// GPU memory used by the engine (NVML), MiB.
    pub gpu_mib: Option<f64>,
}

/// GPU utilisation, power and energy, and CPU package energy, over one run (or one load
/// step), sampled in the background (`measure::telemetry`). Every figure is `None` where
/// the host cannot give it, with the reason in `gpu_reason` / `cpu_reason`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunTelemetry {
    /// Seconds the window covered.
    pub window_s: f64,
    /// GPU readings in the window (both ends included).
    pub gpu_samples: u64,
    /// GPU utilisation, percent (mean over devices at each reading), mean and max.
    pub gpu_util_mean_pct: Option<f64>,
    pub gpu_util_max_pct: Option<f64>,
    /// Board power summed over devices, W, mean and max of the readings.
    pub gpu_power_mean_w: Option<f64>,
    pub gpu_power_max_w: Option<f64>,
    /// GPU energy over the window, J.
    pub gpu_energy_j: Option<f64>,
    /// "nvml energy counter" (the driver's counter, difference of both ends) or
    /// "power integral" (trapezoid ∫ power dt over the readings).
    pub gpu_energy_source: Option<String>,
    /// GPU energy ÷ output tokens, J/token.
    pub gpu_j_per_token: Option<f64>,
    /// Highest device memory in use during the window (all processes), MiB.
    pub gpu_used_max_mib: Option<f64>,
    /// Why GPU figures are missing (no NVML, a call the device does not support).
    pub gpu_reason: Option<String>,
    /// CPU package energy (RAPL) over the window, J.
    pub cpu_energy_j: Option<f64>,
    /// CPU energy ÷ output tokens, J/token.
    pub cpu_j_per_token: Option<f64>,
    /// Why the CPU figure is missing (no RAPL, not readable).
    pub cpu_reason: Option<String>,
    /// The output tokens the per-token figures divide by.
    pub output_tokens: Option<u64>,
    /// Each GPU's own figures over the window, by NVML index (every device NVML saw;
    /// empty, and left out of the JSON, without GPU readings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuRunTelemetry>,
    /// CPU frequency, thermal zones and GPU clocks over the window, and whether the run
    /// was throttled; absent where the window was not taken by the sampler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clocks: Option<ClockTelemetry>,
}

/// One GPU's figures over one window (`RunTelemetry::gpus`); `None` where that device
/// gave no such figure in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GpuRunTelemetry {
    /// NVML's device index.
    pub index: u32,
    /// Board power of this device, W, mean of the readings.
    pub power_mean_w: Option<f64>,
    /// GPU utilisation of this device, percent, mean of the readings.
    pub util_mean_pct: Option<f64>,
    /// Highest memory in use on this device (all processes), MiB.
    pub used_max_mib: Option<f64>,
    /// Highest memory the engine's processes used on this device, MiB, where the
    /// sampler was given their pids and NVML listed them with a figure.
    pub engine_max_mib: Option<f64>,
}

/// GPU memory an engine holds, and how it was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GpuMemory {
    /// MiB; `None` with a `reason` where it could not be measured.
    pub mib: Option<f64>,
    /// "nvml per process" (the engine's process tree as NVML lists it) or "device delta"
    /// (device memory in use after the engine loaded minus before it started).
    pub source: Option<String>,
    pub reason: Option<String>,
    /// The engine's memory on each device where its processes are listed, by NVML index
    /// (source "nvml per process" only; empty, and left out of the JSON, otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_gpu: Vec<GpuDeviceMemory>,
}

/// An engine's memory on one device (`GpuMemory::per_gpu`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GpuDeviceMemory {
    /// NVML's device index.
    pub index: u32,
    pub mib: f64,
}

/// The memory bandwidth an engine's roofline uses, and every candidate figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BandwidthReport {
    /// The GPU the figures are for (NVML name).
    pub gpu: Option<String>,
    /// Memory clock × bus width × 2 from NVML, GB/s.
    pub peak_nvml_gbps: Option<f64>,
    /// How the peak was computed, or why there is none.
    pub peak_nvml_note: Option<String>,
    /// A timed device-to-device copy (torch.cuda), read + write bytes per second, GB/s.
    pub measured_d2d_gbps: Option<f64>,
    /// How it was measured (or cached), or why there is none.
    pub measured_d2d_note: Option<String>,
    /// The host memory figure (CPU probe), GB/s, for weights that stay on the CPU.
    pub host_gbps: Option<f64>,
    /// Which figure the roofline uses: "config", "measured_d2d", "nvml_peak", "host_probe"
    /// (a split over GPU and CPU names both: "measured_d2d+host_probe").
    pub used: String,
    /// Why that one, in words.
    pub why: String,
    /// "of 4190 GB/s measured D2D copy": what a report puts after "% of roofline".
    pub label: String,
}

/// Something about a run that a reader must see next to its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Flag {
    /// Machine-readable kind, e.g. "above_roofline", "clock_mismatch", "token_count_mismatch",
    /// "template_mismatch_allowed", "client_bottleneck", "decode_not_measurable".
    pub kind: String,
    pub message: String,
}

/// A decode figure that was measured or reported but kept out of every summary, with
/// the flag kind that says why ("above_roofline", "decode_not_measurable").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RejectedDecode {
    pub reason: String,
    /// "client_clock" (our timestamps) or "engine_clock" (the engine's own report).
    #[schemars(extend("enum" = ["client_clock", "engine_clock"]))]
    pub source: String,
    pub decode_tps: Option<f64>,
    pub tpot_ms: Option<f64>,
}

/// One measured request or process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    #[schemars(extend("enum" = ["client_clock", "engine_clock", null]))]
    pub decode_tps_source: Option<String>,
    /// Decode figures removed from `decode_tps`/`tpot_ms` (or the engine report) because
    /// they were impossible or unmeasurable; no summary reads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_decode: Vec<RejectedDecode>,

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
    /// Set when the request was retried on a new connection (API mode; see [`Retries`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// CLI mode: our decode figure from the times of stdout reads, kept beside the
    /// engine's; whether it is a decode clock at all is part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_clock: Option<StdoutClock>,
    /// Reasoning models: sent → the first answer token (TTFT counts the first reasoning
    /// token); absent when the stream carried no reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_answer_ms: Option<f64>,
    /// Of the output tokens, those spent reasoning; absent without reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens_source: Option<TokenSource>,
    /// GPU utilisation, power and energy and CPU energy during this run (sequential API
    /// runs and CLI runs; a load step has one for the whole step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<RunTelemetry>,
    /// Prompt tokens the engine says it served from its prompt cache (llama.cpp
    /// `timings.cache_n`, OpenAI `usage.prompt_tokens_details.cached_tokens`); absent
    /// when the engine does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_prompt_tokens: Option<u64>,
    /// The workload request this run sent (`--workload`), e.g. "synthetic-0007".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_item: Option<String>,
    /// The sampling the engine really applied, where it could not take `sampling` as
    /// asked (the run then carries a `sampling_not_applied` flag); absent when it took
    /// every setting as asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_applied: Option<SamplingApplied>,
    /// The reply came in one lump (`decode_not_measurable`): `ttft_ms` keeps its value but
    /// holds the whole generation, not a prefill; prefill tok/s and ICL are withheld.
    /// Absent (false) otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ttft_holds_generation: bool,
}

/// The sampling an engine really applied to a run whose settings it could not take as
/// asked (`RunRecord::sampling_applied`): Uzu's `cli bench` has no temperature (greedy or
/// the model's default sampler), Uzu's server ignores the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SamplingApplied {
    /// Greedy decoding (the most likely token every step).
    pub greedy: bool,
    /// The effective temperature, top-k and top-p, each where known (`None`: not known
    /// here, or not applied).
    pub temperature: Option<f64>,
    pub top_k: Option<u32>,
    pub top_p: Option<f64>,
    /// What the engine applied, in words, e.g. "model default sampler (top_k 64,
    /// top_p 0.95)".
    pub applied: String,
    /// The benchmark's settings the engine did not apply, e.g. "temperature 0.7",
    /// "seed 42".
    pub ignored: Vec<String>,
}

impl SamplingApplied {
    /// One line for a flag or a report: what was applied and what was ignored.
    pub fn describe(&self) -> String {
        if self.ignored.is_empty() {
            format!("applied {}", self.applied)
        } else {
            format!(
                "applied {}; ignored {}",
                self.applied,
                self.ignored.join(", ")
            )
        }
    }
}

/// The workload a load run sent (`--workload`): enough to tell whether two results sent
/// the same requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkloadInfo {
    /// "sharegpt", "jsonl", "synthetic", "shared_prefix", "multiturn" or "trace".
    #[schemars(extend("enum" = ["sharegpt", "jsonl", "synthetic", "shared_prefix", "multiturn", "trace"]))]
    pub source: String,
    /// Its parameters, canonical (file paths as given).
    pub params: BTreeMap<String, String>,
    pub seed: u64,
    /// FNV-1a 64 over the canonical JSON of every request and the schedule.
    #[schemars(regex(pattern = r"^fnv1a64:[0-9a-f]{16}$"))]
    pub content_hash: String,
    /// Distinct requests (sessions: every turn).
    pub requests: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Our own decode figure in CLI mode, from when stdout reads carrying generated text
/// arrived. It is a second decode clock only when those reads were spread over the
/// decode (`decode_clock`); output that came in bursts (a buffered stdout) carries no
/// decode timing, and its figure is context, never compared with the engine's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StdoutClock {
    /// Tokens per second between the first and the last read that carried text.
    pub decode_tps: f64,
    /// The reads were spread over the decode: this figure is a decode clock.
    pub decode_clock: bool,
    /// Reads that carried generated text.
    pub reads: u64,
    /// First to last of those reads, ms.
    pub span_ms: f64,
    /// The largest share of the generated bytes that one read carried (0–1).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub largest_read_share: f64,
    /// Why it is or is not a decode clock, in words.
    pub note: String,
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
            rejected_decode: Vec::new(),
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
            retries: None,
            stdout_clock: None,
            ttft_answer_ms: None,
            reasoning_tokens: None,
            reasoning_tokens_source: None,
            telemetry: None,
            cached_prompt_tokens: None,
            workload_item: None,
            sampling_applied: None,
            ttft_holds_generation: false,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// Flag kind: a reply that delivered fewer output tokens than were asked for
/// (`crate::record::check_delivered` sets it; summaries count it).
pub const SHORT_REPLY: &str = "short_reply";

/// Summaries of one group of runs (engine × mode × tier, or engine × mode overall).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Of the successful runs, those whose TTFT holds the whole generation (the reply came
    /// in one lump; [`RunRecord::ttft_holds_generation`]): the TTFT summary includes them,
    /// reports mark it. Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 1))]
    pub ttft_holds_generation: usize,
    /// Of the successful runs, those that delivered fewer output tokens than they asked
    /// for (each is flagged [`SHORT_REPLY`] where its record was built); the others with a
    /// count are full length. The mean delivered length is the `output_tokens` metric.
    /// Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 1))]
    pub short_replies: usize,
    /// The trend test of the decode rate over the runs in order (engine × mode overall,
    /// tier "all", only); absent with too few runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftTest>,
    /// Flags of the group as a whole (`drift`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// Facts about the machine the benchmark ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    pub os: String,
    pub kernel: Option<String>,
    pub arch: String,
    pub cpu_model: String,
    #[schemars(range(min = 1))]
    pub cores: usize,
    pub memory_gib: f64,
    pub gpus: Vec<String>,
    pub tool_version: String,
    pub hostname: Option<String>,
    /// `inferbench doctor`'s checks of the host, the inputs and the engines the run
    /// started, taken before any engine started (the document `doctor --json` prints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor: Option<serde_json::Value>,
}

/// An engine's life-cycle facts (API mode): how it was started and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Why the engine was left out (it failed to start or its fairness check); `None`
    /// for an engine that was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
    /// The device the engine runs on (`auto` resolved on this host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Why `device`: "configured", or how `auto` was resolved on this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_reason: Option<String>,
    /// What decides the engine's speed, as the engine itself reports it (PyTorch: device,
    /// dtype, attention implementation, compile mode, KV cache, weights, versions), each
    /// with what was asked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engine_settings: BTreeMap<String, EngineSetting>,
    /// How many requests the engine serves at once, where it says or we set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// GPU memory the engine holds, with how it was measured (or why not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory: Option<GpuMemory>,
    /// The bandwidth behind `roofline_tps`, with every candidate figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<BandwidthReport>,
    pub notes: Vec<String>,
    /// The engine's process exited while it was being measured: when and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited: Option<EngineExit>,
    /// `--sweep input:…`: prefill and decode measured apart at exact input lengths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_sweep: Option<Box<InputSweepReport>>,
    /// `--starts N`: N starts of the engine, in phases, with the page cache before each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<Box<StartsReport>>,
}

/// One engine setting: what the engine reports it uses, and what was asked for (absent
/// for a fact nobody asks for, such as a version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EngineSetting {
    pub effective: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
}

impl EngineSetting {
    /// Asked for one value and got another (`auto` is a request for any value; `cuda`
    /// is met by `cuda:0`).
    pub fn differs(&self) -> bool {
        match (&self.asked, &self.effective) {
            (Some(a), Some(e)) => a != "auto" && a != e && !e.starts_with(&format!("{a}:")),
            (Some(a), None) => a != "auto",
            _ => false,
        }
    }

    /// `effective`, or `asked → effective` when they differ, for a report.
    pub fn describe(&self) -> String {
        let eff = self.effective.as_deref().unwrap_or("?");
        match &self.asked {
            Some(a) if self.differs() => format!("{eff} (asked {a})"),
            _ => eff.to_string(),
        }
    }
}

/// An engine's capacity for concurrent streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Capacity {
    /// Streams served at once.
    pub streams: u32,
    /// Where the figure comes from, e.g. "llama-server /props total_slots".
    pub source: String,
    /// What inferbench asked for (`--parallel N`, `OLLAMA_NUM_PARALLEL`), if anything.
    pub asked: Option<u32>,
}

/// The whole results document written as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ResultsDoc {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    pub tool: String,
    pub mode: Mode,
    pub started_at: String,
    pub finished_at: String,
    pub environment: Environment,
    /// The effective configuration with the origin of each value
    /// (`Settings::effective_json`: `settings` is name → value and origin).
    #[schemars(extend(
        "type" = "object",
        "required" = ["settings"],
        "properties" = {"settings": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["value", "origin"],
            "properties": {"value": true, "origin": {"type": "string"}}
        }}},
        "additionalProperties" = true
    ))]
    pub config: serde_json::Value,
    pub engines: Vec<EngineInfo>,
    pub runs: Vec<RunRecord>,
    pub summaries: Vec<GroupSummary>,
    /// One report per load step (`--concurrency`, `--rate`, `--sweep`); empty when sequential.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load: Vec<StepReport>,
    /// One report per engine searched with `--find`; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<SearchReport>,
    /// The workload sent (`--workload`); absent for the prompt suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadInfo>,
    /// Greedy parity across engines (temperature 0 or `--parity`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<ParityReport>,
}

/// Every figure of a [`RunRecord`], in one table: its name (the key of its summary in the
/// JSON, its row in `compare`, its CSV column), a label for tables, its unit (which says
/// whether lower or higher is better), the reports that carry it, and how to read it.
/// Adding a metric is one line of the `metrics!` table below; every summary, comparison and exporter
/// reads this table.
pub mod metric {
    use super::RunRecord;
    use crate::measure::inference::Direction;

    /// What a metric counts in.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Unit {
        /// Milliseconds: lower is better.
        Ms,
        /// Tokens per second: higher is better.
        TokPerS,
        /// Memory, MiB: lower is better.
        Mib,
        /// A count (tokens): neither better nor worse.
        Count,
    }

    impl Unit {
        pub fn as_str(self) -> &'static str {
            match self {
                Unit::Ms => "ms",
                Unit::TokPerS => "tok/s",
                Unit::Mib => "MiB",
                Unit::Count => "",
            }
        }

        /// Which way is better; `None` for a count.
        pub fn direction(self) -> Option<Direction> {
            match self {
                Unit::Ms | Unit::Mib => Some(Direction::LowerIsBetter),
                Unit::TokPerS => Some(Direction::HigherIsBetter),
                Unit::Count => None,
            }
        }
    }

    /// The reports that carry a metric (the CSV of runs carries every one).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Scope(u8);

    impl Scope {
        /// Summaries per engine × mode × tier ([`super::GroupSummary::metrics`]).
        pub const GROUP: Scope = Scope(1);
        /// Summaries per load step ([`super::StepReport::metrics`]).
        pub const STEP: Scope = Scope(2);
        /// Bootstrap intervals per load step ([`super::StepReport::inference`]).
        pub const STEP_CI: Scope = Scope(4);
        /// Rows of `inferbench compare`.
        pub const COMPARE: Scope = Scope(8);

        /// All of `scopes`.
        pub const fn of(scopes: &[Scope]) -> Scope {
            let mut bits = 0;
            let mut i = 0;
            while i < scopes.len() {
                bits |= scopes[i].0;
                i += 1;
            }
            Scope(bits)
        }

        pub fn contains(self, other: Scope) -> bool {
            self.0 & other.0 == other.0
        }
    }

    /// One figure of a record.
    #[derive(Debug, Clone, Copy)]
    pub struct Metric {
        pub name: &'static str,
        pub label: &'static str,
        pub unit: Unit,
        pub scope: Scope,
        /// Reads it from a record; `None` when it was not measured.
        pub get: fn(&RunRecord) -> Option<f64>,
    }

    impl Metric {
        pub fn of(&self, r: &RunRecord) -> Option<f64> {
            (self.get)(r)
        }

        pub fn direction(&self) -> Option<Direction> {
            self.unit.direction()
        }

        pub fn is_in(&self, scope: Scope) -> bool {
            self.scope.contains(scope)
        }

        /// The metrics of [`ALL`] that `scope` carries, in table order.
        pub fn in_scope(scope: Scope) -> impl Iterator<Item = &'static Metric> {
            ALL.iter().filter(move |m| m.is_in(scope))
        }

        /// The column of one statistic of it: `ttft_ms` and "p99" → `ttft_p99_ms`.
        pub fn stat_column(&self, stat: &str) -> String {
            let suffix = self.unit_suffix();
            match self
                .name
                .strip_suffix(suffix)
                .filter(|_| !suffix.is_empty())
            {
                Some(stem) => format!("{stem}_{stat}{suffix}"),
                None => format!("{}_{stat}", self.name),
            }
        }

        /// `_ms` of `ttft_ms`, `_tps` of `decode_tps`, `_mib` of `rss_peak_mib`.
        fn unit_suffix(&self) -> &'static str {
            ["_ms", "_tps", "_mib"]
                .into_iter()
                .find(|s| self.name.ends_with(s))
                .unwrap_or("")
        }
    }

    fn engine(r: &RunRecord) -> Option<&super::EngineReport> {
        r.engine_report.as_ref()
    }

    fn memory(r: &RunRecord) -> Option<&super::MemoryStats> {
        r.memory.as_ref()
    }

    fn count(n: Option<u64>) -> Option<f64> {
        n.map(|n| n as f64)
    }

    /// `NAME: "name", "label", Unit, [scopes], getter;` → `pub const NAME: Metric` and
    /// its place in [`ALL`].
    macro_rules! metrics {
        ($($id:ident: $name:literal, $label:literal, $unit:ident, [$($scope:ident)*], $get:expr;)*) => {
            $(
                #[doc = concat!("`", $name, "`: ", $label, ".")]
                pub const $id: Metric = Metric {
                    name: $name,
                    label: $label,
                    unit: Unit::$unit,
                    scope: Scope::of(&[$(Scope::$scope),*]),
                    get: $get,
                };
            )*
            /// Every metric, in display order (`compare` rows, CSV columns).
            pub const ALL: &[Metric] = &[$($id),*];
        };
    }

    metrics! {
        TTFT: "ttft_ms", "TTFT", Ms, [GROUP STEP STEP_CI COMPARE], |r| r.ttft_ms;
        TPOT: "tpot_ms", "TPOT", Ms, [GROUP STEP STEP_CI COMPARE], |r| r.tpot_ms;
        ICL: "icl_ms", "ICL", Ms, [GROUP STEP COMPARE], |r| r.icl_ms;
        E2E: "e2e_ms", "E2E", Ms, [GROUP STEP STEP_CI COMPARE], |r| r.e2e_ms;
        DECODE_TPS: "decode_tps", "decode", TokPerS, [GROUP STEP COMPARE], |r| r.decode_tps;
        E2E_TPS: "e2e_tps", "end-to-end", TokPerS, [GROUP STEP COMPARE], |r| r.e2e_tps;
        PREFILL_TPS: "prefill_tps", "prefill", TokPerS, [GROUP COMPARE], |r| r.prefill_tps;
        TTFT_SCHEDULED: "ttft_from_scheduled_ms", "TTFT from scheduled", Ms, [STEP COMPARE], |r| r.ttft_from_scheduled_ms;
        E2E_SCHEDULED: "e2e_from_scheduled_ms", "E2E from scheduled", Ms, [STEP COMPARE], |r| r.e2e_from_scheduled_ms;
        SEND_LAG: "send_lag_ms", "send lag", Ms, [STEP], |r| r.send_lag_ms;
        OUTPUT_TOKENS: "output_tokens", "output tokens", Count, [GROUP], |r| count(r.output_tokens);
        OUTPUT_TOKENS_TOKENIZER: "output_tokens_tokenizer", "output tokens (our tokenizer)", Count, [], |r| count(r.output_tokens_tokenizer);
        PROMPT_TOKENS: "prompt_tokens", "prompt tokens", Count, [GROUP], |r| count(r.prompt_tokens);
        CACHED_PROMPT_TOKENS: "cached_prompt_tokens", "cached prompt tokens", Count, [GROUP], |r| count(r.cached_prompt_tokens);
        WALL: "wall_ms", "wall", Ms, [GROUP], |r| r.wall_ms;
        TTFT_ANSWER: "ttft_answer_ms", "time to first answer token", Ms, [GROUP STEP COMPARE], |r| r.ttft_answer_ms;
        REASONING_TOKENS: "reasoning_tokens", "reasoning tokens", Count, [GROUP], |r| count(r.reasoning_tokens);
        ENGINE_PROMPT_TOKENS: "engine_prompt_tokens", "engine prompt tokens", Count, [], |r| count(engine(r)?.prompt_tokens);
        ENGINE_PREFILL_TPS: "engine_prefill_tps", "engine-reported prefill", TokPerS, [GROUP], |r| engine(r)?.prefill_tps;
        ENGINE_DECODE_TOKENS: "engine_decode_tokens", "engine decode tokens", Count, [], |r| count(engine(r)?.decode_tokens);
        ENGINE_DECODE_TPS: "engine_decode_tps", "engine-reported decode", TokPerS, [GROUP], |r| engine(r)?.decode_tps;
        ENGINE_LOAD: "engine_load_ms", "engine load", Ms, [], |r| engine(r)?.load_ms;
        RSS_PEAK: "rss_peak_mib", "peak RSS", Mib, [GROUP], |r| memory(r)?.rss_peak_mib;
        GPU_MEMORY: "gpu_mib", "GPU memory", Mib, [GROUP], |r| memory(r)?.gpu_mib;
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn names_are_unique_and_every_compared_metric_has_a_direction() {
            for (i, m) in ALL.iter().enumerate() {
                assert!(
                    ALL[..i].iter().all(|o| o.name != m.name),
                    "{} twice",
                    m.name
                );
                if m.is_in(Scope::COMPARE) {
                    assert!(m.direction().is_some(), "{} has no direction", m.name);
                }
                if m.is_in(Scope::STEP_CI) {
                    assert!(m.is_in(Scope::STEP), "{}", m.name);
                }
            }
            assert_eq!(TTFT.direction(), Some(Direction::LowerIsBetter));
            assert_eq!(DECODE_TPS.direction(), Some(Direction::HigherIsBetter));
            assert_eq!(
                ENGINE_DECODE_TPS.direction(),
                Some(Direction::HigherIsBetter)
            );
            assert_eq!(RSS_PEAK.direction(), Some(Direction::LowerIsBetter));
            assert_eq!(OUTPUT_TOKENS.direction(), None);
        }

        #[test]
        fn stat_columns_keep_the_unit_last() {
            assert_eq!(TTFT.stat_column("p99"), "ttft_p99_ms");
            assert_eq!(
                TTFT_SCHEDULED.stat_column("mean"),
                "ttft_from_scheduled_mean_ms"
            );
            assert_eq!(DECODE_TPS.stat_column("p50"), "decode_p50_tps");
            assert_eq!(OUTPUT_TOKENS.stat_column("mean"), "output_tokens_mean");
        }
    }
}

/// How requests arrive in one load step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// Keep `concurrency` requests in flight.
    Closed { concurrency: u32 },
    /// Arrivals at `rate` per second with gamma(`burstiness`) inter-arrival times.
    Open { rate: f64, burstiness: f64 },
}

/// Service-level objectives: a request is good when it succeeded and meets every one given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

impl Slo {
    /// Whether a request counts toward goodput. A failed request never does. TTFT and
    /// E2E must exist to meet their objectives; a response of fewer than two tokens has
    /// no TPOT and cannot violate a TPOT objective.
    pub fn is_good(&self, r: &RunRecord) -> bool {
        if !r.ok {
            return false;
        }
        let within = |limit: Option<f64>, value: Option<f64>, missing_ok: bool| match (limit, value)
        {
            (None, _) => true,
            (Some(l), Some(v)) => v <= l,
            (Some(_), None) => missing_ok,
        };
        within(self.ttft_ms, r.ttft_ms, false)
            && within(self.tpot_ms, r.tpot_ms, true)
            && within(self.e2e_ms, r.e2e_ms, false)
    }

    /// The metrics an objective can be set on, each with its limit.
    pub fn objectives_mut(&mut self) -> [(metric::Metric, &mut Option<f64>); 3] {
        [
            (metric::TTFT, &mut self.ttft_ms),
            (metric::TPOT, &mut self.tpot_ms),
            (metric::E2E, &mut self.e2e_ms),
        ]
    }

    /// "ttft_ms≤500, tpot_ms≤50".
    pub fn describe(&self) -> String {
        let mut slo = *self;
        slo.objectives_mut()
            .iter()
            .filter_map(|(m, v)| v.map(|v| format!("{}≤{v}", m.name)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An interval of the run, ms from the benchmark origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Window {
    pub start_ms: f64,
    pub end_ms: f64,
}

impl Window {
    pub fn seconds(&self) -> f64 {
        (self.end_ms - self.start_ms) / 1000.0
    }
    pub fn contains(&self, t_ms: f64) -> bool {
        self.start_ms <= t_ms && t_ms <= self.end_ms
    }
}

/// One second of a load step's span.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Second {
    /// Seconds from the span's start (bucket [t, t+1)).
    pub t_s: u64,
    pub output_tokens: f64,
    pub started: u64,
    pub finished: u64,
    pub failed: u64,
}

/// Goodput under SLOs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Goodput {
    pub slo: Slo,
    pub good: u64,
    /// Measured requests, failed ones included.
    pub total: u64,
    pub fraction: f64,
    /// Good requests per second of the span.
    pub good_rps: f64,
}

/// Facts about the client itself during a load step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientHeadroom {
    /// sent − scheduled over measured requests, ms.
    pub send_lag_ms: Option<Summary>,
    /// The client process's CPU time ÷ wall time (1.0 = one core busy).
    pub cpu_cores: Option<f64>,
    /// Cores the client's runtime could use (its worker threads).
    pub cores_available: usize,
    pub bottleneck: bool,
    /// Why it was flagged, when it was.
    pub reasons: Vec<String>,
}

/// The report of one load step (built by `load::report::assemble`, from what
/// `step_report` computes from a step's records or `merge` from its workers').
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepReport {
    pub engine: String,
    /// Label, e.g. "c=16".
    pub step: String,
    pub index: usize,
    pub arrival: Arrival,
    pub warmup: u64,
    /// Measured requests (warm-up excluded), failed included.
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Requests in flight assumed for the steady-state window.
    pub in_flight: u64,
    /// Most requests that were in flight at once (send to end), warm-up included.
    pub max_in_flight: u64,
    pub span: Option<Window>,
    pub steady: Option<Window>,
    /// Seconds from the span's start to the steady window's start.
    pub ramp_up_s: Option<f64>,
    /// Seconds from the steady window's end to the span's end.
    pub drain_s: Option<f64>,
    /// Output tokens of measured, successful requests.
    pub output_tokens: u64,
    /// System output tok/s over the span.
    pub output_tps: Option<f64>,
    /// System output tok/s over the steady-state window.
    pub output_tps_steady: Option<f64>,
    /// Successful requests per second of the span.
    pub request_rps: Option<f64>,
    pub timeline: Vec<Second>,
    pub goodput: Option<Goodput>,
    /// Summaries of per-request metrics over measured, successful requests.
    pub metrics: BTreeMap<String, Summary>,
    /// Bootstrap intervals and MAD outliers of TTFT, TPOT and E2E.
    pub inference: BTreeMap<String, Inference>,
    pub client: ClientHeadroom,
    /// Connection set-up times measured before the step, ms (not part of TTFT).
    pub connect_ms: Option<Summary>,
    pub flags: Vec<Flag>,
    /// GPU and CPU telemetry over the step's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<RunTelemetry>,
    /// The engine's own metrics scraped while the step ran (its Prometheus `/metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_metrics: Option<ServerMetrics>,
    /// Of the measured, successful requests, those whose TTFT holds the whole generation
    /// (the reply came in one lump; [`RunRecord::ttft_holds_generation`]): the TTFT
    /// figures include them, reports mark them. Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 1))]
    pub ttft_holds_generation: u64,
    /// `--target-ci`: how precise the chosen metric got, and what ended the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<PrecisionReport>,
    /// What `inferbench merge` needs from this worker's step (every load step writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerStep>,
    /// This step is the merge of several workers' steps (`inferbench merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergedStep>,
    /// The engine's process exited during this step (nothing was sent to it after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_exit: Option<EngineExit>,
    /// The client's own error at this step's load (`--calibrate`, or the cheap default
    /// where it costs under 5% of the step): see [`Calibration`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// One metric of a step in a mergeable form: exact moments and an HdrHistogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricHistogram {
    #[schemars(range(min = 1))]
    pub n: u64,
    pub sum: f64,
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
    /// Histogram counts per `1/scale` of the metric's unit (1000: µs for a metric in ms).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub scale: f64,
    /// Significant decimal digits the histogram keeps (3: within 0.1%).
    #[schemars(range(min = 1, max = 5))]
    pub sigfig: u8,
    /// The HdrHistogram, V2 serialisation, base64.
    #[schemars(regex(pattern = r"^[A-Za-z0-9+/]+=*$"))]
    pub hdr_v2_base64: String,
}

/// A worker's step, as `inferbench merge` combines it with the other workers' steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkerStep {
    /// `--shard I/N`; `None` for an unsharded run (a worker of one).
    pub shard: Option<Shard>,
    /// Hash of everything that must match between workers: the effective configuration,
    /// the whole (unsharded) load plan, the target.
    pub config_hash: String,
    /// Hash of the prompts as sent (ids and rendered text).
    pub workload_hash: String,
    /// The whole step's label and arrival (every shard's together).
    pub whole_step: String,
    pub whole_arrival: Arrival,
    /// `--start-at` as given (RFC 3339, UTC), if any.
    pub start_at: Option<String>,
    /// Wall clock of the step's clock zero (its records' ms offsets), unix ns, and the
    /// same as RFC 3339 UTC.
    pub origin_unix_ns: i64,
    pub origin_utc: String,
    /// How late the step's clock started after `--start-at`, ms.
    pub start_late_ms: Option<f64>,
    /// Requests that met every SLO (with `--slo`).
    pub good: Option<u64>,
    /// Per metric (the step's metrics, plus `send_lag_ms`) over measured requests.
    pub histograms: BTreeMap<String, MetricHistogram>,
}

/// One worker of a merged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MergedWorker {
    pub file: String,
    pub shard: Option<Shard>,
    pub step: String,
    pub origin_utc: String,
    /// This worker's clock zero after the earliest worker's, ms.
    pub origin_offset_ms: f64,
    pub start_late_ms: Option<f64>,
    pub requests: u64,
    pub ok: u64,
    pub send_lag_ms: Option<Summary>,
    pub cpu_cores: Option<f64>,
    pub bottleneck: bool,
}

/// Where a merged step came from and how well its workers agreed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MergedStep {
    #[schemars(length(min = 1))]
    pub workers: Vec<MergedWorker>,
    /// Latest minus earliest worker clock zero, ms.
    pub origin_spread_ms: f64,
    /// Disagreement beyond this is flagged, ms.
    pub tolerance_ms: f64,
}

/// What `--find` searches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Find {
    /// The highest closed-loop concurrency whose SLO attainment meets the target.
    MaxConcurrency,
    /// The highest open-loop arrival rate (requests/s) whose SLO attainment meets the target.
    MaxRate,
}

impl Find {
    pub fn as_str(self) -> &'static str {
        match self {
            Find::MaxConcurrency => "max-concurrency",
            Find::MaxRate => "max-rate",
        }
    }
}

/// How one probe of a `--find` search was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVerdict {
    /// The interval's lower bound is at or above the target.
    Pass,
    /// The interval's upper bound is below the target.
    Fail,
    /// Still straddling the target at the probe's request bound; counted as a failure.
    Undecided,
}

impl ProbeVerdict {
    /// How reports name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeVerdict::Pass => "pass",
            ProbeVerdict::Fail => "fail",
            ProbeVerdict::Undecided => "undecided (counted as failing)",
        }
    }
}

/// One load tried by a `--find` search, over all its batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Probe {
    /// Concurrency or rate (requests/s).
    pub load: f64,
    /// Measured requests that met every SLO, and all measured requests (failed included).
    pub good: u64,
    pub total: u64,
    /// good ÷ total.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub attainment: f64,
    /// Wilson score interval of the attainment.
    pub ci: crate::measure::inference::Interval,
    pub verdict: ProbeVerdict,
    /// Load steps this probe ran (more than one when it was extended).
    #[schemars(range(min = 1))]
    pub batches: u32,
}

/// The result of a `--find` search against one engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchReport {
    pub engine: String,
    pub find: Find,
    pub slo: Slo,
    /// SLO attainment a load must reach (fraction of requests), e.g. 0.95.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub target: f64,
    /// Highest load that passed; `None` when even the first probe failed.
    pub boundary: Option<f64>,
    /// Lowest load that failed (or stayed undecided); `None` when none did up to `limit`.
    pub first_failing: Option<f64>,
    /// The attainment interval at the boundary.
    pub boundary_ci: Option<crate::measure::inference::Interval>,
    /// Largest load the search would try.
    pub limit: f64,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
    /// One line on how the search ended.
    pub note: String,
}

/// `--target-ci`: the interval of a metric's mean at the end of a load step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrecisionReport {
    pub metric: String,
    /// Asked half-width of the interval, percent of the mean.
    pub target_pct: f64,
    /// Reached half-width, percent of the mean; `None` with fewer than two values.
    pub achieved_pct: Option<f64>,
    pub n: u64,
    pub mean: Option<f64>,
    pub ci: Option<crate::measure::inference::Interval>,
    /// Whether the target was met.
    pub met: bool,
    /// "precision": the step stopped when the target was met; "bound": --requests or
    /// --duration ended it first.
    #[schemars(extend("enum" = ["precision", "bound"]))]
    pub stopped_by: String,
}

/// What the engine said about itself while a load step ran, scraped at a fixed interval
/// (`crate::scrape`): gauges as read, counters as rates, histograms over the step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerMetrics {
    /// Seconds between scrapes.
    pub interval_s: f64,
    /// Scrapes that answered, and that failed.
    pub scrapes: u64,
    pub failed_scrapes: u64,
    /// Why there is nothing, or only part ("no /metrics: HTTP 404").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<MetricSeries>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histograms: Vec<ServerHistogram>,
}

/// One time series of a server metric during a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricSeries {
    /// Our name for what it measures: "queue_depth", "running", "kv_cache_use",
    /// "kv_cache_tokens", "prompt_tps", "generation_tps", "cached_prompt_tps".
    pub name: String,
    pub label: String,
    /// "requests", "ratio", "tokens", "tok/s".
    pub unit: String,
    /// Where it was read: the URL scraped ...
    pub endpoint: String,
    /// ... and the engine's metric name there (or the fields of a JSON endpoint).
    pub metric: String,
    /// "gauge" (as read) or "rate" (a counter's increase ÷ the time between scrapes, at
    /// the later scrape).
    #[schemars(extend("enum" = ["gauge", "rate"]))]
    pub read: String,
    pub points: Vec<SeriesPoint>,
}

/// One value of a series, seconds from the step's start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeriesPoint {
    pub t_s: f64,
    pub value: f64,
}

/// A server-side latency histogram over one step: the difference between its first and
/// last scrape, so only the step's requests count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerHistogram {
    /// "server_ttft", "server_itl", "server_tpot", "server_e2e", "server_queue_time".
    pub name: String,
    pub label: String,
    pub endpoint: String,
    pub metric: String,
    /// Observations during the step.
    pub count: f64,
    pub mean_ms: Option<f64>,
    /// Quantiles by linear interpolation inside the bucket (as Prometheus'
    /// `histogram_quantile`), so only as fine as the engine's buckets.
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// How and when an engine process ended while it was measured (see [`crate::liveness`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EngineExit {
    /// "killed by signal 9 (SIGKILL)", "exited with code 1", ...
    pub how: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Local time of the exit (RFC 3339), to within the watch's poll.
    pub at: String,
    /// The last lines of its log.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_tail: String,
}

/// `--sweep input:L1,L2,…` against one engine (see [`crate::load::input_sweep`]): at each
/// exact input length, a prefill measurement (1 output token, repeated) and a decode
/// measurement (`decode_tokens` output tokens), TTFT regressed on input length, and
/// llama-bench's pp/tg beside them where the engine is a llama-server we started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputSweepReport {
    /// Output tokens of every decode request (sent with `ignore_eos` where the engine has it).
    #[schemars(range(min = 2))]
    pub decode_tokens: u32,
    /// Confidence level of every interval.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub level: f64,
    /// TTFT (ms, our clock: first content event − request written) regressed on input
    /// length over every measured prefill request; absent with fewer than 3 of them or one
    /// length only.
    pub fit: Option<PrefillFit>,
    /// llama-bench's pp repetitions (L ÷ its tok/s, per repetition) regressed the same way.
    pub bench_fit: Option<PrefillFit>,
    /// (ours − llama-bench) ÷ llama-bench of the fits' prefill rates, percent.
    pub fit_vs_bench_pct: Option<f64>,
    /// One row per input length, in the order run.
    pub rows: Vec<InputSweepRow>,
    /// llama-bench beside the server: what ran, or why it did not.
    pub bench: BenchRun,
    /// Where each figure came from, and anything a reader must know.
    pub notes: Vec<String>,
}

/// A line `TTFT = intercept + slope · input length` with its intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrefillFit {
    /// Points fitted.
    #[schemars(range(min = 3))]
    pub n: usize,
    /// Time per prompt token, ms.
    pub slope_ms_per_token: f64,
    pub slope_ci: crate::measure::inference::Interval,
    /// Fixed overhead, ms.
    pub intercept_ms: f64,
    pub intercept_ci: crate::measure::inference::Interval,
    /// Residual standard deviation, ms.
    pub residual_sd_ms: f64,
    /// 1000 ÷ slope, tok/s; absent when the slope is not positive.
    pub prefill_tps: Option<f64>,
    /// Absent when the slope's interval reaches 0 (the rate is then unbounded above).
    pub prefill_tps_ci: Option<crate::measure::inference::Interval>,
    /// Whose clock: "ours (TTFT)" or "llama-bench (pp)".
    pub source: String,
}

/// One input length of an input sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputSweepRow {
    /// Input length asked for and built exactly with our tokenizer (chat template included).
    #[schemars(range(min = 1))]
    pub input_tokens: u64,
    /// Successful measured prefill requests (1 output token).
    pub prefill_requests: usize,
    /// Their mean TTFT, ms (our clock), with its Student's t interval.
    pub ttft_ms: Option<f64>,
    pub ttft_ci: Option<crate::measure::inference::Interval>,
    /// input_tokens · 1000 ÷ (mean TTFT − the fit's intercept), tok/s (our clock).
    pub prefill_tps: Option<f64>,
    pub prefill_tps_ci: Option<crate::measure::inference::Interval>,
    /// The engine's own prefill rate of those requests, mean (engine clock:
    /// llama-server `timings.prompt_per_second`, Ollama's durations); absent when it
    /// reports none.
    pub engine_prefill_tps: Option<f64>,
    /// Prompt tokens the engine reported for them (usage), largest; absent when it
    /// reported none.
    pub engine_prompt_tokens: Option<u64>,
    /// Successful measured decode requests.
    pub decode_requests: usize,
    /// Their decode rate (1 ÷ TPOT, our clock), mean with its Student's t interval.
    pub decode_tps: Option<f64>,
    pub decode_tps_ci: Option<crate::measure::inference::Interval>,
    /// The engine's own decode rate of those requests, mean (engine clock).
    pub engine_decode_tps: Option<f64>,
    /// llama-bench `pp<L>` at depth 0.
    pub bench_pp: Option<BenchFigure>,
    /// llama-bench `tg<N>` at depth L.
    pub bench_tg: Option<BenchFigure>,
    /// (prefill_tps − bench_pp) ÷ bench_pp, percent.
    pub prefill_vs_bench_pct: Option<f64>,
    /// (decode_tps − bench_tg) ÷ bench_tg, percent.
    pub decode_vs_bench_pct: Option<f64>,
}

/// One llama-bench test: its mean rate and standard deviation over its repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BenchFigure {
    /// "pp512", "tg128 @ d512".
    pub test: String,
    pub tps: f64,
    pub sd_tps: f64,
    /// Each repetition's rate.
    pub samples_tps: Vec<f64>,
}

/// llama-bench run beside a llama-server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BenchRun {
    /// Whether its figures are in the rows.
    pub ran: bool,
    /// Every command run (argv).
    pub commands: Vec<Vec<String>>,
    /// Why it did not run, or how it failed.
    pub note: Option<String>,
}
