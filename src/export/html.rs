//! A self-contained HTML report (pure: `&ResultsDoc → String`).
//!
//! One file with inline CSS and inline SVG charts ([`super::chart`]): no script, no
//! fonts, no network access needed to view it. Charts: output tok/s per engine and mode
//! (bars with the bootstrap interval of the mean), TTFT and TPOT distributions (box plots:
//! quartiles, Tukey whiskers at 1.5 IQR, points beyond them), and for load runs latency
//! against throughput across the steps and output tok/s per second, and the engine's own
//! metrics on each step's timeline (queue depth, running requests, KV cache, token rates),
//! each line named with its source.
//!
//! Every string that came from outside (model output, engine names, errors, notes,
//! environment, config) passes through [`esc`] before it reaches the page.

use crate::measure::inference::{Bootstrap, infer, mad_outliers};
use crate::measure::stats::summarize;
use crate::results::metric::{self, Metric};
use crate::results::{ResultsDoc, RunRecord};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::chart::*;
pub use super::escape_html as esc;

/// Runs whose output text is shown in full; the rest are in the JSON and CSV.
pub const MAX_RUNS_SHOWN: usize = 200;

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right;vertical-align:top}\
th{background:#f4f4f4}td.l,th.l{text-align:left}.bad{color:#b00}.flag{background:#fff4e0}\
pre{white-space:pre-wrap;word-break:break-word;background:#f8f8f8;padding:.5em;margin:.3em 0;max-width:900px}\
svg{display:block;margin:1em 0;max-width:100%;height:auto}.charts{display:flex;flex-wrap:wrap;gap:1em}\
.note{color:#555;font-size:.9em}";

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

fn est_cell(v: &[f64]) -> String {
    match infer(v, Bootstrap::default()) {
        None => "–".into(),
        Some(i) => format!(
            "{} <span class=\"note\">[{}, {}]</span>",
            num(Some(i.mean.value)),
            num(Some(i.mean.ci.lo)),
            num(Some(i.mean.ci.hi))
        ),
    }
}

fn summary_section(s: &mut String, doc: &ResultsDoc) {
    let groups = groups(&doc.runs);
    if groups.is_empty() {
        s.push_str("<p>No runs.</p>");
        return;
    }
    s.push_str("<h2>Summary</h2><p class=\"note\">Means with 95% percentile-bootstrap intervals (2000 resamples, fixed seed); outliers by median absolute deviation (modified z &gt; 3.5), counted, not removed.</p>");
    s.push_str("<table><tr><th class=\"l\">engine (mode)</th><th>runs</th><th>ok</th><th>failed</th><th>TTFT ms</th><th>TTFT p50 / p99</th><th>TPOT ms</th><th>TPOT p50 / p99</th><th>decode tok/s</th><th>e2e tok/s</th><th>outliers TTFT / TPOT</th></tr>");
    let mut notes = String::new();
    for (name, runs) in &groups {
        let ok = runs.iter().filter(|r| r.ok).count();
        // TTFT of replies in one lump holds the whole generation: marked, noted below.
        let lumps = runs
            .iter()
            .filter(|r| r.ok && r.ttft_holds_generation)
            .count() as u64;
        if lumps > 0 {
            let _ = write!(
                notes,
                "<p class=\"note\">{}</p>",
                esc(&super::lump_note(name, lumps, ok as u64))
            );
        }
        let ttft = values(runs, &metric::TTFT);
        let tpot = values(runs, &metric::TPOT);
        let pct = |v: &[f64]| match summarize(v) {
            Some(x) => format!("{} / {}", num(Some(x.p50)), num(Some(x.p99))),
            None => "–".into(),
        };
        let _ = write!(
            s,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td{}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
            esc(name),
            runs.len(),
            ok,
            if ok < runs.len() {
                " class=\"bad\""
            } else {
                ""
            },
            runs.len() - ok,
            super::lump_marked(est_cell(&ttft), lumps),
            super::lump_marked(pct(&ttft), lumps),
            est_cell(&tpot),
            pct(&tpot),
            est_cell(&values(runs, &metric::DECODE_TPS)),
            est_cell(&values(runs, &metric::E2E_TPS)),
            mad_outliers(&ttft).len(),
            mad_outliers(&tpot).len(),
        );
    }
    s.push_str("</table>");
    s.push_str(&notes);

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
    .collect();
    let series: Vec<BarSeries> = series
        .into_iter()
        .filter(|x| x.values.iter().any(Option::is_some))
        .collect();
    s.push_str("<div class=\"charts\">");
    s.push_str(&bar_chart(
        "Output tokens per second by engine and mode (mean, 95% CI)",
        "tok/s",
        &cats,
        &series,
    ));
    for m in [metric::TTFT, metric::TPOT] {
        let boxes: Vec<(String, BoxStats)> = groups
            .iter()
            .filter_map(|(n, r)| Some((n.clone(), box_stats(&values(r, &m))?)))
            .collect();
        if !boxes.is_empty() {
            s.push_str(&box_chart(
                &format!("{} distribution", m.label),
                m.unit.as_str(),
                &boxes,
            ));
        }
    }
    s.push_str("</div>");
}

fn load_section(s: &mut String, doc: &ResultsDoc) {
    if doc.load.is_empty() {
        return;
    }
    s.push_str("<h2>Load</h2><p class=\"note\">System output tok/s over the whole span and over the steady-state window (ramp-up before the N-th request starts and drain after the first of the last N requests ends are cut off). Latency from the actual send; “from scheduled” includes time queued in the client (coordinated omission). Goodput counts failed requests in the denominator.</p>");
    s.push_str("<table><tr><th class=\"l\">engine</th><th class=\"l\">step</th><th>requests</th><th>failed</th><th>out tok/s (span)</th><th>out tok/s (steady)</th><th>ramp-up / drain s</th><th>req/s</th><th>goodput</th><th>TTFT p50 / p99</th><th>TTFT p99 from scheduled</th><th>TPOT p50 / p99</th><th>send lag p99 ms</th><th>client CPU</th><th>connect ms</th></tr>");
    let mut notes = String::new();
    for st in &doc.load {
        let p = |m: &Metric| match st.metrics.get(m.name) {
            Some(x) => format!("{} / {}", num(Some(x.p50)), num(Some(x.p99))),
            None => "–".into(),
        };
        // TTFT of replies in one lump holds the whole generation: marked, noted below.
        let lumps = st.ttft_holds_generation;
        if lumps > 0 {
            let who = format!("{} {}", st.engine, st.step);
            let _ = write!(
                notes,
                "<p class=\"note\">{}</p>",
                esc(&super::lump_note(&who, lumps, st.ok))
            );
        }
        let good = match &st.goodput {
            Some(g) => format!(
                "{:.1}% ({}/{}), {} req/s",
                100.0 * g.fraction,
                g.good,
                g.total,
                num(Some(g.good_rps))
            ),
            None => "–".into(),
        };
        let _ = write!(
            s,
            "<tr{}><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if st.client.bottleneck {
                " class=\"flag\""
            } else {
                ""
            },
            esc(&st.engine),
            esc(&st.step),
            st.requests,
            st.failed,
            num(st.output_tps),
            num(st.output_tps_steady),
            num(st.ramp_up_s),
            num(st.drain_s),
            num(st.request_rps),
            esc(&good),
            super::lump_marked(p(&metric::TTFT), lumps),
            super::lump_marked(
                num(super::stat(
                    &st.metrics,
                    &metric::TTFT_SCHEDULED,
                    super::Stat::P99
                )),
                lumps
            ),
            p(&metric::TPOT),
            num(st.client.send_lag_ms.as_ref().map(|l| l.p99)),
            match st.client.cpu_cores {
                Some(c) => format!("{:.0}% of {}", 100.0 * c, st.client.cores_available),
                None => "–".into(),
            },
            num(st.connect_ms.as_ref().map(|c| c.mean)),
        );
    }
    s.push_str("</table>");
    s.push_str(&notes);

    // Latency against throughput: one line per engine and percentile.
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
    s.push_str("<div class=\"charts\">");
    for (m, title) in [
        (metric::TTFT, "TTFT against throughput"),
        (metric::TPOT, "TPOT against throughput"),
        (metric::E2E, "E2E latency against throughput"),
    ] {
        let series = series_for(&m);
        if !series.is_empty() {
            s.push_str(&xy_chart(
                title,
                "system output tok/s (steady state)",
                m.unit.as_str(),
                &series,
            ));
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
        s.push_str(&xy_chart(
            "Output tokens per second over time",
            "seconds from the step's start",
            "tok/s",
            &timeline,
        ));
    }
    s.push_str("</div>");
}

/// Reasoning models, only when a run reasoned: time to first token (the first reasoning
/// token) beside time to first answer token, and the reasoning tokens.
fn reasoning_section(s: &mut String, doc: &ResultsDoc) {
    let groups: Vec<_> = groups(&doc.runs)
        .into_iter()
        .filter(|(_, runs)| runs.iter().any(|r| r.reasoning_tokens.is_some()))
        .collect();
    if groups.is_empty() {
        return;
    }
    s.push_str("<h2>Reasoning</h2><p class=\"note\">Runs whose stream carried reasoning (a reasoning field of its own, or a &lt;think&gt; block). TTFT is the first token of any kind; the answer starts at the first answer token. Reasoning tokens are the server's count where it gives one, else the reasoning events.</p><table><tr><th class=\"l\">engine</th><th>runs that reasoned</th><th>TTFT mean ms</th><th>first answer token mean ms</th><th>reasoning tokens mean</th><th>output tokens mean</th></tr>");
    for (name, runs) in groups {
        let reasoned: Vec<&RunRecord> = runs
            .iter()
            .copied()
            .filter(|r| r.reasoning_tokens.is_some())
            .collect();
        let mean = |m: &Metric| crate::measure::stats::mean(&values(&reasoned, m));
        let _ = write!(
            s,
            "<tr><td class=\"l\">{}</td><td>{} of {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&name),
            reasoned.len(),
            runs.len(),
            num(mean(&metric::TTFT)),
            num(mean(&metric::TTFT_ANSWER)),
            num(mean(&metric::REASONING_TOKENS)),
            num(mean(&metric::OUTPUT_TOKENS)),
        );
    }
    s.push_str("</table>");
}

/// The engine's own metrics on each step's timeline: one chart per unit (requests
/// waiting and running; KV cache; token rates), every line named with its source, then
/// the server-side latency histograms and what could not be scraped.
fn server_metrics_section(s: &mut String, doc: &ResultsDoc) {
    let steps: Vec<_> = doc
        .load
        .iter()
        .filter_map(|st| st.server_metrics.as_ref().map(|m| (st, m)))
        .collect();
    if steps.is_empty() {
        return;
    }
    s.push_str("<h2>Server metrics</h2><p class=\"note\">What each engine said about itself while a step ran, scraped at a fixed interval on the step's clock (seconds from its start, as the timeline above). Gauges as read; counters as rates between two scrapes; histograms over the step (the difference between its first and last scrape, quantiles interpolated inside the engine's buckets).</p>");
    for (st, m) in steps {
        let _ = write!(
            s,
            "<h3>{} {}</h3><p class=\"note\">{} scrapes every {} s{}{}</p>",
            esc(&st.engine),
            esc(&st.step),
            m.scrapes,
            num(Some(m.interval_s)),
            if m.failed_scrapes > 0 {
                format!(", {} failed", m.failed_scrapes)
            } else {
                String::new()
            },
            match &m.note {
                Some(n) => format!("; {}", esc(n)),
                None => String::new(),
            }
        );
        let mut units: Vec<&str> = Vec::new();
        for x in &m.series {
            if !units.contains(&x.unit.as_str()) {
                units.push(&x.unit);
            }
        }
        if !units.is_empty() {
            s.push_str("<div class=\"charts\">");
            for unit in &units {
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
                s.push_str(&xy_chart(
                    &format!("{} {}: {what}", st.engine, st.step),
                    "seconds from the step's start",
                    unit,
                    &series,
                ));
            }
            s.push_str("</div>");
            s.push_str("<table><tr><th class=\"l\">series</th><th class=\"l\">source</th><th class=\"l\">read</th><th>points</th><th>min</th><th>max</th></tr>");
            for x in &m.series {
                let vals = x.points.iter().map(|p| p.value);
                let min = vals.clone().fold(f64::INFINITY, f64::min);
                let max = vals.fold(f64::NEG_INFINITY, f64::max);
                let _ = write!(
                    s,
                    "<tr><td class=\"l\">{}</td><td class=\"l\">{} at {}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&x.label),
                    esc(&x.metric),
                    esc(&x.endpoint),
                    esc(&x.read),
                    x.points.len(),
                    num(Some(min)),
                    num(Some(max))
                );
            }
            s.push_str("</table>");
        }
        if !m.histograms.is_empty() {
            s.push_str("<table><tr><th class=\"l\">server histogram</th><th class=\"l\">source</th><th>count</th><th>mean ms</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th></tr>");
            for h in &m.histograms {
                let _ = write!(
                    s,
                    "<tr><td class=\"l\">{}</td><td class=\"l\">{} at {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&h.label),
                    esc(&h.metric),
                    esc(&h.endpoint),
                    num(Some(h.count)),
                    num(h.mean_ms),
                    num(h.p50_ms),
                    num(h.p90_ms),
                    num(h.p99_ms)
                );
            }
            s.push_str("</table>");
        }
    }
}

fn flags_section(s: &mut String, doc: &ResultsDoc) {
    let mut lines: Vec<String> = Vec::new();
    for st in &doc.load {
        for f in &st.flags {
            lines.push(format!(
                "<li><b>{}</b> {} {}: {}</li>",
                esc(&f.kind),
                esc(&st.engine),
                esc(&st.step),
                esc(&f.message)
            ));
        }
    }
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &doc.runs {
        for f in &r.flags {
            *seen
                .entry((
                    format!("{} ({})", r.engine, r.mode.as_str()),
                    f.kind.clone(),
                ))
                .or_default() += 1;
        }
    }
    for ((g, kind), n) in &seen {
        let example = doc
            .runs
            .iter()
            .flat_map(|r| r.flags.iter())
            .find(|f| &f.kind == kind)
            .map(|f| f.message.as_str())
            .unwrap_or("");
        lines.push(format!(
            "<li><b>{}</b> {} ({} runs): {}</li>",
            esc(kind),
            esc(g),
            n,
            esc(example)
        ));
    }
    if !lines.is_empty() {
        s.push_str("<h2>Flags</h2><ul>");
        for l in lines {
            s.push_str(&l);
        }
        s.push_str("</ul>");
    }
}

fn runs_section(s: &mut String, doc: &ResultsDoc) {
    let _ = write!(
        s,
        "<h2>Runs</h2><p class=\"note\">{} runs{}. Model output is shown as plain text.</p>",
        doc.runs.len(),
        if doc.runs.len() > MAX_RUNS_SHOWN {
            format!("; the first {MAX_RUNS_SHOWN} are listed here, all are in the JSON and CSV")
        } else {
            String::new()
        }
    );
    s.push_str("<table><tr><th class=\"l\">engine</th><th class=\"l\">mode</th><th class=\"l\">step</th><th class=\"l\">prompt</th><th>run</th><th>ok</th><th>TTFT ms</th><th>TPOT ms</th><th>E2E ms</th><th>tokens</th><th>decode tok/s</th><th class=\"l\">output / error</th></tr>");
    for r in doc.runs.iter().take(MAX_RUNS_SHOWN) {
        let body = match &r.error {
            Some(e) => format!("<span class=\"bad\">{}</span>", esc(e)),
            None => format!(
                "<details><summary>{} chars</summary><pre>{}</pre></details>",
                r.output_text.chars().count(),
                esc(&r.output_text)
            ),
        };
        let _ = write!(
            s,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{} ({})</td><td>{}{}</td><td{}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(&r.engine),
            r.mode.as_str(),
            esc(r.load_step.as_deref().unwrap_or("")),
            esc(&r.prompt_id),
            esc(&r.tier),
            r.run_index,
            if r.warmup { " (warm-up)" } else { "" },
            if r.ok { "" } else { " class=\"bad\"" },
            if r.ok { "yes" } else { "no" },
            super::lump_marked(num(r.ttft_ms), u64::from(r.ttft_holds_generation)),
            num(r.tpot_ms),
            num(r.e2e_ms),
            r.output_tokens.map(|n| n.to_string()).unwrap_or("–".into()),
            num(r.decode_tps),
            body
        );
    }
    s.push_str("</table>");
}

fn header_section(s: &mut String, doc: &ResultsDoc) {
    let e = &doc.environment;
    let _ = write!(
        s,
        "<h1>inferbench report: {} mode</h1><table><tr><th class=\"l\">started</th><td class=\"l\">{}</td></tr><tr><th class=\"l\">finished</th><td class=\"l\">{}</td></tr><tr><th class=\"l\">tool</th><td class=\"l\">{}</td></tr><tr><th class=\"l\">machine</th><td class=\"l\">{} {} ({}), {}, {} cores, {:.1} GiB{}</td></tr></table>",
        doc.mode.as_str(),
        esc(&doc.started_at),
        esc(&doc.finished_at),
        esc(&doc.tool),
        esc(&e.os),
        esc(e.kernel.as_deref().unwrap_or("")),
        esc(&e.arch),
        esc(&e.cpu_model),
        e.cores,
        e.memory_gib,
        if e.gpus.is_empty() {
            String::new()
        } else {
            format!(", GPUs: {}", esc(&e.gpus.join(", ")))
        }
    );
    if !doc.engines.is_empty() {
        s.push_str("<h2>Engines</h2><table><tr><th class=\"l\">engine</th><th class=\"l\">kind</th><th class=\"l\">URL</th><th>load ms</th><th class=\"l\">template</th><th class=\"l\">fairness / notes</th></tr>");
        for en in &doc.engines {
            let mut notes: Vec<String> = en.fairness.iter().cloned().collect();
            notes.extend(super::engine_settings_line(en).map(|l| format!("settings: {l}")));
            notes.extend(en.notes.iter().cloned());
            let _ = write!(
                s,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                esc(&en.engine),
                esc(&en.kind),
                esc(en.base_url.as_deref().unwrap_or("")),
                num(en.load_ms),
                esc(en.template.as_deref().unwrap_or("")),
                esc(&notes.join("; "))
            );
        }
        s.push_str("</table>");
    }
}

/// The whole report.
pub fn render(doc: &ResultsDoc) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>inferbench report {}</title><style>{CSS}</style></head><body>",
        esc(&doc.started_at)
    );
    header_section(&mut s, doc);
    summary_section(&mut s, doc);
    s.push_str(&super::parity::html(doc));
    reasoning_section(&mut s, doc);
    load_section(&mut s, doc);
    s.push_str(&super::search::html(doc));
    s.push_str(&super::input_sweep::html(doc));
    server_metrics_section(&mut s, doc);
    s.push_str(&super::energy::html(doc));
    flags_section(&mut s, doc);
    runs_section(&mut s, doc);
    let config = serde_json::to_string_pretty(&doc.config).unwrap_or_default();
    let _ = writeln!(
        s,
        "<h2>Configuration</h2><details><summary>effective settings</summary><pre>{}</pre></details></body></html>",
        esc(&config)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
