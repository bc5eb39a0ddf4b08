//! `--starts N` in the reports (pure): per engine, one row per start with the page cache
//! before it and each mark's time after the spawn, then each start's phases.

use crate::results::{MarkKind, PageCache, ResultsDoc, StartRun, StartsReport};
use std::fmt::Write as _;

/// The marks any start of the report has, in [`MarkKind`] order.
fn kinds(r: &StartsReport) -> Vec<MarkKind> {
    let mut k: Vec<MarkKind> = r
        .starts
        .iter()
        .flat_map(|s| s.marks.iter().map(|m| m.kind))
        .filter(|k| *k != MarkKind::Spawn)
        .collect();
    k.sort();
    k.dedup();
    k
}

fn cache(c: Option<&PageCache>) -> String {
    c.map_or("–".into(), |c| {
        format!("{:.1}% {}", c.resident_share * 100.0, c.state)
    })
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0}"))
}

/// Header and one row per start: start, cache before, each mark (ms after spawn), TTFT,
/// cache after.
fn table(r: &StartsReport) -> (Vec<String>, Vec<Vec<String>>) {
    let kinds = kinds(r);
    let mut head = vec!["start".to_string(), "page cache before".to_string()];
    head.extend(kinds.iter().map(|k| k.as_str().to_string()));
    head.extend(["TTFT ms".to_string(), "page cache after".to_string()]);
    let rows = r
        .starts
        .iter()
        .map(|s| {
            let mut row = vec![s.index.to_string(), cache(s.cache_before.as_ref())];
            row.extend(
                kinds
                    .iter()
                    .map(|k| ms(s.marks.iter().find(|m| m.kind == *k).map(|m| m.at_ms))),
            );
            row.push(ms(s.ttft_ms));
            row.push(cache(s.cache_after.as_ref()));
            row
        })
        .collect();
    (head, rows)
}

/// One start's phases on one line: `spawn→load_begin 6 ms · …`, or its error.
fn phase_line(s: &StartRun) -> String {
    if let Some(e) = &s.error
        && s.phases.is_empty()
    {
        return format!("failed: {e}");
    }
    let mut line = s
        .phases
        .iter()
        .map(|p| format!("{}→{} {:.0} ms", p.from.as_str(), p.to.as_str(), p.ms))
        .collect::<Vec<_>>()
        .join(" · ");
    if let Some(e) = &s.error {
        let _ = write!(line, " (request failed: {e})");
    }
    line
}

fn cold_line(r: &StartsReport) -> String {
    let really = r
        .starts
        .first()
        .and_then(|s| s.cache_before.as_ref())
        .map(|c| match c.state.as_str() {
            "cold" => "; the first start was cold".to_string(),
            other => format!(
                "; the first start was NOT cold ({:.1}% of the model file in the page cache: {other})",
                c.resident_share * 100.0
            ),
        })
        .unwrap_or_default();
    if r.cold.dropped {
        format!("first start made cold: {}{really}", r.cold.how)
    } else {
        format!("first start {}{really}", r.cold.how)
    }
}

/// One engine's starts for the console and the log: aligned columns, then the phases.
pub fn console(engine: &str, r: &StartsReport) -> String {
    let (head, rows) = table(r);
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|c| c[i].chars().count())
                .chain([head[i].chars().count()])
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
    };
    let mut out = format!(
        "\n{engine}: {} starts (ms after spawn; model file {})\n",
        r.starts.len(),
        r.model_file.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(out, "{}", line(&head));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    for s in &r.starts {
        let _ = writeln!(out, "  start {}: {}", s.index, phase_line(s));
    }
    let _ = writeln!(out, "  {}", cold_line(r));
    for n in &r.notes {
        let _ = writeln!(out, "  {n}");
    }
    out
}

/// "## Cold and warm starts" for the Markdown report; nothing without `--starts`.
pub fn markdown(doc: &ResultsDoc) -> String {
    let mut md = String::new();
    for e in &doc.engines {
        let Some(r) = &e.starts else {
            continue;
        };
        if md.is_empty() {
            md.push_str("\n## Cold and warm starts\n");
        }
        let (head, rows) = table(r);
        let _ = writeln!(
            md,
            "\n### {} ({} starts; ms after spawn; model file `{}`)\n",
            e.engine,
            r.starts.len(),
            r.model_file.as_deref().unwrap_or("unknown")
        );
        let _ = writeln!(md, "| {} |", head.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(head.len()));
        for row in &rows {
            let _ = writeln!(md, "| {} |", row.join(" | "));
        }
        md.push('\n');
        for s in &r.starts {
            let _ = writeln!(md, "- start {}: {}", s.index, phase_line(s));
        }
        let _ = writeln!(md, "- {}", cold_line(r));
        for n in &r.notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ColdStart, EngineInfo, StartMark, StartPhase};

    fn report() -> StartsReport {
        let mark = |kind, at_ms| StartMark {
            kind,
            at_ms,
            source: "inferbench".into(),
            line: None,
        };
        let pc = |share: f64, state: &str| PageCache {
            resident_share: share,
            resident_bytes: (share * 1000.0) as u64,
            file_bytes: 1000,
            state: state.into(),
        };
        StartsReport {
            asked: 2,
            model_file: Some("m.gguf".into()),
            cold: ColdStart {
                dropped: true,
                how: "posix_fadvise".into(),
            },
            starts: vec![
                StartRun {
                    index: 1,
                    cache_before: Some(pc(0.0, "cold")),
                    cache_after: Some(pc(1.0, "warm")),
                    marks: vec![
                        mark(MarkKind::Spawn, 0.0),
                        mark(MarkKind::LoadBegin, 6.4),
                        mark(MarkKind::Ready, 900.0),
                        mark(MarkKind::FirstToken, 1200.0),
                    ],
                    phases: vec![
                        StartPhase {
                            from: MarkKind::Spawn,
                            to: MarkKind::LoadBegin,
                            ms: 6.4,
                        },
                        StartPhase {
                            from: MarkKind::LoadBegin,
                            to: MarkKind::Ready,
                            ms: 893.6,
                        },
                    ],
                    ttft_ms: Some(250.0),
                    ..Default::default()
                },
                StartRun {
                    index: 2,
                    error: Some("not ready".into()),
                    ..Default::default()
                },
            ],
            notes: vec![],
        }
    }

    #[test]
    fn console_has_a_row_per_start_and_the_phases() {
        let out = console("llamacpp", &report());
        assert!(out.contains("llamacpp: 2 starts"), "{out}");
        let head = out.lines().nth(2).unwrap();
        for h in [
            "start",
            "page cache before",
            "load_begin",
            "ready",
            "first_token",
            "TTFT",
        ] {
            assert!(head.contains(h), "{head}");
        }
        assert!(out.contains("0.0% cold"), "{out}");
        assert!(out.contains("100.0% warm"), "{out}");
        assert!(out.contains("start 1: spawn→load_begin 6 ms · load_begin→ready 894 ms"));
        assert!(out.contains("start 2: failed: not ready"), "{out}");
        assert!(out.contains("first start made cold: posix_fadvise; the first start was cold"));
    }

    #[test]
    fn markdown_section_only_with_starts() {
        let mut doc = ResultsDoc {
            schema_version: crate::results::SCHEMA_VERSION,
            tool: "inferbench".into(),
            mode: crate::results::Mode::Api,
            started_at: String::new(),
            finished_at: String::new(),
            environment: Default::default(),
            config: serde_json::Value::Null,
            engines: vec![],
            runs: vec![],
            summaries: vec![],
            load: vec![],
            search: vec![],
            workload: None,
            parity: None,
        };
        assert_eq!(markdown(&doc), "");
        doc.engines.push(EngineInfo {
            engine: "llamacpp".into(),
            starts: Some(Box::new(report())),
            ..Default::default()
        });
        let md = markdown(&doc);
        assert!(md.contains("## Cold and warm starts"), "{md}");
        assert!(
            md.contains("| 1 | 0.0% cold | 6 | 900 | 1200 | 250 | 100.0% warm |"),
            "{md}"
        );
        assert!(md.contains("| 2 | – | – | – | – | – | – |"), "{md}");
    }
}
