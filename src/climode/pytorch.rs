//! PyTorch / transformers through `python/generate.py`: one process per run, one JSON line
//! out (the last line of stdout that is a JSON object).
//!
//! The script measures on its own clock (`time.perf_counter`): TTFT from the call to
//! `generate` to the first text item of a `TextIteratorStreamer(skip_prompt=True)` (without
//! `skip_prompt` the first item is the prompt and TTFT reads ≈ 0), prefill = TTFT, decode =
//! first to last streamed item, token counts from ids (`output.shape[1] - prompt_len`), not
//! from streamed text (items may be empty while the tokenizer holds text back).

use crate::results::EngineReport;
use serde::{Deserialize, Serialize};

/// The JSON line `python/generate.py` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateOutput {
    pub load_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub prefill_ms: Option<f64>,
    /// First streamed item to last streamed item.
    pub decode_ms: Option<f64>,
    /// `generate` call to return.
    pub generate_ms: Option<f64>,
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Number of non-empty items the streamer produced.
    pub stream_items: Option<u64>,
    pub device: Option<String>,
    pub dtype: Option<String>,
    pub peak_memory_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub torch_version: Option<String>,
    pub transformers_version: Option<String>,
    pub text: String,
    pub error: Option<String>,
}

impl GenerateOutput {
    /// Decode rate: tokens after the first ÷ time from the first to the last item.
    pub fn decode_tps(&self) -> Option<f64> {
        match (self.output_tokens, self.decode_ms) {
            (Some(n), Some(ms)) if n >= 2 && ms > 0.0 => Some((n - 1) as f64 * 1000.0 / ms),
            _ => None,
        }
    }

    pub fn prefill_tps(&self) -> Option<f64> {
        match (self.prompt_tokens, self.prefill_ms) {
            (Some(n), Some(ms)) if ms > 0.0 => Some(n as f64 * 1000.0 / ms),
            _ => None,
        }
    }

    pub fn to_report(&self) -> EngineReport {
        EngineReport {
            source: "python/generate.py".into(),
            prompt_tokens: self.prompt_tokens,
            prompt_ms: self.prefill_ms,
            prefill_tps: self.prefill_tps(),
            decode_tokens: self.output_tokens,
            decode_ms: self.decode_ms,
            decode_tps: self.decode_tps(),
            load_ms: self.load_ms,
            total_ms: self.generate_ms,
            cached_tokens: None,
        }
    }
}

/// Parse the last line of `stdout` that is a JSON object.
pub fn parse_generate_output(stdout: &str) -> Option<GenerateOutput> {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_json_line_wins_and_rates_follow() {
        let out = "loading...\n{\"ttft_ms\": 1}\n{\"ttft_ms\": 50.0, \"prefill_ms\": 50.0, \"decode_ms\": 1000.0, \"prompt_tokens\": 20, \"output_tokens\": 101, \"text\": \"hi\"}\n";
        let g = parse_generate_output(out).unwrap();
        assert_eq!(g.ttft_ms, Some(50.0));
        assert_eq!(g.decode_tps(), Some(100.0));
        assert_eq!(g.prefill_tps(), Some(400.0));
        assert!(parse_generate_output("no json\n").is_none());
    }
}
