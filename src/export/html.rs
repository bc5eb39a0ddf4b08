//! A self-contained HTML report (pure: `&ResultsDoc → Result<String>`).
//!
//! One file with inline CSS and inline SVG charts ([`super::chart`]): no script, no
//! fonts, no network access needed to view it. Charts: output tok/s per engine and mode
//! (bars with the bootstrap interval of the mean), TTFT and TPOT distributions (box plots:
//! quartiles, Tukey whiskers at 1.5 IQR, points beyond them), and for load runs latency
//! against throughput across the steps and output tok/s per second, and the engine's own
//! metrics on each step's timeline (queue depth, running requests, KV cache, token rates),
//! each line named with its source.
//!
//! The page is the minijinja template `templates/report.html.j2` (embedded in the
//! binary). This module only prepares the data: which sections and rows exist, and every
//! number already formatted, as plain serializable structs. The template engine escapes
//! every value it prints (auto-escaping, the template's name ends in `.html.j2`) with
//! [`esc`], so model output, engine names, errors, notes, environment and config never
//! reach the page unescaped. Only markup our own code made is passed in as safe: the SVG
//! charts (which escape their labels) and the sections of the other exporters
//! ([`super::parity`], [`super::search`], [`super::input_sweep`], [`super::energy`]).
//!
//! The template is written one element or block per line for reading; its tags strip the
//! line breaks around them (`{%- … -%}`), so the page itself stays as it was: one line
//! after the doctype.

use crate::measure::inference::{Bootstrap, infer, mad_outliers};
use crate::measure::stats::summarize;
use crate::results::metric::{self, Metric};
use crate::results::{ResultsDoc, RunRecord, ServerMetrics, StepReport};
use anyhow::Context as _;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeMap;

use super::chart::*;
pub use super::escape_html as esc;

/// Runs whose output text is shown in full; the rest are in the JSON and CSV.
pub const MAX_RUNS_SHOWN: usize = 200;

/// The page's template, its name (the `.html` before `.j2` turns auto-escaping on).
const TEMPLATE_NAME: &str = "report.html.j2";
const TEMPLATE: &str = include_str!("../../templates/report.html.j2");

/// Markup made by our own code (charts, other exporters' sections): printed as is.
fn safe(html: String) -> Value {
    Value::from_safe_string(html)
}

/// A mean with its 95% bootstrap interval, formatted; `mark` adds the lump mark.
#[derive(Serialize)]
struct Est {
    mean: String,
    lo: String,
    hi: String,
    mark: bool,
}

/// Successful, measured runs grouped by engine × mode (in first-seen order).
fn groups(runs: &[RunRecord]) -> Vec<(String, Vec<&RunRecord>)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, Vec<&RunRecord>> = BTreeMap::new();
    for r in runs.iter().filter(|r| !r.warmup) {
        let key = format!("{} ({})", r.engine, r.mode.as_str());
        if !map.contains_key(&key) {
            order.push(key.clone());
        }
        map.entry(key).or_default().push(r);
    }
    order
        .into_iter()
        .map(|k| {
            let v = map.remove(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
}

fn values(runs: &[&RunRecord], m: &Metric) -> Vec<f64> {
    runs.iter()
        .filter(|r| r.ok)
        .filter_map(|r| m.of(r))
        .filter(|x| x.is_finite())
        .collect()
}

fn mean_ci(v: &[f64]) -> Option<BarValue> {
    let inf = infer(v, Bootstrap::default())?;
    Some((inf.mean.value, Some((inf.mean.ci.lo, inf.mean.ci.hi))))
}

fn est(v: &[f64], mark: bool) -> Option<Est> {
    let i = infer(v, Bootstrap::default())?;
    Some(Est {
        mean: num(Some(i.mean.value)),
        lo: num(Some(i.mean.ci.lo)),
        hi: num(Some(i.mean.ci.hi)),
        mark,
    })
}

/// "p50 / p99" of a sample, or "–".
fn pct(v: &[f64]) -> String {
    match summarize(v) {
        Some(x) => format!("{} / {}", num(Some(x.p50)), num(Some(x.p99))),
        None => "–".into(),
    }
}

#[derive(Serialize)]
struct SummaryRow {
    name: String,
    runs: usize,
    ok: usize,
    failed: usize,
    ttft: Option<Est>,
    ttft_pct: String,
    tpot: Option<Est>,
    tpot_pct: String,
    decode: Option<Est>,
    e2e: Option<Est>,
    outliers_ttft: usize,
    outliers_tpot: usize,
}

#[derive(Serialize)]
struct SummarySection {
    rows: Vec<SummaryRow>,
    notes: Vec<String>,
    charts: Vec<Value>,
}

fn summary_section(doc: &ResultsDoc) -> Option<SummarySection> {
    let groups = groups(&doc.runs);
    if groups.is_empty() {
        return None;
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (name, runs) in &groups {
        let ok = runs.iter().filter(|r| r.ok).count();
        // TTFT of replies in one lump holds the whole generation: marked, noted below.
        let lumps = runs
            .iter()
            .filter(|r| r.ok && r.ttft_holds_generation)
            .count() as u64;
        if lumps > 0 {
            notes.push(super::lump_note(name, lumps, ok as u64));
        }
        let ttft = values(runs, &metric::TTFT);
        let tpot = values(runs, &metric::TPOT);
        rows.push(SummaryRow {
            name: name.clone(),
            runs: runs.len(),
            ok,
            failed: runs.len() - ok,
            ttft: est(&ttft, lumps > 0),
            ttft_pct: super::lump_marked(pct(&ttft), lumps),
            tpot: est(&tpot, false),
            tpot_pct: pct(&tpot),
            decode: est(&values(runs, &metric::DECODE_TPS), false),
            e2e: est(&values(runs, &metric::E2E_TPS), false),
            outliers_ttft: mad_outliers(&ttft).len(),
            outliers_tpot: mad_outliers(&tpot).len(),
        });
    }
    Some(SummarySection {
        rows,
        notes,
        charts: summary_charts(&groups),
    })
}

/// Output tok/s bars, then the TTFT and TPOT box plots of the groups that have them.
fn summary_charts(groups: &[(String, Vec<&RunRecord>)]) -> Vec<Value> {
    let cats: Vec<String> = groups.iter().map(|(n, _)| n.clone()).collect();
    let series: Vec<BarSeries> = [
        metric::DECODE_TPS,
        metric::E2E_TPS,
        metric::ENGINE_DECODE_TPS,
    ]
    .iter()
    .map(|m| BarSeries {
        name: format!("{} {}", m.label, m.unit.as_str()),
        values: groups.iter().map(|(_, r)| mean_ci(&values(r, m))).collect(),
    })
    .filter(|x| x.values.iter().any(Option::is_some))
    .collect();
    let mut charts = vec![safe(bar_chart(
        "Output tokens per second by engine and mode (mean, 95% CI)",
        "tok/s",
        &cats,
        &series,
    ))];
    for m in [metric::TTFT, metric::TPOT] {
        let boxes: Vec<(String, BoxStats)> = groups
            .iter()
            .filter_map(|(n, r)| Some((n.clone(), box_stats(&values(r, &m))?)))
            .collect();
        if !boxes.is_empty() {
            charts.push(safe(box_chart(
                &format!("{} distribution", m.label),
                m.unit.as_str(),
                &boxes,
            )));
        }
    }
    charts
}

#[derive(Serialize)]
struct LoadRow<'a> {
    /// The client was the bottleneck: the row is flagged.
    flag: bool,
    engine: &'a str,
    step: &'a str,
    requests: u64,
    failed: u64,
    tps: String,
    tps_steady: String,
    ramp_up: String,
    drain: String,
    rps: String,
    goodput: String,
    ttft: String,
    ttft_scheduled: String,
    tpot: String,
    send_lag: String,
    cpu: String,
    connect: String,
}

#[derive(Serialize)]
struct LoadSection<'a> {
    rows: Vec<LoadRow<'a>>,
    notes: Vec<String>,
    charts: Vec<Value>,
}

fn load_row(st: &StepReport) -> LoadRow<'_> {
    let p = |m: &Metric| match st.metrics.get(m.name) {
        Some(x) => format!("{} / {}", num(Some(x.p50)), num(Some(x.p99))),
        None => "–".into(),
    };
    let lumps = st.ttft_holds_generation;
    LoadRow {
        flag: st.client.bottleneck,
        engine: &st.engine,
        step: &st.step,
        requests: st.requests,
        failed: st.failed,
        tps: num(st.output_tps),
        tps_steady: num(st.output_tps_steady),
        ramp_up: num(st.ramp_up_s),
        drain: num(st.drain_s),
        rps: num(st.request_rps),
        goodput: match &st.goodput {
            Some(g) => format!(
                "{:.1}% ({}/{}), {} req/s",
                100.0 * g.fraction,
                g.good,
                g.total,
                num(Some(g.good_rps))
            ),
            None => "–".into(),
        },
        ttft: super::lump_marked(p(&metric::TTFT), lumps),
        ttft_scheduled: super::lump_marked(
            num(super::stat(
                &st.metrics,
                &metric::TTFT_SCHEDULED,
                super::Stat::P99,
            )),
            lumps,
        ),
        tpot: p(&metric::TPOT),
        send_lag: num(st.client.send_lag_ms.as_ref().map(|l| l.p99)),
        cpu: match st.client.cpu_cores {
            Some(c) => format!("{:.0}% of {}", 100.0 * c, st.client.cores_available),
            None => "–".into(),
        },
        connect: num(st.connect_ms.as_ref().map(|c| c.mean)),
    }
}

fn load_section(doc: &ResultsDoc) -> Option<LoadSection<'_>> {
    if doc.load.is_empty() {
        return None;
    }
    let mut notes = Vec::new();
    for st in &doc.load {
        // TTFT of replies in one lump holds the whole generation: marked, noted below.
        let lumps = st.ttft_holds_generation;
        if lumps > 0 {
            let who = format!("{} {}", st.engine, st.step);
            notes.push(super::lump_note(&who, lumps, st.ok));
        }
    }
    Some(LoadSection {
        rows: doc.load.iter().map(load_row).collect(),
        notes,
        charts: load_charts(doc),
    })
}

/// Latency against throughput (one line per engine and percentile), then output tok/s
/// over each step's time.
fn load_charts(doc: &ResultsDoc) -> Vec<Value> {
    let mut engines: Vec<&str> = Vec::new();
    for st in &doc.load {
        if !engines.contains(&st.engine.as_str()) {
            engines.push(&st.engine);
        }
    }
    let series_for = |m: &Metric| -> Vec<XySeries> {
        let mut out = Vec::new();
        for e in &engines {
            for (pname, dashed) in [("p50", false), ("p99", true)] {
                let points: Vec<(f64, f64, String)> = doc
                    .load
                    .iter()
                    .filter(|st| st.engine == *e)
                    .filter_map(|st| {
                        let x = st.output_tps_steady.or(st.output_tps)?;
                        let s = st.metrics.get(m.name)?;
                        Some((x, if dashed { s.p99 } else { s.p50 }, st.step.clone()))
                    })
                    .collect();
                if !points.is_empty() {
                    out.push(XySeries {
                        name: format!("{e} {pname}"),
                        dashed,
                        points,
                    });
                }
            }
        }
        out
    };
    let mut charts = Vec::new();
    for (m, title) in [
        (metric::TTFT, "TTFT against throughput"),
        (metric::TPOT, "TPOT against throughput"),
        (metric::E2E, "E2E latency against throughput"),
    ] {
        let series = series_for(&m);
        if !series.is_empty() {
            charts.push(safe(xy_chart(
                title,
                "system output tok/s (steady state)",
                m.unit.as_str(),
                &series,
            )));
        }
    }
    let timeline: Vec<XySeries> = doc
        .load
        .iter()
        .filter(|st| !st.timeline.is_empty())
        .map(|st| XySeries {
            name: format!("{} {}", st.engine, st.step),
            dashed: false,
            points: st
                .timeline
                .iter()
                .map(|b| (b.t_s as f64, b.output_tokens, format!("t={}s", b.t_s)))
                .collect(),
        })
        .collect();
    if !timeline.is_empty() {
        charts.push(safe(xy_chart(
            "Output tokens per second over time",
            "seconds from the step's start",
            "tok/s",
            &timeline,
        )));
    }
    charts
}

#[derive(Serialize)]
struct ReasoningRow {
    name: String,
    reasoned: usize,
    runs: usize,
    ttft: String,
    answer: String,
    reasoning_tokens: String,
    output_tokens: String,
}

/// Reasoning models, only when a run reasoned: time to first token (the first reasoning
/// token) beside time to first answer token, and the reasoning tokens.
fn reasoning_rows(doc: &ResultsDoc) -> Vec<ReasoningRow> {
    groups(&doc.runs)
        .into_iter()
        .filter(|(_, runs)| runs.iter().any(|r| r.reasoning_tokens.is_some()))
        .map(|(name, runs)| {
            let reasoned: Vec<&RunRecord> = runs
                .iter()
                .copied()
                .filter(|r| r.reasoning_tokens.is_some())
                .collect();
            let mean = |m: &Metric| num(crate::measure::stats::mean(&values(&reasoned, m)));
            ReasoningRow {
                name,
                reasoned: reasoned.len(),
                runs: runs.len(),
                ttft: mean(&metric::TTFT),
                answer: mean(&metric::TTFT_ANSWER),
                reasoning_tokens: mean(&metric::REASONING_TOKENS),
                output_tokens: mean(&metric::OUTPUT_TOKENS),
            }
        })
        .collect()
}

#[derive(Serialize)]
struct SeriesRow<'a> {
    label: &'a str,
    metric: &'a str,
    endpoint: &'a str,
    read: &'a str,
    points: usize,
    min: String,
    max: String,
}

#[derive(Serialize)]
struct HistogramRow<'a> {
    label: &'a str,
    metric: &'a str,
    endpoint: &'a str,
    count: String,
    mean: String,
    p50: String,
    p90: String,
    p99: String,
}

#[derive(Serialize)]
struct ServerStep<'a> {
    engine: &'a str,
    step: &'a str,
    scrapes: u64,
    interval: String,
    failed: u64,
    note: Option<&'a str>,
    charts: Vec<Value>,
    series: Vec<SeriesRow<'a>>,
    histograms: Vec<HistogramRow<'a>>,
}

/// The engine's own metrics on each step's timeline: one chart per unit (requests
/// waiting and running; KV cache; token rates), every line named with its source, then
/// the server-side latency histograms and what could not be scraped.
fn server_steps(doc: &ResultsDoc) -> Vec<ServerStep<'_>> {
    doc.load
        .iter()
        .filter_map(|st| st.server_metrics.as_ref().map(|m| server_step(st, m)))
        .collect()
}

fn server_step<'a>(st: &'a StepReport, m: &'a ServerMetrics) -> ServerStep<'a> {
    let mut units: Vec<&str> = Vec::new();
    for x in &m.series {
        if !units.contains(&x.unit.as_str()) {
            units.push(&x.unit);
        }
    }
    let charts = units
        .iter()
        .map(|unit| {
            let series: Vec<XySeries> = m
                .series
                .iter()
                .filter(|x| x.unit == *unit)
                .map(|x| XySeries {
                    name: format!("{} ({})", x.label, x.metric),
                    dashed: x.read == "rate",
                    points: x
                        .points
                        .iter()
                        .map(|p| (p.t_s, p.value, format!("t={:.1}s", p.t_s)))
                        .collect(),
                })
                .collect();
            let what = match *unit {
                "requests" => "requests waiting and running",
                "ratio" => "KV cache in use",
                "tokens" => "KV cache tokens",
                "tok/s" => "token rates",
                other => other,
            };
            safe(xy_chart(
                &format!("{} {}: {what}", st.engine, st.step),
                "seconds from the step's start",
                unit,
                &series,
            ))
        })
        .collect();
    let series = m
        .series
        .iter()
        .map(|x| {
            let vals = x.points.iter().map(|p| p.value);
            let min = vals.clone().fold(f64::INFINITY, f64::min);
            let max = vals.fold(f64::NEG_INFINITY, f64::max);
            SeriesRow {
                label: &x.label,
                metric: &x.metric,
                endpoint: &x.endpoint,
                read: &x.read,
                points: x.points.len(),
                min: num(Some(min)),
                max: num(Some(max)),
            }
        })
        .collect();
    let histograms = m
        .histograms
        .iter()
        .map(|h| HistogramRow {
            label: &h.label,
            metric: &h.metric,
            endpoint: &h.endpoint,
            count: num(Some(h.count)),
            mean: num(h.mean_ms),
            p50: num(h.p50_ms),
            p90: num(h.p90_ms),
            p99: num(h.p99_ms),
        })
        .collect();
    ServerStep {
        engine: &st.engine,
        step: &st.step,
        scrapes: m.scrapes,
        interval: num(Some(m.interval_s)),
        failed: m.failed_scrapes,
        note: m.note.as_deref(),
        charts,
        series,
        histograms,
    }
}

/// One line of the flags list: "**kind** who: message".
#[derive(Serialize)]
struct FlagLine<'a> {
    kind: &'a str,
    who: String,
    message: &'a str,
}

fn flag_lines(doc: &ResultsDoc) -> Vec<FlagLine<'_>> {
    let mut lines = Vec::new();
    for st in &doc.load {
        for f in &st.flags {
            lines.push(FlagLine {
                kind: &f.kind,
                who: format!("{} {}", st.engine, st.step),
                message: &f.message,
            });
        }
    }
    let mut seen: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for r in &doc.runs {
        for f in &r.flags {
            *seen
                .entry((format!("{} ({})", r.engine, r.mode.as_str()), &f.kind))
                .or_default() += 1;
        }
    }
    for ((g, kind), n) in seen {
        let example = doc
            .runs
            .iter()
            .flat_map(|r| r.flags.iter())
            .find(|f| f.kind == kind)
            .map(|f| f.message.as_str())
            .unwrap_or("");
        lines.push(FlagLine {
            kind,
            who: format!("{g} ({n} runs)"),
            message: example,
        });
    }
    lines
}

#[derive(Serialize)]
struct RunRow<'a> {
    engine: &'a str,
    mode: &'static str,
    step: &'a str,
    prompt: &'a str,
    tier: &'a str,
    index: u32,
    warmup: bool,
    ok: bool,
    ttft: String,
    tpot: String,
    e2e: String,
    tokens: String,
    decode: String,
    error: Option<&'a str>,
    chars: usize,
    output: &'a str,
}

fn run_row(r: &RunRecord) -> RunRow<'_> {
    RunRow {
        engine: &r.engine,
        mode: r.mode.as_str(),
        step: r.load_step.as_deref().unwrap_or(""),
        prompt: &r.prompt_id,
        tier: &r.tier,
        index: r.run_index,
        warmup: r.warmup,
        ok: r.ok,
        ttft: super::lump_marked(num(r.ttft_ms), u64::from(r.ttft_holds_generation)),
        tpot: num(r.tpot_ms),
        e2e: num(r.e2e_ms),
        tokens: r.output_tokens.map(|n| n.to_string()).unwrap_or("–".into()),
        decode: num(r.decode_tps),
        error: r.error.as_deref(),
        chars: r.output_text.chars().count(),
        output: &r.output_text,
    }
}

#[derive(Serialize)]
struct EngineRow<'a> {
    engine: &'a str,
    kind: &'a str,
    url: &'a str,
    load_ms: String,
    template: &'a str,
    notes: String,
}

/// The machine on one line: "os kernel (arch), cpu, N cores, M GiB, GPUs: …".
fn machine_line(doc: &ResultsDoc) -> String {
    let e = &doc.environment;
    format!(
        "{} {} ({}), {}, {} cores, {:.1} GiB{}",
        e.os,
        e.kernel.as_deref().unwrap_or(""),
        e.arch,
        e.cpu_model,
        e.cores,
        e.memory_gib,
        if e.gpus.is_empty() {
            String::new()
        } else {
            format!(", GPUs: {}", e.gpus.join(", "))
        }
    )
}

fn engine_rows(doc: &ResultsDoc) -> Vec<EngineRow<'_>> {
    doc.engines
        .iter()
        .map(|en| {
            let mut notes: Vec<String> = en.fairness.iter().cloned().collect();
            notes.extend(super::engine_settings_line(en).map(|l| format!("settings: {l}")));
            notes.extend(en.notes.iter().cloned());
            EngineRow {
                engine: &en.engine,
                kind: &en.kind,
                url: en.base_url.as_deref().unwrap_or(""),
                load_ms: num(en.load_ms),
                template: en.template.as_deref().unwrap_or(""),
                notes: notes.join("; "),
            }
        })
        .collect()
}

/// Everything the template shows, prepared.
#[derive(Serialize)]
struct Page<'a> {
    lump_mark: &'static str,
    mode: &'static str,
    started_at: &'a str,
    finished_at: &'a str,
    tool: &'a str,
    machine: String,
    engines: Vec<EngineRow<'a>>,
    summary: Option<SummarySection>,
    parity: Value,
    reasoning: Vec<ReasoningRow>,
    load: Option<LoadSection<'a>>,
    search: Value,
    input_sweep: Value,
    server: Vec<ServerStep<'a>>,
    energy: Value,
    flags: Vec<FlagLine<'a>>,
    runs_total: usize,
    max_runs_shown: usize,
    runs: Vec<RunRow<'a>>,
    config: String,
}

fn page(doc: &ResultsDoc) -> Page<'_> {
    Page {
        lump_mark: super::LUMP_MARK,
        mode: doc.mode.as_str(),
        started_at: &doc.started_at,
        finished_at: &doc.finished_at,
        tool: &doc.tool,
        machine: machine_line(doc),
        engines: engine_rows(doc),
        summary: summary_section(doc),
        parity: safe(super::parity::html(doc)),
        reasoning: reasoning_rows(doc),
        load: load_section(doc),
        search: safe(super::search::html(doc)),
        input_sweep: safe(super::input_sweep::html(doc)),
        server: server_steps(doc),
        energy: safe(super::energy::html(doc)),
        flags: flag_lines(doc),
        runs_total: doc.runs.len(),
        max_runs_shown: MAX_RUNS_SHOWN,
        runs: doc.runs.iter().take(MAX_RUNS_SHOWN).map(run_row).collect(),
        config: serde_json::to_string_pretty(&doc.config).unwrap_or_default(),
    }
}

/// The template environment: auto-escaping by the template's name, with our [`esc`]
/// (minijinja's own escaper also turns `/` into an entity, which the page never did);
/// strict about undefined names, so a typo in the template is an error, not a blank.
fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()?,
    );
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == AutoEscape::Html && !value.is_safe() {
            out.write_str(&esc(&value.to_string()))
                .map_err(minijinja::Error::from)
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.add_template(TEMPLATE_NAME, TEMPLATE)?;
    Ok(env)
}

/// The whole report. An error only if the template is broken (a unit test renders it).
pub fn render(doc: &ResultsDoc) -> anyhow::Result<String> {
    let env = environment().context("compiling the HTML report template")?;
    env.get_template(TEMPLATE_NAME)
        .and_then(|t| t.render(Serde(page(doc))))
        .context("rendering the HTML report")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Environment, Mode};

    fn doc(runs: Vec<RunRecord>) -> ResultsDoc {
        ResultsDoc {
            schema_version: crate::results::SCHEMA_VERSION,
            tool: "inferbench".into(),
            mode: Mode::Api,
            started_at: "s".into(),
            finished_at: "f".into(),
            environment: Environment::default(),
            config: serde_json::json!({"note": "<i>'x' & \"y\"</i>"}),
            engines: vec![],
            summaries: crate::export::summary::summarize_runs(&runs),
            runs,
            load: Vec::new(),
            search: Vec::new(),
            workload: None,
            parity: None,
        }
    }

    /// The template is ours and embedded: it compiles and renders, empty or not, and
    /// stays one line after the doctype.
    #[test]
    fn template_renders_an_empty_and_a_full_document() {
        let mut empty = doc(vec![]);
        empty.config = serde_json::json!({});
        let empty = render(&empty).unwrap();
        assert!(
            empty.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
            "{empty}"
        );
        assert!(empty.ends_with("</body></html>\n"), "{empty}");
        assert_eq!(empty.lines().count(), 2, "{empty}");
        assert!(empty.contains("<p>No runs.</p>"));

        use crate::export::summary::tests::rec;
        let a = rec("a", "short", true, 10.0);
        let mut b = rec("b", "short", false, 0.0);
        b.error = Some("HTTP 500".into());
        let page = render(&doc(vec![a, b])).unwrap();
        assert!(
            page.contains("<h2>Summary</h2>") && page.contains("<svg"),
            "{page}"
        );
        assert!(
            page.contains("<span class=\"bad\">HTTP 500</span>"),
            "{page}"
        );
        assert!(!page.contains("<p>No runs.</p>"));
    }

    /// Model output, errors and config reach the page escaped by the engine (with our
    /// entities: `/` stays as is), never as markup.
    #[test]
    fn outside_text_is_escaped_by_the_template_engine() {
        use crate::export::summary::tests::rec;
        let mut a = rec("<b>eng</b>", "short", true, 10.0);
        a.output_text = "</pre><script>alert('x')</script> a/b".into();
        let mut b = rec("e", "short", false, 0.0);
        b.error = Some("<img src=x onerror=alert(1)>".into());
        let page = render(&doc(vec![a, b])).unwrap();
        assert!(
            !page.contains("<script>") && !page.contains("<img"),
            "{page}"
        );
        assert!(!page.contains("<b>eng</b>"), "{page}");
        assert!(page.contains("&lt;/pre&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; a/b"));
        assert!(page.contains("&lt;b&gt;eng&lt;/b&gt; (api)"), "{page}");
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{page}"
        );
        assert!(
            page.contains("&lt;i&gt;&#39;x&#39; &amp; \\&quot;y\\&quot;&lt;/i&gt;"),
            "{page}"
        );
    }

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("한국어 text"), "한국어 text");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        let t = nice_ticks(0.0, 47.0, 5);
        assert_eq!(t, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let t = nice_ticks(4.9, 5.1, 4);
        assert!(t[0] <= 4.9 && *t.last().unwrap() >= 5.1, "{t:?}");
        assert!(t.len() <= 8, "{t:?}");
        assert!(!nice_ticks(3.0, 3.0, 5).is_empty());
    }

    #[test]
    fn box_stats_with_tukey_whiskers() {
        let mut v: Vec<f64> = (1..=9).map(f64::from).collect();
        v.push(100.0);
        let b = box_stats(&v).unwrap();
        // q1 = 3.25, q3 = 7.75, IQR 4.5 → fences −3.5 and 14.5.
        assert_eq!((b.q1, b.median, b.q3), (3.25, 5.5, 7.75));
        assert_eq!((b.whisker_lo, b.whisker_hi), (1.0, 9.0));
        assert_eq!(b.beyond, vec![100.0]);
        assert!(box_stats(&[]).is_none());
    }

    #[test]
    fn charts_are_svg_with_escaped_labels() {
        let bars = bar_chart(
            "t",
            "tok/s",
            &["<b>x</b>".to_string()],
            &[BarSeries {
                name: "s".into(),
                values: vec![Some((10.0, Some((9.0, 11.0))))],
            }],
        );
        assert!(bars.starts_with("<svg") && bars.ends_with("</svg>"));
        assert!(bars.contains("&lt;b&gt;x&lt;/b&gt;") && !bars.contains("<b>"));
        assert!(bars.contains("<rect") && bars.contains("class=\"whisker\""));
        let xy = xy_chart(
            "lat",
            "tok/s",
            "ms",
            &[XySeries {
                name: "e p50".into(),
                dashed: true,
                points: vec![(10.0, 5.0, "c=1".into()), (40.0, 9.0, "c=4".into())],
            }],
        );
        assert!(xy.contains("<polyline") && xy.contains("stroke-dasharray"));
        assert_eq!(xy.matches("<circle").count(), 2);
    }
}
