//! Host memory bandwidth for the physical decode bound, measured once by a small probe and
//! cached, or taken from `inferbench.memory_bandwidth_gbps` (a GPU's, or a datasheet's).
//!
//! The probe measures READ bandwidth, because batch-1 decode reads every weight once per
//! token and writes almost nothing: it compares two equal 256 MiB buffers with `==`
//! (libc `memcmp`, vectorised whatever our own optimisation level is, so a debug build
//! measures the same as a release build), split across all cores, each thread on its own
//! slice. Each thread's rate is its bytes over its own CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! so time spent descheduled by other work on a busy host does not count against the
//! memory system; a pass's figure is the sum of its threads' rates, and the best of
//! several passes is kept. On an idle host the threads run side by side and CPU time
//! equals wall time, so this is the plain aggregate bandwidth; on a busy one it can only
//! err high (a thread that ran alone had the memory to itself), which makes the ceiling
//! generous, never a false alarm. 512 MiB are far beyond any last-level cache, so the
//! figure is DRAM bandwidth.
//!
//! The result is cached in `$INFERBENCH_HOME/bandwidth.json` (default
//! `~/.cache/inferbench`), keyed by host name, CPU model and core count, so it runs once
//! per machine.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes of each of the two probe buffers.
pub const PROBE_BUFFER_BYTES: usize = 256 << 20;
/// Timed passes (at most); the best counts. A pass takes milliseconds, but on a busy
/// host any pass may lose its time slice, so many are tried, within [`PROBE_BUDGET`].
pub const PROBE_PASSES: usize = 40;
/// Stop starting new passes after this long (at least 3 passes run).
pub const PROBE_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// Identifies the probe's method in the cache; a cache written by another method is
/// measured again.
pub const PROBE_METHOD: &str = "memcmp-read-threadcpu-v2";

/// A memory bandwidth and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// GB/s (10^9 bytes per second).
    pub gbps: f64,
    /// "config" (settings), "probe" (measured now) or "probe (cached FILE)".
    pub source: String,
    /// Which host this was measured on.
    pub host_key: String,
    pub threads: usize,
    /// When measured, RFC 3339.
    pub measured_at: Option<String>,
    /// [`PROBE_METHOD`] for probe results.
    #[serde(default)]
    pub method: String,
}

/// Identifies a machine for the cache: host name, CPU model, logical cores.
pub fn host_key() -> String {
    let env = crate::environment::collect();
    format!(
        "{}|{}|{}",
        env.hostname.unwrap_or_default(),
        env.cpu_model,
        env.cores
    )
}

/// Where the probe result is cached: `$INFERBENCH_HOME/bandwidth.json`, default
/// `~/.cache/inferbench/bandwidth.json`.
pub fn cache_path() -> Option<PathBuf> {
    crate::config::setup_home().map(|h| h.join("bandwidth.json"))
}

/// Measure read bandwidth now: `threads` threads (0 = all cores), best of `passes`.
/// Blocking; takes about a second on a desktop. Returns GB/s.
pub fn probe_read_gbps(buffer_bytes: usize, threads: usize, passes: usize) -> anyhow::Result<f64> {
    let threads = if threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        threads
    };
    anyhow::ensure!(buffer_bytes >= threads * 4096, "probe buffer too small");
    // vec![x; n] writes every byte, so every page is mapped before the clock starts.
    let a = vec![0x5au8; buffer_bytes];
    let b = vec![0x5au8; buffer_bytes];
    let chunk = buffer_bytes.div_ceil(threads);
    let mut best = 0.0f64;
    let started = Instant::now();
    for pass in 0..passes.max(1) {
        if pass >= 3 && started.elapsed() > PROBE_BUDGET {
            break;
        }
        let barrier = std::sync::Barrier::new(threads);
        let (rate, all_equal) = std::thread::scope(|s| {
            let mut handles = Vec::with_capacity(threads);
            for (ca, cb) in a.chunks(chunk).zip(b.chunks(chunk)) {
                let barrier = &barrier;
                handles.push(s.spawn(move || {
                    barrier.wait();
                    let c0 = thread_cpu_seconds();
                    let eq =
                        std::hint::black_box(std::hint::black_box(ca) == std::hint::black_box(cb));
                    let cpu = thread_cpu_seconds() - c0;
                    ((ca.len() + cb.len()) as f64, cpu, eq)
                }));
            }
            // Threads that got no chunk (tiny buffers) still need the barrier released.
            for _ in handles.len()..threads {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                });
            }
            let mut rate = 0.0;
            let mut all_equal = true;
            for h in handles {
                match h.join() {
                    Ok((bytes, cpu, eq)) => {
                        if cpu > 0.0 {
                            rate += bytes / cpu;
                        }
                        all_equal &= eq;
                    }
                    Err(_) => all_equal = false,
                }
            }
            (rate, all_equal)
        });
        anyhow::ensure!(all_equal, "bandwidth probe: buffers differ (memory error?)");
        best = best.max(rate / 1e9);
    }
    anyhow::ensure!(best > 0.0, "bandwidth probe measured nothing");
    Ok(best)
}

/// CPU time of the calling thread, seconds.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Read a cached probe result for this host, if any.
pub fn read_cache(path: &Path, key: &str) -> Option<Bandwidth> {
    let text = std::fs::read_to_string(path).ok()?;
    let bw: Bandwidth = serde_json::from_str(&text).ok()?;
    (bw.host_key == key && bw.method == PROBE_METHOD && bw.gbps.is_finite() && bw.gbps > 0.0)
        .then_some(bw)
}

/// The bandwidth to use: the configured figure when given, else a cached probe for this
/// host, else a fresh probe (written to the cache; a cache that cannot be written is only
/// a warning).
pub fn resolve(configured_gbps: Option<f64>) -> anyhow::Result<Bandwidth> {
    if let Some(gbps) = configured_gbps {
        return Ok(Bandwidth {
            gbps,
            source: "config".into(),
            host_key: host_key(),
            threads: 0,
            measured_at: None,
            method: "config".into(),
        });
    }
    let key = host_key();
    let cache = cache_path();
    if let Some(path) = &cache
        && let Some(mut bw) = read_cache(path, &key)
    {
        bw.source = format!("probe (cached {})", path.display());
        return Ok(bw);
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let gbps = probe_read_gbps(PROBE_BUFFER_BYTES, threads, PROBE_PASSES)
        .context("measuring memory bandwidth")?;
    let bw = Bandwidth {
        gbps,
        source: "probe".into(),
        host_key: key,
        threads,
        measured_at: Some(chrono::Local::now().to_rfc3339()),
        method: PROBE_METHOD.into(),
    };
    if let Some(path) = &cache {
        let write = || -> anyhow::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, serde_json::to_vec_pretty(&bw)?)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!("cannot cache bandwidth in {}: {e:#}", path.display());
        }
    }
    Ok(bw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_measures_something_plausible() {
        // 32 MiB keeps the unit test quick; it may sit partly in cache, so only bounds.
        let gbps = probe_read_gbps(32 << 20, 2, 2).unwrap();
        assert!(gbps > 0.5 && gbps < 100_000.0, "{gbps}");
    }

    #[test]
    fn cache_round_trip_and_key_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bandwidth.json");
        let bw = Bandwidth {
            gbps: 42.0,
            source: "probe".into(),
            host_key: "h|cpu|2".into(),
            threads: 2,
            measured_at: None,
            method: PROBE_METHOD.into(),
        };
        std::fs::write(&path, serde_json::to_vec(&bw).unwrap()).unwrap();
        assert_eq!(read_cache(&path, "h|cpu|2").unwrap().gbps, 42.0);
        assert!(read_cache(&path, "other|cpu|2").is_none());
        std::fs::write(&path, "not json").unwrap();
        assert!(read_cache(&path, "h|cpu|2").is_none());
    }

    #[test]
    fn configured_figure_wins() {
        let bw = resolve(Some(4200.0)).unwrap();
        assert_eq!(bw.gbps, 4200.0);
        assert_eq!(bw.source, "config");
    }
}
