//! Cost of the metric math: per-request metrics over a 256-event timeline, and a summary
//! of 1000 values.

use criterion::{Criterion, criterion_group, criterion_main};
use inferbench::measure::metrics::{Timeline, compute};
use inferbench::measure::stats::summarize;
use std::hint::black_box;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let timeline = Timeline {
        scheduled: Duration::from_millis(100),
        sent: Duration::from_millis(100),
        first_byte: Some(Duration::from_millis(101)),
        content_events: (0..256u64)
            .map(|i| Duration::from_micros(150_000 + 5_000 * i + (i * 7919) % 300))
            .collect(),
        end: Some(Duration::from_millis(1500)),
    };
    c.bench_function("metrics_compute_256_events", |b| {
        b.iter(|| compute(black_box(&timeline), Some(256), Some(40)))
    });
    let values: Vec<f64> = (0..1000u64)
        .map(|i| 5.0 + ((i * 2_654_435_761) % 1000) as f64 / 1000.0)
        .collect();
    c.bench_function("stats_summarize_1000", |b| {
        b.iter(|| summarize(black_box(&values)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
