//! Results of the peers' benchmark tools, read so that `inferbench compare` can set them
//! beside ours (pure: JSON text → [`PeerResult`]; no I/O).
//!
//! - **vLLM `bench serve --save-result`**: one JSON object with run-level figures
//!   (`completed`, `failed`, `duration`, `request_throughput`, `output_throughput`,
//!   `total_token_throughput`, `{mean,median,std,pNN}_{ttft,tpot,itl,e2el}_ms`, the load:
//!   `max_concurrency`, `request_rate`, `burstiness`) and, with `--save-detailed`, per
//!   request: `ttfts` and `itls` (seconds), `input_lens`, `output_lens`.
//! - **NVIDIA AIPerf `profile_export_aiperf.json`**: one stats block per metric tag
//!   (`{"unit": "ms", "avg": …, "p50": …, "p99": …, "count": …}`), beside provenance
//!   (`schema_version`, `input_config`, …); the unit of each block is authoritative.
//! - **llm-d-benchmark Benchmark Report v0.2** (what llm-d-benchmark converts vLLM,
//!   AIPerf, GuideLLM, inference-perf and InferenceMAX results into, and what `--export
//!   br0.2` writes): `results.request_performance.aggregate` with `Statistics` blocks
//!   (`units`, `mean`, `p50` … `p99p9`); see [`br`].
//!
//! What maps onto what, and why some figures do not translate, is decided here, once:
//!
//! | theirs | ours | how close |
//! |---|---|---|
//! | vLLM TTFT | `ttft_ms` | same event (first non-empty content); their clock starts before the request is written, ours at its first byte |
//! | vLLM TPOT | `tpot_ms` | (latency − TTFT)/(output tokens − 1) per request, latency to the stream's end; ours first → last content event |
//! | vLLM ITL | `itl_pooled_ms` | **per chunk**, pooled over all requests: ours the gaps between content events of the same requests, pooled the same way (not `icl_ms`, each request's mean gap averaged). Not a per-token figure: our per-token figure is `tpot_ms` |
//! | vLLM E2EL | `e2e_ms` | to the stream's end; ours to the last content event |
//! | vLLM request/output throughput | step `request_rps` / `output_tps` | over the whole run's duration; ours over the step's span |
//! | AIPerf `time_to_first_token` | `ttft_ms` | same |
//! | AIPerf `inter_token_latency` | `tpot_ms` | same definition ((request latency − TTFT)/(output tokens − 1) per request): AIPerf's "ITL" is our TPOT |
//! | AIPerf `inter_chunk_latency` | `icl_ms` | same idea (gaps between responses) |
//! | AIPerf `request_latency` | `e2e_ms` | to the last response |
//! | AIPerf `output_token_throughput_per_user` | `decode_tps` | per user ≈ 1/ITL; ours 1/TPOT per request |
//! | AIPerf `output_sequence_length` | `output_tokens` | server or tokenizer count |
//!
//! A file written by inferbench itself (`--export vllm`, `--export br0.2`) holds our own
//! figures under their names: every mapping is then the same.

use serde_json::{Map, Value};

mod br;

/// Which tool wrote a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerTool {
    VllmBenchServe,
    AiPerf,
    /// llm-d-benchmark's Benchmark Report v0.2.
    BenchmarkReport,
}

impl PeerTool {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerTool::VllmBenchServe => "vLLM bench serve",
            PeerTool::AiPerf => "AIPerf",
            PeerTool::BenchmarkReport => "Benchmark Report v0.2",
        }
    }
}

/// A statistic of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stat {
    Mean,
    P50,
    P90,
    P95,
    P99,
    /// A single run-level figure (a throughput).
    Value,
}

impl Stat {
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::Value => "value",
        }
    }

    /// The statistic a percentile name stands for: "median"/"p50" → P50, "p99" → P99.
    fn from_percentile(p: &str) -> Option<Stat> {
        match p {
            "median" | "p50" => Some(Stat::P50),
            "p90" => Some(Stat::P90),
            "p95" => Some(Stat::P95),
            "p99" => Some(Stat::P99),
            "mean" | "avg" => Some(Stat::Mean),
            _ => None,
        }
    }
}

/// How well a figure of theirs stands for one of ours.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapping {
    /// The same definition.
    Same,
    /// Close, with what differs.
    Close(&'static str),
}

/// Our run-level figures a peer's throughput maps onto (the names of the step report).
pub const REQUEST_RPS: &str = "request_rps";
pub const OUTPUT_TPS: &str = "output_tps";
/// Our figure for vLLM's ITL: the gaps between consecutive content events of every
/// request, pooled ([`crate::export::peer::pooled_chunk_gaps_ms`]).
pub const ITL_POOLED: &str = "itl_pooled_ms";

/// One figure of theirs, in our terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Our metric name (the metric table's) or [`REQUEST_RPS`] / [`OUTPUT_TPS`] /
    /// [`ITL_POOLED`].
    pub ours: &'static str,
    pub stat: Stat,
    /// In our unit (ms, tok/s, requests/s, tokens).
    pub value: f64,
    /// Their key, e.g. "p99_ttft_ms" or "time_to_first_token.p99".
    pub theirs: String,
    pub mapping: Mapping,
}

/// One figure of theirs that has no counterpart of ours, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Untranslatable {
    pub theirs: String,
    pub why: String,
}

/// The load a peer's run was driven at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PeerLoad {
    Concurrency(u32),
    Rate(f64),
}

/// A peer's result, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerResult {
    pub tool: PeerTool,
    /// Model, backend or version, for the header.
    pub about: String,
    pub load: Option<PeerLoad>,
    pub completed: Option<u64>,
    pub failed: Option<u64>,
    pub figures: Vec<Figure>,
    /// Per-request values in our metric's definition, where the file carries them
    /// (vLLM `--save-detailed`): our metric name → values.
    pub samples: Vec<(&'static str, Vec<f64>)>,
    pub untranslatable: Vec<Untranslatable>,
}

/// A file that is not a result we can read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PeerError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error(
        "neither an inferbench results document, a vLLM `bench serve` result (--save-result), an AIPerf profile_export_aiperf.json nor an llm-d-benchmark Benchmark Report v0.2"
    )]
    Unknown,
}

/// Our figures in the order a table shows them.
const ORDER: &[&str] = &[
    "ttft_ms",
    "tpot_ms",
    "icl_ms",
    ITL_POOLED,
    "e2e_ms",
    "decode_tps",
    REQUEST_RPS,
    OUTPUT_TPS,
    "output_tokens",
    "prompt_tokens",
];

/// Figures by our metric (table order), then statistic.
fn sort(figures: &mut [Figure]) {
    figures.sort_by_key(|f| {
        (
            ORDER
                .iter()
                .position(|o| *o == f.ours)
                .unwrap_or(ORDER.len()),
            f.stat,
        )
    });
}

/// Which tool wrote `v` (`None`: not a peer's file; ours has `schema_version` and `runs`).
pub fn detect(v: &Value) -> Option<PeerTool> {
    let o = v.as_object()?;
    if o.contains_key("runs") && o.get("schema_version").is_some_and(Value::is_u64) {
        return None;
    }
    let block = |k: &str| {
        o.get(k)
            .and_then(Value::as_object)
            .is_some_and(|b| b.contains_key("unit"))
    };
    if block("time_to_first_token") || block("request_latency") {
        return Some(PeerTool::AiPerf);
    }
    if br::is_benchmark_report(o) {
        return Some(PeerTool::BenchmarkReport);
    }
    let vllm_keys = ["mean_ttft_ms", "request_throughput", "completed"];
    if vllm_keys
        .iter()
        .any(|k| o.get(*k).is_some_and(Value::is_number))
    {
        return Some(PeerTool::VllmBenchServe);
    }
    None
}

/// Parse a peer's result file.
pub fn parse(text: &str) -> Result<PeerResult, PeerError> {
    let v: Value = serde_json::from_str(text).map_err(|e| PeerError::Json(e.to_string()))?;
    match (detect(&v), v.as_object()) {
        (Some(PeerTool::VllmBenchServe), Some(o)) => Ok(vllm(o)),
        (Some(PeerTool::AiPerf), Some(o)) => Ok(aiperf(o)),
        (Some(PeerTool::BenchmarkReport), Some(o)) => Ok(br::parse(o)),
        _ => Err(PeerError::Unknown),
    }
}

fn num(o: &Map<String, Value>, k: &str) -> Option<f64> {
    o.get(k).and_then(Value::as_f64).filter(|x| x.is_finite())
}

const VLLM_TTFT: &str = "their clock starts before the request is written (connection set-up included); ours at its first byte";
const VLLM_TPOT: &str = "(latency − TTFT) ÷ (output tokens − 1) per request, latency to the end of the stream; ours first → last content event";
const VLLM_ITL: &str = "their ITL is per chunk (gaps between SSE chunks, pooled over every request), not per token; ours the gaps between content events, pooled the same way (their chunks may include empty ones). Our per-token figure is tpot_ms";
const VLLM_E2E: &str = "to the end of the stream; ours to the last content event";
const VLLM_RPS: &str =
    "completed ÷ the whole run (ramp-up and drain included); ours successful ÷ the step's span";
const VLLM_TPS: &str = "output tokens ÷ the whole run; ours tokens inside the step's span ÷ span";

/// Whether inferbench wrote this vLLM-shaped file (`--export vllm`): then its figures are
/// ours under their names.
fn ours_wrote_it(o: &Map<String, Value>) -> bool {
    o.get("tool")
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with("inferbench"))
}

/// vLLM `bench serve` result JSON.
fn vllm(o: &Map<String, Value>) -> PeerResult {
    let mut figures = Vec::new();
    let mut untranslatable = Vec::new();
    vllm_latencies(o, &mut figures, &mut untranslatable);
    vllm_run_figures(o, &mut figures, &mut untranslatable);
    let samples = vllm_samples(o);

    let load = match (
        o.get("max_concurrency").and_then(Value::as_u64),
        o.get("request_rate").and_then(Value::as_f64),
    ) {
        (Some(c), _) => u32::try_from(c).ok().map(PeerLoad::Concurrency),
        (None, Some(r)) if r.is_finite() && r > 0.0 => Some(PeerLoad::Rate(r)),
        _ => None,
    };
    let completed = o.get("completed").and_then(Value::as_u64);
    let failed = o.get("failed").and_then(Value::as_u64).or_else(|| {
        let n = o.get("num_prompts").and_then(Value::as_u64)?;
        Some(n.saturating_sub(completed?))
    });
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let about = [
        text("tool").filter(|_| ours_wrote_it(o)),
        text("engine").map(|e| format!("engine {e}")),
        text("model_id").map(|m| format!("model {m}")),
        text("backend").map(|b| format!("backend {b}")),
        text("date"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    sort(&mut figures);
    PeerResult {
        tool: PeerTool::VllmBenchServe,
        about,
        load,
        completed,
        failed,
        figures,
        samples,
        untranslatable,
    }
}

/// vLLM's latency statistics (`{stat}_{metric}_ms`) in our terms, or why not.
fn vllm_latencies(
    o: &Map<String, Value>,
    figures: &mut Vec<Figure>,
    untranslatable: &mut Vec<Untranslatable>,
) {
    let metrics: [(&str, &'static str, Mapping); 4] = [
        ("ttft", "ttft_ms", Mapping::Close(VLLM_TTFT)),
        ("tpot", "tpot_ms", Mapping::Close(VLLM_TPOT)),
        ("itl", ITL_POOLED, Mapping::Close(VLLM_ITL)),
        ("e2el", "e2e_ms", Mapping::Close(VLLM_E2E)),
    ];
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort();
    for key in keys {
        let Some(rest) = key.strip_suffix("_ms") else {
            continue;
        };
        let Some((stat, name)) = rest.split_once('_') else {
            continue;
        };
        let Some((_, ours, mapping)) = metrics.iter().find(|(n, _, _)| *n == name) else {
            continue;
        };
        let Some(value) = num(o, key) else {
            continue;
        };
        if stat == "std" {
            continue;
        }
        match Stat::from_percentile(stat) {
            Some(s) => figures.push(Figure {
                ours,
                stat: s,
                value,
                theirs: key.clone(),
                mapping: if ours_wrote_it(o) {
                    Mapping::Same
                } else {
                    mapping.clone()
                },
            }),
            None => untranslatable.push(Untranslatable {
                theirs: key.clone(),
                why: "a percentile we do not report (ours: mean, p50, p90, p95, p99)".into(),
            }),
        }
    }
}

/// vLLM's run-level figures: the throughputs that map onto ours, and those that do not.
fn vllm_run_figures(
    o: &Map<String, Value>,
    figures: &mut Vec<Figure>,
    untranslatable: &mut Vec<Untranslatable>,
) {
    for (key, ours, why) in [
        ("request_throughput", REQUEST_RPS, VLLM_RPS),
        ("output_throughput", OUTPUT_TPS, VLLM_TPS),
    ] {
        if let Some(value) = num(o, key) {
            figures.push(Figure {
                ours,
                stat: Stat::Value,
                value,
                theirs: key.into(),
                mapping: if ours_wrote_it(o) {
                    Mapping::Same
                } else {
                    Mapping::Close(why)
                },
            });
        }
    }
    for (key, why) in [
        (
            "total_token_throughput",
            "input + output tokens per second; we report output tok/s (and prefill tok/s per request)",
        ),
        (
            "request_goodput",
            "goodput under their --goodput SLOs, which the file does not record; ours uses --slo",
        ),
        (
            "max_output_tokens_per_s",
            "their busiest second; our step timeline has output tokens per second",
        ),
        (
            "max_concurrent_requests",
            "their peak in flight; ours is the step's max_in_flight (send to end)",
        ),
    ] {
        if o.get(key).is_some_and(|v| !v.is_null()) {
            untranslatable.push(Untranslatable {
                theirs: key.into(),
                why: why.into(),
            });
        }
    }
}

/// vLLM's per-request values (`--save-detailed`, seconds) in our metrics' definitions.
fn vllm_samples(o: &Map<String, Value>) -> Vec<(&'static str, Vec<f64>)> {
    let list =
        |k: &str| -> Option<Vec<f64>> { o.get(k)?.as_array()?.iter().map(Value::as_f64).collect() };
    let mut samples = Vec::new();
    let ttfts = list("ttfts");
    let itls: Option<Vec<Vec<f64>>> = o.get("itls").and_then(Value::as_array).and_then(|a| {
        a.iter()
            .map(|r| r.as_array()?.iter().map(Value::as_f64).collect())
            .collect()
    });
    let outs: Option<Vec<f64>> = list("output_lens");
    if let Some(t) = &ttfts {
        // A failed request has TTFT 0 in vLLM's list; it is no first token.
        samples.push((
            "ttft_ms",
            t.iter().filter(|x| **x > 0.0).map(|x| x * 1000.0).collect(),
        ));
    }
    if let (Some(t), Some(g)) = (&ttfts, &itls)
        && t.len() == g.len()
    {
        let e2e: Vec<f64> = t
            .iter()
            .zip(g)
            .filter(|(t, _)| **t > 0.0)
            .map(|(t, g)| 1000.0 * (t + g.iter().sum::<f64>()))
            .collect();
        samples.push(("e2e_ms", e2e));
        if let Some(n) = &outs
            && n.len() == g.len()
        {
            let tpot: Vec<f64> = g
                .iter()
                .zip(n)
                .filter(|(_, n)| **n >= 2.0)
                .map(|(g, n)| 1000.0 * g.iter().sum::<f64>() / (n - 1.0))
                .collect();
            samples.push(("tpot_ms", tpot));
        }
    }
    if let Some(n) = outs {
        samples.push(("output_tokens", n));
    }
    samples
}

/// A duration in a block's unit → ms; `None` for a unit that is not a duration.
fn to_ms(value: f64, unit: &str) -> Option<f64> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => Some(value),
        "ns" | "nanosecond" | "nanoseconds" => Some(value / 1e6),
        "us" | "µs" | "microsecond" | "microseconds" => Some(value / 1e3),
        "s" | "sec" | "second" | "seconds" => Some(value * 1e3),
        _ => None,
    }
}

/// What an AIPerf metric measures, which decides how its values convert.
#[derive(Debug, Clone, Copy)]
enum AiperfKind {
    Latency,
    Rate,
    Count,
}

/// An AIPerf metric tag with a counterpart of ours: their tag, our metric, its kind and
/// how close the two are.
type AiperfMetric = (&'static str, &'static str, AiperfKind, Mapping);

/// The AIPerf metrics we translate.
const AIPERF_METRICS: [AiperfMetric; 9] = [
    (
        "time_to_first_token",
        "ttft_ms",
        AiperfKind::Latency,
        Mapping::Same,
    ),
    (
        "inter_token_latency",
        "tpot_ms",
        AiperfKind::Latency,
        Mapping::Close(
            "AIPerf's ITL is (request latency − TTFT) ÷ (output tokens − 1) per request: our TPOT, not a per-chunk gap; its latency runs to the last response, ours to the last content event",
        ),
    ),
    (
        "inter_chunk_latency",
        "icl_ms",
        AiperfKind::Latency,
        Mapping::Close("gaps between responses of a stream; ours per request, then averaged"),
    ),
    (
        "request_latency",
        "e2e_ms",
        AiperfKind::Latency,
        Mapping::Close("to the last response; ours to the last content event"),
    ),
    (
        "output_token_throughput_per_user",
        "decode_tps",
        AiperfKind::Rate,
        Mapping::Close("per user ≈ 1 ÷ their ITL; ours 1 ÷ TPOT per request"),
    ),
    (
        "output_token_throughput",
        OUTPUT_TPS,
        AiperfKind::Rate,
        Mapping::Close("over their whole profiling phase; ours over the step's span"),
    ),
    (
        "request_throughput",
        REQUEST_RPS,
        AiperfKind::Rate,
        Mapping::Close("over their whole profiling phase; ours over the step's span"),
    ),
    (
        "output_sequence_length",
        "output_tokens",
        AiperfKind::Count,
        Mapping::Same,
    ),
    (
        "input_sequence_length",
        "prompt_tokens",
        AiperfKind::Count,
        Mapping::Close("their tokenizer's count of the input; ours the server's usage"),
    ),
];

/// AIPerf's counts and provenance that are context, not figures.
const AIPERF_CONTEXT: [&str; 5] = [
    "request_count",
    "error_request_count",
    "benchmark_duration",
    "min_request_timestamp",
    "max_response_timestamp",
];

/// AIPerf `profile_export_aiperf.json`.
fn aiperf(o: &Map<String, Value>) -> PeerResult {
    let mut figures = Vec::new();
    let mut untranslatable = Vec::new();
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort();
    for key in keys {
        let Some(block) = o.get(key).and_then(Value::as_object) else {
            continue;
        };
        let Some(unit) = block.get("unit").and_then(Value::as_str) else {
            continue;
        };
        if AIPERF_CONTEXT.contains(&key.as_str()) {
            continue;
        }
        let Some(metric) = AIPERF_METRICS.iter().find(|(n, ..)| *n == key.as_str()) else {
            untranslatable.push(Untranslatable {
                theirs: key.clone(),
                why: "no inferbench counterpart".into(),
            });
            continue;
        };
        aiperf_block(key, block, unit, metric, &mut figures, &mut untranslatable);
    }
    let avg = |k: &str| {
        o.get(k)
            .and_then(Value::as_object)
            .and_then(|b| num(b, "avg"))
    };
    let completed = avg("request_count").map(|x| x.round() as u64);
    let failed = avg("error_request_count").map(|x| x.round() as u64);
    let load = o.get("input_config").and_then(|c| {
        find_number(c, "concurrency")
            .and_then(|c| u32::try_from(c as u64).ok())
            .filter(|c| *c > 0)
            .map(PeerLoad::Concurrency)
            .or_else(|| {
                find_number(c, "request_rate")
                    .filter(|r| *r > 0.0)
                    .map(PeerLoad::Rate)
            })
    });
    let about = [
        o.get("aiperf_version")
            .and_then(Value::as_str)
            .map(|v| format!("AIPerf {v}")),
        o.get("schema_version")
            .and_then(Value::as_str)
            .map(|v| format!("schema {v}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    sort(&mut figures);
    PeerResult {
        tool: PeerTool::AiPerf,
        about,
        load,
        completed,
        failed,
        figures,
        samples: Vec::new(),
        untranslatable,
    }
}

/// One AIPerf stats block (`{"unit": …, "avg": …, "p50": …}`) of a metric we know, in
/// our terms: a figure per statistic we report, in our unit.
fn aiperf_block(
    key: &str,
    block: &Map<String, Value>,
    unit: &str,
    metric: &AiperfMetric,
    figures: &mut Vec<Figure>,
    untranslatable: &mut Vec<Untranslatable>,
) {
    let (_, ours, kind, mapping) = metric;
    let stats: &[(&str, Stat)] = match kind {
        AiperfKind::Rate if block.get("p50").is_none() => &[("avg", Stat::Value)],
        _ => &[
            ("avg", Stat::Mean),
            ("p50", Stat::P50),
            ("p90", Stat::P90),
            ("p95", Stat::P95),
            ("p99", Stat::P99),
        ],
    };
    for (field, stat) in stats {
        let Some(raw) = num(block, field) else {
            continue;
        };
        let value = match kind {
            AiperfKind::Latency => match to_ms(raw, unit) {
                Some(v) => v,
                None => {
                    untranslatable.push(Untranslatable {
                        theirs: format!("{key}.{field}"),
                        why: format!("unit {unit:?} is not a duration we know"),
                    });
                    continue;
                }
            },
            AiperfKind::Rate | AiperfKind::Count => raw,
        };
        figures.push(Figure {
            ours,
            stat: *stat,
            value,
            theirs: format!("{key}.{field}"),
            mapping: mapping.clone(),
        });
    }
}

/// The first number under key `k` anywhere in `v` (depth first).
fn find_number(v: &Value, k: &str) -> Option<f64> {
    match v {
        Value::Object(m) => m
            .get(k)
            .and_then(Value::as_f64)
            .or_else(|| m.values().find_map(|x| find_number(x, k))),
        Value::Array(a) => a.iter().find_map(|x| find_number(x, k)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure<'a>(p: &'a PeerResult, ours: &str, stat: Stat) -> Option<&'a Figure> {
        p.figures.iter().find(|f| f.ours == ours && f.stat == stat)
    }

    #[test]
    fn vllm_figures_map_onto_ours() {
        let text = r#"{"date": "20250101-000000", "backend": "openai-chat", "model_id": "m",
            "num_prompts": 10, "request_rate": "inf", "burstiness": 1.0, "max_concurrency": 4,
            "duration": 2.0, "completed": 9, "failed": 1, "request_throughput": 4.5,
            "output_throughput": 540.0, "total_token_throughput": 900.0,
            "mean_ttft_ms": 50.5, "median_ttft_ms": 50.0, "std_ttft_ms": 1.0, "p99_ttft_ms": 60.0,
            "p99.9_ttft_ms": 61.0, "mean_tpot_ms": 5.0, "median_tpot_ms": 5.0, "p99_tpot_ms": 6.0,
            "mean_itl_ms": 5.1, "median_itl_ms": 5.0, "p99_itl_ms": 9.0,
            "ttfts": [0.05, 0.06, 0.0], "itls": [[0.005, 0.005], [0.006, 0.006], []],
            "output_lens": [3, 3, 0], "input_lens": [10, 10, 10]}"#;
        let p = parse(text).expect("parses");
        assert_eq!(p.tool, PeerTool::VllmBenchServe);
        assert_eq!(p.load, Some(PeerLoad::Concurrency(4)));
        assert_eq!((p.completed, p.failed), (Some(9), Some(1)));
        assert_eq!(
            figure(&p, "ttft_ms", Stat::P50).map(|f| f.value),
            Some(50.0)
        );
        assert_eq!(figure(&p, "tpot_ms", Stat::P99).map(|f| f.value), Some(6.0));
        // vLLM's ITL (per chunk, pooled) is set beside our pooled chunk gaps, every
        // statistic of it; never beside icl_ms (per request, averaged).
        assert_eq!(
            figure(&p, ITL_POOLED, Stat::Mean).map(|f| f.value),
            Some(5.1)
        );
        assert_eq!(
            figure(&p, ITL_POOLED, Stat::P99).map(|f| f.value),
            Some(9.0)
        );
        assert_eq!(
            figure(&p, ITL_POOLED, Stat::P50).map(|f| f.value),
            Some(5.0)
        );
        assert!(p.figures.iter().all(|f| f.ours != "icl_ms"));
        assert_eq!(
            figure(&p, REQUEST_RPS, Stat::Value).map(|f| f.value),
            Some(4.5)
        );
        // p99.9 and total throughput do not translate, with a reason.
        for key in ["p99.9_ttft_ms", "total_token_throughput"] {
            assert!(
                p.untranslatable
                    .iter()
                    .any(|u| u.theirs == key && !u.why.is_empty()),
                "{key}: {:?}",
                p.untranslatable
            );
        }
        match &figure(&p, ITL_POOLED, Stat::Mean).map(|f| &f.mapping) {
            Some(Mapping::Close(why)) => assert!(why.contains("per chunk"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Per-request values: seconds → ms, the failed request (TTFT 0) left out.
        let s = |k: &str| {
            p.samples
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
        };
        let ttft = s("ttft_ms").expect("ttft");
        assert_eq!(ttft.len(), 2);
        assert!(
            (ttft[0] - 50.0).abs() < 1e-9 && (ttft[1] - 60.0).abs() < 1e-9,
            "{ttft:?}"
        );
        let e2e = s("e2e_ms").expect("e2e");
        assert!(
            (e2e[0] - 60.0).abs() < 1e-9 && (e2e[1] - 72.0).abs() < 1e-9,
            "{e2e:?}"
        );
        let tpot = s("tpot_ms").expect("tpot");
        assert!(
            (tpot[0] - 5.0).abs() < 1e-9 && (tpot[1] - 6.0).abs() < 1e-9,
            "{tpot:?}"
        );
    }

    #[test]
    fn aiperf_blocks_map_onto_ours_in_their_units() {
        let text = r#"{"schema_version": "1.5", "aiperf_version": "0.5.0",
            "time_to_first_token": {"unit": "ms", "avg": 40.0, "p50": 39.0, "p99": 55.0, "count": 20},
            "inter_token_latency": {"unit": "ns", "avg": 5000000.0, "p99": 7000000.0, "count": 20},
            "request_latency": {"unit": "s", "avg": 0.5, "count": 20},
            "request_throughput": {"unit": "requests/sec", "avg": 3.0},
            "request_count": {"unit": "requests", "avg": 20.0},
            "time_to_second_token": {"unit": "ms", "avg": 9.0, "count": 20},
            "input_config": {"loadgen": {"concurrency": 8}}}"#;
        let p = parse(text).expect("parses");
        assert_eq!(p.tool, PeerTool::AiPerf);
        assert_eq!(p.load, Some(PeerLoad::Concurrency(8)));
        assert_eq!(p.completed, Some(20));
        assert_eq!(
            figure(&p, "ttft_ms", Stat::P99).map(|f| f.value),
            Some(55.0)
        );
        assert_eq!(
            figure(&p, "tpot_ms", Stat::Mean).map(|f| f.value),
            Some(5.0)
        );
        assert_eq!(
            figure(&p, "e2e_ms", Stat::Mean).map(|f| f.value),
            Some(500.0)
        );
        assert_eq!(
            figure(&p, REQUEST_RPS, Stat::Value).map(|f| f.value),
            Some(3.0)
        );
        assert!(
            p.untranslatable
                .iter()
                .any(|u| u.theirs == "time_to_second_token")
        );
        assert!(!p.untranslatable.iter().any(|u| u.theirs == "request_count"));
    }

    #[test]
    fn other_files_are_refused() {
        assert!(matches!(parse("[1,2]"), Err(PeerError::Unknown)));
        assert!(matches!(parse("{\"a\": 1}"), Err(PeerError::Unknown)));
        assert!(matches!(parse("nope"), Err(PeerError::Json(_))));
        let ours = serde_json::json!({"schema_version": 1, "runs": [], "mode": "api"});
        assert_eq!(detect(&ours), None);
    }
}
