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
//!
//! **Burst rule.** A decode rate needs content that arrived spread over time. A server
//! that holds a reply back and sends every chunk at once at the end (a slow back end, a
//! buffering proxy) makes first → last content event a few microseconds of parsing, and
//! TPOT ≈ 0 (the seed printed 23,444 tok/s for a server making ~1 token/s). So, by
//! [`burst`], TPOT and decode tok/s are *not measurable from the stream* (left `None`;
//! the record carries a `decode_not_measurable` flag) when the reply has at least two
//! output tokens and
//! - its content arrived in a single event (span 0), or
//! - it has at least [`BURST_MIN_TOKENS`] tokens and the span is shorter than
//!   [`BURST_MS_PER_TOKEN`] per token (faster than 10,000 tok/s: no batch-1 stream is), or
//! - it has at least [`BURST_MIN_TOKENS`] tokens, the span is shorter than
//!   [`BURST_SPAN_FRACTION`] of E2E and shorter than [`BURST_RELATIVE_MS_PER_TOKEN`] per
//!   token (a burst that a slow link spread over a few ms; the per-token cap keeps a
//!   request that waited long in a queue and then streamed normally out of it).
//!
//! TTFT, E2E and end-to-end tok/s stay: they are what the client saw. But the TTFT of such
//! a reply holds the whole generation (one lump), not a prefill, and the gaps between its
//! chunks are parsing time, not decode: so prefill tok/s (prompt tokens ÷ TTFT) and ICL
//! are withheld (`None`) as well, and the record says its TTFT holds the generation
//! ([`TTFT_HOLDS_GENERATION`]); reports mark that TTFT.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Set when the content came in one burst: TPOT, decode tok/s, ICL and prefill tok/s
    /// are then `None` (TTFT holds the whole generation).
    pub burst: Option<Burst>,
}

/// Flag kind of a reply whose decode rate cannot be read from its stream ([`burst`]).
pub const DECODE_NOT_MEASURABLE: &str = "decode_not_measurable";

/// What reports say of the TTFT of a reply that came in one lump ([`burst`]).
pub const TTFT_HOLDS_GENERATION: &str = "TTFT holds the whole generation (one lump)";

/// At least this many output tokens before a short span counts as a burst (besides the
/// single-event case): a reply of a few tokens may honestly come in one or two reads.
pub const BURST_MIN_TOKENS: u64 = 8;
/// Absolute rule: a content span below this many ms per output token (10,000 tok/s) is
/// a burst. Parsing a burst takes ~1–50 µs per event; the fastest batch-1 decode of a
/// tiny model on a datacenter GPU is ~0.3–1 ms per token.
pub const BURST_MS_PER_TOKEN: f64 = 0.1;
/// Relative rule: a content span below this fraction of E2E (sent → last content) ...
pub const BURST_SPAN_FRACTION: f64 = 0.01;
/// ... and below this many ms per token (2,000 tok/s) is a burst.
pub const BURST_RELATIVE_MS_PER_TOKEN: f64 = 0.5;

/// Why a reply's decode rate cannot be read from its stream (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Burst {
    pub tokens: u64,
    pub events: usize,
    /// First → last content event, ms.
    pub span_ms: f64,
    /// Sent → last content event, ms.
    pub e2e_ms: f64,
    /// The decode rate the stream would have implied, tok/s (`None` for a zero span).
    pub implied_tps: Option<f64>,
}

impl Burst {
    /// The flag message, with the numbers.
    pub fn message(&self) -> String {
        let implied = match self.implied_tps {
            Some(t) => format!(", which would read as {t:.0} tok/s"),
            None => String::new(),
        };
        format!(
            "decode not measurable from the stream: {} output tokens arrived in {} content \
             events within {:.3} ms of a {:.1} ms reply{implied}; the server sent its reply \
             in one burst (a slow back end or a buffering proxy). TTFT and E2E are kept; \
             {TTFT_HOLDS_GENERATION}, so prefill tok/s and ICL are withheld too",
            self.tokens, self.events, self.span_ms, self.e2e_ms
        )
    }
}

/// The burst rule (module docs): `Some` when the content of this reply arrived in one
/// burst, so that no decode rate can be read from it. Pure.
pub fn burst(t: &Timeline, output_tokens: Option<u64>) -> Option<Burst> {
    let n = output_tokens?;
    let (first, last) = (*t.content_events.first()?, *t.content_events.last()?);
    if n < 2 {
        return None;
    }
    let span_ms = ms_between(first, last);
    let e2e_ms = ms_between(t.sent, last);
    let per_token = span_ms / (n - 1) as f64;
    let single_event = t.content_events.len() == 1 || span_ms <= 0.0;
    let many = n >= BURST_MIN_TOKENS;
    let absolute = many && per_token < BURST_MS_PER_TOKEN;
    let relative = many
        && e2e_ms > 0.0
        && span_ms < BURST_SPAN_FRACTION * e2e_ms
        && per_token < BURST_RELATIVE_MS_PER_TOKEN;
    (single_event || absolute || relative).then(|| Burst {
        tokens: n,
        events: t.content_events.len(),
        span_ms: span_ms.max(0.0),
        e2e_ms,
        implied_tps: per_second((n - 1) as f64, span_ms),
    })
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
    let burst = burst(t, output_tokens);
    let tpot_ms = match (first, last, output_tokens) {
        _ if burst.is_some() => None,
        (Some(f), Some(l), Some(n)) if n >= 2 => Some(ms_between(f, l) / (n - 1) as f64),
        _ => None,
    };
    // A burst's gaps are parsing time, not the engine's rhythm.
    let gaps = inter_chunk_gaps_ms(t);
    let icl_ms = if gaps.is_empty() || burst.is_some() {
        None
    } else {
        Some(gaps.iter().sum::<f64>() / gaps.len() as f64)
    };
    let decode_tps = tpot_ms.and_then(|x| per_second(1.0, x));
    let e2e_tps = match (output_tokens, e2e_ms) {
        (Some(n), Some(e)) => per_second(n as f64, e),
        _ => None,
    };
    // A burst's TTFT holds the whole generation: prompt tokens ÷ TTFT is no prefill rate.
    let prefill_tps = match (prompt_tokens, ttft_ms) {
        _ if burst.is_some() => None,
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
        burst,
    }
}

/// Reasoning in one stream, as recorded: the content events include the reasoning
/// deltas (they are generated tokens: TTFT, E2E and TPOT count them), and this says which
/// part was reasoning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// Content events that carried reasoning (a separate reasoning field, or any part of a
    /// `<think>` block).
    pub events: u64,
    /// The first content event that carried answer text (non-whitespace, outside the
    /// block); `None` when the reply ended while still reasoning.
    pub first_answer: Option<Duration>,
    /// Reasoning tokens as the server counted them
    /// (`usage.completion_tokens_details.reasoning_tokens`).
    pub usage_tokens: Option<u64>,
}

/// Figures of a reply that reasoned.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReasoningMetrics {
    /// **Time to first answer token** = first answer event − sent (TTFT counts the first
    /// reasoning token).
    pub ttft_answer_ms: Option<f64>,
    /// Reasoning tokens: the server's count, else the reasoning events (a lower bound when
    /// an event carries several tokens), with that source.
    pub tokens: Option<TokenCount>,
}

/// The reasoning figures of one request (pure).
pub fn reasoning(t: &Timeline, r: &Reasoning) -> ReasoningMetrics {
    let tokens = match r.usage_tokens {
        Some(n) => Some(TokenCount::new(n, TokenSource::Usage)),
        None if r.events > 0 => Some(TokenCount::new(r.events, TokenSource::Events)),
        None => None,
    };
    ReasoningMetrics {
        ttft_answer_ms: r.first_answer.map(|a| ms_between(t.sent, a)),
        tokens,
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

    #[test]
    fn reasoning_times_the_first_answer_token_apart() {
        // Sent at 100 ms; 3 reasoning events at 150, 160, 170 ms, the answer from 180 ms.
        let t = timeline(100, &[150, 160, 170, 180, 190]);
        let r = Reasoning {
            events: 3,
            first_answer: Some(ms(180)),
            usage_tokens: None,
        };
        let m = reasoning(&t, &r);
        assert_eq!(m.ttft_answer_ms, Some(80.0));
        assert_eq!(m.tokens, Some(TokenCount::new(3, TokenSource::Events)));
        // TTFT is the first reasoning token's.
        assert_eq!(compute(&t, Some(5), None).ttft_ms, Some(50.0));
        let told = Reasoning {
            usage_tokens: Some(7),
            first_answer: None,
            ..r
        };
        let m = reasoning(&t, &told);
        assert_eq!(
            m.ttft_answer_ms, None,
            "still reasoning when the reply ended"
        );
        assert_eq!(m.tokens, Some(TokenCount::new(7, TokenSource::Usage)));
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

    fn us(x: u64) -> Duration {
        Duration::from_micros(x)
    }

    #[test]
    fn one_burst_at_the_end_has_no_decode_rate() {
        // 128 tokens, one event each, 2 µs apart, after 128 s: what the seed read as
        // 23,444 tok/s and more.
        let mut t = timeline(0, &[]);
        t.content_events = (0..128).map(|i| ms(128_000) + us(2 * i)).collect();
        let m = compute(&t, Some(128), Some(20));
        let b = m.burst.clone().expect("a burst");
        assert_eq!((b.tokens, b.events), (128, 128));
        assert!((b.span_ms - 0.254).abs() < 1e-9, "{}", b.span_ms);
        assert!(b.implied_tps.unwrap() > 400_000.0);
        assert_eq!((m.tpot_ms, m.decode_tps), (None, None));
        assert_eq!(m.ttft_ms, Some(128_000.0));
        assert!(m.e2e_ms.is_some() && m.e2e_tps.is_some());
        // TTFT holds the whole generation: no prefill rate, no chunk rhythm.
        assert_eq!((m.prefill_tps, m.icl_ms), (None, None));
        let msg = b.message();
        assert!(
            msg.contains("128 output tokens")
                && msg.contains("0.254 ms")
                && msg.contains(TTFT_HOLDS_GENERATION),
            "{msg}"
        );
    }

    #[test]
    fn burst_rule_boundaries() {
        let spread = |n: u64, per_token_us: u64, ttft_ms: u64| {
            let mut t = timeline(0, &[]);
            t.content_events = (0..n).map(|i| ms(ttft_ms) + us(per_token_us * i)).collect();
            burst(&t, Some(n))
        };
        // Absolute: below 0.1 ms a token is a burst even right after a short TTFT.
        assert!(spread(8, 90, 10).is_some());
        assert!(spread(8, 110, 10).is_none());
        // Fewer than BURST_MIN_TOKENS: not judged (unless all in one event).
        assert!(spread(7, 10, 10).is_none());
        // Relative: 0.3 ms a token over 31 tokens (9.3 ms) after 1 s is a burst that a
        // link spread out; after 0.5 s (1.8% of E2E) it is not.
        assert!(spread(32, 300, 1000).is_some());
        assert!(spread(32, 300, 500).is_none());
        // A request that queued 60 s and then streamed at 1 ms a token is not a burst.
        assert!(spread(32, 1000, 60_000).is_none());
        // A single event carrying several tokens: nothing to time decode by.
        let one = timeline(0, &[50]);
        let b = burst(&one, Some(5)).expect("one event");
        assert_eq!((b.span_ms, b.implied_tps), (0.0, None));
        assert_eq!(compute(&one, Some(5), None).tpot_ms, None);
        assert!(burst(&one, Some(1)).is_none());
        assert!(burst(&one, None).is_none());
    }

    #[test]
    fn per_second_rejects_zero_span() {
        assert_eq!(per_second(10.0, 0.0), None);
        assert_eq!(per_second(10.0, -1.0), None);
        assert_eq!(per_second(10.0, 500.0), Some(20.0));
    }
}
