//! What we read from an NVIDIA GPU through NVML, behind one small trait ([`GpuSource`]) so
//! that every figure computed from it can be tested with a scripted fake ([`FakeGpu`]).
//!
//! [`Nvml`] is the real implementation (nvml-wrapper, which loads `libnvidia-ml.so.1` at
//! run time: the crate builds and runs without a GPU, and [`Nvml::open`] then says why
//! there is none). Every read returns `Result<_, String>`: an NVML call that fails (no
//! driver, an old GPU without the energy counter, a container that hides per-process
//! figures) is a reason, never a panic or an aborted run.
//!
//! The peak memory bandwidth of a GPU is [`peak_bandwidth_gbps`]: the maximum memory
//! clock NVML reports × the bus width × 2. NVML (like `cudaDeviceProp::memoryClockRate`)
//! reports the memory clock, and GDDR/HBM move data on both edges of it (double data
//! rate), so the data rate per pin is twice the clock: an A100 40 GB reports 1215 MHz on a
//! 5120-bit bus, 1215e6 × 2 × 640 B = 1555 GB/s, its datasheet figure; an H100 SXM 2619 MHz
//! × 5120 bit → 3352 GB/s (datasheet 3.35 TB/s). The H200's 4.8 TB/s comes from six
//! HBM3e stacks, a 6144-bit bus (the H100 used five of six, 5120 bits): 3125 MHz × 2 ×
//! 768 B = 4800 GB/s; whatever NVML reports there is what we use, and both factors are
//! in the report.

use std::sync::Mutex;

/// Memory of one device, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceMemory {
    pub total: u64,
    pub used: u64,
}

/// One process on a device and the memory it uses (`None`: the driver does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    pub pid: u32,
    pub used_bytes: Option<u64>,
}

/// Utilisation over the driver's last sample period, percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Utilisation {
    pub gpu_pct: u32,
    pub memory_pct: u32,
}

/// What we read from NVML. Device indices are NVML's (0..`device_count`).
pub trait GpuSource: Send + Sync {
    fn device_count(&self) -> Result<u32, String>;
    fn name(&self, device: u32) -> Result<String, String>;
    fn memory(&self, device: u32) -> Result<DeviceMemory, String>;
    /// Compute and graphics processes together.
    fn processes(&self, device: u32) -> Result<Vec<ProcessMemory>, String>;
    fn utilisation(&self, device: u32) -> Result<Utilisation, String>;
    /// Board power draw, milliwatts.
    fn power_mw(&self, device: u32) -> Result<u32, String>;
    /// Energy consumed since the driver loaded, millijoules (Volta and newer).
    fn energy_mj(&self, device: u32) -> Result<u64, String>;
    /// Maximum memory clock, MHz.
    fn max_memory_clock_mhz(&self, device: u32) -> Result<u32, String>;
    /// Memory bus width, bits.
    fn memory_bus_width_bits(&self, device: u32) -> Result<u32, String>;
    /// Current SM clock, MHz.
    fn sm_clock_mhz(&self, _device: u32) -> Result<u32, String> {
        Err("not read by this source".into())
    }
    /// Maximum SM clock, MHz.
    fn max_sm_clock_mhz(&self, _device: u32) -> Result<u32, String> {
        Err("not read by this source".into())
    }
    /// Why the clocks are held where they are now: NVML's clock event (formerly
    /// "throttle") reason bits, decoded by `measure::throttle::gpu_reasons`.
    fn clock_event_reasons(&self, _device: u32) -> Result<u64, String> {
        Err("not read by this source".into())
    }
}

/// Peak memory bandwidth, GB/s (10^9 B/s): memory clock (MHz) × 2 (double data rate) ×
/// bus width (bits) ÷ 8. Pure. `None` for a zero clock or width.
pub fn peak_bandwidth_gbps(max_memory_clock_mhz: u32, bus_width_bits: u32) -> Option<f64> {
    (max_memory_clock_mhz > 0 && bus_width_bits > 0).then(|| {
        f64::from(max_memory_clock_mhz) * 1e6 * 2.0 * (f64::from(bus_width_bits) / 8.0) / 1e9
    })
}

/// The peak bandwidth of one device, with the figures it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    pub name: String,
    pub gbps: f64,
    pub memory_clock_mhz: u32,
    pub bus_width_bits: u32,
}

impl Peak {
    /// "NVML peak 4800 GB/s = 3125 MHz × 2 (DDR) × 6144 bit ÷ 8 (NVIDIA H200)".
    pub fn describe(&self) -> String {
        format!(
            "NVML peak {:.0} GB/s = {} MHz × 2 (DDR) × {} bit ÷ 8 ({})",
            self.gbps, self.memory_clock_mhz, self.bus_width_bits, self.name
        )
    }
}

/// The peak of device `device` from NVML, or why there is none.
pub fn device_peak(src: &dyn GpuSource, device: u32) -> Result<Peak, String> {
    let name = src
        .name(device)
        .unwrap_or_else(|e| format!("GPU {device} (name: {e})"));
    let clock = src
        .max_memory_clock_mhz(device)
        .map_err(|e| format!("max memory clock: {e}"))?;
    let width = src
        .memory_bus_width_bits(device)
        .map_err(|e| format!("memory bus width: {e}"))?;
    let gbps = peak_bandwidth_gbps(clock, width)
        .ok_or_else(|| format!("NVML reports memory clock {clock} MHz, bus width {width} bit"))?;
    Ok(Peak {
        name,
        gbps,
        memory_clock_mhz: clock,
        bus_width_bits: width,
    })
}

/// One device's own figures in a [`Reading`], each `None` where that device could not
/// say (the reason is in [`Reading::missing`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceReading {
    /// NVML's device index.
    pub index: u32,
    pub power_mw: Option<u32>,
    pub gpu_util_pct: Option<u32>,
    pub memory_util_pct: Option<u32>,
    pub used_bytes: Option<u64>,
    /// Bytes the given pids use on this device (`None`: none of them listed here with a
    /// figure, or no pids given).
    pub pids_bytes: Option<u64>,
    /// SM clock now and its maximum, MHz.
    pub sm_clock_mhz: Option<u32>,
    pub max_sm_clock_mhz: Option<u32>,
    /// NVML's clock event reason bits now.
    pub clock_reasons: Option<u64>,
}

/// One reading of every device, summed (power, energy, memory) or averaged (utilisation),
/// each `None` with its reason when a device could not say, and each device's own figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    pub devices: u32,
    pub power_mw: Option<u64>,
    pub energy_mj: Option<u64>,
    pub gpu_util_pct: Option<f64>,
    pub memory_util_pct: Option<f64>,
    pub used_bytes: Option<u64>,
    /// Bytes used by the given pids (`None`: no process of theirs listed, or no figure).
    pub pids_bytes: Option<u64>,
    /// Why a figure is missing: "power: ...", "energy counter: ...".
    pub missing: Vec<String>,
    /// Every device's own figures, in index order (one entry per device, also for a
    /// device that gave none).
    pub per_device: Vec<DeviceReading>,
}

/// Read every device once: power, energy counter, utilisation, used memory, and the
/// memory of the processes in `pids` (per process, compute and graphics). A sum or mean
/// is `Some` only when every device gave it (a sum over some devices would be too low);
/// [`Reading::per_device`] keeps what each device gave.
pub fn read_all(src: &dyn GpuSource, pids: &[u32]) -> Result<Reading, String> {
    let n = src.device_count()?;
    if n == 0 {
        return Err("NVML sees no device".into());
    }
    let mut r = Reading {
        devices: n,
        ..Reading::default()
    };
    let mut energy = Some(0u64);
    let note = |r: &mut Reading, what: &str, e: String| {
        let line = format!("{what}: {e}");
        if !r.missing.contains(&line) {
            r.missing.push(line);
        }
    };
    for d in 0..n {
        let mut dev = DeviceReading {
            index: d,
            ..DeviceReading::default()
        };
        match src.power_mw(d) {
            Ok(p) => dev.power_mw = Some(p),
            Err(e) => note(&mut r, "power", e),
        }
        match src.energy_mj(d) {
            Ok(e) => energy = energy.map(|s| s + e),
            Err(e) => {
                energy = None;
                note(&mut r, "energy counter", e);
            }
        }
        match src.utilisation(d) {
            Ok(u) => {
                dev.gpu_util_pct = Some(u.gpu_pct);
                dev.memory_util_pct = Some(u.memory_pct);
            }
            Err(e) => note(&mut r, "utilisation", e),
        }
        match src.memory(d) {
            Ok(m) => dev.used_bytes = Some(m.used),
            Err(e) => note(&mut r, "memory", e),
        }
        match src.sm_clock_mhz(d) {
            Ok(c) => dev.sm_clock_mhz = Some(c),
            Err(e) => note(&mut r, "SM clock", e),
        }
        // The maximum only once a clock was read (it never changes; a failure is noted once).
        if dev.sm_clock_mhz.is_some() {
            dev.max_sm_clock_mhz = src.max_sm_clock_mhz(d).ok();
        }
        match src.clock_event_reasons(d) {
            Ok(b) => dev.clock_reasons = Some(b),
            Err(e) => note(&mut r, "clock event reasons", e),
        }
        if !pids.is_empty() {
            match src.processes(d) {
                Ok(ps) => {
                    dev.pids_bytes = ps
                        .iter()
                        .filter(|p| pids.contains(&p.pid))
                        .filter_map(|p| p.used_bytes)
                        .reduce(|a, b| a + b);
                }
                Err(e) => note(&mut r, "processes", e),
            }
        }
        r.per_device.push(dev);
    }
    let devs = &r.per_device;
    let all =
        |f: fn(&DeviceReading) -> Option<u64>| -> Option<Vec<u64>> { devs.iter().map(f).collect() };
    let power = all(|d| d.power_mw.map(u64::from)).map(|v| v.iter().sum());
    let gpu_util =
        all(|d| d.gpu_util_pct.map(u64::from)).map(|v| v.iter().sum::<u64>() as f64 / f64::from(n));
    let memory_util = all(|d| d.memory_util_pct.map(u64::from))
        .map(|v| v.iter().sum::<u64>() as f64 / f64::from(n));
    let used = all(|d| d.used_bytes).map(|v| v.iter().sum());
    let pids_bytes = devs
        .iter()
        .filter_map(|d| d.pids_bytes)
        .reduce(|a, b| a + b);
    r.power_mw = power;
    r.energy_mj = energy;
    r.gpu_util_pct = gpu_util;
    r.memory_util_pct = memory_util;
    r.used_bytes = used;
    r.pids_bytes = pids_bytes;
    Ok(r)
}

/// The real NVML, loaded at run time.
pub struct Nvml {
    nvml: nvml_wrapper::Nvml,
}

impl Nvml {
    /// Load the driver's library (`libnvidia-ml.so.1`, then `libnvidia-ml.so`); the error
    /// says why there is no NVML on this host.
    pub fn open() -> Result<Nvml, String> {
        match nvml_wrapper::Nvml::init() {
            Ok(nvml) => Ok(Nvml { nvml }),
            Err(first) => nvml_wrapper::Nvml::builder()
                .lib_path(std::ffi::OsStr::new("libnvidia-ml.so"))
                .init()
                .map(|nvml| Nvml { nvml })
                .map_err(|_| format!("no NVIDIA driver library (NVML): {first}")),
        }
    }

    fn device(&self, i: u32) -> Result<nvml_wrapper::Device<'_>, String> {
        self.nvml
            .device_by_index(i)
            .map_err(|e| format!("device {i}: {e}"))
    }
}

fn why(e: nvml_wrapper::error::NvmlError) -> String {
    e.to_string()
}

impl GpuSource for Nvml {
    fn device_count(&self) -> Result<u32, String> {
        self.nvml.device_count().map_err(why)
    }
    fn name(&self, device: u32) -> Result<String, String> {
        self.device(device)?.name().map_err(why)
    }
    fn memory(&self, device: u32) -> Result<DeviceMemory, String> {
        let m = self.device(device)?.memory_info().map_err(why)?;
        Ok(DeviceMemory {
            total: m.total,
            used: m.used,
        })
    }
    fn processes(&self, device: u32) -> Result<Vec<ProcessMemory>, String> {
        use nvml_wrapper::enums::device::UsedGpuMemory;
        let dev = self.device(device)?;
        let compute = dev.running_compute_processes();
        let graphics = dev.running_graphics_processes();
        if let (Err(a), Err(_)) = (&compute, &graphics) {
            return Err(a.to_string());
        }
        Ok(compute
            .unwrap_or_default()
            .into_iter()
            .chain(graphics.unwrap_or_default())
            .map(|p| ProcessMemory {
                pid: p.pid,
                used_bytes: match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b),
                    UsedGpuMemory::Unavailable => None,
                },
            })
            .collect())
    }
    fn utilisation(&self, device: u32) -> Result<Utilisation, String> {
        let u = self.device(device)?.utilization_rates().map_err(why)?;
        Ok(Utilisation {
            gpu_pct: u.gpu,
            memory_pct: u.memory,
        })
    }
    fn power_mw(&self, device: u32) -> Result<u32, String> {
        self.device(device)?.power_usage().map_err(why)
    }
    fn energy_mj(&self, device: u32) -> Result<u64, String> {
        self.device(device)?.total_energy_consumption().map_err(why)
    }
    fn max_memory_clock_mhz(&self, device: u32) -> Result<u32, String> {
        self.device(device)?
            .max_clock_info(nvml_wrapper::enum_wrappers::device::Clock::Memory)
            .map_err(why)
    }
    fn memory_bus_width_bits(&self, device: u32) -> Result<u32, String> {
        self.device(device)?.memory_bus_width().map_err(why)
    }
    fn sm_clock_mhz(&self, device: u32) -> Result<u32, String> {
        self.device(device)?
            .clock_info(nvml_wrapper::enum_wrappers::device::Clock::SM)
            .map_err(why)
    }
    fn max_sm_clock_mhz(&self, device: u32) -> Result<u32, String> {
        self.device(device)?
            .max_clock_info(nvml_wrapper::enum_wrappers::device::Clock::SM)
            .map_err(why)
    }
    fn clock_event_reasons(&self, device: u32) -> Result<u64, String> {
        // nvmlDeviceGetCurrentClocksThrottleReasons (the clocks-event call's older name,
        // same bits); every bit kept, unknown ones included.
        self.device(device)?
            .current_throttle_reasons()
            .map(|r| r.bits())
            .map_err(why)
    }
}

/// One scripted device state of [`FakeGpu`].
#[derive(Debug, Clone, PartialEq)]
pub struct FakeDevice {
    pub name: String,
    pub memory: Result<DeviceMemory, String>,
    pub processes: Result<Vec<ProcessMemory>, String>,
    pub utilisation: Result<Utilisation, String>,
    pub power_mw: Result<u32, String>,
    pub energy_mj: Result<u64, String>,
    pub max_memory_clock_mhz: Result<u32, String>,
    pub bus_width_bits: Result<u32, String>,
    pub sm_clock_mhz: Result<u32, String>,
    pub max_sm_clock_mhz: Result<u32, String>,
    /// NVML clock event reason bits.
    pub clock_reasons: Result<u64, String>,
}

impl FakeDevice {
    /// An idle device with every figure present.
    pub fn new(name: &str, clock_mhz: u32, width_bits: u32, total_bytes: u64) -> FakeDevice {
        FakeDevice {
            name: name.into(),
            memory: Ok(DeviceMemory {
                total: total_bytes,
                used: 0,
            }),
            processes: Ok(Vec::new()),
            utilisation: Ok(Utilisation::default()),
            power_mw: Ok(0),
            energy_mj: Ok(0),
            max_memory_clock_mhz: Ok(clock_mhz),
            bus_width_bits: Ok(width_bits),
            sm_clock_mhz: Ok(1980),
            max_sm_clock_mhz: Ok(1980),
            clock_reasons: Ok(0),
        }
    }
}

/// A scripted NVML for tests: each device's state is set by the test and changed
/// between readings ([`FakeGpu::update`]).
#[derive(Debug, Default)]
pub struct FakeGpu {
    pub devices: Mutex<Vec<FakeDevice>>,
}

impl FakeGpu {
    pub fn new(devices: Vec<FakeDevice>) -> FakeGpu {
        FakeGpu {
            devices: Mutex::new(devices),
        }
    }

    /// Change device `i`'s state.
    pub fn update(&self, i: usize, f: impl FnOnce(&mut FakeDevice)) {
        if let Ok(mut d) = self.devices.lock()
            && let Some(dev) = d.get_mut(i)
        {
            f(dev);
        }
    }

    fn with<T>(
        &self,
        i: u32,
        f: impl FnOnce(&FakeDevice) -> Result<T, String>,
    ) -> Result<T, String> {
        let d = self
            .devices
            .lock()
            .map_err(|_| "fake poisoned".to_string())?;
        d.get(i as usize)
            .ok_or_else(|| format!("no device {i}"))
            .and_then(f)
    }
}

impl GpuSource for FakeGpu {
    fn device_count(&self) -> Result<u32, String> {
        Ok(self.devices.lock().map(|d| d.len() as u32).unwrap_or(0))
    }
    fn name(&self, device: u32) -> Result<String, String> {
        self.with(device, |d| Ok(d.name.clone()))
    }
    fn memory(&self, device: u32) -> Result<DeviceMemory, String> {
        self.with(device, |d| d.memory.clone())
    }
    fn processes(&self, device: u32) -> Result<Vec<ProcessMemory>, String> {
        self.with(device, |d| d.processes.clone())
    }
    fn utilisation(&self, device: u32) -> Result<Utilisation, String> {
        self.with(device, |d| d.utilisation.clone())
    }
    fn power_mw(&self, device: u32) -> Result<u32, String> {
        self.with(device, |d| d.power_mw.clone())
    }
    fn energy_mj(&self, device: u32) -> Result<u64, String> {
        self.with(device, |d| d.energy_mj.clone())
    }
    fn max_memory_clock_mhz(&self, device: u32) -> Result<u32, String> {
        self.with(device, |d| d.max_memory_clock_mhz.clone())
    }
    fn memory_bus_width_bits(&self, device: u32) -> Result<u32, String> {
        self.with(device, |d| d.bus_width_bits.clone())
    }
    fn sm_clock_mhz(&self, device: u32) -> Result<u32, String> {
        self.with(device, |d| d.sm_clock_mhz.clone())
    }
    fn max_sm_clock_mhz(&self, device: u32) -> Result<u32, String> {
        self.with(device, |d| d.max_sm_clock_mhz.clone())
    }
    fn clock_event_reasons(&self, device: u32) -> Result<u64, String> {
        self.with(device, |d| d.clock_reasons.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clocks every `FakeDevice::new` reports: 1980 MHz of 1980, no reason.
    fn idle_clocks() -> DeviceReading {
        DeviceReading {
            sm_clock_mhz: Some(1980),
            max_sm_clock_mhz: Some(1980),
            clock_reasons: Some(0),
            ..DeviceReading::default()
        }
    }

    #[test]
    fn peak_from_clock_and_bus_width_matches_datasheets() {
        // A100 40 GB: 1215 MHz, 5120 bit → 1555.2 GB/s (datasheet 1,555 GB/s).
        assert!((peak_bandwidth_gbps(1215, 5120).unwrap() - 1555.2).abs() < 1e-9);
        // A100 80 GB SXM: 1593 MHz → 2039 GB/s (datasheet 2,039 GB/s).
        assert!((peak_bandwidth_gbps(1593, 5120).unwrap() - 2039.04).abs() < 1e-9);
        // H100 SXM: 2619 MHz, 5120 bit → 3352 GB/s (3.35 TB/s).
        assert!((peak_bandwidth_gbps(2619, 5120).unwrap() - 3352.32).abs() < 1e-9);
        // H200: six HBM3e stacks, 6144 bit at 3125 MHz → 4800 GB/s (4.8 TB/s).
        assert!((peak_bandwidth_gbps(3125, 6144).unwrap() - 4800.0).abs() < 1e-9);
        assert_eq!(peak_bandwidth_gbps(0, 5120), None);
        assert_eq!(peak_bandwidth_gbps(1215, 0), None);
    }

    #[test]
    fn device_peak_names_its_factors_and_a_failed_call_is_a_reason() {
        let fake = FakeGpu::new(vec![FakeDevice::new("NVIDIA H200", 3125, 6144, 141 << 30)]);
        let p = device_peak(&fake, 0).unwrap();
        assert_eq!(
            (p.gbps, p.memory_clock_mhz, p.bus_width_bits),
            (4800.0, 3125, 6144)
        );
        assert_eq!(
            p.describe(),
            "NVML peak 4800 GB/s = 3125 MHz × 2 (DDR) × 6144 bit ÷ 8 (NVIDIA H200)"
        );
        fake.update(0, |d| d.bus_width_bits = Err("Not supported".into()));
        assert_eq!(
            device_peak(&fake, 0).unwrap_err(),
            "memory bus width: Not supported"
        );
        assert_eq!(
            device_peak(&fake, 3).unwrap_err(),
            "max memory clock: no device 3"
        );
    }

    #[test]
    fn a_reading_sums_devices_and_keeps_only_our_processes() {
        let mut a = FakeDevice::new("A", 1215, 5120, 40 << 30);
        a.power_mw = Ok(250_000);
        a.energy_mj = Ok(1_000_000);
        a.utilisation = Ok(Utilisation {
            gpu_pct: 90,
            memory_pct: 60,
        });
        a.memory = Ok(DeviceMemory {
            total: 40 << 30,
            used: 3 << 30,
        });
        a.processes = Ok(vec![
            ProcessMemory {
                pid: 10,
                used_bytes: Some(2 << 30),
            },
            ProcessMemory {
                pid: 99,
                used_bytes: Some(1 << 30),
            },
        ]);
        let mut b = a.clone();
        b.utilisation = Ok(Utilisation {
            gpu_pct: 10,
            memory_pct: 0,
        });
        b.processes = Ok(vec![ProcessMemory {
            pid: 11,
            used_bytes: Some(1 << 20),
        }]);
        let fake = FakeGpu::new(vec![a, b]);
        let r = read_all(&fake, &[10, 11]).unwrap();
        assert_eq!(r.devices, 2);
        assert_eq!(r.power_mw, Some(500_000));
        assert_eq!(r.energy_mj, Some(2_000_000));
        assert_eq!(r.gpu_util_pct, Some(50.0));
        assert_eq!(r.memory_util_pct, Some(30.0));
        assert_eq!(r.used_bytes, Some(6 << 30));
        assert_eq!(r.pids_bytes, Some((2 << 30) + (1 << 20)));
        assert!(r.missing.is_empty(), "{:?}", r.missing);
        assert_eq!(
            r.per_device,
            vec![
                DeviceReading {
                    index: 0,
                    power_mw: Some(250_000),
                    gpu_util_pct: Some(90),
                    memory_util_pct: Some(60),
                    used_bytes: Some(3 << 30),
                    pids_bytes: Some(2 << 30),
                    ..idle_clocks()
                },
                DeviceReading {
                    index: 1,
                    power_mw: Some(250_000),
                    gpu_util_pct: Some(10),
                    memory_util_pct: Some(0),
                    used_bytes: Some(3 << 30),
                    pids_bytes: Some(1 << 20),
                    ..idle_clocks()
                },
            ]
        );
        // Without pids no device counts any process.
        let r = read_all(&fake, &[]).unwrap();
        assert_eq!(r.pids_bytes, None);
        assert!(r.per_device.iter().all(|d| d.pids_bytes.is_none()));
        // One device without the energy counter: no energy sum (it would be too low),
        // and the reason is kept; a pid the driver lists without a figure is not counted.
        fake.update(1, |d| {
            d.energy_mj = Err("Not supported".into());
            d.processes = Ok(vec![ProcessMemory {
                pid: 11,
                used_bytes: None,
            }]);
        });
        let r = read_all(&fake, &[11]).unwrap();
        assert_eq!(r.energy_mj, None);
        assert_eq!(r.power_mw, Some(500_000));
        assert_eq!(r.pids_bytes, None);
        assert_eq!(r.missing, vec!["energy counter: Not supported".to_string()]);
        assert_eq!(
            read_all(&FakeGpu::new(vec![]), &[]).unwrap_err(),
            "NVML sees no device"
        );
    }

    #[test]
    fn a_device_without_a_figure_drops_the_sum_but_keeps_the_others_own() {
        let mut a = FakeDevice::new("A", 1215, 5120, 40 << 30);
        a.power_mw = Ok(300_000);
        a.utilisation = Ok(Utilisation {
            gpu_pct: 80,
            memory_pct: 40,
        });
        let mut b = a.clone();
        b.power_mw = Err("Not supported".into());
        b.utilisation = Err("Unknown error".into());
        b.memory = Err("GPU is lost".into());
        b.processes = Err("Insufficient permissions".into());
        let fake = FakeGpu::new(vec![a, b]);
        let r = read_all(&fake, &[1]).unwrap();
        assert_eq!(
            (r.power_mw, r.gpu_util_pct, r.memory_util_pct, r.used_bytes),
            (None, None, None, None)
        );
        assert_eq!(r.energy_mj, Some(0));
        assert_eq!(r.per_device.len(), 2);
        assert_eq!(
            r.per_device[0],
            DeviceReading {
                index: 0,
                power_mw: Some(300_000),
                gpu_util_pct: Some(80),
                memory_util_pct: Some(40),
                used_bytes: Some(0),
                pids_bytes: None,
                ..idle_clocks()
            }
        );
        assert_eq!(
            r.per_device[1],
            DeviceReading {
                index: 1,
                ..idle_clocks()
            }
        );
        assert_eq!(
            r.missing,
            vec![
                "power: Not supported".to_string(),
                "utilisation: Unknown error".to_string(),
                "memory: GPU is lost".to_string(),
                "processes: Insufficient permissions".to_string(),
            ]
        );
    }

    #[test]
    fn nvml_on_a_host_without_a_driver_is_a_reason() {
        // This machine has no NVIDIA driver (CI); on one with a driver, open succeeds.
        if !std::path::Path::new("/proc/driver/nvidia/version").exists() {
            let e = Nvml::open().err().expect("no NVML here");
            assert!(e.starts_with("no NVIDIA driver library (NVML)"), "{e}");
        }
    }
}
