//! The Markdown report: the seed's tables (engine, mean TPS, relative performance vs the
//! first engine, notes) plus latency tables, per-tier figures, where every figure came
//! from, flags, failures and an escaped sample of each engine's output.

use super::{Stat, escape_text, lump_marked, lump_note};
use crate::results::metric::{self, Metric};
use crate::results::{GroupSummary, ResultsDoc, RunRecord};
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

/// The footnotes of [`super::LUMP_MARK`] for the groups that carry it, one line each
/// (each ending in a newline); empty when none does.
fn lump_notes(groups: &[&GroupSummary], escape: bool) -> String {
    let mut out = String::new();
    for g in groups.iter().filter(|g| g.ttft_holds_generation > 0) {
        let who = format!("{} ({})", g.engine, g.mode.as_str());
        let note = lump_note(&who, g.ttft_holds_generation as u64, g.ok as u64);
        let _ = writeln!(
            out,
            "{}",
            if escape {
                escape_text(&note, true)
            } else {
                note
            }
        );
    }
    out
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

/// Render the whole report.
pub fn render(doc: &ResultsDoc) -> String {
    let mut md = String::new();
    header(&mut md, doc);
    let overall: Vec<&GroupSummary> = doc.summaries.iter().filter(|g| g.tier == "all").collect();
    throughput_section(&mut md, doc, &overall);
    output_length_section(&mut md, doc, &overall);
    md.push_str(&super::parity::markdown(doc));
    died_section(&mut md, doc);
    left_out_section(&mut md, doc);
    latency_section(&mut md, &overall);
    engine_figures_section(&mut md, &overall);
    md.push_str(&super::calibration::markdown(doc));
    tier_section(&mut md, doc);
    md.push_str(&reasoning_lines(doc));
    md.push_str(&server_metrics_lines(doc));
    md.push_str(&super::search::markdown(doc));
    md.push_str(&super::input_sweep::markdown(doc));
    md.push_str(&super::starts::markdown(doc));
    md.push_str(&super::energy::markdown(doc));
    md.push_str(&super::clocks::markdown(doc));
    engines_section(&mut md, doc);
    flags_section(&mut md, doc);
    failed_section(&mut md, doc);
    sample_output_section(&mut md, doc);
    md
}

/// The title, when, the host, the tool and the main settings.
fn header(md: &mut String, doc: &ResultsDoc) {
    let title = match doc.mode {
        crate::results::Mode::Api => "API Benchmark Report",
        crate::results::Mode::Cli => "CLI (subprocess) Benchmark Report",
    };
    let _ = writeln!(md, "# {title}\n");
    let env = &doc.environment;
    let _ = writeln!(
        md,
        "- Started: {}  \n- Finished: {}",
        doc.started_at, doc.finished_at
    );
    let _ = writeln!(
        md,
        "- Host: {} ({} cores, {:.1} GiB), {} {}{}",
        escape_text(&env.cpu_model, true),
        env.cores,
        env.memory_gib,
        escape_text(&env.os, true),
        env.arch,
        if env.gpus.is_empty() {
            String::new()
        } else {
            format!(", GPUs: {}", escape_text(&env.gpus.join(", "), true))
        }
    );
    let _ = writeln!(md, "- Tool: {}", env.tool_version);
    if let Some(settings) = doc.config.get("settings") {
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
        let _ = writeln!(
            md,
            "- Settings: max_tokens {}, temperature {}, seed {}, runs per prompt {}, chat template {}",
            get("max_tokens"),
            get("temperature"),
            get("seed"),
            get("num_runs"),
            escape_text(&get("chat_template"), true)
        );
    }
    let _ = writeln!(md);
}

/// "## Throughput": decode TPS per engine, relative to the first, against the roofline.
fn throughput_section(md: &mut String, doc: &ResultsDoc, overall: &[&GroupSummary]) {
    let _ = writeln!(md, "## Throughput (decode tokens per second, batch 1)\n");
    let _ = writeln!(
        md,
        "| Engine | Mode | Mean TPS | Relative | % of roofline | Runs ok/total | Notes |\n|---|---|---:|---:|---:|---:|---|"
    );
    // The first engine with a figure: a failed first engine must not blank the column.
    let base = overall
        .iter()
        .find_map(|g| headline_tps(g).map(|t| (g.engine.as_str(), t)));
    for g in overall {
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
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {}/{} | {} |",
            escape_text(&g.engine, true),
            g.mode.as_str(),
            num(tps, 2),
            rel,
            pct,
            g.ok,
            g.runs,
            escape_text(&sources(&doc.runs, &g.engine), true)
        );
    }
    let _ = writeln!(
        md,
        "\nRelative performance is against the first engine that has a figure. Decode TPS = 1 / TPOT, \
         TPOT = (last − first content event) / (output tokens − 1); failed runs are excluded. \
         % of roofline = decode TPS ÷ the batch-1 ceiling (memory bandwidth ÷ bytes of weights \
         read per token); a figure above the ceiling is a measurement error and is excluded.\n"
    );
    if let Some(w) = super::summary::length_mismatch(overall) {
        let _ = writeln!(md, "**⚠ {}** (see Output length)\n", escape_text(&w, false));
    }
}

/// "## Output length": per engine, the tokens asked, the mean delivered and the share of
/// full-length replies, and a warning where the engines' mean lengths differ by more than
/// [`super::summary::LENGTH_SPREAD_PCT`]. Only when some run reported a length.
fn output_length_section(md: &mut String, doc: &ResultsDoc, overall: &[&GroupSummary]) {
    if !overall
        .iter()
        .any(|g| g.metrics.contains_key("output_tokens"))
    {
        return;
    }
    let _ = writeln!(
        md,
        "## Output length

| Engine | Mode | Asked | Mean delivered | Full length |\n|---|---|---:|---:|---:|"
    );
    for g in overall {
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
            format!(
                "{full}/{counted} ({:.0}%)",
                full as f64 / counted as f64 * 100.0
            )
        } else {
            "–".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            escape_text(&g.engine, true),
            g.mode.as_str(),
            asked.map(|a| a.to_string()).unwrap_or_else(|| "–".into()),
            num(g.metrics.get("output_tokens").map(|s| s.mean), 1),
            share
        );
    }
    let _ = writeln!(
        md,
        "\nA reply shorter than asked is flagged `short_reply` with both counts and why the engine could stop."
    );
    md.push('\n');
}

/// "## Left out", only when an engine was selected but not measured.
fn left_out_section(md: &mut String, doc: &ResultsDoc) {
    let left_out: Vec<_> = doc
        .engines
        .iter()
        .filter(|e| e.left_out.is_some())
        .collect();
    if !left_out.is_empty() {
        let _ = writeln!(md, "## Left out\n");
        let _ = writeln!(
            md,
            "These engines were selected but not measured; the benchmark exits non-zero when an \
             engine that is installed is left out.\n"
        );
        for e in left_out {
            // The first line of the reason; the whole of it is in the JSON and the log.
            let why = e.left_out.as_deref().unwrap_or_default();
            let first = why.lines().next().unwrap_or_default();
            let more = if first.len() < why.len() {
                " (the whole reason is in the JSON and the log)"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "- **{}** ({}): {}{more}",
                escape_text(&e.engine, true),
                escape_text(&e.kind, true),
                escape_text(first, true)
            );
        }
        let _ = writeln!(md);
    }
}

/// "## Latency": TTFT, TPOT, E2E, ICL and output tokens per engine, with the lump notes.
fn latency_section(md: &mut String, overall: &[&GroupSummary]) {
    let _ = writeln!(md, "## Latency\n");
    let _ = writeln!(
        md,
        "| Engine | Mode | TTFT mean ms | TTFT p50 | TTFT p99 | TPOT mean ms | TPOT p99 | E2E mean ms | ICL mean ms | Output tokens mean |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for g in overall {
        let m = |m: &Metric, stat: Stat| cell(g, m, stat, 2);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            escape_text(&g.engine, true),
            g.mode.as_str(),
            ttft_cell(g, Stat::Mean),
            ttft_cell(g, Stat::P50),
            ttft_cell(g, Stat::P99),
            m(&metric::TPOT, Stat::Mean),
            m(&metric::TPOT, Stat::P99),
            m(&metric::E2E, Stat::Mean),
            m(&metric::ICL, Stat::Mean),
            m(&metric::OUTPUT_TOKENS, Stat::Mean),
        );
    }
    let notes = lump_notes(overall, true);
    if !notes.is_empty() {
        // One footnote a line: a hard line break between them.
        let _ = writeln!(md, "\n{}", notes.trim_end().replace('\n', "  \n"));
    }
}

/// "## Engine-reported figures and memory".
fn engine_figures_section(md: &mut String, overall: &[&GroupSummary]) {
    let _ = writeln!(md, "\n## Engine-reported figures and memory\n");
    let _ = writeln!(
        md,
        "| Engine | Mode | Engine decode TPS | Engine prefill TPS | Our prefill TPS | Wall ms | Peak RSS MiB | GPU MiB |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for g in overall {
        let m = |m: &Metric| cell(g, m, Stat::Mean, 1);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            escape_text(&g.engine, true),
            g.mode.as_str(),
            m(&metric::ENGINE_DECODE_TPS),
            m(&metric::ENGINE_PREFILL_TPS),
            m(&metric::PREFILL_TPS),
            m(&metric::WALL),
            m(&metric::RSS_PEAK),
            m(&metric::GPU_MEMORY),
        );
    }
}

/// "## By prompt tier", only when the summaries have tiers.
fn tier_section(md: &mut String, doc: &ResultsDoc) {
    let tiers: Vec<&GroupSummary> = doc.summaries.iter().filter(|g| g.tier != "all").collect();
    if !tiers.is_empty() {
        let _ = writeln!(md, "\n## By prompt tier\n");
        let _ = writeln!(
            md,
            "| Engine | Mode | Tier | n | Decode TPS mean | TTFT mean ms | E2E mean ms | Output tokens mean |\n|---|---|---|---:|---:|---:|---:|---:|"
        );
        for g in tiers {
            let m = |m: &Metric| cell(g, m, Stat::Mean, 2);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                escape_text(&g.engine, true),
                g.mode.as_str(),
                escape_text(&g.tier, true),
                g.ok,
                m(&metric::DECODE_TPS),
                ttft_cell(g, Stat::Mean),
                m(&metric::E2E),
                m(&metric::OUTPUT_TOKENS),
            );
        }
    }
}

/// "## Engines": how each was brought up, its settings and notes.
fn engines_section(md: &mut String, doc: &ResultsDoc) {
    if !doc.engines.is_empty() {
        let _ = writeln!(md, "\n## Engines\n");
        for e in &doc.engines {
            let _ = writeln!(
                md,
                "- **{}** ({}){}{}{}",
                escape_text(&e.engine, true),
                escape_text(&e.kind, true),
                e.load_ms
                    .map(|l| format!(", loaded in {l:.0} ms"))
                    .unwrap_or_default(),
                e.template
                    .as_ref()
                    .map(|t| format!(", template {}", escape_text(t, true)))
                    .unwrap_or_default(),
                e.fairness
                    .as_ref()
                    .map(|f| format!(", fairness: {}", escape_text(f, true)))
                    .unwrap_or_default(),
            );
            if let Some(line) = super::engine_settings_line(e) {
                let _ = writeln!(md, "  - settings: {}", escape_text(&line, true));
            }
            for n in &e.notes {
                let _ = writeln!(md, "  - {}", escape_text(n, true));
            }
        }
    }
}

/// "## Flags": every flag of every run, only when there is one.
fn flags_section(md: &mut String, doc: &ResultsDoc) {
    let flagged: Vec<&RunRecord> = doc.runs.iter().filter(|r| !r.flags.is_empty()).collect();
    if flagged.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Flags\n");
    // A kind that flags many runs of one engine (a short reply at every EOS) is shown
    // [`FLAGS_SHOWN`] times, then counted; the JSON keeps every one.
    let mut seen: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for r in flagged {
        for f in &r.flags {
            let n = seen
                .entry((&r.engine, r.mode.as_str(), &f.kind))
                .or_default();
            *n += 1;
            if *n > FLAGS_SHOWN {
                continue;
            }
            let _ = writeln!(
                md,
                "- {} {} {} run {}: **{}** {}",
                escape_text(&r.engine, true),
                r.mode.as_str(),
                escape_text(&r.prompt_id, true),
                r.run_index,
                escape_text(&f.kind, true),
                escape_text(&f.message, true)
            );
        }
    }
    for ((engine, mode, kind), n) in seen.into_iter().filter(|(_, n)| *n > FLAGS_SHOWN) {
        let _ = writeln!(
            md,
            "- {} {mode}: **{}** on {n} runs in all ({} more than listed; every one is in the JSON)",
            escape_text(engine, true),
            escape_text(kind, true),
            n - FLAGS_SHOWN
        );
    }
}

/// How many runs of one engine and mode a flag kind is listed for in the Markdown.
const FLAGS_SHOWN: usize = 5;

/// "## Failed runs", only when a run failed.
fn failed_section(md: &mut String, doc: &ResultsDoc) {
    let failed: Vec<&RunRecord> = doc.runs.iter().filter(|r| !r.ok).collect();
    if !failed.is_empty() {
        let _ = writeln!(md, "\n## Failed runs\n");
        for r in failed {
            let _ = writeln!(
                md,
                "- {} {} {} run {}: {}",
                escape_text(&r.engine, true),
                r.mode.as_str(),
                escape_text(&r.prompt_id, true),
                r.run_index,
                escape_text(r.error.as_deref().unwrap_or("unknown"), true)
            );
        }
    }
}

/// "## Sample output": the first successful measured run of each engine and mode.
fn sample_output_section(md: &mut String, doc: &ResultsDoc) {
    let _ = writeln!(md, "\n## Sample output\n");
    let mut seen: Vec<(&str, crate::results::Mode)> = Vec::new();
    for r in doc.runs.iter().filter(|r| r.ok && !r.warmup) {
        if seen.contains(&(r.engine.as_str(), r.mode)) {
            continue;
        }
        seen.push((r.engine.as_str(), r.mode));
        let text: String = r.output_text.chars().take(400).collect();
        let _ = writeln!(
            md,
            "**{} ({}, {})**:\n\n> {}\n",
            escape_text(&r.engine, true),
            r.mode.as_str(),
            escape_text(&r.prompt_id, true),
            escape_text(&text, true)
        );
    }
}

/// A short plain-text summary for the terminal: one line per engine × mode.
/// "## Reasoning", only when a run reasoned: a line per engine and mode.
fn reasoning_lines(doc: &ResultsDoc) -> String {
    let mut md = String::new();
    for g in doc.summaries.iter().filter(|g| g.tier == "all") {
        let Some(rt) = g.metrics.get(metric::REASONING_TOKENS.name) else {
            continue;
        };
        if md.is_empty() {
            let _ = writeln!(md, "\n## Reasoning\n");
        }
        let _ = writeln!(
            md,
            "- {} ({}): TTFT mean {} ms (first token, reasoning included), first answer token mean {} ms, reasoning tokens mean {:.1} over {} runs",
            escape_text(&g.engine, true),
            g.mode.as_str(),
            ttft_cell(g, Stat::Mean),
            cell(g, &metric::TTFT_ANSWER, Stat::Mean, 2),
            rt.mean,
            rt.n,
        );
    }
    md
}

/// "## Server metrics": a line per load step, naming each source.
fn server_metrics_lines(doc: &ResultsDoc) -> String {
    let mut md = String::new();
    for st in &doc.load {
        let Some(m) = &st.server_metrics else {
            continue;
        };
        if md.is_empty() {
            let _ = writeln!(md, "\n## Server metrics\n");
        }
        let series: Vec<String> = m
            .series
            .iter()
            .map(|x| {
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
            })
            .chain(m.histograms.iter().map(|h| {
                format!(
                    "{} p50 {} ms over {} ({})",
                    h.label,
                    num(h.p50_ms, 1),
                    h.count,
                    h.metric
                )
            }))
            .collect();
        let _ = writeln!(
            md,
            "- {} {}: {} scrapes every {} s{}{}",
            escape_text(&st.engine, true),
            escape_text(&st.step, true),
            m.scrapes,
            m.interval_s,
            if series.is_empty() {
                String::new()
            } else {
                format!("; {}", escape_text(&series.join("; "), true))
            },
            m.note
                .as_ref()
                .map(|n| format!("; {}", escape_text(n, true)))
                .unwrap_or_default(),
        );
    }
    md
}

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
    out.push_str(&lump_notes(&overall, false));
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

/// Engines whose process exited while they were measured: when, how, in which step, and
/// the end of their log.
fn died_section(md: &mut String, doc: &ResultsDoc) {
    let died: Vec<_> = doc.engines.iter().filter(|e| e.exited.is_some()).collect();
    if died.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Engines that died
"
    );
    let _ = writeln!(
        md,
        "These engines' processes exited while they were measured; nothing was sent to them \
         afterwards and the benchmark exits non-zero.\n"
    );
    for e in died {
        let Some(x) = &e.exited else { continue };
        let steps: Vec<&str> = doc
            .load
            .iter()
            .filter(|s| s.engine == e.engine && s.engine_exit.is_some())
            .map(|s| s.step.as_str())
            .collect();
        let during = if steps.is_empty() {
            String::new()
        } else {
            format!(" during step {}", steps.join(", "))
        };
        let _ = writeln!(
            md,
            "- **{}**: {} at {}{}",
            escape_text(&e.engine, true),
            escape_text(&x.how, true),
            escape_text(&x.at, true),
            escape_text(&during, true)
        );
        if let Some(last) = x.log_tail.lines().rev().find(|l| !l.trim().is_empty()) {
            let _ = writeln!(md, "  - last log line: `{}`", last.replace('`', "'"));
        }
    }
    let _ = writeln!(md);
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
        let md = render(&doc(vec![a, b, c]));
        assert!(!md.contains("<script>"), "{md}");
        insta::assert_snapshot!(md);
    }
}
