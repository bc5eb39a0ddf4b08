//! The server metrics we know by name, per engine, and what each one means for us.
//!
//! Names were read from the engines' `/metrics` (llama-server: checked on the build that
//! `scripts/setup.sh` installs, started with `--metrics`; vLLM, SGLang, TGI: from their
//! documented metric lists). A metric is matched by its exact name, whatever engine
//! serves it, so a `kind: openai` server that is really vLLM is read as vLLM. Samples of
//! one name with different labels (vLLM's `model_name`, `engine`) are summed.
//!
//! Roles (our series names):
//! - `queue_depth`: requests waiting for the engine to take them;
//! - `running`: requests the engine is working on;
//! - `kv_cache_use`: share of the KV cache in use, 0–1 (vLLM's `*_perc` gauges are
//!   fractions despite the name);
//! - `kv_cache_tokens`: tokens held in the KV cache;
//! - `prompt_tps`, `generation_tps`, `cached_prompt_tps`: token counters, as rates;
//! - `server_ttft`, `server_itl`, `server_tpot`, `server_e2e`, `server_queue_time`:
//!   latency histograms, summarized over the step.

/// How a known metric is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A level: each scrape's value.
    Gauge,
    /// A running total: differences between scrapes over their time apart.
    Rate,
    /// A histogram in seconds: buckets, sum and count at the step's first and last scrape.
    Histogram,
}

/// One metric name we understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The engine's name for it (family name; for a histogram without `_bucket`).
    pub metric: &'static str,
    /// Our series name (the role).
    pub series: &'static str,
    /// For people.
    pub label: &'static str,
    /// Unit of our series ("requests", "ratio", "tokens", "tok/s", "ms").
    pub unit: &'static str,
    pub read: Read,
    /// Which engine serves it.
    pub engine: &'static str,
}

macro_rules! known {
    ($($engine:literal $metric:literal => $series:literal, $label:literal, $unit:literal, $read:ident;)*) => {
        /// Every metric name we read.
        pub const KNOWN: &[Known] = &[$(Known {
            metric: $metric,
            series: $series,
            label: $label,
            unit: $unit,
            read: Read::$read,
            engine: $engine,
        }),*];
    };
}

known! {
    "llama-server" "llamacpp:requests_deferred" => "queue_depth", "requests waiting", "requests", Gauge;
    "llama-server" "llamacpp:requests_processing" => "running", "requests running", "requests", Gauge;
    "llama-server" "llamacpp:kv_cache_usage_ratio" => "kv_cache_use", "KV cache in use", "ratio", Gauge;
    "llama-server" "llamacpp:kv_cache_tokens" => "kv_cache_tokens", "KV cache tokens", "tokens", Gauge;
    "llama-server" "llamacpp:prompt_tokens_total" => "prompt_tps", "prompt tokens/s", "tok/s", Rate;
    "llama-server" "llamacpp:prompt_tokens_cached_total" => "cached_prompt_tps", "cached prompt tokens/s", "tok/s", Rate;
    "llama-server" "llamacpp:tokens_predicted_total" => "generation_tps", "generated tokens/s", "tok/s", Rate;
    "vLLM" "vllm:num_requests_waiting" => "queue_depth", "requests waiting", "requests", Gauge;
    "vLLM" "vllm:num_requests_running" => "running", "requests running", "requests", Gauge;
    "vLLM" "vllm:gpu_cache_usage_perc" => "kv_cache_use", "KV cache in use", "ratio", Gauge;
    "vLLM" "vllm:kv_cache_usage_perc" => "kv_cache_use", "KV cache in use", "ratio", Gauge;
    "vLLM" "vllm:prompt_tokens_total" => "prompt_tps", "prompt tokens/s", "tok/s", Rate;
    "vLLM" "vllm:generation_tokens_total" => "generation_tps", "generated tokens/s", "tok/s", Rate;
    "vLLM" "vllm:time_to_first_token_seconds" => "server_ttft", "server TTFT", "ms", Histogram;
    "vLLM" "vllm:inter_token_latency_seconds" => "server_itl", "server ITL", "ms", Histogram;
    "vLLM" "vllm:time_per_output_token_seconds" => "server_tpot", "server TPOT", "ms", Histogram;
    "vLLM" "vllm:e2e_request_latency_seconds" => "server_e2e", "server E2E", "ms", Histogram;
    "vLLM" "vllm:request_queue_time_seconds" => "server_queue_time", "server queue time", "ms", Histogram;
    "SGLang" "sglang:num_queue_reqs" => "queue_depth", "requests waiting", "requests", Gauge;
    "SGLang" "sglang:num_running_reqs" => "running", "requests running", "requests", Gauge;
    "SGLang" "sglang:token_usage" => "kv_cache_use", "KV cache in use", "ratio", Gauge;
    "SGLang" "sglang:prompt_tokens_total" => "prompt_tps", "prompt tokens/s", "tok/s", Rate;
    "SGLang" "sglang:generation_tokens_total" => "generation_tps", "generated tokens/s", "tok/s", Rate;
    "SGLang" "sglang:time_to_first_token_seconds" => "server_ttft", "server TTFT", "ms", Histogram;
    "SGLang" "sglang:inter_token_latency_seconds" => "server_itl", "server ITL", "ms", Histogram;
    "SGLang" "sglang:time_per_output_token_seconds" => "server_tpot", "server TPOT", "ms", Histogram;
    "SGLang" "sglang:e2e_request_latency_seconds" => "server_e2e", "server E2E", "ms", Histogram;
    "TGI" "tgi_queue_size" => "queue_depth", "requests waiting", "requests", Gauge;
    "TGI" "tgi_batch_current_size" => "running", "requests running", "requests", Gauge;
    "TGI" "tgi_request_mean_time_per_token_duration" => "server_tpot", "server TPOT", "ms", Histogram;
    "TGI" "tgi_request_queue_duration" => "server_queue_time", "server queue time", "ms", Histogram;
}

/// The entry for a family name.
pub fn lookup(metric: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.metric == metric)
}

/// Our label and unit of a series name.
pub fn describe(series: &str) -> Option<(&'static str, &'static str)> {
    KNOWN
        .iter()
        .find(|k| k.series == series)
        .map(|k| (k.label, k.unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_roles_consistent() {
        for (i, k) in KNOWN.iter().enumerate() {
            assert!(
                KNOWN[..i].iter().all(|o| o.metric != k.metric),
                "{} twice",
                k.metric
            );
            // One role, one label, unit and way of reading across engines.
            let first = KNOWN.iter().find(|o| o.series == k.series).expect("itself");
            assert_eq!(
                (first.label, first.unit, first.read),
                (k.label, k.unit, k.read),
                "{}",
                k.metric
            );
            assert_eq!(
                k.read == Read::Histogram,
                k.series.starts_with("server_"),
                "{}",
                k.metric
            );
        }
        assert_eq!(
            lookup("llamacpp:requests_deferred").map(|k| k.series),
            Some("queue_depth")
        );
        assert_eq!(
            lookup("vllm:kv_cache_usage_perc").map(|k| k.series),
            Some("kv_cache_use")
        );
        assert_eq!(lookup("nope"), None);
    }
}
