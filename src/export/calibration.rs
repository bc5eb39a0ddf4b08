//! The client's own error bar in the reports (issue 21): one line per calibrated step for
//! the log and the terminal, a Markdown section setting the client's TTFT and TPOT error
//! beside each engine's figures, the engines compared step by step only beyond that
//! error, and the "relative" cell that names no winner within it. Pure: reports → text.

use super::{Stat, escape_text, stat};
use crate::measure::calibration::{rates_within, within};
use crate::results::metric::{TPOT, TTFT};
use crate::results::{Calibration, ErrorBar, ResultsDoc, StepReport, client_error_of};
use std::fmt::Write as _;

/// What every report says where a difference is smaller than the client's error.
pub const WITHIN: &str = "within the client's error";

/// "+0.41 mean, p99 +1.20, ±0.90 (95%)".
fn bar(e: &ErrorBar) -> String {
    format!(
        "{:+.3} mean, p99 {:+.3}, ±{:.3} (95%)",
        e.mean, e.p99, e.bound95
    )
}

fn opt_bar(e: Option<&ErrorBar>) -> String {
    e.map(bar).unwrap_or_else(|| "–".into())
}

/// One line per calibrated (or skipped) step: the client's error beside the engine's.
pub fn step_line(r: &StepReport) -> String {
    let Some(c) = &r.calibration else {
        return format!("{} {}: not calibrated", r.engine, r.step);
    };
    if let Some(why) = &c.skipped {
        return format!("{} {}: client error not measured: {why}", r.engine, r.step);
    }
    let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or("–".into());
    format!(
        "{} {}: client error (ms, measured − scripted, {} of {} requests to the synthetic engine{}, {:.1} s): TTFT {} beside the engine's TTFT mean {} p99 {}; TPOT {} beside the engine's TPOT mean {}",
        r.engine,
        r.step,
        c.ok,
        c.requests,
        if c.full { "" } else { ", cheap default" },
        c.wall_s,
        opt_bar(c.ttft_error_ms.as_ref()),
        f(stat(&r.metrics, &TTFT, Stat::Mean)),
        f(stat(&r.metrics, &TTFT, Stat::P99)),
        opt_bar(c.tpot_error_ms.as_ref()),
        f(stat(&r.metrics, &TPOT, Stat::Mean)),
    )
}

/// The "relative" cell of `engine`'s decode rate `t` against the base engine's (the
/// first with a figure): see [`relative_text`], with the wider of the two engines'
/// calibrated TPOT bounds.
pub fn relative_cell(
    doc: &ResultsDoc,
    engine: &str,
    base: Option<(&str, f64)>,
    t: Option<f64>,
) -> String {
    let bound = base.filter(|(b, _)| *b != engine).and_then(|(b, _)| {
        client_error_of(&doc.load, engine)
            .wider(client_error_of(&doc.load, b))
            .tpot_ms
    });
    relative_text(t, base.map(|(_, b)| b), bound)
}

/// "1.03x" (`t / b`), or [`WITHIN`] where the two rates, as TPOTs, differ by less than
/// `tpot_bound` ms; "–" without figures. Pure.
pub fn relative_text(t: Option<f64>, b: Option<f64>, tpot_bound: Option<f64>) -> String {
    match (t, b) {
        (Some(t), Some(b)) if b > 0.0 => match tpot_bound {
            Some(e) if rates_within(t, b, e) => format!("≈1 ({WITHIN})"),
            _ => format!("{:.2}x", t / b),
        },
        _ => "–".into(),
    }
}

/// Two engines' means of one metric at one step, in words: which is lower and by how
/// much, or [`WITHIN`] (no winner) where the difference is smaller than `bound`.
pub fn verdict(metric: &str, (a, ma): (&str, f64), (b, mb): (&str, f64), bound: f64) -> String {
    if within(ma, mb, bound) {
        return format!(
            "{metric} mean {a} {ma:.2} ms, {b} {mb:.2} ms: {WITHIN} (±{bound:.3} ms), no winner"
        );
    }
    let (lo, hi) = if ma < mb { (a, b) } else { (b, a) };
    format!(
        "{metric} mean {a} {ma:.2} ms, {b} {mb:.2} ms: {lo} lower than {hi} by {:.2} ms, beyond the client's error (±{bound:.3} ms)",
        (ma - mb).abs()
    )
}

/// The pairs of engines measured at the same step label, each metric's verdict where
/// both have a mean and either was calibrated.
fn pair_lines(load: &[StepReport]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in load.iter().enumerate() {
        for b in load[i + 1..]
            .iter()
            .filter(|b| b.step == a.step && b.engine != a.engine)
        {
            let bound = |c: Option<&Calibration>, f: fn(&Calibration) -> Option<&ErrorBar>| {
                c.and_then(f).map(|e| e.bound95)
            };
            for (name, m, f) in [
                (
                    "TTFT",
                    &TTFT,
                    (|c| c.ttft_error_ms.as_ref()) as fn(&Calibration) -> Option<&ErrorBar>,
                ),
                ("TPOT", &TPOT, |c| c.tpot_error_ms.as_ref()),
            ] {
                let wide = match (
                    bound(a.calibration.as_ref(), f),
                    bound(b.calibration.as_ref(), f),
                ) {
                    (Some(x), Some(y)) => x.max(y),
                    (x, y) => match x.or(y) {
                        Some(v) => v,
                        None => continue,
                    },
                };
                if let (Some(ma), Some(mb)) = (
                    stat(&a.metrics, m, Stat::Mean),
                    stat(&b.metrics, m, Stat::Mean),
                ) {
                    out.push(format!(
                        "{}: {}",
                        a.step,
                        verdict(name, (&a.engine, ma), (&b.engine, mb), wide)
                    ));
                }
            }
        }
    }
    out
}

/// "## The client's own error": per calibrated step, the engine's TTFT and TPOT beside
/// the client's error at that load; skipped steps with the reason; engines compared at
/// the same step only beyond that error. Empty when no step carries a calibration.
pub fn markdown(doc: &ResultsDoc) -> String {
    let steps: Vec<&StepReport> = doc
        .load
        .iter()
        .filter(|r| r.calibration.is_some())
        .collect();
    if steps.is_empty() {
        return String::new();
    }
    let mut md = String::from("## The client's own error (calibration)\n\n");
    md.push_str(
        "| Engine | Step | Engine TTFT mean / p99 ms | Client TTFT error ms (mean, p99, ±95%) | Engine TPOT mean ms | Client TPOT error ms (mean, p99, ±95%) | Scripted TTFT / TPOT ms | Requests ok/sent | Cost |\n|---|---|---:|---|---:|---|---:|---:|---|\n",
    );
    let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or("–".into());
    for r in &steps {
        let Some(c) = &r.calibration else { continue };
        if c.skipped.is_some() {
            continue;
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} / {} | {} | {} | {} | {} / {} | {}/{} | {:.1} s{}{} |",
            escape_text(&r.engine, true),
            escape_text(&r.step, true),
            f(stat(&r.metrics, &TTFT, Stat::Mean)),
            f(stat(&r.metrics, &TTFT, Stat::P99)),
            opt_bar(c.ttft_error_ms.as_ref()),
            f(stat(&r.metrics, &TPOT, Stat::Mean)),
            opt_bar(c.tpot_error_ms.as_ref()),
            f(c.scripted_ttft_ms),
            f(c.scripted_tpot_ms),
            c.ok,
            c.requests,
            c.wall_s,
            c.cost_pct
                .map(|p| format!(" ({p:.0}% of the step)"))
                .unwrap_or_default(),
            if c.full { "" } else { ", cheap default" },
        );
    }
    for r in &steps {
        if let Some(why) = r.calibration.as_ref().and_then(|c| c.skipped.as_ref()) {
            let _ = writeln!(
                md,
                "\n{} {}: not calibrated: {}",
                escape_text(&r.engine, true),
                escape_text(&r.step, true),
                escape_text(why, false)
            );
        }
    }
    md.push_str(
        "\nThe step's shape (concurrency or rate, output length) sent again to the built-in synthetic engine on this host, its TTFT and TPOT scripted at the engine's medians; error = what the client measured − the script (it includes the synthetic engine's own lateness, so it bounds the client's from above). A difference between engines smaller than ±95% is reported as within the client's error; one beyond it may still be run-to-run noise (`inferbench compare` tests significance).\n",
    );
    let pairs = pair_lines(&doc.load);
    if !pairs.is_empty() {
        md.push('\n');
        for p in pairs {
            let _ = writeln!(md, "- {}", escape_text(&p, false));
        }
    }
    md.push('\n');
    md
}

/// The terminal's lines after the step table: each calibrated step's line and the
/// engines compared beyond the client's error; empty when nothing was calibrated.
pub fn console_lines(load: &[StepReport]) -> String {
    let mut s = String::new();
    for r in load.iter().filter(|r| r.calibration.is_some()) {
        let _ = writeln!(s, "{}", step_line(r));
    }
    for p in pair_lines(load) {
        let _ = writeln!(s, "{p}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_within_the_error_names_no_winner() {
        let v = verdict("TTFT", ("a", 100.0), ("b", 101.0), 1.5);
        assert!(v.contains(WITHIN) && v.contains("no winner"), "{v}");
        let v = verdict("TTFT", ("a", 100.0), ("b", 103.0), 1.5);
        assert!(v.contains("a lower than b by 3.00 ms"), "{v}");
        assert!(!v.contains("no winner"), "{v}");
    }

    #[test]
    fn the_relative_cell_names_no_winner_within_the_tpot_error() {
        // 200 tok/s = 5 ms, 190 tok/s = 5.263 ms: 0.263 ms apart.
        assert_eq!(relative_text(Some(190.0), Some(200.0), None), "0.95x");
        assert_eq!(
            relative_text(Some(190.0), Some(200.0), Some(0.3)),
            format!("≈1 ({WITHIN})")
        );
        assert_eq!(relative_text(Some(190.0), Some(200.0), Some(0.2)), "0.95x");
        assert_eq!(relative_text(None, Some(200.0), Some(0.3)), "–");
        assert_eq!(relative_text(Some(1.0), Some(0.0), None), "–");
    }
}
