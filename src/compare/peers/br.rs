//! An llm-d-benchmark **Benchmark Report v0.2** (JSON) in our terms (pure).
//!
//! Read: `results.request_performance.aggregate` (`requests`, `latency`, `throughput`),
//! each figure a `Statistics` block whose `units` are authoritative (`ms`/`s`,
//! `ms/token`/`s/token`, `count`, `tokens/s`, `queries/s`); the load from
//! `scenario.load.standardized` (`concurrency`, else `rate_qps`); provenance from
//! `run.uid`, the load's `tool` and the stack's model names.
//!
//! | theirs | ours |
//! |---|---|
//! | `time_to_first_token` | `ttft_ms` |
//! | `time_per_output_token` | `tpot_ms` |
//! | `inter_token_latency` | `itl_pooled_ms` (per chunk, pooled, as llm-d's conversion of vLLM's ITL) |
//! | `request_latency` | `e2e_ms` |
//! | `requests.input_length` / `output_length` | `prompt_tokens` / `output_tokens` |
//! | `throughput.output_token_rate` / `request_rate` (also the draft's `requests_rate`) | step `output_tps` / `request_rps` |
//!
//! Their `mean`, `p50`, `p90`, `p95`, `p99` are set beside ours; their other statistics
//! (`min`, `p0p1` … `p25`, `p75`, `p99p9`, `max`, `stddev`, `mode`), the NTPOT and the
//! input and total token rates have no counterpart in a comparison and are listed as such.
//! A report whose load `tool` is `inferbench` (`--export br0.2`) holds our figures under
//! their names: every mapping is then the same.

use super::{
    Figure, ITL_POOLED, Mapping, OUTPUT_TPS, PeerLoad, PeerResult, PeerTool, REQUEST_RPS, Stat,
    Untranslatable, num, sort, to_ms,
};
use serde_json::{Map, Value};

/// Whether `o` is a Benchmark Report of the 0.2 line: `version` "0.2…", a `run` and
/// `results` object.
pub(super) fn is_benchmark_report(o: &Map<String, Value>) -> bool {
    o.get("version")
        .and_then(Value::as_str)
        .is_some_and(|v| v == "0.2" || v.starts_with("0.2."))
        && o.get("run").is_some_and(Value::is_object)
        && o.get("results").is_some_and(Value::is_object)
}

/// What a block measures, which decides the units it may carry.
#[derive(Clone, Copy)]
enum Kind {
    /// `ms` or `s`.
    Time,
    /// `ms/token` or `s/token`.
    PerToken,
    /// `count`.
    Count,
    /// `tokens/s` or `queries/s`: one run-level figure.
    Rate,
}

/// One block of theirs with a counterpart of ours.
struct Known {
    /// Path under `aggregate`, e.g. "latency.time_to_first_token".
    path: &'static str,
    ours: &'static str,
    kind: Kind,
    /// How close, for a report another tool wrote.
    why: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        path: "latency.time_to_first_token",
        ours: "ttft_ms",
        kind: Kind::Time,
        why: "the producing harness's TTFT (llm-d-benchmark converts each harness's own); ours from sending the request to its first content event",
    },
    Known {
        path: "latency.time_per_output_token",
        ours: "tpot_ms",
        kind: Kind::PerToken,
        why: "(latency − TTFT) ÷ (output tokens − 1) per request in vLLM, inference-perf and GuideLLM; ours first → last content event ÷ (tokens − 1)",
    },
    Known {
        path: "latency.inter_token_latency",
        ours: ITL_POOLED,
        kind: Kind::PerToken,
        why: "per chunk, pooled over requests when converted from vLLM (per token in some harnesses); ours the gaps between content events, pooled",
    },
    Known {
        path: "latency.request_latency",
        ours: "e2e_ms",
        kind: Kind::Time,
        why: "to the end of the response in the producing harness; ours to the last content event",
    },
    Known {
        path: "requests.input_length",
        ours: "prompt_tokens",
        kind: Kind::Count,
        why: "the producing harness's count of the input; ours the server's usage",
    },
    Known {
        path: "requests.output_length",
        ours: "output_tokens",
        kind: Kind::Count,
        why: "the producing harness's count; ours the server's usage, else our tokenizer",
    },
    Known {
        path: "throughput.output_token_rate",
        ours: OUTPUT_TPS,
        kind: Kind::Rate,
        why: "over the producing harness's run; ours tokens inside the step's span ÷ span",
    },
    Known {
        path: "throughput.request_rate",
        ours: REQUEST_RPS,
        kind: Kind::Rate,
        why: "over the producing harness's run; ours successful requests ÷ the step's span",
    },
    // The name in the first drafts of v0.2.
    Known {
        path: "throughput.requests_rate",
        ours: REQUEST_RPS,
        kind: Kind::Rate,
        why: "over the producing harness's run; ours successful requests ÷ the step's span",
    },
];

/// Blocks with no counterpart, and why.
const UNKNOWN: &[(&str, &str)] = &[
    (
        "latency.normalized_time_per_output_token",
        "NTPOT (latency ÷ output tokens, first token included): we do not report it",
    ),
    (
        "throughput.input_token_rate",
        "input tokens per second: we report prefill tok/s per request, not a system input rate",
    ),
    (
        "throughput.total_token_rate",
        "input + output tokens per second; we report output tok/s",
    ),
];

/// The statistics set beside ours.
const STATS: &[(&str, Stat)] = &[
    ("mean", Stat::Mean),
    ("p50", Stat::P50),
    ("p90", Stat::P90),
    ("p95", Stat::P95),
    ("p99", Stat::P99),
];

/// The value of a block's statistic in our unit; `None` for a unit that is not its kind's.
fn convert(value: f64, units: &str, kind: Kind) -> Option<f64> {
    match kind {
        Kind::Time => to_ms(value, units),
        Kind::PerToken => to_ms(value, units.strip_suffix("/token")?),
        Kind::Count => (units == "count").then_some(value),
        Kind::Rate => matches!(units, "tokens/s" | "queries/s").then_some(value),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// A Benchmark Report v0.2.
pub(super) fn parse(o: &Map<String, Value>) -> PeerResult {
    let doc = Value::Object(o.clone());
    let aggregate = at(&doc, "results.request_performance.aggregate");
    let load_std = at(&doc, "scenario.load.standardized");
    let tool = load_std.and_then(|l| l.get("tool")).and_then(Value::as_str);
    let ours = tool == Some("inferbench");
    let mut figures = Vec::new();
    let mut untranslatable = Vec::new();
    if let Some(agg) = aggregate {
        for k in KNOWN {
            if let Some(block) = at(agg, k.path).and_then(Value::as_object) {
                figures_of(k, block, ours, &mut figures, &mut untranslatable);
            }
        }
        for (path, why) in UNKNOWN {
            if at(agg, path).is_some_and(|b| !b.is_null()) {
                untranslatable.push(Untranslatable {
                    theirs: (*path).into(),
                    why: (*why).into(),
                });
            }
        }
    }
    let requests = aggregate.and_then(|a| a.get("requests"));
    let count = |k: &str| requests.and_then(|r| r.get(k)).and_then(Value::as_u64);
    let failed = count("failures");
    let completed = count("total").map(|t| t.saturating_sub(failed.unwrap_or(0)));
    let load = load_std.and_then(|l| {
        l.get("concurrency")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())
            .filter(|c| *c > 0)
            .map(PeerLoad::Concurrency)
            .or_else(|| {
                l.get("rate_qps")
                    .and_then(Value::as_f64)
                    .filter(|r| r.is_finite() && *r > 0.0)
                    .map(PeerLoad::Rate)
            })
    });
    sort(&mut figures);
    PeerResult {
        tool: PeerTool::BenchmarkReport,
        about: about(&doc, tool, load_std),
        load,
        completed,
        failed,
        figures,
        samples: Vec::new(),
        untranslatable,
    }
}

/// One `Statistics` block of a figure we know: a figure per statistic we set beside
/// ours, the others listed once.
fn figures_of(
    k: &Known,
    block: &Map<String, Value>,
    ours: bool,
    figures: &mut Vec<Figure>,
    untranslatable: &mut Vec<Untranslatable>,
) {
    let units = block.get("units").and_then(Value::as_str).unwrap_or("");
    if convert(1.0, units, k.kind).is_none() {
        untranslatable.push(Untranslatable {
            theirs: k.path.into(),
            why: format!("units {units:?} are not what this figure is measured in"),
        });
        return;
    }
    let mapping = if ours {
        Mapping::Same
    } else {
        Mapping::Close(k.why)
    };
    let stats: &[(&str, Stat)] = match k.kind {
        // A run-level figure: its mean is the value.
        Kind::Rate => &[("mean", Stat::Value)],
        _ => STATS,
    };
    for (field, stat) in stats {
        if let Some(value) = num(block, field).and_then(|x| convert(x, units, k.kind)) {
            figures.push(Figure {
                ours: k.ours,
                stat: *stat,
                value,
                theirs: format!("{}.{field}", k.path),
                mapping: mapping.clone(),
            });
        }
    }
    let others: Vec<&str> = block
        .iter()
        .filter(|(key, v)| {
            key.as_str() != "units" && !v.is_null() && !stats.iter().any(|(f, _)| f == key)
        })
        .map(|(key, _)| key.as_str())
        .collect();
    if !others.is_empty() {
        untranslatable.push(Untranslatable {
            theirs: format!("{}.{{{}}}", k.path, others.join(",")),
            why: match k.kind {
                Kind::Rate => "a distribution of rates over time; ours is one figure per step".into(),
                _ => "statistics a comparison does not set beside ours (ours: mean, p50, p90, p95, p99)".into(),
            },
        });
    }
}

/// "inferbench 0.1.0; model m; run 1f2e…" from what the report says.
fn about(doc: &Value, tool: Option<&str>, load_std: Option<&Value>) -> String {
    let version = load_std
        .and_then(|l| l.get("tool_version"))
        .and_then(Value::as_str);
    let models: Vec<&str> = at(doc, "scenario.stack")
        .and_then(Value::as_array)
        .map(|stack| {
            stack
                .iter()
                .filter_map(|c| at(c, "standardized.model.name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    [
        tool.map(|t| match version {
            Some(v) => format!("{t} {v}"),
            None => t.to_string(),
        }),
        (!models.is_empty()).then(|| format!("model {}", models.join(", "))),
        at(doc, "run.uid")
            .and_then(Value::as_str)
            .map(|u| format!("run {u}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::parse as parse_peer;
    use super::*;

    fn figure(p: &PeerResult, ours: &str, stat: Stat) -> Option<f64> {
        p.figures
            .iter()
            .find(|f| f.ours == ours && f.stat == stat)
            .map(|f| f.value)
    }

    #[test]
    fn units_convert_and_other_statistics_are_listed() {
        let text = r#"{"version": "0.2", "run": {"uid": "u1"},
            "scenario": {"load": {"metadata": {}, "native": {},
                "standardized": {"tool": "vllm-benchmark", "tool_version": "0.11",
                    "source": "random", "input_seq_len": {"distribution": "fixed", "value": 100},
                    "rate_qps": 4.0}}},
            "results": {"request_performance": {"aggregate": {
                "requests": {"total": 10, "failures": 2,
                    "output_length": {"units": "count", "mean": 64.0}},
                "latency": {
                    "time_to_first_token": {"units": "s", "mean": 0.05, "p99": 0.08, "p99p9": 0.09, "min": 0.01},
                    "inter_token_latency": {"units": "s/token", "mean": 0.004, "p50": 0.0035},
                    "request_latency": {"units": "tokens/s", "mean": 3.0},
                    "normalized_time_per_output_token": {"units": "ms/token", "mean": 9.0}},
                "throughput": {"requests_rate": {"units": "queries/s", "mean": 3.5},
                    "total_token_rate": {"units": "tokens/s", "mean": 900.0}}}}}}"#;
        let p = parse_peer(text).expect("parses");
        assert_eq!(p.tool, PeerTool::BenchmarkReport);
        assert_eq!(p.load, Some(PeerLoad::Rate(4.0)));
        assert_eq!((p.completed, p.failed), (Some(8), Some(2)));
        assert_eq!(figure(&p, "ttft_ms", Stat::Mean), Some(50.0));
        assert_eq!(figure(&p, "ttft_ms", Stat::P99), Some(80.0));
        assert_eq!(figure(&p, ITL_POOLED, Stat::P50), Some(3.5));
        assert_eq!(figure(&p, REQUEST_RPS, Stat::Value), Some(3.5));
        assert_eq!(figure(&p, "output_tokens", Stat::Mean), Some(64.0));
        // A latency in tokens/s is refused, not converted.
        assert_eq!(figure(&p, "e2e_ms", Stat::Mean), None);
        let listed = |s: &str| p.untranslatable.iter().any(|u| u.theirs.contains(s));
        for key in [
            "latency.request_latency",
            "p99p9",
            "normalized_time_per_output_token",
            "total_token_rate",
        ] {
            assert!(listed(key), "{key}: {:?}", p.untranslatable);
        }
        assert!(
            p.figures
                .iter()
                .all(|f| matches!(f.mapping, Mapping::Close(_)))
        );
        assert!(p.about.contains("vllm-benchmark 0.11"), "{}", p.about);
    }

    #[test]
    fn only_the_0_2_line_is_a_benchmark_report() {
        let v01 = r#"{"version": "0.1", "scenario": {}, "metrics": {}}"#;
        assert!(parse_peer(v01).is_err());
        let v021 = r#"{"version": "0.2.1", "run": {"uid": "x"}, "results": {}}"#;
        assert_eq!(
            parse_peer(v021).map(|p| p.tool),
            Ok(PeerTool::BenchmarkReport)
        );
    }
}
