//! `inferbench compare A.json B.json`: two results documents → per-metric verdicts.
//!
//! Runs are grouped by engine × mode (successful, non-warm-up runs only). Groups with the
//! same engine and mode in both documents are compared; when neither document shares a
//! group with the other but each holds exactly one, those two are compared (engine X
//! against engine Y). For each metric the table shows both means, the ratio B/A with its
//! bootstrap interval, the number of MAD outliers on each side, and a verdict on B:
//! faster, slower, or no significant difference (see [`crate::measure::inference`]). The
//! metrics are those of the [`COMPARE`](Scope::COMPARE) scope, in table order.
//!
//! Either file may also be a peer's result — a vLLM `bench serve --save-result` JSON, an
//! AIPerf `profile_export_aiperf.json` or an llm-d-benchmark Benchmark Report v0.2
//! ([`peers`]): its figures are then set beside ours,
//! each mapped onto our metric of the same meaning, with what differs and what does not
//! translate ([`beside`]).

pub mod beside;
pub mod peers;

use crate::error::UserError;
use crate::measure::inference::{
    Bootstrap, Comparison, DEFAULT_RESAMPLES, DEFAULT_SEED, MIN_EFFECT, compare_samples,
    mad_outliers,
};
use crate::results::metric::{Metric, Scope};
use crate::results::{ClientErrorBound, Mode, ResultsDoc, RunRecord, client_error_of};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One group of runs: engine × mode.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GroupKey {
    pub engine: String,
    pub mode: Mode,
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.engine, self.mode.as_str())
    }
}

/// One metric compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub metric: String,
    pub comparison: Comparison,
    pub outliers_a: usize,
    pub outliers_b: usize,
    /// The client's error bound (ms; the wider of the two documents' calibrations) when
    /// the difference is smaller than it: the verdict is then "within the client's
    /// error", not a winner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_client_error: Option<f64>,
}

/// One pair of groups compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupComparison {
    pub a: GroupKey,
    pub b: GroupKey,
    pub runs_a: usize,
    pub runs_b: usize,
    pub failed_a: usize,
    pub failed_b: usize,
    pub rows: Vec<MetricRow>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareReport {
    pub level: f64,
    /// Smallest relative change of a mean that gets a verdict (0.01 = 1 %).
    pub min_effect: f64,
    pub groups: Vec<GroupComparison>,
    /// Groups present in A only, and in B only.
    pub only_a: Vec<GroupKey>,
    pub only_b: Vec<GroupKey>,
}

/// All records of a document, grouped by engine × mode (warm-up runs left out).
fn groups(doc: &ResultsDoc) -> BTreeMap<GroupKey, Vec<&RunRecord>> {
    let mut g: BTreeMap<GroupKey, Vec<&RunRecord>> = BTreeMap::new();
    for r in doc.runs.iter().filter(|r| !r.warmup) {
        g.entry(GroupKey {
            engine: r.engine.clone(),
            mode: r.mode,
        })
        .or_default()
        .push(r);
    }
    g
}

fn values(runs: &[&RunRecord], metric: &Metric) -> Vec<f64> {
    runs.iter()
        .filter(|r| r.ok)
        .filter_map(|r| metric.of(r))
        .filter(|x| x.is_finite())
        .collect()
}

/// The client's error bound of `metric` when the difference of the means `a` and `b` is
/// smaller than it (TTFT figures against the TTFT bound; TPOT and decode rate against
/// the TPOT bound). Pure.
pub fn within_client_error(metric: &str, a: f64, b: f64, bound: ClientErrorBound) -> Option<f64> {
    use crate::measure::calibration::{rates_within, within};
    let (tpot, ttft) = (bound.tpot_ms, bound.ttft_ms);
    match metric {
        "ttft_ms" | "ttft_from_scheduled_ms" | "ttft_answer_ms" => {
            ttft.filter(|&e| within(a, b, e))
        }
        "tpot_ms" => tpot.filter(|&e| within(a, b, e)),
        "decode_tps" => tpot.filter(|&e| rates_within(a, b, e)),
        _ => None,
    }
}

fn compare_groups(
    (ka, ra): (&GroupKey, &[&RunRecord]),
    (kb, rb): (&GroupKey, &[&RunRecord]),
    bound: ClientErrorBound,
    boot: Bootstrap,
    min_effect: f64,
) -> GroupComparison {
    let rows = Metric::in_scope(Scope::COMPARE)
        .filter_map(|m| {
            let (va, vb) = (values(ra, m), values(rb, m));
            let comparison = compare_samples(&va, &vb, m.direction()?, boot, min_effect)?;
            Some(MetricRow {
                metric: m.name.to_string(),
                within_client_error: within_client_error(
                    m.name,
                    comparison.mean_a,
                    comparison.mean_b,
                    bound,
                ),
                comparison,
                outliers_a: mad_outliers(&va).len(),
                outliers_b: mad_outliers(&vb).len(),
            })
        })
        .collect();
    GroupComparison {
        a: ka.clone(),
        b: kb.clone(),
        runs_a: ra.len(),
        runs_b: rb.len(),
        failed_a: ra.iter().filter(|r| !r.ok).count(),
        failed_b: rb.iter().filter(|r| !r.ok).count(),
        rows,
    }
}

/// Compare two documents (pure), with the default smallest effect ([`MIN_EFFECT`]).
pub fn compare_docs(a: &ResultsDoc, b: &ResultsDoc, boot: Bootstrap) -> CompareReport {
    compare_docs_with(a, b, boot, MIN_EFFECT)
}

/// Compare two documents (pure): a change of a mean smaller than `min_effect` (relative)
/// is "no significant difference" even when its interval excludes 1.
pub fn compare_docs_with(
    a: &ResultsDoc,
    b: &ResultsDoc,
    boot: Bootstrap,
    min_effect: f64,
) -> CompareReport {
    let (ga, gb) = (groups(a), groups(b));
    let mut out = CompareReport {
        level: boot.level,
        min_effect,
        groups: Vec::new(),
        only_a: Vec::new(),
        only_b: Vec::new(),
    };
    let shared: Vec<&GroupKey> = ga.keys().filter(|k| gb.contains_key(*k)).collect();
    if shared.is_empty() && ga.len() == 1 && gb.len() == 1 {
        let (ka, ra) = ga.iter().next().expect("one group");
        let (kb, rb) = gb.iter().next().expect("one group");
        let bound =
            client_error_of(&a.load, &ka.engine).wider(client_error_of(&b.load, &kb.engine));
        out.groups
            .push(compare_groups((ka, ra), (kb, rb), bound, boot, min_effect));
        return out;
    }
    for k in &shared {
        let bound = client_error_of(&a.load, &k.engine).wider(client_error_of(&b.load, &k.engine));
        out.groups.push(compare_groups(
            (k, &ga[*k]),
            (k, &gb[*k]),
            bound,
            boot,
            min_effect,
        ));
    }
    out.only_a = ga
        .keys()
        .filter(|k| !gb.contains_key(*k))
        .cloned()
        .collect();
    out.only_b = gb
        .keys()
        .filter(|k| !ga.contains_key(*k))
        .cloned()
        .collect();
    out
}

/// The width of each column of a text table (characters of its widest cell).
pub(crate) fn column_widths<const N: usize>(table: &[[String; N]]) -> [usize; N] {
    std::array::from_fn(|i| {
        table
            .iter()
            .map(|row| row[i].chars().count())
            .max()
            .unwrap_or(0)
    })
}

/// A number with about four significant digits.
pub(crate) fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// The report as a plain-text table.
pub fn render(report: &CompareReport, a_name: &str, b_name: &str) -> String {
    let mut s = String::new();
    let pct = report.level * 100.0;
    let _ = writeln!(s, "A = {a_name}");
    let _ = writeln!(s, "B = {b_name}");
    if report.groups.is_empty() {
        let _ = writeln!(s, "\nNo engine × mode group appears in both files.");
    }
    for g in &report.groups {
        let title = if g.a == g.b {
            g.a.to_string()
        } else {
            format!("{} vs {}", g.a, g.b)
        };
        let _ = writeln!(
            s,
            "\n{title}: A {} runs ({} failed), B {} runs ({} failed)",
            g.runs_a, g.failed_a, g.runs_b, g.failed_b
        );
        let header = [
            "metric".to_string(),
            "mean A".into(),
            "mean B".into(),
            "B/A".into(),
            format!("{pct:.0}% CI of B/A"),
            "outliers A/B".into(),
            "verdict (B)".into(),
        ];
        let mut table: Vec<[String; 7]> = vec![header];
        for r in &g.rows {
            let c = &r.comparison;
            table.push([
                r.metric.clone(),
                num(c.mean_a),
                num(c.mean_b),
                format!("{:.4}", c.ratio),
                format!("[{:.4}, {:.4}]", c.ratio_ci.lo, c.ratio_ci.hi),
                format!("{}/{}", r.outliers_a, r.outliers_b),
                match r.within_client_error {
                    Some(e) => format!("{} (±{e:.3} ms)", crate::export::calibration::WITHIN),
                    None => c.verdict.to_string(),
                },
            ]);
        }
        let widths = column_widths(&table);
        for row in &table {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i == 0 || i == 6 {
                        format!("{cell:<w$}", w = widths[i])
                    } else {
                        format!("{cell:>w$}", w = widths[i])
                    }
                })
                .collect();
            let _ = writeln!(s, "  {}", line.join("  ").trim_end());
        }
    }
    for k in &report.only_a {
        let _ = writeln!(s, "\nOnly in A: {k}");
    }
    for k in &report.only_b {
        let _ = writeln!(s, "\nOnly in B: {k}");
    }
    let _ = writeln!(
        s,
        "\nLatencies (ms): lower is better; tok/s: higher is better. A verdict needs the \
         {pct:.0}% bootstrap interval of B/A to exclude 1 and a change of at least {}%.",
        // Two decimals at most, without trailing zeros: 1 → "1", 2.5 → "2.5".
        (report.min_effect * 10_000.0).round() / 100.0
    );
    let within = report.groups.iter().flat_map(|g| &g.rows);
    if within.clone().any(|r| r.within_client_error.is_some()) {
        let _ = writeln!(
            s,
            "A difference smaller than the client's own error (±95% bound of the runs' \
             calibration against the synthetic engine, --calibrate) names no winner."
        );
    }
    s
}

/// Read a results document, with a message that says what to fix.
pub fn read_doc(path: &Path) -> anyhow::Result<ResultsDoc> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!(
            "cannot read results file {}: {e}; pass a JSON file written by `inferbench api` or `inferbench cli` (output/*.json)",
            path.display()
        ))
    })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        UserError::new(format!(
            "{} is not an inferbench results document (at {}: {}); pass the .json file from output/, not the .jsonl",
            path.display(),
            e.path(),
            e.inner()
        ))
        .into()
    })
}

/// Compare two files and return the report.
pub fn compare_files(a: &Path, b: &Path, level: f64) -> anyhow::Result<CompareReport> {
    if !(level > 0.0 && level < 1.0) {
        return Err(UserError::new(format!(
            "--confidence {level} is out of range; give a level between 0 and 1, e.g. 0.95"
        ))
        .into());
    }
    let da = read_doc(a).with_context(|| format!("reading {}", a.display()))?;
    let db = read_doc(b).with_context(|| format!("reading {}", b.display()))?;
    let boot = Bootstrap {
        resamples: DEFAULT_RESAMPLES,
        level,
        seed: DEFAULT_SEED,
    };
    Ok(compare_docs(&da, &db, boot))
}

/// A file given to `compare`: ours or a peer's.
pub enum Input {
    Ours(Box<ResultsDoc>),
    Peer(peers::PeerResult),
}

/// Read a file as ours or as a peer's result (by its shape).
pub fn read_input(path: &Path) -> anyhow::Result<Input> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!(
            "cannot read results file {}: {e}; pass a JSON file written by `inferbench api` or `inferbench cli` (output/*.json), vLLM `bench serve --save-result`, AIPerf (profile_export_aiperf.json) or an llm-d-benchmark Benchmark Report v0.2",
            path.display()
        ))
    })?;
    let peer = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| peers::detect(&v));
    if peer.is_some() {
        let p =
            peers::parse(&text).map_err(|e| UserError::new(format!("{}: {e}", path.display())))?;
        return Ok(Input::Peer(p));
    }
    read_doc(path).map(|d| Input::Ours(Box::new(d)))
}

/// The `compare` command: print the table; exit code 0 (1 when nothing could be compared).
pub fn run(args: crate::cli::CompareArgs) -> anyhow::Result<i32> {
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        return Err(UserError::new(format!(
            "--confidence {} is out of range; give a level between 0 and 1, e.g. 0.95",
            args.confidence
        ))
        .into());
    }
    if !(args.min_effect >= 0.0 && args.min_effect < 100.0) {
        return Err(UserError::new(format!(
            "--min-effect {} is out of range; give a percentage from 0 to below 100, e.g. 1",
            args.min_effect
        ))
        .into());
    }
    let min_effect = args.min_effect / 100.0;
    let boot = Bootstrap {
        resamples: DEFAULT_RESAMPLES,
        level: args.confidence,
        seed: DEFAULT_SEED,
    };
    let (ia, ib) = (
        read_input(&args.a).with_context(|| format!("reading {}", args.a.display()))?,
        read_input(&args.b).with_context(|| format!("reading {}", args.b.display()))?,
    );
    let (peer, ours, peer_is_a) = match (ia, ib) {
        (Input::Ours(a), Input::Ours(b)) => {
            let report = compare_docs_with(&a, &b, boot, min_effect);
            print!(
                "{}",
                render(
                    &report,
                    &args.a.display().to_string(),
                    &args.b.display().to_string()
                )
            );
            return Ok(if report.groups.iter().any(|g| !g.rows.is_empty()) {
                0
            } else {
                1
            });
        }
        (Input::Peer(p), Input::Ours(d)) => (p, d, true),
        (Input::Ours(d), Input::Peer(p)) => (p, d, false),
        (Input::Peer(_), Input::Peer(_)) => {
            return Err(UserError::new(
                "both files are a peer's results; give at least one inferbench results file (output/*.json) to set them beside",
            )
            .into());
        }
    };
    let report = beside::beside(&peer, &ours, peer_is_a, boot, min_effect);
    print!(
        "{}",
        beside::render(
            &report,
            &args.a.display().to_string(),
            &args.b.display().to_string()
        )
    );
    Ok(
        if report
            .groups
            .iter()
            .any(|g| g.rows.iter().any(|r| r.ours.is_some()))
        {
            0
        } else {
            1
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_within_the_clients_error_has_its_bound() {
        let b = ClientErrorBound {
            ttft_ms: Some(2.0),
            tpot_ms: Some(0.3),
        };
        assert_eq!(within_client_error("ttft_ms", 100.0, 101.9, b), Some(2.0));
        assert_eq!(within_client_error("ttft_ms", 100.0, 102.1, b), None);
        assert_eq!(within_client_error("tpot_ms", 5.0, 5.2, b), Some(0.3));
        // 200 tok/s = 5 ms, 190 tok/s = 5.263 ms.
        assert_eq!(
            within_client_error("decode_tps", 200.0, 190.0, b),
            Some(0.3)
        );
        assert_eq!(within_client_error("decode_tps", 200.0, 150.0, b), None);
        assert_eq!(within_client_error("e2e_ms", 100.0, 100.1, b), None);
        let none = ClientErrorBound::default();
        assert_eq!(within_client_error("ttft_ms", 100.0, 100.0, none), None);
    }
}
