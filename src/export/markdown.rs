//! The Markdown report: the seed's tables (engine, mean TPS, relative performance vs the
//! first engine, notes) plus latency tables, per-tier figures, where every figure came
//! from, flags, failures and an escaped sample of each engine's output.
//!
//! The report is the minijinja template `templates/report.md.j2` (embedded in the
//! binary). This module only prepares the data: which sections and rows exist, and every
//! number already formatted, as plain serializable structs. The template engine escapes
//! every value it prints with the Markdown cell escape ([`escape_text`]: `|` and the
//! other Markdown and HTML specials escaped, line breaks folded), so model output, engine
//! names, errors, notes, flags and the environment never break a table or a list. Only
//! Markdown our own code made is passed in as safe: the sections of the other exporters,
//! the relative and roofline cells, the one warning that keeps its line breaks, and the
//! architecture (printed as is, as it always was). Text inside a code span goes through
//! the template's `code` filter (a backtick would end the span).

use super::{Stat, escape_text, lump_marked, lump_note};
use crate::results::metric::{self, Metric};
use crate::results::{GroupSummary, ResultsDoc, RunRecord};
use anyhow::Context as _;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

fn num(x: Option<f64>, prec: usize) -> String {
    match x {
        Some(v) => format!("{v:.prec$}"),
        None => "–".into(),
    }
}

/// A statistic of one metric of a group, formatted; "–" when not measured.
fn cell(g: &GroupSummary, m: &Metric, stat: Stat, prec: usize) -> String {
    num(super::stat(&g.metrics, m, stat), prec)
}

/// A statistic of the group's TTFT, marked when some of its runs came in one lump.
fn ttft_cell(g: &GroupSummary, stat: Stat) -> String {
    lump_marked(
        cell(g, &metric::TTFT, stat, 2),
        g.ttft_holds_generation as u64,
    )
}

/// The footnotes of [`super::LUMP_MARK`] for the groups that carry it, one each.
fn lump_notes(groups: &[&GroupSummary]) -> Vec<String> {
    let note = |g: &&&GroupSummary| {
        let who = format!("{} ({})", g.engine, g.mode.as_str());
        lump_note(&who, g.ttft_holds_generation as u64, g.ok as u64)
    };
    groups
        .iter()
        .filter(|g| g.ttft_holds_generation > 0)
        .map(|g| note(&g))
        .collect()
}

/// The decode figure a group is ranked by: ours, else the engine's.
fn headline_tps(g: &GroupSummary) -> Option<f64> {
    super::stat(&g.metrics, &metric::DECODE_TPS, Stat::Mean)
        .or_else(|| super::stat(&g.metrics, &metric::ENGINE_DECODE_TPS, Stat::Mean))
}

/// Where an engine's decode figure came from, in words.
fn sources(runs: &[RunRecord], engine: &str) -> String {
    let mut decode = Vec::new();
    let mut tokens = Vec::new();
    for r in runs
        .iter()
        .filter(|r| r.engine == engine && r.ok && !r.warmup)
    {
        if let Some(s) = &r.decode_tps_source
            && !decode.contains(s)
        {
            decode.push(s.clone());
        }
        if let Some(t) = r.output_tokens_source {
            let t = serde_json::to_string(&t)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string();
            if !tokens.contains(&t) {
                tokens.push(t);
            }
        }
    }
    format!(
        "decode from {}; tokens from {}",
        if decode.is_empty() {
            "–".into()
        } else {
            decode.join(", ")
        },
        if tokens.is_empty() {
            "–".into()
        } else {
            tokens.join(", ")
        }
    )
}

/// The report's template, its name and its Markdown escape mode.
const TEMPLATE_NAME: &str = "report.md.j2";
const TEMPLATE: &str = include_str!("../../templates/report.md.j2");
const ESCAPE: AutoEscape = AutoEscape::Custom(std::borrow::Cow::Borrowed("markdown"));

/// Markdown our own code made or escaped (other exporters' sections): printed as is.
fn safe(md: String) -> Value {
    Value::from_safe_string(md)
}

/// A table row (or a line of figures): engine, mode and the other cells in order.
#[derive(Serialize)]
struct Row<'a> {
    engine: &'a str,
    mode: &'a str,
    cells: Vec<Value>,
}

impl<'a> Row<'a> {
    fn of(g: &'a GroupSummary, cells: impl IntoIterator<Item = impl Into<Value>>) -> Self {
        let cells = cells.into_iter().map(Into::into).collect();
        Row {
            engine: &g.engine,
            mode: g.mode.as_str(),
            cells,
        }
    }
}

/// A line about one run: a flag (`kind`, `text`), a failure or a sample of its output.
#[derive(Serialize)]
struct RunLine<'a> {
    engine: &'a str,
    mode: &'a str,
    prompt: &'a str,
    run: usize,
    kind: &'a str,
    text: String,
}

impl<'a> RunLine<'a> {
    fn of(r: &'a RunRecord, kind: &'a str, text: String) -> Self {
        let (engine, mode, prompt) = (r.engine.as_str(), r.mode.as_str(), r.prompt_id.as_str());
        RunLine {
            engine,
            mode,
            prompt,
            run: r.run_index as usize,
            kind,
            text,
        }
    }
}

/// A flag kind listed [`FLAGS_SHOWN`] times of `n`: `more` not listed.
#[derive(Serialize)]
struct FlagCount<'a> {
    engine: &'a str,
    mode: &'a str,
    kind: &'a str,
    n: usize,
    more: usize,
}

/// An engine whose process exited: how, when, in which steps, its last log line.
#[derive(Serialize)]
struct Died<'a> {
    engine: &'a str,
    how: &'a str,
    at: &'a str,
    steps: String,
    last_log: Option<&'a str>,
}

/// An engine selected but not measured: the first line of why, `more` when there is more.
#[derive(Serialize)]
struct LeftOut<'a> {
    engine: &'a str,
    kind: &'a str,
    why: &'a str,
    more: bool,
}

#[derive(Serialize)]
struct Engine<'a> {
    engine: &'a str,
    kind: &'a str,
    load_ms: Option<String>,
    template: Option<&'a str>,
    fairness: Option<&'a str>,
    settings: Option<String>,
    notes: &'a [String],
}

/// A load step's server metrics: each series and histogram in words, and the note.
#[derive(Serialize)]
struct Server<'a> {
    engine: &'a str,
    step: &'a str,
    scrapes: usize,
    interval: String,
    series: Vec<String>,
    note: Option<&'a str>,
}

#[derive(Serialize)]
struct Host<'a> {
    cpu: &'a str,
    cores: usize,
    memory: String,
    os: &'a str,
    /// As is, as it always was ("x86_64", not "x86\_64").
    arch: Value,
    gpus: String,
}

/// Everything the template shows: plain text (escaped by the template engine) except
/// the [`Value`]s our code made safe.
#[derive(Serialize)]
struct Page<'a> {
    title: &'static str,
    started_at: &'a str,
    finished_at: &'a str,
    host: Host<'a>,
    tool: &'a str,
    /// max_tokens, temperature, seed, runs per prompt, chat template.
    settings: Option<[String; 5]>,
    throughput: Vec<Row<'a>>,
    length_warning: Option<Value>,
    output_length: Vec<Row<'a>>,
    died: Vec<Died<'a>>,
    left_out: Vec<LeftOut<'a>>,
    latency: Vec<Row<'a>>,
    lump_notes: Vec<String>,
    engine_figures: Vec<Row<'a>>,
    tiers: Vec<Row<'a>>,
    reasoning: Vec<Row<'a>>,
    server: Vec<Server<'a>>,
    engines: Vec<Engine<'a>>,
    flags: Vec<RunLine<'a>>,
    flags_more: Vec<FlagCount<'a>>,
    failed: Vec<RunLine<'a>>,
    samples: Vec<RunLine<'a>>,
    parity: Value,
    calibration: Value,
    search: Value,
    input_sweep: Value,
    starts: Value,
    energy: Value,
    clocks: Value,
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_auto_escape_callback(|_| ESCAPE);
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == ESCAPE && !value.is_safe() && !value.is_none() {
            out.write_str(&escape_text(&value.to_string(), true))
                .map_err(minijinja::Error::from)
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    // Text inside a `code span`: a backtick would end it.
    env.add_filter("code", |s: String| safe(s.replace('`', "'")));
    env.add_template(TEMPLATE_NAME, TEMPLATE)?;
    Ok(env)
}

/// Render the whole report. An error only if the template is broken (a unit test
/// renders it).
pub fn render(doc: &ResultsDoc) -> anyhow::Result<String> {
    let env = environment().context("compiling the Markdown report template")?;
    env.get_template(TEMPLATE_NAME)
        .and_then(|t| t.render(Serde(page(doc))))
        .context("rendering the Markdown report")
}

fn page(doc: &ResultsDoc) -> Page<'_> {
    let overall: Vec<&GroupSummary> = doc.summaries.iter().filter(|g| g.tier == "all").collect();
    let env = &doc.environment;
    Page {
        title: match doc.mode {
            crate::results::Mode::Api => "API Benchmark Report",
            crate::results::Mode::Cli => "CLI (subprocess) Benchmark Report",
        },
        started_at: &doc.started_at,
        finished_at: &doc.finished_at,
        host: Host {
            cpu: &env.cpu_model,
            cores: env.cores,
            memory: format!("{:.1}", env.memory_gib),
            os: &env.os,
            arch: safe(env.arch.clone()),
            gpus: env.gpus.join(", "),
        },
        tool: &env.tool_version,
        settings: settings(doc),
        throughput: throughput_rows(doc, &overall),
        length_warning: super::summary::length_mismatch(&overall)
            .map(|w| safe(escape_text(&w, false))),
        output_length: output_length_rows(doc, &overall),
        died: died(doc),
        left_out: left_out(doc),
        latency: overall.iter().map(|g| latency_row(g)).collect(),
        lump_notes: lump_notes(&overall),
        engine_figures: overall.iter().map(|g| figures_row(g)).collect(),
        tiers: doc
            .summaries
            .iter()
            .filter(|g| g.tier != "all")
            .map(tier_row)
            .collect(),
        reasoning: overall.iter().filter_map(|g| reasoning_row(g)).collect(),
        server: server_lines(doc),
        engines: doc.engines.iter().map(engine).collect(),
        flags: Vec::new(),
        flags_more: Vec::new(),
        failed: doc
            .runs
            .iter()
            .filter(|r| !r.ok)
            .map(|r| RunLine::of(r, "", r.error.as_deref().unwrap_or("unknown").into()))
            .collect(),
        samples: samples(doc),
        parity: safe(super::parity::markdown(doc)),
        calibration: safe(super::calibration::markdown(doc)),
        search: safe(super::search::markdown(doc)),
        input_sweep: safe(super::input_sweep::markdown(doc)),
        starts: safe(super::starts::markdown(doc)),
        energy: safe(super::energy::markdown(doc)),
        clocks: safe(super::clocks::markdown(doc)),
    }
    .with_flags(doc)
}

/// The run settings of the config, each "–" when missing.
fn settings(doc: &ResultsDoc) -> Option<[String; 5]> {
    let settings = doc.config.get("settings")?;
    let get = |k: &str| {
        settings
            .get(k)
            .and_then(|v| v.get("value"))
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "–".into())
    };
    Some(
        [
            "max_tokens",
            "temperature",
            "seed",
            "num_runs",
            "chat_template",
        ]
        .map(get),
    )
}

/// Throughput: decode TPS per engine, relative to the first, against the roofline.
fn throughput_rows<'a>(doc: &'a ResultsDoc, overall: &[&'a GroupSummary]) -> Vec<Row<'a>> {
    // The first engine with a figure: a failed first engine must not blank the column.
    let base = overall
        .iter()
        .find_map(|g| headline_tps(g).map(|t| (g.engine.as_str(), t)));
    let row = |g: &'a GroupSummary| {
        let tps = headline_tps(g);
        // No winner named within the client's error (where it was calibrated).
        let rel = super::calibration::relative_cell(doc, &g.engine, base, tps);
        let roof = doc
            .engines
            .iter()
            .find(|e| e.engine == g.engine && e.mode.is_none_or(|m| m == g.mode))
            .and_then(|e| e.roofline_tps);
        // "(of 4190 GB/s measured D2D copy)": which bandwidth the ceiling stands on.
        let of = super::energy::roofline_label(doc, &g.engine, g.mode)
            .map(|l| format!(" ({})", escape_text(l, true)))
            .unwrap_or_default();
        let pct = match (tps, roof) {
            (Some(t), Some(c)) => crate::measure::roofline::pct_of_roofline(t, c)
                .map(|p| format!("{p:.0}% of {c:.0}{of}"))
                .unwrap_or_else(|| "–".into()),
            _ => "–".into(),
        };
        let (ok, notes) = (
            format!("{}/{}", g.ok, g.runs),
            sources(&doc.runs, &g.engine),
        );
        let cells = [
            num(tps, 2).into(),
            safe(rel),
            safe(pct),
            ok.into(),
            notes.into(),
        ];
        Row::of(g, cells)
    };
    overall.iter().map(|g| row(g)).collect()
}

/// Output length: per engine, the tokens asked, the mean delivered and the share of
/// full-length replies. Only when some run reported a length.
fn output_length_rows<'a>(doc: &ResultsDoc, overall: &[&'a GroupSummary]) -> Vec<Row<'a>> {
    if !overall
        .iter()
        .any(|g| g.metrics.contains_key("output_tokens"))
    {
        return Vec::new();
    }
    let row = |g: &'a GroupSummary| {
        let asked = doc
            .runs
            .iter()
            .filter(|r| r.engine == g.engine && r.mode == g.mode && !r.warmup)
            .map(|r| r.sampling.max_tokens)
            .max();
        // Of the runs with a count (the output_tokens summary's n).
        let counted = g.metrics.get("output_tokens").map_or(0, |s| s.n);
        let full = counted.saturating_sub(g.short_replies);
        let share = if counted > 0 {
            let pct = full as f64 / counted as f64 * 100.0;
            format!("{full}/{counted} ({pct:.0}%)")
        } else {
            "–".into()
        };
        let asked = asked.map(|a| a.to_string()).unwrap_or_else(|| "–".into());
        let mean = num(g.metrics.get("output_tokens").map(|s| s.mean), 1);
        Row::of(g, [asked, mean, share])
    };
    overall.iter().map(|g| row(g)).collect()
}

/// Engines that were selected but not measured: the first line of the reason (the whole
/// of it is in the JSON and the log).
fn left_out<'a>(doc: &'a ResultsDoc) -> Vec<LeftOut<'a>> {
    let line = |e: &'a crate::results::EngineInfo| {
        let why = e.left_out.as_deref()?;
        let first = why.lines().next().unwrap_or_default();
        let (engine, kind, more) = (e.engine.as_str(), e.kind.as_str(), first.len() < why.len());
        Some(LeftOut {
            engine,
            kind,
            why: first,
            more,
        })
    };
    doc.engines.iter().filter_map(line).collect()
}

/// Latency: TTFT, TPOT, E2E, ICL and output tokens.
fn latency_row(g: &GroupSummary) -> Row<'_> {
    let m = |m: &Metric, stat: Stat| cell(g, m, stat, 2);
    Row::of(
        g,
        [
            ttft_cell(g, Stat::Mean),
            ttft_cell(g, Stat::P50),
            ttft_cell(g, Stat::P99),
            m(&metric::TPOT, Stat::Mean),
            m(&metric::TPOT, Stat::P99),
            m(&metric::E2E, Stat::Mean),
            m(&metric::ICL, Stat::Mean),
            m(&metric::OUTPUT_TOKENS, Stat::Mean),
        ],
    )
}

/// Engine-reported figures and memory.
fn figures_row(g: &GroupSummary) -> Row<'_> {
    let ms = [
        &metric::ENGINE_DECODE_TPS,
        &metric::ENGINE_PREFILL_TPS,
        &metric::PREFILL_TPS,
        &metric::WALL,
        &metric::RSS_PEAK,
        &metric::GPU_MEMORY,
    ];
    Row::of(g, ms.map(|m| cell(g, m, Stat::Mean, 1)))
}

/// By prompt tier: a row per engine, mode and tier.
fn tier_row(g: &GroupSummary) -> Row<'_> {
    let m = |m: &Metric| cell(g, m, Stat::Mean, 2);
    Row::of(
        g,
        [
            g.tier.clone(),
            g.ok.to_string(),
            m(&metric::DECODE_TPS),
            ttft_cell(g, Stat::Mean),
            m(&metric::E2E),
            m(&metric::OUTPUT_TOKENS),
        ],
    )
}

/// Reasoning, for a group whose runs reasoned: TTFT, first answer token, reasoning
/// tokens and runs.
fn reasoning_row(g: &GroupSummary) -> Option<Row<'_>> {
    let rt = g.metrics.get(metric::REASONING_TOKENS.name)?;
    Some(Row::of(
        g,
        [
            ttft_cell(g, Stat::Mean),
            cell(g, &metric::TTFT_ANSWER, Stat::Mean, 2),
            format!("{:.1}", rt.mean),
            rt.n.to_string(),
        ],
    ))
}

/// Server metrics: a line per load step, naming each source.
fn server_lines<'a>(doc: &'a ResultsDoc) -> Vec<Server<'a>> {
    let line = |st: &'a crate::results::StepReport| {
        let m = st.server_metrics.as_ref()?;
        let series = m.series.iter().map(|x| {
            let max = x
                .points
                .iter()
                .map(|p| p.value)
                .fold(f64::NEG_INFINITY, f64::max);
            format!(
                "{} max {} {} ({})",
                x.label,
                num(Some(max), 2),
                x.unit,
                x.metric
            )
        });
        let histograms = m.histograms.iter().map(|h| {
            let p50 = num(h.p50_ms, 1);
            format!("{} p50 {p50} ms over {} ({})", h.label, h.count, h.metric)
        });
        Some(Server {
            engine: &st.engine,
            step: &st.step,
            scrapes: m.scrapes as usize,
            interval: m.interval_s.to_string(),
            series: series.chain(histograms).collect(),
            note: m.note.as_deref(),
        })
    };
    doc.load.iter().filter_map(line).collect()
}

/// Engines: how each was brought up, its settings and notes.
fn engine(e: &crate::results::EngineInfo) -> Engine<'_> {
    Engine {
        engine: &e.engine,
        kind: &e.kind,
        load_ms: e.load_ms.map(|l| format!("{l:.0}")),
        template: e.template.as_deref(),
        fairness: e.fairness.as_deref(),
        settings: super::engine_settings_line(e),
        notes: &e.notes,
    }
}

impl<'a> Page<'a> {
    /// Flags: every flag of every run, a kind that flags many runs of one engine (a short
    /// reply at every EOS) listed [`FLAGS_SHOWN`] times, then counted; the JSON keeps
    /// every one.
    fn with_flags(mut self, doc: &'a ResultsDoc) -> Self {
        let mut seen: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
        for r in &doc.runs {
            for f in &r.flags {
                let n = seen
                    .entry((&r.engine, r.mode.as_str(), &f.kind))
                    .or_default();
                *n += 1;
                if *n <= FLAGS_SHOWN {
                    self.flags.push(RunLine::of(r, &f.kind, f.message.clone()));
                }
            }
        }
        self.flags_more = seen
            .into_iter()
            .filter(|(_, n)| *n > FLAGS_SHOWN)
            .map(|((engine, mode, kind), n)| FlagCount {
                engine,
                mode,
                kind,
                n,
                more: n - FLAGS_SHOWN,
            })
            .collect();
        self
    }
}

/// How many runs of one engine and mode a flag kind is listed for in the Markdown.
const FLAGS_SHOWN: usize = 5;

/// Sample output: the first 400 characters of the first successful measured run of each
/// engine and mode.
fn samples(doc: &ResultsDoc) -> Vec<RunLine<'_>> {
    let mut seen: Vec<(&str, crate::results::Mode)> = Vec::new();
    let mut out = Vec::new();
    for r in doc.runs.iter().filter(|r| r.ok && !r.warmup) {
        if !seen.contains(&(r.engine.as_str(), r.mode)) {
            seen.push((r.engine.as_str(), r.mode));
            out.push(RunLine::of(
                r,
                "",
                r.output_text.chars().take(400).collect(),
            ));
        }
    }
    out
}

/// Engines whose process exited while they were measured: when, how, in which step, and
/// the last line of their log.
fn died<'a>(doc: &'a ResultsDoc) -> Vec<Died<'a>> {
    let line = |e: &'a crate::results::EngineInfo| {
        let x = e.exited.as_ref()?;
        let steps: Vec<&str> = doc
            .load
            .iter()
            .filter(|s| s.engine == e.engine && s.engine_exit.is_some())
            .map(|s| s.step.as_str())
            .collect();
        Some(Died {
            engine: &e.engine,
            how: &x.how,
            at: &x.at,
            steps: steps.join(", "),
            last_log: x.log_tail.lines().rev().find(|l| !l.trim().is_empty()),
        })
    };
    doc.engines.iter().filter_map(line).collect()
}

/// A short plain-text summary for the terminal: one line per engine × mode.
pub fn console_summary(doc: &ResultsDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<4} {:>10} {:>9} {:>10} {:>10} {:>8}",
        "engine", "mode", "decode t/s", "relative", "TTFT ms", "TPOT ms", "ok/runs"
    );
    let overall: Vec<&GroupSummary> = doc.summaries.iter().filter(|g| g.tier == "all").collect();
    // The first engine with a figure: a failed first engine must not blank the column.
    let base = overall
        .iter()
        .find_map(|g| headline_tps(g).map(|t| (g.engine.as_str(), t)));
    for g in &overall {
        let tps = headline_tps(g);
        let rel = super::calibration::relative_cell(doc, &g.engine, base, tps);
        let _ = writeln!(
            out,
            "{:<14} {:<4} {:>10} {:>9} {:>10} {:>10} {:>8}",
            g.engine,
            g.mode.as_str(),
            num(tps, 2),
            rel,
            ttft_cell(g, Stat::Mean),
            cell(g, &metric::TPOT, Stat::Mean, 3),
            format!("{}/{}", g.ok, g.runs)
        );
    }
    for n in lump_notes(&overall) {
        let _ = writeln!(out, "{n}");
    }
    if let Some(w) = super::summary::length_mismatch(&overall) {
        let _ = writeln!(out, "⚠ {w}");
    }
    for g in &overall {
        for f in g.flags.iter().filter(|f| f.kind == crate::results::DRIFT) {
            let _ = writeln!(
                out,
                "⚠ {} {}: drift: {}",
                g.engine,
                g.mode.as_str(),
                f.message
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Environment, Mode, ResultsDoc};

    fn doc(runs: Vec<RunRecord>) -> ResultsDoc {
        ResultsDoc {
            schema_version: crate::results::SCHEMA_VERSION,
            tool: "inferbench".into(),
            mode: Mode::Api,
            started_at: "s".into(),
            finished_at: "f".into(),
            environment: Environment::default(),
            config: serde_json::json!({}),
            engines: vec![],
            summaries: crate::export::summary::summarize_runs(&runs),
            runs,
            load: Vec::new(),
            search: Vec::new(),
            workload: None,
            parity: None,
        }
    }

    #[test]
    fn relative_to_first_engine_and_escaped_output() {
        use crate::export::summary::tests::rec;
        let mut a = rec("a", "short", true, 10.0);
        a.started_at = "2025-01-01T00:00:00Z".into();
        a.output_text = "<script>alert(1)</script> | x".into();
        let mut b = rec("b", "short", true, 25.0);
        b.started_at = "2025-01-01T00:00:01Z".into();
        let mut c = rec("b", "short", false, 0.0);
        c.started_at = "2025-01-01T00:00:02Z".into();
        c.error = Some("HTTP 500".into());
        let md = render(&doc(vec![a, b, c])).unwrap();
        assert!(!md.contains("<script>"), "{md}");
        insta::assert_snapshot!(md);
    }

    /// The template is ours and embedded: it compiles and renders an empty document, and
    /// outside text in a cell, a list item or a code span cannot break out of it.
    #[test]
    fn template_renders_and_escapes_outside_text() {
        use crate::export::summary::tests::rec;
        let empty = render(&doc(vec![])).unwrap();
        assert!(empty.starts_with("# API Benchmark Report\n\n"), "{empty}");
        assert!(empty.ends_with("## Sample output\n\n"), "{empty}");
        let mut a = rec("a|b\nc", "short", true, 10.0);
        a.output_text = "x | y\n# z".into();
        let mut d = doc(vec![a]);
        d.engines.push(crate::results::EngineInfo {
            engine: "e".into(),
            exited: Some(crate::results::EngineExit {
                how: "exited".into(),
                code: Some(1),
                signal: None,
                at: "t".into(),
                log_tail: "a `b`\n".into(),
            }),
            ..Default::default()
        });
        let md = render(&d).unwrap();
        assert!(md.contains("| a\\|b c | api |"), "{md}");
        assert!(md.contains("> x \\| y \\# z\n"), "{md}");
        assert!(md.contains("  - last log line: `a 'b'`\n"), "{md}");
    }
}
