//! The input sweep (`--sweep input:…`) in the console, Markdown and HTML reports (pure):
//! the fitted line (fixed overhead and time per prompt token with intervals, the prefill
//! rate), then one row per input length — TTFT, our prefill rate, the engine's own, and
//! llama-bench's pp with the difference; our decode rate at that context, the engine's,
//! and llama-bench's tg at that depth with the difference. The HTML report adds two
//! charts: prefill tok/s and decode tok/s against input length.

use super::escape_html as esc;
use super::escape_text;
use crate::measure::inference::Interval;
use crate::results::{InputSweepReport, PrefillFit, ResultsDoc};
use std::fmt::Write;

fn n(x: Option<f64>, prec: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.prec$}"))
}

fn ci(c: Option<Interval>, prec: usize) -> String {
    c.map_or(String::new(), |c| {
        format!(" [{:.prec$}, {:.prec$}]", c.lo, c.hi)
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:+.1}%"))
}

/// One sentence on a fit, e.g. "TTFT = 41.2 ms [38.0, 44.4] + 0.812 ms/token [0.80,
/// 0.82] × L (n 15, residual sd 3.1 ms): 1231.5 tok/s [1219.0, 1244.3]".
pub fn fit_line(f: &PrefillFit) -> String {
    format!(
        "{}: TTFT = {:.1} ms{} + {:.4} ms/token{} × input tokens (n {}, residual sd {:.2} ms) → prefill {} tok/s{}",
        f.source,
        f.intercept_ms,
        ci(Some(f.intercept_ci), 1),
        f.slope_ms_per_token,
        ci(Some(f.slope_ci), 4),
        f.n,
        f.residual_sd_ms,
        n(f.prefill_tps, 1),
        match (f.prefill_tps, f.prefill_tps_ci) {
            (Some(_), None) => " [interval unbounded: the slope's interval reaches 0]".into(),
            (_, c) => ci(c, 1),
        }
    )
}

const HEADERS: [&str; 11] = [
    "input tok",
    "TTFT ms (ours)",
    "prefill tok/s (ours, 95% CI)",
    "prefill (engine)",
    "llama-bench pp",
    "Δ prefill",
    "decode tok/s (ours, 95% CI)",
    "decode (engine)",
    "llama-bench tg",
    "Δ decode",
    "n pre/dec",
];

/// The table's cells, row by row (plain text).
fn cells(r: &InputSweepReport) -> Vec<[String; 11]> {
    r.rows
        .iter()
        .map(|row| {
            let bench = |b: &Option<crate::results::BenchFigure>| {
                b.as_ref().map_or("–".into(), |b| {
                    format!("{:.1} ±{:.1} ({})", b.tps, b.sd_tps, b.test)
                })
            };
            [
                row.input_tokens.to_string(),
                format!("{}{}", n(row.ttft_ms, 1), ci(row.ttft_ci, 1)),
                format!("{}{}", n(row.prefill_tps, 1), ci(row.prefill_tps_ci, 1)),
                n(row.engine_prefill_tps, 1),
                bench(&row.bench_pp),
                pct(row.prefill_vs_bench_pct),
                format!("{}{}", n(row.decode_tps, 2), ci(row.decode_tps_ci, 2)),
                n(row.engine_decode_tps, 2),
                bench(&row.bench_tg),
                pct(row.decode_vs_bench_pct),
                format!("{}/{}", row.prefill_requests, row.decode_requests),
            ]
        })
        .collect()
}

/// What the lines under the table say: the fits, llama-bench's outcome, the notes.
fn summary_lines(r: &InputSweepReport) -> Vec<String> {
    let mut lines = Vec::new();
    match &r.fit {
        Some(f) => lines.push(fit_line(f)),
        None => lines.push("ours: no regression (too few prefill requests)".into()),
    }
    if let Some(f) = &r.bench_fit {
        lines.push(fit_line(f));
    }
    if let Some(p) = r.fit_vs_bench_pct {
        lines.push(format!(
            "prefill rate of the fits, ours vs llama-bench: {p:+.1}%"
        ));
    }
    lines.push(match (&r.bench.ran, &r.bench.note) {
        (true, _) => format!(
            "llama-bench: {}",
            r.bench
                .commands
                .iter()
                .map(|c| c.join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        (false, Some(note)) => format!("llama-bench: {note}"),
        (false, None) => "llama-bench: not run".into(),
    });
    lines.extend(r.notes.iter().cloned());
    lines
}

/// The sweep of one engine for the console and the log: aligned columns.
pub fn console(engine: &str, r: &InputSweepReport) -> String {
    let rows = cells(r);
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|i| {
            rows.iter()
                .map(|c| c[i].chars().count())
                .chain([HEADERS[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |c: &[String]| {
        c.iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = format!(
        "\n{engine}: input sweep (prefill: 1 output token; decode: {} output tokens)\n",
        r.decode_tokens
    );
    let head: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(out, "{}", line(&head));
    for c in &rows {
        let _ = writeln!(out, "{}", line(c));
    }
    for l in summary_lines(r) {
        let _ = writeln!(out, "  {l}");
    }
    out
}

/// "## Input sweep" for the Markdown report; nothing without one.
pub fn markdown(doc: &ResultsDoc) -> String {
    let mut md = String::new();
    for e in &doc.engines {
        let Some(r) = &e.input_sweep else {
            continue;
        };
        let _ = writeln!(
            md,
            "\n## Input sweep: {}\n\nPrefill (1 output token) and decode ({} output tokens) at exact input lengths.\n",
            escape_text(&e.engine, true),
            r.decode_tokens
        );
        let _ = writeln!(md, "| {} |", HEADERS.join(" | "));
        let _ = writeln!(md, "|{}", "---:|".repeat(HEADERS.len()));
        for c in cells(r) {
            let c: Vec<String> = c.iter().map(|s| escape_text(s, true)).collect();
            let _ = writeln!(md, "| {} |", c.join(" | "));
        }
        md.push('\n');
        for l in summary_lines(r) {
            let _ = writeln!(md, "- {}", escape_text(&l, true));
        }
    }
    md
}

/// The input sweep section of the HTML report: the table and two charts.
pub fn html(doc: &ResultsDoc) -> String {
    use super::chart::{XySeries, xy_chart};
    let mut h = String::new();
    for e in &doc.engines {
        let Some(r) = &e.input_sweep else {
            continue;
        };
        let _ = write!(
            h,
            "<h2>Input sweep: {}</h2><p class=\"note\">Prefill (1 output token) and decode ({} output tokens) at exact input lengths; ours is our clock, engine is the engine's own, llama-bench its benchmark.</p><table><tr>",
            esc(&e.engine),
            r.decode_tokens
        );
        for hd in HEADERS {
            let _ = write!(h, "<th>{}</th>", esc(hd));
        }
        h.push_str("</tr>");
        for c in cells(r) {
            h.push_str("<tr>");
            for x in c {
                let _ = write!(h, "<td>{}</td>", esc(&x));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table><ul>");
        for l in summary_lines(r) {
            let _ = write!(h, "<li>{}</li>", esc(&l));
        }
        h.push_str("</ul><div class=\"charts\">");
        let series =
            |name: &str,
             dashed: bool,
             get: &dyn Fn(&crate::results::InputSweepRow) -> Option<f64>| XySeries {
                name: name.into(),
                dashed,
                points: r
                    .rows
                    .iter()
                    .filter_map(|row| {
                        get(row).map(|y| {
                            (
                                row.input_tokens as f64,
                                y,
                                format!("in={}", row.input_tokens),
                            )
                        })
                    })
                    .collect(),
            };
        let keep = |v: Vec<XySeries>| {
            v.into_iter()
                .filter(|s| !s.points.is_empty())
                .collect::<Vec<_>>()
        };
        let prefill = keep(vec![
            series("ours (TTFT − overhead)", false, &|r| r.prefill_tps),
            series("engine clock", true, &|r| r.engine_prefill_tps),
            series("llama-bench pp", true, &|r| {
                r.bench_pp.as_ref().map(|b| b.tps)
            }),
        ]);
        let decode = keep(vec![
            series("ours (1/TPOT)", false, &|r| r.decode_tps),
            series("engine clock", true, &|r| r.engine_decode_tps),
            series("llama-bench tg", true, &|r| {
                r.bench_tg.as_ref().map(|b| b.tps)
            }),
        ]);
        h.push_str(&xy_chart(
            "Prefill rate by input length",
            "input tokens",
            "tok/s",
            &prefill,
        ));
        h.push_str(&xy_chart(
            "Decode rate by context length",
            "context (input tokens)",
            "tok/s",
            &decode,
        ));
        h.push_str("</div>");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{BenchFigure, BenchRun, InputSweepRow};

    fn report() -> InputSweepReport {
        let iv = |lo, hi| Interval {
            lo,
            hi,
            level: 0.95,
        };
        InputSweepReport {
            decode_tokens: 64,
            level: 0.95,
            fit: Some(PrefillFit {
                n: 6,
                slope_ms_per_token: 0.5,
                slope_ci: iv(0.48, 0.52),
                intercept_ms: 11.0,
                intercept_ci: iv(7.3, 14.7),
                residual_sd_ms: 1.22,
                prefill_tps: Some(2000.0),
                prefill_tps_ci: Some(iv(1923.1, 2083.3)),
                source: "ours (TTFT)".into(),
            }),
            bench_fit: None,
            fit_vs_bench_pct: None,
            rows: vec![InputSweepRow {
                input_tokens: 128,
                prefill_requests: 5,
                ttft_ms: Some(75.0),
                prefill_tps: Some(2000.0),
                prefill_tps_ci: Some(iv(1900.0, 2100.0)),
                bench_pp: Some(BenchFigure {
                    test: "pp128".into(),
                    tps: 2100.0,
                    sd_tps: 10.0,
                    samples_tps: vec![],
                }),
                prefill_vs_bench_pct: Some(-4.76),
                decode_requests: 3,
                decode_tps: Some(80.0),
                ..Default::default()
            }],
            bench: BenchRun {
                ran: false,
                commands: vec![],
                note: Some("not run: <absent>".into()),
            },
            notes: vec![],
        }
    }

    #[test]
    fn console_carries_the_fit_the_rows_and_llama_bench() {
        let c = console("llamacpp", &report());
        assert!(c.contains("2000.0 [1900.0, 2100.0]"), "{c}");
        assert!(c.contains("2100.0 ±10.0 (pp128)"), "{c}");
        assert!(c.contains("-4.8%"), "{c}");
        assert!(
            c.contains("ours (TTFT): TTFT = 11.0 ms [7.3, 14.7] + 0.5000 ms/token"),
            "{c}"
        );
        assert!(c.contains("llama-bench: not run: <absent>"), "{c}");
    }

    fn doc(engine: &str, r: InputSweepReport) -> ResultsDoc {
        ResultsDoc {
            schema_version: crate::results::SCHEMA_VERSION,
            tool: "inferbench".into(),
            mode: crate::results::Mode::Api,
            started_at: String::new(),
            finished_at: String::new(),
            environment: Default::default(),
            config: serde_json::Value::Null,
            engines: vec![crate::results::EngineInfo {
                engine: engine.into(),
                input_sweep: Some(Box::new(r)),
                ..Default::default()
            }],
            runs: vec![],
            summaries: vec![],
            load: vec![],
            search: vec![],
            workload: None,
            parity: None,
        }
    }

    #[test]
    fn markdown_and_html_escape_and_html_draws_two_charts() {
        let d = doc("eng<1>", report());
        let h = html(&d);
        assert!(h.contains("Input sweep: eng&lt;1&gt;"), "{h}");
        assert_eq!(h.matches("<svg").count(), 2);
        assert!(h.contains("not run: &lt;absent&gt;"));
        let md = markdown(&d);
        assert!(md.contains("## Input sweep: eng"), "{md}");
        assert!(md.contains("| 128 | 75.0 |"), "{md}");
        let none = doc("e", report());
        let mut none = none;
        none.engines[0].input_sweep = None;
        assert_eq!(
            (markdown(&none), html(&none)),
            (String::new(), String::new())
        );
    }
}
