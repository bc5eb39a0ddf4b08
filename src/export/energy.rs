//! The "GPU, power and energy" part of the Markdown and HTML reports (pure): per engine
//! and mode, the GPU memory it holds (and how that was measured), GPU utilisation and
//! power over its runs, energy per output token on the GPU and the CPU, where the energy
//! came from, and why a figure is "–"; one row per load step; then the bandwidth behind
//! each engine's roofline with every candidate figure. Where more than one GPU has a
//! figure, a line per row gives it per device ("GPU memory per device: 0: 12,345 MiB,
//! 1: 12,001 MiB (sum 24,346)"); with one GPU or none nothing more is written.

use super::escape_html as esc;
use super::escape_text;
use crate::results::{EngineInfo, GpuRunTelemetry, Mode, ResultsDoc, RunTelemetry};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub engine: String,
    /// "api", "cli", or a load step ("c=16").
    pub scope: String,
    pub gpu_memory: String,
    pub gpu_util_mean_pct: Option<f64>,
    pub gpu_power_mean_w: Option<f64>,
    pub gpu_power_max_w: Option<f64>,
    pub gpu_j_per_token: Option<f64>,
    pub cpu_j_per_token: Option<f64>,
    pub energy_from: String,
    pub reasons: Vec<String>,
    /// Per-device figures, one part per figure that more than one GPU has ("GPU memory
    /// per device: 0: 12,345 MiB, 1: 12,001 MiB (sum 24,346)"); empty otherwise.
    pub per_gpu: Vec<String>,
}

/// `x` rounded to a whole number with thousands separators: 24346.4 → "24,346".
fn thousands(x: f64) -> String {
    let r = x.round();
    let digits = format!("{:.0}", r.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if r < 0.0 { format!("-{out}") } else { out }
}

/// "label: 0: v0, 1: v1 (sum s)" where at least two devices have a figure; `None` else.
fn per_device_part(
    label: &str,
    values: &[(u32, f64)],
    fmt: fn(f64) -> String,
    unit: &str,
    with_sum: bool,
) -> Option<String> {
    if values.len() < 2 {
        return None;
    }
    let list: Vec<String> = values
        .iter()
        .map(|(i, v)| format!("{i}: {}{unit}", fmt(*v)))
        .collect();
    let sum = if with_sum {
        format!(" (sum {})", fmt(values.iter().map(|(_, v)| v).sum()))
    } else {
        String::new()
    };
    Some(format!("{label}: {}{sum}", list.join(", ")))
}

/// The per-device parts of a row (pure): the engine's GPU memory per device (as
/// measured after load), then over the runs' per-GPU telemetry the engine's peak, the
/// peak memory in use, mean power and mean utilisation per device (means over the runs
/// that have the figure, peaks the highest).
fn per_gpu_parts(info: Option<&EngineInfo>, tel: &[&RunTelemetry]) -> Vec<String> {
    let mut out = Vec::new();
    let mem: Vec<(u32, f64)> = info
        .and_then(|e| e.gpu_memory.as_ref())
        .map(|m| m.per_gpu.iter().map(|d| (d.index, d.mib)).collect())
        .unwrap_or_default();
    out.extend(per_device_part(
        "GPU memory per device",
        &mem,
        thousands,
        " MiB",
        true,
    ));
    let mut by: BTreeMap<u32, Vec<&GpuRunTelemetry>> = BTreeMap::new();
    for g in tel.iter().flat_map(|t| t.gpus.iter()) {
        by.entry(g.index).or_default().push(g);
    }
    let figure = |f: fn(&GpuRunTelemetry) -> Option<f64>, peak: bool| -> Vec<(u32, f64)> {
        by.iter()
            .filter_map(|(i, gs)| {
                let v: Vec<f64> = gs.iter().filter_map(|g| f(g)).collect();
                if v.is_empty() {
                    None
                } else if peak {
                    v.iter().copied().reduce(f64::max).map(|m| (*i, m))
                } else {
                    Some((*i, v.iter().sum::<f64>() / v.len() as f64))
                }
            })
            .collect()
    };
    let one = |x: f64| format!("{x:.1}");
    let whole = |x: f64| format!("{x:.0}");
    out.extend(per_device_part(
        "engine peak per device",
        &figure(|g| g.engine_max_mib, true),
        thousands,
        " MiB",
        true,
    ));
    out.extend(per_device_part(
        "memory in use peak per device",
        &figure(|g| g.used_max_mib, true),
        thousands,
        " MiB",
        false,
    ));
    out.extend(per_device_part(
        "power mean per device",
        &figure(|g| g.power_mean_w, false),
        one,
        " W",
        true,
    ));
    out.extend(per_device_part(
        "GPU util mean per device",
        &figure(|g| g.util_mean_pct, false),
        whole,
        " %",
        false,
    ));
    out
}

fn num(x: Option<f64>, prec: usize) -> String {
    match x {
        Some(v) => format!("{v:.prec$}"),
        None => "–".into(),
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !s.is_empty() && !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

fn engine_of<'a>(doc: &'a ResultsDoc, engine: &str, mode: Mode) -> Option<&'a EngineInfo> {
    doc.engines
        .iter()
        .find(|e| e.engine == engine && e.mode.is_none_or(|m| m == mode))
}

fn gpu_memory_cell(e: Option<&EngineInfo>, reasons: &mut Vec<String>) -> String {
    match e.and_then(|e| e.gpu_memory.as_ref()) {
        Some(m) => {
            if let Some(r) = &m.reason {
                push_unique(reasons, &format!("GPU memory: {r}"));
            }
            match (m.mib, &m.source) {
                (Some(mib), Some(src)) => format!("{mib:.0} ({src})"),
                (Some(mib), None) => format!("{mib:.0}"),
                _ => "–".into(),
            }
        }
        None => "–".into(),
    }
}

fn add_reasons(t: &RunTelemetry, reasons: &mut Vec<String>, sources: &mut Vec<String>) {
    if let Some(r) = &t.gpu_reason {
        push_unique(reasons, &format!("GPU: {r}"));
    }
    if let Some(r) = &t.cpu_reason {
        push_unique(reasons, &format!("CPU: {r}"));
    }
    if let Some(s) = &t.gpu_energy_source {
        // "power integral (12 readings)" → one source name for the row.
        let name = s.split(" (").next().unwrap_or(s);
        push_unique(sources, name);
    }
    if t.cpu_energy_j.is_some() {
        push_unique(sources, "RAPL");
    }
}

/// Every row (pure): one per engine × mode with runs or an engine entry, then one per
/// load step with telemetry.
pub fn rows(doc: &ResultsDoc) -> Vec<Row> {
    let mut keys: Vec<(String, Mode)> = Vec::new();
    for e in doc.engines.iter().filter(|e| e.left_out.is_none()) {
        let k = (e.engine.clone(), e.mode.unwrap_or(doc.mode));
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for r in &doc.runs {
        let k = (r.engine.clone(), r.mode);
        if r.load_step.is_none() && !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out = Vec::new();
    for (engine, mode) in keys {
        let tel: Vec<&RunTelemetry> = doc
            .runs
            .iter()
            .filter(|r| r.engine == engine && r.mode == mode && r.ok && !r.warmup)
            .filter(|r| r.load_step.is_none())
            .filter_map(|r| r.telemetry.as_ref())
            .collect();
        let info = engine_of(doc, &engine, mode);
        if tel.is_empty() && info.is_none_or(|e| e.gpu_memory.is_none()) {
            continue;
        }
        let mut reasons = Vec::new();
        let mut sources = Vec::new();
        let gpu_memory = gpu_memory_cell(info, &mut reasons);
        for t in &tel {
            add_reasons(t, &mut reasons, &mut sources);
        }
        let [gpu_jpt, cpu_jpt, power, util] =
            crate::measure::telemetry::mean_over(tel.iter().copied());
        let power_max = tel
            .iter()
            .filter_map(|t| t.gpu_power_max_w)
            .reduce(f64::max);
        let per_gpu = per_gpu_parts(info, &tel);
        out.push(Row {
            engine,
            scope: mode.as_str().to_string(),
            gpu_memory,
            gpu_util_mean_pct: util,
            gpu_power_mean_w: power,
            gpu_power_max_w: power_max,
            gpu_j_per_token: gpu_jpt,
            cpu_j_per_token: cpu_jpt,
            energy_from: if sources.is_empty() {
                "–".into()
            } else {
                sources.join(", ")
            },
            reasons,
            per_gpu,
        });
    }
    for st in &doc.load {
        let Some(t) = &st.telemetry else {
            continue;
        };
        let mut reasons = Vec::new();
        let mut sources = Vec::new();
        let info = engine_of(doc, &st.engine, Mode::Api);
        let gpu_memory = gpu_memory_cell(info, &mut reasons);
        add_reasons(t, &mut reasons, &mut sources);
        let per_gpu = per_gpu_parts(info, &[t]);
        out.push(Row {
            engine: st.engine.clone(),
            scope: st.step.clone(),
            gpu_memory,
            gpu_util_mean_pct: t.gpu_util_mean_pct,
            gpu_power_mean_w: t.gpu_power_mean_w,
            gpu_power_max_w: t.gpu_power_max_w,
            gpu_j_per_token: t.gpu_j_per_token,
            cpu_j_per_token: t.cpu_j_per_token,
            energy_from: if sources.is_empty() {
                "–".into()
            } else {
                sources.join(", ")
            },
            reasons,
            per_gpu,
        });
    }
    out
}

/// "engine scope: part; part" for every row with per-device figures.
fn per_gpu_lines(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| !r.per_gpu.is_empty())
        .map(|r| format!("{} {}: {}", r.engine, r.scope, r.per_gpu.join("; ")))
        .collect()
}

/// What a report writes after "% of roofline" for an engine: "of 4190 GB/s measured D2D
/// copy"; `None` where the engine has no bandwidth report.
pub fn roofline_label<'a>(doc: &'a ResultsDoc, engine: &str, mode: Mode) -> Option<&'a str> {
    engine_of(doc, engine, mode)
        .and_then(|e| e.bandwidth.as_ref())
        .map(|b| b.label.as_str())
        .filter(|l| !l.is_empty())
}

fn bandwidth_lines(doc: &ResultsDoc) -> Vec<String> {
    let mut out = Vec::new();
    for e in &doc.engines {
        let Some(b) = &e.bandwidth else {
            continue;
        };
        let mut parts = vec![format!(
            "roofline {} ({}: {})",
            if b.label.is_empty() { "–" } else { &b.label },
            if b.used.is_empty() { "none" } else { &b.used },
            b.why
        )];
        if b.gpu.is_some() || b.peak_nvml_note.is_some() {
            parts.push(format!(
                "NVML peak {} GB/s ({})",
                num(b.peak_nvml_gbps, 0),
                b.peak_nvml_note.as_deref().unwrap_or("–")
            ));
            parts.push(format!(
                "measured D2D copy {} GB/s ({})",
                num(b.measured_d2d_gbps, 0),
                b.measured_d2d_note.as_deref().unwrap_or("–")
            ));
        }
        if let Some(h) = b.host_gbps {
            parts.push(format!("host {h:.1} GB/s"));
        }
        out.push(format!("{}: {}", e.engine, parts.join("; ")));
    }
    out
}

/// The Markdown section; empty when no engine or run carries any of it.
pub fn markdown(doc: &ResultsDoc) -> String {
    let rows = rows(doc);
    let bw = bandwidth_lines(doc);
    if rows.is_empty() && bw.is_empty() {
        return String::new();
    }
    let mut md = String::new();
    let _ = writeln!(md, "\n## GPU, power and energy\n");
    if !rows.is_empty() {
        let _ = writeln!(
            md,
            "| Engine | Mode / step | GPU memory MiB | GPU util mean % | GPU power mean W | GPU power max W | GPU J/token | CPU J/token | Energy from |\n|---|---|---:|---:|---:|---:|---:|---:|---|"
        );
        for r in &rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                escape_text(&r.engine, true),
                escape_text(&r.scope, true),
                escape_text(&r.gpu_memory, true),
                num(r.gpu_util_mean_pct, 0),
                num(r.gpu_power_mean_w, 1),
                num(r.gpu_power_max_w, 1),
                num(r.gpu_j_per_token, 3),
                num(r.cpu_j_per_token, 3),
                escape_text(&r.energy_from, true),
            );
        }
        let _ = writeln!(
            md,
            "\nPower and energy are the whole device's (summed over every GPU NVML sees) during each run (API: the request; CLI: the whole process, model load included; a load step: its span, warm-up included), per output token. Energy from the NVML energy counter where the GPU has one, else the integral of sampled power; CPU from RAPL package counters."
        );
        let per_gpu = per_gpu_lines(&rows);
        if !per_gpu.is_empty() {
            let _ = writeln!(md, "\nPer GPU (NVML index):\n");
            for l in per_gpu {
                let _ = writeln!(md, "- {}", escape_text(&l, true));
            }
        }
        let why: Vec<String> = rows
            .iter()
            .flat_map(|r| {
                r.reasons
                    .iter()
                    .map(move |x| format!("{} {}: {x}", r.engine, r.scope))
            })
            .collect();
        if !why.is_empty() {
            let _ = writeln!(md, "\nWhy a figure is –:\n");
            for w in why {
                let _ = writeln!(md, "- {}", escape_text(&w, true));
            }
        }
    }
    if !bw.is_empty() {
        let _ = writeln!(md, "\nMemory bandwidth behind each roofline:\n");
        for l in bw {
            let _ = writeln!(md, "- {}", escape_text(&l, true));
        }
    }
    md
}

/// The HTML section; empty when no engine or run carries any of it.
pub fn html(doc: &ResultsDoc) -> String {
    let rows = rows(doc);
    let bw = bandwidth_lines(doc);
    if rows.is_empty() && bw.is_empty() {
        return String::new();
    }
    let mut s = String::from("<h2>GPU, power and energy</h2>");
    if !rows.is_empty() {
        s.push_str("<p class=\"note\">Whole-device power and energy during each run (API: the request; CLI: the whole process, model load included; a load step: its span), per output token: NVML energy counter where present, else the integral of sampled power; CPU from RAPL.</p><table><tr><th class=\"l\">engine</th><th class=\"l\">mode / step</th><th>GPU memory MiB</th><th>GPU util mean %</th><th>GPU power mean W</th><th>GPU power max W</th><th>GPU J/token</th><th>CPU J/token</th><th class=\"l\">energy from</th><th class=\"l\">why –</th></tr>");
        for r in &rows {
            let _ = write!(
                s,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                esc(&r.engine),
                esc(&r.scope),
                esc(&r.gpu_memory),
                num(r.gpu_util_mean_pct, 0),
                num(r.gpu_power_mean_w, 1),
                num(r.gpu_power_max_w, 1),
                num(r.gpu_j_per_token, 3),
                num(r.cpu_j_per_token, 3),
                esc(&r.energy_from),
                esc(&r.reasons.join("; ")),
            );
        }
        s.push_str("</table>");
        let per_gpu = per_gpu_lines(&rows);
        if !per_gpu.is_empty() {
            s.push_str("<p class=\"note\">Per GPU (NVML index):</p><ul>");
            for l in per_gpu {
                let _ = write!(s, "<li>{}</li>", esc(&l));
            }
            s.push_str("</ul>");
        }
    }
    if !bw.is_empty() {
        s.push_str("<p class=\"note\">Memory bandwidth behind each roofline:</p><ul>");
        for l in bw {
            let _ = write!(s, "<li>{}</li>", esc(&l));
        }
        s.push_str("</ul>");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{BandwidthReport, Environment, GpuDeviceMemory, GpuMemory};

    fn doc() -> ResultsDoc {
        use crate::export::summary::tests::rec;
        let mut a = rec("llamacpp", "short", true, 400.0);
        a.output_tokens = Some(100);
        a.telemetry = Some(RunTelemetry {
            window_s: 0.25,
            gpu_samples: 4,
            gpu_util_mean_pct: Some(80.0),
            gpu_util_max_pct: Some(95.0),
            gpu_power_mean_w: Some(300.0),
            gpu_power_max_w: Some(350.0),
            gpu_energy_j: Some(75.0),
            gpu_energy_source: Some("nvml energy counter".into()),
            gpu_j_per_token: Some(0.75),
            cpu_reason: Some("no RAPL: cannot read /sys/class/powercap".into()),
            output_tokens: Some(100),
            ..RunTelemetry::default()
        });
        let mut b = a.clone();
        if let Some(t) = b.telemetry.as_mut() {
            t.gpu_j_per_token = Some(0.25);
            t.gpu_power_mean_w = Some(100.0);
            t.gpu_power_max_w = Some(500.0);
        }
        let mut warm = a.clone();
        warm.warmup = true;
        if let Some(t) = warm.telemetry.as_mut() {
            t.gpu_j_per_token = Some(100.0);
        }
        // From JSON, so the document's optional parts keep their defaults.
        let mut d: ResultsDoc = serde_json::from_value(serde_json::json!({
            "schema_version": crate::results::SCHEMA_VERSION,
            "tool": "inferbench",
            "mode": "api",
            "started_at": "s",
            "finished_at": "f",
            "environment": Environment::default(),
            "config": {},
            "engines": [],
            "runs": [],
            "summaries": [],
        }))
        .expect("a results document");
        d.engines = vec![EngineInfo {
            engine: "llamacpp".into(),
            kind: "llamacpp".into(),
            mode: Some(Mode::Api),
            gpu_memory: Some(GpuMemory {
                mib: Some(812.0),
                source: Some("device delta".into()),
                reason: Some("NVML lists no memory for the engine's processes".into()),
                per_gpu: Vec::new(),
            }),
            bandwidth: Some(BandwidthReport {
                gpu: Some("NVIDIA H200".into()),
                peak_nvml_gbps: Some(4800.0),
                peak_nvml_note: Some(
                    "NVML peak 4800 GB/s = 3125 MHz × 2 (DDR) × 6144 bit ÷ 8".into(),
                ),
                measured_d2d_gbps: Some(4190.0),
                measured_d2d_note: Some("torch copy".into()),
                used: "measured_d2d".into(),
                why: "measured".into(),
                label: "of 4190 GB/s measured D2D copy".into(),
                ..Default::default()
            }),
            ..Default::default()
        }];
        d.runs = vec![a, b, warm];
        d
    }

    #[test]
    fn rows_average_measured_runs_and_keep_the_reasons() {
        let d = doc();
        let r = rows(&d);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!((r.engine.as_str(), r.scope.as_str()), ("llamacpp", "api"));
        assert_eq!(r.gpu_memory, "812 (device delta)");
        // The warm-up's 100 J/token is left out: (0.75 + 0.25) / 2.
        assert_eq!(r.gpu_j_per_token, Some(0.5));
        assert_eq!(r.gpu_power_mean_w, Some(200.0));
        assert_eq!(r.gpu_power_max_w, Some(500.0));
        assert_eq!(r.cpu_j_per_token, None);
        assert_eq!(r.energy_from, "nvml energy counter");
        assert!(
            r.reasons.iter().any(|x| x.starts_with("CPU: no RAPL")),
            "{:?}",
            r.reasons
        );
        assert_eq!(
            roofline_label(&d, "llamacpp", Mode::Api),
            Some("of 4190 GB/s measured D2D copy")
        );
        let md = markdown(&d);
        assert!(md.contains("| llamacpp | api | 812 (device delta) | 80 | 200.0 | 500.0 | 0.500 | – | nvml energy counter |"), "{md}");
        assert!(md.contains("measured D2D copy 4190 GB/s"), "{md}");
        let html = html(&d);
        assert!(
            html.contains("<td>0.500</td>") && html.contains("no RAPL"),
            "{html}"
        );
    }

    fn gpu(index: u32, power: f64, util: f64, used: Option<f64>) -> GpuRunTelemetry {
        GpuRunTelemetry {
            index,
            power_mean_w: Some(power),
            util_mean_pct: Some(util),
            used_max_mib: used,
            engine_max_mib: None,
        }
    }

    /// `doc()` with the engine on two GPUs: its memory per device, and each run's
    /// per-GPU telemetry (the warm-up's is left out of the means).
    fn two_gpu_doc() -> ResultsDoc {
        let mut d = doc();
        if let Some(m) = d.engines[0].gpu_memory.as_mut() {
            m.mib = Some(24_346.0);
            m.source = Some("nvml per process".into());
            m.reason = None;
            m.per_gpu = vec![
                GpuDeviceMemory {
                    index: 0,
                    mib: 12_345.0,
                },
                GpuDeviceMemory {
                    index: 1,
                    mib: 12_001.0,
                },
            ];
        }
        let per_run = [
            vec![
                gpu(0, 200.0, 90.0, Some(13_000.0)),
                gpu(1, 100.0, 70.0, None),
            ],
            vec![
                gpu(0, 100.0, 80.0, Some(14_000.0)),
                gpu(1, 50.0, 60.0, None),
            ],
            vec![gpu(0, 900.0, 0.0, Some(99_000.0)), gpu(1, 900.0, 0.0, None)],
        ];
        for (r, g) in d.runs.iter_mut().zip(per_run) {
            if let Some(t) = r.telemetry.as_mut() {
                t.gpus = g;
            }
        }
        d
    }

    #[test]
    fn two_gpus_get_their_figures_per_device_and_their_sums() {
        let d = two_gpu_doc();
        let r = &rows(&d)[0];
        assert_eq!(r.gpu_memory, "24346 (nvml per process)");
        // Memory in use is known for device 0 only: no per-device part for it.
        assert_eq!(
            r.per_gpu,
            vec![
                "GPU memory per device: 0: 12,345 MiB, 1: 12,001 MiB (sum 24,346)".to_string(),
                "power mean per device: 0: 150.0 W, 1: 75.0 W (sum 225.0)".to_string(),
                "GPU util mean per device: 0: 85 %, 1: 65 %".to_string(),
            ]
        );
        let md = markdown(&d);
        assert!(
            md.contains("\nPer GPU (NVML index):\n\n- llamacpp api: GPU memory per device: 0: 12,345 MiB, 1: 12,001 MiB (sum 24,346); power mean per device: 0: 150.0 W, 1: 75.0 W (sum 225.0); GPU util mean per device: 0: 85 %, 1: 65 %\n"),
            "{md}"
        );
        let html = html(&d);
        assert!(
            html.contains("<p class=\"note\">Per GPU (NVML index):</p><ul><li>llamacpp api: GPU memory per device: 0: 12,345 MiB"),
            "{html}"
        );
    }

    #[test]
    fn one_gpu_adds_nothing_to_the_reports() {
        let mut d = two_gpu_doc();
        if let Some(m) = d.engines[0].gpu_memory.as_mut() {
            m.per_gpu.truncate(1);
        }
        for r in &mut d.runs {
            if let Some(t) = r.telemetry.as_mut() {
                t.gpus.truncate(1);
            }
        }
        assert!(rows(&d)[0].per_gpu.is_empty());
        let md = markdown(&d);
        let html = html(&d);
        assert!(!md.contains("Per GPU") && !html.contains("Per GPU"), "{md}");
        // The same reports as without any per-device figure.
        if let Some(m) = d.engines[0].gpu_memory.as_mut() {
            m.per_gpu.clear();
        }
        for r in &mut d.runs {
            if let Some(t) = r.telemetry.as_mut() {
                t.gpus.clear();
            }
        }
        assert_eq!((markdown(&d), super::html(&d)), (md, html));
    }

    #[test]
    fn thousands_groups_whole_numbers() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(24_346.0), "24,346");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(-12_345.0), "-12,345");
    }

    #[test]
    fn nothing_to_say_renders_nothing() {
        let mut d = doc();
        d.engines.clear();
        d.runs.iter_mut().for_each(|r| r.telemetry = None);
        assert_eq!(markdown(&d), "");
        assert_eq!(html(&d), "");
    }
}
