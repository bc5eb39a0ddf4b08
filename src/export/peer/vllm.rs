//! One load step in the shape of vLLM's `bench serve --save-result` JSON, pure.
//!
//! Our figures under their names; what has no counterpart is left out:
//!
//! | theirs | ours |
//! |---|---|
//! | `num_prompts`, `completed`, `failed` | measured requests, successful, failed |
//! | `max_concurrency` / `request_rate`, `burstiness` | the step's closed-loop concurrency (rate `"inf"`, as vLLM writes it) / open-loop rate and burstiness |
//! | `duration` | the step's span, s |
//! | `total_input_tokens`, `total_output_tokens` | prompt / output tokens of the successful requests (input only when every one has a count) |
//! | `request_throughput`, `output_throughput` | step `request_rps`, `output_tps` |
//! | `{mean,median,std,p90,p95,p99}_ttft_ms` | `ttft_ms` |
//! | `…_tpot_ms` | `tpot_ms`: (last − first content event) ÷ (tokens − 1) per request |
//! | `…_itl_ms` | chunk gaps pooled over every request, as vLLM defines ITL (not our per-request `icl_ms`) |
//! | `…_e2el_ms` | `e2e_ms`: sent → last content event |
//!
//! `std_*` is the population standard deviation, as vLLM's `np.std` (ours is the sample
//! one, converted). Left out: `total_token_throughput`, `request_goodput`,
//! `max_output_tokens_per_s`, `max_concurrent_requests`, and the per-request lists of
//! `--save-detailed`. A few keys of ours say where the file came from (`tool`, `engine`,
//! `load_step`), as vLLM's `--metadata` adds keys of its own.

use super::StepView;
use crate::measure::stats::Summary;
use crate::results::Arrival;
use crate::results::metric;
use serde_json::{Map, Value, json};

/// Population standard deviation from a [`Summary`]'s sample one.
fn population_std(s: &Summary) -> f64 {
    if s.n > 1 {
        s.std * ((s.n - 1) as f64 / s.n as f64).sqrt()
    } else {
        0.0
    }
}

/// `{stat}_{name}_ms` for every statistic of `s`.
fn latency(o: &mut Map<String, Value>, name: &str, s: Option<Summary>) {
    let Some(s) = s else { return };
    for (stat, value) in [
        ("mean", s.mean),
        ("median", s.p50),
        ("std", population_std(&s)),
        ("p90", s.p90),
        ("p95", s.p95),
        ("p99", s.p99),
    ] {
        o.insert(format!("{stat}_{name}_ms"), json!(value));
    }
}

/// The step as vLLM `--save-result` JSON (pretty).
pub fn render(v: &StepView) -> String {
    let step = v.step;
    let mut o = Map::new();
    let mut put = |k: &str, x: Value| {
        if !x.is_null() {
            o.insert(k.to_string(), x);
        }
    };
    put("tool", json!(v.doc.tool));
    put("engine", json!(step.engine));
    put("load_step", json!(step.step));
    put(
        "date",
        json!(v.started().map(|t| t.format("%Y%m%d-%H%M%S").to_string())),
    );
    put("model_id", json!(v.model()));
    match step.arrival {
        Arrival::Closed { concurrency } => {
            put("max_concurrency", json!(concurrency));
            put("request_rate", json!("inf"));
        }
        Arrival::Open { rate, burstiness } => {
            put("request_rate", json!(rate));
            put("burstiness", json!(burstiness));
        }
    }
    put("num_prompts", json!(step.requests));
    put("completed", json!(step.ok));
    put("failed", json!(step.failed));
    put("duration", json!(v.span_s()));
    put("total_input_tokens", json!(v.total(|r| r.prompt_tokens)));
    put("total_output_tokens", json!(v.total(|r| r.output_tokens)));
    put("request_throughput", json!(step.request_rps));
    put("output_throughput", json!(step.output_tps));
    latency(&mut o, "ttft", v.summary(&metric::TTFT));
    latency(&mut o, "tpot", v.summary(&metric::TPOT));
    latency(&mut o, "itl", v.chunk_gaps());
    latency(&mut o, "e2el", v.summary(&metric::E2E));
    serde_json::to_string_pretty(&Value::Object(o)).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::summarize;

    #[test]
    fn std_is_numpys_population_std() {
        // np.std([1, 2, 3, 4]) = sqrt(1.25).
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((population_std(&s) - 1.25f64.sqrt()).abs() < 1e-12);
        let one = summarize(&[5.0]).unwrap();
        assert_eq!(population_std(&one), 0.0);
    }
}
