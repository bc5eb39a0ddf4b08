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
//! Several short probes ([`PROBE_ROUNDS`], a pause between them) run per measurement and
//! the highest counts: other work on the cores or on the memory bus can only make a
//! probe read LOW (a thread that shares the memory bus gets less of it), so the highest
//! of several is the closest to the memory system's real figure.
//!
//! The result is cached in `$INFERBENCH_HOME/bandwidth.json` (default
//! `~/.cache/inferbench`), keyed by host name, CPU model and core count. The cache keeps
//! the BEST figure ever measured on that host, never a lower one ([`merge`]), with how
//! and when it was measured (method, buffer size, threads, passes, rounds, time) and the
//! highest per-round samples. A cached figure is used as is once it is *settled*
//! ([`is_settled`]: at least [`SETTLE_PROBES`] measurements whose two best samples agree
//! within [`SETTLE_AGREEMENT`]); until then each run probes again and merges, so one
//! measurement taken while the host was busy cannot stick.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes of each of the two probe buffers.
pub const PROBE_BUFFER_BYTES: usize = 256 << 20;
/// Timed passes per round (at most); the best counts. A pass takes milliseconds, but on
/// a busy host any pass may lose its time slice, so many are tried, within
/// [`PROBE_BUDGET`].
pub const PROBE_PASSES: usize = 40;
/// Stop starting new passes in a round after this long (at least 3 passes run).
pub const PROBE_BUDGET: Duration = Duration::from_millis(500);
/// Short probes per measurement; the highest counts.
pub const PROBE_ROUNDS: usize = 3;
/// Pause between rounds, so that a burst of other work can pass.
pub const PROBE_PAUSE: Duration = Duration::from_millis(250);
/// Samples (per-round figures) kept in the cache, the highest first.
pub const MAX_SAMPLES: usize = 16;
/// A cached figure is settled after this many measurements ...
pub const SETTLE_PROBES: u32 = 2;
/// ... whose two highest samples are within this ratio of each other.
pub const SETTLE_AGREEMENT: f64 = 0.9;

/// Identifies the probe's per-pass method in the cache; a cache written by another
/// method is measured again.
pub const PROBE_METHOD: &str = "memcmp-read-threadcpu-v2";

/// A memory bandwidth and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// GB/s (10^9 bytes per second).
    pub gbps: f64,
    /// "config" (settings), "probe" (measured now, best of this and any cached figure)
    /// or "probe (cached FILE)".
    pub source: String,
    /// Which host this was measured on.
    pub host_key: String,
    pub threads: usize,
    /// When the best figure was measured, RFC 3339.
    pub measured_at: Option<String>,
    /// [`PROBE_METHOD`] for probe results, "config" for a configured figure.
    #[serde(default)]
    pub method: String,
    /// Bytes of each probe buffer of the best measurement.
    #[serde(default)]
    pub buffer_bytes: Option<u64>,
    /// Passes per round (at most) of the best measurement.
    #[serde(default)]
    pub passes: Option<usize>,
    /// Rounds of the best measurement.
    #[serde(default)]
    pub rounds: Option<usize>,
    /// The highest per-round figures measured on this host, GB/s, highest first (at most
    /// [`MAX_SAMPLES`]).
    #[serde(default)]
    pub samples: Vec<f64>,
    /// How many measurements were merged into this figure.
    #[serde(default)]
    pub probes: u32,
}

impl Bandwidth {
    /// A configured figure (`inferbench.memory_bandwidth_gbps`).
    pub fn configured(gbps: f64) -> Self {
        Bandwidth {
            gbps,
            source: "config".into(),
            host_key: host_key(),
            threads: 0,
            measured_at: None,
            method: "config".into(),
            buffer_bytes: None,
            passes: None,
            rounds: None,
            samples: Vec::new(),
            probes: 0,
        }
    }

    /// Where the figure came from, in one line for notes and reports, e.g.
    /// "probe memcmp-read-threadcpu-v2, best of 6 rounds in 2 measurements (2 × 256 MiB,
    /// 2 threads, ≤ 40 passes a round) at 2025-…; samples 85.1, 84.0 GB/s".
    pub fn describe(&self) -> String {
        if self.method == "config" {
            return "config (inferbench.memory_bandwidth_gbps)".into();
        }
        let mut s = format!("{} {}", self.source, self.method);
        let rounds = self.samples.len().max(self.rounds.unwrap_or(0));
        s.push_str(&format!(
            ", best of {rounds} rounds in {} measurement{}",
            self.probes.max(1),
            if self.probes > 1 { "s" } else { "" }
        ));
        let mut how = Vec::new();
        if let Some(b) = self.buffer_bytes {
            how.push(format!("2 × {} MiB", b >> 20));
        }
        if self.threads > 0 {
            how.push(format!("{} threads", self.threads));
        }
        if let Some(p) = self.passes {
            how.push(format!("≤ {p} passes a round"));
        }
        if !how.is_empty() {
            s.push_str(&format!(" ({})", how.join(", ")));
        }
        if let Some(t) = &self.measured_at {
            s.push_str(&format!(" at {t}"));
        }
        if !self.samples.is_empty() {
            let list: Vec<String> = self.samples.iter().map(|x| format!("{x:.1}")).collect();
            s.push_str(&format!("; samples {} GB/s", list.join(", ")));
        }
        s
    }
}

/// How one measurement probes.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub buffer_bytes: usize,
    /// 0 = all cores.
    pub threads: usize,
    pub rounds: usize,
    pub passes: usize,
    pub round_budget: Duration,
    pub pause: Duration,
}

impl Default for ProbeSpec {
    fn default() -> Self {
        ProbeSpec {
            buffer_bytes: PROBE_BUFFER_BYTES,
            threads: 0,
            rounds: PROBE_ROUNDS,
            passes: PROBE_PASSES,
            round_budget: PROBE_BUDGET,
            pause: PROBE_PAUSE,
        }
    }
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

fn all_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        threads
    }
}

/// Measure read bandwidth now: `threads` threads (0 = all cores), best of `passes`
/// (one round, within [`PROBE_BUDGET`]). Blocking. Returns GB/s.
pub fn probe_read_gbps(buffer_bytes: usize, threads: usize, passes: usize) -> anyhow::Result<f64> {
    let spec = ProbeSpec {
        buffer_bytes,
        threads,
        rounds: 1,
        passes,
        ..ProbeSpec::default()
    };
    Ok(probe_rounds(&spec)?.into_iter().fold(0.0, f64::max))
}

/// Run `spec.rounds` short probes on one pair of buffers; one figure (GB/s) per round.
pub fn probe_rounds(spec: &ProbeSpec) -> anyhow::Result<Vec<f64>> {
    let threads = all_threads(spec.threads);
    anyhow::ensure!(
        spec.buffer_bytes >= threads * 4096,
        "probe buffer too small"
    );
    // vec![x; n] writes every byte, so every page is mapped before the clock starts.
    let a = vec![0x5au8; spec.buffer_bytes];
    let b = vec![0x5au8; spec.buffer_bytes];
    let mut out = Vec::with_capacity(spec.rounds.max(1));
    for round in 0..spec.rounds.max(1) {
        if round > 0 {
            std::thread::sleep(spec.pause);
        }
        let gbps = probe_round(&a, &b, threads, spec.passes, spec.round_budget)?;
        out.push(gbps);
    }
    Ok(out)
}

/// One round: best of up to `passes` passes over `a` and `b`, within `budget`.
fn probe_round(
    a: &[u8],
    b: &[u8],
    threads: usize,
    passes: usize,
    budget: Duration,
) -> anyhow::Result<f64> {
    let chunk = a.len().div_ceil(threads);
    let mut best = 0.0f64;
    let started = Instant::now();
    for pass in 0..passes.max(1) {
        if pass >= 3 && started.elapsed() > budget {
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

/// Whether a cached figure can be used without probing again: measured at least
/// [`SETTLE_PROBES`] times, and its two best samples agree within [`SETTLE_AGREEMENT`].
pub fn is_settled(bw: &Bandwidth) -> bool {
    bw.probes >= SETTLE_PROBES
        && match bw.samples.as_slice() {
            [a, b, ..] => *a > 0.0 && b / a >= SETTLE_AGREEMENT,
            _ => false,
        }
}

/// Merge a fresh measurement into what was cached for the host (pure): the higher figure
/// wins with its own provenance (method, buffer, threads, passes, time), never a lower
/// one; the samples are the highest of both, highest first; the measurement count adds.
pub fn merge(cached: Option<Bandwidth>, fresh: Bandwidth) -> Bandwidth {
    let Some(cached) = cached else {
        let mut fresh = fresh;
        sort_samples(&mut fresh.samples);
        return fresh;
    };
    let probes = cached.probes.max(1) + fresh.probes.max(1);
    let mut samples: Vec<f64> = cached
        .samples
        .iter()
        .chain(&fresh.samples)
        .copied()
        .collect();
    if cached.samples.is_empty() {
        // An older cache without samples: its figure is one.
        samples.push(cached.gbps);
    }
    let mut best = if fresh.gbps > cached.gbps {
        fresh
    } else {
        cached
    };
    sort_samples(&mut samples);
    best.samples = samples;
    best.probes = probes;
    best
}

fn sort_samples(samples: &mut Vec<f64>) {
    samples.retain(|x| x.is_finite() && *x > 0.0);
    samples.sort_by(|a, b| b.total_cmp(a));
    samples.truncate(MAX_SAMPLES);
}

/// Write a figure to the cache (creating its directory).
pub fn write_cache(path: &Path, bw: &Bandwidth) -> anyhow::Result<()> {
    write_json_cache(path, bw)
}

/// Write a cache file as pretty JSON, creating its directory, through a temporary name
/// and a rename (a reader never sees half a file). Shared with the D2D copy's cache.
pub fn write_json_cache<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// Measure now ([`probe_rounds`]) and merge with the host's cached figure at `cache`
/// (if any): the result, also written back, is the best ever measured here. A cache that
/// cannot be written is only a warning.
pub fn probe_and_cache(
    cache: Option<&Path>,
    key: &str,
    spec: &ProbeSpec,
) -> anyhow::Result<Bandwidth> {
    let threads = all_threads(spec.threads);
    let samples = probe_rounds(spec).context("measuring memory bandwidth")?;
    let gbps = samples.iter().copied().fold(0.0, f64::max);
    anyhow::ensure!(gbps > 0.0, "bandwidth probe measured nothing");
    let fresh = Bandwidth {
        gbps,
        source: "probe".into(),
        host_key: key.to_string(),
        threads,
        measured_at: Some(chrono::Local::now().to_rfc3339()),
        method: PROBE_METHOD.into(),
        buffer_bytes: Some(spec.buffer_bytes as u64),
        passes: Some(spec.passes),
        rounds: Some(spec.rounds.max(1)),
        samples,
        probes: 1,
    };
    let cached = cache.and_then(|p| read_cache(p, key));
    let mut bw = merge(cached, fresh);
    bw.source = "probe".into();
    if let Some(path) = cache
        && let Err(e) = write_cache(path, &bw)
    {
        tracing::warn!("cannot cache bandwidth in {}: {e:#}", path.display());
    }
    Ok(bw)
}

/// The bandwidth to use: the configured figure when given, else the settled cached
/// figure for this host, else a fresh measurement merged with the cache
/// ([`probe_and_cache`]).
pub fn resolve_with(
    configured_gbps: Option<f64>,
    cache: Option<&Path>,
    key: &str,
    spec: &ProbeSpec,
) -> anyhow::Result<Bandwidth> {
    if let Some(gbps) = configured_gbps {
        return Ok(Bandwidth::configured(gbps));
    }
    if let Some(path) = cache
        && let Some(mut bw) = read_cache(path, key)
        && is_settled(&bw)
    {
        bw.source = format!("probe (cached {})", path.display());
        return Ok(bw);
    }
    probe_and_cache(cache, key, spec)
}

/// [`resolve_with`] for this host, its default cache and the default probe.
pub fn resolve(configured_gbps: Option<f64>) -> anyhow::Result<Bandwidth> {
    resolve_with(
        configured_gbps,
        cache_path().as_deref(),
        &host_key(),
        &ProbeSpec::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> ProbeSpec {
        // 32 MiB keeps the unit test quick; it may sit partly in cache, so only bounds.
        ProbeSpec {
            buffer_bytes: 32 << 20,
            threads: 2,
            rounds: 2,
            passes: 2,
            round_budget: Duration::from_millis(200),
            pause: Duration::from_millis(1),
        }
    }

    fn measured(gbps: f64, samples: &[f64], at: &str) -> Bandwidth {
        Bandwidth {
            gbps,
            source: "probe".into(),
            host_key: "h|cpu|2".into(),
            threads: 2,
            measured_at: Some(at.into()),
            method: PROBE_METHOD.into(),
            buffer_bytes: Some(256 << 20),
            passes: Some(40),
            rounds: Some(samples.len()),
            samples: samples.to_vec(),
            probes: 1,
        }
    }

    #[test]
    fn probe_measures_something_plausible() {
        let gbps = probe_read_gbps(32 << 20, 2, 2).unwrap();
        assert!(gbps > 0.5 && gbps < 100_000.0, "{gbps}");
        let rounds = probe_rounds(&quick()).unwrap();
        assert_eq!(rounds.len(), 2);
        assert!(rounds.iter().all(|g| *g > 0.5), "{rounds:?}");
    }

    #[test]
    fn cache_round_trip_and_key_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/bandwidth.json");
        write_cache(&path, &measured(42.0, &[42.0], "t")).unwrap();
        assert_eq!(read_cache(&path, "h|cpu|2").unwrap().gbps, 42.0);
        assert!(read_cache(&path, "other|cpu|2").is_none());
        std::fs::write(&path, "not json").unwrap();
        assert!(read_cache(&path, "h|cpu|2").is_none());
        // A cache written before samples were kept still reads.
        std::fs::write(
            &path,
            format!(
                r#"{{"gbps":28.0,"source":"probe","host_key":"h|cpu|2","threads":2,"measured_at":null,"method":"{PROBE_METHOD}"}}"#
            ),
        )
        .unwrap();
        let old = read_cache(&path, "h|cpu|2").unwrap();
        assert_eq!((old.gbps, old.probes), (28.0, 0));
        assert!(!is_settled(&old));
    }

    #[test]
    fn merge_keeps_the_best_with_its_provenance() {
        let quiet = measured(84.0, &[81.0, 84.0, 83.0], "quiet");
        let busy = measured(28.0, &[28.0, 27.0, 26.5], "busy");
        let m = merge(Some(quiet.clone()), busy.clone());
        assert_eq!(m.gbps, 84.0);
        assert_eq!(m.measured_at.as_deref(), Some("quiet"));
        assert_eq!(m.probes, 2);
        assert_eq!(m.samples[..3], [84.0, 83.0, 81.0]);
        assert_eq!(m.samples.len(), 6);
        // The other way round: the better fresh figure replaces the cached one.
        let m = merge(Some(busy), quiet);
        assert_eq!((m.gbps, m.measured_at.as_deref()), (84.0, Some("quiet")));
        // An old cache (no samples) counts its figure as one sample.
        let mut old = measured(28.0, &[], "old");
        old.probes = 0;
        let m = merge(Some(old), measured(80.0, &[80.0], "new"));
        assert_eq!(
            (m.gbps, m.samples.clone(), m.probes),
            (80.0, vec![80.0, 28.0], 2)
        );
        // Samples are capped, highest kept.
        let many: Vec<f64> = (1..=40).map(f64::from).collect();
        let m = merge(None, measured(40.0, &many, "x"));
        assert_eq!(m.samples.len(), MAX_SAMPLES);
        assert_eq!(m.samples[0], 40.0);
    }

    #[test]
    fn settled_needs_two_measurements_that_agree() {
        let mut bw = measured(84.0, &[84.0, 83.0], "t");
        assert!(!is_settled(&bw), "one measurement");
        bw.probes = 2;
        assert!(is_settled(&bw));
        bw.samples = vec![84.0, 28.0];
        assert!(!is_settled(&bw), "the two best disagree");
    }

    #[test]
    fn a_settled_cache_is_used_and_an_unsettled_one_is_measured_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bandwidth.json");
        let mut settled = measured(1.0e6, &[1.0e6, 1.0e6], "t");
        settled.probes = 2;
        write_cache(&path, &settled).unwrap();
        let bw = resolve_with(None, Some(&path), "h|cpu|2", &quick()).unwrap();
        assert_eq!(bw.gbps, 1.0e6);
        assert!(bw.source.starts_with("probe (cached "), "{}", bw.source);
        // Unsettled: probed again, and the (impossibly high) cached figure is kept.
        write_cache(&path, &measured(1.0e6, &[1.0e6], "t")).unwrap();
        let bw = resolve_with(None, Some(&path), "h|cpu|2", &quick()).unwrap();
        assert_eq!((bw.gbps, bw.probes, bw.samples.len()), (1.0e6, 2, 3));
        let back = read_cache(&path, "h|cpu|2").unwrap();
        assert_eq!((back.gbps, back.probes), (bw.gbps, bw.probes));
        assert_eq!(back.samples.len(), bw.samples.len());
        assert!(
            bw.describe().contains("2 measurements"),
            "{}",
            bw.describe()
        );
    }

    #[test]
    fn configured_figure_wins() {
        let bw = resolve(Some(4200.0)).unwrap();
        assert_eq!(bw.gbps, 4200.0);
        assert_eq!(bw.source, "config");
        assert!(bw.describe().starts_with("config"));
    }
}
