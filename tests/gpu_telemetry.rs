//! GPU and CPU telemetry end to end with a synthetic engine that inferbench starts: every
//! sequential API run and every load step carries a telemetry object;
//! on a host without an NVIDIA driver or RAPL every figure is null with its reason, the
//! engine's GPU memory is null with its reason, the results validate against the schema
//! and the Markdown and HTML reports render the section with "–" and the reasons.
//!
//! Engines that span GPUs, over a scripted NVML (`FakeGpu`) of 2 and 4 devices: each
//! device's own figures beside the sums, a device without a figure drops only the sum,
//! and a document carrying per-GPU figures validates and renders them per device.

use inferbench::measure::gpu::{
    DeviceMemory, FakeDevice, FakeGpu, GpuSource, ProcessMemory, Utilisation, read_all,
};
use inferbench::measure::telemetry::{Sample, TelemetrySampler, pids_mib_per_device, summarize};
use inferbench::results::{GpuDeviceMemory, GpuRunTelemetry, ResultsDoc};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A device drawing `power_w` at `util` %, `used` bytes in use, with these processes.
fn device(power_w: u32, util: u32, used: u64, procs: &[(u32, u64)]) -> FakeDevice {
    let mut d = FakeDevice::new("Fake H200", 3125, 6144, 141 * GIB);
    d.power_mw = Ok(power_w * 1000);
    d.energy_mj = Ok(1_000_000);
    d.utilisation = Ok(Utilisation {
        gpu_pct: util,
        memory_pct: util / 2,
    });
    d.memory = Ok(DeviceMemory {
        total: 141 * GIB,
        used,
    });
    d.processes = Ok(procs
        .iter()
        .map(|&(pid, b)| ProcessMemory {
            pid,
            used_bytes: Some(b),
        })
        .collect());
    d
}

/// An engine of pids 100 (device 0) and 101 (device 1); pid 999 is someone else's.
fn two_gpu_engine() -> FakeGpu {
    FakeGpu::new(vec![
        device(300, 90, 20 * GIB, &[(100, 12_345 * MIB), (999, GIB)]),
        device(250, 70, 13 * GIB, &[(101, 12_001 * MIB)]),
    ])
}

fn gpu_run(index: u32, power: f64, util: f64, used: u64, engine: Option<u64>) -> GpuRunTelemetry {
    GpuRunTelemetry {
        index,
        power_mean_w: Some(power),
        util_mean_pct: Some(util),
        used_max_mib: Some((used / MIB) as f64),
        engine_max_mib: engine.map(|b| (b / MIB) as f64),
    }
}

mod common;
use common::{inferbench, only_file};

fn exe() -> String {
    assert_cmd::cargo::cargo_bin("inferbench")
        .display()
        .to_string()
}

fn config(dir: &Path) {
    let cfg = serde_json::json!({
        "benchmark": {"num_runs": 2, "max_tokens": 8},
        "inferbench": {"warmup_runs": 0, "chat_template": "gemma3"},
        "servers": {"mock": {
            "kind": "mock",
            "binary": exe(),
            "port": common::free_port(),
            "extra_args": ["--ttft-ms", "5", "--itl-ms", "2", "--tokens", "8"],
        }},
    });
    std::fs::write(
        dir.join("benchmark_config.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
}

/// Whether this host has an NVIDIA driver (then NVML figures must be there).
fn nvidia() -> bool {
    Path::new("/proc/driver/nvidia/version").exists()
}

/// Whether this host exposes RAPL package counters we can read.
fn rapl() -> bool {
    std::fs::read_to_string("/sys/class/powercap/intel-rapl:0/energy_uj").is_ok()
}

fn check_telemetry(t: &Value) {
    assert!(t.is_object(), "{t}");
    if nvidia() {
        assert!(t["gpu_samples"].as_u64().unwrap() >= 2, "{t}");
        assert!(t["gpu_power_mean_w"].as_f64().is_some(), "{t}");
    } else {
        assert_eq!(t["gpu_samples"], 0, "{t}");
        for k in [
            "gpu_power_mean_w",
            "gpu_util_mean_pct",
            "gpu_energy_j",
            "gpu_j_per_token",
        ] {
            assert!(t[k].is_null(), "{k}: {t}");
        }
        let why = t["gpu_reason"].as_str().expect("a reason");
        assert!(why.contains("NVML"), "{why}");
    }
    if rapl() {
        assert!(t["cpu_energy_j"].as_f64().is_some(), "{t}");
    } else {
        assert!(
            t["cpu_energy_j"].is_null() && t["cpu_j_per_token"].is_null(),
            "{t}"
        );
        assert!(
            t["cpu_reason"].as_str().expect("a reason").contains("RAPL"),
            "{t}"
        );
    }
}

fn read_doc(dir: &Path) -> Value {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    common::assert_valid_results(&doc);
    doc
}

#[test]
fn sequential_runs_carry_telemetry_and_the_reports_render_it() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--out-dir", "D", "--quiet", "--html"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = read_doc(dir.path());
    let runs = doc["runs"].as_array().unwrap();
    assert!(!runs.is_empty());
    for r in runs {
        assert_eq!(r["ok"], true, "{r}");
        check_telemetry(&r["telemetry"]);
        assert!(r["telemetry"]["window_s"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["telemetry"]["output_tokens"], r["output_tokens"]);
    }
    let mem = &doc["engines"][0]["gpu_memory"];
    if nvidia() {
        assert!(mem["mib"].as_f64().is_some(), "{mem}");
    } else {
        assert!(mem["mib"].is_null(), "{mem}");
        assert!(mem["reason"].as_str().unwrap().contains("NVML"), "{mem}");
    }
    let md = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "md")).unwrap();
    assert!(md.contains("## GPU, power and energy"), "{md}");
    assert!(md.contains("| mock | api | "), "{md}");
    if !nvidia() {
        assert!(md.contains("Why a figure is –"), "{md}");
        assert!(
            md.contains("mock api: GPU: no NVIDIA driver library (NVML)"),
            "{md}"
        );
    }
    let html = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "html")).unwrap();
    assert!(html.contains("<h2>GPU, power and energy</h2>"), "{html}");
}

#[test]
fn every_load_step_carries_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let out = inferbench(dir.path())
        .args([
            "api",
            "--concurrency",
            "2",
            "--requests",
            "6",
            "--out-dir",
            "D",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = read_doc(dir.path());
    let steps = doc["load"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    check_telemetry(&steps[0]["telemetry"]);
    assert_eq!(
        steps[0]["telemetry"]["output_tokens"],
        steps[0]["output_tokens"]
    );
}

#[test]
fn an_engine_on_two_gpus_has_each_devices_figures_and_their_sums() {
    let fake = two_gpu_engine();
    let r = read_all(&fake, &[100, 101]).unwrap();
    assert_eq!(r.devices, 2);
    assert_eq!(r.power_mw, Some(550_000));
    assert_eq!(r.gpu_util_pct, Some(80.0));
    assert_eq!(r.memory_util_pct, Some(40.0));
    assert_eq!(r.used_bytes, Some(33 * GIB));
    assert_eq!(r.pids_bytes, Some(24_346 * MIB));
    let own: Vec<_> = r
        .per_device
        .iter()
        .map(|d| {
            (
                d.index,
                d.power_mw,
                d.gpu_util_pct,
                d.used_bytes,
                d.pids_bytes,
            )
        })
        .collect();
    assert_eq!(
        own,
        vec![
            (
                0,
                Some(300_000),
                Some(90),
                Some(20 * GIB),
                Some(12_345 * MIB)
            ),
            (
                1,
                Some(250_000),
                Some(70),
                Some(13 * GIB),
                Some(12_001 * MIB)
            ),
        ]
    );
    assert_eq!(
        pids_mib_per_device(&r),
        vec![
            GpuDeviceMemory {
                index: 0,
                mib: 12_345.0
            },
            GpuDeviceMemory {
                index: 1,
                mib: 12_001.0
            },
        ]
    );

    // Through the sampler: every reading of the window is the same state, so the means
    // hold however many readings the window has.
    let fake = Arc::new(two_gpu_engine());
    let dir = tempfile::tempdir().unwrap();
    let s = TelemetrySampler::start(
        Ok(fake.clone() as Arc<dyn GpuSource>),
        dir.path().join("no-rapl"),
        Duration::from_secs(3600),
    );
    s.set_engine_pids(&[100, 101]);
    let t = s.window(s.mark(), Some(10));
    assert!(t.gpu_samples >= 2, "{t:?}");
    assert_eq!(t.gpu_power_mean_w, Some(550.0));
    assert_eq!(t.gpu_util_mean_pct, Some(80.0));
    assert_eq!(t.gpu_used_max_mib, Some(33.0 * 1024.0));
    assert_eq!(
        t.gpus,
        vec![
            gpu_run(0, 300.0, 90.0, 20 * GIB, Some(12_345 * MIB)),
            gpu_run(1, 250.0, 70.0, 13 * GIB, Some(12_001 * MIB)),
        ]
    );
}

#[test]
fn four_gpus_one_without_power_keep_the_others_own_figures() {
    // The engine sits on devices 1 and 3; device 2 cannot report its power.
    let fake = FakeGpu::new(vec![
        device(60, 0, GIB, &[(999, GIB)]),
        device(400, 95, 30 * GIB, &[(200, 28 * GIB)]),
        device(70, 5, 2 * GIB, &[]),
        device(380, 85, 30 * GIB, &[(201, 27 * GIB), (202, GIB)]),
    ]);
    fake.update(2, |d| d.power_mw = Err("Not Supported".into()));
    let pids = [200, 201, 202];
    let a = read_all(&fake, &pids).unwrap();
    fake.update(1, |d| {
        d.power_mw = Ok(500_000);
        d.energy_mj = Ok(1_900_000);
        d.utilisation = Ok(Utilisation {
            gpu_pct: 85,
            memory_pct: 40,
        });
    });
    fake.update(3, |d| {
        d.energy_mj = Ok(1_800_000);
        d.processes = Ok(vec![ProcessMemory {
            pid: 201,
            used_bytes: Some(29 * GIB),
        }]);
    });
    let b = read_all(&fake, &pids).unwrap();
    assert_eq!((a.power_mw, b.power_mw), (None, None));
    assert_eq!(
        b.per_device.iter().map(|d| d.power_mw).collect::<Vec<_>>(),
        vec![Some(60_000), Some(500_000), None, Some(380_000)]
    );
    assert_eq!(b.missing, vec!["power: Not Supported".to_string()]);
    // Utilisation is still there for every device: the mean of (0, 95, 5, 85) = 46.25.
    assert_eq!(a.gpu_util_pct, Some(46.25));
    assert_eq!(a.pids_bytes, Some(56 * GIB));
    assert_eq!(
        pids_mib_per_device(&a),
        vec![
            GpuDeviceMemory {
                index: 1,
                mib: 28.0 * 1024.0
            },
            GpuDeviceMemory {
                index: 3,
                mib: 28.0 * 1024.0
            },
        ]
    );
    let samples = [
        Sample {
            t_s: 0.0,
            gpu: Some(Ok(a)),
            cpu: None,
            host: None,
        },
        Sample {
            t_s: 2.0,
            gpu: Some(Ok(b)),
            cpu: None,
            host: None,
        },
    ];
    let t = summarize(&samples, Some(100), None, Some("no RAPL"));
    assert_eq!((t.gpu_power_mean_w, t.gpu_power_max_w), (None, None));
    // The energy counter still covers every device: 0.9 + 0.8 MJ more = 1700 J.
    assert_eq!(t.gpu_energy_j, Some(1700.0));
    assert_eq!(t.gpu_j_per_token, Some(17.0));
    assert_eq!(t.gpu_util_mean_pct, Some(45.0));
    assert_eq!(t.gpu_reason.as_deref(), Some("power: Not Supported"));
    let power: Vec<_> = t.gpus.iter().map(|g| (g.index, g.power_mean_w)).collect();
    assert_eq!(
        power,
        vec![
            (0, Some(60.0)),
            (1, Some(450.0)),
            (2, None),
            (3, Some(380.0))
        ]
    );
    let util: Vec<_> = t.gpus.iter().map(|g| g.util_mean_pct).collect();
    assert_eq!(util, vec![Some(0.0), Some(90.0), Some(5.0), Some(85.0)]);
    let engine: Vec<_> = t.gpus.iter().map(|g| g.engine_max_mib).collect();
    assert_eq!(
        engine,
        vec![None, Some(28.0 * 1024.0), None, Some(29.0 * 1024.0)]
    );
}

#[test]
fn per_gpu_figures_validate_and_the_reports_show_them_per_device() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--out-dir", "D", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut doc = read_doc(dir.path());
    // One run of this host has no per-device figures without a GPU, and none are written.
    if !nvidia() {
        for r in doc["runs"].as_array().unwrap() {
            assert!(r["telemetry"].get("gpus").is_none(), "{r}");
        }
        assert!(doc["engines"][0]["gpu_memory"].get("per_gpu").is_none());
    }
    // Give every run and the engine the figures of the two-GPU fake.
    let fake = two_gpu_engine();
    let r = read_all(&fake, &[100, 101]).unwrap();
    let sample = |t_s| Sample {
        t_s,
        gpu: Some(Ok(r.clone())),
        cpu: None,
        host: None,
    };
    let t = summarize(&[sample(0.0), sample(1.0)], Some(8), None, None);
    let gpus = serde_json::to_value(&t.gpus).unwrap();
    for run in doc["runs"].as_array_mut().unwrap() {
        run["telemetry"]["gpus"] = gpus.clone();
    }
    doc["engines"][0]["gpu_memory"] = serde_json::json!({
        "mib": 24_346.0,
        "source": "nvml per process",
        "reason": null,
        "per_gpu": serde_json::to_value(pids_mib_per_device(&r)).unwrap(),
    });
    common::assert_valid_results(&doc);
    let parsed: ResultsDoc = serde_json::from_value(doc).unwrap();
    assert_eq!(parsed.runs[0].telemetry.as_ref().unwrap().gpus, t.gpus);
    let md = inferbench::export::energy::markdown(&parsed);
    assert!(
        md.contains("- mock api: GPU memory per device: 0: 12,345 MiB, 1: 12,001 MiB (sum 24,346); engine peak per device: 0: 12,345 MiB, 1: 12,001 MiB (sum 24,346); memory in use peak per device: 0: 20,480 MiB, 1: 13,312 MiB; power mean per device: 0: 300.0 W, 1: 250.0 W (sum 550.0); GPU util mean per device: 0: 90 %, 1: 70 %"),
        "{md}"
    );
    let html = inferbench::export::energy::html(&parsed);
    assert!(
        html.contains(
            "<li>mock api: GPU memory per device: 0: 12,345 MiB, 1: 12,001 MiB (sum 24,346);"
        ),
        "{html}"
    );
}

/// A sysfs-like tree: two CPUs at `mhz` of 3500 MHz, and one thermal zone at `celsius`.
fn host_tree(root: &Path, mhz: [u32; 2], celsius: f64) {
    for (i, m) in mhz.iter().enumerate() {
        let d = root.join(format!("cpu/cpu{i}/cpufreq"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("scaling_cur_freq"), format!("{}\n", m * 1000)).unwrap();
        std::fs::write(d.join("cpuinfo_max_freq"), "3500000\n").unwrap();
    }
    let z = root.join("thermal/thermal_zone0");
    std::fs::create_dir_all(&z).unwrap();
    std::fs::write(z.join("type"), "x86_pkg_temp\n").unwrap();
    std::fs::write(z.join("temp"), format!("{}\n", (celsius * 1000.0) as i64)).unwrap();
}

#[test]
fn clock_event_reasons_and_host_readings_appear_per_run() {
    let dir = tempfile::tempdir().unwrap();
    host_tree(dir.path(), [3400, 3300], 55.0);
    let fake = Arc::new(FakeGpu::new(vec![device(300, 90, 20 * GIB, &[])]));
    // A long interval: each window holds the two synchronous readings at its ends.
    let s = TelemetrySampler::start_with_host(
        Ok(fake.clone() as Arc<dyn GpuSource>),
        dir.path().join("no-rapl"),
        Ok(dir.path().join("cpu")),
        Ok(dir.path().join("thermal")),
        Duration::from_secs(3600),
    );
    // Run 1: full clocks, idle reason only.
    fake.update(0, |d| d.clock_reasons = Ok(0x1));
    let m = s.mark();
    let run1 = s.window(m, Some(8));
    // Run 2: the GPU hits its power cap and a thermal slowdown (0x4 | 0x20) at 1410 MHz;
    // the CPU runs at 1700 MHz of 3500 at 92 °C.
    fake.update(0, |d| {
        d.clock_reasons = Ok(0x24);
        d.sm_clock_mhz = Ok(1410);
    });
    host_tree(dir.path(), [1700, 1700], 92.0);
    let m = s.mark();
    let run2 = s.window(m, Some(8));
    // Run 3: back to normal.
    fake.update(0, |d| {
        d.clock_reasons = Ok(0);
        d.sm_clock_mhz = Ok(1980);
    });
    host_tree(dir.path(), [3400, 3400], 60.0);
    let m = s.mark();
    let run3 = s.window(m, Some(8));

    let c1 = run1.clocks.as_ref().unwrap();
    assert_eq!(c1.gpu_clock_reasons, vec!["gpu_idle"]);
    assert_eq!(c1.gpus[0].sm_mhz_mean, Some(1980.0));
    assert_eq!(c1.cpu_mhz_mean, Some(3350.0));
    assert_eq!(c1.cpu_mhz_max, Some(3500.0));
    assert_eq!(c1.zones[0].max_c, 55.0);
    assert_eq!(c1.zones[0].kind, "x86_pkg_temp");
    assert_eq!(c1.throttled, None);
    assert_eq!(inferbench::measure::throttle::flag(&run1), None);

    let c2 = run2.clocks.as_ref().unwrap();
    assert_eq!(
        c2.gpu_clock_reasons,
        vec!["sw_power_cap", "sw_thermal_slowdown"]
    );
    assert_eq!(
        (c2.gpus[0].sm_mhz_mean, c2.gpus[0].sm_mhz_max),
        (Some(1410.0), Some(1980.0))
    );
    assert_eq!(c2.cpu_mhz_mean, Some(1700.0));
    assert_eq!(c2.zones[0].max_c, 92.0);
    assert_eq!(
        c2.throttled.as_deref(),
        Some(
            "GPU clock event reasons: sw_power_cap, sw_thermal_slowdown; CPU at 1700 MHz mean, 49% of its 3500 MHz maximum, while thermal_zone0 (x86_pkg_temp) reached 92 °C"
        )
    );
    let f = inferbench::measure::throttle::flag(&run2).unwrap();
    assert_eq!(f.kind, "throttled");

    let c3 = run3.clocks.as_ref().unwrap();
    assert!(c3.gpu_clock_reasons.is_empty(), "{c3:?}");
    assert_eq!(c3.throttled, None);
    // Each run's readings are in its JSON.
    let json = serde_json::to_value(&run2).unwrap();
    assert_eq!(
        json["clocks"]["gpu_clock_reasons"],
        serde_json::json!(["sw_power_cap", "sw_thermal_slowdown"])
    );
    assert_eq!(json["clocks"]["zones"][0]["max_c"], 92.0);
}

#[test]
fn a_host_without_thermal_zones_or_cpufreq_gives_the_reason_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    // An empty /sys/class/thermal (as on this project's VM) and no cpufreq.
    std::fs::create_dir_all(dir.path().join("thermal")).unwrap();
    std::fs::create_dir_all(dir.path().join("cpu/cpu0")).unwrap();
    let s = TelemetrySampler::start_with_host(
        Err("no NVIDIA driver library (NVML): not found".into()),
        dir.path().join("no-rapl"),
        Ok(dir.path().join("cpu")),
        Ok(dir.path().join("thermal")),
        Duration::from_millis(10),
    );
    assert!(!s.is_sampling());
    let t = s.window(s.mark(), Some(4));
    let c = t.clocks.unwrap();
    assert!(
        c.thermal_reason
            .as_deref()
            .unwrap()
            .starts_with("no thermal zones: no readable thermal_zoneN/temp under"),
        "{c:?}"
    );
    assert!(
        c.cpu_freq_reason
            .as_deref()
            .unwrap()
            .starts_with("no cpufreq"),
        "{c:?}"
    );
    assert_eq!(
        c.gpu_clock_reason.as_deref(),
        Some("no NVIDIA driver library (NVML): not found")
    );
    assert!(c.zones.is_empty() && c.throttled.is_none());
}
