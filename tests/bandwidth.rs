//! The bandwidth probe keeps the best figure ever measured on a host: a probe taken
//! while both cores are busy (threads spinning over their own memory) does not lower the
//! cached figure.

use inferbench::measure::bandwidth::{self, ProbeSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Small enough for a shared 2-core test machine, large enough to leave the caches.
fn spec() -> ProbeSpec {
    ProbeSpec {
        buffer_bytes: 64 << 20,
        threads: 0,
        rounds: 3,
        passes: 5,
        round_budget: Duration::from_millis(200),
        pause: Duration::from_millis(20),
    }
}

/// Busy-loop threads, one per core, each streaming over its own 32 MiB (CPU and memory
/// bus both loaded); they stop when dropped or after `limit`, whichever comes first.
struct Busy {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Busy {
    fn start(limit: Duration) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let mut buf = vec![i as u8; 32 << 20];
                    let mut sum = 0u64;
                    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                        for x in buf.iter_mut().step_by(64) {
                            *x = x.wrapping_add(1);
                            sum = sum.wrapping_add(u64::from(*x));
                        }
                    }
                    std::hint::black_box(sum)
                })
            })
            .collect();
        Busy { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Equal but for the last bits a JSON round trip may change (serde_json parses floats
/// to within an ulp unless built with `float_roundtrip`).
fn assert_same(a: &bandwidth::Bandwidth, b: &bandwidth::Bandwidth) {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs());
    assert!(close(a.gbps, b.gbps), "{a:?} vs {b:?}");
    assert_eq!(a.samples.len(), b.samples.len(), "{a:?} vs {b:?}");
    assert!(
        a.samples.iter().zip(&b.samples).all(|(x, y)| close(*x, *y)),
        "{a:?} vs {b:?}"
    );
    let strip = |x: &bandwidth::Bandwidth| bandwidth::Bandwidth {
        gbps: 0.0,
        samples: Vec::new(),
        ..x.clone()
    };
    assert_eq!(strip(a), strip(b));
}

#[test]
fn a_probe_on_busy_cores_does_not_lower_the_cached_figure() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("bandwidth.json");
    let key = "test-host|test-cpu|2";

    let quiet = bandwidth::probe_and_cache(Some(&cache), key, &spec()).unwrap();
    assert_eq!(quiet.probes, 1);
    assert_eq!(quiet.samples.len(), 3);
    assert_eq!(quiet.gbps, quiet.samples[0], "the best round counts");
    assert_same(&bandwidth::read_cache(&cache, key).unwrap(), &quiet);

    let busy = {
        let _load = Busy::start(Duration::from_secs(20));
        // Let the busy threads get going before the probe starts.
        std::thread::sleep(Duration::from_millis(100));
        bandwidth::probe_and_cache(Some(&cache), key, &spec()).unwrap()
    };
    let cached = bandwidth::read_cache(&cache, key).unwrap();
    eprintln!(
        "quiet {:.1} GB/s, after a busy probe {:.1} GB/s; samples {:?}",
        quiet.gbps, cached.gbps, cached.samples
    );
    assert!(
        cached.gbps >= quiet.gbps * (1.0 - 1e-9),
        "{cached:?} vs {quiet:?}"
    );
    assert_same(&busy, &cached);
    // Both measurements are merged: six samples, the best first and equal to the figure.
    assert_eq!(cached.probes, 2);
    assert_eq!(cached.samples.len(), 6);
    assert_eq!(
        cached.samples[0], cached.gbps,
        "the figure is the best sample"
    );
    assert!(cached.samples.windows(2).all(|w| w[0] >= w[1]));
    // Provenance travels with the figure.
    assert_eq!(cached.buffer_bytes, Some(64 << 20));
    assert_eq!(cached.passes, Some(5));
    assert!(cached.measured_at.is_some());
    assert!(
        cached.describe().contains("2 measurements"),
        "{}",
        cached.describe()
    );
}
