//! What the terminal shows of load steps: one line per finished step, and the per-step
//! table printed at the end (TTFT figures that include replies in one lump marked, with
//! a footnote). Pure: reports → text.

use super::{Stat, lump_marked, lump_note, stat};
use crate::results::StepReport;
use crate::results::metric::{TPOT, TTFT, TTFT_SCHEDULED};
use std::fmt::Write as _;

/// One line per finished step, for the log and the terminal.
pub fn step_line(r: &StepReport) -> String {
    let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or("–".into());
    let mut s = format!(
        "{} {}: {} requests ({} failed), TTFT mean {} p99 {} ms, TPOT mean {} ms, {} tok/s steady ({} span), {} req/s",
        r.engine,
        r.step,
        r.requests,
        r.failed,
        f(stat(&r.metrics, &TTFT, Stat::Mean)),
        f(stat(&r.metrics, &TTFT, Stat::P99)),
        f(stat(&r.metrics, &TPOT, Stat::Mean)),
        f(r.output_tps_steady),
        f(r.output_tps),
        f(r.request_rps),
    );
    if let Some(g) = &r.goodput {
        let _ = write!(s, ", goodput {:.1}%", 100.0 * g.fraction);
    }
    for flag in &r.flags {
        let _ = write!(s, " [{}: {}]", flag.kind, flag.message);
    }
    s
}

/// The per-step table printed at the end.
pub fn console_table(reports: &[StepReport]) -> String {
    let mut rows: Vec<[String; 12]> = vec![[
        "engine".into(),
        "step".into(),
        "requests".into(),
        "failed".into(),
        "TTFT mean ms".into(),
        "TTFT p99 ms".into(),
        "TTFT p99 sched ms".into(),
        "TPOT mean ms".into(),
        "tok/s steady".into(),
        "req/s".into(),
        "lag p99 ms".into(),
        "client CPU".into(),
    ]];
    let f = |x: Option<f64>, p: usize| x.map(|v| format!("{v:.p$}")).unwrap_or("–".into());
    for r in reports {
        let m = |metric, s| stat(&r.metrics, metric, s);
        // TTFT of replies in one lump holds the whole generation: marked, noted below.
        let ttft = |metric, s| lump_marked(f(m(metric, s), 3), r.ttft_holds_generation);
        rows.push([
            r.engine.clone(),
            r.step.clone(),
            r.requests.to_string(),
            r.failed.to_string(),
            ttft(&TTFT, Stat::Mean),
            ttft(&TTFT, Stat::P99),
            ttft(&TTFT_SCHEDULED, Stat::P99),
            f(m(&TPOT, Stat::Mean), 4),
            f(r.output_tps_steady.or(r.output_tps), 0),
            f(r.request_rps, 1),
            f(r.client.send_lag_ms.as_ref().map(|x| x.p99), 3),
            match r.client.cpu_cores {
                Some(c) => format!(
                    "{:.0}%{}",
                    100.0 * c,
                    if r.client.bottleneck { " (!)" } else { "" }
                ),
                None => "–".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..12)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(s, "{}", cells.join("  ").trim_end());
    }
    for r in reports.iter().filter(|r| r.ttft_holds_generation > 0) {
        let who = format!("{} {}", r.engine, r.step);
        let _ = writeln!(s, "{}", lump_note(&who, r.ttft_holds_generation, r.ok));
    }
    s.push_str(&super::calibration::console_lines(reports));
    s
}

/// A load of a search as its step label: "c=12" or "rate=2.5/s".
pub fn search_load_label(find: crate::results::Find, load: f64) -> String {
    match find {
        crate::results::Find::MaxConcurrency => format!("c={load:.0}"),
        crate::results::Find::MaxRate => format!("rate={load}/s"),
    }
}

/// One line per decided probe of a `--find` search, e.g.
/// "probe c=16: fail — 75.0% of 100 met the SLO, 95% CI [65.7%, 82.5%] (target 95%)".
pub fn probe_line(s: &crate::results::SearchReport, p: &crate::results::Probe) -> String {
    let verdict = p.verdict.as_str();
    format!(
        "probe {}: {verdict} — {:.1}% of {} met the SLO, {:.0}% CI [{:.1}%, {:.1}%] (target {}%){}",
        search_load_label(s.find, p.load),
        100.0 * p.attainment,
        p.total,
        100.0 * p.ci.level,
        100.0 * p.ci.lo,
        100.0 * p.ci.hi,
        100.0 * s.target,
        if p.batches > 1 {
            format!(", {} batches", p.batches)
        } else {
            String::new()
        }
    )
}

/// The outcome of a `--find` search: the boundary with its interval, then the note.
pub fn search_lines(s: &crate::results::SearchReport) -> Vec<String> {
    let what = match s.find {
        crate::results::Find::MaxConcurrency => "max concurrency",
        crate::results::Find::MaxRate => "max rate",
    };
    let head = match (s.boundary, s.boundary_ci) {
        (Some(b), Some(ci)) => format!(
            "{}: {what} meeting SLO {} for ≥ {}% of requests: {} (attainment {:.0}% CI [{:.1}%, {:.1}%]); first failing: {}",
            s.engine,
            s.slo.describe(),
            100.0 * s.target,
            search_load_label(s.find, b),
            100.0 * ci.level,
            100.0 * ci.lo,
            100.0 * ci.hi,
            s.first_failing
                .map(|f| search_load_label(s.find, f))
                .unwrap_or_else(|| "none up to the limit".into())
        ),
        _ => format!(
            "{}: {what} meeting SLO {} for ≥ {}% of requests: none",
            s.engine,
            s.slo.describe(),
            100.0 * s.target
        ),
    };
    vec![
        head,
        format!(
            "{}: search {} after {} probes",
            s.engine,
            s.note,
            s.probes.len()
        ),
    ]
}
