//! Throttling and drift in the result model: the clocks and temperatures of one run's
//! window ([`ClockTelemetry`], on `RunTelemetry::clocks`) and the trend test of one
//! engine's decode rate over its repeated runs ([`DriftTest`], on `GroupSummary::drift`).
//! Computed by `measure::throttle` and `measure::drift`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Flag kind of a run whose clocks were held down by power or heat (the rule is
/// `measure::throttle::throttle_reason`).
pub const THROTTLED: &str = "throttled";
/// Flag kind of an engine whose decode rate moved significantly over its repeated runs
/// (`measure::drift`).
pub const DRIFT: &str = "drift";

/// CPU frequency, thermal zones and GPU clocks over one window, each `None` (or empty)
/// with its reason where the host cannot give it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClockTelemetry {
    /// CPU frequency (`scaling_cur_freq`), MHz: the mean over CPUs, then over readings.
    pub cpu_mhz_mean: Option<f64>,
    /// The lowest frequency of any CPU at any reading, MHz.
    pub cpu_mhz_min: Option<f64>,
    /// The highest frequency the CPUs may run at (`cpuinfo_max_freq`, else
    /// `scaling_max_freq`), MHz.
    pub cpu_mhz_max: Option<f64>,
    /// Why there is no CPU frequency (no cpufreq in /sys: a VM, a container).
    pub cpu_freq_reason: Option<String>,
    /// Every thermal zone's highest temperature in the window, hottest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ZoneTemp>,
    /// Why there are no thermal readings (no /sys/class/thermal zone).
    pub thermal_reason: Option<String>,
    /// Each GPU's SM clock and clock event reasons over the window, by NVML index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuClocks>,
    /// Every clock event reason any GPU reported in the window (NVML's
    /// `nvmlClocksEventReason*`, snake_case: "sw_power_cap", "hw_thermal_slowdown", ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_clock_reasons: Vec<String>,
    /// Why there are no GPU clock figures (no NVML, a call the device does not support).
    pub gpu_clock_reason: Option<String>,
    /// Why this run counts as throttled; absent when it does not. The run then carries a
    /// `throttled` flag with the same text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled: Option<String>,
}

/// One thermal zone's highest temperature in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneTemp {
    /// The zone's directory, e.g. "thermal_zone0".
    pub zone: String,
    /// Its `type`, e.g. "x86_pkg_temp", "acpitz" (empty where unreadable).
    pub kind: String,
    /// °C.
    pub max_c: f64,
}

/// One GPU's clocks over a window; `None` where the device gave no such figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GpuClocks {
    /// NVML's device index.
    pub index: u32,
    /// SM clock, MHz, mean and lowest of the readings.
    pub sm_mhz_mean: Option<f64>,
    pub sm_mhz_min: Option<f64>,
    /// The device's maximum SM clock, MHz.
    pub sm_mhz_max: Option<f64>,
    /// Clock event reasons this device reported in the window (see
    /// `ClockTelemetry::gpu_clock_reasons`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// The Mann-Kendall trend test of one engine × mode's decode rate over its repeated runs
/// (successful, measured, sequential, in run order; stratified by prompt), and the size of
/// the change from the first third of each prompt's runs to the last third.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftTest {
    /// Runs tested.
    pub runs: usize,
    /// Prompts they were grouped by (each prompt's runs are tested in their own order).
    pub prompts: usize,
    /// Mann-Kendall S: concordant minus discordant pairs, summed over prompts.
    pub s: i64,
    /// Kendall's tau: S ÷ the number of pairs (−1: every later run slower).
    pub tau: f64,
    /// Two-sided p-value of S under no trend.
    pub p: f64,
    /// "exact" (the permutation distribution, no ties) or "normal" (the normal
    /// approximation with continuity and tie corrections).
    pub p_method: String,
    /// Mean decode rate of the first and the last third of each prompt's runs, tok/s.
    pub first_third_tps: f64,
    pub last_third_tps: f64,
    /// last ÷ first − 1, percent (negative: slower at the end).
    pub change_pct: f64,
    /// p below `measure::drift::ALPHA` and |change| at least `measure::drift::MIN_CHANGE_PCT`:
    /// the group carries a `drift` flag.
    pub drift: bool,
}
