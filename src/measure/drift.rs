//! Drift: does an engine's decode rate move over its repeated runs? (pure)
//!
//! The test is Mann-Kendall's: over runs in the order they ran, S = Σ_{i<j} sign(x_j − x_i)
//! (concordant minus discordant pairs); under no trend every order is equally likely.
//! Different prompts decode at different rates, and the runs of one prompt follow each
//! other (prompt-major order), so the runs are grouped by prompt and S is summed over
//! the groups (the stratified, "seasonal" Mann-Kendall test of Hirsch & Slack): only the
//! order within each prompt's runs counts, never one prompt against another.
//!
//! The p-value is two-sided, P(|S'| ≥ |S|):
//! - exact where no group has ties and the groups have at most [`EXACT_MAX_PAIRS`] pairs
//!   in all: the number of discordant pairs of a random order of n distinct values follows
//!   the Mahonian distribution (inversions of a permutation), the groups' counts add, so
//!   the null distribution of S is their convolution;
//! - otherwise the normal approximation with the tie-corrected variance
//!   Var S = Σ [n(n−1)(2n+5) − Σ_t t(t−1)(2t+5)] / 18 and a continuity correction,
//!   z = (|S| − 1) / √Var.
//!
//! The size is the change from the first third of each prompt's runs to the last third
//! (⌊n/3⌋ runs each, prompts with at least 3 runs): each third's median (one late
//! scheduler wake-up on a busy host must not set the size), averaged over prompts.
//! Drift is flagged when p < [`ALPHA`] and the change is at least [`MIN_CHANGE_PCT`] in
//! the direction of the trend (the sign of S).

use crate::results::{DRIFT, DriftTest, Flag};

/// Significance level of the trend test.
pub const ALPHA: f64 = 0.05;
/// The smallest change, percent, worth a flag (run-to-run noise of a quiet host is 1–2%).
pub const MIN_CHANGE_PCT: f64 = 5.0;
/// Above this many pairs the exact distribution gives way to the normal approximation.
pub const EXACT_MAX_PAIRS: usize = 20_000;

/// Mann-Kendall S over groups of values in order, with its pairs, two-sided p and method.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub s: i64,
    pub pairs: usize,
    pub p: f64,
    pub exact: bool,
}

fn sign(d: f64) -> i64 {
    if d > 0.0 {
        1
    } else if d < 0.0 {
        -1
    } else {
        0
    }
}

/// The stratified Mann-Kendall test of `groups` (each in run order); `None` without a
/// single pair.
pub fn mann_kendall(groups: &[Vec<f64>]) -> Option<Trend> {
    let (mut s, mut pairs, mut ties) = (0i64, 0usize, false);
    let mut var = 0.0;
    for g in groups {
        let n = g.len();
        for i in 0..n {
            for j in i + 1..n {
                let d = sign(g[j] - g[i]);
                ties |= d == 0;
                s += d;
            }
        }
        pairs += n * n.saturating_sub(1) / 2;
        var += tie_corrected_var(g);
    }
    if pairs == 0 {
        return None;
    }
    let exact = !ties && pairs <= EXACT_MAX_PAIRS;
    let p = if s == 0 {
        1.0
    } else if exact {
        let lens: Vec<usize> = groups.iter().map(Vec::len).collect();
        exact_p(&lens, s, pairs)
    } else if var <= 0.0 {
        1.0
    } else {
        let z = (s.unsigned_abs() as f64 - 1.0) / var.sqrt();
        erfc(z / std::f64::consts::SQRT_2).min(1.0)
    };
    Some(Trend { s, pairs, p, exact })
}

/// Var S of one group with ties: [n(n−1)(2n+5) − Σ_t t(t−1)(2t+5)] / 18.
fn tie_corrected_var(g: &[f64]) -> f64 {
    let f = |t: usize| (t * t.saturating_sub(1) * (2 * t + 5)) as f64;
    let mut sorted = g.to_vec();
    sorted.sort_by(f64::total_cmp);
    let ties: f64 = sorted.chunk_by(|a, b| a == b).map(|c| f(c.len())).sum();
    (f(g.len()) - ties) / 18.0
}

/// P(|S'| ≥ |s|) under no trend and no ties: S' = pairs − 2·I, I the total inversions,
/// each group's I Mahonian, the groups' convolved.
fn exact_p(lens: &[usize], s: i64, pairs: usize) -> f64 {
    let mut dist = vec![1.0f64];
    for &n in lens {
        for k in 1..=n {
            // One more element: it adds 0..k−1 inversions, each equally likely.
            let mut next = vec![0.0; dist.len() + k - 1];
            let mut window = 0.0;
            for (i, slot) in next.iter_mut().enumerate() {
                if i < dist.len() {
                    window += dist[i];
                }
                if i >= k && i - k < dist.len() {
                    window -= dist[i - k];
                }
                *slot = window / k as f64;
            }
            dist = next;
        }
    }
    // |S'| ≥ |s| ⟺ I ≤ (pairs − |s|)/2 or I ≥ (pairs + |s|)/2.
    let a = s.unsigned_abs() as usize;
    let lo = (pairs - a.min(pairs)) / 2;
    let hi = (pairs + a).div_ceil(2);
    let tail: f64 = dist
        .iter()
        .enumerate()
        .filter(|(i, _)| *i <= lo || *i >= hi)
        .map(|(_, p)| p)
        .sum();
    tail.min(1.0)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error
/// below 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The drift test of decode rates grouped by prompt, each group in run order; `None`
/// without a prompt of at least 3 runs (no thirds to compare).
pub fn drift(groups: &[Vec<f64>]) -> Option<DriftTest> {
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for g in groups {
        let k = g.len() / 3;
        if k > 0 {
            first.push(median(&g[..k]));
            last.push(median(&g[g.len() - k..]));
        }
    }
    if first.is_empty() {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (a, b) = (mean(&first), mean(&last));
    let t = mann_kendall(groups)?;
    let change_pct = if a > 0.0 { (b / a - 1.0) * 100.0 } else { 0.0 };
    Some(DriftTest {
        runs: groups.iter().map(Vec::len).sum(),
        prompts: groups.iter().filter(|g| !g.is_empty()).count(),
        s: t.s,
        tau: t.s as f64 / t.pairs as f64,
        p: t.p,
        p_method: if t.exact { "exact" } else { "normal" }.into(),
        first_third_tps: a,
        last_third_tps: b,
        change_pct,
        drift: t.p < ALPHA && change_pct.abs() >= MIN_CHANGE_PCT && (change_pct < 0.0) == (t.s < 0),
    })
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// "p = 0.017", or "p < 0.001" below that.
pub fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// The `drift` flag of a test that found drift: "decode fell 8.0% from the first third
/// to the last (5 runs; Kendall tau −1.00, p = 0.017, exact)".
pub fn flag(d: &DriftTest) -> Option<Flag> {
    d.drift.then(|| {
        let over = if d.prompts > 1 {
            format!("{} runs over {} prompts", d.runs, d.prompts)
        } else {
            format!("{} runs", d.runs)
        };
        Flag {
            kind: DRIFT.into(),
            message: format!(
                "decode {} {:.1}% from the first third of the runs to the last ({:.2} → {:.2} tok/s; {over}; Kendall tau {:.2}, {}, {})",
                if d.change_pct < 0.0 { "fell" } else { "rose" },
                d.change_pct.abs(),
                d.first_third_tps,
                d.last_third_tps,
                d.tau,
                p_text(d.p),
                d.p_method
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_runs_each_slower_exact() {
        // S = −10 (every pair discordant), tau = −1; of 5! = 120 orders only this one and
        // its reverse have |S| = 10: p = 2/120.
        let d = drift(&[vec![10.0, 9.8, 9.6, 9.4, 9.2]]).unwrap();
        assert_eq!((d.runs, d.prompts, d.s, d.tau), (5, 1, -10, -1.0));
        assert!((d.p - 2.0 / 120.0).abs() < 1e-12, "{}", d.p);
        assert_eq!(d.p_method, "exact");
        // First third: 10 (⌊5/3⌋ = 1 run); last: 9.2; −8%.
        assert_eq!((d.first_third_tps, d.last_third_tps), (10.0, 9.2));
        assert!((d.change_pct + 8.0).abs() < 1e-12);
        assert!(d.drift);
        assert_eq!(
            flag(&d).unwrap().message,
            "decode fell 8.0% from the first third of the runs to the last (10.00 → 9.20 tok/s; 5 runs; Kendall tau -1.00, p = 0.017, exact)"
        );
    }

    #[test]
    fn exact_p_values_by_hand() {
        // n = 4, one inversion: S = 6 − 2 = 4. Inversions of 4 elements: 1,3,5,6,5,3,1
        // of 24; P(I ≤ 1) + P(I ≥ 5) = 8/24.
        let t = mann_kendall(&[vec![1.0, 3.0, 2.0, 4.0]]).unwrap();
        assert_eq!((t.s, t.pairs, t.exact), (4, 6, true));
        assert!((t.p - 8.0 / 24.0).abs() < 1e-12, "{}", t.p);
        // Two prompts, 3 and 2 runs, both rising: S = 3 + 1 = 4 of 4 pairs. The
        // inversions convolve to 1,3,4,3,1 of 12: p = 2/12.
        let t = mann_kendall(&[vec![1.0, 2.0, 3.0], vec![5.0, 6.0]]).unwrap();
        assert_eq!((t.s, t.pairs), (4, 4));
        assert!((t.p - 2.0 / 12.0).abs() < 1e-12, "{}", t.p);
        // Opposite trends cancel.
        let t = mann_kendall(&[vec![1.0, 2.0, 3.0], vec![3.0, 2.0, 1.0]]).unwrap();
        assert_eq!((t.s, t.p), (0, 1.0));
        // 4 runs can never reach p < 0.05 (best: 2/24).
        let t = mann_kendall(&[vec![4.0, 3.0, 2.0, 1.0]]).unwrap();
        assert!((t.p - 2.0 / 24.0).abs() < 1e-12);
        assert_eq!(mann_kendall(&[vec![1.0]]), None);
    }

    #[test]
    fn ties_use_the_normal_approximation() {
        // 1,2,2,3: S = 5 (one tied pair). Var = (4·3·13 − 2·1·9)/18 = 138/18;
        // z = (5 − 1)/√(138/18) = 1.444630; p = erfc(z/√2) = 0.148562.
        let t = mann_kendall(&[vec![1.0, 2.0, 2.0, 3.0]]).unwrap();
        assert_eq!((t.s, t.exact), (5, false));
        let z = 4.0 / (138.0f64 / 18.0).sqrt();
        assert!((z - 1.444_630).abs() < 1e-6);
        assert!((t.p - 0.148_562).abs() < 1e-6, "{}", t.p);
        // erfc against known values: erfc(0) = 1, erfc(1) = 0.157299207, erfc(−1) = 1.842700793.
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
    }

    #[test]
    fn an_outlier_does_not_set_the_size() {
        // A late wake-up made run 2 look fast (14): the first third's median is 10, the
        // last third's 8.8: −12% (the means would say −21.9%).
        let d = drift(&[vec![10.0, 14.0, 9.8, 9.6, 9.4, 9.2, 9.0, 8.8, 8.6]]).unwrap();
        assert_eq!((d.first_third_tps, d.last_third_tps), (10.0, 8.8));
        assert!((d.change_pct + 12.0).abs() < 1e-9, "{}", d.change_pct);
        assert!(d.drift && d.s < 0, "{d:?}");
        // Thirds of 4 runs: the median of an even count is the mean of the middle two.
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn small_or_insignificant_changes_are_not_drift() {
        // A steady fall of 0.1% per run: significant, too small.
        let v: Vec<f64> = (0..9).map(|i| 100.0 - 0.1 * f64::from(i)).collect();
        let d = drift(&[v]).unwrap();
        assert!(
            d.p < ALPHA && d.change_pct.abs() < MIN_CHANGE_PCT && !d.drift,
            "{d:?}"
        );
        assert_eq!(flag(&d), None);
        // A big but patternless spread: not significant.
        let d = drift(&[vec![100.0, 80.0, 100.0, 80.0, 100.0, 80.0]]).unwrap();
        assert!(!d.drift, "{d:?}");
        // Too few runs for thirds.
        assert_eq!(drift(&[vec![1.0, 2.0]]), None);
    }
}
