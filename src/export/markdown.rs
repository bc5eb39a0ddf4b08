//! The Markdown report: the seed's tables (engine, mean TPS, relative performance vs the
//! first engine, notes) plus latency tables, per-tier figures, where every figure came
//! from, flags, failures and an escaped sample of each engine's output.

use super::escape_text;
use crate::results::{GroupSummary, ResultsDoc, RunRecord};
use std::fmt::Write;

fn num(x: Option<f64>, prec: usize) -> String {
    match x {
        Some(v) => format!("{v:.prec$}"),
        None => "–".into(),
    }
}

fn metric<'a>(g: &'a GroupSummary, name: &str) -> Option<&'a crate::measure::stats::Summary> {
    g.metrics.get(name)
}

/// The decode figure a group is ranked by, and what it is.
fn headline_tps(g: &GroupSummary) -> Option<f64> {
    metric(g, "decode_tps")
        .or_else(|| metric(g, "engine_decode_tps"))
        .map(|s| s.mean)
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

    let overall: Vec<&GroupSummary> = doc.summaries.iter().filter(|g| g.tier == "all").collect();
    let _ = writeln!(md, "## Throughput (decode tokens per second, batch 1)\n");
    let _ = writeln!(
        md,
        "| Engine | Mode | Mean TPS | Relative | % of roofline | Runs ok/total | Notes |\n|---|---|---:|---:|---:|---:|---|"
    );
    let base = overall.first().and_then(|g| headline_tps(g));
    for g in &overall {
        let tps = headline_tps(g);
        let rel = match (tps, base) {
            (Some(t), Some(b)) if b > 0.0 => format!("{:.2}x", t / b),
            _ => "–".into(),
        };
        let roof = doc
            .engines
            .iter()
            .find(|e| e.engine == g.engine && e.mode.is_none_or(|m| m == g.mode))
            .and_then(|e| e.roofline_tps);
        let pct = match (tps, roof) {
            (Some(t), Some(c)) => crate::measure::roofline::pct_of_roofline(t, c)
                .map(|p| format!("{p:.0}% of {c:.0}"))
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
        "\nRelative performance is against the first engine. Decode TPS = 1 / TPOT, \
         TPOT = (last − first content event) / (output tokens − 1); failed runs are excluded. \
         % of roofline = decode TPS ÷ the batch-1 ceiling (memory bandwidth ÷ bytes of weights \
         read per token); a figure above the ceiling is a measurement error and is excluded.\n"
    );

    let _ = writeln!(md, "## Latency\n");
    let _ = writeln!(
        md,
        "| Engine | Mode | TTFT mean ms | TTFT p50 | TTFT p99 | TPOT mean ms | TPOT p99 | E2E mean ms | ICL mean ms | Output tokens mean |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for g in &overall {
        let m =
            |n: &str, f: fn(&crate::measure::stats::Summary) -> f64| num(metric(g, n).map(f), 2);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            escape_text(&g.engine, true),
            g.mode.as_str(),
            m("ttft_ms", |s| s.mean),
            m("ttft_ms", |s| s.p50),
            m("ttft_ms", |s| s.p99),
            m("tpot_ms", |s| s.mean),
            m("tpot_ms", |s| s.p99),
            m("e2e_ms", |s| s.mean),
            m("icl_ms", |s| s.mean),
            m("output_tokens", |s| s.mean),
        );
    }

    let _ = writeln!(md, "\n## Engine-reported figures and memory\n");
    let _ = writeln!(
        md,
        "| Engine | Mode | Engine decode TPS | Engine prefill TPS | Our prefill TPS | Wall ms | Peak RSS MiB | GPU MiB |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for g in &overall {
        let m = |n: &str| num(metric(g, n).map(|s| s.mean), 1);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            escape_text(&g.engine, true),
            g.mode.as_str(),
            m("engine_decode_tps"),
            m("engine_prefill_tps"),
            m("prefill_tps"),
            m("wall_ms"),
            m("rss_peak_mib"),
            m("gpu_mib"),
        );
    }

    let tiers: Vec<&GroupSummary> = doc.summaries.iter().filter(|g| g.tier != "all").collect();
    if !tiers.is_empty() {
        let _ = writeln!(md, "\n## By prompt tier\n");
        let _ = writeln!(
            md,
            "| Engine | Mode | Tier | n | Decode TPS mean | TTFT mean ms | E2E mean ms | Output tokens mean |\n|---|---|---|---:|---:|---:|---:|---:|"
        );
        for g in tiers {
            let m = |n: &str| num(metric(g, n).map(|s| s.mean), 2);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                escape_text(&g.engine, true),
                g.mode.as_str(),
                escape_text(&g.tier, true),
                g.ok,
                m("decode_tps"),
                m("ttft_ms"),
                m("e2e_ms"),
                m("output_tokens"),
            );
        }
    }

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
            for n in &e.notes {
                let _ = writeln!(md, "  - {}", escape_text(n, true));
            }
        }
    }

    let flagged: Vec<&RunRecord> = doc.runs.iter().filter(|r| !r.flags.is_empty()).collect();
    if !flagged.is_empty() {
        let _ = writeln!(md, "\n## Flags\n");
        for r in flagged {
            for f in &r.flags {
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
    }

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
    md
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
    let base = overall.first().and_then(|g| headline_tps(g));
    for g in overall {
        let tps = headline_tps(g);
        let rel = match (tps, base) {
            (Some(t), Some(b)) if b > 0.0 => format!("{:.2}x", t / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "{:<14} {:<4} {:>10} {:>9} {:>10} {:>10} {:>8}",
            g.engine,
            g.mode.as_str(),
            num(tps, 2),
            rel,
            num(metric(g, "ttft_ms").map(|s| s.mean), 2),
            num(metric(g, "tpot_ms").map(|s| s.mean), 3),
            format!("{}/{}", g.ok, g.runs)
        );
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
            summaries: crate::measure::summary::summarize_runs(&runs),
            runs,
            load: Vec::new(),
        }
    }

    #[test]
    fn relative_to_first_engine_and_escaped_output() {
        let mut a = crate::measure::summary::tests::rec("a", "short", true, 10.0);
        a.output_text = "<script>alert(1)</script> | x".into();
        let b = crate::measure::summary::tests::rec("b", "short", true, 25.0);
        let mut c = crate::measure::summary::tests::rec("b", "short", false, 0.0);
        c.error = Some("HTTP 500".into());
        let md = render(&doc(vec![a, b, c]));
        assert!(md.contains("| a | api | 10.00 | 1.00x | – | 1/1 |"), "{md}");
        assert!(md.contains("| b | api | 25.00 | 2.50x | – | 1/2 |"), "{md}");
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("&lt;script&gt;"), "{md}");
        assert!(md.contains("HTTP 500"), "{md}");
    }
}
