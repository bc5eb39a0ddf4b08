//! What one load step achieved, computed from its run records (pure).
//!
//! Definitions (all instants are ms from the benchmark origin; a record's `sent_ms` and
//! `scheduled_ms` are absolute, its event and end offsets are relative to `sent`):
//! - **Span**: from the first measured request's scheduled instant to the last measured
//!   request's end. Warm-up requests are not measured.
//! - **Steady-state window** with N requests in flight (N = concurrency; for an open loop
//!   N = rate × mean E2E, Little's law, at least 1): it starts when the N-th measured
//!   request is sent (ramp-up before it) and ends when the first of the last N measured
//!   requests (by send order) finishes (drain after it). `None` when the step was too short
//!   for the two to be in order; give more requests than N.
//! - **System output tok/s** in a window: output tokens whose content event falls inside
//!   it, from every request of the step (warm-up included, since the engine served them),
//!   ÷ the window's length. A request's tokens are spread evenly over its content events
//!   (an event can carry several tokens).
//! - **Request throughput**: successful measured requests ÷ span.
//! - **Timeline**: per second of the span, tokens out, requests started, finished and failed.
//! - **Goodput**: measured requests that succeeded and met every SLO ÷ span; the good
//!   fraction divides by all measured requests, failed ones included.
//! - **Client headroom**: send lag (sent − scheduled) and the client's CPU time ÷ wall
//!   time. A step is flagged `client_bottleneck` when lag p99 of the requests scheduled in
//!   the steady window (all requests when there is none) exceeds
//!   [`LAG_P99_LIMIT_MS`] or the client used at least [`CPU_LIMIT`] of the cores its
//!   runtime could use: then the figures describe the client, not the engine.
//! - **Replies in one lump** (`decode_not_measurable` records): their TTFT stays in the
//!   TTFT figures but holds the whole generation; the step counts them
//!   (`ttft_holds_generation`) and is flagged [`TTFT_HOLDS_GENERATION_FLAG`], and reports
//!   mark its TTFT.

use crate::liveness::EngineExit;
use crate::measure::inference::{Bootstrap, Inference, infer};
use crate::measure::metrics::TTFT_HOLDS_GENERATION;
use crate::measure::stats::{Summary, summarize};
use crate::results::metric::{Metric, Scope};
use crate::results::{Flag, MergedStep, RunRecord, ServerMetrics};
use std::collections::BTreeMap;

// The report's data types are part of the results document.
pub use crate::results::{Arrival, ClientHeadroom, Goodput, Second, Slo, StepReport, Window};

/// Step flag kind: some of the step's replies came in one lump, so their TTFT holds the
/// whole generation ([`StepReport::ttft_holds_generation`]).
pub const TTFT_HOLDS_GENERATION_FLAG: &str = "ttft_holds_generation";

/// Send lag p99 above which the client could not keep the schedule (ms).
pub const LAG_P99_LIMIT_MS: f64 = 5.0;
/// Share of the available cores above which the client itself is saturated.
pub const CPU_LIMIT: f64 = 0.9;

/// Measured by the executor around the step, beside the records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepExtras {
    /// Client CPU seconds used during the step.
    pub cpu_s: Option<f64>,
    /// Wall seconds of the step.
    pub wall_s: Option<f64>,
    pub cores_available: usize,
    /// Connection set-up times measured before the step (not with `--no-preconnect`), ms.
    pub connect_ms: Vec<f64>,
    pub slo: Option<Slo>,
}

/// Absolute instants of one record: (sent, [events], finish), ms from the origin.
struct Abs {
    sent: f64,
    events: Vec<f64>,
    finish: f64,
}

fn abs(r: &RunRecord) -> Option<Abs> {
    let t = r.timeline.as_ref()?;
    let events: Vec<f64> = t.events_ms.iter().map(|e| t.sent_ms + e).collect();
    let finish = t
        .end_ms
        .or(t.events_ms.last().copied())
        .map(|e| t.sent_ms + e)
        .unwrap_or(t.sent_ms);
    Some(Abs {
        sent: t.sent_ms,
        events,
        finish,
    })
}

/// Tokens carried by each content event of a record.
fn tokens_per_event(r: &RunRecord, events: usize) -> f64 {
    if events == 0 {
        return 0.0;
    }
    match r.output_tokens {
        Some(n) => n as f64 / events as f64,
        None => 1.0,
    }
}

/// Build the report of one step from all its records (warm-up included).
pub fn step_report(
    engine: &str,
    step_label: &str,
    index: usize,
    arrival: Arrival,
    records: &[RunRecord],
    extras: &StepExtras,
) -> StepReport {
    let measured: Vec<&RunRecord> = records.iter().filter(|r| !r.warmup).collect();
    let ok: Vec<&RunRecord> = measured.iter().copied().filter(|r| r.ok).collect();
    // Token instants of every request of the step (warm-up included).
    let all_abs: Vec<(&RunRecord, Abs)> =
        records.iter().filter_map(|r| Some((r, abs(r)?))).collect();
    let in_flight = in_flight(arrival, &ok);
    let (span, steady) = windows(&measured, in_flight);
    let client = client_headroom(&measured, steady.as_ref(), extras);
    // Replies in one lump: their TTFT is in the TTFT figures (it is what the client
    // saw) but holds the whole generation; say so beside them.
    let lumps = ok.iter().filter(|r| r.ttft_holds_generation).count() as u64;
    let flags = step_flags(
        &client,
        steady.is_some(),
        measured.len(),
        in_flight,
        lumps,
        ok.len(),
    );
    let (metrics, inference) = step_metrics(&ok);
    assemble(StepParts {
        engine: engine.to_string(),
        step: step_label.to_string(),
        index,
        arrival,
        counts: StepCounts {
            warmup: (records.len() - measured.len()) as u64,
            requests: measured.len() as u64,
            ok: ok.len() as u64,
            failed: (measured.len() - ok.len()) as u64,
            output_tokens: ok.iter().filter_map(|r| r.output_tokens).sum(),
            ttft_holds_generation: lumps,
            in_flight,
            max_in_flight: peak_overlap(all_abs.iter().map(|(_, a)| (a.sent, a.finish))),
        },
        span,
        steady,
        span_tokens: span.map_or(0.0, |w| tokens_in(&all_abs, &w)),
        output_tps_steady: steady.and_then(|w| rate_in(&all_abs, &w)),
        timeline: per_second(span, &all_abs),
        good: extras.slo.map(|slo| GoodCount {
            slo,
            good: measured.iter().filter(|r| slo.is_good(r)).count() as u64,
            total: measured.len() as u64,
        }),
        metrics,
        inference,
        client,
        connect_ms: summarize(&extras.connect_ms),
        flags,
        server_metrics: None,
        merged: None,
        engine_exit: None,
    })
}

/// Requests in flight for the steady window: the concurrency of a closed loop; for an
/// open loop, rate × mean E2E of the successful requests (Little's law), at least 1.
fn in_flight(arrival: Arrival, ok: &[&RunRecord]) -> u64 {
    let mean_e2e_s =
        crate::measure::stats::mean(&ok.iter().filter_map(|r| r.e2e_ms).collect::<Vec<_>>())
            .map(|x| x / 1000.0);
    match arrival {
        Arrival::Closed { concurrency } => u64::from(concurrency),
        Arrival::Open { rate, .. } => mean_e2e_s
            .map(|e| (rate * e).round() as u64)
            .unwrap_or(1)
            .max(1),
    }
}

/// The span and the steady-state window of the measured requests (see the module docs).
fn windows(measured: &[&RunRecord], in_flight: u64) -> (Option<Window>, Option<Window>) {
    let mut m_abs: Vec<(f64, Abs)> = measured
        .iter()
        .filter_map(|r| Some((r.timeline.as_ref()?.scheduled_ms, abs(r)?)))
        .collect();
    let span = if m_abs.is_empty() {
        None
    } else {
        let start = m_abs.iter().map(|(s, _)| *s).fold(f64::INFINITY, f64::min);
        let end = m_abs
            .iter()
            .map(|(_, a)| a.finish)
            .fold(f64::NEG_INFINITY, f64::max);
        Some(Window {
            start_ms: start,
            end_ms: end,
        })
    };

    // Steady-state window: N-th send → first finish among the last N sends.
    m_abs.sort_by(|a, b| a.1.sent.total_cmp(&b.1.sent));
    let n = in_flight as usize;
    let steady = if m_abs.len() >= n && n > 0 {
        let start = m_abs[n - 1].1.sent;
        let end = m_abs[m_abs.len() - n..]
            .iter()
            .map(|(_, a)| a.finish)
            .fold(f64::INFINITY, f64::min);
        (end > start).then_some(Window {
            start_ms: start,
            end_ms: end,
        })
    } else {
        None
    };
    (span, steady)
}

/// Output tokens whose content event falls inside `w`, from every request of the step.
fn tokens_in(all: &[(&RunRecord, Abs)], w: &Window) -> f64 {
    all.iter()
        .map(|(r, a)| {
            let per = tokens_per_event(r, a.events.len());
            a.events.iter().filter(|&&t| w.contains(t)).count() as f64 * per
        })
        .sum()
}

/// System output tok/s in `w`; `None` for an empty window.
fn rate_in(all: &[(&RunRecord, Abs)], w: &Window) -> Option<f64> {
    let s = w.seconds();
    (s > 0.0).then(|| tokens_in(all, w) / s)
}

/// Per second of the span: tokens out (every request), requests started, finished and
/// failed (measured ones).
fn per_second(span: Option<Window>, all: &[(&RunRecord, Abs)]) -> Vec<Second> {
    let Some(w) = span else {
        return Vec::new();
    };
    let secs = ((w.end_ms - w.start_ms) / 1000.0).floor().max(0.0) as usize + 1;
    let mut timeline: Vec<Second> = (0..secs)
        .map(|i| Second {
            t_s: i as u64,
            ..Second::default()
        })
        .collect();
    let bucket = |t: f64| -> Option<usize> {
        if t < w.start_ms || t > w.end_ms {
            return None;
        }
        Some((((t - w.start_ms) / 1000.0).floor() as usize).min(secs - 1))
    };
    for (r, a) in all {
        let per = tokens_per_event(r, a.events.len());
        for &e in &a.events {
            if let Some(b) = bucket(e) {
                timeline[b].output_tokens += per;
            }
        }
        if r.warmup {
            continue;
        }
        if let Some(b) = bucket(a.sent) {
            timeline[b].started += 1;
        }
        if let Some(b) = bucket(a.finish) {
            if r.ok {
                timeline[b].finished += 1;
            } else {
                timeline[b].failed += 1;
            }
        }
    }
    timeline
}

/// Summaries of every step metric over the successful requests, and the bootstrap
/// intervals of those in [`Scope::STEP_CI`].
fn step_metrics(ok: &[&RunRecord]) -> (BTreeMap<String, Summary>, BTreeMap<String, Inference>) {
    let mut metrics = BTreeMap::new();
    let mut inference = BTreeMap::new();
    for m in Metric::in_scope(Scope::STEP) {
        let values: Vec<f64> = ok.iter().filter_map(|r| m.of(r)).collect();
        if let Some(s) = summarize(&values) {
            metrics.insert(m.name.to_string(), s);
        }
        if m.is_in(Scope::STEP_CI)
            && let Some(inf) = infer(&values, Bootstrap::default())
        {
            inference.insert(m.name.to_string(), inf);
        }
    }
    (metrics, inference)
}

/// The client's headroom: send lag over every measured request (failed ones were sent
/// too), its CPU, and whether either limited the step.
fn client_headroom(
    measured: &[&RunRecord],
    steady: Option<&Window>,
    extras: &StepExtras,
) -> ClientHeadroom {
    let lags: Vec<f64> = measured.iter().filter_map(|r| r.send_lag_ms).collect();
    let send_lag_ms = summarize(&lags);
    let cpu_cores = match (extras.cpu_s, extras.wall_s) {
        (Some(c), Some(w)) if w > 0.0 => Some(c / w),
        _ => None,
    };
    let cores_available = extras.cores_available.max(1);
    let mut reasons = Vec::new();
    // Judged on the requests scheduled inside the steady window, when there is one: a
    // closed loop's first wave (every request due at once) queues in any client, and
    // that ramp-up stays visible in `send_lag_ms` without being held against it.
    let judged_lags: Vec<f64> = match steady {
        Some(w) => measured
            .iter()
            .filter(|r| {
                r.timeline
                    .as_ref()
                    .is_some_and(|t| w.contains(t.scheduled_ms))
            })
            .filter_map(|r| r.send_lag_ms)
            .collect(),
        None => lags,
    };
    if let Some(l) = summarize(&judged_lags)
        && l.p99 > LAG_P99_LIMIT_MS
    {
        reasons.push(format!(
            "send lag p99 {:.2} ms > {LAG_P99_LIMIT_MS} ms{}: the client sent late",
            l.p99,
            if steady.is_some() {
                " in the steady window"
            } else {
                ""
            }
        ));
    }
    if let Some(c) = cpu_cores
        && c >= CPU_LIMIT * cores_available as f64
    {
        reasons.push(format!(
            "client CPU {:.0}% of {cores_available} core(s) ≥ {:.0}%",
            100.0 * c / cores_available as f64,
            100.0 * CPU_LIMIT
        ));
    }
    ClientHeadroom {
        send_lag_ms,
        cpu_cores,
        cores_available,
        bottleneck: !reasons.is_empty(),
        reasons,
    }
}

/// The step's flags: a client bottleneck, no steady state, replies in one lump
/// (`lumps` of `ok` successful requests).
fn step_flags(
    client: &ClientHeadroom,
    has_steady: bool,
    measured: usize,
    in_flight: u64,
    lumps: u64,
    ok: usize,
) -> Vec<Flag> {
    let mut flags = Vec::new();
    if client.bottleneck {
        flags.push(Flag {
            kind: "client_bottleneck".into(),
            message: format!(
                "the client, not the engine, may have limited this step: {}",
                client.reasons.join("; ")
            ),
        });
    }
    if !has_steady && measured > 0 {
        flags.push(Flag {
            kind: "no_steady_state".into(),
            message: format!(
                "too few requests ({measured}) for a steady state with {in_flight} in flight; give --requests well above {in_flight}"
            ),
        });
    }
    if lumps > 0 {
        flags.push(Flag {
            kind: TTFT_HOLDS_GENERATION_FLAG.into(),
            message: format!(
                "{lumps} of {ok} successful requests: {TTFT_HOLDS_GENERATION}; their prefill tok/s, ICL and stream decode figures are withheld"
            ),
        });
    }
    flags
}

/// The counts of a step's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepCounts {
    pub warmup: u64,
    /// Measured requests (warm-up excluded), failed included.
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Output tokens of measured, successful requests.
    pub output_tokens: u64,
    /// Successful requests whose reply came in one lump.
    pub ttft_holds_generation: u64,
    /// Requests in flight assumed for the steady-state window.
    pub in_flight: u64,
    /// Most requests in flight at once.
    pub max_in_flight: u64,
}

/// Measured requests that met every SLO, of all measured ones (failed included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoodCount {
    pub slo: Slo,
    pub good: u64,
    pub total: u64,
}

/// What a step's report is built from. Its two builders compute these each their own
/// way ([`step_report`] from the step's records, [`crate::merge::combine`] from the
/// workers' reports and histograms); [`assemble`] derives the rest the one way.
#[derive(Debug, Clone, PartialEq)]
pub struct StepParts {
    pub engine: String,
    pub step: String,
    pub index: usize,
    pub arrival: Arrival,
    pub counts: StepCounts,
    pub span: Option<Window>,
    pub steady: Option<Window>,
    /// System output tokens inside the span (`output_tps` is these ÷ the span).
    pub span_tokens: f64,
    pub output_tps_steady: Option<f64>,
    pub timeline: Vec<Second>,
    /// With an SLO: the good requests (goodput is these ÷ the span).
    pub good: Option<GoodCount>,
    pub metrics: BTreeMap<String, Summary>,
    pub inference: BTreeMap<String, Inference>,
    pub client: ClientHeadroom,
    pub connect_ms: Option<Summary>,
    pub flags: Vec<Flag>,
    pub server_metrics: Option<ServerMetrics>,
    pub merged: Option<MergedStep>,
    pub engine_exit: Option<EngineExit>,
}

/// The one builder of a load step's report (a step's own, or a merged one): the parts
/// as given; ramp-up, drain, output tok/s, requests/s and goodput derived from them
/// over the span. Telemetry, precision and the worker block are added by the executor.
pub fn assemble(p: StepParts) -> StepReport {
    let c = p.counts;
    let span_s = p.span.map(|w| w.seconds()).filter(|s| *s > 0.0);
    let (ramp_up_s, drain_s) = match (p.span, p.steady) {
        (Some(a), Some(s)) => (
            Some((s.start_ms - a.start_ms) / 1000.0),
            Some((a.end_ms - s.end_ms) / 1000.0),
        ),
        _ => (None, None),
    };
    StepReport {
        engine: p.engine,
        step: p.step,
        index: p.index,
        arrival: p.arrival,
        warmup: c.warmup,
        requests: c.requests,
        ok: c.ok,
        failed: c.failed,
        in_flight: c.in_flight,
        max_in_flight: c.max_in_flight,
        span: p.span,
        steady: p.steady,
        ramp_up_s,
        drain_s,
        output_tokens: c.output_tokens,
        output_tps: span_s.map(|s| p.span_tokens / s),
        output_tps_steady: p.output_tps_steady,
        request_rps: span_s.map(|s| c.ok as f64 / s),
        timeline: p.timeline,
        goodput: p.good.map(|g| goodput(g, span_s)),
        metrics: p.metrics,
        inference: p.inference,
        client: p.client,
        connect_ms: p.connect_ms,
        flags: p.flags,
        telemetry: None,
        server_metrics: p.server_metrics,
        ttft_holds_generation: c.ttft_holds_generation,
        precision: None,
        worker: None,
        merged: p.merged,
        engine_exit: p.engine_exit,
        calibration: None,
    }
}

/// Goodput over a span of `span_s` seconds (0 good requests/s without one).
fn goodput(g: GoodCount, span_s: Option<f64>) -> Goodput {
    Goodput {
        slo: g.slo,
        good: g.good,
        total: g.total,
        fraction: if g.total > 0 {
            g.good as f64 / g.total as f64
        } else {
            0.0
        },
        good_rps: span_s.map(|s| g.good as f64 / s).unwrap_or(0.0),
    }
}

/// The mergeable histograms of a step (see [`crate::measure::hist`]): every step metric
/// over measured, successful requests (as `metrics`), and `send_lag_ms` over every
/// measured request (as the client headroom).
pub fn step_histograms(records: &[RunRecord]) -> BTreeMap<String, crate::results::MetricHistogram> {
    let measured: Vec<&RunRecord> = records.iter().filter(|r| !r.warmup).collect();
    let mut out = BTreeMap::new();
    for m in Metric::in_scope(Scope::STEP) {
        let values: Vec<f64> = measured
            .iter()
            .filter(|r| r.ok)
            .filter_map(|r| m.of(r))
            .collect();
        if let Some(h) = crate::measure::hist::from_values(&values) {
            out.insert(m.name.to_string(), h);
        }
    }
    let lags: Vec<f64> = measured.iter().filter_map(|r| r.send_lag_ms).collect();
    if let Some(h) = crate::measure::hist::from_values(&lags) {
        out.insert(SEND_LAG.to_string(), h);
    }
    out
}

/// The histogram key of send lag.
pub const SEND_LAG: &str = "send_lag_ms";

/// The most intervals `[start, end)` that overlap at one instant.
pub fn peak_overlap(intervals: impl Iterator<Item = (f64, f64)>) -> u64 {
    let mut edges: Vec<(f64, i64)> = Vec::new();
    for (a, b) in intervals {
        edges.push((a, 1));
        edges.push((b.max(a), -1));
    }
    // Ends before starts at the same instant: back-to-back requests do not overlap.
    edges.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let (mut cur, mut peak) = (0i64, 0i64);
    for (_, d) in edges {
        cur += d;
        peak = peak.max(cur);
    }
    peak as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Mode, Sampling, TimelineMs};

    fn sampling() -> Sampling {
        Sampling {
            max_tokens: 4,
            temperature: 0.0,
            seed: None,
            top_p: None,
            top_k: None,
            ignore_eos: true,
        }
    }

    /// A request scheduled at `sched`, sent at `sent`, with 4 tokens in 2 events at
    /// sent+10 and sent+20, ending at sent+20.
    fn rec(i: u32, sched: f64, sent: f64, ok: bool, warmup: bool) -> RunRecord {
        let mut r = RunRecord::new("mock", Mode::Api, "/v1", "p", "t", i, sampling(), "t");
        r.ok = ok;
        r.warmup = warmup;
        r.timeline = Some(TimelineMs {
            scheduled_ms: sched,
            sent_ms: sent,
            first_byte_ms: Some(5.0),
            end_ms: Some(20.0),
            events_ms: vec![10.0, 20.0],
        });
        r.output_tokens = Some(4);
        r.ttft_ms = Some(10.0);
        r.tpot_ms = Some(10.0 / 3.0);
        r.e2e_ms = Some(20.0);
        r.send_lag_ms = Some(sent - sched);
        r
    }

    fn extras() -> StepExtras {
        StepExtras {
            cores_available: 1,
            ..StepExtras::default()
        }
    }

    #[test]
    fn replies_in_one_lump_are_counted_and_flagged() {
        // Four requests; two came in one lump (their TTFT holds the whole generation),
        // one of those failed, and a warm-up lump is not measured.
        let recs: Vec<RunRecord> = (0..5)
            .map(|i| {
                let t = 20.0 * f64::from(i);
                let mut r = rec(i, t, t, i != 1, i == 4);
                r.ttft_holds_generation = i <= 1 || i == 4;
                r
            })
            .collect();
        let r = step_report(
            "mock",
            "c=1",
            0,
            Arrival::Closed { concurrency: 1 },
            &recs,
            &extras(),
        );
        assert_eq!((r.ok, r.ttft_holds_generation), (3, 1));
        let f: Vec<&Flag> = r
            .flags
            .iter()
            .filter(|f| f.kind == TTFT_HOLDS_GENERATION_FLAG)
            .collect();
        assert_eq!(f.len(), 1, "{:?}", r.flags);
        assert!(
            f[0].message.starts_with("1 of 3 successful requests")
                && f[0].message.contains(TTFT_HOLDS_GENERATION),
            "{}",
            f[0].message
        );
        // None in one lump: no count, no flag.
        let plain: Vec<RunRecord> = (0..4)
            .map(|i| rec(i, 20.0 * f64::from(i), 20.0 * f64::from(i), true, false))
            .collect();
        let r = step_report(
            "mock",
            "c=1",
            0,
            Arrival::Closed { concurrency: 1 },
            &plain,
            &extras(),
        );
        assert_eq!(r.ttft_holds_generation, 0);
        assert!(r.flags.iter().all(|f| f.kind != TTFT_HOLDS_GENERATION_FLAG));
    }

    #[test]
    fn closed_loop_windows_and_throughput() {
        // Concurrency 2, back to back: sends at 0,0,20,20,40,40 (each lasts 20 ms).
        let recs: Vec<RunRecord> = (0..6)
            .map(|i| {
                let t = 20.0 * f64::from(i / 2);
                rec(i, t, t, true, false)
            })
            .collect();
        let r = step_report(
            "mock",
            "c=2",
            0,
            Arrival::Closed { concurrency: 2 },
            &recs,
            &extras(),
        );
        assert_eq!(
            (r.requests, r.ok, r.failed, r.warmup, r.in_flight),
            (6, 6, 0, 0, 2)
        );
        assert_eq!(
            r.span,
            Some(Window {
                start_ms: 0.0,
                end_ms: 60.0
            })
        );
        // 2nd send at 0; last two sends at 40 finish at 60.
        assert_eq!(
            r.steady,
            Some(Window {
                start_ms: 0.0,
                end_ms: 60.0
            })
        );
        assert_eq!(r.output_tokens, 24);
        // 24 tokens in 60 ms.
        assert!((r.output_tps.unwrap() - 400.0).abs() < 1e-9);
        assert!((r.request_rps.unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(r.timeline.len(), 1);
        assert_eq!(r.timeline[0].started, 6);
        assert_eq!(r.timeline[0].finished, 6);
        assert!((r.timeline[0].output_tokens - 24.0).abs() < 1e-9);
        assert!(!r.client.bottleneck);
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert_eq!(r.metrics["ttft_ms"].mean, 10.0);
        assert_eq!(r.inference["ttft_ms"].mean.ci.lo, 10.0);
    }

    #[test]
    fn peak_overlap_counts_concurrent_intervals() {
        assert_eq!(peak_overlap([].into_iter()), 0);
        assert_eq!(
            peak_overlap([(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)].into_iter()),
            1
        );
        assert_eq!(
            peak_overlap([(0.0, 10.0), (5.0, 15.0), (6.0, 7.0), (12.0, 13.0)].into_iter()),
            3
        );
    }

    #[test]
    fn ramp_up_and_drain_are_cut_off() {
        // Concurrency 2 with staggered starts: sends at 0, 500, 1000, ..., 4500 ms, each 20 ms long,
        // so the 2nd send is at 500 and the first finish among the last two (sent 4000,
        // 4500) is 4020.
        let recs: Vec<RunRecord> = (0..10)
            .map(|i| {
                let t = 500.0 * f64::from(i);
                rec(i, t, t, true, false)
            })
            .collect();
        let r = step_report(
            "mock",
            "c=2",
            0,
            Arrival::Closed { concurrency: 2 },
            &recs,
            &extras(),
        );
        let s = r.steady.unwrap();
        assert_eq!((s.start_ms, s.end_ms), (500.0, 4020.0));
        assert_eq!(r.ramp_up_s, Some(0.5));
        assert!((r.drain_s.unwrap() - 0.5).abs() < 1e-12);
        // Steady window holds requests sent at 500..3500 fully (7 × 4 tokens) and both
        // events of the one sent at 4000 (at 4010 and 4020, the window's inclusive end):
        // 32 tokens over 3.52 s.
        assert!((r.output_tps_steady.unwrap() - 32.0 / 3.52).abs() < 1e-9);
        // Span 0..4520 ms: five one-second buckets.
        assert_eq!(r.timeline.len(), 5);
        assert_eq!(r.timeline[0].started, 2);
        assert!((r.timeline[4].output_tokens - 8.0).abs() < 1e-9);
        let total: f64 = r.timeline.iter().map(|s| s.output_tokens).sum();
        assert!((total - 40.0).abs() < 1e-9);
    }

    #[test]
    fn warmup_is_excluded_from_measures_but_its_tokens_count_for_the_system() {
        let mut recs = vec![rec(0, 0.0, 0.0, true, true)];
        recs.push(rec(1, 5.0, 5.0, true, false));
        let r = step_report(
            "mock",
            "c=1",
            0,
            Arrival::Closed { concurrency: 1 },
            &recs,
            &extras(),
        );
        assert_eq!((r.requests, r.warmup), (1, 1));
        let span = r.span.unwrap();
        assert_eq!((span.start_ms, span.end_ms), (5.0, 25.0));
        assert_eq!(r.output_tokens, 4);
        // Both warm-up events (10, 20 ms; 2 tokens each) fall inside the span, beside the
        // measured request's two: 8 tokens in 20 ms.
        assert!((r.output_tps.unwrap() - 400.0).abs() < 1e-9);
    }

    #[test]
    fn goodput_counts_failures_in_the_denominator() {
        let mut recs: Vec<RunRecord> = (0..4).map(|i| rec(i, 0.0, 0.0, true, false)).collect();
        recs[1].ttft_ms = Some(600.0);
        recs[2].ok = false;
        let ex = StepExtras {
            slo: Some(Slo {
                ttft_ms: Some(500.0),
                tpot_ms: None,
                e2e_ms: None,
            }),
            ..extras()
        };
        let r = step_report(
            "m",
            "c=4",
            0,
            Arrival::Closed { concurrency: 4 },
            &recs,
            &ex,
        );
        let g = r.goodput.unwrap();
        assert_eq!((g.good, g.total), (2, 4));
        assert_eq!(g.fraction, 0.5);
        // span 0..20 ms: 2 good in 0.02 s.
        assert!((g.good_rps - 100.0).abs() < 1e-9);
        assert_eq!((r.ok, r.failed), (3, 1));
        assert_eq!(r.timeline[0].failed, 1);
    }

    #[test]
    fn client_bottleneck_by_lag_or_cpu() {
        // Lags 0..=19 ms: p99 ≈ 18.8 ms > 5 ms.
        let recs: Vec<RunRecord> = (0..20)
            .map(|i| rec(i, 0.0, f64::from(i), true, false))
            .collect();
        let r = step_report(
            "m",
            "rate",
            0,
            Arrival::Open {
                rate: 1.0,
                burstiness: 1.0,
            },
            &recs,
            &extras(),
        );
        assert!(r.client.bottleneck);
        assert!(
            r.client.reasons[0].contains("send lag p99"),
            "{:?}",
            r.client.reasons
        );
        assert_eq!(r.flags[0].kind, "client_bottleneck");

        let calm: Vec<RunRecord> = (0..20).map(|i| rec(i, 0.0, 0.0, true, false)).collect();
        let cpu = StepExtras {
            cpu_s: Some(1.85),
            wall_s: Some(2.0),
            ..extras()
        };
        let r = step_report("m", "c", 0, Arrival::Closed { concurrency: 1 }, &calm, &cpu);
        assert!(r.client.bottleneck, "{:?}", r.client);
        assert!((r.client.cpu_cores.unwrap() - 0.925).abs() < 1e-12);
        let two = StepExtras {
            cores_available: 2,
            ..cpu
        };
        let r = step_report("m", "c", 0, Arrival::Closed { concurrency: 1 }, &calm, &two);
        assert!(!r.client.bottleneck);
    }

    #[test]
    fn a_closed_loop_first_wave_is_not_a_bottleneck() {
        // Concurrency 4: the first wave, all due at 0, leaves over 30 ms (the client's
        // start-up queue); later requests leave on time.
        let mut recs: Vec<RunRecord> = (0..4)
            .map(|i| rec(i, 0.0, 10.0 * f64::from(i), true, false))
            .collect();
        recs.extend((4..40).map(|i| {
            let at = 40.0 + 5.0 * f64::from(i);
            rec(i, at, at + 0.01, true, false)
        }));
        let report = |recs: &[RunRecord]| {
            step_report(
                "m",
                "c=4",
                0,
                Arrival::Closed { concurrency: 4 },
                recs,
                &extras(),
            )
        };
        let r = report(&recs);
        assert!(r.steady.is_some());
        assert!(!r.client.bottleneck, "{:?}", r.client);
        // The ramp-up is still reported.
        assert!(r.client.send_lag_ms.as_ref().unwrap().max >= 30.0);
        // A client late in the steady window is flagged.
        for x in recs.iter_mut().skip(20) {
            x.send_lag_ms = Some(8.0);
        }
        let r = report(&recs);
        assert!(r.client.bottleneck);
        assert!(
            r.client.reasons[0].contains("in the steady window"),
            "{:?}",
            r.client.reasons
        );
    }

    #[test]
    fn too_short_for_steady_state_is_flagged() {
        let recs = vec![rec(0, 0.0, 0.0, true, false)];
        let r = step_report(
            "m",
            "c=4",
            0,
            Arrival::Closed { concurrency: 4 },
            &recs,
            &extras(),
        );
        assert_eq!(r.steady, None);
        assert_eq!(r.output_tps_steady, None);
        assert!(r.flags.iter().any(|f| f.kind == "no_steady_state"));
    }
}
