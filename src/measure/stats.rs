//! Descriptive statistics over a sample of one metric (pure).
//!
//! Percentiles use linear interpolation between closest ranks (the method numpy calls
//! `linear`, its default): for sorted values `x[0..n]`, the p-th percentile is at rank
//! `h = (n-1)·p/100`, `x[floor h] + (h - floor h)·(x[floor h + 1] - x[floor h])`.
//! The standard deviation is the sample standard deviation (n − 1 in the denominator;
//! 0 for a single value).
//!
//! Intervals of a mean over a few repetitions use Student's t ([`t_for_level`]): with 3 to
//! 10 values the normal 1.96 would claim more than the data know.

use serde::{Deserialize, Serialize};

/// Summary of one metric over the successful runs of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    #[schemars(range(min = 1))]
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

/// P(|T| ≤ t) for Student's t with `df` degrees of freedom, exact for integer df
/// (Abramowitz & Stegun 26.7.3 and 26.7.4, finite sums in cos θ with θ = atan(t/√df)).
pub fn t_two_sided_cdf(t: f64, df: u32) -> f64 {
    if df == 0 || !t.is_finite() || t <= 0.0 {
        return if t.is_infinite() && t > 0.0 { 1.0 } else { 0.0 };
    }
    let theta = (t / f64::from(df).sqrt()).atan();
    let (s, c) = theta.sin_cos();
    if df % 2 == 1 {
        // 2/π · (θ + sin θ · (cos θ + 2/3 cos³θ + … + 2·4⋯(df−3)/(3·5⋯(df−2)) cos^(df−2) θ))
        let mut sum = 0.0;
        if df > 1 {
            let mut term = c;
            sum = c;
            for k in (3..=df.saturating_sub(2)).step_by(2) {
                term *= c * c * f64::from(k - 1) / f64::from(k);
                sum += term;
            }
        }
        2.0 / std::f64::consts::PI * (theta + s * sum)
    } else {
        // sin θ · (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + … + 1·3⋯(df−3)/(2·4⋯(df−2)) cos^(df−2) θ)
        let (mut term, mut sum) = (1.0, 1.0);
        for k in (2..=df.saturating_sub(2)).step_by(2) {
            term *= c * c * f64::from(k - 1) / f64::from(k);
            sum += term;
        }
        s * sum
    }
}

/// The two-sided Student's t quantile for a confidence level and `df` degrees of freedom,
/// e.g. 2.776 for 0.95 and df 4 (bisection on [`t_two_sided_cdf`]); `None` for df 0 or a
/// level outside (0, 1).
pub fn t_for_level(level: f64, df: u32) -> Option<f64> {
    if df == 0 || !(level > 0.0 && level < 1.0) {
        return None;
    }
    // P(|T| ≤ hi) ≥ level: double until it is (12.7 at df 1 for 0.95, 636.6 for 0.999).
    let mut hi = 2.0;
    while t_two_sided_cdf(hi, df) < level {
        hi *= 2.0;
        if hi > 1e12 {
            return None;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if t_two_sided_cdf(mid, df) < level {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some((lo + hi) / 2.0)
}

/// The mean of a sample with its two-sided Student's t interval at `level`:
/// mean ± t(level, n−1)·s/√n. `None` when empty; no interval for a single value.
pub fn mean_t_interval(values: &[f64], level: f64) -> Option<(f64, Option<(f64, f64)>)> {
    let s = summarize(values)?;
    let df = u32::try_from(s.n.saturating_sub(1)).unwrap_or(u32::MAX);
    let half = t_for_level(level, df).map(|t| t * s.std / (s.n as f64).sqrt());
    Some((s.mean, half.map(|h| (s.mean - h, s.mean + h))))
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

    #[test]
    fn t_quantiles_match_the_tables() {
        // Two-sided quantiles as printed in t tables (scipy.stats.t.ppf(0.5 + level/2, df)).
        for (level, df, want) in [
            (0.95, 1, 12.706_204_736_174_698),
            (0.95, 2, 4.302_652_729_749_464),
            (0.95, 4, 2.776_445_105_197_793),
            (0.95, 10, 2.228_138_851_986_273),
            (0.95, 13, 2.160_368_656_461_013),
            (0.99, 5, 4.032_142_983_557_536),
            (0.90, 3, 2.353_363_434_801_826),
            (0.95, 1000, 1.962_339_080_826_408),
        ] {
            let t = t_for_level(level, df).unwrap();
            assert!(
                (t - want).abs() < 1e-6,
                "level {level} df {df}: {t} vs {want}"
            );
        }
        // df 2 has a closed form: P(|T| ≤ t) = t / √(t² + 2).
        assert!((t_two_sided_cdf(3.0, 2) - 3.0 / 11f64.sqrt()).abs() < 1e-15);
        // df 1 is Cauchy: 2/π · atan t.
        assert!((t_two_sided_cdf(1.0, 1) - 0.5).abs() < 1e-15);
        assert_eq!(t_for_level(0.95, 0), None);
        assert_eq!(t_for_level(1.0, 3), None);
    }

    #[test]
    fn mean_interval_of_three_values() {
        // 10, 12, 14: mean 12, s = 2, half-width t(0.95, 2)·2/√3.
        let (m, ci) = mean_t_interval(&[10.0, 12.0, 14.0], 0.95).unwrap();
        assert_eq!(m, 12.0);
        let (lo, hi) = ci.unwrap();
        let half = 4.302_652_729_749_464 * 2.0 / 3f64.sqrt();
        assert!((lo - (12.0 - half)).abs() < 1e-6 && (hi - (12.0 + half)).abs() < 1e-6);
        assert_eq!(mean_t_interval(&[5.0], 0.95), Some((5.0, None)));
        assert_eq!(mean_t_interval(&[], 0.95), None);
    }
}
