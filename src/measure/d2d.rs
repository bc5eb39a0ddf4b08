//! The GPU's memory bandwidth for the roofline: a timed device-to-device copy where
//! PyTorch with CUDA is available ([`D2D_SNIPPET`], run by the pipeline with the
//! engine's Python and a timeout, its one JSON line read by [`parse_d2d`]), the NVML
//! peak ([`super::gpu::peak_bandwidth_gbps`]) where no copy can be timed, the configured
//! figure when one is given; [`choose`] picks and says why.
//!
//! The copy: two 1 GiB buffers, `b.copy_(a)` timed with CUDA events, a few warm-up
//! copies, then [`D2D_REPS`] timed ones; the best counts (as for the host probe: other
//! work can only make a copy slower). A copy reads and writes every byte, so GB/s counts
//! 2 × bytes ÷ time, which is what batch-1 decode is bounded by (reads), as far as a
//! copy kernel reaches: a measured copy reaches ~85–93 % of the datasheet peak, so the
//! measured ceiling is the tighter, honest one.
//!
//! A measured figure is cached in `$INFERBENCH_HOME/gpu_bandwidth.json` keyed by the GPU
//! name (the best ever measured per name, as the host figure).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Timed copies after the warm-up.
pub const D2D_REPS: u32 = 10;
/// Bytes of each buffer.
pub const D2D_BYTES: u64 = 1 << 30;

/// The copy, as `python -c` source: prints exactly one JSON line, `{"gbps": ...}` or
/// `{"error": "..."}`. Arguments: bytes, reps.
pub const D2D_SNIPPET: &str = r#"
import json, sys
def main():
    try:
        import torch
    except Exception as e:
        return {"error": "import torch: %s" % e}
    if not torch.cuda.is_available():
        return {"error": "torch.cuda.is_available() is False (torch %s)" % torch.__version__}
    n = int(sys.argv[1]); reps = int(sys.argv[2])
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    a.fill_(7)
    for _ in range(3):
        b.copy_(a)
    torch.cuda.synchronize()
    ms = []
    for _ in range(reps):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        b.copy_(a)
        e.record()
        e.synchronize()
        ms.append(s.elapsed_time(e))
    ms.sort()
    best = ms[0]
    return {"gbps": 2.0 * n / (best / 1000.0) / 1e9, "bytes": n, "reps": reps,
            "best_ms": best, "median_ms": ms[len(ms) // 2],
            "device": torch.cuda.get_device_name(0), "torch": torch.__version__}
try:
    out = main()
except Exception as e:
    out = {"error": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out), flush=True)
"#;

/// What the copy printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct D2dResult {
    pub gbps: f64,
    pub bytes: u64,
    pub reps: u32,
    pub best_ms: f64,
    pub median_ms: f64,
    pub device: String,
    pub torch: String,
}

impl D2dResult {
    pub fn describe(&self) -> String {
        format!(
            "torch {} device-to-device copy of {} MiB on {}, best of {} (best {:.3} ms, median {:.3} ms), read + write bytes",
            self.torch,
            self.bytes >> 20,
            self.device,
            self.reps,
            self.best_ms,
            self.median_ms
        )
    }
}

/// Read the snippet's output (pure): the last line that is a JSON object. An `error`
/// object, no such line, or a figure that is not finite and positive is an error.
pub fn parse_d2d(stdout: &str) -> Result<D2dResult, String> {
    let line = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| "the copy printed no JSON line".to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("the copy's JSON line: {e}"))?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(e.to_string());
    }
    let r: D2dResult =
        serde_json::from_value(v).map_err(|e| format!("the copy's JSON line: {e}"))?;
    if !(r.gbps.is_finite() && r.gbps > 0.0) {
        return Err(format!("the copy measured {} GB/s", r.gbps));
    }
    Ok(r)
}

/// A measured figure in the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedD2d {
    pub gbps: f64,
    pub measured_at: String,
    pub how: String,
}

/// `$INFERBENCH_HOME/gpu_bandwidth.json`.
pub fn cache_path() -> Option<PathBuf> {
    crate::config::setup_home().map(|h| h.join("gpu_bandwidth.json"))
}

/// The cached figure for a GPU name.
pub fn read_cache(path: &Path, gpu: &str) -> Option<CachedD2d> {
    let text = std::fs::read_to_string(path).ok()?;
    let map: BTreeMap<String, CachedD2d> = serde_json::from_str(&text).ok()?;
    map.get(gpu)
        .filter(|c| c.gbps.is_finite() && c.gbps > 0.0)
        .cloned()
}

/// Keep the best figure for a GPU name; returns what is cached now.
pub fn write_cache(path: &Path, gpu: &str, fresh: CachedD2d) -> anyhow::Result<CachedD2d> {
    let mut map: BTreeMap<String, CachedD2d> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let keep = match map.get(gpu) {
        Some(old) if old.gbps >= fresh.gbps => old.clone(),
        _ => fresh,
    };
    map.insert(gpu.to_string(), keep.clone());
    super::bandwidth::write_json_cache(path, &map)?;
    Ok(keep)
}

/// Which GPU figure the roofline uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub gbps: f64,
    /// "config", "measured_d2d" or "nvml_peak".
    pub used: &'static str,
    pub why: String,
    /// "4190 GB/s measured D2D copy".
    pub label: String,
}

/// Pick the GPU bandwidth (pure): the configured figure when given (it wins, labelled),
/// else the measured copy, else the NVML peak; `Err` with both reasons when there is none.
pub fn choose(
    configured: Option<f64>,
    measured: Result<f64, &str>,
    peak: Result<f64, &str>,
) -> Result<Choice, String> {
    if let Some(g) = configured {
        return Ok(Choice {
            gbps: g,
            used: "config",
            why: "inferbench.memory_bandwidth_gbps is set: a configured figure wins".into(),
            label: format!("{g:.0} GB/s configured"),
        });
    }
    match (measured, peak) {
        (Ok(m), _) => Ok(Choice {
            gbps: m,
            used: "measured_d2d",
            why: "a measured copy is what this GPU's memory delivers; the NVML peak is the datasheet bound".into(),
            label: format!("{m:.0} GB/s measured D2D copy"),
        }),
        (Err(why_m), Ok(p)) => Ok(Choice {
            gbps: p,
            used: "nvml_peak",
            why: format!("no measured copy ({why_m}): the NVML peak, a generous bound"),
            label: format!("{p:.0} GB/s NVML peak"),
        }),
        (Err(why_m), Err(why_p)) => Err(format!(
            "no GPU bandwidth: no measured copy ({why_m}), no NVML peak ({why_p}); set \
             inferbench.memory_bandwidth_gbps"
        )),
    }
}

/// Seconds per token when `gpu_bytes` are read at `gpu_gbps` and `cpu_bytes` at
/// `cpu_gbps` (a partly offloaded llama.cpp model: the layers on each side are read in
/// turn), and the tok/s ceiling that gives. Pure; `None` for a zero bandwidth where bytes
/// are read, or no bytes at all.
pub fn split_ceiling_tps(
    gpu_bytes: u64,
    gpu_gbps: f64,
    cpu_bytes: u64,
    cpu_gbps: f64,
) -> Option<f64> {
    let part = |bytes: u64, gbps: f64| -> Option<f64> {
        if bytes == 0 {
            Some(0.0)
        } else if gbps.is_finite() && gbps > 0.0 {
            Some(bytes as f64 / (gbps * 1e9))
        } else {
            None
        }
    };
    let s = part(gpu_bytes, gpu_gbps)? + part(cpu_bytes, cpu_gbps)?;
    (s > 0.0).then(|| 1.0 / s)
}

/// Bytes per token on the GPU and on the CPU when llama.cpp offloads `ngl` layers (pure):
/// `layer_bytes[i]` are the bytes of block `i` (tensors `blk.i.*`), `rest` every other
/// byte read per token (output layer, norms, the embedding row). llama.cpp offloads the
/// LAST `ngl` blocks, and the output layer too once `ngl` exceeds the block count;
/// `ngl < 0` (llama.cpp: all) offloads everything.
pub fn offload_split(layer_bytes: &[u64], rest: u64, ngl: i64) -> (u64, u64) {
    let n = layer_bytes.len() as i64;
    let all: u64 = layer_bytes.iter().sum::<u64>() + rest;
    if ngl < 0 || ngl > n {
        return (all, 0);
    }
    let on_gpu: u64 = layer_bytes[(n - ngl) as usize..].iter().sum();
    (on_gpu, all - on_gpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copys_json_line_is_read_and_errors_are_reasons() {
        let out = "some warning\n{\"gbps\": 4190.5, \"bytes\": 1073741824, \"reps\": 10, \"best_ms\": 0.5125, \"median_ms\": 0.52, \"device\": \"NVIDIA H200\", \"torch\": \"2.5.1\"}\n";
        let r = parse_d2d(out).unwrap();
        assert_eq!(r.gbps, 4190.5);
        assert_eq!((r.bytes, r.reps), (1 << 30, 10));
        assert_eq!(r.device, "NVIDIA H200");
        assert!(
            r.describe()
                .contains("copy of 1024 MiB on NVIDIA H200, best of 10"),
            "{}",
            r.describe()
        );
        assert_eq!(
            parse_d2d("{\"error\": \"torch.cuda.is_available() is False (torch 2.5.1+cpu)\"}"),
            Err("torch.cuda.is_available() is False (torch 2.5.1+cpu)".into())
        );
        assert_eq!(
            parse_d2d("Traceback ...\n"),
            Err("the copy printed no JSON line".into())
        );
        assert!(
            parse_d2d("{\"gbps\": 1}")
                .unwrap_err()
                .starts_with("the copy's JSON line")
        );
        let zero = "{\"gbps\": 0.0, \"bytes\": 1, \"reps\": 1, \"best_ms\": 1, \"median_ms\": 1, \"device\": \"x\", \"torch\": \"t\"}";
        assert_eq!(parse_d2d(zero), Err("the copy measured 0 GB/s".into()));
    }

    #[test]
    fn config_wins_then_measured_then_peak() {
        let c = choose(Some(4000.0), Ok(4190.0), Ok(4800.0)).unwrap();
        assert_eq!(
            (c.gbps, c.used, c.label.as_str()),
            (4000.0, "config", "4000 GB/s configured")
        );
        let c = choose(None, Ok(4190.0), Ok(4800.0)).unwrap();
        assert_eq!((c.gbps, c.used), (4190.0, "measured_d2d"));
        assert_eq!(c.label, "4190 GB/s measured D2D copy");
        let c = choose(None, Err("no torch"), Ok(4800.0)).unwrap();
        assert_eq!(
            (c.gbps, c.used, c.label.as_str()),
            (4800.0, "nvml_peak", "4800 GB/s NVML peak")
        );
        assert!(c.why.contains("no torch"), "{}", c.why);
        let e = choose(None, Err("no torch"), Err("no NVML")).unwrap_err();
        assert!(e.contains("no torch") && e.contains("no NVML"), "{e}");
    }

    #[test]
    fn split_time_per_token_adds_both_sides() {
        // 1 GB on a 1000 GB/s GPU (1 ms) + 0.1 GB on 50 GB/s host RAM (2 ms) = 3 ms.
        let tps = split_ceiling_tps(1_000_000_000, 1000.0, 100_000_000, 50.0).unwrap();
        assert!((tps - 1000.0 / 3.0).abs() < 1e-9, "{tps}");
        // Everything on the GPU: the plain ceiling.
        let all_gpu = split_ceiling_tps(2_000_000_000, 4000.0, 0, 0.0).unwrap();
        assert!((all_gpu - 2000.0).abs() < 1e-9, "{all_gpu}");
        assert_eq!(split_ceiling_tps(1, 0.0, 0, 50.0), None);
        assert_eq!(split_ceiling_tps(0, 1.0, 0, 1.0), None);
    }

    #[test]
    fn ngl_offloads_the_last_blocks_and_the_output_beyond_them() {
        let layers = [10, 20, 30, 40];
        assert_eq!(offload_split(&layers, 5, 0), (0, 105));
        assert_eq!(offload_split(&layers, 1, 0), (0, 101));
        assert_eq!(offload_split(&layers, 5, 2), (70, 35));
        assert_eq!(
            offload_split(&layers, 5, 4),
            (100, 5),
            "blocks only; output stays"
        );
        assert_eq!(offload_split(&layers, 5, 99), (105, 0));
        assert_eq!(offload_split(&layers, 5, -1), (105, 0));
    }

    #[test]
    fn cache_keeps_the_best_figure_per_gpu_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/gpu_bandwidth.json");
        let c = |g: f64| CachedD2d {
            gbps: g,
            measured_at: "t".into(),
            how: "h".into(),
        };
        assert_eq!(write_cache(&p, "H200", c(4100.0)).unwrap().gbps, 4100.0);
        assert_eq!(write_cache(&p, "H200", c(3000.0)).unwrap().gbps, 4100.0);
        write_cache(&p, "A100", c(1400.0)).unwrap();
        assert_eq!(read_cache(&p, "H200").unwrap().gbps, 4100.0);
        assert_eq!(read_cache(&p, "A100").unwrap().gbps, 1400.0);
        assert!(read_cache(&p, "L4").is_none());
    }
}
