//! Statistical inference over samples of one metric (pure, deterministic given a seed).
//!
//! - **Bootstrap confidence intervals** for the mean, the median (p50) and p99: the
//!   percentile bootstrap. Draw `resamples` samples of size n with replacement, compute the
//!   statistic on each, and take the `(1−level)/2` and `(1+level)/2` percentiles of those
//!   values (same interpolation as [`crate::measure::stats`]). The generator is seeded, so
//!   the same sample and seed always give the same interval.
//! - **Outliers** by the median absolute deviation (Iglewicz & Hoaglin): the modified
//!   z-score `0.6745·(x − median)/MAD`; `|z| > 3.5` is an outlier. When more than half the
//!   values equal the median (MAD = 0), the mean absolute deviation scaled by 1.253314
//!   takes its place, so a single odd value among identical ones is still found.
//! - **Two-sample comparison** for `inferbench compare`: the ratio of means B/A with a
//!   bootstrap interval (each sample resampled independently). The difference is
//!   significant when the interval excludes 1; the verdict then follows the metric's
//!   direction (lower is better for latencies, higher for tok/s). A difference smaller
//!   than [`MIN_EFFECT`] is reported as no significant difference, because with thousands of
//!   requests an interval can exclude 1 for a 0.01 % change that no one should act on.

use crate::measure::stats::{mean, percentile_sorted};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 2000;
/// Default seed of the bootstrap generator (results are reproducible run to run).
pub const DEFAULT_SEED: u64 = 0x1f_e7e7_be4c;
/// Default confidence level.
pub const DEFAULT_LEVEL: f64 = 0.95;
/// Modified z-score above which a value is an outlier.
pub const OUTLIER_Z: f64 = 3.5;
/// Relative change of the mean below which a comparison says "no significant difference"
/// even when the interval excludes 1 (1 %).
pub const MIN_EFFECT: f64 = 0.01;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
    /// Confidence level, e.g. 0.95.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub level: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// A point estimate with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Estimate {
    pub value: f64,
    pub ci: Interval,
}

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    pub resamples: usize,
    pub level: f64,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: DEFAULT_RESAMPLES,
            level: DEFAULT_LEVEL,
            seed: DEFAULT_SEED,
        }
    }
}

/// Mean, p50 and p99 of a sample, each with a bootstrap interval, and its outliers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Inference {
    pub n: usize,
    pub mean: Estimate,
    pub p50: Estimate,
    pub p99: Estimate,
    /// Indices (into the finite values, in input order) of MAD outliers.
    pub outliers: Vec<usize>,
}

/// The percentile interval of a bootstrap distribution (the statistic's value on each
/// resample). `None` when empty.
pub fn percentile_interval(distribution: &[f64], level: f64) -> Option<Interval> {
    if distribution.is_empty() {
        return None;
    }
    let mut d = distribution.to_vec();
    d.sort_by(f64::total_cmp);
    let alpha = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    Some(Interval {
        lo: percentile_sorted(&d, 100.0 * alpha),
        hi: percentile_sorted(&d, 100.0 * (1.0 - alpha)),
        level,
    })
}

/// Draw one resample of `values` (with replacement) into `out`.
fn resample_into(rng: &mut StdRng, values: &[f64], out: &mut Vec<f64>) {
    out.clear();
    let n = values.len();
    out.extend((0..n).map(|_| values[rng.random_range(0..n)]));
}

/// Bootstrap intervals for the mean, p50 and p99 of the finite values of `values`,
/// and their MAD outliers. `None` when there is no finite value.
pub fn infer(values: &[f64], boot: Bootstrap) -> Option<Inference> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let mut sorted = v.clone();
    sorted.sort_by(f64::total_cmp);
    let point_mean = mean(&v)?;
    let point_p50 = percentile_sorted(&sorted, 50.0);
    let point_p99 = percentile_sorted(&sorted, 99.0);

    let b = boot.resamples.max(1);
    let mut rng = StdRng::seed_from_u64(boot.seed);
    let (mut means, mut p50s, mut p99s) = (
        Vec::with_capacity(b),
        Vec::with_capacity(b),
        Vec::with_capacity(b),
    );
    let mut buf = Vec::with_capacity(v.len());
    for _ in 0..b {
        resample_into(&mut rng, &v, &mut buf);
        means.push(buf.iter().sum::<f64>() / buf.len() as f64);
        buf.sort_by(f64::total_cmp);
        p50s.push(percentile_sorted(&buf, 50.0));
        p99s.push(percentile_sorted(&buf, 99.0));
    }
    let est = |value: f64, dist: &[f64]| -> Option<Estimate> {
        Some(Estimate {
            value,
            ci: percentile_interval(dist, boot.level)?,
        })
    };
    Some(Inference {
        n: v.len(),
        mean: est(point_mean, &means)?,
        p50: est(point_p50, &p50s)?,
        p99: est(point_p99, &p99s)?,
        outliers: mad_outliers(&v),
    })
}

/// Median of a non-empty sample.
fn median(values: &[f64]) -> f64 {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    percentile_sorted(&s, 50.0)
}

/// Modified z-scores of every value (0 for all when the sample has no spread).
pub fn modified_z_scores(values: &[f64]) -> Vec<f64> {
    if values.is_empty() {
        return Vec::new();
    }
    let med = median(values);
    let deviations: Vec<f64> = values.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&deviations);
    // Iglewicz & Hoaglin: z = 0.6745 (x − med) / MAD; with MAD = 0, use the mean absolute
    // deviation: z = (x − med) / (1.253314 · MeanAD).
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        1.253314 * deviations.iter().sum::<f64>() / values.len() as f64
    };
    if scale > 0.0 {
        values.iter().map(|x| (x - med) / scale).collect()
    } else {
        vec![0.0; values.len()]
    }
}

/// Indices of values whose modified z-score exceeds [`OUTLIER_Z`] in magnitude.
pub fn mad_outliers(values: &[f64]) -> Vec<usize> {
    modified_z_scores(values)
        .iter()
        .enumerate()
        .filter(|(_, z)| z.abs() > OUTLIER_Z)
        .map(|(i, _)| i)
        .collect()
}

/// Which way is better for a metric (each metric's unit decides, in the metric table of
/// the results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Latencies (ms): lower is better.
    LowerIsBetter,
    /// Rates (tok/s): higher is better.
    HigherIsBetter,
}

/// The verdict on B relative to A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    NoSignificantDifference,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoSignificantDifference => "no significant difference",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// B compared with A on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub n_a: usize,
    pub n_b: usize,
    pub mean_a: f64,
    pub mean_b: f64,
    /// mean B − mean A.
    pub diff: f64,
    /// mean B / mean A.
    pub ratio: f64,
    /// Bootstrap interval of the ratio of means.
    pub ratio_ci: Interval,
    pub direction: Direction,
    pub verdict: Verdict,
}

/// The verdict for a ratio B/A and its interval.
pub fn verdict(ratio: f64, ci: &Interval, direction: Direction, min_effect: f64) -> Verdict {
    if ci.contains(1.0) || (ratio - 1.0).abs() < min_effect {
        return Verdict::NoSignificantDifference;
    }
    let b_larger = ratio > 1.0;
    match (direction, b_larger) {
        (Direction::LowerIsBetter, true) | (Direction::HigherIsBetter, false) => Verdict::Slower,
        _ => Verdict::Faster,
    }
}

/// Compare the means of B and A. `None` when either sample has no finite value or A's
/// mean is zero.
pub fn compare_samples(
    a: &[f64],
    b: &[f64],
    direction: Direction,
    boot: Bootstrap,
    min_effect: f64,
) -> Option<Comparison> {
    let a: Vec<f64> = a.iter().copied().filter(|x| x.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|x| x.is_finite()).collect();
    let (mean_a, mean_b) = (mean(&a)?, mean(&b)?);
    if mean_a == 0.0 {
        return None;
    }
    let ratio = mean_b / mean_a;
    let mut rng = StdRng::seed_from_u64(boot.seed);
    let mut ratios = Vec::with_capacity(boot.resamples.max(1));
    let (mut ra, mut rb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    for _ in 0..boot.resamples.max(1) {
        resample_into(&mut rng, &a, &mut ra);
        resample_into(&mut rng, &b, &mut rb);
        let ma = ra.iter().sum::<f64>() / ra.len() as f64;
        let mb = rb.iter().sum::<f64>() / rb.len() as f64;
        if ma != 0.0 {
            ratios.push(mb / ma);
        }
    }
    let ratio_ci = percentile_interval(&ratios, boot.level)?;
    Some(Comparison {
        n_a: a.len(),
        n_b: b.len(),
        mean_a,
        mean_b,
        diff: mean_b - mean_a,
        ratio,
        ratio_ci,
        direction,
        verdict: verdict(ratio, &ratio_ci, direction, min_effect),
    })
}

/// Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The two-sided normal quantile for a confidence level, e.g. 1.96 for 0.95 (bisection
/// on the CDF).
pub fn z_for_level(level: f64) -> f64 {
    let want = 0.5 + level.clamp(0.0, 0.999_999) / 2.0;
    let (mut lo, mut hi) = (0.0_f64, 10.0_f64);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if normal_cdf(mid) < want {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_matches_known_quantiles() {
        assert!((z_for_level(0.95) - 1.959_964).abs() < 1e-4);
        assert!((z_for_level(0.99) - 2.575_829).abs() < 1e-4);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-9);
    }
    use rand_distr::{Distribution, Normal};

    fn boot(seed: u64) -> Bootstrap {
        Bootstrap {
            resamples: 2000,
            level: 0.95,
            seed,
        }
    }

    fn normal_sample(seed: u64, n: usize, mu: f64, sigma: f64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = Normal::new(mu, sigma).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn percentile_interval_of_a_known_distribution() {
        // 0..=100: the 2.5th and 97.5th percentiles are 2.5 and 97.5 (up to rounding of
        // (1 − 0.95)/2 in binary).
        let d: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        let ci = percentile_interval(&d, 0.95).unwrap();
        assert!(
            (ci.lo - 2.5).abs() < 1e-12 && (ci.hi - 97.5).abs() < 1e-12,
            "{ci:?}"
        );
        assert_eq!(ci.level, 0.95);
        let ci90 = percentile_interval(&d, 0.90).unwrap();
        assert!((ci90.lo - 5.0).abs() < 1e-9 && (ci90.hi - 95.0).abs() < 1e-9);
        assert!(percentile_interval(&[], 0.95).is_none());
    }

    #[test]
    fn constant_sample_has_a_zero_width_interval() {
        let inf = infer(&[7.0; 12], boot(1)).unwrap();
        for e in [inf.mean, inf.p50, inf.p99] {
            assert_eq!((e.value, e.ci.lo, e.ci.hi), (7.0, 7.0, 7.0));
        }
        assert!(inf.outliers.is_empty());
    }

    #[test]
    fn bootstrap_is_deterministic_given_a_seed_and_changes_with_it() {
        let v = normal_sample(3, 50, 10.0, 2.0);
        let a = infer(&v, boot(42)).unwrap();
        let b = infer(&v, boot(42)).unwrap();
        let c = infer(&v, boot(43)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.mean.ci, c.mean.ci);
    }

    #[test]
    fn two_values_mean_interval_spans_the_resample_means() {
        // Resample means of {0, 10} can only be 0, 5 or 10 (probabilities 1/4, 1/2, 1/4),
        // so the 95 % interval is exactly [0, 10] and the point estimate is 5.
        let inf = infer(&[0.0, 10.0], boot(9)).unwrap();
        assert_eq!(inf.mean.value, 5.0);
        assert_eq!((inf.mean.ci.lo, inf.mean.ci.hi), (0.0, 10.0));
        // A 40 % interval lies inside the middle mass: exactly [5, 5].
        let narrow = infer(
            &[0.0, 10.0],
            Bootstrap {
                level: 0.4,
                ..boot(9)
            },
        )
        .unwrap();
        assert_eq!((narrow.mean.ci.lo, narrow.mean.ci.hi), (5.0, 5.0));
    }

    #[test]
    fn mean_interval_covers_the_true_mean_and_shrinks_with_n() {
        let small = infer(&normal_sample(5, 30, 100.0, 10.0), boot(1)).unwrap();
        let large = infer(&normal_sample(6, 3000, 100.0, 10.0), boot(1)).unwrap();
        assert!(small.mean.ci.contains(100.0), "{:?}", small.mean);
        assert!(large.mean.ci.contains(100.0), "{:?}", large.mean);
        let w_small = small.mean.ci.hi - small.mean.ci.lo;
        let w_large = large.mean.ci.hi - large.mean.ci.lo;
        // Width scales as 1/sqrt(n): 10× for 100× the data; allow slack.
        assert!(w_small > 5.0 * w_large, "{w_small} vs {w_large}");
        // 95 % CI of the mean ≈ ±1.96·σ/√n = ±0.358 for n = 3000.
        assert!((w_large / 2.0 - 0.358).abs() < 0.05, "{w_large}");
        assert!(large.p50.ci.lo <= large.p50.value && large.p50.value <= large.p50.ci.hi);
        assert!(large.p99.ci.lo > large.p50.ci.hi);
    }

    #[test]
    fn non_finite_values_are_ignored() {
        assert!(infer(&[], boot(1)).is_none());
        assert!(infer(&[f64::NAN], boot(1)).is_none());
        let inf = infer(&[1.0, f64::INFINITY, 1.0], boot(1)).unwrap();
        assert_eq!(inf.n, 2);
    }

    #[test]
    fn mad_outliers_exact() {
        // median 10, |dev| = 1,0,1,0,90 → MAD 1; z(100) = 0.6745·90 = 60.7 > 3.5;
        // z(11) = 0.6745 < 3.5.
        let v = [9.0, 10.0, 11.0, 10.0, 100.0];
        assert_eq!(mad_outliers(&v), vec![4]);
        let z = modified_z_scores(&v);
        assert!((z[4] - 0.6745 * 90.0).abs() < 1e-9);
        assert!((z[0] + 0.6745).abs() < 1e-12);
        // Values 5 MADs away (z = 3.37) are kept; 6 MADs (z = 4.05) are not.
        let w = [10.0, 9.0, 11.0, 10.0, 10.0, 15.0, 4.0];
        // median 10, |dev| = 0,1,1,0,0,5,6 → MAD 1.
        assert_eq!(mad_outliers(&w), vec![6]);
    }

    #[test]
    fn mad_zero_falls_back_to_mean_absolute_deviation() {
        // Seven identical values and one far away: MAD = 0, MeanAD = 50/8 = 6.25,
        // z = 50 / (1.253314 · 6.25) = 6.38 → outlier.
        let v = [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 55.0];
        assert_eq!(mad_outliers(&v), vec![7]);
        assert!(mad_outliers(&[3.0; 6]).is_empty());
        assert!(mad_outliers(&[]).is_empty());
    }

    #[test]
    fn verdict_follows_direction() {
        let ci = |lo, hi| Interval {
            lo,
            hi,
            level: 0.95,
        };
        let lower = Direction::LowerIsBetter;
        let higher = Direction::HigherIsBetter;
        assert_eq!(verdict(1.2, &ci(1.1, 1.3), lower, 0.01), Verdict::Slower);
        assert_eq!(verdict(1.2, &ci(1.1, 1.3), higher, 0.01), Verdict::Faster);
        assert_eq!(verdict(0.8, &ci(0.7, 0.9), lower, 0.01), Verdict::Faster);
        assert_eq!(verdict(0.8, &ci(0.7, 0.9), higher, 0.01), Verdict::Slower);
        assert_eq!(
            verdict(1.1, &ci(0.95, 1.25), lower, 0.01),
            Verdict::NoSignificantDifference
        );
        // Excludes 1 but below the minimum effect.
        assert_eq!(
            verdict(1.002, &ci(1.001, 1.003), lower, 0.01),
            Verdict::NoSignificantDifference
        );
        assert_eq!(
            Verdict::NoSignificantDifference.to_string(),
            "no significant difference"
        );
    }

    #[test]
    fn same_distribution_is_no_significant_difference() {
        let a = normal_sample(11, 200, 5.0, 0.2);
        let b = normal_sample(12, 200, 5.0, 0.2);
        let c = compare_samples(&a, &b, Direction::LowerIsBetter, boot(7), MIN_EFFECT).unwrap();
        assert_eq!(c.verdict, Verdict::NoSignificantDifference, "{c:?}");
        assert!(c.ratio_ci.contains(1.0) || (c.ratio - 1.0).abs() < MIN_EFFECT);
    }

    #[test]
    fn twenty_percent_slower_is_detected_both_ways() {
        let a = normal_sample(21, 100, 5.0, 0.3);
        let b = normal_sample(22, 100, 6.0, 0.36);
        let c = compare_samples(&a, &b, Direction::LowerIsBetter, boot(7), MIN_EFFECT).unwrap();
        assert_eq!(c.verdict, Verdict::Slower);
        assert!((c.ratio - 1.2).abs() < 0.03, "{}", c.ratio);
        assert!(
            c.ratio_ci.lo > 1.1 && c.ratio_ci.hi < 1.3,
            "{:?}",
            c.ratio_ci
        );
        assert!((c.diff - (c.mean_b - c.mean_a)).abs() < 1e-12);
        // As a rate (1/x), the same data is slower too: B's rate is lower.
        let ra: Vec<f64> = a.iter().map(|x| 1000.0 / x).collect();
        let rb: Vec<f64> = b.iter().map(|x| 1000.0 / x).collect();
        let r = compare_samples(&ra, &rb, Direction::HigherIsBetter, boot(7), MIN_EFFECT).unwrap();
        assert_eq!(r.verdict, Verdict::Slower);
        // And A against B is faster.
        let back = compare_samples(&b, &a, Direction::LowerIsBetter, boot(7), MIN_EFFECT).unwrap();
        assert_eq!(back.verdict, Verdict::Faster);
    }

    #[test]
    fn false_positive_rate_is_near_nominal() {
        // 200 pairs of samples from one distribution: a 95 % interval of the ratio should
        // exclude 1 about 5 % of the time (the percentile bootstrap runs a little hot at
        // small n); with the 1 % minimum effect and σ/μ = 4 %, n = 40, less often.
        let quick = Bootstrap {
            resamples: 500,
            ..boot(3)
        };
        let (mut flagged_raw, mut flagged) = (0, 0);
        for i in 0..200u64 {
            let a = normal_sample(1000 + 2 * i, 40, 50.0, 2.0);
            let b = normal_sample(1001 + 2 * i, 40, 50.0, 2.0);
            let raw = compare_samples(&a, &b, Direction::LowerIsBetter, quick, 0.0).unwrap();
            let eff = compare_samples(&a, &b, Direction::LowerIsBetter, quick, MIN_EFFECT).unwrap();
            flagged_raw += usize::from(raw.verdict != Verdict::NoSignificantDifference);
            flagged += usize::from(eff.verdict != Verdict::NoSignificantDifference);
        }
        assert!((4..=20).contains(&flagged_raw), "{flagged_raw} of 200");
        assert!(flagged <= flagged_raw, "{flagged} vs {flagged_raw}");
    }

    #[test]
    fn compare_rejects_empty_or_zero_baseline() {
        let b = boot(1);
        assert!(compare_samples(&[], &[1.0], Direction::LowerIsBetter, b, 0.01).is_none());
        assert!(compare_samples(&[0.0, 0.0], &[1.0], Direction::LowerIsBetter, b, 0.01).is_none());
    }
}
