//! Per-request metrics as pure functions over recorded instants.
//!
//! Every instant is a [`Duration`] offset from one origin `Instant` taken when the
//! benchmark started, so the math here is exact and testable without a clock.
//!
//! Definitions (each metric is defined here and only here):
//! - **TTFT** (time to first token) = first content event − sent.
//! - **E2E** (end-to-end latency) = last content event − sent.
//! - **TPOT** (time per output token) = (last content event − first content event) /
//!   (output tokens − 1). Undefined for fewer than two output tokens.
//! - **ICL** (inter-chunk latency) = the gaps between consecutive content events. A chunk
//!   may carry several tokens, so ICL and TPOT differ then; both are reported.
//! - **decode tok/s** = 1 / TPOT.
//! - **end-to-end tok/s** = output tokens / E2E.
//! - **prefill tok/s** = prompt tokens / TTFT.
//! - **send lag** = sent − scheduled (queueing inside the client).
//! - TTFT and E2E are also given from the *scheduled* instant, so that queueing in the
//!   client (coordinated omission) is visible.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Raw instants of one request, as offsets from the benchmark's origin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// When the request was meant to be sent (load schedule); equals `sent` when sequential.
    pub scheduled: Duration,
    /// When the request left the client (just before the body was written).
    pub sent: Duration,
    /// When response headers arrived.
    pub first_byte: Option<Duration>,
    /// One instant per content-bearing event (non-empty text), stamped when parsed.
    pub content_events: Vec<Duration>,
    /// End of stream (connection finished or `[DONE]`/`done:true` seen).
    pub end: Option<Duration>,
}

/// Where an output (or prompt) token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's `usage` object (or Ollama's `eval_count`).
    Usage,
    /// The engine's own timing report (llama.cpp `timings.predicted_n`, a CLI perf block).
    EngineReport,
    /// Our tokenizer over the concatenated output text.
    Tokenizer,
    /// The number of content events (a lower bound when chunks carry several tokens).
    Events,
}

/// A token count with its provenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCount {
    pub count: u64,
    pub source: TokenSource,
}

impl TokenCount {
    pub fn new(count: u64, source: TokenSource) -> Self {
        Self { count, source }
    }
}

/// Pick the output token count by the documented precedence:
/// usage, then engine report, then tokenizer, then the number of content events.
pub fn choose_token_count(
    usage: Option<u64>,
    engine_report: Option<u64>,
    tokenizer: Option<u64>,
    events: usize,
) -> Option<TokenCount> {
    if let Some(n) = usage {
        return Some(TokenCount::new(n, TokenSource::Usage));
    }
    if let Some(n) = engine_report {
        return Some(TokenCount::new(n, TokenSource::EngineReport));
    }
    if let Some(n) = tokenizer {
        return Some(TokenCount::new(n, TokenSource::Tokenizer));
    }
    if events > 0 {
        return Some(TokenCount::new(events as u64, TokenSource::Events));
    }
    None
}

/// Metrics of one request. `None` where a metric is undefined for this request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestMetrics {
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    /// Mean inter-chunk latency.
    pub icl_ms: Option<f64>,
    pub decode_tps: Option<f64>,
    pub e2e_tps: Option<f64>,
    pub prefill_tps: Option<f64>,
    /// TTFT measured from the scheduled send time.
    pub ttft_from_scheduled_ms: Option<f64>,
    /// E2E measured from the scheduled send time.
    pub e2e_from_scheduled_ms: Option<f64>,
    /// sent − scheduled.
    pub send_lag_ms: f64,
}

/// Milliseconds between two offsets, `b - a` (negative if b precedes a).
pub fn ms_between(a: Duration, b: Duration) -> f64 {
    (b.as_nanos() as f64 - a.as_nanos() as f64) / 1e6
}

/// The gaps between consecutive content events, in milliseconds.
pub fn inter_chunk_gaps_ms(t: &Timeline) -> Vec<f64> {
    t.content_events
        .windows(2)
        .map(|w| ms_between(w[0], w[1]))
        .collect()
}

/// Compute every per-request metric from a timeline and token counts.
pub fn compute(
    t: &Timeline,
    output_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
) -> RequestMetrics {
    let first = t.content_events.first().copied();
    let last = t.content_events.last().copied();
    let ttft_ms = first.map(|f| ms_between(t.sent, f));
    let e2e_ms = last.map(|l| ms_between(t.sent, l));
    let tpot_ms = match (first, last, output_tokens) {
        (Some(f), Some(l), Some(n)) if n >= 2 => Some(ms_between(f, l) / (n - 1) as f64),
        _ => None,
    };
    let gaps = inter_chunk_gaps_ms(t);
    let icl_ms = if gaps.is_empty() {
        None
    } else {
        Some(gaps.iter().sum::<f64>() / gaps.len() as f64)
    };
    let decode_tps = tpot_ms.and_then(|x| per_second(1.0, x));
    let e2e_tps = match (output_tokens, e2e_ms) {
        (Some(n), Some(e)) => per_second(n as f64, e),
        _ => None,
    };
    let prefill_tps = match (prompt_tokens, ttft_ms) {
        (Some(n), Some(ttft)) => per_second(n as f64, ttft),
        _ => None,
    };
    RequestMetrics {
        ttft_ms,
        e2e_ms,
        tpot_ms,
        icl_ms,
        decode_tps,
        e2e_tps,
        prefill_tps,
        ttft_from_scheduled_ms: first.map(|f| ms_between(t.scheduled, f)),
        e2e_from_scheduled_ms: last.map(|l| ms_between(t.scheduled, l)),
        send_lag_ms: ms_between(t.scheduled, t.sent),
    }
}

/// `count` per second given a span in milliseconds; `None` for a non-positive span.
pub fn per_second(count: f64, span_ms: f64) -> Option<f64> {
    if span_ms > 0.0 && span_ms.is_finite() {
        Some(count * 1000.0 / span_ms)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn timeline(sent: u64, events: &[u64]) -> Timeline {
        Timeline {
            scheduled: ms(sent),
            sent: ms(sent),
            first_byte: Some(ms(sent + 1)),
            content_events: events.iter().map(|&e| ms(e)).collect(),
            end: events.last().map(|&e| ms(e + 1)),
        }
    }

    #[test]
    fn one_token_per_event() {
        // sent at 100, first token at 150, then every 5 ms: 128 tokens.
        let events: Vec<u64> = (0..128).map(|i| 150 + 5 * i).collect();
        let m = compute(&timeline(100, &events), Some(128), Some(20));
        assert_eq!(m.ttft_ms, Some(50.0));
        assert_eq!(m.e2e_ms, Some(50.0 + 5.0 * 127.0));
        assert_eq!(m.tpot_ms, Some(5.0));
        assert_eq!(m.icl_ms, Some(5.0));
        assert_eq!(m.decode_tps, Some(200.0));
        assert_eq!(m.prefill_tps, Some(400.0));
        let e2e_tps = m.e2e_tps.unwrap();
        assert!((e2e_tps - 128.0 / 0.685).abs() < 1e-9, "{e2e_tps}");
    }

    #[test]
    fn several_tokens_per_event_split_tpot_and_icl() {
        // 32 events 5 ms apart carrying 4 tokens each = 128 tokens.
        let events: Vec<u64> = (0..32).map(|i| 50 + 5 * i).collect();
        let m = compute(&timeline(0, &events), Some(128), None);
        assert_eq!(m.icl_ms, Some(5.0));
        let tpot = m.tpot_ms.unwrap();
        assert!((tpot - 155.0 / 127.0).abs() < 1e-12, "{tpot}");
        assert_eq!(m.prefill_tps, None);
    }

    #[test]
    fn undefined_metrics_are_none() {
        let m = compute(&timeline(0, &[]), None, Some(3));
        assert_eq!(m.ttft_ms, None);
        assert_eq!(m.tpot_ms, None);
        assert_eq!(m.decode_tps, None);
        let single = compute(&timeline(0, &[10]), Some(1), None);
        assert_eq!(single.ttft_ms, Some(10.0));
        assert_eq!(single.tpot_ms, None);
        assert_eq!(single.icl_ms, None);
    }

    #[test]
    fn scheduled_versus_sent() {
        let mut t = timeline(100, &[150, 155]);
        t.scheduled = ms(90);
        let m = compute(&t, Some(2), None);
        assert_eq!(m.send_lag_ms, 10.0);
        assert_eq!(m.ttft_ms, Some(50.0));
        assert_eq!(m.ttft_from_scheduled_ms, Some(60.0));
        assert_eq!(m.e2e_from_scheduled_ms, Some(65.0));
    }

    #[test]
    fn token_count_precedence() {
        assert_eq!(
            choose_token_count(Some(5), Some(6), Some(7), 8),
            Some(TokenCount::new(5, TokenSource::Usage))
        );
        assert_eq!(
            choose_token_count(None, Some(6), Some(7), 8),
            Some(TokenCount::new(6, TokenSource::EngineReport))
        );
        assert_eq!(
            choose_token_count(None, None, Some(7), 8),
            Some(TokenCount::new(7, TokenSource::Tokenizer))
        );
        assert_eq!(
            choose_token_count(None, None, None, 8),
            Some(TokenCount::new(8, TokenSource::Events))
        );
        assert_eq!(choose_token_count(None, None, None, 0), None);
    }

    #[test]
    fn per_second_rejects_zero_span() {
        assert_eq!(per_second(10.0, 0.0), None);
        assert_eq!(per_second(10.0, -1.0), None);
        assert_eq!(per_second(10.0, 500.0), Some(20.0));
    }
}
