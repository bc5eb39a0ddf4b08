//! A peer's result (vLLM `bench serve`, AIPerf, a Benchmark Report v0.2) beside ours (pure: documents → report →
//! text).
//!
//! Our side is grouped by engine × load step (warm-up left out; a sequential run is one
//! group per engine). When the peer's file says the load it ran at (`max_concurrency`, a
//! request rate) and one of our steps ran at the same load, only that step is set beside
//! it; otherwise every group is. Each of their figures that maps onto one of ours (see
//! [`super::peers`]) gets a row: their value, ours (the same statistic over our measured,
//! successful requests; throughputs from the step report), and the ratio B/A in the
//! order the files were given. Where the peer's file carries per-request values (vLLM
//! `--save-detailed`), the mean gets the same bootstrap interval and verdict as
//! `inferbench compare` of two of our files. Every figure that does not translate is
//! listed with the reason.

use super::peers::{
    Figure, ITL_POOLED, Mapping, OUTPUT_TPS, PeerLoad, PeerResult, REQUEST_RPS, Stat,
};
use crate::measure::inference::{Bootstrap, Comparison, compare_samples};
use crate::measure::stats::{Summary, summarize};
use crate::results::metric::Metric;
use crate::results::{ResultsDoc, RunRecord, StepReport};
use std::fmt::Write as _;

/// One figure of theirs beside ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub figure: Figure,
    pub ours: Option<f64>,
    /// B ÷ A, in the order the files were given.
    pub ratio: Option<f64>,
    /// With per-request values on both sides: the comparison of means (A vs B).
    pub comparison: Option<Comparison>,
}

/// One group of ours set beside the peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Beside {
    /// "engine (api)" or "engine (api) c=12".
    pub group: String,
    pub requests: usize,
    pub failed: usize,
    pub rows: Vec<Row>,
}

/// The whole comparison of a peer's file with ours.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerReport {
    pub peer: PeerResult,
    /// Whether the peer's file was given first (A).
    pub peer_is_a: bool,
    /// The peer's load matched one of our steps (else every group is shown).
    pub matched: bool,
    pub groups: Vec<Beside>,
}

struct Group<'a> {
    engine: String,
    mode: &'static str,
    step: Option<String>,
    runs: Vec<&'a RunRecord>,
}

fn groups(doc: &ResultsDoc) -> Vec<Group<'_>> {
    let mut out: Vec<Group> = Vec::new();
    for r in doc.runs.iter().filter(|r| !r.warmup) {
        match out
            .iter_mut()
            .find(|g| g.engine == r.engine && g.step == r.load_step && g.mode == r.mode.as_str())
        {
            Some(g) => g.runs.push(r),
            None => out.push(Group {
                engine: r.engine.clone(),
                mode: r.mode.as_str(),
                step: r.load_step.clone(),
                runs: vec![r],
            }),
        }
    }
    out
}

/// Whether our step label stands for the peer's load.
fn same_load(label: &str, load: PeerLoad) -> bool {
    match load {
        PeerLoad::Concurrency(c) => label == format!("c={c}"),
        PeerLoad::Rate(r) => {
            label == format!("rate={r}/s") || label.starts_with(&format!("rate={r}/s "))
        }
    }
}

fn stat_of(s: &Summary, stat: Stat) -> Option<f64> {
    match stat {
        Stat::Mean => Some(s.mean),
        Stat::P50 => Some(s.p50),
        Stat::P90 => Some(s.p90),
        Stat::P95 => Some(s.p95),
        Stat::P99 => Some(s.p99),
        Stat::Value => None,
    }
}

fn metric(name: &str) -> Option<&'static Metric> {
    crate::results::metric::ALL.iter().find(|m| m.name == name)
}

fn step_figure(steps: &[&StepReport], name: &str) -> Option<f64> {
    // A step run in several batches (a --find probe) has several reports: the first.
    let s = steps.first()?;
    match name {
        REQUEST_RPS => s.request_rps,
        OUTPUT_TPS => s.output_tps,
        _ => None,
    }
}

/// Set `peer` beside `doc`; `peer_is_a` when the peer's file was given first. A change of a
/// mean smaller than `min_effect` (relative) gets no verdict.
pub fn beside(
    peer: &PeerResult,
    doc: &ResultsDoc,
    peer_is_a: bool,
    boot: Bootstrap,
    min_effect: f64,
) -> PeerReport {
    let all = groups(doc);
    let matching: Vec<&Group> = match peer.load {
        Some(load) => all
            .iter()
            .filter(|g| g.step.as_deref().is_some_and(|s| same_load(s, load)))
            .collect(),
        None => Vec::new(),
    };
    let matched = !matching.is_empty();
    let chosen: Vec<&Group> = if matched {
        matching
    } else {
        all.iter().collect()
    };
    let order = |a: f64, b: f64| if peer_is_a { (a, b) } else { (b, a) };
    let groups = chosen
        .into_iter()
        .map(|g| {
            let ok: Vec<&RunRecord> = g.runs.iter().copied().filter(|r| r.ok).collect();
            let steps: Vec<&StepReport> = doc
                .load
                .iter()
                .filter(|s| s.engine == g.engine && Some(&s.step) == g.step.as_ref())
                .collect();
            let rows = peer
                .figures
                .iter()
                .map(|f| {
                    let (ours, values) = match metric(f.ours) {
                        Some(m) => {
                            let v: Vec<f64> = ok.iter().filter_map(|r| m.of(r)).collect();
                            (summarize(&v).and_then(|s| stat_of(&s, f.stat)), v)
                        }
                        // vLLM's ITL: our chunk gaps, pooled over the same requests.
                        None if f.ours == ITL_POOLED => {
                            let gaps =
                                crate::export::peer::pooled_chunk_gaps_ms(ok.iter().copied());
                            (
                                summarize(&gaps).and_then(|s| stat_of(&s, f.stat)),
                                Vec::new(),
                            )
                        }
                        None => (step_figure(&steps, f.ours), Vec::new()),
                    };
                    let ratio = ours.and_then(|o| {
                        let (a, b) = order(f.value, o);
                        (a != 0.0).then(|| b / a)
                    });
                    let comparison = match (f.stat, metric(f.ours)) {
                        (Stat::Mean, Some(m)) => {
                            peer.samples.iter().find(|(n, _)| *n == f.ours).and_then(
                                |(_, theirs)| {
                                    let (a, b) = if peer_is_a {
                                        (theirs.as_slice(), values.as_slice())
                                    } else {
                                        (values.as_slice(), theirs.as_slice())
                                    };
                                    compare_samples(a, b, m.direction()?, boot, min_effect)
                                },
                            )
                        }
                        _ => None,
                    };
                    Row {
                        figure: f.clone(),
                        ours,
                        ratio,
                        comparison,
                    }
                })
                .collect();
            Beside {
                group: match &g.step {
                    Some(s) => format!("{} ({}) {s}", g.engine, g.mode),
                    None => format!("{} ({})", g.engine, g.mode),
                },
                requests: g.runs.len(),
                failed: g.runs.len() - ok.len(),
                rows,
            }
        })
        .collect();
    PeerReport {
        peer: peer.clone(),
        peer_is_a,
        matched,
        groups,
    }
}

use super::num;

/// The report as text. `a` and `b` name the files in the order given.
pub fn render(r: &PeerReport, a: &str, b: &str) -> String {
    let mut s = String::new();
    let tool = r.peer.tool.as_str();
    let load = match r.peer.load {
        Some(PeerLoad::Concurrency(c)) => format!("max concurrency {c}"),
        Some(PeerLoad::Rate(x)) => format!("request rate {x}/s"),
        None => "load not recorded".into(),
    };
    let counts = match (r.peer.completed, r.peer.failed) {
        (Some(c), Some(f)) => format!("; {c} completed, {f} failed"),
        (Some(c), None) => format!("; {c} completed"),
        _ => String::new(),
    };
    let about = if r.peer.about.is_empty() {
        String::new()
    } else {
        format!("{}; ", r.peer.about)
    };
    let peer_line = format!("{tool}: {about}{load}{counts}");
    let (pa, pb) = if r.peer_is_a {
        (peer_line, "inferbench".to_string())
    } else {
        ("inferbench".to_string(), peer_line)
    };
    let _ = writeln!(s, "A = {a} ({pa})");
    let _ = writeln!(s, "B = {b} ({pb})");
    if !r.matched && r.peer.load.is_some() {
        let _ = writeln!(
            s,
            "\nNo load step of ours ran at their load ({load}); every group of ours is shown."
        );
    }
    // Footnotes: one per distinct way a figure maps.
    let mut notes: Vec<&'static str> = Vec::new();
    let note_of = |m: &Mapping, notes: &mut Vec<&'static str>| -> String {
        match m {
            Mapping::Same => "same".into(),
            Mapping::Close(why) => {
                let i = match notes.iter().position(|n| n == why) {
                    Some(i) => i,
                    None => {
                        notes.push(why);
                        notes.len() - 1
                    }
                };
                format!("close [{}]", i + 1)
            }
        }
    };
    let (ha, hb) = if r.peer_is_a {
        (format!("A ({tool})"), "B (ours)".to_string())
    } else {
        ("A (ours)".to_string(), format!("B ({tool})"))
    };
    if r.groups.is_empty() {
        let _ = writeln!(s, "\nThe inferbench file holds no measured request.");
    }
    for g in &r.groups {
        let _ = writeln!(
            s,
            "\n{}: {} requests of ours ({} failed)",
            g.group, g.requests, g.failed
        );
        let mut table: Vec<[String; 8]> = vec![[
            "metric".into(),
            "stat".into(),
            ha.clone(),
            hb.clone(),
            "B/A".into(),
            "verdict (B)".into(),
            "their figure".into(),
            "maps".into(),
        ]];
        for row in &g.rows {
            let f = &row.figure;
            let ours = row.ours.map(num).unwrap_or_else(|| "–".into());
            let (va, vb) = if r.peer_is_a {
                (num(f.value), ours)
            } else {
                (ours, num(f.value))
            };
            let verdict = match &row.comparison {
                Some(c) => format!("{} [{:.3}, {:.3}]", c.verdict, c.ratio_ci.lo, c.ratio_ci.hi),
                None => "–".into(),
            };
            table.push([
                f.ours.to_string(),
                f.stat.as_str().to_string(),
                va,
                vb,
                row.ratio
                    .map(|x| format!("{x:.3}"))
                    .unwrap_or_else(|| "–".into()),
                verdict,
                f.theirs.clone(),
                note_of(&f.mapping, &mut notes),
            ]);
        }
        let widths = super::column_widths(&table);
        for row in &table {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| match i {
                    2..=4 => format!("{c:>w$}", w = widths[i]),
                    _ => format!("{c:<w$}", w = widths[i]),
                })
                .collect();
            let _ = writeln!(s, "  {}", cells.join("  ").trim_end());
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(s, "\nHow their figures differ from ours:");
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(s, "  [{}] {n}", i + 1);
        }
    }
    if !r.peer.untranslatable.is_empty() {
        let _ = writeln!(s, "\nNot translatable (left out):");
        for u in &r.peer.untranslatable {
            let _ = writeln!(s, "  {}: {}", u.theirs, u.why);
        }
    }
    let _ = writeln!(
        s,
        "\nA verdict needs per-request values on both sides (vLLM --save-detailed); \
         otherwise the figures are set side by side without an interval."
    );
    s
}
