//! The client's own error bar (pure): what the client measured against the synthetic
//! engine, whose timing is scripted, minus the script; whether a difference between two
//! engines exceeds it; and whether the cheap default calibration fits in its budget.
//!
//! - **Error**: per request, measured − scripted (TTFT, TPOT), ms. Summarised by its mean,
//!   median, p99 and `bound95`, the 95th percentile of |error| (linear interpolation, as
//!   in [`super::stats`]): 95% of the client's readings are within ± that of the truth.
//! - **Within the error**: two engines' figures whose difference is smaller than the wider
//!   of their bounds are not told apart; a decode rate is compared as its TPOT
//!   (1000 / tok/s), the unit the bound is in.
//! - **Cheap default**: without `--calibrate`, a step is calibrated only when at least
//!   [`CHEAP_MIN_REQUESTS`] requests (and a whole wave of a closed loop) fit in
//!   [`CHEAP_BUDGET`] of the step's span; otherwise it is skipped, saying what it would
//!   cost. A calibration at the step's concurrency lasts a request's E2E per wave, so the
//!   cheap default is honest only for steps of many waves; short runs need `--calibrate`.

use super::stats::percentile_sorted;
use crate::results::{Arrival, ErrorBar};

/// The share of a step's span the default calibration may take.
pub const CHEAP_BUDGET: f64 = 0.05;
/// Fewest requests of a default calibration: a 95% bound over fewer says little.
pub const CHEAP_MIN_REQUESTS: u64 = 20;

/// Measured − `scripted` over the finite `measured` values; `None` when there are none
/// or the script is not finite.
pub fn error_bar(measured: &[f64], scripted: f64) -> Option<ErrorBar> {
    if !scripted.is_finite() {
        return None;
    }
    let mut err: Vec<f64> = measured
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| x - scripted)
        .collect();
    if err.is_empty() {
        return None;
    }
    err.sort_by(f64::total_cmp);
    let mut abs: Vec<f64> = err.iter().map(|e| e.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let n = err.len();
    Some(ErrorBar {
        n,
        mean: err.iter().sum::<f64>() / n as f64,
        p50: percentile_sorted(&err, 50.0),
        p99: percentile_sorted(&err, 99.0),
        max: err[n - 1],
        bound95: percentile_sorted(&abs, 95.0),
    })
}

/// Whether `a` and `b` differ by less than `bound` (same unit): within the client's error.
pub fn within(a: f64, b: f64, bound: f64) -> bool {
    (a - b).abs() < bound
}

/// Whether two decode rates (tok/s) differ by less than a TPOT bound (ms): compared as
/// their TPOTs, 1000 / rate. Rates that are not positive are never within.
pub fn rates_within(a_tps: f64, b_tps: f64, tpot_bound_ms: f64) -> bool {
    a_tps > 0.0 && b_tps > 0.0 && within(1000.0 / a_tps, 1000.0 / b_tps, tpot_bound_ms)
}

/// How many requests a calibration of a step sends, or why it is skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum CalibrationPlan {
    Run { requests: u64 },
    Skip(String),
}

/// Seconds that `k` requests take at `arrival`, each lasting `e2e_s`: whole waves of a
/// closed loop, or the arrivals' spread plus one request of an open loop.
pub fn cost_s(arrival: Arrival, k: u64, e2e_s: f64) -> f64 {
    match arrival {
        Arrival::Closed { concurrency } => k.div_ceil(u64::from(concurrency.max(1))) as f64 * e2e_s,
        Arrival::Open { rate, .. } => k as f64 / rate + e2e_s,
    }
}

/// The calibration of a step of `step_requests` measured requests over `span_s`, each
/// lasting about `e2e_s`: all of them with `full` (`--calibrate`), else the cheap default
/// (see the module docs).
pub fn plan(
    arrival: Arrival,
    step_requests: u64,
    span_s: f64,
    e2e_s: f64,
    full: bool,
) -> CalibrationPlan {
    if step_requests == 0 {
        return CalibrationPlan::Skip("the step measured no request".into());
    }
    if full {
        return CalibrationPlan::Run {
            requests: step_requests,
        };
    }
    let budget = CHEAP_BUDGET * span_s;
    let most = match arrival {
        Arrival::Closed { concurrency } if e2e_s > 0.0 => {
            (budget / e2e_s).floor() as u64 * u64::from(concurrency.max(1))
        }
        Arrival::Open { rate, .. } if budget > e2e_s => ((budget - e2e_s) * rate).floor() as u64,
        _ => 0,
    }
    .min(step_requests);
    let wave = match arrival {
        Arrival::Closed { concurrency } => u64::from(concurrency).min(step_requests),
        Arrival::Open { .. } => 0,
    };
    let need = CHEAP_MIN_REQUESTS.min(step_requests).max(wave);
    if most >= need {
        return CalibrationPlan::Run { requests: most };
    }
    let cost = cost_s(arrival, need, e2e_s);
    CalibrationPlan::Skip(format!(
        "the cheap default would need {need} requests, about {cost:.1} s, {:.0}% of the step's {span_s:.1} s (over {:.0}%); pass --calibrate to run the step's shape in full",
        100.0 * cost / span_s.max(f64::MIN_POSITIVE),
        100.0 * CHEAP_BUDGET
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn error_bar_is_measured_minus_scripted() {
        // Errors 0.5, 1, 1.5, 2, -1 (sorted: -1, 0.5, 1, 1.5, 2); |e| sorted 0.5, 1, 1, 1.5, 2.
        let e = error_bar(&[10.5, 11.0, 11.5, 12.0, 9.0, f64::NAN], 10.0).unwrap();
        assert_eq!(e.n, 5);
        close(e.mean, 4.0 / 5.0);
        close(e.p50, 1.0);
        // p99: rank 0.99·4 = 3.96 → 1.5 + 0.96·0.5 = 1.98.
        close(e.p99, 1.98);
        close(e.max, 2.0);
        // |e| p95: rank 3.8 → 1.5 + 0.8·0.5 = 1.9.
        close(e.bound95, 1.9);
        assert_eq!(error_bar(&[f64::NAN], 1.0), None);
        assert_eq!(error_bar(&[1.0], f64::INFINITY), None);
    }

    #[test]
    fn a_difference_below_the_bound_is_within_the_error() {
        assert!(within(100.0, 101.5, 2.0));
        assert!(!within(100.0, 102.0, 2.0));
        // 200 tok/s = 5 ms, 190 tok/s = 5.263 ms: 0.263 ms apart.
        assert!(rates_within(200.0, 190.0, 0.3));
        assert!(!rates_within(200.0, 190.0, 0.25));
        assert!(!rates_within(0.0, 190.0, 10.0));
    }

    #[test]
    fn the_cheap_default_runs_only_within_five_percent() {
        let c = |concurrency| Arrival::Closed { concurrency };
        // c=64, 64 requests of 1 s in a 1 s span: one wave is the whole step.
        assert!(matches!(
            plan(c(64), 64, 1.0, 1.0, false),
            CalibrationPlan::Skip(_)
        ));
        // --calibrate sends the whole step again.
        assert_eq!(
            plan(c(64), 64, 1.0, 1.0, true),
            CalibrationPlan::Run { requests: 64 }
        );
        // c=4, 0.1 s requests, 1000 requests over 25 s: budget 1.25 s = 12 waves of 4.
        assert_eq!(
            plan(c(4), 1000, 25.0, 0.1, false),
            CalibrationPlan::Run { requests: 48 }
        );
        // c=1 over 10 s of 0.1 s requests: budget 0.5 s = 5 requests < 20.
        let CalibrationPlan::Skip(why) = plan(c(1), 100, 10.0, 0.1, false) else {
            panic!("ran")
        };
        assert!(why.contains("20 requests") && why.contains("20%"), "{why}");
        // Open loop at 10/s, 0.2 s each, 100 s span: budget 5 s → (5 − 0.2)·10 = 48.
        let open = Arrival::Open {
            rate: 10.0,
            burstiness: 1.0,
        };
        assert_eq!(
            plan(open, 1000, 100.0, 0.2, false),
            CalibrationPlan::Run { requests: 48 }
        );
        close(cost_s(open, 48, 0.2), 5.0);
        close(cost_s(c(4), 9, 0.5), 1.5);
        assert!(matches!(
            plan(c(1), 0, 1.0, 1.0, true),
            CalibrationPlan::Skip(_)
        ));
    }
}
