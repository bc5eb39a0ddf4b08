//! Descriptive statistics over a sample of one metric (pure).
//!
//! Percentiles use linear interpolation between closest ranks (the method numpy calls
//! `linear`, its default): for sorted values `x[0..n]`, the p-th percentile is at rank
//! `h = (n-1)·p/100`, `x[floor h] + (h - floor h)·(x[floor h + 1] - x[floor h])`.
//! The standard deviation is the sample standard deviation (n − 1 in the denominator;
//! 0 for a single value).

use serde::{Deserialize, Serialize};

/// Summary of one metric over the successful runs of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

/// Percentile `p` (0..=100) of already sorted, non-empty values.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let h = (n - 1) as f64 * (p / 100.0).clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Arithmetic mean; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// Summarise the finite values of a sample; `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = v.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some(Summary {
        n,
        mean: m,
        std,
        min: v[0],
        max: v[n - 1],
        p50: percentile_sorted(&v, 50.0),
        p90: percentile_sorted(&v, 90.0),
        p95: percentile_sorted(&v, 95.0),
        p99: percentile_sorted(&v, 99.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_one_to_ten() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = summarize(&v).unwrap();
        assert_eq!(s.n, 10);
        assert_eq!(s.mean, 5.5);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 10.0);
        assert_eq!(s.p50, 5.5);
        assert!((s.p90 - 9.1).abs() < 1e-12);
        assert!((s.p95 - 9.55).abs() < 1e-12);
        assert!((s.p99 - 9.91).abs() < 1e-12);
        assert!((s.std - 3.0276503540974917).abs() < 1e-12);
    }

    #[test]
    fn single_and_empty() {
        let s = summarize(&[4.0]).unwrap();
        assert_eq!((s.n, s.mean, s.std, s.p99), (1, 4.0, 0.0, 4.0));
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[f64::NAN]).is_none());
    }

    #[test]
    fn order_does_not_matter() {
        let a = summarize(&[3.0, 1.0, 2.0]).unwrap();
        let b = summarize(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(a, b);
    }
}
