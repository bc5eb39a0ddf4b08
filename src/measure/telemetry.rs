//! GPU and CPU telemetry beside every run: a background thread reads every GPU (power,
//! utilisation, energy counter, memory in use; [`super::gpu::read_all`]) and the RAPL
//! package counters ([`super::rapl`]) every interval, and [`TelemetrySampler::window`]
//! turns the readings of one run into a [`RunTelemetry`] through the pure [`summarize`].
//! Both ends of a window are read synchronously, so even a run shorter than the interval
//! has two readings.
//!
//! Energy of the GPU: the driver's energy counter (mJ since the driver loaded; Volta and
//! newer) at the window's end minus at its start, where every device has one; else the
//! trapezoid ∫ power dt over the readings (at least two), named in `gpu_energy_source`.
//! Power and energy are summed over all devices NVML sees (the whole board draw, idle
//! devices included); with more than one engine resident on one GPU, the figures are the
//! device's, not one engine's.
//!
//! Each device's own figures are kept too ([`Reading::per_device`]) and summarised per
//! device into `RunTelemetry::gpus` (mean power and utilisation, peak memory in use, and
//! the engine's peak where the sampler knows its pids: [`TelemetrySampler::set_engine_pids`]).
//!
//! Without a GPU or RAPL nothing is sampled: the window carries the reasons and no figure.
//!
//! The same readings carry the clocks and temperatures ([`super::throttle`]): each GPU's
//! SM clock and clock event reasons, and, from sysfs where the host has them, every CPU's
//! frequency and every thermal zone; the window summarises them into
//! `RunTelemetry::clocks` with the throttling verdict.

use super::gpu::{self, GpuSource, Reading};
use super::rapl::{self, Zone};
use super::throttle::{self, HostReading};
use crate::results::{GpuDeviceMemory, GpuRunTelemetry, RunTelemetry};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Readings kept (about 5.5 hours at 10 per second); older ones are dropped.
pub const MAX_SAMPLES: usize = 200_000;
/// Default interval between readings.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

const MIB: f64 = 1024.0 * 1024.0;

/// One reading, `t_s` seconds after the sampler started.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub t_s: f64,
    /// `None`: no GPU; `Some(Err)`: this reading failed.
    pub gpu: Option<Result<Reading, String>>,
    pub cpu: Option<Result<Vec<Zone>, String>>,
    /// CPU frequency and thermal zones (`None`: neither sampled).
    pub host: Option<HostReading>,
}

/// The window's figures from its readings (pure). `samples` are those of the window,
/// in time order; `gpu_none` and `cpu_none` say why a side was not sampled at all.
pub fn summarize(
    samples: &[Sample],
    output_tokens: Option<u64>,
    gpu_none: Option<&str>,
    cpu_none: Option<&str>,
) -> RunTelemetry {
    let mut t = RunTelemetry {
        output_tokens,
        window_s: match (samples.first(), samples.last()) {
            (Some(a), Some(b)) => (b.t_s - a.t_s).max(0.0),
            _ => 0.0,
        },
        ..RunTelemetry::default()
    };
    let per_token = |j: Option<f64>| match (j, output_tokens) {
        (Some(j), Some(n)) if n > 0 => Some(j / n as f64),
        _ => None,
    };

    // GPU.
    let mut reasons: Vec<String> = Vec::new();
    let push = |r: &mut Vec<String>, s: String| {
        if !r.contains(&s) {
            r.push(s);
        }
    };
    let mut gpu: Vec<(f64, &Reading)> = Vec::new();
    for s in samples {
        match &s.gpu {
            Some(Ok(r)) => {
                gpu.push((s.t_s, r));
                for m in &r.missing {
                    push(&mut reasons, m.clone());
                }
            }
            Some(Err(e)) => push(&mut reasons, e.clone()),
            None => {}
        }
    }
    t.gpu_samples = gpu.len() as u64;
    let power: Vec<(f64, f64)> = gpu
        .iter()
        .filter_map(|(ts, r)| r.power_mw.map(|p| (*ts, p as f64 / 1000.0)))
        .collect();
    (t.gpu_power_mean_w, t.gpu_power_max_w) = mean_max(power.iter().map(|(_, w)| *w));
    (t.gpu_util_mean_pct, t.gpu_util_max_pct) =
        mean_max(gpu.iter().filter_map(|(_, r)| r.gpu_util_pct));
    t.gpu_used_max_mib = gpu
        .iter()
        .filter_map(|(_, r)| r.used_bytes)
        .max()
        .map(|b| b as f64 / MIB);
    let counter = match (gpu.first(), gpu.last()) {
        (Some((t0, a)), Some((t1, b))) if t1 > t0 => match (a.energy_mj, b.energy_mj) {
            (Some(x), Some(y)) if y >= x && a.devices == b.devices => Some((y - x) as f64 / 1000.0),
            _ => None,
        },
        _ => None,
    };
    if let Some(j) = counter {
        t.gpu_energy_j = Some(j);
        t.gpu_energy_source = Some("nvml energy counter".into());
    } else if power.len() >= 2 {
        let j: f64 = power
            .windows(2)
            .map(|w| (w[0].1 + w[1].1) / 2.0 * (w[1].0 - w[0].0))
            .sum();
        t.gpu_energy_j = Some(j);
        t.gpu_energy_source = Some(format!("power integral ({} readings)", power.len()));
    } else if !gpu.is_empty() {
        push(
            &mut reasons,
            "energy: neither an energy counter nor two power readings in the window".into(),
        );
    }
    t.gpus = per_gpu(gpu.iter().map(|(_, r)| *r));
    t.gpu_j_per_token = per_token(t.gpu_energy_j);
    if t.gpu_energy_j.is_some() && t.gpu_j_per_token.is_none() {
        push(&mut reasons, "J/token: no output tokens".into());
    }
    if let Some(why) = gpu_none {
        push(&mut reasons, why.to_string());
    } else if gpu.is_empty() && reasons.is_empty() {
        push(&mut reasons, "no GPU reading in the window".into());
    }
    t.gpu_reason = (!reasons.is_empty()).then(|| reasons.join("; "));

    // CPU.
    let zones: Vec<&Vec<Zone>> = samples
        .iter()
        .filter_map(|s| s.cpu.as_ref()?.as_ref().ok())
        .collect();
    let cpu_err = samples
        .iter()
        .find_map(|s| s.cpu.as_ref()?.as_ref().err().cloned());
    t.cpu_energy_j = match (zones.first(), zones.last()) {
        (Some(a), Some(b)) if zones.len() >= 2 => rapl::energy_between_j(a, b),
        _ => None,
    };
    t.cpu_j_per_token = per_token(t.cpu_energy_j);
    t.cpu_reason = if let Some(why) = cpu_none {
        Some(why.to_string())
    } else if let Some(e) = cpu_err.filter(|_| t.cpu_energy_j.is_none()) {
        Some(e)
    } else if t.cpu_energy_j.is_none() {
        Some("fewer than two RAPL readings, or the zones changed".into())
    } else if t.cpu_j_per_token.is_none() {
        Some("J/token: no output tokens".into())
    } else {
        None
    };
    t
}

/// Each device's figures over `readings` (pure), by NVML index: every index any reading
/// lists; a figure is the mean (power, utilisation) or the highest (memory) of the
/// readings where that device gave it.
pub fn per_gpu<'a>(readings: impl Iterator<Item = &'a Reading>) -> Vec<GpuRunTelemetry> {
    #[derive(Default)]
    struct Acc {
        power_w: Vec<f64>,
        util: Vec<f64>,
        used: Option<u64>,
        engine: Option<u64>,
    }
    let mut by: BTreeMap<u32, Acc> = BTreeMap::new();
    for d in readings.flat_map(|r| r.per_device.iter()) {
        let a = by.entry(d.index).or_default();
        if let Some(p) = d.power_mw {
            a.power_w.push(f64::from(p) / 1000.0);
        }
        if let Some(u) = d.gpu_util_pct {
            a.util.push(f64::from(u));
        }
        a.used = a.used.max(d.used_bytes);
        a.engine = a.engine.max(d.pids_bytes);
    }
    by.into_iter()
        .map(|(index, a)| GpuRunTelemetry {
            index,
            power_mean_w: mean_max(a.power_w.into_iter()).0,
            util_mean_pct: mean_max(a.util.into_iter()).0,
            used_max_mib: a.used.map(|b| b as f64 / MIB),
            engine_max_mib: a.engine.map(|b| b as f64 / MIB),
        })
        .collect()
}

/// The given pids' memory on each device of `r` where NVML listed them with a figure,
/// MiB, by index (pure): `GpuMemory::per_gpu` of an engine measured per process.
pub fn pids_mib_per_device(r: &Reading) -> Vec<GpuDeviceMemory> {
    r.per_device
        .iter()
        .filter_map(|d| {
            d.pids_bytes.map(|b| GpuDeviceMemory {
                index: d.index,
                mib: b as f64 / MIB,
            })
        })
        .collect()
}

fn mean_max(values: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (None, None);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (Some(mean), v.iter().copied().reduce(f64::max))
}

/// Mean of each per-token figure over runs that have it (pure): (GPU J/token, CPU
/// J/token, GPU mean power W, GPU mean utilisation %).
pub fn mean_over<'a>(runs: impl Iterator<Item = &'a RunTelemetry> + Clone) -> [Option<f64>; 4] {
    let mean = |f: fn(&RunTelemetry) -> Option<f64>| {
        let v: Vec<f64> = runs.clone().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    [
        mean(|t| t.gpu_j_per_token),
        mean(|t| t.cpu_j_per_token),
        mean(|t| t.gpu_power_mean_w),
        mean(|t| t.gpu_util_mean_pct),
    ]
}

struct Inner {
    gpu: Option<Arc<dyn GpuSource>>,
    gpu_none: Option<String>,
    rapl_root: Option<PathBuf>,
    cpu_none: Option<String>,
    /// The sysfs CPU tree with cpufreq, or why it is not sampled.
    freq_root: Result<PathBuf, String>,
    /// The sysfs thermal class with readable zones, or why it is not sampled.
    thermal_root: Result<PathBuf, String>,
    origin: Instant,
    samples: Mutex<VecDeque<Sample>>,
    /// The engine's pids each GPU reading asks for (none: no per-process figures).
    engine_pids: Mutex<Vec<u32>>,
}

impl Inner {
    fn read(&self) -> Sample {
        Sample {
            t_s: self.origin.elapsed().as_secs_f64(),
            gpu: self.gpu.as_ref().map(|g| {
                let pids = self
                    .engine_pids
                    .lock()
                    .map(|p| p.clone())
                    .unwrap_or_default();
                gpu::read_all(g.as_ref(), &pids)
            }),
            cpu: self.rapl_root.as_ref().map(|r| rapl::read_zones(r)),
            host: self.samples_host().then(|| HostReading {
                cpu: self
                    .freq_root
                    .as_ref()
                    .ok()
                    .map(|r| throttle::read_cpu_freq(r)),
                thermal: self
                    .thermal_root
                    .as_ref()
                    .ok()
                    .map(|r| throttle::read_thermal(r)),
            }),
        }
    }

    fn samples_host(&self) -> bool {
        self.freq_root.is_ok() || self.thermal_root.is_ok()
    }

    fn sample(&self) -> f64 {
        let s = self.read();
        let t = s.t_s;
        if let Ok(mut q) = self.samples.lock() {
            if q.len() >= MAX_SAMPLES {
                q.pop_front();
            }
            q.push_back(s);
        }
        t
    }
}

/// The process's one sampler of this host's NVML and RAPL ([`TelemetrySampler::start_default`]),
/// started on first use: NVML is loaded once, and every engine and run reads the same
/// counters.
pub fn shared() -> &'static TelemetrySampler {
    static SHARED: std::sync::OnceLock<TelemetrySampler> = std::sync::OnceLock::new();
    SHARED.get_or_init(TelemetrySampler::start_default)
}

/// Where a window starts ([`TelemetrySampler::mark`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark(f64);

/// Reads GPU and CPU counters in the background until dropped.
pub struct TelemetrySampler {
    inner: Arc<Inner>,
    /// Dropped to stop the thread at once (it waits on the channel between readings).
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TelemetrySampler {
    /// Sample `gpu` (or the reason there is none) and the RAPL tree at `rapl_root` every
    /// `interval`. A RAPL tree that cannot be read at start is not sampled again (its
    /// reason is kept). Without either, no thread is started. CPU frequency and thermal
    /// zones are not sampled ([`TelemetrySampler::start_with_host`] does).
    pub fn start(
        gpu: Result<Arc<dyn GpuSource>, String>,
        rapl_root: PathBuf,
        interval: Duration,
    ) -> TelemetrySampler {
        let not = || Err("not sampled by this sampler".to_string());
        TelemetrySampler::start_with_host(gpu, rapl_root, not(), not(), interval)
    }

    /// As [`TelemetrySampler::start`], and also the CPU frequency under `cpu_root` and
    /// the thermal zones under `thermal_root` (sysfs, or a test's tree); a tree that
    /// cannot be read at start is not sampled again, and its reason is kept.
    pub fn start_with_host(
        gpu: Result<Arc<dyn GpuSource>, String>,
        rapl_root: PathBuf,
        cpu_root: Result<PathBuf, String>,
        thermal_root: Result<PathBuf, String>,
        interval: Duration,
    ) -> TelemetrySampler {
        let freq_root = cpu_root.and_then(|r| throttle::read_cpu_freq(&r).map(|_| r));
        let thermal_root = thermal_root.and_then(|r| throttle::read_thermal(&r).map(|_| r));
        let (gpu, gpu_none) = match gpu {
            Ok(g) => match g.device_count() {
                Ok(n) if n > 0 => (Some(g), None),
                Ok(_) => (None, Some("NVML sees no device".to_string())),
                Err(e) => (None, Some(format!("NVML device count: {e}"))),
            },
            Err(e) => (None, Some(e)),
        };
        let (rapl_root, cpu_none) = match rapl::read_zones(&rapl_root) {
            Ok(_) => (Some(rapl_root), None),
            Err(e) => (None, Some(e)),
        };
        let inner = Arc::new(Inner {
            gpu,
            gpu_none,
            rapl_root,
            cpu_none,
            freq_root,
            thermal_root,
            origin: Instant::now(),
            samples: Mutex::new(VecDeque::new()),
            engine_pids: Mutex::new(Vec::new()),
        });
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let thread = if inner.gpu.is_some() || inner.rapl_root.is_some() || inner.samples_host() {
            let i2 = inner.clone();
            std::thread::Builder::new()
                .name("inferbench-telemetry".into())
                .spawn(move || {
                    loop {
                        i2.sample();
                        match rx.recv_timeout(interval) {
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                            _ => break,
                        }
                    }
                })
                .ok()
        } else {
            None
        };
        TelemetrySampler {
            inner,
            stop: Some(stop),
            thread,
        }
    }

    /// NVML of this host, its RAPL tree, CPU frequency and thermal zones, every
    /// [`DEFAULT_INTERVAL`].
    pub fn start_default() -> TelemetrySampler {
        let gpu = gpu::Nvml::open().map(|n| Arc::new(n) as Arc<dyn GpuSource>);
        TelemetrySampler::start_with_host(
            gpu,
            PathBuf::from(rapl::POWERCAP_ROOT),
            Ok(PathBuf::from(throttle::CPU_ROOT)),
            Ok(PathBuf::from(throttle::THERMAL_ROOT)),
            DEFAULT_INTERVAL,
        )
    }

    /// The pids whose memory every later GPU reading counts, per device
    /// (`GpuRunTelemetry::engine_max_mib`); empty (the default): none.
    pub fn set_engine_pids(&self, pids: &[u32]) {
        if let Ok(mut p) = self.inner.engine_pids.lock() {
            *p = pids.to_vec();
        }
    }

    /// Whether anything is sampled at all.
    pub fn is_sampling(&self) -> bool {
        self.inner.gpu.is_some() || self.inner.rapl_root.is_some() || self.inner.samples_host()
    }

    /// Start a window: read now.
    pub fn mark(&self) -> Mark {
        if self.is_sampling() {
            Mark(self.inner.sample())
        } else {
            Mark(self.inner.origin.elapsed().as_secs_f64())
        }
    }

    /// The figures from `since` to now (read now first), per output token where given.
    pub fn window(&self, since: Mark, output_tokens: Option<u64>) -> RunTelemetry {
        let end = if self.is_sampling() {
            self.inner.sample()
        } else {
            self.inner.origin.elapsed().as_secs_f64()
        };
        let samples: Vec<Sample> = self
            .inner
            .samples
            .lock()
            .map(|q| {
                q.iter()
                    .filter(|s| s.t_s >= since.0 && s.t_s <= end)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut t = summarize(
            &samples,
            output_tokens,
            self.inner.gpu_none.as_deref(),
            self.inner.cpu_none.as_deref(),
        );
        let host: Vec<&HostReading> = samples.iter().filter_map(|s| s.host.as_ref()).collect();
        let gpu: Vec<&Reading> = samples
            .iter()
            .filter_map(|s| s.gpu.as_ref()?.as_ref().ok())
            .collect();
        t.clocks = Some(throttle::summarize_clocks(
            &host,
            &gpu,
            self.inner.freq_root.as_ref().err().map(String::as_str),
            self.inner.thermal_root.as_ref().err().map(String::as_str),
            self.inner.gpu_none.as_deref(),
        ));
        t.window_s = (end - since.0).max(0.0);
        t
    }

    /// Device memory in use now, bytes (all devices), or why not.
    pub fn device_used_bytes(&self) -> Result<u64, String> {
        let g = self
            .inner
            .gpu
            .as_ref()
            .ok_or_else(|| self.inner.gpu_none.clone().unwrap_or_default())?;
        gpu::read_all(g.as_ref(), &[])?
            .used_bytes
            .ok_or_else(|| "NVML gives no memory figure".to_string())
    }

    /// The GPU source, where there is one (for per-process reads).
    pub fn gpu(&self) -> Result<&dyn GpuSource, String> {
        self.inner
            .gpu
            .as_deref()
            .ok_or_else(|| self.inner.gpu_none.clone().unwrap_or_default())
    }
}

impl Drop for TelemetrySampler {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::gpu::{
        DeviceMemory, DeviceReading, FakeDevice, FakeGpu, ProcessMemory, Utilisation,
    };

    fn reading(power_mw: Option<u64>, energy_mj: Option<u64>, util: f64, used: u64) -> Reading {
        Reading {
            devices: 1,
            power_mw,
            energy_mj,
            gpu_util_pct: Some(util),
            memory_util_pct: Some(0.0),
            used_bytes: Some(used),
            pids_bytes: None,
            missing: Vec::new(),
            per_device: Vec::new(),
        }
    }

    fn dev(
        index: u32,
        power_mw: Option<u32>,
        util: Option<u32>,
        used: Option<u64>,
        pids: Option<u64>,
    ) -> DeviceReading {
        DeviceReading {
            index,
            power_mw,
            gpu_util_pct: util,
            memory_util_pct: util.map(|u| u / 2),
            used_bytes: used,
            pids_bytes: pids,
            ..DeviceReading::default()
        }
    }

    /// A reading of two devices with their sums as `read_all` forms them.
    fn two(a: DeviceReading, b: DeviceReading, energy_mj: u64) -> Reading {
        let both = |x: Option<u64>, y: Option<u64>| Some(x? + y?);
        Reading {
            devices: 2,
            power_mw: both(a.power_mw.map(u64::from), b.power_mw.map(u64::from)),
            energy_mj: Some(energy_mj),
            gpu_util_pct: both(a.gpu_util_pct.map(u64::from), b.gpu_util_pct.map(u64::from))
                .map(|s| s as f64 / 2.0),
            memory_util_pct: None,
            used_bytes: both(a.used_bytes, b.used_bytes),
            pids_bytes: [a.pids_bytes, b.pids_bytes]
                .into_iter()
                .flatten()
                .reduce(|x, y| x + y),
            missing: Vec::new(),
            per_device: vec![a, b],
        }
    }

    #[test]
    fn two_devices_are_summarised_each_on_its_own() {
        const M: u64 = 1 << 20;
        let s = vec![
            at(
                0.0,
                two(
                    dev(0, Some(100_000), Some(10), Some(1000 * M), Some(900 * M)),
                    dev(1, Some(50_000), Some(30), Some(500 * M), None),
                    1_000_000,
                ),
            ),
            at(
                1.0,
                two(
                    dev(0, Some(300_000), Some(90), Some(3000 * M), Some(2500 * M)),
                    dev(1, None, Some(50), Some(400 * M), Some(300 * M)),
                    1_200_000,
                ),
            ),
            at(
                2.0,
                two(
                    dev(0, Some(200_000), Some(50), Some(2000 * M), Some(2000 * M)),
                    dev(1, Some(70_000), Some(70), None, Some(350 * M)),
                    1_500_000,
                ),
            ),
        ];
        let t = summarize(&s, Some(100), None, None);
        // The sums: power only where both devices gave it (readings 0 and 2: 150, 270 W).
        assert_eq!(t.gpu_power_mean_w, Some(210.0));
        assert_eq!(t.gpu_power_max_w, Some(270.0));
        // Utilisation: the mean over devices (20, 70, 60), then over readings.
        assert_eq!(t.gpu_util_mean_pct, Some(50.0));
        assert_eq!(t.gpu_util_max_pct, Some(70.0));
        assert_eq!(t.gpu_used_max_mib, Some(3400.0));
        assert_eq!(t.gpu_energy_j, Some(500.0));
        assert_eq!(
            t.gpus,
            vec![
                GpuRunTelemetry {
                    index: 0,
                    power_mean_w: Some(200.0),
                    util_mean_pct: Some(50.0),
                    used_max_mib: Some(3000.0),
                    engine_max_mib: Some(2500.0),
                },
                // Device 1: power from readings 0 and 2 only, memory from 0 and 1.
                GpuRunTelemetry {
                    index: 1,
                    power_mean_w: Some(60.0),
                    util_mean_pct: Some(50.0),
                    used_max_mib: Some(500.0),
                    engine_max_mib: Some(350.0),
                },
            ]
        );
        // The engine's memory per device of the last reading.
        assert_eq!(
            pids_mib_per_device(s[2].gpu.as_ref().unwrap().as_ref().unwrap()),
            vec![
                GpuDeviceMemory {
                    index: 0,
                    mib: 2000.0
                },
                GpuDeviceMemory {
                    index: 1,
                    mib: 350.0
                },
            ]
        );
        // A device that gives nothing in the window keeps its entry, every figure None.
        let bare = vec![at(
            0.0,
            two(
                dev(0, Some(100_000), Some(10), Some(M), None),
                dev(1, None, None, None, None),
                0,
            ),
        )];
        let t = summarize(&bare, None, None, None);
        assert_eq!(t.gpu_power_mean_w, None);
        assert_eq!(
            t.gpus[1],
            GpuRunTelemetry {
                index: 1,
                ..GpuRunTelemetry::default()
            }
        );
        assert_eq!(t.gpus[0].power_mean_w, Some(100.0));
        // No GPU readings: no per-GPU figures (and nothing in the JSON).
        let t = summarize(&[Sample::default()], None, Some("no NVML"), None);
        assert!(t.gpus.is_empty());
        let json = serde_json::to_value(&t).unwrap();
        assert!(json.get("gpus").is_none(), "{json}");
    }

    fn at(t_s: f64, r: Reading) -> Sample {
        Sample {
            t_s,
            gpu: Some(Ok(r)),
            cpu: None,
            host: None,
        }
    }

    #[test]
    fn energy_counter_wins_and_power_and_utilisation_are_mean_and_max() {
        let s = vec![
            at(0.0, reading(Some(100_000), Some(5_000_000), 10.0, 1 << 30)),
            at(1.0, reading(Some(300_000), Some(5_250_000), 90.0, 3 << 30)),
            at(2.0, reading(Some(200_000), Some(5_500_000), 80.0, 2 << 30)),
        ];
        let t = summarize(&s, Some(100), None, Some("no RAPL"));
        assert_eq!(t.gpu_samples, 3);
        assert_eq!(t.window_s, 2.0);
        assert_eq!(t.gpu_power_mean_w, Some(200.0));
        assert_eq!(t.gpu_power_max_w, Some(300.0));
        assert_eq!(t.gpu_util_mean_pct, Some(60.0));
        assert_eq!(t.gpu_util_max_pct, Some(90.0));
        assert_eq!(t.gpu_used_max_mib, Some(3072.0));
        // 5,500,000 − 5,000,000 mJ = 500 J (not the 450 J of the power integral).
        assert_eq!(t.gpu_energy_j, Some(500.0));
        assert_eq!(t.gpu_energy_source.as_deref(), Some("nvml energy counter"));
        assert_eq!(t.gpu_j_per_token, Some(5.0));
        assert_eq!(t.gpu_reason, None);
        assert_eq!(
            (t.cpu_energy_j, t.cpu_reason.as_deref()),
            (None, Some("no RAPL"))
        );
    }

    #[test]
    fn without_a_counter_energy_is_the_power_integral() {
        let s = vec![
            at(0.0, reading(Some(100_000), None, 0.0, 0)),
            at(1.0, reading(Some(300_000), None, 0.0, 0)),
            at(2.0, reading(Some(200_000), None, 0.0, 0)),
        ];
        let t = summarize(&s, Some(90), None, None);
        // (100+300)/2·1 + (300+200)/2·1 = 450 J over 90 tokens.
        assert_eq!(t.gpu_energy_j, Some(450.0));
        assert_eq!(
            t.gpu_energy_source.as_deref(),
            Some("power integral (3 readings)")
        );
        assert_eq!(t.gpu_j_per_token, Some(5.0));
        // One reading only: no energy, and the reason says so.
        let t = summarize(&s[..1], Some(90), None, None);
        assert_eq!(t.gpu_energy_j, None);
        assert!(
            t.gpu_reason
                .as_deref()
                .unwrap()
                .contains("neither an energy counter"),
            "{:?}",
            t.gpu_reason
        );
    }

    #[test]
    fn no_tokens_no_per_token_figure_and_no_gpu_is_a_reason() {
        let s = vec![
            at(0.0, reading(Some(100_000), Some(0), 0.0, 0)),
            at(1.0, reading(Some(100_000), Some(1000), 0.0, 0)),
        ];
        let t = summarize(&s, Some(0), None, None);
        assert_eq!(t.gpu_energy_j, Some(1.0));
        assert_eq!(t.gpu_j_per_token, None);
        assert_eq!(t.gpu_reason.as_deref(), Some("J/token: no output tokens"));
        let none = [
            Sample::default(),
            Sample {
                t_s: 1.5,
                ..Sample::default()
            },
        ];
        let t = summarize(
            &none,
            Some(10),
            Some("no NVIDIA driver library (NVML): x"),
            Some("no RAPL"),
        );
        assert_eq!(t.gpu_samples, 0);
        assert_eq!(
            (t.gpu_energy_j, t.gpu_j_per_token, t.gpu_power_mean_w),
            (None, None, None)
        );
        assert_eq!(
            t.gpu_reason.as_deref(),
            Some("no NVIDIA driver library (NVML): x")
        );
        assert_eq!(t.window_s, 1.5);
    }

    #[test]
    fn cpu_energy_from_rapl_readings() {
        let z = |e: u64| Zone {
            id: "intel-rapl:0".into(),
            name: None,
            energy_uj: e,
            max_energy_range_uj: Some(10_000_000),
        };
        let s = vec![
            Sample {
                t_s: 0.0,
                gpu: None,
                cpu: Some(Ok(vec![z(9_000_000)])),
                host: None,
            },
            Sample {
                t_s: 1.0,
                gpu: None,
                cpu: Some(Ok(vec![z(1_000_000)])),
                host: None,
            },
        ];
        // Wrapped: 9 J → 10 J range → 1 J is 2 J; over 4 tokens 0.5 J/token.
        let t = summarize(&s, Some(4), Some("no NVML"), None);
        assert_eq!(t.cpu_energy_j, Some(2.0));
        assert_eq!(t.cpu_j_per_token, Some(0.5));
        assert_eq!(t.cpu_reason, None);
    }

    #[test]
    fn sampler_over_a_fake_gpu_and_a_fake_rapl_tree() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("intel-rapl:0");
        std::fs::create_dir_all(&zone).unwrap();
        std::fs::write(zone.join("energy_uj"), "1000000").unwrap();
        let mut dev = FakeDevice::new("Fake H200", 3125, 6144, 141 << 30);
        dev.power_mw = Ok(400_000);
        dev.energy_mj = Ok(10_000);
        dev.utilisation = Ok(Utilisation {
            gpu_pct: 50,
            memory_pct: 20,
        });
        let fake = Arc::new(FakeGpu::new(vec![dev]));
        // A long interval: only the synchronous readings at both ends count.
        let s = TelemetrySampler::start(
            Ok(fake.clone() as Arc<dyn GpuSource>),
            dir.path().to_path_buf(),
            Duration::from_secs(3600),
        );
        assert!(s.is_sampling());
        std::thread::sleep(Duration::from_millis(20));
        let m = s.mark();
        fake.update(0, |d| {
            d.energy_mj = Ok(12_000);
            d.memory = Ok(DeviceMemory {
                total: 141 << 30,
                used: 1 << 30,
            });
        });
        std::fs::write(zone.join("energy_uj"), "1500000").unwrap();
        let t = s.window(m, Some(4));
        assert_eq!(t.gpu_samples, 2);
        assert_eq!(t.gpu_energy_j, Some(2.0));
        assert_eq!(t.gpu_j_per_token, Some(0.5));
        assert_eq!(t.gpu_power_mean_w, Some(400.0));
        assert_eq!(t.gpu_util_max_pct, Some(50.0));
        assert_eq!(t.gpu_used_max_mib, Some(1024.0));
        assert_eq!(t.cpu_energy_j, Some(0.5));
        assert_eq!(t.cpu_j_per_token, Some(0.125));
        assert_eq!(
            (t.gpu_reason.as_deref(), t.cpu_reason.as_deref()),
            (None, None)
        );
        assert_eq!(s.device_used_bytes(), Ok(1 << 30));
        assert_eq!(t.gpus.len(), 1);
        assert_eq!(
            (t.gpus[0].power_mean_w, t.gpus[0].engine_max_mib),
            (Some(400.0), None)
        );
    }

    #[test]
    fn the_sampler_counts_the_engine_pids_it_is_given_per_device() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = FakeDevice::new("Fake H200", 3125, 6144, 141 << 30);
        a.processes = Ok(vec![
            ProcessMemory {
                pid: 7,
                used_bytes: Some(3 << 30),
            },
            ProcessMemory {
                pid: 99,
                used_bytes: Some(5 << 30),
            },
        ]);
        let mut b = a.clone();
        b.processes = Ok(vec![ProcessMemory {
            pid: 8,
            used_bytes: Some(1 << 30),
        }]);
        let fake = Arc::new(FakeGpu::new(vec![a, b]));
        let s = TelemetrySampler::start(
            Ok(fake.clone() as Arc<dyn GpuSource>),
            dir.path().join("none"),
            Duration::from_secs(3600),
        );
        let t = s.window(s.mark(), None);
        assert_eq!(
            t.gpus.iter().map(|g| g.engine_max_mib).collect::<Vec<_>>(),
            vec![None, None]
        );
        s.set_engine_pids(&[7, 8]);
        let t = s.window(s.mark(), None);
        assert_eq!(
            t.gpus.iter().map(|g| g.engine_max_mib).collect::<Vec<_>>(),
            vec![Some(3072.0), Some(1024.0)]
        );
    }

    #[test]
    fn sampler_without_gpu_or_rapl_gives_reasons_and_no_thread() {
        let dir = tempfile::tempdir().unwrap();
        let s = TelemetrySampler::start(
            Err("no NVIDIA driver library (NVML): not found".into()),
            dir.path().join("none"),
            Duration::from_millis(10),
        );
        assert!(!s.is_sampling());
        let m = s.mark();
        let t = s.window(m, Some(10));
        assert_eq!(t.gpu_energy_j, None);
        assert_eq!(
            t.gpu_reason.as_deref(),
            Some("no NVIDIA driver library (NVML): not found")
        );
        assert!(
            t.cpu_reason.as_deref().unwrap().starts_with("no RAPL"),
            "{:?}",
            t.cpu_reason
        );
        assert!(s.device_used_bytes().is_err());
    }
}
