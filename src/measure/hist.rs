//! Mergeable metric summaries (pure): a sample → [`MetricHistogram`] (exact count, sum,
//! sum of squares, min and max, plus an HdrHistogram serialised as base64 V2), histograms
//! of several workers → one, and a merged histogram → a [`Summary`].
//!
//! Values are recorded as integers of `1/scale` of the metric's unit (scale 1000: µs for
//! a metric in ms), with [`SIGFIG`] significant digits: a recorded value is known to
//! within 10^-SIGFIG of itself. Negative values (none expected) are recorded as 0.
//!
//! Percentiles of a merged histogram use the same definition as
//! [`crate::measure::stats::percentile_sorted`] (linear between closest ranks): the two
//! order statistics around rank `(n−1)·p` are read from the histogram (each to its
//! bucket's median value) and interpolated. Mean and standard deviation come from the
//! exact moments, never from the buckets.

use crate::measure::stats::Summary;
use crate::results::MetricHistogram;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// Significant digits every histogram keeps.
pub const SIGFIG: u8 = 3;
/// Histogram units per unit of the metric.
pub const SCALE: f64 = 1000.0;

/// A histogram that cannot be read back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistError {
    #[error("histogram is not base64: {0}")]
    Base64(String),
    #[error("histogram is not HdrHistogram V2: {0}")]
    Decode(String),
    #[error("histograms of different scale or precision ({0} vs {1})")]
    Mismatch(String, String),
    #[error("histogram count {hist} differs from its recorded n {n}")]
    Count { hist: u64, n: u64 },
}

fn empty() -> Histogram<u64> {
    // Auto-resizing; 1..=5 significant digits never fail.
    Histogram::<u64>::new(SIGFIG).unwrap_or_else(|_| unreachable!("valid sigfig"))
}

fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = V2Serializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode(m: &MetricHistogram) -> Result<Histogram<u64>, HistError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&m.hdr_v2_base64)
        .map_err(|e| HistError::Base64(e.to_string()))?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| HistError::Decode(format!("{e:?}")))?;
    if h.len() != m.n {
        return Err(HistError::Count {
            hist: h.len(),
            n: m.n,
        });
    }
    Ok(h)
}

/// The mergeable form of the finite values of a sample; `None` when there are none.
pub fn from_values(values: &[f64]) -> Option<MetricHistogram> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let mut h = empty();
    for &x in &v {
        let units = (x.max(0.0) * SCALE).round() as u64;
        // `record` grows the histogram; only a value beyond what it can ever hold fails,
        // and is then kept at the largest trackable value.
        if h.record(units).is_err() {
            h.saturating_record(units);
        }
    }
    Some(MetricHistogram {
        n: v.len() as u64,
        sum: v.iter().sum(),
        sum_sq: v.iter().map(|x| x * x).sum(),
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        scale: SCALE,
        sigfig: SIGFIG,
        hdr_v2_base64: encode(&h),
    })
}

/// Several workers' histograms of one metric as one.
pub fn merge(parts: &[&MetricHistogram]) -> Result<Option<MetricHistogram>, HistError> {
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    let mut h = empty();
    for p in parts {
        if p.scale != first.scale || p.sigfig != first.sigfig {
            return Err(HistError::Mismatch(
                format!("scale {} sigfig {}", first.scale, first.sigfig),
                format!("scale {} sigfig {}", p.scale, p.sigfig),
            ));
        }
        h.add(decode(p)?)
            .map_err(|e| HistError::Decode(format!("{e:?}")))?;
    }
    Ok(Some(MetricHistogram {
        n: parts.iter().map(|p| p.n).sum(),
        sum: parts.iter().map(|p| p.sum).sum(),
        sum_sq: parts.iter().map(|p| p.sum_sq).sum(),
        min: parts.iter().map(|p| p.min).fold(f64::INFINITY, f64::min),
        max: parts
            .iter()
            .map(|p| p.max)
            .fold(f64::NEG_INFINITY, f64::max),
        scale: first.scale,
        sigfig: first.sigfig,
        hdr_v2_base64: encode(&h),
    }))
}

/// The summary of a histogram: exact n, mean, std, min, max; percentiles to the
/// histogram's precision.
pub fn summary(m: &MetricHistogram) -> Result<Summary, HistError> {
    let h = decode(m)?;
    let n = m.n;
    let mean = m.sum / n as f64;
    let std = if n > 1 {
        ((m.sum_sq - n as f64 * mean * mean) / (n - 1) as f64)
            .max(0.0)
            .sqrt()
    } else {
        0.0
    };
    // The k-th smallest value (0-based), to its bucket's median, clamped to the exact
    // extremes.
    let at_rank = |k: u64| -> f64 {
        let q = (k as f64 + 0.5) / n as f64;
        let v = h.median_equivalent(h.value_at_quantile(q)) as f64 / m.scale;
        v.clamp(m.min, m.max)
    };
    let pct = |p: f64| -> f64 {
        if n == 1 {
            return m.min;
        }
        let rank = (n - 1) as f64 * (p / 100.0);
        let lo = rank.floor() as u64;
        let hi = (lo + 1).min(n - 1);
        let (a, b) = (at_rank(lo), at_rank(hi));
        a + (rank - lo as f64) * (b - a)
    };
    Ok(Summary {
        n: n as usize,
        mean,
        std,
        min: m.min,
        max: m.max,
        p50: pct(50.0),
        p90: pct(90.0),
        p95: pct(95.0),
        p99: pct(99.0),
    })
}

/// How far a histogram percentile may be from the exact one at value `v`: the relative
/// precision of the buckets plus one recorded unit (rounding on the way in).
pub fn tolerance(m: &MetricHistogram, v: f64) -> f64 {
    v.abs() * 10f64.powi(-i32::from(m.sigfig)) + 1.0 / m.scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::summarize;
    use rand::{Rng, SeedableRng};

    fn sample(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| 20.0 + rng.random::<f64>().powi(4) * 500.0)
            .collect()
    }

    #[test]
    fn one_histogram_matches_the_exact_summary() {
        let v = sample(1, 5000);
        let h = from_values(&v).unwrap();
        let s = summary(&h).unwrap();
        let e = summarize(&v).unwrap();
        assert_eq!(s.n, e.n);
        assert!((s.mean - e.mean).abs() < 1e-9 * e.mean);
        assert!((s.std - e.std).abs() < 1e-6 * e.std);
        assert_eq!((s.min, s.max), (e.min, e.max));
        for (a, b) in [
            (s.p50, e.p50),
            (s.p90, e.p90),
            (s.p95, e.p95),
            (s.p99, e.p99),
        ] {
            assert!((a - b).abs() <= tolerance(&h, b), "{a} vs {b}");
        }
    }

    #[test]
    fn merged_histograms_are_the_histogram_of_the_union() {
        let parts: Vec<Vec<f64>> = (0..4)
            .map(|i| sample(10 + i, 700 + 50 * i as usize))
            .collect();
        let hs: Vec<MetricHistogram> = parts.iter().map(|p| from_values(p).unwrap()).collect();
        let merged = merge(&hs.iter().collect::<Vec<_>>()).unwrap().unwrap();
        let all: Vec<f64> = parts.concat();
        let union = from_values(&all).unwrap();
        let (s, u) = (summary(&merged).unwrap(), summary(&union).unwrap());
        // The same buckets: the same percentiles, to the bit.
        assert_eq!((s.p50, s.p90, s.p95, s.p99), (u.p50, u.p90, u.p95, u.p99));
        assert_eq!((s.n, s.min, s.max), (u.n, u.min, u.max));
        let e = summarize(&all).unwrap();
        assert_eq!(s.n, all.len());
        assert!((s.mean - e.mean).abs() < 1e-9 * e.mean);
        assert!((s.p99 - e.p99).abs() <= tolerance(&merged, e.p99));
        // Averaging the parts' p99s is not the union's p99 in general; the merge never does.
        let avg_p99: f64 = parts.iter().map(|p| summarize(p).unwrap().p99).sum::<f64>() / 4.0;
        assert_ne!(avg_p99, s.p99);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut h = from_values(&[1.0, 2.0]).unwrap();
        assert_eq!(summary(&h).unwrap().p50, 1.5);
        h.n = 3;
        assert!(matches!(summary(&h), Err(HistError::Count { .. })));
        h.hdr_v2_base64 = "!!".into();
        assert!(matches!(summary(&h), Err(HistError::Base64(_))));
        h.hdr_v2_base64 = "AAAA".into();
        assert!(matches!(summary(&h), Err(HistError::Decode(_))));
        assert!(from_values(&[f64::NAN]).is_none());
        assert_eq!(merge(&[]).unwrap(), None);
    }
}
