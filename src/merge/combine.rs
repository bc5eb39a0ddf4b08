//! Several workers' results → one (pure).
//!
//! Refused (a [`MergeError`] naming both files and the field): files of different modes,
//! step counts, configurations (`config_hash`: effective settings, whole load plan,
//! target), workloads (`workload_hash`), whole steps or shard counts, and one shard given
//! twice. Files without `worker` blocks (not load runs) are refused too.
//!
//! A merged step, on the clock of the earliest worker's step (each worker's ms offsets
//! shifted by how much later its clock zero was, on the wall clock):
//! - counts (requests, ok, failed, warm-up, output tokens, good) are sums;
//! - `span` is the union of the workers' spans, `steady` the intersection of their steady
//!   windows;
//! - metrics: n, mean, std, min and max exact from the workers' moments; percentiles from
//!   the merged HdrHistograms (never an average of the workers' percentiles);
//! - output tok/s over the span: every worker's tokens in its span (its rate × its span)
//!   over the union span; over the steady window: the sum of the workers' steady rates;
//!   requests/s and good requests/s: sums over the union span;
//! - the per-second timeline: each worker's seconds moved to the union span's start;
//! - client: send lag from the merged histogram, CPU cores summed, each worker's lag and
//!   CPU kept in `merged.workers`; a worker that was a bottleneck makes the step one;
//! - `max_in_flight` and `in_flight` are sums (an upper bound: the workers' peaks may not
//!   coincide).
//!
//! Flagged: workers whose step clocks started more than the tolerance apart
//! (`schedule_skew`), a worker that woke more than the tolerance after `--start-at`
//! (`start_late`), different `--start-at` instants (`start_mismatch`), and shards absent
//! from 0..N (`missing_shards`).

use crate::load::report::{GoodCount, SEND_LAG, StepCounts, StepParts, assemble};
use crate::measure::hist;
use crate::measure::stats::Summary;
use crate::results::{
    ClientHeadroom, Flag, MergedStep, MergedWorker, MetricHistogram, ResultsDoc, RunRecord, Second,
    StepReport, Window, WorkerStep,
};
use std::collections::{BTreeMap, BTreeSet};

/// Files that are not workers of one run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: give the workers' results files")]
    Empty,
    #[error(
        "{file}: {why}; merge only the results JSON of load runs (--concurrency, --rate or --sweep, with --shard I/N)"
    )]
    NotMergeable { file: String, why: String },
    #[error(
        "{a} and {b} differ in {field} ({va} vs {vb}): they are not workers of one run; merge only files from the same configuration and workload"
    )]
    Differs {
        field: String,
        a: String,
        va: String,
        b: String,
        vb: String,
    },
    #[error("{a} and {b} are both shard {shard}: the same worker's result given twice?")]
    DuplicateShard { a: String, b: String, shard: String },
    #[error("{file}: step {step}: {why}")]
    Histogram {
        file: String,
        step: String,
        why: String,
    },
}

/// One worker's step with the file it came from.
struct Part<'a> {
    file: &'a str,
    step: &'a StepReport,
    worker: &'a WorkerStep,
}

fn differs(field: &str, a: &str, va: String, b: &str, vb: String) -> MergeError {
    MergeError::Differs {
        field: field.to_string(),
        a: a.to_string(),
        va,
        b: b.to_string(),
        vb,
    }
}

fn shard_label(w: &WorkerStep) -> String {
    w.shard.map_or_else(|| "0/1".into(), |s| s.label())
}

/// Check that every file is a worker of the run of the first; the steps by index.
fn check<'a>(docs: &'a [(String, ResultsDoc)]) -> Result<Vec<Vec<Part<'a>>>, MergeError> {
    let (f0, d0) = docs.first().ok_or(MergeError::Empty)?;
    for (f, d) in docs {
        if d.load.is_empty() {
            return Err(MergeError::NotMergeable {
                file: f.clone(),
                why: "it has no load steps".into(),
            });
        }
        if let Some(s) = d.load.iter().find(|s| s.worker.is_none()) {
            return Err(MergeError::NotMergeable {
                file: f.clone(),
                why: format!(
                    "step {} has no `worker` block (already merged, or written by an older inferbench)",
                    s.step
                ),
            });
        }
        if d.mode != d0.mode {
            return Err(differs(
                "mode",
                f0,
                d0.mode.as_str().into(),
                f,
                d.mode.as_str().into(),
            ));
        }
        if d.load.len() != d0.load.len() {
            return Err(differs(
                "number of load steps",
                f0,
                d0.load.len().to_string(),
                f,
                d.load.len().to_string(),
            ));
        }
    }
    let mut steps = Vec::new();
    for i in 0..d0.load.len() {
        let mut parts: Vec<Part> = Vec::new();
        for (f, d) in docs {
            let step = &d.load[i];
            let Some(worker) = step.worker.as_ref() else {
                unreachable!("checked above")
            };
            parts.push(Part {
                file: f,
                step,
                worker,
            });
        }
        let p0 = &parts[0];
        for p in &parts[1..] {
            let (a, b) = (p0.worker, p.worker);
            let fields: [(&str, String, String); 4] = [
                ("config_hash", a.config_hash.clone(), b.config_hash.clone()),
                (
                    "workload_hash",
                    a.workload_hash.clone(),
                    b.workload_hash.clone(),
                ),
                ("whole_step", a.whole_step.clone(), b.whole_step.clone()),
                (
                    "shard count",
                    a.shard.map_or(1, |s| s.count).to_string(),
                    b.shard.map_or(1, |s| s.count).to_string(),
                ),
            ];
            for (field, va, vb) in fields {
                if va != vb {
                    return Err(differs(
                        &format!("{field} of step {i}"),
                        p0.file,
                        va,
                        p.file,
                        vb,
                    ));
                }
            }
        }
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for p in &parts {
            let label = shard_label(p.worker);
            if let Some(other) = seen.insert(label.clone(), p.file) {
                return Err(MergeError::DuplicateShard {
                    a: other.to_string(),
                    b: p.file.to_string(),
                    shard: label,
                });
            }
        }
        steps.push(parts);
    }
    Ok(steps)
}

fn shift(w: Option<Window>, by_ms: f64) -> Option<Window> {
    w.map(|w| Window {
        start_ms: w.start_ms + by_ms,
        end_ms: w.end_ms + by_ms,
    })
}

fn sum_some(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    v.flatten()
        .fold(None, |acc, x| Some(acc.unwrap_or(0.0) + x))
}

/// The earliest worker's clock zero, unix ns: the merged step's clock.
fn clock_base(parts: &[Part]) -> i64 {
    parts
        .iter()
        .map(|p| p.worker.origin_unix_ns)
        .min()
        .unwrap_or(0)
}

/// How much later than `base` a worker's clock zero was, ms.
fn offset_ms(p: &Part, base: i64) -> f64 {
    (p.worker.origin_unix_ns - base) as f64 / 1e6
}

/// One merged step from its workers' steps.
fn merge_step(parts: &[Part], tolerance_ms: f64) -> Result<StepReport, MergeError> {
    let p0 = &parts[0];
    let base = clock_base(parts);
    let span = union_span(parts, base);
    let steady = common_steady(parts, base);
    let (metrics, send_lag_ms) = merged_metrics(parts)?;
    let workers = merged_workers(parts, base);
    let origin_spread_ms = workers
        .iter()
        .map(|w| w.origin_offset_ms)
        .fold(0.0, f64::max);
    let mut flags = agreement_flags(parts, &workers, origin_spread_ms, tolerance_ms);
    flags.extend(worker_flags(parts));
    let sum = |f: &dyn Fn(&StepReport) -> u64| parts.iter().map(|p| f(p.step)).sum::<u64>();
    Ok(assemble(StepParts {
        engine: p0.step.engine.clone(),
        step: p0.worker.whole_step.clone(),
        index: p0.step.index,
        arrival: p0.worker.whole_arrival,
        counts: StepCounts {
            warmup: sum(&|s| s.warmup),
            requests: sum(&|s| s.requests),
            ok: sum(&|s| s.ok),
            failed: sum(&|s| s.failed),
            output_tokens: sum(&|s| s.output_tokens),
            ttft_holds_generation: sum(&|s| s.ttft_holds_generation),
            in_flight: sum(&|s| s.in_flight),
            max_in_flight: sum(&|s| s.max_in_flight),
        },
        span,
        steady,
        // Tokens each worker saw in its own span, over the union span.
        span_tokens: parts
            .iter()
            .filter_map(|p| Some(p.step.output_tps? * p.step.span?.seconds()))
            .sum(),
        output_tps_steady: if steady.is_some() {
            sum_some(parts.iter().map(|p| p.step.output_tps_steady))
        } else {
            None
        },
        timeline: merged_timeline(parts, span, base),
        good: p0.step.goodput.as_ref().map(|g0| GoodCount {
            slo: g0.slo,
            good: parts.iter().map(|p| p.worker.good.unwrap_or(0)).sum(),
            total: parts
                .iter()
                .map(|p| p.step.goodput.as_ref().map_or(p.step.requests, |g| g.total))
                .sum(),
        }),
        metrics,
        // Bootstrap intervals need the raw values; the merged runs carry them.
        inference: BTreeMap::new(),
        client: ClientHeadroom {
            send_lag_ms,
            cpu_cores: sum_some(parts.iter().map(|p| p.step.client.cpu_cores)),
            cores_available: parts.iter().map(|p| p.step.client.cores_available).sum(),
            bottleneck: parts.iter().any(|p| p.step.client.bottleneck),
            reasons: worker_reasons(parts),
        },
        connect_ms: None,
        flags,
        // The engine's own /metrics, which every worker sees alike: the first worker's.
        server_metrics: p0.step.server_metrics.clone(),
        merged: Some(MergedStep {
            workers,
            origin_spread_ms,
            tolerance_ms,
        }),
        engine_exit: parts.iter().find_map(|p| p.step.engine_exit.clone()),
    }))
}

/// The union of the workers' spans, on the merged clock.
fn union_span(parts: &[Part], base: i64) -> Option<Window> {
    let spans: Vec<Window> = parts
        .iter()
        .filter_map(|p| shift(p.step.span, offset_ms(p, base)))
        .collect();
    (!spans.is_empty()).then(|| Window {
        start_ms: spans
            .iter()
            .map(|w| w.start_ms)
            .fold(f64::INFINITY, f64::min),
        end_ms: spans
            .iter()
            .map(|w| w.end_ms)
            .fold(f64::NEG_INFINITY, f64::max),
    })
}

/// The intersection of the workers' steady windows, on the merged clock; `None` when a
/// worker had none or they do not overlap.
fn common_steady(parts: &[Part], base: i64) -> Option<Window> {
    let steadies: Vec<Option<Window>> = parts
        .iter()
        .map(|p| shift(p.step.steady, offset_ms(p, base)))
        .collect();
    if !steadies.iter().all(Option::is_some) {
        return None;
    }
    let w = Window {
        start_ms: steadies
            .iter()
            .flatten()
            .map(|w| w.start_ms)
            .fold(f64::NEG_INFINITY, f64::max),
        end_ms: steadies
            .iter()
            .flatten()
            .map(|w| w.end_ms)
            .fold(f64::INFINITY, f64::min),
    };
    (w.end_ms > w.start_ms).then_some(w)
}

/// The per-second timeline: each worker's seconds moved to the union span's start.
fn merged_timeline(parts: &[Part], span: Option<Window>, base: i64) -> Vec<Second> {
    let Some(u) = span else {
        return Vec::new();
    };
    let mut timeline: Vec<Second> = Vec::new();
    for p in parts {
        let Some(ws) = shift(p.step.span, offset_ms(p, base)) else {
            continue;
        };
        let lead = ((ws.start_ms - u.start_ms) / 1000.0).max(0.0);
        for sec in &p.step.timeline {
            let t = (lead + sec.t_s as f64).floor() as usize;
            if timeline.len() <= t {
                timeline.resize_with(t + 1, Second::default);
            }
            let b = &mut timeline[t];
            b.output_tokens += sec.output_tokens;
            b.started += sec.started;
            b.finished += sec.finished;
            b.failed += sec.failed;
        }
    }
    for (i, b) in timeline.iter_mut().enumerate() {
        b.t_s = i as u64;
    }
    timeline
}

/// The step's metrics and its send lag, from the workers' merged histograms.
fn merged_metrics(
    parts: &[Part],
) -> Result<(BTreeMap<String, Summary>, Option<Summary>), MergeError> {
    let p0 = &parts[0];
    let hist_err = |e: hist::HistError| MergeError::Histogram {
        file: p0.file.to_string(),
        step: p0.step.step.clone(),
        why: e.to_string(),
    };
    let names: BTreeSet<&String> = parts
        .iter()
        .flat_map(|p| p.worker.histograms.keys())
        .collect();
    let mut histograms: BTreeMap<String, MetricHistogram> = BTreeMap::new();
    for name in names {
        let hs: Vec<&MetricHistogram> = parts
            .iter()
            .filter_map(|p| p.worker.histograms.get(name))
            .collect();
        if let Some(m) = hist::merge(&hs).map_err(hist_err)? {
            histograms.insert(name.clone(), m);
        }
    }
    let mut metrics = BTreeMap::new();
    for (name, h) in &histograms {
        if name != SEND_LAG {
            metrics.insert(name.clone(), hist::summary(h).map_err(hist_err)?);
        }
    }
    let send_lag_ms = histograms
        .get(SEND_LAG)
        .map(hist::summary)
        .transpose()
        .map_err(hist_err)?;
    Ok((metrics, send_lag_ms))
}

/// Each worker of the step, as the merged step lists it.
fn merged_workers(parts: &[Part], base: i64) -> Vec<MergedWorker> {
    parts
        .iter()
        .map(|p| MergedWorker {
            file: p.file.to_string(),
            shard: p.worker.shard,
            step: p.step.step.clone(),
            origin_utc: p.worker.origin_utc.clone(),
            origin_offset_ms: offset_ms(p, base),
            start_late_ms: p.worker.start_late_ms,
            requests: p.step.requests,
            ok: p.step.ok,
            send_lag_ms: p.step.client.send_lag_ms.clone(),
            cpu_cores: p.step.client.cpu_cores,
            bottleneck: p.step.client.bottleneck,
        })
        .collect()
}

/// Whether the workers ran one schedule: `schedule_skew`, `start_late`,
/// `start_mismatch` and `missing_shards` flags.
fn agreement_flags(
    parts: &[Part],
    workers: &[MergedWorker],
    origin_spread_ms: f64,
    tolerance_ms: f64,
) -> Vec<Flag> {
    let mut flags: Vec<Flag> = Vec::new();
    if origin_spread_ms > tolerance_ms {
        flags.push(Flag {
            kind: "schedule_skew".into(),
            message: format!(
                "the workers' step clocks started {origin_spread_ms:.1} ms apart (tolerance {tolerance_ms} ms): their schedules were not one schedule; start every worker with the same --start-at"
            ),
        });
    }
    for w in workers {
        if let Some(late) = w.start_late_ms
            && late > tolerance_ms
        {
            flags.push(Flag {
                kind: "start_late".into(),
                message: format!(
                    "{} started {late:.1} ms after --start-at (tolerance {tolerance_ms} ms): it was late to start, or its clock disagrees with the others'",
                    w.file
                ),
            });
        }
    }
    let starts: BTreeSet<Option<&String>> =
        parts.iter().map(|p| p.worker.start_at.as_ref()).collect();
    if starts.len() > 1 {
        flags.push(Flag {
            kind: "start_mismatch".into(),
            message: format!(
                "the workers were given different start instants ({}): their schedules are not one schedule",
                starts
                    .iter()
                    .map(|s| s.map_or("none", |s| s.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let count = parts[0].worker.shard.map_or(1, |s| s.count);
    let present: BTreeSet<u32> = parts
        .iter()
        .map(|p| p.worker.shard.map_or(0, |s| s.index))
        .collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        flags.push(Flag {
            kind: "missing_shards".into(),
            message: format!(
                "shard(s) {} are missing: this is part of the load, not all of it",
                missing.join(", ")
            ),
        });
    }
    flags
}

/// Every worker's client bottleneck reasons, each naming its worker.
fn worker_reasons(parts: &[Part]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| {
            p.step
                .client
                .reasons
                .iter()
                .map(move |r| format!("{} ({}): {r}", shard_label(p.worker), p.file))
        })
        .collect()
}

/// Every worker's own flags, each naming its worker.
fn worker_flags(parts: &[Part]) -> Vec<Flag> {
    parts
        .iter()
        .flat_map(|p| {
            p.step.flags.iter().map(move |f| Flag {
                kind: f.kind.clone(),
                message: format!("{} ({}): {}", shard_label(p.worker), p.file, f.message),
            })
        })
        .collect()
}

/// The workers' results as one document: merged steps, every worker's records on the
/// merged clock (labelled with the whole step), summaries over all of them.
pub fn merge(docs: &[(String, ResultsDoc)], tolerance_ms: f64) -> Result<ResultsDoc, MergeError> {
    let steps = check(docs)?;
    let mut load = Vec::new();
    // (file, worker step label) → (whole label, ms to add to its records' instants).
    let mut moves: BTreeMap<(&str, &str), (String, f64)> = BTreeMap::new();
    for parts in &steps {
        let base = clock_base(parts);
        for p in parts {
            moves.insert(
                (p.file, p.step.step.as_str()),
                (p.worker.whole_step.clone(), offset_ms(p, base)),
            );
        }
        load.push(merge_step(parts, tolerance_ms)?);
    }
    let mut runs: Vec<RunRecord> = Vec::new();
    for (file, doc) in docs {
        for r in &doc.runs {
            let mut r = r.clone();
            if let Some(label) = r.load_step.clone()
                && let Some((whole, by)) = moves.get(&(file.as_str(), label.as_str()))
            {
                r.load_step = Some(whole.clone());
                if let Some(t) = r.timeline.as_mut() {
                    t.scheduled_ms += by;
                    t.sent_ms += by;
                }
            }
            runs.push(r);
        }
    }
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let earliest = docs
        .iter()
        .map(|(_, d)| &d.started_at)
        .min_by_key(|s| parse(s))
        .cloned();
    let latest = docs
        .iter()
        .map(|(_, d)| &d.finished_at)
        .max_by_key(|s| parse(s))
        .cloned();
    let first = &docs[0].1;
    Ok(ResultsDoc {
        started_at: earliest.unwrap_or_else(|| first.started_at.clone()),
        finished_at: latest.unwrap_or_else(|| first.finished_at.clone()),
        summaries: crate::export::summary::summarize_runs(&runs),
        runs,
        load,
        ..first.clone()
    })
}
