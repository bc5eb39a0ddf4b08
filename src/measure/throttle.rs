//! Throttling: CPU frequency and thermal zones from Linux sysfs, NVML's clock event
//! reasons, their summary over one run's window ([`summarize_clocks`], pure) and the rule
//! that calls a run throttled ([`throttle_reason`], pure).
//!
//! Where the figures come from:
//! - CPU frequency: `/sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq` (kHz) of every
//!   CPU, with its ceiling `cpuinfo_max_freq` (else `scaling_max_freq`). A VM or container
//!   often has no cpufreq at all: the reason says so.
//! - Temperatures: `/sys/class/thermal/thermal_zoneN/temp` (m°C) and `type`. A zone whose
//!   `temp` cannot be read (some report ENODATA) is skipped.
//! - GPU: NVML's SM clock, its maximum, and the clock event reason bits
//!   ([`gpu_reasons`] decodes them).
//!
//! The rule ([`throttle_reason`]): a run is throttled when
//! - any GPU reported a reason that lowers clocks under a limit: software power cap, HW
//!   slowdown, SW or HW thermal slowdown, HW power brake ([`LIMITING`]); idle, the
//!   application clock setting, sync boost and the display clock are not throttling; or
//! - the CPU's mean frequency over the window was below [`CPU_SLOW_SHARE`] of its maximum
//!   while the hottest thermal zone reached [`HOT_C`]. A low frequency alone is an idle or
//!   power-saving CPU, and heat alone a busy one: only both together say the CPU was held
//!   down by heat. (All-core turbo sits below the single-core maximum on many CPUs; the
//!   share leaves room for that.)

use super::gpu::Reading;
use crate::results::{ClockTelemetry, Flag, GpuClocks, RunTelemetry, THROTTLED, ZoneTemp};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the kernel lists the CPUs.
pub const CPU_ROOT: &str = "/sys/devices/system/cpu";
/// Where the kernel lists the thermal zones.
pub const THERMAL_ROOT: &str = "/sys/class/thermal";
/// A thermal zone at or above this, °C, is hot (laptop and desktop CPUs start to throttle
/// between 90 and 100 °C).
pub const HOT_C: f64 = 85.0;
/// A CPU whose mean frequency is below this share of its maximum while hot is throttled.
pub const CPU_SLOW_SHARE: f64 = 0.75;

/// NVML's clock event reason bits (`nvmlClocksEventReason*`), with our names.
pub const GPU_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// The reasons that mean a limit lowered the clocks.
pub const LIMITING: [&str; 5] = [
    "sw_power_cap",
    "hw_slowdown",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
];

/// The names of the reason bits set in `bits`, in bit order; a bit NVML may add later is
/// "unknown_0x…" (pure).
pub fn gpu_reasons(bits: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = bits;
    for (bit, name) in GPU_REASONS {
        if bits & bit != 0 {
            out.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("unknown_{rest:#x}"));
    }
    out
}

/// CPU frequency at one reading, MHz.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuFreq {
    /// Mean and lowest over CPUs.
    pub mean_mhz: f64,
    pub min_mhz: f64,
    /// The highest ceiling of any CPU, where given.
    pub max_mhz: Option<f64>,
}

/// One thermal zone's temperature at one reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub zone: String,
    pub kind: String,
    pub celsius: f64,
}

/// One reading of the host's clocks and temperatures; `None`: not sampled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostReading {
    pub cpu: Option<Result<CpuFreq, String>>,
    pub thermal: Option<Result<Vec<Zone>, String>>,
}

fn numbered<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn read_number(path: &Path) -> Option<f64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Every CPU's current frequency under `root` (normally [`CPU_ROOT`]), or why there is none.
pub fn read_cpu_freq(root: &Path) -> Result<CpuFreq, String> {
    let entries =
        std::fs::read_dir(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    let (mut cur, mut max) = (Vec::new(), Vec::new());
    for e in entries.flatten() {
        let name = e.file_name();
        if numbered(&name.to_string_lossy(), "cpu").is_none() {
            continue;
        }
        let dir = e.path().join("cpufreq");
        if let Some(khz) = read_number(&dir.join("scaling_cur_freq")) {
            cur.push(khz / 1000.0);
            if let Some(m) = read_number(&dir.join("cpuinfo_max_freq"))
                .or_else(|| read_number(&dir.join("scaling_max_freq")))
            {
                max.push(m / 1000.0);
            }
        }
    }
    if cur.is_empty() {
        return Err(format!(
            "no cpufreq: no cpuN/cpufreq/scaling_cur_freq under {} (a VM or a kernel \
             without a cpufreq driver)",
            root.display()
        ));
    }
    Ok(CpuFreq {
        mean_mhz: cur.iter().sum::<f64>() / cur.len() as f64,
        min_mhz: cur.iter().copied().fold(f64::INFINITY, f64::min),
        max_mhz: max.into_iter().reduce(f64::max),
    })
}

/// Every readable thermal zone under `root` (normally [`THERMAL_ROOT`]), by name, or why
/// there is none.
pub fn read_thermal(root: &Path) -> Result<Vec<Zone>, String> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| format!("no thermal zones: cannot read {}: {e}", root.display()))?;
    let mut zones: Vec<Zone> = entries
        .flatten()
        .filter_map(|e| {
            let zone = e.file_name().to_string_lossy().into_owned();
            numbered(&zone, "thermal_zone")?;
            let celsius = read_number(&e.path().join("temp"))? / 1000.0;
            let kind = std::fs::read_to_string(e.path().join("type"))
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            Some(Zone {
                zone,
                kind,
                celsius,
            })
        })
        .collect();
    if zones.is_empty() {
        return Err(format!(
            "no thermal zones: no readable thermal_zoneN/temp under {} (a VM or a container \
             without thermal drivers)",
            root.display()
        ));
    }
    zones.sort_by(|a, b| a.zone.cmp(&b.zone));
    Ok(zones)
}

/// The clocks and temperatures of one window from its readings (pure): each reading's
/// host side and GPU side (`None` where not sampled), with the reasons the sampler could
/// not sample a side at all. The throttling verdict is [`throttle_reason`]'s.
pub fn summarize_clocks(
    host: &[&HostReading],
    gpu: &[&Reading],
    cpu_none: Option<&str>,
    thermal_none: Option<&str>,
    gpu_none: Option<&str>,
) -> ClockTelemetry {
    let mut c = ClockTelemetry::default();
    let freqs: Vec<&CpuFreq> = host
        .iter()
        .filter_map(|h| h.cpu.as_ref()?.as_ref().ok())
        .collect();
    let first_err = |f: fn(&HostReading) -> Option<String>| host.iter().find_map(|h| f(h));
    if freqs.is_empty() {
        c.cpu_freq_reason = cpu_none
            .map(str::to_string)
            .or_else(|| first_err(|h| h.cpu.as_ref()?.as_ref().err().cloned()))
            .or_else(|| Some("no CPU frequency reading in the window".into()));
    } else {
        c.cpu_mhz_mean = Some(freqs.iter().map(|f| f.mean_mhz).sum::<f64>() / freqs.len() as f64);
        c.cpu_mhz_min = freqs.iter().map(|f| f.min_mhz).reduce(f64::min);
        c.cpu_mhz_max = freqs.iter().filter_map(|f| f.max_mhz).reduce(f64::max);
    }
    let mut hottest: BTreeMap<&str, ZoneTemp> = BTreeMap::new();
    for z in host
        .iter()
        .filter_map(|h| h.thermal.as_ref()?.as_ref().ok())
        .flatten()
    {
        let e = hottest.entry(&z.zone).or_insert_with(|| ZoneTemp {
            zone: z.zone.clone(),
            kind: z.kind.clone(),
            max_c: z.celsius,
        });
        e.max_c = e.max_c.max(z.celsius);
    }
    c.zones = hottest.into_values().collect();
    c.zones.sort_by(|a, b| b.max_c.total_cmp(&a.max_c));
    if c.zones.is_empty() {
        c.thermal_reason = thermal_none
            .map(str::to_string)
            .or_else(|| first_err(|h| h.thermal.as_ref()?.as_ref().err().cloned()))
            .or_else(|| Some("no thermal reading in the window".into()));
    }
    c.gpus = gpu_clocks(gpu);
    for g in &c.gpus {
        for r in &g.reasons {
            if !c.gpu_clock_reasons.contains(r) {
                c.gpu_clock_reasons.push(r.clone());
            }
        }
    }
    let order = |r: &String| {
        GPU_REASONS
            .iter()
            .position(|(_, n)| n == r)
            .unwrap_or(usize::MAX)
    };
    c.gpu_clock_reasons.sort_by_key(order);
    if c.gpus.iter().all(|g| g.sm_mhz_mean.is_none()) {
        c.gpu_clock_reason = Some(match gpu_none {
            Some(why) => why.to_string(),
            None if gpu.is_empty() => "no GPU reading in the window".into(),
            None => gpu
                .iter()
                .flat_map(|r| r.missing.iter())
                .find(|m| m.starts_with("SM clock"))
                .cloned()
                .unwrap_or_else(|| "no SM clock figure".into()),
        });
    }
    c.throttled = throttle_reason(&c);
    c
}

/// Each device's SM clock (mean, lowest, maximum) and the reasons it reported (pure).
fn gpu_clocks(readings: &[&Reading]) -> Vec<GpuClocks> {
    let mut by: BTreeMap<u32, (Vec<f64>, GpuClocks, u64)> = BTreeMap::new();
    for d in readings.iter().flat_map(|r| r.per_device.iter()) {
        let (clocks, g, bits) = by.entry(d.index).or_insert_with(|| {
            let g = GpuClocks {
                index: d.index,
                ..GpuClocks::default()
            };
            (Vec::new(), g, 0)
        });
        if let Some(mhz) = d.sm_clock_mhz {
            clocks.push(f64::from(mhz));
        }
        if let Some(m) = d.max_sm_clock_mhz {
            g.sm_mhz_max = Some(g.sm_mhz_max.unwrap_or(0.0).max(f64::from(m)));
        }
        *bits |= d.clock_reasons.unwrap_or(0);
    }
    by.into_values()
        .map(|(clocks, mut g, bits)| {
            if !clocks.is_empty() {
                g.sm_mhz_mean = Some(clocks.iter().sum::<f64>() / clocks.len() as f64);
                g.sm_mhz_min = clocks.iter().copied().reduce(f64::min);
            }
            g.reasons = gpu_reasons(bits);
            g
        })
        .collect()
}

/// Why a window counts as throttled, by the module's rule; `None` when it does not (pure).
pub fn throttle_reason(c: &ClockTelemetry) -> Option<String> {
    let mut why = Vec::new();
    let limiting: Vec<&str> = c
        .gpu_clock_reasons
        .iter()
        .map(String::as_str)
        .filter(|r| LIMITING.contains(r))
        .collect();
    if !limiting.is_empty() {
        why.push(format!("GPU clock event reasons: {}", limiting.join(", ")));
    }
    if let (Some(mean), Some(max), Some(hot)) = (c.cpu_mhz_mean, c.cpu_mhz_max, c.zones.first())
        && max > 0.0
        && hot.max_c >= HOT_C
        && mean < CPU_SLOW_SHARE * max
    {
        why.push(format!(
            "CPU at {mean:.0} MHz mean, {:.0}% of its {max:.0} MHz maximum, while {} ({}) \
             reached {:.0} °C",
            mean / max * 100.0,
            hot.zone,
            hot.kind,
            hot.max_c
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// The `throttled` flag of a run whose telemetry says so.
pub fn flag(t: &RunTelemetry) -> Option<Flag> {
    let why = t.clocks.as_ref()?.throttled.as_ref()?;
    Some(Flag {
        kind: THROTTLED.into(),
        message: format!("throttled: {why}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::gpu::DeviceReading;

    #[test]
    fn reason_bits_are_decoded_by_name_and_unknown_bits_kept() {
        assert!(gpu_reasons(0).is_empty());
        assert_eq!(gpu_reasons(0x1), vec!["gpu_idle"]);
        // SW power cap + HW thermal + HW slowdown (0x4 | 0x40 | 0x8).
        assert_eq!(
            gpu_reasons(0x4C),
            vec!["sw_power_cap", "hw_slowdown", "hw_thermal_slowdown"]
        );
        assert_eq!(
            gpu_reasons(0x132),
            vec![
                "applications_clocks_setting",
                "sync_boost",
                "sw_thermal_slowdown",
                "display_clock_setting"
            ]
        );
        assert_eq!(
            gpu_reasons(0x80 | 0x1000),
            vec!["hw_power_brake_slowdown", "unknown_0x1000"]
        );
    }

    fn cpu(mean: f64, max: f64, hot: f64) -> ClockTelemetry {
        ClockTelemetry {
            cpu_mhz_mean: Some(mean),
            cpu_mhz_max: Some(max),
            zones: vec![ZoneTemp {
                zone: "thermal_zone1".into(),
                kind: "x86_pkg_temp".into(),
                max_c: hot,
            }],
            ..ClockTelemetry::default()
        }
    }

    #[test]
    fn the_throttling_rule() {
        // Slow and hot: 2400 of 4000 MHz (60%) at 95 °C.
        assert_eq!(
            throttle_reason(&cpu(2400.0, 4000.0, 95.0)).as_deref(),
            Some(
                "CPU at 2400 MHz mean, 60% of its 4000 MHz maximum, while thermal_zone1 (x86_pkg_temp) reached 95 °C"
            )
        );
        // Idle clocks on a cool CPU, a hot CPU at full speed, the edges (75% is not
        // below 75%; 84.9 °C is not hot): none is throttling.
        assert_eq!(throttle_reason(&cpu(800.0, 4000.0, 45.0)), None);
        assert_eq!(throttle_reason(&cpu(3900.0, 4000.0, 97.0)), None);
        assert_eq!(throttle_reason(&cpu(3000.0, 4000.0, 95.0)), None);
        assert_eq!(throttle_reason(&cpu(2000.0, 4000.0, 84.9)), None);
        assert!(throttle_reason(&cpu(2999.0, 4000.0, 85.0)).is_some());
        // No temperature: never the CPU rule.
        let mut c = cpu(800.0, 4000.0, 99.0);
        c.zones.clear();
        assert_eq!(throttle_reason(&c), None);
        // GPU: only limiting reasons count; both sides are named.
        c.gpu_clock_reasons = vec!["gpu_idle".into(), "applications_clocks_setting".into()];
        assert_eq!(throttle_reason(&c), None);
        let mut both = cpu(2000.0, 4000.0, 90.0);
        both.gpu_clock_reasons = vec![
            "gpu_idle".into(),
            "sw_power_cap".into(),
            "hw_thermal_slowdown".into(),
        ];
        assert_eq!(
            throttle_reason(&both).as_deref(),
            Some(
                "GPU clock event reasons: sw_power_cap, hw_thermal_slowdown; CPU at 2000 MHz mean, 50% of its 4000 MHz maximum, while thermal_zone1 (x86_pkg_temp) reached 90 °C"
            )
        );
    }

    fn host(mean: f64, min: f64, zones: &[(&str, f64)]) -> HostReading {
        HostReading {
            cpu: Some(Ok(CpuFreq {
                mean_mhz: mean,
                min_mhz: min,
                max_mhz: Some(3500.0),
            })),
            thermal: Some(Ok(zones
                .iter()
                .map(|(z, c)| Zone {
                    zone: z.to_string(),
                    kind: format!("{z}-type"),
                    celsius: *c,
                })
                .collect())),
        }
    }

    fn gpu(clock: u32, bits: u64) -> Reading {
        Reading {
            devices: 1,
            per_device: vec![DeviceReading {
                index: 0,
                sm_clock_mhz: Some(clock),
                max_sm_clock_mhz: Some(1980),
                clock_reasons: Some(bits),
                ..DeviceReading::default()
            }],
            ..Reading::default()
        }
    }

    #[test]
    fn a_window_summarises_frequency_zones_clocks_and_reasons() {
        let h = [
            host(
                3000.0,
                2800.0,
                &[("thermal_zone0", 40.0), ("thermal_zone1", 70.0)],
            ),
            host(
                2000.0,
                1200.0,
                &[("thermal_zone0", 50.0), ("thermal_zone1", 60.0)],
            ),
        ];
        let g = [gpu(1980, 0x1), gpu(1500, 0x4), gpu(1620, 0x4)];
        let c = summarize_clocks(&[&h[0], &h[1]], &[&g[0], &g[1], &g[2]], None, None, None);
        assert_eq!(c.cpu_mhz_mean, Some(2500.0));
        assert_eq!(c.cpu_mhz_min, Some(1200.0));
        assert_eq!(c.cpu_mhz_max, Some(3500.0));
        assert_eq!(
            c.zones,
            vec![
                ZoneTemp {
                    zone: "thermal_zone1".into(),
                    kind: "thermal_zone1-type".into(),
                    max_c: 70.0
                },
                ZoneTemp {
                    zone: "thermal_zone0".into(),
                    kind: "thermal_zone0-type".into(),
                    max_c: 50.0
                },
            ]
        );
        assert_eq!(
            c.gpus,
            vec![GpuClocks {
                index: 0,
                sm_mhz_mean: Some(1700.0),
                sm_mhz_min: Some(1500.0),
                sm_mhz_max: Some(1980.0),
                reasons: vec!["gpu_idle".into(), "sw_power_cap".into()],
            }]
        );
        assert_eq!(c.gpu_clock_reasons, vec!["gpu_idle", "sw_power_cap"]);
        assert_eq!(
            c.throttled.as_deref(),
            Some("GPU clock event reasons: sw_power_cap")
        );
        assert_eq!(
            (c.cpu_freq_reason, c.thermal_reason, c.gpu_clock_reason),
            (None, None, None)
        );
    }

    #[test]
    fn nothing_sampled_gives_each_reason_not_a_failure() {
        let c = summarize_clocks(
            &[],
            &[],
            Some("no cpufreq: x"),
            Some("no thermal zones: y"),
            Some("no NVML"),
        );
        assert_eq!(c.cpu_freq_reason.as_deref(), Some("no cpufreq: x"));
        assert_eq!(c.thermal_reason.as_deref(), Some("no thermal zones: y"));
        assert_eq!(c.gpu_clock_reason.as_deref(), Some("no NVML"));
        assert_eq!((c.cpu_mhz_mean, c.throttled), (None, None));
        assert!(c.zones.is_empty() && c.gpus.is_empty());
    }

    #[test]
    fn sysfs_trees_are_read_and_their_absence_is_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let cpus = dir.path().join("cpu");
        for (i, cur) in [(0, "2000000"), (1, "3000000")] {
            let d = cpus.join(format!("cpu{i}/cpufreq"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("scaling_cur_freq"), format!("{cur}\n")).unwrap();
            std::fs::write(d.join("cpuinfo_max_freq"), "3500000\n").unwrap();
        }
        std::fs::create_dir_all(cpus.join("cpufreq")).unwrap();
        std::fs::create_dir_all(cpus.join("cpuidle")).unwrap();
        assert_eq!(
            read_cpu_freq(&cpus).unwrap(),
            CpuFreq {
                mean_mhz: 2500.0,
                min_mhz: 2000.0,
                max_mhz: Some(3500.0)
            }
        );
        let thermal = dir.path().join("thermal");
        for (z, kind, temp) in [
            ("thermal_zone0", "acpitz", Some("45000")),
            ("thermal_zone1", "x86_pkg_temp", Some("61500")),
            ("thermal_zone2", "iwlwifi_1", None),
        ] {
            let d = thermal.join(z);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("type"), format!("{kind}\n")).unwrap();
            if let Some(t) = temp {
                std::fs::write(d.join("temp"), t).unwrap();
            }
        }
        std::fs::create_dir_all(thermal.join("cooling_device0")).unwrap();
        let zones = read_thermal(&thermal).unwrap();
        assert_eq!(
            zones,
            vec![
                Zone {
                    zone: "thermal_zone0".into(),
                    kind: "acpitz".into(),
                    celsius: 45.0
                },
                Zone {
                    zone: "thermal_zone1".into(),
                    kind: "x86_pkg_temp".into(),
                    celsius: 61.5
                },
            ]
        );
        // An empty class directory (this project's VM) and a missing one are reasons.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(
            read_thermal(&empty)
                .unwrap_err()
                .starts_with("no thermal zones: no readable")
        );
        assert!(
            read_thermal(&dir.path().join("none"))
                .unwrap_err()
                .starts_with("no thermal zones: cannot read")
        );
        assert!(read_cpu_freq(&empty).unwrap_err().starts_with("no cpufreq"));
    }
}
