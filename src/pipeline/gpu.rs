//! The GPU side of a bring-up: the bandwidth a GPU engine's roofline uses (configured,
//! a measured device-to-device copy through the engine's PyTorch, or the NVML peak:
//! [`crate::measure::d2d::choose`]), the bytes per token that engine reads from the GPU
//! and from the CPU (llama.cpp `-ngl`, the transformers dtype), and the GPU memory it
//! holds (NVML per process, else the device delta around its start). On a host without
//! a GPU each of these is a reason, never an error that stops the run.

use crate::config::Settings;
use crate::engine::EngineKind;
use crate::engine::multigpu::{GpuSplit, SplitMode};
use crate::measure::d2d::{self, Choice, D2dResult};
use crate::measure::roofline::{self, Roofline};
use crate::measure::telemetry::TelemetrySampler;
use crate::results::{BandwidthReport, GpuMemory};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The copy's time limit (importing torch and a CUDA context take seconds).
pub const D2D_TIMEOUT: Duration = Duration::from_secs(180);

const MIB: f64 = 1024.0 * 1024.0;

/// The Python that has PyTorch: the first `python` of a PyTorch section of the config
/// (`servers` then `engines`), else the setup venv's.
pub fn torch_python(settings: &Settings) -> Result<PathBuf, String> {
    let sections = settings
        .file
        .servers
        .iter()
        .chain(settings.file.engines.iter());
    for (key, s) in sections {
        if Settings::kind_of(key, s) == EngineKind::PyTorch
            && let Some(p) = &s.python
        {
            return Ok(settings.path_of(p));
        }
    }
    let venv = crate::config::setup_home()
        .map(|h| h.join("venv/bin/python"))
        .filter(|p| p.is_file());
    venv.ok_or_else(|| {
        "no Python with PyTorch (no servers.*.python of a pytorch engine, no \
         $INFERBENCH_HOME/venv)"
            .to_string()
    })
}

/// Run the copy with `python` (own process group, timeout). The error is the reason.
pub async fn run_d2d(python: &Path) -> Result<D2dResult, String> {
    let spec = crate::process::CommandSpec::new(python)
        .arg("-c")
        .arg(d2d::D2D_SNIPPET)
        .arg(d2d::D2D_BYTES.to_string())
        .arg(d2d::D2D_REPS.to_string());
    let out = crate::climode::exec::run_process(&spec, D2D_TIMEOUT, Duration::from_secs(2))
        .await
        .map_err(|e| format!("running {}: {e:#}", python.display()))?;
    if out.timed_out {
        return Err(format!(
            "the copy took more than {} s",
            D2D_TIMEOUT.as_secs()
        ));
    }
    d2d::parse_d2d(&out.stdout_text()).map_err(|e| {
        let tail: String = out
            .stderr_text()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        if tail.is_empty() {
            e
        } else {
            format!("{e} (stderr: {tail})")
        }
    })
}

/// Copies measured in this process, by GPU name (each engine asks; one copy serves all).
/// A measured copy (GB/s, how) or why there is none.
type Measured = Result<(f64, String), String>;

static MEASURED: Mutex<Option<HashMap<String, Measured>>> = Mutex::new(None);

/// The measured copy for `gpu`: this process's, else the cache's, else a new copy
/// (cached). `Ok((GB/s, how))`.
async fn measured_for(gpu: &str, settings: &Settings) -> Measured {
    if let Ok(m) = MEASURED.lock()
        && let Some(r) = m.as_ref().and_then(|m| m.get(gpu))
    {
        return r.clone();
    }
    let cache = d2d::cache_path();
    let result = match cache.as_deref().and_then(|p| d2d::read_cache(p, gpu)) {
        Some(c) => Ok((
            c.gbps,
            format!(
                "{} (cached {}, measured {})",
                c.how,
                cache_name(&cache),
                c.measured_at
            ),
        )),
        None => match torch_python(settings) {
            Err(e) => Err(e),
            Ok(py) => match run_d2d(&py).await {
                Err(e) => Err(e),
                Ok(r) => {
                    let fresh = d2d::CachedD2d {
                        gbps: r.gbps,
                        measured_at: chrono::Local::now().to_rfc3339(),
                        how: r.describe(),
                    };
                    if let Some(p) = cache.as_deref()
                        && let Err(e) = d2d::write_cache(p, gpu, fresh)
                    {
                        tracing::warn!("cannot cache the GPU copy figure: {e:#}");
                    }
                    Ok((r.gbps, r.describe()))
                }
            },
        },
    };
    if let Ok(mut m) = MEASURED.lock() {
        m.get_or_insert_with(HashMap::new)
            .insert(gpu.to_string(), result.clone());
    }
    result
}

fn cache_name(p: &Option<PathBuf>) -> String {
    p.as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The GPU bandwidth for a roofline, with every candidate figure in the report. With a
/// configured figure no copy is run (a cached one is still shown).
pub async fn gpu_bandwidth(
    settings: &Settings,
    sampler: &TelemetrySampler,
) -> (Result<Choice, String>, BandwidthReport) {
    let mut report = BandwidthReport::default();
    let peak = sampler
        .gpu()
        .and_then(|g| crate::measure::gpu::device_peak(g, 0));
    let name = peak
        .as_ref()
        .ok()
        .map(|p| p.name.clone())
        .or_else(|| sampler.gpu().ok().and_then(|g| g.name(0).ok()));
    report.gpu = name.clone();
    match &peak {
        Ok(p) => {
            report.peak_nvml_gbps = Some(p.gbps);
            report.peak_nvml_note = Some(p.describe());
        }
        Err(e) => report.peak_nvml_note = Some(e.clone()),
    }
    let measured: Measured = match &name {
        None => Err("no GPU visible to NVML".into()),
        Some(n) if settings.memory_bandwidth_gbps.is_some() => d2d::cache_path()
            .as_deref()
            .and_then(|p| d2d::read_cache(p, n))
            .map(|c| (c.gbps, format!("{} (cached)", c.how)))
            .ok_or_else(|| "not measured: a configured figure is used".to_string()),
        Some(n) => measured_for(n, settings).await,
    };
    match &measured {
        Ok((g, how)) => {
            report.measured_d2d_gbps = Some(*g);
            report.measured_d2d_note = Some(how.clone());
        }
        Err(e) => report.measured_d2d_note = Some(e.clone()),
    }
    let choice = d2d::choose(
        settings.memory_bandwidth_gbps,
        measured.as_ref().map(|m| m.0).map_err(String::as_str),
        peak.as_ref().map(|p| p.gbps).map_err(String::as_str),
    );
    if let Ok(c) = &choice {
        report.used = c.used.to_string();
        report.why = c.why.clone();
        report.label = format!("of {}", c.label);
    }
    (choice, report)
}

/// The `-ngl` (`--n-gpu-layers`, `--gpu-layers`) value of a llama.cpp command line. Pure.
pub fn ngl_of(argv: &[String]) -> Option<i64> {
    argv.windows(2)
        .rev()
        .find(|w| matches!(w[0].as_str(), "-ngl" | "--n-gpu-layers" | "--gpu-layers"))
        .and_then(|w| w[1].parse().ok())
}

/// Bytes per token on the GPU and on the CPU of a GGUF with `ngl` layers offloaded
/// ([`d2d::offload_split`] over the file's blocks).
pub fn gguf_split(path: &Path, ngl: i64) -> Result<(u64, u64), String> {
    let info = crate::gguf::GgufInfo::read(path).map_err(|e| format!("{e:#}"))?;
    let per_token = info
        .decode_bytes_per_token()
        .map_err(|e| format!("{e:#}"))?;
    let blocks = info.block_count().unwrap_or(0) as usize;
    let mut layers = vec![0u64; blocks];
    for t in &info.tensors {
        if let Some(i) = t
            .name
            .strip_prefix("blk.")
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            && i < blocks
        {
            layers[i] += t.n_bytes().map_err(|e| format!("{e:#}"))?;
        }
    }
    let rest = per_token.saturating_sub(layers.iter().sum());
    Ok(d2d::offload_split(&layers, rest, ngl))
}

/// What a GPU engine keeps on the GPU.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// All weights (a transformers model at its dtype, an engine that offloads itself).
    All,
    /// llama.cpp with this `-ngl`.
    Layers(i64),
}

/// The roofline of a GPU engine: bytes per token split by `placement`, the GPU share
/// read at the GPU bandwidth, the rest at the host's ([`d2d::split_ceiling_tps`]). With
/// the model spread over several GPUs (`split`), the GPU share is read at the split's
/// bandwidth ([`GpuSplit::ceiling_gbps`]: the sum of the GPUs' for a row split, one GPU's
/// for a layer split), every GPU at the figure measured on the first.
pub async fn gpu_roofline(
    settings: &Settings,
    kind: EngineKind,
    model: &Path,
    placement: Placement,
    bytes_per_token: u64,
    sampler: &TelemetrySampler,
    split: Option<GpuSplit>,
) -> (Result<Roofline, String>, BandwidthReport) {
    let (gpu_bytes, cpu_bytes) = match (&placement, kind) {
        (Placement::Layers(ngl), _) if model.extension().is_some_and(|e| e == "gguf") => {
            match gguf_split(model, *ngl) {
                Ok(s) => s,
                Err(e) => {
                    return (
                        Err(format!("cannot split {}: {e}", model.display())),
                        BandwidthReport::default(),
                    );
                }
            }
        }
        _ => (bytes_per_token, 0),
    };
    let (choice, mut report) = gpu_bandwidth(settings, sampler).await;
    let mut choice = match choice {
        Ok(c) => c,
        Err(e) => return (Err(e), report),
    };
    if let Some(split) = &split
        && let Some(gbps) = split.ceiling_gbps(choice.gbps)
    {
        let what = format!(
            "{}: {:.0} GB/s per GPU ({}) → {gbps:.0} GB/s",
            split.describe(),
            choice.gbps,
            choice.label
        );
        report.why = format!("{}; {what}", report.why);
        report.label = format!("of {gbps:.0} GB/s ({what})");
        choice.label = what;
        choice.gbps = gbps;
    }
    if gpu_bytes == 0 {
        report.why = format!("{}; no layer on the GPU (-ngl 0)", report.why);
    }
    let (gbps, label, source) = if cpu_bytes == 0 {
        (choice.gbps, report.label.clone(), choice.label.clone())
    } else {
        let host = match crate::measure::bandwidth::resolve(None) {
            Ok(b) => b,
            Err(e) => {
                return (
                    Err(format!("no host bandwidth for the CPU layers: {e:#}")),
                    report,
                );
            }
        };
        report.host_gbps = Some(host.gbps);
        report.used = format!("{}+host_probe", choice.used);
        let Some(tps) = d2d::split_ceiling_tps(gpu_bytes, choice.gbps, cpu_bytes, host.gbps) else {
            return (Err("no bandwidth for the bytes read".into()), report);
        };
        // The effective bandwidth: bytes per token × the split ceiling.
        let eff = (gpu_bytes + cpu_bytes) as f64 * tps / 1e9;
        let source = format!(
            "{:.1} MB on GPU at {}, {:.1} MB on CPU at {:.0} GB/s host probe",
            gpu_bytes as f64 / 1e6,
            choice.label,
            cpu_bytes as f64 / 1e6,
            host.gbps
        );
        report.why = format!("{}; {source}", report.why);
        (
            eff,
            format!("of {eff:.0} GB/s effective ({source})"),
            source,
        )
    };
    report.label = label;
    let roof = Roofline::new(gpu_bytes + cpu_bytes, gbps, &source);
    (Ok(roof), report)
}

/// The physical ceiling of an engine inferbench started, with its bandwidth report in
/// `info.bandwidth`: on `device: cpu` the host figure (probe or config) over the model's
/// bytes per token; on a GPU device the GPU bandwidth ([`gpu_bandwidth`]) over the bytes
/// the engine keeps there (llama.cpp: its `-ngl` from the command line; PyTorch: its dtype;
/// any other engine: all). The error says why there is none.
pub async fn managed_roofline(
    settings: &Settings,
    key: &str,
    info: &mut crate::results::EngineInfo,
) -> Result<Roofline, String> {
    let section = settings
        .file
        .servers
        .get(key)
        .ok_or_else(|| format!("no servers.{key} section"))?;
    let model = settings.path_of(
        section
            .model_path
            .as_deref()
            .ok_or("no model_path configured")?,
    );
    let kind = Settings::kind_of(key, section);
    let device = info.device.clone().unwrap_or_else(|| {
        section
            .device
            .clone()
            .unwrap_or_else(|| settings.device.clone())
    });
    let bytes = model_bytes_of(kind, &model, section.torch_dtype.as_deref())?;
    let placement = match kind {
        EngineKind::LlamaCpp => ngl_of(&info.command)
            .map(Placement::Layers)
            .unwrap_or(Placement::All),
        _ => Placement::All,
    };
    let on_gpu = device != "cpu" && placement != Placement::Layers(0);
    if !on_gpu {
        let bw = crate::measure::bandwidth::resolve(settings.memory_bandwidth_gbps)
            .map_err(|e| format!("no memory bandwidth: {e:#}"))?;
        info.bandwidth = Some(host_report(&bw));
        return Ok(Roofline::from_bandwidth(bytes, &bw));
    }
    let split = engine_split(kind, section, crate::measure::telemetry::shared());
    let (roof, report) = gpu_roofline(
        settings,
        kind,
        &model,
        placement,
        bytes,
        crate::measure::telemetry::shared(),
        split,
    )
    .await;
    info.bandwidth = Some(report);
    roof
}

/// How an engine spreads its model over the GPUs it sees: llama.cpp by its split
/// settings (layer split by default), PyTorch's `device_map` layer by layer; `None` on
/// one GPU.
pub fn engine_split(
    kind: EngineKind,
    section: &crate::config::EngineSection,
    sampler: &TelemetrySampler,
) -> Option<GpuSplit> {
    let visible = sampler
        .gpu()
        .ok()
        .and_then(|g| g.device_count().ok())
        .unwrap_or(1);
    let mut m = section.multi_gpu();
    match kind {
        EngineKind::LlamaCpp => {}
        EngineKind::PyTorch if section.torch_knob("device_map") != "none" => {
            m.split_mode = Some(SplitMode::Layer);
        }
        _ => return None,
    }
    m.split(visible)
}

/// The GPU memory of a started engine right after load (see [`gpu_memory`]).
pub fn engine_gpu_memory(pid: u32, used_before: &Result<u64, String>) -> GpuMemory {
    let tel = crate::measure::telemetry::shared();
    let reading = read_tree(pid);
    if let Some(m) = reading.as_ref().and_then(per_process_memory) {
        return m;
    }
    // The reading holds the device's memory in use too; read again only without it.
    let used_now = match reading.as_ref().and_then(|r| r.used_bytes) {
        Some(b) => Ok(b),
        None => tel.device_used_bytes(),
    };
    gpu_memory(None, used_before, &used_now)
}

/// NVML's figure for the process tree of a server we started, where NVML lists one (a
/// CLI client's server: see [`cli_gpu_memory`]).
pub fn server_gpu_memory(pid: u32) -> Option<GpuMemory> {
    read_tree(pid).as_ref().and_then(per_process_memory)
}

fn read_tree(pid: u32) -> Option<crate::measure::gpu::Reading> {
    let tel = crate::measure::telemetry::shared();
    tel.gpu().ok().and_then(|g| {
        crate::measure::gpu::read_all(g, &crate::measure::resources::process_tree(pid)).ok()
    })
}

/// The per-process figure of a reading, with its split over the GPUs; none where NVML
/// listed no memory for the processes.
fn per_process_memory(r: &crate::measure::gpu::Reading) -> Option<GpuMemory> {
    let no_delta = Err(String::new());
    let mut m = gpu_memory(Some(r.pids_bytes?), &no_delta, &no_delta);
    m.per_gpu = crate::measure::telemetry::pids_mib_per_device(r);
    Some(m)
}

/// The ceiling of a CLI-mode engine, with its bandwidth report: the host figure for a
/// CPU run (as [`super::cli_runner::roofline_for`]), the GPU figure over the bytes it keeps
/// on the GPU otherwise (llama.cpp's configured `ngl`; none configured: all, the generous
/// bound).
pub async fn cli_roofline(
    prep: &super::cli_runner::Prepared,
    bandwidth: &mut Option<anyhow::Result<crate::measure::bandwidth::Bandwidth>>,
    settings: &Settings,
) -> (anyhow::Result<Roofline>, Option<BandwidthReport>) {
    use crate::engines::Adapter;
    let (kind, model, placement) = match &prep.adapter {
        Adapter::LlamaCpp(x) => (
            EngineKind::LlamaCpp,
            Some(x.model.clone()),
            x.ngl.map(Placement::Layers).unwrap_or(Placement::All),
        ),
        Adapter::PyTorch(x) => (EngineKind::PyTorch, Some(x.model.clone()), Placement::All),
        Adapter::Uzu(x) => (EngineKind::Uzu, Some(x.model.clone()), Placement::All),
        Adapter::Ollama(_) => (EngineKind::Ollama, None, Placement::All),
    };
    let on_gpu = prep.device != "cpu" && placement != Placement::Layers(0);
    if !on_gpu || model.is_none() {
        let roof = super::cli_runner::roofline_for(&prep.adapter, bandwidth, settings);
        let report = bandwidth
            .as_ref()
            .and_then(|b| b.as_ref().ok())
            .map(host_report);
        return (roof, report);
    }
    let bytes = match prep.adapter.model_bytes() {
        Ok(b) => b.bytes_per_token,
        Err(e) => return (Err(e), None),
    };
    let model = model.unwrap_or_default();
    let split = settings
        .file
        .engines
        .get(&prep.key)
        .and_then(|section| engine_split(kind, section, crate::measure::telemetry::shared()));
    let (roof, report) = gpu_roofline(
        settings,
        kind,
        &model,
        placement,
        bytes,
        crate::measure::telemetry::shared(),
        split,
    )
    .await;
    (roof.map_err(|e| anyhow::anyhow!(e)), Some(report))
}

/// One CLI engine's telemetry: each run's window (its whole process, model load included)
/// on its record, and the engine's GPU memory: the device's memory in use at its highest
/// during a run minus just before that run (each run is its own process, gone when NVML
/// could list it; another engine's runs may come between two of its runs).
pub struct CliTelemetry<'a> {
    sampler: &'a TelemetrySampler,
    mark: crate::measure::telemetry::Mark,
    /// Device memory in use before the current run.
    used_before: Result<u64, String>,
    /// The highest device memory a run added, MiB.
    delta_max_mib: Option<f64>,
}

impl<'a> CliTelemetry<'a> {
    pub fn new(sampler: &'a TelemetrySampler) -> Self {
        CliTelemetry {
            sampler,
            mark: sampler.mark(),
            used_before: sampler.device_used_bytes(),
            delta_max_mib: None,
        }
    }

    /// A run starts now.
    pub fn start(&mut self) {
        self.used_before = self.sampler.device_used_bytes();
        self.mark = self.sampler.mark();
    }

    /// The run's telemetry on its record.
    pub fn stamp(&mut self, record: &mut crate::results::RunRecord) {
        let t = self.sampler.window(self.mark, record.output_tokens);
        if let (Some(m), Ok(before)) = (t.gpu_used_max_mib, &self.used_before) {
            let delta = (m - *before as f64 / MIB).max(0.0);
            self.delta_max_mib = Some(self.delta_max_mib.map_or(delta, |x| x.max(delta)));
        }
        record.flags.extend(crate::measure::throttle::flag(&t));
        record.telemetry = Some(t);
    }

    /// The engine's GPU memory: the largest device delta of one of its runs.
    pub fn gpu_memory(&self) -> GpuMemory {
        let (mib, source, reason) = match (&self.used_before, self.delta_max_mib) {
            (_, Some(mib)) => (
                Some(mib),
                Some("device delta".into()),
                "CLI mode: each run is its own process; the device's memory in use at its highest during a run minus just before that run, the largest over its runs".into(),
            ),
            (Err(e), None) => (None, None, e.clone()),
            (Ok(_), None) => (None, None, "no device memory reading during the runs".into()),
        };
        GpuMemory {
            mib,
            source,
            reason: Some(reason),
            per_gpu: Vec::new(),
        }
    }
}

/// A CLI-mode engine's GPU memory: where its client talks to a server we started
/// (`ollama run` to `ollama serve`, where the model lives), NVML's per-process figure for
/// the server's process tree (`served`, read after the runs); else the client's device
/// delta. Pure.
pub fn cli_gpu_memory(served: Option<GpuMemory>, client: GpuMemory) -> GpuMemory {
    match served {
        Some(m) => GpuMemory {
            reason: Some(
                "CLI mode: the model runs in the `ollama serve` inferbench started for the \
                 client; NVML's figure for that server's process tree, read after the runs"
                    .into(),
            ),
            ..m
        },
        None => client,
    }
}

/// The report of a CPU engine's bandwidth (the host probe or the configured figure).
pub fn host_report(bw: &crate::measure::bandwidth::Bandwidth) -> BandwidthReport {
    let config = bw.method == "config";
    BandwidthReport {
        host_gbps: Some(bw.gbps),
        used: if config { "config" } else { "host_probe" }.into(),
        why: if config {
            "inferbench.memory_bandwidth_gbps is set: a configured figure wins".into()
        } else {
            "a CPU engine reads its weights from host RAM".into()
        },
        label: if config {
            format!("of {:.0} GB/s configured", bw.gbps)
        } else {
            format!("of {:.0} GB/s measured host read", bw.gbps)
        },
        ..BandwidthReport::default()
    }
}

/// Sized bytes per token of a managed engine's model (as [`roofline`] counts them).
pub fn model_bytes_of(kind: EngineKind, model: &Path, dtype: Option<&str>) -> Result<u64, String> {
    let b = if kind == EngineKind::PyTorch {
        roofline::transformers_model_bytes(model, dtype)
    } else {
        roofline::model_bytes(model)
    };
    b.map(|m| m.bytes_per_token)
        .map_err(|e| format!("cannot size {}: {e:#}", model.display()))
}

/// The GPU memory an engine holds once loaded: NVML's per-process figure for its process
/// tree, else the device's memory in use now minus `used_before` (read before it
/// started), else why neither (pure over what was read).
pub fn gpu_memory(
    per_process: Option<u64>,
    used_before: &Result<u64, String>,
    used_now: &Result<u64, String>,
) -> GpuMemory {
    if let Some(b) = per_process {
        return GpuMemory {
            mib: Some(b as f64 / MIB),
            source: Some("nvml per process".into()),
            reason: None,
            per_gpu: Vec::new(),
        };
    }
    match (used_before, used_now) {
        (Ok(a), Ok(b)) => GpuMemory {
            mib: Some(b.saturating_sub(*a) as f64 / MIB),
            source: Some("device delta".into()),
            reason: Some(
                "NVML lists no memory for the engine's processes (a container's pid \
                 namespace, or the driver does not say): device memory in use after load \
                 minus before start"
                    .into(),
            ),
            per_gpu: Vec::new(),
        },
        (Err(e), _) | (_, Err(e)) => GpuMemory {
            mib: None,
            source: None,
            reason: Some(e.clone()),
            per_gpu: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn cli_records_get_their_window_and_the_device_delta() {
        use crate::measure::gpu::{DeviceMemory, FakeDevice, FakeGpu, GpuSource};
        let dir = tempfile::tempdir().unwrap();
        let mut dev = FakeDevice::new("Fake", 1215, 5120, 40 << 30);
        dev.memory = Ok(DeviceMemory {
            total: 40 << 30,
            used: 1 << 30,
        });
        dev.energy_mj = Ok(0);
        let fake = std::sync::Arc::new(FakeGpu::new(vec![dev]));
        let sampler = TelemetrySampler::start(
            Ok(fake.clone() as std::sync::Arc<dyn GpuSource>),
            dir.path().join("none"),
            Duration::from_secs(3600),
        );
        let mut tel = CliTelemetry::new(&sampler);
        tel.start();
        // The run loads 2 GiB and spends 30 J on 10 tokens.
        fake.update(0, |d| {
            d.memory = Ok(DeviceMemory {
                total: 40 << 30,
                used: 3 << 30,
            });
            d.energy_mj = Ok(30_000);
        });
        std::thread::sleep(Duration::from_millis(5));
        let mut r = crate::results::RunRecord::new(
            "llamacpp",
            crate::results::Mode::Cli,
            "llama-cli",
            "p",
            "short",
            0,
            crate::export::summary::tests::rec("x", "short", true, 1.0).sampling,
            "t",
        );
        r.output_tokens = Some(10);
        tel.stamp(&mut r);
        let m = tel.gpu_memory();
        assert_eq!(
            (m.mib, m.source.as_deref()),
            (Some(2048.0), Some("device delta"))
        );
        let t = r.telemetry.as_ref().unwrap();
        assert_eq!(t.gpu_energy_j, Some(30.0));
        assert_eq!(t.gpu_j_per_token, Some(3.0));
        // Another engine's run next (interleaved), with the first one's 2 GiB still in use
        // (a server keeps its model): only what this run adds is its own.
        let mut other = CliTelemetry::new(&sampler);
        other.start();
        fake.update(0, |d| {
            d.memory = Ok(DeviceMemory {
                total: 40 << 30,
                used: (3 << 30) + (512 << 20),
            });
        });
        std::thread::sleep(Duration::from_millis(5));
        other.stamp(&mut r);
        assert_eq!(other.gpu_memory().mib, Some(512.0));
    }

    #[test]
    fn ngl_is_read_from_the_command_line() {
        assert_eq!(
            ngl_of(&s(&["llama-server", "-m", "x", "-ngl", "99"])),
            Some(99)
        );
        assert_eq!(
            ngl_of(&s(&["llama-server", "-ngl", "0", "--n-gpu-layers", "12"])),
            Some(12)
        );
        assert_eq!(ngl_of(&s(&["llama-server", "-m", "x"])), None);
        assert_eq!(ngl_of(&s(&["llama-server", "-ngl"])), None);
    }

    #[test]
    fn a_cli_client_of_our_server_gets_the_servers_memory() {
        let per_process = gpu_memory(Some(3 << 30), &Err("x".into()), &Err("x".into()));
        let client = GpuMemory {
            mib: Some(2.0),
            source: Some("device delta".into()),
            reason: None,
            per_gpu: Vec::new(),
        };
        let m = cli_gpu_memory(Some(per_process), client.clone());
        assert_eq!(
            (m.mib, m.source.as_deref()),
            (Some(3072.0), Some("nvml per process"))
        );
        assert!(m.reason.is_some_and(|r| r.contains("ollama serve")));
        // No server, or NVML could not say for its processes: the client's delta.
        assert_eq!(cli_gpu_memory(None, client.clone()), client);
    }

    #[test]
    fn gpu_memory_per_process_else_device_delta_else_reason() {
        let m = gpu_memory(Some(512 << 20), &Ok(0), &Ok(0));
        assert_eq!(
            (m.mib, m.source.as_deref()),
            (Some(512.0), Some("nvml per process"))
        );
        let m = gpu_memory(None, &Ok(1 << 30), &Ok(3 << 30));
        assert_eq!(
            (m.mib, m.source.as_deref()),
            (Some(2048.0), Some("device delta"))
        );
        let m = gpu_memory(
            None,
            &Err("no NVIDIA driver library (NVML): x".into()),
            &Ok(0),
        );
        assert_eq!((m.mib, m.source), (None, None));
        assert_eq!(
            m.reason.as_deref(),
            Some("no NVIDIA driver library (NVML): x")
        );
    }

    #[test]
    fn a_cpu_engines_label_names_the_host_figure() {
        let mut bw = crate::measure::bandwidth::Bandwidth::configured(40.0);
        assert_eq!(host_report(&bw).label, "of 40 GB/s configured");
        bw.method = crate::measure::bandwidth::PROBE_METHOD.into();
        let r = host_report(&bw);
        assert_eq!(
            (r.label.as_str(), r.used.as_str()),
            ("of 40 GB/s measured host read", "host_probe")
        );
    }

    fn settings() -> Settings {
        crate::config::resolve(
            None,
            crate::config::ConfigFile::default(),
            &std::collections::BTreeMap::<String, String>::new(),
            &crate::config::Overrides::default(),
        )
        .expect("default settings")
    }

    #[tokio::test]
    async fn without_a_gpu_the_bandwidth_is_a_reason_and_config_still_wins() {
        let dir = tempfile::tempdir().unwrap();
        let sampler = TelemetrySampler::start(
            Err("no NVIDIA driver library (NVML): test".into()),
            dir.path().join("none"),
            Duration::from_secs(1),
        );
        let settings = settings();
        let (choice, report) = gpu_bandwidth(&settings, &sampler).await;
        let e = choice.unwrap_err();
        assert!(
            e.contains("no GPU visible to NVML") && e.contains("NVML): test"),
            "{e}"
        );
        assert_eq!(report.peak_nvml_gbps, None);
        assert_eq!(
            report.peak_nvml_note.as_deref(),
            Some("no NVIDIA driver library (NVML): test")
        );
        let configured = Settings {
            memory_bandwidth_gbps: Some(4000.0),
            ..settings
        };
        let (choice, report) = gpu_bandwidth(&configured, &sampler).await;
        assert_eq!(choice.unwrap().gbps, 4000.0);
        assert_eq!(report.label, "of 4000 GB/s configured");
    }

    #[tokio::test]
    async fn a_fake_gpu_without_torch_falls_back_to_the_nvml_peak() {
        use crate::measure::gpu::{FakeDevice, FakeGpu, GpuSource};
        let dir = tempfile::tempdir().unwrap();
        let fake = std::sync::Arc::new(FakeGpu::new(vec![FakeDevice::new(
            "Fake GPU no torch",
            3125,
            6144,
            141 << 30,
        )]));
        let sampler = TelemetrySampler::start(
            Ok(fake as std::sync::Arc<dyn GpuSource>),
            dir.path().join("none"),
            Duration::from_secs(3600),
        );
        // A Python that does not exist: the copy cannot run, so the peak is used.
        let mut settings = settings();
        settings.file.servers.insert(
            "pytorch".into(),
            crate::config::EngineSection {
                python: Some(dir.path().join("no-python").display().to_string()),
                ..Default::default()
            },
        );
        let (choice, report) = gpu_bandwidth(&settings, &sampler).await;
        let c = choice.unwrap();
        assert_eq!((c.gbps, c.used), (4800.0, "nvml_peak"));
        assert_eq!(report.label, "of 4800 GB/s NVML peak");
        assert_eq!(report.peak_nvml_gbps, Some(4800.0));
        assert!(
            report
                .measured_d2d_note
                .as_deref()
                .unwrap()
                .starts_with("running "),
            "{report:?}"
        );
    }
}
