//! Memory of an engine's process tree (the server and every descendant: Ollama's runner,
//! a Python server's workers), sampled in the background, and GPU memory through NVML
//! where an NVIDIA driver is present.
//!
//! RSS comes from `/proc` on Linux (the sum of `statm` resident pages over the tree) and
//! from `sysinfo` elsewhere. A sampled peak can miss a spike shorter than the interval; on
//! Linux the peak also takes the kernel's own high-water mark of the root process
//! (`VmHWM`, reset at each [`RssSampler::reset_peak`] through `/proc/PID/clear_refs`), so
//! a short spike in the main process is not missed. Both are lower bounds of the true
//! tree peak, so their maximum is too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MIB: f64 = 1024.0 * 1024.0;

/// `pid` and all its descendants that are alive now.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = read_ppid(p) {
                children.entry(ppid).or_default().push(p);
            }
        }
    } else {
        return sysinfo_tree(pid);
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c.iter().copied());
        }
        i += 1;
    }
    out
}

fn read_ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) used so far by `pid` and its live descendants (Linux
/// `/proc/PID/stat`); `None` where there is no `/proc` or the process is gone.
pub fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let mut total = None;
    for p in process_tree(pid) {
        if let Some(t) = proc_cpu_ticks(p) {
            total = Some(total.unwrap_or(0.0) + t as f64 / ticks);
        }
    }
    total
}

/// utime + stime of one process, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // After the command: state(3) ppid(4) … utime(14) stime(15).
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

/// Resident bytes of one process (Linux `/proc/PID/statm`).
fn proc_rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// Peak resident bytes of one process since start or the last `clear_refs` (`VmHWM`).
fn proc_hwm_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Reset a process's `VmHWM` to its current RSS (Linux ≥ 4.0; best effort).
fn reset_hwm(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// A process table from `sysinfo` (platforms without `/proc`).
fn sysinfo_system() -> Option<sysinfo::System> {
    let mut sys = sysinfo::System::new().ok()?;
    sys.refresh_processes(sysinfo::ProcessesToUpdate::All, true);
    Some(sys)
}

fn sysinfo_tree(pid: u32) -> Vec<u32> {
    use sysinfo::Pid;
    let Some(sys) = sysinfo_system() else {
        return vec![pid];
    };
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let parent = Pid::from_u32(out[i]);
        for (p, proc_) in sys.processes() {
            if proc_.parent() == Some(parent) && !out.contains(&p.as_u32()) {
                out.push(p.as_u32());
            }
        }
        i += 1;
    }
    out
}

/// Resident bytes of `pid` and its descendants; `None` when `pid` is gone.
pub fn tree_rss_bytes(pid: u32) -> Option<u64> {
    if std::path::Path::new("/proc/self/statm").exists() {
        let root = proc_rss_bytes(pid)?;
        let rest: u64 = process_tree(pid)
            .into_iter()
            .skip(1)
            .filter_map(proc_rss_bytes)
            .sum();
        Some(root + rest)
    } else {
        use sysinfo::Pid;
        let sys = sysinfo_system()?;
        sys.process(Pid::from_u32(pid))?;
        let tree = sysinfo_tree(pid);
        Some(
            tree.iter()
                .filter_map(|p| sys.process(Pid::from_u32(*p)))
                .map(|p| p.memory())
                .sum(),
        )
    }
}

/// Resident MiB of `pid`'s tree.
pub fn tree_rss_mib(pid: u32) -> Option<f64> {
    tree_rss_bytes(pid).map(|b| b as f64 / MIB)
}

/// GPU memory of a set of processes, read through NVML ([`super::gpu`]; the driver's
/// library is loaded at run time; without one this is simply unavailable).
pub struct GpuProbe {
    nvml: super::gpu::Nvml,
}

impl GpuProbe {
    /// `None` when no NVIDIA driver is present.
    pub fn new() -> Option<GpuProbe> {
        super::gpu::Nvml::open().ok().map(|nvml| GpuProbe { nvml })
    }

    /// Bytes of GPU memory used by these pids on all devices (compute and graphics
    /// processes); `None` when NVML lists none of them with a figure.
    pub fn used_bytes(&self, pids: &[u32]) -> Option<u64> {
        super::gpu::read_all(&self.nvml, pids).ok()?.pids_bytes
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    peak_bytes: u64,
    last_bytes: Option<u64>,
    gpu_peak_bytes: Option<u64>,
    samples: u64,
}

/// Samples a process tree's RSS (and GPU memory) on a background thread until dropped.
pub struct RssSampler {
    pid: u32,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Start sampling `pid`'s tree every `interval`.
    pub fn start(pid: u32, interval: Duration) -> RssSampler {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("inferbench-rss".into())
            .spawn(move || {
                // Loaded once per sampler: NVML init costs milliseconds.
                let gpu = GpuProbe::new();
                while !sp.load(Ordering::Relaxed) {
                    sample_once(pid, gpu.as_ref(), &st);
                    std::thread::sleep(interval);
                }
            })
            .ok();
        RssSampler {
            pid,
            state,
            stop,
            thread,
        }
    }

    /// Start a new measurement window (call at the start of each run).
    pub fn reset_peak(&self) {
        reset_hwm(self.pid);
        if let Ok(mut s) = self.state.lock() {
            s.peak_bytes = s.last_bytes.unwrap_or(0);
            s.gpu_peak_bytes = None;
        }
        sample_once(self.pid, None, &self.state);
    }

    /// Peak tree RSS since the last reset, MiB (takes one more sample first).
    pub fn peak_mib(&self) -> Option<f64> {
        sample_once(self.pid, None, &self.state);
        let s = *self.state.lock().ok()?;
        let hwm = proc_hwm_bytes(self.pid).unwrap_or(0);
        let peak = s.peak_bytes.max(hwm);
        (s.samples > 0 && peak > 0).then(|| peak as f64 / MIB)
    }

    /// The latest tree RSS, MiB.
    pub fn current_mib(&self) -> Option<f64> {
        tree_rss_mib(self.pid)
    }

    /// Peak GPU memory of the tree since the last reset, MiB (`None` without NVML).
    pub fn gpu_peak_mib(&self) -> Option<f64> {
        let s = *self.state.lock().ok()?;
        s.gpu_peak_bytes.map(|b| b as f64 / MIB)
    }

    /// Number of samples taken so far.
    pub fn samples(&self) -> u64 {
        self.state.lock().map(|s| s.samples).unwrap_or(0)
    }
}

fn sample_once(pid: u32, gpu: Option<&GpuProbe>, state: &Mutex<State>) {
    let rss = tree_rss_bytes(pid);
    let gpu_bytes = gpu.and_then(|g| g.used_bytes(&process_tree(pid)));
    if let Ok(mut s) = state.lock() {
        s.samples += 1;
        s.last_bytes = rss;
        if let Some(b) = rss {
            s.peak_bytes = s.peak_bytes.max(b);
        }
        if let Some(g) = gpu_bytes {
            s.gpu_peak_bytes = Some(s.gpu_peak_bytes.unwrap_or(0).max(g));
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_cpu_is_counted() {
        let before = tree_cpu_seconds(std::process::id()).expect("cpu of self");
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(200) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let after = tree_cpu_seconds(std::process::id()).expect("cpu of self");
        assert!(after > before, "{before} → {after}");
    }
    use crate::process::{CommandSpec, LogTarget, ProcessGroup};

    #[test]
    fn tree_includes_grandchildren_and_rss_grows_with_allocation() {
        // python allocates ~200 MiB in a child of sh; the tree sum must see it.
        let spec = CommandSpec::new("sh").args([
            "-c",
            "python3 -c 'import time; b = bytearray(200*1024*1024); b[::4096] = b\"x\"*len(b[::4096]); time.sleep(30)' & wait",
        ]);
        let pg = ProcessGroup::spawn(&spec, LogTarget::Null).unwrap();
        let pid = pg.pid();
        let sampler = RssSampler::start(pid, Duration::from_millis(50));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut peak = 0.0;
        while std::time::Instant::now() < deadline {
            peak = sampler.peak_mib().unwrap_or(0.0);
            if peak > 200.0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(process_tree(pid).len() >= 2, "sh and python");
        assert!(peak > 200.0, "peak {peak} MiB");
        assert!(sampler.samples() > 0);
        drop(pg);
        // The root is gone: nothing to measure.
        std::thread::sleep(Duration::from_millis(100));
        assert!(tree_rss_bytes(pid).is_none());
    }

    #[test]
    fn own_process_has_rss() {
        let mib = tree_rss_mib(std::process::id()).unwrap();
        assert!(mib > 1.0 && mib < 100_000.0, "{mib}");
    }

    #[test]
    fn no_gpu_here_means_none_not_zero() {
        if GpuProbe::new().is_none() {
            let s = RssSampler::start(std::process::id(), Duration::from_millis(10));
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(s.gpu_peak_mib(), None);
        }
    }
}
