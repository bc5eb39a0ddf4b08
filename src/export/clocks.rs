//! Clocks, temperatures and drift in the reports (pure): one line per engine × mode with
//! its CPU frequency, hottest thermal zone, GPU SM clock and clock event reasons over its
//! runs (each run's window is `RunTelemetry::clocks`), how many runs were throttled, and
//! the drift test of its decode rate (`GroupSummary::drift`).

use super::escape_text;
use crate::results::{ClockTelemetry, GroupSummary, Mode, ResultsDoc};
use std::fmt::Write;

/// One engine × mode's clocks over its measured runs, in words (not escaped).
pub fn engine_line(runs: &[&ClockTelemetry]) -> String {
    let mean = |f: fn(&ClockTelemetry) -> Option<f64>| {
        let v: Vec<f64> = runs.iter().filter_map(|c| f(c)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let low =
        |f: fn(&ClockTelemetry) -> Option<f64>| runs.iter().filter_map(|c| f(c)).reduce(f64::min);
    let high =
        |f: fn(&ClockTelemetry) -> Option<f64>| runs.iter().filter_map(|c| f(c)).reduce(f64::max);
    let first_reason = |f: fn(&ClockTelemetry) -> Option<&String>| {
        runs.iter()
            .find_map(|c| f(c))
            .map_or("not sampled".to_string(), |s| s.clone())
    };
    let mut parts = Vec::new();
    parts.push(match mean(|c| c.cpu_mhz_mean) {
        Some(m) => {
            let max =
                high(|c| c.cpu_mhz_max).map_or(String::new(), |x| format!(" of {x:.0} MHz max"));
            format!(
                "CPU {m:.0} MHz mean, lowest {:.0}{max}",
                low(|c| c.cpu_mhz_min).unwrap_or(m)
            )
        }
        None => format!(
            "CPU frequency – ({})",
            first_reason(|c| c.cpu_freq_reason.as_ref())
        ),
    });
    let hottest = runs
        .iter()
        .filter_map(|c| c.zones.first())
        .max_by(|a, b| a.max_c.total_cmp(&b.max_c));
    parts.push(match hottest {
        Some(z) => format!("hottest zone {} {:.0} °C ({})", z.kind, z.max_c, z.zone),
        None => format!(
            "temperature – ({})",
            first_reason(|c| c.thermal_reason.as_ref())
        ),
    });
    let sm_mean = |c: &ClockTelemetry| {
        let v: Vec<f64> = c.gpus.iter().filter_map(|g| g.sm_mhz_mean).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let sm_min = |c: &ClockTelemetry| c.gpus.iter().filter_map(|g| g.sm_mhz_min).reduce(f64::min);
    let sm_max = |c: &ClockTelemetry| c.gpus.iter().filter_map(|g| g.sm_mhz_max).reduce(f64::max);
    parts.push(match mean(sm_mean) {
        Some(m) => {
            let max = high(sm_max).map_or(String::new(), |x| format!(" of {x:.0} MHz max"));
            let mut reasons: Vec<(String, usize)> = Vec::new();
            for r in runs.iter().flat_map(|c| c.gpu_clock_reasons.iter()) {
                match reasons.iter_mut().find(|(n, _)| n == r) {
                    Some((_, k)) => *k += 1,
                    None => reasons.push((r.clone(), 1)),
                }
            }
            let reasons = if reasons.is_empty() {
                "none".to_string()
            } else {
                let each: Vec<String> = reasons
                    .iter()
                    .map(|(r, k)| format!("{r} ({k} runs)"))
                    .collect();
                each.join(", ")
            };
            format!(
                "GPU SM clock {m:.0} MHz mean, lowest {:.0}{max}; GPU clock reasons: {reasons}",
                low(sm_min).unwrap_or(m)
            )
        }
        None => format!(
            "GPU clocks – ({})",
            first_reason(|c| c.gpu_clock_reason.as_ref())
        ),
    });
    let throttled = runs.iter().filter(|c| c.throttled.is_some()).count();
    parts.push(format!("throttled in {throttled} of {} runs", runs.len()));
    parts.join("; ")
}

/// The drift test of one group in Markdown (escaped): the flag's message where it found
/// drift, else what it saw.
pub fn drift_line(g: &GroupSummary) -> Option<String> {
    let d = g.drift.as_ref()?;
    Some(
        match g.flags.iter().find(|f| f.kind == crate::results::DRIFT) {
            Some(f) => format!("**drift**: {}", escape_text(&f.message, true)),
            None => escape_text(
                &format!(
                    "no drift: decode {:+.1}% from the first third of the runs to the last ({} runs; Kendall tau {:.2}, {}, {})",
                    d.change_pct,
                    d.runs,
                    d.tau,
                    crate::measure::drift::p_text(d.p),
                    d.p_method
                ),
                true,
            ),
        },
    )
}

/// "## Clocks, temperature and drift": a line per engine × mode with clock readings or
/// a drift test; empty when there is neither.
pub fn markdown(doc: &ResultsDoc) -> String {
    let mut keys: Vec<(&str, Mode)> = Vec::new();
    for r in &doc.runs {
        if !keys.contains(&(r.engine.as_str(), r.mode)) {
            keys.push((r.engine.as_str(), r.mode));
        }
    }
    let mut lines = Vec::new();
    for (engine, mode) in keys {
        let clocks: Vec<&ClockTelemetry> = doc
            .runs
            .iter()
            .filter(|r| r.engine == engine && r.mode == mode && !r.warmup && r.load_step.is_none())
            .filter_map(|r| r.telemetry.as_ref()?.clocks.as_ref())
            .collect();
        let group = doc
            .summaries
            .iter()
            .find(|g| g.engine == engine && g.mode == mode && g.tier == "all");
        let mut parts = Vec::new();
        if !clocks.is_empty() {
            parts.push(escape_text(&engine_line(&clocks), true));
        }
        if let Some(d) = group.and_then(drift_line) {
            parts.push(d);
        }
        if !parts.is_empty() {
            lines.push(format!(
                "- {} {}: {}",
                escape_text(engine, true),
                mode.as_str(),
                parts.join(". ")
            ));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    let mut md = String::from("\n## Clocks, temperature and drift\n\n");
    for l in lines {
        let _ = writeln!(md, "{l}");
    }
    let _ = writeln!(
        md,
        "\nA run is flagged `throttled` when a GPU reported a limiting clock event reason (power cap, thermal or HW slowdown, power brake), or the CPU ran below {:.0}% of its maximum frequency while a thermal zone reached {:.0} °C. An engine is flagged `drift` when its decode rate trends over its runs (Mann-Kendall over each prompt's runs in order, p < {}) by at least {:.0}% from the first third to the last.",
        crate::measure::throttle::CPU_SLOW_SHARE * 100.0,
        crate::measure::throttle::HOT_C,
        crate::measure::drift::ALPHA,
        crate::measure::drift::MIN_CHANGE_PCT,
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{GpuClocks, ZoneTemp};

    #[test]
    fn one_line_per_engine_with_every_reading_or_its_reason() {
        let hot = ClockTelemetry {
            cpu_mhz_mean: Some(2000.0),
            cpu_mhz_min: Some(1800.0),
            cpu_mhz_max: Some(3500.0),
            zones: vec![ZoneTemp {
                zone: "thermal_zone1".into(),
                kind: "x86_pkg_temp".into(),
                max_c: 91.0,
            }],
            gpus: vec![GpuClocks {
                index: 0,
                sm_mhz_mean: Some(1500.0),
                sm_mhz_min: Some(1410.0),
                sm_mhz_max: Some(1980.0),
                reasons: vec!["sw_power_cap".into()],
            }],
            gpu_clock_reasons: vec!["sw_power_cap".into()],
            throttled: Some("x".into()),
            ..ClockTelemetry::default()
        };
        let cool = ClockTelemetry {
            cpu_mhz_mean: Some(3000.0),
            cpu_mhz_min: Some(2900.0),
            cpu_mhz_max: Some(3500.0),
            zones: vec![ZoneTemp {
                zone: "thermal_zone1".into(),
                kind: "x86_pkg_temp".into(),
                max_c: 60.0,
            }],
            gpus: vec![GpuClocks {
                index: 0,
                sm_mhz_mean: Some(1980.0),
                sm_mhz_min: Some(1980.0),
                sm_mhz_max: Some(1980.0),
                reasons: vec![],
            }],
            ..ClockTelemetry::default()
        };
        assert_eq!(
            engine_line(&[&hot, &cool]),
            "CPU 2500 MHz mean, lowest 1800 of 3500 MHz max; hottest zone x86_pkg_temp 91 °C (thermal_zone1); GPU SM clock 1740 MHz mean, lowest 1410 of 1980 MHz max; GPU clock reasons: sw_power_cap (1 runs); throttled in 1 of 2 runs"
        );
        let bare = ClockTelemetry {
            cpu_freq_reason: Some("no cpufreq: a".into()),
            thermal_reason: Some("no thermal zones: b".into()),
            gpu_clock_reason: Some("no NVIDIA driver library (NVML): c".into()),
            ..ClockTelemetry::default()
        };
        assert_eq!(
            engine_line(&[&bare]),
            "CPU frequency – (no cpufreq: a); temperature – (no thermal zones: b); GPU clocks – (no NVIDIA driver library (NVML): c); throttled in 0 of 1 runs"
        );
    }
}
