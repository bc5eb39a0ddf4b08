//! Prefill apart from fixed overhead (pure): TTFT regressed on input length.
//!
//! A server's TTFT at input length L is queueing + fixed overhead (HTTP, parsing,
//! scheduling, sampling the first token) + L × the time per prompt token. With TTFT
//! measured at several exact lengths, the ordinary least-squares line
//! `TTFT = intercept + slope·L` over every measured request separates them:
//!
//! - **slope** (ms per prompt token) and its interval `slope ± t·s/√Sxx`;
//! - **intercept** (ms, the fixed overhead) and its interval `b ± t·s·√(1/n + x̄²/Sxx)`;
//! - **prefill rate** = 1000 / slope tok/s; its interval is the slope's, inverted (none
//!   when the slope's interval reaches 0: the data cannot bound the rate);
//! - **per-length rate** at L = L·1000 / (mean TTFT(L) − intercept). Its interval comes
//!   from the variance of D = mean TTFT(L) − intercept, with the intercept fitted from the
//!   same requests: Var(D) = s²·(1/n_L − 1/n + x̄·(2L − x̄)/Sxx) (the weights of D on the
//!   y values, squared and summed), D ± t·s·√(…), inverted. A negative intercept (prefill
//!   not linear in L over the lengths measured) is taken as no overhead: D = mean TTFT(L),
//!   Var(D) = s²/n_L.
//!
//! s is the residual standard deviation (n − 2 degrees of freedom), so curvature (an
//! attention cost that grows with L) widens every interval instead of hiding; t is
//! Student's for n − 2 degrees of freedom ([`crate::measure::stats::t_for_level`]).
//! Units are the caller's: x in tokens, y in ms.

use crate::measure::inference::Interval;
use crate::measure::stats::t_for_level;

/// The fitted line and what its intervals need.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFit {
    pub n: usize,
    pub slope: f64,
    pub intercept: f64,
    pub slope_ci: Interval,
    pub intercept_ci: Interval,
    /// Residual standard deviation, n − 2 degrees of freedom.
    pub residual_sd: f64,
    pub x_mean: f64,
    /// Σ (x − x̄)².
    pub sxx: f64,
    /// Student's t for the level and n − 2 degrees of freedom.
    pub t: f64,
    pub level: f64,
}

/// Least-squares line through `(x, y)` points with intervals at `level`. `None` with
/// fewer than 3 finite points or fewer than 2 distinct x (nothing to fit a slope with,
/// or no degree of freedom left for its interval).
pub fn fit_line(points: &[(f64, f64)], level: f64) -> Option<LineFit> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let x_mean = pts.iter().map(|p| p.0).sum::<f64>() / nf;
    let y_mean = pts.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = pts.iter().map(|p| (p.0 - x_mean).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - x_mean) * (p.1 - y_mean)).sum();
    let slope = sxy / sxx;
    let intercept = y_mean - slope * x_mean;
    let sse: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let df = u32::try_from(n - 2).unwrap_or(u32::MAX);
    let residual_sd = (sse / (nf - 2.0)).sqrt();
    let t = t_for_level(level, df)?;
    let slope_half = t * residual_sd / sxx.sqrt();
    let intercept_half = t * residual_sd * (1.0 / nf + x_mean * x_mean / sxx).sqrt();
    Some(LineFit {
        n,
        slope,
        intercept,
        slope_ci: Interval {
            lo: slope - slope_half,
            hi: slope + slope_half,
            level,
        },
        intercept_ci: Interval {
            lo: intercept - intercept_half,
            hi: intercept + intercept_half,
            level,
        },
        residual_sd,
        x_mean,
        sxx,
        t,
        level,
    })
}

/// `units / time` for a time interval: the rate's interval is the time's, inverted;
/// `None` when the time's interval reaches 0 or below (the rate is then unbounded).
fn inverted(units: f64, lo: f64, hi: f64, level: f64) -> Option<Interval> {
    (lo > 0.0 && hi > 0.0).then(|| Interval {
        lo: units / hi,
        hi: units / lo,
        level,
    })
}

/// A rate with its interval (none when unbounded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub value: f64,
    pub ci: Option<Interval>,
}

/// The prefill rate of the fit, tok/s, for y in ms per x token: 1000 / slope. `None`
/// when the slope is not positive.
pub fn rate_from_slope(fit: &LineFit) -> Option<Rate> {
    (fit.slope > 0.0).then(|| Rate {
        value: 1000.0 / fit.slope,
        ci: inverted(1000.0, fit.slope_ci.lo, fit.slope_ci.hi, fit.level),
    })
}

/// The prefill rate at input length `x`, tok/s: x·1000 / (`mean_y` − intercept), where
/// `mean_y` is the mean TTFT (ms) of the `n_x` requests of that length among the fit's
/// points. A fixed overhead cannot be negative: where the fitted intercept is (prefill
/// time not linear in L over the lengths measured), the overhead taken off is 0 and the
/// interval is mean TTFT(L)'s alone, s²/n_L. `None` when the difference is not positive
/// or `n_x` is 0.
pub fn rate_at(fit: &LineFit, x: f64, mean_y: f64, n_x: usize) -> Option<Rate> {
    let d = mean_y - fit.intercept.max(0.0);
    if n_x == 0 || d <= 0.0 || !d.is_finite() {
        return None;
    }
    let var = if fit.intercept < 0.0 {
        1.0 / n_x as f64
    } else {
        1.0 / n_x as f64 - 1.0 / fit.n as f64 + fit.x_mean * (2.0 * x - fit.x_mean) / fit.sxx
    };
    let half = fit.t * fit.residual_sd * var.max(0.0).sqrt();
    Some(Rate {
        value: x * 1000.0 / d,
        ci: inverted(x * 1000.0, d - half, d + half, fit.level),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y = 11 + 0.5·x, each length twice, ±1 ms: x̄ = 200, ȳ = 111, Sxx = 40000,
    /// Sxy = 20000, SSE = 6, s² = 6/4 = 1.5, t(0.95, 4) = 2.7764451051977934.
    fn points() -> Vec<(f64, f64)> {
        vec![
            (100.0, 60.0),
            (100.0, 62.0),
            (200.0, 110.0),
            (200.0, 112.0),
            (300.0, 160.0),
            (300.0, 162.0),
        ]
    }

    const T4: f64 = 2.776_445_105_197_793;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn the_line_and_its_intervals() {
        let f = fit_line(&points(), 0.95).unwrap();
        assert_eq!(f.n, 6);
        close(f.slope, 0.5);
        close(f.intercept, 11.0);
        close(f.residual_sd, 1.5f64.sqrt());
        close(f.t, T4);
        // se(slope) = s/√Sxx = √1.5 / 200.
        let se_slope = 1.5f64.sqrt() / 200.0;
        close(f.slope_ci.lo, 0.5 - T4 * se_slope);
        close(f.slope_ci.hi, 0.5 + T4 * se_slope);
        // se(intercept) = s·√(1/6 + 200²/40000) = √1.5·√(7/6) = √1.75.
        close(f.intercept_ci.lo, 11.0 - T4 * 1.75f64.sqrt());
        close(f.intercept_ci.hi, 11.0 + T4 * 1.75f64.sqrt());
        assert_eq!(f.slope_ci.level, 0.95);
    }

    #[test]
    fn the_rate_is_the_inverted_slope() {
        let f = fit_line(&points(), 0.95).unwrap();
        let r = rate_from_slope(&f).unwrap();
        close(r.value, 2000.0);
        let ci = r.ci.unwrap();
        let se = 1.5f64.sqrt() / 200.0;
        close(ci.lo, 1000.0 / (0.5 + T4 * se));
        close(ci.hi, 1000.0 / (0.5 - T4 * se));
    }

    #[test]
    fn a_negative_intercept_is_taken_as_no_overhead() {
        // y = −20 + 0.5·x, each length twice, ±1 ms: the fit's intercept is −20.
        let pts: Vec<(f64, f64)> = points().iter().map(|&(x, y)| (x, y - 31.0)).collect();
        let f = fit_line(&pts, 0.95).unwrap();
        close(f.intercept, -20.0);
        // At L = 100 the mean TTFT is 30 ms: 100 tokens in 30 ms, not in 30 − (−20) = 50.
        let r = rate_at(&f, 100.0, 30.0, 2).unwrap();
        close(r.value, 100.0 * 1000.0 / 30.0);
        // Var(D) = s²/2 = 0.75; D ± t·√0.75, inverted.
        let half = f.t * f.residual_sd * 0.5f64.sqrt();
        close(r.ci.unwrap().lo, 100_000.0 / (30.0 + half));
        close(r.ci.unwrap().hi, 100_000.0 / (30.0 - half));
    }

    #[test]
    fn per_length_rates_remove_the_intercept() {
        let f = fit_line(&points(), 0.95).unwrap();
        // L = 100: D = 61 − 11 = 50; Var(D)/s² = 1/2 − 1/6 + 200·(200 − 200)/40000 = 1/3.
        let r = rate_at(&f, 100.0, 61.0, 2).unwrap();
        close(r.value, 2000.0);
        let half = T4 * (1.5f64 / 3.0).sqrt();
        let ci = r.ci.unwrap();
        close(ci.lo, 100_000.0 / (50.0 + half));
        close(ci.hi, 100_000.0 / (50.0 - half));
        // L = 300: D = 161 − 11 = 150; Var(D)/s² = 1/3 + 200·(600 − 200)/40000 = 7/3.
        let r = rate_at(&f, 300.0, 161.0, 2).unwrap();
        close(r.value, 2000.0);
        let half = T4 * (1.5f64 * 7.0 / 3.0).sqrt();
        let ci = r.ci.unwrap();
        close(ci.lo, 300_000.0 / (150.0 + half));
        close(ci.hi, 300_000.0 / (150.0 - half));
        // A mean TTFT at or below the overhead has no rate.
        assert_eq!(rate_at(&f, 100.0, 11.0, 2), None);
        assert_eq!(rate_at(&f, 100.0, 61.0, 0), None);
    }

    #[test]
    fn an_exact_line_has_zero_width_intervals() {
        let pts: Vec<(f64, f64)> = [128.0, 512.0, 1024.0]
            .iter()
            .flat_map(|&x| [(x, 20.0 + 0.25 * x), (x, 20.0 + 0.25 * x)])
            .collect();
        let f = fit_line(&pts, 0.95).unwrap();
        close(f.slope, 0.25);
        close(f.intercept, 20.0);
        assert!(f.residual_sd < 1e-9);
        let r = rate_from_slope(&f).unwrap();
        close(r.value, 4000.0);
        let ci = r.ci.unwrap();
        close(ci.lo, 4000.0);
        close(ci.hi, 4000.0);
    }

    #[test]
    fn too_little_data_fits_nothing() {
        assert_eq!(fit_line(&[(1.0, 1.0), (2.0, 2.0)], 0.95), None);
        assert_eq!(fit_line(&[(5.0, 1.0), (5.0, 2.0), (5.0, 3.0)], 0.95), None);
        assert_eq!(
            fit_line(&[(1.0, f64::NAN), (2.0, 2.0), (3.0, 3.0)], 0.95),
            None
        );
        // A noisy slope whose interval reaches 0 has a rate but no bounded interval.
        let f = fit_line(&[(1.0, 0.0), (2.0, 10.0), (3.0, 1.0), (4.0, 11.0)], 0.95).unwrap();
        close(f.slope, 2.4);
        assert!(f.slope_ci.lo < 0.0);
        let r = rate_from_slope(&f).unwrap();
        close(r.value, 1000.0 / 2.4);
        assert_eq!(r.ci, None);
    }
}
