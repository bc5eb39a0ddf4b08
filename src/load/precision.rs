//! `--target-ci PCT` (pure): a load step keeps sending until the confidence interval of
//! the mean of one metric (`--ci-metric`, default `tpot_ms`) is narrower than PCT percent
//! of that mean, bounded by `--requests` / `--duration`; the step report says which came
//! first.
//!
//! - **Interval**: mean ± z·s/√n over the measured, successful requests' values (normal
//!   approximation; z for the confidence level, 1.96 at 95 %; s the sample standard
//!   deviation). "Narrower than PCT of its mean" means the half-width is at most PCT % of
//!   the mean, i.e. the mean is known to ±PCT %.
//! - **Not before [`MIN_N`] values**: with few values s itself is too uncertain for the
//!   normal approximation to mean anything.
//! - The running mean and variance are Welford's, so checking after every request costs
//!   O(1).

use crate::measure::inference::Interval;
use crate::results::PrecisionReport;
use crate::results::metric::{self, Metric};

/// Values needed before the rule may stop a step.
pub const MIN_N: u64 = 30;
/// Metric whose interval `--target-ci` watches when `--ci-metric` is not given.
pub const DEFAULT_METRIC: &str = "tpot_ms";

/// `stopped_by` when the target was met first.
pub const STOPPED_BY_PRECISION: &str = "precision";
/// `stopped_by` when `--requests` / `--duration` ended the step first.
pub const STOPPED_BY_BOUND: &str = "bound";

/// The stop rule.
#[derive(Debug, Clone, Copy)]
pub struct PrecisionRule {
    pub metric: Metric,
    /// Half-width, percent of the mean.
    pub target_pct: f64,
    pub level: f64,
}

impl PartialEq for PrecisionRule {
    fn eq(&self, other: &Self) -> bool {
        self.metric.name == other.metric.name
            && self.target_pct == other.target_pct
            && self.level == other.level
    }
}

/// Bad `--target-ci` / `--ci-metric`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrecisionError {
    #[error("--target-ci must be a percentage above 0 and below 100, e.g. 5 (got {0})")]
    Target(f64),
    #[error(
        "--ci-metric {0:?} is not a per-request metric in milliseconds or tok/s; use one of {1}"
    )]
    Metric(String, String),
    #[error("--ci-metric applies only with --target-ci PCT")]
    MetricWithoutTarget,
    #[error(
        "--target-ci needs a bound for when the target is not met: add --requests N or --duration SECONDS"
    )]
    NeedsBound,
    #[error(
        "--target-ci and --find both decide how long a step runs; give one of them (a --find probe already runs until its SLO attainment is decided)"
    )]
    WithFind,
}

/// Check the `--target-ci` flags against the load flags: `None` without `--target-ci`.
pub fn plan_precision(
    target_pct: Option<f64>,
    metric: Option<&str>,
    bounded: bool,
    find: bool,
) -> Result<Option<PrecisionRule>, PrecisionError> {
    let Some(pct) = target_pct else {
        return match metric {
            Some(_) => Err(PrecisionError::MetricWithoutTarget),
            None => Ok(None),
        };
    };
    if find {
        return Err(PrecisionError::WithFind);
    }
    if !bounded {
        return Err(PrecisionError::NeedsBound);
    }
    PrecisionRule::new(pct, metric, crate::measure::inference::DEFAULT_LEVEL).map(Some)
}

/// Metrics `--ci-metric` accepts: the per-request figures of a load step with a unit.
fn eligible() -> impl Iterator<Item = &'static Metric> {
    Metric::in_scope(metric::Scope::STEP).filter(|m| m.direction().is_some())
}

impl PrecisionRule {
    /// The rule from the flags (`metric` defaults to [`DEFAULT_METRIC`]).
    pub fn new(target_pct: f64, metric: Option<&str>, level: f64) -> Result<Self, PrecisionError> {
        if !(target_pct.is_finite() && target_pct > 0.0 && target_pct < 100.0) {
            return Err(PrecisionError::Target(target_pct));
        }
        let name = metric.unwrap_or(DEFAULT_METRIC).trim();
        let Some(m) = eligible().find(|m| m.name == name) else {
            let names: Vec<&str> = eligible().map(|m| m.name).collect();
            return Err(PrecisionError::Metric(name.to_string(), names.join(", ")));
        };
        Ok(PrecisionRule {
            metric: *m,
            target_pct,
            level,
        })
    }
}

/// Running mean and variance (Welford).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Running {
    pub n: u64,
    mean: f64,
    m2: f64,
}

impl Running {
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    /// The interval of the mean; `None` with fewer than two values.
    pub fn interval(&self, level: f64) -> Option<Interval> {
        if self.n < 2 {
            return None;
        }
        let sd = (self.m2 / (self.n - 1) as f64).sqrt();
        let half = crate::measure::inference::z_for_level(level) * sd / (self.n as f64).sqrt();
        Some(Interval {
            lo: self.mean - half,
            hi: self.mean + half,
            level,
        })
    }

    /// Half-width as a percentage of the mean; `None` with fewer than two values or a
    /// mean of 0.
    pub fn half_width_pct(&self, level: f64) -> Option<f64> {
        let ci = self.interval(level)?;
        (self.mean != 0.0).then(|| 100.0 * (ci.hi - ci.lo) / 2.0 / self.mean.abs())
    }

    /// Whether `rule` is met: at least [`MIN_N`] values and a half-width within target.
    pub fn met(&self, rule: &PrecisionRule) -> bool {
        self.n >= MIN_N
            && self
                .half_width_pct(rule.level)
                .is_some_and(|p| p <= rule.target_pct)
    }
}

/// The report of a finished step from its metric values (measured, successful requests);
/// `stopped` says whether the rule ended the step (else its bound did).
pub fn report(values: &[f64], rule: &PrecisionRule, stopped: bool) -> PrecisionReport {
    let mut run = Running::default();
    for &v in values {
        run.push(v);
    }
    let met = run.met(rule);
    PrecisionReport {
        metric: rule.metric.name.to_string(),
        target_pct: rule.target_pct,
        achieved_pct: run.half_width_pct(rule.level),
        n: run.n,
        mean: run.mean(),
        ci: run.interval(rule.level),
        met,
        stopped_by: if stopped {
            STOPPED_BY_PRECISION
        } else {
            STOPPED_BY_BOUND
        }
        .into(),
    }
}

/// One line for the log: "tpot_ms ±3.2% (target ±5%) after 212 requests: met" or "...:
/// the bound was reached first".
pub fn describe(p: &PrecisionReport) -> String {
    let got = p
        .achieved_pct
        .map(|x| format!("±{x:.2}%"))
        .unwrap_or_else(|| "no interval".into());
    format!(
        "{} {got} (target ±{}%) after {} values: {}",
        p.metric,
        p.target_pct,
        p.n,
        match (p.stopped_by.as_str(), p.met) {
            (STOPPED_BY_PRECISION, _) => "target met, step stopped",
            (_, true) => "target met as the --requests/--duration bound was reached",
            _ => "the --requests/--duration bound was reached first",
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pct: f64) -> PrecisionRule {
        PrecisionRule::new(pct, None, 0.95).expect("rule")
    }

    #[test]
    fn running_matches_the_two_pass_figures() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let mut r = Running::default();
        v.iter().for_each(|&x| r.push(x));
        let s = crate::measure::stats::summarize(&v).expect("summary");
        assert_eq!(r.n, 10);
        assert!((r.mean().unwrap_or(0.0) - s.mean).abs() < 1e-12);
        let ci = r.interval(0.95).expect("interval");
        let half = 1.959_964 * s.std / 10f64.sqrt();
        assert!((ci.hi - s.mean - half).abs() < 1e-3, "{ci:?}");
        r.push(f64::NAN);
        assert_eq!(r.n, 10);
    }

    #[test]
    fn the_rule_needs_min_n_and_the_target() {
        // Values 10 ± 1 alternating: sd ≈ 1, so ±5 % of 10 (0.5) needs 1.96/√n ≤ 0.5,
        // n ≥ 16 — but the rule waits for MIN_N.
        let mut r = Running::default();
        for i in 0..(MIN_N - 1) {
            r.push(if i % 2 == 0 { 9.0 } else { 11.0 });
        }
        assert!(r.half_width_pct(0.95).is_some_and(|p| p <= 5.0));
        assert!(!r.met(&rule(5.0)), "fewer than MIN_N values");
        r.push(9.0);
        assert!(r.met(&rule(5.0)));
        assert!(!r.met(&rule(1.0)), "±1 % needs far more values");
    }

    #[test]
    fn report_says_what_stopped_the_step() {
        let tight: Vec<f64> = (0..40).map(|i| 10.0 + (i % 2) as f64 * 0.1).collect();
        let p = report(&tight, &rule(5.0), true);
        assert!(p.met && p.stopped_by == STOPPED_BY_PRECISION, "{p:?}");
        assert!(describe(&p).contains("target met"), "{}", describe(&p));
        let wide: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 1.0 } else { 19.0 })
            .collect();
        let p = report(&wide, &rule(5.0), false);
        assert!(!p.met && p.stopped_by == STOPPED_BY_BOUND, "{p:?}");
        assert!(describe(&p).contains("bound was reached first"));
        let none = report(&[], &rule(5.0), false);
        assert_eq!((none.n, none.achieved_pct, none.met), (0, None, false));
    }

    #[test]
    fn flags_are_checked_against_the_load_flags() {
        // `bounded`: the step has --requests or --duration.
        assert!(matches!(plan_precision(None, None, true, false), Ok(None)));
        assert!(matches!(
            plan_precision(None, Some("ttft_ms"), true, false),
            Err(PrecisionError::MetricWithoutTarget)
        ));
        assert!(matches!(
            plan_precision(Some(5.0), None, false, false),
            Err(PrecisionError::NeedsBound)
        ));
        assert!(matches!(
            plan_precision(Some(5.0), None, true, true),
            Err(PrecisionError::WithFind)
        ));
        let r = plan_precision(Some(2.5), Some("e2e_ms"), true, false)
            .map_err(|e| e.to_string())
            .and_then(|r| r.ok_or_else(|| "no rule".to_string()));
        assert!(r.is_ok_and(|r| r.metric.name == "e2e_ms" && r.target_pct == 2.5));
    }

    #[test]
    fn bad_flags_name_what_is_allowed() {
        for bad in [0.0, 100.0, f64::NAN] {
            let e = PrecisionRule::new(bad, None, 0.95).map(|_| ()).unwrap_err();
            assert!(matches!(e, PrecisionError::Target(_)), "{bad}: {e}");
        }
        let e = PrecisionRule::new(5.0, Some("output_tokens"), 0.95)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("ttft_ms") && e.contains("tpot_ms"), "{e}");
        let ok = PrecisionRule::new(5.0, Some("ttft_ms"), 0.95).expect("ttft");
        assert_eq!(ok.metric.name, "ttft_ms");
    }
}
