//! Observations → records, for API and load mode: [`record_from_trace`] turns a
//! [`Trace`] into a [`RunRecord`] and is pure: token-count precedence, failure rules and
//! the cross-checks between two clocks and two token counts all live here.
//!
//! Decode figures. `decode_tps`/`tpot_ms` come from our clock (`decode_tps_source`
//! "client_clock") when the content arrived spread over time. When it came in one burst
//! ([`metrics::burst`]) they are not measurable from the stream: the record gets a
//! `decode_not_measurable` flag with the numbers, the figure the stream would have
//! implied goes to `rejected_decode`, and the engine's own report fills them in where
//! there is one ("engine_clock"). TTFT and E2E stay either way, but such a TTFT holds the
//! whole generation: the record says so (`ttft_holds_generation`, which reports mark), and
//! prefill tok/s and ICL, which would read it as a prefill and parsing gaps as a rhythm,
//! are withheld. A figure above the physical ceiling is then removed by
//! [`roofline::apply`]; the run stays ok.
//!
//! Reasoning. A stream that reasoned ([`Trace::reasoning`]) gets `ttft_answer_ms` (sent →
//! first answer token; `ttft_ms` stays the first token of any kind) and
//! `reasoning_tokens` with its source (the server's count, else the reasoning events); a
//! reply that ended before any answer is flagged `no_answer`.

use crate::client::Trace;
use crate::measure::metrics::{self, DECODE_NOT_MEASURABLE, TokenSource, choose_token_count};
use crate::measure::roofline::{self, Roofline};
use crate::results::{RejectedDecode, RunRecord, SamplingApplied, TimelineMs};

/// Flag kind: a reasoning reply that ended before its answer began.
pub const NO_ANSWER: &str = "no_answer";

/// Checks applied while turning a trace into a record.
#[derive(Debug, Clone)]
pub struct Checks {
    /// Relative tolerance (%) for clock and token-count cross-checks.
    pub tolerance_pct: f64,
    /// Physical decode ceiling for this engine's model and memory system, if known.
    pub roofline: Option<Roofline>,
}

/// Flag kind: the engine served part of the prompt from its prompt cache although the
/// settings say caching is off.
pub const SERVED_FROM_PROMPT_CACHE: &str = "served_from_prompt_cache";

/// Flag `r` when caching is off (`cache_prompt` false) and the engine says it reused
/// cached prompt tokens: its TTFT is a warm cache's, not a full prefill's. Pure.
pub fn flag_prompt_cache(r: &mut RunRecord, cache_prompt: bool) {
    if let Some(n) = r.cached_prompt_tokens
        && n > 0
        && !cache_prompt
    {
        let of = r
            .prompt_tokens
            .map(|p| format!(" of {p}"))
            .unwrap_or_default();
        r.flag(
            SERVED_FROM_PROMPT_CACHE,
            format!(
                "served from prompt cache: the engine reused {n}{of} prompt tokens although cache_prompt is off (the engine ignores the setting or has no such switch); TTFT is a warm cache's"
            ),
        );
    }
}

/// Flag kind: the engine could not take the benchmark's sampling settings as asked
/// (what it applied instead is in `RunRecord::sampling_applied`).
pub const SAMPLING_NOT_APPLIED: &str = "sampling_not_applied";

/// Record the sampling the engine really applied: `None` when it took every setting as
/// asked; otherwise the record keeps it and carries a [`SAMPLING_NOT_APPLIED`] flag that
/// says what was applied and what ignored. Pure.
pub fn note_sampling_applied(r: &mut RunRecord, applied: Option<SamplingApplied>) {
    let Some(a) = applied else {
        return;
    };
    r.flag(
        SAMPLING_NOT_APPLIED,
        format!(
            "the engine could not take the benchmark's sampling: {}",
            a.describe()
        ),
    );
    r.sampling_applied = Some(a);
}

pub use crate::results::SHORT_REPLY;

/// Flag `r` when it delivered fewer output tokens than it asked for (`max_tokens`): a
/// decode rate over a shorter reply is not comparable with one over a full-length reply.
/// The message gives both counts (the chosen one with its source, and our tokenizer's
/// where it differs) and why the engine could stop early: ignore_eos off, or asked but
/// not sent (`ignore_eos_sent` `Some(false)`: the engine has no such switch), or sent and
/// not honoured (`Some(true)`); `None` where it is not known whether the engine took it.
/// A failed run is left alone. Pure.
pub fn check_delivered(r: &mut RunRecord, ignore_eos_sent: Option<bool>) {
    let asked = r.sampling.max_tokens as u64;
    let Some(n) = r.output_tokens.filter(|&n| r.ok && n < asked) else {
        return;
    };
    let source = match r.output_tokens_source {
        Some(TokenSource::Usage) => " (the server's usage)",
        Some(TokenSource::EngineReport) => " (the engine's report)",
        Some(TokenSource::Tokenizer) => " (our tokenizer)",
        Some(TokenSource::Events) => " (content events)",
        None => "",
    };
    let ours = match r.output_tokens_tokenizer {
        Some(t) if t != n => format!(", our tokenizer {t}"),
        _ => String::new(),
    };
    let finish = r
        .finish_reason
        .as_deref()
        .map(|f| format!(", finish reason {f}"))
        .unwrap_or_default();
    let why = match (r.sampling.ignore_eos, ignore_eos_sent) {
        (false, _) => "ignore_eos is off, so the engine may stop at its end of sequence",
        (true, Some(false)) => "ignore_eos was asked but the engine cannot be told to ignore EOS",
        (true, Some(true)) => "ignore_eos was sent and the engine stopped early anyway",
        (true, None) => "ignore_eos was asked and the engine stopped early",
    };
    r.flag(
        SHORT_REPLY,
        format!("delivered {n}{source} of {asked} tokens asked{ours}{finish}: {why}"),
    );
}

/// The checks every API record gets once built, in sequential and load mode alike: the
/// prompt cache ([`flag_prompt_cache`]), the sampling the engine really applied
/// ([`note_sampling_applied`]: `applied`, what the engine's registry says of it) and the
/// delivered length ([`check_delivered`]). Pure.
pub fn api_checks(
    r: &mut RunRecord,
    target: &crate::engine::ApiTarget,
    applied: Option<SamplingApplied>,
    cache_prompt: bool,
) {
    flag_prompt_cache(r, cache_prompt);
    note_sampling_applied(r, applied);
    check_delivered(r, Some(target.supports_ignore_eos));
}

/// Relative difference |a − b| / max(|a|, |b|) in percent.
pub fn rel_diff_pct(a: f64, b: f64) -> f64 {
    let m = a.abs().max(b.abs());
    if m == 0.0 {
        0.0
    } else {
        (a - b).abs() / m * 100.0
    }
}

/// Fill a record's measurements from a trace: text, token counts by the documented
/// precedence (usage, engine report, our tokenizer, content events) with their sources,
/// every metric of [`metrics::compute`], and the outcome. Pure; takes the trace by value
/// so the load executor does not copy texts.
pub fn fill_from_trace(r: &mut RunRecord, trace: Trace, tokenizer_count: Option<u64>) {
    let t = &trace.timeline;
    r.timeline = Some(TimelineMs::from_timeline(t));
    r.content_events = t.content_events.len() as u64;
    r.output_tokens_tokenizer = tokenizer_count;
    r.retries = trace.retries.clone();

    let usage_out = trace.usage.and_then(|u| u.completion_tokens);
    let usage_prompt = trace.usage.and_then(|u| u.prompt_tokens);
    let report = trace.engine_report.as_ref();
    let out = choose_token_count(
        usage_out,
        report.and_then(|e| e.decode_tokens),
        tokenizer_count,
        t.content_events.len(),
    );
    let prompt = match (usage_prompt, report.and_then(|e| e.prompt_tokens)) {
        (Some(n), _) => Some((n, TokenSource::Usage)),
        (None, Some(n)) => Some((n, TokenSource::EngineReport)),
        _ => None,
    };
    r.output_tokens = out.map(|c| c.count);
    r.output_tokens_source = out.map(|c| c.source);
    r.prompt_tokens = prompt.map(|p| p.0);
    r.prompt_tokens_source = prompt.map(|p| p.1);
    r.cached_prompt_tokens = trace
        .usage
        .and_then(|u| u.cached_tokens)
        .or(report.and_then(|e| e.cached_tokens));

    let m = metrics::compute(t, r.output_tokens, r.prompt_tokens);
    r.ttft_ms = m.ttft_ms;
    r.tpot_ms = m.tpot_ms;
    r.e2e_ms = m.e2e_ms;
    r.icl_ms = m.icl_ms;
    r.decode_tps = m.decode_tps;
    r.e2e_tps = m.e2e_tps;
    r.prefill_tps = m.prefill_tps;
    r.ttft_from_scheduled_ms = m.ttft_from_scheduled_ms;
    r.e2e_from_scheduled_ms = m.e2e_from_scheduled_ms;
    r.send_lag_ms = Some(m.send_lag_ms);
    r.decode_tps_source = m.decode_tps.map(|_| "client_clock".to_string());
    if let Some(b) = &m.burst {
        // `compute` already withheld prefill tok/s and ICL.
        r.ttft_holds_generation = true;
        let engine_tps = trace
            .engine_report
            .as_ref()
            .and_then(|e| e.decode_tps)
            .filter(|t| t.is_finite() && *t > 0.0);
        let mut message = b.message();
        match engine_tps {
            Some(tps) => {
                r.decode_tps = Some(tps);
                r.tpot_ms = Some(1000.0 / tps);
                r.decode_tps_source = Some("engine_clock".into());
                message.push_str(&format!(
                    "; decode {tps:.2} tok/s is the engine's own report"
                ));
            }
            None => message.push_str("; the engine reported no decode rate of its own"),
        }
        r.flag(DECODE_NOT_MEASURABLE, message);
        r.rejected_decode.push(RejectedDecode {
            reason: DECODE_NOT_MEASURABLE.into(),
            source: "client_clock".into(),
            decode_tps: b.implied_tps,
            tpot_ms: b.implied_tps.map(|t| 1000.0 / t),
        });
    }

    if let Some(reasoning) = &trace.reasoning {
        let rm = metrics::reasoning(t, reasoning);
        r.ttft_answer_ms = rm.ttft_answer_ms;
        r.reasoning_tokens = rm.tokens.map(|c| c.count);
        r.reasoning_tokens_source = rm.tokens.map(|c| c.source);
        if rm.ttft_answer_ms.is_none() {
            r.flag(
                NO_ANSWER,
                format!(
                    "the reply ended while the model was still reasoning ({} reasoning events, finish reason {}): no answer token, so no time to first answer token",
                    reasoning.events,
                    trace.finish_reason.as_deref().unwrap_or("none")
                ),
            );
        }
    }

    let no_content = t.content_events.is_empty();
    r.finish_reason = trace.finish_reason;
    r.engine_report = trace.engine_report;
    r.output_text = trace.text;
    match trace.error {
        Some(err) => r.fail(err.to_string()),
        None if no_content => r.fail("the response carried no generated text"),
        None => r.ok = true,
    }
}

/// Fill `base` (identity already set) from a trace, then cross-check what has two
/// sources and apply the physical bound. Pure.
pub fn record_from_trace(
    mut r: RunRecord,
    trace: &Trace,
    tokenizer_count: Option<u64>,
    checks: &Checks,
) -> RunRecord {
    fill_from_trace(&mut r, trace.clone(), tokenizer_count);
    if !r.ok {
        return r;
    }
    let usage_out = trace.usage.and_then(|u| u.completion_tokens);
    let report = trace.engine_report.as_ref();

    // Two clocks: our decode rate against the engine's own (not when ours is theirs);
    // against its wall-clock figure where its decode rate leaves time out (Ollama's
    // sampler), since a client waits through that time too.
    let ours = r
        .decode_tps
        .filter(|_| r.decode_tps_source.as_deref() == Some("client_clock"));
    let theirs = report.and_then(|e| match (e.decode_wall_tps, e.decode_tps) {
        (Some(wall), Some(eval)) => Some((wall, format!(
            "{wall:.2} tok/s by the engine's wall clock ({eval:.2} tok/s by its decode time alone)"
        ))),
        (None, Some(eval)) => Some((eval, format!("{eval:.2} tok/s reported by the engine"))),
        _ => None,
    });
    if let (Some(ours), Some((theirs, said))) = (ours, theirs) {
        let d = rel_diff_pct(ours, theirs);
        if d > checks.tolerance_pct {
            r.flag(
                "clock_mismatch",
                format!("decode {ours:.2} tok/s by our clock vs {said} ({d:.1}% apart)"),
            );
        }
    }
    // Two token counts: the server's against our tokenizer (not for a reply that
    // reasoned: the server counts reasoning tokens that a separate field kept out of the
    // text we tokenize).
    if let (Some(server), Some(ours), None) = (usage_out, tokenizer_count, &trace.reasoning) {
        let d = rel_diff_pct(server as f64, ours as f64);
        if d > checks.tolerance_pct && server.abs_diff(ours) > 2 {
            r.flag(
                "token_count_mismatch",
                format!(
                    "server counted {server} output tokens, our tokenizer {ours} ({d:.1}% apart)"
                ),
            );
        }
    }
    // The physical bound: a figure above it is a measurement bug, not a fast engine; it
    // is removed, the run's other numbers stay.
    if let Some(roof) = &checks.roofline {
        roofline::apply(&mut r, roof);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{RequestError, Usage};
    use crate::measure::metrics::Timeline;
    use crate::results::{EngineReport, Mode, Sampling};
    use std::time::Duration;

    #[test]
    fn a_reply_shorter_than_asked_is_flagged_with_both_counts_and_why() {
        let mut r = base(); // 128 asked
        r.ok = true;
        r.output_tokens = Some(97);
        r.output_tokens_source = Some(TokenSource::Usage);
        r.output_tokens_tokenizer = Some(96);
        r.finish_reason = Some("stop".into());
        check_delivered(&mut r, Some(false));
        assert_eq!(r.flags.len(), 1);
        assert_eq!(r.flags[0].kind, SHORT_REPLY);
        assert_eq!(
            r.flags[0].message,
            "delivered 97 (the server's usage) of 128 tokens asked, our tokenizer 96, finish reason stop: ignore_eos is off, so the engine may stop at its end of sequence"
        );
        // Asked and not takeable, asked and sent, asked and not known.
        let why = |sent: Option<bool>| {
            let mut r = base();
            r.ok = true;
            r.sampling.ignore_eos = true;
            r.output_tokens = Some(16);
            check_delivered(&mut r, sent);
            r.flags[0].message.clone()
        };
        assert!(
            why(Some(false))
                .ends_with("ignore_eos was asked but the engine cannot be told to ignore EOS")
        );
        assert!(
            why(Some(true)).ends_with("ignore_eos was sent and the engine stopped early anyway")
        );
        assert_eq!(
            why(None),
            "delivered 16 of 128 tokens asked: ignore_eos was asked and the engine stopped early"
        );
    }

    #[test]
    fn a_full_length_or_failed_or_uncounted_reply_is_not_flagged() {
        for (ok, n) in [
            (true, Some(128)),
            (true, Some(130)),
            (false, Some(3)),
            (true, None),
        ] {
            let mut r = base();
            r.ok = ok;
            r.output_tokens = n;
            check_delivered(&mut r, Some(true));
            assert!(r.flags.is_empty(), "{ok} {n:?}");
        }
    }

    fn base() -> RunRecord {
        RunRecord::new(
            "e",
            Mode::Api,
            "/v1/chat/completions",
            "short-01",
            "short",
            0,
            Sampling {
                max_tokens: 128,
                temperature: 0.0,
                seed: Some(42),
                top_p: None,
                top_k: None,
                ignore_eos: false,
            },
            "gemma3",
        )
    }

    fn trace(n_events: u64, itl_ms: u64, usage: Option<u64>) -> Trace {
        let ms = Duration::from_millis;
        Trace {
            timeline: Timeline {
                scheduled: ms(0),
                sent: ms(0),
                first_byte: Some(ms(10)),
                content_events: (0..n_events).map(|i| ms(50 + i * itl_ms)).collect(),
                end: Some(ms(50 + n_events * itl_ms)),
            },
            text: "가".repeat(n_events as usize),
            usage: usage.map(|u| Usage {
                prompt_tokens: Some(20),
                completion_tokens: Some(u),
                cached_tokens: None,
            }),
            ..Default::default()
        }
    }

    const CHECKS: &Checks = &Checks {
        tolerance_pct: 10.0,
        roofline: None,
    };

    #[test]
    fn usage_wins_over_tokenizer() {
        // 32 events carrying 4 tokens each; the tokenizer would say 96.
        let r = record_from_trace(base(), &trace(32, 5, Some(128)), Some(96), CHECKS);
        assert!(r.ok);
        assert_eq!(r.output_tokens, Some(128));
        assert_eq!(r.output_tokens_source, Some(TokenSource::Usage));
        assert_eq!(r.icl_ms, Some(5.0));
        assert_eq!(r.prompt_tokens, Some(20));
        assert!(r.flags.iter().any(|f| f.kind == "token_count_mismatch"));
    }

    #[test]
    fn tokenizer_then_events_when_no_usage() {
        let r = record_from_trace(base(), &trace(10, 5, None), Some(12), CHECKS);
        assert_eq!(r.output_tokens_source, Some(TokenSource::Tokenizer));
        let r = record_from_trace(base(), &trace(10, 5, None), None, CHECKS);
        assert_eq!(r.output_tokens, Some(10));
        assert_eq!(r.output_tokens_source, Some(TokenSource::Events));
    }

    #[test]
    fn errors_fail_the_run_and_keep_partial_data() {
        let mut t = trace(3, 5, None);
        t.error = Some(RequestError::Truncated("no [DONE]".into()));
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(!r.ok);
        assert!(r.error.unwrap().contains("no [DONE]"));
        assert_eq!(r.content_events, 3);
    }

    #[test]
    fn uzu_error_text_with_zero_usage_is_a_failure() {
        let mut t = trace(1, 5, Some(0));
        t.text = "Error: model not loaded".into();
        // The same text from an engine without that quirk is ordinary output.
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(r.ok);
        crate::client::stream::apply_error_text_rule(&mut t);
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(!r.ok);
        assert!(r.error.unwrap().contains("Error: model not loaded"));
    }

    #[test]
    fn clock_mismatch_and_roofline_are_flagged() {
        let mut t = trace(101, 5, Some(101));
        t.engine_report = Some(EngineReport {
            source: "llama.cpp timings".into(),
            decode_tps: Some(150.0),
            ..Default::default()
        });
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(r.ok);
        assert_eq!(r.decode_tps, Some(200.0));
        assert!(
            r.flags.iter().any(|f| f.kind == "clock_mismatch"),
            "{:?}",
            r.flags
        );
        let checks = Checks {
            tolerance_pct: 10.0,
            roofline: Some(Roofline::new(1_000_000, 0.12, "test")),
        };
        let r = record_from_trace(base(), &t, None, &checks);
        assert!(r.ok, "the run keeps its TTFT and E2E");
        assert!(r.flags.iter().any(|f| f.kind == "above_roofline"));
        // Ceiling 120 tok/s: ours (200) and the engine's (150) are both impossible and
        // both leave the fields summaries read.
        assert_eq!(
            (r.decode_tps, r.tpot_ms, r.decode_tps_source),
            (None, None, None)
        );
        assert_eq!(r.engine_report.as_ref().unwrap().decode_tps, None);
        assert_eq!(r.rejected_decode.len(), 2, "{:?}", r.rejected_decode);
        assert_eq!(r.rejected_decode[0].decode_tps, Some(200.0));
        assert_eq!(r.rejected_decode[0].tpot_ms, Some(5.0));
        assert_eq!(r.rejected_decode[1].source, "engine_clock");
        assert_eq!(r.ttft_ms, Some(50.0));
        assert_eq!(r.e2e_ms, Some(550.0));
    }

    #[test]
    fn our_clock_is_checked_against_the_engines_wall_clock_where_it_gives_one() {
        // Ours: 200 tok/s. Ollama's eval rate leaves its sampler out (280); its wall
        // clock (195) is what a client waits through.
        let mut t = trace(101, 5, Some(101));
        let report = |wall: f64| EngineReport {
            source: "ollama durations".into(),
            decode_tps: Some(280.0),
            decode_wall_tps: Some(wall),
            ..Default::default()
        };
        t.engine_report = Some(report(195.0));
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(
            r.flags.iter().all(|f| f.kind != "clock_mismatch"),
            "{:?}",
            r.flags
        );
        t.engine_report = Some(report(150.0));
        let r = record_from_trace(base(), &t, None, CHECKS);
        let flag = r.flags.iter().find(|f| f.kind == "clock_mismatch");
        assert!(
            flag.is_some_and(|f| f
                .message
                .contains("150.00 tok/s by the engine's wall clock")
                && f.message.contains("280.00 tok/s by its decode time alone")),
            "{:?}",
            r.flags
        );
    }

    /// 128 tokens, all content events within 0.1 ms at the end of a 128 s reply: the
    /// seed's CPU server behind a buffering proxy.
    fn burst_trace() -> Trace {
        let ms = Duration::from_millis;
        let end = ms(128_000);
        Trace {
            timeline: Timeline {
                scheduled: ms(0),
                sent: ms(0),
                first_byte: Some(ms(5)),
                content_events: (0..128u64)
                    .map(|i| end + Duration::from_nanos(800 * i))
                    .collect(),
                end: Some(end + ms(1)),
            },
            text: "가".repeat(128),
            usage: Some(Usage {
                prompt_tokens: Some(20),
                completion_tokens: Some(128),
                cached_tokens: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_burst_has_no_decode_rate_but_keeps_ttft_and_e2e() {
        let r = record_from_trace(base(), &burst_trace(), None, CHECKS);
        assert!(r.ok);
        assert_eq!(
            (r.decode_tps, r.tpot_ms, &r.decode_tps_source),
            (None, None, &None)
        );
        let ttft = r.ttft_ms.unwrap();
        let e2e = r.e2e_ms.unwrap();
        assert!((ttft - 128_000.0).abs() < 1e-6, "{ttft}");
        assert!((e2e - 128_000.101_6).abs() < 1e-3, "{e2e}");
        assert!(r.e2e_tps.is_some(), "end-to-end tok/s stays");
        // TTFT holds the whole generation, and says so; nothing reads it as a prefill, nor
        // the parsing gaps as a rhythm.
        assert!(r.ttft_holds_generation);
        assert_eq!((r.prefill_tps, r.icl_ms), (None, None));
        assert!(r.prompt_tokens.is_some(), "the prompt count itself stays");
        let f: Vec<_> = r
            .flags
            .iter()
            .filter(|f| f.kind == DECODE_NOT_MEASURABLE)
            .collect();
        assert_eq!(f.len(), 1, "{:?}", r.flags);
        assert!(
            f[0].message.contains("128 output tokens") && f[0].message.contains("no decode rate"),
            "{}",
            f[0].message
        );
        // What the stream would have claimed is kept aside: ~1.25 million tok/s.
        let rej = &r.rejected_decode[0];
        assert_eq!(rej.reason, DECODE_NOT_MEASURABLE);
        assert!(rej.decode_tps.unwrap() > 1e6, "{rej:?}");
        // The same rule where a roofline is known: nothing left for it to remove.
        let checks = Checks {
            tolerance_pct: 10.0,
            roofline: Some(Roofline::new(1_000_000_000, 80.0, "test")),
        };
        let r = record_from_trace(base(), &burst_trace(), None, &checks);
        assert!(r.ok && r.decode_tps.is_none());
        assert!(
            r.flags.iter().all(|f| f.kind != "above_roofline"),
            "{:?}",
            r.flags
        );
    }

    #[test]
    fn a_burst_takes_decode_from_the_engine_clock() {
        let mut t = burst_trace();
        t.engine_report = Some(EngineReport {
            source: "llama.cpp timings".into(),
            decode_tps: Some(1.02),
            ..Default::default()
        });
        let r = record_from_trace(base(), &t, None, CHECKS);
        assert!(r.ok);
        assert_eq!(r.decode_tps, Some(1.02));
        assert_eq!(r.decode_tps_source.as_deref(), Some("engine_clock"));
        assert!((r.tpot_ms.unwrap() - 1000.0 / 1.02).abs() < 1e-9);
        // Not compared with itself.
        assert!(
            r.flags.iter().all(|f| f.kind != "clock_mismatch"),
            "{:?}",
            r.flags
        );
        assert!(r.flags.iter().any(|f| f.kind == DECODE_NOT_MEASURABLE
            && f.message.contains("1.02 tok/s is the engine's own report")));
        // And an engine clock above the ceiling is removed like ours would be.
        let checks = Checks {
            tolerance_pct: 10.0,
            roofline: Some(Roofline::new(1_000_000_000, 0.5, "test")),
        };
        let r = record_from_trace(base(), &t, None, &checks);
        assert!(r.ok);
        assert_eq!(r.decode_tps, None);
        assert!(r.flags.iter().any(|f| f.kind == "above_roofline"));
        assert!(r.rejected_decode.iter().any(|x| x.source == "engine_clock"
            && x.reason == "above_roofline"
            && x.decode_tps == Some(1.02)));
        assert_eq!(r.rejected_decode.len(), 2, "{:?}", r.rejected_decode);
    }

    #[test]
    fn a_spread_stream_keeps_the_client_clock() {
        let r = record_from_trace(base(), &trace(64, 5, Some(64)), None, CHECKS);
        assert_eq!(r.decode_tps, Some(200.0));
        assert_eq!(r.decode_tps_source.as_deref(), Some("client_clock"));
        assert!(r.rejected_decode.is_empty());
        assert!(r.flags.iter().all(|f| f.kind != DECODE_NOT_MEASURABLE));
        assert!(!r.ttft_holds_generation);
        assert_eq!((r.icl_ms, r.prefill_tps), (Some(5.0), Some(400.0)));
    }

    #[test]
    fn no_content_is_a_failure() {
        let r = record_from_trace(base(), &trace(0, 5, Some(0)), None, CHECKS);
        assert!(!r.ok);
    }
}
