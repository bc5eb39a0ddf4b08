//! One load step as an llm-d-benchmark **Benchmark Report v0.2** (JSON), pure.
//!
//! The schema is the one PyPI's `llmd-benchmark-report` 0.2.x publishes (its pydantic
//! models and `br_v0_2_json_schema.json`; the 0.2 line only adds optional fields, so a
//! report valid against 0.2.0 validates against every later 0.2.y). What we fill:
//!
//! | theirs | ours |
//! |---|---|
//! | `run.uid` | FNV-1a 64 of the run's start, host, engine and step (unique per file) |
//! | `run.eid` | FNV-1a 64 of the run's start and host (shared by the files of one run) |
//! | `run.time` | the step's first measured request → + its span |
//! | `scenario.stack[0]` | the engine, kind `generic` (no accelerator figures to give) |
//! | `scenario.load.standardized` | tool `inferbench`, `stage` = step index, `concurrency` (closed loop) or `rate_qps` (open loop), input lengths, output length when `ignore_eos` fixed it |
//! | `requests.total` / `failures` | measured requests / failed ones |
//! | `requests.input_length` / `output_length` | `prompt_tokens` / `output_tokens` (count) |
//! | `latency.time_to_first_token` | `ttft_ms` (ms) |
//! | `latency.time_per_output_token` | `tpot_ms` (ms/token) |
//! | `latency.inter_token_latency` | chunk gaps pooled over requests, as vLLM's ITL and llm-d's conversion of it (ms/token; per chunk, a chunk may carry more than one token) |
//! | `latency.request_latency` | `e2e_ms` (ms) |
//! | `throughput.output_token_rate` | step `output_tps` (tokens/s, `mean` only) |
//! | `throughput.request_rate` | step `request_rps` (queries/s, `mean` only) |
//!
//! Statistics carry `mean`, `stddev` (sample), `min`, `p50`, `p90`, `p95`, `p99`, `max`;
//! the percentiles we do not compute (`p0p1` … `p25`, `p75`, `p99p9`) are left out, as are
//! `normalized_time_per_output_token`, input and total token rates, observability and
//! time series.

use super::StepView;
use crate::measure::stats::Summary;
use crate::results::Arrival;
use crate::results::metric::{self, Metric};
use crate::workload::fnv1a64_u64;
use serde::Serialize;
use serde_json::{Value, json};

/// The schema version we write.
pub const VERSION: &str = "0.2";

#[derive(Serialize)]
struct Report {
    version: &'static str,
    run: Run,
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario: Option<Scenario>,
    results: Results,
}

#[derive(Serialize)]
struct Run {
    uid: String,
    eid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<RunTime>,
    description: String,
}

#[derive(Serialize)]
struct RunTime {
    start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
}

#[derive(Serialize)]
struct Scenario {
    stack: Vec<Component>,
    #[serde(skip_serializing_if = "Option::is_none")]
    load: Option<Load>,
}

#[derive(Serialize)]
struct Component {
    metadata: ComponentMetadata,
    /// `kind` `generic`: `tool`, `tool_version` and free fields.
    standardized: Value,
    native: Native,
}

#[derive(Serialize)]
struct ComponentMetadata {
    schema_version: &'static str,
    label: String,
    cfg_id: String,
    description: String,
}

#[derive(Serialize, Default)]
struct Native {
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Value>,
}

#[derive(Serialize)]
struct Load {
    metadata: LoadMetadata,
    standardized: LoadStandardized,
    native: Native,
}

#[derive(Serialize)]
struct LoadMetadata {
    schema_version: &'static str,
    cfg_id: String,
    description: String,
}

#[derive(Serialize)]
struct LoadStandardized {
    tool: &'static str,
    tool_version: String,
    /// "sampled" (prompts from a suite or a file) or "random" (synthetic lengths).
    source: &'static str,
    stage: usize,
    input_seq_len: SeqLen,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_seq_len: Option<SeqLen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_qps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<u32>,
}

#[derive(Serialize)]
struct SeqLen {
    /// "fixed" or "other".
    distribution: &'static str,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    std_dev: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<u64>,
}

#[derive(Serialize)]
struct Results {
    request_performance: RequestPerformance,
}

#[derive(Serialize)]
struct RequestPerformance {
    aggregate: Aggregate,
}

#[derive(Serialize)]
struct Aggregate {
    requests: Requests,
    latency: Latency,
    throughput: Throughput,
}

#[derive(Serialize)]
struct Requests {
    total: u64,
    failures: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_length: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_length: Option<Statistics>,
}

#[derive(Serialize)]
struct Latency {
    #[serde(skip_serializing_if = "Option::is_none")]
    time_to_first_token: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_per_output_token: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inter_token_latency: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_latency: Option<Statistics>,
}

#[derive(Serialize)]
struct Throughput {
    #[serde(skip_serializing_if = "Option::is_none")]
    output_token_rate: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_rate: Option<Statistics>,
}

/// A `Statistics` block: the unit and what we computed.
#[derive(Serialize)]
struct Statistics {
    units: &'static str,
    mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stddev: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p90: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
}

impl Statistics {
    fn of(units: &'static str, s: &Summary) -> Statistics {
        Statistics {
            units,
            mean: s.mean,
            stddev: Some(s.std),
            min: Some(s.min),
            p50: Some(s.p50),
            p90: Some(s.p90),
            p95: Some(s.p95),
            p99: Some(s.p99),
            max: Some(s.max),
        }
    }

    /// A run-level figure: its value as the mean, nothing else.
    fn value(units: &'static str, x: f64) -> Statistics {
        Statistics {
            units,
            mean: x,
            stddev: None,
            min: None,
            p50: None,
            p90: None,
            p95: None,
            p99: None,
            max: None,
        }
    }
}

fn hash_hex(parts: &[&str]) -> String {
    format!("{:016x}", fnv1a64_u64(parts.join("\u{1f}").as_bytes()))
}

/// The step as a Benchmark Report v0.2 document (pretty JSON).
pub fn render(v: &StepView) -> String {
    let report = Report {
        version: VERSION,
        run: run(v),
        scenario: Some(Scenario {
            stack: vec![component(v)],
            load: load(v),
        }),
        results: Results {
            request_performance: RequestPerformance {
                aggregate: aggregate(v),
            },
        },
    };
    // Plain data with string keys and finite numbers: serializing cannot fail.
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}

fn run(v: &StepView) -> Run {
    let host = v.doc.environment.hostname.as_deref().unwrap_or("");
    let step = &v.step;
    let index = step.index.to_string();
    let time = v.started().map(|start| {
        let span = v.span_s();
        RunTime {
            start: start.to_rfc3339(),
            end: span.map(|s| {
                (start + chrono::Duration::microseconds((s * 1e6).round() as i64)).to_rfc3339()
            }),
            duration: span.map(|s| format!("PT{s:.6}S")),
        }
    });
    Run {
        uid: hash_hex(&[&v.doc.started_at, host, &step.engine, &index, &step.step]),
        eid: hash_hex(&[&v.doc.started_at, host]),
        time,
        description: format!(
            "inferbench load step {} ({}) of {}, {} mode",
            step.step,
            arrival_words(step.arrival),
            step.engine,
            v.doc.mode.as_str()
        ),
    }
}

fn arrival_words(a: Arrival) -> String {
    match a {
        Arrival::Closed { concurrency } => format!("closed loop, {concurrency} in flight"),
        Arrival::Open { rate, burstiness } => {
            format!("open loop, {rate} requests/s, burstiness {burstiness}")
        }
    }
}

fn component(v: &StepView) -> Component {
    let (kind, command) = match v.engine {
        Some(e) => (e.kind.clone(), e.command.clone()),
        None => (v.step.engine.clone(), Vec::new()),
    };
    let version = v
        .engine
        .and_then(|e| e.engine_settings.get("version"))
        .and_then(|s| s.effective.clone())
        .unwrap_or_else(|| "unknown".into());
    let mut standardized = json!({
        "kind": "generic",
        "tool": kind,
        "tool_version": version,
    });
    if let Some(m) = v.model() {
        standardized["model"] = json!({ "name": m });
    }
    if let Some(url) = v.engine.and_then(|e| e.base_url.clone()) {
        standardized["base_url"] = json!(url);
    }
    if let Some(d) = v.engine.and_then(|e| e.device.clone()) {
        standardized["device"] = json!(d);
    }
    let cfg = serde_json::to_string(&(&standardized, &command)).unwrap_or_default();
    Component {
        metadata: ComponentMetadata {
            schema_version: "0.0.1",
            label: v.step.engine.clone(),
            cfg_id: hash_hex(&[&cfg]),
            description: "the inference engine inferbench measured".into(),
        },
        standardized,
        native: Native {
            args: (!command.is_empty()).then(|| json!({ "command": command })),
        },
    }
}

/// The workload; `None` when no request's prompt length is known (`input_seq_len` is
/// required and we do not guess it).
fn load(v: &StepView) -> Option<Load> {
    let input = v.summary(&metric::PROMPT_TOKENS)?;
    let prompt_lens: Vec<u64> = v.ok.iter().filter_map(|r| r.prompt_tokens).collect();
    let sampling = v.ok.first().or(v.measured.first()).map(|r| &r.sampling);
    let fixed_in = input.min == input.max;
    let (source, workload) = match &v.doc.workload {
        Some(w) => (
            if w.source == "synthetic" {
                "random"
            } else {
                "sampled"
            },
            json!({ "source": w.source, "params": w.params, "seed": w.seed, "content_hash": w.content_hash }),
        ),
        None => ("sampled", json!({ "source": "prompt suite" })),
    };
    let (rate_qps, concurrency) = match v.step.arrival {
        Arrival::Closed { concurrency } => (None, Some(concurrency)),
        Arrival::Open { rate, .. } => (Some(rate), None),
    };
    let native = json!({
        "step": v.step.step,
        "arrival": v.step.arrival,
        "sampling": sampling,
        "workload": workload,
    });
    Some(Load {
        metadata: LoadMetadata {
            schema_version: "0.0.1",
            cfg_id: hash_hex(&[&native.to_string()]),
            description: format!("inferbench load step {}", v.step.step),
        },
        standardized: LoadStandardized {
            tool: "inferbench",
            tool_version: v.tool_version().to_string(),
            source,
            stage: v.step.index,
            input_seq_len: SeqLen {
                distribution: if fixed_in { "fixed" } else { "other" },
                value: input.mean,
                std_dev: (!fixed_in).then_some(input.std),
                min: prompt_lens.iter().min().copied(),
                max: prompt_lens.iter().max().copied().filter(|m| *m >= 1),
            },
            // Enforced only when the engine was asked to ignore end-of-sequence.
            output_seq_len: sampling
                .filter(|s| s.ignore_eos && s.max_tokens >= 1)
                .map(|s| SeqLen {
                    distribution: "fixed",
                    value: f64::from(s.max_tokens),
                    std_dev: None,
                    min: None,
                    max: None,
                }),
            rate_qps,
            concurrency,
        },
        native: Native { args: Some(native) },
    })
}

fn aggregate(v: &StepView) -> Aggregate {
    let stats = |m: &Metric, units| v.summary(m).map(|s| Statistics::of(units, &s));
    Aggregate {
        requests: Requests {
            total: v.step.requests,
            failures: v.step.failed,
            input_length: stats(&metric::PROMPT_TOKENS, "count"),
            output_length: stats(&metric::OUTPUT_TOKENS, "count"),
        },
        latency: Latency {
            time_to_first_token: stats(&metric::TTFT, "ms"),
            time_per_output_token: stats(&metric::TPOT, "ms/token"),
            inter_token_latency: v.chunk_gaps().map(|s| Statistics::of("ms/token", &s)),
            request_latency: stats(&metric::E2E, "ms"),
        },
        throughput: Throughput {
            output_token_rate: v.step.output_tps.map(|x| Statistics::value("tokens/s", x)),
            request_rate: v
                .step
                .request_rps
                .map(|x| Statistics::value("queries/s", x)),
        },
    }
}
